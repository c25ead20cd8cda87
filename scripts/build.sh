#!/usr/bin/env bash
# Configures and builds FocalScope into build/ (Release, Ninja, ccache when present).
# Extra CMake arguments are passed through, e.g. scripts/build.sh -DFOCALSCOPE_GUI=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${FOCALSCOPE_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
# 2-core machines: two compile jobs; each torch TU needs ~1 GB.
ninja -C "$BUILD_DIR" -j"${FOCALSCOPE_JOBS:-2}"
