/* Library-internal model state (not part of the public API): what
 * struct mt_model (family.h) keeps behind its priv pointer. */
#ifndef METATRACE_MODEL_INTERNAL_H
#define METATRACE_MODEL_INTERNAL_H

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

#endif
