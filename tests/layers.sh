#!/bin/sh
# tests/layers.sh: the two libraries keep their layers. shopd and shopctl
# (runtime programs) carry no training, corpus, evaluation or dataset code;
# the runtime library libshop.a defines none and references no symbol that
# the offline library libshop-offline.a defines; no library source includes
# a tools/ header except the speech tools still being moved. Reads the built
# files with nm. Prints TAP.
top_build=${SHOP_TOP_BUILDDIR:-.}
top_src=${SHOP_TOP_SRCDIR:-.}
rt=$top_build/libshop.a
off=$top_build/libshop-offline.a
tmp=$(mktemp -d /tmp/shop-layers-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
# empty FILE "what": passes when FILE is empty, else lists what it holds
empty() {
  if [ -s "$1" ]; then
    notok "$2"
    sed 's/^/#   /' "$1" | head -20
  else
    ok "$2"
  fi
}

# what training, corpus generation, evaluation and dataset reading are called
# (global symbols: a subcommand's entry point is a global NAME_main)
offline_names='^(nn_train|nn_train_opts_default|nn_selftest_.*|nn_gradcheck.*|nn_history_free|nn_evaluate|audio_corpus_.*|audio_train_.*|audio_eval_.*|corpus_.*|vision_train_.*|vision_eval_.*|vision_fmnist_.*|rec_model_train|rec_eval|rec_eval_one|rec_engine_retrain|demo_store_.*|[a-z_]+_main)$'

echo "1..8"
for f in "$rt" "$off" "$top_build/shopd" "$top_build/shopctl"; do
  if [ ! -f "$f" ]; then
    echo "Bail out! $f is not built"
    exit 1
  fi
done

nm -g --defined-only "$off" | awk 'NF == 3 { print $3 }' | sort -u > "$tmp/offline"
if grep -Eq "$offline_names" "$tmp/offline" && [ "$(wc -l < "$tmp/offline")" -ge 20 ]; then
  ok "the offline library defines the training, corpus and evaluation code"
else
  notok "the offline library defines the training, corpus and evaluation code"
fi

nm -g --defined-only "$rt" | awk 'NF == 3 { print $3 }' | sort -u > "$tmp/runtime"
grep -E "$offline_names" "$tmp/runtime" > "$tmp/bad" || true
empty "$tmp/bad" "the runtime library defines no training, corpus or evaluation symbol"

nm -u "$rt" | awk 'NF == 2 { print $2 }' | sort -u > "$tmp/undef"
comm -12 "$tmp/undef" "$tmp/offline" > "$tmp/bad"
empty "$tmp/bad" "no runtime object references a symbol of the offline library"

for prog in shopd shopctl; do
  nm -g --defined-only "$top_build/$prog" | awk 'NF == 3 { print $3 }' | sort -u > "$tmp/$prog"
  comm -12 "$tmp/$prog" "$tmp/offline" > "$tmp/bad"
  empty "$tmp/bad" "$prog holds no symbol of the offline library"
  grep -E "$offline_names" "$tmp/$prog" > "$tmp/bad" || true
  empty "$tmp/bad" "$prog holds no training, corpus or evaluation symbol"
done

# library sources (every folder but tools/, tests/, bench/, fuzz/) include no
# tools/ header; audio/train.c and audio/eval.c keep their subcommands until
# those move to tools/
grep -l '#include "tools/' "$top_src"/common/*.c "$top_src"/nn/*.c "$top_src"/audio/*.c \
  "$top_src"/vision/*.c "$top_src"/recommend/*.c "$top_src"/ipc/*.c "$top_src"/daemon/*.c \
  2>/dev/null | sed "s|^$top_src/||" | grep -vx -e audio/train.c -e audio/eval.c > "$tmp/bad" || true
empty "$tmp/bad" "no library source includes a tools/ header"
exit $failed
