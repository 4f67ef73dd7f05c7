#!/usr/bin/python3
"""bench/web_bench.py: what the kiosk page's WebSocket bridge adds to a
request's round trip. One shopd --web (demo store, shipped models); the same
requests alternate, one at a time, between a ZeroMQ DEALER (the protocol's own
client) and the page's WebSocket, so both see the same load at the same time.
Times each request to its reply (the events a text request publishes are
not waited for). Prints p50 and p99 in ms for each, and their ratio.

usage: bench/web_bench.py [RUNS] (default 300 each); needs SHOP_TOP_BUILDDIR
(shopd) and SHOPD_DATADIR."""

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("SHOP_TOP_SRCDIR", "."), "tests"))
import shopd_py_harness as h  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 300


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] * 1e3


def main():
    tmp = tempfile.mkdtemp(prefix="shopd-web-bench-")
    d = h.Shopd(tmp, conf="[daemon]\nstatus_interval = 0\n")
    port = h.free_port()
    try:
        d.spawn(["--foreground", "--config", d.conf, "--endpoint", d.ep, "--pub-endpoint", d.pub,
                 "--db", d.db, "--web", f"127.0.0.1:{port}"])
        d.connect()
        ws = h.Ws(port, "session=bench")
        print(f"# {RUNS} requests each way, alternating; load average {os.getloadavg()[0]:.1f}")
        print("request                     zmq p50   p99    ws p50   p99   ws/zmq p50")
        for name, type_, body in (("catalogue get", "catalogue", {"op": "get", "id": "bag-01"}),
                                  ("text show me bags", "text", {"text": "show me bags"})):
            zt, wt = [], []
            for i in range(RUNS):
                t = time.perf_counter()
                d.client.request(type_, body, session="bench")
                zt.append(time.perf_counter() - t)
                t = time.perf_counter()
                rep, _ = ws.ask(i, type_, body, answer=False)
                wt.append(time.perf_counter() - t)
                if not rep or not rep["reply"]["ok"]:
                    raise RuntimeError(f"no reply through the WebSocket: {rep}")
            print(f"{name:26s} {pct(zt, 50):7.2f} {pct(zt, 99):6.2f}  {pct(wt, 50):7.2f} "
                  f"{pct(wt, 99):6.2f}   {pct(wt, 50) / pct(zt, 50):5.2f}")
        ws.close()
        d.stop()
    finally:
        d.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
