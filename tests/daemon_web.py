#!/usr/bin/python3
"""tests/daemon_web.py: the kiosk page through a real shopd --web and
Debian's headless chromium: after a typed request on session S, the page
/?session=S shows the first recommended product of the reply; a request
typed into the page's WebSocket goes through shopd's protocol; bad messages
get an error and the connection stays; a token is required when
configured, and a non-loopback address without one is refused. Prints TAP."""

import html.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.environ.get("SHOP_TOP_SRCDIR", "."), "tests"))
import shopd_py_harness as h  # noqa: E402  (exits 77 without python3-zmq)

CHROMIUM = shutil.which("chromium")
if not os.access(h.SHOPD, os.X_OK):
    print(f"1..0 # SKIP {h.SHOPD} not built")
    sys.exit(77)

tap = h.Tap()
check = tap.check
SHOPDS = []  # every shopd started, killed at the end if still running


class FirstRec(html.parser.HTMLParser):
    """The text of the first .name inside <ol id="recs"> of a dumped DOM."""

    def __init__(self):
        super().__init__()
        self.in_recs = self.in_name = False
        self.name = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "ol" and a.get("id") == "recs":
            self.in_recs = True
        elif self.in_recs and self.name is None and "name" in (a.get("class") or "").split():
            self.in_name = True
            self.name = ""

    def handle_endtag(self, tag):
        if tag == "ol":
            self.in_recs = False
        if tag == "span":
            self.in_name = False

    def handle_data(self, data):
        if self.in_name:
            self.name += data


def page_first_rec(url, profile):
    """Loads url in headless chromium (scripts run, the WebSocket talks) and
    returns the first recommended product name the page shows, or None."""
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage",
                        "--no-first-run", f"--user-data-dir={profile}",
                        "--virtual-time-budget=5000", "--dump-dom", url],
                       capture_output=True, text=True, timeout=120)
    p = FirstRec()
    p.feed(r.stdout)
    return p.name


def web_tests(tmp):
    port = h.free_port()
    d = h.Shopd(tmp, conf="[daemon]\nstatus_interval = 0\n")
    SHOPDS.append(d)
    d.spawn(["--foreground", "--config", d.conf, "--endpoint", d.ep, "--pub-endpoint", d.pub,
             "--db", d.db, "--web", f"127.0.0.1:{port}"])
    st = d.connect()
    check(st.get("web", {}).get("port") == port, f"status names the kiosk page's port {port}")

    # the requester's reply is the reference the page must agree with
    reply = d.client.request("text", {"text": "show me sneakers"}, session="kiosk-web")
    first = reply["recommendations"]["results"][0]["name"]
    url = f"http://127.0.0.1:{port}/?session=kiosk-web"
    if not CHROMIUM:
        check(False, "chromium is installed (scripts/setup installs it)")
    else:
        shown, deadline = None, time.monotonic() + 120
        while shown != first and time.monotonic() < deadline:
            shown = page_first_rec(url, os.path.join(tmp, "profile"))
        check(shown == first, f"the page of the session shows the first recommendation "
                              f"({shown!r}, reply: {first!r})")

    with open(os.path.join(h.TOP_SRC, "data/demo/photos/boot-01.png"), "rb") as f:
        want = f.read()
    got = urllib.request.urlopen(f"http://127.0.0.1:{port}/photo/photos/boot-01.png",
                                 timeout=20).read()
    check(got == want, "a catalogue photo is served at /photo/")

    # the page's typed request, through the WebSocket
    ws = h.Ws(port, "session=kiosk-ws")
    check(ws.status == 101, f"the WebSocket opens for a session ({ws.status})")
    rep, ev = ws.ask(7, "text", {"text": "show me bags"})
    ok = rep and rep["id"] == 7 and rep["reply"]["ok"]
    res = rep["reply"]["body"]["recommendations"]["results"] if ok else []
    check(ok and res and all(r["category"] == "bag" for r in res),
          "a text request from the page is answered through shopd's protocol")
    check(ev and ev["event"]["session"] == "kiosk-ws"
          and ev["event"]["body"]["recommendations"] == rep["reply"]["body"]["recommendations"],
          "and the page gets its session's events, the answer the same as the reply")
    for bad, why in (("not json", "not JSON"), ('{"id": -1, "type": "text"}', "a bad id"),
                     ('{"id": 1, "type": "audio"}', "a type with frames"),
                     ('{"id": 1, "type": "text", "body": []}', "a body not an object")):
        ws.send(bad)
        m = ws.until(lambda m: m.get("kind") in ("error", "reply"))
        check(m and m["kind"] == "error" and m["message"], f"{why} gets an error message")
    ws.send(json.dumps({"id": 8, "type": "status"}))
    m = ws.until(lambda m: m.get("kind") == "reply")
    check(m and m["id"] == 8 and m["reply"]["ok"], "the connection still serves after them")
    ws.close()
    bad = h.Ws(port, "session=no%20spaces")
    check(bad.status != 101, f"a WebSocket with a bad session id is refused ({bad.status})")
    bad.close()
    check(d.stop() == 0, "SIGTERM: exit status 0 with the kiosk page running")

    # a fresh shopd on the same database: the bridge has seen no answer, the
    # page gets the session's state from the session request
    port = h.free_port()
    d.spawn(["--foreground", "--config", d.conf, "--endpoint", d.ep, "--pub-endpoint", d.pub,
             "--db", d.db, "--web", f"127.0.0.1:{port}"])
    d.connect()
    # the reference: the session's state as the protocol answers it just
    # before and just after the page opens (its recommendations are queried
    # afresh, and the store has moved on since: a load of the page counts
    # only while the state holds still around it)
    def session_first():
        state = d.client.request("session", {}, session="kiosk-web")
        return state["recommendations"]["results"][0]["name"]
    if CHROMIUM:
        url = f"http://127.0.0.1:{port}/?session=kiosk-web"
        shown, refs, deadline = None, (None, None), time.monotonic() + 120
        while time.monotonic() < deadline:
            before = session_first()
            shown = page_first_rec(url, os.path.join(tmp, "profile"))
            refs = (before, session_first())
            if shown == refs[0] == refs[1]:
                break
        check(shown == refs[0] == refs[1],
              f"after a restart the page opens on the session's state ({shown!r}, session "
              f"request before and after: {refs[0]!r}, {refs[1]!r}, before the restart: {first!r})")
    check(d.stop() == 0, "SIGTERM: exit status 0")


def token_tests(tmp):
    port = h.free_port()
    d = h.Shopd(tmp, conf=f"[store]\nimport_demo = no\n[web]\nlisten = 127.0.0.1:{port}\n"
                          "token = s3cret-kiosk\n")
    SHOPDS.append(d)
    d.start()
    ws = h.Ws(port, "session=k")
    check(ws.status != 101, f"with a token configured, a page without it is refused ({ws.status})")
    ws.close()
    ws = h.Ws(port, "session=k&token=wrong")
    check(ws.status != 101, "and one with a wrong token")
    ws.close()
    ws = h.Ws(port, "session=k&token=s3cret-kiosk")
    ws.send(json.dumps({"id": 1, "type": "status"}))
    m = ws.until(lambda m: m.get("kind") == "reply") if ws.status == 101 else None
    check(m and m["reply"]["ok"], "the right token opens it")
    ws.close()
    check(d.stop() == 0, "SIGTERM: exit status 0")
    conf = os.path.join(tmp, "open.conf")
    with open(conf, "w") as f:
        f.write("[web]\nlisten = 0.0.0.0:8080\n")
    r = subprocess.run([h.SHOPD, "--check-config", "--config", conf], capture_output=True,
                       text=True)
    check(r.returncode != 0 and "without a token" in r.stderr,
          "a non-loopback kiosk page without a token is refused at start")


def curve_tests(tmp):
    """With CURVE on, the bridge's own sockets get a key the ZAP handler
    admits: a page's requests and its session's events still flow."""
    shopctl = os.path.join(h.TOP_BUILD, "shopctl")
    for name in ("server", "client"):
        subprocess.run([shopctl, "keygen", os.path.join(tmp, name)], check=True,
                       capture_output=True, timeout=10)
    with open(os.path.join(tmp, "allow"), "w") as f:
        f.write(open(os.path.join(tmp, "client.pub")).read())
    port = h.free_port()
    d = h.Shopd(tmp, conf=(f"[curve]\nsecret_key_file = {tmp}/server.key\n"
                           f"allow_list = {tmp}/allow\n[store]\nimport_demo = no\n"
                           f"[web]\nlisten = 127.0.0.1:{port}\n"))
    SHOPDS.append(d)
    d.spawn()
    spub, _ = h.frontend.read_key_file(os.path.join(tmp, "server.pub"))
    cpub, csec = h.frontend.read_key_file(os.path.join(tmp, "client.key"))
    st = d.connect(curve=(spub, cpub, csec))
    check(st.get("curve") is True and st.get("allowed_keys") == 1,
          "CURVE on, one client key allowed")
    ws = h.Ws(port, "session=kiosk-curve")
    rep, ev = ws.ask(3, "text", {"text": "help"})
    check(rep and rep["id"] == 3 and rep["reply"]["ok"] and ev
          and ev["event"]["body"]["say"] == rep["reply"]["body"]["say"],
          "the page's request and its event pass the bridge's CURVE sockets")
    ws.close()
    st = d.client.request("status")
    check(st["allowed_keys"] == 1 and st["refused_connections"] == 0,
          "the bridge's key is not on the allow-list and nothing was refused")
    check(d.stop() == 0, "SIGTERM: exit status 0")


def main():
    tmp = tempfile.mkdtemp(prefix="shopd-web-")
    try:
        for i, t in enumerate((web_tests, token_tests, curve_tests)):
            sub = os.path.join(tmp, str(i))
            os.mkdir(sub)
            t(sub)
    finally:
        for d in SHOPDS:
            d.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
