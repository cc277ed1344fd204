#!/usr/bin/env bash
# Builds the DocC documentation of the library modules a user embeds (Strata, and StrataEngine,
# whose Program and DStream Strata re-exposes) with swift-docc-plugin, and fails on any warning:
# an unresolved symbol link, a parameter without documentation, a topic group item that is not a
# link. The archives land in .build/plugins/Swift-DocC/outputs/{Strata,StrataEngine}.doccarchive.
# tools/test.sh runs this after the tests; run it alone after changing doc comments or a .docc page.
set -euo pipefail
cd "$(dirname "$0")/.."
swift package generate-documentation --target StrataEngine --target Strata --warnings-as-errors "$@"
