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
