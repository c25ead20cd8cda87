#!/usr/bin/env bash
# Measures a freshly exported embedded model (assets/models/shapes) the way the docs report it:
#   1. layer diagnostics over 50 interleaved benchmark cases; the detected weak layers are recorded in the manifest
#      (Focal Guidance uses them) and the three figures are copied to docs/images/;
#   2. the Shapes benchmark: baseline, FSG, AC, FG and the empty-prompt floor (Table 1 / Table 3 layouts);
#   3. the capture cost (bench-capture) on the trained model.
# usage: scripts/measure_embedded.sh [OUT_DIR] ; env: LIMIT (cases per dimension, default all 100), SEEDS (default 1),
#        MODES (default off,fsg,ac,fg), THREADS (default 2), SKIP_ANALYZE=1, SKIP_BENCH=1
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/measure}
fs=${FOCALSCOPE:-build/app/focalscope}
threads=${THREADS:-2}
mkdir -p "$out"
export OMP_WAIT_POLICY=PASSIVE

if [ "${SKIP_ANALYZE:-0}" != 1 ]; then
  "$fs" analyze --suite shapes --samples 50 --interleave --threads "$threads" --out "$out/analyze_shapes50" \
    --record-weak-layers | tee "$out/analyze.txt"
  cp "$out/analyze_shapes50/fig1_similarity_mosaic.png" docs/images/analysis_fig1_mosaic.png
  cp "$out/analyze_shapes50/fig2_layer_curves.png" docs/images/analysis_fig2_layer_curves.png
  cp "$out/analyze_shapes50/fig3_map_overlay.png" docs/images/analysis_fig3_overlay.png
fi
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  "$fs" bench --suite shapes --guidance "${MODES:-off,fsg,ac,fg}" --seeds "${SEEDS:-1}" --limit "${LIMIT:-0}" \
    --threads "$threads" --out "$out/bench" | tee "$out/bench.txt"
fi
"$fs" bench-capture --threads "$threads" | tee "$out/bench_capture.txt"
