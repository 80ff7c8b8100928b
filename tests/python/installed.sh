#!/usr/bin/env bash
# The Python package as cmake --install leaves it: imported from the prefix with
# PYTHONPATH only (no METATRACE_LIB), it loads the library installed beside it.
# Usage: installed.sh BUILD_DIR WORK_DIR PYTHON PY_INSTALL_DIR CONFIG
set -euo pipefail
build=$1 work=$2 py=$3 pydir=$4 config=$5
if [ -z "$py" ]; then echo "python_installed: SKIPPED: no python3 found (install python3, or set MT_PYTHON)"; exit 77; fi
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
# moved after installing: the package finds the library relative to itself
mv "$work/prefix" "$work/moved"
env -u METATRACE_LIB -u METATRACE_BUILD PYTHONPATH="$work/moved/$pydir" PYTHONDONTWRITEBYTECODE=1 "$py" - "$work/moved" "$config" <<'PY'
import os, sys
import metatrace
prefix, config = sys.argv[1], sys.argv[2]
lib = os.path.realpath(metatrace.library_path())
assert lib.startswith(os.path.realpath(prefix) + os.sep), "loaded %s, not the installed library under %s" % (lib, prefix)
assert metatrace.__file__.startswith(prefix), metatrace.__file__
g = metatrace.load(config, layers=1).trace(batch=1, seq=8)
assert g.node("lm_head").shape == (1, 8, 32000), g.node("lm_head")
print("python_installed: %s from %s, library %s" % (metatrace.version(), os.path.dirname(metatrace.__file__), lib))
PY
