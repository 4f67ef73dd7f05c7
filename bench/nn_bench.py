#!/usr/bin/python3
"""bench/nn_bench.py: the reference Fashion-MNIST CNN in shopd's nn engine
(bench/nn-bench) and in PyTorch, side by side in one run.

Rounds alternate the two engines metric by metric (the machine is shared and
noisy) and the table reports medians: batch-1 latency, batch-256 throughput,
training time per 60000-image epoch (timed on a fraction, scaled), and the
GFLOPS of the conv layers against the sgemm peak measured in the same run.
Both engines get the same thread budget (2) and the same environment.

The product nets (models/kws.nn at batch 1, models/vision.nn at batch 1 and
256) are loaded from their model files by nn-bench and rebuilt layer by
layer in PyTorch from `nn-bench layers` (same shapes, random weights).

    nn_bench.py --bin build/bench/nn-bench [--rounds 3] [--steps 40] [--models DIR]
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
        """Median batch-1 latency and CPU time per call (ms), each the better
        of 1 and 2 threads (a second thread mostly costs PyTorch at batch 1)."""
        torch = self.torch
        self.net.eval()
        x = self.x[:1].clone()
        best, best_cpu = None, None
        for threads in (1, THREADS):
            torch.set_num_threads(threads)
            times, cpu = [], []
            with torch.inference_mode():
                for _ in range(20):
                    self.net(x)
                for _ in range(reps):
                    c = time.process_time()
                    t = time.perf_counter()
                    self.net(x)
                    times.append(time.perf_counter() - t)
                    cpu.append(time.process_time() - c)
            med, medc = statistics.median(times) * 1e3, statistics.median(cpu) * 1e3
            best = med if best is None else min(best, med)
            best_cpu = medc if best_cpu is None else min(best_cpu, medc)
        torch.set_num_threads(THREADS)
        return best, best_cpu

    def throughput(self, reps=7):
        """Images/s and CPU ms per batch of 256."""
        torch = self.torch
        self.net.eval()
        x = self.x[:256].clone()
        times, cpu = [], []
        with torch.inference_mode():
            self.net(x)
            for _ in range(reps):
                c = time.process_time()
                t = time.perf_counter()
                self.net(x)
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
        return 256 / statistics.median(times), statistics.median(cpu) * 1e3

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
        c = time.process_time()
        t = time.perf_counter()
        for i in range(steps):
            step(3 + i)
        scale = 60000 / (steps * 128)
        return (time.perf_counter() - t) * scale, (time.process_time() - c) * scale


class TorchDag:
    """A net of shopd's nn rebuilt in PyTorch from `nn-bench layers` (same
    layers, shapes and DAG; random weights: only speed is compared). Used for
    the product nets, which are loaded from their model files."""

    def __init__(self, layer_lines):
        import torch
        from torch import nn
        self.torch = torch
        mods = nn.ModuleDict()
        self.plan = []
        for line in layer_lines:
            f = line.split()
            lid, kind = int(f[1]), f[2]
            in0, in1, c, h, w, oc, oh, ow, kh, kw, sh, sw, ph, pw, bias = map(int, f[3:18])
            key = str(lid)
            if kind == "conv2d":
                mods[key] = nn.Conv2d(c, oc, (kh, kw), (sh, sw), (ph, pw), bias=bool(bias))
            elif kind == "depthwise":
                mods[key] = nn.Conv2d(c, c, (kh, kw), (sh, sw), (ph, pw), groups=c,
                                      bias=bool(bias))
            elif kind == "batchnorm":
                mods[key] = nn.BatchNorm2d(c)
            elif kind == "maxpool":
                mods[key] = nn.MaxPool2d(kh, sh)
            elif kind == "avgpool":
                mods[key] = nn.AvgPool2d(kh, sh)
            elif kind == "dense":
                mods[key] = nn.Linear(c * h * w, oc)
            elif kind == "dropout":
                mods[key] = nn.Dropout(0.1)
            elif kind not in ("input", "relu", "global_avgpool", "add", "softmax_xent"):
                raise ValueError(f"layer type {kind} unknown to the PyTorch mirror")
            self.plan.append((key, kind, in0, in1, oc, oh, ow))
        self.mods = mods
        self.mods.eval()
        self.input_shape = tuple(int(v) for v in layer_lines[0].split()[8:11])

    def __call__(self, x):
        torch = self.torch
        outs = {}
        for key, kind, in0, in1, oc, oh, ow in self.plan:
            a = outs.get(in0)
            if kind == "input":
                y = x
            elif kind == "relu":
                y = torch.relu(a)
            elif kind == "global_avgpool":
                y = torch.mean(a, dim=(2, 3), keepdim=True)
            elif kind == "add":
                y = a + outs[in1]
            elif kind == "softmax_xent":
                y = torch.softmax(a.flatten(1), 1)
            elif kind == "dense":
                y = self.mods[key](a.flatten(1)).view(-1, oc, 1, 1)
            else:
                y = self.mods[key](a)
            outs[int(key)] = y
        return y

    def _time(self, batch, reps, threads):
        torch = self.torch
        torch.set_num_threads(threads)
        x = torch.randn(batch, *self.input_shape)
        times, cpu = [], []
        with torch.inference_mode():
            for _ in range(20 if batch == 1 else 2):
                self(x)
            for _ in range(reps):
                c = time.process_time()
                t = time.perf_counter()
                self(x)
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
        torch.set_num_threads(THREADS)
        return statistics.median(times), statistics.median(cpu)

    def latency_ms(self, reps=300):
        """Median batch-1 latency and CPU time per call (ms), each the better
        of 1 and 2 threads."""
        r = [self._time(1, reps, t) for t in (1, THREADS)]
        return min(w for w, _ in r) * 1e3, min(c for _, c in r) * 1e3

    def throughput(self, batch=256, reps=7):
        """Images/s and CPU ms per batch."""
        w, c = self._time(batch, reps, THREADS)
        return batch / w, c * 1e3


def product_nets(binary, models_dir):
    """(name, model path, TorchDag, metrics) of the shipped product nets found."""
    nets = []
    for name, fname, metrics in (("speech DS-CNN (models/kws.nn)", "kws.nn", ("lat",)),
                                 ("vision net (models/vision.nn)", "vision.nn", ("lat", "thr"))):
        path = os.path.join(models_dir, fname)
        if not os.path.exists(path):
            print(f"# {path} missing: {name} not measured", file=sys.stderr)
            continue
        out = subprocess.run([binary, "layers", path], check=True, capture_output=True,
                             text=True).stdout
        lines = [ln for ln in out.splitlines() if ln.startswith("layer ")]
        summ = run_c(binary, "summary", path)
        nets.append((name, path, TorchDag(lines), metrics, summ))
    return nets


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="path of bench/nn-bench")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40, help="training steps of 128 timed")
    ap.add_argument("--models", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "..", "models"),
                    help="folder of the product model files (kws.nn, vision.nn)")
    ap.add_argument("--only-products", action="store_true",
                    help="skip the reference net (quick runs)")
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
    prods = product_nets(a.bin, a.models)
    r = {k: ([], [], [], []) for k in ("lat", "thr", "train")}
    pr = {(i, m): ([], [], [], []) for i, p in enumerate(prods) for m in p[3]}
    gemm, conv, ratio = [], [], []
    load = [os.getloadavg()[0]]
    for rnd in range(a.rounds):
        print(f"round {rnd + 1}/{a.rounds} ...", file=sys.stderr, flush=True)
        for i, (name, path, tnet, metrics, _) in enumerate(prods):
            for m in metrics:
                if m == "lat":
                    c = run_c(a.bin, "latency", path)
                    tw, tc = tnet.latency_ms()
                    v = (float(c["latency_ms"]), tw, float(c["latency_cpu_ms"]), tc)
                else:
                    c = run_c(a.bin, "throughput", path)
                    tw, tc = tnet.throughput()
                    v = (float(c["throughput_img_s"]), tw, float(c["throughput_cpu_ms"]), tc)
                for k in range(4):
                    pr[(i, m)][k].append(v[k])
        load.append(os.getloadavg()[0])
        if a.only_products:
            continue
        cv = run_c(a.bin, "conv")
        gemm.append(float(cv["gemm_gflops"]))
        conv.append(float(cv["conv_gflops"]))
        ratio.append(float(cv["conv_ratio"]))
        c = run_c(a.bin, "latency")
        v = (float(c["latency_ms"]), *t.latency_ms(), float(c["latency_cpu_ms"]))
        for k, key in enumerate((0, 1, 3, 2)):
            r["lat"][key].append(v[k])
        c = run_c(a.bin, "throughput")
        v = (float(c["throughput_img_s"]), *t.throughput(), float(c["throughput_cpu_ms"]))
        for k, key in enumerate((0, 1, 3, 2)):
            r["thr"][key].append(v[k])
        c = run_c(a.bin, "train", images, labels, str(a.steps))
        v = (float(c["train_epoch_s"]), *t.train_epoch_s(a.steps), float(c["train_epoch_cpu_s"]))
        for k, key in enumerate((0, 1, 3, 2)):
            r["train"][key].append(v[k])
    load.append(os.getloadavg()[0])
    print(f"load average (1 min) during the run: {min(load):.1f} to {max(load):.1f}; "
          f"OpenBLAS kernel {summary.get('blas_core')}; PyTorch {torch_ver}; {THREADS} threads "
          f"each; medians of {a.rounds} interleaved rounds")
    print(f"{'product net, metric':42} {'shopd nn':>9} {'PyTorch':>9} {'ratio':>6} | "
          f"{'CPU ms: nn':>10} {'PyTorch':>9} {'ratio':>6}")
    for (i, m), v in pr.items():
        name = prods[i][0]
        ours, theirs, cpu, tcpu = (statistics.median(x) for x in v)
        if m == "lat":
            label = f"{name} batch-1 ms"
            print(f"{label:42} {ours:9.3f} {theirs:9.3f} {theirs / ours:5.1f}x | "
                  f"{cpu:10.3f} {tcpu:9.3f} {tcpu / cpu:5.1f}x")
        else:
            label = f"{name} batch-256 img/s"
            print(f"{label:42} {ours:9.0f} {theirs:9.0f} {ours / theirs:5.1f}x | "
                  f"{cpu:10.1f} {tcpu:9.1f} {tcpu / cpu:5.1f}x")
    print("(CPU ms: process CPU time per call, all threads; robust to other load, and it "
          "counts PyTorch's OpenMP spinning)")
    for name, _, _, _, summ in prods:
        print(f"  {name}: {summ.get('params')} parameters, {summ.get('mflops')} MFLOP per sample")
    if a.only_products:
        return 0
    med = {k: tuple(statistics.median(x) for x in v) for k, v in r.items()}
    g, c, cr = statistics.median(gemm), statistics.median(conv), statistics.median(ratio)
    print(f"reference CNN: {summary.get('params')} parameters, {summary.get('mflops')} MFLOP "
          f"per image; OpenBLAS kernel {summary.get('blas_core')}; PyTorch {torch_ver}; "
          f"{THREADS} threads each; medians of {a.rounds} interleaved rounds")
    print(f"{'metric':34} {'shopd nn':>10} {'PyTorch':>10} {'ratio':>8} {'goal':>7} | "
          f"{'CPU: nn':>9} {'PyTorch':>9} {'ratio':>6}")
    lat, thr, tr = med["lat"], med["thr"], med["train"]
    print(f"{'batch-1 latency (ms)':34} {lat[0]:10.3f} {lat[1]:10.3f} {lat[1] / lat[0]:7.1f}x "
          f"{'>=10x':>7} | {lat[2]:9.3f} {lat[3]:9.3f} {lat[3] / lat[2]:5.1f}x")
    print(f"{'batch-256 throughput (img/s)':34} {thr[0]:10.0f} {thr[1]:10.0f} "
          f"{thr[0] / thr[1]:7.1f}x {'>=3x':>7} | {thr[2]:9.1f} {thr[3]:9.1f} "
          f"{thr[3] / thr[2]:5.1f}x")
    print(f"{'training, s per 60k epoch':34} {tr[0]:10.1f} {tr[1]:10.1f} {tr[1] / tr[0]:7.1f}x "
          f"{'>=2x':>7} | {tr[2]:9.1f} {tr[3]:9.1f} {tr[3] / tr[2]:5.1f}x")
    print(f"{'conv layers GFLOPS (1 thread, b64)':34} {c:10.1f} {'':>10} {cr * 100:6.0f}% "
          f"{'>=50%':>7}")
    print(f"{'sgemm peak GFLOPS (1 thread)':34} {g:10.1f}")
    print("(GFLOPS from thread CPU time, conv and peak measured alternately; the ratio is the "
          "median of per-round ratios; PyTorch latency is the better of 1 and 2 threads)")
    print("(CPU columns: process CPU time, all threads: ms per batch-1 call, ms per batch of 256, "
          "s per epoch)")
    print(f"(training timed on {a.steps} batches of 128 after 3 warm-up batches, scaled to "
          f"60000 images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
