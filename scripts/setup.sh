#!/usr/bin/env bash
# Installs every Debian package FocalScope needs to build, run and test.
# Idempotent: packages already present are skipped; `apt-get update` runs once,
# and only when something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread            # libtorch + a fast BLAS (Debian's reference BLAS is ~15x slower)
  nlohmann-json3-dev libeigen3-dev
  libsentencepiece-dev sentencepiece           # umT5 / toy tokenizer
  libpcre2-dev                                 # Llama-3 BPE pre-tokenizer regex (\p{L}, \p{N} classes)
  libpng-dev zlib1g-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg
  libimgui-dev libglfw3-dev libgl-dev libstb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  xvfb xauth fonts-dejavu-core
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[setup] all packages present"
fi

# libtorch links against the generic libblas.so.3; make OpenBLAS (pthread) the provider.
for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
  cand=$(update-alternatives --list "$alt" 2>/dev/null | grep -m1 openblas-pthread || true)
  if [ -n "$cand" ]; then $SUDO update-alternatives --set "$alt" "$cand" >/dev/null; fi
done
