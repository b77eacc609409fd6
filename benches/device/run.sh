#!/usr/bin/env bash
# Runs the test suite, `reslab bench`, `reslab bench --tune` and the PyTorch
# peers (CUDA) on a GPU machine that has no Rust toolchain and no network,
# from builds made elsewhere, in about two minutes on an H200. Prepare, in the
# repository root of the build machine (x86-64 Linux):
#
#   echo /.gl/ >> .git/info/exclude; mkdir -p .gl /tmp/amd64/partial
#   o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#   apt-get $o update
#   (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 \
#       vulkan-validationlayers)
#   cargo nextest archive --release --workspace --archive-file /tmp/tests.tar.zst
#   # stripped, the archive is a third of its size:
#   rm -rf /tmp/a && mkdir /tmp/a && zstd -dc /tmp/tests.tar.zst | tar x -C /tmp/a
#   find /tmp/a -type f -perm -u+x -exec strip {} \;
#   tar c -C /tmp/a target | zstd -19 -T0 --long=27 -q -f -o .gl/tests.tar.zst
#   gzip -9 -c "$(command -v cargo-nextest)" > .gl/cargo-nextest.gz
#
# then copy the repository with .gl (about 45 MB) to the GPU machine and run
# `bash benches/device/run.sh` in its root as root (it unpacks the loaders
# into /). Logs, the JSON reports and the tuning table go to $OUT.
set -u
out="${OUT:-/tmp/reslab-device}"
mkdir -p "$out"
t0=$(date +%s)
step() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
for f in .gl/lib*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
export WGPU_BACKEND=vulkan
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/gpu.csv"

# The test binaries name the build's paths (CARGO_MANIFEST_DIR, the reslab
# binary), so this tree is reached through them.
root=$(sed -n 's/.*"workspace_root":"\([^"]*\)".*/\1/p' <(zstd -dc --long=27 .gl/tests.tar.zst 2>/dev/null | tar xO --wildcards '*/cargo-metadata.json' 2>/dev/null) | head -1)
root=${root:-/work/main}
if [ "$(readlink -f "$root")" != "$(readlink -f "$PWD")" ]; then
  [ -e "$root" ] && { echo "$root exists and is not this tree"; exit 1; }
  mkdir -p "$(dirname "$root")"; ln -s "$PWD" "$root"
fi
mkdir -p /tmp/reslab-tests /tmp/reslab-tests-vl /tmp/reslab-nx
gunzip -c .gl/cargo-nextest.gz > /tmp/reslab-nx/cargo-nextest; chmod +x /tmp/reslab-nx/cargo-nextest
# (a script, not a function: `timeout` runs it)
printf '#!/bin/sh\nexec /tmp/reslab-nx/cargo-nextest nextest run --archive-file "%s/.gl/tests.tar.zst" --workspace-remap "%s" --no-fail-fast "$@"\n' \
  "$PWD" "$root" > /tmp/reslab-nx/nextest
chmod +x /tmp/reslab-nx/nextest
nextest=/tmp/reslab-nx/nextest
ln -sfn /tmp/reslab-tests/target "$root/target"

step "test suite (Vulkan)"
timeout 240 "$nextest" --extract-to /tmp/reslab-tests > "$out/tests.log" 2>&1; echo "tests exit $?"
grep -E "^\s+(FAIL|SIGSEGV|SIGABRT|TIMEOUT) |Summary" "$out/tests.log" | sort -u

step "GPU tests with the validation layers (synchronization validation on)"
mkdir -p /tmp/reslab-vl; dpkg -x .gl/vulkan-validationlayers_*.deb /tmp/reslab-vl
VK_LAYER_PATH=/tmp/reslab-vl/usr/share/vulkan/explicit_layer.d \
LD_LIBRARY_PATH=/tmp/reslab-vl/usr/lib/x86_64-linux-gnu WGPU_VALIDATION=1 \
VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT \
  timeout 150 "$nextest" --extract-to /tmp/reslab-tests-vl -E 'binary(gpu)' > "$out/validation.log" 2>&1
echo "validation exit $?"; grep -E "^\s+(FAIL|SIGSEGV|TIMEOUT) |Summary" "$out/validation.log" | sort -u

bin=./target/release/reslab
step "bench"
"$bin" info --json > "$out/info.json"
timeout 200 "$bin" bench --out "$out/bench.json" > "$out/bench.txt" 2>&1; echo "bench exit $?"
sed -n '/multiply-add ceiling/,$p' "$out/bench.txt"
step "peers"
timeout 90 python3 benches/peers/peers.py "$out/bench.json" --device cuda > "$out/peers.txt" 2>&1
echo "peers exit $?"; cat "$out/peers.txt"
step "bench --tune"
RESLAB_TUNING="$out/tuning.json" timeout 150 "$bin" bench --tune > "$out/tune.txt" 2>&1
echo "tune exit $?"; sed -n '/kernel ms of each tiling/,$p' "$out/tune.txt"
step "done"
