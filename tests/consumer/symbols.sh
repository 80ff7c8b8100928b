#!/usr/bin/env bash
# The shared library exports exactly the functions the public headers declare
# with MT_API: nothing private leaks, nothing public is missing.
# With PY_LIB (python/metatrace/_lib.py), also: every function the Python
# package binds through ctypes is one of them.
# Usage: symbols.sh LIBMETATRACE_SO INCLUDE_DIR [PY_LIB]
set -euo pipefail
so=$1 inc=$2 py=${3:-}
exported=$(nm -D --defined-only "$so" | awk '$2 == "T" || $2 == "D" || $2 == "B" || $2 == "R" {print $3}' | sort -u)
declared=$(grep -hoE '^MT_API [^(]*\bmt_[a-z0-9_]+\(' "$inc"/*.h | grep -oE 'mt_[a-z0-9_]+\($' | tr -d '(' | sort -u)
extra=$(comm -23 <(echo "$exported") <(echo "$declared"))
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
status=0
if [ -n "$extra" ]; then
    echo "exported but in no public header:"; echo "$extra" | sed 's/^/  /'; status=1
fi
if [ -n "$missing" ]; then
    echo "declared MT_API but not exported (no definition?):"; echo "$missing" | sed 's/^/  /'; status=1
fi
if [ -n "$py" ]; then
    bound=$(grep -oE '^ *"mt_[a-z0-9_]+": \(' "$py" | grep -oE 'mt_[a-z0-9_]+' | sort -u)
    [ -n "$bound" ] || { echo "no bound functions found in $py"; status=1; }
    unbound=$(comm -23 <(echo "$bound") <(comm -12 <(echo "$exported") <(echo "$declared")))
    if [ -n "$unbound" ]; then
        echo "bound by the Python package but not a public exported function:"; echo "$unbound" | sed 's/^/  /'; status=1
    fi
    [ $status -eq 0 ] && echo "python package binds $(echo "$bound" | wc -l) functions, all public"
fi
[ $status -eq 0 ] && echo "exported symbols: $(echo "$exported" | wc -l), all declared in $inc"
exit $status
