#!/usr/bin/env bash
# Quick start, part 2: installs what is needed and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
# Build every product first: the CLI and crash tests run the built executables.
swift build --build-tests
swift test --skip-build "$@"
# The DocC catalogs and every doc comment of Strata and StrataEngine, with warnings as errors.
bash tools/docs.sh
