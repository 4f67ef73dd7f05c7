#!/bin/sh
# tests/rel_fuzz_run.sh: runs every libFuzzer target of a clang build
# (configure CC=clang --enable-fuzzers) and prints TAP, one line per target
# with its executions and findings.
#   smoke (default, make check): FUZZ_TIME seconds each (default 3), scratch
#         corpora in a temporary directory, removed afterwards.
#   report (make fuzz-report): until FUZZ_RUNS executions (default 1000000) or
#         FUZZ_TIME seconds (default 600), corpora kept in the build tree as
#         fuzz-<target>-corpus, a summary table appended to fuzz-report.txt.
# A finding (crash, leak, timeout, sanitizer report) fails the target and
# leaves its reproducer next to the log.
mode=${1:-smoke}
top_build=${SHOP_TOP_BUILDDIR:-.}
top_src=${SHOP_TOP_SRCDIR:-.}
# target:corpus:extra options
targets="nn_load_fuzz:nn_load:
vision_decode_fuzz:vision_decode:
audio_intent_fuzz:audio_intent:-max_len=4096 -dict=$top_src/fuzz/audio_intent.dict
audio_source_fuzz:audio_source:-max_len=65536 -detect_leaks=0
recommend_csv_fuzz:recommend_csv:
recommend_model_fuzz:recommend_model:
ipc_envelope_fuzz:ipc_envelope:-max_len=4096
config_fuzz:config:-max_len=8192
numbers_fuzz:numbers:-max_len=256"

if [ ! -x "$top_build/fuzz/ipc_envelope_fuzz" ]; then
    # TAP's own skip: the .sh harness has no exit-77 wrapper
    echo "1..0 # SKIP fuzzers not built (configure CC=clang --enable-fuzzers)"
    exit 0
fi
if [ "$mode" = report ]; then
    seconds=${FUZZ_TIME:-600}
    runs=${FUZZ_RUNS:-1000000}
    work=$top_build
    nice="nice -n 10"
else
    seconds=${FUZZ_TIME:-3}
    runs=-1
    work=$(mktemp -d /tmp/shop-fuzz-smoke-XXXXXX) || exit 1
    trap 'rm -rf "$work"' EXIT
    nice=
fi

echo "1..$(echo "$targets" | wc -l)"
i=0
echo "$targets" | while IFS=: read -r name corpus extra; do
    i=$((i + 1))
    bin=$top_build/fuzz/$name
    if [ ! -x "$bin" ]; then
        echo "not ok $i - $name: not built"
        continue
    fi
    dir=$work/fuzz-$name-corpus
    mkdir -p "$dir"
    log=$work/fuzz-$name.log
    # shellcheck disable=SC2086 # extra holds several options
    # UBSan only prints and goes on in this build (no -fno-sanitize-recover):
    # halt_on_error makes undefined behaviour a finding like a crash
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=$(case "$extra" in *detect_leaks=0*) echo 0 ;; *) echo 1 ;; esac) \
        $nice "$bin" -max_total_time="$seconds" -runs="$runs" -rss_limit_mb=2048 -timeout=30 \
        -print_final_stats=1 -artifact_prefix="$work/$name-" $extra \
        "$dir" "$top_src/fuzz/corpus/$corpus" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    secs=$(sed -n 's/^stat::.*//; s/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    line="$name: ${execs:-?} executions in ${secs:-?} s, ${cov:-cov: ?}"
    if [ $rc -eq 0 ]; then
        echo "ok $i - $line, no finding"
    else
        echo "not ok $i - $line, FINDING (exit $rc, see $log)"
        grep -m 3 'ERROR\|SUMMARY\|runtime error' "$log" | sed 's/^/# /'
    fi
    if [ "$mode" = report ]; then
        echo "$(date -u +%FT%TZ) $line, exit $rc" >>"$top_build/fuzz-report.txt"
    fi
done
# the verdict is in the TAP lines
exit 0
