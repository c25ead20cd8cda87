#!/usr/bin/env bash
# Fills CARRY_DIR (default .devcarry, git-ignored) with what scripts/gpu_train.sh needs on a bare CUDA machine:
#   deps.tar.gz  headers, CMake configs and libraries this machine's Debian packages provide and a PyTorch image lacks
#   spiece.model, clip.safetensors, vae.safetensors   the training directory's frozen parts (train_runs/shapes)
#   teacher/     with TEACHER=1 (default for STAGE=mmdit): the Wan toy as the MMDiT's teacher (--teacher), only its
#                manifest, DiT and umT5 (gpu_train.sh puts the carry's CLIP / tokenizer / VAE beside them: the same
#                files, or for the VAE the same encoder, which is all a teacher reads)
#   checkpoint.safetensors  with CHECKPOINT=path: a resume point, shrunk by scripts/slim_checkpoint.py
# The device tool sends the working tree and the carry together under 64 MiB: leave the tracked models out of the
# tree for that call (git sparse-checkout set --no-cone '/*' '!/train_runs/' '!/assets/models/'; afterwards
# git sparse-checkout disable) and pass carry [".devcarry"].
# usage: [STAGE=dit|mmdit] [TEACHER=0|1] [CHECKPOINT=F] scripts/make_gpu_carry.sh [CARRY_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry=${1:-$root/.devcarry}
stage=${STAGE:-mmdit}
teacher=${TEACHER:-$([ "$stage" = mmdit ] && echo 1 || echo 0)}
rm -rf "$carry"; mkdir -p "$carry"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/include/eigen3" "$tmp/share/cmake" "$tmp/share/eigen3" "$tmp/lib"
cp -r /usr/include/nlohmann /usr/include/stb "$tmp/include/"
cp -r /usr/include/eigen3/Eigen "$tmp/include/eigen3/"
cp -r /usr/share/cmake/nlohmann_json "$tmp/share/cmake/"
cp -r /usr/share/eigen3/cmake "$tmp/share/eigen3/"
cp -P /usr/lib/x86_64-linux-gnu/libstb.so* /usr/lib/x86_64-linux-gnu/libsentencepiece.so* "$tmp/lib/"
tar czf "$carry/deps.tar.gz" -C "$tmp" include share lib
runs=$root/train_runs/shapes
cp "$runs/tokenizer/spiece.model" "$runs/clip/clip.safetensors" "$runs/vae/vae.safetensors" "$carry/"
if [ "$teacher" = 1 ]; then
  mkdir -p "$carry/teacher"
  cp "$root/assets/models/shapes/"{focalscope.json,dit.safetensors,umt5.safetensors} "$carry/teacher/"
fi
if [ -n "${CHECKPOINT:-}" ]; then python3 "$root/scripts/slim_checkpoint.py" "$CHECKPOINT" "$carry/checkpoint.safetensors"; fi
du -sh "$carry"; ls -la "$carry"
