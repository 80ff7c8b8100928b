/* The "sizing" member of the graph JSON (docs/graph-format.md): bytes as
 * integers, FLOPs as integers (and the symbolic forward count as a string),
 * null for a figure that does not apply. Written directly (jsonw.h) in the
 * bytes jansson printed when it built this member: a string member whose text
 * jansson's json_string refused (NULL, not UTF-8) was left out, and still is. */
#include <math.h>
#include <stdio.h>

#include "json_internal.h"
#include "jsonw.h"

#define KEY(w, k) MTX_W_KEY(w, k)

static void int_or_null(mtx_jw *w, int64_t v, bool applies)
{
    if (applies)
        mtx_w_int(w, (long long)v);
    else
        mtx_w_null(w);
}

/* `"key": "str"` as json_object_set_new(o, key, json_string(str)) stored it:
 * nothing when json_string refused the text. */
#define STR_MEMBER(w, k, str)                                                                                         \
    do {                                                                                                              \
        const char *str_ = (str);                                                                                     \
        if (mtx_json_string_ok(str_)) {                                                                               \
            KEY(w, k);                                                                                                \
            mtx_w_str(w, str_);                                                                                       \
        }                                                                                                             \
    } while (0)

/* The same with NULL written as null (jnstr). */
#define NSTR_MEMBER(w, k, str)                                                                                        \
    do {                                                                                                              \
        const char *nstr_ = (str);                                                                                    \
        if (!nstr_) {                                                                                                 \
            KEY(w, k);                                                                                                \
            mtx_w_null(w);                                                                                            \
        } else {                                                                                                      \
            STR_MEMBER(w, k, nstr_);                                                                                  \
        }                                                                                                             \
    } while (0)

static void kv_layers(mtx_jw *w, const mt_sizing *s)
{
    mtx_w_open(w, '[');
    for (int i = 0; i < s->nattn; i++) {
        const mt_sizing_attn *a = &s->attn[i];
        mtx_w_elem(w);
        mtx_w_open(w, '{');
        STR_MEMBER(w, "module", a->module);
        STR_MEMBER(w, "kind", mt_attn_kind_name(a->kind));
        KEY(w, "implementation");
        if (a->eager)
            MTX_W_LIT(w, "\"eager\"");
        else
            MTX_W_LIT(w, "\"sdpa\"");
        KEY(w, "window");
        int_or_null(w, a->window, a->window > 0);
        KEY(w, "heads");
        int_or_null(w, a->heads, a->heads > 0);
        KEY(w, "kv_heads");
        int_or_null(w, a->kv_heads, a->kv_heads > 0);
        KEY(w, "head_dim_k");
        mtx_w_int(w, (long long)a->head_dim_k);
        KEY(w, "head_dim_v");
        mtx_w_int(w, (long long)a->head_dim_v);
        KEY(w, "mla_latent");
        int_or_null(w, a->mla_latent, a->mla);
        KEY(w, "bytes_per_token");
        int_or_null(w, a->cache_bytes_per_token, a->kind != MT_ATTN_BIDIRECTIONAL);
        mtx_w_close(w, '}');
    }
    mtx_w_close(w, ']');
}

void mtx_sizing_write(mtx_jw *w, const mt_sizing *s)
{
    mtx_w_open(w, '{');
    KEY(w, "batch");
    mtx_w_int(w, (long long)s->batch);
    KEY(w, "seq");
    mtx_w_int(w, (long long)s->seq);
    KEY(w, "context");
    mtx_w_int(w, (long long)s->context);
    NSTR_MEMBER(w, "context_source", s->context_note);

    KEY(w, "weights");
    mtx_w_open(w, '{');
    KEY(w, "bytes");
    mtx_w_int(w, (long long)s->weight_bytes);
    KEY(w, "bytes_by_dtype");
    mtx_w_open(w, '{');
    for (int d = 0; d < MT_DTYPE_COUNT; d++)
        if (s->weights.bytes_by_dtype[d]) {
            mtx_w_key(w, mt_dtype_name((mt_dtype)d));
            mtx_w_int(w, (long long)s->weights.bytes_by_dtype[d]);
        }
    mtx_w_close(w, '}');
    KEY(w, "tensors");
    mtx_w_int(w, (long long)s->weights.n);
    KEY(w, "quantization");
    if (s->weights.method) {
        mtx_w_open(w, '{');
        STR_MEMBER(w, "method", s->weights.method);
        NSTR_MEMBER(w, "description", s->weights.description);
        KEY(w, "quantized_parameters");
        mtx_w_int(w, (long long)s->weights.quantized_params);
        KEY(w, "unquantized_bytes");
        mtx_w_int(w, (long long)s->weights.unquantized_bytes);
        mtx_w_close(w, '}');
    } else {
        mtx_w_null(w);
    }
    mtx_w_close(w, '}');

    KEY(w, "kv_cache");
    mtx_w_open(w, '{');
    bool cross = s->kv_cross_bytes > 0;
    if (s->kv_dtype == MT_DTYPE_NONE) {
        KEY(w, "dtype");
        mtx_w_null(w);
    } else {
        STR_MEMBER(w, "dtype", mt_dtype_name(s->kv_dtype));
    }
    KEY(w, "bytes_per_token");
    int_or_null(w, s->kv_bytes_per_token, s->has_kv);
    KEY(w, "bytes_at_context");
    int_or_null(w, s->kv_bytes_at_context, s->has_kv);
    KEY(w, "cross_attention_bytes");
    int_or_null(w, s->kv_cross_bytes, cross);
    KEY(w, "capacity_tokens");
    int_or_null(w, s->kv_capacity_tokens, s->kv_capacity_tokens >= 0);
    KEY(w, "layers");
    kv_layers(w, s);
    mtx_w_close(w, '}');
    if (s->state_layers > 0) { /* only models with recurrent layers carry the member */
        KEY(w, "recurrent_state");
        mtx_w_open(w, '{');
        KEY(w, "layers");
        mtx_w_int(w, (long long)s->state_layers);
        STR_MEMBER(w, "dtype", mt_dtype_name(s->state_dtype));
        STR_MEMBER(w, "ssm_dtype", mt_dtype_name(s->state_ssm_dtype));
        KEY(w, "conv_bytes_per_sequence");
        mtx_w_int(w, (long long)s->conv_state_bytes);
        KEY(w, "ssm_bytes_per_sequence");
        mtx_w_int(w, (long long)s->ssm_state_bytes);
        KEY(w, "bytes_per_sequence");
        mtx_w_int(w, (long long)s->state_bytes_per_seq);
        KEY(w, "bytes_at_batch");
        mtx_w_int(w, (long long)s->state_bytes_at_batch);
        mtx_w_close(w, '}');
    }

    KEY(w, "flops");
    mtx_w_open(w, '{');
    if (s->flops_forward) {
        STR_MEMBER(w, "forward", mt_sym_str(s->flops_forward));
    } else {
        KEY(w, "forward");
        mtx_w_null(w);
    }
    KEY(w, "prefill");
    mtx_w_int(w, (long long)s->flops_prefill);
    KEY(w, "prefill_per_token");
    mtx_w_int(w, (long long)llround(s->flops_prefill_per_token));
    KEY(w, "decode_per_token");
    int_or_null(w, s->flops_decode_per_token, s->flops_decode_per_token >= 0);
    KEY(w, "decode");
    if (s->flops_decode_per_cached >= 0) {
        char buf[64];
        snprintf(buf, sizeof buf, "%lld*cache + %lld", (long long)s->flops_decode_per_cached,
                 (long long)s->flops_decode_fixed);
        mtx_w_str(w, buf);
    } else {
        mtx_w_null(w);
    }
    KEY(w, "training_per_token");
    mtx_w_int(w, (long long)llround(3 * s->flops_prefill_per_token));
    mtx_w_close(w, '}');

    KEY(w, "activations");
    mtx_w_open(w, '{');
    KEY(w, "peak_bytes");
    mtx_w_int(w, (long long)s->activation_peak);
    NSTR_MEMBER(w, "peak_node", s->peak_node);
    mtx_w_close(w, '}');

    KEY(w, "training");
    mtx_w_open(w, '{');
    KEY(w, "optimizer");
    if (s->optimizer == MT_OPT_SGD)
        MTX_W_LIT(w, "\"sgd\"");
    else
        MTX_W_LIT(w, "\"adam\"");
    KEY(w, "mixed_precision");
    mtx_w_bool(w, s->mixed_precision);
    KEY(w, "dp");
    mtx_w_int(w, (long long)s->dp);
    KEY(w, "zero");
    mtx_w_open(w, '[');
    for (int z = 0; z < 4; z++) {
        const mt_train_mem *t = &s->train[z];
        mtx_w_elem(w);
        mtx_w_open(w, '{');
        KEY(w, "stage");
        mtx_w_int(w, z);
        KEY(w, "weights");
        mtx_w_int(w, (long long)t->weights);
        KEY(w, "gradients");
        mtx_w_int(w, (long long)t->grads);
        KEY(w, "optimizer");
        mtx_w_int(w, (long long)t->optimizer);
        KEY(w, "activations");
        mtx_w_int(w, (long long)t->activations);
        KEY(w, "activations_checkpointed");
        mtx_w_int(w, (long long)t->activations_ckpt);
        KEY(w, "total");
        mtx_w_int(w, (long long)t->total);
        KEY(w, "total_checkpointed");
        mtx_w_int(w, (long long)t->total_ckpt);
        mtx_w_close(w, '}');
    }
    mtx_w_close(w, ']');
    mtx_w_close(w, '}');

    KEY(w, "largest_layer");
    mtx_w_open(w, '{');
    NSTR_MEMBER(w, "module", s->largest_layer);
    KEY(w, "bytes");
    int_or_null(w, s->largest_layer_bytes, s->largest_layer != NULL);
    mtx_w_close(w, '}');
    mtx_w_close(w, '}');
}
