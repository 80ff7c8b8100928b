#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS from the seeds (ctest fuzz_short with a
# short time; `make fuzz FUZZ_SECONDS=N` for longer). A crash, leak or failed check
# fails the run; the input is saved under WORK_DIR/crashes/ and its path printed:
# reduce it, fix the defect, and add the input to tests/fuzz/failures/<target>/ so
# ctest replays it from then on. Exit 77 (skipped) without clang.
# Usage: run.sh WORK_DIR SOURCE_DIR SECONDS
set -euo pipefail
work=$1 src=$2 seconds=$3
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: SKIPPED: clang is not installed (scripts/setup.sh test installs it)"
    exit 77
fi
mkdir -p "$work"
if [ ! -f "$work/CMakeCache.txt" ]; then
    CC=clang cmake -S "$src" -B "$work" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMT_FUZZ=ON -DMT_TESTS=ON \
        -DMT_ORACLE=OFF -DMT_SHARED=OFF -DMT_PROGRAMS=ON >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
fi
targets=()
for f in "$src"/tests/fuzz/fuzz_*.c; do
    t=$(basename "$f" .c)
    targets+=("$t")
done
cmake --build "$work" -j2 --target "${targets[@]}" compiler_order_tiny >"$work/build.log" 2>&1 || { tail -50 "$work/build.log"; exit 1; }
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$src/tests/fuzz/lsan.supp:print_suppressions=0"
status=0
for t in "${targets[@]}"; do
    name=${t#fuzz_}
    corpus=$work/corpus/$name
    mkdir -p "$corpus" "$work/crashes/$name"
    seeds=("$src/tests/fuzz/seeds/$name")
    [ -d "$src/tests/fuzz/failures/$name" ] && seeds+=("$src/tests/fuzz/failures/$name")
    if [ "$name" = config ]; then
        mkdir -p "$work/tiny"
        "$work/compiler_order_tiny" "$work/tiny" >/dev/null
        seeds+=("$src/samples/configs" "$work/tiny")
    fi
    echo "fuzz: $t for ${seconds}s"
    if ! "$work/tests/fuzz/$t" "$corpus" "${seeds[@]}" -dict="$src/tests/fuzz/config.dict" -max_total_time="$seconds" \
        -max_len=65536 -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$work/crashes/$name/" \
        -print_final_stats=1 >"$work/$t.log" 2>&1; then
        echo "fuzz: $t FAILED; the input is in $work/crashes/$name/:"
        ls -1 "$work/crashes/$name/"
        tail -60 "$work/$t.log"
        status=1
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|INFO: .*corp" "$work/$t.log" | tail -3 || true
done
exit $status
