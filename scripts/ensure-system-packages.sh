#!/usr/bin/env bash
# Install Debian packages a target needs, only when missing. Usage: ensure-system-packages.sh GROUP
set -euo pipefail
group="${1:?group}"
case "$group" in
  python)   need_cmd=""; packages=() ;;
  npm)      need_cmd=npm; packages=(npm) ;;
  chromium) need_cmd=chromium; packages=(chromium) ;;
  *) echo "unknown group $group" >&2; exit 2 ;;
esac
if [[ "$group" == python ]]; then
  python3 -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 11)' 2>/dev/null && exit 0
  packages=(python3 python3-venv python3-dev)
fi
if [[ -n "$need_cmd" ]] && command -v "$need_cmd" >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=sudo
else
  sudo_cmd=
fi
echo "Installing Debian packages: ${packages[*]}"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
