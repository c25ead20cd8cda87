#!/usr/bin/env bash
# The app's Edit mode (KV-Lock video editing) in a real window: bad inputs first, each of which must give the Edit
# mode's one-line error and never a crash (an unreadable video, a mask of the wrong size, an empty mask, a mask covering
# everything, a source shorter than the model's frame count), then a KV-Lock edit with a brushed mask that must finish
# with a finite background PSNR; assertions on the dumped state and on the screenshot's pixels.
#
# usage: test_gui_edit.sh FOCALSCOPE MODEL_DIR GUI_SCREENSHOT_CHECK OUT_DIR
# Needs DISPLAY (test_gui_xvfb.sh runs it on its Xvfb; alone: xvfb-run -s "-screen 0 1600x1000x24" bash test_gui_edit.sh ...).
# MODEL_DIR: the GUI tests' model (gui_test_model: 5 frames of 64x64, 6 steps). Artefacts stay in OUT_DIR.
set -euo pipefail
APP=$1 MODEL=$2 CHECK=$3 OUT=$4
[ -n "${DISPLAY:-}" ] || { echo "FAIL: no DISPLAY (run under xvfb-run or from test_gui_xvfb.sh)"; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"

# A 13-frame 64x64 source (textured static background, a red square moving right), the same with 3 frames, and a
# 32x32 mask (the wrong size). Plain-Python PNGs: the test needs no imaging package.
python3 - "$OUT" <<'PY'
import os, struct, sys, zlib
out = sys.argv[1]
def png(path, w, h, px):  # px(x, y) -> (r, g, b)
    raw = b"".join(b"\0" + bytes(c for x in range(w) for c in px(x, y)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                           chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
def frame(f):
    def px(x, y):
        if 8 + 2 * f <= x < 22 + 2 * f and 18 <= y < 32: return (220, 40, 40)
        s = 40 if (x // 8 + y // 8) % 2 else 0
        return (60 + x + s, 90 + y + s, 140 - x // 2)
    return px
for name, n in (("src", 13), ("short", 3)):
    os.makedirs(f"{out}/{name}")
    for f in range(n): png(f"{out}/{name}/frame_{f:03d}.png", 64, 64, frame(f))
png(f"{out}/mask_32.png", 32, 32, lambda x, y: (255, 255, 255) if x < 16 else (0, 0, 0))
PY

cat >"$OUT/edit.txt" <<EOF
model $MODEL
mode edit
edit_prompt a blue square moves to the right
edit_guidance kvlock
edit_video $OUT/no-such-video.mp4
wait 60
expect_edit_error no-such-video.mp4
edit_video $OUT/src
wait 60
edit_mask $OUT/mask_32.png
wait 60
expect_edit_error mask_32.png: is 32x32 but the video
dump_state $OUT/state_bad_mask.json
edit_run
wait 300
expect_edit_error is empty
mask_invert
edit_run
wait 300
expect_edit_error covers every pixel
mask_clear
click 584 311
mouse_off
dump_state $OUT/state_click.json
mask_clear
brush 18 24 10
edit_run
wait 300
expect_edit_done
pause
frame 3
dump_state $OUT/state.json
screenshot $OUT/screenshot.png
edit_video $OUT/short
edit_run
wait 300
expect_edit_error has 3 frames; the model makes 5
dump_state $OUT/state_short.json
EOF

status=0
FOCALSCOPE_CONFIG_DIR="$OUT/config" LIBGL_ALWAYS_SOFTWARE=1 \
  timeout 600 "$APP" --script "$OUT/edit.txt" --exit-after --fresh --size 1600x1000 >"$OUT/app.log" 2>&1 || status=$?
cat "$OUT/app.log"
[ "$status" -eq 0 ] || { echo "FAIL: the edit session exited with $status"; exit 1; }
python3 - "$OUT" <<'PY' || { echo "FAIL: Edit mode state"; exit 1; }
import json, math, sys
out = sys.argv[1]
bad = json.load(open(f"{out}/state_bad_mask.json"))["edit"]
assert "is 32x32 but the video" in bad["error"], bad["error"]
assert bad["video_size"] == [64, 64] and bad["mask_fraction"] == 0, bad
# A left click on the reference frame (the Mask pane's image; the default layout puts its centre near (584, 311))
# paints one disc of the UI's brush.
click = json.load(open(f"{out}/state_click.json"))["edit"]
x, y, w, h = click["reference_image"]
assert x <= 584 <= x + w and y <= 311 <= y + h, click["reference_image"]
assert 0 < click["mask_fraction"] < 0.1, click["mask_fraction"]
s = json.load(open(f"{out}/state.json"))
assert s["mode"] == "edit" and set(s["panes"]) == {"Edit", "Mask (source frame 0)", "Source | edit", "Background fidelity and KV-Lock"}, s["panes"]
e = s["edit"]
assert e["state"] == "done" and e["error"] == "", e
assert e["mode_ran"] == "kvlock" and e["frames"] == 5 and e["steps_total"] == 6, e
assert e["mask_fraction"] > 0 and 0 < e["run_mask_fraction"] < 1, e
assert e["bg_psnr"] is not None and math.isfinite(e["bg_psnr"]) and e["bg_psnr"] > 0, e["bg_psnr"]
assert e["bg_ssim"] is not None and -1 <= e["bg_ssim"] <= 1, e["bg_ssim"]
assert len(e["alpha"]) == 6 and all(0 <= a <= 1 for a in e["alpha"]) and e["kappa"] > 0, e
short = json.load(open(f"{out}/state_short.json"))["edit"]
assert short["state"] == "failed" and "has 3 frames; the model makes 5" in short["error"], short
print(f"PASS  edit mode: kvlock edit done, background PSNR {e['bg_psnr']:.2f} dB SSIM {e['bg_ssim']:.4f}, "
      f"mask {100 * e['mask_fraction']:.1f}%, alpha {['%.2f' % a for a in e['alpha']]}; bad inputs give one-line errors")
PY
"$CHECK" "$OUT/screenshot.png" "$OUT/state.json"
