#!/usr/bin/python3
"""A shopd frontend in Python (Debian's python3-zmq), speaking protocol 1.

It shows that the protocol of docs/protocol.md is usable outside C: a kiosk
or a smart speaker needs nothing but a DEALER socket for requests and a SUB
socket for events. Usage:

    frontend.py [--endpoint EP] [--events EP] [--session ID]
                [--key FILE --server-key FILE] COMMAND [ARGS]

COMMAND covers every request type of the protocol:

    status
    catalogue [CATEGORY] | catalogue-get ID | categories
    event CUSTOMER ITEM view|cart|purchase [QTY]
    cart | cart-add ITEM [QTY] | cart-set ITEM QTY | cart-remove ITEM
         | cart-clear | checkout [CUSTOMER]
    recommend [key=value ...]        e.g. customer=c0042 category=bag limit=5
    similar ITEM [key=value ...]
    text WORDS... [key=value ...]    a typed request, e.g. text show me bags under 50
    audio FILE | photo FILE          a spoken request, a product photo
    look                             what shopd's own camera sees (shopd --camera)
    session                          the session's state (cart, recommendations)
    watch [N]                        print events
"""

import argparse
import json
import os
import sys
import time
import uuid

import zmq

PROTOCOL_VERSION = 1


class ShopdError(Exception):
    """An error reply from shopd: code is the stable name ("not_found", ...)."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def read_key_file(path):
    """Returns (public, secret) Z85 keys from a shopctl keygen file; secret
    is None for a .pub file."""
    keys = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, value = line.split("=", 1)
            keys[name.strip()] = value.strip()
    return keys.get("public-key"), keys.get("secret-key")


def default_endpoint(events=False):
    """The endpoint shopd listens on by default for this user (as shopctl)."""
    name = "events.sock" if events else "shopd.sock"
    if os.geteuid() == 0:
        return f"ipc:///run/shopd/{name}"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and xdg.startswith("/"):
        return f"ipc://{xdg}/shopd/{name}"
    return f"ipc:///tmp/shopd-{os.geteuid()}/{name}"


class ShopClient:
    """Requests on a DEALER socket; each reply is matched by its request id,
    so a late reply to a request that timed out is never taken for another."""

    def __init__(self, endpoint, curve=None, context=None):
        self.ctx = context or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve:
            server_public, public, secret = curve
            self.sock.curve_serverkey = server_public.encode()
            self.sock.curve_publickey = public.encode()
            self.sock.curve_secretkey = secret.encode()
        self.sock.connect(endpoint)

    def request(self, type_, body=None, session=None, frames=(), timeout=5.0):
        """Sends one request and returns the reply body (a dict); raises
        ShopdError for an error reply and TimeoutError when none comes."""
        rid = uuid.uuid4().hex
        env = {"v": PROTOCOL_VERSION, "id": rid, "type": type_, "body": body or {}}
        if session:
            env["session"] = session
        self.sock.send_multipart([json.dumps(env).encode()] + list(frames))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                raise TimeoutError(f"no reply to {type_} within {timeout} s")
            reply = json.loads(self.sock.recv_multipart()[0])
            if reply.get("id") != rid:
                continue  # a late reply to an earlier request
            if reply.get("ok"):
                return reply.get("body", {})
            err = reply.get("error", {})
            raise ShopdError(err.get("code"), err.get("message"))

    def close(self):
        self.sock.close()


class EventStream:
    """The event side of shopd: yields (type, envelope) pairs.

    Topics are "@SESSION/TYPE" for a session's events and "TYPE" for the
    daemon's own (status). With a session, subscribes to that session's
    events of the given types (all when none) and to status; without one,
    to every session (an operator's view, refused by shopd to other clients),
    filtering the types here."""

    def __init__(self, endpoint, topics=(), curve=None, context=None, session=None):
        self.ctx = context or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve:
            server_public, public, secret = curve
            self.sock.curve_serverkey = server_public.encode()
            self.sock.curve_publickey = public.encode()
            self.sock.curve_secretkey = secret.encode()
        self.types = set(t for t in topics if t)
        subs = []
        if session:
            subs = ["@%s/%s" % (session, t) for t in self.types] or ["@%s/" % session]
            if not self.types or "status" in self.types:
                subs.append("status")
        elif not self.types:
            subs = [""]
        else:
            subs = ["@"] + sorted(self.types)
        for t in subs:
            self.sock.setsockopt(zmq.SUBSCRIBE, t.encode())
        self.sock.connect(endpoint)

    def next(self, timeout=5.0):
        """The next (type, envelope) of the types asked for, or None after
        timeout seconds."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                return None
            topic, env = self.sock.recv_multipart()[:2]
            topic = topic.decode()
            if topic.startswith("@") and "/" in topic:
                topic = topic.split("/", 1)[1]
            if not self.types or topic in self.types:
                return topic, json.loads(env)

    def close(self):
        self.sock.close()


def kv_body(words):
    """key=value words as a body: numbers and true/false become JSON ones."""
    body = {}
    for w in words:
        k, _, v = w.partition("=")
        for conv in (int, float):
            try:
                body[k] = conv(v)
                break
            except ValueError:
                pass
        else:
            body[k] = {"true": True, "false": False}.get(v, v)
    return body


def is_kv(word):
    k, eq, _ = word.partition("=")
    return bool(eq and k) and all(c.islower() or c.isdigit() or c == "_" for c in k)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", default=os.environ.get("SHOPD_ENDPOINT") or default_endpoint())
    ap.add_argument("--events", default=os.environ.get("SHOPD_EVENTS_ENDPOINT")
                    or default_endpoint(events=True))
    ap.add_argument("--session", default="python-kiosk")
    ap.add_argument("--key", help="client key pair file (shopctl keygen)")
    ap.add_argument("--server-key", help="server public key file")
    ap.add_argument("command")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args(argv)

    curve = None
    if a.key:
        public, secret = read_key_file(a.key)
        server_public, _ = read_key_file(a.server_key)
        curve = (server_public, public, secret)

    if a.command == "watch":
        # the kiosk's own session (its events and status); an operator may
        # pass --session "" to watch every session
        stream = EventStream(a.events, curve=curve, session=a.session or None)
        limit = int(a.args[0]) if a.args else 0
        seen = 0
        while not limit or seen < limit:
            ev = stream.next(timeout=3600)
            if ev:
                print(ev[0], json.dumps(ev[1]), flush=True)
                seen += 1
        return 0

    client = ShopClient(a.endpoint, curve=curve)
    try:
        c, args, sess = a.command, a.args, a.session
        if c == "status":
            body = client.request("status")
        elif c == "catalogue":
            req = {"op": "list"}
            if args:
                req["category"] = args[0]
            body = client.request("catalogue", req)
        elif c == "catalogue-get":
            body = client.request("catalogue", {"op": "get", "id": args[0]})
        elif c == "categories":
            body = client.request("catalogue", {"op": "categories"})
        elif c == "event":
            req = {"customer": args[0], "item": args[1], "kind": args[2]}
            if len(args) > 3:
                req["quantity"] = int(args[3])
            body = client.request("event", req, session=sess)
        elif c == "cart":
            body = client.request("cart", {"op": "get"}, session=sess)
        elif c in ("cart-add", "cart-set"):
            qty = int(args[1]) if len(args) > 1 else 1
            body = client.request("cart", {"op": c[5:], "item": args[0], "quantity": qty},
                                  session=sess)
        elif c == "cart-remove":
            body = client.request("cart", {"op": "remove", "item": args[0]}, session=sess)
        elif c == "cart-clear":
            body = client.request("cart", {"op": "clear"}, session=sess)
        elif c == "checkout":
            req = {"op": "checkout"}
            if args:
                req["customer"] = args[0]
            body = client.request("cart", req, session=sess)
        elif c == "recommend":
            body = client.request("recommend", kv_body(args), session=sess)
        elif c == "similar":
            body = client.request("similar", dict(kv_body(args[1:]), item=args[0]),
                                  session=sess)
        elif c == "text":
            req = kv_body([w for w in args if is_kv(w)])
            req["text"] = " ".join(w for w in args if not is_kv(w))
            body = client.request("text", req, session=sess)
        elif c == "look":
            # what shopd's own camera sees (shopd --camera); answered on its session
            body = client.request("look", timeout=30.0)
        elif c in ("photo", "audio"):
            with open(args[0], "rb") as f:
                data = f.read()
            body = client.request(c, {"name": args[0]}, session=sess, frames=[data])
        elif c == "session":
            body = client.request("session", {}, session=sess)
        else:
            ap.error(f"unknown command {a.command}")
    except ShopdError as e:
        print(f"frontend.py: {e}", file=sys.stderr)
        return 1
    except TimeoutError as e:
        print(f"frontend.py: {e}", file=sys.stderr)
        return 3
    finally:
        client.close()
    print(json.dumps(body, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
