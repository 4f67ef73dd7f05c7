#!/bin/sh
# tests/tools_options.sh: the programs refuse a bad number in a numeric
# option (a suffix, a fraction for a whole number, an empty string, a blank,
# a value out of range) and an argument left over after the options: exit
# status 2, one line on stderr naming the option and the value (or the
# argument), nothing on stdout, and no work done (no output file, no
# evaluation printed). Runs the built programs. Prints TAP.
top_build=${SHOP_TOP_BUILDDIR:-.}
top_src=${SHOP_TOP_SRCDIR:-.}
train=$top_build/shop-train
eval=$top_build/shop-eval
rec=$top_build/shop-recommend
ctl=$top_build/shopctl
for f in "$train" "$eval" "$rec" "$ctl"; do
  if [ ! -x "$f" ]; then
    echo "Bail out! $f is not built"
    exit 1
  fi
done
tmp=$(mktemp -d /tmp/shop-options-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
real=$top_src/tests/data/realspeech

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }

# refuses "EXPECTED STDERR LINE" command...: exit status 2, exactly that line
# on stderr, nothing on stdout, nothing written in $tmp/out
refuses() {
  want=$1; shift
  rm -rf "$tmp/out"
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  rc=$?
  printf '%s\n' "$want" >"$tmp/want"
  if [ "$rc" -eq 2 ] && cmp -s "$tmp/stderr" "$tmp/want" && [ ! -s "$tmp/stdout" ] \
     && [ ! -e "$tmp/out" ]; then
    ok "$want"
  else
    notok "$want"
    echo "#   exit status $rc; stderr:"
    sed 's/^/#   /' "$tmp/stderr" | head -5
    echo "#   stdout:"
    sed 's/^/#   /' "$tmp/stdout" | head -5
  fi
}

echo "1..35"

# shop-train audio: the corpus directory does not exist, so that a value read
# leniently would go on to fail on the corpus with another message
refuses 'shop-train audio: --epochs "3x": not an integer' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --epochs 3x
refuses 'shop-train audio: --domain-classes: "some" is neither all nor words' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --real-data "$real" --domain-classes=some
refuses 'shop-train audio: unexpected argument "words"' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --real-data "$real" --domain-classes words
refuses 'shop-train audio: --freeze "abc": not an integer' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --init "$tmp/none.nn" --freeze abc
refuses 'shop-train audio: --copies "2.5": not an integer' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --copies 2.5
refuses 'shop-train audio: --copies "21": out of range: 1 to 20' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --copies 21
refuses 'shop-train audio: --lr "": not a number' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --lr ""
refuses 'shop-train audio: --lr "0": out of range: above 0' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --lr 0
refuses 'shop-train audio: --fa-rate "0.5": out of range: (0, 0.5)' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --fa-rate 0.5
refuses 'shop-train audio: --real-noise "nan": not a number' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --real-noise nan
refuses 'shop-train audio: --seed "-1": not an integer' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --seed -1
refuses 'shop-train audio: --seed "18446744073709551616": out of range: 0 to 2^64 - 1' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --seed 18446744073709551616
refuses 'shop-train audio: --threads " 2": not an integer' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --threads " 2"
refuses 'shop-train audio: --wake-min "1.5": out of range: [0, 1]' \
  "$train" audio --corpus "$tmp/none" --out "$tmp/out" --wake-min 1.5
refuses 'shop-train audio: --set MODEL takes --wake-min C and --out alone' \
  "$train" audio --set "$tmp/none.nn" --out "$tmp/out"
refuses 'shop-train audio: --set MODEL takes --wake-min C and --out alone' \
  "$train" audio --set "$tmp/none.nn" --wake-min 0.5 --corpus "$tmp/none" --out "$tmp/out"
refuses 'shop-train audio-corpus: --scale "0.5x": not a number' \
  "$train" audio-corpus --out "$tmp/out" --scale 0.5x
refuses 'shop-train audio-corpus: --scale "0": out of range: (0, 100]' \
  "$train" audio-corpus --out "$tmp/out" --scale 0
refuses 'shop-train audio-corpus: unexpected argument "extra"' \
  "$train" audio-corpus --out "$tmp/out" extra
refuses 'shop-train audio-phones: --lookahead "1e1": not an integer' \
  "$train" audio-phones --corpus "$tmp/none" --out "$tmp/out" --lookahead 1e1
refuses 'shop-train vision: --epochs "inf": not an integer' \
  "$train" vision --data "$tmp/none" --out "$tmp/out" --epochs inf
refuses 'shop-train vision: --smoothing "1": out of range: [0, 1)' \
  "$train" vision --data "$tmp/none" --out "$tmp/out" --smoothing 1
refuses 'shop-train demo: --customers "3e2": not an integer' \
  "$train" demo --fmnist "$tmp/none" --out "$tmp/out" --customers 3e2
refuses 'shop-train demo: unexpected argument "100"' \
  "$train" demo --fmnist "$tmp/none" --out "$tmp/out" 100
refuses 'shop-train recommend: unexpected argument "data"' \
  "$train" recommend --out "$tmp/out" data

# shop-eval audio on the test recordings: a good value evaluates them (the
# control), a bad one prints no evaluation
if "$eval" audio --real-data "$real" --noise-hours 2 >"$tmp/stdout" 2>"$tmp/stderr" \
   && grep -q '^real speech' "$tmp/stdout"; then
  ok "shop-eval audio --noise-hours 2 evaluates the recordings"
else
  notok "shop-eval audio --noise-hours 2 evaluates the recordings"
  sed 's/^/#   /' "$tmp/stderr" | head -5
fi
refuses 'shop-eval audio: --noise-hours "abc": not a number' \
  "$eval" audio --real-data "$real" --noise-hours abc
refuses 'shop-eval audio: --noise-hours "1x": not a number' \
  "$eval" audio --real-data "$real" --noise-hours 1x
refuses 'shop-eval audio: --commands "0x10": not an integer' \
  "$eval" audio --real-data "$real" --commands 0x10
refuses 'shop-eval audio: --skip-penalty "1.5": out of range: [0, 1]' \
  "$eval" audio --real-data "$real" --skip-penalty 1.5
refuses 'shop-eval audio: unexpected argument "val"' \
  "$eval" audio --real-data "$real" val
refuses 'shop-eval vision: --limit "10k": not an integer' \
  "$eval" vision --data "$tmp/none" --limit 10k

refuses 'shop-recommend: --threads "0": out of range: 1 to 64' \
  "$rec" --demo --bind "ipc://$tmp/out" --threads 0

# shopctl: the endpoint is a socket path nobody listens on
refuses 'shopctl: --timeout "5s": not an integer' \
  "$ctl" -e "ipc://$tmp/out" -p "ipc://$tmp/pub" --timeout 5s status
refuses 'shopctl: quantity "2.0": not an integer' \
  "$ctl" -e "ipc://$tmp/out" -p "ipc://$tmp/pub" event c1 i1 purchase 2.0

exit $failed
