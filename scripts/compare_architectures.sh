#!/usr/bin/env bash
# CrossDiT vs MMDiT side by side (issue 26 item 3, docs/architectures.md): the same analyses on the two embedded
# models (assets/models/shapes = Wan2.1's CrossDiT, assets/models/shapes-mmdit = HunyuanVideo's MMDiT), same cases,
# seeds, sampler and rule, each step resumable (`--resume` where the command has it; finished steps are skipped):
#   1. layer analysis  analyze --suite shapes --samples N --interleave --weak-reference words: Moran's I / std per layer
#                      with 95% bootstrap intervals, weak layers by the one rule both architectures support;
#   2. ablation        ablate --limit L: each layer's causal share (Wan: its text K/V swapped for the empty prompt's;
#                      MMDiT: its image tokens stop reading the prompt's rows) with intervals, Spearman vs Moran's I;
#   3. FG table        bench --guidance off,fsg,ac,fg --seeds S --limit L: Table 3 with paired deltas; the weak layers
#                      are each model's own (the Wan toy's recorded set; the MMDiT's from step 1, or its recorded set).
# Then prints each model's weak layers, ablation correlation and FG rows (summary.md in OUT).
#   bash scripts/compare_architectures.sh OUT [SAMPLES=30] [LIMIT=20] [SEEDS=5] [ABLATE_LIMIT=5]
# Cost on the 2-core CPU: roughly 1 h per model for the defaults (the bench is most of it); THREADS=N sets --threads.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/compare_architectures.sh OUT [SAMPLES] [LIMIT] [SEEDS] [ABLATE_LIMIT]}
SAMPLES=${2:-30}; LIMIT=${3:-20}; SEEDS=${4:-5}; ABLATE_LIMIT=${5:-5}
FS=${FOCALSCOPE:-build/app/focalscope}
THREADS=${THREADS:-2}
[ -x "$FS" ] || { echo "error: $FS: not built (scripts/build.sh)"; exit 2; }
for m in shapes shapes-mmdit; do
  [ -f "assets/models/$m/focalscope.json" ] || { echo "error: assets/models/$m: no model (the MMDiT: train --stage export-mmdit)"; exit 2; }
done
mkdir -p "$OUT"
for m in shapes shapes-mmdit; do
  dir=assets/models/$m
  if [ ! -f "$OUT/analyze_$m/metrics.json" ]; then
    "$FS" analyze --model-dir "$dir" --suite shapes --samples "$SAMPLES" --interleave --weak-reference words \
      --threads "$THREADS" --out "$OUT/analyze_$m" | tee "$OUT/analyze_$m.txt"
  fi
  if [ ! -f "$OUT/ablate_$m/ablate.json" ]; then
    "$FS" ablate --model-dir "$dir" --suite shapes --limit "$ABLATE_LIMIT" --threads "$THREADS" --resume \
      --out "$OUT/ablate_$m" | tee "$OUT/ablate_$m.txt"
  fi
  if [ ! -f "$OUT/bench_$m/bench.md" ]; then
    # The model's recorded weak layers when it has them (the Wan toy's), else step 1's detection.
    python3 - "$dir/focalscope.json" "$OUT/analyze_$m/metrics.json" "$OUT/guidance_$m.json" <<'PY'
import json, sys
manifest, metrics, out = sys.argv[1:4]
weak = json.load(open(manifest)).get("weak_layers") or json.load(open(metrics))["weak_layers"]
json.dump({"weak_layers": weak} if weak else {}, open(out, "w"))
print(f"{out}: weak layers {weak or 'none (FG will report itself a no-op)'}")
PY
    "$FS" bench --model-dir "$dir" --suite shapes --guidance off,fsg,ac,fg --guidance-config "$OUT/guidance_$m.json" \
      --seeds "$SEEDS" --limit "$LIMIT" --no-floor --no-ceiling --threads "$THREADS" --out "$OUT/bench_$m"
  fi
done
python3 - "$OUT" <<'PY' | tee "$OUT/summary.md"
import json, os, sys
out = sys.argv[1]
for m in ("shapes", "shapes-mmdit"):
    an = json.load(open(f"{out}/analyze_{m}/metrics.json"))
    ab = json.load(open(f"{out}/ablate_{m}/ablate.json"))
    print(f"## {m} ({an.get('architecture', 'wan')})\n")
    print(f"weak layers (words rule, {an['samples_done']} samples): {an['weak_layers'] or 'none'}\n")
    print("| layer | Moran's I median [95% CI] | excess over control words [95% CI] | P(weak) | causal share [95% CI] |")
    print("| ---: | --- | --- | ---: | --- |")
    share = {e["layer"]: e for e in ab.get("layers", [])}
    for e in an["layers"]:
        l = e["layer"]
        mi = e["moran_i"]
        ci = mi.get("median_ci95", [float("nan")] * 2)
        st = e.get("statistic_ci95", [float("nan")] * 2)
        s = share.get(l, {}).get("latent_effect")
        sv = f"{s['mean']:.3f} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]" if s else "n/a"
        print(f"| {l} | {mi['mean']:.4f} [{ci[0]:.4f}, {ci[1]:.4f}] | {e['statistic']:+.4f} [{st[0]:+.4f}, {st[1]:+.4f}] | "
              f"{e.get('p_weak', float('nan')):.2f} | {sv} |")
    print(f"\nablation ({ab['units']} units): Spearman {json.dumps(ab.get('spearman', {}))}\n")
    print(open(f"{out}/bench_{m}/bench.md").read())
PY
