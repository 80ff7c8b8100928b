/* The "sizing" member of the graph JSON (docs/graph-format.md): bytes as
 * integers, FLOPs as integers (and the symbolic forward count as a string),
 * null for a figure that does not apply. */
#include <math.h>
#include <stdio.h>

#include "json_internal.h"

static json_t *jint_or_null(int64_t v, bool applies) { return applies ? json_integer(v) : json_null(); }

static json_t *jnstr(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *kv_layers(const mt_sizing *s) {
    json_t *arr = json_array();
    for (int i = 0; i < s->nattn; i++) {
        const mt_sizing_attn *a = &s->attn[i];
        json_t *o = json_object();
        json_object_set_new(o, "module", json_string(a->module));
        json_object_set_new(o, "kind", json_string(mt_attn_kind_name(a->kind)));
        json_object_set_new(o, "implementation", json_string(a->eager ? "eager" : "sdpa"));
        json_object_set_new(o, "window", jint_or_null(a->window, a->window > 0));
        json_object_set_new(o, "heads", jint_or_null(a->heads, a->heads > 0));
        json_object_set_new(o, "kv_heads", jint_or_null(a->kv_heads, a->kv_heads > 0));
        json_object_set_new(o, "head_dim_k", json_integer(a->head_dim_k));
        json_object_set_new(o, "head_dim_v", json_integer(a->head_dim_v));
        json_object_set_new(o, "mla_latent", jint_or_null(a->mla_latent, a->mla));
        json_object_set_new(o, "bytes_per_token", jint_or_null(a->cache_bytes_per_token, a->kind != MT_ATTN_BIDIRECTIONAL));
        json_array_append_new(arr, o);
    }
    return arr;
}

json_t *mtx_sizing_json(const mt_sizing *s) {
    json_t *root = json_object();
    json_object_set_new(root, "batch", json_integer(s->batch));
    json_object_set_new(root, "seq", json_integer(s->seq));
    json_object_set_new(root, "context", json_integer(s->context));
    json_object_set_new(root, "context_source", jnstr(s->context_note));

    json_t *w = json_object();
    json_object_set_new(w, "bytes", json_integer(s->weight_bytes));
    json_t *byd = json_object();
    for (int d = 0; d < MT_DTYPE_COUNT; d++)
        if (s->weights.bytes_by_dtype[d]) json_object_set_new(byd, mt_dtype_name((mt_dtype)d), json_integer(s->weights.bytes_by_dtype[d]));
    json_object_set_new(w, "bytes_by_dtype", byd);
    json_object_set_new(w, "tensors", json_integer(s->weights.n));
    if (s->weights.method) {
        json_t *q = json_object();
        json_object_set_new(q, "method", json_string(s->weights.method));
        json_object_set_new(q, "description", jnstr(s->weights.description));
        json_object_set_new(q, "quantized_parameters", json_integer(s->weights.quantized_params));
        json_object_set_new(q, "unquantized_bytes", json_integer(s->weights.unquantized_bytes));
        json_object_set_new(w, "quantization", q);
    } else {
        json_object_set_new(w, "quantization", json_null());
    }
    json_object_set_new(root, "weights", w);

    json_t *kv = json_object();
    bool cross = s->kv_cross_bytes > 0;
    json_object_set_new(kv, "dtype", s->kv_dtype == MT_DTYPE_NONE ? json_null() : json_string(mt_dtype_name(s->kv_dtype)));
    json_object_set_new(kv, "bytes_per_token", jint_or_null(s->kv_bytes_per_token, s->has_kv));
    json_object_set_new(kv, "bytes_at_context", jint_or_null(s->kv_bytes_at_context, s->has_kv));
    json_object_set_new(kv, "cross_attention_bytes", jint_or_null(s->kv_cross_bytes, cross));
    json_object_set_new(kv, "capacity_tokens", jint_or_null(s->kv_capacity_tokens, s->kv_capacity_tokens >= 0));
    json_object_set_new(kv, "layers", kv_layers(s));
    json_object_set_new(root, "kv_cache", kv);
    if (s->state_layers > 0) { /* only models with recurrent layers carry the member */
        json_t *st = json_object();
        json_object_set_new(st, "layers", json_integer(s->state_layers));
        json_object_set_new(st, "dtype", json_string(mt_dtype_name(s->state_dtype)));
        json_object_set_new(st, "conv_bytes_per_sequence", json_integer(s->conv_state_bytes));
        json_object_set_new(st, "ssm_bytes_per_sequence", json_integer(s->ssm_state_bytes));
        json_object_set_new(st, "bytes_per_sequence", json_integer(s->state_bytes_per_seq));
        json_object_set_new(st, "bytes_at_batch", json_integer(s->state_bytes_at_batch));
        json_object_set_new(root, "recurrent_state", st);
    }

    json_t *f = json_object();
    json_object_set_new(f, "forward", s->flops_forward ? json_string(mt_sym_str(s->flops_forward)) : json_null());
    json_object_set_new(f, "prefill", json_integer(s->flops_prefill));
    json_object_set_new(f, "prefill_per_token", json_integer((json_int_t)llround(s->flops_prefill_per_token)));
    json_object_set_new(f, "decode_per_token", jint_or_null(s->flops_decode_per_token, s->flops_decode_per_token >= 0));
    if (s->flops_decode_per_cached >= 0) {
        char buf[64];
        snprintf(buf, sizeof buf, "%lld*cache + %lld", (long long)s->flops_decode_per_cached,
                 (long long)s->flops_decode_fixed);
        json_object_set_new(f, "decode", json_string(buf));
    } else {
        json_object_set_new(f, "decode", json_null());
    }
    json_object_set_new(f, "training_per_token", json_integer((json_int_t)llround(3 * s->flops_prefill_per_token)));
    json_object_set_new(root, "flops", f);

    json_t *act = json_object();
    json_object_set_new(act, "peak_bytes", json_integer(s->activation_peak));
    json_object_set_new(act, "peak_node", jnstr(s->peak_node));
    json_object_set_new(root, "activations", act);

    json_t *tr = json_object();
    json_object_set_new(tr, "optimizer", json_string(s->optimizer == MT_OPT_SGD ? "sgd" : "adam"));
    json_object_set_new(tr, "mixed_precision", json_boolean(s->mixed_precision));
    json_object_set_new(tr, "dp", json_integer(s->dp));
    json_t *zs = json_array();
    for (int z = 0; z < 4; z++) {
        const mt_train_mem *t = &s->train[z];
        json_t *o = json_object();
        json_object_set_new(o, "stage", json_integer(z));
        json_object_set_new(o, "weights", json_integer(t->weights));
        json_object_set_new(o, "gradients", json_integer(t->grads));
        json_object_set_new(o, "optimizer", json_integer(t->optimizer));
        json_object_set_new(o, "activations", json_integer(t->activations));
        json_object_set_new(o, "activations_checkpointed", json_integer(t->activations_ckpt));
        json_object_set_new(o, "total", json_integer(t->total));
        json_object_set_new(o, "total_checkpointed", json_integer(t->total_ckpt));
        json_array_append_new(zs, o);
    }
    json_object_set_new(tr, "zero", zs);
    json_object_set_new(root, "training", tr);

    json_t *ll = json_object();
    json_object_set_new(ll, "module", jnstr(s->largest_layer));
    json_object_set_new(ll, "bytes", jint_or_null(s->largest_layer_bytes, s->largest_layer != NULL));
    json_object_set_new(root, "largest_layer", ll);
    return root;
}
