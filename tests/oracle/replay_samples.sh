#!/usr/bin/env bash
# Trace every sample config with the CLI (2 layers) and replay the exported graph
# on ATen meta tensors under batch in {1,3} x seq in {1,7,128}.
#
# usage: replay_samples.sh CLI REPLAY CONFIG_DIR OUT_DIR
# A config whose model_type the CLI does not support yet is reported as SKIPPED
# (and does not fail the test, for now); a CLI failure or any replay
# disagreement fails it.
set -u
if [ $# -ne 4 ]; then
    echo "usage: $0 CLI REPLAY CONFIG_DIR OUT_DIR" >&2
    exit 2
fi
cli=$1 replay=$2 cfgdir=$3 out=$4
mkdir -p "$out"
binds=(--bind batch=1,seq=1 --bind batch=1,seq=7 --bind batch=1,seq=128
       --bind batch=3,seq=1 --bind batch=3,seq=7 --bind batch=3,seq=128)
configs=0 replayed=0 skipped=0 clifail=0 bad=0 nodes=0 dis=0
for cfg in "$cfgdir"/*.config.json; do
    [ -e "$cfg" ] || continue
    configs=$((configs + 1))
    base=$(basename "$cfg" .config.json)
    json="$out/$base.json"
    log="$out/$base.cli.log"
    rm -f "$json"
    if ! "$cli" "$cfg" --layers 2 -o "$json" >"$log" 2>&1; then
        if grep -q "unsupported model_type" "$log"; then
            echo "replay: $base: SKIPPED: $(grep -m1 "unsupported model_type" "$log")"
            skipped=$((skipped + 1))
        else
            echo "replay: $base: FAIL: the CLI failed: $(head -c 400 "$log")"
            clifail=$((clifail + 1))
        fi
        continue
    fi
    rlog="$out/$base.replay.log"
    "$replay" "${binds[@]}" "$json" >"$rlog" 2>&1
    rc=$?
    grep -v '^replay: .* files x ' "$rlog"
    last=$(grep '^replay: .* files x ' "$rlog" | tail -1)
    if [ -z "$last" ]; then
        echo "replay: $base: FAIL: the replayer did not finish (exit $rc)"
        bad=$((bad + 1))
        continue
    fi
    n=$(echo "$last" | sed -E 's/.*: ([0-9]+) nodes, ([0-9]+) disagreements/\1/')
    k=$(echo "$last" | sed -E 's/.*: ([0-9]+) nodes, ([0-9]+) disagreements/\2/')
    nodes=$((nodes + n))
    dis=$((dis + k))
    replayed=$((replayed + 1))
    [ "$rc" -eq 0 ] || bad=$((bad + 1))
done
echo "replay-samples: $configs configs: $replayed replayed x 6 bindings ($nodes nodes, $dis disagreements), $skipped skipped (unsupported model_type), $clifail CLI failures"
[ "$configs" -gt 0 ] && [ "$bad" -eq 0 ] && [ "$clifail" -eq 0 ] && [ "$dis" -eq 0 ]
