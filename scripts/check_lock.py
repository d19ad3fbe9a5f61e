"""Refuse an install whose lock does not match pyproject.toml.

Usage: python scripts/check_lock.py [PYPROJECT] [LOCK]. Exits 1, naming each problem, when a
dependency of pyproject.toml (runtime, any extra, or the build backend) is missing from the lock or
pinned there at a version its requirement does not allow. Runs before anything is installed, so it
needs nothing beyond the standard library and pip (whose copy of `packaging` it falls back to).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ImportError:  # a fresh venv: only pip is there yet
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import Version

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def declared_requirements(pyproject: dict) -> list[str]:
    """Every requirement pyproject.toml declares: runtime, each extra, and the build system's."""
    project = pyproject.get("project", {})
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    requirements.extend(pyproject.get("build-system", {}).get("requires", []))
    return requirements


def locked_versions(lock_text: str) -> dict[str, Version]:
    """The pinned version of each package in a requirements lock (`name==version \\` lines)."""
    pins = {}
    for line in lock_text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def lock_problems(pyproject_text: str, lock_text: str) -> list[str]:
    """What keeps the lock from satisfying pyproject.toml; empty when it does."""
    pins = locked_versions(lock_text)
    problems = []
    for line in declared_requirements(tomllib.loads(pyproject_text)):
        requirement = Requirement(line)
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name} is in pyproject.toml but not in the lock")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"pyproject.toml asks for {line}, the lock pins {requirement.name}=={pinned}")
    return problems


def main(pyproject_path: str = "pyproject.toml", lock_path: str = "requirements.lock") -> int:
    problems = lock_problems(Path(pyproject_path).read_text(), Path(lock_path).read_text())
    if not problems:
        return 0
    print(f"{lock_path} does not match {pyproject_path}:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    print("Run `make lock` to pin the dependencies again, and commit both files.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
