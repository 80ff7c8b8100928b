#!/usr/bin/env bash
# Trace every CONFIG_DIR/*.config.json with the CLI (2 layers) and replay the
# exported graph on ATen meta tensors under batch in {1,3} x seq in SEQS
# (default "1 7 128"). dec_seq, the decoder length of encoder-decoder families,
# is bound too, to the next value of SEQS (cyclically) so that it differs from
# seq, and images, the image count of vision-language models' pixel_values, to
# the batch; graphs without them ignore them.
#
# usage: replay_samples.sh [--seqs "1 7 16"] [--attn IMPL] [--expect-skip NAME]... CLI REPLAY CONFIG_DIR OUT_DIR
#
# --attn IMPL traces every config with that attention implementation (eager or sdpa).
#
# Strict: a CLI failure, an unsupported model_type, a replayer that does not
# finish or any disagreement fails the test. The one exception is an explicit
# expected skip (--expect-skip NAME, NAME being the file name without
# .config.json) whose model_type is not supported yet: it is printed as
# EXPECTED SKIP. An expected skip that traces fine fails too, so the list stays
# exact (remove it from tests/oracle/CMakeLists.txt).
#
# Prints "replay: <file>: N nodes, K disagreements" per config (DISAGREE lines
# before it) and ends with "replay total: F files, N nodes, K disagreements".
set -u
seqs="1 7 128"
expect=()
attn=()
while [ $# -gt 0 ]; do
    case $1 in
        --seqs) seqs=$2; shift 2 ;;
        --expect-skip) expect+=("$2"); shift 2 ;;
        --attn) attn=(--attn "$2"); shift 2 ;;
        --) shift; break ;;
        -*) echo "replay_samples.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
if [ $# -ne 4 ]; then
    echo "usage: $0 [--seqs \"1 7 128\"] [--attn IMPL] [--expect-skip NAME]... CLI REPLAY CONFIG_DIR OUT_DIR" >&2
    exit 2
fi
cli=$1 replay=$2 cfgdir=$3 out=$4
mkdir -p "$out"

read -r -a seqv <<<"$seqs"
binds=()
for b in 1 3; do
    for k in "${!seqv[@]}"; do
        d=${seqv[$(((k + 1) % ${#seqv[@]}))]}
        binds+=(--bind "batch=$b,seq=${seqv[$k]},dec_seq=$d,images=$b")
    done
done
nbind=$((${#binds[@]} / 2))

is_expected() {
    local e
    for e in "${expect[@]+"${expect[@]}"}"; do [ "$e" = "$1" ] && return 0; done
    return 1
}

configs=0 replayed=0 skipped=0 unsupported=0 clifail=0 stale=0 bad=0 nodes=0 dis=0
for cfg in "$cfgdir"/*.config.json; do
    [ -e "$cfg" ] || continue
    configs=$((configs + 1))
    base=$(basename "$cfg" .config.json)
    file=$(basename "$cfg")
    json="$out/$base.json"
    log="$out/$base.cli.log"
    rm -f "$json"
    if ! "$cli" "$cfg" --layers 2 "${attn[@]+"${attn[@]}"}" -o "$json" >"$log" 2>&1; then
        if grep -q "unsupported model_type" "$log"; then
            if is_expected "$base"; then
                echo "replay: $file: EXPECTED SKIP: $(grep -m1 "unsupported model_type" "$log")"
                skipped=$((skipped + 1))
            else
                echo "replay: $file: FAIL: $(grep -m1 "unsupported model_type" "$log")"
                unsupported=$((unsupported + 1))
            fi
        else
            echo "replay: $file: FAIL: the CLI failed: $(head -c 400 "$log")"
            clifail=$((clifail + 1))
        fi
        continue
    fi
    if is_expected "$base"; then
        echo "replay: $file: FAIL: listed as an expected skip but traces fine; remove --expect-skip $base"
        stale=$((stale + 1))
    fi
    rlog="$out/$base.replay.log"
    "$replay" "${binds[@]}" "$json" >"$rlog" 2>&1
    rc=$?
    # Per-binding lines stay in the log; everything else (DISAGREE, errors) is shown.
    grep -v -e '^replay: .* files x ' -e '^replay: .* \[.*\]: [0-9]* nodes, [0-9]* disagreements$' "$rlog"
    last=$(grep '^replay: .* files x ' "$rlog" | tail -1)
    if [ -z "$last" ]; then
        echo "replay: $file: FAIL: the replayer did not finish (exit $rc)"
        bad=$((bad + 1))
        continue
    fi
    n=$(echo "$last" | sed -E 's/.*: ([0-9]+) nodes, ([0-9]+) disagreements/\1/')
    k=$(echo "$last" | sed -E 's/.*: ([0-9]+) nodes, ([0-9]+) disagreements/\2/')
    echo "replay: $file: $n nodes, $k disagreements ($nbind bindings)"
    nodes=$((nodes + n))
    dis=$((dis + k))
    replayed=$((replayed + 1))
    [ "$rc" -eq 0 ] || bad=$((bad + 1))
done
echo "replay-samples: $configs configs: $replayed replayed x $nbind bindings, $skipped expected skips," \
     "$unsupported unsupported model_type, $clifail CLI failures, $stale stale expected skips"
echo "replay total: $replayed files, $nodes nodes, $dis disagreements"
[ "$configs" -gt 0 ] && [ "$bad" -eq 0 ] && [ "$clifail" -eq 0 ] && [ "$unsupported" -eq 0 ] \
    && [ "$stale" -eq 0 ] && [ "$dis" -eq 0 ]
