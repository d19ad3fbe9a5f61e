#!/usr/bin/env bash
# The Python dependencies, pinned with hashes in requirements.lock (what CI tested) and installed with uv.
# Usage: python-deps.sh install|lock|upgrade [VENV]   (run from the repository root; see the Makefile)
#   install  creates VENV if needed and makes it hold exactly the lock, plus this project (editable);
#            refuses first when pyproject.toml lists a dependency the lock does not satisfy.
#   lock     pins what pyproject.toml asks for, keeping every pin that still fits (after editing it).
#   upgrade  moves every pin to the newest release that pyproject.toml allows.
set -euo pipefail
action="${1:?install, lock or upgrade}"
venv="${2:-.venv}"
lock=requirements.lock
bin="$venv/bin"
export UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1

# uv itself, at the version the lock pins (checked against the lock's hashes), installed into the venv.
ensure_uv() {
  test -x "$bin/python" || "${PYTHON:-python3}" -m venv "$venv"
  local pin
  pin=$(sed -n 's/^uv==\([^ ;]*\).*/\1/p' "$lock")
  if [[ -z "$pin" ]]; then
    echo "$lock pins no uv version: it must list uv (the test extra of pyproject.toml does)." >&2
    exit 1
  fi
  [[ "$("$bin/uv" --version 2>/dev/null)" == "uv $pin "* ]] && return 0
  # The lock's own lines for uv: "uv==X \" and its "--hash=..." lines, up to the last continued line.
  awk '/^uv==/ { found = 1 } found { print; if ($0 !~ /\\$/) exit }' "$lock" >"$venv/uv-requirement.txt"
  "$bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r "$venv/uv-requirement.txt"
}

# The lock holds the runtime dependencies, the `test` extra and the build backend (setuptools), for
# every platform and Python >= 3.11; no index address is written into it.
compile_lock() {
  local build_requires='import tomllib
for requirement in tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]:
    print(requirement)'
  "$bin/python" -c "$build_requires" \
    | "$bin/uv" pip compile --quiet pyproject.toml - --extra test --universal --python-version 3.11 \
      --generate-hashes --custom-compile-command "make lock" --output-file "$lock" "$@"
  "$bin/python" scripts/check_lock.py pyproject.toml "$lock"
}

case "$action" in
  install)
    ensure_uv
    "$bin/python" scripts/check_lock.py pyproject.toml "$lock"
    "$bin/uv" pip sync --quiet --python "$bin/python" --require-hashes --strict "$lock"
    # The build backend comes from the lock too (no isolated build env with whatever setuptools is newest).
    "$bin/uv" pip install --quiet --python "$bin/python" --no-deps --no-build-isolation -e .
    ;;
  lock) ensure_uv; compile_lock ;;
  upgrade) ensure_uv; compile_lock --upgrade ;;
  *) echo "unknown action $action (install, lock or upgrade)" >&2; exit 2 ;;
esac
