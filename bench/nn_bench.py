#!/usr/bin/python3
"""bench/nn_bench.py: the reference Fashion-MNIST CNN in shopd's nn engine
(bench/nn-bench) and in PyTorch, side by side in one run.

Rounds alternate the two engines metric by metric (the machine is shared and
noisy) and the table reports medians: batch-1 latency, batch-256 throughput,
training time per 60000-image epoch (timed on a fraction, scaled), and the
GFLOPS of the conv layers against the sgemm peak measured in the same run.
Both engines get the same thread budget (2) and the same environment.

    nn_bench.py --bin build/bench/nn-bench [--rounds 3] [--steps 40]
"""
import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time

FMNIST = "/usr/share/datasets/fashion-mnist"
THREADS = 2


def run_c(binary, *args):
    """Runs nn-bench and returns its "key value" lines as a dict."""
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            res[parts[0]] = parts[1]
    return res


def unpack_fmnist(workdir):
    """Gunzips the Fashion-MNIST training set for the C benchmark."""
    paths = []
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        dst = os.path.join(workdir, name)
        if not os.path.exists(dst):
            with gzip.open(os.path.join(FMNIST, name + ".gz"), "rb") as f, open(dst, "wb") as g:
                g.write(f.read())
        paths.append(dst)
    return paths


class Torch:
    """The same reference net in PyTorch (see s_reference_net in nn_bench.c)."""

    def __init__(self, images, labels):
        import numpy as np
        import torch
        from torch import nn

        torch.set_num_threads(THREADS)
        torch.manual_seed(1)
        self.torch = torch

        class Block(nn.Module):
            def __init__(self, cin, c, stride):
                super().__init__()
                self.c1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
                self.b1 = nn.BatchNorm2d(c)
                self.c2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
                self.b2 = nn.BatchNorm2d(c)
                self.skip = None
                if stride != 1 or cin != c:
                    self.skip = nn.Sequential(nn.Conv2d(cin, c, 1, stride, 0, bias=False),
                                              nn.BatchNorm2d(c))

            def forward(self, x):
                y = torch.relu(self.b1(self.c1(x)))
                y = self.b2(self.c2(y))
                return torch.relu(y + (self.skip(x) if self.skip is not None else x))

        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            Block(32, 32, 1), Block(32, 64, 2), Block(64, 128, 2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
        raw = open(images, "rb").read()[16:]
        x = np.frombuffer(raw, dtype=np.uint8).astype(np.float32).reshape(-1, 1, 28, 28)
        self.x = torch.from_numpy((x / 255.0 - 0.2860) / 0.3530)
        self.y = torch.from_numpy(np.frombuffer(open(labels, "rb").read()[8:],
                                                dtype=np.uint8).astype(np.int64))

    def latency_ms(self, reps=300):
        """Median batch-1 latency, the better of 1 and 2 threads (a second
        thread mostly costs PyTorch at batch 1)."""
        torch = self.torch
        self.net.eval()
        x = self.x[:1].clone()
        best = None
        for threads in (1, THREADS):
            torch.set_num_threads(threads)
            times = []
            with torch.inference_mode():
                for _ in range(20):
                    self.net(x)
                for _ in range(reps):
                    t = time.perf_counter()
                    self.net(x)
                    times.append(time.perf_counter() - t)
            med = statistics.median(times) * 1e3
            best = med if best is None else min(best, med)
        torch.set_num_threads(THREADS)
        return best

    def throughput(self, reps=7):
        torch = self.torch
        self.net.eval()
        x = self.x[:256].clone()
        times = []
        with torch.inference_mode():
            self.net(x)
            for _ in range(reps):
                t = time.perf_counter()
                self.net(x)
                times.append(time.perf_counter() - t)
        return 256 / statistics.median(times)

    def train_epoch_s(self, steps):
        torch = self.torch
        self.net.train()
        opt = torch.optim.SGD(self.net.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                              weight_decay=5e-4)
        loss_fn = torch.nn.CrossEntropyLoss()
        perm = torch.randperm(len(self.x))

        def step(i):
            idx = perm[i * 128:(i + 1) * 128]
            opt.zero_grad()
            loss = loss_fn(self.net(self.x[idx]), self.y[idx])
            loss.backward()
            opt.step()

        for i in range(3):
            step(i)
        t = time.perf_counter()
        for i in range(steps):
            step(3 + i)
        return (time.perf_counter() - t) / (steps * 128) * 60000


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="path of bench/nn-bench")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40, help="training steps of 128 timed")
    a = ap.parse_args()
    work = os.path.join(tempfile.gettempdir(), "shop-nn-bench")
    os.makedirs(work, exist_ok=True)
    images, labels = unpack_fmnist(work)
    try:
        t = Torch(images, labels)
        import torch
        torch_ver = torch.__version__
    except ImportError as e:
        print(f"1..0 # SKIP PyTorch not available ({e}): install python3-torch")
        return 77
    summary = run_c(a.bin, "summary")
    r = {k: ([], []) for k in ("lat", "thr", "train")}
    gemm, conv, ratio = [], [], []
    for rnd in range(a.rounds):
        print(f"round {rnd + 1}/{a.rounds} ...", file=sys.stderr, flush=True)
        cv = run_c(a.bin, "conv")
        gemm.append(float(cv["gemm_gflops"]))
        conv.append(float(cv["conv_gflops"]))
        ratio.append(float(cv["conv_ratio"]))
        r["lat"][0].append(float(run_c(a.bin, "latency")["latency_ms"]))
        r["lat"][1].append(t.latency_ms())
        r["thr"][0].append(float(run_c(a.bin, "throughput")["throughput_img_s"]))
        r["thr"][1].append(t.throughput())
        r["train"][0].append(float(run_c(a.bin, "train", images, labels,
                                          str(a.steps))["train_epoch_s"]))
        r["train"][1].append(t.train_epoch_s(a.steps))
    med = {k: (statistics.median(v[0]), statistics.median(v[1])) for k, v in r.items()}
    g, c, cr = statistics.median(gemm), statistics.median(conv), statistics.median(ratio)
    print(f"reference CNN: {summary.get('params')} parameters, {summary.get('mflops')} MFLOP "
          f"per image; OpenBLAS kernel {summary.get('blas_core')}; PyTorch {torch_ver}; "
          f"{THREADS} threads each; medians of {a.rounds} interleaved rounds")
    print(f"{'metric':34} {'shopd nn':>10} {'PyTorch':>10} {'ratio':>8} {'goal':>7}")
    lat, thr, tr = med["lat"], med["thr"], med["train"]
    print(f"{'batch-1 latency (ms)':34} {lat[0]:10.3f} {lat[1]:10.3f} {lat[1] / lat[0]:7.1f}x "
          f"{'>=10x':>7}")
    print(f"{'batch-256 throughput (img/s)':34} {thr[0]:10.0f} {thr[1]:10.0f} "
          f"{thr[0] / thr[1]:7.1f}x {'>=3x':>7}")
    print(f"{'training, s per 60k epoch':34} {tr[0]:10.1f} {tr[1]:10.1f} {tr[1] / tr[0]:7.1f}x "
          f"{'>=2x':>7}")
    print(f"{'conv layers GFLOPS (1 thread, b64)':34} {c:10.1f} {'':>10} {cr * 100:6.0f}% "
          f"{'>=50%':>7}")
    print(f"{'sgemm peak GFLOPS (1 thread)':34} {g:10.1f}")
    print("(GFLOPS from thread CPU time, conv and peak measured alternately; the ratio is the "
          "median of per-round ratios; PyTorch latency is the better of 1 and 2 threads)")
    print(f"(training timed on {a.steps} batches of 128 after 3 warm-up batches, scaled to "
          f"60000 images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
