#!/usr/bin/env bash
# scripts/bench_cases.py on two tiny hand-made cases.csv files whose scores are worked out by hand:
# Total = mean(Subject 0.9, Background 0.8, three pass rates). baseline passes one case of three per seed -> 0.54;
# "+ FSG" passes two on seed 0 (0.74) and the baseline's one on seed 1 (0.54) -> paired +0.10 ± 0.10, 1 pair gained.
# The second file's baseline (renamed "other", seed 0 only) passes nothing -> 0.34, paired -0.20, 1 pair lost.
#
# usage: test_bench_cases.sh SCRIPT OUT_DIR
set -euo pipefail
SCRIPT=$1 OUT=$2
rm -rf "$OUT"; mkdir -p "$OUT"
fail() { echo "FAIL: $*"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

row() { echo "\"$1\",$2,$3,${3%_0000},$4,0.9,0.8,\"\""; }
{
  echo 'setting,seed,case,dimension,pass,i2v_subject,i2v_background,failures'
  row baseline 0 dynamic_attributes_0000 1; row baseline 0 motion_0000 0; row baseline 0 interaction_0000 0
  row baseline 1 dynamic_attributes_0000 0; row baseline 1 motion_0000 1; row baseline 1 interaction_0000 0
  row "+ FSG" 0 dynamic_attributes_0000 1; row "+ FSG" 0 motion_0000 1; row "+ FSG" 0 interaction_0000 0
  row "+ FSG" 1 dynamic_attributes_0000 0; row "+ FSG" 1 motion_0000 1; row "+ FSG" 1 interaction_0000 0
} > "$OUT/a.csv"
{
  echo 'setting,seed,case,dimension,pass,i2v_subject,i2v_background,failures'
  row baseline 0 dynamic_attributes_0000 0; row baseline 0 motion_0000 0; row baseline 0 interaction_0000 0
} > "$OUT/b.csv"

python3 "$SCRIPT" "$OUT/a.csv" "$OUT/b.csv:baseline=other" > "$OUT/out.txt" || fail "script failed: $(cat "$OUT/out.txt")"
expect() { grep -qF -- "$1" "$OUT/out.txt" || { cat "$OUT/out.txt"; fail "missing: $1"; }; }
expect '| baseline | 2 | 3 | 0.9000 ± 0.0000 | 0.8000 ± 0.0000 | 0.5000 ± 0.5000 | 0.5000 ± 0.5000 | 0.0000 ± 0.0000 | 0.5400 ± 0.0000 |'
expect '| + FSG | 2 | 3 | 0.9000 ± 0.0000 | 0.8000 ± 0.0000 | 0.5000 ± 0.5000 | 1.0000 ± 0.0000 | 0.0000 ± 0.0000 | 0.6400 ± 0.1000 |'
expect '| other | 1 | 3 |'
expect '+ FSG: Total +0.1000 ± 0.1000 over 2 seeds'
expect 'pairs gained 1 / lost 0 of 6'
expect 'other: Total -0.2000 ± 0.0000 over 1 seeds'
expect 'pairs gained 0 / lost 1 of 3'

# Bad input: one line naming the file and the problem, exit 1.
err=$(python3 "$SCRIPT" "$OUT/a.csv" "$OUT/a.csv" 2>&1) && fail "duplicate rows must be an error"
[[ $err == *"a.csv: setting 'baseline' has case"*"twice"* ]] || fail "duplicate message: $err"
err=$(python3 "$SCRIPT" "$OUT/missing.csv" 2>&1) && fail "a missing file must be an error"
[[ $err == *"missing.csv: cannot read"* ]] || fail "missing-file message: $err"
err=$(python3 "$SCRIPT" "$SCRIPT" 2>&1) && fail "a non-CSV file must be an error"
[[ $err == *"not a bench cases.csv"* ]] || fail "non-CSV message: $err"
err=$(python3 "$SCRIPT" "$OUT/b.csv:basline=other" 2>&1) && fail "a rename that matches nothing must be an error"
[[ $err == *"b.csv: no setting named basline"* ]] || fail "unmatched-rename message: $err"
err=$(python3 "$SCRIPT" "$OUT/b.csv:baseline=x, y" 2>&1) && fail "a rename piece without '=' must be an error"
[[ $err == *"renames must read OLD=NEW"* ]] || fail "rename-syntax message: $err"
sed '2s/0\.9/zero/' "$OUT/a.csv" > "$OUT/bad.csv"
err=$(python3 "$SCRIPT" "$OUT/bad.csv" 2>&1) && fail "a malformed number must be an error"
[[ $err == *"bad.csv: malformed row"* ]] || fail "malformed-number message: $err"
echo "PASS"
