#!/usr/bin/env bash
# Bench: the toy DiT forward (focalscope bench-engine, inference path and the autograd path training uses) on the
# OpenBLAS kernels OpenBLAS picks by itself vs. the ones focalscope forces at start-up when that pick is below the
# CPU's level (openblas_core_upgrade in engine/core/blas_check.h). Ends with 'ratio X.XX' (own ms / forced ms).
#   usage: scripts/bench_blas_core.sh [build/app/focalscope] [threads]
set -euo pipefail
exe="${1:-build/app/focalscope}"
threads="${2:-2}"
[ -x "$exe" ] || { echo "error: $exe: no such executable (build it first: bash scripts/build.sh)" >&2; exit 2; }
line=$(env -u OPENBLAS_CORETYPE -u FOCALSCOPE_OPENBLAS_OWN_CORE "$exe" info 2>&1 | grep -o '\[core [^]]*\]' || true)
[ -n "$line" ] || { echo "error: $exe info names no OpenBLAS core (is OpenBLAS the BLAS?)" >&2; exit 2; }
echo "focalscope's choice: $line"
own=$(sed -n 's/.*OpenBLAS picked \([A-Za-z0-9_]*\).*/\1/p' <<<"$line")
if [ -z "$own" ]; then
  echo "OpenBLAS's own pick is already at this CPU's level: nothing to compare"
  exit 0
fi
forced=$(sed -n 's/\[core \([A-Za-z0-9_]*\),.*/\1/p' <<<"$line")
ms() {  # core -> "inference_ms autograd_ms"; a failed bench-engine run is reported and ends the script
  local out
  if ! out=$(OPENBLAS_CORETYPE="$1" "$exe" bench-engine --case toy --reference --threads "$threads" 2>&1); then
    echo "error: bench-engine on core $1 failed: $(tail -n 1 <<<"$out")" >&2
    exit 2
  fi
  awk '$1 == "toy" { a = $6 } $1 == "toy/ref" { b = $6 } END { print a, b }' <<<"$out"
}
own_times=$(ms "$own")  # (a failure inside ends the script here: set -e)
new_times=$(ms "$forced")
read -r own_inf own_ref <<<"$own_times"
read -r new_inf new_ref <<<"$new_times"
printf '%-12s %14s %14s\n' core "forward ms" "autograd ms"
printf '%-12s %14s %14s\n' "$own" "$own_inf" "$own_ref" "$forced" "$new_inf" "$new_ref"
awk -v a="$own_inf" -v b="$new_inf" -v c="$own_ref" -v d="$new_ref" \
  'BEGIN { printf "autograd ratio %.2f\nratio %.2f\n", c / d, a / b }'
