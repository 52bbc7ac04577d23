#!/usr/bin/env bash
# Make sure a Chromium for the browser tests is on this machine: Debian's `chromium` package, driven by the
# venv's Playwright through `executable_path` (Playwright never downloads a browser here).
# $CHROMIUM overrides the binary (default /usr/bin/chromium). Installs with apt-get when it is missing;
# fails loudly when it cannot.
set -euo pipefail
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  exit 0
fi
if [ -n "${CHROMIUM:-}" ]; then
  echo "ensure_browser: CHROMIUM=$chromium is not an executable file" >&2
  exit 1
fi
if ! command -v apt-get > /dev/null; then
  echo "ensure_browser: $chromium is missing and apt-get is not available; install Chromium and set CHROMIUM" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo > /dev/null || { echo "ensure_browser: installing Chromium needs root (or sudo)" >&2; exit 1; }
  sudo="sudo -n"
fi
echo "ensure_browser: installing Debian's chromium (first run only)"
log="$(mktemp)"
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  chromium fonts-liberation; } > "$log" 2>&1; then
  tail -30 "$log" >&2
  echo "ensure_browser: apt-get could not install chromium (log above)" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
[ -x "$chromium" ] || { echo "ensure_browser: chromium installed but $chromium is not there" >&2; exit 1; }
"$chromium" --version 2> /dev/null || true
