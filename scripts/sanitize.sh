#!/usr/bin/env bash
# Sanitizer run (issue 28 item 5, docs/robustness.md): builds the file-format and statistics unit tests with
# AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ and runs them. libtorch / OpenMP / OpenBLAS are
# Debian's uninstrumented builds, so leak detection is off (their allocations are not tracked) and ODR checks too
# (libtorch and its protobuf copy define the same symbols). Any report fails the run. CI runs it after the tests.
#   bash scripts/sanitize.sh            (FOCALSCOPE_SANITIZE_BUILD_DIR overrides build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${FOCALSCOPE_SANITIZE_BUILD_DIR:-build-asan}
TESTS=(test_safetensors test_pth test_statistics test_shapes test_bench_table)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFOCALSCOPE_SANITIZE=address,undefined \
  -DFOCALSCOPE_GUI=OFF -DFOCALSCOPE_VIDEO=OFF >/dev/null
LOCK=${FOCALSCOPE_BUILD_LOCK:-/tmp/focalscope_build.lock}
if command -v flock >/dev/null; then flock "$LOCK" ninja -C "$BUILD" -j"${FOCALSCOPE_JOBS:-2}" "${TESTS[@]}"
else ninja -C "$BUILD" -j"${FOCALSCOPE_JOBS:-2}" "${TESTS[@]}"; fi
labels=$(IFS='|'; echo "${TESTS[*]}")
cd "$BUILD"
ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0:halt_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j"${FOCALSCOPE_JOBS:-2}" --timeout 900 -L "^($labels)\$"
