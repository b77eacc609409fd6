"""What the A/B scripts over `reslab bench --profile MODEL --dispatches
--json` share (benches/ab_profile.py, benches/ab_dispatches.py): their
command line, one profile run, and the alternation of the two builds."""

import json
import subprocess
import sys


def parse(doc, default_args):
    """`A_BINARY B_BINARY ROUNDS [-- PROFILE ARGS...]` from sys.argv: the
    binaries, the rounds, the model (`--model` among the profile args,
    resnet20 without) and the other profile args (`default_args` where none
    are given). Exits with `doc` on a malformed command line."""
    argv = sys.argv[1:]
    args = []
    if "--" in argv:
        i = argv.index("--")
        argv, args = argv[:i], argv[i + 1 :]
    if len(argv) != 3:
        sys.exit(doc)
    a, b, rounds = argv[0], argv[1], int(argv[2])
    if rounds < 1:
        sys.exit("ROUNDS must be at least 1")
    model = "resnet20"
    if "--model" in args:
        i = args.index("--model")
        if i + 1 == len(args):
            sys.exit("--model needs a model name")
        model = args[i + 1]
        args = args[:i] + args[i + 2 :]
    return a, b, rounds, model, args or default_args


def dispatches(binary, model, args):
    """One run's dispatches, in program order."""
    out = subprocess.run(
        [binary, "bench", "--profile", model, "--dispatches", "--json", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def alternate(a, b, rounds, model, args):
    """Each build's runs, A then B in even rounds and B then A in odd ones.
    By position, not path: the same binary twice is an A/A run."""
    binaries = (a, b)
    runs = ([], [])
    for r in range(rounds):
        for k in (0, 1) if r % 2 == 0 else (1, 0):
            print(f"round {r + 1}/{rounds}: {binaries[k]}", file=sys.stderr)
            runs[k].append(dispatches(binaries[k], model, args))
    return runs
