#!/usr/bin/env python3
"""bench/mic_bench.py: what listening all day costs: the CPU share of one
core that a real shopd uses while its microphone hears silence and while it
hears commands, next to arecord (alsa-utils) capturing the same kind of
device: the floor any program pays to take audio from ALSA.

The microphones are ALSA `file` plugins reading named pipes that this
script fills in real time (10 ms every 10 ms), as tests/daemon_mic_test.c
does. CPU time is utime + stime of the measured process (all its threads)
from /proc/PID/stat over a fixed stretch of fed audio; the share is CPU
seconds per second of audio. Rounds interleave shopd on silence, shopd on
speech and the peer, so each sees the same load.

    make bench-mic            # or: bench/mic_bench.py --rounds 3 --seconds 20

Speech: espeak-ng's en-us+f4 (held out of the spotter's training) saying
"shopwise, show me sneakers", "shopwise, add two boots to my cart" and
"shopwise, show me my cart", 1.5 s apart, over and over."""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("SHOP_TOP_SRCDIR", "."), "tests"))
import shopd_py_harness as h  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


class Feeder(threading.Thread):
    """Writes `track` (raw S16 16 kHz, or silence when None) into a pipe,
    320 bytes every 10 ms, looping."""

    def __init__(self, fifo):
        super().__init__(daemon=True)
        self.fifo, self.track, self.at, self.quit = fifo, None, 0, False
        os.mkfifo(fifo)

    def play(self, track):
        self.track, self.at = track, 0

    def run(self):
        fd = os.open(self.fifo, os.O_RDWR | os.O_NONBLOCK)
        zeros = bytes(320)
        nxt = time.monotonic()
        while not self.quit:
            nxt += 0.01
            time.sleep(max(0.0, nxt - time.monotonic()))
            t = self.track
            chunk = zeros
            if t:
                chunk = t[self.at:self.at + 320]
                if len(chunk) < 320:
                    self.at, chunk = 0, t[:320]
            try:
                os.write(fd, chunk)
                if t:
                    self.at += 320
            except BlockingIOError:
                pass
        os.close(fd)

    def stop(self):
        os.unlink(self.fifo)
        self.quit = True
        self.join()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def thread_cpu(pid):
    """{thread name: CPU seconds} of pid's threads (same names summed)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
            name = head.split("(", 1)[1]
            fields = rest.split()
            out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError):
            pass
    return out


def measure(pid, seconds, threads=None):
    """CPU seconds per wall second of pid over seconds; adds each thread's
    share to threads (a dict) when given."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    th0 = thread_cpu(pid) if threads is not None else {}
    time.sleep(seconds)
    wall = time.monotonic() - t0
    if threads is not None:
        for k, v in thread_cpu(pid).items():
            threads.setdefault(k, []).append((v - th0.get(k, 0)) / wall)
    return (cpu_seconds(pid) - c0) / wall


def mic_status(d):
    return d.client.request("status", timeout=10)["microphone"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each measured stretch")
    args = ap.parse_args()
    for tool in ("espeak-ng", "sox", "arecord"):
        if not shutil.which(tool):
            sys.exit(f"mic_bench: {tool} is not installed")
    tmp = tempfile.mkdtemp(prefix="shop-mic-bench-")
    feeds, d, peer = [], None, None
    try:
        said = ["shopwise, show me sneakers", "shopwise, add two boots to my cart",
                "shopwise, show me my cart"]
        wavs = []
        for i, text in enumerate(said):
            w = os.path.join(tmp, f"c{i}.wav")
            subprocess.run(["espeak-ng", "-v", "en-us+f4", "-w", w, text], check=True)
            wavs.append(w)
        gap = os.path.join(tmp, "gap.wav")
        subprocess.run(["sox", "-n", "-r", "22050", "-c", "1", gap, "trim", "0", "1.5"],
                       check=True)
        seq = [gap]
        for w in wavs:
            seq += [w, gap]
        raw = os.path.join(tmp, "speech.raw")
        subprocess.run(["sox"] + seq + ["-r", "16000", "-c", "1", "-b", "16", "-e", "signed",
                                        "-t", "raw", raw], check=True)
        with open(raw, "rb") as f:
            speech = f.read()
        # the only ALSA configuration shopd and arecord read: no other plugin
        # is probed (PortAudio's ALSA back end wants a "default" in the list)
        alsa_conf = os.path.join(tmp, "asound.conf")
        with open(alsa_conf, "w") as f:
            f.write("pcm.default { type null }\n")
            for name in ("vmic", "vpeer"):
                f.write(f'pcm.{name}_file {{ type file; slave.pcm {{ type null }}; file "/dev/null";'
                        f' infile "{tmp}/{name}.fifo"; format "raw" }}\n'
                        f'pcm.{name} {{ type plug; slave {{ pcm "{name}_file"; format S16_LE;'
                        f' rate 16000; channels 1 }} }}\n')
        mic, peer_feed = Feeder(f"{tmp}/vmic.fifo"), Feeder(f"{tmp}/vpeer.fifo")
        feeds = [mic, peer_feed]
        for fd in feeds:
            fd.start()
        env = dict(os.environ, HOME=tmp, ALSA_CONFIG_PATH=alsa_conf)
        env.pop("MALLOC_PERTURB_", None)  # ALSA's 275 MB probe buffers
        d = h.Shopd(tmp, conf="[store]\nimport_demo = yes\n[models]\nvision =\n"
                              "[microphone]\ndevice = vmic\n")
        d.spawn(env=env)
        d.connect()
        end = time.monotonic() + 120
        while mic_status(d)["state"] != "listening":
            if time.monotonic() > end:
                sys.exit("mic_bench: shopd's microphone did not start")
            time.sleep(0.1)
        time.sleep(2)  # past the start-up
        rows = {"silence": [], "speech": [], "peer": []}
        threads = {"silence": {}, "speech": {}}
        commands = []
        for r in range(args.rounds):
            mic.play(None)
            rows["silence"].append(measure(d.proc.pid, args.seconds, threads["silence"]))
            before = mic_status(d)
            mic.play(speech)
            rows["speech"].append(measure(d.proc.pid, args.seconds, threads["speech"]))
            mic.play(None)
            after = mic_status(d)
            commands.append((after["commands"] - before["commands"],
                             after["understood"] - before["understood"]))
            peer = subprocess.Popen(["arecord", "-q", "-D", "vpeer", "-f", "S16_LE", "-r", "16000",
                                     "-c", "1", "-t", "raw", "/dev/null"], env=env,
                                    stderr=subprocess.DEVNULL)
            time.sleep(2)  # past ALSA's probing
            rows["peer"].append(measure(peer.pid, args.seconds))
            peer.send_signal(signal.SIGINT)
            peer.wait()
            peer = None
            print(f"# round {r + 1}: shopd silence {100 * rows['silence'][-1]:.2f} %, "
                  f"speech {100 * rows['speech'][-1]:.2f} % ({commands[-1][0]} commands, "
                  f"{commands[-1][1]} understood), arecord {100 * rows['peer'][-1]:.2f} %",
                  flush=True)
        st = mic_status(d)

        def med(x):
            x = sorted(x)
            return x[len(x) // 2]

        res = {k: 100 * med(v) for k, v in rows.items()}
        print(f"CPU share of one core, median of {args.rounds} rounds of {args.seconds:.0f} s:")
        print(f"  shopd listening to silence : {res['silence']:.2f} %  "
              f"({res['silence'] / max(res['peer'], 1e-9):.1f}x arecord)")
        print(f"  shopd listening to speech  : {res['speech']:.2f} %  "
              f"({res['speech'] / max(res['peer'], 1e-9):.1f}x arecord)")
        print(f"  arecord capturing (peer)   : {res['peer']:.2f} %")
        print(f"  goal <= 2 % of one core: {'met' if max(res['silence'], res['speech']) <= 2 else 'NOT met'}")
        for what in ("silence", "speech"):
            parts = sorted(((100 * med(v), k) for k, v in threads[what].items()), reverse=True)
            print(f"  shopd's threads on {what}: "
                  + ", ".join(f"{k} {p:.2f} %" for p, k in parts if p > 0))
        print(f"  overruns {st['overruns']}, commands {st['commands']}, understood {st['understood']}")
        print(json.dumps({"silence_pct": res["silence"], "speech_pct": res["speech"],
                          "arecord_pct": res["peer"], "rounds": args.rounds,
                          "seconds": args.seconds, "commands": commands,
                          "overruns": st["overruns"]}))
    finally:
        if peer:
            peer.kill()
        if d:
            if d.proc and d.proc.poll() is None:
                d.stop()
        for fd in feeds:
            fd.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
