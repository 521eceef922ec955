#!/usr/bin/env bash
# Debian packages Backroom needs: libzbar0 (barcode scanning, required) and, for the browser
# tests, chromium + chromium-driver. Installed when missing and running as root; otherwise the
# exact command to run is printed and, for zbar, set-up stops.
set -u
need=()
if ! ldconfig -p 2>/dev/null | grep -q 'libzbar\.so\.0'; then need+=(libzbar0); fi
want_browser=${1:-}
if [ "$want_browser" = "--browser" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${need[@]}" >/dev/null; } \
    || { echo "could not install ${need[*]}"; exit 1; }
  exit 0
fi
echo "Backroom needs these Debian packages: ${need[*]}"
echo "Run:  sudo apt-get update && sudo apt-get install -y ${need[*]}"
for p in "${need[@]}"; do [ "$p" = libzbar0 ] && exit 1; done
exit 0
