#!/usr/bin/env bash
# Quick start, part 1: installs what is needed, builds, and runs the demo on an embedded store
# (./strata-demo.store, or the path given as the first argument). Run it again to append more.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
swift build -c release --product strata-demo >&2
exec .build/release/strata-demo "${1:-strata-demo.store}"
