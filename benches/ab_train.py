#!/usr/bin/env python3
"""A/B of training throughput: two reslab binaries run `reslab train` on the
same arguments alternately (A, B, B, A, A, B, ...), and the median of each
one's images/s over its rounds, and their ratio, is printed. Each run's rate
is what its metrics.jsonl logged after the first logged line (so pipeline
compilation and the first steps stay out of it).

    benches/ab_train.py A_BINARY B_BINARY ROUNDS -- TRAIN ARGS...

e.g. benches/ab_train.py /tmp/reslab-old target/release/reslab 3 -- \\
         --model resnet20 --image-size 32 --batch 128 --steps 12 --log-every 4
"""

import json
import statistics
import subprocess
import sys
import tempfile


def rate(binary, args):
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [binary, "train", *args, "--out", out + "/run", "--test-images", "100"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with open(out + "/run/metrics.jsonl") as f:
            lines = [json.loads(line) for line in f if line.strip()]
    rates = [m["images_per_s"] for m in lines if "images_per_s" in m]
    if len(rates) < 2:
        sys.exit("need at least two logged lines per run: lower --log-every")
    return statistics.median(rates[1:])


def main():
    if len(sys.argv) < 5 or sys.argv[4] != "--":
        sys.exit(__doc__)
    a, b, rounds, args = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[5:]
    got = {a: [], b: []}
    for r in range(rounds):
        for binary in (a, b) if r % 2 == 0 else (b, a):
            got[binary].append(rate(binary, args))
            print(f"round {r + 1}/{rounds} {binary}: {got[binary][-1]:.1f} images/s", flush=True)
    ma, mb = statistics.median(got[a]), statistics.median(got[b])
    print(f"A {a}: {ma:.1f} images/s (median of {rounds})")
    print(f"B {b}: {mb:.1f} images/s")
    print(f"B vs A: {mb / ma:.2f}x")


if __name__ == "__main__":
    main()
