#!/usr/bin/env python3
"""A/B of single dispatches: two reslab binaries run `reslab bench --profile
MODEL --dispatches --json` in turn, round after round (A, B, then B, A, ...).
The two builds must record the same dispatches in the same order. Prints the
medians of the whole step and of the dispatches whose texel copies differ
between the builds (the ones a change to what a pass reads as texels
touches), their per-round ratios B/A, and, for each build, those
dispatches' time over their twins': for each, the nearest earlier dispatch
of the same kernel and shapes whose copies did not change, in the same run.
That last ratio holds still however fast the host happens to be.

    benches/ab_dispatches.py A_BINARY B_BINARY ROUNDS [-- PROFILE ARGS...]

PROFILE ARGS default to resnet20 at batch 128 (--model to change the model),
e.g.
    benches/ab_dispatches.py /tmp/reslab-old target/release/reslab 8
    benches/ab_dispatches.py /tmp/reslab-old target/release/reslab 10 -- --batch 64 --width 8 --image-size 16
"""

import json
import statistics
import sys

import ab_common


def twins(a, b, changed):
    """For each changed dispatch, its nearest earlier unchanged twin (or None)."""
    out = {}
    for i in changed:
        key = (b[i]["kernel"], json.dumps(b[i]["shapes"][:2]))
        out[i] = next(
            (
                j
                for j in range(i - 1, -1, -1)
                if j not in changed and (a[j]["kernel"], json.dumps(a[j]["shapes"][:2])) == key
            ),
            None,
        )
    return out


def main():
    a, b, rounds, model, args = ab_common.parse(__doc__, ["--batch", "128"])
    runs = ab_common.alternate(a, b, rounds, model, args)
    first_a, first_b = runs[0][0], runs[1][0]
    if [d["kernel"] for d in first_a] != [d["kernel"] for d in first_b]:
        sys.exit("the two builds record different dispatches")
    changed = [
        i
        for i, (x, y) in enumerate(zip(first_a, first_b))
        if x.get("texel_bytes", 0) != y.get("texel_bytes", 0)
    ]
    twin = twins(first_a, first_b, set(changed))
    print(f"dispatches whose texel copies differ: {changed}")
    print("their twins: " + ", ".join(f"{i} <- {j}" for i, j in twin.items()))

    def step(ds):
        return sum(d["ms"] for d in ds)

    def part(ds):
        return sum(ds[i]["ms"] for i in changed)

    for name, f in (("step", step), ("changed", part)):
        ma = statistics.median(f(ds) for ds in runs[0])
        mb = statistics.median(f(ds) for ds in runs[1])
        rs = [f(y) / f(x) for x, y in zip(*runs) if f(x) > 0]
        print(
            f"{name:8} A {ma:9.2f} ms  B {mb:9.2f} ms  B/A per round "
            + " ".join(f"{r:.3f}" for r in rs)
            + (f"  median {statistics.median(rs):.3f}" if rs else "")
        )
    paired = [(i, j) for i, j in twin.items() if j is not None]
    if paired:
        for name, side in (("A", 0), ("B", 1)):
            rs = [
                sum(ds[i]["ms"] for i, _ in paired) / sum(ds[j]["ms"] for _, j in paired)
                for ds in runs[side]
            ]
            print(
                f"{name}: changed over twins per run "
                + " ".join(f"{r:.3f}" for r in rs)
                + f"  median {statistics.median(rs):.3f}"
            )


if __name__ == "__main__":
    main()
