#!/usr/bin/env bash
# Forwards read the handles their build bound, never a child by name
# (docs/ARCHITECTURE.md, Decisions, "Typed handles bound at build"): no family
# or shared block under src/models calls mt_tr_child or mt_tr_param, except the
# files listed below, written before handles and not converted yet. A new
# family file is checked as soon as it exists; convert it (docs/CONTRIBUTING.md)
# rather than adding it here.
#
# Usage: forward_handles.sh SOURCE_DIR
set -euo pipefail
src=$1
# not converted yet (they still look children up by name in their forwards)
exempt=" gemma3.c gemma4.c gemma3n.c "
# rotary.c: mt_rope_cos_sin_from reads a rotary module's buffer by the name its
# caller gives (Gemma 4's one rotary module holds one inv_freq per attention kind)
exempt+=" rotary.c "
status=0
for f in "$src"/src/models/*.c; do
    base=$(basename "$f")
    case "$exempt" in *" $base "*) continue ;; esac
    if hits=$(grep -nE '\bmt_tr_(child|param)\(' "$f"); then
        echo "$base looks modules up by name in a forward; bind a handle at build instead:"
        echo "$hits" | sed 's/^/  /'
        status=1
    fi
done
[ $status -eq 0 ] && echo "every forward under src/models reads handles (exempt:$exempt)"
exit $status
