#!/usr/bin/env bash
# Continues the embedded Shapes model's DiT training on a CUDA machine in one go: builds the CLI headless (no GL,
# ImGui, FFmpeg or tests) against the local PyTorch's CUDA libtorch, resumes `train --stage dit|mmdit --device cuda` from
# the checkpoint in CARRY_DIR until SECONDS after this script started (SIGTERM: the trainer checkpoints and exits),
# and leaves in OUT_DIR (at most 7 files, each under 16 MiB, as the device tool returns them): the checkpoint split
# into 15 MiB parts (ckpt.partNN), this run's loss rows (loss_tail.csv), progress.txt and summary.txt.
# usage: [STAGE=dit|mmdit] scripts/gpu_train.sh CARRY_DIR OUT_DIR SECONDS [BATCH]
#   STAGE: the Wan toy's DiT (default) or the embedded MMDiT (`train --stage mmdit`, batch default 32; its checkpoint
#          is carried the same way, as checkpoint.safetensors)
#   CARRY_DIR: deps.tar.gz (for an image without them: include/{nlohmann,eigen3/Eigen,stb}, share/cmake/nlohmann_json,
#              share/eigen3/cmake, lib/libstb.so*, lib/libsentencepiece.so* — copies of this machine's Debian files),
#              checkpoint.safetensors (optional; scripts/slim_checkpoint.py shrinks one for transport), vae.safetensors,
#              clip.safetensors, spiece.model (the files of train_runs/shapes/{vae,clip,tokenizer}), and for STAGE=mmdit
#              optionally teacher/ (the Wan toy's focalscope.json, dit.safetensors, umt5.safetensors: trains with
#              --teacher, engine/train/wan_teacher.h). scripts/make_gpu_carry.sh fills it.
# Reassemble here: cat OUT_DIR/ckpt.part* > train_runs/shapes/$STAGE/checkpoint.safetensors, then append
# loss_tail.csv's rows to train_runs/shapes/$STAGE/loss.csv (the MMDiT's run lives in /work/train/shapes/mmdit).
set -uo pipefail
t0=$(date +%s)
stage=${STAGE:-dit}
case $stage in dit) batch=${4:-64} ;; mmdit) batch=${4:-32} ;; *) echo "error: STAGE=$stage: not dit or mmdit" >&2; exit 2 ;; esac
carry=$(realpath "$1"); out=$(realpath -m "$2"); budget=$3
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
el() { echo $(( $(date +%s) - t0 )); }
log() { echo "[gpu_train +$(el)s] $*" | tee -a "$out/summary.txt"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | sed 's/^/gpu: /' | tee -a "$out/summary.txt"
deps=/tmp/fs_deps; mkdir -p "$deps"; tar xzf "$carry/deps.tar.gz" -C "$deps"
torch_dir=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "share", "cmake", "Torch"))')
log "torch $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)'); $(nproc) cores; g++ $(g++ -dumpfullversion)"
build=$root/build-cuda
# libtorch >= 2.13 needs C++20 in its public headers; earlier 2.x builds with C++17 like Debian's 1.13.
std=$(python3 -c 'import torch; v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); print(20 if v >= (2, 13) else 17)')
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$torch_dir" -DCMAKE_PREFIX_PATH="$deps" \
  -DFOCALSCOPE_GUI=OFF -DFOCALSCOPE_VIDEO=OFF -DFOCALSCOPE_TESTS=OFF -DCMAKE_CXX_STANDARD="$std" \
  -DCMAKE_CXX_FLAGS="-include cstdint" \
  >"$out/configure.log" 2>&1 || { log "configure FAILED"; tail -40 "$out/configure.log"; exit 1; }
ninja -C "$build" -k 0 focalscope >"$out/build.log" 2>&1 ||
  { log "build FAILED"; grep -E "error|FAILED|undefined" "$out/build.log" | head -60; exit 1; }
log "built"; rm -f "$out/build.log"
export LD_LIBRARY_PATH="$deps/lib:${LD_LIBRARY_PATH:-}" FOCALSCOPE_SENTENCEPIECE_LIB="$deps/lib/libsentencepiece.so.0"
fs=$build/app/focalscope
"$fs" info >>"$out/summary.txt" 2>&1 || { log "info FAILED"; tail -5 "$out/summary.txt"; }
w=/tmp/fs_shapes; mkdir -p "$w/tokenizer" "$w/vae" "$w/clip" "$w/$stage"
cp "$carry/spiece.model" "$w/tokenizer/"; cp "$carry/vae.safetensors" "$w/vae/"; cp "$carry/clip.safetensors" "$w/clip/"
# No checkpoint in the carry: the stage starts from step 0 (the MMDiT's whole training fits minutes on a GPU; its
# slim CPU checkpoint, ~52 MB, plus the rest of the carry would exceed the 64 MiB a call may send).
if [ -f "$carry/checkpoint.safetensors" ]; then cp "$carry/checkpoint.safetensors" "$w/$stage/"; else log "no checkpoint carried: starting $stage at step 0"; fi
extra=()
if [ "$stage" = mmdit ] && [ -f "$carry/teacher/focalscope.json" ]; then
  # The teacher reads the very tokenizer / CLIP / VAE encoder of the training directory: put those beside it.
  t=/tmp/fs_teacher; mkdir -p "$t"; cp "$carry/teacher/"* "$t/"
  cp "$carry/spiece.model" "$carry/clip.safetensors" "$carry/vae.safetensors" "$t/"
  extra=(--teacher "$t"); log "distilling from the carried Wan teacher"
fi
left=$(( budget - $(el) - 25 ))
log "training stage $stage for at most ${left}s, batch $batch"
timeout -s TERM -k 30 "$left" "$fs" train --stage "$stage" --out "$w" --seed 1 --threads 8 --steps 1000000 --resume \
  --device cuda --batch "$batch" --checkpoint-minutes 1 ${extra[@]+"${extra[@]}"} >"$out/train.log" 2>&1
log "trainer exit $?: $(tr '\r' '\n' <"$out/train.log" | grep -E 'step [0-9]+/' | tail -1)"
tr '\r' '\n' <"$out/train.log" | grep -v '^\s*$' | grep -vE "^\[$stage\] (encoding|\[)" | tail -20 >>"$out/summary.txt"
tr '\r' '\n' <"$out/train.log" | grep -E 'step [0-9]+/' | awk 'NR % 50 == 1' >"$out/progress.txt"
tail -c 2000000 "$w/$stage/loss.csv" >"$out/loss_tail.csv"
split -b 15M -d "$w/$stage/checkpoint.safetensors" "$out/ckpt.part"
rm -f "$out/train.log" "$out/configure.log"
log "done"
