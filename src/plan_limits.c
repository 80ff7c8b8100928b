/* metatrace — what a tensor-parallel degree must divide (docs/plan.md,
 * "Constraints"): read once per graph, checked per degree. */
#include <string.h>

#include "plan_internal.h"

struct pl_limits {
    mt_model *m;
    bool has_heads, has_kv, has_inter, has_vocab, has_hd;
    int64_t heads, kv, inter, vocab, head_dim;
};

static bool info_int(const mt_model *m, const char *name, int64_t *v) {
    for (int i = 0; i < m->ninfo; i++)
        if (strcmp(m->info[i].name, name) == 0 && m->info[i].value.kind == MT_ARG_INT) {
            *v = m->info[i].value.v.i;
            return true;
        }
    return false;
}

pl_limits *pl_limits_new(mt_model *m, const mt_graph *g) {
    (void)g;
    pl_limits *L = mt_alloc(m->ctx, sizeof *L);
    if (!L) return NULL;
    memset(L, 0, sizeof *L);
    L->m = m;
    L->has_heads = info_int(m, "num_attention_heads", &L->heads);
    L->has_kv = info_int(m, "num_key_value_heads", &L->kv);
    L->has_inter = info_int(m, "intermediate_size", &L->inter);
    L->has_vocab = info_int(m, "vocab_size", &L->vocab);
    L->has_hd = info_int(m, "head_dim", &L->head_dim);
    return L;
}

bool pl_limits_kv(const pl_limits *L, int64_t *kv_heads, int64_t *head_dim) {
    if (!L->has_kv || !L->has_hd) return false;
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
    int64_t heads = L->heads, kv = L->kv, inter = L->inter, vocab = L->vocab;
    bool has_heads = L->has_heads;
    if (has_heads && heads % tp != 0)
        append(ctx, reason, mt_sprintf(ctx, "num_attention_heads=%lld not divisible by %d", (long long)heads, tp));
    if (L->has_kv && kv % tp != 0) {
        if (tp % kv == 0 && (!has_heads || heads % tp == 0)) {
            kvrep = (int)(tp / kv);
            append(ctx, note, mt_sprintf(ctx, "num_key_value_heads=%lld not divisible by %d; would need KV "
                                              "replication x%d (each KV head on %d ranks)",
                                         (long long)kv, tp, kvrep, kvrep));
        } else if (tp % kv != 0) {
            append(ctx, reason, mt_sprintf(ctx, "num_key_value_heads=%lld not divisible by %d, and %d is not a "
                                                "multiple of it (no KV replication possible)",
                                           (long long)kv, tp, tp));
        }
    }
    if (L->has_inter && inter % tp != 0)
        append(ctx, reason, mt_sprintf(ctx, "intermediate_size=%lld not divisible by %d", (long long)inter, tp));
    if (L->has_vocab && vocab % tp != 0)
        append(ctx, note, mt_sprintf(ctx, "vocab_size=%lld not divisible by %d: embedding and lm_head stay "
                                          "replicated (pad the vocabulary to shard them)",
                                     (long long)vocab, tp));
    return kvrep;
}
