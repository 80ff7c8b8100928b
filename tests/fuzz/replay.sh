#!/usr/bin/env bash
# Replays one fuzz target's inputs without libFuzzer (ctest fuzz_replay_<name>).
# Usage: replay.sh NAME REPLAY_BIN TINY_WRITER WORK_DIR SOURCE_DIR
#   config:  every shipped config, every family's tiny config, the seeds and
#            the failure corpus;
#   getters: the seeds and the failure corpus.
set -euo pipefail
name=$1 bin=$2 tiny_writer=$3 work=$4 src=$5
inputs=("$src/tests/fuzz/seeds/$name")
[ -d "$src/tests/fuzz/failures/$name" ] && inputs+=("$src/tests/fuzz/failures/$name")
if [ "$name" = config ]; then
    rm -rf "$work/tiny"
    mkdir -p "$work/tiny"
    "$tiny_writer" "$work/tiny" >/dev/null
    inputs+=("$src/samples/configs" "$work/tiny")
fi
# only .json files from the config folders (SOURCES.md and the like are not inputs)
files=()
for p in "${inputs[@]}"; do
    while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$p" -type f ! -name '*.md' -print0 | sort -z)
done
exec "$bin" "${files[@]}"
