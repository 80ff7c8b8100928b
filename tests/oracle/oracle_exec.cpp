// metatrace libtorch oracle — the table of ATen executors (see oracle.hpp).
//
// Each executor reproduces what PyTorch runs for one FX target: the Python
// layer's argument handling (reflected operators, F.softmax's implicit dim,
// F.dropout's range check, ...) and then the ATen op. Where libtorch 1.13 and
// current PyTorch differ, the executor adds the current check and the comment
// names where it lives in PyTorch's source. Where 1.13 has no meta kernel, a
// "meta reference" computes the output shape from the op's documented checks;
// the real op still runs on small CPU tensors in the op-level cross-check.
#include "oracle.hpp"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace oracle {

// ---- dtypes -------------------------------------------------------------------
namespace {
struct DtypePair {
    mt_dtype mt;
    bool present;
    at::ScalarType at;
};
// libtorch 1.13 (Debian 1.13.1+dfsg) has no Float8_* ScalarType.
const DtypePair kDtypes[] = {
    {MT_BOOL, true, at::kBool},           {MT_UINT8, true, at::kByte},
    {MT_INT8, true, at::kChar},           {MT_INT16, true, at::kShort},
    {MT_INT32, true, at::kInt},           {MT_INT64, true, at::kLong},
    {MT_FLOAT16, true, at::kHalf},        {MT_BFLOAT16, true, at::kBFloat16},
    {MT_FLOAT32, true, at::kFloat},       {MT_FLOAT64, true, at::kDouble},
    {MT_FLOAT8_E4M3FN, false, at::kFloat}, {MT_FLOAT8_E5M2, false, at::kFloat},
    {MT_COMPLEX64, true, at::kComplexFloat},
};
} // namespace

bool to_aten(mt_dtype d, at::ScalarType *out) {
    for (const auto &p : kDtypes)
        if (p.mt == d) {
            if (p.present) *out = p.at;
            return p.present;
        }
    return false;
}

mt_dtype from_aten(at::ScalarType s) {
    for (const auto &p : kDtypes)
        if (p.present && p.at == s) return p.mt;
    return MT_DTYPE_NONE;
}

const char *aten_dtype_name(at::ScalarType s) {
    switch (s) {
    case at::kBool: return "bool";
    case at::kByte: return "uint8";
    case at::kChar: return "int8";
    case at::kShort: return "int16";
    case at::kInt: return "int32";
    case at::kLong: return "int64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kComplexHalf: return "complex32";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    default: return c10::toString(s);
    }
}

// ---- printing -------------------------------------------------------------------
static std::string sizes_str(at::IntArrayRef s) {
    std::ostringstream o;
    o << "[";
    for (size_t k = 0; k < s.size(); k++) o << (k ? ", " : "") << s[k];
    o << "]";
    return o.str();
}

std::string repr(const Val &v) {
    std::ostringstream o;
    switch (v.kind) {
    case Val::NONE: return "None";
    case Val::TENSOR: return "T" + sizes_str(v.t.sizes()) + ":" + aten_dtype_name(v.t.scalar_type());
    case Val::INT: return std::to_string(v.i);
    case Val::FLOAT: o << v.f; if (std::floor(v.f) == v.f && std::isfinite(v.f)) o << ".0"; return o.str();
    case Val::BOOL: return v.b ? "True" : "False";
    case Val::DTYPE: return std::string("torch.") + aten_dtype_name(v.dt);
    case Val::STR: return "'" + v.s + "'";
    case Val::DEVICE: return "device('" + v.s + "')";
    case Val::ELLIPSIS: return "...";
    case Val::SLICE: {
        o << "slice(";
        for (int k = 0; k < 3; k++) {
            if (k) o << ", ";
            if (v.sl[k]) o << *v.sl[k]; else o << "None";
        }
        o << ")";
        return o.str();
    }
    case Val::LIST:
    case Val::TUPLE: {
        o << (v.kind == Val::LIST ? "[" : "(");
        for (size_t k = 0; k < v.items.size(); k++) o << (k ? ", " : "") << repr(v.items[k]);
        o << (v.kind == Val::LIST ? "]" : ")");
        return o.str();
    }
    }
    return "?";
}

std::string repr(const Call &c) {
    std::string s = "(";
    bool first = true;
    for (const Val &a : c.args) {
        s += (first ? "" : ", ") + repr(a);
        first = false;
    }
    for (const auto &kw : c.kwargs) {
        s += (first ? "" : ", ") + kw.first + "=" + repr(kw.second);
        first = false;
    }
    return s + ")";
}

// ---- argument access --------------------------------------------------------------
namespace {

// Thrown when the oracle itself cannot decide (not a PyTorch error).
struct Unsupported {
    std::string msg;
};

// Python-style binding of positional and keyword arguments.
struct Args {
    const Call &c;
    explicit Args(const Call &call) : c(call) {}
    const Val *get(size_t pos, const char *name) const {
        if (pos < c.args.size()) return &c.args[pos];
        if (name)
            for (const auto &kw : c.kwargs)
                if (kw.first == name) return &kw.second;
        return nullptr;
    }
    bool present(size_t pos, const char *name) const {
        const Val *v = get(pos, name);
        return v && v->kind != Val::NONE;
    }
    at::Tensor tensor(size_t pos, const char *name) const {
        const Val *v = get(pos, name);
        TORCH_CHECK(v && v->kind == Val::TENSOR, "TypeError: argument '", name ? name : "?",
                    "' must be a Tensor, not ", v ? repr(*v) : std::string("missing"));
        return v->t;
    }
    c10::optional<at::Tensor> opt_tensor(size_t pos, const char *name) const {
        if (!present(pos, name)) return c10::nullopt;
        return tensor(pos, name);
    }
    int64_t integer(size_t pos, const char *name, std::optional<int64_t> dflt = std::nullopt) const {
        const Val *v = get(pos, name);
        if (!v || v->kind == Val::NONE) {
            TORCH_CHECK(dflt.has_value(), "TypeError: missing required argument '", name ? name : "?", "'");
            return *dflt;
        }
        TORCH_CHECK(v->kind == Val::INT, "TypeError: argument '", name ? name : "?",
                    "' must be int, not ", repr(*v));
        return v->i;
    }
    double real(size_t pos, const char *name, double dflt) const {
        const Val *v = get(pos, name);
        if (!v || v->kind == Val::NONE) return dflt;
        if (v->kind == Val::INT) return (double)v->i;
        TORCH_CHECK(v->kind == Val::FLOAT, "TypeError: argument '", name ? name : "?",
                    "' must be float, not ", repr(*v));
        return v->f;
    }
    bool boolean(size_t pos, const char *name, bool dflt) const {
        const Val *v = get(pos, name);
        if (!v || v->kind == Val::NONE) return dflt;
        TORCH_CHECK(v->kind == Val::BOOL, "TypeError: argument '", name ? name : "?",
                    "' must be bool, not ", repr(*v));
        return v->b;
    }
    c10::optional<at::ScalarType> dtype(size_t pos, const char *name) const {
        const Val *v = get(pos, name);
        if (!v || v->kind == Val::NONE) return c10::nullopt;
        TORCH_CHECK(v->kind == Val::DTYPE, "TypeError: argument '", name ? name : "?",
                    "' must be torch.dtype, not ", repr(*v));
        return v->dt;
    }
    std::string str(size_t pos, const char *name, const char *dflt) const {
        const Val *v = get(pos, name);
        if (!v || v->kind == Val::NONE) return dflt;
        TORCH_CHECK(v->kind == Val::STR, "TypeError: argument '", name ? name : "?",
                    "' must be str, not ", repr(*v));
        return v->s;
    }
};

bool is_scalar(const Val &v) { return v.kind == Val::INT || v.kind == Val::FLOAT || v.kind == Val::BOOL; }

at::Scalar scalar(const Val &v) {
    switch (v.kind) {
    case Val::INT: return at::Scalar(v.i);
    case Val::FLOAT: return at::Scalar(v.f);
    case Val::BOOL: return at::Scalar(v.b);
    default: TORCH_CHECK(false, "TypeError: expected a Python number, got ", repr(v));
    }
}

// An int list given as one list argument or as varargs from position `start`
// (x.view(2, 3) and x.view((2, 3)) are the same call).
std::vector<int64_t> int_list_varargs(const Call &c, size_t start, const char *name) {
    std::vector<int64_t> out;
    const Val *one = nullptr;
    if (c.args.size() == start + 1 && c.args[start].kind == Val::LIST) one = &c.args[start];
    if (c.args.size() <= start)
        for (const auto &kw : c.kwargs)
            if (kw.first == name) one = &kw.second;
    if (one) {
        TORCH_CHECK(one->kind == Val::LIST, "TypeError: ", name, " must be a tuple of ints");
        for (const Val &x : one->items) {
            TORCH_CHECK(x.kind == Val::INT, "TypeError: ", name, " must be a tuple of ints, got ", repr(x));
            out.push_back(x.i);
        }
        return out;
    }
    for (size_t k = start; k < c.args.size(); k++) {
        TORCH_CHECK(c.args[k].kind == Val::INT, "TypeError: ", name, " must be ints, got ", repr(c.args[k]));
        out.push_back(c.args[k].i);
    }
    return out;
}

// Tensor.view(*size) / reshape(*shape) / permute(*dims) take no other keyword.
void only_kwarg(const Call &c, const char *name) {
    for (const auto &kw : c.kwargs)
        TORCH_CHECK(kw.first == name, "TypeError: got an unexpected keyword argument '", kw.first, "'");
}

// A dim argument: int, list/tuple of ints, or None (absent).
std::optional<std::vector<int64_t>> dim_list(const Val *v) {
    if (!v || v->kind == Val::NONE) return std::nullopt;
    if (v->kind == Val::INT) return std::vector<int64_t>{v->i};
    TORCH_CHECK(v->kind == Val::LIST, "TypeError: dim must be int or tuple of ints, got ", repr(*v));
    std::vector<int64_t> out;
    for (const Val &x : v->items) {
        TORCH_CHECK(x.kind == Val::INT, "TypeError: dim must be int or tuple of ints, got ", repr(x));
        out.push_back(x.i);
    }
    return out;
}

at::Tensor wrapped(const at::Scalar &s) {
    at::Tensor t = c10::scalar_to_tensor(s);
    t.unsafeGetTensorImpl()->set_wrapped_number(true);
    return t;
}

Val T(const at::Tensor &t) { return Val::tensor(t); }

// ---- executors ----------------------------------------------------------------------
using Fn = std::function<Val(const Call &)>;

struct Entry {
    Fn real;      // what PyTorch runs (with current-version checks added)
    Fn meta_ref;  // optional: shape rule used on meta when 1.13 lacks a meta kernel
    bool data_dependent = false; // output sizes depend on values: CPU sizes are not compared
};

std::map<std::string, Entry> &table();

// operator.<op>(a, b): Python dispatches a.__op__(b), or b.__rop__(a) when a is a number.
Val binary_operator(const Call &c, const std::function<at::Tensor(const at::Tensor &, const at::Tensor &)> &tt,
                    const std::function<at::Tensor(const at::Tensor &, const at::Scalar &)> &ts,
                    const std::function<at::Tensor(const at::Tensor &, const at::Scalar &)> &reflected) {
    TORCH_CHECK(c.args.size() == 2, "TypeError: expected 2 arguments");
    const Val &a = c.args[0], &b = c.args[1];
    if (a.kind == Val::TENSOR && b.kind == Val::TENSOR) return T(tt(a.t, b.t));
    if (a.kind == Val::TENSOR && is_scalar(b)) return T(ts(a.t, scalar(b)));
    if (is_scalar(a) && b.kind == Val::TENSOR) return T(reflected(b.t, scalar(a)));
    TORCH_CHECK(false, "TypeError: unsupported operand types ", repr(a), ", ", repr(b));
}

// torch.matmul / F.linear: current PyTorch requires equal dtypes (the mm/addmm meta
// functions in aten/src/ATen/native/LinearAlgebra.cpp: "expected mat1 and mat2 to
// have the same dtype"); libtorch 1.13's meta kernels do not check.
void check_same_dtype(const char *op, const at::Tensor &a, const at::Tensor &b) {
    TORCH_CHECK(a.scalar_type() == b.scalar_type(), op, ": expected mat1 and mat2 to have the same dtype, but got: ",
                aten_dtype_name(a.scalar_type()), " != ", aten_dtype_name(b.scalar_type()));
}

at::Tensor matmul_checked(const at::Tensor &a, const at::Tensor &b) {
    TORCH_CHECK(a.dim() != 0 && b.dim() != 0, "both arguments to matmul need to be at least 1D, but they are ",
                a.dim(), "D and ", b.dim(), "D");
    check_same_dtype("matmul", a, b);
    return at::matmul(a, b); // 1-D @ 1-D is at::dot: no meta kernel in 1.13 (CPU fallback)
}

at::Tensor matmul_meta(const at::Tensor &a, const at::Tensor &b) {
    if (a.dim() == 1 && b.dim() == 1) {
        check_same_dtype("matmul", a, b);
        // at::dot (aten/src/ATen/native/BlasKernel / LinearAlgebra dot_check)
        TORCH_CHECK(a.size(0) == b.size(0), "inconsistent tensor size, expected tensor [", a.size(0),
                    "] and src [", b.size(0), "] to have the same number of elements, but got ", a.size(0),
                    " and ", b.size(0), " elements respectively");
        return at::empty({}, a.options());
    }
    return matmul_checked(a, b);
}

// torch.where: current PyTorch requires a bool condition (TensorCompare.cpp
// where_self: "where expected condition to be a boolean tensor"); 1.13 still
// accepts uint8 with a deprecation warning.
struct WhereArgs {
    at::Tensor cond;
    Val x, y;
};
WhereArgs where_args(const Call &c) {
    Args a(c);
    WhereArgs w{a.tensor(0, "condition"), *a.get(1, "input"), *a.get(2, "other")};
    TORCH_CHECK(w.cond.scalar_type() == at::kBool,
                "where expected condition to be a boolean tensor, but got a tensor with dtype ",
                aten_dtype_name(w.cond.scalar_type()));
    TORCH_CHECK(w.x.kind == Val::TENSOR || is_scalar(w.x), "TypeError: where(): input must be Tensor or number");
    TORCH_CHECK(w.y.kind == Val::TENSOR || is_scalar(w.y), "TypeError: where(): other must be Tensor or number");
    return w;
}

Val where_real(const Call &c) {
    WhereArgs w = where_args(c);
    at::Tensor x = w.x.kind == Val::TENSOR ? w.x.t : wrapped(scalar(w.x));
    at::Tensor y = w.y.kind == Val::TENSOR ? w.y.t : wrapped(scalar(w.y));
    // torch.where promotes its two value operands like a binary op (result_type),
    // python numbers as wrapped numbers.
    at::ScalarType rt = at::result_type(x, y);
    return T(at::where(w.cond, x.to(rt), y.to(rt)));
}

Val where_meta(const Call &c) {
    WhereArgs w = where_args(c);
    at::Tensor x = w.x.kind == Val::TENSOR ? w.x.t : wrapped(scalar(w.x));
    at::Tensor y = w.y.kind == Val::TENSOR ? w.y.t : wrapped(scalar(w.y));
    at::ScalarType rt = at::result_type(x, y);
    std::vector<int64_t> shape = at::infer_size(w.cond.sizes(), x.sizes());
    shape = at::infer_size(shape, y.sizes());
    return T(at::empty(shape, w.cond.options().dtype(rt)));
}

// Tensor.masked_fill(mask, value): current PyTorch requires a bool mask
// (TensorAdvancedIndexing.cpp masked_fill__cpu / masked_fill_impl_cpu:
// "masked_fill_ only supports boolean masks"); 1.13 still takes uint8.
Val masked_fill(const Call &c) {
    Args a(c);
    at::Tensor self = a.tensor(0, "self"), mask = a.tensor(1, "mask");
    const Val *value = a.get(2, "value");
    TORCH_CHECK(value, "TypeError: masked_fill() missing value");
    TORCH_CHECK(mask.scalar_type() == at::kBool, "masked_fill_ only supports boolean masks, but got mask with dtype ",
                aten_dtype_name(mask.scalar_type()));
    if (value->kind == Val::TENSOR) return T(self.masked_fill(mask, value->t));
    return T(self.masked_fill(mask, scalar(*value)));
}

Val unary(const Call &c, at::Tensor (*fn)(const at::Tensor &)) {
    Args a(c);
    TORCH_CHECK(c.args.size() == 1, "TypeError: expected 1 argument");
    return T(fn(a.tensor(0, "input")));
}

// F.relu: no meta kernel in 1.13. The reference keeps the checks of
// aten/src/ATen/native/Activation.cpp relu ("Boolean inputs not supported for relu").
Val relu_meta(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input");
    TORCH_CHECK(x.scalar_type() != at::kBool, "Boolean inputs not supported for relu");
    return T(at::empty_like(x));
}

// Tensor.to(...): dtype, device or another tensor; positional or keyword.
Val to(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "self");
    c10::optional<at::ScalarType> dt;
    for (size_t k = 1; k < c.args.size(); k++) {
        const Val &v = c.args[k];
        if (v.kind == Val::DTYPE) dt = v.dt;
        else if (v.kind == Val::TENSOR) dt = v.t.scalar_type();
        else if (v.kind == Val::DEVICE || v.kind == Val::STR) { /* device: the oracle stays on meta */ }
        else if (v.kind == Val::BOOL) { /* non_blocking / copy */ }
        else TORCH_CHECK(false, "TypeError: to() received an invalid combination of arguments: ", repr(v));
    }
    for (const auto &kw : c.kwargs) {
        if (kw.first == "dtype" && kw.second.kind != Val::NONE) {
            TORCH_CHECK(kw.second.kind == Val::DTYPE, "TypeError: to(): dtype must be torch.dtype");
            dt = kw.second.dt;
        }
    }
    return T(dt ? x.to(*dt) : x);
}

// Tensor.sum / mean / amax over dim (int, tuple or None), keepdim, dtype.
Val reduce(const Call &c, int which) {
    Args a(c);
    at::Tensor x = a.tensor(0, "self");
    std::optional<std::vector<int64_t>> dims = dim_list(a.get(1, "dim"));
    bool keepdim = a.boolean(2, "keepdim", false);
    if (which == 2) { // amax(dim=(), keepdim=False): no dtype argument
        TORCH_CHECK(c.args.size() <= 3, "TypeError: amax() takes at most 3 arguments");
        for (const auto &kw : c.kwargs)
            TORCH_CHECK(kw.first == "dim" || kw.first == "keepdim", "TypeError: amax() got an unexpected keyword argument '",
                        kw.first, "'");
        return T(at::amax(x, dims ? at::IntArrayRef(*dims) : at::IntArrayRef(), keepdim));
    }
    c10::optional<at::ScalarType> dt = a.dtype(3, "dtype");
    if (!dims) {
        // x.sum() / x.sum(dtype=...) reduce everything; current PyTorch also takes
        // dim=None with keepdim (sum.dim_IntList has an optional dim since 2.0), which
        // is the same as the empty dim list of ATen.
        if (a.get(1, "dim") || a.present(2, "keepdim"))
            return T(which == 0 ? at::sum(x, at::IntArrayRef(), keepdim, dt) : at::mean(x, at::IntArrayRef(), keepdim, dt));
        return T(which == 0 ? at::sum(x, dt) : at::mean(x, dt));
    }
    return T(which == 0 ? at::sum(x, *dims, keepdim, dt) : at::mean(x, *dims, keepdim, dt));
}

// torch.cumsum(input, dim, *, dtype=None) / Tensor.cumsum(dim, *, dtype=None):
// dim is required and dtype keyword-only, as in Python's signatures.
Val cumsum(const Call &c, const char *self) {
    Args a(c);
    TORCH_CHECK(c.args.size() <= 2, "TypeError: cumsum() takes at most 2 positional arguments");
    for (const auto &kw : c.kwargs)
        TORCH_CHECK(kw.first == self || kw.first == "dim" || kw.first == "dtype",
                    "TypeError: cumsum() got an unexpected keyword argument '", kw.first, "'");
    TORCH_CHECK(!(c.args.size() >= 2 && a.get(99, "dim")), "TypeError: cumsum() got multiple values for argument 'dim'");
    at::Tensor x = a.tensor(0, self);
    int64_t dim = a.integer(1, "dim");
    return T(at::cumsum(x, dim, a.dtype(99, "dtype")));
}

// ---- vision: F.conv2d, F.avg_pool2d, Tensor.masked_scatter ----
// An int or a tuple of two ints (torch's _pair arguments).
std::vector<int64_t> int_pair(const Args &a, size_t pos, const char *name, int64_t dflt) {
    const Val *v = a.get(pos, name);
    if (!v || v->kind == Val::NONE) return {dflt, dflt};
    if (v->kind == Val::INT) return {v->i, v->i};
    TORCH_CHECK(v->kind == Val::LIST && (v->items.size() == 1 || v->items.size() == 2),
                "TypeError: argument '", name, "' must be an int or a tuple of ints, not ", repr(*v));
    std::vector<int64_t> r;
    for (const Val &it : v->items) {
        TORCH_CHECK(it.kind == Val::INT, "TypeError: argument '", name, "' must be a tuple of ints, not ", repr(*v));
        r.push_back(it.i);
    }
    if (r.size() == 1) r.push_back(r[0]);
    return r;
}

// F.conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1);
// padding may be 'valid' or 'same' (the conv2d.padding overload).
struct ConvArgs {
    at::Tensor x, w;
    c10::optional<at::Tensor> b;
    std::vector<int64_t> stride, pad, dil;
    std::string pad_s;
    int64_t groups;
};
ConvArgs conv_args(const Call &c) {
    Args a(c);
    ConvArgs k;
    k.x = a.tensor(0, "input");
    k.w = a.tensor(1, "weight");
    k.b = a.opt_tensor(2, "bias");
    k.stride = int_pair(a, 3, "stride", 1);
    const Val *p = a.get(4, "padding");
    if (p && p->kind == Val::STR) k.pad_s = p->s;
    else k.pad = int_pair(a, 4, "padding", 0);
    k.dil = int_pair(a, 5, "dilation", 1);
    k.groups = a.integer(6, "groups", 1);
    return k;
}
Val conv2d_real(const Call &c) {
    ConvArgs k = conv_args(c);
    if (!k.pad_s.empty()) return T(at::conv2d(k.x, k.w, k.b, k.stride, k.pad_s, k.dil, k.groups));
    return T(at::conv2d(k.x, k.w, k.b, k.stride, k.pad, k.dil, k.groups));
}
// 1.13 has no meta convolution backend: the checks of aten/src/ATen/native/Convolution.cpp
// (check_shape_forward, the padding string overload) and conv_output_size; the real op runs
// on small CPU tensors in the op-level cross-check.
Val conv2d_meta(const Call &c) {
    ConvArgs k = conv_args(c);
    TORCH_CHECK(k.x.dim() == 3 || k.x.dim() == 4, "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: ",
                sizes_str(k.x.sizes()));
    TORCH_CHECK(k.w.dim() == 4, "weight should have at least three dimensions");
    TORCH_CHECK(k.x.scalar_type() == k.w.scalar_type() && (!k.b || k.b->scalar_type() == k.x.scalar_type()),
                "Input type and weight type should be the same");
    TORCH_CHECK(k.groups > 0, "non-positive groups is not supported");
    for (int i = 0; i < 2; i++) {
        TORCH_CHECK(k.stride[i] > 0, "non-positive stride is not supported");
        TORCH_CHECK(k.dil[i] > 0, "dilation should be greater than zero");
    }
    bool same = k.pad_s == "same";
    TORCH_CHECK(k.pad_s.empty() || same || k.pad_s == "valid", "Invalid padding string: '", k.pad_s, "'");
    if (k.pad_s == "valid") k.pad = {0, 0};
    TORCH_CHECK(!same || (k.stride[0] == 1 && k.stride[1] == 1), "padding='same' is not supported for strided convolutions");
    if (same) k.pad = {0, 0};
    TORCH_CHECK(k.pad[0] >= 0 && k.pad[1] >= 0, "negative padding is not supported");
    int cd = (int)k.x.dim() - 3;
    TORCH_CHECK(k.w.size(0) % k.groups == 0, "Given groups=", k.groups, ", expected weight to be divisible by ", k.groups,
                " at dimension 0");
    TORCH_CHECK(k.x.size(cd) == k.w.size(1) * k.groups, "Given groups=", k.groups, ", weight of size ",
                sizes_str(k.w.sizes()), ", expected input", sizes_str(k.x.sizes()), " to have ", k.w.size(1) * k.groups,
                " channels");
    TORCH_CHECK(!k.b || (k.b->dim() == 1 && k.b->size(0) == k.w.size(0)), "expected bias to be 1-dimensional with ",
                k.w.size(0), " elements");
    std::vector<int64_t> out;
    if (k.x.dim() == 4) out.push_back(k.x.size(0));
    out.push_back(k.w.size(0));
    for (int i = 0; i < 2; i++) {
        int64_t in = k.x.size(cd + 1 + i), eff = k.dil[i] * (k.w.size(2 + i) - 1) + 1;
        TORCH_CHECK(in + 2 * k.pad[i] >= eff, "Kernel size can't be greater than actual input size");
        out.push_back(same ? in : (in + 2 * k.pad[i] - eff) / k.stride[i] + 1);
    }
    return T(at::empty(out, k.x.options()));
}

// F.conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)
// (Qwen2.5-VL's patch embedding): conv2d's arguments through _triple.
std::vector<int64_t> int_triple(const Args &a, size_t pos, const char *name, int64_t dflt) {
    const Val *v = a.get(pos, name);
    if (!v || v->kind == Val::NONE) return {dflt, dflt, dflt};
    if (v->kind == Val::INT) return {v->i, v->i, v->i};
    TORCH_CHECK(v->kind == Val::LIST && (v->items.size() == 1 || v->items.size() == 3),
                "TypeError: argument '", name, "' must be an int or a tuple of 3 ints, not ", repr(*v));
    std::vector<int64_t> r;
    for (const Val &it : v->items) {
        TORCH_CHECK(it.kind == Val::INT, "TypeError: argument '", name, "' must be a tuple of ints, not ", repr(*v));
        r.push_back(it.i);
    }
    if (r.size() == 1) r = {r[0], r[0], r[0]};
    return r;
}
ConvArgs conv3d_args(const Call &c) {
    Args a(c);
    ConvArgs k;
    k.x = a.tensor(0, "input");
    k.w = a.tensor(1, "weight");
    k.b = a.opt_tensor(2, "bias");
    k.stride = int_triple(a, 3, "stride", 1);
    const Val *p = a.get(4, "padding");
    if (p && p->kind == Val::STR) k.pad_s = p->s;
    else k.pad = int_triple(a, 4, "padding", 0);
    k.dil = int_triple(a, 5, "dilation", 1);
    k.groups = a.integer(6, "groups", 1);
    return k;
}
Val conv3d_real(const Call &c) {
    ConvArgs k = conv3d_args(c);
    if (!k.pad_s.empty()) return T(at::conv3d(k.x, k.w, k.b, k.stride, k.pad_s, k.dil, k.groups));
    return T(at::conv3d(k.x, k.w, k.b, k.stride, k.pad, k.dil, k.groups));
}
// conv2d_meta's checks over three spatial dims (1.13 has no meta convolution).
Val conv3d_meta(const Call &c) {
    ConvArgs k = conv3d_args(c);
    TORCH_CHECK(k.x.dim() == 4 || k.x.dim() == 5, "Expected 4D (unbatched) or 5D (batched) input to conv3d, but got input of size: ",
                sizes_str(k.x.sizes()));
    TORCH_CHECK(k.w.dim() == 5, "weight should have at least three dimensions");
    TORCH_CHECK(k.x.scalar_type() == k.w.scalar_type() && (!k.b || k.b->scalar_type() == k.x.scalar_type()),
                "Input type and weight type should be the same");
    TORCH_CHECK(k.groups > 0, "non-positive groups is not supported");
    bool strided = false;
    for (int i = 0; i < 3; i++) {
        TORCH_CHECK(k.stride[i] > 0, "non-positive stride is not supported");
        TORCH_CHECK(k.dil[i] > 0, "dilation should be greater than zero");
        strided = strided || k.stride[i] != 1;
    }
    bool same = k.pad_s == "same";
    TORCH_CHECK(k.pad_s.empty() || same || k.pad_s == "valid", "Invalid padding string: '", k.pad_s, "'");
    if (!k.pad_s.empty()) k.pad = {0, 0, 0};
    TORCH_CHECK(!same || !strided, "padding='same' is not supported for strided convolutions");
    for (int i = 0; i < 3; i++) TORCH_CHECK(k.pad[i] >= 0, "negative padding is not supported");
    int cd = (int)k.x.dim() - 4;
    TORCH_CHECK(k.w.size(0) % k.groups == 0, "Given groups=", k.groups, ", expected weight to be divisible by ", k.groups,
                " at dimension 0");
    TORCH_CHECK(k.x.size(cd) == k.w.size(1) * k.groups, "Given groups=", k.groups, ", weight of size ",
                sizes_str(k.w.sizes()), ", expected input", sizes_str(k.x.sizes()), " to have ", k.w.size(1) * k.groups,
                " channels");
    TORCH_CHECK(!k.b || (k.b->dim() == 1 && k.b->size(0) == k.w.size(0)), "expected bias to be 1-dimensional with ",
                k.w.size(0), " elements");
    std::vector<int64_t> out;
    if (k.x.dim() == 5) out.push_back(k.x.size(0));
    out.push_back(k.w.size(0));
    for (int i = 0; i < 3; i++) {
        int64_t in = k.x.size(cd + 1 + i), eff = k.dil[i] * (k.w.size(2 + i) - 1) + 1;
        TORCH_CHECK(in + 2 * k.pad[i] >= eff, "Kernel size can't be greater than actual input size");
        out.push_back(same ? in : (in + 2 * k.pad[i] - eff) / k.stride[i] + 1);
    }
    return T(at::empty(out, k.x.options()));
}

// F.unfold(input, kernel_size, dilation=1, padding=0, stride=1): im2col with each
// argument through _pair (Pixtral's patch merger).
struct UnfoldArgs {
    at::Tensor x;
    std::vector<int64_t> k, d, p, s;
};
UnfoldArgs unfold_args(const Call &c) {
    Args a(c);
    UnfoldArgs u;
    u.x = a.tensor(0, "input");
    TORCH_CHECK(a.present(1, "kernel_size"), "TypeError: unfold() missing required argument 'kernel_size'");
    u.k = int_pair(a, 1, "kernel_size", 0);
    u.d = int_pair(a, 2, "dilation", 1);
    u.p = int_pair(a, 3, "padding", 0);
    u.s = int_pair(a, 4, "stride", 1);
    return u;
}
Val unfold_real(const Call &c) {
    UnfoldArgs u = unfold_args(c);
    return T(at::im2col(u.x, u.k, u.d, u.p, u.s));
}
// The checks of aten/src/ATen/native/im2col_shape_check.h and its output size, for
// the meta replay (the real op runs on small CPU tensors in the op-level cross-check).
Val unfold_meta(const Call &c) {
    UnfoldArgs u = unfold_args(c);
    TORCH_CHECK(u.k[0] > 0 && u.k[1] > 0, "kernel size should be greater than zero");
    TORCH_CHECK(u.d[0] > 0 && u.d[1] > 0, "dilation should be greater than zero");
    TORCH_CHECK(u.p[0] >= 0 && u.p[1] >= 0, "padding should be non-negative");
    TORCH_CHECK(u.s[0] > 0 && u.s[1] > 0, "stride should be greater than zero");
    int64_t nd = u.x.dim();
    TORCH_CHECK(nd == 3 || nd == 4, "Expected 3D or 4D (batch mode) tensor input with possible 0 batch size and "
                                    "non-zero dimensions for input, but got: ", sizes_str(u.x.sizes()));
    int64_t b = nd - 3;
    TORCH_CHECK(u.x.size(b) != 0 && u.x.size(b + 1) != 0 && u.x.size(b + 2) != 0,
                "Expected 3D or 4D (batch mode) tensor input with possible 0 batch size and non-zero dimensions for "
                "input, but got: ", sizes_str(u.x.sizes()));
    int64_t blocks[2];
    for (int i = 0; i < 2; i++)
        blocks[i] = (u.x.size(b + 1 + i) + 2 * u.p[i] - (u.d[i] * (u.k[i] - 1) + 1)) / u.s[i] + 1;
    TORCH_CHECK(blocks[0] >= 1 && blocks[1] >= 1,
                "calculated shape of the array of sliding blocks must be at least one");
    std::vector<int64_t> out;
    if (nd == 4) out.push_back(u.x.size(0));
    out.push_back(u.x.size(b) * u.k[0] * u.k[1]);
    out.push_back(blocks[0] * blocks[1]);
    return T(at::empty(out, u.x.options()));
}

// F.avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
// count_include_pad=True, divisor_override=None): stride None is the kernel size.
Val avg_pool2d(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input");
    TORCH_CHECK(a.present(1, "kernel_size"), "TypeError: avg_pool2d() missing required argument 'kernel_size'");
    std::vector<int64_t> k = int_pair(a, 1, "kernel_size", 0);
    std::vector<int64_t> s = a.present(2, "stride") ? int_pair(a, 2, "stride", 0) : k;
    std::vector<int64_t> p = int_pair(a, 3, "padding", 0);
    c10::optional<int64_t> div;
    if (a.present(6, "divisor_override")) div = a.integer(6, "divisor_override");
    return T(at::avg_pool2d(x, k, s, p, a.boolean(4, "ceil_mode", false), a.boolean(5, "count_include_pad", true), div));
}

// Tensor.masked_scatter(mask, source): expand_outplace(mask, self), clone,
// masked_scatter_ (aten/src/ATen/native/TensorAdvancedIndexing.cpp), whose checks
// are a bool mask and source of self's dtype.
void masked_scatter_checks(const at::Tensor &self, const at::Tensor &mask, const at::Tensor &src) {
    TORCH_CHECK(mask.scalar_type() == at::kBool, "masked_scatter_ only supports boolean masks, but got mask with dtype ",
                aten_dtype_name(mask.scalar_type()));
    TORCH_CHECK(self.scalar_type() == src.scalar_type(),
                "masked_scatter_: expected self and source to have same dtypes but got ",
                aten_dtype_name(self.scalar_type()), " and ", aten_dtype_name(src.scalar_type()));
}
Val masked_scatter_real(const Call &c) {
    Args a(c);
    at::Tensor self = a.tensor(0, "self"), mask = a.tensor(1, "mask"), src = a.tensor(2, "source");
    masked_scatter_checks(self, mask, src);
    return T(self.masked_scatter(mask, src));
}
// 1.13 has no meta kernel for masked_scatter_: the broadcast shape, self's dtype.
Val masked_scatter_meta(const Call &c) {
    Args a(c);
    at::Tensor self = a.tensor(0, "self"), mask = a.tensor(1, "mask"), src = a.tensor(2, "source");
    masked_scatter_checks(self, mask, src);
    return T(at::empty(at::infer_size(self.sizes(), mask.sizes()), self.options()));
}

// F.softmax(input, dim=None, _stacklevel=3, dtype=None); dim None uses the legacy
// choice of torch/nn/functional.py _get_softmax_dim.
Val softmax(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input");
    const Val *dv = a.get(1, "dim");
    int64_t dim;
    if (!dv || dv->kind == Val::NONE) {
        int64_t nd = x.dim();
        dim = (nd == 0 || nd == 1 || nd == 3) ? 0 : 1;
    } else {
        TORCH_CHECK(dv->kind == Val::INT, "TypeError: softmax(): dim must be int, got ", repr(*dv));
        dim = dv->i;
    }
    c10::optional<at::ScalarType> dt = a.dtype(3, "dtype");
    return T(at::softmax(x, dim, dt));
}

// F.linear(input, weight, bias=None)
Val linear(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input"), w = a.tensor(1, "weight");
    c10::optional<at::Tensor> b = a.opt_tensor(2, "bias");
    check_same_dtype("linear", x, w);
    if (b) check_same_dtype("linear", x, *b);
    TORCH_CHECK(x.dim() != 0 && w.dim() != 0, "both arguments to linear need to be at least 1D, but they are ",
                x.dim(), "D and ", w.dim(), "D");
    return T(b ? at::linear(x, w, *b) : at::linear(x, w));
}

// F.embedding(input, weight, padding_idx=None, ...)
void embedding_checks(const at::Tensor &idx, const at::Tensor &w, const Args &a) {
    // torch/nn/functional.py embedding: padding_idx must index weight.size(0).
    if (a.present(2, "padding_idx")) {
        int64_t p = a.integer(2, "padding_idx");
        TORCH_CHECK(w.dim() >= 1 && p < w.size(0) && p >= -w.size(0), "Padding_idx must be within num_embeddings");
    }
    // aten/src/ATen/native/Embedding.cpp embedding_symint
    TORCH_CHECK(w.dim() == 2, "'weight' must be 2-D");
    TORCH_CHECK(idx.scalar_type() == at::kLong || idx.scalar_type() == at::kInt,
                "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got ",
                aten_dtype_name(idx.scalar_type()), " instead");
}
Val embedding_real(const Call &c) {
    Args a(c);
    at::Tensor idx = a.tensor(0, "input"), w = a.tensor(1, "weight");
    embedding_checks(idx, w, a);
    return T(at::embedding(w, idx));
}
Val embedding_meta(const Call &c) {
    Args a(c);
    at::Tensor idx = a.tensor(0, "input"), w = a.tensor(1, "weight");
    embedding_checks(idx, w, a);
    std::vector<int64_t> shape(idx.sizes().begin(), idx.sizes().end());
    shape.push_back(w.size(1));
    return T(at::empty(shape, w.options()));
}

// F.layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5)
struct LnArgs {
    at::Tensor x;
    std::vector<int64_t> shape;
    c10::optional<at::Tensor> w, b;
    double eps;
};
LnArgs ln_args(const Call &c) {
    Args a(c);
    LnArgs l;
    l.x = a.tensor(0, "input");
    const Val *ns = a.get(1, "normalized_shape");
    TORCH_CHECK(ns, "TypeError: layer_norm() missing normalized_shape");
    if (ns->kind == Val::INT) l.shape = {ns->i};
    else l.shape = *dim_list(ns);
    l.w = a.opt_tensor(2, "weight");
    l.b = a.opt_tensor(3, "bias");
    l.eps = a.real(4, "eps", 1e-5);
    return l;
}
// Current PyTorch accepts float32 weight and bias with a bfloat16/float16 input
// (aten/src/ATen/native/layer_norm.cpp: is_mixed_type / check_mixed_data_type,
// "mixed dtype (CPU): all inputs must share same datatype."); libtorch 1.13's CPU
// kernel does not, so the real call casts them to the input dtype in that case.
bool ln_mixed(const LnArgs &l) {
    bool reduced = l.x.scalar_type() == at::kBFloat16 || l.x.scalar_type() == at::kHalf;
    bool any = (l.w && l.w->scalar_type() != l.x.scalar_type()) || (l.b && l.b->scalar_type() != l.x.scalar_type());
    return reduced && any;
}
void ln_dtype_check(const LnArgs &l) {
    if (ln_mixed(l)) {
        TORCH_CHECK((!l.w || l.w->scalar_type() == at::kFloat) && (!l.b || l.b->scalar_type() == at::kFloat),
                    "mixed dtype (CPU): all inputs must share same datatype.");
        return;
    }
    TORCH_CHECK(!l.w || l.w->scalar_type() == l.x.scalar_type(), "expected scalar type ",
                aten_dtype_name(l.x.scalar_type()), " but found ", aten_dtype_name(l.w->scalar_type()));
    TORCH_CHECK(!l.b || l.b->scalar_type() == l.x.scalar_type(), "expected scalar type ",
                aten_dtype_name(l.x.scalar_type()), " but found ", aten_dtype_name(l.b->scalar_type()));
}
Val layer_norm_real(const Call &c) {
    LnArgs l = ln_args(c);
    ln_dtype_check(l);
    if (ln_mixed(l)) {
        if (l.w) l.w = l.w->to(l.x.scalar_type());
        if (l.b) l.b = l.b->to(l.x.scalar_type());
    }
    return T(at::layer_norm(l.x, l.shape, l.w, l.b, l.eps));
}
Val layer_norm_meta(const Call &c) {
    LnArgs l = ln_args(c);
    ln_dtype_check(l);
    // aten/src/ATen/native/layer_norm.h _check_layer_norm_inputs
    TORCH_CHECK(!l.shape.empty(), "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element");
    at::IntArrayRef ns(l.shape);
    TORCH_CHECK(!l.w || l.w->sizes().equals(ns), "Expected weight to be of same shape as normalized_shape, but got weight of shape ",
                sizes_str(l.w->sizes()), " and normalized_shape = ", sizes_str(ns));
    TORCH_CHECK(!l.b || l.b->sizes().equals(ns), "Expected bias to be of same shape as normalized_shape, but got bias of shape ",
                sizes_str(l.b->sizes()), " and normalized_shape = ", sizes_str(ns));
    auto in = l.x.sizes();
    int64_t nd = l.x.dim(), nn = (int64_t)l.shape.size();
    TORCH_CHECK(nd >= nn && in.slice(nd - nn).equals(ns), "Given normalized_shape=", sizes_str(ns),
                ", expected input with shape [*", sizes_str(ns), "], but got input of size", sizes_str(in));
    return T(at::empty_like(l.x));
}

// Tensor.squeeze(dim=None) — dim may be a tuple in current PyTorch (2.0+): each
// listed dim of size 1 is removed (wrap_dim checks the range; duplicates raise).
Val squeeze(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "self");
    const Val *dv = a.get(1, "dim");
    if (!dv || dv->kind == Val::NONE) return T(x.squeeze());
    if (dv->kind == Val::INT) return T(x.squeeze(dv->i));
    std::vector<int64_t> dims = *dim_list(dv);
    int64_t nd = x.dim();
    std::vector<bool> seen(std::max<int64_t>(nd, 1), false);
    std::vector<int64_t> keep;
    for (int64_t d : dims) {
        int64_t w = c10::maybe_wrap_dim(d, nd);
        TORCH_CHECK(!seen[w], "dim ", w, " appears multiple times in the list of dims");
        seen[w] = true;
    }
    std::vector<int64_t> shape;
    for (int64_t k = 0; k < nd; k++)
        if (!(seen[k] && x.size(k) == 1)) shape.push_back(x.size(k));
    return T(at::empty(shape, x.options()));
}

// torch.cat(tensors, dim=0)
Val cat(const Call &c) {
    Args a(c);
    const Val *ts = a.get(0, "tensors");
    TORCH_CHECK(ts && ts->kind == Val::LIST, "TypeError: cat() argument 'tensors' must be a tuple of Tensors");
    std::vector<at::Tensor> v;
    for (const Val &x : ts->items) {
        TORCH_CHECK(x.kind == Val::TENSOR, "TypeError: expected Tensor as element in argument 0, got ", repr(x));
        v.push_back(x.t);
    }
    return T(at::cat(v, a.integer(1, "dim", 0)));
}

Val tuple_of(const std::vector<at::Tensor> &ts) {
    std::vector<Val> out;
    for (const auto &t : ts) out.push_back(T(t));
    return Val::tuple(std::move(out));
}

// Tensor.split(split_size_or_sections, dim=0) (torch/_tensor.py split)
Val split(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "self");
    const Val *s = a.get(1, "split_size");
    TORCH_CHECK(s, "TypeError: split() missing split_size");
    int64_t dim = a.integer(2, "dim", 0);
    if (s->kind == Val::INT) return tuple_of(x.split(s->i, dim));
    return tuple_of(x.split_with_sizes(*dim_list(s), dim));
}

Val chunk(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "self");
    return tuple_of(x.chunk(a.integer(1, "chunks"), a.integer(2, "dim", 0)));
}

Val topk(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input");
    auto r = at::topk(x, a.integer(1, "k"), a.integer(2, "dim", -1), a.boolean(3, "largest", true),
                      a.boolean(4, "sorted", true));
    return tuple_of({std::get<0>(r), std::get<1>(r)});
}

// operator.getitem: tuple element, or tensor indexing x[idx].
at::indexing::TensorIndex index_of(const Val &v) {
    using namespace at::indexing;
    switch (v.kind) {
    case Val::INT: return TensorIndex(v.i);
    case Val::BOOL: return TensorIndex(v.b);
    case Val::NONE: return TensorIndex(None);
    case Val::ELLIPSIS: return TensorIndex(Ellipsis);
    case Val::TENSOR: return TensorIndex(v.t);
    case Val::SLICE: {
        c10::optional<int64_t> s0, s1, s2;
        if (v.sl[0]) s0 = *v.sl[0];
        if (v.sl[1]) s1 = *v.sl[1];
        if (v.sl[2]) s2 = *v.sl[2];
        return TensorIndex(Slice(s0, s1, s2));
    }
    default: TORCH_CHECK(false, "TypeError: only integers, slices, ellipsis, None and tensors are valid indices, got ", repr(v));
    }
}

Val getitem(const Call &c) {
    TORCH_CHECK(c.args.size() == 2, "TypeError: getitem expects 2 arguments");
    const Val &obj = c.args[0], &idx = c.args[1];
    if (obj.kind == Val::TUPLE || (obj.kind == Val::LIST && idx.kind == Val::INT)) {
        TORCH_CHECK(idx.kind == Val::INT, "TypeError: tuple indices must be integers");
        int64_t n = (int64_t)obj.items.size(), k = idx.i < 0 ? idx.i + n : idx.i;
        TORCH_CHECK(k >= 0 && k < n, "IndexError: tuple index out of range");
        return obj.items[k];
    }
    TORCH_CHECK(obj.kind == Val::TENSOR, "TypeError: object is not subscriptable: ", repr(obj));
    std::vector<at::indexing::TensorIndex> ix;
    if (idx.kind == Val::LIST) {
        // Python: x[()] is x itself; a second Ellipsis raises IndexError (the C++
        // indexing API would accept both differently).
        if (idx.items.empty()) return T(obj.t.alias());
        int ell = 0;
        for (const Val &x : idx.items) ell += x.kind == Val::ELLIPSIS;
        TORCH_CHECK(ell <= 1, "IndexError: an index can only have a single ellipsis ('...')");
        for (const Val &x : idx.items) ix.push_back(index_of(x));
    } else {
        ix.push_back(index_of(idx));
    }
    return T(obj.t.index(ix));
}

// torch.arange(end) / (start, end, step=1), dtype=None, device=None: Python's
// overloads arange(end, *, ...) and arange(start, end, step=1, *, ...), so start,
// end and step may also come by keyword.
Val arange(const Call &c) {
    Args a(c);
    TORCH_CHECK(c.args.size() <= 3, "TypeError: arange() takes at most 3 positional arguments");
    const Val *pos[3] = {nullptr, nullptr, nullptr};
    for (size_t k = 0; k < c.args.size(); k++) pos[k] = &c.args[k];
    const Val *kstart = nullptr, *kend = nullptr, *kstep = nullptr;
    for (const auto &kw : c.kwargs) {
        if (kw.first == "start") kstart = &kw.second;
        else if (kw.first == "end") kend = &kw.second;
        else if (kw.first == "step") kstep = &kw.second;
    }
    const Val *start = nullptr, *end = nullptr, *step = nullptr;
    if (c.args.size() == 1 && !kend) { end = pos[0]; TORCH_CHECK(!kstart && !kstep, "TypeError: arange(): invalid arguments"); }
    else {
        start = c.args.size() >= 1 ? pos[0] : kstart;
        end = c.args.size() >= 2 ? pos[1] : kend;
        step = c.args.size() >= 3 ? pos[2] : kstep;
        TORCH_CHECK(!(c.args.size() >= 1 && kstart) && !(c.args.size() >= 2 && kend) && !(c.args.size() >= 3 && kstep),
                    "TypeError: arange(): got multiple values for an argument");
    }
    TORCH_CHECK(end, "TypeError: arange() missing required argument 'end'");
    for (const Val *v : {start, end, step})
        TORCH_CHECK(!v || is_scalar(*v), "TypeError: arange() received an invalid combination of arguments: ", repr(*v));
    at::TensorOptions o = at::TensorOptions().device(at::kMeta);
    c10::optional<at::ScalarType> dt = a.dtype(99, "dtype");
    if (dt) o = o.dtype(*dt);
    at::Scalar s0 = start ? scalar(*start) : at::Scalar((int64_t)0);
    at::Scalar s2 = step ? scalar(*step) : at::Scalar((int64_t)1);
    return T(at::arange(s0, scalar(*end), s2, o));
}

// torch.full(size, fill_value, dtype=None, device=None)
Val full(const Call &c) {
    Args a(c);
    const Val *sz = a.get(0, "size");
    TORCH_CHECK(sz && sz->kind == Val::LIST, "TypeError: full() argument 'size' must be tuple of ints");
    std::vector<int64_t> shape = *dim_list(sz);
    const Val *fv = a.get(1, "fill_value");
    TORCH_CHECK(fv && is_scalar(*fv), "TypeError: full() argument 'fill_value' must be a number");
    at::TensorOptions o = at::TensorOptions().device(at::kMeta);
    c10::optional<at::ScalarType> dt = a.dtype(99, "dtype");
    if (dt) o = o.dtype(*dt);
    return T(at::full(shape, scalar(*fv), o));
}

// torch.std(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
// Python's two overloads bound by name (unbiased and correction exclusive); ATen's
// std with the correction as an int (1.13's signature).
at::Tensor std_run(const Call &c, const at::Tensor &x) {
    Args a(c);
    std::optional<std::vector<int64_t>> dims = dim_list(a.get(1, "dim"));
    bool keepdim = a.boolean(3, "keepdim", false);
    const Val *corr = a.get(99, "correction");
    bool has_corr = corr && corr->kind != Val::NONE;
    TORCH_CHECK(!(has_corr && a.present(2, "unbiased")),
                "TypeError: std() received an invalid combination of arguments");
    int64_t k = has_corr ? (int64_t)a.real(99, "correction", 1.0) : (a.boolean(2, "unbiased", true) ? 1 : 0);
    at::OptionalIntArrayRef d = dims ? at::OptionalIntArrayRef(*dims) : at::OptionalIntArrayRef();
    return at::std(x, d, k, keepdim);
}
Val std_real(const Call &c) {
    Args a(c);
    return T(std_run(c, a.tensor(0, "input")));
}
// 1.13 has no meta std: the dtype check ATen makes first, then the CPU kernel on
// zeros of the input's shape (float32 for float16/bfloat16), meta of its shape and dtype.
Val std_meta(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input");
    at::ScalarType dt = x.scalar_type();
    TORCH_CHECK(at::isFloatingType(dt) || at::isComplexType(dt),
                "std and var only support floating point and complex dtypes");
    bool low = dt == at::kHalf || dt == at::kBFloat16;
    at::Tensor z = at::zeros(x.sizes(), at::TensorOptions().dtype(low ? at::kFloat : dt));
    at::Tensor r = std_run(c, z);
    return T(at::empty(r.sizes(), at::TensorOptions().device(at::kMeta).dtype(low ? dt : r.scalar_type())));
}

// torch.tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False)
// of a Python number: a 0-d tensor of the default dtype (float), int64 or bool.
Val tensor_of(const Call &c) {
    Args a(c);
    const Val *d = a.get(0, "data");
    TORCH_CHECK(d, "TypeError: tensor() missing required argument 'data'");
    TORCH_CHECK(is_scalar(*d), "TypeError: new(): invalid data type '", repr(*d), "'");
    at::ScalarType inferred = d->kind == Val::FLOAT ? at::kFloat : d->kind == Val::INT ? at::kLong : at::kBool;
    c10::optional<at::ScalarType> dt = a.dtype(99, "dtype");
    at::ScalarType out = dt ? *dt : inferred;
    bool rg = a.boolean(99, "requires_grad", false);
    TORCH_CHECK(!rg || at::isFloatingType(out) || at::isComplexType(out),
                "Only Tensors of floating point and complex dtype can require gradients");
    return T(at::scalar_tensor(scalar(*d), at::TensorOptions().device(at::kMeta).dtype(out)));
}

// F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0,
// is_causal=False, scale=None, enable_gqa=False). libtorch 1.13 has no public sdpa;
// this follows current aten/src/ATen/native/transformers/attention.cpp:
// validate_sdpa_input, pre_process_group_query_attention_input and the math
// backend _scaled_dot_product_attention_math, run with ATen ops.
Val sdpa(const Call &c) {
    Args a(c);
    at::Tensor q = a.tensor(0, "query"), k = a.tensor(1, "key"), v = a.tensor(2, "value");
    c10::optional<at::Tensor> mask = a.opt_tensor(3, "attn_mask");
    double p = a.real(4, "dropout_p", 0.0);
    bool causal = a.boolean(5, "is_causal", false);
    bool gqa = a.boolean(7, "enable_gqa", false);
    TORCH_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type(),
                "Expected query, key, and value to have the same dtype, but got query.dtype: ",
                aten_dtype_name(q.scalar_type()), " key.dtype: ", aten_dtype_name(k.scalar_type()),
                " and value.dtype: ", aten_dtype_name(v.scalar_type()), " instead.");
    TORCH_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2,
                "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: ", q.dim(),
                " key.dim: ", k.dim(), " and value.dim: ", v.dim(), " instead.");
    if (mask) {
        at::ScalarType md = mask->scalar_type();
        TORCH_CHECK(md == at::kBool || md == at::kFloat || md == q.scalar_type(),
                    "Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: ",
                    aten_dtype_name(md), " and  query.dtype: ", aten_dtype_name(q.scalar_type()), " instead.");
    }
    TORCH_CHECK(!(causal && mask), "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True");
    if (gqa) {
        TORCH_CHECK(q.dim() >= 3 && k.dim() >= 3 && v.dim() >= 3, "IndexError: enable_gqa needs a head dim (-3)");
        int64_t hq = q.size(-3), hk = k.size(-3), hv = v.size(-3);
        bool equal = hq == hk && hk == hv;
        TORCH_CHECK(equal || (hq % hk == 0 && hq % hv == 0),
                    "Number of heads in key and value must divide the number of heads in query");
        if (!equal) {
            k = k.repeat_interleave(hq / hk, -3);
            v = v.repeat_interleave(hq / hv, -3);
        }
    }
    double scale = 1.0 / std::sqrt((double)q.size(-1));
    if (a.present(6, "scale")) scale = a.real(6, "scale", scale);
    double sf = std::sqrt(std::abs(scale));
    at::Tensor qs = q * sf;
    at::Tensor attn = matmul_checked(qs, k.transpose(-2, -1) * sf);
    if (causal) {
        // the math backend adds a [L, S] float mask built from tril
        attn.add_(at::empty({q.size(-2), k.size(-2)}, attn.options()));
    } else if (mask) {
        at::Tensor m = *mask;
        if (m.scalar_type() == at::kBool) m = at::empty(m.sizes(), m.options().dtype(q.scalar_type()));
        attn.add_(m);
    }
    attn = at::softmax(attn, -1);
    if (p > 0.0) attn = at::dropout(attn, p, true);
    return T(matmul_checked(attn, v));
}

// F.dropout(input, p=0.5, training=True, inplace=False)
Val dropout(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input");
    double p = a.real(1, "p", 0.5);
    bool training = a.boolean(2, "training", true);
    // torch/nn/functional.py dropout
    TORCH_CHECK(p >= 0.0 && p <= 1.0, "ValueError: dropout probability has to be between 0 and 1, but got ", p);
    return T(at::dropout(x, p, training));
}


// ---- mixture-of-experts routing ops ----------------------------------------------------
// F.one_hot(tensor, num_classes=-1): aten/src/ATen/native/Onehot.cpp. num_classes=-1
// reads the data (max + 1): the meta reference cannot decide it.
Val one_hot_real(const Call &c) {
    Args a(c);
    return T(at::one_hot(a.tensor(0, "input"), a.integer(1, "num_classes", -1)));
}
Val one_hot_meta(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input");
    int64_t n = a.integer(1, "num_classes", -1);
    TORCH_CHECK(x.scalar_type() == at::kLong, "one_hot is only applicable to index tensor of type LongTensor.");
    if (n == -1) throw Unsupported{"one_hot with num_classes=-1 depends on the data"};
    TORCH_CHECK(n > 0 || x.numel() == 0, "Class values must be smaller than num_classes.");
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.push_back(n);
    return T(at::empty(shape, x.options().dtype(at::kLong)));
}

// torch.nonzero(input, *, as_tuple=False): the row count depends on the data. The
// meta reference picks numel/2 rows (neither 0 nor 1, so that broadcasting cannot
// hide a mistake); the replay binds the recorded symbol to it.
Val nonzero_impl(const Call &c, bool meta) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input");
    bool as_tuple = a.boolean(99, "as_tuple", false);
    if (!meta) {
        if (!as_tuple) return T(at::nonzero(x));
        return tuple_of(at::nonzero_numpy(x));
    }
    int64_t n = x.numel() / 2;
    if (!as_tuple) return T(at::empty({n, x.dim()}, x.options().dtype(at::kLong)));
    std::vector<at::Tensor> out;
    for (int64_t k = 0; k < std::max<int64_t>(x.dim(), 1); k++) out.push_back(at::empty({n}, x.options().dtype(at::kLong)));
    return tuple_of(out);
}

// torch.index_select(input, dim, index): aten/src/ATen/native/TensorAdvancedIndexing.cpp
// index_select_out_cpu_ ("index_select(): Index is supposed to be a vector",
// "Expected dtype int32/int64 for index").
Val index_select_real(const Call &c) {
    Args a(c);
    return T(at::index_select(a.tensor(0, "input"), a.integer(1, "dim"), a.tensor(2, "index")));
}
Val index_select_meta(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input"), idx = a.tensor(2, "index");
    int64_t d = c10::maybe_wrap_dim(a.integer(1, "dim"), x.dim());
    TORCH_CHECK(idx.dim() <= 1, "index_select(): Index is supposed to be a vector");
    TORCH_CHECK(idx.scalar_type() == at::kLong || idx.scalar_type() == at::kInt,
                "index_select(): Expected dtype int32 or int64 for index");
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    if (x.dim() > 0) shape[d] = idx.numel();
    return T(at::empty(shape, x.options()));
}

Val gather(const Call &c) {
    Args a(c);
    return T(at::gather(a.tensor(0, "input"), a.integer(1, "dim"), a.tensor(2, "index")));
}

// Tensor.index_add_(dim, index, source, *, alpha=1) returns self. Current PyTorch
// checks that source has self's sizes apart from dim (TensorAdvancedIndexing.cpp
// index_func_meta_impl: "self (...) and source (...) must have same size apart
// from dimension"); libtorch 1.13 does not.
Val index_add(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "self");
    {
        at::Tensor src = a.tensor(3, "source");
        int64_t d = c10::maybe_wrap_dim(a.integer(1, "dim"), x.dim());
        std::vector<int64_t> xs(x.sizes().begin(), x.sizes().end()), ss(src.sizes().begin(), src.sizes().end());
        if (!xs.empty()) xs.erase(xs.begin() + d);
        if (!ss.empty() && d < (int64_t)ss.size()) ss.erase(ss.begin() + d);
        TORCH_CHECK(xs == ss, "index_add_(): self ", sizes_str(x.sizes()), " and source ", sizes_str(src.sizes()),
                    " must have same size apart from dimension ", d);
    }
    const Val *al = a.get(99, "alpha");
    at::Scalar alpha = al && al->kind != Val::NONE ? scalar(*al) : at::Scalar((int64_t)1);
    return T(x.clone().index_add_(a.integer(1, "dim"), a.tensor(2, "index"), a.tensor(3, "source"), alpha));
}

// torch.zeros(*size, dtype=None, ...)
Val zeros(const Call &c) {
    Args a(c);
    at::TensorOptions o = at::TensorOptions().device(at::kMeta);
    c10::optional<at::ScalarType> dt = a.dtype(99, "dtype");
    if (dt) o = o.dtype(*dt);
    return T(at::zeros(int_list_varargs(c, 0, "size"), o));
}

Val zeros_like(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input");
    c10::optional<at::ScalarType> dt = a.dtype(99, "dtype");
    return T(at::zeros_like(x, dt ? x.options().dtype(*dt) : x.options()));
}

// Tensor.scatter_(dim, index, src|value, *, reduce=None) returns self.
Val scatter(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "self").clone();
    int64_t d = a.integer(1, "dim");
    at::Tensor idx = a.tensor(2, "index");
    const Val *src = a.get(3, "src");
    if (!src) src = a.get(99, "value");
    TORCH_CHECK(src, "TypeError: scatter_() missing src");
    if (a.present(99, "reduce")) {
        std::string r = a.str(99, "reduce", "");
        if (src->kind == Val::TENSOR) return T(x.scatter_(d, idx, src->t, r));
        return T(x.scatter_(d, idx, scalar(*src), r));
    }
    if (src->kind == Val::TENSOR) return T(x.scatter_(d, idx, src->t));
    return T(x.scatter_(d, idx, scalar(*src)));
}

// Tensor.clamp_(min=None, max=None): in place, returns self; min/max numbers or tensors.
Val clamp_(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "self").clone();
    const Val *lo = a.get(1, "min"), *hi = a.get(2, "max");
    bool has_lo = lo && lo->kind != Val::NONE, has_hi = hi && hi->kind != Val::NONE;
    TORCH_CHECK(has_lo || has_hi, "torch.clamp: At least one of 'min' or 'max' must not be None");
    TORCH_CHECK((!has_lo || lo->kind == Val::TENSOR || is_scalar(*lo)) && (!has_hi || hi->kind == Val::TENSOR || is_scalar(*hi)),
                "TypeError: clamp_(): min and max must be numbers or tensors");
    bool tensors = (has_lo && lo->kind == Val::TENSOR) || (has_hi && hi->kind == Val::TENSOR);
    if (tensors) {
        auto opt = [](bool has, const Val *v) -> c10::optional<at::Tensor> {
            if (!has) return c10::nullopt;
            return v->kind == Val::TENSOR ? v->t : wrapped(scalar(*v));
        };
        return T(x.clamp_(opt(has_lo, lo), opt(has_hi, hi)));
    }
    c10::optional<at::Scalar> l, h;
    if (has_lo) l = scalar(*lo);
    if (has_hi) h = scalar(*hi);
    return T(x.clamp_(l, h));
}

Val invert(const Call &c) {
    Args a(c);
    TORCH_CHECK(c.args.size() == 1, "TypeError: expected 1 argument");
    return T(at::bitwise_not(a.tensor(0, "a")));
}

// ---- the Mamba-2 mixer's ops (transformers' BambaMixer.torch_forward) ---------------
// An int or a one-int list (conv1d's stride / padding / dilation), as F.conv1d's
// Python binding accepts them.
int64_t conv_int(const Args &a, size_t pos, const char *name, int64_t dflt) {
    const Val *v = a.get(pos, name);
    if (!v || v->kind == Val::NONE) return dflt;
    if (v->kind == Val::LIST) {
        TORCH_CHECK(v->items.size() == 1 && v->items[0].kind == Val::INT, "expected ", name,
                    " to be a single integer value or a list of 1 values to match the convolution dimensions");
        return v->items[0].i;
    }
    TORCH_CHECK(v->kind == Val::INT, "TypeError: conv1d(): argument '", name, "' must be tuple of ints, not ", repr(*v));
    return v->i;
}

// F.conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1).
// libtorch 1.13 has no meta convolution: the meta reference runs the CPU kernel
// on zeros (in float32 for float16/bfloat16, whose CPU kernels this build may
// lack, after the dtype checks ATen makes first) and returns meta of its shape.
Val conv1d_impl(const Call &c, bool meta) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input"), w = a.tensor(1, "weight");
    c10::optional<at::Tensor> b = a.opt_tensor(2, "bias");
    int64_t stride = conv_int(a, 3, "stride", 1), dil = conv_int(a, 5, "dilation", 1), groups = a.integer(6, "groups", 1);
    const Val *pv = a.get(4, "padding");
    TORCH_CHECK(x.scalar_type() == w.scalar_type(), "Input type (", aten_dtype_name(x.scalar_type()),
                ") and weight type (", aten_dtype_name(w.scalar_type()), ") should be the same");
    if (b) TORCH_CHECK(b->scalar_type() == x.scalar_type(), "Input type and bias type should be the same");
    auto run = [&](const at::Tensor &xi, const at::Tensor &wi, const c10::optional<at::Tensor> &bi) {
        if (pv && pv->kind == Val::STR) return at::conv1d(xi, wi, bi, {stride}, pv->s, {dil}, groups);
        return at::conv1d(xi, wi, bi, {stride}, {conv_int(a, 4, "padding", 0)}, {dil}, groups);
    };
    if (!meta) return T(run(x, w, b));
    bool low = x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16;
    auto cpu = [&](const at::Tensor &t) {
        at::Tensor z = at::zeros(t.sizes(), t.options().device(at::kCPU));
        return low ? z.to(at::kFloat) : z;
    };
    c10::optional<at::Tensor> bc;
    if (b) bc = cpu(*b);
    at::Tensor y = run(cpu(x), cpu(w), bc);
    return T(at::empty(y.sizes(), x.options().device(at::kMeta)));
}

// F.pad(input, pad, mode="constant", value=None): the constant mode is
// at::constant_pad_nd (value None pads with 0); others are not executed here.
Val pad(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input");
    const Val *p = a.get(1, "pad");
    TORCH_CHECK(p && p->kind == Val::LIST, "TypeError: pad(): argument 'pad' must be tuple of ints, not ",
                p ? repr(*p) : std::string("None"));
    std::vector<int64_t> pads;
    for (const Val &v : p->items) {
        TORCH_CHECK(v.kind == Val::INT, "TypeError: pad(): argument 'pad' must be tuple of ints");
        pads.push_back(v.i);
    }
    std::string mode = a.str(2, "mode", "constant");
    if (mode != "constant") throw Unsupported{"oracle: F.pad mode '" + mode + "' is not executed"};
    TORCH_CHECK(pads.size() % 2 == 0, "Padding length must be divisible by 2");
    TORCH_CHECK((int64_t)pads.size() / 2 <= x.dim(), "Padding length should be less than or equal to two times the input dimension");
    return T(at::constant_pad_nd(x, pads, a.real(3, "value", 0.0)));
}

// ---- Qwen3-Next's gated delta rule ---------------------------------------------------
// x * rsqrt(sum(x*x, -1, keepdim) + eps): the l2norm the FLA kernels apply to q and k.
static at::Tensor gdr_l2norm(const at::Tensor &x) { return x * at::rsqrt((x * x).sum(-1, true) + 1e-6); }

// [B, T, H, ...] -> [B, H, T, ...] float32, as both rules begin.
static at::Tensor gdr_heads_first(const at::Tensor &x) { return x.transpose(1, 2).contiguous().to(at::kFloat); }

} // namespace

// The chunked form. Per chunk of C positions (the sequence zero-padded to a
// multiple of C): the within-chunk (I + strictly-lower(beta K K^T decayed))^-1 by
// forward substitution, then the chunks in order, each reading the state S
// [K, V] the previous ones left: out = (q e^g) S + (q k^T decayed, causal) (u - w S),
// S <- e^{g_last} S + (k e^{g_last - g})^T (u - w S), with u = A (beta v) and
// w = A (beta k e^g).
std::pair<at::Tensor, at::Tensor> gated_delta_chunked(at::Tensor q, at::Tensor k, at::Tensor v, at::Tensor g,
                                                      at::Tensor beta, int64_t C, c10::optional<at::Tensor> s0,
                                                      bool l2) {
    at::ScalarType out_dt = q.scalar_type();
    if (l2) {
        q = gdr_l2norm(q);
        k = gdr_l2norm(k);
    }
    TORCH_CHECK(k.dim() == 4, "ValueError: not enough values to unpack (expected 4, got ", k.dim(), ")");
    TORCH_CHECK(C != 0, "ZeroDivisionError: integer division or modulo by zero");
    q = gdr_heads_first(q), k = gdr_heads_first(k), v = gdr_heads_first(v);
    beta = gdr_heads_first(beta), g = gdr_heads_first(g);
    int64_t B = k.size(0), H = k.size(1), T = k.size(2), K = k.size(3), V = v.size(-1);
    int64_t pad = ((C - T % C) % C + C) % C; // Python's modulo
    q = at::constant_pad_nd(q, {0, 0, 0, pad});
    k = at::constant_pad_nd(k, {0, 0, 0, pad});
    v = at::constant_pad_nd(v, {0, 0, 0, pad});
    beta = at::constant_pad_nd(beta, {0, pad});
    g = at::constant_pad_nd(g, {0, pad});
    q = q * (1.0 / std::sqrt((double)q.size(-1)));
    at::Tensor v_beta = v * beta.unsqueeze(-1), k_beta = k * beta.unsqueeze(-1);
    auto chunks = [&](const at::Tensor &x) { return x.reshape({x.size(0), x.size(1), -1, C, x.size(-1)}); };
    q = chunks(q), k = chunks(k), v = chunks(v), k_beta = chunks(k_beta), v_beta = chunks(v_beta);
    g = g.reshape({g.size(0), g.size(1), -1, C}).cumsum(-1);
    at::TensorOptions bo = at::TensorOptions().dtype(at::kBool).device(q.device());
    at::Tensor upper0 = at::ones({C, C}, bo).triu(0), upper1 = at::ones({C, C}, bo).triu(1);
    at::Tensor decay = (g.unsqueeze(-1) - g.unsqueeze(-2)).tril().exp().tril();
    at::Tensor A = -(at::matmul(k_beta, k.transpose(-1, -2)) * decay).masked_fill(upper0, 0);
    for (int64_t i = 1; i < C; i++) {
        at::Tensor row = A.select(-2, i).narrow(-1, 0, i).clone();
        at::Tensor sub = A.narrow(-2, 0, i).narrow(-1, 0, i).clone();
        A.select(-2, i).narrow(-1, 0, i).copy_(row + (row.unsqueeze(-1) * sub).sum(-2));
    }
    A = A + at::eye(C, q.options());
    at::Tensor u = at::matmul(A, v_beta), w = at::matmul(A, k_beta * g.exp().unsqueeze(-1));
    at::Tensor S = s0 ? s0->to(at::kFloat) : at::zeros({B, H, K, V}, q.options());
    at::Tensor out = at::zeros_like(u);
    for (int64_t i = 0; i < q.size(2); i++) {
        at::Tensor qi = q.select(2, i), ki = k.select(2, i), gi = g.select(2, i);
        at::Tensor a = (at::matmul(qi, ki.transpose(-1, -2)) * decay.select(2, i)).masked_fill(upper1, 0);
        at::Tensor v_new = u.select(2, i) - at::matmul(w.select(2, i), S);
        at::Tensor inter = at::matmul(qi * gi.unsqueeze(-1).exp(), S);
        out.select(2, i).copy_(inter + at::matmul(a, v_new));
        at::Tensor glast = gi.select(-1, C - 1);
        S = S * glast.unsqueeze(-1).unsqueeze(-1).exp() +
            at::matmul((ki * (glast.unsqueeze(-1) - gi).exp().unsqueeze(-1)).transpose(-1, -2), v_new);
    }
    out = out.reshape({B, H, -1, V}).narrow(2, 0, T).transpose(1, 2).contiguous().to(out_dt);
    return {out, S};
}

// The recurrence one token at a time: S <- e^{g_t} S; S <- S + k_t (beta_t (v_t - S^T k_t))^T;
// out_t = S^T q_t.
std::pair<at::Tensor, at::Tensor> gated_delta_recurrent(at::Tensor q, at::Tensor k, at::Tensor v, at::Tensor g,
                                                        at::Tensor beta, c10::optional<at::Tensor> s0, bool l2) {
    at::ScalarType out_dt = q.scalar_type();
    if (l2) {
        q = gdr_l2norm(q);
        k = gdr_l2norm(k);
    }
    q = gdr_heads_first(q), k = gdr_heads_first(k), v = gdr_heads_first(v);
    beta = gdr_heads_first(beta), g = gdr_heads_first(g);
    int64_t B = k.size(0), H = k.size(1), T = k.size(2), K = k.size(3), V = v.size(-1);
    q = q * (1.0 / std::sqrt((double)q.size(-1)));
    at::Tensor S = s0 ? s0->to(at::kFloat) : at::zeros({B, H, K, V}, q.options());
    at::Tensor out = at::zeros({B, H, T, V}, q.options());
    for (int64_t t = 0; t < T; t++) {
        at::Tensor qt = q.select(2, t), kt = k.select(2, t), vt = v.select(2, t);
        S = S * g.select(2, t).exp().unsqueeze(-1).unsqueeze(-1);
        at::Tensor mem = (S * kt.unsqueeze(-1)).sum(-2);
        at::Tensor delta = (vt - mem) * beta.select(2, t).unsqueeze(-1);
        S = S + kt.unsqueeze(-1) * delta.unsqueeze(-2);
        out.select(2, t).copy_((S * qt.unsqueeze(-1)).sum(-2));
    }
    return {out.transpose(1, 2).contiguous().to(out_dt), S};
}

namespace {

// torch_chunk_gated_delta_rule(query, key, value, g, beta, chunk_size=64,
// initial_state=None, output_final_state=False, use_qk_l2norm_in_kernel=False):
// (out, final state) or, without output_final_state, (out, None), whose None is
// no output (as metatrace records it). The meta reference runs the rule on CPU
// copies of the inputs (float32 for float16/bfloat16, whose CPU kernels this build
// may lack; the output keeps query's dtype) and answers meta tensors of its shapes.
Val gated_delta_call(const Call &c, bool meta) {
    Args a(c);
    at::Tensor q = a.tensor(0, "query"), k = a.tensor(1, "key"), v = a.tensor(2, "value");
    at::Tensor g = a.tensor(3, "g"), beta = a.tensor(4, "beta");
    int64_t C = a.integer(5, "chunk_size", 64);
    c10::optional<at::Tensor> s0 = a.opt_tensor(6, "initial_state");
    bool final = a.present(7, "output_final_state") && a.get(7, "output_final_state")->b;
    bool l2 = a.present(8, "use_qk_l2norm_in_kernel") && a.get(8, "use_qk_l2norm_in_kernel")->b;
    at::ScalarType out_dt = q.scalar_type();
    if (meta) {
        int64_t n = q.numel() + k.numel() + v.numel() + g.numel() + beta.numel();
        if (n > (1 << 20)) throw Unsupported{"oracle: gated delta rule inputs too large to run on CPU"};
        auto cpu = [](const at::Tensor &t) {
            bool low = t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16;
            at::Tensor z = at::zeros(t.sizes(), t.options().device(at::kCPU));
            return low ? z.to(at::kFloat) : z;
        };
        q = cpu(q), k = cpu(k), v = cpu(v), g = cpu(g), beta = cpu(beta);
        if (s0) s0 = cpu(*s0);
    }
    auto r = gated_delta_chunked(q, k, v, g, beta, C, s0, l2);
    at::Tensor out = r.first.to(out_dt);
    if (meta) return Val::tuple(final ? std::vector<Val>{T(at::empty(out.sizes(), out.options().device(at::kMeta))),
                                                         T(at::empty(r.second.sizes(), r.second.options().device(at::kMeta)))}
                                      : std::vector<Val>{T(at::empty(out.sizes(), out.options().device(at::kMeta)))});
    return Val::tuple(final ? std::vector<Val>{T(out), T(r.second)} : std::vector<Val>{T(out)});
}

// mamba_ssm.ops.selective_scan_interface.selective_scan_fn(u, delta, A, B, C, D=None, z=None,
// delta_bias=None, delta_softplus=False, return_last_state=False). libtorch has no such op:
// the checks are those of mamba_ssm's CUDA entry (csrc/selective_scan/selective_scan.cpp,
// selective_scan_fwd, and the wrapper's unsqueeze of a 3-D B/C), and the values come from
// the scan's maths, written here step by step in float32:
//   delta <- softplus(delta + delta_bias) (each optional), x_0 = 0 [b, d, n],
//   x_l = exp(delta_l A) * x_{l-1} + delta_l * B_l * u_l,  y_l = sum_n x_l * C_l,
//   y += D * u;  y *= silu(z);  the result in u's dtype.
// The meta reference makes the same checks and returns meta of u's shape.
Val selective_scan_impl(const Call &c, bool meta) {
    Args a(c);
    at::Tensor u = a.tensor(0, "u"), delta = a.tensor(1, "delta"), A = a.tensor(2, "A"), B = a.tensor(3, "B"),
               C = a.tensor(4, "C");
    c10::optional<at::Tensor> D = a.opt_tensor(5, "D"), z = a.opt_tensor(6, "z"), bias = a.opt_tensor(7, "delta_bias");
    bool softplus = a.boolean(8, "delta_softplus", false);
    if (a.boolean(9, "return_last_state", false)) throw Unsupported{"oracle: return_last_state=True is not executed"};
    auto in_t = u.scalar_type();
    TORCH_CHECK(in_t == at::kFloat || in_t == at::kHalf || in_t == at::kBFloat16,
                "selective_scan: u must be float32, float16 or bfloat16");
    if (A.scalar_type() == at::kComplexFloat) throw Unsupported{"oracle: a complex A is not executed"};
    TORCH_CHECK(A.scalar_type() == at::kFloat, "selective_scan: A must be float32");
    TORCH_CHECK(u.dim() == 3, "selective_scan: u must be [batch, dim, seqlen]");
    const int64_t b = u.size(0), d = u.size(1), L = u.size(2);
    TORCH_CHECK(A.dim() == 2 && A.size(0) == d, "selective_scan: A must be [dim, dstate]");
    const int64_t n = A.size(1);
    TORCH_CHECK(n <= 256, "selective_scan only supports state dimension <= 256");
    TORCH_CHECK(delta.scalar_type() == in_t && delta.sizes() == u.sizes(), "selective_scan: delta must be u's shape and dtype");
    auto check_bc = [&](const at::Tensor &t, const char *name) {
        if (t.dim() == 2) {
            TORCH_CHECK(t.scalar_type() == at::kFloat && t.size(0) == d && t.size(1) == n, "selective_scan: ", name,
                        " must be [dim, dstate] float32");
            return;
        }
        TORCH_CHECK(t.dim() == 3 || t.dim() == 4, "selective_scan: ", name, " must be 3-D or 4-D");
        TORCH_CHECK(t.scalar_type() == in_t, "selective_scan: ", name, " must have u's dtype");
        int64_t o = t.dim() - 3;
        TORCH_CHECK(t.size(0) == b && t.size(1 + o) == n && t.size(2 + o) == L, "selective_scan: ", name,
                    " has the wrong size");
        if (t.dim() == 4) TORCH_CHECK(t.size(1) > 0 && d % t.size(1) == 0, "selective_scan: ", name, "'s groups must divide dim");
    };
    check_bc(B, "B");
    check_bc(C, "C");
    for (const auto &v : {D, bias})
        if (v) TORCH_CHECK(v->scalar_type() == at::kFloat && v->dim() == 1 && v->size(0) == d,
                           "selective_scan: D and delta_bias must be float32 [dim]");
    if (z) TORCH_CHECK(z->scalar_type() == in_t && z->sizes() == u.sizes(), "selective_scan: z must be u's shape and dtype");
    if (meta) return T(at::empty(u.sizes(), u.options().device(at::kMeta)));
    // [b, d, n, L] views of B and C (a group's matrices repeated over its channels)
    auto per_channel = [&](const at::Tensor &t) {
        at::Tensor f = t.to(at::kFloat);
        if (t.dim() == 2) return f.view({1, d, n, 1}).expand({b, d, n, L});
        if (t.dim() == 3) return f.unsqueeze(1).expand({b, d, n, L});
        return f.repeat_interleave(d / t.size(1), 1);
    };
    at::Tensor uf = u.to(at::kFloat), dt = delta.to(at::kFloat), Af = A, Bf = per_channel(B), Cf = per_channel(C);
    if (bias) dt = dt + bias->view({1, d, 1});
    if (softplus) dt = at::softplus(dt);
    at::Tensor x = at::zeros({b, d, n}, uf.options());
    std::vector<at::Tensor> ys;
    for (int64_t l = 0; l < L; l++) {
        at::Tensor dl = dt.select(2, l).unsqueeze(-1);                         // [b, d, 1]
        x = at::exp(dl * Af) * x + dl * Bf.select(3, l) * uf.select(2, l).unsqueeze(-1);
        ys.push_back((x * Cf.select(3, l)).sum(-1));                            // [b, d]
    }
    at::Tensor y = L > 0 ? at::stack(ys, -1) : at::zeros({b, d, 0}, uf.options());
    if (D) y = y + uf * D->view({1, d, 1});
    if (z) y = y * at::silu(z->to(at::kFloat));
    return T(y.to(in_t));
}

// metatrace.ops.lightning_attention(query, key, value, slope_rate, query_decay, key_decay,
// diagonal_decay): MiniMaxLightningAttention.forward's loop over blocks without a cache
// (transformers models/minimax), written here as that loop does it: the state
// kv = zeros [b, h, d, e] in v's dtype; per block of (at most) B rows, the intra-block
// (q kᵀ * diagonal_decay[:, :, :n, :n]) v, the inter-block (q * query_decay[:, :n]) kv,
// their sum, then kv = kv * exp(-slope_rate * n) + (k * key_decay[:, -n:])ᵀ v; the blocks
// concatenated on dim -2. ATen's matmul makes the dtype checks; the checks of shapes are
// ours (metatrace's rule), made here as well so meta and CPU agree.
Val lightning_impl(const Call &c, bool meta) {
    Args a(c);
    at::Tensor q = a.tensor(0, "query"), k = a.tensor(1, "key"), v = a.tensor(2, "value"),
               slope = a.tensor(3, "slope_rate"), qd = a.tensor(4, "query_decay"), kd = a.tensor(5, "key_decay"),
               dd = a.tensor(6, "diagonal_decay");
    TORCH_CHECK(q.dim() == 4 && q.sizes() == k.sizes(), "lightning_attention: query and key must be 4-D of one shape");
    TORCH_CHECK(v.dim() == 4 && v.size(0) == q.size(0) && v.size(1) == q.size(1) && v.size(2) == q.size(2),
                "lightning_attention: value must be [batch, heads, seq, v_dim]");
    TORCH_CHECK(at::isFloatingType(q.scalar_type()), "lightning_attention: floating operands");
    for (const at::Tensor &t : {k, v, slope, qd, kd, dd})
        TORCH_CHECK(t.scalar_type() == q.scalar_type(), "expected both operands to have the same dtype");
    const int64_t h = q.size(1), L = q.size(2);
    TORCH_CHECK(qd.dim() == 3 && qd.size(0) == h && qd.size(1) > 0 && qd.size(2) == 1, "query_decay must be [h, B, 1]");
    const int64_t B = qd.size(1);
    TORCH_CHECK(kd.sizes() == qd.sizes(), "key_decay must be query_decay's shape");
    TORCH_CHECK(slope.dim() == 3 && slope.size(0) == h && slope.size(1) == 1 && slope.size(2) == 1,
                "slope_rate must be [h, 1, 1]");
    TORCH_CHECK(dd.dim() == 4 && dd.size(0) == 1 && dd.size(1) == h && dd.size(2) == B && dd.size(3) == B,
                "diagonal_decay must be [1, h, B, B]");
    if (meta) return T(at::empty({q.size(0), h, L, v.size(3)}, v.options().device(at::kMeta)));
    at::Tensor kv = at::zeros({q.size(0), h, q.size(3), v.size(3)}, v.options());
    std::vector<at::Tensor> outs;
    for (int64_t s0 = 0; s0 < L; s0 += B) {
        int64_t n = std::min(B, L - s0);
        at::Tensor qb = q.narrow(2, s0, n), kb = k.narrow(2, s0, n), vb = v.narrow(2, s0, n);
        at::Tensor intra = at::matmul(at::matmul(qb, kb.transpose(-1, -2)) * dd.narrow(2, 0, n).narrow(3, 0, n), vb);
        at::Tensor inter = at::matmul(qb * qd.narrow(1, 0, n), kv);
        outs.push_back(inter + intra);
        at::Tensor next = at::matmul((kb * kd.narrow(1, B - n, n)).transpose(-1, -2), vb);
        kv = kv * at::exp(-slope * (double)n) + next;
    }
    return T(outs.empty() ? at::empty({q.size(0), h, 0, v.size(3)}, v.options()) : at::cat(outs, -2));
}

// ---- call_module: torch.nn leaf modules, parameters passed as kwargs --------------
Val mod_linear(const Call &c) {
    Args a(c);
    Call f;
    f.args = {*a.get(0, "input"), Val::tensor(a.tensor(99, "weight"))};
    if (a.present(99, "bias")) f.args.push_back(Val::tensor(a.tensor(99, "bias")));
    return linear(f);
}
// transformers.pytorch_utils.Conv1D (GPT-2): weight [nx, nf]; forward is
// addmm(bias, x.view(-1, nx), weight).view(x.shape[:-1] + [nf]).
Val mod_conv1d(const Call &c) {
    Args a(c);
    at::Tensor x = a.tensor(0, "input"), w = a.tensor(99, "weight"), b = a.tensor(99, "bias");
    TORCH_CHECK(w.dim() == 2, "Conv1D: weight must be 2-D");
    std::vector<int64_t> out(x.sizes().begin(), x.sizes().end());
    TORCH_CHECK(!out.empty(), "Conv1D: input must have at least one dim");
    out.back() = w.size(1);
    check_same_dtype("Conv1D", x, w);
    return T(at::addmm(b, x.reshape({-1, x.size(-1)}), w).view(out));
}
Val mod_embedding(const Call &c, bool meta) {
    Args a(c);
    Call f;
    f.args = {*a.get(0, "input"), Val::tensor(a.tensor(99, "weight"))};
    return meta ? embedding_meta(f) : embedding_real(f);
}
Call mod_ln_call(const Call &c) {
    Args a(c);
    Call f;
    const Val *ns = a.get(99, "normalized_shape");
    TORCH_CHECK(ns, "oracle: LayerNorm module without normalized_shape attribute");
    Val w = a.present(99, "weight") ? Val::tensor(a.tensor(99, "weight")) : Val::none();
    Val b = a.present(99, "bias") ? Val::tensor(a.tensor(99, "bias")) : Val::none();
    f.args = {*a.get(0, "input"), *ns, w, b, Val::real(a.real(99, "eps", 1e-5))};
    return f;
}
Val mod_gelu(const Call &c, const char *dflt) {
    Args a(c);
    std::string approx = a.str(99, "approximate", dflt);
    return T(at::gelu(a.tensor(0, "input"), approx));
}

std::map<std::string, Entry> build_table() {
    std::map<std::string, Entry> m;
    auto add = [&](const std::string &key, Fn real, Fn meta_ref = nullptr) {
        m[key] = Entry{std::move(real), std::move(meta_ref), false};
    };
    auto un = [&](const std::string &key, at::Tensor (*fn)(const at::Tensor &)) {
        add(key, [fn](const Call &c) { return unary(c, fn); });
    };

    // arithmetic: a.__op__(b) or b.__rop__(a)
    add("function:operator.add", [](const Call &c) {
        return binary_operator(c, [](auto &x, auto &y) { return at::add(x, y); },
                               [](auto &x, auto &s) { return at::add(x, s); },
                               [](auto &x, auto &s) { return at::add(x, s); });
    });
    add("function:operator.sub", [](const Call &c) {
        return binary_operator(c, [](auto &x, auto &y) { return at::sub(x, y); },
                               [](auto &x, auto &s) { return at::sub(x, s); },
                               [](auto &x, auto &s) { return at::rsub(x, s); });
    });
    add("function:operator.mul", [](const Call &c) {
        return binary_operator(c, [](auto &x, auto &y) { return at::mul(x, y); },
                               [](auto &x, auto &s) { return at::mul(x, s); },
                               [](auto &x, auto &s) { return at::mul(x, s); });
    });
    // torch/_tensor.py: __rtruediv__ = __rdiv__ = self.reciprocal() * other
    add("function:operator.truediv", [](const Call &c) {
        return binary_operator(c, [](auto &x, auto &y) { return at::div(x, y); },
                               [](auto &x, auto &s) { return at::div(x, s); },
                               [](auto &x, auto &s) { return at::mul(at::reciprocal(x), s); });
    });
    add("method:pow", [](const Call &c) {
        Args a(c);
        at::Tensor x = a.tensor(0, "self");
        const Val *e = a.get(1, "exponent");
        TORCH_CHECK(e, "TypeError: pow() missing exponent");
        if (e->kind == Val::TENSOR) return T(at::pow(x, e->t));
        return T(at::pow(x, scalar(*e)));
    });
    add("function:torch.maximum", [](const Call &c) {
        Args a(c);
        return T(at::maximum(a.tensor(0, "input"), a.tensor(1, "other")));
    });
    add("function:torch.minimum", [](const Call &c) {
        Args a(c);
        return T(at::minimum(a.tensor(0, "input"), a.tensor(1, "other")));
    });
    // comparisons: 2 < t is t.__gt__(2)
    auto cmp = [&](const char *name, at::Tensor (*tt)(const at::Tensor &, const at::Tensor &),
                   at::Tensor (*ts)(const at::Tensor &, const at::Scalar &),
                   at::Tensor (*rs)(const at::Tensor &, const at::Scalar &)) {
        add(std::string("function:operator.") + name, [tt, ts, rs](const Call &c) {
            return binary_operator(c, tt, ts, rs);
        });
    };
    cmp("eq", at::eq, at::eq, at::eq);
    cmp("ne", at::ne, at::ne, at::ne);
    cmp("lt", at::lt, at::lt, at::gt);
    cmp("le", at::le, at::le, at::ge);
    cmp("gt", at::gt, at::gt, at::lt);
    cmp("ge", at::ge, at::ge, at::le);
    cmp("and_", at::bitwise_and, at::bitwise_and, at::bitwise_and);
    cmp("or_", at::bitwise_or, at::bitwise_or, at::bitwise_or);

    add("function:torch.where", where_real, where_meta);
    add("method:masked_fill", masked_fill);

    un("function:operator.neg", at::neg);
    un("function:torch.abs", at::abs);
    un("function:torch.rsqrt", at::rsqrt);
    un("function:torch.sqrt", at::sqrt);
    un("function:torch.exp", at::exp);
    un("function:torch.log", at::log);
    un("method:sin", at::sin);
    un("method:cos", at::cos);
    un("function:torch.tanh", at::tanh);
    un("function:torch.sigmoid", at::sigmoid);
    add("function:torch.nn.functional.silu", [](const Call &c) {
        Args a(c);
        return T(at::silu(a.tensor(0, "input")));
    });
    add("function:torch.nn.functional.gelu", [](const Call &c) {
        Args a(c);
        return T(at::gelu(a.tensor(0, "input"), a.str(1, "approximate", "none")));
    });
    add("function:torch.nn.functional.relu", [](const Call &c) {
        Args a(c);
        return T(at::relu(a.tensor(0, "input")));
    }, relu_meta);

    add("method:to", to);
    add("method:type_as", [](const Call &c) {
        Args a(c);
        return T(a.tensor(0, "self").type_as(a.tensor(1, "other")));
    });
    add("method:sum", [](const Call &c) { return reduce(c, 0); });
    add("method:mean", [](const Call &c) { return reduce(c, 1); });
    add("method:amax", [](const Call &c) { return reduce(c, 2); });
    add("function:torch.nn.functional.softmax", softmax);
    add("function:torch.cumsum", [](const Call &c) { return cumsum(c, "input"); });
    add("function:torch.nn.functional.conv2d", conv2d_real, conv2d_meta);
    add("function:torch.nn.functional.avg_pool2d", avg_pool2d);
    add("function:torch.nn.functional.unfold", unfold_real, unfold_meta);
    add("function:torch.nn.functional.conv3d", conv3d_real, conv3d_meta);
    add("method:unbind", [](const Call &c) {
        Args a(c);
        return tuple_of(a.tensor(0, "self").unbind(a.integer(1, "dim", 0)));
    });
    add("function:torch.outer", [](const Call &c) {
        Args a(c);
        return T(at::outer(a.tensor(0, "input"), a.tensor(1, "vec2")));
    });
    add("function:torch.argsort", [](const Call &c) {
        Args a(c);
        at::Tensor x = a.tensor(0, "input");
        int64_t dim = a.integer(1, "dim", -1);
        bool desc = a.boolean(2, "descending", false);
        if (a.present(3, "stable")) return T(at::argsort(x, a.boolean(3, "stable", false), dim, desc));
        return T(at::argsort(x, dim, desc));
    });
    add("method:masked_scatter", masked_scatter_real, masked_scatter_meta);
    add("method:cumsum", [](const Call &c) { return cumsum(c, "self"); });
    add("function:torch.matmul", [](const Call &c) {
        Args a(c);
        return T(matmul_checked(a.tensor(0, "input"), a.tensor(1, "other")));
    }, [](const Call &c) {
        Args a(c);
        return T(matmul_meta(a.tensor(0, "input"), a.tensor(1, "other")));
    });
    add("function:torch.nn.functional.linear", linear);
    add("function:torch.nn.functional.embedding", embedding_real, embedding_meta);
    add("function:torch.nn.functional.layer_norm", layer_norm_real, layer_norm_meta);

    add("method:view", [](const Call &c) {
        Args a(c);
        only_kwarg(c, "size");
        return T(a.tensor(0, "self").view(int_list_varargs(c, 1, "size")));
    });
    add("method:reshape", [](const Call &c) {
        Args a(c);
        only_kwarg(c, "shape");
        return T(a.tensor(0, "self").reshape(int_list_varargs(c, 1, "shape")));
    });
    add("method:transpose", [](const Call &c) {
        Args a(c);
        return T(a.tensor(0, "self").transpose(a.integer(1, "dim0"), a.integer(2, "dim1")));
    });
    add("method:permute", [](const Call &c) {
        Args a(c);
        only_kwarg(c, "dims");
        return T(a.tensor(0, "self").permute(int_list_varargs(c, 1, "dims")));
    });
    add("method:unsqueeze", [](const Call &c) {
        Args a(c);
        return T(a.tensor(0, "self").unsqueeze(a.integer(1, "dim")));
    });
    add("method:squeeze", squeeze);
    add("method:expand", [](const Call &c) {
        Args a(c);
        return T(a.tensor(0, "self").expand(int_list_varargs(c, 1, "size")));
    });
    add("function:torch.std", std_real, std_meta);
    add("method:clone", [](const Call &c) {
        Args a(c);
        return T(a.tensor(0, "self").clone());
    });
    add("function:torch.tensor", tensor_of);
    add("method:contiguous", [](const Call &c) {
        Args a(c);
        return T(a.tensor(0, "self").contiguous());
    });
    add("function:torch.cat", cat);
    add("method:split", split);
    add("method:chunk", chunk);
    add("function:torch.topk", topk);
    add("function:operator.getitem", getitem);
    add("function:torch.arange", arange);
    add("function:torch.full", full);
    add("function:torch.triu", [](const Call &c) {
        Args a(c);
        return T(at::triu(a.tensor(0, "input"), a.integer(1, "diagonal", 0)));
    });
    add("function:torch.nn.functional.scaled_dot_product_attention", sdpa);
    add("function:torch.nn.functional.dropout", dropout);

    add("function:torch.nn.functional.one_hot", one_hot_real, one_hot_meta);
    m["function:torch.nn.functional.one_hot"].data_dependent = true;
    add("function:torch.nonzero", [](const Call &c) { return nonzero_impl(c, false); },
        [](const Call &c) { return nonzero_impl(c, true); });
    m["function:torch.nonzero"].data_dependent = true;
    add("function:torch.index_select", index_select_real, index_select_meta);
    add("function:torch.gather", gather);
    add("method:index_add_", index_add);
    add("function:torch.zeros", zeros);
    add("function:torch.zeros_like", zeros_like);
    add("method:scatter_", scatter);
    add("function:operator.invert", invert);
    add("method:clamp_", clamp_);
    // Cohere's interleaved rotary (torch.repeat_interleave with an int, stack, flatten)
    add("function:torch.repeat_interleave", [](const Call &c) {
        Args a(c);
        at::Tensor x = a.tensor(0, "input");
        const Val *r = a.get(1, "repeats");
        TORCH_CHECK(r && r->kind == Val::INT, "TypeError: repeat_interleave(): repeats must be an int here");
        c10::optional<int64_t> dim;
        if (a.present(2, "dim")) dim = a.integer(2, "dim");
        c10::optional<int64_t> os;
        if (a.present(99, "output_size")) os = a.integer(99, "output_size");
        return T(at::repeat_interleave(x, r->i, dim, os));
    });
    add("function:torch.stack", [](const Call &c) {
        Args a(c);
        const Val *ts = a.get(0, "tensors");
        TORCH_CHECK(ts && ts->kind == Val::LIST, "TypeError: stack() argument 'tensors' must be a tuple of Tensors");
        std::vector<at::Tensor> v;
        for (const Val &x : ts->items) {
            TORCH_CHECK(x.kind == Val::TENSOR, "TypeError: expected Tensor as element in argument 0, got ", repr(x));
            v.push_back(x.t);
        }
        return T(at::stack(v, a.integer(1, "dim", 0)));
    });
    add("method:flatten", [](const Call &c) {
        Args a(c);
        return T(a.tensor(0, "self").flatten(a.integer(1, "start_dim", 0), a.integer(2, "end_dim", -1)));
    });
    // Tensor.clamp(min=None, max=None), out of place (gpt-oss experts): promotes like ATen's clamp.
    add("method:clamp", [](const Call &c) {
        Args a(c);
        at::Tensor x = a.tensor(0, "self");
        const Val *lo = a.get(1, "min"), *hi = a.get(2, "max");
        bool has_lo = lo && lo->kind != Val::NONE, has_hi = hi && hi->kind != Val::NONE;
        TORCH_CHECK(has_lo || has_hi, "torch.clamp: At least one of 'min' or 'max' must not be None");
        TORCH_CHECK((!has_lo || lo->kind == Val::TENSOR || is_scalar(*lo)) && (!has_hi || hi->kind == Val::TENSOR || is_scalar(*hi)),
                    "TypeError: clamp(): min and max must be numbers or tensors");
        bool tensors = (has_lo && lo->kind == Val::TENSOR) || (has_hi && hi->kind == Val::TENSOR);
        if (tensors) {
            auto opt = [](bool has, const Val *v) -> c10::optional<at::Tensor> {
                if (!has) return c10::nullopt;
                return v->kind == Val::TENSOR ? v->t : wrapped(scalar(*v));
            };
            return T(x.clamp(opt(has_lo, lo), opt(has_hi, hi)));
        }
        c10::optional<at::Scalar> l, h;
        if (has_lo) l = scalar(*lo);
        if (has_hi) h = scalar(*hi);
        return T(x.clamp(l, h));
    });
    // torch.min(input) / torch.min(input, other) (T5's relative position buckets)
    add("function:torch.min", [](const Call &c) {
        Args a(c);
        at::Tensor x = a.tensor(0, "input");
        const Val *o = a.get(1, "other");
        if (!o) {
            TORCH_CHECK(c.args.size() == 1 && c.kwargs.empty(), "TypeError: min() received an invalid combination of arguments");
            // the full reduction has no meta kernel in libtorch 1.13: run it on CPU zeros
            return T(at::min(at::zeros(x.sizes(), x.options().device(at::kCPU))));
        }
        TORCH_CHECK(o->kind == Val::TENSOR, "TypeError: min(): only the tensor 'other' form is executed here");
        return T(at::min(x, o->t));
    });
    add("function:torch.full_like", [](const Call &c) {
        Args a(c);
        at::Tensor x = a.tensor(0, "input");
        const Val *fv = a.get(1, "fill_value");
        TORCH_CHECK(fv && is_scalar(*fv), "TypeError: full_like() argument 'fill_value' must be a number");
        c10::optional<at::ScalarType> dt = a.dtype(99, "dtype");
        return T(at::full_like(x, scalar(*fv), dt ? x.options().dtype(*dt) : x.options()));
    });

    // Qwen3-Next's Gated DeltaNet: the chunked rule as one leaf
    add("function:transformers.models.qwen3_next.modeling_qwen3_next.torch_chunk_gated_delta_rule",
        [](const Call &c) { return gated_delta_call(c, false); }, [](const Call &c) { return gated_delta_call(c, true); });
    // the Mamba-2 mixer (Bamba)
    add("function:torch.nn.functional.conv1d", [](const Call &c) { return conv1d_impl(c, false); },
        [](const Call &c) { return conv1d_impl(c, true); });
    add("function:torch.nn.functional.pad", pad);
    add("function:torch.nn.functional.softplus", [](const Call &c) {
        Args a(c);
        return T(at::softplus(a.tensor(0, "input"), a.real(1, "beta", 1.0), a.real(2, "threshold", 20.0)));
    });
    add("function:torch.tril", [](const Call &c) {
        Args a(c);
        return T(at::tril(a.tensor(0, "input"), a.integer(1, "diagonal", 0)));
    });
    add("function:torch.ones", [](const Call &c) {
        Args a(c);
        at::TensorOptions o = at::TensorOptions().device(at::kMeta);
        c10::optional<at::ScalarType> dt = a.dtype(99, "dtype");
        if (dt) o = o.dtype(*dt);
        return T(at::ones(int_list_varargs(c, 0, "size"), o));
    });
    // torch.clamp(input, min, max): the method's executor on the function's argument name
    add("function:torch.clamp", [](const Call &c) {
        Call f = c;
        for (auto &kw : f.kwargs)
            if (kw.first == "input") kw.first = "self";
        return table().at("method:clamp").real(f);
    });
    add("method:repeat_interleave", [](const Call &c) {
        Args a(c);
        at::Tensor x = a.tensor(0, "self");
        const Val *r = a.get(1, "repeats");
        TORCH_CHECK(r && r->kind == Val::INT, "TypeError: repeat_interleave(): repeats must be an int here");
        c10::optional<int64_t> dim;
        if (a.present(2, "dim")) dim = a.integer(2, "dim");
        c10::optional<int64_t> os;
        if (a.present(99, "output_size")) os = a.integer(99, "output_size");
        return T(at::repeat_interleave(x, r->i, dim, os));
    });
    // torch.nn.Conv1d: F.conv1d(x, weight, bias, stride, padding, dilation, groups) from its attributes
    auto mod_conv = [](const Call &c, bool meta) {
        Args a(c);
        Call f;
        f.args = {*a.get(0, "input"), Val::tensor(a.tensor(99, "weight")),
                  a.present(99, "bias") ? Val::tensor(a.tensor(99, "bias")) : Val::none(),
                  Val::integer(a.integer(99, "stride", 1)), Val::integer(a.integer(99, "padding", 0)),
                  Val::integer(a.integer(99, "dilation", 1)), Val::integer(a.integer(99, "groups", 1))};
        return conv1d_impl(f, meta);
    };
    add("module:Conv1d", [mod_conv](const Call &c) { return mod_conv(c, false); },
        [mod_conv](const Call &c) { return mod_conv(c, true); });
    // Llama 4: the fused experts (bmm, repeat), the complex rotary (ones_like, polar,
    // view_as_complex, view_as_real), attention temperature tuning (floor, log1p) and the
    // chunked mask (floordiv)
    add("function:torch.bmm", [](const Call &c) {
        Args a(c);
        at::Tensor x = a.tensor(0, "input"), y = a.tensor(1, "mat2");
        // current PyTorch (common_checks_baddbmm_bmm) refuses mixed dtypes; 1.13's meta does not check
        TORCH_CHECK(x.scalar_type() == y.scalar_type(), "expected scalar type ", aten_dtype_name(x.scalar_type()),
                    " but found ", aten_dtype_name(y.scalar_type()));
        return T(at::bmm(x, y));
    });
    add("method:repeat", [](const Call &c) {
        Args a(c);
        return T(a.tensor(0, "self").repeat(int_list_varargs(c, 1, "repeats")));
    });
    add("function:torch.ones_like", [](const Call &c) {
        Args a(c);
        at::Tensor x = a.tensor(0, "input");
        c10::optional<at::ScalarType> dt = a.dtype(99, "dtype");
        return T(at::ones_like(x, dt ? x.options().dtype(*dt) : x.options()));
    });
    add("function:torch.polar", [](const Call &c) {
        Args a(c);
        return T(at::polar(a.tensor(0, "abs"), a.tensor(1, "angle")));
    });
    add("function:torch.view_as_complex", [](const Call &c) { return T(at::view_as_complex(Args(c).tensor(0, "input"))); });
    add("function:torch.view_as_real", [](const Call &c) { return T(at::view_as_real(Args(c).tensor(0, "input"))); });
    un("function:torch.floor", at::floor);
    un("function:torch.log1p", at::log1p);
    // t // s is torch.floor_divide(t, s); s // t is Tensor.__rfloordiv__: floor_divide(s, t).
    // An integral divisor on CPU (the oracle's zero-filled tensors) is replaced by ones, and an
    // integral 0 scalar by 1: integer division by zero raises (a value error, not a dtype rule).
    add("function:operator.floordiv", [](const Call &c) {
        auto nz = [](const at::Tensor &y) {
            return y.device().is_cpu() && at::isIntegralType(y.scalar_type(), true) ? at::ones_like(y) : y;
        };
        auto nzs = [](const at::Scalar &s) { return s.isIntegral(true) && s.toLong() == 0 ? at::Scalar(1) : s; };
        return binary_operator(c, [nz](auto &x, auto &y) { return at::floor_divide(x, nz(y)); },
                               [nzs](auto &x, auto &s) { return at::floor_divide(x, nzs(s)); },
                               [nz](auto &x, auto &s) { return at::floor_divide(wrapped(s), nz(x)); });
    });

    // Tensor.add_(other, *, alpha=1) on a copy of self (Llama4TextMoe's out.add_)
    add("method:add_", [](const Call &c) {
        Args a(c);
        at::Tensor x = a.tensor(0, "self").clone();
        const Val *o = a.get(1, "other");
        TORCH_CHECK(o && (o->kind == Val::TENSOR || is_scalar(*o)), "TypeError: add_(): argument 'other' must be Tensor");
        at::Scalar alpha = a.present(99, "alpha") ? scalar(*a.get(99, "alpha")) : at::Scalar(1);
        if (o->kind == Val::TENSOR) return T(x.add_(o->t, alpha));
        return T(x.add_(wrapped(scalar(*o)), alpha));
    });

    add("function:metatrace.ops.lightning_attention", [](const Call &c) { return lightning_impl(c, false); },
        [](const Call &c) { return lightning_impl(c, true); });
    add("function:mamba_ssm.ops.selective_scan_interface.selective_scan_fn",
        [](const Call &c) { return selective_scan_impl(c, false); },
        [](const Call &c) { return selective_scan_impl(c, true); });

    // leaf modules (call_module), dispatched on the module's class name
    add("module:Linear", mod_linear);
    add("module:Conv1D", mod_conv1d);
    add("module:Embedding", [](const Call &c) { return mod_embedding(c, false); },
        [](const Call &c) { return mod_embedding(c, true); });
    add("module:LayerNorm", [](const Call &c) { return layer_norm_real(mod_ln_call(c)); },
        [](const Call &c) { return layer_norm_meta(mod_ln_call(c)); });
    add("module:Dropout", [](const Call &c) {
        Args a(c);
        return T(at::dropout(a.tensor(0, "input"), a.real(99, "p", 0.5), false));
    });
    add("module:SiLU", [](const Call &c) { return T(at::silu(Args(c).tensor(0, "input"))); });
    add("module:ReLU", [](const Call &c) { return T(at::relu(Args(c).tensor(0, "input"))); }, relu_meta);
    add("module:Tanh", [](const Call &c) { return T(at::tanh(Args(c).tensor(0, "input"))); });
    add("module:Sigmoid", [](const Call &c) { return T(at::sigmoid(Args(c).tensor(0, "input"))); });
    add("module:GELU", [](const Call &c) { return mod_gelu(c, "none"); });
    // transformers.activations: GELUTanh / NewGELUActivation / GELUPytorchTanh /
    // FastGELUActivation compute gelu with the tanh approximation (same shape/dtype).
    for (const char *k : {"GELUTanh", "NewGELUActivation", "GELUPytorchTanh", "PytorchGELUTanh",
                          "FastGELUActivation", "GELUActivation", "QuickGELUActivation"})
        add(std::string("module:") + k, [](const Call &c) { return mod_gelu(c, "tanh"); });
    return m;
}

std::map<std::string, Entry> &table() {
    static std::map<std::string, Entry> t = build_table();
    return t;
}

// ---- running ---------------------------------------------------------------------------
int64_t total_numel(const Val &v) {
    if (v.kind == Val::TENSOR) return v.t.numel();
    int64_t n = 0;
    for (const Val &x : v.items) n += total_numel(x);
    return n;
}
int64_t total_numel(const Call &c) {
    int64_t n = 0;
    for (const Val &v : c.args) n += total_numel(v);
    for (const auto &kw : c.kwargs) n += total_numel(kw.second);
    return n;
}

Val to_cpu(const Val &v) {
    Val r = v;
    if (v.kind == Val::TENSOR && v.t.device().is_meta()) r.t = at::zeros(v.t.sizes(), v.t.options().device(at::kCPU));
    for (Val &x : r.items) x = to_cpu(x);
    return r;
}
Call to_cpu(const Call &c) {
    Call r = c;
    for (Val &v : r.args) v = to_cpu(v);
    for (auto &kw : r.kwargs) kw.second = to_cpu(kw.second);
    return r;
}

// A CPU kernel missing for float16/bfloat16 in libtorch 1.13 ("addmm_impl_cpu_" not
// implemented for 'Half') is a gap of that build, not a PyTorch rule.
bool low_precision_gap(const std::string &msg) {
    return msg.find("not implemented for 'Half'") != std::string::npos ||
           msg.find("not implemented for 'BFloat16'") != std::string::npos;
}

// The same call with float16/bfloat16 replaced by float32, to tell a kernel gap of
// this build from an op that takes no floating input at all (bitwise_or of halves).
Val widen(const Val &v) {
    Val r = v;
    if (v.kind == Val::TENSOR && (v.t.scalar_type() == at::kHalf || v.t.scalar_type() == at::kBFloat16))
        r.t = v.t.to(at::kFloat);
    if (v.kind == Val::DTYPE && (v.dt == at::kHalf || v.dt == at::kBFloat16)) r.dt = at::kFloat;
    for (Val &x : r.items) x = widen(x);
    return r;
}
Call widen(const Call &c) {
    Call r = c;
    for (Val &v : r.args) v = widen(v);
    for (auto &kw : r.kwargs) kw.second = widen(kw.second);
    return r;
}

std::string first_line(const std::string &s) {
    size_t e = s.find('\n');
    return e == std::string::npos ? s : s.substr(0, e);
}

bool same_outputs(const Val &a, const Val &b) {
    if (a.kind != b.kind) return false;
    if (a.kind == Val::TENSOR) return a.t.sizes().equals(b.t.sizes()) && a.t.scalar_type() == b.t.scalar_type();
    if (a.items.size() != b.items.size()) return false;
    for (size_t k = 0; k < a.items.size(); k++)
        if (!same_outputs(a.items[k], b.items[k])) return false;
    return true;
}

} // namespace

bool has_executor(const std::string &key) { return table().count(key) != 0; }

std::vector<std::string> executor_keys() {
    std::vector<std::string> out;
    for (const auto &kv : table()) out.push_back(kv.first);
    return out;
}

Result run(const std::string &key, const Call &call, const RunOpts &opts) {
    Result r;
    auto it = table().find(key);
    if (it == table().end()) {
        r.oc = Outcome::UNSUPPORTED;
        r.msg = "oracle: no ATen executor for target " + key;
        return r;
    }
    const Entry &e = it->second;
    bool small = total_numel(call) <= opts.cpu_limit;
    bool need_cpu = false;
    // 1. meta (the reference rule when 1.13 has no meta kernel)
    try {
        r.out = e.meta_ref ? e.meta_ref(call) : e.real(call);
        r.how = e.meta_ref ? "meta-ref" : "meta";
    } catch (const c10::NotImplementedError &ex) {
        need_cpu = true;
        r.msg = first_line(ex.what_without_backtrace());
    } catch (const c10::Error &ex) {
        r.oc = Outcome::REJECT;
        r.msg = first_line(ex.what_without_backtrace());
        r.how = e.meta_ref ? "meta-ref" : "meta";
        return r;
    } catch (const Unsupported &ex) {
        r.oc = Outcome::UNSUPPORTED;
        r.msg = ex.msg;
        return r;
    } catch (const std::exception &ex) {
        r.oc = Outcome::REJECT;
        r.msg = first_line(ex.what());
        r.how = "meta";
        return r;
    }
    if (need_cpu && !small) {
        r.oc = Outcome::UNSUPPORTED;
        r.msg = "no meta kernel in this libtorch and inputs too large for CPU: " + r.msg;
        return r;
    }
    if (!need_cpu && !(opts.cpu_cross_check && small)) return r;
    // 2. the real kernels on zero-filled CPU tensors
    try {
        Val cpu = e.real(to_cpu(call));
        if (need_cpu) {
            if (e.data_dependent) {
                r.oc = Outcome::UNSUPPORTED;
                r.msg = "data-dependent op without a meta reference";
                return r;
            }
            r.out = cpu;
            r.how = "cpu-fallback";
        } else {
            r.how += "+cpu";
            if (!e.data_dependent && !same_outputs(cpu, r.out)) {
                r.oc = Outcome::UNSUPPORTED;
                r.msg = "oracle: meta gives " + repr(r.out) + " but CPU gives " + repr(cpu);
            }
        }
    } catch (const c10::Error &ex) {
        std::string msg = first_line(ex.what_without_backtrace());
        if (low_precision_gap(msg) && !need_cpu) {
            // retry in float32: a rejection there is the op's rule, not this build's gap
            try {
                e.real(to_cpu(widen(call)));
                return r; // keep the meta answer
            } catch (const c10::Error &ex2) {
                r.oc = Outcome::REJECT;
                r.msg = "CPU kernel rejects (also in float32): " + first_line(ex2.what_without_backtrace());
                r.how += "+cpu";
                return r;
            }
        }
        if (low_precision_gap(msg) || dynamic_cast<const c10::NotImplementedError *>(&ex)) {
            if (need_cpu) {
                r.oc = Outcome::UNSUPPORTED;
                r.msg = "no meta kernel and CPU kernel missing in this libtorch: " + msg;
            }
            // else: keep the meta answer
        } else {
            r.oc = Outcome::REJECT;
            r.msg = (need_cpu ? "" : "CPU kernel rejects: ") + msg;
            r.how = need_cpu ? "cpu-fallback" : r.how + "+cpu";
        }
    } catch (const std::exception &ex) {
        r.oc = Outcome::REJECT;
        r.msg = first_line(ex.what());
    }
    return r;
}

} // namespace oracle
