/* Rotary position embeddings, one helper for every family (blocks.h,
 * "Rotary"): the module with its non-persistent inv_freq buffer, cos/sin from
 * position_ids in each of transformers' layouts, and the rotation of q or k in
 * each of its styles, full or on the first rotary_dim channels.
 *
 * What differs between families is data here, not code in the family:
 * - how cos/sin are laid out from freqs = (inv_freq @ position_ids)^T:
 *   cat(freqs, freqs) (Llama's rotate_half layout), repeat_interleave(freqs, 2)
 *   (Cohere), or freqs alone (gpt-oss's half-width tables);
 * - whether cos/sin are multiplied by the rope type's attention_scaling (the
 *   LlamaRotaryEmbedding generation always multiplies, 1.0 included; the
 *   GPT-NeoX generation has no such factor);
 * - how x is rotated: rotate_half, Cohere's interleaved rotate_half
 *   (stack/flatten), GPT-J's rotate_every_two, or gpt-oss's chunked form.
 * Each style records its nodes in the order the family's goldens have. */
#include "blocks.h"

static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

mt_module *mt_rope_module(mt_model *m, mt_module *parent, const char *name, const char *cls, int64_t rotary_dim) {
    mt_module *r = mt_module_new(m->ctx, parent, name, cls);
    if (!r) return NULL;
    int64_t half = rotary_dim / 2;
    /* inv_freq: non-persistent, computed from the rope base at materialization */
    mt_param *inv = mt_buffer_new(m->ctx, r, "inv_freq", MT_FLOAT32, MT_DEVICE_CPU, 1, &half, false, true);
    mt_rope_h *h = inv ? MT_BIND(m->ctx, r, mt_rope_h) : NULL;
    if (!h) return NULL;
    h->inv_freq = inv;
    return r;
}

static void cos_sin(mt_tracer *tr, mt_module *rot, mt_param *inv_freq, mt_tensor *x, mt_tensor *pos,
                    mt_rope_layout layout, double scaling, const int64_t *mrope, mt_tensor **cos, mt_tensor **sin);

/* cos/sin from the inv_freq bound to rot by mt_rope_module (mrope: M-RoPE's interleaved sections, or NULL). */
static void bound_cos_sin(mt_tracer *tr, mt_module *rot, mt_tensor *x, mt_tensor *pos, mt_rope_layout layout,
                          double scaling, const int64_t *mrope, mt_tensor **cos, mt_tensor **sin) {
    *cos = *sin = NULL;
    const mt_rope_h *h = rot ? MT_BOUND(tr, rot, mt_rope_h) : NULL;
    if (rot && !h) return;
    cos_sin(tr, rot, h ? h->inv_freq : NULL, x, pos, layout, scaling, mrope, cos, sin);
}

void mt_rope_cos_sin(mt_tracer *tr, mt_module *rot, mt_tensor *x, mt_tensor *pos, mt_rope_layout layout,
                     double scaling, mt_tensor **cos, mt_tensor **sin) {
    bound_cos_sin(tr, rot, x, pos, layout, scaling, NULL, cos, sin);
}

/* apply_interleaved_mrope(freqs, mrope_section) on freqs [3, batch, seq, D/2]: freqs_t = freqs[0];
 * for dim, offset in ((1, 1), (2, 2)): freqs_t[..., offset:3 * section[dim]:3] = freqs[dim, ..., same].
 * The slice assignment is recorded as its index_put form, freqs_t.scatter_(-1, index, src) with
 * index = arange(offset, 3 * section[dim], 3) expanded to src's shape: the same channels written
 * with the same values, in place as transformers writes them. */
static mt_tensor *interleave_mrope(mt_tracer *tr, mt_tensor *freqs, const int64_t *sec) {
    if (!freqs) return NULL;
    mt_tensor *ft = mt_tr_op1(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(freqs), mt_a_int(0)}, 2, NULL, 0);
    for (int dim = 1; dim <= 2 && ft; dim++) {
        int64_t len = sec[dim] * 3;
        mt_arg ix[3] = {mt_a_int(dim), mt_a_ellipsis(), mt_a_slice(C(tr, dim), C(tr, len), C(tr, 3))};
        mt_tensor *src = mt_index(tr, freqs, ix, 3);
        mt_tensor *idx = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_int(dim), mt_a_int(len), mt_a_int(3)}, 3, NULL, 0);
        if (!src || !idx) return NULL;
        idx = mt_expand(tr, idx, src->ndim, src->shape);
        ft = idx ? mt_tr_op1(tr, MT_OP_SCATTER,
                             (mt_arg[]){mt_a_tensor(ft), mt_a_int(-1), mt_a_tensor(idx), mt_a_tensor(src)}, 4, NULL, 0)
                 : NULL;
    }
    return ft;
}

void mt_rope_cos_sin_mrope(mt_tracer *tr, mt_module *rot, mt_tensor *x, mt_tensor *pos, const int64_t *mrope_section,
                           double scaling, mt_tensor **cos, mt_tensor **sin) {
    bound_cos_sin(tr, rot, x, pos, MT_ROPE_CAT, scaling, mrope_section, cos, sin);
}

const mt_handle_kind mt_rope_kinds_h_kind = {"mt_rope_kinds_h"};

void mt_rope_cos_sin_kind(mt_tracer *tr, mt_module *rot, bool sliding, mt_tensor *x, mt_tensor *pos,
                          mt_rope_layout layout, double scaling, mt_tensor **cos, mt_tensor **sin) {
    *cos = *sin = NULL;
    const mt_rope_kinds_h *h = rot ? MT_BOUND(tr, rot, mt_rope_kinds_h) : NULL;
    if (rot && !h) return;
    mt_param *inv = h ? h->inv_freq[sliding ? 0 : 1] : NULL;
    if (h && !inv) { /* the build bound no buffer for this kind: it is not in layer_types */
        mt_fail(tr->ctx, MT_ERR_INTERNAL, "rotary: module '%s' has no %s inv_freq", rot->path,
                sliding ? "sliding_attention" : "full_attention");
        return;
    }
    cos_sin(tr, rot, inv, x, pos, layout, scaling, NULL, cos, sin);
}

static void cos_sin(mt_tracer *tr, mt_module *rot, mt_param *inv_freq, mt_tensor *x, mt_tensor *pos,
                    mt_rope_layout layout, double scaling, const int64_t *mrope, mt_tensor **cos, mt_tensor **sin) {
    *cos = *sin = NULL;
    if (!rot) { /* never a NoPE layer by accident: a missing module is an error */
        mt_fail(tr->ctx, MT_ERR_INTERNAL, "rotary: the model has no rotary module");
        return;
    }
    if (!pos) return;
    mt_tr_enter(tr, rot);
    mt_tensor *inv = mt_tr_get_attr(tr, inv_freq);
    /* position_ids [batch, seq], or M-RoPE's [3, batch, seq] (Qwen2_5_VLRotaryEmbedding): over its
     * lead dims L (1 or 2), inv_freq[None x L, :, None].float().expand(*pos.shape[:L], -1, 1),
     * position_ids[:, x L, None, :].float(), (inv @ pos).transpose(L, L + 1); the second .float()
     * of the M-RoPE form (already float32) is not recorded */
    int lead = pos->ndim - 1;
    if (lead < 1 || lead > 2) {
        mt_fail(tr->ctx, MT_ERR_INTERNAL, "rotary position_ids of %d dims (expected 2 or 3)", pos->ndim);
        mt_tr_leave(tr);
        return;
    }
    mt_arg i1[4], i2[4];
    const mt_sym *ex[4];
    for (int d = 0; d < lead; d++) {
        i1[d] = mt_a_none();
        i2[d] = mt_a_slice(NULL, NULL, NULL);
        ex[d] = pos->shape[d];
    }
    i1[lead] = mt_a_slice(NULL, NULL, NULL);
    i1[lead + 1] = mt_a_none();
    i2[lead] = mt_a_none();
    i2[lead + 1] = mt_a_slice(NULL, NULL, NULL);
    ex[lead] = NULL;
    ex[lead + 1] = C(tr, 1);
    mt_tensor *invx = mt_to(tr, mt_index(tr, inv, i1, lead + 2), MT_FLOAT32);
    invx = mt_expand(tr, invx, lead + 2, ex);
    mt_tensor *posx = mt_to(tr, mt_index(tr, pos, i2, lead + 2), MT_FLOAT32);
    mt_tensor *freqs = mt_transpose(tr, mt_matmul(tr, invx, posx), lead, lead + 1);
    if (mrope && lead == 2) freqs = interleave_mrope(tr, freqs, mrope);
    mt_tensor *emb = NULL;
    switch (layout) {
    case MT_ROPE_CAT: {
        mt_tensor *two[2] = {freqs, freqs};
        emb = freqs ? mt_cat(tr, two, 2, -1) : NULL;
        break;
    }
    case MT_ROPE_REPEAT: /* torch.repeat_interleave(freqs, 2, dim=-1) */
        emb = freqs ? mt_tr_op1(tr, MT_OP_REPEAT_INTERLEAVE, (mt_arg[]){mt_a_tensor(freqs), mt_a_int(2)}, 2,
                                (mt_kwarg[]){{"dim", mt_a_int(-1)}}, 1)
                    : NULL;
        break;
    case MT_ROPE_FREQS: emb = freqs; break;
    }
    /* emb.cos() * attention_scaling, then emb.sin() * attention_scaling (or neither product) */
    mt_tensor *c = mt_unary(tr, MT_OP_COS, emb);
    if (scaling != MT_ROPE_NO_SCALING) c = mt_mul_s(tr, c, scaling);
    mt_tensor *sn = mt_unary(tr, MT_OP_SIN, emb);
    if (scaling != MT_ROPE_NO_SCALING) sn = mt_mul_s(tr, sn, scaling);
    *cos = mt_to(tr, c, x ? x->dtype : MT_FLOAT32);
    *sin = mt_to(tr, sn, x ? x->dtype : MT_FLOAT32);
    mt_tr_leave(tr);
}

/* rotate_half: cat(-x[..., d/2:], x[..., :d/2]) */
static mt_tensor *rotate_half(mt_tracer *tr, mt_tensor *x) {
    if (!x) return NULL;
    const mt_sym *d = x->shape[x->ndim - 1];
    const mt_sym *h = mt_sym_floordiv(tr->ctx, d, 2);
    mt_tensor *x1 = mt_slice_last(tr, x, NULL, h);
    mt_tensor *x2 = mt_slice_last(tr, x, h, NULL);
    mt_tensor *parts[2] = {mt_unary(tr, MT_OP_NEG, x2), x1};
    return mt_cat(tr, parts, 2, -1);
}

/* Cohere's rotate_half: stack([-x[..., 1::2], x[..., ::2]], dim=-1).flatten(-2). */
static mt_tensor *rotate_half_interleaved(mt_tracer *tr, mt_tensor *x) {
    if (!x) return NULL;
    mt_arg even[2] = {mt_a_ellipsis(), mt_a_slice(NULL, NULL, C(tr, 2))};
    mt_arg odd[2] = {mt_a_ellipsis(), mt_a_slice(C(tr, 1), NULL, C(tr, 2))};
    mt_tensor *x1 = mt_index(tr, x, even, 2), *x2 = mt_index(tr, x, odd, 2);
    mt_tensor *n2 = mt_unary(tr, MT_OP_NEG, x2);
    if (!n2 || !x1) return NULL;
    mt_arg items[2] = {mt_a_tensor(n2), mt_a_tensor(x1)};
    mt_arg sa[1] = {mt_a_list(tr->ctx, items, 2)};
    mt_tensor *st = mt_tr_op1(tr, MT_OP_STACK, sa, 1, (mt_kwarg[]){{"dim", mt_a_int(-1)}}, 1);
    return st ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(st), mt_a_int(-2)}, 2, NULL, 0) : NULL;
}

/* GPT-J's rotate_every_two: stack((-x[..., 1::2], x[..., ::2]), -1).flatten(-2);
 * traced as unsqueeze(-1) + cat(-1) + reshape (same shapes as stack/flatten). */
static mt_tensor *rotate_every_two(mt_tracer *tr, mt_tensor *x) {
    if (!x) return NULL;
    const mt_sym *two = C(tr, 2), *one = C(tr, 1);
    mt_arg ie[2] = {mt_a_ellipsis(), mt_a_slice(NULL, NULL, two)};
    mt_arg io[2] = {mt_a_ellipsis(), mt_a_slice(one, NULL, two)};
    mt_tensor *x1 = mt_index(tr, x, ie, 2), *x2 = mt_index(tr, x, io, 2);
    mt_tensor *p[2];
    p[0] = mt_unsqueeze(tr, mt_unary(tr, MT_OP_NEG, x2), -1);
    p[1] = mt_unsqueeze(tr, x1, -1);
    if (!p[0] || !p[1]) return NULL;
    mt_tensor *st = mt_cat(tr, p, 2, -1);
    if (!st) return NULL;
    const mt_sym *s[4] = {st->shape[0], st->shape[1], st->shape[2], NULL};
    return mt_reshape(tr, st, 4, s);
}

/* The rotation of all of x. */
static mt_tensor *rotate(mt_tracer *tr, mt_tensor *x, mt_tensor *cos, mt_tensor *sin, mt_rope_style style) {
    switch (style) {
    case MT_ROPE_HALF: {
        /* (x * cos) + (rotate_half(x) * sin), the rotate_half product recorded first as the
         * goldens have it (Python records x * cos first) */
        mt_tensor *xs = mt_mul(tr, rotate_half(tr, x), sin);
        mt_tensor *xc = mt_mul(tr, x, cos);
        return mt_add(tr, xc, xs);
    }
    case MT_ROPE_HALF_INTERLEAVED: {
        /* (x * cos) + (rotate_half(x) * sin), in Python's evaluation order */
        mt_tensor *xc = mt_mul(tr, x, cos);
        mt_tensor *xs = mt_mul(tr, rotate_half_interleaved(tr, x), sin);
        return mt_add(tr, xc, xs);
    }
    case MT_ROPE_EVERY_TWO: {
        /* (x * cos) + (rotate_every_two(x) * sin), the rotated product recorded first as the
         * goldens have it */
        mt_tensor *xs = mt_mul(tr, rotate_every_two(tr, x), sin);
        mt_tensor *xc = mt_mul(tr, x, cos);
        return mt_add(tr, xc, xs);
    }
    case MT_ROPE_CHUNK: {
        /* gpt-oss _apply_rotary_emb: a, b = chunk(x, 2, -1); cat(a*cos - b*sin, b*cos + a*sin);
         * within each sum the second product is recorded first, as the goldens have it */
        mt_node *ch = mt_chunk(tr, x, 2, -1);
        mt_tensor *a = mt_tr_item(tr, ch, 0), *b = mt_tr_item(tr, ch, 1);
        mt_tensor *bs = mt_mul(tr, b, sin), *ac = mt_mul(tr, a, cos);
        mt_tensor *first = mt_sub(tr, ac, bs);
        mt_tensor *as = mt_mul(tr, a, sin), *bc = mt_mul(tr, b, cos);
        mt_tensor *second = mt_add(tr, bc, as);
        mt_tensor *parts[2] = {first, second};
        return mt_cat(tr, parts, 2, -1);
    }
    }
    return NULL;
}

mt_tensor *mt_rope_apply(mt_tracer *tr, mt_tensor *x, mt_tensor *cos, mt_tensor *sin, mt_rope_style style,
                         int64_t rotary_dim) {
    if (!x || !cos || !sin) return NULL;
    if (rotary_dim <= 0 || (mt_sym_is_const(x->shape[x->ndim - 1]) &&
                            rotary_dim >= mt_sym_const_value(x->shape[x->ndim - 1])))
        return rotate(tr, x, cos, sin, style);
    /* partial rotary: the first rotary_dim channels rotated, the rest passed through */
    const mt_sym *rd = C(tr, rotary_dim);
    mt_tensor *rot = mt_slice_last(tr, x, NULL, rd), *pass = mt_slice_last(tr, x, rd, NULL);
    mt_tensor *y = rotate(tr, rot, cos, sin, style);
    mt_tensor *parts[2] = {y, pass};
    return y ? mt_cat(tr, parts, 2, -1) : NULL;
}
