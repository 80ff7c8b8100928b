/* Shared mixture-of-experts blocks: router gate, top-k selection, the expert
 * loop with data-dependent token counts, shared experts, and the totals hook
 * (active parameters). Families plug them into the Llama-style decoder through
 * mt_dec_spec hooks. */
#ifndef METATRACE_MOE_H
#define METATRACE_MOE_H

#include "blocks.h"

typedef enum mt_moe_router {
    MT_ROUTE_SOFTMAX_TOPK = 0, /* Mixtral/Qwen-MoE: softmax(float) -> topk -> [renormalize] -> to(dtype) */
    MT_ROUTE_DEEPSEEK_V2,      /* softmax(float) over F.linear in float32; greedy or group-limited topk; * scaling */
    MT_ROUTE_DEEPSEEK_V3,      /* sigmoid scores + e_score_correction_bias; group-limited topk; gather; norm; * scaling */
    MT_ROUTE_GATE_WG_FP32,     /* Hunyuan: `gate` module (router_cls) holding a float32 Linear `wg`; the 3-D input is
                                * reshaped to 2-D and cast to float32 inside it; then as SOFTMAX_TOPK */
} mt_moe_router;

typedef struct mt_moe_spec {
    mt_moe_router router;
    int64_t num_experts, top_k, expert_inter;
    const char *block_cls;      /* "MixtralSparseMoeBlock" */
    const char *expert_cls;     /* "MixtralBlockSparseTop2MLP" */
    bool mixtral_names;         /* experts named w1 (gate), w2 (down), w3 (up), in that order */
    bool norm_topk;             /* renormalize the top-k weights */
    /* shared experts */
    const char *shared_name;    /* "shared_expert" (Qwen2-MoE), "shared_experts" (DeepSeek), NULL: none */
    const char *shared_cls;
    int64_t shared_inter;
    bool shared_gate;           /* Qwen2-MoE: shared_expert_gate Linear(hidden, 1), sigmoid */
    bool shared_first;          /* Hunyuan: the shared MLP runs on the 3-D input before the router, and is added
                                 * after the routed output is reshaped back (registration: gate, experts, shared) */
    /* DeepSeek routers */
    const char *router_cls;     /* V3: "DeepseekV3TopkRouter" (a module with weight + bias buffer) */
    int64_t n_group, topk_group;
    bool group_limited;         /* V2: topk_method == "group_limited_greedy" */
    double routed_scaling;
    const char *router_name;    /* the softmax router Linear: "gate" when NULL; Jamba's "router" */
} mt_moe_spec;

/* One routed-expert container for the totals: the parameters under `mod`
 * belong to `num_experts` identical experts of which `top_k` run per token. */
typedef struct mt_moe_routed {
    mt_module *mod;
    int64_t num_experts, top_k;
} mt_moe_routed;

/* Family data shared by the MoE families (m->family points to one; dec.ext to it). */
typedef struct mt_moe_model {
    mt_dec_spec dec;
    mt_moe_spec moe;
    mt_vec routed;              /* mt_moe_routed* */
    int64_t extra_params;       /* reported in mt_totals.extra_params (DeepSeek-V3 MTP layer) */
    void *fam;                  /* further family data */
} mt_moe_model;

/* The sparse block's handle (bound by mt_moe_build): the router (`gate` Linear, Hunyuan's `gate`
 * module holding wg, DeepSeek-V3's router module), the parameters DeepSeek's routers read
 * (gate_weight, V3's gate_bias), the experts ModuleList (each expert an mt_mlp_h), and the shared
 * experts and Qwen2-MoE's shared_expert_gate (NULL without). */
typedef struct mt_moe_h {
    mt_module *gate, *wg, *experts, *shared, *shared_gate;
    mt_param *gate_weight, *gate_bias;
} mt_moe_h;
extern const mt_handle_kind mt_moe_h_kind;

/* Allocate the family data and point m->family and dec.ext at it. */
mt_moe_model *mt_moe_model_new(mt_model *m);
/* Build the sparse block `name` under parent (gate, experts, shared experts) from mm->moe. The
 * block records num_experts and top_k as attributes, and its forward reads them there, so a
 * family with per-layer expert counts sets mm->moe before each call. */
mt_module *mt_moe_build(mt_model *m, mt_moe_model *mm, mt_module *parent, const char *name);
/* Its forward on x [batch, seq, hidden] -> [batch, seq, hidden]. */
mt_tensor *mt_moe_forward(mt_tracer *tr, mt_module *blk, mt_tensor *x, const mt_moe_model *mm);
/* The experts' loop, shared by the families that write their own: torch.where(hit)
 * (nonzero as a tuple) for expert e, its count a fresh symbol whose origin names the
 * expert and the block at `path` (the sizing pass groups a block's symbols by it);
 * and the routing weights of the tokens it got, w[tok].gather(1, slot.unsqueeze(-1))
 * (transformers' top_k_weights[token_idx, top_k_pos, None]). */
mt_node *mt_moe_where(mt_tracer *tr, mt_tensor *hit, int64_t e, const char *path);
mt_tensor *mt_moe_slot_weights(mt_tracer *tr, mt_tensor *w, mt_tensor *tok, mt_tensor *slot);
/* ---- fused 3-D experts (Gemma4TextExperts; Qwen3VLMoeTextExperts has the same form) ----
 * One module holding every expert's weights as two 3-D parameters, gate_up_proj
 * [E, 2 * inter, hidden] and down_proj [E, hidden, inter], and act_fn; the router
 * is the family's (its top-k indices and weights are the forward's inputs), as is
 * the module's name and class. Its handle, bound by mt_moe_fused_build. */
typedef struct mt_moe_fused_h {
    mt_param *gate_up, *down;
    mt_module *act;
    int64_t num_experts;
    bool in_out; /* stored [E, hidden, 2 * inter] / [E, inter, hidden], applied as x @ w[e] */
} mt_moe_fused_h;
extern const mt_handle_kind mt_moe_fused_h_kind;
/* The experts module `name` of class `cls` under parent: gate_up_proj, down_proj, act_fn (the
 * activation `act`, read from the config field `act_field` for errors), in that order, and the
 * attribute num_experts. With in_out the two parameters are built as a checkpoint stores them
 * transposed, [E, hidden, 2 * inter] and [E, inter, hidden] (Qwen3-VL-MoE's released weights, which
 * transformers v5 transposes on load), and the forward applies them as cur @ w[e] where it records
 * F.linear(cur, w[e]) otherwise: the same product. NULL on error. */
mt_module *mt_moe_fused_build(mt_model *m, mt_module *parent, const char *name, const char *cls, int64_t num_experts,
                              int64_t hidden, int64_t inter, const char *act, const char *act_field, mt_dtype dtype,
                              bool in_out);
/* Its forward, transformers' eager loop, on x [T, hidden] with the router's top-k indices idx
 * and weights w [T, top_k]: final = zeros_like(x); mask = one_hot(idx, E).permute(2, 1, 0);
 * for every expert e (the expert_hit filter, no_grad bookkeeping that only skips experts
 * without tokens, is not recorded): torch.where(mask[e]) (mt_moe_where), x[token_idx]
 * (index_select), F.linear(., gate_up_proj[e]).chunk(2, -1) (in_out: . @ gate_up_proj[e]), act_fn(gate) * up,
 * F.linear(., down_proj[e]) (in_out: . @ down_proj[e]), * w[token_idx, top_k_pos, None] (mt_moe_slot_weights), .to(x's
 * dtype), final.index_add_(0, token_idx, .). Returns final [T, hidden], recorded inside the module. */
mt_tensor *mt_moe_fused_forward(mt_tracer *tr, mt_module *ex, mt_tensor *x, mt_tensor *idx, mt_tensor *w);
/* mlp_forward hook: the sparse block when the module has experts, else the dense MLP. */
mt_tensor *mt_moe_mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const mt_dec_spec *s);
/* Record a routed container for the totals. */
bool mt_moe_add_routed(mt_model *m, mt_moe_model *mm, mt_module *mod, int64_t num_experts, int64_t top_k);
/* mt_arch.totals: active = params - (E - top_k)/E of every routed container; extra from mm. */
mt_status mt_moe_totals(const mt_model *m, mt_totals *t);

/* GraniteMoe's sparse block (granitemoe.c), for the families built on it (GraniteMoeHybrid): the
 * build_mlp / mlp_forward hooks over an mt_moe_model whose moe.block_cls names the block's class
 * ("GraniteMoeMoE"; its experts and gate classes follow the prefix). */
mt_status mt_granitemoe_build_moe(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index);
mt_tensor *mt_granitemoe_moe_forward(mt_tracer *tr, mt_module *blk, mt_tensor *x, const mt_dec_spec *s);

#endif
