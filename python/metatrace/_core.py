"""Models, graphs, nodes and parameters over the flat C API (include/metatrace/flat.h).

The graph, its sizing figures and its plans are read from the documents the
library writes into memory (the graph JSON of docs/graph-format.md, the plan
JSON of docs/plan.md), parsed with the json module: exact, and independent of
any C struct layout.
"""
import ast
import ctypes
import json
import operator
import os
import tempfile

from . import _lib
from ._lib import dec, enc, lib


class Error(Exception):
    """An error reported by the library: `message` is its message (mt_ctx_errmsg),
    `status` its status name ("config", "usage", "io", ...)."""

    def __init__(self, message, status):
        super().__init__(message)
        self.message = message
        self.status = status


def version():
    """The library's version ("0.1.0")."""
    return dec(lib.mt_version())


def library_path():
    """The shared library this package loaded."""
    return _lib.path


class _Ctx:
    """One mt_ctx: every handle built in it lives until close()."""

    def __init__(self):
        self.ptr = lib.mt_ctx_new()
        if not self.ptr:
            raise MemoryError("metatrace: cannot create a context")

    def fail(self):
        msg = dec(lib.mt_ctx_errmsg(self.ptr))
        status = dec(lib.mt_status_name(lib.mt_ctx_status(self.ptr)))
        lib.mt_error_clear(self.ptr)
        return Error(msg, status)

    def check(self, handle):
        if not handle:
            raise self.fail()
        return handle

    def flat(self, options, bind=None):
        f = self.check(lib.mt_flat_new(self.ptr))
        for k, v in options.items():
            if v is None:
                continue
            if isinstance(v, bool):
                v = "true" if v else "false"
            if lib.mt_flat_set(f, enc(k), enc(str(v))) != 0:
                raise self.fail()
        for k, v in (bind or {}).items():
            if isinstance(v, bool) or not isinstance(v, int):
                raise Error("bind: the value of '%s' must be a positive integer, got %r" % (k, v), "usage")
            if lib.mt_flat_bind(f, enc(k), v) != 0:
                raise self.fail()
        return f

    def close(self):
        if self.ptr:
            lib.mt_ctx_free(self.ptr)
            self.ptr = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass


# ---- sizes ---------------------------------------------------------------------------

_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(v):
    """Bytes from an int or a string such as "80GiB", "141GB", "1.5TiB" (the CLI's --mem)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    s = str(v).strip().upper()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if s.endswith(unit):
            num = s[: -len(unit)].strip()
            try:
                return int(float(num) * _UNITS[unit]) if "." in num else int(num) * _UNITS[unit]
            except ValueError:
                break
    try:
        return int(s)
    except ValueError:
        raise Error("mem: expected a size such as 80GiB, 141GB or 17179869184, got %r" % (v,), "usage") from None


# ---- symbolic dims ---------------------------------------------------------------------

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow}


def eval_dim(dim, bind=None, **symbols):
    """The value of a dim: an int as it is, a symbolic expression as the library
    prints it ("batch*seq", "(seq + 1)//2", "seq**2") evaluated with the symbols
    given (a dict and/or keywords). A symbol left unbound raises Error."""
    if isinstance(dim, int) and not isinstance(dim, bool):
        return dim
    values = dict(bind or {})
    values.update(symbols)
    text = str(dim)

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, int) and not isinstance(n.value, bool):
            return n.value
        if isinstance(n, ast.Name):
            if n.id not in values:
                raise Error("dim '%s': symbol '%s' is not bound" % (text, n.id), "usage")
            return values[n.id]
        if isinstance(n, ast.BinOp) and type(n.op) in _BINOPS:
            return _BINOPS[type(n.op)](ev(n.left), ev(n.right))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -ev(n.operand)
        raise Error("dim '%s': not a symbolic dimension" % text, "usage")

    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise Error("dim '%s': not a symbolic dimension" % text, "usage") from None
    return ev(tree)


class Sym(str):
    """A symbolic int argument ({"sym": "batch*seq"} in the JSON)."""

    def eval(self, bind=None, **symbols):
        return eval_dim(self, bind, **symbols)

    def __repr__(self):
        return "Sym(%s)" % str.__repr__(self)


class DType(str):
    """A dtype argument ({"dtype": "float32"}): the torch name without prefix."""

    def __repr__(self):
        return "DType(%s)" % str.__repr__(self)


class Device(str):
    """A device argument ({"device": "meta"})."""

    def __repr__(self):
        return "Device(%s)" % str.__repr__(self)


def dtype_size(name):
    """Bytes per element of a dtype name."""
    d = lib.mt_dtype_parse(enc(name))
    if d < 0:
        raise Error("unknown dtype '%s'" % name, "usage")
    return lib.mt_dtype_size(d)


def _shape(s):
    return None if s is None else tuple(s)


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class Record:
    """A JSON object with attribute access (sizing figures, plans); `raw` is the dict."""

    __slots__ = ("raw",)

    def __init__(self, raw):
        self.raw = raw

    def __getattr__(self, k):
        try:
            return _rec(self.raw[k])
        except KeyError:
            raise AttributeError(k) from None

    def __getitem__(self, k):
        return _rec(self.raw[k])

    def __contains__(self, k):
        return k in self.raw

    def keys(self):
        return self.raw.keys()

    def __dir__(self):
        return list(self.raw.keys())

    def __repr__(self):
        return "Record(%s)" % ", ".join("%s=%s" % (k, _short(v)) for k, v in self.raw.items())


def _short(v):
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _rec(v):
    if isinstance(v, dict):
        return Record(v)
    if isinstance(v, list):
        return [_rec(x) for x in v]
    return v


# ---- graph objects ------------------------------------------------------------------------

class Parameter:
    """A parameter in named_parameters() order; a tied alias has `tied_to` set
    (its shape and dtype are those of that parameter; not counted in totals)."""

    __slots__ = ("name", "shape", "dtype", "tied_to")

    def __init__(self, name, shape, dtype, tied_to):
        self.name, self.shape, self.dtype, self.tied_to = name, shape, dtype, tied_to

    @property
    def numel(self):
        return _numel(self.shape)

    @property
    def bytes(self):
        return self.numel * dtype_size(self.dtype)

    def __repr__(self):
        t = ", tied_to=%r" % self.tied_to if self.tied_to else ""
        return "Parameter(%r, %s, %s%s)" % (self.name, list(self.shape), self.dtype, t)


class Buffer:
    """A buffer: `persistent` (in the state_dict), `computed` (filled at load, rotary inv_freq)."""

    __slots__ = ("name", "shape", "dtype", "persistent", "computed")

    def __init__(self, name, shape, dtype, persistent, computed):
        self.name, self.shape, self.dtype = name, shape, dtype
        self.persistent, self.computed = persistent, computed

    @property
    def numel(self):
        return _numel(self.shape)

    @property
    def bytes(self):
        return self.numel * dtype_size(self.dtype)

    def __repr__(self):
        return "Buffer(%r, %s, %s)" % (self.name, list(self.shape), self.dtype)


class Module:
    """A module of the tree (root excluded): dotted `path`, class `type`, `leaf`
    (a torch.nn built-in recorded as call_module), constructor `attributes`."""

    __slots__ = ("path", "type", "leaf", "attributes")

    def __init__(self, path, type, leaf, attributes):
        self.path, self.type, self.leaf, self.attributes = path, type, leaf, attributes

    def __repr__(self):
        return "Module(%r, %s)" % (self.path, self.type)


class Node:
    """A graph node as FX has it: `op` (placeholder, get_attr, call_module,
    call_function, call_method, output), `target` (a string: "torch.matmul",
    "view", a module or parameter path), `args` (a tuple) and `kwargs` (a dict)
    whose node references are Node objects, symbolic ints Sym, dtypes DType,
    slices slice, Ellipsis ..., lists tuples; `shape` a tuple of ints and
    strings (symbolic dims) or None (tuple nodes, output), `dtype` a name or
    None; `outputs` [(shape, dtype)] for tuple nodes (split, chunk, topk);
    `module_stack` the module paths it was recorded under, outermost first."""

    __slots__ = ("index", "name", "op", "target", "args", "kwargs", "shape", "dtype", "outputs",
                 "module_stack", "users")

    def __repr__(self):
        return "Node(%s, %s, %s, %s %s)" % (self.name, self.op, self.target,
                                           None if self.shape is None else list(self.shape), self.dtype)

    @property
    def module(self):
        """The innermost module path the node was recorded under ("" at top level)."""
        return self.module_stack[-1] if self.module_stack else ""

    @property
    def concrete_shape(self):
        """The shape as ints, or None when a dim is symbolic (or no single output)."""
        if self.shape is None or any(not isinstance(d, int) for d in self.shape):
            return None
        return self.shape

    def shape_at(self, bind=None, **symbols):
        """The shape with its symbolic dims evaluated (eval_dim)."""
        if self.shape is None:
            return None
        return tuple(eval_dim(d, bind, **symbols) for d in self.shape)

    @property
    def all_input_nodes(self):
        out = []
        _walk_nodes((self.args, self.kwargs), out)
        seen = set()
        return [n for n in out if not (id(n) in seen or seen.add(id(n)))]


def _walk_nodes(a, out):
    if isinstance(a, Node):
        out.append(a)
    elif isinstance(a, (tuple, list)):
        for x in a:
            _walk_nodes(x, out)
    elif isinstance(a, dict):
        for x in a.values():
            _walk_nodes(x, out)
    elif isinstance(a, slice):
        _walk_nodes((a.start, a.stop, a.step), out)


def _decode_arg(v, by_name):
    if isinstance(v, list):
        return tuple(_decode_arg(x, by_name) for x in v)
    if isinstance(v, dict):
        if "node" in v:
            return by_name[v["node"]]
        if "sym" in v:
            return Sym(v["sym"])
        if "dtype" in v:
            return DType(v["dtype"])
        if "device" in v:
            return Device(v["device"])
        if "slice" in v:
            return slice(*(_decode_arg(x, by_name) for x in v["slice"]))
        if "ellipsis" in v:
            return Ellipsis
        if "float" in v:
            return float(v["float"])
        raise Error("graph JSON: unknown argument encoding %r" % (v,), "internal")
    return v


# ---- model and graph ------------------------------------------------------------------------

class Model:
    """A model built on the meta device from a Hugging Face config.

    config: a config.json, a folder holding one, a Hub cache folder
    (models--org--name) or a model id "org/name" found offline in the Hub
    cache; revision: the ref or commit of a cache folder or model id (None:
    main). dtype (a floating dtype name), layers (int), attn ("eager",
    "sdpa"): the CLI's --dtype, --layers, --attn. Errors raise Error.
    `config_path` is the config.json found; traces read that file again (a
    Hub cache ref moved in between does not change the model)."""

    def __init__(self, config, revision=None, *, dtype=None, layers=None, attn=None):
        self.options = {"dtype": dtype, "layers": layers, "attn": attn}
        ctx = _Ctx()
        try:
            flat = ctx.flat(self.options)
            cfg = ctx.check(lib.mt_config_load_revision(ctx.ptr, enc(config), enc(revision)))
            self.config_path = dec(lib.mt_config_path(cfg))
            ctx.check(lib.mt_flat_build(flat, cfg))
        finally:
            ctx.close()

    def trace(self, bind=None, **symbols):
        """Trace the forward over input_ids/attention_mask [batch, seq]: symbolic,
        or with the symbols given bound (trace(batch=1, seq=128)). Returns a Graph."""
        b = dict(bind or {})
        b.update(symbols)
        return Graph(self, b)

    def __repr__(self):
        return "Model(%r)" % (self.config_path,)


def load(config, revision=None, **options):
    """Model(config, revision, dtype=..., layers=..., attn=...)."""
    return Model(config, revision, **options)


def trace(config, revision=None, *, dtype=None, layers=None, attn=None, **bind):
    """Model(...).trace(**bind) in one call."""
    return Model(config, revision, dtype=dtype, layers=layers, attn=attn).trace(**bind)


class Graph:
    """A traced graph and the model it came from. Owns a library context
    (freed by close() or when the object is collected)."""

    def __init__(self, model, bind):
        self.bind = dict(bind)
        self._ctx = ctx = _Ctx()
        flat = ctx.flat(model.options, self.bind)
        cfg = ctx.check(lib.mt_config_load_revision(ctx.ptr, enc(model.config_path), None))
        self._model = ctx.check(lib.mt_flat_build(flat, cfg))
        self._graph = ctx.check(lib.mt_flat_trace(flat, self._model))
        self._options = dict(model.options)
        self._doc = None

    def close(self):
        self._ctx.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- exports ---------------------------------------------------------------------
    def export(self, format, **options):
        """The bytes of an export of mt_flat_export: format "json", "dot",
        "summary", "table", "svg", "png", "html", "plan-json",
        "plan-graph-json", "plan-dot", "plan-table", "plan-html",
        "plan-degrees"; options as the CLI's long
        options with '_' for '-' (kv_dtype="float8_e4m3fn", mem="80GiB",
        stable=True, tp=8, plan_style="transformers", ...)."""
        if not self._ctx.ptr:
            raise Error("the graph was closed", "usage")
        opts = {k.replace("_", "-"): v for k, v in options.items()}
        if opts.get("mem") is not None:
            opts["mem"] = parse_size(opts["mem"])
        flat = self._ctx.flat(opts, self.bind)
        n = ctypes.c_size_t()
        p = lib.mt_flat_export(flat, self._model, self._graph, enc(format), ctypes.byref(n))
        if not p:
            raise self._ctx.fail()
        try:
            return ctypes.string_at(p, n.value)
        finally:
            lib.mt_heap_free(self._ctx.ptr, p)

    def _text(self, fmt, path, **options):
        data = self.export(fmt, **options)
        if path is None:
            return data.decode("utf-8")
        _write(path, data)
        return None

    def to_json(self, path=None, *, stable=False, compact=False, **sizing):
        """The graph JSON (docs/graph-format.md) as a string, or written to `path`
        (replaced atomically). Sizing options: quant, kv_dtype, mem, mla_cache,
        dp, optimizer, context."""
        return self._text("json", path, stable=stable, compact=compact, **sizing)

    def to_dot(self, path=None):
        """The graph as Graphviz DOT, as a string or written to `path`."""
        return self._text("dot", path)

    def summary(self, **sizing):
        """The CLI's summary table."""
        return self._text("summary", None, **sizing)

    def module_table(self, depth=3, unfold=False, **sizing):
        """The per-module table (the CLI's --depth)."""
        return self._text("table", None, depth=depth, unfold=unfold, **sizing)

    def render(self, format="svg", path=None):
        """SVG or PNG through Graphviz: bytes, or written to `path`."""
        data = self.export(format)
        if path is None:
            return data
        _write(path, data)
        return None

    # -- the document ----------------------------------------------------------------
    @property
    def document(self):
        """The parsed graph JSON (with its default sizing member)."""
        if self._doc is None:
            self._doc = json.loads(self.export("json", compact=True))
            self._build()
        return self._doc

    def _build(self):
        d = self._doc
        self.model = Record(d["model"])
        self.symbols = [Record(s) for s in d["symbols"]]
        self.parameters = [Parameter(p["name"], tuple(p["shape"]), p["dtype"], p["tied_to"])
                           for p in d["parameters"]]
        self.buffers = [Buffer(b["name"], tuple(b["shape"]), b["dtype"], b["persistent"], b["computed"])
                        for b in d["buffers"]]
        self.modules = [Module(m["path"], m["type"], m["leaf"], m["attributes"]) for m in d["modules"]]
        self.totals = Record(d["totals"])
        by_name = {}
        nodes = []
        for i, j in enumerate(d["nodes"]):
            n = Node()
            n.index, n.name, n.op, n.target = i, j["name"], j["op"], j["target"]
            n.args = _decode_arg(j["args"], by_name)
            n.kwargs = {k: _decode_arg(v, by_name) for k, v in j["kwargs"].items()}
            n.shape, n.dtype = _shape(j["shape"]), j["dtype"]
            n.outputs = [(tuple(o["shape"]), o["dtype"]) for o in j["outputs"]] if "outputs" in j else None
            n.module_stack = tuple(j["module_stack"])
            n.users = []
            for u in n.all_input_nodes:
                u.users.append(n)
            by_name[n.name] = n
            nodes.append(n)
        self.nodes = nodes
        self._by_name = by_name

    def __getattr__(self, k):
        # model, symbols, parameters, buffers, modules, totals, nodes: parsed on first use
        if k in ("model", "symbols", "parameters", "buffers", "modules", "totals", "nodes", "_by_name"):
            self.document
            return self.__dict__[k]
        raise AttributeError(k)

    def node(self, name):
        """The node named `name` (KeyError when none)."""
        return self._by_name[name]

    def parameter(self, name):
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    # -- sizing and plans -----------------------------------------------------------------
    def sizing(self, **options):
        """The sizing figures (docs/sizing.md) as a Record: with no options those of
        the document, else computed with quant, kv_dtype, mem, mla_cache, dp,
        optimizer, context."""
        if not options:
            return Record(self.document["sizing"])
        return Record(json.loads(self.export("json", compact=True, **options))["sizing"])

    def plan(self, tp, *, plan_style=None, sp=False, search=None):
        """The tensor-parallel plan for `tp` ranks (docs/plan.md) as a Record:
        valid, reason, params (name, role, shard_dim, ways, shape, local_shape,
        slices), comms, tp_plan, memory_per_rank, experts, ... Batch and seq
        come from the trace's binding (else 1 x 4096)."""
        doc = json.loads(self.export("plan-json", tp=tp, plan_style=plan_style, sp=sp or None, search=search))
        return Record(doc["plan"])

    def plan_degrees(self, max_tp=64, *, plan_style=None, sp=False, all=False):
        """The usable degrees in 1..max_tp (with all=True every degree, the unusable ones
        with their reason and None figures): tp, valid, kv_replication,
        param_bytes_per_rank, comm_bytes_per_token, reason (the CLI's --tp auto [--all])."""
        doc = json.loads(self.export("plan-degrees", max_tp=max_tp, plan_style=plan_style, sp=sp or None,
                                     all=all or None))
        return [Record(d) for d in doc["degrees"]]

    def __repr__(self):
        return "Graph(%s, bind=%r)" % (self.model.raw.get("class"), self.bind)


def _write(path, data):
    """Write bytes to path: a temporary in the same directory renamed over it."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".metatrace-", dir=d)
    try:
        try:
            mode = os.stat(path).st_mode & 0o777  # a replaced file keeps its permission bits
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
