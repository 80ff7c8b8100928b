#!/usr/bin/env bash
# Install the Debian packages metatrace needs. Idempotent: packages already
# present are not reinstalled and apt is not touched.
#
#   scripts/setup.sh run    what building and running the CLI and library needs
#   scripts/setup.sh test   that, plus the test dependencies (Criterion, clang
#                           for the compiler_order test, libtorch for the
#                           oracle, Debian's python3 and python3-torch for the
#                           Python package's tests, chromium for the HTML
#                           viewer's browser test): the default
set -euo pipefail
mode=${1:-test}
run_pkgs=(build-essential cmake pkg-config libjansson-dev libgraphviz-dev graphviz)
test_pkgs=(libcriterion-dev libtorch-dev clang python3 python3-torch chromium)
case "$mode" in
    run) pkgs=("${run_pkgs[@]}") ;;
    test) pkgs=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
    *) echo "setup: usage: $0 [run|test]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup ($mode): all packages present: ${pkgs[*]}"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "setup ($mode): installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
