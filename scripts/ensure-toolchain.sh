#!/usr/bin/env bash
# Install bun and Node 22 from the npm registry into a project-local folder, once.
# Reflex 0.10 needs Node >= 22.22 and bun >= 1.4.4; its own downloader cannot reach its hosts here.
set -euo pipefail
tools_dir="${1:-.tools}"
bin="$tools_dir/node_modules/.bin"
if [[ -x "$bin/bun" && -x "$bin/node" ]] && "$bin/node" --version | grep -q '^v22\.' ; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  bash "$(dirname "$0")/ensure-system-packages.sh" npm
fi
mkdir -p "$tools_dir"
echo "Installing bun and Node 22 into $tools_dir (once)..."
npm install --prefix "$tools_dir" --no-save --no-audit --no-fund --loglevel=error bun@1.4 node@22 >/dev/null
"$bin/node" --version >/dev/null
"$bin/bun" --version >/dev/null
