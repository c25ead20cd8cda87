#!/usr/bin/env bash
# The app on a Wan2.2 I2V-A14B folder (two experts): an A/B run with Focal Guidance on a given word must finish, the
# similarity grid's columns must carry the expert of each step (H / L), the state dump must list the experts per step
# (high-noise first, as the schedule switches at t >= 900), and the window is saved for a person to look at.
#
# Then the CLIP field: a missing file is one error in the run, and Wan2.1's open-clip file (with its XLM-R tokenizer
# beside it) makes Eq. 6 select the keywords with no guided word given.
#
# usage: test_gui_wan22.sh FOCALSCOPE TEST_WAN22 OUT_DIR LAYOUT_FIXTURE
# Needs DISPLAY (test_gui_xvfb.sh runs it on its Xvfb). TEST_WAN22 writes the tiny two-expert folder
# (FOCALSCOPE_WAN22_OUT, tests/test_wan22.cpp); LAYOUT_FIXTURE: ../shared/fixtures/wan_checkpoint_layout (its CLIP file).
# Artefacts stay in OUT_DIR.
set -euo pipefail
APP=$1 WAN22=$2 OUT=$3 LAYOUT=$4
[ -n "${DISPLAY:-}" ] || { echo "FAIL: no DISPLAY (run under xvfb-run or from test_gui_xvfb.sh)"; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"
# run_session NAME WHAT: plays $OUT/NAME.txt in the app (log $OUT/NAME.log); on failure prints the log and "FAIL: WHAT".
run_session() {
  FOCALSCOPE_CONFIG_DIR="$OUT/config" LIBGL_ALWAYS_SOFTWARE=1 \
    timeout 300 "$APP" --script "$OUT/$1.txt" --exit-after --fresh --size 1600x1000 >"$OUT/$1.log" 2>&1 ||
    { cat "$OUT/$1.log"; echo "FAIL: $2"; exit 1; }
}
FOCALSCOPE_WAN22_OUT="$OUT/model" "$WAN22" --gtest_filter='Wan22.FolderIsDetectedFromContent' >"$OUT/write_model.log" 2>&1 ||
  { cat "$OUT/write_model.log"; echo "FAIL: could not write the two-expert folder"; exit 1; }
python3 - "$OUT/ref.png" <<'PY'
import struct, sys, zlib
w, h = 64, 48
raw = b"".join(b"\0" + bytes(c for x in range(w) for c in ((4 * x) % 256, (5 * y) % 256, 128)) for y in range(h))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                              chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
cat >"$OUT/session.txt" <<EOS
model $OUT/model
image $OUT/ref.png
prompt A cat walks on the grass
steps 6
frames 5
max_area 4096
weak 1
guide cat
fg on
ab on
generate
wait 300
expect_done
keyword cat
dump_state $OUT/state.json
screenshot $OUT/screenshot.png
EOS
run_session session "the app on a Wan2.2 folder"
[ -s "$OUT/screenshot.png" ] || { echo "FAIL: no screenshot"; exit 1; }
python3 - "$OUT/state.json" <<'PY' || { echo "FAIL: Wan2.2 run state"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
runs = {r["variant"]: r for r in s["runs"]}
assert len(runs) == 2, runs.keys()
for r in runs.values():
    assert r["state"] == "done" and r["steps_total"] == 6, r
    e = r["step_experts"]
    # 6 steps, shift 5: the first steps high-noise (t >= 900), then low-noise: 1 ... 1 0 ... 0
    assert len(e) == r["captured_steps"] and set(e) == {0, 1} and e == sorted(e, reverse=True) and e[0] == 1, e
assert any(r["guidance_applied"] for r in runs.values()), runs
print("PASS  the app on a Wan2.2 two-expert folder: A/B with FG, the expert of every step")
PY

# The CLIP field (as the CLI's --clip).
mkdir -p "$OUT/clip/xlm-roberta-large"
cp "$LAYOUT/models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth" "$OUT/clip/clip.pth"
cp "$(dirname "$0")/../data/xlmr_tiny/sentencepiece.bpe.model" "$OUT/clip/xlm-roberta-large/"
cat >"$OUT/session_clip.txt" <<EOS
model $OUT/model
image $OUT/ref.png
prompt A cat walks on the grass
steps 4
frames 5
max_area 4096
ab off
clip $OUT/no-such-clip.pth
generate
wait 300
dump_state $OUT/state_bad_clip.json
clip $OUT/clip/clip.pth
weak 1
set tau_sel -1
fg on
ab on
generate
wait 300
expect_done
dump_state $OUT/state_clip.json
screenshot $OUT/screenshot_clip.png
EOS
run_session session_clip "the app with a CLIP on a Wan2.2 folder"
python3 - "$OUT/state_bad_clip.json" "$OUT/state_clip.json" <<'PY' || { echo "FAIL: Wan2.2 CLIP state"; exit 1; }
import json, sys
bad = json.load(open(sys.argv[1]))
errors = [r["error"] for r in bad["runs"] if r["error"]]
assert any("no-such-clip.pth" in e for e in errors), bad["runs"]
s = json.load(open(sys.argv[2]))
guided = [r for r in s["runs"] if r["variant"] == "focal guidance"][0]
assert guided["state"] == "done" and guided["guidance_applied"], guided
chips = {k["word"]: k for k in guided["keywords"]}
for w in ("cat", "walks", "grass"):
    assert chips[w]["clip_score"] is not None and chips[w]["selected"], chips
for w in ("A", "on", "the"):
    assert w not in chips or not chips[w]["selected"], chips
print("PASS  the app's CLIP field on Wan2.2: a missing file is an error, Wan's open-clip file selects keywords by Eq. 6")
PY
