#!/usr/bin/python3
"""tests/daemon_newuser.py: the rough edges a new user hits, through a real
shopd and shopctl: the process names (pgrep -x shopd, the decoder worker),
the OpenBLAS kernel note, a bad model file's error, shopctl's options and
key=value words, typed plurals and price bounds, a follow-up "add two boots"
after another category, the spoken answers, refusals of bad requests, AIFF
audio. Prints TAP."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("SHOP_TOP_SRCDIR", "."), "tests"))
import shopd_py_harness as h  # noqa: E402  (exits 77 without python3-zmq)

import zmq  # noqa: E402

SHOPCTL = os.path.join(h.TOP_BUILD, "shopctl")
SHOP_EVAL = os.path.join(h.TOP_BUILD, "shop-eval")
if not os.access(h.SHOPD, os.X_OK) or not os.access(SHOPCTL, os.X_OK):
    print("1..0 # SKIP shopd or shopctl not built")
    sys.exit(77)

tap = h.Tap()
check = tap.check
SHOPDS = []


def shopctl(*args, env=None):
    r = subprocess.run([SHOPCTL] + list(args), capture_output=True, text=True, timeout=60,
                       env=env)
    return r.returncode, r.stdout, r.stderr


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            if int(st.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(p))
    return out


def process_tests(tmp):
    """A forced weaker OPENBLAS_CORETYPE makes shopd re-execute itself on
    any CPU with AVX or better: it must keep its name."""
    d = h.Shopd(tmp, conf="[store]\nimport_demo = no\n[models]\nkws = " +
                os.path.join(tmp, "bad.nn") + "\n")
    SHOPDS.append(d)
    with open(os.path.join(tmp, "bad.nn"), "wb") as f:
        f.write(b"not a model at all, just some bytes\n")
    env = dict(os.environ, OPENBLAS_CORETYPE="Prescott")
    env.pop("SHOPD_BLAS_CORETYPE", None)
    d.spawn(env=env)
    st = d.connect()
    check(comm(d.proc.pid) == "shopd", f"shopd's process is named shopd ({comm(d.proc.pid)})")
    pg = subprocess.run(["pgrep", "-x", "shopd"], capture_output=True, text=True).stdout.split()
    check(str(d.proc.pid) in pg, "pgrep -x shopd finds it")
    kids = [comm(p) for p in children(d.proc.pid)]
    check("shopd-decoder" in kids, f"its decoder worker is named shopd-decoder ({kids})")
    err = st["models"]["kws"].get("error", "")
    path = os.path.join(tmp, "bad.nn")
    check(err.count(path) == 1 and "not a shopd model file" in err,
          f"a bad model file's error names its path once ({err})")
    check(d.stop() == 0, "SIGTERM: exit status 0")
    with open(d.log) as f:
        notes = sum("OPENBLAS_CORETYPE=Prescott" in line for line in f)
    check(notes <= 1, f"the OpenBLAS kernel note is in the daemon's log at most once ({notes})")
    if os.access(SHOP_EVAL, os.X_OK):
        r = subprocess.run([SHOP_EVAL, "--help"], capture_output=True, text=True, env=env)
        check(" nn: " not in r.stdout + r.stderr, "a tool's --help prints no OpenBLAS note")
    r = subprocess.run([h.SHOPD, "--help"], capture_output=True, text=True, env=env)
    check(" nn: " not in r.stdout + r.stderr and "issue" not in r.stdout,
          "shopd --help: no OpenBLAS note, no issue numbers")
    texts = []
    for prog in ("shop-train", "shop-eval"):
        for sub in ([], ["audio"], ["vision"], ["recommend"]):
            path = os.path.join(h.TOP_BUILD, prog)
            if os.access(path, os.X_OK):
                r = subprocess.run([path] + sub + ["--help"], capture_output=True, text=True,
                                   env=env, timeout=60)
                texts.append(r.stdout + r.stderr)
    told = [m.group(0) for t in texts for m in re.finditer(r"(?i)\b(issue|session) \d+", t)]
    check(texts and not told, f"the tools' help texts name no issue or session ({told})")
    r = subprocess.run([SHOPCTL, "--help"], capture_output=True, text=True)
    check("issue" not in r.stdout and "-C, --compact" in r.stdout
          and "-c, --config FILE" in r.stdout, "shopctl --help: -c is the config as in shopd")


def cli_tests(d, tmp):
    rc, out, err = shopctl("status", "-C", "-e", d.ep)
    check(rc == 0 and out.count("\n") == 1 and json.loads(out)["pid"] == d.proc.pid,
          "shopctl status -C -e EP: options after the command")
    conf = os.path.join(tmp, "client.conf")
    with open(conf, "w") as f:
        f.write(f"[ipc]\nendpoint = {d.ep}\nevents_endpoint = {d.pub}\n")
    rc, out, err = shopctl("-c", conf, "-C", "status")
    check(rc == 0 and json.loads(out)["endpoint"] == d.ep,
          "shopctl -c FILE reaches the shopd that shopd's file describes")
    rc, out, err = shopctl("-e", d.ep, "-C", "-s", "nu-kv", "text", "show", "me", "bags",
                           "customer=c0100")
    a = json.loads(out) if rc == 0 else {}
    check(a.get("session", {}).get("customer") == "c0100"
          and a.get("intent", {}).get("heard_text") == "show me bags",
          "shopctl text WORDS customer=ID: the key=value word is a body field")
    rc, out, err = shopctl("-e", d.ep, "-C", "cart", "add", "bag-01", "3", "-s", "nu-neg")
    rc2, out2, err2 = shopctl("-e", d.ep, "-C", "-s", "nu-neg", "cart", "add", "bag-01", "-1")
    check(rc == 0 and rc2 == 0 and json.loads(out2)["count"] == 2,
          "a negative quantity stays an argument (cart add ITEM -1)")
    rc, out, err = shopctl("cart", "-Cs", "nu-cluster", "--endpoint", d.ep)
    check(rc == 0 and json.loads(out)["session"] == "nu-cluster",
          "a short option cluster and a long option with its value after the command")
    rc, out, err = shopctl("-e", d.ep, "status", "--frobnicate")
    check(rc == 2 and len(err.splitlines()) <= 2 and "--help" in err,
          "an unknown option: a short hint, not the whole usage")


ID = re.compile(r"\b[a-z]+-\d\d\b")   # a catalogue id read out ("dress-01")


def catalogue(d):
    return {i["id"]: i for i in d.client.request("catalogue", {"limit": 1000})["items"]}


def say_tests(d, tmp):
    items = catalogue(d)
    c = d.client
    names = [it["name"] for it in items.values()]
    twice = sorted({n for n in names if names.count(n) > 1})
    check(len(items) == 250 and not twice,
          f"the demo catalogue's 250 names are all different ({twice})")

    def text(session, words):
        return c.request("text", {"text": words}, session=session, timeout=20)

    a = text("nu-plural", "show me dresses")
    first = a["recommendations"]["results"][0]["name"]
    check(a["say"] == f"Here are dresses for you, starting with {first}.",
          f"plural answer: {a['say']!r}")
    a = text("nu-price", "show me bags under 50")
    res = a["recommendations"]["results"]
    cheap_bags = {i for i, it in items.items() if it["category"] == "bag" and it["price"] <= 50
                  and it["in_stock"]}
    check(a["intent"]["slots"] == {"category": "bag", "max_price": "50.00"} and res
          and all(r["item"] in cheap_bags for r in res),
          f"\"under 50\" filters the price ({len(res)} bags, all at most 50)")
    check(a["say"] == f"Here are bags under 50.00 for you, starting with {res[0]['name']}.",
          f"and says so: {a['say']!r}")

    text("nu-boots", "show me trousers")
    a = text("nu-boots", "add two boots to my cart")
    lines = a["cart"]["lines"]
    check(len(lines) == 1 and items[lines[0]["item"]]["category"] == "boot"
          and lines[0]["quantity"] == 2,
          f"\"add two boots\" after trousers adds two boots ({lines})")
    check(not ID.search(a["say"]), f"no id read out: {a['say']!r}")
    a = text("nu-boots", "similar")
    check(a["say"].startswith("Similar to ") and not ID.search(a["say"]),
          f"similar names the product, not its id: {a['say']!r}")
    cart = c.request("cart", {}, session="nu-boots")
    count = cart["count"]
    total = sum(items[l["item"]]["price"] * l["quantity"] for l in cart["lines"])
    text("nu-boots", "checkout")
    a = text("nu-boots", "yes")
    check(a["say"] == f"Done: you bought {count} item{'s' if count != 1 else ''} for "
                      f"{total:.2f}. Thank you!", f"checkout in words: {a['say']!r}")

    # a say on every reply a speaker may read out
    r = c.request("recommend", {"kind": "popular", "limit": 3})
    names = [x["name"] for x in r["results"]]
    check(r.get("say") == f"You might like {names[0]}, {names[1]} and {names[2]}.",
          f"recommend says: {r.get('say')!r}")
    r = c.request("similar", {"item": "bag-01", "limit": 1})
    check(r.get("say") == f"Similar to {items['bag-01']['name']}: {r['results'][0]['name']}.",
          f"similar says: {r.get('say')!r}")
    r = c.request("cart", {"op": "add", "item": "bag-01", "quantity": 2}, session="nu-say")
    check(r.get("say") == f"You have 2 of {items['bag-01']['name']} in your cart, 2 items in all.",
          f"cart says: {r.get('say')!r}")
    r = c.request("event", {"customer": "c0001", "item": "bag-01", "kind": "view"})
    check(r.get("say") == f"Noted: you looked at {items['bag-01']['name']}.",
          f"event says: {r.get('say')!r}")
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(d.ep)
    dealer.send_json({"v": 1, "id": "nu-1", "type": "catalogue",
                      "body": {"op": "get", "id": "nope-99"}})
    err = dealer.recv_json() if dealer.poll(10000) else {}
    dealer.close()
    check(err.get("error", {}).get("say") == "Sorry, I cannot find that.",
          f"an error reply says something too: {err.get('error')}")


def refusal_tests(d, tmp):
    c = d.client
    rc, out, err = shopctl("-e", d.ep, "recommend", "foo=bar")
    check(rc == 1 and 'no body field "foo"' in err and "invalid" in err,
          f"recommend foo=bar is refused: {err.strip()}")
    try:
        c.request("event", {"customer": "c0001", "item": "ghost-01", "kind": "view"})
        check(False, "an event for a product not in the catalogue is refused")
    except h.frontend.ShopdError as e:
        check(e.code == "not_found", f"an event for a product not in the catalogue is refused "
                                     f"({e.code})")
    c.request("cart", {"op": "set", "item": "coat-01", "quantity": 995}, session="nu-cap")
    try:
        c.request("cart", {"op": "add", "item": "coat-01", "quantity": 10}, session="nu-cap")
        check(False, "a cart add past 1000 is refused")
    except h.frontend.ShopdError as e:
        check(e.code == "invalid" and "at most 1000" in e.message,
              f"a cart add past 1000 is refused like set ({e.message})")
    c.request("text", {"text": "show me coats"}, session="nu-cap")
    sess = c.request("session", {}, session="nu-cap")["session"]
    c.request("cart", {"op": "set", "item": sess["product"], "quantity": 995}, session="nu-cap")
    a = c.request("text", {"text": "add ten"}, session="nu-cap")
    line = [l for l in c.request("cart", {}, session="nu-cap")["lines"]
            if l["item"] == sess["product"]]
    check(line[0]["quantity"] == 995 and "at most 1000" in a["say"],
          f"so is a spoken one: {a['say']!r}")


def audio_tests(d, tmp):
    wav = os.path.join(h.TOP_SRC, "data/demo/requests/show-me-sneakers.wav")
    with open(wav, "rb") as f:
        ref = d.client.request("audio", {}, frames=[f.read()], session="nu-wav", timeout=30)
    for ext in ("aiff", "au", "caf"):
        out = os.path.join(tmp, "req." + ext)
        subprocess.run(["sox", wav, out], check=True)
        with open(out, "rb") as f:
            a = d.client.request("audio", {}, frames=[f.read()], session="nu-" + ext, timeout=30)
        check(a["intent"].get("text") == ref["intent"].get("text") == "search{category=sneaker}",
              f"{ext.upper()} audio is understood as the WAV is ({a['intent'].get('text')})")


def session_tests(d, tmp):
    c = d.client
    a = c.request("text", {"text": "show me coats"}, session="nu-state")
    c.request("cart", {"op": "add", "item": "bag-02"}, session="nu-state")
    s = c.request("session", {}, session="nu-state")
    check(s["recommendations"]["results"] == a["recommendations"]["results"]
          and s["item"]["id"] == a["session"]["product"]
          and [l["item"] for l in s["cart"]["lines"]] == ["bag-02"],
          "the session request gives the session's recommendations, product and cart")
    # the Python example covers every request type
    fe = os.path.join(h.TOP_SRC, "examples/frontend.py")
    photo = os.path.join(h.TOP_SRC, "data/demo/requests/sneaker-photo.jpg")
    wav = os.path.join(h.TOP_SRC, "data/demo/requests/show-me-sneakers.wav")
    cmds = [["status"], ["catalogue", "bag"], ["catalogue-get", "bag-01"], ["categories"],
            ["event", "c0001", "bag-01", "view"], ["cart-add", "bag-01", "2"],
            ["cart-set", "bag-01", "3"], ["cart"], ["cart-remove", "bag-01"], ["cart-clear"],
            ["cart-add", "coat-01"], ["checkout", "c0001"], ["recommend", "kind=popular"],
            ["similar", "bag-01", "limit=3"], ["text", "show", "me", "bags", "customer=c0002"],
            ["audio", wav], ["photo", photo], ["session"]]
    bad = []
    for cmd in cmds:
        r = subprocess.run([sys.executable, fe, "--endpoint", d.ep, "--session", "nu-fe"] + cmd,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or not json.loads(r.stdout):
            bad.append((cmd[0], r.stderr.strip()))
    types = {"status", "catalogue", "event", "cart", "recommend", "similar", "text", "audio",
             "photo", "session"}
    check(not bad, f"examples/frontend.py sends every request type {sorted(types)} ({bad})")


def main():
    tmp = tempfile.mkdtemp(prefix="shopd-newuser-")
    try:
        os.mkdir(os.path.join(tmp, "p"))
        process_tests(os.path.join(tmp, "p"))
        os.mkdir(os.path.join(tmp, "d"))
        d = h.Shopd(os.path.join(tmp, "d"), conf="[daemon]\nstatus_interval = 0\n")
        SHOPDS.append(d)
        d.start(topics=("answer",))
        cli_tests(d, tmp)
        say_tests(d, tmp)
        refusal_tests(d, tmp)
        audio_tests(d, tmp)
        session_tests(d, tmp)
        check(d.stop() == 0, "SIGTERM: exit status 0")
    finally:
        for d in SHOPDS:
            d.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
