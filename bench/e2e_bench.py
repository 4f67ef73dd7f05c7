#!/usr/bin/python3
"""bench/e2e_bench.py: the main job's latency through a real shopd.

Starts shopd on the built-in defaults (demo store, shipped models) and, over
its real ZeroMQ sockets, measures for RUNS requests each (default 200):
  - spoken request: the time from sending a held-out-voice utterance ("show me
    sneakers", espeak-ng en-us+f4, sent as a WAV frame after the speaker
    stopped) to the "recommendations" event arriving at a subscriber;
  - photo: the time from sending a 1 MP JPEG (1155x866, a product rendered by
    tests/e2e_mkdata) to the "recommendations" event arriving;
  - typed request ("show me sneakers" as text): the same without recognition,
    for the share of the recommendation query;
with shopd's own split of each (decode, recognise, total in the reply's
timing_ms) and the CPU time shopd and its decoder worker spend per request.
Prints p50, p90, p99 and max in ms.

With SHOP_E2E_AGAINST=/path/to/another/shopd, a second shopd from that binary
runs beside the first and the requests alternate between the two in blocks
of 10: both see the same load at the same time, so the ratio of their CPU
per request and latencies compares two versions on a busy machine.

usage: bench/e2e_bench.py [RUNS]; needs SHOP_TOP_BUILDDIR (shopd,
tests/e2e_mkdata) and SHOPD_DATADIR."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("SHOP_TOP_SRCDIR", "."), "tests"))
import shopd_py_harness as h  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 200


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def line(name, xs):
    print(f"{name:<44} p50 {pct(xs, 50):7.2f}  p90 {pct(xs, 90):7.2f}  p99 {pct(xs, 99):7.2f}"
          f"  max {max(xs):7.2f} ms  (n={len(xs)})")


def cpu_ms(pid):
    """CPU time (user + system) of shopd and its live children (the decoder
    worker), in ms: a figure the other jobs on the machine do not inflate."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total * 1000 / tick


def run(client, events, session, type_, body, frames):
    """One request; returns (ms to the recommendations event, reply)."""
    t0 = time.perf_counter()
    reply = client.request(type_, body, session=session, frames=frames, timeout=10)
    t_event = None
    while t_event is None:
        ev = events.next(timeout=5)
        if ev is None:
            raise RuntimeError("no recommendations event")
        if ev[0] == "recommendations" and ev[1].get("session") == session:
            t_event = time.perf_counter()
    return (t_event - t0) * 1000, reply


BLOCK = 10


def bench(targets, name, type_, body, frames):
    """RUNS requests to each target (label, Shopd), alternating in blocks."""
    for _, d in targets:
        for _ in range(5):  # warm caches
            run(d.client, d.events, "bench", type_, body, frames)
    lat = {label: [] for label, _ in targets}
    srv = {label: {} for label, _ in targets}
    cpu = {label: 0.0 for label, _ in targets}
    for i in range(0, RUNS, BLOCK):
        for label, d in targets:
            cpu0 = cpu_ms(d.proc.pid)
            for _ in range(min(BLOCK, RUNS - i)):
                ms, reply = run(d.client, d.events, "bench", type_, body, frames)
                lat[label].append(ms)
                for k, v in reply.get("timing_ms", {}).items():
                    srv[label].setdefault(k, []).append(v)
            cpu[label] += cpu_ms(d.proc.pid) - cpu0
    for label, _ in targets:
        tag = f" [{label}]" if len(targets) > 1 else ""
        line(f"{name}{tag}: sent -> recommendations event", lat[label])
        print(f"  shopd CPU per request (with the decoder worker): {cpu[label] / RUNS:.2f} ms")
        for k, v in srv[label].items():
            line(f"  in shopd: {k}", v)
    if len(targets) > 1:
        (a, _), (b, _) = targets
        print(f"  {a} / {b}: CPU per request {cpu[a] / cpu[b]:.3f}, p50 "
              f"{pct(lat[a], 50) / pct(lat[b], 50):.3f}, p99 {pct(lat[a], 99) / pct(lat[b], 99):.3f}")


def main():
    tmp = tempfile.mkdtemp(prefix="shop-e2e-bench-")
    # SHOP_E2E_VISION_MODEL measures with another product model file
    vision = os.environ.get("SHOP_E2E_VISION_MODEL", "models/vision.nn")
    conf = f"[models]\nvision = {vision}\n"
    targets = [("this", h.Shopd(tmp, conf=conf))]
    other = os.environ.get("SHOP_E2E_AGAINST")
    if other:
        os.mkdir(os.path.join(tmp, "against"))
        targets.append(("against", h.Shopd(os.path.join(tmp, "against"), conf=conf,
                                           binary=other)))
    rc = 1
    try:
        for _, d in targets:
            status = d.start(topics=("recommendations",))
        client = targets[0][1].client
        models = status.get("models", {})
        print(f"e2e bench: {RUNS} runs each, shopd pid {targets[0][1].proc.pid}"
              + (f" against {other} (pid {targets[1][1].proc.pid})" if other else "")
              + f", {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        wav = os.path.join(tmp, "utt.wav")
        subprocess.run(["espeak-ng", "-v", "en-us+f4", "-w", wav, "show me sneakers"], check=True)
        with open(wav, "rb") as f:
            audio = f.read()
        bench(targets, "text 'show me sneakers'", "text", {"text": "show me sneakers"}, [])
        if models.get("kws", {}).get("loaded"):
            print(f"spoken request: {len(audio)} bytes, {(len(audio) - 44) / 2 / 22050:.2f} s "
                  "of speech at 22.05 kHz")
            bench(targets, "spoken 'show me sneakers'", "audio", {}, [audio])
        else:
            print("spoken request: skipped, no keyword-spotting model")
        if models.get("vision", {}).get("loaded"):
            subprocess.run([os.path.join(h.TOP_BUILD, "tests", "e2e_mkdata"),
                            "/usr/share/datasets/fashion-mnist", tmp, "1155", "866"],
                           check=True, stdout=subprocess.DEVNULL)
            # the first product the model is sure of (an unsure answer has no
            # recommendations to wait for)
            for name in ("sneaker", "bag", "trouser", "pullover", "ankle-boot", "dress", "coat",
                         "sandal", "shirt", "t-shirt-top"):
                with open(os.path.join(tmp, name + ".jpg"), "rb") as f:
                    photo = f.read()
                r = client.request("photo", {}, session="probe", frames=[photo], timeout=10)
                if "recommendations" in r:
                    break
            print(f"photo: {name}, 1155x866 JPEG, {len(photo)} bytes")
            bench(targets, "photo (1 MP JPEG)", "photo", {}, [photo])
        else:
            print("photo: skipped, no product model")
        print(f"load at the end: {os.getloadavg()[0]:.2f}")
        rc = max(d.stop() for _, d in targets)
    finally:
        for _, d in targets:
            d.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
