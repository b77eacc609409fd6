#!/usr/bin/env bash
# The desktop app under a virtual X server with the Degradation preset on the
# synthetic set: starts training, takes screenshots as it goes, measures the
# click-to-pixels latency while the four nets train.
#
#   bash benches/gui/degradation_preset.sh OUT_DIR [SECONDS]
#
# Needs Xvfb, xdotool, xwd and ImageMagick's convert (apt-get install -y xvfb
# x11-apps xdotool imagemagick) and a release build (cargo build --release);
# python-xlib makes the latency readings finer (see click_latency.py).
set -euo pipefail
out=${1:?give an output folder}
seconds=${2:-600}
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/../../target/release/reslab
python=${PYTHON:-python3}
mkdir -p "$out"
export DISPLAY=${DISPLAY_NUMBER:-:99}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
Xvfb "$DISPLAY" -screen 0 1440x900x24 >"$out/xvfb.log" 2>&1 &
xvfb=$!
home=$(mktemp -d)
trap 'kill $app $xvfb 2>/dev/null || true; rm -rf "$home"' EXIT
sleep 1
# A fresh HOME: no remembered settings.
HOME=$home "$bin" gui --preset degradation >"$out/app.log" 2>&1 &
app=$!
shot() { xwd -root -silent | convert xwd:- "$out/$1.png"; }
sleep 15
shot start
xdotool mousemove 30 35 click 1 # Start
t0=$(date +%s)
$python "$here/click_latency.py" --clicks 16 >"$out/latency-early.txt"
xdotool mousemove 432 66 click 1 # Curves
while (( $(date +%s) - t0 < seconds )); do sleep 10; done
shot curves
xdotool mousemove 486 66 click 1 # F(x)
sleep 3
shot fx
xdotool mousemove 551 66 click 1 # Responses
sleep 3
shot responses
$python "$here/click_latency.py" --clicks 16 >"$out/latency-late.txt"
xdotool mousemove 432 66 click 1 # Curves
sleep 3
shot curves-late
cat "$out/latency-early.txt" "$out/latency-late.txt"
