#!/usr/bin/env python3
"""A/B of a training step between two reslab binaries that may run different
dispatches: each runs `reslab bench --profile MODEL --dispatches --json` in
turn, round after round (A, B, then B, A, ...), and each run's dispatch
times are summed into groups by kernel name and divided by that run's time
in a reference group both builds run unchanged (the stride-1 3x3 forward
tiles and batch norm), which cancels the host's fast and slow phases.
Prints, per group (and per sum of groups in AGGREGATES), the median of
those ratios per binary and B's over A's, and the median summed step time
of each binary in ms. (`ab_profile.py` compares builds that run the same
dispatches, group by group in finer detail.)

    benches/ab_groups.py A_BINARY B_BINARY ROUNDS [--bn-reference | --rest-reference | --reference PREFIXES] [-- PROFILE ARGS...]

With --bn-reference the reference is batch norm's dispatches alone, for
builds whose stride-1 3x3 forward tiles differ. With --rest-reference it is
every dispatch but those tiles (a larger reference, so a steadier one, for
builds that differ only in them), and the tiles are grouped by entry point
(`_r4sg2`: groups of 2 lanes, and so on). With --reference PREFIXES (entry
points' beginnings, comma-separated) it is the dispatches whose entry point
begins with one of them, for builds that leave those alone, and every other
dispatch is grouped by its entry point.

PROFILE ARGS default to --model resnet50 --batch 8 --image-size 64, e.g.
    benches/ab_groups.py /tmp/reslab-old target/release/reslab 3 -- \
        --model resnet50 --batch 2 --image-size 224
"""

import json
import statistics
import subprocess
import sys

# Group of a dispatch by its kernel's entry point (the first that matches).
GROUPS = [
    ("reference", lambda e: e.startswith("conv2d_forward_tiled_s1") or e.startswith("bn_")),
    ("1x1 weight gradients",
     lambda e: e.startswith("conv2d_pointwise_weight") or e == "conv2d_direct_weight"
     or e == "conv2d_backward_weight_reduce"),
    ("1x1 and direct passes", lambda e: e.startswith("conv2d_pointwise") or e == "conv2d_direct"),
    ("stride-2 backward-data", lambda e: e.startswith("conv2d_backward_data_tiled_s2")),
    ("unfolded inputs", lambda e: e.startswith("conv2d_unfold")),
    ("weight tiles", lambda e: e.startswith("conv2d_weight_tiles")),
]

# Sums of groups, for passes that one build runs in one group and the other
# in another (a 7x7 stem: the direct kernels, or unfolded input and 1x1).
AGGREGATES = [
    ("1x1, direct and unfolded",
     ["1x1 weight gradients", "1x1 and direct passes", "unfolded inputs"]),
]


def group(kernel):
    entry = kernel.split(":")[-1]
    for name, test in GROUPS:
        if test(entry):
            return name
    return "other"


def bn_only(kernel):
    return kernel.split(":")[-1].startswith("bn_")


def profile(binary, args, bn_reference=False, rest_reference=False, prefixes=None):
    out = subprocess.run(
        [binary, "bench", "--profile", *args, "--dispatches", "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    sums = {}
    for d in json.loads(out):
        g = group(d["kernel"])
        if prefixes:
            entry = d["kernel"].split(":")[-1]
            g = "reference" if entry.startswith(prefixes) else entry
        elif rest_reference:
            entry = d["kernel"].split(":")[-1]
            tiles = entry.startswith("conv2d_forward_tiled_s1")
            g = f"forward tiles {entry[len('conv2d_forward_tiled_s1'):]}" if tiles else "reference"
        elif bn_reference and g == "reference" and not bn_only(d["kernel"]):
            g = "stride-1 3x3 forward tiles"
        sums[g] = sums.get(g, 0.0) + d["ms"]
    step = sum(sums.values())
    ref = sums.get("reference", 0.0)
    if ref <= 0:
        sys.exit("no reference dispatches in the step")
    ratios = {g: ms / ref for g, ms in sums.items() if g != "reference"}
    for name, parts in AGGREGATES:
        ratios[name] = sum(ratios.get(g, 0.0) for g in parts)
    ratios["whole step"] = step / ref
    return ratios, step


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    binaries, rounds = sys.argv[1:3], int(sys.argv[3])
    rest = sys.argv[4:]
    bn_reference = bool(rest) and rest[0] == "--bn-reference"
    rest_reference = bool(rest) and rest[0] == "--rest-reference"
    prefixes = None
    if bn_reference or rest_reference:
        rest = rest[1:]
    elif rest and rest[0] == "--reference":
        if len(rest) < 2:
            sys.exit("--reference needs entry point prefixes, comma-separated")
        prefixes = tuple(p for p in rest[1].split(",") if p)
        rest = rest[2:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    args = rest or ["--batch", "8", "--image-size", "64"]
    if "--model" in args:
        i = args.index("--model")
        model = args[i + 1]
        args = args[:i] + args[i + 2:]
    else:
        model = "resnet50"
    args = [model, *args]
    runs = ([], [])
    for r in range(rounds):
        for k in (0, 1) if r % 2 == 0 else (1, 0):
            runs[k].append(profile(binaries[k], args, bn_reference, rest_reference, prefixes))
    names = [g for g, _ in GROUPS if g != "reference"] + ["other"]
    if bn_reference:
        names.insert(0, "stride-1 3x3 forward tiles")
    if rest_reference:
        names = sorted({g for x, _ in runs[0] + runs[1] for g in x if g.startswith("forward tiles")})
    if prefixes:
        every = {g for x, _ in runs[0] + runs[1] for g in x if g != "whole step"}
        every -= {name for name, _ in AGGREGATES}
        names = sorted(every, key=lambda g: -statistics.median(x.get(g, 0.0) for x, _ in runs[0]))
    plain = rest_reference or prefixes
    names += ([] if plain else [name for name, _ in AGGREGATES]) + ["whole step"]
    print(f"{'group (over the reference)':44s} {'A':>8s} {'B':>8s} {'B/A':>7s}")
    for g in names:
        a = statistics.median(x.get(g, 0.0) for x, _ in runs[0])
        b = statistics.median(x.get(g, 0.0) for x, _ in runs[1])
        ratio = f"{b / a:7.3f}" if a > 0 else "      -"
        print(f"{g:44s} {a:8.3f} {b:8.3f} {ratio}")
    for k, name in enumerate("AB"):
        steps = [round(s) for _, s in runs[k]]
        print(f"{name} step ms (summed GPU time): {steps}, median {statistics.median(steps)}")


if __name__ == "__main__":
    main()
