#!/usr/bin/env bash
# End-to-end checks of the trust features on the shipped models (short schedules: these check the commands, not
# the science, which docs/validation.md measures):
#   * no silent no-ops: switched-on guidance that does nothing prints one `warning:` line saying why;
#   * per-model thresholds: at its calibrated default the Attention Cache alone touches tokens on both shipped models;
#   * ablate: outputs, Spearman in ablate.json, a stop and --resume that redoes nothing;
#   * validate-detector on the shipped planted model: outputs and the planted set read from its manifest;
#   * analyze --control absent (the rejected matched-control variant) still runs;
#   * analyze's default rule (text response) is named in metrics.json with the per-sample responses;
#   * KV-Lock's hallucination metric and dynamic CFG through generate (summary lines, CSV, flag errors);
#   * plant-weak's one-line errors.
# usage: test_trust_cli.sh FOCALSCOPE OUT_DIR      Exit 77 (ctest: skipped) when the embedded models are absent.
set -euo pipefail
APP=$1 OUT=$2
rm -rf "$OUT"
mkdir -p "$OUT"
if ! "$APP" info >/dev/null 2>&1; then echo "SKIP: no embedded model"; exit 77; fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PLANTED=$ROOT/assets/models/shapes-planted
[ -f "$PLANTED/focalscope.json" ] || { echo "SKIP: no planted model"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
CASE=$ROOT/assets/bench/shapes/motion/motion_0000
PROMPT=$(sed -n 's/.*"prompt": *"\([^"]*\)".*/\1/p' "$CASE/case.json" | head -1)
[ -n "$PROMPT" ] || fail "no prompt in $CASE/case.json"

gen() {  # log-file, then generate arguments
  local log=$1; shift
  "$APP" generate --image "$CASE/ref.png" --prompt "$PROMPT" --steps 6 --threads 1 "$@" >"$log" 2>&1 \
    || { cat "$log"; fail "generate $*"; }
}
# 1. Forced no-ops say so, one line each.
gen "$OUT/sel.log" --guidance fsg --tau-sel 0.999 --out "$OUT/sel.mp4"
grep -q "^warning: no keyword reached tau_sel 1.00 (best word '" "$OUT/sel.log" || fail "no tau_sel warning: $(cat "$OUT/sel.log")"
gen "$OUT/cache.log" --guidance ac --tau-cache 0.999 --out "$OUT/cache.mp4"
grep -q "^warning: the Attention Cache kept 0 tokens: 0.0% of cache values are above tau_cache 1.00, the largest is" "$OUT/cache.log" \
  || fail "no tau_cache warning: $(cat "$OUT/cache.log")"
gen "$OUT/zero.log" --guidance fg --lambda-txt 0 --lambda-lat 0 --lambda-cache 0 --out "$OUT/zero.mp4"
[ "$(grep -c '^warning: ' "$OUT/zero.log")" = 2 ] || fail "zero strengths: expected 2 warnings: $(cat "$OUT/zero.log")"

# 2. At the calibrated tau_cache the Attention Cache alone acts on both shipped models, silently.
for m in "" "$PLANTED"; do
  args=(); [ -n "$m" ] && args=(--model-dir "$m")
  gen "$OUT/ac.log" --guidance ac --out "$OUT/ac.mp4" "${args[@]}"
  grep -q '^warning' "$OUT/ac.log" && fail "AC at its calibrated default warns on ${m:-the embedded model}: $(cat "$OUT/ac.log")"
  touched=$(grep -o 'tokens touched per weak layer:.*' "$OUT/ac.log" | grep -o ':[0-9]*' | tr -d ':' | awk '{s += $1} END {print s + 0}')
  [ "$touched" -gt 0 ] || fail "AC touched no token on ${m:-the embedded model}: $(cat "$OUT/ac.log")"
done

# 3. ablate: two layers on one case; a second run with --resume finds the unit done and generates nothing.
"$APP" ablate --suite shapes --dimension motion --limit 1 --layers 5,11 --steps 4 --threads 1 --out "$OUT/ablate" \
  >"$OUT/ablate.log" 2>&1 || { cat "$OUT/ablate.log"; fail "ablate"; }
for f in ablate.csv ablate.json ablate.png ablate_runs.csv; do [ -s "$OUT/ablate/$f" ] || fail "ablate wrote no $f"; done
[ "$(wc -l <"$OUT/ablate/ablate.csv")" = 3 ] || fail "ablate.csv: expected a header and 2 layer rows"
[ "$(wc -l <"$OUT/ablate/ablate_runs.csv")" = 5 ] || fail "ablate_runs.csv: expected a header and 4 runs"
grep -q '"spearman"' "$OUT/ablate/ablate.json" || fail "ablate.json has no spearman"
"$APP" ablate --suite shapes --dimension motion --limit 1 --layers 5,11 --steps 4 --threads 1 --out "$OUT/ablate" \
  --resume >"$OUT/ablate2.log" 2>&1 || { cat "$OUT/ablate2.log"; fail "ablate --resume"; }
grep -q "resuming: 1 units done" "$OUT/ablate2.log" || fail "resume did not find the finished unit: $(cat "$OUT/ablate2.log")"
grep -q "generations 1/" "$OUT/ablate2.log" && fail "resume generated again"
err=$("$APP" ablate --suite shapes --dimension motion --limit 1 --layers 5 --steps 4 --out "$OUT/ablate" --resume 2>&1) \
  && fail "resuming with other layers must fail"
[[ $err == *"ablate_settings.json: was written with other settings"* ]] || fail "resume mismatch message: $err"

# 4. validate-detector on the shipped planted model (2 samples: checks the outputs, not the verdict).
"$APP" validate-detector --models "$PLANTED" --samples 2 --threads 1 --out "$OUT/val" >"$OUT/val.log" 2>&1 \
  || { cat "$OUT/val.log"; fail "validate-detector"; }
for f in validation.json validation.md validation.png; do [ -s "$OUT/val/$f" ] || fail "validate-detector wrote no $f"; done
grep -q '"planted": \[' "$OUT/val/validation.json" || fail "validation.json lacks the planted set"
err=$("$APP" validate-detector --models "$ROOT/assets/models/shapes" --samples 2 --out "$OUT/val2" 2>&1) \
  && fail "a model without planted layers must be refused"
[[ $err == *"has no planted_weak_layers"* ]] || fail "validate-detector message: $err"

# 5. analyze --control absent: each colour / shape keyword's absent same-class words are captured as controls.
"$APP" analyze --suite shapes --samples 1 --steps 4 --threads 1 --control absent --out "$OUT/absent" >"$OUT/absent.log" 2>&1 \
  || { cat "$OUT/absent.log"; fail "analyze --control absent"; }
grep -q '"control_words": "absent"' "$OUT/absent/metrics.json" || fail "metrics.json does not name the control kind"
grep -q '~' "$OUT/absent/metrics.json" || fail "no absent-word control (word~keyword) in metrics.json"
err=$("$APP" analyze --suite shapes --samples 1 --control verbs --out "$OUT/absent2" 2>&1) && fail "--control verbs must fail"
[[ $err == *"--control"* ]] || fail "--control message: $err"

# 5b. analyze's default rule is the validated text-response rule: metrics.json names it and carries every sample's
#     per-layer text response; a ratio outside [0, 1] is refused naming the flag.
"$APP" analyze --suite shapes --samples 2 --steps 4 --threads 1 --model-dir "$PLANTED" --out "$OUT/resp" >"$OUT/resp.log" 2>&1 \
  || { cat "$OUT/resp.log"; fail "analyze (default rule)"; }
grep -q '"reference": "response"' "$OUT/resp/metrics.json" || fail "metrics.json does not name the response rule"
grep -q '"layer_text_response"' "$OUT/resp/metrics.json" || fail "metrics.json has no per-sample text response"
grep -q 'text response / trend' "$OUT/resp.log" || fail "the summary table does not show the text response"
# One sample: no zero-width "intervals" and no 0/1 P(weak); the table says n/a and why.
"$APP" analyze --suite shapes --samples 1 --steps 3 --threads 1 --out "$OUT/one" >"$OUT/one.log" 2>&1 \
  || { cat "$OUT/one.log"; fail "analyze --samples 1"; }
grep -q "^one sample: no interval and no P(weak)" "$OUT/one.log" || fail "one-sample analyze does not say it has no interval"
grep -q '"p_weak"' "$OUT/one/metrics.json" && fail "one-sample metrics.json reports P(weak)"
err=$("$APP" analyze --suite shapes --samples 1 --response-ratio 2 --out "$OUT/resp2" 2>&1) && fail "--response-ratio 2 must fail"
[[ $err == *"--response-ratio"* ]] || fail "--response-ratio message: $err"

# 5c. KV-Lock's hallucination metric on a plain generate: one summary line, the CSV with one row per step, and
#     one-line refusals naming the flag.
"$APP" generate --image "$CASE/ref.png" --prompt "The red ball moves." --steps 4 --threads 1 --out "$OUT/h.mp4" \
  --hallucination-out "$OUT/h.csv" >"$OUT/h.log" 2>&1 || { cat "$OUT/h.log"; fail "generate --hallucination-out"; }
grep -q "^hallucination sigma2 (whole latent, window 10): final" "$OUT/h.log" || fail "no hallucination summary: $(cat "$OUT/h.log")"
[ "$(wc -l <"$OUT/h.csv")" = 5 ] || fail "h.csv should have a header and 4 steps: $(cat "$OUT/h.csv")"
for bad in "--hallucination-out $OUT/h.txt" "--hallucination-window 1" "--hallucination-window 0 --hallucination-out $OUT/h2.csv" \
           "--hallucination-out $OUT/missing/h.csv"; do
  err=$("$APP" generate --image "$CASE/ref.png" --prompt "The red ball moves." --out "$OUT/h2.mp4" $bad 2>&1) && fail "generate $bad must fail"
  [[ $err == *"--hallucination-"* && $(wc -l <<<"$err") == 1 ]] || fail "generate $bad: $err"
done

# 5d. Dynamic CFG through generate: the summary line with the model's calibrated tau; its flags need the mode; CFG 1
#     is refused.
"$APP" generate --image "$CASE/ref.png" --prompt "The red ball moves." --steps 4 --threads 1 --out "$OUT/d.mp4" \
  --guidance dyncfg >"$OUT/d.log" 2>&1 || { cat "$OUT/d.log"; fail "generate --guidance dyncfg"; }
grep -q "^dynamic CFG (s\* + omega schedule, literal reading): s\* median .* (omega0 .*, calibrated)" "$OUT/d.log" \
  || fail "no dynamic CFG summary: $(cat "$OUT/d.log")"
err=$("$APP" generate --image "$CASE/ref.png" --prompt "The red ball moves." --out "$OUT/d2.mp4" --kappa 5 2>&1) \
  && fail "--kappa without dyncfg must fail"
[[ $err == *"need --guidance dyncfg"* ]] || fail "--kappa message: $err"
err=$("$APP" generate --image "$CASE/ref.png" --prompt "The red ball moves." --out "$OUT/d3.mp4" --guidance dyncfg --cfg 1 2>&1) \
  && fail "dyncfg with cfg 1 must fail"
[[ $err == *"dynamic CFG"* && $err == *"CFG scale is 1"* ]] || fail "dyncfg cfg 1 message: $err"
err=$("$APP" bench --suite shapes --guidance off,fg --omega-reading raise --limit 1 --out "$OUT/b" 2>&1) \
  && fail "bench: dynamic CFG flags without a dyncfg row must fail"
[[ $err == *"need a dyncfg row"* ]] || fail "bench dyncfg flag message: $err"
err=$("$APP" bench --suite shapes --guidance off,dyncfg,dyncfg --limit 1 --out "$OUT/b2" 2>&1) && fail "a repeated row must fail"
[[ $err == *"listed twice"* ]] || fail "bench repeated row message: $err"

# 6. plant-weak refuses bad layer sets in one line naming the flag.
for bad in "--weak-layers 99" "--weak-layers all" "--weak-layers 0-11"; do
  err=$("$APP" train --finetune plant-weak $bad --out "$OUT/plant" 2>&1) && fail "plant-weak $bad must fail"
  [[ $err == *"--weak-layers"* && $(wc -l <<<"$err") == 1 ]] || fail "plant-weak $bad: $err"
done

# 7. The MMDiT's teacher flags: one line naming the flag for a misplaced, lone or absurd one (before any training).
for bad in "--stage dit --teacher x" "--stage mmdit --teacher-share 0.5" "--stage mmdit --teacher x --teacher-share 2" \
           "--stage mmdit --teacher x --teacher-share nan"; do
  err=$("$APP" train $bad --out "$OUT/teach" 2>&1) && fail "train $bad must fail"
  [[ $err == *"--teacher"* && $(wc -l <<<"$err") == 1 ]] || fail "train $bad: $err"
done
echo "PASS"
