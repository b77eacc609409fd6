#!/usr/bin/env bash
# Runs `reslab bench` and the PyTorch peers on a lent GPU machine, within one
# call of the device tool (under 8 minutes). Prepare here, once:
#
#   cargo build --release -p reslab-app          # the binary to carry
#   echo /.gl/ >> .git/info/exclude; mkdir -p .gl /tmp/amd64/partial
#   o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#   apt-get $o update; (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
#
# then call the device tool with carry = [".gl", "target/release/reslab"] and
# command = "bash benches/device/run.sh". The JSON, the table and the logs come
# back in $OUT.
set -u
out="${OUT:-/tmp/reslab-device}"
mkdir -p "$out"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
bin=./target/release/reslab
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$out/gpu.csv" 2>&1
"$bin" info --json > "$out/info.json" 2> "$out/info.log" || { cat "$out/info.log"; exit 1; }
timeout 360 "$bin" bench --json --out "$out/bench.json" > /dev/null 2> "$out/bench.log"
echo "bench exit $?"
timeout 90 python3 benches/peers/peers.py "$out/bench.json" --device cuda > "$out/peers.txt" 2>&1
echo "peers exit $?"
cat "$out/peers.txt"
