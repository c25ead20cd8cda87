#!/usr/bin/env bash
# Runs every libFuzzer harness (tests/fuzz) for SECONDS each, with corpora and findings under DIR.
#   bash scripts/fuzz.sh DIR SECONDS [HARNESS...]
# Builds build-fuzz first (clang, -DFOCALSCOPE_FUZZ=ON) when needed; seeds each corpus from the shared fixtures
# (../shared/fixtures, or $FOCALSCOPE_FIXTURES/..) and the shipped model. Prints one line per harness with its
# execution count and exits 1 when any harness found a crash (the reproducer is in DIR/<harness>/crashes/; make it a
# regression test in tests/test_broken_inputs.cpp or the parser's unit test). CI runs it with a short budget.
# FOCALSCOPE_FUZZ_NO_BUILD=1 skips the build step (harnesses already built).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:?usage: scripts/fuzz.sh DIR SECONDS [HARNESS...]}
SECONDS_EACH=${2:?usage: scripts/fuzz.sh DIR SECONDS [HARNESS...]}
shift 2
HARNESSES=("$@")
[ ${#HARNESSES[@]} -eq 0 ] && HARNESSES=(fuzz_json fuzz_spm_model fuzz_safetensors fuzz_pth fuzz_image fuzz_stats_cases fuzz_gguf fuzz_bpe fuzz_clip_bpe fuzz_script fuzz_spm_native fuzz_sharded)
BUILD=${FOCALSCOPE_FUZZ_BUILD_DIR:-build-fuzz}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
if [ -n "${FOCALSCOPE_FIXTURES:-}" ]; then SHARED="$FOCALSCOPE_FIXTURES/.."; else SHARED="$ROOT/../shared/fixtures"; fi

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (Debian: clang, libclang-rt-dev)"; exit 2; }
if [ ! -f "$BUILD/build.ninja" ] && [ ! -f "$BUILD/Makefile" ]; then
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFOCALSCOPE_FUZZ=ON >/dev/null
fi
if [ -z "${FOCALSCOPE_FUZZ_NO_BUILD:-}" ]; then  # set it to run the harnesses already built
  LOCK=${FOCALSCOPE_BUILD_LOCK:-/tmp/focalscope_build.lock}
  if command -v flock >/dev/null; then flock "$LOCK" cmake --build "$BUILD" --target "${HARNESSES[@]}" -j"${FOCALSCOPE_JOBS:-2}"
  else cmake --build "$BUILD" --target "${HARNESSES[@]}" -j"${FOCALSCOPE_JOBS:-2}"; fi
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
seed() {  # seed HARNESS FILE... (files larger than 1 MiB are skipped: the harness's max_len)
  local d="$OUT/$1/corpus"; shift
  mkdir -p "$d"
  for f in "$@"; do
    [ -f "$f" ] || continue
    [ "$(stat -c %s "$f")" -le 1048576 ] || continue
    cp -n "$f" "$d/$(basename "$(dirname "$f")")_$(basename "$f")" 2>/dev/null || true
  done
}
shopt -s nullglob globstar
seed fuzz_json "$SHARED"/**/*.json "$ROOT"/assets/models/**/*.json
seed fuzz_spm_model "$ROOT"/assets/models/shapes/spiece.model "$SHARED"/**/spiece.model
seed fuzz_spm_native "$ROOT"/assets/models/shapes/spiece.model "$SHARED"/**/spiece.model
# Two 3-4 KB variants of the shipped model (no charsmap; a 1 KB five-rule charsmap): the 237 KB charsmap of the real
# ones makes every run slow (~130/s), these keep the same code paths at thousands per second.
for h in fuzz_spm_model fuzz_spm_native; do
  python3 "$ROOT"/tests/fuzz/tools/small_spm_seeds.py "$ROOT"/assets/models/shapes/spiece.model "$OUT/$h/corpus" || true
done
seed fuzz_safetensors "$SHARED"/**/*.safetensors "$ROOT"/assets/models/shapes/umt5.safetensors
seed fuzz_pth "$SHARED"/**/*.pth
seed fuzz_stats_cases "$SHARED"/morans_i/*.json
seed fuzz_gguf "$ROOT"/tests/fuzz/seeds/*.gguf "$SHARED"/**/*.gguf
seed fuzz_image "$ROOT"/docs/images/*.png "$ROOT"/assets/bench/**/*.png "$SHARED"/**/*.png "$SHARED"/**/*.jpg
# Small hand-made seeds so every harness starts from something even without the shared fixtures.
printf '{"a": [1, 2.5, "x", null, true, {"b": {}}]}' > "$OUT/fuzz_json/corpus/seed_small.json"
# fuzz_bpe: the first byte picks the part (even: a tokenizer.json follows; odd: a prompt for a small tokenizer).
mkdir -p "$OUT/fuzz_bpe/corpus"
for f in "$ROOT"/tests/data/hf_tokenizers/*/tokenizer.json; do
  [ "$(stat -c %s "$f")" -le 1048576 ] || continue
  { printf '\x00'; cat "$f"; } > "$OUT/fuzz_bpe/corpus/json_$(basename "$(dirname "$f")")"
done
# fuzz_clip_bpe: vocab.json, NUL, merges.txt.
mkdir -p "$OUT/fuzz_clip_bpe/corpus"
for d in "$ROOT"/tests/data/hf_tokenizers/*/; do
  [ -f "$d/vocab.json" ] && [ -f "$d/merges.txt" ] || continue
  { cat "$d/vocab.json"; printf '\x00'; cat "$d/merges.txt"; } > "$OUT/fuzz_clip_bpe/corpus/$(basename "$d")"
done
printf '\x01A red ball rolls to the left, then stops. 12 times!\n\n' > "$OUT/fuzz_bpe/corpus/prompt_small"
printf '\x18\x00\x00\x00\x00\x00\x00\x00{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}\x00\x00\x80\x3f' \
  > "$OUT/fuzz_safetensors/corpus/seed_small.safetensors" || true

# fuzz_script: every verb of the GUI's scripts once (app/session/script.h), and a few broken lines.
mkdir -p "$OUT/fuzz_script/corpus"
cat > "$OUT/fuzz_script/corpus/all_verbs" <<'SCRIPT'
# a comment
model default
image ref.png
preset 2
prompt a red ball rolls to the left
negative blurry
seed 3
steps 10
cfg 2.5
frames 13
max_area 4096
lora a.safetensors 0.5
lora clear
fg on
fsg off
ac on
ab on
auto off
set tau_sel 0.2
set tau_cache auto
set lambda_txt 1.5
weak 3,4,5
weak auto
keyword ball
guide red
guide auto
generate
wait 30
cell 4 2
frame 3
pass uncond
opacity 0.5
play
pause
mouse 10 20
click 30 40
mouse_off
sleep 0.1
screenshot out.png
export outdir
dyncfg on
hallucination on
load_ablation ablate.json
load_compare metrics.json
dump_state state.json
expect_done
mode edit
edit_video clip.mp4
edit_mask mask.png
brush 10 10 5
erase 12 12 3
mask_clear
mask_invert
edit_prompt a blue ball
edit_source_prompt a red ball
edit_guidance fg+kvlock
edit_fg on
edit_run
expect_edit_done
expect_edit_error mask
quit
SCRIPT
printf 'steps -1
cell 1
set tau_sel nan
foo bar
edit_guidance fg+x
' > "$OUT/fuzz_script/corpus/broken"

# fuzz_sharded: a two-shard folder in one input ([u16 n][index.json][u16 m][a.safetensors][b.safetensors]).
mkdir -p "$OUT/fuzz_sharded/corpus"
python3 - "$OUT/fuzz_sharded/corpus/seed_two_shards" <<'PY' || true
import json, struct, sys
def st(name, vals):
    data = struct.pack("<%df" % len(vals), *vals)
    head = json.dumps({name: {"dtype": "F32", "shape": [len(vals)], "data_offsets": [0, len(data)]}}).encode()
    return struct.pack("<Q", len(head)) + head + data
index = json.dumps({"metadata": {"total_size": 24}, "weight_map": {"w.a": "a.safetensors", "w.b": "b.safetensors"}}).encode()
a, b = st("w.a", [1.0, 2.0]), st("w.b", [3.0, 4.0, 5.0, 6.0])
open(sys.argv[1], "wb").write(struct.pack("<H", len(index)) + index + struct.pack("<H", len(a)) + a + b)
PY

status=0
for h in "${HARNESSES[@]}"; do
  mkdir -p "$OUT/$h/corpus" "$OUT/$h/crashes"
  log="$OUT/$h/last_run.log"
  max_len=65536
  case "$h" in fuzz_pth|fuzz_spm_model|fuzz_spm_native|fuzz_stats_cases|fuzz_bpe|fuzz_clip_bpe) max_len=1048576 ;; esac
  ( cd "$OUT/$h" && ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      timeout $((SECONDS_EACH + 120)) "$BUILD/tests/fuzz/$h" corpus -max_total_time="$SECONDS_EACH" -max_len=$max_len \
      -rss_limit_mb=4096 -timeout=25 -print_final_stats=1 -artifact_prefix="$OUT/$h/crashes/" >"$log" 2>&1 ) || status=1
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  crashes=$(find "$OUT/$h/crashes" -type f | wc -l)
  echo "$h: ${execs:-?} executions in ${SECONDS_EACH} s, corpus $(ls "$OUT/$h/corpus" | wc -l) files, $crashes crash files"
  [ "$crashes" -eq 0 ] || status=1
done
exit $status
