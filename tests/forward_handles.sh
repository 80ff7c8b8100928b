#!/usr/bin/env bash
# Forwards read the handles their build bound, never a child by name
# (docs/ARCHITECTURE.md, Decisions, "Typed handles bound at build"): no family
# or shared block under src/models (sources and headers) calls mt_tr_child or
# mt_tr_param. A new family file is checked as soon as it exists.
#
# Usage: forward_handles.sh SOURCE_DIR
set -euo pipefail
src=$1
status=0
for f in "$src"/src/models/*.c "$src"/src/models/*.h; do
    if hits=$(grep -nE '\bmt_tr_(child|param)\(' "$f"); then
        echo "$(basename "$f") looks modules up by name in a forward; bind a handle at build instead:"
        echo "$hits" | sed 's/^/  /'
        status=1
    fi
done
[ $status -eq 0 ] && echo "every forward under src/models reads handles"
exit $status
