/* Op shape/dtype rules (trace/ops.c), table-driven.
 *
 * Every case is written as text: the arguments and keyword arguments in a
 * small Python-like notation, and the expected outputs (or the expected
 * rejection). Expected values come from PyTorch semantics read at the source
 * (ATen _matmul_impl, infer_size, split/chunk, masked_fill, the sdpa math
 * path, torch/_refs) and from hand calculation — never from our own output.
 *
 * Notation (parsed below; independent of the library's printing):
 *   tensor      f32[batch, seq, 4096]   (dtypes: bool u8 i8 i16 i32 i64 f16 bf16 f32 f64 c64)
 *   int/float   -1  2.5  1e-5  inf         bool  True False      None   ...
 *   sym int     $seq   $past+seq        dtype  dtype:bf16     str 'tanh'
 *   list        (a, b, c)               slice  slice(1, None, 2)
 *   kwargs      name=value, name=value
 *   dims        expressions over symbols: 2*seq, batch*seq, seq-1, (seq+1)//2
 *   expected    "f32[2, 3]"; several outputs are a tuple: "tuple f32[2], i64[2]";
 *               a rejection: "!SHAPE:text the message must contain". */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <metatrace/metatrace.h>

#include "opinfo_internal.h"

/* ---- the notation parser -------------------------------------------------- */

typedef struct parser {
    mt_ctx *ctx;
    const char *s;
    const char *err;
} parser;

static void skip_ws(parser *p) {
    while (*p->s == ' ') p->s++;
}

static bool eat(parser *p, const char *tok) {
    skip_ws(p);
    size_t n = strlen(tok);
    if (strncmp(p->s, tok, n) == 0) {
        p->s += n;
        return true;
    }
    return false;
}

static bool ident(parser *p, char *buf, size_t cap) {
    skip_ws(p);
    size_t n = 0;
    if (!(isalpha((unsigned char)*p->s) || *p->s == '_')) return false;
    while (isalnum((unsigned char)p->s[n]) || p->s[n] == '_') n++;
    if (n >= cap) return false;
    memcpy(buf, p->s, n);
    buf[n] = 0;
    p->s += n;
    return true;
}

static const mt_sym *expr(parser *p);

static const mt_sym *factor(parser *p) {
    skip_ws(p);
    char name[64];
    if (eat(p, "(")) {
        const mt_sym *e = expr(p);
        if (!eat(p, ")")) p->err = "expected )";
        return e;
    }
    if (eat(p, "-")) return mt_sym_mul_const(p->ctx, factor(p), -1);
    if (isdigit((unsigned char)*p->s)) {
        char *end;
        long long v = strtoll(p->s, &end, 10);
        p->s = end;
        return mt_sym_const(p->ctx, v);
    }
    if (ident(p, name, sizeof name)) return mt_sym_var(p->ctx, name);
    p->err = "bad dim expression";
    return NULL;
}

static const mt_sym *term(parser *p) {
    const mt_sym *t = factor(p);
    for (;;) {
        if (eat(p, "//")) {
            skip_ws(p);
            long long c = strtoll(p->s, (char **)&p->s, 10);
            t = mt_sym_floordiv(p->ctx, t, c);
        } else if (eat(p, "*")) {
            t = mt_sym_mul(p->ctx, t, factor(p));
        } else {
            return t;
        }
    }
}

static const mt_sym *expr(parser *p) {
    const mt_sym *e = term(p);
    for (;;) {
        if (eat(p, "+")) e = mt_sym_add(p->ctx, e, term(p));
        else if (eat(p, "-")) e = mt_sym_sub(p->ctx, e, term(p));
        else return e;
    }
}

static const struct {
    const char *name;
    mt_dtype dt;
} DTYPES[] = {
    {"bool", MT_BOOL},      {"u8", MT_UINT8},     {"i8", MT_INT8},       {"i16", MT_INT16},
    {"i32", MT_INT32},      {"i64", MT_INT64},    {"f16", MT_FLOAT16},   {"bf16", MT_BFLOAT16},
    {"f32", MT_FLOAT32},    {"f64", MT_FLOAT64},  {"c64", MT_COMPLEX64},
};

static mt_dtype dtype_named(const char *name) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(DTYPES[i].name, name) == 0) return DTYPES[i].dt;
    return MT_DTYPE_NONE;
}

/* dtype[shape] after the dtype name was read. */
static mt_tensor *tensor_rest(parser *p, mt_dtype dt) {
    const mt_sym *shape[MT_MAX_DIMS];
    int n = 0;
    if (!eat(p, "]")) {
        do {
            if (n == MT_MAX_DIMS) {
                p->err = "too many dims";
                return NULL;
            }
            shape[n++] = expr(p);
        } while (eat(p, ","));
        if (!eat(p, "]")) p->err = "expected ]";
    }
    return mt_tensor_meta(p->ctx, dt, n, shape);
}

static mt_arg value(parser *p);

static mt_arg list_rest(parser *p) {
    mt_arg items[64];
    int n = 0;
    while (!eat(p, ")")) { /* (a, b) and the 1-tuple (a,) */
        items[n++] = value(p);
        if (p->err || n == 64) break;
        if (!eat(p, ",")) {
            if (!eat(p, ")")) p->err = "expected ) after list";
            break;
        }
    }
    return mt_a_list(p->ctx, items, n);
}

static const mt_sym *slice_part(parser *p) {
    if (eat(p, "None")) return NULL;
    return expr(p);
}

static mt_arg value(parser *p) {
    skip_ws(p);
    char name[64];
    if (eat(p, "None")) return mt_a_none();
    if (eat(p, "True")) return mt_a_bool(true);
    if (eat(p, "False")) return mt_a_bool(false);
    if (eat(p, "...")) return mt_a_ellipsis();
    if (eat(p, "inf")) return mt_a_float(INFINITY);
    if (eat(p, "(")) return list_rest(p);
    if (eat(p, "$")) {
        const mt_sym *s = expr(p);
        return mt_a_dim(s);
    }
    if (eat(p, "'")) {
        const char *end = strchr(p->s, '\'');
        if (!end) {
            p->err = "unterminated string";
            return mt_a_none();
        }
        char *str = mt_strndup(p->ctx, p->s, (size_t)(end - p->s));
        p->s = end + 1;
        return mt_a_str(str);
    }
    if (eat(p, "slice(")) {
        const mt_sym *a = slice_part(p);
        eat(p, ",");
        const mt_sym *b = slice_part(p);
        eat(p, ",");
        const mt_sym *c = slice_part(p);
        if (!eat(p, ")")) p->err = "expected ) after slice";
        return mt_a_slice(a, b, c);
    }
    if (eat(p, "dtype:")) {
        if (!ident(p, name, sizeof name)) p->err = "expected dtype name";
        return mt_a_dtype(dtype_named(name));
    }
    if (ident(p, name, sizeof name)) {
        mt_dtype dt = dtype_named(name);
        if (dt == MT_DTYPE_NONE || !eat(p, "[")) {
            p->err = "unknown word";
            return mt_a_none();
        }
        return mt_a_tensor(tensor_rest(p, dt));
    }
    /* number */
    char *end;
    const char *start = p->s;
    double f = strtod(start, &end);
    if (end == start) {
        p->err = "unexpected character";
        return mt_a_none();
    }
    bool is_float = false;
    for (const char *q = start; q < end; q++)
        if (*q == '.' || *q == 'e' || *q == 'E' || *q == 'i' || *q == 'n') is_float = true;
    p->s = end;
    if (is_float) return mt_a_float(f);
    return mt_a_int(strtoll(start, NULL, 10));
}

static int parse_args(parser *p, const char *text, mt_arg *out) {
    p->s = text;
    int n = 0;
    skip_ws(p);
    if (!*p->s) return 0;
    do out[n++] = value(p);
    while (eat(p, ","));
    skip_ws(p);
    if (*p->s) p->err = "trailing text in args";
    return n;
}

static int parse_kwargs(parser *p, const char *text, mt_kwarg *out) {
    p->s = text ? text : "";
    int n = 0;
    skip_ws(p);
    if (!*p->s) return 0;
    do {
        char name[64];
        if (!ident(p, name, sizeof name) || !eat(p, "=")) {
            p->err = "bad kwarg";
            return n;
        }
        out[n].name = mt_strdup(p->ctx, name);
        out[n].value = value(p);
        n++;
    } while (eat(p, ","));
    skip_ws(p);
    if (*p->s) p->err = "trailing text in kwargs";
    return n;
}

/* ---- running one case ------------------------------------------------------- */

/* Strings are stored inline: Criterion runs each parameterized test in a
 * fresh process and copies the parameter bytes, so pointers would dangle. */
typedef struct op_case {
    mt_op_id op;
    char args[192];
    char kwargs[96];
    char expect[192];
} op_case;

static const char *status_word(mt_status st) {
    switch (st) {
    case MT_OK: return "OK";
    case MT_ERR_SHAPE: return "SHAPE";
    case MT_ERR_USAGE: return "USAGE";
    case MT_ERR_UNSUPPORTED: return "UNSUPPORTED";
    case MT_ERR_OVERFLOW: return "OVERFLOW";
    default: return "OTHER";
    }
}

/* Apply `prep` (may be NULL) to the fresh context before parsing, e.g. to set
 * symbol bounds. */
static void run_case_with(const op_case *tc, void (*prep)(mt_ctx *)) {
    /* OPS_TRACE=1 prints each case before it runs (to locate a crash). */
    if (getenv("OPS_TRACE")) fprintf(stderr, "CASE %s | %s\n", tc->args, tc->kwargs);
    mt_ctx *ctx = mt_ctx_new();
    cr_assert_not_null(ctx);
    if (prep) prep(ctx);
    parser p = {ctx, NULL, NULL};
    mt_arg args[16];
    mt_kwarg kwargs[16];
    int nargs = parse_args(&p, tc->args, args);
    cr_assert_null(p.err, "bad test args '%s': %s", tc->args, p.err);
    int nkw = parse_kwargs(&p, tc->kwargs, kwargs);
    cr_assert_null(p.err, "bad test kwargs '%s': %s", tc->kwargs, p.err);

    mt_tensor outs[MT_MAX_OUTS];
    int nout = -1;
    bool is_tuple = true;
    const char *target = mt_op_def(tc->op)->target;
    mt_status st = mt_op_infer(ctx, tc->op, args, nargs, kwargs, nkw, outs, &nout, &is_tuple);

    if (tc->expect[0] == '!') {
        const char *colon = strchr(tc->expect, ':');
        cr_assert_not_null(colon);
        char want_status[32];
        snprintf(want_status, sizeof want_status, "%.*s", (int)(colon - tc->expect - 1), tc->expect + 1);
        const char *msg = mt_ctx_errmsg(ctx);
        cr_assert_str_eq(status_word(st), want_status, "%s(%s | %s): expected %s error, got %s (%s)", target,
                         tc->args, tc->kwargs, want_status, status_word(st),
                         st ? msg : "no error");
        cr_assert(strstr(msg, colon + 1) != NULL, "%s(%s): message '%s' lacks '%s'", target, tc->args, msg,
                  colon + 1);
        cr_assert(strncmp(msg, target, strlen(target)) == 0, "message '%s' does not start with the op target %s",
                  msg, target);
        cr_assert_eq(nout, 0);
        mt_ctx_free(ctx);
        return;
    }

    cr_assert_eq(st, MT_OK, "%s(%s | %s) failed: %s", target, tc->args, tc->kwargs,
                 mt_ctx_errmsg(ctx));
    const char *e = tc->expect;
    bool want_tuple = strncmp(e, "tuple ", 6) == 0;
    if (want_tuple) e += 6;
    mt_arg want[MT_MAX_OUTS];
    int nwant = parse_args(&p, e, want);
    cr_assert_null(p.err, "bad expectation '%s': %s", tc->expect, p.err);
    cr_assert_eq(is_tuple, want_tuple, "%s(%s): is_tuple %d", target, tc->args, is_tuple);
    cr_assert_eq(nout, nwant, "%s(%s): %d outputs, expected %d", target, tc->args, nout, nwant);
    for (int i = 0; i < nout; i++) {
        const mt_tensor *w = want[i].v.t, *o = &outs[i];
        cr_assert_eq(want[i].kind, MT_ARG_TENSOR);
        const char *got = mt_shape_str(ctx, o->ndim, o->shape);
        const char *exp = mt_shape_str(ctx, w->ndim, w->shape);
        cr_assert_eq(o->dtype, w->dtype, "%s(%s) out %d: dtype %s, expected %s", target, tc->args, i,
                     mt_dtype_name(o->dtype), mt_dtype_name(w->dtype));
        cr_assert_eq(o->ndim, w->ndim, "%s(%s) out %d: shape %s, expected %s", target, tc->args, i, got, exp);
        for (int d = 0; d < o->ndim; d++)
            cr_assert(o->shape[d] == w->shape[d], "%s(%s) out %d: shape %s, expected %s", target, tc->args, i,
                      got, exp);
        cr_assert_eq(o->device, MT_DEVICE_META);
        cr_assert_null(o->data);
        cr_assert_null(o->node);
    }
    mt_ctx_free(ctx);
}

static void run_case(const op_case *tc) { run_case_with(tc, NULL); }

#define CASES(name, ...)                                                              \
    ParameterizedTestParameters(ops, name) {                                          \
        static op_case cases[] = {__VA_ARGS__};                                       \
        return cr_make_param_array(op_case, cases, sizeof cases / sizeof cases[0]);   \
    }                                                                                 \
    ParameterizedTest(op_case *tc, ops, name) { run_case(tc); }

/* ---- broadcasting ------------------------------------------------------------- */

CASES(broadcast,
    {MT_OP_ADD, "f32[2, 3], f32[3]", "", "f32[2, 3]"},
    {MT_OP_ADD, "f32[3], f32[2, 3]", "", "f32[2, 3]"},
    {MT_OP_ADD, "f32[batch, 1, 4], f32[seq, 1]", "", "f32[batch, seq, 4]"},
    {MT_OP_ADD, "f32[batch, seq], f32[batch, seq]", "", "f32[batch, seq]"},
    {MT_OP_ADD, "f32[1], f32[seq]", "", "f32[seq]"},
    {MT_OP_ADD, "f32[seq, 1], f32[1, seq]", "", "f32[seq, seq]"},
    {MT_OP_ADD, "f32[], f32[2, 3]", "", "f32[2, 3]"},
    {MT_OP_ADD, "f32[batch*seq, 1], f32[1, 4096]", "", "f32[batch*seq, 4096]"},
    {MT_OP_MUL, "f32[2, 1, 5], f32[3, 1]", "", "f32[2, 3, 5]"},
    {MT_OP_ADD, "f32[batch], f32[seq]", "", "!SHAPE:the size of tensor a (batch) must match the size of tensor b (seq) at non-singleton dimension 0"},
    {MT_OP_ADD, "f32[seq], f32[3]", "", "!SHAPE:tensor a (seq) must match the size of tensor b (3)"},
    {MT_OP_ADD, "f32[2, 3], f32[4, 3]", "", "!SHAPE:got [2, 3] and [4, 3]"},
    {MT_OP_ADD, "f32[2, 3], f32[2]", "", "!SHAPE:at non-singleton dimension 1"},
    {MT_OP_ADD, "f32[seq], f32[2*seq]", "", "!SHAPE:must match"},
    {MT_OP_ADD, "2, 3", "", "!USAGE:at least one tensor"},
)

/* ---- promotion ------------------------------------------------------------------ */

CASES(promotion,
    /* DEFAULT: result_type tiers */
    {MT_OP_ADD, "i64[3], 2.5", "", "f32[3]"},
    {MT_OP_ADD, "bf16[3], 2.0", "", "bf16[3]"},
    {MT_OP_ADD, "f16[3], f32[]", "", "f16[3]"},
    {MT_OP_ADD, "i32[3], i64[]", "", "i32[3]"},
    {MT_OP_ADD, "i32[3], i64[3]", "", "i64[3]"},
    {MT_OP_ADD, "bf16[2], f16[2]", "", "f32[2]"},
    {MT_OP_ADD, "u8[3], i8[3]", "", "i16[3]"},
    {MT_OP_ADD, "bool[3], True", "", "bool[3]"},
    {MT_OP_ADD, "bool[3], 1", "", "i64[3]"},
    {MT_OP_ADD, "i32[], 2.5", "", "f32[]"},
    {MT_OP_ADD, "i32[2], f64[]", "", "f64[2]"}, /* zero-dim of a higher category */
    {MT_OP_SUB, "i64[3], $seq", "", "i64[3]"},
    {MT_OP_MUL, "2, bf16[batch]", "", "bf16[batch]"},
    /* INT_TO_FLOAT */
    {MT_OP_TRUEDIV, "i64[3], 2", "", "f32[3]"},
    {MT_OP_TRUEDIV, "bf16[3], 2", "", "bf16[3]"},
    {MT_OP_TRUEDIV, "f64[3], f32[3]", "", "f64[3]"},
    /* ALWAYS_BOOL */
    {MT_OP_EQ, "f32[2, 3], 0.0", "", "bool[2, 3]"},
    {MT_OP_LT, "i64[seq], $seq", "", "bool[seq]"},
    {MT_OP_GE, "bf16[2, 1], f32[3]", "", "bool[2, 3]"},
    {MT_OP_NE, "i64[seq, 1], i64[1, seq]", "", "bool[seq, seq]"},
    /* bitwise: integral or bool only */
    {MT_OP_AND, "bool[3], bool[3]", "", "bool[3]"},
    {MT_OP_OR, "i32[2], 1", "", "i32[2]"},
    {MT_OP_AND, "bool[seq, seq], bool[seq, seq]", "", "bool[seq, seq]"},
    {MT_OP_AND, "f32[3], bool[3]", "", "!SHAPE:integral or bool"},
    {MT_OP_OR, "bool[3], 1.5", "", "!SHAPE:integral or bool"},
    /* pow */
    {MT_OP_POW, "f32[3], 2", "", "f32[3]"},
    {MT_OP_POW, "i64[3], 0.5", "", "f32[3]"},
    {MT_OP_POW, "i64[3], -1", "", "!SHAPE:Integers to negative integer powers are not allowed"},
    {MT_OP_POW, "f32[3], -1", "", "f32[3]"},
    /* maximum/minimum take two tensors */
    {MT_OP_MAXIMUM, "bf16[2, 1], f32[3]", "", "f32[2, 3]"},
    {MT_OP_MINIMUM, "f32[3], 1.0", "", "!USAGE:two tensors"},
)

/* ---- where / masked_fill ---------------------------------------------------------- */

CASES(where_masked_fill,
    {MT_OP_WHERE, "bool[seq, seq], f32[1, seq], 0.0", "", "f32[seq, seq]"},
    {MT_OP_WHERE, "bool[2], bf16[2], f32[2]", "", "f32[2]"},
    {MT_OP_WHERE, "bool[2, 1], bf16[3], -1.0", "", "bf16[2, 3]"},
    {MT_OP_WHERE, "bool[2], 1.0, 0.0", "", "f32[2]"},
    {MT_OP_WHERE, "bool[2], 1, 0", "", "i64[2]"},
    {MT_OP_WHERE, "f32[2], f32[2], f32[2]", "", "!SHAPE:where expected condition to be a boolean tensor"},
    {MT_OP_WHERE, "bool[batch], f32[seq], 0.0", "", "!SHAPE:must match"},
    {MT_OP_MASKED_FILL, "f32[batch, 1, seq, seq], bool[batch, 1, seq, seq], -3.4e38", "", "f32[batch, 1, seq, seq]"},
    {MT_OP_MASKED_FILL, "f32[2, 3], bool[3], 0.0", "", "f32[2, 3]"},
    /* out-of-place masked_fill expands self and mask together (ATen expand_outplace) */
    {MT_OP_MASKED_FILL, "f32[3], bool[2, 3], 0.0", "", "f32[2, 3]"},
    {MT_OP_MASKED_FILL, "i64[2], bool[2], 1.5", "", "i64[2]"},
    {MT_OP_MASKED_FILL, "bf16[2], bool[2], f32[]", "", "bf16[2]"},
    {MT_OP_MASKED_FILL, "bf16[2], bool[2]", "value=0.0", "bf16[2]"},
    {MT_OP_MASKED_FILL, "f32[2], f32[2], 0.0", "", "!SHAPE:only supports boolean masks"},
    {MT_OP_MASKED_FILL, "f32[2], bool[2], f32[2]", "", "!SHAPE:0-dimensional value tensor"},
    {MT_OP_MASKED_FILL, "f32[seq], bool[batch], 0.0", "", "!SHAPE:must match"},
)

/* ---- unary ---------------------------------------------------------------------------- */

CASES(unary,
    {MT_OP_NEG, "i64[3]", "", "i64[3]"},
    {MT_OP_NEG, "bf16[batch, seq]", "", "bf16[batch, seq]"},
    {MT_OP_NEG, "bool[3]", "", "!SHAPE:on a bool tensor is not supported"},
    {MT_OP_RSQRT, "i64[3]", "", "f32[3]"},
    {MT_OP_SQRT, "bool[2]", "", "f32[2]"},
    {MT_OP_EXP, "bf16[2]", "", "bf16[2]"},
    {MT_OP_LOG, "f64[]", "", "f64[]"},
    {MT_OP_SIN, "i32[seq]", "", "f32[seq]"},
    {MT_OP_COS, "f16[seq, 64]", "", "f16[seq, 64]"},
    {MT_OP_ABS, "i32[4]", "", "i32[4]"},
    {MT_OP_ABS, "c64[4]", "", "f32[4]"},
    {MT_OP_TANH, "i16[4]", "", "f32[4]"},
    {MT_OP_SIGMOID, "i32[3]", "", "f32[3]"},
    {MT_OP_SILU, "bf16[batch, seq, 11008]", "", "bf16[batch, seq, 11008]"},
    {MT_OP_SILU, "f32[2]", "inplace=False", "f32[2]"},
    {MT_OP_SILU, "i64[2]", "", "!SHAPE:floating-point"},
    {MT_OP_GELU, "f32[2]", "approximate='tanh'", "f32[2]"},
    {MT_OP_GELU, "f32[2]", "approximate='none'", "f32[2]"},
    {MT_OP_GELU, "f32[2]", "approximate='fast'", "!SHAPE:approximate argument must be either none or tanh"},
    {MT_OP_GELU, "i32[2]", "", "!SHAPE:floating-point"},
    {MT_OP_RELU, "i64[2]", "", "i64[2]"},
    {MT_OP_RELU, "bool[2]", "", "!SHAPE:Boolean inputs not supported for relu"},
    {MT_OP_EXP, "2.0", "", "!USAGE:must be a tensor"},
)

/* ---- to / type_as / dropout / contiguous ----------------------------------------- */

CASES(conversion,
    {MT_OP_TO, "f32[2, seq], dtype:bf16", "", "bf16[2, seq]"},
    {MT_OP_TO, "f32[2]", "dtype=dtype:f16", "f16[2]"},
    {MT_OP_TO, "f32[2], 'cpu'", "", "f32[2]"},
    {MT_OP_TO, "f32[2], 'cpu', dtype:i64", "", "i64[2]"},
    {MT_OP_TO, "f32[2], i32[5]", "", "i32[2]"},
    {MT_OP_TO, "f32[2], dtype:bf16", "dtype=dtype:f16", "!USAGE:multiple values for argument 'dtype'"},
    {MT_OP_TYPE_AS, "f32[2, 3], bf16[1]", "", "bf16[2, 3]"},
    {MT_OP_DROPOUT, "f32[batch, seq], 0.1", "", "f32[batch, seq]"},
    {MT_OP_DROPOUT, "bf16[2]", "p=0.0, training=False, inplace=False", "bf16[2]"},
    {MT_OP_DROPOUT, "f32[2], 1.5", "", "!SHAPE:dropout probability has to be between 0 and 1, but got 1.5"},
    {MT_OP_CONTIGUOUS, "f32[batch, seq, 32, 128]", "", "f32[batch, seq, 32, 128]"},
)

/* ---- reductions -------------------------------------------------------------------- */

CASES(reductions,
    {MT_OP_SUM, "f32[2, 3, 4], 1", "", "f32[2, 4]"},
    {MT_OP_SUM, "f32[2, 3, 4], -1", "keepdim=True", "f32[2, 3, 1]"},
    {MT_OP_SUM, "f32[2, 3, 4], (0, 2)", "", "f32[3]"},
    {MT_OP_SUM, "f32[2, 3, 4], (0, -1), True", "", "f32[1, 3, 1]"},
    {MT_OP_SUM, "f32[2, 3, 4]", "", "f32[]"},
    {MT_OP_SUM, "f32[2, 3]", "dim=()", "f32[]"},
    {MT_OP_SUM, "bool[2, 3]", "", "i64[]"},
    {MT_OP_SUM, "i32[4], 0", "", "i64[]"},
    {MT_OP_SUM, "bf16[4, seq], -1", "dtype=dtype:f32", "f32[4]"},
    {MT_OP_SUM, "f32[]", "dim=0", "f32[]"},
    {MT_OP_SUM, "f32[2, 3, 4], 3", "", "!SHAPE:Dimension out of range (expected to be in range of [-3, 2], but got 3)"},
    {MT_OP_SUM, "f32[2, 3, 4], -4", "", "!SHAPE:but got -4"},
    {MT_OP_SUM, "f32[2, 3], (0, 0)", "", "!SHAPE:dim 0 appears multiple times"},
    {MT_OP_MEAN, "f32[batch, seq, 4096], -1", "keepdim=True", "f32[batch, seq, 1]"},
    {MT_OP_MEAN, "f32[batch, seq, 4096], (-1,)", "keepdim=True", "f32[batch, seq, 1]"},
    {MT_OP_MEAN, "bf16[batch, seq, 4096]", "dim=1", "bf16[batch, 4096]"},
    {MT_OP_MEAN, "i64[3]", "", "!SHAPE:mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: int64"},
    {MT_OP_MEAN, "i64[3]", "dtype=dtype:f32", "f32[]"},
    {MT_OP_MEAN, "f32[3]", "dtype=dtype:i32", "!SHAPE:Optional dtype must be either a floating point or complex dtype"},
    {MT_OP_AMAX, "f32[2, 3], -1", "", "f32[2]"},
    {MT_OP_AMAX, "i64[2, 3], 0, True", "", "i64[1, 3]"},
    {MT_OP_AMAX, "f32[2, 3]", "", "f32[]"},
    {MT_OP_AMAX, "f32[2, 3], 0", "dtype=dtype:f32", "!USAGE:unexpected keyword argument 'dtype'"},
)

CASES(softmax,
    {MT_OP_SOFTMAX, "f32[batch, 32, seq, seq], -1", "", "f32[batch, 32, seq, seq]"},
    {MT_OP_SOFTMAX, "bf16[batch, 32, seq, seq]", "dim=-1, dtype=dtype:f32", "f32[batch, 32, seq, seq]"},
    {MT_OP_SOFTMAX, "bf16[2, 3], -1, 3, dtype:f32", "", "f32[2, 3]"},
    {MT_OP_SOFTMAX, "i64[3], 0", "", "!SHAPE:floating-point"},
    {MT_OP_SOFTMAX, "i64[3], 0", "dtype=dtype:f32", "f32[3]"},
    {MT_OP_SOFTMAX, "f32[2, 3], 2", "", "!SHAPE:Dimension out of range (expected to be in range of [-2, 1], but got 2)"},
    {MT_OP_SOFTMAX, "f32[2, 3], -1", "dim=0", "!USAGE:multiple values for argument 'dim'"},
)

/* cumsum (ATen cumsum meta: same shape; dtype= if given, else integral/bool ->
 * int64, else unchanged; dim required, wrapped like every dim index). */
CASES(cumsum,
    {MT_OP_CUMSUM, "i64[batch, seq]", "dim=1", "i64[batch, seq]"},
    {MT_OP_CUMSUM, "i64[batch, seq], 1", "", "i64[batch, seq]"},
    {MT_OP_CUMSUM, "bool[4, 5], -1", "", "i64[4, 5]"},
    {MT_OP_CUMSUM, "i32[4], 0", "", "i64[4]"},
    {MT_OP_CUMSUM, "u8[2, 3], 0", "", "i64[2, 3]"},
    {MT_OP_CUMSUM, "f16[2, 3], 0", "", "f16[2, 3]"},
    {MT_OP_CUMSUM, "bf16[2, seq], -1", "", "bf16[2, seq]"},
    {MT_OP_CUMSUM, "c64[3], 0", "", "c64[3]"},
    {MT_OP_CUMSUM, "i64[2, 3], 1", "dtype=dtype:f32", "f32[2, 3]"},
    {MT_OP_CUMSUM, "f32[2, 3], 1", "dtype=dtype:i32", "i32[2, 3]"},
    {MT_OP_CUMSUM, "i64[2, 3], 1", "dtype=dtype:bool", "!SHAPE:not implemented for 'Bool'"},
    {MT_OP_CUMSUM, "f32[]", "dim=0", "f32[]"},
    {MT_OP_CUMSUM, "i64[]", "dim=-1", "i64[]"},
    {MT_OP_CUMSUM, "f32[]", "dim=1", "!SHAPE:Dimension out of range (expected to be in range of [-1, 0], but got 1)"},
    {MT_OP_CUMSUM, "f32[2, 3], 2", "", "!SHAPE:Dimension out of range (expected to be in range of [-2, 1], but got 2)"},
    {MT_OP_CUMSUM, "f32[2, 3], -3", "", "!SHAPE:Dimension out of range (expected to be in range of [-2, 1], but got -3)"},
    {MT_OP_CUMSUM, "f32[2, 3]", "", "!USAGE:dim"},
    {MT_OP_CUMSUM, "f32[2, 3], 1, dtype:f64", "", "!USAGE:"},
    {MT_OP_CUMSUM, "f32[2, 3], 1", "dim=0", "!USAGE:multiple values for argument 'dim'"},
    {MT_OP_CUMSUM, "f32[2, 3], 1", "axis=0", "!USAGE:"},
    {MT_OP_CUMSUM_METHOD, "i64[batch, seq]", "dim=-1", "i64[batch, seq]"},
    {MT_OP_CUMSUM_METHOD, "bool[batch, seq], 1", "", "i64[batch, seq]"},
    {MT_OP_CUMSUM_METHOD, "f32[2, 3], 0", "dtype=dtype:f64", "f64[2, 3]"},
    {MT_OP_CUMSUM_METHOD, "f32[2, 3]", "", "!USAGE:dim"},
)

/* ---- unfold (F.unfold, im2col: Pixtral's patch merger) --------------------------
 * Blocks per side by hand: floor((in + 2*pad - dilation*(k - 1) - 1) / stride) + 1;
 * the output [N, C*kh*kw, blocks_h*blocks_w]. */
CASES(unfold,
    /* Mistral3PatchMerger: 1540 px / 14 = 110 patches a side, 2 x 2 merge: 55 * 55 = 3025
     * blocks of 1024 * 4 = 4096 */
    {MT_OP_UNFOLD, "bf16[images, 1024, 110, 110]", "kernel_size=2, stride=2", "bf16[images, 4096, 3025]"},
    {MT_OP_UNFOLD, "f32[1, 3, 4, 4], 2", "", "f32[1, 12, 9]"},
    /* (5 + 2 - 2*(3-1) - 1) // 2 + 1 = 2 rows; (7 + 0 - 2 - 1) // 1 + 1 = 5 columns */
    {MT_OP_UNFOLD, "f32[2, 2, 5, 7], 3", "dilation=(2, 1), padding=(1, 0), stride=(2, 1)", "f32[2, 18, 10]"},
    {MT_OP_UNFOLD, "f32[3, 6, 6], (2, 3)", "stride=3", "f32[18, 4]"},
    /* an odd side drops the last row of patches: (5 - 2) // 2 + 1 = 2 */
    {MT_OP_UNFOLD, "f32[1, 8, 5, 4]", "kernel_size=2, stride=2", "f32[1, 32, 4]"},
    {MT_OP_UNFOLD, "f32[1, 2, h, w], 2", "stride=2", "f32[1, 8, ((h-2)//2+1)*((w-2)//2+1)]"},
    {MT_OP_UNFOLD, "f32[1, 1, 2, 2], 3", "", "!SHAPE:its components must be at least one"},
    {MT_OP_UNFOLD, "f32[1, 1, 4, 4], 0", "", "!SHAPE:kernel size should be greater than zero"},
    {MT_OP_UNFOLD, "f32[1, 1, 4, 4], 2", "stride=0", "!SHAPE:stride should be greater than zero"},
    {MT_OP_UNFOLD, "f32[1, 1, 4, 4], 2", "padding=-1", "!SHAPE:padding should be non-negative"},
    {MT_OP_UNFOLD, "f32[1, 1, 4, 4], 2", "dilation=0", "!SHAPE:dilation should be greater than zero"},
    {MT_OP_UNFOLD, "f32[4, 4], 2", "", "!SHAPE:Expected 3D or 4D"},
    {MT_OP_UNFOLD, "f32[1, 0, 4, 4], 2", "", "!SHAPE:non-zero dimensions"},
    {MT_OP_UNFOLD, "i64[1, 1, 4, 4], 2", "", "!UNSUPPORTED:floating dtypes only"},
    {MT_OP_UNFOLD, "f32[1, 1, 4, 4]", "", "!USAGE:kernel_size"},
)

/* ---- Qwen2.5-VL's vision tower: conv3d, unbind, outer, argsort -------------------
 * conv3d sizes by hand as conv2d's, per spatial dim: floor((in + 2*pad - dilation*(k -
 * 1) - 1) / stride) + 1. Qwen2.5-VL's patch embedding: each row of pixel_values is one
 * patch viewed as [3, 2, 14, 14] (channels, temporal_patch_size 2, 14 x 14 px), the
 * kernel and stride the patch, so every patch becomes one [1280, 1, 1, 1] vector. */
CASES(qwen_vision,
    {MT_OP_CONV3D, "bf16[n, 3, 2, 14, 14], bf16[1280, 3, 2, 14, 14], None, (2, 14, 14)", "",
     "bf16[n, 1280, 1, 1, 1]"},
    /* (8 - 2) // 2 + 1 = 4, (9 - 3) // 3 + 1 = 3, (10 + 2 - 3) // 1 + 1 = 10 */
    {MT_OP_CONV3D, "f32[2, 4, 8, 9, 10], f32[6, 4, 2, 3, 3], f32[6]", "stride=(2, 3, 1), padding=(0, 0, 1)",
     "f32[2, 6, 4, 3, 10]"},
    /* unbatched 4-D input; groups 2: 4 channels = 2 * weight's 2 */
    {MT_OP_CONV3D, "f32[4, 5, 5, 5], f32[6, 2, 3, 3, 3]", "groups=2", "f32[6, 3, 3, 3]"},
    /* dilation 2 on 7: a 5-wide window, 7 - 5 + 1 = 3 */
    {MT_OP_CONV3D, "f32[1, 1, 7, 7, 7], f32[1, 1, 3, 3, 3]", "dilation=2", "f32[1, 1, 3, 3, 3]"},
    {MT_OP_CONV3D, "f32[1, 2, 4, 5, 6], f32[3, 2, 3, 3, 3]", "padding='same'", "f32[1, 3, 4, 5, 6]"},
    {MT_OP_CONV3D, "f32[1, 2, t, 6, 6], f32[3, 2, 2, 3, 3]", "stride=(2, 3, 3)", "f32[1, 3, (t-2)//2+1, 2, 2]"},
    {MT_OP_CONV3D, "f32[3, 8, 8], f32[1, 3, 2, 2, 2]", "",
     "!SHAPE:Expected 4D (unbatched) or 5D (batched) input to conv3d"},
    {MT_OP_CONV3D, "f32[1, 3, 8, 8, 8], f32[1, 3, 2, 2]", "", "!SHAPE:weight should have 5 dimensions"},
    {MT_OP_CONV3D, "f32[1, 4, 8, 8, 8], f32[1, 3, 2, 2, 2]", "", "!SHAPE:expected input"},
    {MT_OP_CONV3D, "f32[1, 3, 2, 8, 8], f32[1, 3, 3, 2, 2]", "", "!SHAPE:Kernel size can't be greater"},
    {MT_OP_CONV3D, "f32[1, 3, 8, 8, 8], bf16[1, 3, 2, 2, 2]", "", "!SHAPE:should be the same"},
    {MT_OP_CONV3D, "f32[1, 3, 8, 8, 8], f32[2, 3, 2, 2, 2], f32[3]", "", "!SHAPE:expected bias"},
    {MT_OP_CONV3D, "f32[1, 3, 8, 8, 8], f32[2, 3, 2, 2, 2]", "stride=(1, 2)",
     "!USAGE:must be an int or a tuple of 1 or 3 ints"},
    {MT_OP_CONV3D, "f32[1, 3, 8, 8, 8], f32[2, 3, 2, 2, 2]", "stride=2, padding='same'",
     "!SHAPE:padding='same' is not supported for strided"},
    {MT_OP_CONV3D, "i64[1, 3, 8, 8, 8], i64[2, 3, 2, 2, 2]", "", "!UNSUPPORTED:floating dtypes only"},
    /* the vision attention's qkv(x).reshape(seq, 3, heads, -1).permute(1, 0, 2, 3).unbind(0) */
    {MT_OP_UNBIND, "bf16[3, n, 16, 80]", "", "tuple bf16[n, 16, 80], bf16[n, 16, 80], bf16[n, 16, 80]"},
    {MT_OP_UNBIND, "f32[2, 3]", "dim=1", "tuple f32[2], f32[2], f32[2]"},
    {MT_OP_UNBIND, "f32[2, 3], -2", "", "tuple f32[3], f32[3]"},
    {MT_OP_UNBIND, "f32[1]", "", "tuple f32[]"},
    {MT_OP_UNBIND, "f32[n, 4]", "", "!UNSUPPORTED:symbolic dim"},
    {MT_OP_UNBIND, "f32[2, 3], 2", "", "!SHAPE:Dimension out of range"},
    {MT_OP_UNBIND, "f32[]", "", "!SHAPE:has no dimensions"},
    /* Qwen2_5_VisionRotaryEmbedding: torch.outer(arange(grid), inv_freq) */
    {MT_OP_OUTER, "f32[32], f32[20]", "", "f32[32, 20]"},
    {MT_OP_OUTER, "i64[n], f32[m]", "", "f32[n, m]"},
    {MT_OP_OUTER, "bf16[3], f16[4]", "", "f32[3, 4]"},
    {MT_OP_OUTER, "i64[3], i32[4]", "", "i64[3, 4]"},
    {MT_OP_OUTER, "f32[3, 1], f32[4]", "", "!SHAPE:expected 1-D tensors"},
    /* torch.argsort(window_index): int64 of the input's shape */
    {MT_OP_ARGSORT, "i64[images*256]", "", "i64[images*256]"},
    {MT_OP_ARGSORT, "f32[2, 5]", "dim=0, descending=True", "i64[2, 5]"},
    {MT_OP_ARGSORT, "bf16[4], 0, False", "stable=True", "i64[4]"},
    {MT_OP_ARGSORT, "f32[]", "", "i64[]"},
    {MT_OP_ARGSORT, "f32[2, 5], 2", "", "!SHAPE:Dimension out of range"},
)

/* ---- Gemma 3n: std, clone, tensor ---------------------------------------------------
 * std reduces as mean does (torch.std's doc: the dims of dim removed, or kept as 1 with
 * keepdim) and keeps the input's floating dtype (ATen std_var_out: the real dtype of a
 * complex input); torch.tensor of a Python number is 0-d, float32 for a float (the
 * default dtype), int64 for an int, bool for a bool (torch.tensor's doc: "infers data
 * type from data"). */
CASES(gemma3n_ops,
    /* Gemma3nTextMLP._gaussian_topk: torch.std(inputs, dim=-1, keepdim=True, unbiased=False) */
    {MT_OP_STD, "bf16[batch, seq, 8192]", "dim=-1, keepdim=True, unbiased=False", "bf16[batch, seq, 1]"},
    {MT_OP_STD, "f32[2, 3, 4]", "", "f32[]"},
    {MT_OP_STD, "f32[2, 3, 4], 1", "", "f32[2, 4]"},
    {MT_OP_STD, "f32[2, 3, 4], (0, 2), False, True", "", "f32[1, 3, 1]"},
    {MT_OP_STD, "c64[5, 2]", "dim=0", "f32[2]"},
    {MT_OP_STD, "f32[2, 3]", "dim=1, correction=0", "f32[2]"},
    {MT_OP_STD, "f32[2, 3]", "dim=1, correction=0, unbiased=False", "!USAGE:invalid combination"},
    {MT_OP_STD, "i64[2, 3]", "dim=1", "!SHAPE:only support floating point and complex"},
    {MT_OP_STD, "f32[2, 3], 2", "", "!SHAPE:Dimension out of range"},
    /* the AltUp output's corrected_predictions[0].clone() */
    {MT_OP_CLONE, "bf16[batch, seq, 2048]", "", "bf16[batch, seq, 2048]"},
    {MT_OP_CLONE, "i64[]", "", "i64[]"},
    {MT_OP_CLONE, "f32[2, 3]", "memory_format=None", "f32[2, 3]"},
    /* Gemma3nTextModel.forward: epsilon_tensor = torch.tensor(1e-5) */
    {MT_OP_TENSOR, "1e-5", "", "f32[]"},
    {MT_OP_TENSOR, "3", "", "i64[]"},
    {MT_OP_TENSOR, "True", "", "bool[]"},
    {MT_OP_TENSOR, "2.0", "dtype=dtype:bf16", "bf16[]"},
    {MT_OP_TENSOR, "2", "dtype=dtype:f32", "f32[]"},
    {MT_OP_TENSOR, "2", "requires_grad=True", "!SHAPE:Only Tensors of floating point"},
    {MT_OP_TENSOR, "'a'", "", "!USAGE:invalid data type"},
)

/* ---- vision: conv2d, avg_pool2d, masked_scatter -----------------------------------
 * Sizes by hand from PyTorch's formula (ATen conv_output_size, pooling_output_shape):
 * out = floor((in + 2*pad - dilation*(k - 1) - 1) / stride) + 1; ceil_mode rounds up
 * and drops a last window that would start in the right padding. */
CASES(vision,
    /* SigLIP's patch embedding at Gemma 3's 896 px, 14 px patches: 896 / 14 = 64 */
    {MT_OP_CONV2D, "bf16[images, 3, 896, 896], bf16[1152, 3, 14, 14], bf16[1152], (14, 14), 'valid', (1, 1), 1", "",
     "bf16[images, 1152, 64, 64]"},
    {MT_OP_CONV2D, "f32[2, 3, 28, 28], f32[8, 3, 14, 14], f32[8]", "stride=14", "f32[2, 8, 2, 2]"},
    /* 384 px in 14 px patches: (384 - 14) // 14 + 1 = 27, the rest of the image dropped */
    {MT_OP_CONV2D, "f32[1, 3, 384, 384], f32[8, 3, 14, 14]", "stride=14", "f32[1, 8, 27, 27]"},
    /* (7 + 2 - 2 - 1) // 2 + 1 = 4 */
    {MT_OP_CONV2D, "f32[1, 4, 7, 7], f32[6, 4, 3, 3], None, 2, 1", "", "f32[1, 6, 4, 4]"},
    /* dilation 2: a 5-wide window, 10 - 5 + 1 = 6 */
    {MT_OP_CONV2D, "f32[1, 1, 10, 10], f32[1, 1, 3, 3]", "dilation=2", "f32[1, 1, 6, 6]"},
    {MT_OP_CONV2D, "f32[1, 4, 5, 5], f32[6, 2, 3, 3]", "groups=2", "f32[1, 6, 3, 3]"},
    {MT_OP_CONV2D, "f32[1, 4, 5, 7], f32[6, 4, 3, 3]", "padding='same'", "f32[1, 6, 5, 7]"},
    {MT_OP_CONV2D, "f32[3, 28, 28], f32[8, 3, 14, 14]", "stride=(14, 7)", "f32[8, 2, 3]"},
    {MT_OP_CONV2D, "f32[1, 3, h, w], f32[8, 3, 2, 2]", "stride=2", "f32[1, 8, (h-2)//2+1, (w-2)//2+1]"},
    {MT_OP_CONV2D, "f32[1, 4, 5, 5], f32[6, 3, 3, 3]", "", "!SHAPE:expected input[1, 4, 5, 5] to have 3 channels"},
    {MT_OP_CONV2D, "f32[1, 4, 5, 5], f32[6, 2, 3, 3]", "groups=4", "!SHAPE:expected input[1, 4, 5, 5] to have 8 channels"},
    {MT_OP_CONV2D, "f32[1, 6, 5, 5], f32[5, 2, 3, 3]", "groups=3", "!SHAPE:divisible by 3 at dimension 0"},
    {MT_OP_CONV2D, "f32[1, 3, 2, 2], f32[1, 3, 3, 3]", "", "!SHAPE:Kernel size can't be greater than actual input size"},
    {MT_OP_CONV2D, "f32[1, 3, 8, 8], bf16[1, 3, 3, 3]", "", "!SHAPE:should be the same"},
    {MT_OP_CONV2D, "f32[1, 3, 8, 8], f32[2, 3, 3, 3], f32[3]", "", "!SHAPE:expected bias to be 1-dimensional with 2 elements"},
    {MT_OP_CONV2D, "f32[3, 8], f32[2, 3, 3, 3]", "", "!SHAPE:Expected 3D (unbatched) or 4D (batched) input to conv2d"},
    {MT_OP_CONV2D, "f32[1, 3, 8, 8], f32[2, 3, 3, 3]", "stride=2, padding='same'", "!SHAPE:padding='same' is not supported for strided"},
    {MT_OP_CONV2D, "f32[1, 3, 8, 8], f32[2, 3, 3, 3]", "padding='full'", "!USAGE:Invalid padding string"},
    {MT_OP_CONV2D, "f32[1, 3, 8, 8]", "", "!USAGE:weight"},
    /* Gemma3MultiModalProjector: 64 patches a side pooled to 16 (kernel 64 // 16 = 4) */
    {MT_OP_AVG_POOL2D, "bf16[images, 1152, 64, 64]", "kernel_size=4, stride=4", "bf16[images, 1152, 16, 16]"},
    {MT_OP_AVG_POOL2D, "f32[1, 1, 8, 8], 2", "", "f32[1, 1, 4, 4]"},
    /* (7 + 2 - 3) // 2 + 1 = 4 */
    {MT_OP_AVG_POOL2D, "f32[1, 2, 7, 7], 3, 2, 1", "", "f32[1, 2, 4, 4]"},
    /* floor: (6 - 3) // 2 + 1 = 2; ceil: ceil(3 / 2) + 1 = 3, and (3 - 1) * 2 = 4 < 6 keeps it */
    {MT_OP_AVG_POOL2D, "f32[1, 1, 6, 6], 3, 2", "", "f32[1, 1, 2, 2]"},
    {MT_OP_AVG_POOL2D, "f32[1, 1, 6, 6], 3, 2", "ceil_mode=True", "f32[1, 1, 3, 3]"},
    /* ceil with padding 1: ceil((5 + 2 - 2) / 2) + 1 = 4, but (4 - 1) * 2 = 6 >= 5 + 1 drops it: 3 */
    {MT_OP_AVG_POOL2D, "f32[1, 1, 5, 5], 2, 2, 1", "ceil_mode=True", "f32[1, 1, 3, 3]"},
    {MT_OP_AVG_POOL2D, "f32[2, 8, 8], (2, 4)", "", "f32[2, 4, 2]"},
    {MT_OP_AVG_POOL2D, "f32[1, 3, h, w], 2", "", "f32[1, 3, (h-2)//2+1, (w-2)//2+1]"},
    {MT_OP_AVG_POOL2D, "f32[1, 1, 8, 8], 2, 2, 2", "", "!SHAPE:pad should be at most half of effective kernel size"},
    {MT_OP_AVG_POOL2D, "f32[1, 1, 2, 2], 3", "", "!SHAPE:Output size is too small"},
    {MT_OP_AVG_POOL2D, "f32[8, 8], 2", "", "!SHAPE:Expected 3D or 4D"},
    {MT_OP_AVG_POOL2D, "f32[1, 1, 4, 4], 2", "divisor_override=0", "!SHAPE:divisor must be not zero"},
    {MT_OP_AVG_POOL2D, "f32[1, 1, 4, 4]", "", "!USAGE:kernel_size"},
    /* Gemma 3's merge: inputs_embeds.masked_scatter(mask expanded to it, image features) */
    {MT_OP_MASKED_SCATTER, "bf16[batch, seq, 2560], bool[batch, seq, 2560], bf16[images, 256, 2560]", "",
     "bf16[batch, seq, 2560]"},
    /* out of place: self and mask broadcast (expand_outplace) */
    {MT_OP_MASKED_SCATTER, "f32[2, 3], bool[4, 1, 3], f32[5]", "", "f32[4, 2, 3]"},
    {MT_OP_MASKED_SCATTER, "f32[2, 3], bool[2, 3]", "source=f32[7]", "f32[2, 3]"},
    {MT_OP_MASKED_SCATTER, "f32[2, 3], i64[2, 3], f32[6]", "", "!SHAPE:only supports boolean masks"},
    {MT_OP_MASKED_SCATTER, "f32[2, 3], bool[2, 3], f16[6]", "", "!SHAPE:expected self and source to have same dtypes"},
    {MT_OP_MASKED_SCATTER, "f32[2, 3], bool[4, 3], f32[6]", "", "!SHAPE:"},
    {MT_OP_MASKED_SCATTER, "f32[2, 3], bool[2, 3]", "", "!USAGE:source"},
)

/* ---- matmul: every rank case of _matmul_impl ----------------------------------- */

CASES(matmul,
    {MT_OP_MATMUL, "f32[3], f32[3]", "", "f32[]"},
    {MT_OP_MATMUL, "f32[2, 3], f32[3]", "", "f32[2]"},
    {MT_OP_MATMUL, "f32[3], f32[3, 4]", "", "f32[4]"},
    {MT_OP_MATMUL, "f32[2, 3], f32[3, 4]", "", "f32[2, 4]"},
    {MT_OP_MATMUL, "f32[5, 2, 3], f32[3]", "", "f32[5, 2]"},
    {MT_OP_MATMUL, "f32[3], f32[5, 3, 4]", "", "f32[5, 4]"},
    {MT_OP_MATMUL, "f32[5, 2, 3], f32[3, 4]", "", "f32[5, 2, 4]"},
    {MT_OP_MATMUL, "f32[2, 3], f32[5, 3, 4]", "", "f32[5, 2, 4]"},
    {MT_OP_MATMUL, "f32[5, 2, 3], f32[5, 3, 4]", "", "f32[5, 2, 4]"},
    {MT_OP_MATMUL, "f32[batch, 1, 2, 3], f32[7, 3, 4]", "", "f32[batch, 7, 2, 4]"},
    {MT_OP_MATMUL, "bf16[batch, 32, seq, 128], bf16[batch, 32, 128, seq]", "", "bf16[batch, 32, seq, seq]"},
    {MT_OP_MATMUL, "bf16[batch, seq, 4096], bf16[4096, 11008]", "", "bf16[batch, seq, 11008]"},
    {MT_OP_MATMUL, "f32[batch, 2, 3], f32[seq, 3, 4]", "", "!SHAPE:must match"},
    {MT_OP_MATMUL, "f32[2, 3], f32[4, 5]", "", "!SHAPE:inner dimensions 3 and 4 differ): got [2, 3] and [4, 5]"},
    {MT_OP_MATMUL, "f32[3], f32[4]", "", "!SHAPE:got [3] and [4]"},
    {MT_OP_MATMUL, "f32[seq, 64], f32[past, 8]", "", "!SHAPE:inner dimensions 64 and past differ"},
    {MT_OP_MATMUL, "f32[], f32[3]", "", "!SHAPE:both arguments to matmul need to be at least 1D, but they are 0D and 1D"},
    {MT_OP_MATMUL, "f32[2, 3], bf16[3, 4]", "", "!SHAPE:expected m1 and m2 to have the same dtype"},
)

CASES(linear_embedding_norm,
    {MT_OP_LINEAR, "bf16[batch, seq, 4096], bf16[11008, 4096]", "", "bf16[batch, seq, 11008]"},
    {MT_OP_LINEAR, "bf16[batch, seq, 4096], bf16[11008, 4096], bf16[11008]", "", "bf16[batch, seq, 11008]"},
    {MT_OP_LINEAR, "f32[4096], f32[11008, 4096]", "bias=None", "f32[11008]"},
    {MT_OP_LINEAR, "f32[batch*seq, 768], f32[3072, 768]", "bias=f32[3072]", "f32[batch*seq, 3072]"},
    {MT_OP_LINEAR, "bf16[batch, seq, 1024], bf16[11008, 4096]", "", "!SHAPE:got [batch, seq, 1024] and [11008, 4096]"},
    {MT_OP_LINEAR, "f32[batch, 4096], bf16[11008, 4096]", "", "!SHAPE:same dtype"},
    {MT_OP_LINEAR, "f32[2, 8], f32[4, 8], f32[5]", "", "!SHAPE:tensor a (5) must match"},
    {MT_OP_LINEAR, "f32[2, 8], f32[4, 8], f32[2, 4]", "", "f32[2, 4]"},
    {MT_OP_LINEAR, "f32[2, 8], f32[4, 8], f32[3, 4]", "", "!SHAPE:must match"},
    {MT_OP_EMBEDDING, "i64[batch, seq], bf16[32000, 4096]", "", "bf16[batch, seq, 4096]"},
    {MT_OP_EMBEDDING, "i32[seq], f32[100, 16]", "", "f32[seq, 16]"},
    {MT_OP_EMBEDDING, "i64[], f32[100, 16]", "", "f32[16]"},
    {MT_OP_EMBEDDING, "f32[batch, seq], f32[100, 16]", "", "!SHAPE:'indices' to have one of the following scalar types: Long, Int"},
    {MT_OP_EMBEDDING, "i64[batch], f32[100]", "", "!SHAPE:'weight' must be 2-D"},
    {MT_OP_LAYER_NORM, "f32[batch, seq, 768], (768,), f32[768], f32[768], 1e-5", "", "f32[batch, seq, 768]"},
    {MT_OP_LAYER_NORM, "bf16[batch, seq, 768], (768,)", "weight=bf16[768], bias=None, eps=1e-12", "bf16[batch, seq, 768]"},
    {MT_OP_LAYER_NORM, "f32[batch, 4, 5], (4, 5)", "", "f32[batch, 4, 5]"},
    {MT_OP_LAYER_NORM, "f32[batch, seq, 768], 768", "", "f32[batch, seq, 768]"},
    {MT_OP_LAYER_NORM, "f32[2, 3, 768], (1024,)", "", "!SHAPE:Given normalized_shape=[1024], expected input with shape [*, 1024], but got input of size [2, 3, 768]"},
    {MT_OP_LAYER_NORM, "f32[2, 768], (768,), f32[512]", "", "!SHAPE:Expected weight to be of same shape as normalized_shape, but got weight of shape [512]"},
)

/* ---- views ----------------------------------------------------------------------- */

CASES(view_reshape,
    {MT_OP_VIEW, "f32[batch, seq, 4096], -1, 4096", "", "f32[batch*seq, 4096]"},
    {MT_OP_VIEW, "f32[batch, seq, 4096], ($batch, $seq, 32, 128)", "", "f32[batch, seq, 32, 128]"},
    {MT_OP_VIEW, "f32[batch, seq, 4096], $batch, $seq, 32, 128", "", "f32[batch, seq, 32, 128]"},
    {MT_OP_VIEW, "f32[batch, seq, 4096], $batch, -1, 32, 128", "", "f32[batch, seq, 32, 128]"},
    {MT_OP_VIEW, "f32[batch, seq, 4096], $batch, -1, 128", "", "f32[batch, 32*seq, 128]"},
    {MT_OP_VIEW, "f32[batch, seq, 32, 128], $batch, $seq, -1", "", "f32[batch, seq, 4096]"},
    {MT_OP_VIEW, "f32[batch*seq, 4096], $batch, $seq, 4096", "", "f32[batch, seq, 4096]"},
    {MT_OP_VIEW, "f32[batch, seq, 4096], $batch, $seq, 4000", "", "!SHAPE:shape [batch, seq, 4000] is invalid for input of size"},
    {MT_OP_VIEW, "f32[batch, seq, 4096], $batch, $seq, 4000", "", "!SHAPE:got [batch, seq, 4096]"},
    {MT_OP_VIEW, "f32[batch, seq, 4096], -1, -1", "", "!SHAPE:only one dimension can be inferred"},
    {MT_OP_VIEW, "f32[12], 5, -1", "", "!SHAPE:shape [5, -1] is invalid for input of size 12"},
    {MT_OP_VIEW, "f32[batch, seq], $seq, -1, 3", "", "!SHAPE:is invalid for input of size"},
    {MT_OP_VIEW, "f32[0, 4], 0, -1", "", "!SHAPE:ambiguous"},
    {MT_OP_VIEW, "f32[2, 3], -2, 3", "", "!SHAPE:invalid shape dimension -2: got shape [-2, 3]"},
    {MT_OP_VIEW, "f32[2, 3], -1, -1, 6", "", "!SHAPE:only one dimension can be inferred: got shape [-1, -1, 6]"},
    {MT_OP_VIEW, "f32[2, 3], dtype:f16", "", "!UNSUPPORTED:view(dtype)"},
    {MT_OP_RESHAPE, "f32[2, 3, 4], 6, -1", "", "f32[6, 4]"},
    {MT_OP_RESHAPE, "f32[2, 3], -1", "", "f32[6]"},
    {MT_OP_RESHAPE, "f32[1, 1], ()", "", "f32[]"},
    {MT_OP_RESHAPE, "f32[batch, seq, 8], (-1,)", "", "f32[8*batch*seq]"},
    {MT_OP_RESHAPE, "f32[2, 3], 7", "", "!SHAPE:shape [7] is invalid for input of size 6"},
)

CASES(dims,
    {MT_OP_TRANSPOSE, "f32[batch, seq, 32, 128], 1, 2", "", "f32[batch, 32, seq, 128]"},
    {MT_OP_TRANSPOSE, "f32[batch, 32, seq, 128], -1, -2", "", "f32[batch, 32, 128, seq]"},
    {MT_OP_TRANSPOSE, "f32[2, 3]", "dim0=0, dim1=1", "f32[3, 2]"},
    {MT_OP_TRANSPOSE, "f32[batch, seq, 32, 128], 0, 4", "", "!SHAPE:Dimension out of range (expected to be in range of [-4, 3], but got 4): got [batch, seq, 32, 128]"},
    {MT_OP_PERMUTE, "f32[2, 3, 4], 2, 0, 1", "", "f32[4, 2, 3]"},
    {MT_OP_PERMUTE, "f32[2, 3, 4], (0, 2, 1)", "", "f32[2, 4, 3]"},
    {MT_OP_PERMUTE, "f32[2, 3, 4], -1, 0, 1", "", "f32[4, 2, 3]"},
    {MT_OP_PERMUTE, "f32[2, 3, 4]", "dims=(1, 0, 2)", "f32[3, 2, 4]"},
    {MT_OP_PERMUTE, "f32[2, 3, 4], 0, 0, 1", "", "!SHAPE:repeated dim in permute"},
    {MT_OP_PERMUTE, "f32[2, 3, 4], 0, 1", "", "!SHAPE:input.dim() = 3 is not equal to len(dims) = 2"},
    {MT_OP_UNSQUEEZE, "f32[2, 3], 0", "", "f32[1, 2, 3]"},
    {MT_OP_UNSQUEEZE, "f32[2, 3], -1", "", "f32[2, 3, 1]"},
    {MT_OP_UNSQUEEZE, "f32[2, 3], 2", "", "f32[2, 3, 1]"},
    {MT_OP_UNSQUEEZE, "f32[2, 3], 1", "", "f32[2, 1, 3]"},
    {MT_OP_UNSQUEEZE, "f32[], 0", "", "f32[1]"},
    {MT_OP_UNSQUEEZE, "f32[2, 3], 3", "", "!SHAPE:expected to be in range of [-3, 2], but got 3"},
    {MT_OP_SQUEEZE, "f32[1, seq, 1, 4]", "", "f32[seq, 4]"},
    {MT_OP_SQUEEZE, "f32[1, seq, 1, 4], 0", "", "f32[seq, 1, 4]"},
    {MT_OP_SQUEEZE, "f32[1, seq, 1, 4], 1", "", "f32[1, seq, 1, 4]"},
    {MT_OP_SQUEEZE, "f32[1, seq, 1, 4], (0, 2)", "", "f32[seq, 4]"},
    {MT_OP_SQUEEZE, "f32[3, 1], 0", "", "f32[3, 1]"},
    {MT_OP_SQUEEZE, "f32[3, 1]", "dim=-1", "f32[3]"},
    {MT_OP_SQUEEZE, "f32[1]", "", "f32[]"},
    {MT_OP_SQUEEZE, "f32[3, 1], 2", "", "!SHAPE:but got 2"},
    {MT_OP_EXPAND, "f32[batch, 1, seq], $batch, 8, $seq", "", "f32[batch, 8, seq]"},
    {MT_OP_EXPAND, "f32[batch, 1, seq], -1, 8, -1", "", "f32[batch, 8, seq]"},
    {MT_OP_EXPAND, "f32[batch, 1, seq], (-1, 8, -1)", "", "f32[batch, 8, seq]"},
    {MT_OP_EXPAND, "f32[3], 2, 3", "", "f32[2, 3]"},
    {MT_OP_EXPAND, "f32[3], 2, -1", "", "f32[2, 3]"},
    {MT_OP_EXPAND, "f32[1], $seq", "", "f32[seq]"},
    {MT_OP_EXPAND, "f32[batch, 8, 1, seq, 128], $batch, 8, 4, $seq, 128", "", "f32[batch, 8, 4, seq, 128]"},
    {MT_OP_EXPAND, "f32[3], -1, 3", "", "!SHAPE:the expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension 0"},
    {MT_OP_EXPAND, "f32[3], 4", "", "!SHAPE:The expanded size of the tensor (4) must match the existing size (3) at non-singleton dimension 0.  Target sizes: [4].  Tensor sizes: [3]"},
    {MT_OP_EXPAND, "f32[seq], $batch", "", "!SHAPE:must match the existing size (seq)"},
    {MT_OP_EXPAND, "f32[2, 3], 3", "", "!SHAPE:the number of sizes provided (1) must be greater or equal to the number of dimensions in the tensor (2)"},
)

/* ---- cat / split / chunk / topk ---------------------------------------------------- */

CASES(cat,
    {MT_OP_CAT, "(f32[batch, seq, 64], f32[batch, seq, 64]), -1", "", "f32[batch, seq, 128]"},
    {MT_OP_CAT, "(f32[batch, seq, 64], f32[batch, seq, 64])", "dim=1", "f32[batch, 2*seq, 64]"},
    {MT_OP_CAT, "(f32[2, 3], f32[4, 3])", "", "f32[6, 3]"},
    {MT_OP_CAT, "(f32[b, past, 64], f32[b, seq, 64]), 1", "", "f32[b, past+seq, 64]"},
    {MT_OP_CAT, "(bf16[2], f32[3])", "", "f32[5]"},
    {MT_OP_CAT, "(i32[2], i64[1], i32[4])", "", "i64[7]"},
    {MT_OP_CAT, "(f32[2, 3], f32[2, 4])", "", "!SHAPE:Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for tensor number 1 in the list"},
    {MT_OP_CAT, "(f32[2, 3], f32[2])", "", "!SHAPE:Tensors must have same number of dimensions: got 2 and 1"},
    {MT_OP_CAT, "()", "", "!SHAPE:expected a non-empty list of Tensors"},
    {MT_OP_CAT, "(f32[], f32[])", "", "!SHAPE:zero-dimensional tensor (at position 0) cannot be concatenated"},
    {MT_OP_CAT, "(f32[2, 3], f32[2, 3]), 2", "", "!SHAPE:but got 2"},
)

CASES(split_chunk,
    {MT_OP_SPLIT, "f32[5, 4], 2", "", "tuple f32[2, 4], f32[2, 4], f32[1, 4]"},
    {MT_OP_SPLIT, "f32[6, 4], 2", "", "tuple f32[2, 4], f32[2, 4], f32[2, 4]"},
    {MT_OP_SPLIT, "f32[4, 6], 4, 1", "", "tuple f32[4, 4], f32[4, 2]"},
    {MT_OP_SPLIT, "f32[3], 5", "", "tuple f32[3]"},
    {MT_OP_SPLIT, "f32[batch, 12], (4, 4, 4), -1", "", "tuple f32[batch, 4], f32[batch, 4], f32[batch, 4]"},
    {MT_OP_SPLIT, "f32[batch, 12], (8, 4)", "dim=1", "tuple f32[batch, 8], f32[batch, 4]"},
    {MT_OP_SPLIT, "f32[batch, 12]", "split_size_or_sections=6, dim=-1", "tuple f32[batch, 6], f32[batch, 6]"},
    {MT_OP_SPLIT, "f32[b, 3*seq], $seq, -1", "", "tuple f32[b, seq], f32[b, seq], f32[b, seq]"},
    {MT_OP_SPLIT, "f32[b, seq+past], ($past, $seq), 1", "", "tuple f32[b, past], f32[b, seq]"},
    {MT_OP_SPLIT, "f32[0, 3], 0", "", "tuple f32[0, 3]"},
    {MT_OP_SPLIT, "f32[batch, 12], (4, 4), -1", "", "!SHAPE:split_with_sizes expects split_sizes to sum exactly to 12 (input tensor's size at dimension 1), but got split_sizes=[4, 4]"},
    {MT_OP_SPLIT, "f32[seq], 4", "", "!SHAPE:cannot determine the number of chunks"},
    {MT_OP_SPLIT, "f32[12], (-4, 4, 12)", "", "!SHAPE:only non-negative entries, but got split_sizes=[-4, 4, 12]"},
    {MT_OP_SPLIT, "f32[2*seq], 2", "", "!SHAPE:cannot determine the number of chunks"},
    {MT_OP_SPLIT, "f32[5], 0", "", "!SHAPE:split_size can only be 0 if dimension size is 0, but got dimension size of 5"},
    {MT_OP_SPLIT, "f32[], 1", "", "!SHAPE:split expects at least a 1-dimensional tensor"},
    /* chunk: split_size = ceil(n / chunks), so 6 into 4 chunks gives 3 pieces */
    {MT_OP_CHUNK, "f32[6, 4], 4", "", "tuple f32[2, 4], f32[2, 4], f32[2, 4]"},
    {MT_OP_CHUNK, "f32[5], 2", "", "tuple f32[3], f32[2]"},
    {MT_OP_CHUNK, "f32[batch, seq, 22016], 2, -1", "", "tuple f32[batch, seq, 11008], f32[batch, seq, 11008]"},
    {MT_OP_CHUNK, "f32[b, 2*inter], 2", "dim=-1", "tuple f32[b, inter], f32[b, inter]"},
    {MT_OP_CHUNK, "f32[0], 3", "", "tuple f32[0], f32[0], f32[0]"},
    {MT_OP_CHUNK, "f32[b, seq], 2, 1", "", "!SHAPE:cannot chunk symbolic dim 1 of size seq into 2 chunks"},
    {MT_OP_CHUNK, "f32[4], 0", "", "!SHAPE:chunk expects `chunks` to be greater than 0, got: 0"},
    {MT_OP_TOPK, "f32[batch, 8], 2", "", "tuple f32[batch, 2], i64[batch, 2]"},
    {MT_OP_TOPK, "bf16[8, 3], 2", "dim=0, largest=True, sorted=False", "tuple bf16[2, 3], i64[2, 3]"},
    {MT_OP_TOPK, "f32[tokens, 64], $k", "", "tuple f32[tokens, k], i64[tokens, k]"},
    {MT_OP_TOPK, "f32[batch, 8], 9", "", "!SHAPE:selected index k out of range"},
)

/* ---- indexing ------------------------------------------------------------------------ */

CASES(getitem,
    {MT_OP_GETITEM, "f32[batch, seq, 4096], (slice(None, None, None), -1, slice(None, None, None))", "", "f32[batch, 4096]"},
    {MT_OP_GETITEM, "f32[b, h, seq, 128], (..., slice(None, 64, None))", "", "f32[b, h, seq, 64]"},
    {MT_OP_GETITEM, "f32[b, h, seq, 128], (..., slice(64, None, None))", "", "f32[b, h, seq, 64]"},
    {MT_OP_GETITEM, "f32[2, 3], None", "", "f32[1, 2, 3]"},
    {MT_OP_GETITEM, "f32[2, 3], (slice(None, None, None), None, slice(None, None, None))", "", "f32[2, 1, 3]"},
    {MT_OP_GETITEM, "f32[2, 3], (None, ..., None)", "", "f32[1, 2, 3, 1]"},
    {MT_OP_GETITEM, "f32[b, seq], (slice(None, None, None), None, None, slice(None, None, None))", "", "f32[b, 1, 1, seq]"},
    {MT_OP_GETITEM, "f32[5, 3], 2", "", "f32[3]"},
    {MT_OP_GETITEM, "f32[5, 3], -5", "", "f32[3]"},
    {MT_OP_GETITEM, "f32[5, 3], (1, 2)", "", "f32[]"},
    {MT_OP_GETITEM, "f32[5, 3], 5", "", "!SHAPE:index 5 is out of bounds for dimension 0 with size 5"},
    {MT_OP_GETITEM, "f32[5, 3], (0, -4)", "", "!SHAPE:index -4 is out of bounds for dimension 1 with size 3"},
    {MT_OP_GETITEM, "f32[10], slice(None, None, 3)", "", "f32[4]"},
    {MT_OP_GETITEM, "f32[10], slice(1, 8, 2)", "", "f32[4]"},
    {MT_OP_GETITEM, "f32[10], slice(-3, None, None)", "", "f32[3]"},
    {MT_OP_GETITEM, "f32[10], slice(None, -3, None)", "", "f32[7]"},
    {MT_OP_GETITEM, "f32[10], slice(20, None, None)", "", "f32[0]"},
    {MT_OP_GETITEM, "f32[10], slice(5, 2, None)", "", "f32[0]"},
    {MT_OP_GETITEM, "f32[10], slice(-20, 4, None)", "", "f32[4]"},
    {MT_OP_GETITEM, "f32[10], slice(None, None, 0)", "", "!SHAPE:step must be greater than zero"},
    {MT_OP_GETITEM, "f32[seq], slice(1, None, None)", "", "f32[seq-1]"},
    {MT_OP_GETITEM, "f32[seq], slice(None, -1, None)", "", "f32[seq-1]"},
    {MT_OP_GETITEM, "f32[seq], slice(-1, None, None)", "", "f32[1]"},
    {MT_OP_GETITEM, "f32[seq], slice(past, None, None)", "", "f32[seq-past]"},
    {MT_OP_GETITEM, "f32[seq], slice(None, seq, None)", "", "f32[seq]"},
    {MT_OP_GETITEM, "f32[seq], slice(None, None, 2)", "", "f32[(seq+1)//2]"},
    {MT_OP_GETITEM, "f32[seq], slice(None, 1, None)", "", "f32[1]"},
    {MT_OP_GETITEM, "f32[seq], slice(None, 8, None)", "", "!SHAPE:min(8, seq) is undecidable"},
    {MT_OP_GETITEM, "f32[seq], slice(None, past, None)", "", "!SHAPE:undecidable"},
    {MT_OP_GETITEM, "f32[batch, seq], (slice(None, None, None), -1)", "", "f32[batch]"},
    {MT_OP_GETITEM, "f32[batch, seq], (0, $seq)", "", "f32[]"},
    {MT_OP_GETITEM, "f32[2, 3], (0, 0, 0)", "", "!SHAPE:too many indices for tensor of dimension 2"},
    {MT_OP_GETITEM, "f32[2, 3], (..., ...)", "", "!SHAPE:an index can only have a single ellipsis"},
    /* one integer tensor index picks rows of dim 0: index.shape + x.shape[1:] (Pixtral's
     * inv_freq[position_ids] over the 110 x 110 grid of 1540 px in 14 px patches) */
    {MT_OP_GETITEM, "f32[2, 3], i64[4]", "", "f32[4, 3]"},
    {MT_OP_GETITEM, "f32[12100, 64], i64[12100]", "", "f32[12100, 64]"},
    {MT_OP_GETITEM, "f16[5, 3, 2], i64[2, 7]", "", "f16[2, 7, 3, 2]"},
    {MT_OP_GETITEM, "f16[5, 3, 2], i32[2, 7]", "", "!UNSUPPORTED:int32 index"},
    {MT_OP_GETITEM, "f32[5], i64[n]", "", "f32[n]"},
    {MT_OP_GETITEM, "f32[5, 3], i64[]", "", "f32[3]"},
    {MT_OP_GETITEM, "f32[5, 3], bool[5]", "", "!UNSUPPORTED:mask"},
    {MT_OP_GETITEM, "f32[5, 3], f32[2]", "", "!SHAPE:tensors used as indices must be long, int, byte or bool"},
    {MT_OP_GETITEM, "f32[], i64[2]", "", "!SHAPE:too many indices for tensor of dimension 0"},
    {MT_OP_GETITEM, "f32[5, 3], (slice(None, None, None), i64[2])", "", "!UNSUPPORTED:advanced indexing"},
    {MT_OP_GETITEM, "f32[2, 3], ((0, 1),)", "", "!UNSUPPORTED:advanced indexing"},
)

/* ---- factories -------------------------------------------------------------------------- */

CASES(factories,
    {MT_OP_ARANGE, "10", "", "i64[10]"},
    {MT_OP_ARANGE, "2, 10", "", "i64[8]"},
    {MT_OP_ARANGE, "0, 10, 3", "", "i64[4]"},
    {MT_OP_ARANGE, "10, 0, -3", "", "i64[4]"},
    {MT_OP_ARANGE, "0, 10, 4", "", "i64[3]"},
    {MT_OP_ARANGE, "0.0, 1.0, 0.3", "", "f32[4]"},
    {MT_OP_ARANGE, "0.5", "", "f32[1]"},
    {MT_OP_ARANGE, "0, 4096, 2", "dtype=dtype:i64", "i64[2048]"},
    {MT_OP_ARANGE, "5", "dtype=dtype:f32, device='cpu'", "f32[5]"},
    {MT_OP_ARANGE, "", "end=5", "i64[5]"},
    {MT_OP_ARANGE, "", "start=2, end=5", "i64[3]"},
    {MT_OP_ARANGE, "$seq", "", "i64[seq]"},
    {MT_OP_ARANGE, "$past, $past+seq", "", "i64[seq]"},
    {MT_OP_ARANGE, "0, $seq, 2", "", "i64[(seq+1)//2]"},
    {MT_OP_ARANGE, "0, 10, 0", "", "!SHAPE:step must be nonzero"},
    {MT_OP_ARANGE, "10, 0", "", "!SHAPE:upper bound and larger bound inconsistent with step sign"},
    {MT_OP_FULL, "(2, 3), 0.0", "", "f32[2, 3]"},
    {MT_OP_FULL, "($seq, $seq), True", "", "bool[seq, seq]"},
    {MT_OP_FULL, "(2,), 7", "", "i64[2]"},
    {MT_OP_FULL, "($seq, $seq), -3.4e38", "dtype=dtype:bf16", "bf16[seq, seq]"},
    {MT_OP_FULL, "", "size=(4,), fill_value=1.0", "f32[4]"},
    {MT_OP_FULL, "(-1, 2), 0", "", "!SHAPE:negative dimension -1"},
    {MT_OP_FULL, "(2, -3), 0", "", "!SHAPE:negative dimension -3: [2, -3]"},
    {MT_OP_ZEROS, "$seq, -2", "", "!SHAPE:negative dimension -2: [seq, -2]"},
    {MT_OP_ZEROS, "($seq, 4)", "dtype=dtype:bf16", "bf16[seq, 4]"},
    {MT_OP_TRIU, "f32[seq, seq], 1", "", "f32[seq, seq]"},
    {MT_OP_TRIU, "bool[b, seq, seq]", "diagonal=1", "bool[b, seq, seq]"},
    {MT_OP_TRIU, "f32[3]", "", "!SHAPE:triu: input tensor must have at least 2 dimensions"},
)

/* ---- scaled dot-product attention --------------------------------------------------- */

CASES(sdpa,
    {MT_OP_SDPA, "bf16[b, 32, seq, 128], bf16[b, 32, seq, 128], bf16[b, 32, seq, 128]", "", "bf16[b, 32, seq, 128]"},
    {MT_OP_SDPA, "bf16[b, 32, seq, 128], bf16[b, 32, seq, 128], bf16[b, 32, seq, 128]", "is_causal=True, dropout_p=0.0", "bf16[b, 32, seq, 128]"},
    {MT_OP_SDPA, "bf16[b, 32, seq, 128], bf16[b, 8, seq, 128], bf16[b, 8, seq, 128]", "enable_gqa=True", "bf16[b, 32, seq, 128]"},
    {MT_OP_SDPA, "bf16[b, 32, seq, 128], bf16[b, 8, seq, 128], bf16[b, 8, seq, 128]", "", "!SHAPE:must match"},
    {MT_OP_SDPA, "bf16[b, 32, seq, 128], bf16[b, 6, seq, 128], bf16[b, 6, seq, 128]", "enable_gqa=True", "!SHAPE:Number of heads in key and value must divide the number of heads in query"},
    {MT_OP_SDPA, "f32[b, 8, L, 64], f32[b, 8, S, 64], f32[b, 8, S, 32]", "", "f32[b, 8, L, 32]"},
    {MT_OP_SDPA, "f32[8, L, 64], f32[8, S, 64], f32[8, S, 64]", "", "f32[8, L, 64]"},
    {MT_OP_SDPA, "f32[b, 8, L, 64], f32[1, 8, S, 64], f32[1, 8, S, 64]", "", "f32[b, 8, L, 64]"},
    {MT_OP_SDPA, "bf16[b, 32, seq, 128], bf16[b, 32, seq, 128], bf16[b, 32, seq, 128], bool[b, 1, seq, seq]", "", "bf16[b, 32, seq, 128]"},
    {MT_OP_SDPA, "bf16[b, 32, seq, 128], bf16[b, 32, kv, 128], bf16[b, 32, kv, 128]", "attn_mask=f32[b, 1, seq, kv], scale=0.125", "bf16[b, 32, seq, 128]"},
    {MT_OP_SDPA, "bf16[b, 32, seq, 128], bf16[b, 32, kv, 128], bf16[b, 32, kv, 128]", "attn_mask=bf16[seq, kv]", "bf16[b, 32, seq, 128]"},
    {MT_OP_SDPA, "bf16[b, 32, seq, 128], bf16[b, 32, seq, 128], bf16[b, 32, seq, 128]", "attn_mask=f16[b, 1, seq, seq]", "!SHAPE:Expected attn_mask dtype to be bool or float or to match query dtype"},
    {MT_OP_SDPA, "f32[b, 32, seq, 128], f32[b, 32, seq, 128], f32[b, 32, seq, 128], bool[b, 1, seq, seq], 0.0, True", "", "!SHAPE:Explicit attn_mask should not be set when is_causal=True"},
    {MT_OP_SDPA, "f32[b, 32, seq, 128], f32[b, 32, kv, 128], f32[b, 32, kv, 128]", "attn_mask=bool[b, 1, seq, past]", "!SHAPE:must match"},
    {MT_OP_SDPA, "f32[b, 32, seq, 128], f32[b, 32, seq, 128], f32[b, 32, seq, 128]", "attn_mask=bool[2, b, 32, seq, seq]", "!SHAPE:attn_mask of shape [2, b, 32, seq, seq] is not broadcastable to [b, 32, seq, seq]"},
    {MT_OP_SDPA, "f32[b, 32, seq, 128], bf16[b, 32, seq, 128], f32[b, 32, seq, 128]", "", "!SHAPE:Expected query, key, and value to have the same dtype"},
    {MT_OP_SDPA, "f32[b, 32, seq, 128], f32[b, 32, seq, 64], f32[b, 32, seq, 128]", "", "!SHAPE:query and key must have the same embedding size"},
    {MT_OP_SDPA, "f32[b, 32, seq, 128], f32[b, 32, seq, 128], f32[b, 32, kv, 128]", "", "!SHAPE:key and value must have the same sequence length"},
    {MT_OP_SDPA, "f32[128], f32[128], f32[128]", "", "!SHAPE:at least 2 dimensional"},
)

/* ---- Mamba-2 mixer ops (transformers' BambaMixer.torch_forward) -----------------------
 * conv1d: L_out = (L + 2 padding - dilation (K - 1) - 1) // stride + 1 (ATen conv_output_size);
 * Bamba's depthwise conv: 8448 channels, groups 8448, K 4, padding 3: L + 3.
 * pad: (left, right) pairs from the last dim; chunk padding of seq to a multiple of 256:
 * seq + (256*((seq+255)//256) - seq) = 256*((seq+255)//256). */
CASES(mamba_ops,
    {MT_OP_CONV1D, "bf16[b, 8448, seq], bf16[8448, 1, 4], bf16[8448], 1, 3, 1, 8448", "", "bf16[b, 8448, seq+3]"},
    {MT_OP_CONV1D, "f32[2, 6, 10], f32[4, 3, 3]", "groups=2", "f32[2, 4, 8]"},
    {MT_OP_CONV1D, "f32[2, 6, 10], f32[4, 6, 3]", "stride=2, padding=1", "f32[2, 4, 5]"},
    {MT_OP_CONV1D, "f32[2, 6, 10], f32[4, 6, 3]", "stride=(2,), dilation=2", "f32[2, 4, 3]"},
    {MT_OP_CONV1D, "f32[6, seq], f32[4, 6, 3]", "padding='same'", "f32[4, seq]"},
    {MT_OP_CONV1D, "f32[6, seq], f32[4, 6, 3]", "padding='valid'", "f32[4, seq-2]"},
    {MT_OP_CONV1D, "f32[2, 6, 10], f32[4, 6, 3]", "padding='full'", "!SHAPE:Invalid padding string 'full'"},
    {MT_OP_CONV1D, "f32[2, 6, 10], f32[4, 3, 3]", "", "!SHAPE:expected input [2, 6, 10] to have 3 channels, but got 6"},
    {MT_OP_CONV1D, "f32[2, 6, 10], f32[5, 3, 3]", "groups=2", "!SHAPE:divisible by 2 at dimension 0"},
    {MT_OP_CONV1D, "f32[2, 6, 2], f32[4, 6, 3]", "", "!SHAPE:Calculated output size (0) is too small"},
    {MT_OP_CONV1D, "f32[2, 6, 10], bf16[4, 6, 3]", "", "!SHAPE:Input type (float32) and weight type (bfloat16)"},
    {MT_OP_CONV1D, "f32[2, 6, 10], f32[4, 6, 3], f32[3]", "", "!SHAPE:expected bias to be 1-dimensional with 4 elements"},
    {MT_OP_CONV1D, "f32[6, 10], f32[4, 6]", "", "!SHAPE:weight should have 3 dimensions"},
    {MT_OP_CONV1D, "f32[1, 2, 6, 10], f32[4, 6, 3]", "", "!SHAPE:Expected 2D (unbatched) or 3D (batched) input"},
    /* integer dtypes run on the CPU kernels (the libtorch oracle's finding); bool does not */
    {MT_OP_CONV1D, "i64[2, 6, 10], i64[4, 6, 3]", "", "i64[2, 4, 8]"},
    {MT_OP_CONV1D, "bool[2, 6, 10], bool[4, 6, 3]", "", "!SHAPE:no bool kernel"},
    {MT_OP_CONV1D, "f32[2, 6, 10], f32[4, 6, 3]", "stride=0", "!SHAPE:non-positive stride"},
    {MT_OP_PAD, "f32[b, seq, 128, 64], (0, 0, 0, 0, 0, $256*((seq+255)//256)-seq, 0, 0)", "mode='constant', value=0", "f32[b, 256*((seq+255)//256), 128, 64]"},
    {MT_OP_PAD, "f32[b, 128, c], (1, 0)", "", "f32[b, 128, c+1]"},
    {MT_OP_PAD, "bf16[2, 3], (1, 2, 3, 4)", "", "bf16[9, 6]"},
    {MT_OP_PAD, "f32[2, 5], (-1, -2)", "", "f32[2, 2]"},
    {MT_OP_PAD, "f32[2, 5], (-3, -3)", "", "!SHAPE:resulted in a negative output size"},
    {MT_OP_PAD, "f32[2, 5], (1, 2, 3)", "", "!SHAPE:Padding length must be divisible by 2"},
    {MT_OP_PAD, "f32[5], (1, 2, 3, 4)", "", "!SHAPE:Padding length should be less than or equal to two times the input dimension"},
    {MT_OP_PAD, "f32[2, 5], (1, 1)", "mode='reflect'", "!UNSUPPORTED:padding mode 'reflect'"},
    {MT_OP_PAD, "f32[2, 5], 1", "", "!USAGE:argument 'pad' must be a tuple"},
    {MT_OP_SOFTPLUS, "bf16[b, seq, 128]", "", "bf16[b, seq, 128]"},
    {MT_OP_SOFTPLUS, "f32[3]", "beta=2, threshold=10.0", "f32[3]"},
    {MT_OP_SOFTPLUS, "i64[3]", "", "!SHAPE:\"softplus_cpu\" not implemented for 'int64'"},
    {MT_OP_TRIL, "bool[256, 256]", "diagonal=-1", "bool[256, 256]"},
    {MT_OP_TRIL, "f32[b, c, c], 0", "", "f32[b, c, c]"},
    {MT_OP_TRIL, "f32[3]", "", "!SHAPE:tril: input tensor must have at least 2 dimensions"},
    {MT_OP_ONES, "256, 256", "dtype=dtype:bool", "bool[256, 256]"},
    {MT_OP_ONES, "$c+1, $c+1", "dtype=dtype:bool", "bool[c+1, c+1]"},
    {MT_OP_ONES, "(2, 3)", "", "f32[2, 3]"},
    {MT_OP_ONES, "-1", "", "!SHAPE:negative dimension -1"},
    {MT_OP_CLAMP_FN, "bf16[b, seq, 128], 0.0, inf", "", "bf16[b, seq, 128]"},
    {MT_OP_CLAMP_FN, "i64[3], 0.5", "", "f32[3]"},
    {MT_OP_CLAMP_FN, "f32[3]", "", "!SHAPE:At least one of 'min' or 'max' must not be None"},
    /* slicing back to seq: conv1d's seq+3, and the chunk-padded 256*((seq+255)//256) */
    {MT_OP_GETITEM, "bf16[b, 8448, seq+3], (..., slice(None, seq, None))", "", "bf16[b, 8448, seq]"},
    {MT_OP_GETITEM, "f32[b, 256*((seq+255)//256), 128, 64], (slice(None, None, None), slice(None, seq, None))", "", "f32[b, seq, 128, 64]"},
    /* conservative: 2*seq >= seq holds but is neither form, so it stays undecidable */
    {MT_OP_GETITEM, "f32[b, 2*seq, 4], (slice(None, None, None), slice(None, seq, None))", "", "!SHAPE:undecidable"},
    {MT_OP_GETITEM, "f32[b, seq, 4], (slice(None, None, None), slice(None, seq+1, None))", "", "!SHAPE:undecidable"},
    {MT_OP_GETITEM, "f32[b, 255*((seq+255)//256), 4], (slice(None, None, None), slice(None, seq, None))", "", "!SHAPE:undecidable"},
    /* states[:, :1] over the chunk count (seq+255)//256, which is >= 1 for seq >= 1 (its default lower bound) */
    {MT_OP_GETITEM, "f32[b, (seq+255)//256, 8], (slice(None, None, None), slice(None, 1, None))", "", "f32[b, 1, 8]"},
    {MT_OP_GETITEM, "f32[b, (seq+255)//256+1, 8], (slice(None, None, None), slice(None, 2, None))", "", "f32[b, 2, 8]"},
    {MT_OP_GETITEM, "f32[b, (seq+255)//256+1, 8], (slice(None, None, None), slice(None, 3, None))", "", "!SHAPE:undecidable"},
    {MT_OP_GETITEM, "f32[b, seq-1, 8], (slice(None, None, None), slice(None, 1, None))", "", "!SHAPE:undecidable"},
    {MT_OP_REPEAT_INTERLEAVE_METHOD, "f32[b, seq, 1, 128], 128", "dim=2, output_size=128", "f32[b, seq, 128, 128]"},
    {MT_OP_REPEAT_INTERLEAVE_METHOD, "f32[b, seq, 2, 16], 4", "dim=2, output_size=7", "!SHAPE:allocated size does not match"},
)

/* ---- argument conventions ----------------------------------------------------------- */

CASES(arguments,
    {MT_OP_TRANSPOSE, "f32[2, 3], 0", "dim1=1", "f32[3, 2]"},
    {MT_OP_TRANSPOSE, "f32[2, 3], 0, 1", "dim1=1", "!USAGE:got multiple values for argument 'dim1'"},
    {MT_OP_TRANSPOSE, "f32[2, 3], 0, 1", "bogus=1", "!USAGE:unexpected keyword argument 'bogus'"},
    {MT_OP_TRANSPOSE, "f32[2, 3], 0, 1, 2", "", "!USAGE:takes at most 3 positional arguments but 4 were given"},
    {MT_OP_TRANSPOSE, "f32[2, 3], 0", "", "!USAGE:argument 'dim1' must be an int"},
    {MT_OP_TRANSPOSE, "f32[2, 3], 0, $seq", "", "!USAGE:argument 'dim1' must be an int"},
    {MT_OP_GELU, "f32[2], 'tanh'", "", "!USAGE:takes at most 1 positional argument"},
    {MT_OP_SUM, "f32[2, 3], 0, False, dtype:f32", "", "!USAGE:takes at most 3 positional arguments"},
    {MT_OP_MATMUL, "f32[2, 3]", "other=f32[3, 4]", "f32[2, 4]"},
    {MT_OP_LINEAR, "f32[2, 8]", "weight=f32[4, 8], bias=f32[4]", "f32[2, 4]"},
    {MT_OP_CAT, "", "tensors=(f32[2], f32[3]), dim=0", "f32[5]"},
    {MT_OP_UNSQUEEZE, "f32[2]", "dim=0", "f32[1, 2]"},
    {MT_OP_VIEW, "f32[2, 3], 6", "shape=(6,)", "!USAGE:multiple values"},
)

/* ---- cases needing symbol bounds -------------------------------------------------------- */

static void seq_at_least_128(mt_ctx *ctx) { mt_sym_set_bounds(ctx, mt_sym_var(ctx, "seq"), 128, NULL); }

Test(ops, slice_stop_decided_by_lower_bound) {
    /* seq >= 128 is known, so min(8, seq) = 8 */
    op_case tc = {MT_OP_GETITEM, "f32[seq], slice(None, 8, None)", "", "f32[8]"};
    run_case_with(&tc, seq_at_least_128);
    op_case tc2 = {MT_OP_GETITEM, "f32[seq], slice(None, 200, None)", "",
                   "!SHAPE:min(200, seq) is undecidable"};
    run_case_with(&tc2, seq_at_least_128);
}

/* ---- tuple getitem ------------------------------------------------------------------------ */

Test(ops, getitem_on_tuple_node) {
    mt_ctx *ctx = mt_ctx_new();
    const mt_sym *b = mt_sym_var(ctx, "batch");
    const mt_sym *two = mt_sym_const(ctx, 2);
    const mt_sym *vals[2] = {b, two};
    mt_tensor outs[2];
    memset(outs, 0, sizeof outs);
    outs[0] = *mt_tensor_meta(ctx, MT_BFLOAT16, 2, vals);
    outs[1] = *mt_tensor_meta(ctx, MT_INT64, 2, vals);
    mt_node node;
    memset(&node, 0, sizeof node);
    node.name = "topk";
    node.outs = outs;
    node.nout = 2;
    node.is_tuple = true;
    mt_tensor *tup = mt_tensor_meta(ctx, MT_BFLOAT16, 2, vals);
    tup->node = &node;

    mt_arg args[2] = {mt_a_tensor(tup), mt_a_int(1)};
    mt_tensor res[MT_MAX_OUTS];
    int nout = 0;
    bool is_tuple = true;
    cr_assert_eq(mt_op_infer(ctx, MT_OP_GETITEM, args, 2, NULL, 0, res, &nout, &is_tuple), MT_OK, "%s",
                 mt_ctx_errmsg(ctx));
    cr_assert_eq(nout, 1);
    cr_assert_not(is_tuple);
    cr_assert_eq(res[0].dtype, MT_INT64);
    cr_assert_eq(res[0].ndim, 2);
    cr_assert(res[0].shape[0] == b && res[0].shape[1] == two);
    cr_assert_null(res[0].node);

    args[1] = mt_a_int(-2);
    cr_assert_eq(mt_op_infer(ctx, MT_OP_GETITEM, args, 2, NULL, 0, res, &nout, &is_tuple), MT_OK);
    cr_assert_eq(res[0].dtype, MT_BFLOAT16);

    args[1] = mt_a_int(2);
    cr_assert_eq(mt_op_infer(ctx, MT_OP_GETITEM, args, 2, NULL, 0, res, &nout, &is_tuple), MT_ERR_SHAPE);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "operator.getitem: tuple index 2 out of range") != NULL, "%s",
              mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

/* ---- the table ------------------------------------------------------------------------------ */

Test(ops, table_is_complete_and_consistent) {
    for (int i = 0; i < MT_OP_COUNT; i++) {
        const mt_opdef *d = mt_op_def((mt_op_id)i);
        cr_assert_not_null(d);
        cr_assert_not_null(d->name, "op %d has no name", i);
        cr_assert_not_null(d->target, "op %d has no target", i);
        cr_assert(d->kind == MT_NODE_CALL_FUNCTION || d->kind == MT_NODE_CALL_METHOD);
        cr_assert_eq(mt_op_find(d->kind, d->target), i, "target %s does not find op %d", d->target, i);
        /* Names are unique, except an op's function and method forms (torch.cumsum and
         * Tensor.cumsum): FX names both nodes after the op, so they share the name. */
        for (int j = 0; j < i; j++) {
            const mt_opdef *e = mt_op_def((mt_op_id)j);
            if (strcmp(e->name, d->name) != 0) continue;
            const mt_opdef *fn = e->kind == MT_NODE_CALL_FUNCTION ? e : d, *me = fn == e ? d : e;
            cr_assert(e->kind != d->kind, "ops %d and %d share the name %s", j, i, d->name);
            cr_assert_str_eq(me->target, d->name, "method form of %s", d->name);
            const char *dot = strrchr(fn->target, '.');
            cr_assert(dot && strcmp(dot + 1, d->name) == 0, "function form %s of %s", fn->target, d->name);
        }
    }
    cr_assert_null(mt_op_def(MT_OP_COUNT));
    cr_assert_null(mt_op_def((mt_op_id)-1));
}

/* Every op's row carries a signature, a dims class, a linearity and a sharding
 * rule (the row count itself is a static assertion in trace/ops.c). A row
 * left empty - as an op added to MT_OPS without its planner columns would be -
 * is found and named: shown on a copy of the table with rows blanked. */
Test(ops, every_op_row_has_every_column) {
    const mt_opinfo *rows = mt__op_info(0);
    const char *what = NULL;
    int bad = mt__op_table_check(rows, MT_OP_COUNT, &what);
    cr_assert_eq(bad, -1, "op %s lacks its %s", bad >= 0 ? mt_op_def((mt_op_id)bad)->name : "", what);
    mt_opinfo copy[MT_OP_COUNT];
    memcpy(copy, rows, sizeof copy);
    copy[MT_OP_SOFTMAX] = (mt_opinfo){0};
    cr_assert_eq(mt__op_table_check(copy, MT_OP_COUNT, &what), MT_OP_SOFTMAX);
    cr_assert_str_eq(what, "signature");
    memcpy(copy, rows, sizeof copy);
    copy[MT_OP_CUMSUM_METHOD].lin = MT_LIN_MISSING; /* the last row */
    cr_assert_eq(mt__op_table_check(copy, MT_OP_COUNT, &what), MT_OP_CUMSUM_METHOD);
    cr_assert_str_eq(what, "linearity");
    copy[MT_OP_ADD].shard = MT_SHARD_MISSING;
    cr_assert_eq(mt__op_table_check(copy, MT_OP_COUNT, &what), MT_OP_ADD);
    cr_assert_str_eq(what, "sharding rule");
    cr_assert_null(mt__op_info(MT_OP_COUNT));
    cr_assert_null(mt__op_info(-1));
}

/* The classes, from the ops' mathematics: a sum of partial sums is a partial
 * sum (add, cat); scaling is linear in either factor (mul) or the numerator
 * (division); softmax, exp are not linear; views only move dims. */
Test(ops, dims_and_linearity_classes) {
    static const struct { int op; mt_dims dims; mt_lin lin; } want[] = {
        {MT_OP_ADD, MT_DIMS_POINTWISE, MT_LIN_SUM},     {MT_OP_SUB, MT_DIMS_POINTWISE, MT_LIN_SUM},
        {MT_OP_MUL, MT_DIMS_POINTWISE, MT_LIN_EACH},    {MT_OP_TRUEDIV, MT_DIMS_POINTWISE, MT_LIN_FIRST},
        {MT_OP_NEG, MT_DIMS_POINTWISE, MT_LIN_EACH},    {MT_OP_EXP, MT_DIMS_POINTWISE, MT_LIN_NONE},
        {MT_OP_SOFTMAX, MT_DIMS_ALONG, MT_LIN_NONE},    {MT_OP_VIEW, MT_DIMS_VIEW, MT_LIN_EACH},
        {MT_OP_FLATTEN, MT_DIMS_VIEW, MT_LIN_EACH},     {MT_OP_TRANSPOSE, MT_DIMS_TRANSPOSE, MT_LIN_EACH},
        {MT_OP_CAT, MT_DIMS_CAT, MT_LIN_SUM},           {MT_OP_SPLIT, MT_DIMS_SPLIT, MT_LIN_EACH},
        {MT_OP_LAYER_NORM, MT_DIMS_NORM, MT_LIN_NONE},  {MT_OP_INDEX_ADD, MT_DIMS_SCATTER, MT_LIN_SUM},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const mt_opinfo *r = mt__op_info(want[i].op);
        cr_assert_eq(r->dims, want[i].dims, "%s dims", mt_op_def((mt_op_id)want[i].op)->name);
        cr_assert_eq(r->lin, want[i].lin, "%s linearity", mt_op_def((mt_op_id)want[i].op)->name);
    }
}

/* Arguments by name through the signature: softmax's dim positionally
 * (x, -1) or as dim=-1; transpose's dims; an absent one. */
Test(ops, node_arguments_by_name) {
    mt_ctx *ctx = mt_ctx_new();
    mt_tensor *x = mt_tensor_meta_i(ctx, MT_FLOAT32, 2, (int64_t[]){2, 3});
    mt_arg pos[2] = {mt_a_tensor(x), mt_a_int(-1)};
    mt_kwarg kw[1] = {{"dim", mt_a_int(-1)}};
    mt_node a = {.op = MT_NODE_CALL_FUNCTION, .opid = MT_OP_SOFTMAX, .args = pos, .nargs = 2};
    mt_node b = {.op = MT_NODE_CALL_FUNCTION, .opid = MT_OP_SOFTMAX, .args = pos, .nargs = 1, .kwargs = kw, .nkwargs = 1};
    int64_t v = 0;
    cr_assert(mt__node_int(&a, "dim", &v) && v == -1);
    v = 0;
    cr_assert(mt__node_int(&b, "dim", &v) && v == -1);
    cr_assert_eq(mt__node_input(&b), x);
    cr_assert_eq(mt__node_tensor(&b, "input"), x);
    cr_assert_eq(mt__node_tensor(&b, "self"), x, "an alias");
    mt_node c = {.op = MT_NODE_CALL_FUNCTION, .opid = MT_OP_SOFTMAX, .args = pos, .nargs = 1};
    cr_assert_not(mt__node_int(&c, "dim", &v));
    cr_assert_null(mt__node_arg(&c, "dtype"));
    mt_ctx_free(ctx);
}

/* The dims specs, worked by hand: [b, s, 4096] viewed as [b, s, 32, 128]
 * splits dim 2 (a shard of the 4096 lands on the 32 heads); transposing
 * dims 1 and 2 of [b, 32, s, 128] swaps them; expanding [b, 8, 1, s, 128] to
 * [b, 8, 4, s, 128] repeats dim 2. */
Test(ops, dimspecs) {
    mt_ctx *ctx = mt_ctx_new();
    const mt_sym *b = mt_sym_var(ctx, "batch"), *s = mt_sym_var(ctx, "seq");
    const mt_sym *c32 = mt_sym_const(ctx, 32), *c128 = mt_sym_const(ctx, 128), *c4096 = mt_sym_const(ctx, 4096);
    mt_tensor *x = mt_tensor_meta(ctx, MT_FLOAT32, 3, (const mt_sym *[]){b, s, c4096});
    mt_tensor y = *mt_tensor_meta(ctx, MT_FLOAT32, 4, (const mt_sym *[]){b, s, c32, c128});
    mt_arg va[2] = {mt_a_tensor(x), mt_a_dims(ctx, y.shape, 4)};
    mt_node view = {.op = MT_NODE_CALL_METHOD, .opid = MT_OP_VIEW, .args = va, .nargs = 2, .outs = &y, .nout = 1};
    mt_dimspec spec[MT_MAX_DIMS];
    int map[MT_MAX_DIMS];
    cr_assert_eq(mt__dimspec(ctx, &view, 0, spec), x);
    cr_assert(spec[0].kind == MT_DS_DIM && spec[0].in == 0 && spec[1].kind == MT_DS_DIM && spec[1].in == 1);
    cr_assert(spec[2].kind == MT_DS_RUN && spec[2].in == 2 && spec[2].nin == 1 && spec[2].piece == 0 && spec[2].nout == 2);
    cr_assert(spec[3].kind == MT_DS_RUN && spec[3].piece == 1);
    mt__dimspec_forward(ctx, x, &y, spec, map);
    cr_assert(map[0] == 0 && map[1] == 1 && map[2] == 2);

    mt_tensor *h = mt_tensor_meta(ctx, MT_FLOAT32, 4, (const mt_sym *[]){b, c32, s, c128});
    mt_tensor t = *mt_tensor_meta(ctx, MT_FLOAT32, 4, (const mt_sym *[]){b, s, c32, c128});
    mt_arg ta[3] = {mt_a_tensor(h), mt_a_int(1), mt_a_int(2)};
    mt_node tr = {.op = MT_NODE_CALL_METHOD, .opid = MT_OP_TRANSPOSE, .args = ta, .nargs = 3, .outs = &t, .nout = 1};
    cr_assert_eq(mt__dimspec(ctx, &tr, 0, spec), h);
    cr_assert(spec[1].kind == MT_DS_DIM && spec[1].in == 2 && spec[2].kind == MT_DS_DIM && spec[2].in == 1);
    cr_assert(spec[3].kind == MT_DS_DIM && spec[3].in == 3);

    const mt_sym *c8 = mt_sym_const(ctx, 8), *c4 = mt_sym_const(ctx, 4), *c1 = mt_sym_const(ctx, 1);
    mt_tensor *k = mt_tensor_meta(ctx, MT_FLOAT32, 5, (const mt_sym *[]){b, c8, c1, s, c128});
    mt_tensor e = *mt_tensor_meta(ctx, MT_FLOAT32, 5, (const mt_sym *[]){b, c8, c4, s, c128});
    mt_arg ea[2] = {mt_a_tensor(k), mt_a_dims(ctx, e.shape, 5)};
    mt_node ex = {.op = MT_NODE_CALL_METHOD, .opid = MT_OP_EXPAND, .args = ea, .nargs = 2, .outs = &e, .nout = 1};
    cr_assert_eq(mt__dimspec(ctx, &ex, 0, spec), k);
    cr_assert(spec[1].kind == MT_DS_DIM && spec[2].kind == MT_DS_BCAST && spec[2].in == 2);
    mt__dimspec_forward(ctx, k, &e, spec, map);
    cr_assert(map[1] == 1 && map[2] == -1, "a repeated dim is not whole");
    mt_ctx_free(ctx);
}

Test(ops, find_by_kind_and_target) {
    cr_assert_eq(mt_op_find(MT_NODE_CALL_FUNCTION, "torch.matmul"), MT_OP_MATMUL);
    cr_assert_eq(mt_op_find(MT_NODE_CALL_METHOD, "view"), MT_OP_VIEW);
    cr_assert_eq(mt_op_find(MT_NODE_CALL_FUNCTION, "operator.getitem"), MT_OP_GETITEM);
    cr_assert_eq(mt_op_find(MT_NODE_CALL_FUNCTION, "torch.nn.functional.scaled_dot_product_attention"), MT_OP_SDPA);
    cr_assert_eq(mt_op_find(MT_NODE_CALL_FUNCTION, "view"), -1); /* wrong kind */
    cr_assert_eq(mt_op_find(MT_NODE_CALL_METHOD, "torch.conv2d"), -1);
    cr_assert_eq(mt_op_find(MT_NODE_CALL_METHOD, NULL), -1);
    cr_assert_str_eq(mt_op_def(MT_OP_ADD)->name, "add");
    cr_assert_str_eq(mt_op_def(MT_OP_LAYER_NORM)->name, "layer_norm");
    cr_assert_eq(mt_op_def(MT_OP_TRUEDIV)->promo, MT_PROMO_INT_TO_FLOAT);
}

Test(ops, bad_calls_are_usage_errors) {
    mt_ctx *ctx = mt_ctx_new();
    mt_tensor outs[MT_MAX_OUTS];
    int nout = 5;
    bool tup = true;
    cr_assert_eq(mt_op_infer(ctx, MT_OP_COUNT, NULL, 0, NULL, 0, outs, &nout, &tup), MT_ERR_USAGE);
    cr_assert_eq(nout, 0);
    cr_assert_not(tup);
    mt_error_clear(ctx);
    cr_assert_eq(mt_op_infer(ctx, MT_OP_ADD, NULL, 2, NULL, 0, outs, &nout, &tup), MT_ERR_USAGE);
    mt_error_clear(ctx);
    cr_assert_eq(mt_op_infer(ctx, MT_OP_ADD, NULL, 0, NULL, 0, outs, &nout, &tup), MT_ERR_USAGE);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "operator.add:") != NULL);
    mt_ctx_free(ctx);
}

/* ---- invariants ---------------------------------------------------------------------------- */

/* Broadcasting is commutative (shape-wise) and fails the same way both ways. */
Test(ops, broadcast_commutes) {
    static const char *const shapes[] = {"f32[2, 3]", "f32[3]", "f32[1, 3]", "f32[seq, 1]", "f32[batch, seq, 1]",
                                         "f32[]", "f32[4, 1, 1]", "f32[seq]", "f32[batch, 1, 3]"};
    int n = (int)(sizeof shapes / sizeof shapes[0]);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            mt_ctx *ctx = mt_ctx_new();
            parser p = {ctx, NULL, NULL};
            mt_arg a[1], b[1];
            parse_args(&p, shapes[i], a);
            parse_args(&p, shapes[j], b);
            mt_arg ab[2] = {a[0], b[0]}, ba[2] = {b[0], a[0]};
            mt_tensor o1[MT_MAX_OUTS], o2[MT_MAX_OUTS];
            int n1, n2;
            bool t1, t2;
            mt_status s1 = mt_op_infer(ctx, MT_OP_ADD, ab, 2, NULL, 0, o1, &n1, &t1);
            mt_error_clear(ctx);
            mt_status s2 = mt_op_infer(ctx, MT_OP_ADD, ba, 2, NULL, 0, o2, &n2, &t2);
            cr_assert_eq(s1, s2, "%s + %s", shapes[i], shapes[j]);
            if (s1 == MT_OK) {
                cr_assert_eq(o1[0].ndim, o2[0].ndim);
                for (int d = 0; d < o1[0].ndim; d++) cr_assert(o1[0].shape[d] == o2[0].shape[d]);
            }
            mt_ctx_free(ctx);
        }
    }
}

/* reshape keeps numel: [batch, seq, 4096] to every factorisation with one -1. */
Test(ops, reshape_preserves_numel) {
    static const char *const targets[] = {"-1", "$batch, -1", "-1, 4096", "$batch, $seq, -1, 64",
                                          "2, -1, 2048", "$seq, 4096, -1", "-1, 1, 1"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        parser p = {ctx, NULL, NULL};
        char text[128];
        snprintf(text, sizeof text, "f32[batch, seq, 4096], %s", targets[i]);
        mt_arg args[8];
        int n = parse_args(&p, text, args);
        mt_tensor o[MT_MAX_OUTS];
        int nout;
        bool tup;
        cr_assert_eq(mt_op_infer(ctx, MT_OP_RESHAPE, args, n, NULL, 0, o, &nout, &tup), MT_OK, "%s: %s", text,
                     mt_ctx_errmsg(ctx));
        cr_assert(mt_sym_prod(ctx, o[0].shape, o[0].ndim) == mt_sym_prod(ctx, args[0].v.t->shape, 3), "%s", text);
        mt_ctx_free(ctx);
    }
}

/* ---- dtype categories and edge cases ATen refuses ------------------------------------
 * Each expectation is an ATen check (sub_check, max/min/lt kernels without complex,
 * zero_numel_check_dims, cat's legacy-empty skip, linear's addmm path, arange's cast
 * of bounds to the result dtype), confirmed case by case by the libtorch oracle. */

CASES(aten_kernels,
    {MT_OP_SUB, "bool[2], bool[2]", "", "!SHAPE:with two bool tensors is not supported"},
    {MT_OP_SUB, "i64[2], bool[2]", "", "!SHAPE:with a bool tensor is not supported"},
    {MT_OP_SUB, "i64[2], i32[2]", "", "i64[2]"},
    {MT_OP_LT, "f32[2], c64[2]", "", "!SHAPE:not implemented for complex"},
    {MT_OP_MAXIMUM, "c64[2], f32[2]", "", "!SHAPE:not implemented for complex"},
    {MT_OP_EQ, "f64[2], c64[2]", "", "bool[2]"},
    {MT_OP_POW, "bool[2], bool[2]", "", "!SHAPE:not implemented for 'Bool'"},
    {MT_OP_ABS, "bool[2]", "", "!SHAPE:not implemented for 'Bool'"},
    {MT_OP_RELU, "c64[2]", "", "!SHAPE:clamp is not supported for complex"},
    {MT_OP_GELU, "c64[2]", "", "!SHAPE:GeluKernelImpl"},
    {MT_OP_AMAX, "f32[2, 0, 3]", "", "!SHAPE:Expected reduction dim to be specified"},
    {MT_OP_AMAX, "f32[2, 0, 3], 1", "", "!SHAPE:Expected reduction dim 1 to have non-zero size"},
    {MT_OP_AMAX, "f32[2, 0, 3], 0", "", "f32[0, 3]"},
    {MT_OP_MATMUL, "bool[3, 4], bool[4, 5]", "", "!SHAPE:bool"},
    {MT_OP_LINEAR, "f32[3, 4], f32[4], f32[]", "", "!SHAPE:mat2 must be a matrix"},
    {MT_OP_LINEAR, "f32[2, 3, 4], f32[6, 4], f32[3, 6]", "", "!SHAPE:must match the size of tensor b (6)"},
    {MT_OP_LINEAR, "f32[2, 3, 4, 4], f32[4], f32[]", "", "f32[2, 3, 4]"},
    {MT_OP_LAYER_NORM, "i64[2, 4], (4,)", "", "!SHAPE:LayerNormKernelImpl"},
    {MT_OP_LAYER_NORM, "f32[2, 4], (4,), f16[4], f16[4]", "", "!SHAPE:expected weight"},
    {MT_OP_LAYER_NORM, "bf16[2, 4], (4,), f32[4], f32[4]", "", "bf16[2, 4]"},
    {MT_OP_TOPK, "bool[5, 4], 2", "", "!SHAPE:topk_cpu"},
    {MT_OP_EMBEDDING, "i64[2, 3], f32[10, 4]", "padding_idx=10", "!SHAPE:Padding_idx must be within num_embeddings"},
    {MT_OP_EMBEDDING, "i64[2, 3], f32[10, 4]", "padding_idx=-10", "f32[2, 3, 4]"},
    {MT_OP_CAT, "(f32[2, 3], f32[0]), 1", "", "f32[2, 3]"},
    {MT_OP_CAT, "(f32[0], f32[2, 3], f32[2, 1]), 1", "", "f32[2, 4]"},
    {MT_OP_ARANGE, "2.5", "dtype=dtype:i64", "i64[2]"},
    {MT_OP_ARANGE, "2.5", "dtype=dtype:i32", "i32[3]"},
    {MT_OP_ARANGE, "0.0, 1.0, 0.1", "dtype=dtype:i64", "!SHAPE:step must be nonzero"},
    {MT_OP_ARANGE, "1", "end=4", "i64[3]"},
)

/* Llama 4's ops. bmm: ATen bmm meta (common_checks_baddbmm_bmm: 3-D operands,
 * batch2 [b, m, p] against batch1 [b, n, m], no broadcasting). repeat:
 * TensorShape.cpp repeat (padded shape times repeats, at least ndim repeats).
 * polar / view_as_complex / view_as_real: ATen complex_check_dtype and
 * ComplexHelper.h (Half/Float/Double; last dim 2; complex <-> real of the same
 * precision). floor keeps the dtype; log1p promotes integers to float32;
 * floordiv promotes as arithmetic, no complex and no Bool kernel. */
CASES(llama4,
    {MT_OP_BMM, "bf16[16, tok, 64], bf16[16, 64, 256]", "", "bf16[16, tok, 256]"},
    {MT_OP_BMM, "f32[2, 3, 4], f32[2, 4, 5]", "", "f32[2, 3, 5]"},
    {MT_OP_BMM, "f32[2, 3, 4], f32[1, 4, 5]", "", "!SHAPE:Expected size for first two dimensions of batch2 tensor to be: [2, 4]"},
    {MT_OP_BMM, "f32[2, 3, 4], f32[2, 3, 5]", "", "!SHAPE:Expected size for first two dimensions"},
    {MT_OP_BMM, "f32[3, 4], f32[2, 4, 5]", "", "!SHAPE:batch1 must be a 3D tensor"},
    {MT_OP_BMM, "f32[2, 3, 4], f32[4, 5]", "", "!SHAPE:batch2 must be a 3D tensor"},
    {MT_OP_BMM, "f32[2, 3, 4], f16[2, 4, 5]", "", "!SHAPE:expected scalar type"},
    {MT_OP_BMM, "bool[2, 3, 4], bool[2, 4, 5]", "", "!SHAPE:not implemented for 'Bool'"},
    {MT_OP_BMM, "f32[2, 3, 4]", "mat2=f32[2, 4, 1]", "f32[2, 3, 1]"},
    {MT_OP_REPEAT, "bf16[tok, 64], 16, 1", "", "bf16[16*tok, 64]"},
    {MT_OP_REPEAT, "f32[2, 3], (2, 1, 2)", "", "f32[2, 2, 6]"},
    {MT_OP_REPEAT, "f32[2, 3], 0, 1", "", "f32[0, 3]"},
    {MT_OP_REPEAT, "f32[2, 3], 2", "", "!SHAPE:Number of dimensions of repeat dims can not be smaller"},
    {MT_OP_REPEAT, "f32[2, 3], -1, 1", "", "!SHAPE:negative dimension -1"},
    {MT_OP_REPEAT, "f32[2, 3], 1.5, 1", "", "!USAGE:repeats must be an int"},
    {MT_OP_ONES_LIKE, "f32[1, seq, 64]", "", "f32[1, seq, 64]"},
    {MT_OP_ONES_LIKE, "f32[2]", "dtype=dtype:i64", "i64[2]"},
    {MT_OP_POLAR, "f32[1, seq, 64], f32[1, seq, 64]", "", "c64[1, seq, 64]"},
    {MT_OP_POLAR, "f32[2, 1], f32[3]", "", "c64[2, 3]"},
    {MT_OP_POLAR, "f32[2], f64[2]", "", "!SHAPE:for second argument"},
    {MT_OP_POLAR, "i64[2], i64[2]", "", "!SHAPE:Expected both inputs to be Half, Float or Double"},
    {MT_OP_POLAR, "bf16[2], bf16[2]", "", "!SHAPE:Expected both inputs to be Half, Float or Double"},
    {MT_OP_POLAR, "f64[2], f64[2]", "", "!UNSUPPORTED:complex128"},
    {MT_OP_POLAR, "f16[2], f16[2]", "", "!UNSUPPORTED:complex32"},
    {MT_OP_POLAR, "f32[2], f32[3]", "", "!SHAPE:"},
    {MT_OP_VIEW_AS_COMPLEX, "f32[batch, seq, 8, 64, 2]", "", "c64[batch, seq, 8, 64]"},
    {MT_OP_VIEW_AS_COMPLEX, "f32[2]", "", "c64[]"},
    {MT_OP_VIEW_AS_COMPLEX, "f32[2, 3]", "", "!SHAPE:Tensor must have a last dimension of size 2"},
    {MT_OP_VIEW_AS_COMPLEX, "f32[2, seq]", "", "!SHAPE:Tensor must have a last dimension of size 2"},
    {MT_OP_VIEW_AS_COMPLEX, "f32[]", "", "!SHAPE:Input tensor must have one or more dimensions"},
    {MT_OP_VIEW_AS_COMPLEX, "bf16[4, 2]", "", "!SHAPE:only supported for half, float and double"},
    {MT_OP_VIEW_AS_COMPLEX, "i64[4, 2]", "", "!SHAPE:only supported for half, float and double"},
    {MT_OP_VIEW_AS_COMPLEX, "f64[4, 2]", "", "!UNSUPPORTED:complex128"},
    {MT_OP_VIEW_AS_REAL, "c64[batch, seq, 8, 64]", "", "f32[batch, seq, 8, 64, 2]"},
    {MT_OP_VIEW_AS_REAL, "c64[]", "", "f32[2]"},
    {MT_OP_VIEW_AS_REAL, "f32[4]", "", "!SHAPE:view_as_real is only supported for complex tensors"},
    {MT_OP_FLOOR, "f32[seq]", "", "f32[seq]"},
    {MT_OP_FLOOR, "i64[3]", "", "i64[3]"},
    {MT_OP_FLOOR, "c64[3]", "", "!SHAPE:floor is not supported for complex"},
    {MT_OP_FLOOR, "bool[3]", "", "!SHAPE:not implemented for 'Bool'"},
    {MT_OP_LOG1P, "c64[3]", "", "!SHAPE:not implemented for 'ComplexFloat'"},
    {MT_OP_LOG1P, "bool[3]", "", "f32[3]"},
    {MT_OP_LOG1P, "f32[seq]", "", "f32[seq]"},
    {MT_OP_LOG1P, "i64[3]", "", "f32[3]"},
    {MT_OP_LOG1P, "bf16[3]", "", "bf16[3]"},
    {MT_OP_FLOORDIV, "i64[seq], 8192", "", "i64[seq]"},
    {MT_OP_FLOORDIV, "i64[seq, 1], i64[seq]", "", "i64[seq, seq]"},
    {MT_OP_FLOORDIV, "f32[3], 2", "", "f32[3]"},
    {MT_OP_FLOORDIV, "i32[3], 2.5", "", "f32[3]"},
    {MT_OP_FLOORDIV, "c64[3], 2", "", "!SHAPE:not supported for complex"},
    {MT_OP_FLOORDIV, "bool[3], bool[3]", "", "!SHAPE:'Bool'"},
    {MT_OP_ADD_, "bf16[tok, 64], bf16[tok, 64]", "", "bf16[tok, 64]"},
    {MT_OP_ADD_, "bf16[2, 3], f32[3]", "", "bf16[2, 3]"},
    {MT_OP_ADD_, "f32[2, 3], 1", "alpha=2", "f32[2, 3]"},
    {MT_OP_ADD_, "f32[3], f32[2, 3]", "", "!SHAPE:doesn't match the broadcast shape"},
    {MT_OP_ADD_, "i64[3], f32[3]", "", "!SHAPE:result type float32 can't be cast to the desired output type int64"},
    {MT_OP_ADD_, "bool[3], 1", "", "!SHAPE:can't be cast"},
    {MT_OP_ADD_, "i64[3], 1", "alpha=0.5", "!SHAPE:alpha must not be a floating point number"},
    {MT_OP_ADD_, "f32[3]", "", "!USAGE:other"},
    {MT_OP_ADD_, "c64[2, 3], f64[3]", "", "c64[2, 3]"},
    /* mamba_ssm selective_scan_fn: the checks of selective_scan_fwd (csrc/selective_scan/selective_scan.cpp):
     * u [b, d, L]; delta and z as u; A [d, n] float32; B, C [b, n, L] / [b, g, n, L] of u's dtype or
     * [d, n] float32; D, delta_bias [d] float32; n <= 256; the result is u's shape and dtype */
    {MT_OP_SELECTIVE_SCAN, "bf16[b, 128, seq], bf16[b, 128, seq], f32[128, 16], bf16[b, 16, seq], bf16[b, 16, seq], "
                           "f32[128], bf16[b, 128, seq]", "delta_softplus=False", "bf16[b, 128, seq]"},
    {MT_OP_SELECTIVE_SCAN, "f32[2, 8, 5], f32[2, 8, 5], f32[8, 4], f32[2, 4, 5], f32[2, 4, 5]", "", "f32[2, 8, 5]"},
    {MT_OP_SELECTIVE_SCAN, "f16[2, 8, 5], f16[2, 8, 5], f32[8, 4], f16[2, 2, 4, 5], f16[2, 2, 4, 5]",
                           "delta_bias=f32[8], delta_softplus=True", "f16[2, 8, 5]"},
    {MT_OP_SELECTIVE_SCAN, "f32[2, 8, 5], f32[2, 8, 5], f32[8, 4], f32[8, 4], f32[8, 4]", "", "f32[2, 8, 5]"},
    {MT_OP_SELECTIVE_SCAN, "f32[2, 8, 5], f32[2, 8, 5], f32[8, 4], f32[2, 3, 4, 5], f32[2, 4, 5]", "",
                           "!SHAPE:groups must divide dim"},
    {MT_OP_SELECTIVE_SCAN, "bf16[2, 8, 5], bf16[2, 8, 5], f32[8, 4], bf16[2, 4, 5], bf16[2, 4, 5], bf16[8]", "",
                           "!SHAPE:D must be a float32 vector"},
    {MT_OP_SELECTIVE_SCAN, "bf16[2, 8, 5], f32[2, 8, 5], f32[8, 4], bf16[2, 4, 5], bf16[2, 4, 5]", "",
                           "!SHAPE:delta must be u's shape and dtype"},
    {MT_OP_SELECTIVE_SCAN, "bf16[2, 8, 5], bf16[2, 8, 5], bf16[8, 4], bf16[2, 4, 5], bf16[2, 4, 5]", "",
                           "!SHAPE:A must be float32"},
    {MT_OP_SELECTIVE_SCAN, "f32[2, 8, 5], f32[2, 8, 5], f32[8, 4], f32[2, 4, 6], f32[2, 4, 5]", "",
                           "!SHAPE:B is expected to be of size"},
    {MT_OP_SELECTIVE_SCAN, "f32[2, 8, 5], f32[2, 8, 5], f32[8, 300], f32[2, 300, 5], f32[2, 300, 5]", "",
                           "!SHAPE:state dimension <= 256"},
    {MT_OP_SELECTIVE_SCAN, "f64[2, 8, 5], f64[2, 8, 5], f32[8, 4], f64[2, 4, 5], f64[2, 4, 5]", "",
                           "!SHAPE:float32, float16 or bfloat16"},
    {MT_OP_SELECTIVE_SCAN, "f32[2, 8, 5], f32[2, 8, 5], f32[8, 4], f32[2, 4, 5], f32[2, 4, 5]",
                           "z=f32[2, 8, 4]", "!SHAPE:z must be u's shape"},
    {MT_OP_SELECTIVE_SCAN, "f32[2, 8, 5], f32[2, 8, 5], f32[8, 4], f32[2, 4, 5], f32[2, 4, 5]",
                           "return_last_state=True", "!UNSUPPORTED:return_last_state"},
    /* MiniMaxLightningAttention's block loop (modeling_minimax.py): q, k [b, h, L, d], v [b, h, L, e];
     * slope_rate [h, 1, 1], query/key_decay [h, B, 1], diagonal_decay [1, h, B, B]; one dtype (matmul);
     * the concatenated blocks are [b, h, L, e] */
    {MT_OP_LIGHTNING_ATTENTION, "bf16[b, 8, seq, 16], bf16[b, 8, seq, 16], bf16[b, 8, seq, 16], bf16[8, 1, 1], "
                                "bf16[8, 4, 1], bf16[8, 4, 1], bf16[1, 8, 4, 4]", "", "bf16[b, 8, seq, 16]"},
    {MT_OP_LIGHTNING_ATTENTION, "f32[2, 4, 5, 8], f32[2, 4, 5, 8], f32[2, 4, 5, 6], f32[4, 1, 1], f32[4, 3, 1], "
                                "f32[4, 3, 1], f32[1, 4, 3, 3]", "", "f32[2, 4, 5, 6]"},
    {MT_OP_LIGHTNING_ATTENTION, "bf16[2, 4, 5, 8], bf16[2, 4, 5, 8], bf16[2, 4, 5, 8], f32[4, 1, 1], bf16[4, 3, 1], "
                                "bf16[4, 3, 1], bf16[1, 4, 3, 3]", "", "!SHAPE:does not promote"},
    {MT_OP_LIGHTNING_ATTENTION, "f32[2, 4, 5, 8], f32[2, 4, 6, 8], f32[2, 4, 5, 8], f32[4, 1, 1], f32[4, 3, 1], "
                                "f32[4, 3, 1], f32[1, 4, 3, 3]", "", "!SHAPE:of one shape"},
    {MT_OP_LIGHTNING_ATTENTION, "f32[2, 4, 5, 8], f32[2, 4, 5, 8], f32[2, 4, 5, 8], f32[4, 1, 1], f32[4, 3, 1], "
                                "f32[4, 3, 1], f32[1, 4, 3, 2]", "", "!SHAPE:diagonal_decay must be"},
    {MT_OP_LIGHTNING_ATTENTION, "f32[2, 4, 5, 8], f32[2, 4, 5, 8], f32[2, 4, 5, 8], f32[2, 1, 1], f32[4, 3, 1], "
                                "f32[4, 3, 1], f32[1, 4, 3, 3]", "", "!SHAPE:slope_rate must be"},
    {MT_OP_LIGHTNING_ATTENTION, "i64[2, 4, 5, 8], i64[2, 4, 5, 8], i64[2, 4, 5, 8], i64[4, 1, 1], i64[4, 3, 1], "
                                "i64[4, 3, 1], i64[1, 4, 3, 3]", "", "!SHAPE:floating"},
)

/* ---- Qwen3-Next's gated delta rule (one leaf op: transformers' torch_chunk_gated_delta_rule) ----
 * q, k [B, T, H, K], v [B, T, H, V], g, beta [B, T, H] -> (out [B, T, H, V] in query's dtype
 * [, final state [B, H, K, V] float32 with output_final_state]); the shapes the function's body
 * needs (its loop over (T + pad) / chunk_size chunks, the reshapes into (B, H, -1, chunk, d)). */
CASES(gated_delta,
    {MT_OP_CHUNK_GATED_DELTA_RULE, "bf16[b, seq, 32, 128], bf16[b, seq, 32, 128], bf16[b, seq, 32, 128], f32[b, seq, 32], "
     "bf16[b, seq, 32]", "initial_state=None, output_final_state=False, use_qk_l2norm_in_kernel=True",
     "tuple bf16[b, seq, 32, 128]"},
    {MT_OP_CHUNK_GATED_DELTA_RULE, "f32[2, 5, 3, 4], f32[2, 5, 3, 4], f32[2, 5, 3, 6], f32[2, 5, 3], f32[2, 5, 3], 4",
     "output_final_state=True", "tuple f32[2, 5, 3, 6], f32[2, 3, 4, 6]"},
    {MT_OP_CHUNK_GATED_DELTA_RULE, "f16[1, 7, 2, 8], f16[1, 7, 2, 8], f16[1, 7, 2, 8], f32[1, 7, 2], f16[1, 7, 2]",
     "initial_state=f32[1, 2, 8, 8], output_final_state=True", "tuple f16[1, 7, 2, 8], f32[1, 2, 8, 8]"},
    /* zero tokens: zero chunks, the loop does not run */
    {MT_OP_CHUNK_GATED_DELTA_RULE, "f32[2, 0, 3, 4], f32[2, 0, 3, 4], f32[2, 0, 3, 4], f32[2, 0, 3], f32[2, 0, 3]", "",
     "tuple f32[2, 0, 3, 4]"},
    {MT_OP_CHUNK_GATED_DELTA_RULE, "f32[2, 5, 0, 4], f32[2, 5, 0, 4], f32[2, 5, 0, 4], f32[2, 5, 0], f32[2, 5, 0]", "",
     "!SHAPE:cannot reshape a tensor of 0 elements"},
    {MT_OP_CHUNK_GATED_DELTA_RULE, "f32[2, 5, 3, 4], f32[2, 5, 3], f32[2, 5, 3, 6], f32[2, 5, 3], f32[2, 5, 3]", "",
     "!SHAPE:expected query, key [batch, seq, heads, k_dim]"},
    {MT_OP_CHUNK_GATED_DELTA_RULE, "f32[2, 5, 3, 5], f32[2, 5, 3, 4], f32[2, 5, 3, 6], f32[2, 5, 3], f32[2, 5, 3]", "",
     "!SHAPE:query and key must have the same shape"},
    {MT_OP_CHUNK_GATED_DELTA_RULE, "f32[2, 5, 3, 4], f32[2, 5, 3, 4], f32[2, 5, 2, 6], f32[2, 5, 3], f32[2, 5, 3]", "",
     "!SHAPE:must agree in batch, seq and heads"},
    {MT_OP_CHUNK_GATED_DELTA_RULE, "f32[2, 5, 3, 4], f32[2, 5, 3, 4], f32[2, 5, 3, 6], f32[2, 5, 3], f32[2, 4, 3]", "",
     "!SHAPE:must agree in batch, seq and heads"},
    {MT_OP_CHUNK_GATED_DELTA_RULE, "f32[2, 5, 3, 4], f32[2, 5, 3, 4], f32[2, 5, 3, 6], f32[2, 5, 3], f32[2, 5, 3], 4",
     "initial_state=f32[2, 3, 4, 5]", "!SHAPE:initial_state must be [batch, heads, k_dim, v_dim]"},
    {MT_OP_CHUNK_GATED_DELTA_RULE, "f32[2, 5, 3, 4], f32[2, 5, 3, 4], f32[2, 5, 3, 6], f32[2, 5, 3], f32[2, 5, 3], 0", "",
     "!SHAPE:chunk_size must be a positive int"},
    {MT_OP_CHUNK_GATED_DELTA_RULE, "c64[2, 5, 3, 4], c64[2, 5, 3, 4], c64[2, 5, 3, 6], f32[2, 5, 3], f32[2, 5, 3]", "",
     "!UNSUPPORTED:complex operands"},
    {MT_OP_CHUNK_GATED_DELTA_RULE, "f32[2, 5, 3, 4], f32[2, 5, 3, 4], f32[2, 5, 3, 6]", "g=f32[2, 5, 3]",
     "!USAGE:beta"},
)
