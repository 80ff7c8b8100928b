"""metatrace graphs as real torch.fx graphs (needs torch; docs/python.md).

    gm = metatrace.fx.to_fx(graph)          # torch.fx.GraphModule, meta parameters
    gm.graph.lint()
    report = metatrace.fx.shape_prop(gm, graph)   # ShapeProp on meta tensors vs our shapes

to_fx maps every node to what PyTorch runs for it:
  placeholder   a placeholder (meta["val"]: a meta tensor when the shape is bound);
  get_attr      the parameter or buffer at its dotted path;
  call_function the real callable: operator.add, torch.matmul,
                torch.nn.functional.silu, ... (torch.nn.functional.
                scaled_dot_product_attention, absent before torch 2.0, is
                metatrace.fx.scaled_dot_product_attention then: PyTorch's math
                reference written in torch ops);
  call_method   the method by name, as FX records it;
  call_module   a real torch.nn module on the meta device (Linear, Embedding,
                LayerNorm, Dropout, SiLU, GELU(approximate="tanh") for the
                tanh GELU classes of transformers, ReLU, Tanh, Sigmoid) or,
                for transformers' Conv1D, metatrace.fx.Conv1D (its forward as
                transformers writes it);
  output        the output.
Parameters and buffers are meta tensors registered under their dotted names,
so gm.state_dict() keys are the graph's parameter names (tied aliases
included, sharing the tensor) and persistent buffers. A symbolic int argument
(view(x, batch, seq, ...) in an unbound graph) becomes size() calls on the
first tensor having that symbol as a dim, combined with operator nodes, as
torch.fx's symbolic tracer records them.
"""
import ast
import contextlib
import importlib
import io
import math
import operator

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

from ._core import Device, DType, Error, Node, Sym, eval_dim

__all__ = ["to_fx", "example_inputs", "shape_prop", "Conv1D", "scaled_dot_product_attention", "torch_dtype"]


def torch_dtype(name):
    """torch.<name>, or Error when this torch has no such dtype (float8 before 2.1)."""
    dt = getattr(torch, name, None)
    if not isinstance(dt, torch.dtype):
        raise Error("torch %s has no dtype %s" % (torch.__version__, name), "unsupported")
    return dt


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """F.scaled_dot_product_attention for torch < 2.0: PyTorch's math reference
    (its documentation's equivalent code), in torch ops, same output shape and
    dtype (query's)."""
    L, S = query.size(-2), key.size(-2)
    factor = 1 / math.sqrt(query.size(-1)) if scale is None else scale
    weight = torch.matmul(query, key.transpose(-2, -1)) * factor
    if is_causal:
        keep = torch.ones(L, S, dtype=torch.bool, device=query.device).tril()
        weight = weight.masked_fill(keep.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            weight = weight.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            weight = weight + attn_mask
    weight = torch.softmax(weight, dim=-1)
    if dropout_p > 0.0:
        weight = torch.dropout(weight, dropout_p, train=True)
    return torch.matmul(weight, value).to(query.dtype)


def torch_chunk_gated_delta_rule(query, key, value, g, beta, chunk_size=64, initial_state=None,
                                 output_final_state=False, use_qk_l2norm_in_kernel=False):
    """Qwen3-Next's chunked gated delta rule, for a graph whose node names
    transformers' function when transformers is not installed: written from the
    rule's maths (within a chunk of C positions the lower-triangular system by
    forward substitution; across chunks the [K, V] state carried in order), in
    torch ops that run on meta tensors. q, k [B, T, H, K], v [B, T, H, V], g, beta
    [B, T, H]; returns (out [B, T, H, V] in query's dtype, final state
    [B, H, K, V] float32 or None)."""
    out_dtype = query.dtype
    if use_qk_l2norm_in_kernel:
        query = query * torch.rsqrt((query * query).sum(-1, keepdim=True) + 1e-6)
        key = key * torch.rsqrt((key * key).sum(-1, keepdim=True) + 1e-6)
    q, k, v, b, gg = (x.transpose(1, 2).contiguous().to(torch.float32) for x in (query, key, value, beta, g))
    B, H, T, K = k.shape
    V = v.shape[-1]
    C = chunk_size
    pad = (C - T % C) % C
    q, k, v = (nn.functional.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
    b, gg = (nn.functional.pad(x, (0, pad)) for x in (b, gg))
    q = q * (1 / math.sqrt(K))
    kb, vb = k * b.unsqueeze(-1), v * b.unsqueeze(-1)
    q, k, kb, vb = (x.reshape(B, H, -1, C, x.shape[-1]) for x in (q, k, kb, vb))
    gg = gg.reshape(B, H, -1, C).cumsum(-1)
    n = gg.shape[2]
    upper = torch.ones(C, C, dtype=torch.bool, device=q.device).triu(0)
    decay = (gg.unsqueeze(-1) - gg.unsqueeze(-2)).tril().exp().tril()
    a = -(torch.matmul(kb, k.transpose(-1, -2)) * decay).masked_fill(upper, 0)
    for i in range(1, C):
        row, sub = a[..., i, :i].clone(), a[..., :i, :i].clone()
        a[..., i, :i] = row + (row.unsqueeze(-1) * sub).sum(-2)
    a = a + torch.eye(C, dtype=a.dtype, device=a.device)
    u, w = torch.matmul(a, vb), torch.matmul(a, kb * gg.exp().unsqueeze(-1))
    state = torch.zeros(B, H, K, V, dtype=torch.float32, device=q.device) if initial_state is None \
        else initial_state.to(torch.float32)
    out = torch.zeros_like(u)
    strict = torch.ones(C, C, dtype=torch.bool, device=q.device).triu(1)
    for i in range(n):
        qi, ki, gi = q[:, :, i], k[:, :, i], gg[:, :, i]
        inner = (torch.matmul(qi, ki.transpose(-1, -2)) * decay[:, :, i]).masked_fill(strict, 0)
        fresh = u[:, :, i] - torch.matmul(w[:, :, i], state)
        out[:, :, i] = torch.matmul(qi * gi.unsqueeze(-1).exp(), state) + torch.matmul(inner, fresh)
        last = gi[..., -1]
        state = state * last[..., None, None].exp() + \
            torch.matmul((ki * (last.unsqueeze(-1) - gi).exp().unsqueeze(-1)).transpose(-1, -2), fresh)
    out = out.reshape(B, H, -1, V)[:, :, :T].transpose(1, 2).contiguous().to(out_dtype)
    return out, (state if output_final_state else None)
def selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                      return_last_state=False):
    """mamba_ssm's selective scan when mamba_ssm is absent: the recurrence written
    step by step in float32 (x_l = exp(delta_l A) x_{l-1} + delta_l B_l u_l,
    y_l = sum over the state of x_l C_l), the D skip and the silu(z) gate; the
    result in u's dtype, as the CUDA kernel returns it."""
    dt = delta.float()
    if delta_bias is not None:
        dt = dt + delta_bias.float()[None, :, None]
    if delta_softplus:
        dt = torch.nn.functional.softplus(dt)
    b, d, length = u.shape

    def per_channel(t):
        t = t.float()
        if t.dim() == 2:
            return t[None, :, :, None].expand(b, d, t.size(1), length)
        if t.dim() == 3:
            return t[:, None].expand(b, d, t.size(1), length)
        return t.repeat_interleave(d // t.size(1), dim=1)

    Bc, Cc, uf = per_channel(B), per_channel(C), u.float()
    x = torch.zeros(b, d, A.size(1), dtype=torch.float32, device=u.device)
    ys = []
    for i in range(length):
        dl = dt[:, :, i, None]
        x = torch.exp(dl * A.float()) * x + dl * Bc[..., i] * uf[:, :, i, None]
        ys.append((x * Cc[..., i]).sum(-1))
    y = torch.stack(ys, dim=-1) if ys else torch.zeros(b, d, 0, device=u.device)
    if D is not None:
        y = y + uf * D.float()[None, :, None]
    if z is not None:
        y = y * torch.nn.functional.silu(z.float())
    return y.to(u.dtype)


def lightning_attention(query, key, value, slope_rate, query_decay, key_decay, diagonal_decay):
    """MiniMax's lightning attention, the loop over blocks of MiniMaxLightningAttention
    without a cache, as metatrace records it in one node: per block the intra-block
    (q kᵀ * diagonal decay) v, the inter-block (q * query decay) state, then the state
    decayed and grown by (k * key decay)ᵀ v; the blocks concatenated on dim -2."""
    b, h, length, d = query.shape
    block = query_decay.size(1)
    state = torch.zeros(b, h, d, value.size(-1), dtype=value.dtype, device=value.device)
    outs = []
    for start in range(0, length, block):
        n = min(block, length - start)
        q, k, v = query[:, :, start:start + n], key[:, :, start:start + n], value[:, :, start:start + n]
        intra = torch.matmul(torch.matmul(q, k.transpose(-1, -2)) * diagonal_decay[:, :, :n, :n], v)
        outs.append(torch.matmul(q * query_decay[:, :n], state) + intra)
        state = state * torch.exp(-slope_rate * n) + torch.matmul((k * key_decay[:, -n:]).transpose(-1, -2), v)
    return torch.cat(outs, dim=-2) if outs else value[:, :, :0]


class Conv1D(nn.Module):
    """transformers.pytorch_utils.Conv1D(nf, nx): a Linear whose weight is stored
    [nx, nf] (in, out); forward as transformers writes it (addmm, then view)."""

    def __init__(self, nf, nx, dtype=None, device="meta"):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf, dtype=dtype, device=device))
        self.bias = nn.Parameter(torch.empty(nf, dtype=dtype, device=device))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


_FALLBACKS = {
    "torch.nn.functional.scaled_dot_product_attention": scaled_dot_product_attention,
    "transformers.models.qwen3_next.modeling_qwen3_next.torch_chunk_gated_delta_rule": torch_chunk_gated_delta_rule,
    "mamba_ssm.ops.selective_scan_interface.selective_scan_fn": selective_scan_fn,
    "metatrace.ops.lightning_attention": lightning_attention,
}


def _callable(target):
    mod, _, attr = target.rpartition(".")
    try:
        fn = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError, ValueError):
        fn = _FALLBACKS.get(target)
    if fn is None:
        raise Error("to_fx: torch %s has no %s" % (torch.__version__, target), "unsupported")
    return fn


_ACTS = {
    "SiLU": lambda: nn.SiLU(),
    "GELU": lambda: nn.GELU(),
    "GELUActivation": lambda: nn.GELU(),
    "GELUTanh": lambda: nn.GELU(approximate="tanh"),
    "NewGELUActivation": lambda: nn.GELU(approximate="tanh"),
    "PytorchGELUTanh": lambda: nn.GELU(approximate="tanh"),
    "FastGELUActivation": lambda: nn.GELU(approximate="tanh"),
    "ReLU": lambda: nn.ReLU(),
    "Tanh": lambda: nn.Tanh(),
    "Sigmoid": lambda: nn.Sigmoid(),
}


def _leaf(m, dtype):
    a = m.attributes
    if m.type == "Linear":
        return nn.Linear(a["in_features"], a["out_features"], bias=a["bias"], device="meta", dtype=dtype)
    if m.type == "Embedding":
        return nn.Embedding(a["num_embeddings"], a["embedding_dim"], device="meta", dtype=dtype)
    if m.type == "LayerNorm":
        return nn.LayerNorm(tuple(a["normalized_shape"]), eps=a["eps"], elementwise_affine=a["elementwise_affine"],
                            device="meta", dtype=dtype)
    if m.type == "Dropout":
        return nn.Dropout(a["p"])
    if m.type == "Conv1D":
        return Conv1D(a["nf"], a["nx"], dtype=dtype)
    if m.type == "Conv1d":  # torch.nn.Conv1d (Mamba's depthwise conv); the bias, if any, is installed below
        return nn.Conv1d(a["in_channels"], a["out_channels"], a["kernel_size"], stride=a["stride"],
                         padding=a["padding"], dilation=a["dilation"], groups=a["groups"], device="meta", dtype=dtype)
    if m.type in _ACTS:
        return _ACTS[m.type]()
    raise Error("to_fx: no torch.nn module for leaf %s (%s)" % (m.path, m.type), "unsupported")


def _meta(shape, dtype):
    return torch.empty(tuple(shape), dtype=torch_dtype(dtype), device="meta")


def _install(root, path, value, persistent=True):
    """Put a parameter/buffer at its dotted path, creating plain containers on the way."""
    *parents, field = path.split(".")
    mod = root
    for p in parents:
        nxt = getattr(mod, p, None)
        if not isinstance(nxt, nn.Module):
            nxt = nn.Module()
            mod.add_module(p, nxt)
        mod = nxt
    if isinstance(value, nn.Parameter):
        if field in mod._buffers:
            del mod._buffers[field]
        mod.register_parameter(field, value)
    else:
        if field in mod._parameters:
            del mod._parameters[field]
        mod.register_buffer(field, value, persistent=persistent)


def _tensors(graph, bind):
    """Meta tensors for the parameters and buffers (tied aliases share theirs)."""
    params, buffers = {}, {}
    for p in graph.parameters:
        if p.tied_to is None:
            dt = torch_dtype(p.dtype)
            params[p.name] = nn.Parameter(_meta(p.shape, p.dtype), requires_grad=dt.is_floating_point)
    for p in graph.parameters:
        if p.tied_to is not None:
            params[p.name] = params[p.tied_to]
    for b in graph.buffers:
        buffers[b.name] = _meta(b.shape, b.dtype)
    return params, buffers


def _root(graph, params, buffers):
    """The module tree: real leaf modules, plain containers, our tensors in place."""
    root = nn.Module()
    mods = {"": root}
    dtypes = {}
    for p in graph.parameters:
        dtypes.setdefault(p.name.rpartition(".")[0], p.dtype)
    for m in graph.modules:
        parent, _, name = m.path.rpartition(".")
        if m.leaf:
            dt = dtypes.get(m.path)
            mod = _leaf(m, torch_dtype(dt) if dt else None)
            for local in list(mod._parameters):
                mod._parameters[local] = None  # ours are installed below (or none: no such parameter)
        else:
            mod = nn.Module()
        mods[parent].add_module(name, mod)
        mods[m.path] = mod
    persistent = {b.name: b.persistent for b in graph.buffers}
    for name, t in params.items():
        _install(root, name, t)
    for name, t in buffers.items():
        _install(root, name, t, persistent[name])
    return root


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow}


class _Builder:
    def __init__(self, graph, bind):
        self.g = graph
        self.bind = bind
        self.fx = torch.fx.Graph()
        self.map = {}        # our node name -> fx node
        self.factory_device = None  # to_fx(factory_device=...)
        self.sym_home = {}   # symbol -> (our node, output index or None, dim)
        self.sym_node = {}   # symbol -> fx node computing it
        self.types = {m.path: m.type for m in graph.modules}  # nn_module_stack: path -> class name, as FX
        for n in graph.nodes:
            outs = [(None, n.shape)] if n.shape is not None else list(enumerate(s for s, _ in (n.outputs or [])))
            for i, shape in outs:
                for d, dim in enumerate(shape or ()):
                    if isinstance(dim, str) and dim.isidentifier():
                        self.sym_home.setdefault(dim, (n, i, d))

    def sym(self, s):
        """A symbolic int: its value when bound, else fx nodes computing it."""
        try:
            return eval_dim(s, self.bind)
        except Error:
            pass
        return self._expr(ast.parse(str(s), mode="eval").body)

    def _expr(self, e):
        if isinstance(e, ast.Constant):
            return e.value
        if isinstance(e, ast.Name):
            if e.id in self.bind:
                return self.bind[e.id]
            if e.id not in self.sym_node:
                if e.id not in self.sym_home:
                    raise Error("to_fx: symbol '%s' is the dim of no tensor" % e.id, "internal")
                n, i, d = self.sym_home[e.id]
                src = self.map[n.name]
                if i is not None:
                    src = self.fx.call_function(operator.getitem, (src, i))
                self.sym_node[e.id] = self.fx.call_method("size", (src, d))
            return self.sym_node[e.id]
        if isinstance(e, ast.BinOp):
            a, b = self._expr(e.left), self._expr(e.right)
            return self.fx.call_function(_BINOPS[type(e.op)], (a, b))
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
            return self.fx.call_function(operator.neg, (self._expr(e.operand),))
        raise Error("to_fx: cannot express '%s'" % ast.dump(e), "internal")

    def arg(self, a):
        if isinstance(a, Node):
            return self.map[a.name]
        if isinstance(a, Sym):
            return self.sym(a)
        if isinstance(a, DType):
            return torch_dtype(a)
        if isinstance(a, Device):
            return torch.device(str(a))
        if isinstance(a, slice):
            return slice(self.arg(a.start), self.arg(a.stop), self.arg(a.step))
        if isinstance(a, tuple):
            return tuple(self.arg(x) for x in a)
        return a

    def build(self):
        for n in self.g.nodes:
            args = tuple(self.arg(a) for a in n.args)
            kwargs = {k: self.arg(v) for k, v in n.kwargs.items()}
            if n.op == "placeholder":
                x = self.fx.placeholder(n.name)
                shape = n.shape_at(self.bind) if _bound(n.shape, self.bind) else None
                if shape is not None:
                    x.meta["val"] = _meta(shape, n.dtype)
            elif n.op == "get_attr":
                x = self.fx.get_attr(n.target)
            elif n.op == "call_module":
                x = self.fx.call_module(n.target, args, kwargs)
            elif n.op == "call_function":
                fn = _callable(n.target)
                if self.factory_device is not None and fn in _FACTORIES and "device" not in kwargs:
                    kwargs["device"] = self.factory_device
                x = self.fx.call_function(fn, args, kwargs)
            elif n.op == "call_method":
                x = self.fx.call_method(n.target, args, kwargs)
            elif n.op == "output":
                x = self.fx.output(args[0] if len(args) == 1 else args)
            else:
                raise Error("to_fx: unknown op %s" % n.op, "internal")
            x.meta["metatrace_node"] = n.name
            x.meta["nn_module_stack"] = {p: self.types.get(p, "") for p in n.module_stack}
            self.map[n.name] = x
        return self.fx


def _bound(shape, bind):
    try:
        return shape is not None and all(isinstance(eval_dim(d, bind), int) for d in shape)
    except Error:
        return False


def to_fx(graph, bind=None, factory_device=None):
    """A torch.fx.GraphModule of `graph` (a metatrace.Graph) on the meta device.
    `bind` adds values for symbols the trace left symbolic (batch, seq): with
    every input dim known, placeholders carry meta["val"]. The map from our
    node names to the fx nodes is gm.metatrace_nodes (FX may rename a node
    whose name is a Python builtin: pow -> pow_1). `factory_device` ("meta",
    a torch.device) is given as `device=` to the factory calls (torch.arange,
    full, zeros, ones, empty) that carry none, so that calling the module on
    meta inputs runs it: gm(*example_inputs(graph))."""
    b = dict(graph.bind)
    b.update(bind or {})
    params, buffers = _tensors(graph, b)
    root = _root(graph, params, buffers)
    builder = _Builder(graph, b)
    builder.factory_device = torch.device(factory_device) if factory_device is not None else None
    fxg = builder.build()
    gm = torch.fx.GraphModule(root, fxg, class_name=graph.model.raw.get("class") or "GraphModule")
    # Parameters and buffers no node refers to, and tied aliases, at their names too.
    persistent = {x.name: x.persistent for x in graph.buffers}
    for name, t in list(params.items()) + list(buffers.items()):
        owner_path, _, field = name.rpartition(".")
        try:
            owner = gm.get_submodule(owner_path)
        except AttributeError:
            owner = None
        have = owner is not None and (owner._parameters.get(field) is t or owner._buffers.get(field) is t)
        if not have:
            _install(gm, name, t, persistent.get(name, True))
    for name, keep in persistent.items():
        owner_path, _, field = name.rpartition(".")
        owner = gm.get_submodule(owner_path)
        if not keep:
            owner._non_persistent_buffers_set.add(field)
    gm.eval()
    gm.metatrace_nodes = builder.map
    return gm


def example_inputs(graph, bind=None):
    """Meta tensors for the graph's placeholders, in order, at the bound shapes."""
    b = dict(graph.bind)
    b.update(bind or {})
    return tuple(_meta(n.shape_at(b), n.dtype) for n in graph.nodes if n.op == "placeholder")


class ShapeReport:
    """What shape_prop found: `checked` nodes whose computed shape and dtype equal
    ours, `skipped` [(node, reason)] where this torch could not run the node on
    meta tensors (our output stood in), `disagreements` [(node, ours, theirs)],
    and among the checked, `composite` [(node, target)] those computed by a
    fallback of this module (scaled_dot_product_attention before torch 2.0)."""

    def __init__(self):
        self.checked, self.skipped, self.disagreements, self.composite = [], [], [], []

    def __repr__(self):
        return "ShapeReport(%d checked, %d skipped, %d disagreements)" % (
            len(self.checked), len(self.skipped), len(self.disagreements))


def _missing_meta_kernel(e):
    """True when torch refused for want of a meta implementation (not a shape error)."""
    while e is not None:
        msg = str(e)
        if isinstance(e, NotImplementedError) or "'Meta' backend" in msg or "meta tensor" in msg.lower() \
                or "not implemented for 'Meta'" in msg or "data-dependent" in msg:
            return True
        e = e.__cause__ or e.__context__
    return False


_FACTORIES = {torch.arange, torch.full, torch.zeros, torch.ones, torch.empty}


def shape_prop(gm, graph, bind=None, data_dependent=None):
    """Run torch.fx.passes.shape_prop.ShapeProp over meta tensors and compare every
    node's tensor_meta (shape, dtype; each output of tuple nodes) with ours.
    Where torch has no meta kernel for a node (NotImplementedError: 1.13 lacks
    index_select, nonzero, ... on meta) our recorded output stands in and the
    node is listed as skipped with the reason. Data-dependent symbols (nnz_k)
    take `data_dependent` (default: 1). Returns a ShapeReport."""
    from torch.fx.passes.shape_prop import ShapeProp, _extract_tensor_metadata

    b = dict(graph.bind)
    b.update(bind or {})
    for s in graph.symbols:
        b.setdefault(s.name, data_dependent if data_dependent is not None else max(1, s.lo))
    ours = {v.meta["metatrace_node"]: graph.node(v.meta["metatrace_node"])
            for v in gm.graph.nodes if "metatrace_node" in v.meta}
    report = ShapeReport()

    def stand_in(n):
        if n.shape is not None:
            return _meta(n.shape_at(b), n.dtype)
        return tuple(_meta([eval_dim(d, b) for d in s], dt) for s, dt in n.outputs)

    class Prop(ShapeProp):
        def call_function(self, target, args, kwargs):
            # Factory functions (arange, full, zeros) create on the default device:
            # meta here, as in a model built under a meta device context.
            if target in _FACTORIES and "device" not in kwargs:
                kwargs = dict(kwargs, device=torch.device("meta"))
            return super().call_function(target, args, kwargs)

        def run_node(self, fxn):
            name = fxn.meta.get("metatrace_node")
            try:
                return super().run_node(fxn)
            except Exception as e:
                if name is None or not _missing_meta_kernel(e):
                    raise
                cause = e  # the innermost exception: torch's own, under ShapeProp's wrapper
                while cause.__cause__ is not None or cause.__context__ is not None:
                    cause = cause.__cause__ or cause.__context__
                reason = "%s: %s" % (type(cause).__name__, (str(cause).strip().splitlines() or [""])[0][:160])
                report.skipped.append((name, reason))
                result = stand_in(ours[name])
                fxn.meta["tensor_meta"] = torch.fx.node.map_aggregate(
                    result, lambda t: _extract_tensor_metadata(t) if isinstance(t, torch.Tensor) else t)
                fxn.meta["metatrace_skipped"] = reason
                return result

    # ShapeProp prints the traceback of every node it cannot run before
    # raising; those we stand in for are reported in `skipped` instead.
    with contextlib.redirect_stderr(io.StringIO()):
        Prop(gm).propagate(*example_inputs(graph, b))
    for fxn in gm.graph.nodes:
        name = fxn.meta.get("metatrace_node")
        if name is None or "metatrace_skipped" in fxn.meta or fxn.op == "output":
            continue
        n = ours[name]
        tm = fxn.meta.get("tensor_meta")
        if n.shape is not None:
            want = [(n.shape_at(b), n.dtype)]
            got = [tm]
        else:
            want = [(tuple(eval_dim(d, b) for d in s), dt) for s, dt in n.outputs]
            got = list(tm) if isinstance(tm, (tuple, list)) else [tm]
            while len(got) > len(want) and got[-1] is None:
                got.pop()  # a tuple's trailing None is no output (the gated delta rule's state without a cache)
        have = [None if t is None or not hasattr(t, "shape") else (tuple(t.shape), str(t.dtype).replace("torch.", ""))
                for t in got]
        if have == [(tuple(s), dt) for s, dt in want]:
            report.checked.append(name)
            if fxn.op == "call_function" and fxn.target in _FALLBACKS.values():
                report.composite.append((name, n.target))
        else:
            report.disagreements.append((name, want, have))
    return report
