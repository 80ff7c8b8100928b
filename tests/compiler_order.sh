#!/usr/bin/env bash
# The traced graph must not depend on the compiler (issue 13): C leaves the
# evaluation order of a call's arguments unspecified, so a tracing call nested
# as an argument of another records its node wherever the compiler puts it.
# Builds the CLI with the other compiler (clang when the tree is built with
# gcc, gcc otherwise) at -O0 (the tree's default build is -O2), exports every
# shipped config at --layers 2 and every tiny family config as JSON and DOT
# with both CLIs and compares the bytes. Exit 77 (skipped) without the other
# compiler.
#
# Usage: compiler_order.sh WORK_DIR SOURCE_DIR CLI TINY_WRITER COMPILER_ID
#   CLI          the tree's metatrace CLI
#   TINY_WRITER  writes tests/tiny_configs.h's configs to a directory (dump_tiny.c)
#   COMPILER_ID  CMAKE_C_COMPILER_ID of the tree (GNU, Clang, ...)
set -euo pipefail
work=$1 src=$2 cli=$3 tiny_writer=$4 id=$5
case "$id" in
    Clang|AppleClang) other=gcc ;;
    *) other=clang ;;
esac
if ! command -v "$other" >/dev/null 2>&1; then
    echo "compiler_order: SKIPPED: '$other' is not installed (scripts/setup.sh test installs clang)"
    exit 77
fi
build=$work/build-$other
mkdir -p "$work"
if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=$other cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DMT_TESTS=OFF -DMT_ORACLE=OFF \
        -DMT_WERROR=OFF >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
fi
cmake --build "$build" -j2 --target metatrace_cli >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
other_cli=$build/metatrace
[ -x "$other_cli" ] || { echo "compiler_order: no CLI at $other_cli"; exit 1; }

rm -rf "$work/tiny" "$work/out"
mkdir -p "$work/tiny" "$work/out"
"$tiny_writer" "$work/tiny" >/dev/null

configs=("$src"/samples/configs/*.json "$work"/tiny/*.json)
compared=0 differ=0
for cfg in "${configs[@]}"; do
    name=$(basename "$cfg" .json)
    layers=()
    case "$cfg" in "$src"/samples/*) layers=(--layers 2) ;; esac
    for fmt in json dot; do
        a=$work/out/$name.ref.$fmt b=$work/out/$name.$other.$fmt
        "$cli" "${layers[@]}" -f "$fmt" -o "$a" "$cfg" || { echo "compiler_order: $cli failed on $cfg"; exit 1; }
        "$other_cli" "${layers[@]}" -f "$fmt" -o "$b" "$cfg" || { echo "compiler_order: $other_cli failed on $cfg"; exit 1; }
        compared=$((compared + 1))
        if ! cmp -s "$a" "$b"; then
            differ=$((differ + 1))
            echo "compiler_order: $name.$fmt differs between the tree's CLI and the $other -O0 build:"
            diff "$a" "$b" | head -n 12 || true
        fi
    done
done
echo "compiler_order: ${#configs[@]} configs, $compared exports compared, $differ differ ($other -O0 vs the tree's build)"
[ "$compared" -gt 0 ] && [ "$differ" -eq 0 ]
