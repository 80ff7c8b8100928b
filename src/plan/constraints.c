/* metatrace — what a tensor-parallel degree must divide (docs/plan.md,
 * "Constraints"): read once per graph off the traced dataflow and shapes,
 * checked per degree.
 *
 * Limits, each found where the graph shows it (never by parameter or module
 * name):
 *   heads   dim -3 of the query at every attention core: a
 *           scaled_dot_product_attention node, or an eager one (the matmul of
 *           two activations whose result reaches a softmax, through scale,
 *           soft-capping, masks, a cat with sinks or a view);
 *   KV      the key of that core walked back (through repeat-kv's
 *           getitem/expand/reshape, transposes, rotary arithmetic, cats) to
 *           where its head dim is created (the view splitting a projection's
 *           last dim into [..., H, D]) or cut (a slice of a fused projection);
 *   MLP     the width entering the activation of Linear -> act [x up] -> Linear;
 *   vocab   rows of the Embeddings indexed by a model input, out features of
 *           the Linear producing the first output.
 * Each walk is bounded, so reading is linear in the graph. A limit is named
 * by the config field holding its value (the model's resolved info first, then
 * config.json), else described from the graph. */
#include <jansson.h>
#include <string.h>

#include "plan_internal.h"

enum { LK_HEADS, LK_KV, LK_MLP, LK_VOCAB, LK_COUNT };

typedef struct lim {
    int kind;
    int64_t v;
    int64_t heads; /* LK_KV: query heads of the attention it feeds */
    const char *label;
} lim;

struct pl_limits {
    mt_model *m;
    lim *v;
    int n, cap;
    bool has_kv;
    int64_t kv, head_dim, kv_heads_q; /* for pl_limits_kv (and its query heads) */
};

/* The walks' bounds: PL_PARAMS (plan_internal.h). */

/* ---- naming ---------------------------------------------------------------- */

static const char *const FIELDS_HEADS[] = {"num_attention_heads", "n_head", "num_heads", "n_heads",
                                           "encoder_attention_heads", "decoder_attention_heads", NULL};
static const char *const FIELDS_KV[] = {"num_key_value_heads", "num_kv_heads", "n_head_kv",
                                        "multi_query_group_num", NULL};
static const char *const FIELDS_MLP[] = {"intermediate_size", "moe_intermediate_size",
                                         "shared_expert_intermediate_size", "ffn_dim", "n_inner", "d_ff",
                                         "ffn_hidden_size", "encoder_ffn_dim", "decoder_ffn_dim", NULL};
static const char *const FIELDS_VOCAB[] = {"vocab_size", "n_vocab", "padded_vocab_size", NULL};
static const char *const *const FIELDS[LK_COUNT] = {FIELDS_HEADS, FIELDS_KV, FIELDS_MLP, FIELDS_VOCAB};
static const char *const NOUN[LK_COUNT] = {"attention heads", "KV heads", "MLP width", "vocabulary"};

/* The config field holding v: the model's resolved info, then config.json. */
static const char *field_of(const mt_model *m, int kind, int64_t v) {
    const char *const *names = FIELDS[kind];
    int ninfo;
    const mt_kwarg *info = mt__model_infos(m, &ninfo);
    for (int k = 0; names[k]; k++)
        for (int i = 0; i < ninfo; i++)
            if (info[i].value.kind == MT_ARG_INT && info[i].value.v.i == v &&
                strcmp(info[i].name, names[k]) == 0)
                return names[k];
    if (!m->cfg) return NULL;
    for (int k = 0; names[k]; k++) {
        const json_t *j = mt_config_json(m->cfg, names[k]);
        if (j && json_is_integer(j) && json_integer_value(j) == v) return names[k];
    }
    return NULL;
}

static const char *module_of(const mt_node *n) {
    if (n && n->stack && n->stack->depth > 0) {
        const char *p = n->stack->mods[n->stack->depth - 1]->path;
        if (p && *p) return p;
    }
    return "the model";
}

/* Record a limit once per (kind, value[, heads]); "pre PATH post" describes
 * it from the graph when no config field holds the value. */
static bool add_lim(pl_limits *L, int kind, int64_t v, int64_t heads, const char *pre, const char *path,
                    const char *post) {
    if (v <= 0) return true;
    for (int i = 0; i < L->n; i++)
        if (L->v[i].kind == kind && L->v[i].v == v && (kind != LK_KV || L->v[i].heads == heads)) return true;
    mt_ctx *ctx = L->m->ctx;
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 16;
        lim *nv = mt_alloc_array(ctx, (size_t)cap, sizeof *nv);
        if (!nv) return false;
        if (L->n) memcpy(nv, L->v, (size_t)L->n * sizeof *nv);
        L->v = nv;
        L->cap = cap;
    }
    const char *f = field_of(L->m, kind, v);
    const char *label = f ? mt_sprintf(ctx, "%s=%lld", f, (long long)v)
                          : mt_sprintf(ctx, "%s=%lld (%s%s%s)", NOUN[kind], (long long)v, pre, path, post);
    if (!label) return false;
    L->v[L->n++] = (lim){kind, v, heads, label};
    return true;
}

/* ---- small graph helpers ----------------------------------------------------- */

/* Arguments are read by name through the op's signature (the op table). */
#define tensor_arg mt__node_tensor
#define input_of mt__node_input

/* Operand i of an elementwise op (the op table's `operands` leading
 * parameters), NULL when not a tensor. */
static const mt_tensor *operand(const mt_node *n, int i) {
    const mt_opinfo *info = mt__op_info(n->opid);
    return info && i < info->operands && i < n->nargs && n->args[i].kind == MT_ARG_TENSOR ? n->args[i].v.t : NULL;
}

static bool same_shape(const mt_tensor *a, const mt_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

static int64_t cval(const mt_sym *s) { return s && mt_sym_is_const(s) ? mt_sym_const_value(s) : -1; }

static bool is_leaf(const mt_node *n, mt_leaf_kind k) {
    return n->op == MT_NODE_CALL_MODULE && n->module && n->module->leaf == k;
}

static bool is_linear(const mt_node *n) { return is_leaf(n, MT_LEAF_LINEAR) || is_leaf(n, MT_LEAF_CONV1D); }

static bool is_act(const mt_node *n) {
    return n->opid == MT_OP_SILU || n->opid == MT_OP_GELU || n->opid == MT_OP_RELU || is_leaf(n, MT_LEAF_ACT);
}

/* Ops passing a tensor through unchanged in shape: the op table's
 * elementwise ops of one operand that pass partial sums (casts, neg,
 * contiguous, dropout), clamping (OLMo's clip_qkv), a Dropout module. */
static bool is_passthrough(const mt_node *n) {
    const mt_opinfo *r = mt__op_info(n->opid);
    bool linear1 = r && r->operands == 1 && r->lin == MT_LIN_EACH;
    if (r && r->dims == MT_DIMS_POINTWISE && (linear1 || r->shard == MT_SHARD_CLAMP)) return true;
    return is_leaf(n, MT_LEAF_DROPOUT);
}

/* Linear arithmetic of two operands: add, sub, mul, truediv. */
static bool is_arith(const mt_node *n) {
    const mt_opinfo *r = mt__op_info(n->opid);
    return r && r->dims == MT_DIMS_POINTWISE && r->operands == 2 && r->lin != MT_LIN_NONE;
}

/* ---- walking a head dim back ------------------------------------------------ */

typedef struct trk {
    const mt_tensor *t;
    int d;
} trk;

/* A run of view/reshape/flatten (its spec at output dim d): the input dim d
 * comes from. -1 when d is created here (a split of one input dim into
 * several, the projection's [..., H, D]) or is not the outermost dim of its
 * run. A merged run ([b, kv, rep] -> [b, kv*rep], [b, H] -> [H*b]) gives its
 * outermost constant dim that is not the batch. */
static int run_back(mt_ctx *ctx, const mt_tensor *x, const mt_tensor *y, int d, mt_dimspec s, const mt_sym *batch) {
    const mt_sym *one = mt_sym_const(ctx, 1);
    int first = d - s.piece, b = first, outer = 0;
    while (b < first + s.nout - 1 && y->shape[b] == one) b++;
    for (int q = first; q < first + s.nout; q++) outer += y->shape[q] != one;
    if (d != b || outer > 1) return -1;
    int a = s.in;
    while (a < s.in + s.nin - 1 && (x->shape[a] == one || x->shape[a] == batch || !mt_sym_is_const(x->shape[a]))) a++;
    return a;
}

/* One step back from k->t (its producer) along the op table's dims classes:
 * an elementwise op to its operand of the same shape, a shape op, reduction,
 * cat or the piece of a split along its spec (trace/dims.c); false when the
 * dim starts here (created, cut, or read whole). */
static bool step_back(mt_ctx *ctx, trk *k, const mt_sym *batch) {
    const mt_node *n = k->t->node;
    if (!n) return false;
    const mt_tensor *y = k->t, *x = NULL;
    int d = k->d, nd = -1;
    const mt_opinfo *info = mt__op_info(n->opid);
    if (is_leaf(n, MT_LEAF_DROPOUT)) {
        x = input_of(n);
        if (x && x->ndim == y->ndim && x->shape[d] == y->shape[d]) nd = d;
    } else if (info && info->dims == MT_DIMS_POINTWISE) {
        for (int i = 0; i < info->operands && !x; i++)
            if (operand(n, i) && same_shape(operand(n, i), y)) x = operand(n, i);
        nd = d;
    } else if (info) {
        const mt_node *src = n;
        int out = (int)(y - n->outs);
        const mt_tensor *a = input_of(n);
        if (info->dims == MT_DIMS_INDEX && a && a->node && a->node->is_tuple) { /* a piece of a split */
            int64_t e = 0;
            mt__node_int(n, "b", &e);
            src = a->node;
            out = mt__wrap_dim(e, src->nout);
        }
        mt_dimspec spec[MT_MAX_DIMS];
        x = out >= 0 ? mt__dimspec(ctx, src, out, spec) : NULL;
        if (x && x->ndim > 0 && src->outs[out].ndim == y->ndim) {
            mt_dimspec s = spec[d];
            if (s.kind == MT_DS_DIM || s.kind == MT_DS_BCAST) nd = s.in;
            else if (s.kind == MT_DS_RUN) nd = run_back(ctx, x, y, d, s, batch);
        }
    }
    if (!x || nd < 0 || nd >= x->ndim) return false;
    k->t = x;
    k->d = nd;
    return true;
}

/* Walk dim d of t back to where it starts: its size there (-1 if not a
 * constant). */
static int64_t walk_heads(mt_ctx *ctx, const mt_tensor *t, int d, const mt_sym *batch) {
    trk k = {t, d};
    for (int s = 0; s < PL_PARAMS.walk_steps && step_back(ctx, &k, batch); s++) {
    }
    return cval(k.t->shape[k.d]);
}

/* ---- attention cores ---------------------------------------------------------- */

static bool activation_arg(const mt_tensor *t) {
    return t && t->node && t->node->op != MT_NODE_GET_ATTR && t->node->op != MT_NODE_PLACEHOLDER;
}

/* The matmul of two activations whose result reaches t (a softmax input). */
static const mt_node *scores_matmul(const mt_tensor *t, int depth, int *budget) {
    if (!t || !t->node || depth > PL_PARAMS.score_depth || --*budget < 0) return NULL;
    const mt_node *n = t->node;
    if (n->opid == MT_OP_MATMUL)
        return activation_arg(tensor_arg(n, "input")) && activation_arg(tensor_arg(n, "other")) ? n : NULL;
    bool shape_ops = n->opid == MT_OP_VIEW || n->opid == MT_OP_RESHAPE || n->opid == MT_OP_GETITEM;
    if (!is_arith(n) && !is_passthrough(n) && !shape_ops && n->opid != MT_OP_TANH &&
        n->opid != MT_OP_MASKED_FILL && n->opid != MT_OP_WHERE && n->opid != MT_OP_CAT)
        return NULL;
    if (shape_ops) return input_of(n) ? scores_matmul(input_of(n), depth + 1, budget) : NULL;
    for (int i = 0; i < n->nargs; i++) {
        const mt_arg *a = &n->args[i];
        int c = a->kind == MT_ARG_LIST ? a->v.list.n : 1;
        for (int j = 0; j < c; j++) {
            const mt_arg *it = a->kind == MT_ARG_LIST ? &a->v.list.items[j] : a;
            if (it->kind != MT_ARG_TENSOR) continue;
            const mt_tensor *x = it->v.t;
            /* follow the scores, not broadcast masks or biases (a cat's pieces all count) */
            if (n->opid == MT_OP_CAT ? x->ndim != t->ndim : !same_shape(x, t)) continue;
            const mt_node *r = scores_matmul(x, depth + 1, budget);
            if (r) return r;
        }
    }
    return NULL;
}

static bool attention(pl_limits *L, const mt_node *at, const char *const what[2], int64_t heads, const mt_tensor *key,
                      int64_t hd, const mt_sym *batch) {
    if (heads <= 0) return true;
    mt_ctx *ctx = L->m->ctx;
    const char *mod = module_of(at);
    if (!add_lim(L, LK_HEADS, heads, 0, what[0], mod, "")) return false;
    if (!key || key->ndim < 3) return true;
    int64_t kv = walk_heads(ctx, key, key->ndim - 3, batch);
    if (kv <= 0) return true;
    /* for the KV-replication option: KV heads and the head dim (a k/v
     * projection has kv * head_dim out features); a single KV head (MQA) is
     * simply replicated */
    if (hd > 0 && kv > 1 && (!L->has_kv || (L->kv == L->kv_heads_q && kv != heads))) {
        L->has_kv = true;
        L->kv = kv;
        L->kv_heads_q = heads;
        L->head_dim = hd;
    }
    /* as many KV heads as query heads (MHA, MLA after decompression): the
     * heads limit says it all */
    if (kv == heads) return true;
    return add_lim(L, LK_KV, kv, heads, what[1], mod, "");
}

/* ---- MLP width ---------------------------------------------------------------- */

static const mt_node *act_before(const mt_tensor *t, int depth) {
    if (!t || !t->node || depth > PL_PARAMS.mlp_depth) return NULL;
    const mt_node *n = t->node;
    if (is_act(n)) return n;
    if (is_passthrough(n)) return act_before(input_of(n), depth + 1);
    if (n->opid == MT_OP_MUL)
        for (int i = 0; i < mt__op_info(n->opid)->operands; i++) {
            const mt_tensor *x = operand(n, i);
            const mt_node *r = x && same_shape(x, t) ? act_before(x, depth + 1) : NULL;
            if (r) return r;
        }
    return NULL;
}

static const mt_node *linear_before(const mt_tensor *t, int depth) {
    if (!t || !t->node || depth > PL_PARAMS.mlp_depth) return NULL;
    const mt_node *n = t->node;
    if (is_linear(n)) return n;
    if (is_passthrough(n)) return linear_before(input_of(n), depth + 1);
    if (n->opid == MT_OP_GETITEM) {
        const mt_tensor *a = input_of(n);
        if (a && a->node && a->node->is_tuple) return linear_before(input_of(a->node), depth + 1);
        return linear_before(a, depth + 1);
    }
    return NULL;
}

/* Linear -> act [x up] -> Linear: the width entering the activation. */
static bool mlp(pl_limits *L, const mt_node *down) {
    const mt_tensor *x = input_of(down);
    const mt_node *act = x ? act_before(x, 0) : NULL;
    const mt_tensor *ai = act ? input_of(act) : NULL;
    const mt_node *up = ai ? linear_before(ai, 0) : NULL;
    if (!up || ai->ndim < 1 || x->ndim < 1 || ai->shape[ai->ndim - 1] != x->shape[x->ndim - 1]) return true;
    int64_t w = cval(ai->shape[ai->ndim - 1]);
    return add_lim(L, LK_MLP, w, 0, "output of ", up->module->path, " into the activation");
}

/* ---- vocabulary --------------------------------------------------------------- */

static bool vocab_out(pl_limits *L, const mt_node *out) {
    const mt_arg *a = mt__node_arg(out, "result");
    if (a && a->kind == MT_ARG_LIST) a = a->v.list.n > 0 ? &a->v.list.items[0] : NULL;
    const mt_tensor *t = a && a->kind == MT_ARG_TENSOR ? a->v.t : NULL;
    for (int s = 0; t && t->node && s < PL_PARAMS.vocab_steps; s++) {
        const mt_node *n = t->node;
        if (is_linear(n)) {
            int64_t v = t->ndim > 0 ? cval(t->shape[t->ndim - 1]) : -1;
            return add_lim(L, LK_VOCAB, v, 0, "out features of ", n->module->path, "");
        }
        const mt_tensor *x = NULL;
        if (is_passthrough(n) || n->opid == MT_OP_TANH) x = input_of(n);
        else if (is_arith(n))
            for (int i = 0; i < mt__op_info(n->opid)->operands && !x; i++) {
                const mt_tensor *c = operand(n, i);
                if (c && same_shape(c, t)) x = c;
            }
        t = x;
    }
    return true;
}

/* ---- interface ------------------------------------------------------------------ */

static const char *const SDPA_WHAT[2] = {"query of scaled_dot_product_attention in ",
                                         "key of scaled_dot_product_attention in "};
static const char *const EAGER_WHAT[2] = {"query of the matmul before softmax in ",
                                          "key of the matmul before softmax in "};

pl_limits *pl_limits_new(mt_model *m, const mt_graph *g) {
    mt_ctx *ctx = m->ctx;
    pl_limits *L = mt_alloc(ctx, sizeof *L);
    if (!L) return NULL;
    memset(L, 0, sizeof *L);
    L->m = m;
    /* the batch dim: dim 0 of the first input */
    const mt_tensor *in = pl_first_input(g, 1);
    const mt_sym *batch = in ? in->shape[0] : NULL;
    bool ok = true;
    for (int i = 0; i < g->n && ok; i++) {
        const mt_node *n = g->nodes[i];
        if (n->opid == MT_OP_SDPA) {
            const mt_tensor *q = tensor_arg(n, "query"), *k = tensor_arg(n, "key");
            int64_t hd = k && k->ndim >= 1 ? cval(k->shape[k->ndim - 1]) : -1; /* head dim: the key's last */
            if (q && q->ndim >= 3) ok = attention(L, n, SDPA_WHAT, cval(q->shape[q->ndim - 3]), k, hd, batch);
        } else if (n->opid == MT_OP_SOFTMAX) {
            const mt_tensor *s = input_of(n);
            int budget = PL_PARAMS.score_visits;
            const mt_node *mm = s ? scores_matmul(s, 0, &budget) : NULL;
            if (!mm) continue;
            /* heads: dim -3 of the scores, or of the softmax input when the
             * matmul folds heads into the batch ([b*H, s, s]), else the
             * query walked back to its head split */
            const mt_tensor *sc = &mm->outs[0], *q = tensor_arg(mm, "input");
            int64_t h = sc->ndim >= 4 ? cval(sc->shape[sc->ndim - 3])
                        : s->ndim >= 4 ? cval(s->shape[s->ndim - 3])
                        : q && q->ndim == 3 ? walk_heads(ctx, q, 0, batch)
                        : -1;
            /* head dim: the contracted one, the query's last (the key is transposed) */
            int64_t hd = q && q->ndim >= 1 ? cval(q->shape[q->ndim - 1]) : -1;
            ok = attention(L, mm, EAGER_WHAT, h, tensor_arg(mm, "other"), hd, batch);
        } else if (is_linear(n)) {
            ok = mlp(L, n);
        } else if (is_leaf(n, MT_LEAF_EMBEDDING)) {
            const mt_tensor *ix = input_of(n);
            mt_param *w = mt_module_param(n->module, "weight");
            if (ix && ix->node && ix->node->op == MT_NODE_PLACEHOLDER && w && w->t->ndim == 2)
                ok = add_lim(L, LK_VOCAB, cval(w->t->shape[0]), 0, "rows of ", n->module->path, "");
        } else if (n->op == MT_NODE_OUTPUT) {
            ok = vocab_out(L, n);
        }
    }
    return ok ? L : NULL;
}

bool pl_limits_kv(const pl_limits *L, int64_t *kv_heads, int64_t *head_dim) {
    if (!L->has_kv) return false;
    *kv_heads = L->kv;
    *head_dim = L->head_dim;
    return true;
}

static void append(mt_ctx *ctx, const char **dst, const char *msg) {
    *dst = *dst ? mt_sprintf(ctx, "%s; %s", *dst, msg) : msg;
}

int pl_limits_check(const pl_limits *L, int tp, const char **reason, const char **note) {
    mt_ctx *ctx = L->m->ctx;
    *reason = *note = NULL;
    int kvrep = 1;
    for (int kind = 0; kind < LK_COUNT; kind++)
        for (int i = 0; i < L->n; i++) {
            const lim *l = &L->v[i];
            if (l->kind != kind || l->v % tp == 0) continue;
            if (kind == LK_HEADS || kind == LK_MLP) {
                append(ctx, reason, mt_sprintf(ctx, "%s not divisible by %d", l->label, tp));
            } else if (kind == LK_VOCAB) {
                append(ctx, note, mt_sprintf(ctx, "%s not divisible by %d: embedding and lm_head stay "
                                                  "replicated (pad the vocabulary to shard them)",
                                             l->label, tp));
            } else {
                bool dup = false;
                for (int j = 0; j < i; j++) dup |= L->v[j].kind == LK_KV && L->v[j].v == l->v;
                if (dup) continue;
                if (tp % l->v != 0) {
                    append(ctx, reason, mt_sprintf(ctx, "%s not divisible by %d, and %d is not a multiple of it "
                                                        "(no KV replication possible)",
                                                   l->label, tp, tp));
                } else if (l->heads % tp == 0) { /* else the heads say why */
                    int r = (int)(tp / l->v);
                    if (r > kvrep) kvrep = r;
                    append(ctx, note,
                           l->v == 1
                               ? mt_sprintf(ctx, "%s not divisible by %d; multi-query: each rank holds the single "
                                                 "KV head (KV replication x%d)",
                                            l->label, tp, r)
                               : mt_sprintf(ctx, "%s not divisible by %d; would need KV replication x%d (each KV "
                                                 "head on %d ranks)",
                                            l->label, tp, r, r));
                }
            }
        }
    return kvrep;
}
