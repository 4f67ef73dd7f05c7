#!/usr/bin/python3
"""tests/ipc_frontend.py: the Python frontend example (examples/frontend.py)
against a real shopd: status, catalogue, cart with its event, an error reply,
a REQ socket, and CURVE with an allowed and an unknown key. Prints TAP."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    import zmq
except ImportError:
    print("1..0 # SKIP python3-zmq is not installed")
    sys.exit(77)

TOP_SRC = os.environ.get("SHOP_TOP_SRCDIR", ".")
TOP_BUILD = os.environ.get("SHOP_TOP_BUILDDIR", ".")
sys.path.insert(0, os.path.join(TOP_SRC, "examples"))
import frontend  # noqa: E402

SHOPD = os.path.join(TOP_BUILD, "shopd")
SHOPCTL = os.path.join(TOP_BUILD, "shopctl")
if not os.access(SHOPD, os.X_OK):
    print(f"1..0 # SKIP {SHOPD} not built")
    sys.exit(77)

results = []
procs = []


def check(cond, what):
    results.append((bool(cond), what))


def start(tmp, conf, endpoint_args):
    with open(os.path.join(tmp, "shopd.conf"), "w") as f:
        f.write(conf)
    log = open(os.path.join(tmp, "shopd.log"), "a")
    p = subprocess.Popen([SHOPD, "--foreground", "--config", os.path.join(tmp, "shopd.conf"),
                          "--db", os.path.join(tmp, "shop.db")] + endpoint_args,
                         stdout=log, stderr=log)
    procs.append(p)
    return p


def wait_ready(client):
    # one request with a long timeout (it waits in the client until shopd
    # listens): quick retries would queue up requests shopd then answers one
    # by one, and 100 x 0.1 s was too short for a start on a busy machine
    return client.request("status", timeout=120)


def stop(p):
    p.send_signal(signal.SIGTERM)
    return p.wait(timeout=10)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def seed(db):
    """Two catalogue items, written into the database shopd created (schema
    of docs/store.md) while shopd is stopped."""
    import sqlite3
    con = sqlite3.connect(db)
    con.executemany("INSERT INTO catalogue (id, name, category, price, updated) "
                    "VALUES (?, ?, ?, ?, strftime('%s','now'))",
                    [("sneaker-01", "Red sneaker", "sneaker", 59.0),
                     ("bag-01", "Tote bag", "bag", 25.0)])
    con.commit()
    con.close()


def plain_tests(tmp):
    ep = f"ipc://{tmp}/req.sock"
    pub = f"ipc://{tmp}/events.sock"
    conf = "[daemon]\nstatus_interval = 1\n[store]\nimport_demo = no\n"
    p = start(tmp, conf, ["--endpoint", ep, "--pub-endpoint", pub])
    client = frontend.ShopClient(ep)
    st = wait_ready(client)
    check(st.get("protocol") == 1 and st.get("pid") == p.pid, "status answers with protocol 1 and shopd's pid")
    check(stop(p) == 0, "SIGTERM: exit status 0")
    seed(os.path.join(tmp, "shop.db"))

    p = start(tmp, conf, ["--endpoint", ep, "--pub-endpoint", pub])
    wait_ready(client)
    cat = client.request("catalogue", {"op": "list"})
    ids = [it["id"] for it in cat["items"]]
    check(ids == ["bag-01", "sneaker-01"], f"catalogue lists the seeded items ({ids})")
    stream = frontend.EventStream(pub, topics=("cart", "status"))
    first = stream.next(timeout=3)
    check(first is not None and first[0] == "status", "a status heartbeat arrives on the event stream")
    cart = client.request("cart", {"op": "add", "item": "sneaker-01", "quantity": 2}, session="py-1")
    check(cart["count"] == 2 and cart["lines"][0]["item"] == "sneaker-01", "cart add answers the new cart")
    seen = None
    for _ in range(5):
        ev = stream.next(timeout=2)
        if ev and ev[0] == "cart":
            seen = ev[1]
            break
    check(seen is not None and seen.get("session") == "py-1" and seen["body"]["count"] == 2,
          "the cart change is published as a cart event for the session")
    try:
        client.request("catalogue", {"op": "get", "id": "nope"})
        check(False, "an unknown product gives a not_found error reply")
    except frontend.ShopdError as e:
        check(e.code == "not_found", "an unknown product gives a not_found error reply")
    # a plain REQ socket works too: shopd echoes the empty delimiter frame
    req = zmq.Context.instance().socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(ep)
    req.send_json({"v": 1, "id": "req-1", "type": "status"})
    ok = req.poll(2000)
    reply = req.recv_json() if ok else {}
    check(reply.get("id") == "req-1" and reply.get("ok") is True, "a REQ socket gets its reply")
    req.close()
    # the C tool sees the same cart
    out = subprocess.run([SHOPCTL, "-e", ep, "-s", "py-1", "-c", "cart"], capture_output=True,
                         text=True, timeout=10)
    check(out.returncode == 0 and '"count":2' in out.stdout, "shopctl reads the cart the Python client filled")
    stream.close()
    client.close()
    check(stop(p) == 0, "SIGTERM after the session: exit status 0")


def curve_tests(tmp):
    for name in ("server", "good", "bad"):
        subprocess.run([SHOPCTL, "keygen", os.path.join(tmp, name)], check=True,
                       capture_output=True, timeout=10)
    with open(os.path.join(tmp, "allow"), "w") as f:
        f.write(open(os.path.join(tmp, "good.pub")).read())
    ep = f"tcp://127.0.0.1:{free_port()}"
    pub = f"tcp://127.0.0.1:{free_port()}"
    conf = (f"[ipc]\nendpoint = {ep}\nevents_endpoint = {pub}\n"
            f"[curve]\nsecret_key_file = {tmp}/server.key\nallow_list = {tmp}/allow\n"
            "[store]\nimport_demo = no\n")
    p = start(tmp, conf, [])
    spub, _ = frontend.read_key_file(os.path.join(tmp, "server.pub"))
    gpub, gsec = frontend.read_key_file(os.path.join(tmp, "good.key"))
    bpub, bsec = frontend.read_key_file(os.path.join(tmp, "bad.key"))
    good = frontend.ShopClient(ep, curve=(spub, gpub, gsec))
    st = wait_ready(good)
    check(st.get("curve") is True, "CURVE: an allowed key is served")
    bad = frontend.ShopClient(ep, curve=(spub, bpub, bsec))
    try:
        bad.request("status", timeout=1.0)
        check(False, "CURVE: an unknown key gets no reply")
    except TimeoutError:
        check(True, "CURVE: an unknown key gets no reply")
    check(good.request("status")["refused_connections"] >= 1, "CURVE: the refusal is counted")
    bad.close()
    good.close()
    check(stop(p) == 0, "CURVE shopd: SIGTERM exit status 0")


def main():
    tmp = tempfile.mkdtemp(prefix="shopd-py-")
    try:
        plain_tests(os.path.join(tmp))
        ctmp = os.path.join(tmp, "curve")
        os.mkdir(ctmp)
        curve_tests(ctmp)
    except Exception as e:  # a crash of the test itself is a failure, not a skip
        results.append((False, f"test aborted: {e!r}"))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{len(results)}")
    for i, (ok, what) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {what}")
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
