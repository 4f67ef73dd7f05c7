"""tests/shopd_py_harness.py: what the Python tests (e2e_flow.py,
daemon_systemd.py, ipc_frontend.py, daemon_web.py, ...) and the Python benchmarks share: the
build's paths, TAP output, one shopd under test on ipc endpoints in a temporary directory,
and a WebSocket client for its kiosk page bridge (Ws).

    import shopd_py_harness as h      # after sys.path has $SHOP_TOP_SRCDIR/tests
    tap = h.Tap()
    d = h.Shopd(tmp, conf="[store]\\nimport_demo = no\\n")
    d.start(topics=("recommendations",))
    tap.check(d.client.request("status")["pid"] == d.proc.pid, "status answers")
    tap.check(d.stop() == 0, "SIGTERM: exit status 0")
    sys.exit(tap.finish())

Exits 77 (skipped) at import when python3-zmq is missing."""

import base64
import json
import os
import signal
import socket
import struct
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


class Ws:
    """A WebSocket client (RFC 6455) on a plain socket, for the bridge."""

    def __init__(self, port, query):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET /ws?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: shopd-kiosk\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(4096)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
        self.buf = head.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in head else b""

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                               bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                               bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """The next text message as JSON (None when the server closed)."""
        try:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            data = self._read(n)
        except (EOFError, OSError):
            return None
        if b0 & 0x0F == 8:
            return None
        return json.loads(data)

    def until(self, cond):
        """Messages until one for which cond is true; returns it (or None)."""
        while True:
            m = self.recv()
            if m is None or cond(m):
                return m

    def ask(self, id_, type_, body, answer=True):
        """Sends a request; returns (its reply, the answer event on the
        session), either None when it did not come; with answer False, only
        the reply is waited for. The two come on two sockets inside shopd:
        either may be first."""
        self.send(json.dumps({"id": id_, "type": type_, "body": body}))
        rep = ev = None
        while self.status == 101 and (rep is None or (answer and ev is None)):
            m = self.recv()
            if m is None:
                break
            if m.get("kind") == "reply":
                rep = m
            elif m.get("kind") == "event" and m["event"]["type"] == "answer":
                ev = m
        return rep, ev

    def close(self):
        self.s.close()


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
            self._await_subscription(topics, end)
        return status

    def _await_subscription(self, topics, end):
        """Returns once the subscription has reached shopd's PUB socket (a
        new subscriber misses what is published before): typed "help" on a
        probe session of its own until that probe's answer event arrives.
        Earlier probes' events, and anything else before, are consumed."""
        # the stream hears every session's events and keeps the types asked
        # for: the probe's answer is kept too while probing
        extra = bool(self.events.types) and "answer" not in self.events.types
        if extra:
            self.events.types.add("answer")
        n = 0
        while True:
            n += 1
            probe = f"harness-probe-{os.getpid()}-{n}"
            self.client.request("text", {"text": "help"}, session=probe, timeout=10)
            wait = time.monotonic() + 0.5
            seen = False
            while not seen and time.monotonic() < wait:
                ev = self.events.next(timeout=0.1)
                seen = bool(ev) and ev[0] == "answer" and ev[1].get("session") == probe
            if seen:
                break
            if time.monotonic() > end:
                raise RuntimeError("the event subscription did not reach shopd")
        if extra:
            self.events.types.discard("answer")

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
