#!/usr/bin/env bash
# Installs what building and testing Strata needs on Debian/Ubuntu: the LMDB and LZ4 headers and
# pkg-config; for the web console and its browser tests, Chart.js (libjs-chart.js), Chromium and curl.
# Does nothing when they are already there. Sourced by tools/demo.sh and tools/test.sh.
set -euo pipefail
packages=()
pkg-config --exists lmdb liblz4 2>/dev/null || packages+=(liblmdb-dev liblz4-dev lz4 pkg-config)
[ -f /usr/share/javascript/chart.js/chart.min.js ] || packages+=(libjs-chart.js)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v curl >/dev/null 2>&1 || packages+=(curl)
if [ ${#packages[@]} -eq 0 ]; then
    exit 0
fi
echo "strata: installing ${packages[*]} (apt-get)" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
pkg-config --exists lmdb liblz4
