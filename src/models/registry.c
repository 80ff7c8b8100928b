/* The architecture registry: one entry per family. Adding a family is one
 * file in src/models/ plus one line here. */
#include <string.h>

#include <metatrace/model.h>

extern const mt_arch mt_arch_llama;
extern const mt_arch mt_arch_mistral;
extern const mt_arch mt_arch_qwen2;
extern const mt_arch mt_arch_qwen3;
extern const mt_arch mt_arch_gemma;
extern const mt_arch mt_arch_gemma2;
extern const mt_arch mt_arch_gemma3_text;
extern const mt_arch mt_arch_cohere;
extern const mt_arch mt_arch_granite;
extern const mt_arch mt_arch_olmo2;
extern const mt_arch mt_arch_stablelm;
extern const mt_arch mt_arch_stablelm_epoch;
extern const mt_arch mt_arch_starcoder2;
extern const mt_arch mt_arch_internlm2;
extern const mt_arch mt_arch_olmo;
extern const mt_arch mt_arch_phi3;
extern const mt_arch mt_arch_gpt_neox;
extern const mt_arch mt_arch_falcon;
extern const mt_arch mt_arch_gpt2;
extern const mt_arch mt_arch_bloom;
extern const mt_arch mt_arch_gptj;
extern const mt_arch mt_arch_opt;
extern const mt_arch mt_arch_phi;
extern const mt_arch mt_arch_mixtral;
extern const mt_arch mt_arch_qwen2_moe;
extern const mt_arch mt_arch_qwen3_moe;
extern const mt_arch mt_arch_deepseek_v2;
extern const mt_arch mt_arch_deepseek_v3;
extern const mt_arch mt_arch_granitemoe;
extern const mt_arch mt_arch_gpt_oss;
extern const mt_arch mt_arch_bert;
extern const mt_arch mt_arch_t5;
extern const mt_arch mt_arch_mt5;
extern const mt_arch mt_arch_bart;
extern const mt_arch mt_arch_smollm3;
extern const mt_arch mt_arch_olmoe;
extern const mt_arch mt_arch_glm4_moe;
extern const mt_arch mt_arch_hunyuan_v1_moe;
extern const mt_arch mt_arch_hunyuan_v1_dense;
extern const mt_arch mt_arch_gemma3;
extern const mt_arch mt_arch_bamba;
extern const mt_arch mt_arch_granitemoehybrid;
extern const mt_arch mt_arch_llama4_text;
extern const mt_arch mt_arch_llama4;
extern const mt_arch mt_arch_qwen3_next;
extern const mt_arch mt_arch_mistral3;
extern const mt_arch mt_arch_jamba;
extern const mt_arch mt_arch_minimax;
extern const mt_arch mt_arch_gemma4_text;
extern const mt_arch mt_arch_gemma3n_text;
extern const mt_arch mt_arch_gemma3n;
extern const mt_arch mt_arch_qwen3_5_text;
extern const mt_arch mt_arch_qwen3_5_moe_text;
extern const mt_arch mt_arch_qwen2_5_vl;
extern const mt_arch mt_arch_qwen2_5_vl_text;
extern const mt_arch mt_arch_qwen3_vl;
extern const mt_arch mt_arch_qwen3_5;
extern const mt_arch mt_arch_qwen3_5_moe;
extern const mt_arch mt_arch_qwen3_vl_text;
extern const mt_arch mt_arch_qwen3_vl_moe;
extern const mt_arch mt_arch_qwen3_vl_moe_text;

static const mt_arch *const registry[] = {
    &mt_arch_llama,
    &mt_arch_mistral,
    &mt_arch_qwen2,
    &mt_arch_qwen3,
    &mt_arch_gemma,
    &mt_arch_gemma2,
    &mt_arch_gemma3_text,
    &mt_arch_cohere,
    &mt_arch_granite,
    &mt_arch_olmo2,
    &mt_arch_stablelm,
    &mt_arch_stablelm_epoch,
    &mt_arch_starcoder2,
    &mt_arch_internlm2,
    &mt_arch_olmo,
    &mt_arch_phi3,
    &mt_arch_gpt_neox,
    &mt_arch_falcon,
    &mt_arch_gpt2,
    &mt_arch_bloom,
    &mt_arch_gptj,
    &mt_arch_opt,
    &mt_arch_phi,
    &mt_arch_mixtral,
    &mt_arch_qwen2_moe,
    &mt_arch_qwen3_moe,
    &mt_arch_deepseek_v2,
    &mt_arch_deepseek_v3,
    &mt_arch_granitemoe,
    &mt_arch_gpt_oss,
    &mt_arch_bert,
    &mt_arch_t5,
    &mt_arch_mt5,
    &mt_arch_bart,
    &mt_arch_smollm3,
    &mt_arch_olmoe,
    &mt_arch_glm4_moe,
    &mt_arch_hunyuan_v1_moe,
    &mt_arch_hunyuan_v1_dense,
    &mt_arch_gemma3,
    &mt_arch_bamba,
    &mt_arch_granitemoehybrid,
    &mt_arch_llama4_text,
    &mt_arch_llama4,
    &mt_arch_qwen3_next,
    &mt_arch_mistral3,
    &mt_arch_jamba,
    &mt_arch_minimax,
    &mt_arch_gemma4_text,
    &mt_arch_gemma3n_text,
    &mt_arch_gemma3n,
    &mt_arch_qwen3_5_text,
    &mt_arch_qwen3_5_moe_text,
    &mt_arch_qwen2_5_vl,
    &mt_arch_qwen2_5_vl_text,
    &mt_arch_qwen3_vl,
    &mt_arch_qwen3_5,
    &mt_arch_qwen3_5_moe,
    &mt_arch_qwen3_vl_text,
    &mt_arch_qwen3_vl_moe,
    &mt_arch_qwen3_vl_moe_text,
};

#define NARCH ((int)(sizeof registry / sizeof registry[0]))

int mt_arch_count(void) { return NARCH; }
const mt_arch *mt_arch_at(int i) { return (i >= 0 && i < NARCH) ? registry[i] : NULL; }

const mt_arch *mt_arch_find(const char *model_type) {
    if (!model_type) return NULL;
    for (int i = 0; i < NARCH; i++) {
        const mt_arch *a = registry[i];
        if (strcmp(a->model_type, model_type) == 0) return a;
        for (const char *const *al = a->aliases; al && *al; al++)
            if (strcmp(*al, model_type) == 0) return a;
    }
    return NULL;
}

const char *mt_arch_list(mt_ctx *ctx) {
    size_t len = 1;
    for (int i = 0; i < NARCH; i++) len += strlen(registry[i]->model_type) + 2;
    char *s = mt_alloc(ctx, len);
    if (!s) return "";
    for (int i = 0; i < NARCH; i++) {
        if (i) strcat(s, ", ");
        strcat(s, registry[i]->model_type);
    }
    return s;
}

/* Levenshtein distance, case-insensitive, for "did you mean". */
static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 1 << 20;
    int row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int ca = a[i - 1] >= 'A' && a[i - 1] <= 'Z' ? a[i - 1] + 32 : a[i - 1];
            int cb = b[j - 1] >= 'A' && b[j - 1] <= 'Z' ? b[j - 1] + 32 : b[j - 1];
            int best = diag + (ca != cb);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *mt_arch_nearest(const char *model_type) {
    if (!model_type) return NULL;
    const char *best = NULL;
    int bestd = 1 << 20;
    for (int i = 0; i < NARCH; i++) {
        const mt_arch *a = registry[i];
        int d = edit_distance(model_type, a->model_type);
        if (d < bestd) { bestd = d; best = a->model_type; }
        for (const char *const *al = a->aliases; al && *al; al++) {
            d = edit_distance(model_type, *al);
            if (d < bestd) { bestd = d; best = *al; }
        }
    }
    /* close enough to be a misspelling: at most a third of the name, at least 2 */
    int limit = (int)strlen(model_type) / 3;
    if (limit < 2) limit = 2;
    return bestd <= limit ? best : NULL;
}
