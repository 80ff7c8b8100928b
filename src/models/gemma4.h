/* Gemma 4's pieces that its ancestor Gemma 3n shares (src/models/gemma3n.c): the
 * scaled word embedding (Gemma3nTextScaledWordEmbedding and
 * Gemma4TextScaledWordEmbedding are the same module: nn.Embedding with a
 * non-persistent 0-d embed_scale buffer, forward F.embedding(...) *
 * embed_scale.to(weight.dtype)). */
#ifndef METATRACE_GEMMA4_H
#define METATRACE_GEMMA4_H

#include "blocks.h"

/* The embedding module `name` of class `cls` under parent: weight [num, dim] of
 * dtype, padding_idx pad (None when pad_none), the embed_scale buffer. */
mt_module *mt_g4_scaled_embedding(mt_model *m, mt_module *parent, const char *name, const char *cls, int64_t num,
                                  int64_t dim, double scale, mt_dtype dtype, bool pad_none, int64_t pad);
/* Its forward on ids. */
mt_tensor *mt_g4_embedding_forward(mt_tracer *tr, mt_module *e, mt_tensor *ids);

/* The handles (blocks.h, "handles bound at build"): the embedding's weight and
 * embed_scale buffer (bound by mt_g4_scaled_embedding); the attention's
 * projections and q/k/v norms, as each family's build makes them (Gemma 4's
 * KV-shared layers have only q_proj, q_norm and o_proj, its attention_k_eq_v
 * full layers no v_proj: those fields NULL). Their norms are bound as mt_norm_h
 * (weight NULL: Gemma4RMSNorm with_scale False). */
typedef struct mt_g4_embed_h {
    mt_param *weight, *embed_scale;
} mt_g4_embed_h;
extern const mt_handle_kind mt_g4_embed_h_kind;
typedef struct mt_g4_attn_h {
    mt_module *q, *k, *v, *o, *q_norm, *k_norm, *v_norm;
} mt_g4_attn_h;
extern const mt_handle_kind mt_g4_attn_h_kind;

#endif
