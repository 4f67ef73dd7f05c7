#!/usr/bin/env python3
"""tests/daemon_pg_devices.py: two shopd devices, A and B, on one real
PostgreSQL server (tests/pg_server.sh), over real ZeroMQ sockets.

1. A purchase at A reaches B's recommendations within 1 s of A's
   acknowledgement: B is told by the server (LISTEN/NOTIFY), it does not
   poll. The expected answer comes from the catalogue, not from the
   engine: a category query for the buyer with exclude_bought lists every
   boot in stock before, and every boot in stock but the one bought after.
   The same for a checkout's purchase.
2. The server stopped with `pg_ctl stop -m immediate`: A keeps answering
   (status, the catalogue from its offline copy, recommendations from
   memory, the queued purchase already counted, a cart, a typed request)
   and accepts N events, each acknowledged as queued; status shows the
   outbox holding N. The server started again: the outbox empties, every
   accepted event is in the server exactly once (counted by uid and by its
   own customer with psql), the offline cart line is in the server's cart,
   B's answer shows the purchase made during the outage, and each engine
   holds exactly the server's events (none counted twice).

    tests/daemon_pg_devices.py              # the test (make check)
    tests/daemon_pg_devices.py --soak 20    # the outage 20 times, events
                                            # sent all the while (make soak-pg)

The soak prints the events accepted, lost and duplicated."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("SHOP_TOP_SRCDIR", "."), "tests"))
import shopd_py_harness as h  # noqa: E402

PG_SERVER = os.path.join(h.TOP_SRC, "tests", "pg_server.sh")
TAG = f"pgdev{os.getpid()}"


class Pg:
    """The private server of tests/pg_server.sh in folder d."""

    def __init__(self, d):
        self.dir = d
        self.uri = None

    def _run(self, *args):
        return subprocess.run(["sh", PG_SERVER, *args], check=True, capture_output=True,
                              text=True).stdout

    def start(self):
        self.uri = self._run("start", self.dir).strip()
        return self.uri

    def stop(self, mode="fast"):
        self._run("stop", self.dir, mode)

    def psql(self, sql):
        return self._run("psql", self.dir, "-Atc", sql)


def spawn(dev, uri):
    """Starts dev (a Shopd) on the server at uri, its outbox in its folder,
    and waits until it answers."""
    dev.spawn(["--foreground", "--config", dev.conf, "--endpoint", dev.ep, "--pub-endpoint",
               dev.pub, "--db", uri, "--outbox", os.path.join(dev.tmp, "outbox.db"),
               "--log-level", "info"])
    # the first device imports the demo store into the server
    dev.connect(seconds=600)


def device(tmp, name, uri):
    """A shopd on the server at uri, its files (outbox, sockets, log) in tmp/name."""
    d = os.path.join(tmp, name)
    os.mkdir(d)
    dev = h.Shopd(d)
    spawn(dev, uri)
    return dev


def wait_for(cond, seconds):
    """Polls cond until it returns a true value or seconds pass; returns its last value."""
    end = time.monotonic() + seconds
    while True:
        v = cond()
        if v or time.monotonic() > end:
            return v
        time.sleep(0.02)


def store_status(dev):
    return dev.client.request("status", timeout=10)["store"]


def boots_for(dev, customer):
    """The set of items B's (or A's) category query answers for customer."""
    r = dev.client.request("recommend", {"kind": "category", "category": "boot",
                                         "customer": customer, "exclude_bought": True,
                                         "limit": 100}, timeout=10)
    return {x["item"] for x in r["results"]}


def purchase(client, customer, item, session):
    return client.request("event", {"customer": customer, "item": item, "kind": "purchase"},
                          session=session, timeout=10)


def counts(pg, customers, uids):
    """(lost, duplicated): accepted events missing from the server, and rows
    beyond one per accepted event (by its customer, unique per event, and by uid)."""
    rows = pg.psql(f"SELECT customer, count(*) FROM interactions WHERE customer LIKE "
                   f"'{TAG}-%' GROUP BY customer")
    per_customer = dict(line.split("|") for line in rows.split())
    rows = pg.psql(f"SELECT uid, count(*) FROM interactions WHERE customer LIKE '{TAG}-%' "
                   f"GROUP BY uid")
    per_uid = dict(line.split("|") for line in rows.split())
    lost = sum(1 for c, u in zip(customers, uids) if c not in per_customer or u not in per_uid)
    dup = sum(int(n) - 1 for n in per_customer.values()) + sum(int(n) - 1 for n in per_uid.values())
    return lost, dup


class Sender(threading.Thread):
    """Sends purchases (one customer each) to a device on its own socket
    until stopped; keeps the acknowledged ones."""

    def __init__(self, ep, item, prefix):
        super().__init__(daemon=True)
        self.client = h.frontend.ShopClient(ep)
        self.item, self.prefix = item, prefix
        self.accepted = []       # (customer, uid)
        self.queued = 0          # of which acknowledged from the outbox
        self.errors = []
        self.halt = threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set():
            cust = f"{self.prefix}-{i}"
            i += 1
            try:
                r = purchase(self.client, cust, self.item, "soak")
                self.accepted.append((cust, r["uid"]))
                self.queued += bool(r["queued"])
            except Exception as e:  # an error reply or no reply: not accepted
                self.errors.append(f"{cust}: {e}")
        self.client.close()


def soak(pg, a, item, rounds):
    total_acc = total_lost = total_dup = 0
    worst_drain = 0.0
    accepted = []
    errors = []
    queued = 0
    for r in range(rounds):
        s = Sender(a.ep, item, f"{TAG}-r{r}")
        s.start()
        wait_for(lambda: len(s.accepted) >= 5, 30)
        pg.stop("immediate")
        wait_for(lambda: not store_status(a)["connected"], 30)
        n0 = len(s.accepted)
        wait_for(lambda: len(s.accepted) >= n0 + 20, 60)
        pg.start()
        t0 = time.monotonic()
        wait_for(lambda: (lambda st: st["connected"] and st["outbox"] == 0)(store_status(a)), 120)
        worst_drain = max(worst_drain, time.monotonic() - t0)
        s.halt.set()
        s.join(30)
        st = wait_for(lambda: (lambda st: st if st["connected"] and st["outbox"] == 0
                               else None)(store_status(a)), 120)
        accepted += s.accepted
        errors += s.errors
        queued += s.queued
        lost, dup = counts(pg, [c for c, _ in accepted], [u for _, u in accepted])
        print(f"# round {r + 1}: {len(s.accepted)} accepted ({s.queued} queued), "
              f"{len(s.errors)} refused; "
              f"so far lost {lost}, duplicated {dup}; outbox {st and st['outbox']}", flush=True)
    total_acc = len(accepted)
    total_lost, total_dup = counts(pg, [c for c, _ in accepted], [u for _, u in accepted])
    print(f"soak-pg: {rounds} outages (pg_ctl stop -m immediate), {total_acc} events accepted "
          f"({queued} of them into the outbox), {total_lost} lost, {total_dup} duplicated, "
          f"{len(errors)} refused; "
          f"slowest reconnect + drain {worst_drain:.1f} s")
    for e in errors[:5]:
        print(f"# refused: {e}")
    return total_lost == 0 and total_dup == 0 and total_acc > 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--soak", type=int, default=0, help="outages to run (0: the test)")
    args = ap.parse_args()
    tap = h.Tap()
    # short: the server's Unix socket path must fit in 107 bytes
    tmp = tempfile.mkdtemp(prefix="shop-pg-", dir="/tmp")
    os.chmod(tmp, 0o711)  # the postgres user (when run as root) reaches its folder
    pgdir = os.path.join(tmp, "pg")
    os.mkdir(pgdir)
    pg = Pg(pgdir)
    a = b = None
    devs = []  # every shopd started, stopped at the end
    ok = False
    try:
        uri = pg.start()
        a = device(tmp, "a", uri)
        devs.append(a)
        b = device(tmp, "b", uri)
        devs.append(b)
        st_a, st_b = store_status(a), store_status(b)
        tap.check(st_a["backend"] == "postgresql" and st_a["connected"] and st_a["outbox"] == 0,
                  f"A: status shows the postgresql backend, connected, outbox 0 ({st_a})")
        tap.check(st_b["backend"] == "postgresql" and st_b["connected"],
                  "B: status shows the postgresql backend, connected")
        cat = a.client.request("catalogue", {"op": "list", "category": "boot", "limit": 1000})
        boots = sorted(i["id"] for i in cat["items"] if i["in_stock"])
        tap.check(len(boots) >= 3, f"the catalogue has boots in stock ({len(boots)})")
        if args.soak:
            soaked = soak(pg, a, boots[0], args.soak)
            tap.check(soaked, f"soak: {args.soak} outages, no accepted event lost or duplicated")
        else:
            devices_and_outage(tap, pg, a, b, boots, devs)
        ok = True
    except Exception as e:
        tap.check(False, f"unexpected: {type(e).__name__}: {e}")
    finally:
        for d in devs:
            if d.proc:
                log = d.log_tail(30)
                rc = d.stop()
                tap.check(rc == 0, f"shopd {os.path.basename(d.tmp)} stops with exit status 0")
                if not ok or not all(r[0] for r in tap.results):
                    print(log)
        try:
            pg.stop("fast")
        except subprocess.CalledProcessError as e:
            print(f"# stopping the server: {e.stderr}")
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(tap.finish())


def devices_and_outage(tap, pg, a, b, boots, devs):
    # 1. a purchase at A reaches B's answer within 1 s
    c1 = f"{TAG}-c1"
    x = boots[0]
    tap.check(boots_for(b, c1) == set(boots),
              "B: before, the boots for a new customer are every boot in stock")
    rep = purchase(a.client, c1, x, "kiosk-a")
    t0 = time.monotonic()
    want = set(boots) - {x}
    got = wait_for(lambda: (lambda s: s if s == want else None)(boots_for(b, c1)), 1.0)
    dt = time.monotonic() - t0
    tap.check(rep["recorded"] and rep["queued"] is False and rep["event_id"] > 0,
              f"A: the purchase is recorded in the server (event {rep.get('event_id')})")
    tap.check(got == want and dt <= 1.0,
              f"B: within 1 s of A's acknowledgement ({dt * 1000:.0f} ms) the boots for "
              f"the buyer are every boot in stock but {x}")

    # ... and a checkout's purchases too
    c3, z = f"{TAG}-c3", boots[3]
    a.client.request("cart", {"op": "add", "item": z, "customer": c3}, session="kiosk-c")
    rep = a.client.request("cart", {"op": "checkout"}, session="kiosk-c")
    t0 = time.monotonic()
    want3 = set(boots) - {z}
    got = wait_for(lambda: (lambda s: s if s == want3 else None)(boots_for(b, c3)), 1.0)
    dt = time.monotonic() - t0
    tap.check(rep["bought_lines"] == 1 and got == want3 and dt <= 1.0,
              f"B: within 1 s of A's checkout ({dt * 1000:.0f} ms) the boots for its buyer are "
              f"every boot in stock but {z}")

    # 2. the server stops; A keeps answering and queues events
    pg.stop("immediate")
    st = wait_for(lambda: (lambda s: s if not s["connected"] else None)(store_status(a)), 30)
    tap.check(st and st["connected"] is False and st["outbox"] == 0,
              f"A: status says the store is not connected ({st})")
    item = a.client.request("catalogue", {"op": "get", "id": x})["item"]
    tap.check(item["id"] == x and item["category"] == "boot",
              "A: the catalogue answers from the offline copy")
    tap.check(boots_for(a, c1) == want, "A: recommendations answer from memory")
    n = 20
    c2 = f"{TAG}-c2"
    y = boots[1]
    uids, customers = [], []
    acks = []
    for i in range(n):
        cust = c2 if i == 0 else f"{TAG}-q{i}"
        r = purchase(a.client, cust, y if i == 0 else boots[2], "kiosk-a")
        acks.append(r)
        uids.append(r["uid"])
        customers.append(cust)
    tap.check(all(r["recorded"] and r["queued"] is True and r["event_id"] is None
                  for r in acks), f"A: {n} events acknowledged as queued")
    st = store_status(a)
    tap.check(st["outbox"] == n and not st["connected"],
              f"A: status shows the outbox holding {n} ({st['outbox']})")
    tap.check(boots_for(a, c2) == set(boots) - {y},
              "A: a purchase queued during the outage counts in A's answers at once")
    cart = a.client.request("cart", {"op": "add", "item": boots[2], "customer": c2},
                            session="kiosk-a")
    tap.check(cart["count"] == 1, "A: a cart works during the outage (offline copy)")
    ans = a.client.request("text", {"text": "show me boots"}, session="kiosk-t", timeout=20)
    recs = [r["item"] for r in ans["recommendations"]["results"]]
    tap.check(ans["intent"].get("text") == "search{category=boot}" and recs
              and set(recs) <= set(boots),
              f"A: a typed request is answered during the outage (boots in stock: {recs[:3]}...)")

    # 3. the server is back: the outbox empties, each event stored once
    pg.start()
    st = wait_for(lambda: (lambda s: s if s["connected"] and s["outbox"] == 0 else None)(
        store_status(a)), 120)
    tap.check(st is not None, f"A: connected again, the outbox empty ({store_status(a)})")
    lost, dup = counts(pg, customers, uids)
    tap.check(lost == 0 and dup == 0,
              f"the server holds each of the {n} accepted events exactly once "
              f"(lost {lost}, duplicated {dup})")
    stored = pg.psql(f"SELECT count(*) FROM interactions WHERE uid IN "
                     f"({','.join(repr(u) for u in uids)})").strip()
    tap.check(stored == str(n), f"psql: {stored} rows with those {n} uids")
    lines = pg.psql("SELECT item, quantity FROM carts WHERE session = 'kiosk-a'").split()
    tap.check(lines == [f"{boots[2]}|1"],
              f"the cart line added during the outage is merged into the server ({lines})")
    got = wait_for(lambda: (lambda s: s if s == set(boots) - {y} else None)(
        boots_for(b, c2)), 30)
    tap.check(got == set(boots) - {y},
              "B: the purchase made at A during the outage shows in B's answer")
    tap.check(boots_for(a, c2) == set(boots) - {y}, "A: its answer unchanged after the forward")
    # every event counts once in each engine: the events it holds are the server's rows
    rows = int(pg.psql("SELECT count(*) FROM interactions").strip())
    for name, dev in (("A", a), ("B", b)):
        wait_for(lambda: dev.client.request("status")["recommend"]["events"] == rows, 30)
        held = dev.client.request("status")["recommend"]["events"]
        tap.check(held == rows, f"{name}: its engine holds {held} events, the server {rows} "
                  f"(the queued ones counted once)")

    # 4. A restarted while the server is down starts from its offline copy
    rc = a.stop()
    tap.check(rc == 0, "A: stops with exit status 0")
    pg.stop("immediate")
    a = h.Shopd(a.tmp)
    devs.append(a)
    spawn(a, pg.uri)
    st = store_status(a)
    tap.check(not st["connected"] and st["backend"] == "postgresql",
              f"A: started offline while the server is down ({st})")
    item = a.client.request("catalogue", {"op": "get", "id": x})["item"]
    tap.check(item["id"] == x, "A (offline start): the catalogue answers from the offline copy")
    c4, w = f"{TAG}-c4", boots[4]
    r = purchase(a.client, c4, w, "kiosk-a")
    tap.check(r["queued"] is True, "A (offline start): a purchase is acknowledged as queued")
    try:
        boots_for(a, c4)
        refused = None
    except h.frontend.ShopdError as e:
        refused = e.code
    tap.check(refused == "not_available",
              f"A (offline start): recommendations answer not_available until the server "
              f"answers ({refused})")
    cart = a.client.request("cart", {"op": "add", "item": boots[5], "customer": c4},
                            session="kiosk-r")
    tap.check(cart["count"] == 1, "A (offline start): a cart works")
    # restarted once more, still offline: the session used is remembered in the outbox
    tap.check(a.stop() == 0, "A: stops with exit status 0 (still offline)")
    a = h.Shopd(a.tmp)
    devs.append(a)
    spawn(a, pg.uri)
    tap.check(not store_status(a)["connected"], "A: starts offline again")
    pg.start()
    got = wait_for(lambda: (lambda s: s if s == set(boots) - {w} else None)(
        boots_for_or_none(a, c4)), 120)
    tap.check(got == set(boots) - {w},
              "A: once the server answers, its engine starts and counts the queued purchase")
    st = store_status(a)
    lost, dup = counts(pg, [c4], [r["uid"]])
    tap.check(st["connected"] and st["outbox"] == 0 and lost == 0 and dup == 0,
              "A: the purchase queued before it ever connected is in the server once")
    lines = wait_for(lambda: pg.psql("SELECT item, quantity FROM carts WHERE session = "
                                     "'kiosk-r'").split(), 30)
    tap.check(lines == [f"{boots[5]}|1"],
              f"the cart line added offline before a restart is merged into the server ({lines})")


def boots_for_or_none(dev, customer):
    try:
        return boots_for(dev, customer)
    except h.frontend.ShopdError:
        return None


if __name__ == "__main__":
    main()
