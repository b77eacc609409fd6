#!/usr/bin/env python3
"""A/B of where a training step goes: two reslab binaries run `reslab bench
--profile MODEL --dispatches --json` in turn, round after round (A, B, then
B, A, ...), and each run's dispatches are summed by group (a batch-norm
kernel, module and entry point, and how many tensors it binds, since a block's first and second
batch norms bind different numbers; every conv pass together; the rest)
and divided by that run's conv time. A change that leaves the conv kernels
alone is then measured against them, run by run, which holds still however
fast the host happens to be: on a noisy 2-core host the minima over 10
rounds of two copies of one binary differed by a quarter, their ratios to
conv by a few percent. The groups are A's: the two builds must run the same
dispatches in the same order, and B's dispatch i counts where A's does
(B may bind fewer tensors to it). Prints the median of each group's ratio
per binary and B's over A's.

    benches/ab_profile.py A_BINARY B_BINARY ROUNDS [-- PROFILE ARGS...]

PROFILE ARGS default to the desktop app's nets: --batch 64 --width 8
--image-size 16 (resnet20; --model to change it), e.g.
    benches/ab_profile.py /tmp/reslab-old target/release/reslab 16
    benches/ab_profile.py /tmp/reslab-old target/release/reslab 5 -- --batch 128
"""

import statistics
import sys

import ab_common


def group(d):
    kernel = d["kernel"]
    if kernel.startswith("batchnorm"):
        return f"{kernel} ({len(d['shapes'])} tensors)"
    if kernel.startswith("conv2d") and "tiled_prepare" not in kernel and "reduce" not in kernel:
        return "conv"
    return "other"


def ratios(ds, groups):
    """Each group's time in one run over that run's conv time."""
    sums = {"step": 0.0}
    for d, g in zip(ds, groups):
        sums[g] = sums.get(g, 0.0) + d["ms"]
        sums["step"] += d["ms"]
    if not sums.get("conv"):
        sys.exit("no conv dispatches timed (does the adapter have timestamps?)")
    return {g: ms / sums["conv"] for g, ms in sums.items()}


def main():
    a, b, rounds, model, args = ab_common.parse(
        __doc__, ["--batch", "64", "--width", "8", "--image-size", "16"]
    )
    runs = ab_common.alternate(a, b, rounds, model, args)
    groups = [group(d) for d in runs[0][0]]
    # Entry points in order (the module aside: B may read storage where A
    # read texels).
    kernels = [[d["kernel"].split(":")[-1] for d in ds[0]] for ds in runs]
    if kernels[0] != kernels[1]:
        sys.exit("the two builds run different dispatches: no group to compare")
    per = [[ratios(ds, groups) for ds in runs[k]] for k in (0, 1)]
    width = max(len(g) for g in groups) + 2
    print(f"{'dispatches / conv (medians of runs)':{width}s} {'A':>8s} {'B':>8s} {'B/A':>7s}")
    for g in sorted(set(groups)) + ["step"]:
        ma = statistics.median(r[g] for r in per[0])
        mb = statistics.median(r[g] for r in per[1])
        print(f"{g:{width}s} {ma:8.4f} {mb:8.4f} {mb / ma:7.3f}")


if __name__ == "__main__":
    main()
