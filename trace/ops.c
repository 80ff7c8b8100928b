/* metatrace — the op table and one shape/dtype rule per op.
 *
 * Every rule follows PyTorch's semantics (ATen meta functions, torch/_refs,
 * torch/_prims_common) for the cases metatrace traces, validates its inputs
 * and prints the shapes involved when it rejects them. Arguments follow FX:
 * positional `args` as torch.fx records them, `kwargs` by name; each rule
 * declares its Python signature once and fetches parameters by name, so a
 * parameter is accepted positionally or by keyword exactly where PyTorch
 * accepts it. docs/ops.md lists the conventions and rules. */
#include <assert.h>
#include <stdarg.h>
#include <string.h>

#include "metatrace/graph.h"
#include "opinfo_internal.h"

/* ---- call state and signatures -------------------------------------------- */

typedef struct call {
    mt_ctx *ctx;
    mt_op_id id;
    const mt_opdef *def;
    const mt_arg *args;
    int nargs;
    const mt_kwarg *kwargs;
    int nkwargs;
    mt_tensor *outs;
    int *nout;
    bool *is_tuple;
    /* The Python signature, NULL-terminated. "*" starts keyword-only
     * parameters; "*name" is a variadic positional (the rest of args, or one
     * list), also accepted as keyword `name`; "a|b" names aliases. */
    const char *const *sig;
} call;

typedef mt_status (*op_rule)(call *c);

#define TRY(e)                        \
    do {                              \
        mt_status st_ = (e);          \
        if (st_ != MT_OK) return st_; \
    } while (0)

static mt_status failv(call *c, mt_status st, const char *fmt, va_list ap) {
    char *msg = mt_vsprintf(c->ctx, fmt, ap);
    mt_fail(c->ctx, st, "%s: %s", c->def->target, msg ? msg : "(out of memory)");
    return st;
}

/* Shape or dtype rejection. */
static mt_status fail(call *c, const char *fmt, ...) MT_PRINTF(2, 3);
static mt_status fail(call *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mt_status st = failv(c, MT_ERR_SHAPE, fmt, ap);
    va_end(ap);
    return st;
}

/* Bad call: missing or mistyped argument, unknown keyword. */
static mt_status fail_usage(call *c, const char *fmt, ...) MT_PRINTF(2, 3);
static mt_status fail_usage(call *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mt_status st = failv(c, MT_ERR_USAGE, fmt, ap);
    va_end(ap);
    return st;
}

/* A case PyTorch accepts that metatrace does not model. */
static mt_status fail_unsupported(call *c, const char *fmt, ...) MT_PRINTF(2, 3);
static mt_status fail_unsupported(call *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mt_status st = failv(c, MT_ERR_UNSUPPORTED, fmt, ap);
    va_end(ap);
    return st;
}

/* A symbolic-arithmetic call returned NULL: it left its own error (overflow,
 * out of memory) on the context. */
static mt_status sym_failed(call *c) {
    mt_status st = mt_ctx_status(c->ctx);
    if (st != MT_OK) return st;
    return mt_fail(c->ctx, MT_ERR_INTERNAL, "%s: symbolic arithmetic failed", c->def->target);
}

static const char *const ARG_KIND_NAMES[] = {
    "None", "tensor", "int", "float", "bool", "symbolic int", "dtype",
    "str", "slice", "Ellipsis", "list", "device",
};
static_assert(sizeof ARG_KIND_NAMES / sizeof ARG_KIND_NAMES[0] == MT_ARG_KIND_COUNT,
              "ARG_KIND_NAMES out of step with mt_argkind");

static const char *kind_name(const mt_arg *a) {
    if (!a) return "None";
    if ((int)a->kind < 0 || a->kind >= MT_ARG_KIND_COUNT) return "?";
    return ARG_KIND_NAMES[a->kind];
}

/* Does signature entry `entry` (maybe "*name" or "a|b") answer to `name`? */
static bool sig_matches(const char *entry, const char *name) {
    if (entry[0] == '*') entry++;
    size_t n = strlen(name);
    for (const char *p = entry;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && len > 0 && strncmp(p, name, n) == 0) return true;
        if (!bar) return false;
        p = bar + 1;
    }
}

/* Layout of the signature: count of plain positional parameters and the index
 * of the variadic one (-1 when none). */
static void sig_layout(const char *const *sig, int *npos, int *var) {
    *npos = 0;
    *var = -1;
    bool kwonly = false;
    for (int i = 0; sig[i]; i++) {
        if (strcmp(sig[i], "*") == 0) {
            kwonly = true;
        } else if (sig[i][0] == '*') {
            *var = i;
            kwonly = true;
        } else if (!kwonly) {
            (*npos)++;
        }
    }
}

/* Check args/kwargs against the signature: positional count, unknown
 * keywords, a parameter given twice. */
static mt_status sig_check(call *c) {
    const char *const *sig = c->sig;
    int npos = 0, var = 0;
    sig_layout(sig, &npos, &var);
    if (var < 0 && c->nargs > npos)
        return fail_usage(c, "takes at most %d positional argument%s but %d were given", npos,
                          npos == 1 ? "" : "s", c->nargs);
    for (int k = 0; k < c->nkwargs; k++) {
        const char *name = c->kwargs[k].name;
        int found = -1;
        for (int i = 0; sig[i] && name; i++) {
            if (strcmp(sig[i], "*") != 0 && sig_matches(sig[i], name)) {
                found = i;
                break;
            }
        }
        if (found < 0) return fail_usage(c, "unexpected keyword argument '%s'", name ? name : "");
        bool positional_given = (found == var) ? c->nargs > var : (found < npos && found < c->nargs);
        if (positional_given) return fail_usage(c, "got multiple values for argument '%s'", name);
        for (int j = 0; j < k; j++) {
            if (c->kwargs[j].name && sig_matches(sig[found], c->kwargs[j].name))
                return fail_usage(c, "got multiple values for argument '%s'", name);
        }
    }
    return MT_OK;
}

/* An overload's signature in place of the op's. */
static mt_status sig_check_as(call *c, const char *const *sig) {
    c->sig = sig;
    return sig_check(c);
}

/* Parameter `name` (a primary name in the signature), positional or keyword.
 * NULL when absent or None. */
static const mt_arg *param(const call *c, const char *name) {
    int npos = 0, var = 0;
    sig_layout(c->sig, &npos, &var);
    int idx = -1;
    for (int i = 0; c->sig[i]; i++) {
        if (strcmp(c->sig[i], "*") != 0 && sig_matches(c->sig[i], name)) {
            idx = i;
            break;
        }
    }
    assert(idx >= 0 && "param name not in the rule's signature");
    if (idx < 0) return NULL;
    const mt_arg *a = NULL;
    if (idx != var && idx < npos && idx < c->nargs) a = &c->args[idx];
    for (int k = 0; !a && k < c->nkwargs; k++) {
        if (c->kwargs[k].name && sig_matches(c->sig[idx], c->kwargs[k].name)) a = &c->kwargs[k].value;
    }
    if (a && a->kind == MT_ARG_NONE) return NULL;
    return a;
}

/* The variadic parameter `name`: (x, 2, 3), (x, [2, 3]) or name=[2, 3]. */
static void rest(const call *c, const char *name, const mt_arg **items, int *n) {
    int npos = 0, var = 0;
    sig_layout(c->sig, &npos, &var);
    *items = NULL;
    *n = 0;
    if (var >= 0 && c->nargs > var) {
        if (c->nargs == var + 1 && c->args[var].kind == MT_ARG_LIST) {
            *items = c->args[var].v.list.items;
            *n = c->args[var].v.list.n;
        } else {
            *items = &c->args[var];
            *n = c->nargs - var;
        }
        return;
    }
    const mt_arg *a = param(c, name);
    if (!a) return;
    if (a->kind == MT_ARG_LIST) {
        *items = a->v.list.items;
        *n = a->v.list.n;
    } else {
        *items = a;
        *n = 1;
    }
}

static mt_status need_tensor(call *c, const char *name, const mt_tensor **t) {
    const mt_arg *a = param(c, name);
    if (!a || a->kind != MT_ARG_TENSOR || !a->v.t)
        return fail_usage(c, "argument '%s' must be a tensor, got %s", name, kind_name(a));
    *t = a->v.t;
    return MT_OK;
}

static mt_status opt_tensor(call *c, const char *name, const mt_tensor **t) {
    const mt_arg *a = param(c, name);
    *t = NULL;
    if (!a) return MT_OK;
    if (a->kind != MT_ARG_TENSOR || !a->v.t)
        return fail_usage(c, "argument '%s' must be a tensor or None, got %s", name, kind_name(a));
    *t = a->v.t;
    return MT_OK;
}

static mt_status int_of(call *c, const char *name, const mt_arg *a, int64_t *v) {
    if (!a || a->kind != MT_ARG_INT)
        return fail_usage(c, "argument '%s' must be an int, got %s", name, kind_name(a));
    *v = a->v.i;
    return MT_OK;
}

static mt_status need_int(call *c, const char *name, int64_t *v) {
    return int_of(c, name, param(c, name), v);
}

static mt_status opt_int(call *c, const char *name, int64_t dflt, int64_t *v) {
    const mt_arg *a = param(c, name);
    *v = dflt;
    return a ? int_of(c, name, a, v) : MT_OK;
}

static mt_status opt_bool(call *c, const char *name, bool dflt, bool *v) {
    const mt_arg *a = param(c, name);
    *v = dflt;
    if (!a) return MT_OK;
    if (a->kind != MT_ARG_BOOL)
        return fail_usage(c, "argument '%s' must be a bool, got %s", name, kind_name(a));
    *v = a->v.b;
    return MT_OK;
}

/* A Python number (int or float); *is_set false when absent. */
static mt_status opt_number(call *c, const char *name, double *v, bool *is_set) {
    const mt_arg *a = param(c, name);
    *is_set = false;
    if (!a) return MT_OK;
    if (a->kind == MT_ARG_FLOAT) *v = a->v.f;
    else if (a->kind == MT_ARG_INT) *v = (double)a->v.i;
    else return fail_usage(c, "argument '%s' must be a number, got %s", name, kind_name(a));
    *is_set = true;
    return MT_OK;
}

static mt_status opt_dtype(call *c, const char *name, mt_dtype *dt) {
    const mt_arg *a = param(c, name);
    *dt = MT_DTYPE_NONE;
    if (!a) return MT_OK;
    if (a->kind != MT_ARG_DTYPE || a->v.dtype <= MT_DTYPE_NONE || a->v.dtype >= MT_DTYPE_COUNT)
        return fail_usage(c, "argument '%s' must be a dtype, got %s", name, kind_name(a));
    *dt = a->v.dtype;
    return MT_OK;
}

/* A size: INT or SYM, as a dim expression. */
static mt_status size_of(call *c, const char *what, const mt_arg *a, const mt_sym **s) {
    if (a && a->kind == MT_ARG_INT) {
        *s = mt_sym_const(c->ctx, a->v.i);
        return *s ? MT_OK : sym_failed(c);
    }
    if (a && a->kind == MT_ARG_SYM && a->v.sym) {
        *s = a->v.sym;
        return MT_OK;
    }
    return fail_usage(c, "%s must be an int or a symbolic int, got %s", what, kind_name(a));
}

/* ---- small helpers on dims and shapes ------------------------------------- */

static bool is_const(const mt_sym *s, int64_t *v) {
    if (!s || !mt_sym_is_const(s)) return false;
    if (v) *v = mt_sym_const_value(s);
    return true;
}

static bool is_c(const mt_sym *s, int64_t v) {
    int64_t x = 0;
    return is_const(s, &x) && x == v;
}

static const char *ds(const mt_sym *s) {
    const char *r = s ? mt_sym_str(s) : NULL;
    return r ? r : "?";
}

static const char *shape_s(call *c, int ndim, const mt_sym *const *shape) {
    const char *r = mt_shape_str(c->ctx, ndim, shape);
    return r ? r : "[?]";
}

static const char *sh(call *c, const mt_tensor *t) { return shape_s(c, t->ndim, t->shape); }

/* "[2, 3, -1]" for a list of sizes that may hold -1. */
static const char *sizes_s(call *c, int n, const mt_sym *const *s) { return shape_s(c, n, s); }

static bool shapes_equal(int na, const mt_sym *const *a, int nb, const mt_sym *const *b) {
    if (na != nb) return false;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* Is s known to be >= v? Constants compare; a bare symbol uses its lower
 * bound. Anything else is unknown (false). */
static bool known_ge(call *c, const mt_sym *s, int64_t v) {
    int64_t x = 0;
    if (is_const(s, &x)) return x >= v;
    if (s && mt_sym_is_var(s)) {
        const mt_symbol_info *info = mt_sym_info_of(c->ctx, s);
        if (info) return info->lo >= v;
    }
    /* An expression with no negative coefficient or constant anywhere (its
     * printing has no '-', floor-division atoms included) over symbols bounded
     * below by >= 0 is nondecreasing in each: its value at the lower bounds is
     * a lower bound ((seq + 255)//256 >= 1, the chunk count of Mamba's scan). */
    const char *str = s ? mt_sym_str(s) : NULL;
    if (!str || strchr(str, '-')) return false;
    int n = mt_sym_count(c->ctx);
    if (n <= 0 || n > 256) return false;
    const char *names[256];
    int64_t los[256];
    for (int i = 0; i < n; i++) {
        const mt_symbol_info *info = mt_sym_info(c->ctx, i);
        if (!info || info->lo < 0) return false;
        names[i] = info->name;
        los[i] = info->lo;
    }
    mt_binding b = {names, los, n};
    return is_const(mt_sym_subst(c->ctx, s, &b), &x) && x >= v;
}

/* Wrap a dim index like PyTorch's maybe_wrap_dim (a 0-dim tensor accepts
 * -1 and 0). */
static mt_status wrap_dim_in(call *c, int64_t d, int ndim, int *out, const mt_tensor *t) {
    int64_t n = ndim > 0 ? ndim : 1;
    if (d < -n || d >= n) {
        if (t)
            return fail(c, "Dimension out of range (expected to be in range of [%lld, %lld], but got %lld): got %s",
                        (long long)-n, (long long)(n - 1), (long long)d, sh(c, t));
        return fail(c, "Dimension out of range (expected to be in range of [%lld, %lld], but got %lld)",
                    (long long)-n, (long long)(n - 1), (long long)d);
    }
    *out = (int)(d < 0 ? d + n : d);
    return MT_OK;
}

static mt_status wrap_dim(call *c, int64_t d, const mt_tensor *t, int *out) {
    return wrap_dim_in(c, d, t->ndim, out, t);
}

/* The single broadcasting helper (PyTorch infer_size): right-aligned; equal
 * dims (same expression) stay; a constant 1 takes the other; anything else
 * is an error — two different symbols, or a symbol against a constant other
 * than 1, are never guessed equal. */
static mt_status broadcast(call *c, int na, const mt_sym *const *a, int nb, const mt_sym *const *b,
                           int *nr, const mt_sym **r) {
    int n = na > nb ? na : nb;
    const mt_sym *tmp[MT_MAX_DIMS];
    if (n > MT_MAX_DIMS) return fail(c, "too many dimensions (%d > %d)", n, MT_MAX_DIMS);
    for (int i = n - 1; i >= 0; i--) {
        int ia = i - (n - na), ib = i - (n - nb);
        const mt_sym *da = ia >= 0 ? a[ia] : NULL;
        const mt_sym *db = ib >= 0 ? b[ib] : NULL;
        if (!da) tmp[i] = db;
        else if (!db) tmp[i] = da;
        else if (da == db) tmp[i] = da;
        else if (is_c(da, 1)) tmp[i] = db;
        else if (is_c(db, 1)) tmp[i] = da;
        else
            return fail(c,
                        "shapes cannot be broadcast: the size of tensor a (%s) must match the size of "
                        "tensor b (%s) at non-singleton dimension %d: got %s and %s",
                        ds(da), ds(db), i, shape_s(c, na, a), shape_s(c, nb, b));
    }
    memcpy(r, tmp, (size_t)n * sizeof *r);
    *nr = n;
    return MT_OK;
}

/* Check that `src` broadcasts into `dst` without changing it (in-place
 * semantics: bias add, attention-mask add). */
static mt_status broadcast_into(call *c, const char *what, int ns, const mt_sym *const *src, int nd,
                                const mt_sym *const *dst) {
    const mt_sym *r[MT_MAX_DIMS];
    int nr = 0;
    mt_status st = broadcast(c, ns, src, nd, dst, &nr, r);
    if (st != MT_OK) return st;
    if (!shapes_equal(nr, r, nd, dst))
        return fail(c, "%s of shape %s is not broadcastable to %s", what, shape_s(c, ns, src),
                    shape_s(c, nd, dst));
    return MT_OK;
}

/* Append one META output. */
static mt_status emit(call *c, mt_dtype dt, int ndim, const mt_sym *const *shape) {
    if (ndim > MT_MAX_DIMS) return fail(c, "result has too many dimensions (%d > %d)", ndim, MT_MAX_DIMS);
    if (*c->nout >= MT_MAX_OUTS) return fail(c, "too many outputs (more than %d)", MT_MAX_OUTS);
    for (int i = 0; i < ndim; i++)
        if (!shape[i]) return sym_failed(c);
    mt_tensor *o = &c->outs[*c->nout];
    memset(o, 0, sizeof *o);
    o->dtype = dt;
    o->ndim = ndim;
    for (int i = 0; i < ndim; i++) o->shape[i] = shape[i];
    o->device = MT_DEVICE_META;
    o->data = NULL;
    o->node = NULL;
    (*c->nout)++;
    return MT_OK;
}

static mt_status emit_like(call *c, mt_dtype dt, const mt_tensor *t) {
    return emit(c, dt, t->ndim, t->shape);
}

/* One operand of torch.result_type. */
static bool operand_of(const mt_arg *a, mt_operand *op) {
    switch (a->kind) {
    case MT_ARG_TENSOR:
        if (!a->v.t) return false;
        op->kind = a->v.t->ndim >= 1 ? MT_OPERAND_TENSOR : MT_OPERAND_ZERODIM;
        op->dtype = a->v.t->dtype;
        return true;
    case MT_ARG_INT:
    case MT_ARG_SYM:
        op->kind = MT_OPERAND_SCALAR;
        op->dtype = MT_INT64;
        return true;
    case MT_ARG_FLOAT:
        op->kind = MT_OPERAND_SCALAR;
        op->dtype = MT_FLOAT64;
        return true;
    case MT_ARG_BOOL:
        op->kind = MT_OPERAND_SCALAR;
        op->dtype = MT_BOOL;
        return true;
    default:
        return false;
    }
}

static const char *operand_s(call *c, const mt_arg *a) {
    if (a->kind == MT_ARG_TENSOR)
        return mt_sprintf(c->ctx, "%s %s", mt_dtype_name(a->v.t->dtype), sh(c, a->v.t));
    if (a->kind == MT_ARG_INT) return mt_sprintf(c->ctx, "int %lld", (long long)a->v.i);
    if (a->kind == MT_ARG_FLOAT) return mt_sprintf(c->ctx, "float %g", a->v.f);
    if (a->kind == MT_ARG_BOOL) return a->v.b ? "bool True" : "bool False";
    if (a->kind == MT_ARG_SYM) return mt_sprintf(c->ctx, "symbolic int %s", ds(a->v.sym));
    return kind_name(a);
}

/* ---- elementwise ---------------------------------------------------------- */

/* Operands a, b of a binary op: a tensor and a tensor or Python scalar. */
static mt_status binary_operands(call *c, const mt_arg **a, const mt_arg **b, mt_operand ops[2]) {
    TRY(sig_check(c));
    *a = param(c, "input");
    *b = param(c, "other");
    if (!*a || !*b || !operand_of(*a, &ops[0]) || !operand_of(*b, &ops[1]))
        return fail_usage(c, "expected (tensor or number, tensor or number), got (%s, %s)", kind_name(*a),
                          kind_name(*b));
    if ((*a)->kind != MT_ARG_TENSOR && (*b)->kind != MT_ARG_TENSOR)
        return fail_usage(c, "expected at least one tensor operand, got %s and %s", kind_name(*a),
                          kind_name(*b));
    return MT_OK;
}

static void shape_of_arg(const mt_arg *a, int *n, const mt_sym *const **s) {
    if (a->kind == MT_ARG_TENSOR) {
        *n = a->v.t->ndim;
        *s = a->v.t->shape;
    } else {
        *n = 0;
        *s = NULL;
    }
}

static bool is_float8(mt_dtype d) { return d == MT_FLOAT8_E4M3FN || d == MT_FLOAT8_E5M2; }

/* Dtype categories ATen refuses per binary op (before promotion). */
static mt_status binary_dtype_check(call *c, const mt_arg *a, const mt_arg *b, const mt_operand ops[2]) {
    bool any_bool = ops[0].dtype == MT_BOOL || ops[1].dtype == MT_BOOL;
    bool any_complex = mt_dtype_is_complex(ops[0].dtype) || mt_dtype_is_complex(ops[1].dtype);
    switch (c->id) {
    case MT_OP_SUB:
        /* ATen sub_check: no bool operand at all (a Python bool counts). */
        if (ops[0].dtype == MT_BOOL && ops[1].dtype == MT_BOOL)
            return fail(c, "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
                           "or `logical_xor()` operator instead: got %s and %s",
                        operand_s(c, a), operand_s(c, b));
        if (any_bool)
            return fail(c, "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                           "trying to invert a mask, use the `~` or `logical_not()` operator instead: got %s and %s",
                        operand_s(c, a), operand_s(c, b));
        break;
    case MT_OP_MAXIMUM:
    case MT_OP_MINIMUM:
        if (any_complex)
            return fail(c, "%s not implemented for complex tensors: got %s and %s", c->def->name,
                        operand_s(c, a), operand_s(c, b));
        break;
    case MT_OP_LT:
    case MT_OP_LE:
    case MT_OP_GT:
    case MT_OP_GE:
        /* Ordering comparisons have no complex kernel ("lt_cpu" not implemented for 'ComplexFloat'). */
        if (any_complex)
            return fail(c, "%s not implemented for complex operands: got %s and %s", c->def->name,
                        operand_s(c, a), operand_s(c, b));
        break;
    case MT_OP_FLOORDIV: {
        /* ATen div_floor: no complex kernel, and the integral kernels leave out Bool */
        if (any_complex)
            return fail(c, "floor_divide is not supported for complex inputs: got %s and %s", operand_s(c, a),
                        operand_s(c, b));
        if (mt_result_type(ops, 2) == MT_BOOL)
            return fail(c, "\"div_floor_cpu\" not implemented for 'Bool': got %s and %s", operand_s(c, a),
                        operand_s(c, b));
        break;
    }
    case MT_OP_POW: {
        mt_dtype common = mt_result_type(ops, 2);
        if (common == MT_BOOL)
            return fail(c, "\"pow\" not implemented for 'Bool': got %s and %s", operand_s(c, a), operand_s(c, b));
        break;
    }
    default:
        break;
    }
    return MT_OK;
}

static mt_status rule_binary(call *c) {
    const mt_arg *a, *b;
    mt_operand ops[2];
    TRY(binary_operands(c, &a, &b, ops));
    if ((c->id == MT_OP_MAXIMUM || c->id == MT_OP_MINIMUM) &&
        (a->kind != MT_ARG_TENSOR || b->kind != MT_ARG_TENSOR))
        return fail_usage(c, "expected two tensors, got %s and %s", operand_s(c, a), operand_s(c, b));
    int na = 0, nb = 0;
    const mt_sym *const *sa, *const *sb;
    shape_of_arg(a, &na, &sa);
    shape_of_arg(b, &nb, &sb);
    const mt_sym *r[MT_MAX_DIMS];
    int nr = 0;
    TRY(broadcast(c, na, sa, nb, sb, &nr, r));
    TRY(binary_dtype_check(c, a, b, ops));
    mt_dtype dt = mt_promote_for_op(c->def->promo, ops, 2);
    /* A comparison of float64 (or float16) with complex64 computes in
     * complex128 (complex32), which we lack; ATen still answers bool. */
    if (dt == MT_DTYPE_NONE && c->def->promo == MT_PROMO_ALWAYS_BOOL && !is_float8(ops[0].dtype) &&
        !is_float8(ops[1].dtype))
        dt = MT_BOOL;
    if (dt == MT_DTYPE_NONE)
        return fail(c, "no common dtype for %s and %s", operand_s(c, a), operand_s(c, b));
    if ((c->id == MT_OP_AND || c->id == MT_OP_OR) && !mt_dtype_is_integral(dt, true))
        return fail(c, "bitwise operations need integral or bool operands, got %s and %s (result dtype %s)",
                    operand_s(c, a), operand_s(c, b), mt_dtype_name(dt));
    if (c->id == MT_OP_POW && mt_dtype_is_integral(dt, true) && b->kind == MT_ARG_INT && b->v.i < 0)
        return fail(c, "Integers to negative integer powers are not allowed: got %s and %s", operand_s(c, a),
                    operand_s(c, b));
    return emit(c, dt, nr, r);
}

static mt_status rule_where(call *c) {
    TRY(sig_check(c));
    const mt_tensor *cond;
    TRY(need_tensor(c, "condition", &cond));
    const mt_arg *a = param(c, "input"), *b = param(c, "other");
    mt_operand ops[2];
    if (!a || !b || !operand_of(a, &ops[0]) || !operand_of(b, &ops[1]))
        return fail_usage(c, "expected (condition, tensor or number, tensor or number), got (tensor, %s, %s)",
                          kind_name(a), kind_name(b));
    if (cond->dtype != MT_BOOL)
        return fail(c, "where expected condition to be a boolean tensor, but got a tensor with dtype %s: got %s",
                    mt_dtype_name(cond->dtype), sh(c, cond));
    int na = 0, nb = 0, nr = 0;
    const mt_sym *const *sa, *const *sb;
    shape_of_arg(a, &na, &sa);
    shape_of_arg(b, &nb, &sb);
    const mt_sym *r[MT_MAX_DIMS];
    TRY(broadcast(c, cond->ndim, cond->shape, na, sa, &nr, r));
    TRY(broadcast(c, nr, r, nb, sb, &nr, r));
    mt_dtype dt = mt_promote_for_op(c->def->promo, ops, 2);
    if (dt == MT_DTYPE_NONE)
        return fail(c, "no common dtype for %s and %s", operand_s(c, a), operand_s(c, b));
    return emit(c, dt, nr, r);
}

/* Out-of-place masked_fill expands self and mask together (ATen
 * masked_fill: expand_outplace(mask, self)), so the result has the
 * broadcast shape; its dtype stays self's. */
static mt_status rule_masked_fill(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x, *mask;
    TRY(need_tensor(c, "self", &x));
    TRY(need_tensor(c, "mask", &mask));
    const mt_arg *v = param(c, "value");
    mt_operand op;
    if (!v || !operand_of(v, &op))
        return fail_usage(c, "argument 'value' must be a number or a 0-dim tensor, got %s", kind_name(v));
    if (mask->dtype != MT_BOOL)
        return fail(c, "masked_fill_ only supports boolean masks, but got mask with dtype %s: got %s and mask %s",
                    mt_dtype_name(mask->dtype), sh(c, x), sh(c, mask));
    if (v->kind == MT_ARG_TENSOR && v->v.t->ndim != 0)
        return fail(c, "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with %d dimension(s): got %s",
                    v->v.t->ndim, sh(c, v->v.t));
    const mt_sym *r[MT_MAX_DIMS];
    int nr = 0;
    TRY(broadcast(c, x->ndim, x->shape, mask->ndim, mask->shape, &nr, r));
    mt_operand first = {x->ndim ? MT_OPERAND_TENSOR : MT_OPERAND_ZERODIM, x->dtype};
    mt_operand ops[2] = {first, op};
    mt_dtype dt = mt_promote_for_op(c->def->promo, ops, 2);
    if (dt == MT_DTYPE_NONE) dt = x->dtype;
    return emit(c, dt, nr, r);
}

static mt_status rule_unary(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    if (c->id == MT_OP_SILU || c->id == MT_OP_RELU) {
        bool inplace = false;
        TRY(opt_bool(c, "inplace", false, &inplace));
    }
    if (c->id == MT_OP_GELU) {
        const mt_arg *ap = param(c, "approximate");
        if (ap && ap->kind != MT_ARG_STR)
            return fail_usage(c, "argument 'approximate' must be a str, got %s", kind_name(ap));
        if (ap && strcmp(ap->v.s, "none") != 0 && strcmp(ap->v.s, "tanh") != 0)
            return fail(c, "approximate argument must be either none or tanh, got '%s'", ap->v.s);
    }
    if (c->id == MT_OP_NEG && x->dtype == MT_BOOL)
        return fail(c, "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
                       "invert a mask, use the `~` or `logical_not()` operator instead: got bool %s",
                    sh(c, x));
    if (c->id == MT_OP_RELU && x->dtype == MT_BOOL)
        return fail(c, "Boolean inputs not supported for relu: got bool %s", sh(c, x));
    /* relu is clamp_min(0): ATen clamp refuses complex. abs has no bool kernel. */
    if (c->id == MT_OP_RELU && mt_dtype_is_complex(x->dtype))
        return fail(c, "clamp is not supported for complex types: got %s %s", mt_dtype_name(x->dtype), sh(c, x));
    if (c->id == MT_OP_ABS && x->dtype == MT_BOOL)
        return fail(c, "\"abs_cpu\" not implemented for 'Bool': got bool %s", sh(c, x));
    if (c->id == MT_OP_LOG1P && mt_dtype_is_complex(x->dtype)) /* libtorch 1.13's log1p has no complex kernel */
        return fail(c, "\"log1p_vml_cpu\" not implemented for '%s': got %s %s", "ComplexFloat", mt_dtype_name(x->dtype),
                    sh(c, x));
    if (c->id == MT_OP_GELU && mt_dtype_is_complex(x->dtype))
        return fail(c, "\"GeluKernelImpl\" not implemented for '%s': got %s %s", mt_dtype_name(x->dtype),
                    mt_dtype_name(x->dtype), sh(c, x));
    if ((c->id == MT_OP_SILU || c->id == MT_OP_GELU) && mt_dtype_is_integral(x->dtype, true))
        return fail(c, "expected a floating-point input (PyTorch has no %s kernel for %s): got %s %s",
                    c->def->name, mt_dtype_name(x->dtype), mt_dtype_name(x->dtype), sh(c, x));
    mt_operand op = {x->ndim ? MT_OPERAND_TENSOR : MT_OPERAND_ZERODIM, x->dtype};
    mt_dtype dt = mt_promote_for_op(c->def->promo, &op, 1);
    if (dt == MT_DTYPE_NONE) return fail(c, "unsupported dtype %s: got %s", mt_dtype_name(x->dtype), sh(c, x));
    return emit_like(c, dt, x);
}

/* ---- dtype conversion, dropout -------------------------------------------- */

static mt_status rule_to(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    if (c->nargs < 1 || c->args[0].kind != MT_ARG_TENSOR || !c->args[0].v.t)
        return fail_usage(c, "argument 'self' must be a tensor, got %s", kind_name(c->nargs ? &c->args[0] : NULL));
    x = c->args[0].v.t;
    mt_dtype dt = MT_DTYPE_NONE;
    bool seen_device = false;
    for (int i = 1; i < c->nargs; i++) {
        const mt_arg *a = &c->args[i];
        switch (a->kind) {
        case MT_ARG_DTYPE:
            if (dt != MT_DTYPE_NONE) return fail_usage(c, "dtype given twice");
            dt = a->v.dtype;
            break;
        case MT_ARG_TENSOR:
            if (dt != MT_DTYPE_NONE || !a->v.t) return fail_usage(c, "unexpected tensor argument");
            dt = a->v.t->dtype;
            break;
        case MT_ARG_DEVICE:
        case MT_ARG_STR:
            if (seen_device || dt != MT_DTYPE_NONE) return fail_usage(c, "unexpected device argument");
            seen_device = true;
            break;
        case MT_ARG_BOOL: /* non_blocking, copy */
        case MT_ARG_NONE:
            break;
        default:
            return fail_usage(c, "unexpected %s argument at position %d", kind_name(a), i);
        }
    }
    mt_dtype kw;
    TRY(opt_dtype(c, "dtype", &kw));
    if (kw != MT_DTYPE_NONE) {
        if (dt != MT_DTYPE_NONE) return fail_usage(c, "got multiple values for argument 'dtype'");
        dt = kw;
    }
    if (dt == MT_DTYPE_NONE) dt = x->dtype;
    if (dt < 0 || dt >= MT_DTYPE_COUNT) return fail_usage(c, "invalid dtype");
    return emit_like(c, dt, x);
}

static mt_status rule_type_as(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x, *o;
    TRY(need_tensor(c, "self", &x));
    TRY(need_tensor(c, "other", &o));
    return emit_like(c, o->dtype, x);
}

static mt_status rule_dropout(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    double p = 0.5;
    bool has_p = false, training = false, inplace = false;
    TRY(opt_number(c, "p", &p, &has_p));
    if (!has_p) p = 0.5;
    TRY(opt_bool(c, "training", true, &training));
    TRY(opt_bool(c, "inplace", false, &inplace));
    if (p < 0.0 || p > 1.0) return fail(c, "dropout probability has to be between 0 and 1, but got %g", p);
    return emit_like(c, x->dtype, x);
}

/* ---- reductions ----------------------------------------------------------- */

/* Parse `dim` (int, list of ints, or absent) into a mask of reduced dims. */
static mt_status reduce_dims(call *c, const mt_tensor *x, const mt_arg *dim, bool reduced[MT_MAX_DIMS]) {
    for (int i = 0; i < MT_MAX_DIMS; i++) reduced[i] = false;
    const mt_arg *items = dim;
    int n = 1;
    if (!dim) n = 0;
    else if (dim->kind == MT_ARG_LIST) {
        items = dim->v.list.items;
        n = dim->v.list.n;
    }
    if (n == 0) { /* no dim, or dim=[]: reduce everything */
        for (int i = 0; i < x->ndim; i++) reduced[i] = true;
        return MT_OK;
    }
    bool seen0 = false;
    for (int k = 0; k < n; k++) {
        int64_t d = 0;
        TRY(int_of(c, "dim", &items[k], &d));
        int w = 0;
        TRY(wrap_dim(c, d, x, &w));
        if (x->ndim == 0) {
            if (seen0) return fail(c, "dim 0 appears multiple times in the list of dims: got %s", sh(c, x));
            seen0 = true;
            continue;
        }
        if (reduced[w]) return fail(c, "dim %d appears multiple times in the list of dims: got %s", w, sh(c, x));
        reduced[w] = true;
    }
    return MT_OK;
}

/* A reduction's output of dtype dt: x's shape without the reduced dims, or with
 * them as 1 under keepdim. */
static mt_status emit_reduced(call *c, const mt_tensor *x, const bool reduced[MT_MAX_DIMS], bool keepdim, mt_dtype dt) {
    const mt_sym *r[MT_MAX_DIMS];
    int nr = 0;
    const mt_sym *one = mt_sym_const(c->ctx, 1);
    if (!one) return sym_failed(c);
    for (int i = 0; i < x->ndim; i++) {
        if (!reduced[i]) r[nr++] = x->shape[i];
        else if (keepdim) r[nr++] = one;
    }
    return emit(c, dt, nr, r);
}

static mt_status rule_reduce(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    bool keepdim = false;
    TRY(opt_bool(c, "keepdim", false, &keepdim));
    mt_dtype dt = MT_DTYPE_NONE;
    if (c->id != MT_OP_AMAX) TRY(opt_dtype(c, "dtype", &dt));
    bool reduced[MT_MAX_DIMS];
    TRY(reduce_dims(c, x, param(c, "dim"), reduced));
    if (c->id == MT_OP_AMAX) {
        if (mt_dtype_is_complex(x->dtype))
            return fail(c, "\"max_values_cpu\" not implemented for %s: got %s", mt_dtype_name(x->dtype), sh(c, x));
        /* ATen zero_numel_check_dims: an empty input needs explicit dims, none of them of size 0. */
        const mt_arg *dim = param(c, "dim");
        bool all = !dim || dim->kind == MT_ARG_NONE || (dim->kind == MT_ARG_LIST && dim->v.list.n == 0);
        bool empty = false;
        for (int i = 0; i < x->ndim; i++) empty = empty || is_c(x->shape[i], 0);
        if (empty && all)
            return fail(c, "amax(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                           "reduction dim with the 'dim' argument: got %s",
                        sh(c, x));
        for (int i = 0; i < x->ndim; i++)
            if (reduced[i] && is_c(x->shape[i], 0))
                return fail(c, "amax(): Expected reduction dim %d to have non-zero size: got %s", i, sh(c, x));
    }

    mt_dtype out = x->dtype;
    if (c->id == MT_OP_SUM) {
        /* sum promotes integral inputs (bool included) to int64 */
        if (dt != MT_DTYPE_NONE) out = dt;
        else if (mt_dtype_is_integral(x->dtype, true)) out = MT_INT64;
    } else if (c->id == MT_OP_MEAN) {
        if (dt != MT_DTYPE_NONE) {
            if (!mt_dtype_is_floating(dt) && !mt_dtype_is_complex(dt))
                return fail(c, "mean(): could not infer output dtype. Optional dtype must be either a floating "
                               "point or complex dtype. Got: %s",
                            mt_dtype_name(dt));
            out = dt;
        } else if (!mt_dtype_is_floating(x->dtype) && !mt_dtype_is_complex(x->dtype)) {
            return fail(c, "mean(): could not infer output dtype. Input dtype must be either a floating point "
                           "or complex dtype. Got: %s (input %s)",
                        mt_dtype_name(x->dtype), sh(c, x));
        }
    }
    return emit_reduced(c, x, reduced, keepdim, out);
}

/* torch.cumsum(input, dim, *, dtype=None) and Tensor.cumsum(dim, *, dtype=None):
 * same shape; dtype= if given, else integral and bool inputs give int64 (as
 * sum), else the input's dtype. dim is required and wraps (a 0-dim tensor
 * takes -1 and 0). */
static mt_status rule_cumsum(call *c) {
    bool method = c->id == MT_OP_CUMSUM_METHOD;
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, method ? "self" : "input", &x));
    const mt_arg *da = param(c, "dim");
    if (!da) return fail_usage(c, "missing required argument 'dim' (cumsum takes a dim)");
    int64_t d = 0;
    TRY(int_of(c, "dim", da, &d));
    int w = 0;
    TRY(wrap_dim(c, d, x, &w));
    mt_dtype dt;
    TRY(opt_dtype(c, "dtype", &dt));
    mt_dtype out = dt != MT_DTYPE_NONE ? dt : mt_dtype_is_integral(x->dtype, true) ? MT_INT64 : x->dtype;
    /* the cumsum kernels have no bool result (ATen "cumsum_out_cpu" not implemented for 'Bool') */
    if (out == MT_BOOL)
        return fail(c, "\"cumsum_out_cpu\" not implemented for 'Bool' (dtype=torch.bool): got %s %s",
                    mt_dtype_name(x->dtype), sh(c, x));
    return emit_like(c, out, x);
}

static mt_status rule_softmax(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    mt_dtype dt;
    TRY(opt_dtype(c, "dtype", &dt));
    const mt_arg *da = param(c, "dim");
    int64_t d = 0;
    if (da) TRY(int_of(c, "dim", da, &d));
    else d = (x->ndim == 0 || x->ndim == 1 || x->ndim == 3) ? 0 : 1; /* legacy implicit dim */
    int w = 0;
    TRY(wrap_dim(c, d, x, &w));
    mt_dtype out = dt != MT_DTYPE_NONE ? dt : x->dtype;
    if (!mt_dtype_is_floating(out))
        return fail(c, "softmax needs a floating-point input or a floating-point dtype= (PyTorch has no %s "
                       "kernel): got %s %s",
                    mt_dtype_name(out), mt_dtype_name(x->dtype), sh(c, x));
    return emit_like(c, out, x);
}

/* ---- linear algebra ------------------------------------------------------- */

/* torch.matmul's shape rule (ATen _matmul_impl): both at least 1-D; a 1-D
 * first operand is [1, n] with the 1 removed afterwards, a 1-D second one
 * [n, 1] likewise; batch dims (all but the last two) broadcast. */
static mt_status matmul_shape(call *c, const mt_tensor *a, const mt_tensor *b, int *nr, const mt_sym **r) {
    if (a->ndim == 0 || b->ndim == 0)
        return fail(c, "both arguments to matmul need to be at least 1D, but they are %dD and %dD: got %s and %s",
                    a->ndim, b->ndim, sh(c, a), sh(c, b));
    const mt_sym *k1 = a->shape[a->ndim - 1];
    const mt_sym *k2 = b->ndim > 1 ? b->shape[b->ndim - 2] : b->shape[0];
    if (k1 != k2)
        return fail(c, "shapes cannot be multiplied (inner dimensions %s and %s differ): got %s and %s", ds(k1),
                    ds(k2), sh(c, a), sh(c, b));
    int ba = a->ndim > 2 ? a->ndim - 2 : 0, bb = b->ndim > 2 ? b->ndim - 2 : 0;
    int n = 0;
    TRY(broadcast(c, ba, a->shape, bb, b->shape, &n, r));
    if (a->ndim > 1) r[n++] = a->shape[a->ndim - 2];
    if (b->ndim > 1) r[n++] = b->shape[b->ndim - 1];
    *nr = n;
    return MT_OK;
}

static mt_status rule_matmul(call *c) {
    TRY(sig_check(c));
    const mt_tensor *a, *b;
    TRY(need_tensor(c, "input", &a));
    TRY(need_tensor(c, "other", &b));
    const mt_sym *r[MT_MAX_DIMS + 2];
    int nr = 0;
    TRY(matmul_shape(c, a, b, &nr, r));
    if (a->dtype != b->dtype)
        return fail(c, "expected m1 and m2 to have the same dtype, but got: %s != %s: got %s and %s",
                    mt_dtype_name(a->dtype), mt_dtype_name(b->dtype), sh(c, a), sh(c, b));
    if (a->dtype == MT_BOOL)
        return fail(c, "matmul has no bool kernel (\"addmm_impl_cpu_\" not implemented for 'Bool'): got %s and %s",
                    sh(c, a), sh(c, b));
    return emit(c, a->dtype, nr, r);
}

static mt_status rule_linear(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x, *w, *bias;
    TRY(need_tensor(c, "input", &x));
    TRY(need_tensor(c, "weight", &w));
    TRY(opt_tensor(c, "bias", &bias));
    if (x->ndim == 0)
        return fail(c, "input must be at least 1-D: got input %s and weight %s", sh(c, x), sh(c, w));
    if (w->ndim != 1 && w->ndim != 2)
        return fail(c, "weight must be 1-D or 2-D [out_features, in_features]: got input %s and weight %s",
                    sh(c, x), sh(c, w));
    const mt_sym *in = x->shape[x->ndim - 1], *win = w->shape[w->ndim - 1];
    if (in != win)
        return fail(c, "input features (%s) differ from weight in_features (%s): got %s and %s", ds(in), ds(win),
                    sh(c, x), sh(c, w));
    if (x->dtype != w->dtype)
        return fail(c, "expected input and weight to have the same dtype, but got %s and %s: got %s and %s",
                    mt_dtype_name(x->dtype), mt_dtype_name(w->dtype), sh(c, x), sh(c, w));
    const mt_sym *r[MT_MAX_DIMS];
    int nr = 0;
    for (int i = 0; i < x->ndim - 1; i++) r[nr++] = x->shape[i];
    if (w->ndim == 2) r[nr++] = w->shape[0];
    if (bias) {
        if (bias->dtype != x->dtype)
            return fail(c, "expected bias to have dtype %s like input and weight, but got %s: bias %s",
                        mt_dtype_name(x->dtype), mt_dtype_name(bias->dtype), sh(c, bias));
        /* ATen linear: a 2-D or (contiguous) 3-D input with bias goes through
         * addmm(bias, input.view(-1, in), weight.t()): weight must be a matrix
         * and bias must expand to [rows, out]. Otherwise matmul then add_. */
        if (x->ndim == 2 || x->ndim == 3) {
            if (w->ndim != 2)
                return fail(c, "mat2 must be a matrix, got 1-D tensor: input %s, weight %s", sh(c, x), sh(c, w));
            const mt_sym *mm[2] = {x->shape[0], w->shape[0]};
            if (x->ndim == 3) {
                mm[0] = mt_sym_mul(c->ctx, x->shape[0], x->shape[1]);
                if (!mm[0]) return sym_failed(c);
            }
            TRY(broadcast_into(c, "bias", bias->ndim, bias->shape, 2, mm));
        } else {
            TRY(broadcast_into(c, "bias", bias->ndim, bias->shape, nr, r));
        }
    }
    return emit(c, x->dtype, nr, r);
}

static mt_status rule_embedding(call *c) {
    TRY(sig_check(c));
    const mt_tensor *ids, *w;
    TRY(need_tensor(c, "input", &ids));
    TRY(need_tensor(c, "weight", &w));
    if (ids->dtype != MT_INT64 && ids->dtype != MT_INT32)
        return fail(c, "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, "
                       "Int; but got %s: got indices %s and weight %s",
                    mt_dtype_name(ids->dtype), sh(c, ids), sh(c, w));
    if (w->ndim != 2) return fail(c, "'weight' must be 2-D: got indices %s and weight %s", sh(c, ids), sh(c, w));
    const mt_arg *pad = param(c, "padding_idx");
    int64_t ne = 0;
    if (pad && pad->kind == MT_ARG_INT && is_const(w->shape[0], &ne) && (pad->v.i >= ne || pad->v.i < -ne))
        return fail(c, "Padding_idx must be within num_embeddings: padding_idx %lld, weight %s",
                    (long long)pad->v.i, sh(c, w));
    const mt_sym *r[MT_MAX_DIMS + 1];
    int nr = 0;
    for (int i = 0; i < ids->ndim; i++) r[nr++] = ids->shape[i];
    r[nr++] = w->shape[1];
    return emit(c, w->dtype, nr, r);
}

static mt_status rule_layer_norm(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x, *w, *b;
    TRY(need_tensor(c, "input", &x));
    TRY(opt_tensor(c, "weight", &w));
    TRY(opt_tensor(c, "bias", &b));
    double eps = 0;
    bool has_eps = false;
    TRY(opt_number(c, "eps", &eps, &has_eps));
    const mt_arg *ns = param(c, "normalized_shape");
    if (!ns) return fail_usage(c, "missing argument 'normalized_shape'");
    const mt_arg *items = ns;
    int n = 1;
    if (ns->kind == MT_ARG_LIST) {
        items = ns->v.list.items;
        n = ns->v.list.n;
    }
    if (n > MT_MAX_DIMS) return fail(c, "normalized_shape has too many dims (%d)", n);
    const mt_sym *norm[MT_MAX_DIMS];
    for (int i = 0; i < n; i++) TRY(size_of(c, "normalized_shape entries", &items[i], &norm[i]));
    if (n == 0)
        return fail(c, "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                       "element, but got normalized_shape = []");
    if (w && !shapes_equal(w->ndim, w->shape, n, norm))
        return fail(c, "Expected weight to be of same shape as normalized_shape, but got weight of shape %s and "
                       "normalized_shape = %s",
                    sh(c, w), shape_s(c, n, norm));
    if (b && !shapes_equal(b->ndim, b->shape, n, norm))
        return fail(c, "Expected bias to be of same shape as normalized_shape, but got bias of shape %s and "
                       "normalized_shape = %s",
                    sh(c, b), shape_s(c, n, norm));
    if (x->ndim < n || !shapes_equal(n, x->shape + (x->ndim - n), n, norm)) {
        const mt_sym *want[MT_MAX_DIMS];
        memcpy(want, norm, (size_t)n * sizeof *want);
        const char *ws = shape_s(c, n, want);
        return fail(c, "Given normalized_shape=%s, expected input with shape [*, %.*s], but got input of size %s",
                    ws, (int)(strlen(ws) >= 2 ? strlen(ws) - 2 : 0), ws + 1, sh(c, x));
    }
    /* LayerNormKernelImpl dispatches floating types only. */
    if (!mt_dtype_is_floating(x->dtype))
        return fail(c, "\"LayerNormKernelImpl\" not implemented for %s: got %s %s", mt_dtype_name(x->dtype),
                    mt_dtype_name(x->dtype), sh(c, x));
    /* weight/bias share input's dtype; CPU also takes float32 params with
     * float16/bfloat16 input (the mixed-dtype path), nothing else. */
    const mt_tensor *pw[2] = {w, b};
    for (int k = 0; k < 2; k++) {
        if (!pw[k] || pw[k]->dtype == x->dtype) continue;
        bool mixed_ok = (x->dtype == MT_FLOAT16 || x->dtype == MT_BFLOAT16) && pw[k]->dtype == MT_FLOAT32;
        if (!mixed_ok)
            return fail(c, "expected %s to have input's dtype %s (or float32 for a float16/bfloat16 input), but "
                           "found %s",
                        k ? "bias" : "weight", mt_dtype_name(x->dtype), mt_dtype_name(pw[k]->dtype));
    }
    return emit_like(c, x->dtype, x);
}

/* ---- views and shape manipulation ----------------------------------------- */

/* view and reshape: no strides are modelled, so view is accepted wherever
 * reshape is. One -1 is inferred as numel / product(others), exactly. */
static mt_status rule_view(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    const mt_arg *items;
    int n = 0;
    rest(c, "shape", &items, &n);
    if (n == 1 && items[0].kind == MT_ARG_DTYPE)
        return fail_unsupported(c, "view(dtype) (reinterpreting the bytes) is not supported: got %s", sh(c, x));
    if (n > MT_MAX_DIMS) return fail(c, "too many dimensions requested (%d > %d)", n, MT_MAX_DIMS);
    const mt_sym *d[MT_MAX_DIMS];
    int infer = -1;
    for (int i = 0; i < n; i++) TRY(size_of(c, "shape entries", &items[i], &d[i]));
    for (int i = 0; i < n; i++) {
        int64_t v = 0;
        if (is_const(d[i], &v) && v < 0) {
            if (v != -1) return fail(c, "invalid shape dimension %lld: got shape %s", (long long)v, sizes_s(c, n, d));
            if (infer >= 0) return fail(c, "only one dimension can be inferred: got shape %s", sizes_s(c, n, d));
            infer = i;
        }
    }
    const mt_sym *numel = mt_sym_prod(c->ctx, x->shape, x->ndim);
    if (!numel) return sym_failed(c);
    if (infer >= 0) {
        const mt_sym *others[MT_MAX_DIMS];
        int k = 0;
        for (int i = 0; i < n; i++)
            if (i != infer) others[k++] = d[i];
        const mt_sym *p = mt_sym_prod(c->ctx, others, k);
        if (!p) return sym_failed(c);
        if (is_c(p, 0))
            return fail(c, "cannot reshape tensor of %s elements into shape %s because the unspecified dimension "
                           "size -1 can be any value and is ambiguous: got %s",
                        ds(numel), sizes_s(c, n, d), sh(c, x));
        if (!mt_sym_divides(c->ctx, p, numel))
            return fail(c, "shape %s is invalid for input of size %s: %s is not divisible by %s: got %s",
                        sizes_s(c, n, d), ds(numel), ds(numel), ds(p), sh(c, x));
        d[infer] = mt_sym_div_exact(c->ctx, numel, p);
        if (!d[infer]) return sym_failed(c);
    } else {
        const mt_sym *p = mt_sym_prod(c->ctx, d, n);
        if (!p) return sym_failed(c);
        if (p != numel)
            return fail(c, "shape %s is invalid for input of size %s (%s elements requested): got %s",
                        sizes_s(c, n, d), ds(numel), ds(p), sh(c, x));
    }
    return emit(c, x->dtype, n, d);
}

static mt_status rule_transpose(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    int64_t d0 = 0, d1 = 0;
    TRY(need_int(c, "dim0", &d0));
    TRY(need_int(c, "dim1", &d1));
    int a = 0, b = 0;
    TRY(wrap_dim(c, d0, x, &a));
    TRY(wrap_dim(c, d1, x, &b));
    const mt_sym *r[MT_MAX_DIMS];
    memcpy(r, x->shape, (size_t)x->ndim * sizeof *r);
    if (x->ndim > 0) {
        r[a] = x->shape[b];
        r[b] = x->shape[a];
    }
    return emit(c, x->dtype, x->ndim, r);
}

static mt_status rule_permute(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    const mt_arg *items;
    int n = 0;
    rest(c, "dims", &items, &n);
    if (n != x->ndim)
        return fail(c, "number of dimensions in the tensor input does not match the length of the desired "
                       "ordering of dimensions i.e. input.dim() = %d is not equal to len(dims) = %d: got %s",
                    x->ndim, n, sh(c, x));
    bool seen[MT_MAX_DIMS] = {false};
    const mt_sym *r[MT_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        int64_t d = 0;
        int w = 0;
        TRY(int_of(c, "dims", &items[i], &d));
        TRY(wrap_dim(c, d, x, &w));
        if (seen[w]) return fail(c, "repeated dim in permute: dim %d: got %s", w, sh(c, x));
        seen[w] = true;
        r[i] = x->shape[w];
    }
    return emit(c, x->dtype, n, r);
}

static mt_status rule_unsqueeze(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    int64_t d = 0;
    TRY(need_int(c, "dim", &d));
    int w = 0;
    TRY(wrap_dim_in(c, d, x->ndim + 1, &w, x));
    if (x->ndim + 1 > MT_MAX_DIMS) return fail(c, "result has too many dimensions: got %s", sh(c, x));
    const mt_sym *r[MT_MAX_DIMS];
    int nr = 0;
    for (int i = 0; i <= x->ndim; i++) {
        if (i == w) r[nr++] = mt_sym_const(c->ctx, 1);
        if (i < x->ndim) r[nr++] = x->shape[i];
    }
    return emit(c, x->dtype, nr, r);
}

/* squeeze removes dims that are the constant 1; a symbolic dim is never
 * assumed to be 1 and stays, as PyTorch leaves non-1 dims. */
static mt_status rule_squeeze(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    const mt_arg *dim = param(c, "dim");
    bool sel[MT_MAX_DIMS];
    if (!dim) {
        for (int i = 0; i < MT_MAX_DIMS; i++) sel[i] = true;
    } else {
        TRY(reduce_dims(c, x, dim, sel));
        if (dim->kind == MT_ARG_LIST && dim->v.list.n == 0)
            for (int i = 0; i < MT_MAX_DIMS; i++) sel[i] = false;
    }
    const mt_sym *r[MT_MAX_DIMS];
    int nr = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!(sel[i] && is_c(x->shape[i], 1))) r[nr++] = x->shape[i];
    return emit(c, x->dtype, nr, r);
}

static mt_status rule_expand(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    const mt_arg *items;
    int n = 0;
    rest(c, "size", &items, &n);
    if (n > MT_MAX_DIMS) return fail(c, "too many sizes (%d > %d)", n, MT_MAX_DIMS);
    const mt_sym *t[MT_MAX_DIMS], *r[MT_MAX_DIMS];
    for (int i = 0; i < n; i++) TRY(size_of(c, "sizes", &items[i], &t[i]));
    if (n < x->ndim)
        return fail(c, "the number of sizes provided (%d) must be greater or equal to the number of dimensions in "
                       "the tensor (%d): target sizes %s, tensor sizes %s",
                    n, x->ndim, sizes_s(c, n, t), sh(c, x));
    for (int i = 0; i < n; i++) {
        int j = i - (n - x->ndim);
        int64_t v = 0;
        bool tc = is_const(t[i], &v);
        if (j < 0) {
            if (tc && v < 0)
                return fail(c, "the expanded size of the tensor (%lld) isn't allowed in a leading, non-existing "
                               "dimension %d: target sizes %s, tensor sizes %s",
                            (long long)v, i, sizes_s(c, n, t), sh(c, x));
            r[i] = t[i];
            continue;
        }
        const mt_sym *cur = x->shape[j];
        if (tc && v == -1) r[i] = cur;
        else if (tc && v < -1)
            return fail(c, "invalid size %lld: target sizes %s, tensor sizes %s", (long long)v, sizes_s(c, n, t),
                        sh(c, x));
        else if (t[i] == cur) r[i] = cur;
        else if (is_c(cur, 1)) r[i] = t[i];
        else
            return fail(c, "The expanded size of the tensor (%s) must match the existing size (%s) at "
                           "non-singleton dimension %d.  Target sizes: %s.  Tensor sizes: %s",
                        ds(t[i]), ds(cur), i, sizes_s(c, n, t), sh(c, x));
    }
    return emit(c, x->dtype, n, r);
}

static mt_status rule_contiguous(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    return emit_like(c, x->dtype, x);
}

/* ---- concatenation and splitting ------------------------------------------ */

static mt_status rule_cat(call *c) {
    TRY(sig_check(c));
    const mt_arg *ts = param(c, "tensors");
    if (!ts || ts->kind != MT_ARG_LIST)
        return fail_usage(c, "argument 'tensors' must be a list of tensors, got %s", kind_name(ts));
    int n = ts->v.list.n;
    const mt_arg *items = ts->v.list.items;
    if (n == 0) return fail(c, "expected a non-empty list of Tensors");
    int64_t d = 0;
    TRY(opt_int(c, "dim", 0, &d));
    mt_operand stack_ops[16];
    mt_operand *ops = stack_ops;
    if (n > 16) {
        ops = mt_alloc_array(c->ctx, (size_t)n, sizeof *ops);
        if (!ops) return sym_failed(c);
    }
    for (int i = 0; i < n; i++) {
        if (items[i].kind != MT_ARG_TENSOR || !items[i].v.t)
            return fail_usage(c, "expected a list of tensors, got %s at position %d", kind_name(&items[i]), i);
        const mt_tensor *t = items[i].v.t;
        if (t->ndim == 0)
            return fail(c, "zero-dimensional tensor (at position %d) cannot be concatenated", i);
        operand_of(&items[i], &ops[i]);
    }
    /* ATen cat skips legacy empty tensors (1-D of size 0) in every shape
     * check; the first other tensor is the reference. */
    int ref = 0;
    while (ref < n && items[ref].v.t->ndim == 1 && is_c(items[ref].v.t->shape[0], 0)) ref++;
    if (ref == n) ref = 0;
    const mt_tensor *t0 = items[ref].v.t;
    int w = 0;
    TRY(wrap_dim(c, d, t0, &w));
    const mt_sym *r[MT_MAX_DIMS];
    memcpy(r, t0->shape, (size_t)t0->ndim * sizeof *r);
    for (int i = 0; i < n; i++) {
        const mt_tensor *t = items[i].v.t;
        if (i == ref || (t->ndim == 1 && is_c(t->shape[0], 0))) continue;
        if (t->ndim != t0->ndim)
            return fail(c, "Tensors must have same number of dimensions: got %d and %d (tensor 0 %s, tensor %d %s)",
                        t0->ndim, t->ndim, sh(c, t0), i, sh(c, t));
        for (int k = 0; k < t0->ndim; k++) {
            if (k != w && t->shape[k] != t0->shape[k])
                return fail(c, "Sizes of tensors must match except in dimension %d. Expected size %s but got size "
                               "%s for tensor number %d in the list: got %s and %s",
                            w, ds(t0->shape[k]), ds(t->shape[k]), i, sh(c, t0), sh(c, t));
        }
        r[w] = mt_sym_add(c->ctx, r[w], t->shape[w]);
        if (!r[w]) return sym_failed(c);
    }
    mt_dtype dt = mt_promote_for_op(c->def->promo, ops, n);
    if (dt == MT_DTYPE_NONE) return fail(c, "no common dtype for the concatenated tensors");
    return emit(c, dt, t0->ndim, r);
}

/* Emit `count` pieces of x along w: all of size `size` except the last,
 * of size `last`. */
static mt_status emit_pieces(call *c, const mt_tensor *x, int w, int64_t count, const mt_sym *size,
                             const mt_sym *last) {
    if (count > MT_MAX_OUTS)
        return fail(c, "would produce %lld outputs (at most %d are supported): got %s", (long long)count,
                    MT_MAX_OUTS, sh(c, x));
    const mt_sym *r[MT_MAX_DIMS];
    memcpy(r, x->shape, (size_t)x->ndim * sizeof *r);
    for (int64_t i = 0; i < count; i++) {
        r[w] = i == count - 1 ? last : size;
        TRY(emit(c, x->dtype, x->ndim, r));
    }
    *c->is_tuple = true;
    return MT_OK;
}

static mt_status split_by_size(call *c, const mt_tensor *x, int w, const mt_sym *s) {
    const mt_sym *n = x->shape[w];
    int64_t nv = 0, sv = 0;
    bool nc = is_const(n, &nv), sc = is_const(s, &sv);
    if (sc && sv < 0)
        return fail(c, "split expects split_size be non-negative, but got split_size=%lld", (long long)sv);
    if (nc && sc) {
        if (sv == 0) {
            if (nv != 0)
                return fail(c, "split_size can only be 0 if dimension size is 0, but got dimension size of %lld: "
                               "got %s",
                            (long long)nv, sh(c, x));
            return emit_pieces(c, x, w, 1, n, n);
        }
        int64_t count = nv == 0 ? 1 : (nv + sv - 1) / sv;
        const mt_sym *last = mt_sym_const(c->ctx, nv - sv * (count - 1));
        return emit_pieces(c, x, w, count, s, last);
    }
    if (!is_c(s, 0) && mt_sym_divides(c->ctx, s, n)) {
        const mt_sym *q = mt_sym_div_exact(c->ctx, n, s);
        if (!q) return sym_failed(c);
        int64_t qv = 0;
        if (is_const(q, &qv) && qv >= 1) return emit_pieces(c, x, w, qv, s, s);
        return fail(c, "cannot determine the number of chunks: dim %d of size %s split into pieces of %s gives %s "
                       "chunks, not a constant: got %s",
                    w, ds(n), ds(s), ds(q), sh(c, x));
    }
    if (sc && sv > 0) {
        const mt_sym *q = mt_sym_floordiv(c->ctx, mt_sym_add_const(c->ctx, n, sv - 1), sv);
        return fail(c, "cannot determine the number of chunks: dim %d of size %s split into pieces of %s gives "
                       "%s chunks, not a constant: got %s",
                    w, ds(n), ds(s), ds(q), sh(c, x));
    }
    return fail(c, "cannot determine the number of chunks: dim %d of size %s is not divisible by split_size %s: "
                   "got %s",
                w, ds(n), ds(s), sh(c, x));
}

static mt_status rule_split(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    const mt_arg *ss = param(c, "split_size");
    if (!ss) return fail_usage(c, "missing argument 'split_size_or_sections'");
    int64_t d = 0;
    TRY(opt_int(c, "dim", 0, &d));
    if (x->ndim == 0) return fail(c, "split expects at least a 1-dimensional tensor");
    int w = 0;
    TRY(wrap_dim(c, d, x, &w));
    if (ss->kind != MT_ARG_LIST) {
        const mt_sym *s;
        TRY(size_of(c, "split_size", ss, &s));
        return split_by_size(c, x, w, s);
    }
    int n = ss->v.list.n;
    if (n > MT_MAX_OUTS) return fail(c, "too many sections (%d > %d)", n, MT_MAX_OUTS);
    const mt_sym *sizes[MT_MAX_OUTS];
    const mt_sym *sum = mt_sym_const(c->ctx, 0);
    for (int i = 0; i < n; i++) TRY(size_of(c, "split_sizes entries", &ss->v.list.items[i], &sizes[i]));
    const char *list = "";
    for (int i = 0; i < n && list; i++) list = mt_sprintf(c->ctx, "%s%s%s", list, i ? ", " : "", ds(sizes[i]));
    for (int i = 0; i < n; i++) {
        int64_t v = 0;
        if (is_const(sizes[i], &v) && v < 0)
            return fail(c, "split_with_sizes expects split_sizes have only non-negative entries, but got "
                           "split_sizes=[%s]",
                        list ? list : "?");
        sum = mt_sym_add(c->ctx, sum, sizes[i]);
        if (!sum) return sym_failed(c);
    }
    if (sum != x->shape[w]) {
        return fail(c, "split_with_sizes expects split_sizes to sum exactly to %s (input tensor's size at "
                       "dimension %d), but got split_sizes=[%s]: got %s",
                    ds(x->shape[w]), w, list ? list : "?", sh(c, x));
    }
    const mt_sym *r[MT_MAX_DIMS];
    memcpy(r, x->shape, (size_t)x->ndim * sizeof *r);
    for (int i = 0; i < n; i++) {
        r[w] = sizes[i];
        TRY(emit(c, x->dtype, x->ndim, r));
    }
    *c->is_tuple = true;
    return MT_OK;
}

/* chunk: PyTorch computes split_size = ceil(n / chunks) and splits by it, so
 * fewer than `chunks` pieces may come out (6 into 4 chunks: 2, 2, 2). */
static mt_status rule_chunk(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    int64_t chunks = 0, d = 0;
    TRY(need_int(c, "chunks", &chunks));
    TRY(opt_int(c, "dim", 0, &d));
    if (x->ndim == 0) return fail(c, "chunk expects at least a 1-dimensional tensor");
    if (chunks <= 0) return fail(c, "chunk expects `chunks` to be greater than 0, got: %lld", (long long)chunks);
    int w = 0;
    TRY(wrap_dim(c, d, x, &w));
    const mt_sym *n = x->shape[w];
    int64_t nv = 0;
    if (is_const(n, &nv)) {
        if (nv == 0) return emit_pieces(c, x, w, chunks, n, n);
        int64_t cs = nv / chunks + (nv % chunks != 0);
        int64_t count = (nv + cs - 1) / cs;
        const mt_sym *s = mt_sym_const(c->ctx, cs);
        const mt_sym *last = mt_sym_const(c->ctx, nv - cs * (count - 1));
        return emit_pieces(c, x, w, count, s, last);
    }
    const mt_sym *k = mt_sym_const(c->ctx, chunks);
    if (!k) return sym_failed(c);
    if (!mt_sym_divides(c->ctx, k, n))
        return fail(c, "cannot chunk symbolic dim %d of size %s into %lld chunks: the chunk size ceil(%s/%lld) and "
                       "the number of chunks are not determined: got %s",
                    w, ds(n), (long long)chunks, ds(n), (long long)chunks, sh(c, x));
    const mt_sym *cs = mt_sym_div_exact(c->ctx, n, k);
    if (!cs) return sym_failed(c);
    return emit_pieces(c, x, w, chunks, cs, cs);
}

static mt_status rule_topk(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    const mt_arg *ka = param(c, "k");
    const mt_sym *k;
    TRY(size_of(c, "k", ka, &k));
    int64_t d = 0;
    bool largest = false, sorted = false;
    TRY(opt_int(c, "dim", -1, &d));
    TRY(opt_bool(c, "largest", true, &largest));
    TRY(opt_bool(c, "sorted", true, &sorted));
    if (x->dtype == MT_BOOL || mt_dtype_is_complex(x->dtype))
        return fail(c, "\"topk_cpu\" not implemented for %s: got %s", mt_dtype_name(x->dtype), sh(c, x));
    int w = 0;
    TRY(wrap_dim(c, d, x, &w));
    const mt_sym *n = x->ndim ? x->shape[w] : mt_sym_const(c->ctx, 1);
    if (!n) return sym_failed(c);
    int64_t kv = 0, nv = 0;
    if (is_const(k, &kv) && (kv < 0 || (is_const(n, &nv) && kv > nv)))
        return fail(c, "selected index k out of range: k = %lld, size of dim %d is %s: got %s", (long long)kv, w,
                    ds(n), sh(c, x));
    const mt_sym *r[MT_MAX_DIMS];
    memcpy(r, x->shape, (size_t)x->ndim * sizeof *r);
    if (x->ndim) r[w] = k;
    TRY(emit(c, x->dtype, x->ndim, r));
    TRY(emit(c, MT_INT64, x->ndim, r));
    *c->is_tuple = true;
    return MT_OK;
}

/* ---- indexing --------------------------------------------------------------- */

/* Is a symbolic slice stop e known to be <= the dim n? When n - e is a
 * constant >= 0 (conv1d's output seq + K - 1 sliced back to seq), or when n
 * is e rounded up to a multiple of a constant c, c*((e + c - 1)//c) (Mamba's
 * chunk padding sliced back to seq); c is read as n at e = 1 for a bare
 * symbol e, then the form is checked by rebuilding it. */
static bool stop_known_le(call *c, const mt_sym *e, const mt_sym *n) {
    int64_t d = 0;
    if (is_const(mt_sym_sub(c->ctx, n, e), &d)) return d >= 0;
    if (!mt_sym_is_var(e)) return false;
    const mt_symbol_info *info = mt_sym_info_of(c->ctx, e);
    if (!info || info->lo < 1) return false;
    const char *names[1] = {info->name};
    int64_t one = 1, cv = 0;
    mt_binding b = {names, &one, 1};
    if (!is_const(mt_sym_subst(c->ctx, n, &b), &cv) || cv <= 0) return false;
    const mt_sym *up = mt_sym_mul_const(c->ctx, mt_sym_floordiv(c->ctx, mt_sym_add_const(c->ctx, e, cv - 1), cv), cv);
    return up == n;
}

/* Length of x[start:stop:step] along a dim of size n.
 * All constant: Python's clamping. Otherwise (a symbolic dim or bound):
 *  - start None -> 0, a constant c >= 0 -> c, c < 0 -> n + c, a symbol s -> s;
 *  - stop None or n itself -> n, c < 0 -> n + c; a constant c >= 0 -> c only
 *    when n >= c is known (constant n, or a symbol whose lower bound is >= c),
 *    since min(c, n) is otherwise undecidable; a symbolic stop e only when
 *    e <= n is known (stop_known_le), any other is undecidable;
 *  - bounds resolved this way are taken to lie within [0, n] (the slice of a
 *    symbolic dim is not clamped); a negative constant length becomes 0;
 *  - step: a positive constant; length = ceil(len / step). */
static mt_status slice_len(call *c, const mt_tensor *x, int dim, const mt_sym *start, const mt_sym *stop,
                           const mt_sym *step, const mt_sym **out) {
    const mt_sym *n = x->shape[dim];
    int64_t st = 1;
    if (step && !is_const(step, &st))
        return fail_unsupported(c, "a symbolic slice step (%s) is not supported: got %s", ds(step), sh(c, x));
    if (st <= 0) return fail(c, "slice step must be greater than zero, got %lld: got %s", (long long)st, sh(c, x));
    int64_t nv, sv = 0, ev = 0;
    bool nc = is_const(n, &nv);
    bool sc = !start || is_const(start, &sv), ec = !stop || is_const(stop, &ev);
    if (nc && sc && ec) {
        int64_t s = !start ? 0 : sv < 0 ? (sv + nv < 0 ? 0 : sv + nv) : (sv > nv ? nv : sv);
        int64_t e = !stop ? nv : ev < 0 ? (ev + nv < 0 ? 0 : ev + nv) : (ev > nv ? nv : ev);
        int64_t len = e > s ? (e - s + st - 1) / st : 0;
        *out = mt_sym_const(c->ctx, len);
        return *out ? MT_OK : sym_failed(c);
    }
    const mt_sym *s, *e;
    if (!start) s = mt_sym_const(c->ctx, 0);
    else if (sc && sv < 0) s = mt_sym_add_const(c->ctx, n, sv);
    else s = start;
    if (!stop || stop == n) e = n;
    else if (ec && ev < 0) e = mt_sym_add_const(c->ctx, n, ev);
    else if (ec && known_ge(c, n, ev)) e = stop;
    else if (!ec && stop_known_le(c, stop, n)) e = stop;
    else if (ec)
        return fail(c, "slice stop %lld on dim %d of symbolic size %s: min(%lld, %s) is undecidable (give the "
                       "symbol a lower bound >= %lld, or slice to the full dim): got %s",
                    (long long)ev, dim, ds(n), (long long)ev, ds(n), (long long)ev, sh(c, x));
    else
        return fail(c, "slice stop %s on dim %d of size %s: min(%s, %s) is undecidable: got %s", ds(stop), dim,
                    ds(n), ds(stop), ds(n), sh(c, x));
    const mt_sym *len = mt_sym_sub(c->ctx, e, s);
    if (!len) return sym_failed(c);
    int64_t lv = 0;
    if (is_const(len, &lv)) {
        if (lv < 0) lv = 0;
        *out = mt_sym_const(c->ctx, (lv + st - 1) / st);
    } else if (st == 1) {
        *out = len;
    } else {
        *out = mt_sym_floordiv(c->ctx, mt_sym_add_const(c->ctx, len, st - 1), st);
    }
    return *out ? MT_OK : sym_failed(c);
}

static mt_status getitem_tuple(call *c, const mt_tensor *t, const mt_arg *idx) {
    const mt_node *node = t->node;
    if (!idx || idx->kind != MT_ARG_INT)
        return fail_unsupported(c, "indexing the tuple output of '%s' needs an int index, got %s",
                                node->name ? node->name : "?", kind_name(idx));
    int64_t i = idx->v.i;
    if (i < -node->nout || i >= node->nout)
        return fail(c, "tuple index %lld out of range: '%s' has %d outputs", (long long)i,
                    node->name ? node->name : "?", node->nout);
    if (i < 0) i += node->nout;
    const mt_tensor *o = &node->outs[i];
    return emit_like(c, o->dtype, o);
}

/* x[t] with one int64 tensor t (advanced indexing on dim 0, Pixtral's
 * inv_freq[position_ids]): t.shape + x.shape[1:], x's dtype. Which rows are read
 * is data; an index out of range is an error only with the data. Bool and uint8
 * (mask) indices select a data-dependent count: not modelled. */
static mt_status getitem_tensor(call *c, const mt_tensor *x, const mt_tensor *t) {
    if (t->dtype == MT_BOOL || t->dtype == MT_UINT8)
        return fail_unsupported(c, "indexing with a %s mask (a data-dependent count of rows) is not modelled: got %s",
                                mt_dtype_name(t->dtype), sh(c, x));
    if (t->dtype == MT_INT32) /* PyTorch 2 accepts int indices, 1.13 (the oracle's ATen) refuses them */
        return fail_unsupported(c, "an int32 index tensor is not modelled (int64 only): got %s", sh(c, x));
    if (t->dtype != MT_INT64)
        return fail(c, "tensors used as indices must be long, int, byte or bool tensors: got a %s index %s",
                    mt_dtype_name(t->dtype), sh(c, t));
    if (x->ndim == 0) return fail(c, "too many indices for tensor of dimension 0: got %s", sh(c, x));
    if (t->ndim + x->ndim - 1 > MT_MAX_DIMS)
        return fail(c, "result has too many dimensions: got %s and index %s", sh(c, x), sh(c, t));
    const mt_sym *r[MT_MAX_DIMS];
    int nr = 0;
    for (int i = 0; i < t->ndim; i++) r[nr++] = t->shape[i];
    for (int i = 1; i < x->ndim; i++) r[nr++] = x->shape[i];
    return emit(c, x->dtype, nr, r);
}

static mt_status rule_getitem(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "a", &x));
    const mt_arg *idx = param(c, "b");
    if (c->nargs >= 2 && c->args[1].kind == MT_ARG_NONE) idx = &c->args[1]; /* x[None] */
    if (!idx) return fail_usage(c, "missing index");
    if (x->node && x->node->is_tuple) return getitem_tuple(c, x, idx);
    if (idx->kind == MT_ARG_TENSOR) return getitem_tensor(c, x, idx->v.t);

    const mt_arg *items = idx;
    int n = 1;
    if (idx->kind == MT_ARG_LIST) {
        items = idx->v.list.items;
        n = idx->v.list.n;
    }
    int consume = 0, ellipsis = -1;
    for (int i = 0; i < n; i++) {
        switch (items[i].kind) {
        case MT_ARG_INT:
        case MT_ARG_SYM:
        case MT_ARG_SLICE:
            consume++;
            break;
        case MT_ARG_NONE:
            break;
        case MT_ARG_ELLIPSIS:
            if (ellipsis >= 0) return fail(c, "an index can only have a single ellipsis (...)");
            ellipsis = i;
            break;
        case MT_ARG_TENSOR:
        case MT_ARG_LIST:
            return fail_unsupported(c, "advanced indexing (a %s index) is not supported, only ints, slices, None "
                                       "and ...: got %s",
                                    kind_name(&items[i]), sh(c, x));
        default:
            return fail_unsupported(c, "a %s index is not supported: got %s", kind_name(&items[i]), sh(c, x));
        }
    }
    if (consume > x->ndim)
        return fail(c, "too many indices for tensor of dimension %d (got %d): got %s", x->ndim, consume, sh(c, x));
    const mt_sym *r[MT_MAX_DIMS];
    int nr = 0, d = 0;
    for (int i = 0; i < n; i++) {
        const mt_arg *it = &items[i];
        if (it->kind == MT_ARG_ELLIPSIS) {
            for (int k = 0; k < x->ndim - consume; k++) {
                if (nr >= MT_MAX_DIMS) return fail(c, "result has too many dimensions: got %s", sh(c, x));
                r[nr++] = x->shape[d++];
            }
            continue;
        }
        if (nr >= MT_MAX_DIMS) return fail(c, "result has too many dimensions: got %s", sh(c, x));
        if (it->kind == MT_ARG_NONE) {
            r[nr++] = mt_sym_const(c->ctx, 1);
        } else if (it->kind == MT_ARG_INT) {
            int64_t nv = 0;
            if (is_const(x->shape[d], &nv) && (it->v.i < -nv || it->v.i >= nv))
                return fail(c, "index %lld is out of bounds for dimension %d with size %lld: got %s",
                            (long long)it->v.i, d, (long long)nv, sh(c, x));
            d++;
        } else if (it->kind == MT_ARG_SYM) {
            d++;
        } else { /* slice */
            const mt_sym *len;
            TRY(slice_len(c, x, d, it->v.slice.start, it->v.slice.stop, it->v.slice.step, &len));
            r[nr++] = len;
            d++;
        }
    }
    while (d < x->ndim) { /* trailing dims not indexed */
        if (nr >= MT_MAX_DIMS) return fail(c, "result has too many dimensions: got %s", sh(c, x));
        r[nr++] = x->shape[d++];
    }
    return emit(c, x->dtype, nr, r);
}

/* ---- factories ---------------------------------------------------------------- */

static mt_status rule_arange(call *c) {
    TRY(sig_check(c));
    if (c->nargs > 3) return fail_usage(c, "takes at most 3 positional arguments but %d were given", c->nargs);
    const mt_arg *kstart = param(c, "start"), *kend = param(c, "end"), *kstep = param(c, "step");
    const mt_arg *start = NULL, *end = NULL, *step = NULL;
    if (c->nargs == 1 && kend) { /* arange(start, end=...) */
        if (kstart) return fail_usage(c, "got multiple values for argument 'start'");
        start = &c->args[0];
        end = kend;
    } else if (c->nargs == 1) {
        end = &c->args[0];
        start = kstart;
    } else if (c->nargs >= 2) {
        if (kstart || kend || (c->nargs == 3 && kstep)) return fail_usage(c, "got multiple values for an argument");
        start = &c->args[0];
        end = &c->args[1];
    } else {
        start = kstart;
        end = kend;
    }
    step = c->nargs == 3 ? &c->args[2] : kstep;
    if (!end) return fail_usage(c, "missing argument 'end'");
    mt_dtype dt;
    TRY(opt_dtype(c, "dtype", &dt));
    const mt_arg *vals[3] = {start, end, step};
    bool any_float = false, all_const = true;
    for (int i = 0; i < 3; i++) {
        const mt_arg *a = vals[i];
        if (!a) continue;
        if (a->kind == MT_ARG_FLOAT) any_float = true;
        else if (a->kind == MT_ARG_SYM) all_const = false;
        else if (a->kind != MT_ARG_INT && a->kind != MT_ARG_BOOL)
            return fail_usage(c, "start, end and step must be numbers or symbolic ints, got %s", kind_name(a));
    }
    if (dt == MT_DTYPE_NONE) dt = any_float ? MT_FLOAT32 : MT_INT64;
    const mt_sym *len;
    if (all_const) {
        double fs = 0, fe = 0, fst = 1;
        int64_t is = 0, ie = 0, ist = 1;
        for (int i = 0; i < 3; i++) {
            const mt_arg *a = vals[i];
            double *fp = i == 0 ? &fs : i == 1 ? &fe : &fst;
            int64_t *ip = i == 0 ? &is : i == 1 ? &ie : &ist;
            if (!a) continue;
            if (a->kind == MT_ARG_FLOAT) {
                *fp = a->v.f;
                /* An integral result dtype casts the bounds first (ATen
                 * arange: start.to<int64_t>() etc.), truncating toward zero. */
                if (mt_dtype_is_integral(dt, false)) {
                    if (!(a->v.f < 9.2e18 && a->v.f > -9.2e18))
                        return mt_fail(c->ctx, MT_ERR_OVERFLOW, "%s: bound out of range", c->def->target);
                    *ip = (int64_t)a->v.f;
                    /* ...but only int64 also sizes the range from the cast
                     * bounds (oracle: arange(2.5, dtype=int64) has 2 elements,
                     * int32 has 3). */
                    if (dt == MT_INT64) *fp = (double)*ip;
                }
            } else if (a->kind == MT_ARG_BOOL) {
                *fp = a->v.b ? 1.0 : 0.0;
                *ip = a->v.b ? 1 : 0;
            } else {
                *fp = (double)a->v.i;
                *ip = a->v.i;
            }
        }
        if (fst == 0 || (mt_dtype_is_integral(dt, false) && ist == 0)) return fail(c, "step must be nonzero");
        if (!((fst > 0 && fe >= fs) || (fst < 0 && fe <= fs)))
            return fail(c, "upper bound and larger bound inconsistent with step sign: start %g, end %g, step %g", fs,
                        fe, fst);
        int64_t n = 0;
        if (!any_float || dt == MT_INT64) {
            int64_t sgn = ist > 0 ? 1 : -1, num;
            if (!mt_sub_ok(ie, is, &num) || !mt_add_ok(num, ist - sgn, &num))
                return mt_fail(c->ctx, MT_ERR_OVERFLOW, "%s: range length overflows", c->def->target);
            n = num / ist;
        } else {
            double q = (fe - fs) / fst;
            if (!(q < 9.2e18)) return mt_fail(c->ctx, MT_ERR_OVERFLOW, "%s: range length overflows", c->def->target);
            n = (int64_t)q;
            if ((double)n < q) n++;
        }
        len = mt_sym_const(c->ctx, n);
    } else {
        if (any_float)
            return fail_unsupported(c, "a symbolic range with float bounds is not supported");
        int64_t st = step ? step->v.i : 1;
        if (step && step->kind != MT_ARG_INT)
            return fail_unsupported(c, "a symbolic step (%s) is not supported", ds(step->v.sym));
        if (st <= 0)
            return fail_unsupported(c, "a symbolic range needs a positive step, got %lld", (long long)st);
        const mt_sym *s, *e;
        TRY(start ? size_of(c, "start", start, &s) : MT_OK);
        if (!start) s = mt_sym_const(c->ctx, 0);
        TRY(size_of(c, "end", end, &e));
        const mt_sym *diff = mt_sym_sub(c->ctx, e, s);
        if (!diff) return sym_failed(c);
        len = st == 1 ? diff : mt_sym_floordiv(c->ctx, mt_sym_add_const(c->ctx, diff, st - 1), st);
    }
    if (!len) return sym_failed(c);
    return emit(c, dt, 1, &len);
}

static mt_status rule_full(call *c) {
    TRY(sig_check(c));
    const mt_arg *size = param(c, "size");
    if (!size) return fail_usage(c, "missing argument 'size'");
    const mt_arg *items = size;
    int n = 1;
    if (size->kind == MT_ARG_LIST) {
        items = size->v.list.items;
        n = size->v.list.n;
    }
    if (n > MT_MAX_DIMS) return fail(c, "too many dimensions (%d > %d)", n, MT_MAX_DIMS);
    const mt_sym *r[MT_MAX_DIMS];
    for (int i = 0; i < n; i++) TRY(size_of(c, "size entries", &items[i], &r[i]));
    for (int i = 0; i < n; i++) {
        int64_t v = 0;
        if (is_const(r[i], &v) && v < 0)
            return fail(c, "Trying to create tensor with negative dimension %lld: %s", (long long)v, sizes_s(c, n, r));
    }
    const mt_arg *fill = param(c, "fill_value");
    if (!fill) return fail_usage(c, "missing argument 'fill_value'");
    mt_dtype dt;
    TRY(opt_dtype(c, "dtype", &dt));
    if (dt == MT_DTYPE_NONE) {
        switch (fill->kind) {
        case MT_ARG_BOOL: dt = MT_BOOL; break;
        case MT_ARG_INT:
        case MT_ARG_SYM: dt = MT_INT64; break;
        case MT_ARG_FLOAT: dt = MT_FLOAT32; break;
        default: return fail_usage(c, "argument 'fill_value' must be a number, got %s", kind_name(fill));
        }
    }
    return emit(c, dt, n, r);
}

static mt_status rule_triu(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    int64_t diag = 0;
    TRY(opt_int(c, "diagonal", 0, &diag));
    if (x->ndim < 2)
        return fail(c, "%s: input tensor must have at least 2 dimensions: got %s", c->def->name, sh(c, x));
    return emit_like(c, x->dtype, x);
}

/* ---- attention ---------------------------------------------------------------- */

/* F.scaled_dot_product_attention as its math implementation computes it:
 * softmax(q @ k^T * scale + mask) @ v with matmul broadcasting over batch
 * dims; with enable_gqa, k and v heads (dim -3) repeat to q's. The mask is
 * added in place, so it must broadcast into [..., L, S]. */
static mt_status rule_sdpa(call *c) {
    TRY(sig_check(c));
    const mt_tensor *q, *k, *v, *mask;
    TRY(need_tensor(c, "query", &q));
    TRY(need_tensor(c, "key", &k));
    TRY(need_tensor(c, "value", &v));
    TRY(opt_tensor(c, "attn_mask", &mask));
    double dropout_p = 0, scale = 0;
    bool has_p = false, has_scale = false, is_causal = false, gqa = false;
    TRY(opt_number(c, "dropout_p", &dropout_p, &has_p));
    TRY(opt_number(c, "scale", &scale, &has_scale));
    TRY(opt_bool(c, "is_causal", false, &is_causal));
    TRY(opt_bool(c, "enable_gqa", false, &gqa));
    const char *shapes = mt_sprintf(c->ctx, "query %s, key %s, value %s", sh(c, q), sh(c, k), sh(c, v));
    if (!shapes) shapes = "?";
    if (q->dtype != k->dtype || q->dtype != v->dtype)
        return fail(c, "Expected query, key, and value to have the same dtype, but got query.dtype: %s key.dtype: %s "
                       "and value.dtype: %s instead",
                    mt_dtype_name(q->dtype), mt_dtype_name(k->dtype), mt_dtype_name(v->dtype));
    if (!mt_dtype_is_floating(q->dtype))
        return fail(c, "scaled_dot_product_attention needs floating query, key and value (the math path has no "
                       "%s matmul/softmax): got %s",
                    mt_dtype_name(q->dtype), shapes);
    if (q->ndim < 2 || k->ndim < 2 || v->ndim < 2)
        return fail(c, "Expected query, key, and value to all be at least 2 dimensional: got %s", shapes);
    const mt_sym *L = q->shape[q->ndim - 2], *E = q->shape[q->ndim - 1];
    const mt_sym *Sk = k->shape[k->ndim - 2], *Ek = k->shape[k->ndim - 1];
    const mt_sym *Sv = v->shape[v->ndim - 2], *Ev = v->shape[v->ndim - 1];
    if (E != Ek)
        return fail(c, "query and key must have the same embedding size (last dim), %s vs %s: got %s", ds(E), ds(Ek),
                    shapes);
    if (Sk != Sv)
        return fail(c, "key and value must have the same sequence length (dim -2), %s vs %s: got %s", ds(Sk), ds(Sv),
                    shapes);
    const mt_sym *kb[MT_MAX_DIMS], *vb[MT_MAX_DIMS], *batch[MT_MAX_DIMS + 2];
    int nk = k->ndim - 2, nv = v->ndim - 2, nq = q->ndim - 2, nb;
    memcpy(kb, k->shape, (size_t)nk * sizeof *kb);
    memcpy(vb, v->shape, (size_t)nv * sizeof *vb);
    if (gqa) {
        if (q->ndim < 3 || k->ndim < 3 || v->ndim < 3)
            return fail(c, "enable_gqa needs query, key and value with a heads dim (-3): got %s", shapes);
        const mt_sym *hq = q->shape[nq - 1], *hk = kb[nk - 1], *hv = vb[nv - 1];
        if (!(hq == hk && hk == hv)) {
            if (is_c(hk, 0) || is_c(hv, 0) || !mt_sym_divides(c->ctx, hk, hq) || !mt_sym_divides(c->ctx, hv, hq))
                return fail(c, "Number of heads in key and value must divide the number of heads in query (%s "
                               "query heads, %s key heads, %s value heads): got %s",
                            ds(hq), ds(hk), ds(hv), shapes);
            kb[nk - 1] = hq;
            vb[nv - 1] = hq;
        }
    }
    TRY(broadcast(c, nq, q->shape, nk, kb, &nb, batch));
    TRY(broadcast(c, nb, batch, nv, vb, &nb, batch));
    if (mask) {
        if (mask->dtype != MT_BOOL && mask->dtype != MT_FLOAT32 && mask->dtype != q->dtype)
            return fail(c, "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                           "attn_mask.dtype: %s and query.dtype: %s instead",
                        mt_dtype_name(mask->dtype), mt_dtype_name(q->dtype));
        if (is_causal)
            return fail(c, "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True");
        const mt_sym *scores[MT_MAX_DIMS + 2];
        memcpy(scores, batch, (size_t)nb * sizeof *scores);
        scores[nb] = L;
        scores[nb + 1] = Sk;
        if (nb + 2 > MT_MAX_DIMS) return fail(c, "too many dimensions: got %s", shapes);
        TRY(broadcast_into(c, "attn_mask", mask->ndim, mask->shape, nb + 2, scores));
    }
    batch[nb] = L;
    batch[nb + 1] = Ev;
    return emit(c, q->dtype, nb + 2, batch);
}

/* ---- the table ------------------------------------------------------------------ */

/* MoE routing ops: rules appended at the end of this file. */
static mt_status rule_one_hot(call *c);
static mt_status rule_nonzero(call *c);
static mt_status rule_index_select(call *c);
static mt_status rule_gather(call *c);
static mt_status rule_index_add(call *c);
static mt_status rule_zeros(call *c);
static mt_status rule_zeros_like(call *c);
static mt_status rule_scatter(call *c);
static mt_status rule_invert(call *c);
static mt_status rule_clamp_(call *c);
static mt_status rule_clamp(call *c);
/* Cohere rotary ops: rules appended at the end of this file. */
static mt_status rule_repeat_interleave(call *c);
static mt_status rule_stack(call *c);
static mt_status rule_flatten(call *c);
static mt_status rule_min(call *c);
static mt_status rule_full_like(call *c);
static mt_status rule_conv2d(call *c);
static mt_status rule_avg_pool2d(call *c);
static mt_status rule_masked_scatter(call *c);
/* Mamba-2 mixer ops: rules appended at the end of this file. */
static mt_status rule_conv1d(call *c);
static mt_status rule_pad(call *c);
static mt_status rule_softplus(call *c);
/* Llama 4 ops: rules appended at the end of this file. */
static mt_status rule_bmm(call *c);
static mt_status rule_repeat(call *c);
static mt_status rule_polar(call *c);
static mt_status rule_view_as_complex(call *c);
static mt_status rule_view_as_real(call *c);
static mt_status rule_floor(call *c);
static mt_status rule_add_(call *c);
/* Gated DeltaNet (Qwen3-Next): rule appended at the end of this file. */
static mt_status rule_chunk_gated_delta_rule(call *c);
/* Pixtral's patch merger. */
static mt_status rule_unfold(call *c);
/* Qwen2.5-VL's vision tower. */
static mt_status rule_conv3d(call *c);
static mt_status rule_unbind(call *c);
static mt_status rule_outer(call *c);
static mt_status rule_argsort(call *c);
static mt_status rule_std(call *c);
static mt_status rule_tensor(call *c);
/* Recurrent mixers' scans: rules appended at the end of this file. */
static mt_status rule_selective_scan(call *c);
static mt_status rule_lightning_attention(call *c);

/* The op table: one row per op of MT_OPS, with every column each pass needs
 * (opinfo_internal.h; docs/ops.md, "The op table"):
 *   id, name, shape/dtype rule, Python signature (argument names, read by name:
 *   the shape rule here, the sizing pass and FLOP rules, the planner, the fit),
 *   operands (leading tensor parameters), dims class (how output dims come
 *   from input dims), linearity (whether partial sums pass), sharding rule.
 * Designated initializers: a duplicate row trips -Woverride-init (in -Wextra),
 * a row with a column missing does not expand, the row count is checked
 * against MT_OP_COUNT below and mt__op_table_check (tests/unit/test_ops.c)
 * finds a row left empty. Adding an op is one row here, one in MT_OPS and one
 * in MT_FLOP_RULES (trace/flops.c). */
#define SIG(...) ((const char *const[]){__VA_ARGS__, NULL})
/* Signatures shared by several ops. */
#define SIG_BINARY SIG("input|self|a", "other|exponent|b")
#define SIG_UNARY SIG("input|self|a")
#define SIG_REDUCE SIG("self|input", "dim", "keepdim", "*", "dtype")
#define MT_OP_RULES(R) \
    R(ADD, "add", rule_binary, SIG_BINARY, 2, POINTWISE, SUM, ELEMENTWISE) \
    R(SUB, "sub", rule_binary, SIG_BINARY, 2, POINTWISE, SUM, ELEMENTWISE) \
    R(MUL, "mul", rule_binary, SIG_BINARY, 2, POINTWISE, EACH, ELEMENTWISE) \
    R(TRUEDIV, "truediv", rule_binary, SIG_BINARY, 2, POINTWISE, FIRST, ELEMENTWISE) \
    R(POW, "pow", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(MAXIMUM, "maximum", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(MINIMUM, "minimum", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(EQ, "eq", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(NE, "ne", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(LT, "lt", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(LE, "le", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(GT, "gt", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(GE, "ge", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(AND, "and", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(OR, "or", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(WHERE, "where", rule_where, SIG("condition", "input|self", "other"), 3, POINTWISE, NONE, ELEMENTWISE) \
    R(MASKED_FILL, "masked_fill", rule_masked_fill, \
      SIG("self|input", "mask", "value"), \
      3, POINTWISE, NONE, ELEMENTWISE) \
    R(NEG, "neg", rule_unary, SIG_UNARY, 1, POINTWISE, EACH, ELEMENTWISE) \
    R(ABS, "abs", rule_unary, SIG_UNARY, 1, POINTWISE, NONE, ELEMENTWISE) \
    R(RSQRT, "rsqrt", rule_unary, SIG_UNARY, 1, POINTWISE, NONE, ELEMENTWISE) \
    R(SQRT, "sqrt", rule_unary, SIG_UNARY, 1, POINTWISE, NONE, ELEMENTWISE) \
    R(EXP, "exp", rule_unary, SIG_UNARY, 1, POINTWISE, NONE, ELEMENTWISE) \
    R(LOG, "log", rule_unary, SIG_UNARY, 1, POINTWISE, NONE, ELEMENTWISE) \
    R(SIN, "sin", rule_unary, SIG_UNARY, 1, POINTWISE, NONE, ELEMENTWISE) \
    R(COS, "cos", rule_unary, SIG_UNARY, 1, POINTWISE, NONE, ELEMENTWISE) \
    R(TANH, "tanh", rule_unary, SIG_UNARY, 1, POINTWISE, NONE, ELEMENTWISE) \
    R(SIGMOID, "sigmoid", rule_unary, SIG_UNARY, 1, POINTWISE, NONE, ELEMENTWISE) \
    R(SILU, "silu", rule_unary, SIG("input|self", "inplace"), 1, POINTWISE, NONE, ELEMENTWISE) \
    R(GELU, "gelu", rule_unary, SIG("input|self", "*", "approximate"), 1, POINTWISE, NONE, ELEMENTWISE) \
    R(RELU, "relu", rule_unary, SIG("input|self", "inplace"), 1, POINTWISE, NONE, ELEMENTWISE) \
    R(TO, "to", rule_to, \
      SIG("self", "*args", "dtype", "device", "non_blocking", "copy", "memory_format"), \
      1, POINTWISE, EACH, ELEMENTWISE) \
    R(TYPE_AS, "type_as", rule_type_as, SIG("self", "other"), 1, POINTWISE, EACH, ELEMENTWISE) \
    R(SUM, "sum", rule_reduce, SIG_REDUCE, 1, REDUCE, EACH, MAP) \
    R(MEAN, "mean", rule_reduce, SIG_REDUCE, 1, REDUCE, EACH, MAP) \
    R(AMAX, "amax", rule_reduce, SIG("self|input", "dim", "keepdim"), 1, REDUCE, NONE, MAP) \
    R(SOFTMAX, "softmax", rule_softmax, SIG("input|self", "dim", "_stacklevel", "dtype"), 1, ALONG, NONE, MAP) \
    R(MATMUL, "matmul", rule_matmul, SIG("input|self", "other"), 2, CONTRACT, NONE, MATMUL) \
    R(LINEAR, "linear", rule_linear, SIG("input", "weight", "bias"), 3, CONTRACT, NONE, LINEAR) \
    R(EMBEDDING, "embedding", rule_embedding, \
      SIG("input", "weight", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"), \
      2, LOOKUP, NONE, EMBEDDING) \
    R(LAYER_NORM, "layer_norm", rule_layer_norm, \
      SIG("input", "normalized_shape", "weight", "bias", "eps"), \
      1, NORM, NONE, LAYER_NORM) \
    R(VIEW, "view", rule_view, SIG("self", "*shape|size"), 1, VIEW, EACH, MAP) \
    R(RESHAPE, "reshape", rule_view, SIG("self", "*shape"), 1, VIEW, EACH, MAP) \
    R(TRANSPOSE, "transpose", rule_transpose, SIG("self|input", "dim0", "dim1"), 1, TRANSPOSE, EACH, MAP) \
    R(PERMUTE, "permute", rule_permute, SIG("self|input", "*dims"), 1, PERMUTE, EACH, MAP) \
    R(UNSQUEEZE, "unsqueeze", rule_unsqueeze, SIG("self|input", "dim"), 1, UNSQUEEZE, EACH, MAP) \
    R(SQUEEZE, "squeeze", rule_squeeze, SIG("self|input", "dim"), 1, SQUEEZE, EACH, MAP) \
    R(EXPAND, "expand", rule_expand, SIG("self|input", "*size", "implicit"), 1, EXPAND, EACH, MAP) \
    R(CONTIGUOUS, "contiguous", rule_contiguous, \
      SIG("self|input", "memory_format"), \
      1, POINTWISE, EACH, ELEMENTWISE) \
    R(CAT, "cat", rule_cat, SIG("tensors", "dim|axis"), 1, CAT, SUM, JOIN) \
    R(SPLIT, "split", rule_split, \
      SIG("self|tensor", "split_size|split_size_or_sections|split_sizes", "dim"), \
      1, SPLIT, EACH, SPLIT) \
    R(CHUNK, "chunk", rule_chunk, SIG("self|input", "chunks", "dim"), 1, SPLIT, EACH, SPLIT) \
    R(TOPK, "topk", rule_topk, SIG("input|self", "k", "dim", "largest", "sorted"), 1, ALONG, NONE, MAP) \
    R(GETITEM, "getitem", rule_getitem, SIG("a", "b"), 1, INDEX, EACH, GETITEM) \
    R(ARANGE, "arange", rule_arange, \
      SIG("*args", "start", "end", "step", "dtype", "device", "layout", "requires_grad", "pin_memory", "out"), \
      0, CREATE, NONE, REPLICATE) \
    R(FULL, "full", rule_full, \
      SIG("size", "fill_value", "*", "dtype", "device", "layout", "requires_grad", "pin_memory", "out", "names"), \
      0, CREATE, NONE, REPLICATE) \
    R(TRIU, "triu", rule_triu, SIG("input|self", "diagonal"), 1, TRIANGLE, NONE, MAP) \
    R(SDPA, "scaled_dot_product_attention", rule_sdpa, \
      SIG("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "*", "scale", "enable_gqa"), \
      4, ATTENTION, NONE, SDPA) \
    R(DROPOUT, "dropout", rule_dropout, SIG("input", "p", "training", "inplace"), 1, POINTWISE, EACH, ELEMENTWISE) \
    R(ONE_HOT, "one_hot", rule_one_hot, SIG("input|tensor|self", "num_classes"), 1, OPAQUE, NONE, REPLICATE) \
    R(NONZERO, "nonzero", rule_nonzero, SIG("input|self", "*", "out", "as_tuple"), 1, OPAQUE, NONE, REPLICATE) \
    R(INDEX_SELECT, "index_select", rule_index_select, \
      SIG("input|self", "dim", "index", "*", "out"), \
      1, LOOKUP, FIRST, INDEX_SELECT) \
    R(GATHER, "gather", rule_gather, \
      SIG("input|self", "dim", "index", "*", "sparse_grad", "out"), \
      1, LOOKUP, NONE, REPLICATE) \
    R(INDEX_ADD, "index_add_", rule_index_add, \
      SIG("self|input", "dim", "index", "source", "*", "alpha"), \
      1, SCATTER, SUM, INDEX_ADD) \
    R(ZEROS, "zeros", rule_zeros, \
      SIG("*size", "out", "dtype", "layout", "device", "requires_grad", "names"), \
      0, CREATE, NONE, REPLICATE) \
    R(ZEROS_LIKE, "zeros_like", rule_zeros_like, \
      SIG("input|self", "*", "dtype", "layout", "device", "requires_grad", "memory_format"), \
      1, CREATE, NONE, REPLICATE) \
    R(SCATTER, "scatter_", rule_scatter, \
      SIG("self|input", "dim", "index", "src|value", "*", "reduce"), \
      1, SCATTER, NONE, REPLICATE) \
    R(INVERT, "invert", rule_invert, SIG("a"), 1, POINTWISE, NONE, REPLICATE) \
    R(CLAMP_, "clamp_", rule_clamp_, SIG("self", "min", "max"), 3, POINTWISE, NONE, CLAMP) \
    R(CLAMP, "clamp", rule_clamp, SIG("self", "min", "max"), 3, POINTWISE, NONE, CLAMP) \
    R(REPEAT_INTERLEAVE, "repeat_interleave", rule_repeat_interleave, \
      SIG("input|self", "repeats", "dim", "*", "output_size"), \
      1, OPAQUE, NONE, REPEAT) \
    R(STACK, "stack", rule_stack, SIG("tensors", "dim"), 1, STACK, SUM, JOIN) \
    R(FLATTEN, "flatten", rule_flatten, SIG("self|input", "start_dim", "end_dim"), 1, VIEW, EACH, MAP) \
    R(MIN, "min", rule_min, SIG_BINARY, 2, OPAQUE, NONE, REPLICATE) \
    R(FULL_LIKE, "full_like", rule_full_like, \
      SIG("input|self", "fill_value", "*", "dtype", "layout", "device", "requires_grad", "memory_format"), \
      1, CREATE, NONE, REPLICATE) \
    R(CUMSUM, "cumsum", rule_cumsum, SIG("input|self", "dim", "*", "dtype"), 1, ALONG, NONE, MAP) \
    R(CUMSUM_METHOD, "cumsum", rule_cumsum, SIG("self|input", "dim", "*", "dtype"), 1, ALONG, NONE, MAP) \
    /* the vision ops run on replicated tensors: conv2d's output channels could shard \
     * with its weight, but the patch embedding is one small layer per image; avg_pool2d \
     * windows span the spatial dims; masked_scatter reads source positions known only \
     * with the data (Gemma 3's image merge) */ \
    R(CONV2D, "conv2d", rule_conv2d, \
      SIG("input", "weight", "bias", "stride", "padding", "dilation", "groups"), 3, OPAQUE, NONE, REPLICATE) \
    R(AVG_POOL2D, "avg_pool2d", rule_avg_pool2d, \
      SIG("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"), \
      1, OPAQUE, NONE, REPLICATE) \
    R(MASKED_SCATTER, "masked_scatter", rule_masked_scatter, SIG("self|input", "mask", "source"), 1, OPAQUE, NONE, \
      REPLICATE) \
    /* the Mamba-2 mixer's ops: conv1d replicated (the depthwise convolution follows \
     * in_proj's gathered split); pad, tril, ones and the method/function twins as \
     * their relatives */ \
    R(CONV1D, "conv1d", rule_conv1d, \
      SIG("input", "weight", "bias", "stride", "padding", "dilation", "groups"), 3, OPAQUE, NONE, REPLICATE) \
    R(PAD, "pad", rule_pad, SIG("input", "pad", "mode", "value"), 1, OPAQUE, NONE, REPLICATE) \
    R(SOFTPLUS, "softplus", rule_softplus, SIG("input", "beta", "threshold"), 1, POINTWISE, NONE, ELEMENTWISE) \
    R(TRIL, "tril", rule_triu, SIG("input|self", "diagonal"), 1, TRIANGLE, NONE, MAP) \
    R(ONES, "ones", rule_zeros, \
      SIG("*size", "out", "dtype", "layout", "device", "requires_grad", "names"), \
      0, CREATE, NONE, REPLICATE) \
    R(CLAMP_FN, "clamp", rule_clamp, SIG("input|self", "min", "max"), 3, POINTWISE, NONE, CLAMP) \
    R(REPEAT_INTERLEAVE_METHOD, "repeat_interleave", rule_repeat_interleave, \
      SIG("self|input", "repeats", "dim", "*", "output_size"), \
      1, OPAQUE, NONE, REPEAT) \
    /* Llama 4: bmm as a batched matmul; repeat tiles dims like expand (a shard on \
     * an untouched dim stays); the complex views keep every other dim's shard */ \
    R(BMM, "bmm", rule_bmm, SIG("input|self", "mat2|other"), 2, CONTRACT, NONE, MATMUL) \
    R(REPEAT, "repeat", rule_repeat, SIG("self|input", "*repeats"), 1, EXPAND, EACH, MAP) \
    R(ONES_LIKE, "ones_like", rule_zeros_like, \
      SIG("input|self", "*", "dtype", "layout", "device", "requires_grad", "memory_format"), \
      1, CREATE, NONE, REPLICATE) \
    R(POLAR, "polar", rule_polar, SIG("abs", "angle"), 2, POINTWISE, NONE, ELEMENTWISE) \
    R(VIEW_AS_COMPLEX, "view_as_complex", rule_view_as_complex, SIG("input|self"), 1, COMPLEX, EACH, MAP) \
    R(VIEW_AS_REAL, "view_as_real", rule_view_as_real, SIG("input|self"), 1, COMPLEX, EACH, MAP) \
    R(FLOOR, "floor", rule_floor, SIG_UNARY, 1, POINTWISE, NONE, ELEMENTWISE) \
    R(LOG1P, "log1p", rule_unary, SIG_UNARY, 1, POINTWISE, NONE, ELEMENTWISE) \
    R(FLOORDIV, "floordiv", rule_binary, SIG_BINARY, 2, POINTWISE, NONE, ELEMENTWISE) \
    R(ADD_, "add_", rule_add_, SIG("self", "other", "*", "alpha"), 2, POINTWISE, SUM, ELEMENTWISE) \
    /* Qwen3-Next's Gated DeltaNet: the chunked rule as one leaf (its Python loop over \
     * chunks depends on seq); heads (dim 2 of every operand) are independent */ \
    R(CHUNK_GATED_DELTA_RULE, "torch_chunk_gated_delta_rule", rule_chunk_gated_delta_rule, \
      SIG("query", "key", "value", "g", "beta", "chunk_size", "initial_state", "output_final_state", \
          "use_qk_l2norm_in_kernel"), \
      5, OPAQUE, NONE, HEADS) \
    /* Pixtral's patch merger: im2col mixes channels and window positions into one dim, \
     * replicated as the other vision ops */ \
    R(UNFOLD, "unfold", rule_unfold, SIG("input", "kernel_size", "dilation", "padding", "stride"), 1, OPAQUE, \
      NONE, REPLICATE) \
    /* Jamba's Mamba mixer: mamba_ssm's selective scan as one op (the Python loop over \
     * the sequence of the slow path); each channel's recurrence is its own, so the \
     * channels shard (u, delta, z, A, D, delta_bias alike) while B and C stay whole */ \
    R(SELECTIVE_SCAN, "selective_scan_fn", rule_selective_scan, \
      SIG("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "delta_softplus", "return_last_state"), \
      8, OPAQUE, NONE, CHANNELS) \
    /* MiniMax's lightning attention: the Python loop over blocks of \
     * MiniMaxLightningAttention.forward as one op; each head is its own \
     * recurrence, so the heads shard (q, k, v, the decays alike) */ \
    R(LIGHTNING_ATTENTION, "lightning_attention", rule_lightning_attention, \
      SIG("query", "key", "value", "slope_rate", "query_decay", "key_decay", "diagonal_decay"), \
      7, OPAQUE, NONE, CHANNELS) \
    /* Qwen2.5-VL's vision tower, replicated as the other vision ops: conv3d its patch \
     * embedding, unbind its fused qkv split (a tuple of views), outer and argsort \
     * the rotary table and the window order (tensors of positions, not activations) */ \
    R(CONV3D, "conv3d", rule_conv3d, \
      SIG("input", "weight", "bias", "stride", "padding", "dilation", "groups"), 3, OPAQUE, NONE, REPLICATE) \
    R(UNBIND, "unbind", rule_unbind, SIG("self|input", "dim"), 1, OPAQUE, NONE, REPLICATE) \
    R(OUTER, "outer", rule_outer, SIG("input|self", "vec2"), 2, OPAQUE, NONE, REPLICATE) \
    R(ARGSORT, "argsort", rule_argsort, SIG("input|self", "dim", "descending", "stable"), 1, OPAQUE, NONE, REPLICATE) \
    /* Gemma 3n: the activation sparsity's torch.std over the hidden dim (a reduction, \
     * as amax: not linear), the AltUp output's clone (a copy, as contiguous), the \
     * 0-d torch.tensor(1e-5) of its magnitude floor (created whole, as ones) */ \
    R(STD, "std", rule_std, SIG("input|self", "dim", "unbiased", "keepdim", "*", "correction"), 1, REDUCE, NONE, MAP) \
    R(CLONE, "clone", rule_contiguous, SIG("self|input", "*", "memory_format"), 1, POINTWISE, EACH, ELEMENTWISE) \
    R(TENSOR, "tensor", rule_tensor, SIG("data", "*", "dtype", "device", "requires_grad", "pin_memory"), 0, CREATE, \
      NONE, REPLICATE)

typedef struct op_entry {
    mt_opdef def;
    op_rule rule;
} op_entry;

static const op_entry OPS[] = {
#define MT_X_DEF(id, k, t, p) [MT_OP_##id].def.kind = k, [MT_OP_##id].def.target = t, [MT_OP_##id].def.promo = p,
    MT_OPS(MT_X_DEF)
#undef MT_X_DEF
#define MT_X_RULE(id, nm, fn, ...) [MT_OP_##id].def.name = nm, [MT_OP_##id].rule = fn,
    MT_OP_RULES(MT_X_RULE)
#undef MT_X_RULE
};

/* The same rows' other columns, one array (mt__op_info). */
static const mt_opinfo OP_INFO[MT_OP_COUNT] = {
#define MT_X_INFO(id, nm, fn, sig, nops, dims, lin, shard) \
    [MT_OP_##id] = {sig, nops, MT_DIMS_##dims, MT_LIN_##lin, MT_SHARD_##shard},
    MT_OP_RULES(MT_X_INFO)
#undef MT_X_INFO
};

enum {
#define MT_X_COUNT(id, ...) +1
    OP_RULE_COUNT = 0 MT_OP_RULES(MT_X_COUNT)
#undef MT_X_COUNT
};

static_assert(sizeof OPS / sizeof OPS[0] == MT_OP_COUNT, "op table out of step with MT_OPS");
static_assert((int)OP_RULE_COUNT == (int)MT_OP_COUNT, "MT_OP_RULES must list every op of MT_OPS exactly once");

const mt_opdef *mt_op_def(mt_op_id id) {
    if ((int)id < 0 || id >= MT_OP_COUNT) return NULL;
    return &OPS[id].def;
}

const mt_opinfo *mt__op_info(int opid) { return opid >= 0 && opid < MT_OP_COUNT ? &OP_INFO[opid] : NULL; }

int mt__op_table_check(const mt_opinfo *rows, int n, const char **what) {
    for (int i = 0; i < n; i++) {
        const mt_opinfo *r = &rows[i];
        *what = !r->sig                                                    ? "signature"
                : r->dims <= MT_DIMS_MISSING || r->dims >= MT_DIMS_COUNT       ? "dims class"
                : r->lin <= MT_LIN_MISSING || r->lin >= MT_LIN_COUNT           ? "linearity"
                : r->shard <= MT_SHARD_MISSING || r->shard >= MT_SHARD_COUNT   ? "sharding rule"
                : r->operands < 0                                              ? "operands"
                                                                               : NULL;
        if (*what) return i;
    }
    return -1;
}

/* ---- arguments by name, through the op's signature ---- */

static const char *const MODULE_SIG[] = {"input", NULL}; /* a leaf module's forward(input) */
static const char *const OUTPUT_SIG[] = {"result", NULL}; /* torch.fx Graph.output(result) */

static const char *const *node_sig(const mt_node *n) {
    if (n->op == MT_NODE_CALL_MODULE) return MODULE_SIG;
    if (n->op == MT_NODE_OUTPUT) return OUTPUT_SIG;
    return n->opid >= 0 && n->opid < MT_OP_COUNT ? OP_INFO[n->opid].sig : NULL;
}

/* A node's parameter, as param() reads a call's. */
const mt_arg *mt__node_arg(const mt_node *n, const char *name) {
    const char *const *sig = node_sig(n);
    if (!sig) return NULL;
    call c = {.args = n->args, .nargs = n->nargs, .kwargs = n->kwargs, .nkwargs = n->nkwargs, .sig = sig};
    return param(&c, name);
}

const mt_tensor *mt__node_input(const mt_node *n) {
    const char *const *sig = node_sig(n);
    if (!sig || !sig[0] || sig[0][0] == '*') return NULL;
    const mt_arg *a = n->nargs > 0 ? &n->args[0] : NULL;
    for (int k = 0; !a && k < n->nkwargs; k++)
        if (n->kwargs[k].name && sig_matches(sig[0], n->kwargs[k].name)) a = &n->kwargs[k].value;
    return a && a->kind == MT_ARG_TENSOR ? a->v.t : NULL;
}

const mt_tensor *mt__node_tensor(const mt_node *n, const char *name) {
    const mt_arg *a = mt__node_arg(n, name);
    return a && a->kind == MT_ARG_TENSOR ? a->v.t : NULL;
}

bool mt__node_int(const mt_node *n, const char *name, int64_t *v) {
    const mt_arg *a = mt__node_arg(n, name);
    if (!a || a->kind != MT_ARG_INT) return false;
    *v = a->v.i;
    return true;
}

const mt_arg *mt__node_rest(const mt_node *n, const char *name, int *count) {
    const char *const *sig = node_sig(n);
    const mt_arg *items = NULL;
    *count = 0;
    if (!sig) return NULL;
    call c = {.args = n->args, .nargs = n->nargs, .kwargs = n->kwargs, .nkwargs = n->nkwargs, .sig = sig};
    rest(&c, name, &items, count);
    return items;
}

int mt_op_find(mt_opkind kind, const char *target) {
    if (!target) return -1;
    for (int i = 0; i < MT_OP_COUNT; i++)
        if (OPS[i].def.kind == kind && strcmp(OPS[i].def.target, target) == 0) return i;
    return -1;
}

mt_status mt_op_infer(mt_ctx *ctx, mt_op_id id, const mt_arg *args, int nargs, const mt_kwarg *kwargs,
                      int nkwargs, mt_tensor *outs, int *nout, bool *is_tuple) {
    if (nout) *nout = 0;
    if (is_tuple) *is_tuple = false;
    if (!ctx) return MT_ERR_USAGE;
    if ((int)id < 0 || id >= MT_OP_COUNT)
        return mt_fail(ctx, MT_ERR_USAGE, "mt_op_infer: unknown op id %d", (int)id);
    if (!outs || !nout || !is_tuple || nargs < 0 || nkwargs < 0 || (nargs > 0 && !args) ||
        (nkwargs > 0 && !kwargs))
        return mt_fail(ctx, MT_ERR_USAGE, "%s: mt_op_infer: bad arguments", OPS[id].def.target);
    call c = {ctx, id, &OPS[id].def, args, nargs, kwargs, nkwargs, outs, nout, is_tuple, OP_INFO[id].sig};
    mt_status st = OPS[id].rule(&c);
    if (st != MT_OK) {
        *nout = 0;
        *is_tuple = false;
    }
    return st;
}

/* ---- routing and scatter ops (mixture-of-experts) -----------------------------
 * Added by the MoE families. Data-dependent sizes (nonzero) are fresh symbols
 * with bounds [0, numel(input)], never guessed constants. */

static bool index_dtype(mt_dtype d) { return d == MT_INT64 || d == MT_INT32; }

/* F.one_hot(tensor, num_classes): an int64 tensor of shape tensor.shape + [num_classes].
 * num_classes=-1 (infer from the data) is data-dependent and refused. */
static mt_status rule_one_hot(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    int64_t n;
    TRY(opt_int(c, "num_classes", -1, &n));
    if (x->dtype != MT_INT64)
        return fail(c, "one_hot is only applicable to index tensor of type LongTensor, got %s %s",
                    mt_dtype_name(x->dtype), sh(c, x));
    if (n < 0) return fail_unsupported(c, "num_classes=-1 depends on the data; pass num_classes: got %s", sh(c, x));
    if (n == 0) /* every class value must be < num_classes: none is < 0 (and an empty input can't infer it) */
        return fail(c, "Class values must be smaller than num_classes: num_classes=0, got %s", sh(c, x));
    if (x->ndim + 1 > MT_MAX_DIMS) return fail(c, "result has too many dimensions: got %s", sh(c, x));
    const mt_sym *r[MT_MAX_DIMS];
    memcpy(r, x->shape, (size_t)x->ndim * sizeof *r);
    r[x->ndim] = mt_sym_const(c->ctx, n);
    return emit(c, MT_INT64, x->ndim + 1, r);
}

/* torch.nonzero(input, *, as_tuple=False): [n, ndim] int64, or with as_tuple a
 * tuple of ndim [n] int64 tensors (one for a 0-dim input) — torch.where(cond)
 * with one argument is the same as nonzero(cond, as_tuple=True). n is a fresh
 * symbol "nnz_k" in [0, numel(input)]. */
static mt_status rule_nonzero(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    bool as_tuple;
    TRY(opt_bool(c, "as_tuple", false, &as_tuple));
    const mt_sym *numel = mt_sym_prod(c->ctx, x->shape, x->ndim);
    if (!numel) return sym_failed(c);
    const mt_sym *n = mt_sym_fresh(c->ctx, "nnz", 0, numel);
    if (!n) return sym_failed(c);
    if (!as_tuple) {
        const mt_sym *r[2] = {n, mt_sym_const(c->ctx, x->ndim)};
        return emit(c, MT_INT64, 2, r);
    }
    int k = x->ndim ? x->ndim : 1;
    for (int i = 0; i < k; i++) TRY(emit(c, MT_INT64, 1, &n));
    *c->is_tuple = true;
    return MT_OK;
}

/* torch.index_select(input, dim, index): index a 1-D (or 0-dim) int64/int32
 * tensor; the result has input's shape with dim replaced by numel(index). */
static mt_status rule_index_select(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x, *idx;
    TRY(need_tensor(c, "input", &x));
    TRY(need_tensor(c, "index", &idx));
    int64_t d;
    TRY(need_int(c, "dim", &d));
    if (!index_dtype(idx->dtype))
        return fail(c, "index_select(): Expected dtype int32 or int64 for index, got %s", mt_dtype_name(idx->dtype));
    if (idx->ndim > 1) return fail(c, "index_select(): Index is supposed to be a vector: got index %s", sh(c, idx));
    int w;
    TRY(wrap_dim(c, d, x, &w));
    const mt_sym *r[MT_MAX_DIMS];
    memcpy(r, x->shape, (size_t)x->ndim * sizeof *r);
    if (x->ndim) r[w] = idx->ndim ? idx->shape[0] : mt_sym_const(c->ctx, 1);
    return emit(c, x->dtype, x->ndim, r);
}

/* torch.gather(input, dim, index): the shape of index, input's dtype. Index
 * has input's rank and int64 dtype; index.size(d) <= input.size(d) for d != dim
 * (checked when both are constants). */
static mt_status rule_gather(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x, *idx;
    TRY(need_tensor(c, "input", &x));
    TRY(need_tensor(c, "index", &idx));
    int64_t d;
    TRY(need_int(c, "dim", &d));
    if (idx->dtype != MT_INT64) return fail(c, "gather(): Expected dtype int64 for index, got %s", mt_dtype_name(idx->dtype));
    int w;
    TRY(wrap_dim(c, d, x, &w));
    if (idx->ndim != x->ndim && !(x->ndim == 0 && idx->ndim <= 1) && !(idx->ndim == 0 && x->ndim <= 1))
        return fail(c, "Index tensor must have the same number of dimensions as input tensor: got input %s, index %s",
                    sh(c, x), sh(c, idx));
    for (int i = 0; i < idx->ndim && i < x->ndim; i++) {
        int64_t a, b;
        if (i != w && is_const(idx->shape[i], &a) && is_const(x->shape[i], &b) && a > b)
            return fail(c, "Size does not match at dimension %d expected index %s to be smaller than self %s apart "
                           "from dimension %d", i, sh(c, idx), sh(c, x), w);
    }
    return emit(c, x->dtype, idx->ndim, idx->shape);
}

/* self.index_add_(dim, index, source, *, alpha=1): in place, returns self.
 * index is a vector; source has self's shape with dim replaced by numel(index). */
static mt_status rule_index_add(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x, *idx, *src;
    TRY(need_tensor(c, "self", &x));
    TRY(need_tensor(c, "index", &idx));
    TRY(need_tensor(c, "source", &src));
    int64_t d;
    TRY(need_int(c, "dim", &d));
    if (!index_dtype(idx->dtype))
        return fail(c, "index_add_(): Expected dtype int32/int64 for index, got %s", mt_dtype_name(idx->dtype));
    if (idx->ndim > 1) return fail(c, "index_add_(): Index is supposed to be a vector: got index %s", sh(c, idx));
    int w;
    TRY(wrap_dim(c, d, x, &w));
    if (src->ndim != x->ndim)
        return fail(c, "index_add_(): source and self must have the same number of dimensions: self %s, source %s",
                    sh(c, x), sh(c, src));
    const mt_sym *n = idx->ndim ? idx->shape[0] : mt_sym_const(c->ctx, 1);
    for (int i = 0; i < x->ndim; i++) {
        const mt_sym *want = i == w ? n : x->shape[i];
        if (src->shape[i] != want)
            return fail(c, "index_add_(): source %s must have self's shape %s with dim %d of size %s (numel of index %s)",
                        sh(c, src), sh(c, x), w, ds(n), sh(c, idx));
    }
    if (src->dtype != x->dtype)
        return fail(c, "index_add_(): self (%s) and source (%s) must have the same scalar type",
                    mt_dtype_name(x->dtype), mt_dtype_name(src->dtype));
    return emit_like(c, x->dtype, x);
}

/* torch.zeros(*size, dtype=None, ...): default dtype float32. */
static mt_status rule_zeros(call *c) {
    TRY(sig_check(c));
    const mt_arg *items;
    int n;
    rest(c, "size", &items, &n);
    if (n > MT_MAX_DIMS) return fail(c, "too many dimensions (%d > %d)", n, MT_MAX_DIMS);
    const mt_sym *r[MT_MAX_DIMS];
    for (int i = 0; i < n; i++) TRY(size_of(c, "size entries", &items[i], &r[i]));
    for (int i = 0; i < n; i++) {
        int64_t v = 0;
        if (is_const(r[i], &v) && v < 0)
            return fail(c, "Trying to create tensor with negative dimension %lld: %s", (long long)v, sizes_s(c, n, r));
    }
    mt_dtype dt;
    TRY(opt_dtype(c, "dtype", &dt));
    return emit(c, dt == MT_DTYPE_NONE ? MT_FLOAT32 : dt, n, r);
}

/* torch.zeros_like(input, *, dtype=None, ...): input's shape, its dtype unless given. */
static mt_status rule_zeros_like(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    mt_dtype dt;
    TRY(opt_dtype(c, "dtype", &dt));
    return emit_like(c, dt == MT_DTYPE_NONE ? x->dtype : dt, x);
}

/* self.scatter_(dim, index, src|value, *, reduce=None): in place, returns self.
 * index has self's rank (int64); a tensor src has index's rank. */
static mt_status rule_scatter(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x, *idx;
    TRY(need_tensor(c, "self", &x));
    TRY(need_tensor(c, "index", &idx));
    int64_t d;
    TRY(need_int(c, "dim", &d));
    int w;
    TRY(wrap_dim(c, d, x, &w));
    if (idx->dtype != MT_INT64) return fail(c, "scatter_(): Expected dtype int64 for index, got %s", mt_dtype_name(idx->dtype));
    if (idx->ndim != x->ndim)
        return fail(c, "Index tensor must have the same number of dimensions as self tensor: self %s, index %s",
                    sh(c, x), sh(c, idx));
    const mt_arg *src = param(c, "src");
    mt_operand op;
    if (!src || !operand_of(src, &op)) return fail_usage(c, "argument 'src' must be a tensor or a number, got %s", kind_name(src));
    if (src->kind == MT_ARG_TENSOR && src->v.t->ndim != idx->ndim)
        return fail(c, "Index tensor must have the same number of dimensions as src tensor: index %s, src %s",
                    sh(c, idx), sh(c, src->v.t));
    if (src->kind == MT_ARG_TENSOR && src->v.t->dtype != x->dtype)
        return fail(c, "scatter(): Expected self.dtype to be equal to src.dtype: got %s and %s",
                    mt_dtype_name(x->dtype), mt_dtype_name(src->v.t->dtype));
    const mt_arg *red = param(c, "reduce");
    if (red && red->kind == MT_ARG_STR && strcmp(red->v.s, "add") != 0 && strcmp(red->v.s, "multiply") != 0)
        return fail(c, "reduce argument must be either add or multiply, got '%s'", red->v.s);
    /* ATen scatter_shape_check: unless index is empty, index.size(d) <= self.size(d)
     * for d != dim and index.size(d) <= src.size(d) for every d. Decided only on known sizes. */
    bool empty = false;
    for (int i = 0; i < idx->ndim; i++) empty = empty || is_c(idx->shape[i], 0);
    for (int i = 0; i < idx->ndim && !empty; i++) {
        int64_t vi, vs;
        if (!is_const(idx->shape[i], &vi)) continue;
        bool bad = i != w && is_const(x->shape[i], &vs) && vi > vs;
        if (src->kind == MT_ARG_TENSOR && is_const(src->v.t->shape[i], &vs) && vi > vs) bad = true;
        if (bad)
            return fail(c, "Expected index %s to be smaller than self %s apart from dimension %d%s%s", sh(c, idx),
                        sh(c, x), w, src->kind == MT_ARG_TENSOR ? " and to be smaller size than src " : "",
                        src->kind == MT_ARG_TENSOR ? sh(c, src->v.t) : "");
    }
    return emit_like(c, x->dtype, x);
}

/* operator.invert (~x): bool and integer tensors only. */
static mt_status rule_invert(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "a", &x));
    if (!mt_dtype_is_integral(x->dtype, true))
        return fail(c, "bitwise_not is only supported for integer and boolean tensors, got %s %s",
                    mt_dtype_name(x->dtype), sh(c, x));
    return emit_like(c, x->dtype, x);
}

/* Tensor.clamp_(min=None, max=None): in place, so the result keeps self's
 * shape and dtype; at least one bound is required (ATen clamp_). */
static mt_status rule_clamp_(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    const mt_arg *lo = param(c, "min"), *hi = param(c, "max");
    bool has_lo = lo && lo->kind != MT_ARG_NONE, has_hi = hi && hi->kind != MT_ARG_NONE;
    if (!has_lo && !has_hi) return fail(c, "torch.clamp: At least one of 'min' or 'max' must not be None");
    const mt_arg *b[2] = {lo, hi};
    for (int i = 0; i < 2; i++) {
        mt_operand op;
        if (b[i] && b[i]->kind != MT_ARG_NONE && !operand_of(b[i], &op))
            return fail_usage(c, "argument '%s' must be a number or a tensor, got %s", i ? "max" : "min",
                              kind_name(b[i]));
        if (b[i] && b[i]->kind == MT_ARG_TENSOR) {
            int nr;
            const mt_sym *r[MT_MAX_DIMS];
            TRY(broadcast(c, x->ndim, x->shape, b[i]->v.t->ndim, b[i]->v.t->shape, &nr, r));
            if (!shapes_equal(nr, r, x->ndim, x->shape))
                return fail(c, "output with shape %s doesn't match the broadcast shape %s", sh(c, x),
                            shape_s(c, nr, r));
        }
    }
    if (x->dtype == MT_BOOL) return fail(c, "clamp is not supported for complex or bool types: got bool %s", sh(c, x));
    if (mt_dtype_is_complex(x->dtype))
        return fail(c, "clamp is not supported for complex types: got %s %s", mt_dtype_name(x->dtype), sh(c, x));
    /* In place: result_type(self, min, max) must be castable to self's dtype
     * (ATen canCast: no float -> integral, complex -> real, non-bool -> bool). */
    mt_operand ops[3];
    int n = 0;
    ops[n].kind = x->ndim ? MT_OPERAND_TENSOR : MT_OPERAND_ZERODIM;
    ops[n++].dtype = x->dtype;
    for (int i = 0; i < 2; i++)
        if (b[i] && b[i]->kind != MT_ARG_NONE && operand_of(b[i], &ops[n])) n++;
    mt_dtype rt = mt_result_type(ops, n);
    if (rt != MT_DTYPE_NONE && mt_dtype_cat(rt) > mt_dtype_cat(x->dtype))
        return fail(c, "result type %s can't be cast to the desired output type %s: got %s %s", mt_dtype_name(rt),
                    mt_dtype_name(x->dtype), mt_dtype_name(x->dtype), sh(c, x));
    return emit_like(c, x->dtype, x);
}

/* Tensor.clamp(min=None, max=None), out of place (gpt-oss experts): at least
 * one bound; bounds are numbers or tensors; the result has the broadcast shape
 * of self and tensor bounds and dtype result_type(self, min, max) (ATen's
 * clamp goes through TensorIterator and promotes: an int tensor with a float
 * bound gives float32). Bool and complex results are refused as in clamp_. */
static mt_status rule_clamp(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    const mt_arg *b[2] = {param(c, "min"), param(c, "max")};
    bool has[2] = {b[0] && b[0]->kind != MT_ARG_NONE, b[1] && b[1]->kind != MT_ARG_NONE};
    if (!has[0] && !has[1]) return fail(c, "torch.clamp: At least one of 'min' or 'max' must not be None");
    mt_operand ops[3];
    int nops = 1;
    ops[0].kind = x->ndim >= 1 ? MT_OPERAND_TENSOR : MT_OPERAND_ZERODIM;
    ops[0].dtype = x->dtype;
    int nr = x->ndim;
    const mt_sym *r[MT_MAX_DIMS];
    for (int d = 0; d < nr; d++) r[d] = x->shape[d];
    for (int i = 0; i < 2; i++) {
        if (!has[i]) continue;
        if (!operand_of(b[i], &ops[nops]))
            return fail_usage(c, "argument '%s' must be a number or a tensor, got %s", i ? "max" : "min",
                              kind_name(b[i]));
        nops++;
        if (b[i]->kind == MT_ARG_TENSOR) {
            int n2;
            const mt_sym *r2[MT_MAX_DIMS];
            TRY(broadcast(c, nr, r, b[i]->v.t->ndim, b[i]->v.t->shape, &n2, r2));
            nr = n2;
            for (int d = 0; d < nr; d++) r[d] = r2[d];
        }
    }
    mt_dtype dt = mt_promote_for_op(c->def->promo, ops, nops);
    if (dt == MT_DTYPE_NONE) return fail(c, "no common dtype for clamp of %s %s", mt_dtype_name(x->dtype), sh(c, x));
    if (dt == MT_BOOL || mt_dtype_is_complex(dt))
        return fail(c, "clamp is not supported for complex or bool types: got %s %s", mt_dtype_name(dt), sh(c, x));
    return emit(c, dt, nr, r);
}

/* ---- Cohere's interleaved rotary: repeat_interleave, stack, flatten ----------
 * Sources: ATen native/Repeat.cpp and TensorShape.cpp (repeat_interleave over
 * an int, stack, flatten), torch/_refs (stack as cat of unsqueezed inputs). */

/* torch.repeat_interleave(input, repeats, dim=None, *, output_size=None) with
 * an int repeats: dim None flattens first (numel * repeats); otherwise the dim
 * grows by the factor. A tensor of repeats gives data-dependent sizes. */
static mt_status rule_repeat_interleave(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    const mt_arg *rep = param(c, "repeats");
    if (!rep) return fail_usage(c, "missing argument 'repeats'");
    if (rep->kind == MT_ARG_TENSOR)
        return fail_unsupported(c, "a tensor of repeats gives data-dependent sizes (not modelled): got %s",
                                sh(c, x));
    const mt_sym *r;
    TRY(size_of(c, "repeats", rep, &r));
    int64_t rv = 0;
    bool negative = is_const(r, &rv) && rv < 0;
    const mt_arg *os = param(c, "output_size");
    if (os && os->kind != MT_ARG_INT && os->kind != MT_ARG_SYM)
        return fail_usage(c, "argument 'output_size' must be an int, got %s", kind_name(os));
    const mt_sym *shape[MT_MAX_DIMS];
    int ndim;
    int w = 0;
    if (!param(c, "dim")) {
        const mt_sym *n = mt_tensor_numel(c->ctx, x);
        if (!n) return sym_failed(c);
        shape[0] = mt_sym_mul(c->ctx, n, r);
        ndim = 1;
    } else {
        int64_t d;
        TRY(need_int(c, "dim", &d));
        if (x->ndim == 0)
            return fail(c, "dimension specified as %lld but tensor has no dimensions", (long long)d);
        TRY(wrap_dim(c, d, x, &w));
        memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
        ndim = x->ndim;
        shape[w] = mt_sym_mul(c->ctx, shape[w], r);
    }
    if (!shape[w]) return sym_failed(c);
    /* ATen fills a repeats tensor of the dim's size and checks it is >= 0: an empty dim passes */
    if (negative && !is_c(shape[w], 0)) return fail(c, "repeats can not be negative, got %lld", (long long)rv);
    if (os) {
        const mt_sym *o;
        TRY(size_of(c, "output_size", os, &o));
        if (o != shape[w])
            return fail(c, "allocated size does not match required size: output_size %s, required %s: got %s",
                        ds(o), ds(shape[w]), sh(c, x));
    }
    return emit(c, x->dtype, ndim, shape);
}

/* torch.stack(tensors, dim=0): every tensor the same shape; the result has a
 * new dim of len(tensors) at dim (in [-(ndim+1), ndim]); dtype as cat. */
static mt_status rule_stack(call *c) {
    TRY(sig_check(c));
    const mt_arg *ts = param(c, "tensors");
    if (!ts || ts->kind != MT_ARG_LIST)
        return fail_usage(c, "argument 'tensors' must be a list of tensors, got %s", kind_name(ts));
    int n = ts->v.list.n;
    const mt_arg *items = ts->v.list.items;
    if (n == 0) return fail(c, "stack expects a non-empty TensorList");
    mt_operand stack_ops[16];
    mt_operand *ops = stack_ops;
    if (n > 16) {
        ops = mt_alloc_array(c->ctx, (size_t)n, sizeof *ops);
        if (!ops) return sym_failed(c);
    }
    for (int i = 0; i < n; i++) {
        if (items[i].kind != MT_ARG_TENSOR || !items[i].v.t)
            return fail_usage(c, "expected a list of tensors, got %s at position %d", kind_name(&items[i]), i);
        operand_of(&items[i], &ops[i]);
    }
    const mt_tensor *t0 = items[0].v.t;
    for (int i = 1; i < n; i++) {
        const mt_tensor *t = items[i].v.t;
        if (!shapes_equal(t0->ndim, t0->shape, t->ndim, t->shape))
            return fail(c, "stack expects each tensor to be equal size, but got %s at entry 0 and %s at entry %d",
                        sh(c, t0), sh(c, t), i);
    }
    if (t0->ndim + 1 > MT_MAX_DIMS)
        return fail(c, "result has too many dimensions (%d > %d)", t0->ndim + 1, MT_MAX_DIMS);
    int64_t d = 0;
    TRY(opt_int(c, "dim", 0, &d));
    int w = 0;
    TRY(wrap_dim_in(c, d, t0->ndim + 1, &w, t0));
    const mt_sym *r[MT_MAX_DIMS];
    for (int k = 0, j = 0; k <= t0->ndim; k++) r[k] = k == w ? mt_sym_const(c->ctx, n) : t0->shape[j++];
    mt_dtype dt = mt_promote_for_op(c->def->promo, ops, n);
    if (dt == MT_DTYPE_NONE) return fail(c, "no common dtype for the stacked tensors");
    return emit(c, dt, t0->ndim + 1, r);
}

/* Tensor.flatten(start_dim=0, end_dim=-1): dims start..end become their
 * product; a 0-dim tensor becomes [1]. */
static mt_status rule_flatten(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    int64_t sd, ed;
    TRY(opt_int(c, "start_dim", 0, &sd));
    TRY(opt_int(c, "end_dim", -1, &ed));
    int s = 0, e = 0;
    TRY(wrap_dim(c, sd, x, &s));
    TRY(wrap_dim(c, ed, x, &e));
    if (s > e) return fail(c, "flatten() has invalid args: start_dim cannot come after end_dim: got %s", sh(c, x));
    if (x->ndim == 0) {
        const mt_sym *one = mt_sym_const(c->ctx, 1);
        return emit(c, x->dtype, 1, &one);
    }
    const mt_sym *r[MT_MAX_DIMS];
    int n = 0;
    for (int k = 0; k < s; k++) r[n++] = x->shape[k];
    r[n++] = mt_sym_prod(c->ctx, x->shape + s, e - s + 1);
    for (int k = e + 1; k < x->ndim; k++) r[n++] = x->shape[k];
    return emit(c, x->dtype, n, r);
}

/* torch.min: the two-tensor form is elementwise like torch.minimum (broadcast,
 * promoted dtype; complex refused); the one-tensor form reduces everything to a
 * 0-d tensor of the input's dtype (refused on an empty input). The dim form
 * (values, indices) is not modelled. */
static mt_status rule_min(call *c) {
    if (c->nargs == 1 && c->nkwargs == 0) {
        static const char *const S1[] = {"input", NULL};
        TRY(sig_check_as(c, S1));
        const mt_tensor *x;
        TRY(need_tensor(c, "input", &x));
        const mt_sym *n = mt_tensor_numel(c->ctx, x);
        int64_t v = 0;
        if (!n) return sym_failed(c);
        if (is_const(n, &v) && v == 0)
            return fail(c, "min(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                           "reduction dim with the 'dim' argument (input %s)",
                        sh(c, x));
        if (mt_dtype_is_complex(x->dtype)) return fail(c, "min(): does not support complex input (input %s)", sh(c, x));
        return emit(c, x->dtype, 0, NULL);
    }
    const mt_arg *b = c->nargs >= 2 ? &c->args[1] : NULL;
    for (int i = 0; i < c->nkwargs; i++)
        if (strcmp(c->kwargs[i].name, "other") == 0) b = &c->kwargs[i].value;
    if (!b || b->kind != MT_ARG_TENSOR)
        return fail_unsupported(c, "only torch.min(input) and torch.min(input, other) are modelled, got %s",
                                b ? kind_name(b) : "keyword arguments");
    const mt_arg *a, *bb;
    mt_operand ops[2];
    TRY(binary_operands(c, &a, &bb, ops));
    if (a->kind != MT_ARG_TENSOR) return fail_usage(c, "expected two tensors, got %s", operand_s(c, a));
    if (mt_dtype_is_complex(a->v.t->dtype) || mt_dtype_is_complex(bb->v.t->dtype))
        return fail(c, "minimum not implemented for complex tensors: got %s and %s", operand_s(c, a),
                    operand_s(c, bb));
    int na = 0, nb = 0, nr = 0;
    const mt_sym *const *sa, *const *sb;
    shape_of_arg(a, &na, &sa);
    shape_of_arg(bb, &nb, &sb);
    const mt_sym *r[MT_MAX_DIMS];
    TRY(broadcast(c, na, sa, nb, sb, &nr, r));
    mt_dtype dt = mt_promote_for_op(c->def->promo, ops, 2);
    if (dt == MT_DTYPE_NONE) return fail(c, "no common dtype for %s and %s", operand_s(c, a), operand_s(c, bb));
    return emit(c, dt, nr, r);
}

/* torch.full_like(input, fill_value, *, dtype=None, ...): input's shape; input's
 * dtype unless dtype is given. */
static mt_status rule_full_like(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    const mt_arg *fill = param(c, "fill_value");
    if (!fill) return fail_usage(c, "missing argument 'fill_value'");
    if (fill->kind != MT_ARG_INT && fill->kind != MT_ARG_FLOAT && fill->kind != MT_ARG_BOOL &&
        fill->kind != MT_ARG_SYM)
        return fail_usage(c, "argument 'fill_value' must be a number, got %s", kind_name(fill));
    mt_dtype dt;
    TRY(opt_dtype(c, "dtype", &dt));
    return emit_like(c, dt == MT_DTYPE_NONE ? x->dtype : dt, x);
}

/* ---- vision ops (SigLIP patch embedding, Gemma 3's projector and merge) -------- */

static bool floating_dtype(mt_dtype d) {
    return d == MT_FLOAT32 || d == MT_FLOAT64 || d == MT_FLOAT16 || d == MT_BFLOAT16;
}

/* An int or a tuple of one or n ints (PyTorch's _pair, _triple): the n values in
 * v; absent (or avg_pool2d's empty stride with dflt >= 0): dflt for each, and
 * *given false. */
static mt_status int_tuple(call *c, const char *name, int64_t dflt, int n, int64_t *v, bool *given) {
    const mt_arg *a = param(c, name);
    *given = false;
    for (int i = 0; i < n; i++) v[i] = dflt;
    if (!a) return MT_OK;
    if (a->kind == MT_ARG_INT) {
        for (int i = 0; i < n; i++) v[i] = a->v.i;
    } else if (a->kind == MT_ARG_LIST && (a->v.list.n == 1 || a->v.list.n == n)) {
        for (int i = 0; i < a->v.list.n; i++)
            if (a->v.list.items[i].kind != MT_ARG_INT)
                return fail_usage(c, "argument '%s' must be an int or a tuple of ints, got a %s item", name,
                                  kind_name(&a->v.list.items[i]));
        for (int i = 0; i < n; i++) v[i] = a->v.list.items[a->v.list.n == 1 ? 0 : i].v.i;
    } else if (a->kind == MT_ARG_LIST && a->v.list.n == 0 && dflt >= 0) {
        return MT_OK; /* avg_pool2d's stride=[]: the kernel size */
    } else {
        return fail_usage(c, "argument '%s' must be an int or a tuple of 1 or %d ints, got %s", name, n, kind_name(a));
    }
    *given = true;
    return MT_OK;
}

/* _pair: int_tuple of two. */
static mt_status int_pair(call *c, const char *name, int64_t dflt, int64_t v[2], bool *given) {
    return int_tuple(c, name, dflt, 2, v, given);
}

/* floor((in + 2*pad - dil*(k-1) - 1) / stride) + 1: a convolution's or a
 * pooling window's output size along one dim, the kernel size k a constant or
 * a symbol. *cv gets the size when it is a constant (1 otherwise: a constant
 * below 1 is an error in the callers). ceil: PyTorch's pooling ceil_mode
 * (constants only). */
static mt_status window_out(call *c, const mt_sym *in, int64_t pad, int64_t dil, const mt_sym *k, int64_t stride,
                            bool ceil, const mt_sym **out, int64_t *cv) {
    int64_t iv, kv;
    *cv = 1;
    if (is_const(in, &iv) && is_const(k, &kv)) {
        int64_t num = iv + 2 * pad - dil * (kv - 1) - 1 + (ceil ? stride - 1 : 0);
        int64_t q = num >= 0 ? num / stride : -((-num + stride - 1) / stride);
        int64_t o = q + 1;
        if (ceil && (o - 1) * stride >= iv + pad) o--;
        *cv = o;
        *out = mt_sym_const(c->ctx, o);
        return *out ? MT_OK : sym_failed(c);
    }
    if (ceil) return fail_unsupported(c, "ceil_mode=True over a symbolic size %s is not modelled", ds(in));
    /* (in + 2 pad) - (dil k + 1 - dil): the span of the dilated kernel */
    const mt_sym *span = mt_sym_add_const(c->ctx, mt_sym_mul_const(c->ctx, k, dil), 1 - dil);
    const mt_sym *num = span ? mt_sym_sub(c->ctx, mt_sym_add_const(c->ctx, in, 2 * pad), span) : NULL;
    const mt_sym *q = num && stride != 1 ? mt_sym_floordiv(c->ctx, num, stride) : num;
    *out = q ? mt_sym_add_const(c->ctx, q, 1) : NULL;
    if (*out && is_const(*out, cv)) return MT_OK;
    *cv = 1;
    return *out ? MT_OK : sym_failed(c);
}

/* F.conv2d / F.conv3d (nsp = 2 or 3 spatial dims): input [N, C, *spatial] or
 * [C, *spatial], weight [O, C/groups, *kernel], bias [O], stride, padding (ints
 * or 'valid'/'same'), dilation, groups -> [N, O, *out]. */
static mt_status conv_nd(call *c, int nsp) {
    TRY(sig_check(c));
    const char *op = nsp == 2 ? "conv2d" : "conv3d";
    const mt_tensor *x, *w, *b;
    TRY(need_tensor(c, "input", &x));
    TRY(need_tensor(c, "weight", &w));
    TRY(opt_tensor(c, "bias", &b));
    if (x->ndim != nsp + 1 && x->ndim != nsp + 2)
        return fail(c, "Expected %dD (unbatched) or %dD (batched) input to %s, but got input of size: %s", nsp + 1,
                    nsp + 2, op, sh(c, x));
    if (w->ndim != nsp + 2)
        return fail(c, "weight should have %d dimensions [out, in/groups, %s]: got input %s and weight %s", nsp + 2,
                    nsp == 2 ? "kh, kw" : "kt, kh, kw", sh(c, x), sh(c, w));
    if (x->dtype != w->dtype || (b && b->dtype != x->dtype))
        return fail(c, "Input type (%s), weight type (%s) and bias type (%s) should be the same: input %s, weight %s",
                    mt_dtype_name(x->dtype), mt_dtype_name(w->dtype), b ? mt_dtype_name(b->dtype) : "None", sh(c, x),
                    sh(c, w));
    if (!floating_dtype(x->dtype))
        return fail_unsupported(c, "%s of a %s input is not modelled (floating dtypes only): input %s", op,
                                mt_dtype_name(x->dtype), sh(c, x));
    int64_t stride[3], dil[3], pad[3] = {0, 0, 0}, groups;
    bool given;
    TRY(int_tuple(c, "stride", 1, nsp, stride, &given));
    TRY(int_tuple(c, "dilation", 1, nsp, dil, &given));
    TRY(opt_int(c, "groups", 1, &groups));
    const mt_arg *pa = param(c, "padding");
    bool same = false;
    if (pa && pa->kind == MT_ARG_STR) {
        if (strcmp(pa->v.s, "same") == 0) same = true;
        else if (strcmp(pa->v.s, "valid") != 0)
            return fail_usage(c, "Invalid padding string '%s' (expected 'valid' or 'same')", pa->v.s);
    } else {
        TRY(int_tuple(c, "padding", 0, nsp, pad, &given));
    }
    bool strided = false;
    for (int i = 0; i < nsp; i++) {
        if (stride[i] <= 0) return fail(c, "non-positive stride is not supported");
        if (stride[i] != 1) strided = true;
    }
    for (int i = 0; i < nsp; i++)
        if (dil[i] <= 0) return fail(c, "dilation should be greater than zero");
    for (int i = 0; i < nsp; i++)
        if (pad[i] < 0) return fail(c, "negative padding is not supported");
    if (groups <= 0) return fail(c, "non-positive groups is not supported");
    if (same && strided) return fail(c, "padding='same' is not supported for strided convolutions");
    int64_t k[3], in_w, out_c;
    for (int i = 0; i < nsp; i++)
        if (!is_const(w->shape[2 + i], &k[i]))
            return fail_unsupported(c, "a weight with symbolic dims is not modelled: weight %s", sh(c, w));
    if (!is_const(w->shape[1], &in_w) || !is_const(w->shape[0], &out_c))
        return fail_unsupported(c, "a weight with symbolic dims is not modelled: weight %s", sh(c, w));
    int cd = x->ndim - nsp - 1; /* channel dim */
    const mt_sym *want_c = mt_sym_const(c->ctx, in_w * groups);
    if (!want_c) return sym_failed(c);
    if (x->shape[cd] != want_c)
        return fail(c, "Given groups=%lld, weight of size %s, expected input%s to have %lld channels, but got %s "
                       "channels instead",
                    (long long)groups, sh(c, w), sh(c, x), (long long)(in_w * groups), ds(x->shape[cd]));
    if (out_c % groups != 0)
        return fail(c, "Given groups=%lld, expected weight to be divisible by %lld at dimension 0, but got weight of "
                       "size %s instead",
                    (long long)groups, (long long)groups, sh(c, w));
    if (b && (b->ndim != 1 || !is_c(b->shape[0], out_c)))
        return fail(c, "Given weight of size %s, expected bias to be 1-dimensional with %lld elements, but got bias of "
                       "size %s instead",
                    sh(c, w), (long long)out_c, sh(c, b));
    const mt_sym *r[5];
    int n = 0;
    if (x->ndim == nsp + 2) r[n++] = x->shape[0];
    r[n++] = w->shape[0];
    for (int i = 0; i < nsp; i++) {
        const mt_sym *in = x->shape[cd + 1 + i];
        int64_t iv, cv;
        if (is_const(in, &iv) && iv + 2 * pad[i] < dil[i] * (k[i] - 1) + 1)
            return fail(c, "Calculated padded input size per channel: (%lld). Kernel size: (%lld). Kernel size can't "
                           "be greater than actual input size: input %s, weight %s",
                        (long long)(iv + 2 * pad[i]), (long long)(dil[i] * (k[i] - 1) + 1), sh(c, x), sh(c, w));
        if (same) {
            r[n++] = in;
            continue;
        }
        TRY(window_out(c, in, pad[i], dil[i], mt_sym_const(c->ctx, k[i]), stride[i], false, &r[n], &cv));
        n++;
    }
    return emit(c, x->dtype, n, r);
}

static mt_status rule_conv2d(call *c) { return conv_nd(c, 2); }

/* F.conv3d: Qwen2.5-VL's patch embedding (nn.Conv3d over [patches, C, T, P, P] with
 * kernel = stride = (T, P, P)); the rule of conv2d over three spatial dims. */
static mt_status rule_conv3d(call *c) { return conv_nd(c, 3); }

/* self.unbind(dim=0): a tuple of self.size(dim) views with dim removed. The size
 * must be a constant (the number of outputs). */
static mt_status rule_unbind(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    int64_t d = 0, nv;
    TRY(opt_int(c, "dim", 0, &d));
    if (x->ndim == 0) return fail(c, "Dimension specified as %lld but tensor has no dimensions", (long long)d);
    int w = 0;
    TRY(wrap_dim(c, d, x, &w));
    if (!is_const(x->shape[w], &nv))
        return fail_unsupported(c, "unbind over a symbolic dim %s (a data-dependent count of outputs) is not "
                                   "modelled: got %s",
                                ds(x->shape[w]), sh(c, x));
    if (nv > MT_MAX_OUTS)
        return fail(c, "would produce %lld outputs (at most %d are supported): got %s", (long long)nv, MT_MAX_OUTS,
                    sh(c, x));
    const mt_sym *r[MT_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != w) r[n++] = x->shape[i];
    for (int64_t i = 0; i < nv; i++) TRY(emit(c, x->dtype, n, r));
    *c->is_tuple = true;
    return MT_OK;
}

/* torch.outer(input, vec2): two 1-D tensors [n], [m] -> [n, m], the promoted dtype
 * (Qwen2.5-VL's vision rotary: torch.outer(seq, inv_freq)). */
static mt_status rule_outer(call *c) {
    TRY(sig_check(c));
    const mt_tensor *a, *b;
    TRY(need_tensor(c, "input", &a));
    TRY(need_tensor(c, "vec2", &b));
    if (a->ndim != 1 || b->ndim != 1)
        return fail(c, "outer: expected 1-D tensors, but got %s and %s", sh(c, a), sh(c, b));
    if (a->dtype == MT_BOOL && b->dtype == MT_BOOL)
        return fail_unsupported(c, "outer of two bool tensors is not modelled: got %s and %s", sh(c, a), sh(c, b));
    mt_dtype dt = mt_promote_types(a->dtype, b->dtype);
    const mt_sym *r[2] = {a->shape[0], b->shape[0]};
    return emit(c, dt, 2, r);
}

/* torch.argsort(input, dim=-1, descending=False, stable=False): int64 indices of
 * input's shape (Qwen2.5-VL's reverse of its window index). */
static mt_status rule_argsort(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    int64_t d = -1;
    bool desc = false, stable = false;
    TRY(opt_int(c, "dim", -1, &d));
    TRY(opt_bool(c, "descending", false, &desc));
    TRY(opt_bool(c, "stable", false, &stable));
    int w = 0;
    if (x->ndim > 0) TRY(wrap_dim(c, d, x, &w));
    else if (d != 0 && d != -1)
        return fail(c, "Dimension out of range (expected to be in range of [-1, 0], but got %lld)", (long long)d);
    if (mt_dtype_is_complex(x->dtype))
        return fail(c, "argsort of a complex tensor: sort does not support complex inputs: got %s", sh(c, x));
    return emit(c, MT_INT64, x->ndim, x->shape);
}

/* torch.std(input, dim=None, unbiased=True, keepdim=False, *, correction=None): the
 * standard deviation over dim (every dim when None), the overloads' arguments by
 * name (unbiased and correction are two overloads' and exclusive); a floating or
 * complex input, the result real (Gemma 3n's activation sparsity:
 * torch.std(x, dim=-1, keepdim=True, unbiased=False)). */
static mt_status rule_std(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    bool keepdim = false, unbiased = true, has_corr = false;
    double corr = 1;
    TRY(opt_bool(c, "keepdim", false, &keepdim));
    TRY(opt_bool(c, "unbiased", true, &unbiased));
    const mt_arg *ca = param(c, "correction");
    if (ca && ca->kind != MT_ARG_NONE) TRY(opt_number(c, "correction", &corr, &has_corr));
    if (has_corr && param(c, "unbiased"))
        return fail_usage(c, "std() received an invalid combination of arguments: 'unbiased' and 'correction' "
                             "belong to two overloads");
    if (!mt_dtype_is_floating(x->dtype) && !mt_dtype_is_complex(x->dtype))
        return fail(c, "std and var only support floating point and complex dtypes: got %s %s",
                    mt_dtype_name(x->dtype), sh(c, x));
    bool reduced[MT_MAX_DIMS];
    TRY(reduce_dims(c, x, param(c, "dim"), reduced));
    mt_dtype out = x->dtype == MT_COMPLEX64 ? MT_FLOAT32 : x->dtype; /* the real part's dtype */
    return emit_reduced(c, x, reduced, keepdim, out);
}

/* torch.tensor(data, *, dtype=None, ...) of a Python number: a 0-d tensor, float32
 * (the default dtype) for a float, int64 for an int, bool for a bool, unless dtype
 * is given (Gemma 3n's torch.tensor(1e-5)). A list of data is not modelled. */
static mt_status rule_tensor(call *c) {
    TRY(sig_check(c));
    const mt_arg *d = param(c, "data");
    if (!d) return fail_usage(c, "tensor() missing required argument 'data'");
    mt_dtype dt;
    TRY(opt_dtype(c, "dtype", &dt));
    bool rg = false;
    TRY(opt_bool(c, "requires_grad", false, &rg));
    mt_dtype inferred;
    if (d->kind == MT_ARG_FLOAT) inferred = MT_FLOAT32;
    else if (d->kind == MT_ARG_INT) inferred = MT_INT64;
    else if (d->kind == MT_ARG_BOOL) inferred = MT_BOOL;
    else if (d->kind == MT_ARG_LIST || d->kind == MT_ARG_TENSOR)
        return fail_unsupported(c, "torch.tensor of a %s is not modelled (a Python number only)", kind_name(d));
    else
        return fail_usage(c, "new(): invalid data type '%s'", kind_name(d));
    mt_dtype out = dt == MT_DTYPE_NONE ? inferred : dt;
    if (rg && !mt_dtype_is_floating(out) && !mt_dtype_is_complex(out))
        return fail(c, "Only Tensors of floating point and complex dtype can require gradients: got %s",
                    mt_dtype_name(out));
    return emit(c, out, 0, NULL);
}

/* F.avg_pool2d(input [N, C, H, W] or [C, H, W], kernel_size, stride=None (= kernel),
 * padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None). */
static mt_status rule_avg_pool2d(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    int64_t k[2], s[2], p[2], div;
    bool given, ceil, incl;
    if (!param(c, "kernel_size")) return fail_usage(c, "missing argument 'kernel_size'");
    TRY(int_pair(c, "kernel_size", 0, k, &given));
    TRY(int_pair(c, "stride", 0, s, &given));
    if (!given) s[0] = k[0], s[1] = k[1];
    TRY(int_pair(c, "padding", 0, p, &given));
    TRY(opt_bool(c, "ceil_mode", false, &ceil));
    TRY(opt_bool(c, "count_include_pad", true, &incl));
    TRY(opt_int(c, "divisor_override", 1, &div));
    if (div == 0) return fail(c, "divisor must be not zero");
    if (k[0] <= 0 || k[1] <= 0)
        return fail(c, "kernel size should be greater than zero, but got kH: %lld kW: %lld", (long long)k[0],
                    (long long)k[1]);
    if (s[0] <= 0 || s[1] <= 0)
        return fail(c, "stride should be greater than zero, but got dH: %lld dW: %lld", (long long)s[0],
                    (long long)s[1]);
    if (p[0] < 0 || p[1] < 0 || p[0] > k[0] / 2 || p[1] > k[1] / 2)
        return fail(c, "pad should be at most half of effective kernel size, but got pad=%lld, kernel_size=%lld",
                    (long long)(p[0] > k[0] / 2 || p[0] < 0 ? p[0] : p[1]),
                    (long long)(p[0] > k[0] / 2 || p[0] < 0 ? k[0] : k[1]));
    if (x->ndim != 3 && x->ndim != 4)
        return fail(c, "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got: %s",
                    sh(c, x));
    if (!floating_dtype(x->dtype))
        return fail_unsupported(c, "avg_pool2d of a %s input is not modelled (floating dtypes only): input %s",
                                mt_dtype_name(x->dtype), sh(c, x));
    const mt_sym *r[4];
    int n = 0;
    for (int i = 0; i < x->ndim - 2; i++) r[n++] = x->shape[i];
    for (int i = 0; i < 2; i++) {
        int64_t cv;
        TRY(window_out(c, x->shape[x->ndim - 2 + i], p[i], 1, mt_sym_const(c->ctx, k[i]), s[i], ceil, &r[n], &cv));
        if (cv < 1)
            return fail(c, "Given input size: %s. Calculated output size: %lld. Output size is too small", sh(c, x),
                        (long long)cv);
        n++;
    }
    return emit(c, x->dtype, n, r);
}

/* self.masked_scatter(mask, source): self and mask broadcast (out of place:
 * expand_outplace, then clone and masked_scatter_), self's dtype; mask must be
 * bool and source of self's dtype. How many elements of source are read is the
 * mask's count of trues, known only with the data (source must hold at least
 * that many; not checkable here). */
static mt_status rule_masked_scatter(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x, *mask, *src;
    TRY(need_tensor(c, "self", &x));
    TRY(need_tensor(c, "mask", &mask));
    TRY(need_tensor(c, "source", &src));
    if (mask->dtype != MT_BOOL)
        return fail(c, "masked_scatter_ only supports boolean masks, but got mask with dtype %s: self %s, mask %s",
                    mt_dtype_name(mask->dtype), sh(c, x), sh(c, mask));
    if (src->dtype != x->dtype)
        return fail(c, "masked_scatter_: expected self and source to have same dtypes but got %s and %s: self %s, "
                       "source %s",
                    mt_dtype_name(x->dtype), mt_dtype_name(src->dtype), sh(c, x), sh(c, src));
    const mt_sym *r[MT_MAX_DIMS];
    int nr = 0;
    TRY(broadcast(c, x->ndim, x->shape, mask->ndim, mask->shape, &nr, r));
    return emit(c, x->dtype, nr, r);
}

/* ---- Mamba-2 mixer: conv1d, pad, softplus -----------------------------------
 * Sources: ATen native/Convolution.cpp (conv_output_size, check_shape_forward),
 * torch/nn/functional.py (pad: _pad_circular and the constant path, softplus),
 * native/PadNd.cpp (constant_pad_nd). */

/* An int or a one-int list (conv1d's stride / padding / dilation). */
static mt_status conv_int(call *c, const char *name, int64_t dflt, int64_t *v) {
    const mt_arg *a = param(c, name);
    *v = dflt;
    if (!a) return MT_OK;
    if (a->kind == MT_ARG_LIST) {
        if (a->v.list.n != 1)
            return fail(c, "expected %s to be a single integer value or a list of 1 values to match the convolution "
                           "dimensions, but got %s=[%d values]",
                        name, name, a->v.list.n);
        a = &a->v.list.items[0];
    }
    return int_of(c, name, a, v);
}

/* F.conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
 * input [N, C_in, L] (or unbatched [C_in, L]), weight [C_out, C_in / groups, K],
 * bias [C_out]; L_out = (L + 2 padding - dilation (K - 1) - 1) // stride + 1.
 * padding may be "valid" (0) or "same" (stride 1 only; L_out = L). */
static mt_status rule_conv1d(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x, *w, *b;
    TRY(need_tensor(c, "input", &x));
    TRY(need_tensor(c, "weight", &w));
    TRY(opt_tensor(c, "bias", &b));
    int64_t stride, dil, groups, pad = 0;
    TRY(conv_int(c, "stride", 1, &stride));
    TRY(conv_int(c, "dilation", 1, &dil));
    TRY(opt_int(c, "groups", 1, &groups));
    const mt_arg *pa = param(c, "padding");
    bool same = false;
    if (pa && pa->kind == MT_ARG_STR) {
        if (strcmp(pa->v.s, "same") == 0) same = true;
        else if (strcmp(pa->v.s, "valid") != 0)
            return fail(c, "Invalid padding string '%s', should be one of {'valid', 'same'}", pa->v.s);
    } else {
        TRY(conv_int(c, "padding", 0, &pad));
    }
    if (stride <= 0) return fail(c, "non-positive stride is not supported: got stride=%lld", (long long)stride);
    if (dil <= 0) return fail(c, "dilation should be greater than zero: got dilation=%lld", (long long)dil);
    if (pad < 0) return fail(c, "negative padding is not supported: got padding=%lld", (long long)pad);
    if (groups <= 0) return fail(c, "non-positive groups is not supported: got groups=%lld", (long long)groups);
    if (same && stride != 1) return fail(c, "padding='same' is not supported for strided convolutions");
    if (x->ndim != 2 && x->ndim != 3)
        return fail(c, "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: %s", sh(c, x));
    if (w->ndim != 3)
        return fail(c, "weight should have 3 dimensions [out_channels, in_channels / groups, kernel_size]: got weight %s",
                    sh(c, w));
    if (x->dtype != w->dtype)
        return fail(c, "Input type (%s) and weight type (%s) should be the same: got %s and %s",
                    mt_dtype_name(x->dtype), mt_dtype_name(w->dtype), sh(c, x), sh(c, w));
    /* integer inputs run (the CPU kernels of the reference libtorch accept them); bool has no kernel */
    if (x->dtype == MT_BOOL)
        return fail(c, "conv1d has no bool kernel: got bool %s", sh(c, x));
    const mt_sym *cin = x->shape[x->ndim - 2], *len = x->shape[x->ndim - 1];
    const mt_sym *cout = w->shape[0], *wcin = w->shape[1], *k = w->shape[2];
    const mt_sym *need = mt_sym_mul_const(c->ctx, wcin, groups);
    if (!need) return sym_failed(c);
    if (need != cin)
        return fail(c, "Given groups=%lld, weight of size %s, expected input %s to have %s channels, but got %s "
                       "channels instead",
                    (long long)groups, sh(c, w), sh(c, x), ds(need), ds(cin));
    int64_t co = 0;
    if (is_const(cout, &co) && co % groups != 0)
        return fail(c, "Given groups=%lld, expected weight to be divisible by %lld at dimension 0, but got weight of "
                       "size %s instead",
                    (long long)groups, (long long)groups, sh(c, w));
    if (b) {
        if (b->ndim != 1 || b->shape[0] != cout)
            return fail(c, "Given weight of size %s, expected bias to be 1-dimensional with %s elements, but got bias "
                           "of size %s instead",
                        sh(c, w), ds(cout), sh(c, b));
        if (b->dtype != x->dtype)
            return fail(c, "Input type (%s) and bias type (%s) should be the same", mt_dtype_name(x->dtype),
                        mt_dtype_name(b->dtype));
    }
    const mt_sym *out = len;
    if (!same) {
        int64_t ov;
        TRY(window_out(c, len, pad, dil, k, stride, false, &out, &ov));
        if (ov <= 0)
            return fail(c, "Calculated output size (%lld) is too small: input %s, kernel %s, padding %lld",
                        (long long)ov, sh(c, x), ds(k), (long long)pad);
    }
    const mt_sym *r[3];
    int nr = 0;
    if (x->ndim == 3) r[nr++] = x->shape[0];
    r[nr++] = cout;
    r[nr++] = out;
    return emit(c, x->dtype, nr, r);
}

/* F.pad(input, pad, mode="constant", value=None): pad holds (left, right) pairs
 * from the last dim backwards, at most 2 * ndim entries; each padded dim grows
 * by left + right (negative entries crop). Only the constant mode is modelled. */
static mt_status rule_pad(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    const mt_arg *pa = param(c, "pad");
    if (!pa || pa->kind != MT_ARG_LIST) return fail_usage(c, "argument 'pad' must be a tuple of ints, got %s", kind_name(pa));
    const mt_arg *mode = param(c, "mode");
    if (mode && mode->kind != MT_ARG_STR) return fail_usage(c, "argument 'mode' must be a str, got %s", kind_name(mode));
    if (mode && strcmp(mode->v.s, "constant") != 0)
        return fail_unsupported(c, "padding mode '%s' is not modelled (only 'constant'): got %s", mode->v.s, sh(c, x));
    const mt_arg *val = param(c, "value");
    if (val && val->kind != MT_ARG_INT && val->kind != MT_ARG_FLOAT && val->kind != MT_ARG_BOOL)
        return fail_usage(c, "argument 'value' must be a number, got %s", kind_name(val));
    int n = pa->v.list.n;
    if (n % 2 != 0) return fail(c, "Padding length must be divisible by 2: got %d entries", n);
    if (n / 2 > x->ndim)
        return fail(c, "Padding length should be less than or equal to two times the input dimension but got padding "
                       "length %d and input of dimension %d: got %s",
                    n, x->ndim, sh(c, x));
    const mt_sym *r[MT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) r[i] = x->shape[i];
    for (int i = 0; i < n / 2; i++) {
        const mt_sym *lo, *hi;
        TRY(size_of(c, "pad entries", &pa->v.list.items[2 * i], &lo));
        TRY(size_of(c, "pad entries", &pa->v.list.items[2 * i + 1], &hi));
        int d = x->ndim - 1 - i;
        const mt_sym *grown = mt_sym_add(c->ctx, mt_sym_add(c->ctx, r[d], lo), hi);
        if (!grown) return sym_failed(c);
        int64_t v = 0;
        if (is_const(grown, &v) && v < 0)
            return fail(c, "The input size %s, plus negative padding %s and %s resulted in a negative output size, "
                           "which is invalid. Check dimension %d of your input: got %s",
                        ds(r[d]), ds(lo), ds(hi), d, sh(c, x));
        r[d] = grown;
    }
    return emit(c, x->dtype, x->ndim, r);
}

/* F.softplus(input, beta=1.0, threshold=20.0): same shape and dtype; floating
 * inputs only (ATen "softplus_cpu" has no integral or complex kernel). */
static mt_status rule_softplus(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    double v = 0;
    bool set = false;
    TRY(opt_number(c, "beta", &v, &set));
    TRY(opt_number(c, "threshold", &v, &set));
    if (!mt_dtype_is_floating(x->dtype))
        return fail(c, "\"softplus_cpu\" not implemented for '%s': got %s %s", mt_dtype_name(x->dtype),
                    mt_dtype_name(x->dtype), sh(c, x));
    return emit_like(c, x->dtype, x);
}

/* ---- Llama 4 ops ---------------------------------------------------------------
 * torch.bmm (the fused experts), Tensor.repeat (the routed input), and the
 * complex rotary of Llama4TextRotaryEmbedding / apply_rotary_emb: polar,
 * view_as_complex, view_as_real. complex64 is the only complex dtype we have:
 * where PyTorch would make complex32 (half) or complex128 (double) the call is
 * unsupported, not wrong. floor and log1p (attention temperature tuning) and
 * operator.floordiv (the chunked attention mask). */

/* torch.bmm(input, mat2): [b, n, m] @ [b, m, p] -> [b, n, p]; no broadcasting,
 * equal dtypes, no Bool kernel. */
static mt_status rule_bmm(call *c) {
    TRY(sig_check(c));
    const mt_tensor *a, *b;
    TRY(need_tensor(c, "input", &a));
    TRY(need_tensor(c, "mat2", &b));
    if (a->ndim != 3) return fail(c, "batch1 must be a 3D tensor: got %s and %s", sh(c, a), sh(c, b));
    if (b->ndim != 3) return fail(c, "batch2 must be a 3D tensor: got %s and %s", sh(c, a), sh(c, b));
    if (a->shape[0] != b->shape[0] || a->shape[2] != b->shape[1])
        return fail(c, "Expected size for first two dimensions of batch2 tensor to be: [%s, %s] but got: [%s, %s]: "
                       "got %s and %s",
                    ds(a->shape[0]), ds(a->shape[2]), ds(b->shape[0]), ds(b->shape[1]), sh(c, a), sh(c, b));
    if (a->dtype != b->dtype)
        return fail(c, "expected scalar type %s but found %s: got %s and %s", mt_dtype_name(a->dtype),
                    mt_dtype_name(b->dtype), sh(c, a), sh(c, b));
    if (a->dtype == MT_BOOL) return fail(c, "\"bmm\" not implemented for 'Bool': got %s and %s", sh(c, a), sh(c, b));
    const mt_sym *r[3] = {a->shape[0], a->shape[1], b->shape[2]};
    return emit(c, a->dtype, 3, r);
}

/* Tensor.repeat(*repeats): at least ndim repeats; the shape, padded with leading
 * 1s to that many dims, multiplied by them dim by dim. */
static mt_status rule_repeat(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    const mt_arg *items;
    int n = 0;
    rest(c, "repeats", &items, &n);
    if (n > MT_MAX_DIMS) return fail(c, "too many repeats (%d > %d)", n, MT_MAX_DIMS);
    const mt_sym *t[MT_MAX_DIMS], *r[MT_MAX_DIMS];
    for (int i = 0; i < n; i++) TRY(size_of(c, "repeats", &items[i], &t[i]));
    if (n < x->ndim)
        return fail(c, "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor: "
                       "repeats %s, tensor %s",
                    sizes_s(c, n, t), sh(c, x));
    for (int i = 0; i < n; i++) {
        int64_t v = 0;
        if (is_const(t[i], &v) && v < 0)
            return fail(c, "Trying to create tensor with negative dimension %lld: repeats %s, tensor %s", (long long)v,
                        sizes_s(c, n, t), sh(c, x));
        int j = i - (n - x->ndim);
        r[i] = j < 0 ? t[i] : mt_sym_mul(c->ctx, x->shape[j], t[i]);
        if (!r[i]) return sym_failed(c);
    }
    return emit(c, x->dtype, n, r);
}

/* The complex dtype of a real one, as view_as_complex and polar make it:
 * float32 -> complex64; half (complex32) and double (complex128) exist in
 * PyTorch but not here. */
static mt_status complex_of(call *c, const mt_tensor *x, mt_dtype *out) {
    if (x->dtype == MT_FLOAT32) {
        *out = MT_COMPLEX64;
        return MT_OK;
    }
    return fail_unsupported(c, "the result would be %s, which metatrace does not model (only complex64): got %s %s",
                            x->dtype == MT_FLOAT16 ? "complex32" : "complex128", mt_dtype_name(x->dtype), sh(c, x));
}

static bool half_float_double(mt_dtype d) { return d == MT_FLOAT16 || d == MT_FLOAT32 || d == MT_FLOAT64; }

/* torch.polar(abs, angle): both Half, Float or Double of one dtype (ATen
 * complex_check_dtype); broadcast shape; the complex dtype of that precision. */
static mt_status rule_polar(call *c) {
    TRY(sig_check(c));
    const mt_tensor *a, *b;
    TRY(need_tensor(c, "abs", &a));
    TRY(need_tensor(c, "angle", &b));
    if (!half_float_double(a->dtype) || !half_float_double(b->dtype))
        return fail(c, "Expected both inputs to be Half, Float or Double tensors but got %s and %s: abs %s, angle %s",
                    mt_dtype_name(a->dtype), mt_dtype_name(b->dtype), sh(c, a), sh(c, b));
    if (a->dtype != b->dtype)
        return fail(c, "Expected object of scalar type %s but got scalar type %s for second argument: abs %s, angle %s",
                    mt_dtype_name(a->dtype), mt_dtype_name(b->dtype), sh(c, a), sh(c, b));
    const mt_sym *r[MT_MAX_DIMS];
    int nr = 0;
    TRY(broadcast(c, a->ndim, a->shape, b->ndim, b->shape, &nr, r));
    mt_dtype dt;
    TRY(complex_of(c, a, &dt));
    return emit(c, dt, nr, r);
}

/* torch.view_as_complex(input): Half, Float or Double [..., 2] -> complex
 * [...] (strides are not modelled: the stride checks are not made). */
static mt_status rule_view_as_complex(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    if (!half_float_double(x->dtype))
        return fail(c, "view_as_complex is only supported for half, float and double tensors, but got a tensor of "
                       "scalar type: %s: got %s",
                    mt_dtype_name(x->dtype), sh(c, x));
    if (x->ndim == 0) return fail(c, "Input tensor must have one or more dimensions: got %s", sh(c, x));
    if (!is_c(x->shape[x->ndim - 1], 2))
        return fail(c, "Tensor must have a last dimension of size 2: got %s", sh(c, x));
    mt_dtype dt;
    TRY(complex_of(c, x, &dt));
    return emit(c, dt, x->ndim - 1, x->shape);
}

/* torch.view_as_real(input): complex [...] -> the real dtype of its precision
 * [..., 2]. */
static mt_status rule_view_as_real(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    if (!mt_dtype_is_complex(x->dtype))
        return fail(c, "view_as_real is only supported for complex tensors: got %s %s", mt_dtype_name(x->dtype),
                    sh(c, x));
    if (x->ndim + 1 > MT_MAX_DIMS) return fail(c, "result has too many dimensions: got %s", sh(c, x));
    const mt_sym *r[MT_MAX_DIMS];
    memcpy(r, x->shape, (size_t)x->ndim * sizeof *r);
    r[x->ndim] = mt_sym_const(c->ctx, 2);
    return emit(c, MT_FLOAT32, x->ndim + 1, r);
}

/* torch.floor(input): same shape and dtype (integral inputs are copied);
 * complex and bool are refused. */
static mt_status rule_floor(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    if (mt_dtype_is_complex(x->dtype))
        return fail(c, "floor is not supported for complex inputs: got %s %s", mt_dtype_name(x->dtype), sh(c, x));
    if (x->dtype == MT_BOOL) return fail(c, "\"floor_vml_cpu\" not implemented for 'Bool': got bool %s", sh(c, x));
    return emit_like(c, x->dtype, x);
}

/* Tensor.add_(other, *, alpha=1) (Llama4TextMoe: out.add_(routed)): in place,
 * so other must broadcast into self's shape and result_type(self, other) must
 * cast to self's dtype (ATen canCast); integral results take no float alpha;
 * returns self. */
static mt_status rule_add_(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "self", &x));
    const mt_arg *o = param(c, "other"), *alpha = param(c, "alpha");
    mt_operand ops[2];
    if (!o || !operand_of(o, &ops[1]))
        return fail_usage(c, "argument 'other' must be a tensor or a number, got %s", kind_name(o));
    ops[0].kind = x->ndim ? MT_OPERAND_TENSOR : MT_OPERAND_ZERODIM;
    ops[0].dtype = x->dtype;
    if (alpha && alpha->kind != MT_ARG_NONE && alpha->kind != MT_ARG_INT && alpha->kind != MT_ARG_FLOAT &&
        alpha->kind != MT_ARG_BOOL && alpha->kind != MT_ARG_SYM)
        return fail_usage(c, "argument 'alpha' must be a number, got %s", kind_name(alpha));
    if (o->kind == MT_ARG_TENSOR) {
        int nr;
        const mt_sym *r[MT_MAX_DIMS];
        TRY(broadcast(c, x->ndim, x->shape, o->v.t->ndim, o->v.t->shape, &nr, r));
        if (!shapes_equal(nr, r, x->ndim, x->shape))
            return fail(c, "output with shape %s doesn't match the broadcast shape %s", sh(c, x), shape_s(c, nr, r));
    }
    mt_dtype rt = mt_result_type(ops, 2);
    /* complex64 with float64 computes in complex128 (not a metatrace dtype), cast back into self */
    if (rt == MT_DTYPE_NONE && mt_dtype_is_complex(x->dtype)) rt = x->dtype;
    if (rt == MT_DTYPE_NONE) return fail(c, "no common dtype for %s and %s", sh(c, x), operand_s(c, o));
    if (mt_dtype_cat(rt) > mt_dtype_cat(x->dtype))
        return fail(c, "result type %s can't be cast to the desired output type %s: got %s %s and %s",
                    mt_dtype_name(rt), mt_dtype_name(x->dtype), mt_dtype_name(x->dtype), sh(c, x), operand_s(c, o));
    if (alpha && alpha->kind == MT_ARG_FLOAT && mt_dtype_is_integral(rt, true))
        return fail(c, "For integral input tensors, argument alpha must not be a floating point number: got %s %s",
                    mt_dtype_name(x->dtype), sh(c, x));
    return emit_like(c, x->dtype, x);
}

/* ---- Gated DeltaNet ---------------------------------------------------------------
 * transformers.models.qwen3_next.modeling_qwen3_next.torch_chunk_gated_delta_rule(
 *   query, key, value, g, beta, chunk_size=64, initial_state=None,
 *   output_final_state=False, use_qk_l2norm_in_kernel=False)
 * recorded as one leaf: its body loops in Python over the (seq + pad) / chunk_size
 * chunks, so it cannot be traced with a symbolic seq. query and key [B, T, H, K],
 * value [B, T, H, V], g and beta [B, T, H] (query and key already repeated to the
 * value heads by the caller); every operand is cast to float32 inside. Returns
 * (core_attn_out [B, T, H, V] in query's dtype, last_recurrent_state [B, H, K, V]
 * float32); without output_final_state the second element is None, and the node
 * then has the one output (a None is no tensor). The shapes the body needs: the
 * five operands' B, T, H equal (they are multiplied and matmul'd chunk by chunk),
 * query and key equal, initial_state [B, H, K, V]; the reshapes to
 * (B, H, -1, chunk_size, K) refuse a 0 among the other dims (the -1 is then
 * ambiguous), so a constant 0 in B, H, K or V is refused (T = 0 is 0 chunks);
 * chunk_size >= 1 (a modulus and a
 * reshape). Complex operands would lose their imaginary part in .to(float32):
 * unsupported. */
static mt_status rule_chunk_gated_delta_rule(call *c) {
    TRY(sig_check(c));
    const mt_tensor *q, *k, *v, *g, *beta, *s0;
    TRY(need_tensor(c, "query", &q));
    TRY(need_tensor(c, "key", &k));
    TRY(need_tensor(c, "value", &v));
    TRY(need_tensor(c, "g", &g));
    TRY(need_tensor(c, "beta", &beta));
    TRY(opt_tensor(c, "initial_state", &s0));
    int64_t chunk = 64;
    bool final = false, l2 = false;
    TRY(opt_int(c, "chunk_size", 64, &chunk));
    TRY(opt_bool(c, "output_final_state", false, &final));
    TRY(opt_bool(c, "use_qk_l2norm_in_kernel", false, &l2));
    const char *shapes = mt_sprintf(c->ctx, "query %s, key %s, value %s, g %s, beta %s", sh(c, q), sh(c, k),
                                    sh(c, v), sh(c, g), sh(c, beta));
    if (!shapes) shapes = "?";
    const mt_tensor *all[6] = {q, k, v, g, beta, s0};
    for (int i = 0; i < 6; i++)
        if (all[i] && mt_dtype_is_complex(all[i]->dtype))
            return fail_unsupported(c, "complex operands are cast to float32 (dropping the imaginary part): got %s",
                                    shapes);
    if (chunk < 1) return fail(c, "chunk_size must be a positive int (a modulus and a reshape), got %lld: %s",
                               (long long)chunk, shapes);
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4 || g->ndim != 3 || beta->ndim != 3)
        return fail(c, "expected query, key [batch, seq, heads, k_dim], value [batch, seq, heads, v_dim], g and beta "
                       "[batch, seq, heads]: got %s", shapes);
    if (!shapes_equal(4, q->shape, 4, k->shape))
        return fail(c, "query and key must have the same shape: got %s", shapes);
    for (int d = 0; d < 3; d++)
        if (v->shape[d] != k->shape[d] || g->shape[d] != k->shape[d] || beta->shape[d] != k->shape[d])
            return fail(c, "query, key, value, g and beta must agree in batch, seq and heads (dims 0-2): got %s",
                        shapes);
    const mt_sym *B = k->shape[0], *T = k->shape[1], *H = k->shape[2], *K = k->shape[3], *V = v->shape[3];
    const mt_sym *dims[4] = {B, H, K, V}; /* T = 0 makes 0 chunks, and the -1 is then 0 */
    for (int i = 0; i < 4; i++)
        if (is_c(dims[i], 0))
            return fail(c, "cannot reshape a tensor of 0 elements into chunks of %lld (the -1 could be any value): "
                           "got %s", (long long)chunk, shapes);
    const mt_sym *st[4] = {B, H, K, V};
    if (s0 && !shapes_equal(s0->ndim, s0->shape, 4, st))
        return fail(c, "initial_state must be [batch, heads, k_dim, v_dim] = %s: got %s and %s",
                    shape_s(c, 4, st), sh(c, s0), shapes);
    const mt_sym *o[4] = {B, T, H, V};
    TRY(emit(c, q->dtype, 4, o));
    if (final) TRY(emit(c, MT_FLOAT32, 4, st));
    *c->is_tuple = true;
    return MT_OK;
}

/* F.unfold(input [N, C, H, W] or [C, H, W], kernel_size, dilation=1, padding=0,
 * stride=1) -> [N, C*kh*kw, L] (im2col; Pixtral's patch merger): each argument
 * an int or a pair (_pair), L the product over H and W of floor((in + 2p -
 * d(k-1) - 1) / s) + 1. ATen's im2col_shape_check: positive kernel, dilation
 * and stride, non-negative padding, non-zero channel and spatial dims, every
 * block count at least one. Floating dtypes only (ATen's CPU kernel also takes
 * complex; not modelled). */
static mt_status rule_unfold(call *c) {
    TRY(sig_check(c));
    const mt_tensor *x;
    TRY(need_tensor(c, "input", &x));
    if (!param(c, "kernel_size")) return fail_usage(c, "unfold() missing required argument 'kernel_size'");
    int64_t k[2], d[2], p[2], s[2];
    bool given;
    TRY(int_pair(c, "kernel_size", 0, k, &given));
    TRY(int_pair(c, "dilation", 1, d, &given));
    TRY(int_pair(c, "padding", 0, p, &given));
    TRY(int_pair(c, "stride", 1, s, &given));
    static const int64_t big = (int64_t)1 << 30; /* keeps d*(k-1) and C*kh*kw far from overflow */
    for (int i = 0; i < 2; i++)
        if (k[i] > big || d[i] > big || p[i] > big || s[i] > big)
            return fail_unsupported(c, "unfold with a kernel, dilation, padding or stride above 2^30 is not modelled: "
                                       "input %s",
                                    sh(c, x));
    if (k[0] <= 0 || k[1] <= 0)
        return fail(c, "kernel size should be greater than zero, but got kernel_height: %lld kernel_width: %lld",
                    (long long)k[0], (long long)k[1]);
    if (d[0] <= 0 || d[1] <= 0)
        return fail(c, "dilation should be greater than zero, but got dilation_height: %lld dilation_width: %lld",
                    (long long)d[0], (long long)d[1]);
    if (p[0] < 0 || p[1] < 0)
        return fail(c, "padding should be non-negative, but got pad_height: %lld pad_width: %lld", (long long)p[0],
                    (long long)p[1]);
    if (s[0] <= 0 || s[1] <= 0)
        return fail(c, "stride should be greater than zero, but got stride_height: %lld stride_width: %lld",
                    (long long)s[0], (long long)s[1]);
    if (x->ndim != 3 && x->ndim != 4)
        return fail(c, "Expected 3D or 4D (batch mode) tensor input with possible 0 batch size and non-zero "
                       "dimensions for input, but got: %s",
                    sh(c, x));
    int b = x->ndim - 3; /* channel dim */
    for (int i = b; i < x->ndim; i++)
        if (is_c(x->shape[i], 0))
            return fail(c, "Expected 3D or 4D (batch mode) tensor input with possible 0 batch size and non-zero "
                           "dimensions for input, but got: %s",
                        sh(c, x));
    if (!floating_dtype(x->dtype))
        return fail_unsupported(c, "unfold of a %s input is not modelled (floating dtypes only): input %s",
                                mt_dtype_name(x->dtype), sh(c, x));
    const mt_sym *blocks[2];
    int64_t cv[2];
    for (int i = 0; i < 2; i++)
        TRY(window_out(c, x->shape[b + 1 + i], p[i], d[i], mt_sym_const(c->ctx, k[i]), s[i], false, &blocks[i],
                       &cv[i]));
    if (cv[0] < 1 || cv[1] < 1)
        return fail(c, "Given input with spatial size (%s, %s), kernel_size=(%lld, %lld), dilation=(%lld, %lld), "
                       "padding=(%lld, %lld), calculated shape of the array of sliding blocks as (%lld, %lld), but "
                       "its components must be at least one: input %s",
                    ds(x->shape[b + 1]), ds(x->shape[b + 2]), (long long)k[0], (long long)k[1], (long long)d[0],
                    (long long)d[1], (long long)p[0], (long long)p[1], (long long)cv[0], (long long)cv[1], sh(c, x));
    const mt_sym *r[3];
    int n = 0;
    if (x->ndim == 4) r[n++] = x->shape[0];
    r[n++] = mt_sym_mul_const(c->ctx, x->shape[b], k[0] * k[1]);
    r[n++] = mt_sym_mul(c->ctx, blocks[0], blocks[1]);
    if (!r[n - 1] || !r[n - 2]) return sym_failed(c);
    return emit(c, x->dtype, n, r);
}

/* ---- recurrent mixers -------------------------------------------------------------
 * mamba_ssm.ops.selective_scan_interface.selective_scan_fn(u, delta, A, B, C, D=None,
 * z=None, delta_bias=None, delta_softplus=False, return_last_state=False), the checks
 * of its CUDA entry (csrc/selective_scan/selective_scan.cpp, selective_scan_fwd) and
 * its Python wrapper (a 3-D B or C is unsqueezed to one group):
 *   u [batch, dim, L] float32, float16 or bfloat16; delta and z [batch, dim, L] of u's
 *   dtype; A [dim, dstate] float32 (complex A is not modelled), dstate <= 256;
 *   B and C [batch, dstate, L] or [batch, groups, dstate, L] of u's dtype (input
 *   dependent), or [dim, dstate] float32 (constant); D and delta_bias [dim] float32.
 * The result, out * silu(z) when z is given, is [batch, dim, L] of u's dtype. The
 * last state ([batch, dim, dstate]) is not modelled (return_last_state=True). */
static mt_status scan_bc(call *c, const char *name, const mt_tensor *u, const mt_tensor *A, const mt_tensor *t) {
    const mt_sym *b = u->shape[0], *d = u->shape[1], *L = u->shape[2], *n = A->shape[1];
    if (t->ndim == 2) {
        if (t->shape[0] != d || t->shape[1] != n || t->dtype != A->dtype)
            return fail(c, "%s of a constant (non-variable) form must be [dim, dstate] %s like A: got %s %s, A %s",
                        name, mt_dtype_name(A->dtype), mt_dtype_name(t->dtype), sh(c, t), sh(c, A));
        return MT_OK;
    }
    if (t->ndim != 3 && t->ndim != 4)
        return fail(c, "%s must be [batch, dstate, seqlen] or [batch, n_groups, dstate, seqlen]: got %s", name, sh(c, t));
    if (t->dtype != u->dtype)
        return fail(c, "%s must have u's dtype %s (an input-dependent %s): got %s %s", name, mt_dtype_name(u->dtype),
                    name, mt_dtype_name(t->dtype), sh(c, t));
    int o = t->ndim - 3;
    if (t->shape[0] != b || t->shape[1 + o] != n || t->shape[2 + o] != L)
        return fail(c, "%s is expected to be of size %s: got %s (u %s, A %s)", name,
                    t->ndim == 3 ? "[batch, dstate, seqlen]" : "[batch, n_groups, dstate, seqlen]", sh(c, t), sh(c, u),
                    sh(c, A));
    if (t->ndim == 4) {
        int64_t g = 0, dv = 0;
        if (!is_const(t->shape[1], &g) || g <= 0)
            return fail(c, "%s's group count must be a positive constant: got %s", name, sh(c, t));
        if (is_const(d, &dv) && dv % g != 0)
            return fail(c, "%s's %lld groups must divide dim %lld: got %s", name, (long long)g, (long long)dv, sh(c, t));
    }
    return MT_OK;
}

static mt_status scan_vec(call *c, const char *name, const mt_tensor *u, const mt_tensor *t) {
    if (!t) return MT_OK;
    if (t->ndim != 1 || t->shape[0] != u->shape[1] || t->dtype != MT_FLOAT32)
        return fail(c, "%s must be a float32 vector [dim] = [%s]: got %s %s", name, ds(u->shape[1]),
                    mt_dtype_name(t->dtype), sh(c, t));
    return MT_OK;
}

static mt_status rule_selective_scan(call *c) {
    TRY(sig_check(c));
    const mt_tensor *u, *delta, *A, *B, *C, *D, *z, *bias;
    TRY(need_tensor(c, "u", &u));
    TRY(need_tensor(c, "delta", &delta));
    TRY(need_tensor(c, "A", &A));
    TRY(need_tensor(c, "B", &B));
    TRY(need_tensor(c, "C", &C));
    TRY(opt_tensor(c, "D", &D));
    TRY(opt_tensor(c, "z", &z));
    TRY(opt_tensor(c, "delta_bias", &bias));
    bool softplus, last;
    TRY(opt_bool(c, "delta_softplus", false, &softplus));
    TRY(opt_bool(c, "return_last_state", false, &last));
    if (last) return fail_unsupported(c, "return_last_state=True (the last state) is not modelled: got u %s", sh(c, u));
    if (u->dtype != MT_FLOAT32 && u->dtype != MT_FLOAT16 && u->dtype != MT_BFLOAT16)
        return fail(c, "selective_scan's u must be float32, float16 or bfloat16: got %s %s", mt_dtype_name(u->dtype),
                    sh(c, u));
    if (mt_dtype_is_complex(A->dtype))
        return fail_unsupported(c, "a complex A is not modelled: got %s %s", mt_dtype_name(A->dtype), sh(c, A));
    if (A->dtype != MT_FLOAT32)
        return fail(c, "selective_scan's A must be float32: got %s %s", mt_dtype_name(A->dtype), sh(c, A));
    if (u->ndim != 3) return fail(c, "u must be [batch, dim, seqlen]: got %s", sh(c, u));
    if (A->ndim != 2 || A->shape[0] != u->shape[1])
        return fail(c, "A must be [dim, dstate] with dim = u's %s: got A %s, u %s", ds(u->shape[1]), sh(c, A), sh(c, u));
    int64_t n = 0;
    if (is_const(A->shape[1], &n) && n > 256)
        return fail(c, "selective_scan only supports state dimension <= 256: got A %s", sh(c, A));
    if (!shapes_equal(delta->ndim, delta->shape, u->ndim, u->shape) || delta->dtype != u->dtype)
        return fail(c, "delta must be u's shape and dtype %s %s: got %s %s", mt_dtype_name(u->dtype), sh(c, u),
                    mt_dtype_name(delta->dtype), sh(c, delta));
    TRY(scan_bc(c, "B", u, A, B));
    TRY(scan_bc(c, "C", u, A, C));
    TRY(scan_vec(c, "D", u, D));
    TRY(scan_vec(c, "delta_bias", u, bias));
    if (z && (!shapes_equal(z->ndim, z->shape, u->ndim, u->shape) || z->dtype != u->dtype))
        return fail(c, "z must be u's shape and dtype %s %s: got %s %s", mt_dtype_name(u->dtype), sh(c, u),
                    mt_dtype_name(z->dtype), sh(c, z));
    return emit_like(c, u->dtype, u);
}

/* metatrace.ops.lightning_attention(query, key, value, slope_rate, query_decay, key_decay,
 * diagonal_decay): MiniMaxLightningAttention.forward's loop over blocks of block_size
 * (transformers models/minimax), without a cache, as one op:
 *   q, k [b, h, L, d], v [b, h, L, dv]; slope_rate [h, 1, 1]; query_decay and key_decay
 *   [h, B, 1]; diagonal_decay [1, h, B, B], B the block size (a constant);
 * every operand of one floating dtype (the loop multiplies the blocks by the decays and feeds
 * the products to torch.matmul with v, which refuses mixed dtypes). The result, the blocks'
 * outputs concatenated on dim -2, is [b, h, L, dv] of that dtype. */
static mt_status rule_lightning_attention(call *c) {
    TRY(sig_check(c));
    const mt_tensor *q, *k, *v, *slope, *qd, *kd, *dd;
    TRY(need_tensor(c, "query", &q));
    TRY(need_tensor(c, "key", &k));
    TRY(need_tensor(c, "value", &v));
    TRY(need_tensor(c, "slope_rate", &slope));
    TRY(need_tensor(c, "query_decay", &qd));
    TRY(need_tensor(c, "key_decay", &kd));
    TRY(need_tensor(c, "diagonal_decay", &dd));
    if (q->ndim != 4 || !shapes_equal(q->ndim, q->shape, k->ndim, k->shape))
        return fail(c, "query and key must be [batch, heads, seq, head_dim] of one shape: got %s and %s", sh(c, q),
                    sh(c, k));
    if (v->ndim != 4 || v->shape[0] != q->shape[0] || v->shape[1] != q->shape[1] || v->shape[2] != q->shape[2])
        return fail(c, "value must be [batch, heads, seq, v_dim] with query's batch, heads and seq: got %s, query %s",
                    sh(c, v), sh(c, q));
    const mt_tensor *ops[7] = {q, k, v, slope, qd, kd, dd};
    if (!mt_dtype_is_floating(q->dtype))
        return fail(c, "lightning attention needs floating operands: got %s %s", mt_dtype_name(q->dtype), sh(c, q));
    for (int i = 1; i < 7; i++)
        if (ops[i]->dtype != q->dtype)
            return fail(c, "expected every operand in query's dtype %s (torch.matmul does not promote): got %s %s",
                        mt_dtype_name(q->dtype), mt_dtype_name(ops[i]->dtype), sh(c, ops[i]));
    const mt_sym *h = q->shape[1];
    int64_t B = 0;
    if (qd->ndim != 3 || qd->shape[0] != h || !is_const(qd->shape[1], &B) || B <= 0 || !is_c(qd->shape[2], 1))
        return fail(c, "query_decay must be [heads, block_size, 1] with heads %s and a constant block size: got %s", ds(h),
                    sh(c, qd));
    if (!shapes_equal(kd->ndim, kd->shape, qd->ndim, qd->shape))
        return fail(c, "key_decay must be query_decay's shape %s: got %s", sh(c, qd), sh(c, kd));
    if (slope->ndim != 3 || slope->shape[0] != h || !is_c(slope->shape[1], 1) || !is_c(slope->shape[2], 1))
        return fail(c, "slope_rate must be [heads, 1, 1] with heads %s: got %s", ds(h), sh(c, slope));
    if (dd->ndim != 4 || !is_c(dd->shape[0], 1) || dd->shape[1] != h || !is_c(dd->shape[2], B) || !is_c(dd->shape[3], B))
        return fail(c, "diagonal_decay must be [1, heads, block_size, block_size] = [1, %s, %lld, %lld]: got %s", ds(h),
                    (long long)B, (long long)B, sh(c, dd));
    return emit_like(c, q->dtype, v);
}
