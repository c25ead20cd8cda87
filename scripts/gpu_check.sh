#!/usr/bin/env bash
# GPU checks for a CUDA server (docs/real_weights.md): builds the engine + CLI + tests headless (no GL, ImGui or
# FFmpeg) against the CUDA-enabled libtorch of the local PyTorch, then
#   1. the fixture parity tests, which on a machine with a GPU also run every fixture on CUDA (float32, bar 1e-4)
#      and the bf16 mixed-precision bound, and `run-module --device cuda` per fixture in float32 and bf16;
#   2. `bench-step`: seconds per sampling step of the 14B config at 480p / 81 frames, capture off and on, with the
#      GPU memory in use sampled by nvidia-smi (peak printed);
#   3. the same with the blocks' weights kept as fp8 / Q4_K / Q8_0 codes (issue 27's table: s/step vs bf16 in one run,
#      then each kept model's peak memory alone; GPU_CHECK_SKIP_KEPT=1 skips it).
# usage: scripts/gpu_check.sh [BUILD_DIR]   (default build-cuda)
# env: FOCALSCOPE_FIXTURES (default ../shared/fixtures/wan_reference), CMAKE_PREFIX_PATH (extra dependencies),
#      GPU_CHECK_OUT (logs; default BUILD_DIR/gpu_check), GPU_CHECK_SKIP_BENCH=1, CXX_STANDARD (default 17; libtorch
#      >= 2.13 needs 20).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-cuda}
out=${GPU_CHECK_OUT:-$build/gpu_check}
mkdir -p "$out"
log() { echo "[gpu_check] $*" | tee -a "$out/summary.txt"; }

torch_dir=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "share", "cmake", "Torch"))') ||
  { log "no python3 with torch: pass -DTorch_DIR yourself"; exit 1; }
log "torch: $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)'), Torch_DIR=$torch_dir"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/[gpu_check] gpu: /' | tee -a "$out/summary.txt"

t0=$(date +%s)
# GPU_CHECK_DEPS=deps.tar.gz: headers, CMake configs and libraries for an image without them (scripts/gpu_train.sh
# documents its layout); GTest is then usually missing too, so the parity test is left out (GPU_CHECK_NO_TESTS=1).
extra=()
if [ -n "${GPU_CHECK_DEPS:-}" ]; then
  deps=/tmp/fs_deps; mkdir -p "$deps"; tar xzf "$GPU_CHECK_DEPS" -C "$deps"
  extra+=(-DCMAKE_PREFIX_PATH="$deps" -DCMAKE_CXX_FLAGS="-include cstdint")
  export LD_LIBRARY_PATH="$deps/lib:${LD_LIBRARY_PATH:-}"
fi
targets=(focalscope test_fixture_parity)
if [ "${GPU_CHECK_NO_TESTS:-0}" = 1 ]; then extra+=(-DFOCALSCOPE_TESTS=OFF); targets=(focalscope); fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$torch_dir" \
  -DCMAKE_CXX_STANDARD="${CXX_STANDARD:-17}" -DFOCALSCOPE_GUI=OFF -DFOCALSCOPE_VIDEO=OFF -DFOCALSCOPE_PCH=ON "${extra[@]}" \
  >"$out/configure.log" 2>&1 || { log "configure FAILED (see configure.log)"; tail -30 "$out/configure.log"; exit 1; }
ninja -C "$build" -k 0 "${targets[@]}" >"$out/build.log" 2>&1 ||
  { log "build FAILED (see build.log)"; grep -E "error|FAILED" "$out/build.log" | head -40; exit 1; }
log "built in $(( $(date +%s) - t0 )) s"
fs="$build/app/focalscope"

fixtures=${FOCALSCOPE_FIXTURES:-$root/../shared/fixtures/wan_reference}
export FOCALSCOPE_FIXTURES="$fixtures"
if [ "${GPU_CHECK_NO_TESTS:-0}" != 1 ]; then
  "$build/tests/test_fixture_parity" >"$out/test_fixture_parity.log" 2>&1
  rc=$?
  log "test_fixture_parity: exit $rc; $(grep -c '^\[       OK' "$out/test_fixture_parity.log") passed, $(grep -c '^\[  FAILED' "$out/test_fixture_parity.log") failed lines, $(grep -c '^\[  SKIPPED' "$out/test_fixture_parity.log") skipped"
  grep -E "^\[parity\]|FAILED" "$out/test_fixture_parity.log" | tee -a "$out/summary.txt" >/dev/null
fi
for d in "$fixtures"/*/; do
  [ -f "$d/io.safetensors" ] || continue
  for dt in f32 bf16; do
    r=$("$fs" run-module --fixture "$d" --out /tmp/gpu_check_out.safetensors --compare --device cuda --dtype "$dt" 2>&1 | tail -1)
    log "run-module $(basename "$d") cuda $dt: $r"
  done
done

[ "${GPU_CHECK_SKIP_BENCH:-0}" = 1 ] && exit 0
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$out/gpu_memory_mib.txt" 2>/dev/null &
smi=$!
"$fs" bench-step --config 14b --device cuda --dtype bf16 --frames 81 --height 480 --width 832 --steps "${BENCH_STEPS:-3}" \
  2>&1 | tee "$out/bench_step_14b.txt"
kill $smi 2>/dev/null
log "bench-step 14b: $(tail -1 "$out/bench_step_14b.txt"); $(grep -E '^capture (off|on):' "$out/bench_step_14b.txt" | tr '\n' ' ')"
log "peak GPU memory in use (nvidia-smi, whole device): $(sort -n "$out/gpu_memory_mib.txt" | tail -1) MiB"

# Issue 27's table: the 14B DiT with its block weights kept as fp8 / Q4_K / Q8_0 codes (--keep-quantised), decoded per
# block. Seconds per step as a ratio to dense bf16 measured in one run (--kept), then the peak device memory of the
# kept model alone (--kept-only: the dense weights are built on the CPU and never reach the GPU).
[ "${GPU_CHECK_SKIP_KEPT:-0}" = 1 ] && exit 0
for f in fp8 q4_k q8_0; do
  "$fs" bench-step --config 14b --device cuda --dtype bf16 --frames 81 --height 480 --width 832 --steps "${BENCH_STEPS:-3}" \
    --no-capture --kept "$f" 2>&1 | tee "$out/bench_step_14b_kept_$f.txt"
  log "kept $f: $(grep -E '^kept ' "$out/bench_step_14b_kept_$f.txt" | tail -1)"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$out/gpu_memory_kept_$f.txt" 2>/dev/null &
  smi=$!
  "$fs" bench-step --config 14b --device cuda --dtype bf16 --frames 81 --height 480 --width 832 --steps 2 --kept "$f" \
    --kept-only 2>&1 | tee "$out/bench_step_14b_kept_only_$f.txt"
  kill $smi 2>/dev/null
  log "kept $f alone: $(grep -E '^weights kept' "$out/bench_step_14b_kept_only_$f.txt" | tail -1); peak GPU memory in use $(sort -n "$out/gpu_memory_kept_$f.txt" | tail -1) MiB"
done
