/* Library-internal model state (not part of the public API): what
 * struct mt_model (family.h) keeps behind its priv pointer. */
#ifndef METATRACE_MODEL_INTERNAL_H
#define METATRACE_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <metatrace/family.h>

struct mt_model_private {
    mt_kwarg *info;           /* resolved hyper-parameters for reports (mt_model_info) */
    int ninfo, infocap;
    const mt_binding *bind;   /* while tracing: concrete values for input symbols */
    uint32_t bind_used;       /* bit i: bind->names[i] was used by an input */
};

/* The recorded info as one array (*n entries; NULL when none). */
const mt_kwarg *mt__model_infos(const mt_model *m, int *n);

/* The longest sequence the model's config allows: the first of
 * max_position_embeddings, n_positions, max_sequence_length, seq_length, n_ctx
 * that is a positive integer in the config, else in its text_config (a
 * vision-language model's language model), else the family's config class
 * default (mt_arch.max_positions). *where says which ("max_position_embeddings",
 * "text_config.max_position_embeddings", "gemma3_text's default max_position_embeddings",
 * allocated in the model's context; *is_default when it is the family's
 * default; either may be NULL); 0 when none applies. The sizing pass and
 * the fit read the context length through this one function. */
int64_t mt__model_max_positions(const mt_model *m, const char **where, bool *is_default);

/* The recurrent mixers' fixed state per sequence (the sizing pass's recurrent state,
 * docs/sizing.md), one entry per mixer: its module, its conv and SSM/linear state
 * bytes, and how many channels / heads tensor parallelism may split each by (1:
 * none). Returns the count (the list in the context's arena), -1 on error. */
typedef struct mt__state_mixer {
    const mt_module *mixer;
    int64_t conv_bytes, ssm_bytes;
    int64_t conv_channels, heads;
} mt__state_mixer;
int mt__state_mixers(mt_ctx *ctx, const mt_model *m, mt__state_mixer **list);

/* For tests of the vouched layer runs (graph_internal.h): the spans of g the
 * sizing pass copies from a template without reading their nodes, and in
 * *confirmed how many of them the node-by-node structural hash finds identical
 * to that template too. -1 on error. */
int mt__sizing_check_runs(mt_ctx *ctx, const mt_graph *g, int *confirmed);

#endif
