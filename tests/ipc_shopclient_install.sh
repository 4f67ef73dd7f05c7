#!/bin/sh
# tests/ipc_shopclient_install.sh: `make install DESTDIR=...` puts
# libshopclient (shared and static), shopclient.h, shopclient.pc and
# shopclient(3); the installed example compiles against that copy with
# `pkg-config --cflags --libs shopclient` (the sysroot pointed at DESTDIR)
# and talks to a real shopd: its reply and its events on the session are the
# ones shopd gave. Prints TAP.
top_src=${SHOP_TOP_SRCDIR:-.}
top_build=${SHOP_TOP_BUILDDIR:-.}
shopd=$top_build/shopd
shopctl=$top_build/shopctl
py=${PYTHON3:-python3}
tmp=$(mktemp -d /tmp/shopclient-test-XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
check() { # check "what" command...
  what=$1; shift
  if "$@"; then ok "$what"; else notok "$what"; fi
}
echo "1..11"

root=$tmp/root
# a make of our own, not the jobserver of the make check that runs us
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_build" install DESTDIR="$root" \
  >"$tmp/install.log" 2>&1
check "make install DESTDIR= succeeds" [ $? -eq 0 ]
pc=$(find "$root" -name shopclient.pc | head -1)
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
check "the .pc, header, shared and static library and man page are installed" sh -c \
  "[ -f '$pc' ] && [ -n \"\$(find '$root' -name shopclient.h)\" ] && [ -f '$libdir/libshopclient.a' ] \
   && [ -n \"\$(find '$libdir' -name 'libshopclient.so.*')\" ] && [ -n \"\$(find '$root' -name shopclient.3)\" ]"
exported=$(nm -D --defined-only "$libdir/libshopclient.so" | awk '$2 ~ /^[TDBRW]$/ {print $3}')
check "the shared library exports the shopclient_* names alone" sh -c \
  "[ -n '$(echo "$exported" | grep '^shopclient_' | head -1)' ] && [ -z '$(echo "$exported" | grep -v '^shopclient_')' ]"

export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_PATH="$pcdir"
example=$(find "$root" -name shopclient-example.c | head -1)
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$example" $(pkg-config --cflags --libs shopclient) -o "$tmp/example" \
  2>"$tmp/cc.log"
check "the installed example builds with pkg-config --cflags --libs shopclient" [ $? -eq 0 ]
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$example" $(pkg-config --cflags shopclient) "$libdir/libshopclient.a" \
  $(pkg-config --libs libzmq jansson) -pthread -o "$tmp/example-static" \
  2>>"$tmp/cc.log"
check "and links the static library" [ $? -eq 0 ]
export LD_LIBRARY_PATH="$libdir"
check "the example runs on the installed shared library" sh -c \
  "ldd '$tmp/example' | grep -q '$libdir/libshopclient.so'"

ep="ipc://$tmp/req.sock"
pub="ipc://$tmp/events.sock"
printf '[daemon]\nstatus_interval = 1\n[store]\nimport_demo = yes\n' > "$tmp/shopd.conf"
"$shopd" --foreground --config "$tmp/shopd.conf" --endpoint "$ep" --pub-endpoint "$pub" \
  --db "$tmp/shop.db" 2>"$tmp/shopd.log" &
pid=$!
"$tmp/example" -e "$ep" -p "$pub" kiosk-c show me bags > "$tmp/out" 2>"$tmp/err"
rc=$?
check "the example gets a reply and its session's events from a real shopd" [ $rc -eq 0 ]
"$tmp/example-static" -e "$ep" -p "$pub" kiosk-s show me bags > "$tmp/out-static" 2>>"$tmp/err"
check "so does the statically linked one" [ $? -eq 0 ]
# the reply says what shopd's catalogue holds: bags, the first of them named
"$shopctl" -e "$ep" -C catalogue list bag limit=1000 > "$tmp/bags"
check "the reply is a search for bags with bags only" "$py" -c '
import json, sys
reply = json.loads(open(sys.argv[1]).readline())
bags = {i["id"]: i for i in json.load(open(sys.argv[2]))["items"]}
res = reply["recommendations"]["results"]
sys.exit(not (reply["intent"]["name"] == "search" and reply["intent"]["slots"] == {"category": "bag"}
              and res and all(r["item"] in bags and bags[r["item"]]["name"] == r["name"] for r in res)))
' "$tmp/out" "$tmp/bags"
check "the events of the session carry the reply's parts, answer last" "$py" -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
reply = json.loads(lines[0])
ev = [(l.split(" ", 1)[0], json.loads(l.split(" ", 1)[1])) for l in lines[1:]]
got = {t: e["body"] for t, e in ev}
sys.exit(not (ev[-1][0] == "answer" and got["recommendations"] == reply["recommendations"]
              and got["intent"] == reply["intent"] and all(e["session"] == "kiosk-c" for _, e in ev)))
' "$tmp/out"
kill "$pid" && wait "$pid"
check "shopd stops with status 0" [ $? -eq 0 ]
pid=""
if [ $failed -ne 0 ]; then
  sed 's/^/# /' "$tmp/install.log" "$tmp/cc.log" "$tmp/err" | tail -30
  tail -20 "$tmp/shopd.log" | sed 's/^/# /'
fi
exit $failed
