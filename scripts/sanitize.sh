#!/usr/bin/env bash
# Sanitizer run (issue 28 item 5, docs/robustness.md); any report fails the run. CI runs it after the tests.
#   1. AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, -O1 -g1): the file-format, statistics, capture,
#      session and CLI tests — test_broken_inputs runs the instrumented `focalscope` executable on its catalogue of
#      broken inputs of every kind.
#   2. ThreadSanitizer: test_session_tsan (built in the normal build folder: app/session compiled with
#      -fsanitize=thread over the normal engine, tests/CMakeLists.txt) runs the session runner's tests — the app's
#      worker thread against the UI thread — with one torch thread and tests/tsan.supp for the uninstrumented
#      libraries.
# libtorch / OpenMP / OpenBLAS are Debian's uninstrumented builds, so leak detection is off (their allocations are not
# tracked) and ODR checks too (libtorch and its protobuf copy define the same symbols). The sanitizer runtimes refuse
# the RTLD_DEEPBIND that isolates libsentencepiece, so under them the tokenizer uses its native encoder
# (engine/text/tokenizer.h; equal to the library's output, tests/test_tokenizer.cpp).
#   bash scripts/sanitize.sh            (FOCALSCOPE_SANITIZE_BUILD_DIR overrides build-asan, FOCALSCOPE_BUILD_DIR build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ASAN_BUILD=${FOCALSCOPE_SANITIZE_BUILD_DIR:-build-asan}
MAIN_BUILD=${FOCALSCOPE_BUILD_DIR:-build}
JOBS=${FOCALSCOPE_JOBS:-2}
LOCK=${FOCALSCOPE_BUILD_LOCK:-/tmp/focalscope_build.lock}
locked() { if command -v flock >/dev/null; then flock "$LOCK" "$@"; else "$@"; fi; }
ASAN_TESTS=(test_safetensors test_pth test_statistics test_shapes test_bench_table test_capture test_session test_broken_inputs)

# 1. ASan + UBSan.
cmake -S . -B "$ASAN_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DFOCALSCOPE_SANITIZE=address,undefined -DFOCALSCOPE_GUI=OFF -DFOCALSCOPE_VIDEO=OFF >/dev/null
t0=$(date +%s)
locked ninja -C "$ASAN_BUILD" -j"$JOBS" "${ASAN_TESTS[@]}"
echo "sanitize: ASan build $(( $(date +%s) - t0 )) s"
labels=$(IFS='|'; echo "${ASAN_TESTS[*]}")
( cd "$ASAN_BUILD" &&
  ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0:halt_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j"$JOBS" --timeout 900 -L "^($labels)\$" )

# 2. TSan on the session runner.
cmake -S . -B "$MAIN_BUILD" -DFOCALSCOPE_TSAN_SESSION=ON >/dev/null
t0=$(date +%s)
locked ninja -C "$MAIN_BUILD" -j"$JOBS" test_session_tsan
echo "sanitize: TSan build $(( $(date +%s) - t0 )) s"
( cd "$MAIN_BUILD/tests" &&
  TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" OMP_NUM_THREADS=1 \
  ./test_session_tsan --gtest_filter='SessionRunner.*' )
echo "sanitize: ASan/UBSan (${ASAN_TESTS[*]}) and TSan (SessionRunner.*): no report"
