#!/usr/bin/env bash
# End-to-end check of `focalscope bench` on the embedded model (a few cases, 2 sampling steps: this checks the
# command's outputs, not the model's quality): the Table 1 rows (baseline, empty-prompt floor, VAE ceiling),
# cases.csv with the checker's reasons for every failed case, one PNG filmstrip per video with --save-strips, the
# paired section, and `bench --merge` re-scoring that cases.csv into the same tables (and its one-line errors).
#
# usage: test_bench_cli.sh FOCALSCOPE OUT_DIR      Exit 77 (ctest: skipped) when the embedded model is absent.
set -euo pipefail
APP=$1 OUT=$2
rm -rf "$OUT"
mkdir -p "$OUT"
if ! "$APP" info >/dev/null 2>&1; then echo "SKIP: no embedded model"; exit 77; fi

"$APP" bench --suite shapes --dimension motion --limit 3 --steps 2 --threads 1 --out "$OUT/bench" \
  --save-strips "$OUT/strips" >"$OUT/bench.log" 2>&1 || { cat "$OUT/bench.log"; exit 1; }

fail() { echo "FAIL: $*"; exit 1; }
md=$OUT/bench/bench.md csv=$OUT/bench/cases.csv
for row in '| baseline |' '| empty prompt (floor) |' '| VAE ceiling (ground truth) |'; do
  grep -qF "$row" "$md" || fail "bench.md lacks the row $row"
done
head -1 "$csv" | grep -qx 'setting,seed,case,dimension,pass,i2v_subject,i2v_background,failures' || fail "cases.csv header: $(head -1 "$csv")"
[ "$(grep -c '^"baseline",0,motion_' "$csv")" = 3 ] || fail "cases.csv should hold 3 baseline cases"
[ "$(grep -c '^"VAE ceiling (ground truth)",0,motion_' "$csv")" = 3 ] || fail "cases.csv should hold 3 ceiling cases"
# A failed case names its wrong answers; a passed one has none.
awk -F, 'NR > 1 && $5 == 0 && $8 !~ /expected/ { bad = 1 } NR > 1 && $5 == 1 && $8 != "\"\"" { bad = 1 } END { exit bad }' "$csv" \
  || fail "failures column does not match the pass column"
n=$(find "$OUT/strips" -name '*.png' | wc -l)
[ "$n" = 9 ] || fail "expected 9 filmstrips (3 cases x 3 rows), found $n"
[ -f "$OUT/strips/vae_ceiling_ground_truth/motion_0000_seed0.png" ] || fail "ceiling filmstrip missing"
"$APP" bench --suite shapes --save-strips 2>/dev/null && fail "--save-strips without a value must be an error"
grep -qF '### Paired against baseline' "$md" || fail "bench.md lacks the paired section"

# --merge: the run's own cases.csv re-scored gives its Table 1 rows exactly; merged twice with a rename, the renamed
# copy pairs with the baseline on all 3 cases and gains / loses nothing (Total is not measured on one dimension).
"$APP" bench --merge "$OUT/bench" "$csv:baseline=again,empty prompt (floor)=floor again,VAE ceiling (ground truth)=ceiling again" --out "$OUT/merged" >"$OUT/merge.log" 2>&1 || { cat "$OUT/merge.log"; fail "merge failed"; }
for row in baseline 'empty prompt (floor)' 'VAE ceiling (ground truth)'; do
  want=$(grep -F "| $row |" "$md" | head -1)
  grep -qxF -- "$want" "$OUT/merged/bench.md" || fail "merged row differs from the run's: $want"
done
grep -qxF '| again | — | — | 0 / 0 of 3 |' "$OUT/merged/bench.md" \
  || fail "renamed copy should pair 0 / 0 of 3: $(grep -F '| again |' "$OUT/merged/bench.md")"
merge_error() {  # expected message fragment, then arguments
  local want=$1; shift
  local err; err=$("$APP" bench --merge "$@" --out "$OUT/merged_bad" 2>&1) && fail "bench --merge $* must fail"
  [[ $err == *"$want"* && $(wc -l <<<"$err") == 1 ]] || fail "bench --merge $*: expected one line with '$want', got: $err"
}
merge_error "cases.csv: setting 'baseline' has case" "$csv" "$csv"
merge_error "missing.csv: cannot read" "$OUT/missing.csv"
merge_error "bench.md: not a bench cases.csv" "$md"
merge_error "no setting named 'basline' to rename" "$csv:basline=x"
merge_error "renames must read OLD=NEW" "$csv:baseline=x,y"
merge_error "--steps: does not apply to --merge" "$csv" --steps 3
merge_error "--merge: give one or more cases.csv" 
"$APP" bench --suite shapes "$csv" 2>/dev/null && fail "a stray argument without --merge must be an error"

# bench-step --kept (issue 27's GPU table, here on the CPU with the toy config): the dense and the kept timing in one
# run with their ratio, then --kept-only (the dense weights never reach the device) with the weights held.
ks=$("$APP" bench-step --config toy --frames 5 --height 64 --width 64 --steps 1 --no-capture --kept q4_k 2>&1) || fail "bench-step --kept: $ks"
grep -qE '^weights kept as Q4_K codes: DiT weights held [0-9.]+ GB \(dense f32: [0-9.]+ GB, x0\.[0-9]+\)$' <<<"$ks" || fail "no kept weights line: $ks"
grep -qE '^kept Q4_K: [0-9.]+ s/step \(x[0-9.]+ of dense f32\); weights x0\.[0-9]+ of dense$' <<<"$ks" || fail "no kept timing line: $ks"
ko=$("$APP" bench-step --config toy --frames 5 --height 64 --width 64 --steps 1 --kept fp8 --kept-only 2>&1) || fail "bench-step --kept-only: $ko"
grep -q '^capture off' <<<"$ko" && fail "--kept-only must not time the dense model: $ko"
grep -qE '^kept float8_e4m3fn[a-z ]*: [0-9.]+ s/step \(dense not run: --kept-only\); weights x0\.[0-9]+ of dense$' <<<"$ko" || fail "no kept-only line: $ko"
echo "PASS"
