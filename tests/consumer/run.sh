#!/usr/bin/env bash
# Build and run tests/consumer/consumer.c against metatrace three ways:
#   1. pkg-config against an installed prefix (shared library, then --static),
#   2. find_package(metatrace) against that prefix,
#   3. add_subdirectory of the source tree.
# Usage: run.sh BUILD_DIR SOURCE_DIR LLAMA_7B_CONFIG. Each build must print the expected line.
set -euo pipefail
build=$1 src=$2 cfg=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(dirname "$(find "$prefix" -name metatrace.pc -print -quit)")
[ -n "$pc" ] || { echo "no metatrace.pc installed under $prefix"; exit 1; }
for f in include/metatrace/metatrace.h bin/metatrace; do
    [ -e "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
abi=$(awk '/^#define MT_ABI_VERSION/ {print $3}' "$src/include/metatrace/core.h")
libdir=$(dirname "$(find "$prefix" -name "libmetatrace.so.$abi" -print -quit)")
[ -e "$libdir/libmetatrace.a" ] || { echo "libmetatrace.a not installed"; exit 1; }
soname=$(objdump -p "$libdir/libmetatrace.so" | awk '/SONAME/ {print $2}')
[ "$soname" = "libmetatrace.so.$abi" ] || { echo "SONAME is '$soname', expected libmetatrace.so.$abi"; exit 1; }

# The config is llama-7b (model_type llama, architectures LlamaForCausalLM,
# 32 layers): 6,738,415,616 parameters (its index's total) in 291 tensors
# (embed_tokens, 32 x (q, k, v, o, gate, up, down, two norms), norm, lm_head:
# 1 + 32 x 9 + 2; its index lists these and 32 rotary inv_freq buffers), and
# 32 layers x 32 heads x 128 x 2 (K, V) x 2 bytes = 524,288 KV bytes per token.
version=$("$prefix/bin/metatrace" --version | awk '{print $2}')
expect="metatrace $version: llama LlamaForCausalLM, 32 layers, 291 parameter tensors, 6738415616 parameters, 524288 KV bytes per token"

check() {
    local how=$1 got
    got=$("${@:2}" "$cfg")
    if [ "$got" != "$expect" ]; then
        echo "$how: printed '$got', expected '$expect'"
        exit 1
    fi
    echo "$how: ok"
}

# 1. pkg-config, shared and static
export PKG_CONFIG_PATH=$pc
cc -o "$work/c_shared" "$src/tests/consumer/consumer.c" $(pkg-config --cflags --libs metatrace)
LD_LIBRARY_PATH=$libdir check "pkg-config (shared)" "$work/c_shared"
# (ldd's output captured first: grep -q closing the pipe early would fail the pipeline under pipefail)
deps=$(LD_LIBRARY_PATH=$libdir ldd "$work/c_shared")
case "$deps" in
    *"libmetatrace.so.$abi => $libdir/"*) ;;
    *) echo "shared consumer not linked to $libdir: $deps"; exit 1 ;;
esac
cc -o "$work/c_static" "$src/tests/consumer/consumer.c" $(pkg-config --cflags metatrace) \
    "$libdir/libmetatrace.a" $(pkg-config --libs --static jansson libcgraph libgvc) -lm
check "pkg-config (static)" "$work/c_static"
unset PKG_CONFIG_PATH

# 2. find_package against the prefix
cmake -S "$src/tests/consumer" -B "$work/b_pkg" -DMODE=package -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/b_pkg" -j 2 >/dev/null
check "find_package" "$work/b_pkg/consumer"

# 3. add_subdirectory of the source tree (tests, oracle and programs off by default there)
cmake -S "$src/tests/consumer" -B "$work/b_sub" -DMODE=subdir -DMT_SOURCE="$src" >/dev/null
cmake --build "$work/b_sub" -j 2 --target consumer >/dev/null
check "add_subdirectory" "$work/b_sub/consumer"
