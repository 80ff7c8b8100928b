#!/usr/bin/env bash
# Re-vendor the layout library of the HTML viewer (export/html/vendor/,
# docs/ARCHITECTURE.md "The viewer's layout"): @dagrejs/dagre's browser build
# dist/dagre.min.js (graphlib bundled, a global `dagre`), its licence and
# graphlib's, and VERSION with the package versions and the file's SHA-256.
# Uses `npm pack` (the npm registry, nothing installed). The library is
# inlined into every .html metatrace writes; rebuild afterwards (cmake/embed.cmake
# compiles it into libmetatrace).
#
#   scripts/vendor-dagre.sh [VERSION]     default: the version in VERSION
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/export/html/vendor
version=${1:-$(sed -n 's/^@dagrejs\/dagre \([0-9.]*\)$/\1/p' "$dest/VERSION")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "@dagrejs/dagre@$version" >/dev/null
mkdir dagre && tar xzf dagrejs-dagre-"$version".tgz -C dagre
graphlib=$(node -e 'console.log(require("./dagre/package/package.json").dependencies["@dagrejs/graphlib"])')
npm pack --silent "@dagrejs/graphlib@$graphlib" >/dev/null
mkdir graphlib && tar xzf dagrejs-graphlib-"$graphlib".tgz -C graphlib
min=dagre/package/dist/dagre.min.js
# the page inlines the file inside <script>: it must not close the element
if grep -qi '</script' "$min"; then
    echo "vendor-dagre: $min contains '</script': cannot be inlined" >&2
    exit 1
fi
{
    echo "dagre (@dagrejs/dagre $version, dist/dagre.min.js, bundling @dagrejs/graphlib $graphlib)"
    echo
    cat dagre/package/LICENSE
    echo
    echo "graphlib (@dagrejs/graphlib $graphlib)"
    echo
    cat graphlib/package/LICENSE
} >licence.txt
if grep -q '\*/' licence.txt; then
    echo "vendor-dagre: the licence text contains '*/'" >&2
    exit 1
fi
# The licence as a leading comment (every page that inlines the library carries
# it, as the MIT licence asks of copies), then the library without its
# source-map and LEGAL.txt comments (neither file is shipped).
{
    echo "/*!"
    cat licence.txt
    echo "*/"
    sed -e '/^\/\/# sourceMappingURL=/d' -e '/^\/\*! For license information please see .*\*\/$/d' "$min"
} >"$dest/dagre.min.js"
cp licence.txt "$dest/LICENSE"
{
    echo "@dagrejs/dagre $version"
    echo "@dagrejs/graphlib $graphlib"
    echo "sha256 $(sha256sum "$dest/dagre.min.js" | cut -d' ' -f1)  dagre.min.js"
    echo "fetched by scripts/vendor-dagre.sh from the npm registry (npm pack)"
} >"$dest/VERSION"
echo "vendor-dagre: export/html/vendor/dagre.min.js is @dagrejs/dagre $version (graphlib $graphlib)"
