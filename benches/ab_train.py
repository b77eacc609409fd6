#!/usr/bin/env python3
"""A/B of training throughput: two (or more) reslab binaries run `reslab
train` on the same arguments in turn, each round starting one further along
(A, B, C, then B, C, A, ...), and the median of each one's images/s over its
rounds is printed, with the median of its per-round ratios to the first
(the host's speed drifts; a round's ratio holds it about still). Each run's
rate is what its metrics.jsonl logged after the first logged line (so
pipeline compilation and the first steps stay out of it). Where the host's
speed swings within a run, the spread of the rounds' ratios and the best
logged interval of each binary (the one the host slowed least) are printed
too.

    benches/ab_train.py A_BINARY B_BINARY [MORE_BINARIES...] ROUNDS -- TRAIN ARGS...

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
    return rates[1:]


def main():
    if "--" not in sys.argv:
        sys.exit(__doc__)
    dash = sys.argv.index("--")
    if dash < 4:
        sys.exit(__doc__)
    binaries, rounds, args = sys.argv[1 : dash - 1], int(sys.argv[dash - 1]), sys.argv[dash + 1 :]
    got = {b: [] for b in binaries}
    best = {b: 0.0 for b in binaries}
    for r in range(rounds):
        k = r % len(binaries)
        for binary in binaries[k:] + binaries[:k]:
            intervals = rate(binary, args)
            got[binary].append(statistics.median(intervals))
            best[binary] = max(best[binary], *intervals)
            print(f"round {r + 1}/{rounds} {binary}: {got[binary][-1]:.1f} images/s", flush=True)
    first = binaries[0]
    m0 = statistics.median(got[first])
    print(f"A {first}: {m0:.1f} images/s (median of {rounds}; best interval {best[first]:.1f})")
    for i, b in enumerate(binaries[1:]):
        name = chr(ord("B") + i)
        mb = statistics.median(got[b])
        ratios = sorted(y / x for x, y in zip(got[first], got[b]))
        print(f"{name} {b}: {mb:.1f} images/s (best interval {best[b]:.1f})")
        print(
            f"{name} vs A: {mb / m0:.2f}x (median of the rounds' ratios {statistics.median(ratios):.2f}x,"
            f" from {ratios[0]:.2f}x to {ratios[-1]:.2f}x; best intervals {best[b] / best[first]:.2f}x)"
        )


if __name__ == "__main__":
    main()
