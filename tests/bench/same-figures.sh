#!/bin/bash
# Every figure byte-identical between two builds of the CLI: the JSON, the
# summary, --depth, --bind, --tp and --fit outputs of every config in
# samples/configs, tests/bench/configs, ../shared/configs (when present) and
# every tiny config of tests/tiny_configs.h (at 6 layers and as written, with
# --attn eager too), and of the MoE configs at shapes whose expected expert
# loads are fractional. For speed work on the sizing pass (docs/benchmarks.md).
#
# Usage: same-figures.sh OLD_REF NEW_METATRACE [WORKDIR]
#   OLD_REF: a git ref of this repository (built into WORKDIR/old), e.g. main
#   NEW_METATRACE: the CLI to check, e.g. build/metatrace
# Exit 0 when everything is identical, 1 otherwise (the diff is in WORKDIR/diff.txt).
set -eu
ref=$1
new=$(realpath "$2")
work=${3:-$(mktemp -d "${TMPDIR:-/tmp}/mt-same.XXXXXX")}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$work"
rm -rf "$work/src" "$work/out" && mkdir -p "$work/src" "$work/out/old" "$work/out/new" "$work/tiny"
git -C "$root" archive "$ref" | tar -x -C "$work/src"
cmake -S "$work/src" -B "$work/old" -DMT_ORACLE=OFF -DMT_TESTS=OFF >/dev/null
cmake --build "$work/old" -j2 --target metatrace_cli >/dev/null
old="$work/old/metatrace"
cat >"$work/dump_tiny.c" <<'C'
#include <stdio.h>
#include "tiny_configs.h"
int main(int argc, char **argv) {
    for (int i = 0; i < TINY_CONFIG_COUNT && argc > 1; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/tiny-%s.config.json", argv[1], tiny_configs[i].model_type);
        FILE *f = fopen(p, "w");
        if (!f) return 1;
        fputs(tiny_configs[i].json, f);
        fclose(f);
    }
    return 0;
}
C
cc -I"$root/tests" "$work/dump_tiny.c" -o "$work/dump_tiny" && "$work/dump_tiny" "$work/tiny"
cfgs=$(ls "$root"/samples/configs/*.json "$root"/samples/configs/*/*.json "$root"/tests/bench/configs/*.json \
          "$root"/../shared/configs/*.config.json "$work"/tiny/*.json 2>/dev/null)
run() { # BIN SIDE CONFIG
    local bin=$1 c=$3 d extra=""
    d="$out/$2/$(echo "$c" | tr '/' '_')"
    mkdir -p "$d"
    case "$c" in */tiny/*) extra="--layers 6";; esac
    "$bin" $extra "$c" -o "$d/g.json" --stable >"$d/json.err" 2>&1; echo $? >>"$d/rc"
    "$bin" $extra "$c" >"$d/summary" 2>&1; echo $? >>"$d/rc"
    "$bin" $extra "$c" --depth 2 >"$d/depth" 2>&1; echo $? >>"$d/rc"
    "$bin" $extra "$c" --depth 3 --unfold >"$d/depth3u" 2>&1; echo $? >>"$d/rc"
    "$bin" $extra "$c" --bind seq=512 -o "$d/b.json" --stable >"$d/bind.err" 2>&1; echo $? >>"$d/rc"
    "$bin" $extra "$c" --bind batch=2,seq=512 --mem 80GiB --dp 8 >"$d/bsum" 2>&1; echo $? >>"$d/rc"
    "$bin" $extra "$c" --tp auto --all >"$d/tp" 2>&1; echo $? >>"$d/rc"
    "$bin" $extra "$c" --fit 8xH100 --all >"$d/fit" 2>&1; echo $? >>"$d/rc"
    case "$c" in
    */tiny/*)
        "$bin" $extra "$c" --attn eager -o "$d/eager.json" --stable >"$d/eager.err" 2>&1; echo $? >>"$d/rc"
        "$bin" "$c" -o "$d/t2.json" --stable >"$d/t2.err" 2>&1; echo $? >>"$d/rc"
        for b in batch=1,seq=7 batch=3,seq=13; do # fractional expected expert loads
            "$bin" $extra "$c" --bind $b >"$d/frac-$b" 2>&1; echo $? >>"$d/rc"
        done;;
    esac
}
export -f run
export out="$work/out"
for c in $cfgs; do echo "$old old $c"; echo "$new new $c"; done | xargs -P2 -L1 bash -c 'run $0 $1 $2'
if diff -r "$work/out/old" "$work/out/new" >"$work/diff.txt"; then
    echo "same figures: $(echo $cfgs | wc -w) configs identical ($ref vs $new)"
else
    echo "figures differ ($ref vs $new): $work/diff.txt"; head -40 "$work/diff.txt"; exit 1
fi
