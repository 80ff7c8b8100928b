#!/bin/sh
# The sizing pass's share of the trace in instructions (callgrind: repeatable
# on a shared machine, unlike wall time): issue 9's "adds under 10 % to a 70B
# trace". Usage: sizing-share.sh MT_BENCH [CONFIG] (default Llama-2-70B).
# Prints nothing but a note when valgrind is not installed.
set -eu
bench=$1
cfg=${2:-$(dirname "$0")/configs/llama-2-70b.config.json}
if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_annotate >/dev/null 2>&1; then
    echo "sizing share: valgrind not installed, no instruction counts"
    exit 0
fi
out=$(mktemp "${TMPDIR:-/tmp}/mt-callgrind.XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM
valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --once "$cfg" >/dev/null 2>&1
callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk -v cfg="$(basename "$cfg")" '
    { gsub(",", "", $1) }
    /:mt_model_trace / { trace = $1 }
    /:mt_model_sizing / { sizing = $1 }
    END {
        if (!trace || !sizing) { print "sizing share: no counts (is the library built with symbols?)"; exit 1 }
        printf "sizing share (callgrind, %s): trace %.2f M instructions, sizing %.2f M = %.1f %% of the trace\n",
               cfg, trace / 1e6, sizing / 1e6, 100 * sizing / trace
    }'
