#!/usr/bin/env bash
# The README's test command: installs what is missing, builds everything, runs the whole GoogleTest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
BUILD_DIR="${FOCALSCOPE_BUILD_DIR:-build}"
cd "$BUILD_DIR"
ctest --output-on-failure -j2 --timeout 900
