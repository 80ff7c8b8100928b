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

#endif
