#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, and runs the main job on the embedded default —
# the desktop app where a display exists, otherwise the headless demo (writes video + heatmaps to demo_out/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
BIN="${FOCALSCOPE_BUILD_DIR:-build}/app/focalscope"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && "$BIN" --help | grep -q "^  gui "; then
  exec "$BIN" gui "$@"
fi
exec "$BIN" demo --out demo_out "$@"
