#!/usr/bin/env bash
# End-to-end check of `focalscope bench` on the embedded model (a few cases, 2 sampling steps: this checks the
# command's outputs, not the model's quality): the Table 1 rows (baseline, empty-prompt floor, VAE ceiling),
# cases.csv with the checker's reasons for every failed case, and one PNG filmstrip per video with --save-strips.
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
echo "PASS"
