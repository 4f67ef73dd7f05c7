#!/usr/bin/python3
"""tests/ipc_frontend.py: the Python frontend example (examples/frontend.py)
against a real shopd: status, catalogue, cart with its event, an error reply,
a REQ socket, and CURVE with an allowed and an unknown key on TCP endpoints
set in the config file. Prints TAP."""

import contextlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("SHOP_TOP_SRCDIR", "."), "tests"))
import shopd_py_harness as h  # noqa: E402  (exits 77 without python3-zmq)

import zmq  # noqa: E402

frontend = h.frontend
SHOPCTL = os.path.join(h.TOP_BUILD, "shopctl")
if not os.access(h.SHOPD, os.X_OK):
    print(f"1..0 # SKIP {h.SHOPD} not built")
    sys.exit(77)

tap = h.Tap()
check = tap.check


def seed(db):
    """Two catalogue items, written into the database shopd created (schema
    of docs/store.md) while shopd is stopped."""
    con = sqlite3.connect(db)
    con.executemany("INSERT INTO catalogue (id, name, category, price, updated) "
                    "VALUES (?, ?, ?, ?, strftime('%s','now'))",
                    [("sneaker-01", "Red sneaker", "sneaker", 59.0),
                     ("bag-01", "Tote bag", "bag", 25.0)])
    con.commit()
    con.close()


def plain_tests(d):
    st = d.start()
    check(st.get("protocol") == 1 and st.get("pid") == d.proc.pid,
          "status answers with protocol 1 and shopd's pid")
    check(d.stop() == 0, "SIGTERM: exit status 0")
    seed(d.db)

    d.start(topics=("cart", "status"))
    cat = d.client.request("catalogue", {"op": "list"})
    ids = [it["id"] for it in cat["items"]]
    check(ids == ["bag-01", "sneaker-01"], f"catalogue lists the seeded items ({ids})")
    first = d.events.next(timeout=3)
    check(first is not None and first[0] == "status", "a status heartbeat arrives on the event stream")
    cart = d.client.request("cart", {"op": "add", "item": "sneaker-01", "quantity": 2}, session="py-1")
    check(cart["count"] == 2 and cart["lines"][0]["item"] == "sneaker-01", "cart add answers the new cart")
    seen = None
    for _ in range(5):
        ev = d.events.next(timeout=2)
        if ev and ev[0] == "cart":
            seen = ev[1]
            break
    check(seen is not None and seen.get("session") == "py-1" and seen["body"]["count"] == 2,
          "the cart change is published as a cart event for the session")
    # a stream of one session (topics @py-2/cart and status) sees its own cart only
    own = frontend.EventStream(d.pub, topics=("cart", "status"), session="py-2")
    check(own.next(timeout=5) is not None, "a session's stream gets the status heartbeat")
    d.client.request("cart", {"op": "add", "item": "bag-01"}, session="py-3")
    d.client.request("cart", {"op": "add", "item": "bag-01"}, session="py-2")
    got = []
    for _ in range(6):
        ev = own.next(timeout=2)
        if ev and ev[0] == "cart":
            got.append(ev[1]["session"])
            break
    check(got == ["py-2"], f"a session's stream gets that session's cart event only ({got})")
    own.close()
    try:
        d.client.request("catalogue", {"op": "get", "id": "nope"})
        check(False, "an unknown product gives a not_found error reply")
    except frontend.ShopdError as e:
        check(e.code == "not_found", "an unknown product gives a not_found error reply")
    # look, through the example's own command: this shopd has no camera
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = frontend.main(["--endpoint", d.ep, "look"])
    check(rc == 1 and "not_available: shopd has no camera" in err.getvalue(),
          f"frontend.py look without a camera: not_available ({err.getvalue().strip()})")
    # a plain REQ socket works too: shopd echoes the empty delimiter frame
    req = zmq.Context.instance().socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(d.ep)
    req.send_json({"v": 1, "id": "req-1", "type": "status"})
    ok = req.poll(2000)
    reply = req.recv_json() if ok else {}
    check(reply.get("id") == "req-1" and reply.get("ok") is True, "a REQ socket gets its reply")
    req.close()
    # the C tool sees the same cart
    out = subprocess.run([SHOPCTL, "-e", d.ep, "-s", "py-1", "-C", "cart"], capture_output=True,
                         text=True, timeout=10)
    check(out.returncode == 0 and '"count":2' in out.stdout,
          "shopctl reads the cart the Python client filled")
    check(d.stop() == 0, "SIGTERM after the session: exit status 0")


def curve_tests(tmp):
    for name in ("server", "good", "bad"):
        subprocess.run([SHOPCTL, "keygen", os.path.join(tmp, name)], check=True,
                       capture_output=True, timeout=10)
    with open(os.path.join(tmp, "allow"), "w") as f:
        f.write(open(os.path.join(tmp, "good.pub")).read())
    ep = f"tcp://127.0.0.1:{h.free_port()}"
    pub = f"tcp://127.0.0.1:{h.free_port()}"
    d = h.Shopd(tmp, conf=(f"[ipc]\nendpoint = {ep}\nevents_endpoint = {pub}\n"
                           f"[curve]\nsecret_key_file = {tmp}/server.key\nallow_list = {tmp}/allow\n"
                           "[store]\nimport_demo = no\n"))
    try:
        # the endpoints come from the config file, not the command line
        d.spawn(["--foreground", "--config", d.conf, "--db", d.db])
        spub, _ = frontend.read_key_file(os.path.join(tmp, "server.pub"))
        gpub, gsec = frontend.read_key_file(os.path.join(tmp, "good.key"))
        bpub, bsec = frontend.read_key_file(os.path.join(tmp, "bad.key"))
        st = d.connect(curve=(spub, gpub, gsec), ep=ep, pub=pub)
        check(st.get("curve") is True, "CURVE: an allowed key is served")
        bad = frontend.ShopClient(ep, curve=(spub, bpub, bsec))
        try:
            bad.request("status", timeout=1.0)
            check(False, "CURVE: an unknown key gets no reply")
        except TimeoutError:
            check(True, "CURVE: an unknown key gets no reply")
        bad.close()
        check(d.client.request("status")["refused_connections"] >= 1, "CURVE: the refusal is counted")
        check(d.stop() == 0, "CURVE shopd: SIGTERM exit status 0")
    finally:
        d.kill()


def main():
    tmp = tempfile.mkdtemp(prefix="shopd-py-")
    d = h.Shopd(tmp, conf="[daemon]\nstatus_interval = 1\n[store]\nimport_demo = no\n")
    try:
        try:
            plain_tests(d)
        finally:
            d.kill()
        ctmp = os.path.join(tmp, "curve")
        os.mkdir(ctmp)
        curve_tests(ctmp)
    except Exception as e:  # a crash of the test itself is a failure, not a skip
        check(False, f"test aborted: {e!r}")
        print(d.log_tail())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
