/* Shared building blocks for the classic LayerNorm-based families (GPT-2,
 * GPT-J, GPT-NeoX, OPT, BLOOM, Falcon, Phi) and the encoders (BERT, T5,
 * BART): parameter construction in the model's dtype, masks, head
 * split/merge, rotary (full/partial, half or interleaved), ALiBi, SDPA and
 * eager attention, and causal-LM heads. A family file states what is
 * particular to it and composes these. */
#ifndef METATRACE_CLASSIC_H
#define METATRACE_CLASSIC_H

#include "blocks.h"

/* ---- construction (device CPU requested; the meta scope makes it META) ---- */
mt_module *cl_linear(mt_model *m, mt_module *parent, const char *name, int64_t in, int64_t out, bool bias);
mt_module *cl_conv1d(mt_model *m, mt_module *parent, const char *name, int64_t in, int64_t out);
mt_module *cl_embedding(mt_model *m, mt_module *parent, const char *name, int64_t num, int64_t dim);
mt_module *cl_layernorm(mt_model *m, mt_module *parent, const char *name, int64_t dim, double eps, bool bias);
mt_module *cl_dropout(mt_model *m, mt_module *parent, const char *name, double p);
mt_module *cl_list(mt_model *m, mt_module *parent, const char *name);
mt_module *cl_layer(mt_model *m, mt_module *list, int64_t i, const char *cls);
/* lm head on `parent`: tied to `emb` (its weight) or a fresh [vocab, hidden] Linear. */
mt_module *cl_lm_head(mt_model *m, mt_module *parent, const char *name, mt_module *emb, bool tie,
                      int64_t hidden, int64_t vocab, bool bias);
/* A rotary module (mt_rope_module) with the GPT-NeoX generation's attributes dim and base. */
mt_module *cl_rotary_module(mt_model *m, mt_module *parent, const char *name, const char *cls, int64_t dim,
                            double theta);
/* An Embedding leaf whose weight is an alias of `weight` ([num, dim]): encoder-decoders'
 * embed_tokens sharing `shared` (no new storage, the alias listed once). */
mt_module *cl_embedding_tied(mt_model *m, mt_module *parent, const char *name, mt_param *weight);
/* Read the parameter dtype and the --layers override into *layers. */
mt_status cl_read_dtype_layers(mt_model *m, mt_dtype *dt, const char *layers_key, int64_t def, int64_t *layers);
/* hidden % heads check with a located message naming the family. */
mt_status cl_check_heads(mt_model *m, const char *field, int64_t hidden, int64_t heads);

/* ---- forward ---- */
mt_tensor *cl_scalar_op(mt_tracer *tr, mt_op_id id, mt_tensor *a, mt_arg b);
/* arange(seq) as int64 [seq]. */
mt_tensor *cl_arange(mt_tracer *tr, const mt_sym *n);
/* 4-D additive causal mask [batch, 1, seq, seq] in dt from the 2-D
 * attention_mask: full(min).triu(1) * (arange > cache_position), padding
 * columns filled with min (transformers' causal-mask construction). */
mt_tensor *cl_causal_mask(mt_tracer *tr, mt_tensor *amask, mt_dtype dt);
/* 4-D additive padding mask [batch, 1, 1, seq]: (1 - mask[:, None, None, :].to(dt)) * min
 * (encoders' get_extended_attention_mask). */
mt_tensor *cl_padding_mask(mt_tracer *tr, mt_tensor *amask, mt_dtype dt);
/* x [b, s, heads*hd] -> view [b, s, heads, hd] -> transpose(1, 2). */
mt_tensor *cl_split_heads(mt_tracer *tr, mt_tensor *x, int64_t heads, int64_t hd);
/* [b, h, s, hd] -> transpose(1, 2).contiguous() -> reshape [b, s, h*hd]. */
mt_tensor *cl_merge_heads(mt_tracer *tr, mt_tensor *x);
/* F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False[, scale]). */
mt_tensor *cl_sdpa(mt_tracer *tr, mt_tensor *q, mt_tensor *k, mt_tensor *v, mt_tensor *mask, double scale);
/* Eager: softmax(q @ k^T * scale + bias + mask, float32?).to(v) @ v. bias/mask may be NULL;
 * scale 0 means none. */
mt_tensor *cl_eager_attn(mt_tracer *tr, mt_tensor *q, mt_tensor *k, mt_tensor *v, mt_tensor *bias,
                         mt_tensor *mask, double scale, bool softmax_fp32);
/* Rotary as the GPT-NeoX generation applies it to one tensor: cos/sin [1, s, rdim]
 * unsqueezed to [1, 1, s, rdim] for this call, then mt_rope_apply on the first
 * `rdim` channels of x [b, h, s, hd] (rotate_half, or GPT-J's rotate_every_two
 * when interleaved). cos/sin come from mt_rope_cos_sin (MT_ROPE_CAT,
 * MT_ROPE_NO_SCALING). */
mt_tensor *cl_apply_rotary(mt_tracer *tr, mt_tensor *x, mt_tensor *cos, mt_tensor *sin, int64_t rdim,
                           bool interleaved);
/* ALiBi bias [batch*heads, 1, seq] as build_alibi_tensor builds it: slopes per head times
 * ((attention_mask.cumsum(dim=-1) - 1) * attention_mask)[:, None, :], reshaped, .to(dt);
 * Falcon's copy casts the slopes to bfloat16 first (slopes_bf16). */
mt_tensor *cl_alibi(mt_tracer *tr, mt_tensor *amask, int64_t heads, mt_dtype dt, bool slopes_bf16);
/* F.dropout(x, p=p, training=False): the functional dropout of eval mode (BART layers). */
mt_tensor *cl_fdropout(mt_tracer *tr, mt_tensor *x, double p);
/* Output helper: the last node must be an output with one tensor. */
mt_status cl_output(mt_tracer *tr, mt_tensor *t);

#endif
