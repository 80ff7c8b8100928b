#!/usr/bin/env bash
# Install the Debian packages metatrace needs to build and test. Idempotent:
# packages already present are not reinstalled and apt is not touched.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libjansson-dev libgraphviz-dev graphviz
      libcriterion-dev libtorch-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
