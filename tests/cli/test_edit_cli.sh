#!/usr/bin/env bash
# End-to-end checks of KV-Lock editing on the embedded model (short schedules: these check the commands, not the
# science, which docs/kv_lock.md measures):
#   * focalscope edit on a shipped shapes-edit case (frame folder + mask PNG, and an .mp4 source): the cost line
#     before the run, the lock / hallucination / background summary lines after it, an .mp4 out; --guidance off;
#   * every bad input named in the issue gives one `error:` line naming the file and the problem: mask size != video
#     size, empty mask, mask covering everything, source shorter than the model's frame count, unreadable video;
#     and a kvlock mode in generate is refused;
#   * bench --suite shapes-edit: bench.json rows {name, mode, mean {bg_psnr, bg_ssim, fg_pass}, std, seeds}.
# usage: test_edit_cli.sh FOCALSCOPE OUT_DIR      Exit 77 (ctest: skipped) when the embedded model is absent.
set -euo pipefail
APP=$1 OUT=$2
rm -rf "$OUT"
mkdir -p "$OUT"
if ! "$APP" info >/dev/null 2>&1; then echo "SKIP: no embedded model"; exit 77; fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CASE=$ROOT/assets/bench/shapes-edit/motion/motion_0000
[ -f "$CASE/case.json" ] || { echo "SKIP: no shapes-edit set"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
PROMPT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['instruction'])" "$CASE/case.json")

edit() {  # log-file, then edit arguments
  local log=$1; shift
  "$APP" edit --prompt "$PROMPT" --steps 8 --threads 1 "$@" >"$log" 2>&1 || { cat "$log"; fail "edit $*"; }
}
# 1. A KV-Lock edit from a frame folder: cost first, then the summaries and the video.
edit "$OUT/kv.log" --video "$CASE/source" --mask "$CASE/mask.png" --out "$OUT/kv.mp4"
grep -q '^kv lock: cache [0-9.]* MB on cpu (K and V of [0-9]* layers, one row); extra cost: at most [0-9]* source forwards' "$OUT/kv.log" \
  || fail "no cost line: $(cat "$OUT/kv.log")"
[ "$(grep -n '^kv lock: cache' "$OUT/kv.log" | cut -d: -f1)" -lt "$(grep -n '^decode' "$OUT/kv.log" | cut -d: -f1)" ] \
  || fail "the cost line must come before the run"
grep -q '^kv lock: last [0-9]* steps, alpha mean' "$OUT/kv.log" || fail "no lock summary: $(cat "$OUT/kv.log")"
grep -q '^hallucination sigma2 (inside the mask' "$OUT/kv.log" || fail "an edit reads sigma2 inside its mask: $(cat "$OUT/kv.log")"
grep -q '^background (outside the mask, frames 1-12) vs the source: PSNR [0-9.]* dB, SSIM 0\.[0-9]*' "$OUT/kv.log" \
  || fail "no background line: $(cat "$OUT/kv.log")"
[ -s "$OUT/kv.mp4" ] || fail "no video written"
# 2. The plain edit, and the lock with an .mp4 source (the one just written stands in for a user's video).
edit "$OUT/off.log" --video "$CASE/source" --mask "$CASE/mask.png" --out "$OUT/off.mp4" --guidance off
grep -q '^kv lock' "$OUT/off.log" && fail "the plain edit has no lock: $(cat "$OUT/off.log")"
edit "$OUT/mp4.log" --video "$OUT/kv.mp4" --mask "$CASE/mask.png" --out "$OUT/mp4.mp4" --guidance fg+kvlock
grep -q '^edit fg+kvlock: 13 frames 64x64' "$OUT/mp4.log" || fail "fg+kvlock from an mp4: $(cat "$OUT/mp4.log")"

# 3. Bad inputs: one line, naming the file and the problem.
bad() {  # expected-substring, then edit arguments
  local want=$1; shift
  if "$APP" edit --prompt "$PROMPT" --steps 2 --out "$OUT/bad.mp4" "$@" >"$OUT/bad.log" 2>&1; then fail "accepted: $*"; fi
  # The model's load line may come first (the frames to decode depend on the model); then exactly one error line.
  [ "$(grep -v '^model: ' "$OUT/bad.log" | wc -l)" = 1 ] && grep -q '^error: ' "$OUT/bad.log" \
    || fail "not one error line for $*: $(cat "$OUT/bad.log")"
  grep -qF -- "$want" "$OUT/bad.log" || fail "expected '$want' for $*: $(cat "$OUT/bad.log")"
}
python3 - "$OUT" <<'PY'
import struct, sys, zlib
def png(path, w, h, value):
    raw = b"".join(b"\x00" + bytes([value]) * w for _ in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                           chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
out = sys.argv[1]
png(out + "/small.png", 32, 32, 255)
png(out + "/empty.png", 64, 64, 0)
png(out + "/full.png", 64, 64, 255)
open(out + "/notavideo.mp4", "w").write("this is not a video\n")
PY
mkdir -p "$OUT/short"
cp "$CASE/source/frame_000.png" "$CASE/source/frame_001.png" "$CASE/source/frame_002.png" "$OUT/short/"
bad "$OUT/small.png: is 32x32 but the video $CASE/source is 64x64" --video "$CASE/source" --mask "$OUT/small.png"
bad "$OUT/empty.png: is empty" --video "$CASE/source" --mask "$OUT/empty.png"
bad "$OUT/full.png: covers every pixel" --video "$CASE/source" --mask "$OUT/full.png"
bad "$OUT/short: has 3 frames; the model makes 13" --video "$OUT/short" --mask "$CASE/mask.png"
bad "$OUT/notavideo.mp4: " --video "$OUT/notavideo.mp4" --mask "$CASE/mask.png"
bad "$OUT/missing: " --video "$OUT/missing" --mask "$CASE/mask.png"
if "$APP" generate --image "$CASE/ref.png" --prompt "$PROMPT" --guidance kvlock --out "$OUT/g.mp4" >"$OUT/g.log" 2>&1; then
  fail "generate accepted kvlock"
fi
grep -q "use focalscope edit" "$OUT/g.log" || fail "generate --guidance kvlock: $(cat "$OUT/g.log")"

# 4. The benchmark on one case per dimension, one seed: the rows and bench.json's shape.
"$APP" bench --suite shapes-edit --limit 1 --seeds 1 --steps 6 --threads 1 --guidance off,kvlock --out "$OUT/bench" \
  >"$OUT/bench.log" 2>&1 || { cat "$OUT/bench.log"; fail "bench --suite shapes-edit"; }
python3 - "$OUT/bench/bench.json" <<'PY' || fail "bench.json: $(cat "$OUT/bench/bench.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
assert [r["mode"] for r in rows] == ["off", "kvlock", "ceiling", "source"], [r["mode"] for r in rows]
for r in rows:
    assert set(r) >= {"name", "mode", "mean", "std", "seeds"}, r.keys()
    for k in ("bg_psnr", "bg_ssim", "fg_pass"):
        assert isinstance(r["mean"][k], float), (r["name"], k)
src = rows[3]["mean"]
assert src["bg_psnr"] == 60 and src["bg_ssim"] == 1, src
PY
[ -s "$OUT/bench/cases.csv" ] && grep -q '^| KV-Lock (full) | `kvlock` |' "$OUT/bench/bench.md" || fail "bench.md: $(cat "$OUT/bench/bench.md")"
echo "edit CLI checks passed"
