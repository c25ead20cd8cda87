#!/usr/bin/env bash
# Measures the app's frame rate while a generation runs on the worker (and while idle), in a real 1600x1000
# window under Xvfb + Mesa llvmpipe (software GL: the UI's rendering costs CPU too), and prints `--stats`.
#
# usage: tests/gui/measure_fps.sh BUILD_DIR [MODEL_DIR] [STEPS]
#   MODEL_DIR  default: the GUI tests' tiny model (made from ../shared/fixtures/wan_checkpoint_layout);
#              pass "default" for the embedded model
#   STEPS      sampling steps of each of the A/B runs (default 60: several seconds of generation)
set -euo pipefail
BUILD=$(cd "$1" && pwd)
MODEL=${2:-}
STEPS=${3:-60}
OUT=$(mktemp -d /tmp/focalscope_fps.XXXXXX)
trap 'kill "${XPID:-}" 2>/dev/null || true; rm -rf "$OUT"' EXIT
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "$MODEL" ]; then
  MODEL="$OUT/model"
  "$BUILD/tests/gui_test_model" "$HERE/../../../shared/fixtures/wan_checkpoint_layout" "$MODEL" >/dev/null
fi
DISP=""
for d in $(seq 120 180); do
  if [ ! -e "/tmp/.X11-unix/X$d" ] && [ ! -e "/tmp/.X$d-lock" ]; then DISP=$d; break; fi
done
Xvfb ":$DISP" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
XPID=$!
for _ in $(seq 1 100); do [ -e "/tmp/.X11-unix/X$DISP" ] && break; sleep 0.1; done
cat >"$OUT/fps.txt" <<EOF
model $MODEL
preset 1
steps $STEPS
ab on
fg on
guide triangle
sleep 2
generate
wait 900
sleep 2
EOF
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
DISPLAY=":$DISP" FOCALSCOPE_CONFIG_DIR="$OUT/config" "$BUILD/app/focalscope" --script "$OUT/fps.txt" --exit-after \
  --fresh --stats --size 1600x1000 2>/dev/null
