#!/usr/bin/env bash
# Installs what building and testing Strata needs on Debian/Ubuntu: the LMDB, LZ4 and SQLite
# headers and pkg-config; the sqlite3 shell (the SQL tests compare against it); for the web
# console and its browser tests, Chart.js (libjs-chart.js), Chromium, curl and openssl; for the
# cluster module (StrataCluster) and its tests, the NATS C client (libnats-dev) and nats-server.
# Does nothing when they are already there. Sourced by tools/demo.sh and tools/test.sh.
set -euo pipefail
packages=()
pkg-config --exists lmdb liblz4 2>/dev/null || packages+=(liblmdb-dev liblz4-dev lz4 pkg-config)
pkg-config --exists sqlite3 2>/dev/null || packages+=(libsqlite3-dev pkg-config)
command -v sqlite3 >/dev/null 2>&1 || packages+=(sqlite3)
[ -f /usr/share/javascript/chart.js/chart.min.js ] || packages+=(libjs-chart.js)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v curl >/dev/null 2>&1 || packages+=(curl)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
pkg-config --exists libnats 2>/dev/null || packages+=(libnats-dev pkg-config)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || packages+=(nats-server)
if [ ${#packages[@]} -eq 0 ]; then
    exit 0
fi
echo "strata: installing ${packages[*]} (apt-get)" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
pkg-config --exists lmdb liblz4 sqlite3 libnats
