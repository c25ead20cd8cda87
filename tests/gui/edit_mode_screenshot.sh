#!/usr/bin/env bash
# Regenerates docs/images/edit_mode.png: the app's Edit mode after a KV-Lock edit on the embedded model. The source is
# the Shapes editing benchmark's first motion case (make-bench --suite shapes-edit: the red circle slides upward; the
# edit asks it to move right); the mask is painted with brush discs over the circle's path (roughly the case's
# mask.png), so the picture shows a painted mask.
#
# usage: tests/gui/edit_mode_screenshot.sh BUILD_DIR [OUT.png]      (default OUT: docs/images/edit_mode.png)
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
OUT_PNG=${2:-$HERE/../../docs/images/edit_mode.png}
WORK=$(mktemp -d /tmp/focalscope_edit_shot.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

"$BUILD/app/focalscope" make-bench --suite shapes-edit --out "$WORK/bench" --per-dimension 1 >/dev/null
CASE="$WORK/bench/motion/motion_0000"
cat >"$WORK/edit.txt" <<EOF
model default
mode edit
edit_video $CASE/source
edit_prompt The red circle moves right across the frame.
edit_source_prompt The red circle slides upward across the picture.
edit_guidance kvlock
brush 10 34 9
brush 10 44 9
brush 10 54 9
brush 20 54 9
brush 30 54 9
brush 38 54 8
edit_run
wait 600
expect_edit_done
pause
frame 8
mouse 1500 800
sleep 0.3
screenshot $OUT_PNG
EOF
FOCALSCOPE_CONFIG_DIR="$WORK/config" xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$BUILD/app/focalscope" --script "$WORK/edit.txt" --exit-after --fresh --size 1600x1000
echo "wrote $OUT_PNG"
