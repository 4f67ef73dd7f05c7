#!/usr/bin/python3
"""Round-trip latency of shopd requests, measured from a Python frontend.

    examples/latency.py [--endpoint EP] [-n N] [--customer-count 300]

Sends N sequential requests of each kind (status, catalogue list, event,
cart add, recommend, similar) to a running shopd and prints p50 and p99 in
milliseconds. Events and cart changes are really committed, so point it at
a scratch database (the figures in docs/protocol.md come from a fresh
shopd with the demo store: see there for the command).
"""

import argparse
import sys
import time

import frontend


def bench(name, fn, n):
    ts = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    print(f"{name:28s} n={n:5d}  p50={ts[n // 2]:7.3f} ms  p99={ts[min(n - 1, int(n * 0.99))]:7.3f} ms",
          flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description="shopd request latency")
    ap.add_argument("--endpoint", default=frontend.default_endpoint())
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--customers", type=int, default=300, help="demo customers c0000..")
    a = ap.parse_args(argv)
    c = frontend.ShopClient(a.endpoint)
    c.request("status", timeout=5)  # connected and warm
    bench("status", lambda i: c.request("status"), a.n)
    bench("catalogue list (50 items)", lambda i: c.request("catalogue", {"op": "list"}), a.n)
    bench("event (durable commit)", lambda i: c.request(
        "event", {"customer": "latency", "item": "bag-01", "kind": "view"}), a.n)
    bench("cart add (durable commit)", lambda i: c.request(
        "cart", {"op": "add", "item": "bag-01"}, session="latency"), a.n)
    c.request("cart", {"op": "clear"}, session="latency")
    bench("recommend personal k=10", lambda i: c.request(
        "recommend", {"customer": f"c{i % a.customers:04d}"}), a.n)
    bench("similar k=10", lambda i: c.request("similar", {"item": "bag-01"}), a.n)
    c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
