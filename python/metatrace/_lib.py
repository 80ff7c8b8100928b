"""Finding and loading libmetatrace.so.3 through ctypes (standard library only).

Only the flat API of include/metatrace/flat.h and a few scalar functions are
used: every argument and result is an opaque pointer, a C string or an
integer, so nothing here depends on a C struct layout.

Where the library is looked for, first hit wins (docs/python.md):
  1. $METATRACE_LIB, the path of the shared library;
  2. the library directory of the installation this package belongs to
     (written into _install.py by `cmake --install`);
  3. a build directory of the source tree this package sits in:
     $METATRACE_BUILD, then build/ (the Makefile's);
  4. the dynamic loader's search path (LD_LIBRARY_PATH, ldconfig):
     libmetatrace.so.3.
"""
import ctypes
import os

ABI_VERSION = 3
SONAME = "libmetatrace.so.%d" % ABI_VERSION

_here = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("METATRACE_LIB")
    if env:
        yield env, "$METATRACE_LIB"
        return
    try:
        from . import _install  # written by cmake --install
        yield os.path.normpath(os.path.join(_here, _install.LIBDIR_FROM_PACKAGE, SONAME)), "the installation"
    except ImportError:
        pass
    root = os.path.dirname(os.path.dirname(_here))  # python/metatrace -> the source tree
    builds = [os.environ.get("METATRACE_BUILD"), os.path.join(root, "build")]
    for b in builds:
        if b:
            yield os.path.join(b, SONAME), "a build directory"
    yield SONAME, "the dynamic loader's search path"


def _load():
    tried = []
    for path, where in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (%s: no such file)" % (path, where))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s: %s)" % (path, where, e))
    raise ImportError("metatrace: cannot load the shared library %s; tried: %s. Set METATRACE_LIB to its "
                      "path (e.g. build/libmetatrace.so.3) or install metatrace with cmake --install"
                      % (SONAME, "; ".join(tried)))


lib, path = _load()

_P = ctypes.c_void_p
_S = ctypes.c_char_p
_I = ctypes.c_int
_I64 = ctypes.c_int64
_SZ = ctypes.c_size_t

_PROTOS = {
    # name: (restype, argtypes)
    "mt_version": (_S, []),
    "mt_abi_version": (_I, []),
    "mt_status_name": (_S, [_I]),
    "mt_ctx_new": (_P, []),
    "mt_ctx_free": (None, [_P]),
    "mt_ctx_status": (_I, [_P]),
    "mt_ctx_errmsg": (_S, [_P]),
    "mt_error_clear": (None, [_P]),
    "mt_heap_free": (None, [_P, _P]),
    "mt_config_load_revision": (_P, [_P, _S, _S]),
    "mt_config_path": (_S, [_P]),
    "mt_config_model_type": (_S, [_P]),
    "mt_hub_config_path": (_S, [_P, _S, _S]),
    "mt_dtype_parse": (_I, [_S]),
    "mt_dtype_size": (_SZ, [_I]),
    "mt_flat_new": (_P, [_P]),
    "mt_flat_set": (_I, [_P, _S, _S]),
    "mt_flat_bind": (_I, [_P, _S, _I64]),
    "mt_flat_build": (_P, [_P, _P]),
    "mt_flat_trace": (_P, [_P, _P]),
    "mt_flat_export": (_P, [_P, _P, _P, _S, ctypes.POINTER(_SZ)]),
}

for _name, (_res, _args) in _PROTOS.items():
    _f = getattr(lib, _name)  # AttributeError here: the library lacks a function this package needs
    _f.restype = _res
    _f.argtypes = _args

if lib.mt_abi_version() != ABI_VERSION:
    raise ImportError("metatrace: %s has ABI version %d, this package needs %d"
                      % (path, lib.mt_abi_version(), ABI_VERSION))


def enc(s):
    """A Python string as a C string argument (None stays NULL)."""
    if s is None:
        return None
    if isinstance(s, os.PathLike):
        s = os.fspath(s)
    if isinstance(s, bytes):
        return s
    return str(s).encode("utf-8")


def dec(b):
    return None if b is None else b.decode("utf-8", "replace")
