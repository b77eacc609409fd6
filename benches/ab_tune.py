#!/usr/bin/env python3
"""A/B of the tuner's variants between two reslab binaries: each runs
`reslab bench --tune` in turn, round after round (A, B, then B, A, ...),
with its own throwaway tuning table, and each variant's time in a pass is
divided by the time of a reference variant of the same pass in the same run:
the storage kernels (`r4sg`, `c16sg`, `s2sg`: input from storage buffers,
shared through subgroups), and batch norm's storage reads. A change to the
texel kernels alone (or to any variant but the reference) is then measured
run by run against kernels it leaves alone, which holds still however fast
the host happens to be. Prints, per pass and variant (the tuner's column,
numbered where a name repeats), the median of those ratios per binary and
B's over A's.

    benches/ab_tune.py A_BINARY B_BINARY ROUNDS [-- TUNE ARGS...]

TUNE ARGS, e.g. --quick (batch 32 instead of 128).
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile

# The reference variant of a pass: the first of these it has.
REFERENCE = ("r4sg", "c16sg", "s2sg", "storage")

# A pass's line of the tuner's table: its name, then "variant ms" pairs.
LINE = re.compile(r"^(C\S+ .*?(?:forward|backward-data|backward-weight|training passes))\s+(.*?)\s{2,}")


def tune(binary, args):
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, RESLAB_TUNING=os.path.join(d, "tuning.json"))
        out = subprocess.run(
            [binary, "bench", "--tune", *args], check=True, capture_output=True, text=True, env=env
        ).stdout
    ratios = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        pairs = [(v, float(ms)) for v, ms in re.findall(r"(\w+) ([\d.]+)", m.group(2))]
        names = [v for v, _ in pairs]
        ref = next((r for r in REFERENCE if r in names), None)
        if ref is None:
            continue
        ref_ms = pairs[names.index(ref)][1]
        seen = {}
        for v, ms in pairs:
            if v == ref:
                continue
            seen[v] = seen.get(v, 0) + 1
            label = v if names.count(v) == 1 else f"{v}{seen[v]}"
            ratios[f"{m.group(1)}: {label}/{ref}"] = ms / ref_ms
    if not ratios:
        sys.exit(f"{binary}: no tuning table in its output")
    return ratios


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    binaries, rounds = sys.argv[1:3], int(sys.argv[3])
    args = sys.argv[4:]
    if args and args[0] == "--":
        args = args[1:]
    runs = ([], [])
    for r in range(rounds):
        for k in (0, 1) if r % 2 == 0 else (1, 0):
            runs[k].append(tune(binaries[k], args))
    print(f"{'pass: variant / reference (median of runs)':62s} {'A':>7s} {'B':>7s} {'B/A':>7s}")
    for name in runs[0][0]:
        a = statistics.median(x[name] for x in runs[0] if name in x)
        b = statistics.median(x[name] for x in runs[1] if name in x)
        print(f"{name:62s} {a:7.3f} {b:7.3f} {b / a:7.3f}")


if __name__ == "__main__":
    main()
