/* Shared building blocks for model families: a decoder-only transformer
 * described as data (mt_dec_spec) that families fill from their config. */
#ifndef METATRACE_BLOCKS_H
#define METATRACE_BLOCKS_H

#include <metatrace/family.h>

/* Class names a family uses for its modules (as transformers names them). */
typedef struct mt_dec_names {
    const char *model;   /* "LlamaModel" */
    const char *layer;   /* "LlamaDecoderLayer" */
    const char *attn;    /* "LlamaAttention" */
    const char *mlp;     /* "LlamaMLP" */
    const char *norm;    /* "LlamaRMSNorm" */
    const char *rotary;  /* "LlamaRotaryEmbedding" */
} mt_dec_names;

struct mt_dec_spec;

/* Hooks a family sets to replace one sub-block (MoE MLP, latent attention, ...).
 * NULL means the default Llama block. `layer` is the decoder layer module;
 * `index` its number. Build hooks create the sub-module named "mlp" /
 * "self_attn" under layer; forward hooks trace it. An attention forward
 * given cos = sin = NULL applies no rotary (a NoPE layer, caps.nope). */
typedef struct mt_dec_hooks {
    mt_status (*build_mlp)(mt_model *m, const struct mt_dec_spec *s, mt_module *layer, int64_t index);
    mt_tensor *(*mlp_forward)(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const struct mt_dec_spec *s);
    mt_status (*build_attn)(mt_model *m, const struct mt_dec_spec *s, mt_module *layer, int64_t index);
    mt_tensor *(*attn_forward)(mt_tracer *tr, mt_module *attn, mt_tensor *x, mt_tensor *mask,
                               mt_tensor *cos, mt_tensor *sin, const struct mt_dec_spec *s);
    /* Modules the layer registers after its norms (GraniteMoeHybrid's shared_mlp and Mamba
     * mixer); NULL: none. Called before the layer's handle is bound, so a slot it builds is found. */
    mt_status (*build_after_norms)(mt_model *m, const struct mt_dec_spec *s, mt_module *layer, int64_t index);
    /* A multimodal wrapper's merge (Gemma 3): called with the token embeddings
     * before the decoder's model is entered (the embedding is then recorded at the
     * caller's level, as the wrapper calls get_input_embeddings()); returns the
     * inputs_embeds the decoder runs on. */
    mt_tensor *(*merge_embeds)(mt_tracer *tr, mt_model *m, const struct mt_dec_spec *s, mt_tensor *ids,
                               mt_tensor *embeds);
    /* The position_ids the rotary embedding reads, given cache_position [seq] and the
     * hidden states (NULL: cache_position.unsqueeze(0), [1, seq]). Qwen2.5-VL's M-RoPE
     * returns [3, batch, seq]: a graph input, or cache_position expanded to three rows. */
    mt_tensor *(*position_ids)(mt_tracer *tr, mt_model *m, const struct mt_dec_spec *s, mt_tensor *cache_pos,
                               mt_tensor *h);
    /* The hidden states after decoder layer `index`, given its output (recorded in the decoder
     * model, after the layer): Qwen3-VL's deepstack adds visual features to the first layers'. */
    mt_tensor *(*after_layer)(mt_tracer *tr, mt_model *m, const struct mt_dec_spec *s, int64_t index, mt_tensor *h);
} mt_dec_hooks;

/* ---- capabilities (data; all-zero is Llama) ---- */
typedef enum mt_norm_kind {
    MT_NORM_RMS = 0,       /* Llama: w * (x.float() * rsqrt(mean(x^2) + eps)).to(in) */
    MT_NORM_RMS_GEMMA,     /* Gemma: float32 throughout, * (1 + w.float()), type_as(x) */
    MT_NORM_LAYER,         /* torch.nn.LayerNorm leaf (weight, bias unless norm_no_bias) */
    MT_NORM_LAYER_FP32,    /* Cohere: weight only, mean/variance in float32, traced through */
    MT_NORM_LAYER_NOPARAM, /* OLMo: F.layer_norm(x.float(), ..., None, None, eps).to(in); no parameters */
} mt_norm_kind;

typedef enum mt_qk_norm {
    MT_QK_NORM_NONE = 0,
    MT_QK_NORM_HEAD,       /* q_norm/k_norm over head_dim, after the view (Qwen3, Cohere) */
    MT_QK_NORM_FULL,       /* q_norm/k_norm over the whole projection, before the view (OLMo2) */
    MT_QK_NORM_HEAD_T,     /* q_norm/k_norm over head_dim, after view and transpose (Gemma3) */
    MT_QK_NORM_HEAD_POST_ROPE, /* over head_dim on [b, heads, seq, head_dim] after the rotary (Hunyuan) */
} mt_qk_norm;

/* ---- handles bound at build (nn.h, mt_module_bind) ----
 * What the shared forwards read instead of looking children up by name: each
 * shared constructor binds one to the module it makes, holding the pointers
 * it got; a composed descendant (a hook's attention, a layout's norms) is
 * bound by mt_bind_child at build, so a wrong name fails the build. */
#define MT_DEC_MAX_NORMS 4
/* The CausalLM's (bound to s->root, else m->root, by mt_dec_build). */
typedef struct mt_dec_h {
    mt_module *model, *embed, *layers, *norm, *rotary, *rotary_local, *lm_head;
    mt_param *embed_weight, *embed_scale; /* caps.embed_cls: the embedding traced through */
} mt_dec_h;
extern const mt_handle_kind mt_dec_h_kind;
/* A decoder layer's (bound to the layer by mt_dec_build): its attention (or the
 * mixer in its place), MLP and norms in the order its layout reads them. */
typedef struct mt_dec_layer_h {
    mt_module *attn, *mlp;
    mt_module *norm[MT_DEC_MAX_NORMS];
    mt_module *aux; /* a module the family's hooks read beside them (GraniteMoeHybrid's shared_mlp beside its
                     * sparse block), stored by the family's build; NULL: none */
} mt_dec_layer_h;
extern const mt_handle_kind mt_dec_layer_h_kind;
/* Llama's attention (mt_dec_build_attn): the projections the spec made (qkv
 * when fused, q/k/v otherwise), o, and the q/k norms (NULL without). */
typedef struct mt_attn_h {
    mt_module *q, *k, *v, *o, *qkv, *q_norm, *k_norm;
    mt_param *sinks; /* gpt-oss's per-head attention sinks (its build adds them); NULL elsewhere */
} mt_attn_h;
extern const mt_handle_kind mt_attn_h_kind;
/* A gated MLP (gate, up, down, act: mt_dec_gated_mlp) or a plain one (up = c_fc,
 * down = c_proj, act; gate NULL). */
typedef struct mt_mlp_h {
    mt_module *gate, *up, *down, *act;
} mt_mlp_h;
extern const mt_handle_kind mt_mlp_h_kind;
/* A vision encoder's MLP (mt_fc_mlp_bind): fc1, activation_fn, fc2. */
typedef struct mt_fc_mlp_h {
    mt_module *fc1, *act, *fc2;
} mt_fc_mlp_h;
extern const mt_handle_kind mt_fc_mlp_h_kind;
/* A norm with one weight (RMSNorm, Gemma's, Cohere's LayerNorm: mt_dec_norm, mt_dec_rms_norm). */
typedef struct mt_norm_h {
    mt_param *weight;
} mt_norm_h;
extern const mt_handle_kind mt_norm_h_kind;
/* A rotary module's inv_freq buffer (mt_rope_module). */
typedef struct mt_rope_h {
    mt_param *inv_freq;
} mt_rope_h;
extern const mt_handle_kind mt_rope_h_kind;
/* A rotary module with one inv_freq buffer per attention kind (Gemma 3n, Gemma 4; bound by the
 * family's build): [0] sliding_attention's, [1] full_attention's, NULL for a kind absent from
 * layer_types. Read by mt_rope_cos_sin_kind. */
typedef struct mt_rope_kinds_h {
    mt_param *inv_freq[2];
} mt_rope_kinds_h;
extern const mt_handle_kind mt_rope_kinds_h_kind;
/* The typed read of a handle in a forward: MT_BOUND(tr, module, mt_attn_h) is a
 * const mt_attn_h * (NULL and an error naming the path when the module has none). */
#define MT_BOUND(tr, mod, T) ((const T *)mt_tr_bound((tr), (mod), &T##_kind))
/* A zeroed handle of type T bound to mod at build (NULL on error). */
#define MT_BIND(ctx, mod, T) ((T *)mt_module_bind((ctx), (mod), &T##_kind, sizeof(T)))
/* Bind an fc1/activation_fn/fc2 MLP the caller built (SiglipMLP, Llama4VisionMLP). */
mt_status mt_fc_mlp_bind(mt_ctx *ctx, mt_module *mlp, mt_module *fc1, mt_module *act, mt_module *fc2);

/* One decoder layer as its layout sees it while tracing: the layer, its
 * attention (or the mixer in its place) and MLP modules, its norms (the
 * layout's build_norms order), and the mask and rotary tables that apply to it
 * (cos = sin = NULL on a NoPE layer). */
typedef struct mt_dec_layer {
    mt_module *L, *attn, *mlp;
    mt_tensor *mask, *cos, *sin;
    mt_module *const *norm;
} mt_dec_layer;

/* How a layer's norms and residuals are wired: its norms (built in
 * transformers' registration order, after attention and MLP, each stored in
 * norms[] in the order the forward reads them through mt_dec_layer_norm) and
 * its forward from the residual stream in to the stream out. NULL in caps.layout is
 * Llama's pre-norm x + attn(n1(x)); x + mlp(n2(x)). The other layouts live with
 * the family that introduced them and are shared from there: Gemma 2's sandwich
 * (gemma2.c, Gemma 3 too), OLMo 2's post-norm (olmo2.c) and Cohere's parallel
 * block (cohere.c, StableLM's use_parallel_residual too). */
typedef struct mt_dec_layout {
    mt_status (*build_norms)(mt_model *m, const struct mt_dec_spec *s, mt_module *layer,
                             mt_module *norms[MT_DEC_MAX_NORMS]);
    mt_tensor *(*forward)(mt_tracer *tr, const mt_dec_layer *ly, mt_tensor *h, const struct mt_dec_spec *s);
} mt_dec_layout;

extern const mt_dec_layout mt_gemma2_sandwich_layout; /* gemma2.c: x + n2(attn(n1(x))); x + n4(mlp(n3(x))) */
extern const mt_dec_layout mt_cohere_parallel_layout; /* cohere.c: n = n1(x); x + attn(n) + mlp(n) */

typedef enum mt_mlp_kind {
    MT_MLP_GATED = 0,      /* down(act(gate(x)) * up(x)) */
    MT_MLP_PLAIN,          /* c_proj(act(c_fc(x))) (StarCoder2) */
} mt_mlp_kind;

typedef enum mt_qkv_kind {
    MT_QKV_SPLIT = 0,      /* q_proj, k_proj, v_proj */
    MT_QKV_FUSED_GROUPED,  /* InternLM2 wqkv: [kv_heads, groups + 2, head_dim] rows */
} mt_qkv_kind;

/* Module names that differ from Llama's (NULL: Llama's). */
typedef struct mt_dec_naming {
    const char *embed, *layers, *final_norm, *lm_head;  /* embed_tokens, layers, norm, lm_head */
    const char *attn, *mlp;                             /* self_attn, mlp */
    const char *attn_norm, *mlp_norm;                   /* input_layernorm, post_attention_layernorm */
    const char *q, *k, *v, *o, *qkv;                    /* q_proj, k_proj, v_proj, o_proj, (fused) */
    const char *gate, *up, *down;                       /* gate_proj, up_proj, down_proj */
    const char *fc_in, *fc_out;                         /* plain MLP: c_fc, c_proj */
    const char *q_norm, *k_norm;                        /* q_norm, k_norm (query_layernorm, key_layernorm) */
    const char *attn_alt; /* a layer without the attention child has this one instead, passed to the attention
                           * hook in its place (Bamba's "mamba" mixer); NULL: none */
    const char *model;    /* the decoder model module (embed_tokens, layers, norm, rotary_emb): "model" */
} mt_dec_naming;

typedef struct mt_dec_caps {
    mt_norm_kind norm;
    bool norm_no_bias;         /* MT_NORM_LAYER without bias */
    mt_qk_norm qk_norm;
    const mt_dec_layout *layout; /* NULL: Llama's pre-norm (see mt_dec_layout) */
    mt_mlp_kind mlp;
    mt_qkv_kind qkv;
    int64_t sliding_window;    /* 0: no sliding window */
    const bool *sliding;       /* per layer (layers entries); NULL with a window: every layer */
    double attn_softcap;       /* 0: none; scores = cap * tanh(scores / cap) (eager attention) */
    double final_softcap;      /* 0: none; logits = cap * tanh(logits / cap) */
    double attn_scale;         /* 0: SDPA default 1/sqrt(head_dim), no scale kwarg */
    bool eager_attn;           /* transformers' default is eager: trace matmul/softmax attention instead of SDPA */
    bool eager_only;           /* transformers has no sdpa attention for the family (--attn sdpa is an error) */
    double embed_scale;        /* 0: none; embeddings * value */
    bool embed_scale_in_dtype; /* Gemma: the normalizer is a tensor of the hidden dtype (rounded) */
    double residual_scale;     /* 0: none; residual + out * value (Granite) */
    double logits_div;         /* 0: none; logits / value (Granite logits_scaling) */
    double logits_mul;         /* 0: none; logits * value (Cohere logit_scale) */
    double clip_qkv;           /* 0: none; q, k, v clamped to [-c, c] (OLMo) */
    bool qk_norm_first;        /* MT_QK_NORM_FULL on each projection as it is made, before clip_qkv:
                                * q_norm(q_proj(x)), k_norm(k_proj(x)), v_proj(x) (OLMoE) */
    double local_rope_theta;   /* 0: none; sliding layers use rotary_emb_local with this theta (Gemma3) */
    const char *extra_norm_cls;/* class of q/k norms when it differs from cls.norm */
    /* Added for Cohere and Gemma3 (zero: off). */
    bool qk_norm_per_head;     /* q_norm/k_norm weights [heads, head_dim] (CohereLayerNorm over (heads, head_dim)) */
    bool rope_interleave;      /* Cohere: freqs repeat_interleave'd, rotate_half on x[..., ::2] / x[..., 1::2]
                                * (stack + flatten), q and k rotated in float32 and cast back */
    const char *embed_cls;     /* non-NULL: the embedding is this nn.Embedding subclass, traced through, with a
                                * non-persistent 0-dim embed_scale buffer (value embed_scale, hidden dtype):
                                * F.embedding(ids, w, padding_idx, ...) * embed_scale.to(w.dtype) (Gemma3) */
    int64_t embed_padding_idx; /* with embed_cls: padding_idx recorded in F.embedding (-1: None) */
    const bool *nope;          /* per layer (layers entries; NULL: none): no rotary on q/k (NoPE layers of
                                * SmolLM3, Llama 4); the layer's attention gets cos = sin = NULL */
    bool no_rotary;            /* no rotary_emb module at all (GraniteMoeHybrid without position_embedding_type
                                * "rope"): nothing recorded for positions, every attention gets cos = sin = NULL */
    const int64_t *mrope_section; /* non-NULL (3 entries, summing to head_dim / 2): multimodal rotary
                                * (Qwen2.5-VL): position_ids [3, batch, seq] (hooks.position_ids) give cos/sin
                                * [3, batch, seq, head_dim]; each attention splits them by mrope_section * 2 on the
                                * last dim and takes chunk i from row i % 3 (apply_multimodal_rotary_pos_emb) */
    bool mrope_interleaved;    /* with mrope_section, Qwen3-VL's interleaved M-RoPE: the rotary module
                                * interleaves the three rows' frequencies (mt_rope_cos_sin_mrope) and every
                                * attention applies cos/sin [batch, seq, head_dim] as the 1-D rotary does */
} mt_dec_caps;

typedef struct mt_dec_spec {
    mt_dec_names cls;
    mt_dec_hooks hooks;
    void *ext;                 /* family-private data for its hooks */
    const char *family;        /* model_type, for messages */
    mt_dtype dtype;
    int64_t vocab, hidden, intermediate, layers;
    int64_t heads, kv_heads, head_dim;
    double norm_eps;
    const char *hidden_act;    /* config hidden_act ("silu") */
    bool qkv_bias, o_bias, mlp_bias;
    bool tie_embeddings;
    double rope_theta;
    int64_t rotary_dim;        /* head_dim unless partial rotary */
    const char *rope_type;     /* "default", "linear", "dynamic", "llama3", ... */
    double attention_scaling;  /* cos/sin multiplier (1.0 unless the rope type sets it) */
    /* Added for the Llama-like families; zero-initialized means Llama. */
    mt_dec_caps caps;
    mt_dec_naming names;
    mt_module *root;           /* NULL: m->root; else the module the CausalLM (its model and lm_head)
                                * is built under and traced from (a multimodal wrapper's language_model) */
    mt_module *model_parent;   /* NULL: root; else the module the decoder model (names.model) is built under and
                                * entered from, lm_head staying under root (Qwen3.5's stored names
                                * model.language_model.* beside lm_head); with hooks.merge_embeds it is entered
                                * before the embedding (Qwen3-VL: the wrapper model embeds and merges) */
} mt_dec_spec;

/* Read the fields every Llama-like config shares, with the given defaults
 * (transformers' configuration class defaults for the family). Validates
 * sizes and divisibility with located errors. */
typedef struct mt_dec_defaults {
    int64_t vocab, hidden, intermediate, layers, heads;
    double norm_eps, rope_theta;
    const char *hidden_act;
    const char *norm_eps_key; /* "rms_norm_eps" */
    bool tie_embeddings;
    int64_t kv_heads;         /* 0: num_attention_heads; else the default when the key is absent */
    int64_t head_dim;         /* 0: hidden_size / num_attention_heads; else the default when absent */
} mt_dec_defaults;
mt_status mt_dec_read_common(mt_model *m, mt_dec_spec *s, const mt_dec_defaults *d);
/* Parse and validate rope_scaling (none, linear, dynamic, llama3, yarn, longrope). */
mt_status mt_dec_read_rope(mt_model *m, mt_dec_spec *s);
/* The model's parameter dtype: the override, else torch_dtype/dtype, else float32. */
mt_status mt_model_read_dtype(mt_model *m, mt_dtype *out);

/* Build a Llama-style CausalLM tree on m->root and trace it. */
mt_status mt_dec_build(mt_model *m, const mt_dec_spec *s);
mt_status mt_dec_forward(mt_model *m, mt_tracer *tr, const mt_dec_spec *s);
/* A vision tower's hyper-parameter rows for reports (mt_model_info): vision_hidden_size,
 * vision_intermediate_size, vision_num_hidden_layers, vision_num_attention_heads,
 * image_size, patch_size, in that order. */
void mt_vision_info(mt_model *m, int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                    int64_t image_size, int64_t patch_size);
/* A vision encoder's MLP module (SiglipMLP, Llama4VisionMLP): fc2(activation_fn(fc1(x))),
 * traced inside the module. */
mt_tensor *mt_fc_mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x);
/* A vision-language model's image positions: (input_ids == image_token)
 * .unsqueeze(-1).expand_as(embeds), the special_image_mask transformers builds. */
mt_tensor *mt_image_token_mask(mt_tracer *tr, mt_tensor *ids, int64_t image_token, const mt_tensor *embeds);
/* x.masked_scatter(mask, source): the image features written at those positions. */
mt_tensor *mt_masked_scatter(mt_tracer *tr, mt_tensor *x, mt_tensor *mask, mt_tensor *source);
/* Adds to *out the parameters under `mod` (buffers and tied aliases excluded): a
 * language model's total beside its towers, a routed container's. false, with the
 * error in ctx, when a shape is symbolic or the sum overflows. */
bool mt_params_under(mt_ctx *ctx, const mt_module *mod, int64_t *out);
/* A vision-language model's image count: the input symbol `images`, bounded
 * (when symbolic) by 1 and batch*seq // tokens_per_image (every image fills that
 * many of input_ids' positions, the first input). With batch and seq bound, a
 * usage error when not one image fits or when a bound `images` needs more
 * positions than there are. NULL on error. */
const mt_sym *mt_image_count(mt_model *m, int64_t tokens_per_image);
/* Its image input: the placeholder pixel_values [images, channels, size, size] of
 * `dtype`, appended to m->inputs, with mt_image_count's symbol. */
mt_status mt_image_input(mt_model *m, mt_tracer *tr, int64_t tokens_per_image, int64_t channels, int64_t size,
                         mt_dtype dtype);

/* The default sub-blocks, for families that compose or wrap them. Each forward reads the handle
 * its constructor bound (mt_attn_h, mt_mlp_h, mt_norm_h for the RMS-style norms): a module built
 * otherwise must be bound with the same kind by its builder, or the forward fails naming it. */
mt_status mt_dec_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index);
mt_status mt_dec_build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index);
/* A gated MLP (gate_proj/up_proj/down_proj + act_fn) named `name` under parent. */
mt_module *mt_dec_gated_mlp(mt_model *m, const mt_dec_spec *s, mt_module *parent, const char *name,
                            const char *cls, int64_t intermediate);
mt_tensor *mt_dec_attn_forward(mt_tracer *tr, mt_module *attn, mt_tensor *x, mt_tensor *mask,
                               mt_tensor *cos, mt_tensor *sin, const mt_dec_spec *s);
mt_tensor *mt_dec_mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const mt_dec_spec *s);
mt_tensor *mt_dec_rms_forward(mt_tracer *tr, mt_module *norm, mt_tensor *x);
mt_module *mt_dec_rms_norm(mt_model *m, mt_module *parent, const char *name, const mt_dec_spec *s,
                           int64_t dim);
/* Rotary helpers: q*cos + rotate_half(q)*sin; repeat_kv for GQA. */
/* ---- Rotary (src/models/rotary.c): one helper for every family ---------------- */
/* How cos/sin are laid out from freqs = (inv_freq @ position_ids)^T. */
typedef enum mt_rope_layout {
    MT_ROPE_CAT,    /* cat(freqs, freqs): rotate_half's layout (Llama, GPT-NeoX, ...) */
    MT_ROPE_REPEAT, /* repeat_interleave(freqs, 2, dim=-1) (Cohere) */
    MT_ROPE_FREQS,  /* freqs alone, half-width tables (gpt-oss) */
} mt_rope_layout;
/* How q or k is rotated. */
typedef enum mt_rope_style {
    MT_ROPE_HALF,             /* x*cos + rotate_half(x)*sin */
    MT_ROPE_HALF_INTERLEAVED, /* Cohere: rotate_half on x[..., ::2] / x[..., 1::2] (stack, flatten) */
    MT_ROPE_EVERY_TWO,        /* GPT-J: rotate_every_two */
    MT_ROPE_CHUNK,            /* gpt-oss: a, b = chunk(x, 2); cat(a*cos - b*sin, b*cos + a*sin) */
} mt_rope_style;
/* `scaling` for rotary classes without an attention_scaling factor (GPT-NeoX
 * generation): cos/sin not multiplied. Any other value multiplies, 1.0 included
 * (LlamaRotaryEmbedding always does). */
#define MT_ROPE_NO_SCALING 0.0
/* A rotary module `name` of class `cls` under parent, with its non-persistent
 * float32 inv_freq buffer [rotary_dim / 2]; the caller sets its attributes. */
mt_module *mt_rope_module(mt_model *m, mt_module *parent, const char *name, const char *cls, int64_t rotary_dim);
/* cos/sin [batch, seq, D] in x's dtype from the module's inv_freq and
 * position_ids `pos` [batch, seq] (or, for M-RoPE, [3, batch, seq] giving
 * [3, batch, seq, D]: Qwen2_5_VLRotaryEmbedding), recorded inside the module; D is rotary_dim
 * (CAT, REPEAT) or rotary_dim / 2 (FREQS). A NULL module is an error. */
void mt_rope_cos_sin(mt_tracer *tr, mt_module *rot, mt_tensor *x, mt_tensor *pos, mt_rope_layout layout,
                     double scaling, mt_tensor **cos, mt_tensor **sin);
/* The same from one of the module's per-kind buffers (Gemma 3n's and Gemma 4's one rotary module
 * holds a "<layer_type>_inv_freq" buffer per attention kind): the module's builder binds an
 * mt_rope_kinds_h with the buffers it made, and `sliding` picks sliding_attention's or
 * full_attention's (one the build did not bind is an error naming the module). */
void mt_rope_cos_sin_kind(mt_tracer *tr, mt_module *rot, bool sliding, mt_tensor *x, mt_tensor *pos,
                          mt_rope_layout layout, double scaling, mt_tensor **cos, mt_tensor **sin);
/* Qwen3-VL's interleaved M-RoPE (Qwen3VLTextRotaryEmbedding): as mt_rope_cos_sin with
 * position_ids [3, batch, seq] and MT_ROPE_CAT, the frequencies [3, batch, seq, D/2]
 * interleaved by apply_interleaved_mrope before the cat: row 0, with channels
 * offset::3 below 3 * mrope_section[offset] taken from row offset (1: height, 2: width);
 * cos/sin [batch, seq, D]. */
void mt_rope_cos_sin_mrope(mt_tracer *tr, mt_module *rot, mt_tensor *x, mt_tensor *pos, const int64_t *mrope_section,
                           double scaling, mt_tensor **cos, mt_tensor **sin);
/* x rotated with cos/sin already broadcastable to it (unsqueezed at the heads
 * dim); rotary_dim > 0 and below x's last dim rotates only the first
 * rotary_dim channels and passes the rest through (partial rotary). */
mt_tensor *mt_rope_apply(mt_tracer *tr, mt_tensor *x, mt_tensor *cos, mt_tensor *sin, mt_rope_style style,
                         int64_t rotary_dim);
mt_tensor *mt_dec_repeat_kv(mt_tracer *tr, mt_tensor *x, int64_t n_rep);

/* A norm of the spec's kind (caps.norm) named `name` under parent over `dim`, and its forward. */
mt_module *mt_dec_norm(mt_model *m, mt_module *parent, const char *name, const mt_dec_spec *s, int64_t dim);
mt_tensor *mt_dec_norm_forward(mt_tracer *tr, mt_module *norm, mt_tensor *x, const mt_dec_spec *s);
/* For layouts: the layer's norm i (build_norms' norms[i]) applied to x; its attention and MLP
 * (the family's hooks, else Llama's) on x; the residual add res + out (with
 * caps.residual_scale). */
mt_tensor *mt_dec_layer_norm(mt_tracer *tr, const mt_dec_layer *ly, int i, mt_tensor *x,
                             const mt_dec_spec *s);
mt_tensor *mt_dec_layer_attn(mt_tracer *tr, const mt_dec_layer *ly, mt_tensor *x, const mt_dec_spec *s);
mt_tensor *mt_dec_layer_mlp(mt_tracer *tr, const mt_dec_layer *ly, mt_tensor *x, const mt_dec_spec *s);
mt_tensor *mt_dec_residual_add(mt_tracer *tr, mt_tensor *res, mt_tensor *out, const mt_dec_spec *s);
/* Per-layer sliding flags for `layers` layers: layer i slides when (i + offset) % period != 0
 * (period 2, offset 1: even layers — Gemma2; period 6, offset 1: Gemma3). */
const bool *mt_dec_sliding_pattern(mt_model *m, int64_t layers, int64_t period, int64_t offset);
/* Round v to the nearest value representable in dt (float16/bfloat16/float32). */
double mt_dtype_round(mt_dtype dt, double v);
/* True when a top-level config key is present with the value null (absent: false). */
bool mt_dec_cfg_is_null(mt_model *m, const char *key);
/* Optional positive window: absent takes def, null or 0 means none (0). */
bool mt_dec_read_window(mt_model *m, const char *key, int64_t def, int64_t *out);
/* Per-layer 0/1 flags from the config list `key` (integers or booleans, at least
 * num_hidden_layers entries as the config states it, `cfg_layers`): out[i] for the
 * first `layers` layers. Absent or null: *out = NULL, true. Errors name the entry. */
bool mt_dec_read_layer_flags(mt_model *m, const char *key, int64_t cfg_layers, int64_t layers, const bool **out);
/* layer_types ("full_attention" / "sliding_attention", exactly cfg_layers entries):
 * sliding flags for the first `layers` layers. Absent or null: *out = NULL, true. */
bool mt_dec_read_layer_types(mt_model *m, int64_t cfg_layers, int64_t layers, const bool **out);
/* A required config field: absent is an error naming the field and the family. */
bool mt_dec_require(mt_model *m, const char *field);

/* The 4-D additive causal mask [batch, 1, seq, seq] from the 2-D attention_mask
 * and cache_position [seq], as transformers builds it (full(min), triu(1),
 * arange > cache_position, expand, padding masked_fill). */
mt_tensor *mt_dec_causal_mask(mt_tracer *tr, mt_tensor *attn_mask, mt_tensor *cache_pos, mt_dtype dt);
/* Its sliding-window variant: keys window or more positions behind the query
 * masked as well. */
mt_tensor *mt_dec_sliding_mask(mt_tracer *tr, mt_tensor *mask, mt_tensor *cache_pos, int64_t window,
                               mt_dtype dt);

/* ---- attention implementation (--attn) ----
 * Which implementations transformers has for a family (`has`), which of them
 * metatrace traces (`modelled`, a subset), and transformers' default. The
 * request in m->attn (mt_build_opts.attn) is checked against them — a choice
 * transformers lacks is a usage error naming the family, one metatrace does
 * not trace is unsupported — and m->attn is set to the resolved choice.
 * Every family's build calls it once (mt_dec_build does for the decoders). */
#define MT_ATTN_BIT(impl) (1u << (unsigned)(impl))
#define MT_ATTN_BOTH (MT_ATTN_BIT(MT_ATTN_IMPL_EAGER) | MT_ATTN_BIT(MT_ATTN_IMPL_SDPA))
mt_status mt_attn_choose(mt_model *m, unsigned has, unsigned modelled, mt_attn_impl def);
/* The name of an implementation ("eager", "sdpa"). */
const char *mt_attn_name(mt_attn_impl impl);

/* The attention interfaces of transformers on q [b, heads, s, d] and k, v
 * [b, kv_heads, s_k, d]; the result is attn_output.transpose(1, 2).contiguous()
 * [b, s, heads, d], as both interfaces return it.
 *  eager (eager_attention_forward): repeat_kv(k), repeat_kv(v),
 *        matmul(q, k.transpose(2, 3)) * scaling [soft-cap: / cap, tanh, * cap]
 *        [+ mask[:, :, :, :k_len]], softmax(dim=-1, dtype=float32).to(q.dtype),
 *        dropout(p=0.0, training=False), matmul(., v), transpose(1, 2), contiguous;
 *  sdpa  (sdpa_attention_forward): repeat_kv(k), repeat_kv(v) [, mask[:, :, :, :k_len]],
 *        F.scaled_dot_product_attention(q, k, v, attn_mask=, dropout_p=0.0, is_causal=False
 *        [, scale=]), transpose(1, 2), contiguous. */
typedef struct mt_attn_args {
    int64_t n_rep;       /* repeat_kv groups (1: none recorded) */
    double scaling;      /* eager: the multiplier (always recorded); sdpa: scale= (0: not passed) */
    double softcap;      /* eager: logit soft-capping (0: none) */
    bool kt_neg;         /* eager: key.transpose(-1, -2) (OPT's copy of the function) */
    bool eager_slice;    /* eager: the mask is sliced to the key length before the add */
    bool sdpa_slice;     /* sdpa: likewise before the call */
} mt_attn_args;
mt_tensor *mt_attn_forward(mt_tracer *tr, mt_attn_impl impl, mt_tensor *q, mt_tensor *k, mt_tensor *v,
                           mt_tensor *mask, const mt_attn_args *a);

/* Activation from a config hidden_act name: a leaf for torch.nn built-ins,
 * traced through for transformers' own activation classes. */
mt_module *mt_act_new(mt_model *m, mt_module *parent, const char *name, const char *hidden_act,
                      const char *field);
mt_tensor *mt_act_forward(mt_tracer *tr, mt_module *act, mt_tensor *x);

/* Most negative finite value of a floating dtype (torch.finfo(dt).min). */
double mt_dtype_min(mt_dtype dt);

/* MistralConfig read from m->cfg into s (reads only, builds nothing): the
 * language model of Mistral 3 (mistral3.c) and mistral's own build. */
mt_status mt_mistral_spec(mt_model *m, mt_dec_spec *s);

#endif
