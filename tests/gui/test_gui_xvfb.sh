#!/usr/bin/env bash
# Scripted GUI session in a real window under Xvfb (Mesa llvmpipe, no GPU), then assertions on the screenshot's
# pixels (tests/gui/gui_screenshot_check.cpp): panels present, heatmaps not blank, curves and videos drawn.
#
# usage: test_gui_xvfb.sh FOCALSCOPE GUI_TEST_MODEL GUI_SCREENSHOT_CHECK FIXTURE_DIR OUT_DIR [TEST_WAN22]
# (TEST_WAN22: also run the app on a Wan2.2 two-expert folder that binary writes, test_gui_wan22.sh)
# Exit 77 (ctest: skipped) when Xvfb or the fixture is missing. Artefacts stay in OUT_DIR (screenshot.png,
# state.json, app.log, export/).
set -euo pipefail
APP=$1 MAKE_MODEL=$2 CHECK=$3 FIXTURE=$4 OUT=$5 WAN22=${6:-}

if [ ! -f "$FIXTURE/config.json" ]; then echo "SKIP: fixture $FIXTURE not found"; exit 77; fi
if ! command -v Xvfb >/dev/null; then echo "SKIP: Xvfb not installed (apt-get install xvfb)"; exit 77; fi
rm -rf "$OUT"
mkdir -p "$OUT"

# A free display number from :99 up (parallel ctest runs, other sessions).
DISP=""
for d in $(seq 99 160); do
  if [ ! -e "/tmp/.X11-unix/X$d" ] && [ ! -e "/tmp/.X$d-lock" ]; then DISP=$d; break; fi
done
[ -n "$DISP" ] || { echo "FAIL: no free X display"; exit 1; }
Xvfb ":$DISP" -screen 0 1600x1000x24 -nolisten tcp >"$OUT/xvfb.log" 2>&1 &
XPID=$!
trap 'kill "$XPID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -e "/tmp/.X11-unix/X$DISP" ] && break; sleep 0.1; done
[ -e "/tmp/.X11-unix/X$DISP" ] || { echo "FAIL: Xvfb :$DISP did not start"; cat "$OUT/xvfb.log"; exit 1; }

"$MAKE_MODEL" "$FIXTURE" "$OUT/model" >/dev/null

# A small ablate.json (format of `focalscope ablate`, app/session/ablation_file.h) for the test model's 3 layers, to
# overlay on the layer curves; and a broken one, which must be reported in the panel, not crash the app.
cat >"$OUT/ablate.json" <<EOF
{"format": "focalscope.ablate/1", "units": 4, "settings": {"model_name": "gui-test (checkpoint-layout fixture, random CLIP)"},
 "baseline": {"pass_rate": 0.5, "agreement": 0.8},
 "layers": [
  {"layer": 0, "n": 4, "latent_effect": {"mean": 0.62, "ci95": [0.48, 0.77]}, "pass_rate": 0.25},
  {"layer": 1, "n": 4, "latent_effect": {"mean": 0.08, "ci95": [-0.03, 0.2]}, "pass_rate": 0.5},
  {"layer": 2, "n": 4, "latent_effect": {"mean": 0.35, "ci95": [0.22, 0.46]}, "pass_rate": 0.5}]}
EOF
printf '{"format": "focalscope.ablate/1", "layers": [' >"$OUT/broken_ablate.json"

# The session: a bad image first (must show an error, not crash), then a benchmark preset with Focal Guidance
# off, generate (A/B), toggle FG on (the test model has no CLIP text tower: the guided word is given) + change a
# strength, regenerate, open a grid cell, overlay an ablation (a broken file first), export, screenshot.
cat >"$OUT/session.txt" <<EOF
model $OUT/model
image $OUT/does-not-exist.png
prompt a red circle moves to the left
generate
wait 120
preset 1
ab on
fg off
generate
wait 300
expect_done
fg on
guide triangle
set lambda_txt 0.8
generate
wait 300
expect_done
load_ablation $OUT/broken_ablate.json
load_ablation $OUT/ablate.json
cell 1 3
frame 2
opacity 1
pause
export $OUT/export
dump_state $OUT/state.json
screenshot $OUT/screenshot.png
hallucination on
sleep 0.3
mouse 1230 250
dump_state $OUT/state_hallucination.json
screenshot $OUT/screenshot_hallucination.png
EOF

status=0
DISPLAY=":$DISP" FOCALSCOPE_CONFIG_DIR="$OUT/config" LIBGL_ALWAYS_SOFTWARE=1 \
  timeout 600 "$APP" --script "$OUT/session.txt" --exit-after --fresh --stats --size 1600x1000 >"$OUT/app.log" 2>&1 || status=$?
cat "$OUT/app.log"
[ "$status" -eq 0 ] || { echo "FAIL: app exited with $status"; exit 1; }
grep -q "does-not-exist.png" "$OUT/app.log" || { echo "FAIL: the bad image path was not reported"; exit 1; }
grep -qE "broken_ablate.json: not (valid )?JSON" "$OUT/app.log" || { echo "FAIL: the broken ablate.json was not reported"; exit 1; }
grep -q "ablation $OUT/ablate.json: 3 layers (0-2)" "$OUT/app.log" || { echo "FAIL: the ablate.json overlay did not load"; exit 1; }
for f in screenshot.png state.json export/metrics.csv export/metrics.json export/baseline_grid.png; do
  [ -s "$OUT/$f" ] || { echo "FAIL: $OUT/$f missing"; exit 1; }
done
"$CHECK" "$OUT/screenshot.png" "$OUT/state.json"
# KV-Lock's hallucination metric: every finished run carries one value per step; `hallucination on` shows its tab
# and the overlay (the screenshot is for a person to look at).
python3 - "$OUT/state_hallucination.json" <<'PY' || { echo "FAIL: hallucination metric state"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
assert s["large_view"]["tab"] == "hallucination", s["large_view"]
assert s["hallucination_overlay"] is True
for r in s["runs"]:
    if r["state"] == "done":
        assert r["hallucination_window"] == 10 and r["hallucination_steps"] == r["steps_total"], r
print("PASS  hallucination tab and per-step metric in the app")
PY

# The Edit mode (KV-Lock video editing) on the same display and model: bad inputs, a brushed KV-Lock edit.
DISPLAY=":$DISP" bash "$(dirname "$0")/test_gui_edit.sh" "$APP" "$OUT/model" "$CHECK" "$OUT/edit" ||
  { echo "FAIL: Edit mode session"; exit 1; }

# Wan2.2 I2V-A14B: the app on a two-expert folder (the expert of each step in the grid and the state).
if [ -n "$WAN22" ]; then
  DISPLAY=":$DISP" bash "$(dirname "$0")/test_gui_wan22.sh" "$APP" "$WAN22" "$OUT/wan22" "$FIXTURE" || { echo "FAIL: Wan2.2 session"; exit 1; }
fi

# Settings and window layout persist between runs (and a script run neither reads nor writes them).
P="$OUT/persist"
DISPLAY=":$DISP" FOCALSCOPE_CONFIG_DIR="$P" timeout 120 "$APP" --model-dir "$OUT/model" --prompt "a persisted prompt" \
  --exit-after >"$OUT/persist1.log" 2>&1 || { cat "$OUT/persist1.log"; echo "FAIL: persistence run 1"; exit 1; }
grep -q "a persisted prompt" "$P/settings.json" || { echo "FAIL: settings.json lacks the prompt"; exit 1; }
grep -q "Layer x step similarity" "$P/imgui.ini" || { echo "FAIL: imgui.ini lacks the window layout"; exit 1; }
DISPLAY=":$DISP" FOCALSCOPE_CONFIG_DIR="$P" timeout 120 "$APP" --exit-after >"$OUT/persist2.log" 2>&1 ||
  { cat "$OUT/persist2.log"; echo "FAIL: persistence run 2"; exit 1; }
grep -q "a persisted prompt" "$P/settings.json" || { echo "FAIL: run 2 lost the saved prompt"; exit 1; }
echo "PASS  settings and layout persist ($P)"
