#!/usr/bin/env bash
# The test suite in a tree built with AddressSanitizer and UndefinedBehaviorSanitizer
# (ctest `sanitizers`, issue 13). Any report fails the test: UBSan does not recover
# (-fno-sanitize-recover), ASan aborts, LeakSanitizer reports leaks except those of
# Graphviz's own plugin loading (tests/fuzz/lsan.supp, each entry explained there).
# Tests that build other trees (consumer_builds, compiler_order) are left out: they
# test the build, not the code, and run in the normal tree.
# Usage: sanitize.sh WORK_DIR SOURCE_DIR
set -euo pipefail
work=$1 src=$2
mkdir -p "$work"
if [ ! -f "$work/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$work" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMT_SANITIZE=ON -DMT_TESTS=ON \
        -DMT_ORACLE=OFF -DMT_SHARED=OFF >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
fi
cmake --build "$work" -j2 >"$work/build.log" 2>&1 || { tail -50 "$work/build.log"; exit 1; }
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$src/tests/fuzz/lsan.supp:print_suppressions=0"
cd "$work"
ctest --output-on-failure -E '^(consumer_builds|compiler_order|exported_symbols)$'
