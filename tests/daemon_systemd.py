#!/usr/bin/python3
"""tests/daemon_systemd.py: shopd's service life cycle without systemd itself.

1. As systemd starts it: a fake NOTIFY_SOCKET receives READY=1, watchdog
   keep-alives at half of WATCHDOG_USEC, RELOADING=1/READY=1 on SIGHUP and
   STOPPING=1 on SIGTERM (exit 0); the built-in defaults put the sockets in
   $RUNTIME_DIRECTORY and the database in $STATE_DIRECTORY.
2. As a classic daemon (--daemon, no systemd): the starting process
   exits 0 once the daemon serves, the pid file names the daemon, SIGTERM
   stops it and removes the pid file.
Prints TAP."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("SHOP_TOP_SRCDIR", "."), "tests"))
import shopd_py_harness as h  # noqa: E402  (exits 77 without python3-zmq)

if not os.access(h.SHOPD, os.X_OK):
    print(f"1..0 # SKIP {h.SHOPD} not built")
    sys.exit(77)

tap = h.Tap()
check = tap.check
started = []      # Shopd objects to kill at the end
cleanup_pids = []  # daemons found through their pid file


def notifications(sock, seconds):
    """Every datagram received within seconds, as a list of strings."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            out.append(sock.recv(4096).decode())
        except socket.timeout:
            break
    return out


def wait_for(sock, text, seconds):
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = notifications(sock, 0.1)
        seen += got
        if any(text in m for m in got):
            return True, seen
    return False, seen


def systemd_like(tmp):
    rt = os.path.join(tmp, "run")
    state = os.path.join(tmp, "state")
    os.mkdir(rt)
    os.mkdir(state)
    nsock_path = os.path.join(tmp, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(nsock_path)
    # no arguments: everything from the environment systemd would give
    d = h.Shopd(tmp, conf="[store]\nimport_demo = no\n")
    started.append(d)
    env = dict(os.environ, NOTIFY_SOCKET=nsock_path, WATCHDOG_USEC="300000",
               RUNTIME_DIRECTORY=rt, STATE_DIRECTORY=state, CONFIGURATION_DIRECTORY=tmp)
    p = d.spawn(args=[], env=env)
    ready, _ = wait_for(ns, "READY=1", 10)
    check(ready, "READY=1 is sent once shopd serves")
    check(p.poll() is None, "under NOTIFY_SOCKET shopd does not detach")
    client = h.frontend.ShopClient(f"ipc://{rt}/shopd.sock")
    st = client.request("status", timeout=5)
    check(st["store"]["database"] == os.path.join(state, "shop.db"),
          "the default database is in $STATE_DIRECTORY")
    check(st["config"] == d.conf,
          "the default config is $CONFIGURATION_DIRECTORY/shopd.conf")
    got = notifications(ns, 1.0)
    dogs = sum(1 for m in got if "WATCHDOG=1" in m)
    check(dogs >= 4, f"watchdog keep-alives at half of WatchdogSec ({dogs} in 1 s, want >= 4)")
    p.send_signal(signal.SIGHUP)
    ok, seen = wait_for(ns, "READY=1", 5)
    check(ok and any("RELOADING=1" in m for m in seen), "SIGHUP: RELOADING=1 then READY=1")
    st = client.request("status", timeout=5)
    check(st["reloads"] == 1, "the reload is counted and clients stay connected")
    client.close()
    p.send_signal(signal.SIGTERM)
    ok, _ = wait_for(ns, "STOPPING=1", 5)
    check(ok, "SIGTERM: STOPPING=1")
    check(p.wait(timeout=10) == 0, "SIGTERM: exit status 0")
    ns.close()


def classic(tmp):
    ep = f"ipc://{tmp}/c.sock"
    pidfile = os.path.join(tmp, "shopd.pid")
    with open(os.path.join(tmp, "classic.conf"), "w") as f:
        f.write(f"[daemon]\npid_file = {pidfile}\nlog_target = stderr\n[store]\nimport_demo = no\n")
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    t0 = time.monotonic()
    rc = subprocess.run([h.SHOPD, "--daemon", "--config", os.path.join(tmp, "classic.conf"), "--endpoint", ep,
                         "--pub-endpoint", f"ipc://{tmp}/ce.sock", "--db",
                         os.path.join(tmp, "c.db")], env=env, timeout=20).returncode
    check(rc == 0, "daemonising: the starting process exits 0")
    pid = int(open(pidfile).read()) if os.path.exists(pidfile) else 0
    if pid:
        cleanup_pids.append(pid)
    check(pid > 0 and pid != os.getpid(), "the pid file names the daemon")
    client = h.frontend.ShopClient(ep)
    try:
        st = client.request("status", timeout=2)
        check(st["pid"] == pid, "the daemon serves as soon as the start command returns "
              f"({time.monotonic() - t0:.2f} s)")
    except TimeoutError:
        check(False, "the daemon serves as soon as the start command returns")
    client.close()
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        gone = True
        try:
            os.kill(pid, 0)
            gone = False
        except ProcessLookupError:
            pass
        check(gone and not os.path.exists(pidfile), "SIGTERM stops the daemon and removes the pid file")


def main():
    tmp = tempfile.mkdtemp(prefix="shopd-sd-")
    try:
        systemd_like(tmp)
        classic(tmp)
    except Exception as e:
        check(False, f"test aborted: {e!r}")
    finally:
        for d in started:
            d.kill()
        for pid in cleanup_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, OSError):
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
