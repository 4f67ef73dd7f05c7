#!/bin/sh
# tests/daemon_shopctl.sh: shopctl against a real shopd: every command, its
# exit statuses, keygen and watch; shopd --version, --help and
# --check-config. Prints TAP.
top_build=${SHOP_TOP_BUILDDIR:-.}
shopd=$top_build/shopd
shopctl=$top_build/shopctl
if [ ! -x "$shopd" ] || [ ! -x "$shopctl" ]; then
  echo "1..0 # SKIP shopd or shopctl not built"
  exit 77
fi
tmp=$(mktemp -d /tmp/shopctl-test-XXXXXX)
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

echo "1..20"
ep="ipc://$tmp/req.sock"
pub="ipc://$tmp/events.sock"
C="$shopctl -e $ep -p $pub -t 3000 -C"
printf '[daemon]\nstatus_interval = 1\n[store]\nimport_demo = no\n' > "$tmp/shopd.conf"

check "shopd --version names the protocol" sh -c "'$shopd' --version | grep -q 'protocol 1'"
check "shopd --check-config accepts the file" sh -c \
  "'$shopd' --check-config --config '$tmp/shopd.conf' --db '$tmp/db' | grep -q 'configuration OK'"
printf '[ipc]\nendpoint = tcp://0.0.0.0:1\n' > "$tmp/open.conf"
check "shopd --check-config refuses open TCP without CURVE" sh -c \
  "! '$shopd' --check-config --config '$tmp/open.conf' 2>'$tmp/err' && grep -q 'without CURVE' '$tmp/err'"

"$shopd" --foreground --config "$tmp/shopd.conf" --endpoint "$ep" --pub-endpoint "$pub" \
  --db "$tmp/shop.db" 2>"$tmp/shopd.log" &
pid=$!
i=0
until $C -t 200 status >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -gt 50 ] && break
done

$C status > "$tmp/status" 2>&1
check "status answers with the database path" grep -q "\"database\":\"$tmp/shop.db\"" "$tmp/status"
check "catalogue on an empty store: 0 items" sh -c "$C catalogue | grep -q '\"count\":0'"
check "catalogue categories" sh -c "$C catalogue categories | grep -q '\"categories\":\\[\\]'"
$C event c1 sneaker-01 purchase 2 >/dev/null 2>"$tmp/err"; rc=$?
check "an event for a product not in the catalogue: exit 1, not_found" sh -c "[ $rc -eq 1 ] && grep -q '^shopctl: not_found:' '$tmp/err'"
$C event c1 x steal >/dev/null 2>"$tmp/err"; rc=$?
check "a bad event kind: exit 1 and the code invalid" sh -c "[ $rc -eq 1 ] && grep -q '^shopctl: invalid:' '$tmp/err'"
$C -s k1 cart add nothing >/dev/null 2>"$tmp/err"; rc=$?
check "cart add of an unknown product: not_found" sh -c "[ $rc -eq 1 ] && grep -q 'not_found' '$tmp/err'"
check "an empty cart" sh -c "$C -s k1 cart | grep -q '\"count\":0'"
$C request teleport >/dev/null 2>"$tmp/err"; rc=$?
check "an unknown request type: unknown_type" sh -c "[ $rc -eq 1 ] && grep -q 'unknown_type' '$tmp/err'"
$C recommend customer=c1 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "recommend on an empty catalogue: c1's personal list, empty" sh -c \
  "[ $rc -eq 0 ] && grep -q '\"kind\":\"personal\",\"results\":\[\]' '$tmp/out' && grep -q '\"customer\":\"c1\"' '$tmp/out'"
$C look >/dev/null 2>"$tmp/err"; rc=$?
check "look without a camera: not_available, saying how to give shopd one" sh -c "[ $rc -eq 1 ] && grep -q '^shopctl: not_available: shopd has no camera' '$tmp/err'"
printf 'GIF89a....' > "$tmp/x.gif"
$C photo "$tmp/x.gif" >/dev/null 2>"$tmp/err"
check "a GIF photo is refused as invalid" grep -q 'not JPEG, PNG or BMP' "$tmp/err"
printf 'RIFF\0\0\0\0WAVEfmt ' > "$tmp/x.wav"
$C audio "$tmp/x.wav" >/dev/null 2>"$tmp/err"; rc=$?
check "audio: a WAV header without data is refused as invalid" sh -c \
  "[ $rc -eq 1 ] && grep -q '^shopctl: invalid: audio: not an audio file' '$tmp/err'"

# watch ends after its first event (a heartbeat a second); timeout only bounds a hang
timeout 20 $C -n 1 watch status > "$tmp/watch"
check "watch prints a status event" grep -q '^status {"v":1,"type":"status"' "$tmp/watch"

check "keygen writes a key pair and prints the public key" sh -c \
  "$shopctl keygen '$tmp/k' > '$tmp/pub' 2>/dev/null && [ \$(wc -c < '$tmp/pub') -eq 41 ] && grep -qF \"public-key = \$(cat '$tmp/pub')\" '$tmp/k.pub'"
check "keygen refuses to overwrite" sh -c "! $shopctl keygen '$tmp/k' 2>/dev/null"
check "the secret key file is private (0600)" sh -c "[ \$(stat -c %a '$tmp/k.key') = 600 ]"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
check "SIGTERM: shopd exits with status 0" [ "$rc" -eq 0 ]
exit $failed
