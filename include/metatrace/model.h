/* metatrace — config, architecture registry, model, tracer, exporters. */
#ifndef METATRACE_MODEL_H
#define METATRACE_MODEL_H

#include <stdio.h>

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits (docs/cli.md, "Limits") ------------------------------------------
 * Sanity bounds on what drives memory or time, far above every real model, so
 * a typo or a hostile config (num_hidden_layers: 1e9, /dev/zero as the config)
 * fails at once with a message instead of running until memory is exhausted.
 * MT_MAX_CONFIG_BYTES: a config is a regular file of at most this many bytes
 * (real ones are kilobytes). The count limits apply to a config field whose
 * last dotted component is one of the names listed in docs/cli.md, whenever a
 * typed integer getter (mt_config_int, mt_config_pos_int, mt_config_req_int) reads a
 * value above it: MT_MAX_LAYERS to num_hidden_layers, n_layer, num_layers,
 * encoder_layers, decoder_layers, ...; MT_MAX_EXPERTS to num_local_experts,
 * n_routed_experts, num_experts, ...; MT_MAX_HEADS to num_attention_heads,
 * num_key_value_heads, n_head, ...; MT_MAX_VOCAB to vocab_size;
 * MT_MAX_HIDDEN to hidden_size, intermediate_size, head_dim and the other
 * widths. MT_MAX_LAYERS also bounds mt_build_opts.num_layers.
 * MT_MAX_EXPERT_LAYERS bounds layers x experts, checked by mt_model_build
 * before building; a trace that would record more than MT_MAX_GRAPH_NODES
 * nodes fails (MT_ERR_OVERFLOW) instead. */
#define MT_MAX_CONFIG_BYTES (16 * 1024 * 1024)
#define MT_MAX_LAYERS 1024
#define MT_MAX_EXPERTS 4096
#define MT_MAX_HEADS 16384
#define MT_MAX_VOCAB 16777216       /* 2^24 */
#define MT_MAX_HIDDEN 1048576       /* 2^20 */
#define MT_MAX_EXPERT_LAYERS 65536  /* 2^16 */
#define MT_MAX_GRAPH_NODES 5000000

/* ---- config ----------------------------------------------------------------
 * A Hugging Face config.json. Every getter that fails sets an error on the
 * context naming the file, the line:col of the field (when present in the
 * file) and the field, and what was expected. Field names may be dotted to
 * reach nested objects ("rope_scaling.factor"). */
typedef struct mt_config mt_config;

/* path: a config.json, a directory holding one, a Hugging Face Hub cache
 * folder (models--org--name: refs/main names the snapshot), or a model id
 * "org/name" found offline in the Hub cache ($HF_HUB_CACHE, else
 * $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub). The file must be a regular file of at most
 * MT_MAX_CONFIG_BYTES (a device, FIFO or socket is refused without being read). */
MT_API mt_config *mt_config_load(mt_ctx *ctx, const char *path);
/* The same at a revision (a ref name such as "main", or a commit) of a cache
 * folder or model id; NULL revision: "main". */
MT_API mt_config *mt_config_load_revision(mt_ctx *ctx, const char *path, const char *revision);
/* The config.json those rules lead to (arena string), or NULL with an error
 * naming what was tried. */
MT_API const char *mt_hub_config_path(mt_ctx *ctx, const char *spec, const char *revision);
/* Parse from memory; `label` names the source in messages. */
MT_API mt_config *mt_config_parse(mt_ctx *ctx, const char *text, size_t len, const char *label);
MT_API const char *mt_config_path(const mt_config *c);  /* the file actually read */
/* A view of the object at `field` ("text_config") as a config of its own:
 * getters read inside it; messages and locations name the full path
 * ("text_config.hidden_size") in the same file. NULL when `field` is not an
 * object (no error set). */
MT_API mt_config *mt_config_sub(mt_config *c, const char *field);
MT_API mt_config *mt_config_parent(const mt_config *c); /* the config a view was taken from, or NULL */
MT_API mt_ctx *mt_config_ctx(const mt_config *c);
MT_API bool mt_config_has(const mt_config *c, const char *field); /* present and not null */
/* Getters: when the field is absent or null, *out = def and true is returned.
 * When present with the wrong type, false with an error. */
MT_API bool mt_config_int(mt_config *c, const char *field, int64_t def, int64_t *out);
MT_API bool mt_config_float(mt_config *c, const char *field, double def, double *out); /* ints accepted */
MT_API bool mt_config_bool(mt_config *c, const char *field, bool def, bool *out);
MT_API bool mt_config_str(mt_config *c, const char *field, const char *def, const char **out);
/* Required: absent is an error ("missing required field 'x'"). */
MT_API bool mt_config_req_int(mt_config *c, const char *field, int64_t *out);
/* Positive int (>0); absent takes def (def <= 0 means required). */
MT_API bool mt_config_pos_int(mt_config *c, const char *field, int64_t def, int64_t *out);
/* Raw access to a nested value (jansson json_t*), or NULL when absent/null;
 * the field "" is the config's (or the view's) own object. */
MT_API void *mt_config_json(const mt_config *c, const char *field);
/* Set an error located at `field` (line:col of its key when present). */
MT_API mt_status mt_config_error(mt_config *c, const char *field, const char *fmt, ...) MT_PRINTF(3, 4);
/* Line and column of the field's key in the file (0,0 when absent). */
MT_API void mt_config_locate(const mt_config *c, const char *field, int *line, int *col);
/* The getters' spellings before ABI 1 (mt_cfg_int, ...): one object, one prefix now
 * (docs/api.md, Changes). Source compatibility only, until 0.3; the shared library
 * exports the mt_config_* names. */
#ifndef MT_NO_DEPRECATED
#define mt_cfg_has mt_config_has
#define mt_cfg_int mt_config_int
#define mt_cfg_float mt_config_float
#define mt_cfg_bool mt_config_bool
#define mt_cfg_str mt_config_str
#define mt_cfg_req_int mt_config_req_int
#define mt_cfg_pos_int mt_config_pos_int
#define mt_cfg_json mt_config_json
#define mt_cfg_error mt_config_error
#define mt_cfg_locate mt_config_locate
#endif
/* The model_type; NULL with an error when absent (the message names
 * architectures[0] when present, to say which model_type to add). */
MT_API const char *mt_config_model_type(mt_config *c);
MT_API const char *mt_config_architecture(mt_config *c); /* architectures[0] or NULL */

/* ---- model -------------------------------------------------------------------- */
/* Attention implementation to trace (transformers' config._attn_implementation). */
typedef enum mt_attn_impl {
    MT_ATTN_IMPL_DEFAULT = 0, /* what transformers picks for the family (sdpa where it has it) */
    MT_ATTN_IMPL_EAGER,       /* the family's eager attention (matmul, softmax, matmul) */
    MT_ATTN_IMPL_SDPA,        /* F.scaled_dot_product_attention */
} mt_attn_impl;

typedef struct mt_build_opts {
    mt_dtype dtype;       /* MT_DTYPE_NONE: the config's torch_dtype (else text_config's; float32 if absent) */
    int64_t num_layers;   /* 0: from the config; at most MT_MAX_LAYERS (else MT_ERR_USAGE) */
    mt_attn_impl attn;    /* DEFAULT: the family's default; a choice the family does not have is an error */
    bool text_only;       /* a multimodal config (one with a text_config): trace its language model alone,
                             named as the standalone text checkpoint, with a note (else MT_ERR_USAGE) */
} mt_build_opts;

typedef struct mt_totals {
    int64_t params;                  /* unique parameters (tied counted once) */
    int64_t param_bytes;
    int64_t params_by_dtype[MT_DTYPE_COUNT];
    int64_t bytes_by_dtype[MT_DTYPE_COUNT];
    int64_t buffers;                 /* buffer elements */
    int64_t active_params;           /* parameters one token touches (== params when dense) */
    int64_t extra_params;            /* reported separately (DeepSeek MTP layer), not in params */
    int64_t text_params;             /* a multimodal model's language model alone (its text_config's
                                        checkpoint, tied counted once); 0 for a text-only model */
    int64_t text_param_bytes;
} mt_totals;

struct mt_tracer;
struct mt_model;

/* One architecture family. Capabilities are data here, not switches. */
typedef struct mt_arch {
    const char *model_type;               /* "llama" */
    const char *const *aliases;           /* other model_type spellings, NULL-terminated or NULL */
    const char *default_class;            /* "LlamaForCausalLM" */
    const char *example;                  /* a real checkpoint using it (for docs/help) */
    /* Read the config (with the family's defaults) and build the module tree on
     * m->root (struct mt_model, family.h). Runs inside a meta scope opened by
     * mt_model_build. */
    mt_status (*build)(struct mt_model *m);
    /* Trace the forward: placeholders are already created (m->inputs). Must
     * end by calling mt_tr_output. */
    mt_status (*forward)(struct mt_model *m, struct mt_tracer *tr);
    /* Optional: adjust the totals after the common count (active_params for
     * mixture-of-experts, extra_params for DeepSeek's MTP layer). NULL: dense. */
    mt_status (*totals)(const struct mt_model *m, mt_totals *t);
    /* Optional: the architectures[0] classes the family builds, NULL-terminated.
     * NULL: any class with default_class's head ("...ForCausalLM"). Another class
     * is built as default_class, with a note saying so (mt_model_note). */
    const char *const *classes;
    /* Optional: the family's config class default for max_position_embeddings
     * (transformers' __init__ default), used for the context length when a
     * config leaves the key out. 0: none known. */
    int64_t max_positions;
} mt_arch;

MT_API const mt_arch *mt_arch_find(const char *model_type);
MT_API int mt_arch_count(void);
MT_API const mt_arch *mt_arch_at(int i);
/* The registered model_type (or alias) nearest to a misspelt one, or NULL
 * when none is close (edit distance above a third of the name). */
MT_API const char *mt_arch_nearest(const char *model_type);
/* Comma-separated list of supported model_types (for messages). */
MT_API const char *mt_arch_list(mt_ctx *ctx);

/* A model built from a config: its module tree on the meta device, its
 * parameters and what reports show. Opaque here: a program that loads, traces
 * and exports reads it through the accessors below. Its fields are the
 * family-writing API's (struct mt_model in family.h), for the build and
 * forward of a family. Made by mt_model_build, owned by the context. */
typedef struct mt_model mt_model;

/* Build the module tree inside a meta scope: no parameter storage. Returns
 * the model (owned by the context), or NULL with the error on the context:
 * the config's (MT_ERR_CONFIG, located), an unsupported model_type
 * (MT_ERR_UNSUPPORTED, naming the nearest supported one), a bad option
 * (MT_ERR_USAGE). A NULL cfg returns NULL (the load that gave it failed). */
MT_API mt_model *mt_model_build(mt_ctx *ctx, mt_config *cfg, const mt_build_opts *opts);
/* The parameter or buffer with the full dotted name ("lm_head.weight",
 * tied aliases included), or NULL (no error set). */
MT_API mt_param *mt_model_param(const mt_model *m, const char *name);
/* Parameter and buffer totals into *out; MT_ERR_OVERFLOW when a count
 * overflows 64 bits. */
MT_API mt_status mt_model_totals(const mt_model *m, mt_totals *out);

/* ---- reading a model ---------------------------------------------------------
 * m is a model from mt_model_build (never NULL). Strings, modules, parameters
 * and arguments returned live in the context's arena: owned by the context,
 * valid until mt_ctx_free, never freed by the caller. None sets an error. */
MT_API mt_ctx *mt_model_ctx(const mt_model *m);
/* The config built from: the file's, or its text_config view when a
 * multimodal config was traced as its language model. */
MT_API mt_config *mt_model_config(const mt_model *m);
MT_API const mt_arch *mt_model_arch(const mt_model *m);   /* the family built */
MT_API const char *mt_model_type(const mt_model *m);      /* its model_type ("llama"; the text_config's
                                                             for a multimodal config traced as its language model) */
MT_API const char *mt_model_class(const mt_model *m);     /* the class built: architectures[0], or the
                                                             family's default class (then mt_model_note says so) */
MT_API mt_dtype mt_model_dtype(const mt_model *m);        /* the parameter dtype (mt_build_opts.dtype, else
                                                             torch_dtype, else float32) */
MT_API int64_t mt_model_num_layers(const mt_model *m);    /* the decoder layers built */
/* The attention traced: EAGER or SDPA when the family chooses between them,
 * DEFAULT when it has one attention only. */
MT_API mt_attn_impl mt_model_attn(const mt_model *m);
MT_API mt_module *mt_model_root(const mt_model *m);       /* the module tree's root (path "") */
/* What a reader must know about the model (a multimodal config traced as its
 * language model; a class built as the family's default class), or NULL. */
MT_API const char *mt_model_note(const mt_model *m);
/* named_parameters(): how many entries (tied aliases included, flagged by
 * mt_param.tied_to), and the i-th in PyTorch's order; NULL when i is out of
 * range. Buffers likewise, in named_buffers() order. */
MT_API int mt_model_param_count(const mt_model *m);
MT_API mt_param *mt_model_param_at(const mt_model *m, int i);
MT_API int mt_model_buffer_count(const mt_model *m);
MT_API mt_param *mt_model_buffer_at(const mt_model *m, int i);
/* The resolved hyper-parameters the family recorded for reports (hidden_size,
 * num_attention_heads, rope_theta, ...; the JSON's model.info): how many, and
 * the i-th (name and value) in recording order; NULL when i is out of range. */
MT_API int mt_model_info_count(const mt_model *m);
MT_API const mt_kwarg *mt_model_info_at(const mt_model *m, int i);

/* ---- tracing ------------------------------------------------------------------ */
typedef struct mt_trace_opts {
    mt_binding bind;          /* concrete values for batch/seq; empty: symbolic */
} mt_trace_opts;

/* Trace the model's forward over placeholders input_ids and attention_mask
 * ([batch, seq] int64). NULL on error. */
MT_API mt_graph *mt_model_trace(mt_model *m, const mt_trace_opts *opts);

/* ---- exporters ------------------------------------------------------------------ */
#define MT_JSON_FORMAT "metatrace-graph"
#define MT_JSON_VERSION 2
MT_API mt_status mt_export_json(mt_model *m, mt_graph *g, FILE *out);
MT_API mt_status mt_export_dot(mt_model *m, mt_graph *g, FILE *out);
MT_API mt_status mt_export_summary(mt_model *m, mt_graph *g, FILE *out);
/* Render through gvc: format "svg" or "png". */
MT_API mt_status mt_export_render(mt_model *m, mt_graph *g, const char *format, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
