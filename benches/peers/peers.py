#!/usr/bin/env python3
"""Times reslab's benchmark workloads with PyTorch, beside reslab's own numbers.

    reslab bench --json --out /tmp/reslab-bench.json
    .torch/bin/python benches/peers/peers.py /tmp/reslab-bench.json [--device cpu|cuda]

Workloads (the same as `reslab bench`): conv2d 3x3 forward, backward-data and
backward-weight at the ResNet-20/56 stage shapes (batch 128), and resnet20 /
resnet56 inference (BN eval, batch 128) and training steps (forward, loss,
backward, SGD with momentum and weight decay) at batch 32 and 128, fp32
(TF32 off on CUDA). Prints one table: PyTorch, reslab, reslab / PyTorch.
Not part of the build.
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures"))
from make_fixtures import CifarResNet  # noqa: E402


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


def timeit(fn, dev, reps, warmup=2):
    for _ in range(warmup):
        fn()
    sync(dev)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync(dev)
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


SHAPES = [("C16@32x32 3x3/1", 16, 32, 16, 1), ("C32@16x16 3x3/1", 32, 16, 32, 1),
          ("C64@8x8 3x3/1", 64, 8, 64, 1), ("C16->32 @32->16 3x3/2", 16, 32, 32, 2),
          ("C32->64 @16->8 3x3/2", 32, 16, 64, 2)]


def conv(dev, reps, n=128):
    out = {}
    for name, cin, hw, cout, s in SHAPES:
        x = torch.randn(n, cin, hw, hw, device=dev, requires_grad=True)
        w = torch.randn(cout, cin, 3, 3, device=dev, requires_grad=True)
        ho = (hw + 2 - 3) // s + 1
        flops = 2 * n * cout * cin * 9 * ho * ho
        dy = torch.randn(n, cout, ho, ho, device=dev)
        t = timeit(lambda: F.conv2d(x, w, stride=s, padding=1), dev, reps)
        out[(name, "forward")] = flops / t / 1e9
        t = timeit(lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, stride=s, padding=1), dev, reps)
        out[(name, "backward-data")] = flops / t / 1e9
        t = timeit(lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride=s, padding=1), dev, reps)
        out[(name, "backward-weight")] = flops / t / 1e9
    return out


def models(dev, reps):
    out = {}
    for depth in (20, 56):
        m = CifarResNet(depth).to(dev)
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        for batch, train in ((128, False), (32, True), (128, True)):
            x = torch.randn(batch, 3, 32, 32, device=dev)
            y = torch.randint(0, 10, (batch,), device=dev)
            if train:
                m.train()

                def step():
                    opt.zero_grad(set_to_none=True)
                    F.cross_entropy(m(x), y).backward()
                    opt.step()
            else:
                m.eval()

                def step():
                    with torch.no_grad():
                        m(x)
            t = timeit(step, dev, reps)
            out[(f"resnet{depth}", batch, "training" if train else "inference")] = batch / t
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("reslab_json")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    r = json.load(open(a.reslab_json))
    print(f"reslab: {r['device']['adapter']} ({r['device']['backend']}), {r['date']}, commit {r['commit']}")
    print(f"PyTorch {torch.__version__} on {a.device}, {torch.get_num_threads()} threads\n")
    c = conv(a.device, a.reps)
    print(f"{'conv, batch 128':<24} {'pass':<16} {'PyTorch GF/s':>13} {'reslab GF/s':>12} {'ratio':>7}")
    for x in r["conv"]:
        p = c.get((x["shape"], x["pass"]))
        if p:
            print(f"{x['shape']:<24} {x['pass']:<16} {p:>13.1f} {x['gflops']:>12.2f} {x['gflops'] / p:>7.3f}")
    mm = models(a.device, a.reps)
    print(f"\n{'model':<10} {'batch':>6} {'mode':<10} {'PyTorch img/s':>14} {'reslab img/s':>13} {'ratio':>7}")
    for x in r["models"]:
        p = mm.get((x["model"], x["batch"], x["mode"]))
        if p:
            print(f"{x['model']:<10} {x['batch']:>6} {x['mode']:<10} {p:>14.1f} {x['images_per_s']:>13.1f} "
                  f"{x['images_per_s'] / p:>7.3f}")


if __name__ == "__main__":
    main()
