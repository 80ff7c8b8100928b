/* Stored-tensor inventory of a checkpoint (quant.h): what a (quantized)
 * checkpoint really holds, tensor by tensor, read from the config's
 * quantization_config or asked as a "what if". The layouts, and the sources
 * each was read from, are in docs/quant.md. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include <metatrace/quant.h>

#include "ctx_internal.h"
#include "sym_internal.h"
#include "model_internal.h"

#define QC "quantization_config"
#define METHODS "fp8,mxfp4,gptq,awq,bnb-8bit,bnb-4bit"
#define CONFIG_METHODS "fp8, mxfp4, gptq, awq, bitsandbytes, compressed-tensors"

typedef enum qkind { Q_NONE = 0, Q_FP8, Q_MXFP4, Q_GPTQ, Q_AWQ, Q_BNB8, Q_BNB4, Q_CT } qkind;

/* compressed-tensors: one config group (the scheme for the Linears its
 * targets name). */
typedef enum ct_strategy { CT_TENSOR = 0, CT_CHANNEL, CT_GROUP, CT_BLOCK } ct_strategy;
typedef struct ct_group {
    const char *name;        /* its key in config_groups */
    const char **targets;    /* "Linear", "re:<regex>" or a module path */
    int ntargets;
    bool packed;             /* int weights packed into int32 (pack-quantized) */
    bool is_float;           /* float8 weights (float-quantized / naive fp8) */
    int64_t bits;
    ct_strategy strategy;
    int64_t group, block[2];
    bool symmetric;
    bool input_scale;        /* static per-tensor input activations: input_scale [1] */
} ct_group;

typedef struct qspec {
    qkind kind;
    const char *method;      /* the inventory's method name */
    const char *description;
    mt_dtype fp8;            /* fp8: the weight dtype (fmt) */
    int64_t block[2];        /* fp8: weight_block_size [rows, cols] */
    int64_t bits, group;     /* gptq/awq: group <= 0 means one group over in_features */
    bool nf4, double_quant;  /* bnb-4bit */
    int64_t bnb_block;       /* bnb-4bit: values per absmax (64) */
    const char **skip;       /* modules_to_not_convert & co (regex-like patterns) */
    int nskip;
    const char *what_if;     /* the `method` asked for; NULL: read from the config */
    ct_group *ct;            /* compressed-tensors config groups */
    int nct;
} qspec;

/* ---- module selection --------------------------------------------------------- */

/* Python's re.match(pat, s) for the regex subset skip lists use: literal
 * characters, '.' (any character), '*' (the previous item repeated), '\\x'
 * (x literally), a leading '^' and a trailing '$'; without '$' a match of a
 * prefix of `s` is enough (re.match anchors at the start only). Other regex
 * syntax is taken literally. */
static size_t re_item(const char *re, char *c, bool *any) {
    if (re[0] == '\\' && re[1]) {
        *c = re[1];
        *any = false;
        return 2;
    }
    *c = re[0];
    *any = re[0] == '.';
    return 1;
}
static bool re_here(const char *re, const char *s) {
    if (!*re) return true;
    if (re[0] == '$' && !re[1]) return !*s;
    char c;
    bool any;
    size_t k = re_item(re, &c, &any);
    if (re[k] == '*') {
        for (const char *rest = re + k + 1;; s++) {
            if (re_here(rest, s)) return true;
            if (!*s || !(any || *s == c)) return false;
        }
    }
    return *s && (any || *s == c) && re_here(re + k, s + 1);
}
static bool re_match(const char *re, const char *s) { return re_here(re[0] == '^' ? re + 1 : re, s); }

/* transformers' should_convert_module (quantizers_utils.py): a module is
 * skipped when re.match(pattern + "\\.", name), re.match(pattern, name) or
 * name.endswith(pattern) -- "lm_head", "model.layers.*.self_attn", "q_proj".
 * (The first test is implied by the second.) */
static bool skipped(const qspec *q, const char *path) {
    size_t len = strlen(path);
    for (int k = 0; k < q->nskip; k++) {
        size_t pl = strlen(q->skip[k]);
        const char *pat = q->skip[k];
        if (q->kind == Q_CT) {
            /* compressed-tensors' ignore: "re:<regex>" (re.match) or the exact name */
            if (strncmp(pat, "re:", 3) == 0 ? re_match(pat + 3, path) : strcmp(pat, path) == 0) return true;
        } else if (re_match(pat, path) || (pl <= len && strcmp(path + len - pl, pat) == 0)) {
            return true;
        }
    }
    return false;
}

/* A top-level Linear is an output head (lm_head, embed_out, score): every
 * method leaves it unquantized by default (transformers' modules to keep). */
static bool is_head(const mt_module *mod) { return strchr(mod->path, '.') == NULL; }

/* Mixture-of-experts routers that are plain Linears: GPTQ/AWQ tools quantize
 * the experts and attention inside a block, not the router. */
static bool is_router(const mt_module *mod) {
    return strcmp(mod->name, "gate") == 0 || strcmp(mod->name, "router") == 0 ||
           strcmp(mod->name, "shared_expert_gate") == 0;
}

/* The compressed-tensors group whose targets name this Linear (the first). */
static const ct_group *ct_find(const qspec *q, const mt_module *mod) {
    for (int g = 0; g < q->nct; g++)
        for (int t = 0; t < q->ct[g].ntargets; t++) {
            const char *tg = q->ct[g].targets[t];
            if (strcmp(tg, "Linear") == 0 || (strncmp(tg, "re:", 3) == 0 ? re_match(tg + 3, mod->path)
                                                                        : strcmp(tg, mod->path) == 0))
                return &q->ct[g];
        }
    return NULL;
}

static bool quantizes(const qspec *q, const mt_param *p) {
    const mt_module *mod = p->owner;
    if (q->kind == Q_NONE || p->is_buffer || !mod || skipped(q, mod->path)) return false;
    if (q->kind == Q_MXFP4)
        return strcmp(mod->type, "GptOssExperts") == 0 && p->t->ndim == 3 &&
               (strcmp(p->local, "gate_up_proj") == 0 || strcmp(p->local, "down_proj") == 0);
    if (mod->leaf != MT_LEAF_LINEAR || strcmp(p->local, "weight") != 0 || p->t->ndim != 2 ||
        (is_head(mod) && q->kind != Q_CT)) /* compressed-tensors: the head only through `ignore` */
        return false;
    if ((q->kind == Q_GPTQ || q->kind == Q_AWQ) && is_router(mod)) return false;
    if (q->kind == Q_CT) return ct_find(q, mod) != NULL;
    return true;
}

/* ---- the inventory ---------------------------------------------------------- */

typedef struct inv_builder {
    mt_ctx *ctx;
    mt_config *cfg;
    const qspec *q;
    mt_quant_inventory *out;
    int cap;                 /* 0: counting pass */
    mt_dtype model_dtype;
} inv_builder;

/* vsnprintf into the context. */
static char *vsprintf_ctx(mt_ctx *ctx, const char *fmt, va_list ap) {
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) return NULL;
    char *s = mt_alloc(ctx, (size_t)n + 1);
    if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

/* A layer the method cannot store: located at the config field when the
 * config asked for the method, else (a what-if) MT_ERR_UNSUPPORTED. */
static mt_status layout_error(inv_builder *b, const char *field, const char *fmt, ...) MT_PRINTF(3, 4);
static mt_status layout_error(inv_builder *b, const char *field, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = vsprintf_ctx(b->ctx, fmt, ap);
    va_end(ap);
    if (!msg) return mt_ctx_status(b->ctx);
    if (b->q->what_if)
        return mt_fail(b->ctx, MT_ERR_UNSUPPORTED, "quantization '%s' (defaults: %s): %s", b->q->what_if,
                       b->q->description, msg);
    return mt_config_error(b->cfg, field, "%s", msg);
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Append one stored tensor (counting pass: just count). */
/* mt_checked_mul/add with the common case inline (the inventory does a few
 * per parameter). */
static inline bool qmul(mt_ctx *ctx, int64_t a, int64_t b, int64_t *r, const char *what) {
    int64_t t;
    if (!mt_mul_ok(a, b, &t)) return mt_checked_mul(ctx, a, b, r, what);
    *r = t;
    return true;
}

static inline bool qadd(mt_ctx *ctx, int64_t a, int64_t b, int64_t *r, const char *what) {
    int64_t t;
    if (!mt_add_ok(a, b, &t)) return mt_checked_add(ctx, a, b, r, what);
    *r = t;
    return true;
}

/* `bytes`: the tensor's, when the caller has them (-1: computed here). */
static mt_status emit_bytes(inv_builder *b, const char *name, mt_dtype dt, int ndim, const int64_t *shape,
                            const mt_param *p, bool quantized, int64_t bytes) {
    mt_quant_inventory *o = b->out;
    if (o->n >= b->cap) { /* counting (the caller walks again with room for them all) */
        o->n++;
        return MT_OK;
    }
    mt_stored_tensor *s = &o->tensors[o->n++];
    s->name = name;
    s->dtype = dt;
    s->ndim = ndim;
    s->param = p;
    s->quantized = quantized;
    memset(s->shape, 0, sizeof s->shape); /* (the array is not zeroed; a fixed size: no call) */
    for (int d = 0; d < ndim; d++) s->shape[d] = shape[d];
    if (bytes < 0) {
        bytes = (int64_t)mt_dtype_size(dt);
        for (int d = 0; d < ndim; d++)
            if (!qmul(b->ctx, bytes, shape[d], &bytes, "checkpoint bytes")) return mt_ctx_status(b->ctx);
    }
    s->bytes = bytes;
    if (!qadd(b->ctx, o->total_bytes, bytes, &o->total_bytes, "checkpoint bytes") ||
        !qadd(b->ctx, o->bytes_by_dtype[dt], bytes, &o->bytes_by_dtype[dt], "checkpoint bytes"))
        return mt_ctx_status(b->ctx);
    return MT_OK;
}

static mt_status emit(inv_builder *b, const char *name, mt_dtype dt, int ndim, const int64_t *shape,
                      const mt_param *p, bool quantized) {
    return emit_bytes(b, name, dt, ndim, shape, p, quantized, -1);
}

/* A companion tensor named "<base>.<suffix>" (or "<base><suffix>" when the
 * suffix starts with '_'). */
static mt_status emit_named(inv_builder *b, const char *base, const char *suffix, mt_dtype dt, int ndim,
                            const int64_t *shape, const mt_param *p) {
    const char *name = NULL;
    if (b->cap) {
        name = mt_sprintf(b->ctx, suffix[0] == '_' ? "%s%s" : "%s.%s", base, suffix);
        if (!name) return mt_ctx_status(b->ctx);
    }
    return emit(b, name, dt, ndim, shape, p, true);
}

/* The length of the JSON bitsandbytes packs into quant_state.bitsandbytes__<type>
 * (json.dumps of quant_type, blocksize, dtype, shape and, with double
 * quantization, nested_blocksize, nested_dtype, nested_offset). The offset is a
 * float whose printed length depends on its value: counted as 19 characters
 * ("0.01234567890123456"), so this tensor is an estimate within a few bytes. */
static int64_t bnb_state_len(const qspec *q, mt_dtype dt, int64_t out, int64_t in) {
    char buf[256];
    int n = snprintf(buf, sizeof buf, "{\"quant_type\": \"%s\", \"blocksize\": %lld, \"dtype\": \"%s\", "
                                      "\"shape\": [%lld, %lld]",
                     q->nf4 ? "nf4" : "fp4", (long long)q->bnb_block, mt_dtype_name(dt), (long long)out,
                     (long long)in);
    if (q->double_quant) n += (int)strlen(", \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", "
                                          "\"nested_offset\": 0.01234567890123456");
    return n + 1; /* closing brace */
}

static mt_status quantized_param(inv_builder *b, const mt_param *p, const int64_t *shape) {
    const qspec *q = b->q;
    const char *path = p->owner->path;
    switch (q->kind) {
    case Q_FP8: {
        /* weight in fp8, weight_scale_inv float32 [ceil(out/b0), ceil(in/b1)] */
        int64_t sc[2] = {ceil_div(shape[0], q->block[0]), ceil_div(shape[1], q->block[1])};
        if (emit(b, p->name, q->fp8, 2, shape, p, true) != MT_OK) return mt_ctx_status(b->ctx);
        return emit_named(b, path, "weight_scale_inv", MT_FLOAT32, 2, sc, p);
    }
    case Q_MXFP4: {
        /* [E, in, out] -> <name>_blocks uint8 [E, out, in/32, 16] (two 4-bit values a
         * byte) and <name>_scales uint8 [E, out, in/32] (one e8m0 exponent per 32) */
        if (shape[1] % 32 != 0)
            return layout_error(b, QC ".quant_method",
                                "mxfp4 stores blocks of 32 values: %s has %lld input features, not a multiple "
                                "of 32",
                                p->name, (long long)shape[1]);
        int64_t bl[4] = {shape[0], shape[2], shape[1] / 32, 16}, scl[3] = {shape[0], shape[2], shape[1] / 32};
        if (emit_named(b, p->name, "_blocks", MT_UINT8, 4, bl, p) != MT_OK) return mt_ctx_status(b->ctx);
        return emit_named(b, p->name, "_scales", MT_UINT8, 3, scl, p);
    }
    case Q_GPTQ: {
        /* qweight int32 [in*bits/32, out], qzeros int32 [groups, out*bits/32],
         * scales float16 [groups, out], g_idx int32 [in] */
        int64_t out = shape[0], in = shape[1];
        if (in % 32 != 0 || out % 32 != 0)
            return layout_error(b, QC ".bits",
                                "gptq packs %lld-bit values into int32 words along both axes: %s is [%lld, "
                                "%lld], not multiples of 32",
                                (long long)q->bits, p->name, (long long)out, (long long)in);
        int64_t groups = q->group > 0 ? ceil_div(in, q->group) : 1;
        int64_t qw[2] = {in / 32 * q->bits, out}, qz[2] = {groups, out / 32 * q->bits}, sc[2] = {groups, out};
        if (emit_named(b, path, "qweight", MT_INT32, 2, qw, p) != MT_OK ||
            emit_named(b, path, "qzeros", MT_INT32, 2, qz, p) != MT_OK ||
            emit_named(b, path, "scales", MT_FLOAT16, 2, sc, p) != MT_OK)
            return mt_ctx_status(b->ctx);
        return emit_named(b, path, "g_idx", MT_INT32, 1, &in, p);
    }
    case Q_AWQ: {
        /* WQLinear_GEMM: qweight int32 [in, out*bits/32], qzeros int32 [in/group,
         * out*bits/32], scales float16 [in/group, out] */
        int64_t out = shape[0], in = shape[1], pack = 32 / q->bits;
        int64_t group = q->group > 0 ? q->group : in;
        if (in % group != 0)
            return layout_error(b, QC ".group_size", "awq needs group_size to divide in_features: %s has %lld "
                                "input features, group_size %lld",
                                p->name, (long long)in, (long long)group);
        if (out % pack != 0)
            return layout_error(b, QC ".bits", "awq packs %lld values per int32 along out_features: %s has %lld",
                                (long long)pack, p->name, (long long)out);
        int64_t qw[2] = {in, out / pack}, qz[2] = {in / group, out / pack}, sc[2] = {in / group, out};
        if (emit_named(b, path, "qweight", MT_INT32, 2, qw, p) != MT_OK ||
            emit_named(b, path, "qzeros", MT_INT32, 2, qz, p) != MT_OK)
            return mt_ctx_status(b->ctx);
        return emit_named(b, path, "scales", MT_FLOAT16, 2, sc, p);
    }
    case Q_BNB8: {
        /* Int8Params weight int8 [out, in], SCB float32 [out] (row absmax),
         * weight_format uint8 0-dim (the layout tag Linear8bitLt saves) */
        if (emit(b, p->name, MT_INT8, 2, shape, p, true) != MT_OK ||
            emit_named(b, path, "SCB", MT_FLOAT32, 1, shape, p) != MT_OK)
            return mt_ctx_status(b->ctx);
        return emit_named(b, path, "weight_format", MT_UINT8, 0, shape, p);
    }
    case Q_BNB4: {
        /* Params4bit weight uint8 [ceil(n/2), 1]; absmax per block of 64 (float32,
         * or uint8 with double quantization plus nested_absmax float32 per 256
         * blocks and nested_quant_map [256]); quant_map float32 [16]; the packed
         * JSON quant state uint8 */
        int64_t n;
        if (!qmul(b->ctx, shape[0], shape[1], &n, "weight elements")) return mt_ctx_status(b->ctx);
        int64_t w[2] = {ceil_div(n, 2), 1}, nb = ceil_div(n, q->bnb_block), qm = 16;
        int64_t nested = ceil_div(nb, 256), nqm = 256, st = bnb_state_len(q, b->model_dtype, shape[0], shape[1]);
        if (emit(b, p->name, MT_UINT8, 2, w, p, true) != MT_OK ||
            emit_named(b, p->name, "absmax", q->double_quant ? MT_UINT8 : MT_FLOAT32, 1, &nb, p) != MT_OK ||
            emit_named(b, p->name, "quant_map", MT_FLOAT32, 1, &qm, p) != MT_OK)
            return mt_ctx_status(b->ctx);
        if (q->double_quant && (emit_named(b, p->name, "nested_absmax", MT_FLOAT32, 1, &nested, p) != MT_OK ||
                                emit_named(b, p->name, "nested_quant_map", MT_FLOAT32, 1, &nqm, p) != MT_OK))
            return mt_ctx_status(b->ctx);
        return emit_named(b, p->name, q->nf4 ? "quant_state.bitsandbytes__nf4" : "quant_state.bitsandbytes__fp4",
                          MT_UINT8, 1, &st, p);
    }
    case Q_CT: {
        /* compressed-tensors (docs/quant.md): pack-quantized int -> weight_packed int32
         * [out, ceil(in/(32/bits))] + weight_shape int64 [2]; float8 -> weight in
         * float8_e4m3fn; int8 naive -> weight int8. weight_scale in the model dtype,
         * [1] / [out, 1] / [out, ceil(in/group)] / [ceil(out/b0), ceil(in/b1)] by
         * strategy; asymmetric packed zero points int32 [ceil(out/(32/bits)), groups];
         * static input activations: input_scale [1]. */
        const ct_group *g = ct_find(q, p->owner);
        int64_t out = shape[0], in = shape[1], two = 2, one = 1;
        int64_t sc[2] = {1, 1};
        int sn = 2;
        switch (g->strategy) {
        case CT_TENSOR: sn = 1; break;
        case CT_CHANNEL: sc[0] = out; break;
        case CT_GROUP: sc[0] = out; sc[1] = ceil_div(in, g->group); break;
        case CT_BLOCK: sc[0] = ceil_div(out, g->block[0]); sc[1] = ceil_div(in, g->block[1]); break;
        }
        if (g->packed) {
            int64_t pack = 32 / g->bits, wp[2] = {out, ceil_div(in, pack)};
            if (emit_named(b, path, "weight_packed", MT_INT32, 2, wp, p) != MT_OK ||
                emit_named(b, path, "weight_shape", MT_INT64, 1, &two, p) != MT_OK)
                return mt_ctx_status(b->ctx);
            if (emit_named(b, path, "weight_scale", b->model_dtype, sn, sc, p) != MT_OK) return mt_ctx_status(b->ctx);
            if (!g->symmetric) {
                int64_t zp[2] = {ceil_div(out, pack), sc[1]};
                if (emit_named(b, path, "weight_zero_point", MT_INT32, 2, zp, p) != MT_OK) return mt_ctx_status(b->ctx);
            }
        } else {
            if (emit(b, p->name, g->is_float ? MT_FLOAT8_E4M3FN : MT_INT8, 2, shape, p, true) != MT_OK ||
                emit_named(b, path, "weight_scale", b->model_dtype, sn, sc, p) != MT_OK)
                return mt_ctx_status(b->ctx);
        }
        if (g->input_scale && emit_named(b, path, "input_scale", b->model_dtype, 1, &one, p) != MT_OK)
            return mt_ctx_status(b->ctx);
        return MT_OK;
    }
    case Q_NONE:
        break;
    }
    return mt_fail(b->ctx, MT_ERR_INTERNAL, "quant inventory: no layout for method %d", (int)q->kind);
}

/* GPTQ and AWQ linears keep their bias as a float16 buffer whatever the
 * model dtype (QuantLinear / WQLinear_GEMM register it so). */
static mt_dtype stored_dtype(const qspec *q, const mt_param *p) {
    if ((q->kind == Q_GPTQ || q->kind == Q_AWQ) && !p->is_buffer && strcmp(p->local, "bias") == 0) {
        const mt_param *w = mt_module_param(p->owner, "weight");
        if (w && quantizes(q, w)) return MT_FLOAT16;
    }
    return p->t->dtype;
}

/* state_dict order: a module's parameters and persistent buffers, then its
 * children. Tied aliases are stored once; non-persistent buffers not at all. */
/* One module's own parameters and persistent buffers. */
static mt_status walk_own(inv_builder *b, const mt_module *mod) {
    for (int i = 0; i < mod->params.n; i++) {
        const mt_param *p = mod->params.items[i];
        if (p->tied_to || (p->is_buffer && !p->persistent)) continue;
        int64_t shape[MT_MAX_DIMS];
        int64_t bytes = (int64_t)mt_dtype_size(p->t->dtype), numel = 1;
        for (int d = 0; d < p->t->ndim; d++) {
            if (!mt__sym_const_of(p->t->shape[d], &shape[d]))
                return mt_fail(b->ctx, MT_ERR_INTERNAL, "parameter '%s' has a symbolic shape", p->name);
            if (!qmul(b->ctx, numel, shape[d], &numel, "parameter elements")) return mt_ctx_status(b->ctx);
        }
        if (!qmul(b->ctx, bytes, numel, &bytes, "parameter bytes")) return mt_ctx_status(b->ctx);
        if (b->q->kind != Q_NONE && quantizes(b->q, p)) {
            if (quantized_param(b, p, shape) != MT_OK) return mt_ctx_status(b->ctx);
            if (b->cap) {
                b->out->quantized_params += numel;
                b->out->unquantized_bytes += bytes;
            }
        } else {
            mt_dtype dt = stored_dtype(b->q, p);
            if (emit_bytes(b, p->name, dt, p->t->ndim, shape, p, false, dt == p->t->dtype ? bytes : -1) != MT_OK)
                return mt_ctx_status(b->ctx);
        }
    }
    return MT_OK;
}

static mt_status walk(inv_builder *b, const mt_module *mod) {
    if (walk_own(b, mod) != MT_OK) return mt_ctx_status(b->ctx);
    for (int i = 0; i < mod->children.n; i++) {
        const mt_module *c = mod->children.items[i];
        /* (most modules are leaves: their own tensors without a call down) */
        if ((c->children.n ? walk(b, c) : walk_own(b, c)) != MT_OK) return mt_ctx_status(b->ctx);
    }
    return MT_OK;
}

/* ---- reading quantization_config ------------------------------------------------ */

static const char *type_of(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* The skip lists transformers' quantizers read: modules_to_not_convert (fp8,
 * mxfp4, awq, gptq), ignored_layers, ignore (compressed-tensors style) and
 * llm_int8_skip_modules (bitsandbytes). */
static mt_status read_skips(mt_ctx *ctx, mt_config *c, qspec *q) {
    static const char *const fields[] = {QC ".modules_to_not_convert", QC ".ignored_layers", QC ".ignore",
                                         QC ".llm_int8_skip_modules"};
    size_t total = 0;
    for (size_t f = 0; f < sizeof fields / sizeof *fields; f++) {
        json_t *v = mt_config_json(c, fields[f]);
        if (!v) continue;
        if (!json_is_array(v))
            return mt_config_error(c, fields[f], "expected a list of module names, got %s", type_of(v));
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i)))
                return mt_config_error(c, fields[f], "expected a list of module names, item %zu is %s", i,
                                    type_of(json_array_get(v, i)));
        total += json_array_size(v);
    }
    if (!total) return MT_OK;
    q->skip = mt_alloc_array(ctx, total, sizeof *q->skip);
    if (!q->skip) return mt_ctx_status(ctx);
    for (size_t f = 0; f < sizeof fields / sizeof *fields; f++) {
        json_t *v = mt_config_json(c, fields[f]);
        for (size_t i = 0; v && i < json_array_size(v); i++)
            q->skip[q->nskip++] = json_string_value(json_array_get(v, i));
    }
    return MT_OK;
}

static void defaults(qspec *q, qkind kind) {
    q->kind = kind;
    q->fp8 = MT_FLOAT8_E4M3FN;
    q->block[0] = q->block[1] = 128;
    q->bits = 4;
    q->group = 128;
    q->bnb_block = 64;
    q->nf4 = true;
    q->double_quant = true;
}

static mt_status read_fp8(mt_config *c, qspec *q) {
    const char *fmt, *act;
    if (!mt_config_str(c, QC ".fmt", "e4m3", &fmt) || !mt_config_str(c, QC ".activation_scheme", "dynamic", &act))
        return mt_ctx_status(mt_config_ctx(c));
    if (strcmp(fmt, "e4m3") == 0) q->fp8 = MT_FLOAT8_E4M3FN;
    else if (strcmp(fmt, "e5m2") == 0) q->fp8 = MT_FLOAT8_E5M2;
    else return mt_config_error(c, QC ".fmt", "expected \"e4m3\" or \"e5m2\", got \"%s\"", fmt);
    if (strcmp(act, "dynamic") != 0)
        return mt_config_error(c, QC ".activation_scheme",
                            "only \"dynamic\" is covered (a static scheme stores per-layer activation scales), "
                            "got \"%s\"", act);
    json_t *v = mt_config_json(c, QC ".weight_block_size");
    if (!v) return MT_OK;
    if (!json_is_array(v) || json_array_size(v) != 2)
        return mt_config_error(c, QC ".weight_block_size", "expected [rows, cols] (two positive integers), got %s",
                            json_is_array(v) ? "a list of another length" : type_of(v));
    for (int i = 0; i < 2; i++) {
        json_t *e = json_array_get(v, (size_t)i);
        if (!json_is_integer(e) || json_integer_value(e) <= 0)
            return mt_config_error(c, QC ".weight_block_size",
                                "expected [rows, cols] (two positive integers), item %d is %s%s", i,
                                json_is_integer(e) ? "" : type_of(e),
                                json_is_integer(e) ? (json_integer_value(e) ? "negative" : "zero") : "");
        q->block[i] = (int64_t)json_integer_value(e);
    }
    return MT_OK;
}

static mt_status read_int4(mt_config *c, qspec *q) {
    mt_ctx *ctx = mt_config_ctx(c);
    if (!mt_config_int(c, QC ".bits", 4, &q->bits) || !mt_config_int(c, QC ".group_size", 128, &q->group))
        return mt_ctx_status(ctx);
    if (q->group == 0 || q->group < -1)
        return mt_config_error(c, QC ".group_size", "expected a positive group size or -1 (one group per row), got %lld",
                            (long long)q->group);
    if (q->kind == Q_GPTQ) {
        bool desc_act, sym;
        const char *fmt;
        if (!mt_config_bool(c, QC ".desc_act", false, &desc_act) || !mt_config_bool(c, QC ".sym", true, &sym) ||
            !mt_config_str(c, QC ".checkpoint_format", "gptq", &fmt))
            return mt_ctx_status(ctx);
        if (q->bits != 2 && q->bits != 4 && q->bits != 8)
            return mt_config_error(c, QC ".bits", "expected 2, 4 or 8 (3-bit packing spans words and is not covered), "
                                "got %lld", (long long)q->bits);
        if (strcmp(fmt, "gptq") != 0 && strcmp(fmt, "gptq_v2") != 0)
            return mt_config_error(c, QC ".checkpoint_format", "expected \"gptq\" or \"gptq_v2\", got \"%s\"", fmt);
        /* desc_act and sym change values, not what is stored: g_idx and qzeros are always saved */
    } else {
        const char *version;
        if (!mt_config_str(c, QC ".version", "gemm", &version)) return mt_ctx_status(ctx);
        if (q->bits != 4) return mt_config_error(c, QC ".bits", "expected 4 (AWQ GEMM), got %lld", (long long)q->bits);
        if (strcmp(version, "gemm") != 0 && strcmp(version, "GEMM") != 0)
            return mt_config_error(c, QC ".version", "only the GEMM packing is covered, got \"%s\"", version);
    }
    return MT_OK;
}

static mt_status read_bnb(mt_config *c, qspec *q) {
    mt_ctx *ctx = mt_config_ctx(c);
    bool b8, b4;
    const char *type;
    if (!mt_config_bool(c, QC ".load_in_8bit", false, &b8) || !mt_config_bool(c, QC ".load_in_4bit", false, &b4) ||
        !mt_config_str(c, QC ".bnb_4bit_quant_type", "fp4", &type) ||
        !mt_config_bool(c, QC ".bnb_4bit_use_double_quant", false, &q->double_quant))
        return mt_ctx_status(ctx);
    if (b8 == b4)
        return mt_config_error(c, QC ".load_in_4bit", "bitsandbytes: expected exactly one of load_in_8bit and "
                            "load_in_4bit to be true");
    q->kind = b8 ? Q_BNB8 : Q_BNB4;
    if (strcmp(type, "nf4") == 0) q->nf4 = true;
    else if (strcmp(type, "fp4") == 0) q->nf4 = false;
    else return mt_config_error(c, QC ".bnb_4bit_quant_type", "expected \"nf4\" or \"fp4\", got \"%s\"", type);
    return MT_OK;
}

/* compressed-tensors: quantization_config.config_groups.<name> = {targets,
 * weights: {num_bits, type, symmetric, strategy, group_size, block_structure,
 * dynamic}, input_activations, output_activations, format}; `format` at the
 * top (or per group): pack-quantized, float-quantized, naive-quantized,
 * int-quantized. The covered subset is in docs/quant.md; the rest is refused
 * at the field. */
static mt_status read_ct_group(mt_config *c, const char *gname, const char *top_format, ct_group *g) {
    mt_ctx *ctx = mt_config_ctx(c);
    char f[512];
#define CTF(sub) (snprintf(f, sizeof f, QC ".config_groups.%s%s", gname, sub), f)
    g->name = gname;
    json_t *t = mt_config_json(c, CTF(".targets"));
    if (!t || !json_is_array(t) || !json_array_size(t))
        return mt_config_error(c, CTF(".targets"), "expected a non-empty list of targets (\"Linear\", \"re:...\")");
    g->ntargets = (int)json_array_size(t);
    g->targets = mt_alloc_array(ctx, (size_t)g->ntargets, sizeof *g->targets);
    if (!g->targets) return mt_ctx_status(ctx);
    for (int i = 0; i < g->ntargets; i++) {
        json_t *e = json_array_get(t, (size_t)i);
        if (!json_is_string(e))
            return mt_config_error(c, CTF(".targets"), "expected a list of strings, item %d is %s", i, type_of(e));
        g->targets[i] = json_string_value(e);
    }
    const char *format, *type, *strategy;
    bool dynamic;
    if (!mt_config_str(c, CTF(".format"), top_format, &format) || !mt_config_str(c, CTF(".weights.type"), "int", &type) ||
        !mt_config_str(c, CTF(".weights.strategy"), NULL, &strategy) ||
        !mt_config_int(c, CTF(".weights.num_bits"), 8, &g->bits) ||
        !mt_config_bool(c, CTF(".weights.symmetric"), true, &g->symmetric) ||
        !mt_config_bool(c, CTF(".weights.dynamic"), false, &dynamic) ||
        !mt_config_int(c, CTF(".weights.group_size"), 0, &g->group))
        return mt_ctx_status(ctx);
    if (!mt_config_json(c, CTF(".weights")))
        return mt_config_error(c, CTF(""), "a group without weights (activation-only schemes) is not covered");
    if (!format) return mt_config_error(c, QC ".format", "missing format (pack-quantized, float-quantized, ...)");
    if (dynamic) return mt_config_error(c, CTF(".weights.dynamic"), "dynamic weight quantization is not covered");
    if (mt_config_json(c, CTF(".weights.actorder")))
        return mt_config_error(c, CTF(".weights.actorder"), "activation ordering (weight_g_idx) is not covered");
    if (mt_config_json(c, CTF(".output_activations")))
        return mt_config_error(c, CTF(".output_activations"), "output activation quantization is not covered");
    /* QuantizationArgs without a strategy: group with a group_size > 0, channel
     * with -1, else tensor */
    if (!strategy) strategy = g->group > 0 ? "group" : g->group == -1 ? "channel" : "tensor";
    if (strcmp(strategy, "tensor") == 0) g->strategy = CT_TENSOR;
    else if (strcmp(strategy, "channel") == 0) g->strategy = CT_CHANNEL;
    else if (strcmp(strategy, "group") == 0) g->strategy = CT_GROUP;
    else if (strcmp(strategy, "block") == 0) g->strategy = CT_BLOCK;
    else return mt_config_error(c, CTF(".weights.strategy"), "expected tensor, channel, group or block, got \"%s\"", strategy);
    if (g->strategy == CT_GROUP && g->group <= 0)
        return mt_config_error(c, CTF(".weights.group_size"), "the group strategy needs a positive group_size, got %lld",
                            (long long)g->group);
    if (g->strategy == CT_BLOCK) {
        json_t *bs = mt_config_json(c, CTF(".weights.block_structure"));
        if (!bs || !json_is_array(bs) || json_array_size(bs) != 2 || !json_is_integer(json_array_get(bs, 0)) ||
            !json_is_integer(json_array_get(bs, 1)) || json_integer_value(json_array_get(bs, 0)) <= 0 ||
            json_integer_value(json_array_get(bs, 1)) <= 0)
            return mt_config_error(c, CTF(".weights.block_structure"), "expected [rows, cols] (two positive integers)");
        g->block[0] = (int64_t)json_integer_value(json_array_get(bs, 0));
        g->block[1] = (int64_t)json_integer_value(json_array_get(bs, 1));
    }
    if (strcmp(format, "pack-quantized") == 0) {
        if (strcmp(type, "int") != 0 || (g->bits != 4 && g->bits != 8))
            return mt_config_error(c, CTF(".weights.num_bits"), "pack-quantized stores 4- or 8-bit int weights, got %lld-bit %s",
                                (long long)g->bits, type);
        if (!g->symmetric && g->strategy != CT_GROUP && g->strategy != CT_CHANNEL)
            return mt_config_error(c, CTF(".weights.symmetric"), "asymmetric pack-quantized weights are covered for the "
                                "group and channel strategies only");
        if (g->strategy == CT_BLOCK)
            return mt_config_error(c, CTF(".weights.strategy"), "block scales with pack-quantized are not covered");
        g->packed = true;
    } else if (strcmp(format, "float-quantized") == 0 || strcmp(format, "naive-quantized") == 0 ||
               strcmp(format, "int-quantized") == 0) {
        g->is_float = strcmp(type, "float") == 0;
        if (g->bits != 8 || (!g->is_float && strcmp(type, "int") != 0))
            return mt_config_error(c, CTF(".weights.num_bits"), "%s covers 8-bit float (fp8 e4m3) or int weights, got "
                                "%lld-bit %s", format, (long long)g->bits, type);
        if (!g->symmetric)
            return mt_config_error(c, CTF(".weights.symmetric"), "asymmetric %s weights are not covered", format);
    } else {
        return mt_config_error(c, strcmp(format, top_format ? top_format : "") == 0 && !mt_config_json(c, CTF(".format"))
                                   ? QC ".format" : CTF(".format"),
                            "format \"%s\" is not covered (pack-quantized, float-quantized, naive-quantized, "
                            "int-quantized)", format);
    }
    json_t *ia = mt_config_json(c, CTF(".input_activations"));
    if (ia) {
        bool idyn, isym;
        const char *istrat;
        if (!mt_config_bool(c, CTF(".input_activations.dynamic"), false, &idyn) ||
            !mt_config_bool(c, CTF(".input_activations.symmetric"), true, &isym) ||
            !mt_config_str(c, CTF(".input_activations.strategy"), "tensor", &istrat))
            return mt_ctx_status(ctx);
        if (!idyn && (strcmp(istrat, "tensor") != 0 || !isym))
            return mt_config_error(c, CTF(".input_activations"), "static input activations are covered per tensor and "
                                "symmetric only");
        g->input_scale = !idyn;
    }
#undef CTF
    return MT_OK;
}

static mt_status read_ct(mt_config *c, qspec *q) {
    mt_ctx *ctx = mt_config_ctx(c);
    const char *format;
    if (!mt_config_str(c, QC ".format", NULL, &format)) return mt_ctx_status(ctx);
    if (mt_config_json(c, QC ".kv_cache_scheme"))
        return mt_config_error(c, QC ".kv_cache_scheme", "KV-cache quantization scales are not covered");
    json_t *groups = mt_config_json(c, QC ".config_groups");
    if (!groups || !json_is_object(groups) || !json_object_size(groups))
        return mt_config_error(c, QC ".config_groups", "expected an object of quantization groups");
    q->ct = mt_alloc_array(ctx, json_object_size(groups), sizeof *q->ct);
    if (!q->ct) return mt_ctx_status(ctx);
    const char *key;
    json_t *v;
    json_object_foreach(groups, key, v) {
        ct_group *g = &q->ct[q->nct];
        memset(g, 0, sizeof *g);
        if (strchr(key, '.'))
            return mt_config_error(c, QC ".config_groups", "group name \"%s\" contains a dot", key);
        if (read_ct_group(c, key, format, g) != MT_OK) return mt_ctx_status(ctx);
        q->nct++;
    }
    return MT_OK;
}

static mt_status read_config(mt_config *c, qspec *q) {
    mt_ctx *ctx = mt_config_ctx(c);
    json_t *qc = mt_config_json(c, QC);
    if (!qc) return MT_OK; /* not quantized */
    if (!json_is_object(qc)) return mt_config_error(c, QC, "expected an object, got %s", type_of(qc));
    const char *method;
    if (!mt_config_str(c, QC ".quant_method", NULL, &method)) return mt_ctx_status(ctx);
    if (!method) return mt_config_error(c, QC, "missing quant_method (one of " CONFIG_METHODS ")");
    if (strcmp(method, "fp8") == 0) {
        defaults(q, Q_FP8);
        if (read_fp8(c, q) != MT_OK) return mt_ctx_status(ctx);
    } else if (strcmp(method, "mxfp4") == 0) {
        defaults(q, Q_MXFP4);
    } else if (strcmp(method, "gptq") == 0 || strcmp(method, "awq") == 0) {
        defaults(q, method[0] == 'g' ? Q_GPTQ : Q_AWQ);
        if (read_int4(c, q) != MT_OK) return mt_ctx_status(ctx);
    } else if (strcmp(method, "bitsandbytes") == 0) {
        defaults(q, Q_BNB4);
        if (read_bnb(c, q) != MT_OK) return mt_ctx_status(ctx);
    } else if (strcmp(method, "compressed-tensors") == 0) {
        q->kind = Q_CT;
        if (read_ct(c, q) != MT_OK) return mt_ctx_status(ctx);
    } else {
        return mt_config_error(c, QC ".quant_method", "unknown quant_method \"%s\" (supported: " CONFIG_METHODS ")",
                            method);
    }
    return read_skips(ctx, c, q);
}

static void describe(mt_ctx *ctx, qspec *q) {
    switch (q->kind) {
    case Q_FP8:
        q->method = "fp8";
        q->description = mt_sprintf(ctx, "FP8 %s weights, %lldx%lld block scales (float32 weight_scale_inv)",
                                    q->fp8 == MT_FLOAT8_E5M2 ? "e5m2" : "e4m3", (long long)q->block[0],
                                    (long long)q->block[1]);
        break;
    case Q_MXFP4:
        q->method = "mxfp4";
        q->description = "MXFP4 experts: 4-bit values in uint8 *_blocks of 32, one uint8 exponent each (*_scales)";
        break;
    case Q_GPTQ:
        q->method = "gptq";
        q->description = q->group > 0
                             ? mt_sprintf(ctx, "GPTQ %lld-bit, group %lld: int32 qweight/qzeros, float16 scales, "
                                               "int32 g_idx", (long long)q->bits, (long long)q->group)
                             : mt_sprintf(ctx, "GPTQ %lld-bit, one group per row: int32 qweight/qzeros, float16 "
                                               "scales, int32 g_idx", (long long)q->bits);
        break;
    case Q_AWQ:
        q->method = "awq";
        q->description = q->group > 0 ? mt_sprintf(ctx, "AWQ %lld-bit GEMM, group %lld: int32 qweight/qzeros, "
                                                        "float16 scales", (long long)q->bits, (long long)q->group)
                                      : "AWQ 4-bit GEMM, one group per row: int32 qweight/qzeros, float16 scales";
        break;
    case Q_BNB8:
        q->method = "bitsandbytes_8bit";
        q->description = "bitsandbytes LLM.int8(): int8 weights, float32 SCB per output row";
        break;
    case Q_BNB4:
        q->method = "bitsandbytes_4bit";
        q->description = mt_sprintf(ctx, "bitsandbytes 4-bit %s, blocks of %lld, %s absmax", q->nf4 ? "nf4" : "fp4",
                                    (long long)q->bnb_block, q->double_quant ? "double-quantized" : "float32");
        break;
    case Q_CT:
        q->method = "compressed-tensors";
        q->description = q->nct == 1 ? mt_sprintf(ctx, "compressed-tensors %s %lld-bit %s weights (%s scales)",
                                                  q->ct[0].packed ? "pack-quantized" : "quantized", (long long)q->ct[0].bits,
                                                  q->ct[0].is_float ? "float" : "int",
                                                  q->ct[0].strategy == CT_TENSOR    ? "per-tensor"
                                                  : q->ct[0].strategy == CT_CHANNEL ? "per-channel"
                                                  : q->ct[0].strategy == CT_GROUP   ? "group"
                                                                                    : "block")
                                     : mt_sprintf(ctx, "compressed-tensors, %d quantization groups", q->nct);
        break;
    case Q_NONE:
        break;
    }
}

const char *mt_quant_methods(void) { return METHODS; }

mt_status mt_quant_inventory_of(mt_model *m, const char *method, mt_quant_inventory *out) {
    mt_ctx *ctx = m->ctx;
    memset(out, 0, sizeof *out);
    qspec q;
    memset(&q, 0, sizeof q);
    if (method) {
        static const struct { const char *name; qkind kind; } what_if[] = {
            {"fp8", Q_FP8}, {"mxfp4", Q_MXFP4}, {"gptq", Q_GPTQ}, {"awq", Q_AWQ}, {"bnb-8bit", Q_BNB8}, {"bnb-4bit", Q_BNB4},
        };
        for (size_t i = 0; i < sizeof what_if / sizeof *what_if; i++)
            if (strcmp(method, what_if[i].name) == 0) defaults(&q, what_if[i].kind);
        q.what_if = method;
        if (q.kind == Q_NONE)
            return mt_fail(ctx, MT_ERR_USAGE, "unknown quantization method '%s' (expected one of " METHODS ")", method);
    } else if (read_config(m->cfg, &q) != MT_OK) {
        return mt_ctx_status(ctx);
    }
    if (q.kind != Q_NONE) {
        describe(ctx, &q);
        if (!q.description) return mt_ctx_status(ctx);
    }
    /* One walk with room for a tensor per parameter and buffer (what an
     * unquantized checkpoint stores); a quantized one stores more: the first
     * walk counts them, the second fills. */
    inv_builder b = {ctx, m->cfg, &q, out, q.kind == Q_NONE ? m->params.n + m->buffers.n : 0, m->dtype};
    for (int pass = 0; pass < 2; pass++) {
        memset(out, 0, sizeof *out);
        out->method = q.kind == Q_NONE ? NULL : q.method;
        out->description = q.kind == Q_NONE ? "not quantized: every parameter stored as itself" : q.description;
        if (b.cap > 0) {
            /* every entry up to out->n is written by emit_bytes */
            out->tensors = mt__alloc_raw(ctx, (size_t)b.cap * sizeof *out->tensors);
            if (!out->tensors) return mt_ctx_status(ctx);
        }
        if (walk(&b, m->root) != MT_OK) return mt_ctx_status(ctx);
        if (out->n <= b.cap && (b.cap > 0 || out->n == 0)) break;
        if (pass == 1) return mt_fail(ctx, MT_ERR_INTERNAL, "quant inventory: more tensors than counted");
        b.cap = out->n;
    }
    if (!out->tensors && !(out->tensors = mt_alloc_array(ctx, 1, sizeof *out->tensors))) return mt_ctx_status(ctx);
    if (q.kind == Q_MXFP4 && out->quantized_params == 0)
        return method ? mt_fail(ctx, MT_ERR_UNSUPPORTED,
                                "mxfp4 quantizes gpt-oss experts (GptOssExperts) only; %s has none", m->model_type)
                      : mt_config_error(m->cfg, QC ".quant_method",
                                     "mxfp4 quantizes gpt-oss experts (GptOssExperts) only; %s has none",
                                     m->model_type);
    return MT_OK;
}
