"""tests/shopd_py_harness.py: what the Python tests (e2e_flow.py,
daemon_systemd.py, ipc_frontend.py) and bench/e2e_bench.py share: the build's paths, TAP
output, and one shopd under test on ipc endpoints in a temporary directory.

    import shopd_py_harness as h      # after sys.path has $SHOP_TOP_SRCDIR/tests
    tap = h.Tap()
    d = h.Shopd(tmp, conf="[store]\\nimport_demo = no\\n")
    d.start(topics=("recommendations",))
    tap.check(d.client.request("status")["pid"] == d.proc.pid, "status answers")
    tap.check(d.stop() == 0, "SIGTERM: exit status 0")
    sys.exit(tap.finish())

Exits 77 (skipped) at import when python3-zmq is missing."""

import os
import signal
import socket
import subprocess
import sys
import time

try:
    import zmq  # noqa: F401
except ImportError:
    print("1..0 # SKIP python3-zmq is not installed")
    sys.exit(77)

TOP_SRC = os.environ.get("SHOP_TOP_SRCDIR", ".")
TOP_BUILD = os.environ.get("SHOP_TOP_BUILDDIR", ".")
DATADIR = os.environ.get("SHOPD_DATADIR", TOP_SRC)
SHOPD = os.path.join(TOP_BUILD, "shopd")
sys.path.insert(0, os.path.join(TOP_SRC, "examples"))
import frontend  # noqa: E402


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Tap:
    """Checks collected during a run, printed as TAP at the end."""

    def __init__(self):
        self.results = []

    def check(self, cond, what):
        self.results.append((bool(cond), what, None))

    def skip(self, what, why):
        self.results.append((True, what, why))

    def finish(self):
        """Prints the plan and the results; returns the exit status."""
        print(f"1..{len(self.results)}")
        for i, (ok, what, why) in enumerate(self.results, 1):
            print(f"{'ok' if ok else 'not ok'} {i} - {what}" + (f" # SKIP {why}" if why else ""))
        return 0 if all(ok for ok, _, _ in self.results) else 1


class Shopd:
    """A shopd (the build's, or binary) whose files (config, database,
    sockets, log) live in tmp."""

    def __init__(self, tmp, conf="", binary=None):
        self.tmp = tmp
        self.binary = binary or SHOPD
        self.ep = f"ipc://{tmp}/req.sock"
        self.pub = f"ipc://{tmp}/events.sock"
        self.conf = os.path.join(tmp, "shopd.conf")
        self.log = os.path.join(tmp, "shopd.log")
        self.db = os.path.join(tmp, "shop.db")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = self.client = self.events = None

    def spawn(self, args=None, env=None):
        """Starts shopd with args (default: in the foreground on this
        directory's config, endpoints and database), its output appended to
        the log. Returns the process, also kept in self.proc."""
        if args is None:
            args = ["--foreground", "--config", self.conf, "--endpoint", self.ep,
                    "--pub-endpoint", self.pub, "--db", self.db]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([self.binary] + args, stdout=log, stderr=log, env=env)
        return self.proc

    def start(self, topics=(), seconds=120):
        """spawn(), then connect(topics, seconds). Returns status."""
        self.spawn()
        return self.connect(topics, seconds)

    def connect(self, topics=(), seconds=120, curve=None, ep=None, pub=None):
        """Waits until the shopd spawned answers status on ep (default the
        ipc endpoint; it indexes the catalogue photos first), with a CURVE
        client when curve is (server public, public, secret), and subscribes
        to topics on pub. Returns status."""
        self.ep, self.pub = ep or self.ep, pub or self.pub
        end = time.monotonic() + seconds
        if self.ep.startswith("ipc://"):
            # wait for the socket file before asking: requests sent earlier
            # queue up in the client and shopd would answer every one of them
            sock = self.ep[len("ipc://"):]
            while not os.path.exists(sock):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"shopd exited at start ({self.proc.returncode})")
                if time.monotonic() > end:
                    raise RuntimeError(f"shopd did not listen within {seconds} s")
                time.sleep(0.05)
        # TCP: one request with a long timeout waits in the client until
        # shopd listens (quick retries would queue up, as above)
        self.client = frontend.ShopClient(self.ep, curve=curve)
        status = self.client.request("status", timeout=max(5.0, end - time.monotonic()))
        if topics:
            self.events = frontend.EventStream(self.pub, topics=topics)
            time.sleep(0.3)  # the subscription reaches the PUB socket
        return status

    def stop(self, sig=signal.SIGTERM):
        """Closes the sockets, sends sig, waits; returns the exit status."""
        for s in (self.events, self.client):
            if s:
                s.close()
        self.events = self.client = None
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=20)
        self.proc = None
        return rc

    def kill(self):
        """SIGKILL and reap, when running (clean-up after a failure)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_tail(self, lines=20):
        """The last lines of the log, as TAP comments."""
        try:
            with open(self.log) as f:
                return "".join("# " + line for line in f.readlines()[-lines:])
        except OSError:
            return ""

    def ask(self, session, type_, body=None, frames=()):
        """Sends a request; returns (reply body, {event type: body}) with the
        events published on session for it (the answer event comes last;
        needs start(topics=...) with "answer")."""
        reply = self.client.request(type_, body or {}, session=session, frames=frames,
                                    timeout=10)
        seen = {}
        deadline = time.monotonic() + 5
        while "answer" not in seen and time.monotonic() < deadline:
            ev = self.events.next(timeout=1)
            if ev and ev[1].get("session") == session:
                seen[ev[0]] = ev[1]["body"]
        return reply, seen
