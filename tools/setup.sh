#!/usr/bin/env bash
# Installs what building Strata needs on Debian/Ubuntu: the LMDB, LZ4 and SQLite headers,
# pkg-config, and the sqlite3 shell (the SQL tests compare against it).
# Does nothing when they are already there. Sourced by tools/demo.sh and tools/test.sh.
set -euo pipefail
if pkg-config --exists lmdb liblz4 sqlite3 2>/dev/null && command -v sqlite3 >/dev/null; then
    exit 0
fi
echo "strata: installing liblmdb-dev liblz4-dev libsqlite3-dev sqlite3 pkg-config (apt-get)" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq liblmdb-dev liblz4-dev lz4 libsqlite3-dev sqlite3 pkg-config >/dev/null
pkg-config --exists lmdb liblz4 sqlite3
