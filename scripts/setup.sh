#!/usr/bin/env bash
# Installs what is missing on a Debian/Ubuntu machine for one purpose:
#   run      (default) building and running the server and the desktop app: the Rust toolchain,
#            Node.js, the libraries the Tauri app builds against, the UI's npm packages, and
#            Xvfb when there is no display to open the app on;
#   package  the same, for scripts/package.sh;
#   test     in addition what only the test suite needs: PostgreSQL, WebKitWebDriver and
#            tauri-driver, Xvfb, faketime, Python's venv, debootstrap for the package check.
# Safe to run again: it only installs what is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-run}"
case "$purpose" in
  run | package | test) ;;
  *) echo "usage: scripts/setup.sh [run|package|test]"; exit 2 ;;
esac

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  build-essential pkg-config file libssl-dev curl ca-certificates
  libwebkit2gtk-4.1-dev libjavascriptcoregtk-4.1-dev libsoup-3.0-dev libgtk-3-dev
  libayatana-appindicator3-dev librsvg2-dev libxdo-dev
)
if [ "$purpose" = test ]; then
  APT_PACKAGES+=(
    xvfb xauth webkit2gtk-driver faketime
    postgresql python3 python3-venv openssl
    debootstrap iproute2
  )
elif [ "$purpose" = run ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  APT_PACKAGES+=(xvfb xauth)
fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: installing the Rust toolchain"
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy -c rustfmt
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

if [ "$purpose" = test ] && ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: installing tauri-driver"
  cargo install tauri-driver --version 2.1.0 --locked --quiet
fi

if ! command -v node >/dev/null 2>&1; then
  echo "setup: installing Node.js"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi

if [ ! -d ui/node_modules ] || [ ui/package.json -nt ui/node_modules/.package-lock.json ]; then
  echo "setup: installing the UI's npm packages"
  (cd ui && npm install --no-audit --no-fund --loglevel=error)
fi
