/* Model construction (inside a meta scope), parameter collection, totals, and
 * the trace entry point. */
#include <string.h>

#include <jansson.h>

#include <metatrace/family.h>

#include "model_internal.h"
#include "models/blocks.h"

/* The private part; a model a program set up by hand (zero-initialised, on
 * its stack) gets one on first use. NULL only when the allocation failed. */
static struct mt_model_private *priv(mt_model *m) {
    if (!m->priv) m->priv = mt_alloc(m->ctx, sizeof *m->priv);
    return m->priv;
}

void mt_model_info(mt_model *m, const char *name, mt_arg value) {
    struct mt_model_private *p = priv(m);
    if (!p) return;
    if (p->ninfo == p->infocap) {
        int ncap = p->infocap ? p->infocap * 2 : 16;
        mt_kwarg *ni = mt_alloc_array(m->ctx, (size_t)ncap, sizeof *ni);
        if (!ni) return;
        if (p->ninfo) memcpy(ni, p->info, (size_t)p->ninfo * sizeof *ni);
        p->info = ni;
        p->infocap = ncap;
    }
    p->info[p->ninfo].name = name;
    p->info[p->ninfo].value = value;
    p->ninfo++;
}

int64_t mt__model_max_positions(const mt_model *m, const char **where, bool *is_default) {
    static const char *const fields[] = {"max_position_embeddings", "n_positions", "max_sequence_length",
                                         "seq_length", "n_ctx"};
    const char *w_unused;
    bool d_unused;
    if (!where) where = &w_unused;
    if (!is_default) is_default = &d_unused;
    *where = NULL;
    *is_default = false;
    mt_config *cfg = m ? m->cfg : NULL;
    mt_config *text = cfg && mt_config_has(cfg, "text_config") ? mt_config_sub(cfg, "text_config") : NULL;
    mt_config *in[2] = {cfg, text};
    for (int w = 0; w < 2; w++) {
        for (size_t i = 0; in[w] && i < sizeof fields / sizeof fields[0]; i++) {
            json_t *j = mt_config_json(in[w], fields[i]);
            if (!j || !json_is_integer(j) || json_integer_value(j) <= 0) continue;
            *where = w == 0 ? fields[i] : mt_sprintf(m->ctx, "text_config.%s", fields[i]);
            return (int64_t)json_integer_value(j);
        }
    }
    if (m && m->arch && m->arch->max_positions > 0) {
        *where = mt_sprintf(m->ctx, "%s's default max_position_embeddings", m->arch->model_type);
        *is_default = true;
        return m->arch->max_positions;
    }
    return 0;
}

const mt_kwarg *mt__model_infos(const mt_model *m, int *n) {
    *n = m->priv ? m->priv->ninfo : 0;
    return *n ? m->priv->info : NULL;
}

/* ---- accessors (model.h) ---- */
mt_ctx *mt_model_ctx(const mt_model *m) { return m->ctx; }
mt_config *mt_model_config(const mt_model *m) { return m->cfg; }
const mt_arch *mt_model_arch(const mt_model *m) { return m->arch; }
const char *mt_model_type(const mt_model *m) { return m->model_type; }
const char *mt_model_class(const mt_model *m) { return m->class_name; }
mt_dtype mt_model_dtype(const mt_model *m) { return m->dtype; }
int64_t mt_model_num_layers(const mt_model *m) { return m->num_layers; }
mt_attn_impl mt_model_attn(const mt_model *m) { return m->attn; } /* mt_model_build refused it unresolved */
mt_module *mt_model_root(const mt_model *m) { return m->root; }
const char *mt_model_note(const mt_model *m) { return m->note; }
int mt_model_param_count(const mt_model *m) { return m->params.n; }
mt_param *mt_model_param_at(const mt_model *m, int i) {
    return i >= 0 && i < m->params.n ? m->params.items[i] : NULL;
}
int mt_model_buffer_count(const mt_model *m) { return m->buffers.n; }
mt_param *mt_model_buffer_at(const mt_model *m, int i) {
    return i >= 0 && i < m->buffers.n ? m->buffers.items[i] : NULL;
}
int mt_model_info_count(const mt_model *m) { return m->priv ? m->priv->ninfo : 0; }
const mt_kwarg *mt_model_info_at(const mt_model *m, int i) {
    return i >= 0 && i < mt_model_info_count(m) ? &m->priv->info[i] : NULL;
}

/* named_parameters() order: a module's own parameters, then its children's,
 * depth first (pre-order over named_modules). */
static void collect(mt_model *m, mt_module *mod) {
    for (int i = 0; i < mod->params.n; i++) {
        mt_param *p = mod->params.items[i];
        mt_vec_push(m->ctx, p->is_buffer ? &m->buffers : &m->params, p);
    }
    for (int i = 0; i < mod->children.n; i++) collect(m, mod->children.items[i]);
}

void mt_model_collect(mt_model *m) {
    memset(&m->params, 0, sizeof m->params);
    memset(&m->buffers, 0, sizeof m->buffers);
    collect(m, m->root);
}

mt_param *mt_model_param(const mt_model *m, const char *name) {
    for (int i = 0; i < m->params.n; i++) {
        mt_param *p = m->params.items[i];
        if (strcmp(p->name, name) == 0) return p;
    }
    for (int i = 0; i < m->buffers.n; i++) {
        mt_param *p = m->buffers.items[i];
        if (strcmp(p->name, name) == 0) return p;
    }
    return NULL;
}

/* The head a class name builds: from "For" on ("ForCausalLM"), else its
 * "LMHeadModel" or "Model" ending (GPT2LMHeadModel, BertModel). */
static const char *class_head(const char *cls) {
    const char *f = strstr(cls, "For");
    if (f) return f;
    size_t n = strlen(cls);
    if (n >= 11 && strcmp(cls + n - 11, "LMHeadModel") == 0) return "LMHeadModel";
    if (n >= 5 && strcmp(cls + n - 5, "Model") == 0) return "Model";
    return cls;
}

static bool arch_builds(const mt_arch *a, const char *cls) {
    if (!a->classes) return strcmp(class_head(cls), class_head(a->default_class)) == 0;
    for (const char *const *c = a->classes; *c; c++)
        if (strcmp(*c, cls) == 0) return true;
    return false;
}

/* architectures[0] when the family builds that class; otherwise the family's
 * default class, and *note says what was asked for and what is traced. */
static const char *find_class(mt_model *m, const char **note) {
    const char *a = mt_config_architecture(m->cfg);
    *note = NULL;
    if (!a) return m->arch->default_class;
    if (arch_builds(m->arch, a)) return a;
    *note = mt_sprintf(m->ctx,
                       "architectures[0] '%s' is not a class metatrace builds for model_type '%s' (its head "
                       "differs); traced is %s, the head and the checkpoint names are that class's",
                       a, m->model_type, m->arch->default_class);
    return m->arch->default_class;
}

/* Multimodal wrappers whose language model metatrace can trace from their
 * text_config, with the text model_type transformers defaults to when the
 * text_config does not name one. text_in_top: a config without text_config keeps
 * the language model's fields at the top level (Qwen2_5_VLConfig passes its own
 * kwargs to Qwen2_5_VLTextConfig), so the top level is the text config. */
static const struct {
    const char *wrapper, *text_default, *towers;
    bool text_in_top;
} MULTIMODAL[] = {
    {"llava", "llama", "the CLIP vision tower and the projector", false},
    {"llava_next", "llama", "the CLIP vision tower and the projector", false},
    {"llava_onevision", "qwen2", "the SigLIP vision tower and the projector", false},
    {"mistral3", "mistral", "the Pixtral vision tower, the patch merger and the projector", false},
    {"gemma3", "gemma3_text", "the SigLIP vision tower and the multi-modal projector", false},
    {"paligemma", "gemma", "the SigLIP vision tower and the projector", false},
    {"idefics3", "llama", "the SigLIP vision tower and the connector", false},
    {"llama4", "llama4_text", "the vision tower and the multi-modal projector", false},
    {"gemma4", "gemma4_text", "the vision and audio towers and their embedders (embed_vision, embed_audio)", false},
    {"gemma3n", "gemma3n_text",
     "the vision tower (timm MobileNetV5), the audio tower (Gemma3nAudioEncoder) and their embedders (embed_vision, "
     "embed_audio)",
     false},
    {"qwen2_5_vl", "qwen2_5_vl_text", "the vision transformer (visual.*: patch embedding, blocks, patch merger)",
     true},
    {"qwen3_vl", "qwen3_vl_text", "the vision transformer and its deepstack mergers (model.visual)", false},
    {"qwen3_vl_moe", "qwen3_vl_moe_text", "the vision transformer and its deepstack mergers (model.visual)", false},
    {"qwen3_5", "qwen3_5_text", "the vision tower and its patch merger (model.visual)", false},
    {"qwen3_5_moe", "qwen3_5_moe_text", "the vision tower and its patch merger (model.visual)", false},
};

/* The MULTIMODAL row of model_type mt, or -1. */
static int multimodal_row(const char *mt) {
    for (size_t i = 0; i < sizeof MULTIMODAL / sizeof MULTIMODAL[0]; i++)
        if (strcmp(mt, MULTIMODAL[i].wrapper) == 0) return (int)i;
    return -1;
}

/* A multimodal config whose model_type is not registered: its language model
 * from text_config, when that family is registered. NULL otherwise (no error). */
static mt_config *text_model_config(mt_ctx *ctx, mt_config *cfg, const char *mt, const char **text_type,
                                    const char **towers) {
    mt_config *sub = mt_config_sub(cfg, "text_config");
    int row = multimodal_row(mt);
    const char *t = NULL;
    if (!sub && row >= 0 && MULTIMODAL[row].text_in_top) { /* the top level is the text config */
        *towers = MULTIMODAL[row].towers;
        t = MULTIMODAL[row].text_default;
        if (!mt_arch_find(t)) return NULL;
        *text_type = t;
        return cfg;
    }
    if (!sub) return NULL;
    const char *def = NULL;
    *towers = "the vision/audio towers and projectors";
    if (row >= 0) {
        def = MULTIMODAL[row].text_default;
        *towers = MULTIMODAL[row].towers;
    }
    if (!mt_config_str(sub, "model_type", def, &t)) return NULL;
    if (!t || !mt_arch_find(t)) {
        (void)ctx;
        return NULL;
    }
    *text_type = t;
    return sub;
}

/* Before building: layers x experts, the number of expert blocks the family
 * would create, from the fields families read them from (each within its own
 * limit, checked by the getter). Every field is an upper bound (a family that
 * makes only some layers sparse builds fewer), and a field of the wrong type
 * is left for the family to report. Each expert costs modules, parameters and
 * a dozen graph nodes, so a product past MT_MAX_EXPERT_LAYERS is refused
 * before any of it is allocated. */
static const char *const LAYER_FIELDS[] = {"num_hidden_layers", "n_layer", "num_layers", "encoder_layers",
                                           "decoder_layers", "num_decoder_layers"};
static const char *const EXPERT_FIELDS[] = {"num_local_experts", "n_routed_experts", "num_experts"};

static bool field_count(mt_config *cfg, const char *field, int64_t *out) {
    json_t *v = mt_config_json(cfg, field);
    *out = 0;
    if (!v || !(json_is_integer(v) || json_is_real(v))) return true;
    return mt_config_int(cfg, field, 0, out);
}

static bool check_expert_layers(mt_ctx *ctx, mt_config *cfg, int64_t layers_override) {
    int64_t layers = 0, experts = 0, v;
    const char *layer_field = NULL, *expert_field = NULL;
    for (size_t i = 0; i < sizeof LAYER_FIELDS / sizeof LAYER_FIELDS[0]; i++) {
        if (!field_count(cfg, LAYER_FIELDS[i], &v)) return false;
        if (v > layers) layers = v, layer_field = LAYER_FIELDS[i];
    }
    for (size_t i = 0; i < sizeof EXPERT_FIELDS / sizeof EXPERT_FIELDS[0]; i++) {
        if (!field_count(cfg, EXPERT_FIELDS[i], &v)) return false;
        if (v > experts) experts = v, expert_field = EXPERT_FIELDS[i];
    }
    if (layers_override > 0) layers = layers_override;
    if (!expert_field || layers <= 0) return true;
    if (layers * experts <= MT_MAX_EXPERT_LAYERS) return true; /* layers <= 2^10, experts <= 2^12: no overflow */
    mt_config_error(cfg, expert_field,
                 "%lld experts x %lld layers (%s) = %lld expert blocks, more than the limit of %d; "
                 "trace fewer layers with --layers (docs/cli.md, Limits)",
                 (long long)experts, (long long)layers, layers_override > 0 ? "--layers" : layer_field,
                 (long long)(layers * experts), MT_MAX_EXPERT_LAYERS);
    (void)ctx;
    return false;
}

mt_model *mt_model_build(mt_ctx *ctx, mt_config *cfg, const mt_build_opts *opts) {
    if (!cfg) return NULL;
    if (opts && opts->num_layers > MT_MAX_LAYERS) {
        mt_fail(ctx, MT_ERR_USAGE, "--layers %lld: more than the limit of %d layers (docs/cli.md, Limits)",
                (long long)opts->num_layers, MT_MAX_LAYERS);
        return NULL;
    }
    const char *mt = mt_config_model_type(cfg);
    if (!mt) return NULL;
    const mt_arch *arch = mt_arch_find(mt);
    const char *note = NULL;
    bool text_only = opts && opts->text_only;
    int mm_row = multimodal_row(mt);
    if (text_only && !mt_config_sub(cfg, "text_config") && !(mm_row >= 0 && MULTIMODAL[mm_row].text_in_top)) {
        mt_fail(ctx, MT_ERR_USAGE,
                "--text-only: model_type '%s' has no text_config: it is a language model already, traced whole",
                mt);
        return NULL;
    }
    if (!arch || text_only) {
        const char *text_type = NULL, *towers = NULL;
        mt_config *sub = text_model_config(ctx, cfg, mt, &text_type, &towers);
        if (mt_ctx_status(ctx) != MT_OK) return NULL;
        if (sub == cfg) {
            note = mt_sprintf(ctx,
                              "model_type '%s' is multimodal: traced is its language model (its top-level fields, "
                              "model_type '%s', under the checkpoint's own names model.* and lm_head); %s is not "
                              "included",
                              mt, text_type, towers);
            mt = text_type;
            arch = mt_arch_find(mt);
        } else if (sub) {
            note = mt_sprintf(ctx,
                              "model_type '%s' is multimodal: traced is its language model (text_config, "
                              "model_type '%s', named as the standalone %s checkpoint); %s are not included",
                              mt, text_type, text_type, towers);
            cfg = sub;
            mt = text_type;
            arch = mt_arch_find(mt);
        } else if (text_only) {
            mt_config_error(cfg, "text_config", "--text-only: the language model of model_type '%s' (text_config) "
                            "is not a family metatrace has; supported: %s", mt, mt_arch_list(ctx));
            return NULL;
        } else if (mm_row >= 0) {
            /* a wrapper we know: say what is missing rather than "unsupported" */
            mt_config *text = mt_config_sub(cfg, "text_config");
            const char *tt = NULL;
            if (!text)
                mt_config_error(cfg, "text_config",
                                "expected a text_config object: model_type '%s' is multimodal, and its language "
                                "model (model_type '%s' unless text_config names another) is read from it",
                                mt, MULTIMODAL[mm_row].text_default);
            else if (mt_config_str(text, "model_type", MULTIMODAL[mm_row].text_default, &tt))
                mt_config_error(text, "model_type",
                                "the language model of multimodal model_type '%s' is '%s', not a family metatrace "
                                "has; supported: %s", mt, tt ? tt : "?", mt_arch_list(ctx));
            return NULL;
        }
    }
    if (!arch) {
        const char *near = mt_arch_nearest(mt);
        mt_config_error(cfg, "model_type", "unsupported model_type '%s'%s%s%s; supported: %s", mt,
                     near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "",
                     mt_arch_list(ctx));
        return NULL;
    }
    mt_model *m = mt_alloc(ctx, sizeof *m);
    if (!m) return NULL;
    m->ctx = ctx;
    if (!priv(m)) return NULL;
    m->cfg = cfg;
    m->arch = arch;
    m->model_type = mt_strdup(ctx, mt);
    const char *class_note = NULL;
    m->class_name = find_class(m, &class_note);
    m->note = note && class_note ? mt_sprintf(ctx, "%s; %s", note, class_note) : note ? note : class_note;
    m->dtype = opts ? opts->dtype : MT_DTYPE_NONE;
    m->num_layers = opts ? opts->num_layers : 0;
    m->attn = opts ? opts->attn : MT_ATTN_IMPL_DEFAULT;
    if (m->attn != MT_ATTN_IMPL_DEFAULT && m->attn != MT_ATTN_IMPL_EAGER && m->attn != MT_ATTN_IMPL_SDPA) {
        mt_fail(ctx, MT_ERR_USAGE, "mt_build_opts.attn: invalid value %d", (int)m->attn);
        return NULL;
    }
    m->root = mt_module_new(ctx, NULL, "", m->class_name);
    if (!m->root) return NULL;

    /* The parameter dtype (override, else torch_dtype) is resolved once here so
     * every family and every report sees it. */
    if (mt_model_read_dtype(m, &m->dtype) != MT_OK) return NULL;
    /* a multimodal config's language model is sized by its text_config (the families that read it) */
    mt_config *text = mt_config_sub(cfg, "text_config");
    if (!check_expert_layers(ctx, cfg, m->num_layers) || (text && !check_expert_layers(ctx, text, m->num_layers)))
        return NULL;
    mt_meta_scope_enter(ctx);
    mt_status st = arch->build(m);
    mt_meta_scope_exit(ctx);
    if (st != MT_OK || mt_ctx_status(ctx) != MT_OK) return NULL;
    /* A family that does not resolve --attn (mt_attn_choose) traces one attention only:
     * an explicit choice is refused rather than silently ignored. */
    if (!m->attn_resolved && m->attn != MT_ATTN_IMPL_DEFAULT) {
        mt_fail(ctx, MT_ERR_UNSUPPORTED,
                "--attn %s: not modelled for model_type '%s' (metatrace traces its default attention only)",
                m->attn == MT_ATTN_IMPL_EAGER ? "eager" : "sdpa", m->model_type);
        return NULL;
    }
    mt_model_collect(m);
    return mt_ctx_status(ctx) == MT_OK ? m : NULL;
}

static bool tensor_numel(mt_ctx *ctx, const mt_tensor *t, int64_t *out) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (!mt_sym_is_const(t->shape[i]))
            return mt_fail(ctx, MT_ERR_INTERNAL, "parameter with symbolic shape"), false;
        if (!mt_checked_mul(ctx, n, mt_sym_const_value(t->shape[i]), &n, "parameter size")) return false;
    }
    *out = n;
    return true;
}

mt_status mt_model_totals(const mt_model *m, mt_totals *out) {
    memset(out, 0, sizeof *out);
    mt_ctx *ctx = m->ctx;
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        if (p->tied_to) continue;
        int64_t n, bytes;
        if (!tensor_numel(ctx, p->t, &n)) return mt_ctx_status(ctx);
        if (!mt_checked_mul(ctx, n, (int64_t)mt_dtype_size(p->t->dtype), &bytes, "parameter bytes") ||
            !mt_checked_add(ctx, out->params, n, &out->params, "parameter total") ||
            !mt_checked_add(ctx, out->param_bytes, bytes, &out->param_bytes, "parameter bytes") ||
            !mt_checked_add(ctx, out->params_by_dtype[p->t->dtype], n, &out->params_by_dtype[p->t->dtype], "parameter total") ||
            !mt_checked_add(ctx, out->bytes_by_dtype[p->t->dtype], bytes, &out->bytes_by_dtype[p->t->dtype], "parameter bytes"))
            return mt_ctx_status(ctx);
    }
    for (int i = 0; i < m->buffers.n; i++) {
        const mt_param *p = m->buffers.items[i];
        int64_t n;
        if (!tensor_numel(ctx, p->t, &n)) return mt_ctx_status(ctx);
        if (!mt_checked_add(ctx, out->buffers, n, &out->buffers, "buffer total")) return mt_ctx_status(ctx);
    }
    out->active_params = out->params;
    if (m->arch && m->arch->totals) return m->arch->totals(m, out);
    return MT_OK;
}

const mt_sym *mt_model_input_dim(mt_model *m, const char *name) {
    const mt_binding *b = m->priv ? m->priv->bind : NULL;
    for (int i = 0; b && i < b->n; i++)
        if (strcmp(b->names[i], name) == 0) {
            if (i < 32) m->priv->bind_used |= 1u << i;
            return mt_sym_const(m->ctx, b->values[i]);
        }
    const mt_sym *s = mt_sym_var(m->ctx, name);
    mt_symbol_info *info = s ? mt_sym_info_of(m->ctx, s) : NULL;
    if (info && !info->origin) info->origin = "input";
    return s;
}

mt_graph *mt_model_trace(mt_model *m, const mt_trace_opts *opts) {
    mt_ctx *ctx = m->ctx;
    if (mt_ctx_status(ctx) != MT_OK) return NULL;
    const mt_binding *b = opts ? &opts->bind : NULL;
    if (b && b->n > 32) {
        mt_fail(ctx, MT_ERR_USAGE, "too many bindings (%d; at most 32)", b->n);
        return NULL;
    }
    for (int i = 0; b && i < b->n; i++) {
        if (b->values[i] <= 0) {
            mt_fail(ctx, MT_ERR_USAGE, "cannot bind %s=%lld: expected a positive integer", b->names[i],
                    (long long)b->values[i]);
            return NULL;
        }
    }
    struct mt_model_private *p = priv(m);
    mt_graph *g = p ? mt_graph_new(ctx) : NULL;
    if (!g) return NULL;
    mt_tracer tr;
    mt_tr_init(&tr, m, g);
    p->bind = b;
    p->bind_used = 0;
    const mt_sym *dims[2] = {mt_model_input_dim(m, "batch"), mt_model_input_dim(m, "seq")};
    memset(&m->inputs, 0, sizeof m->inputs);
    mt_vec_push(ctx, &m->inputs, mt_tr_placeholder(&tr, "input_ids", MT_INT64, 2, dims));
    mt_vec_push(ctx, &m->inputs, mt_tr_placeholder(&tr, "attention_mask", MT_INT64, 2, dims));
    if (mt_ctx_status(ctx) != MT_OK) return NULL;
    mt_status st = m->arch->forward(m, &tr);
    p->bind = NULL;
    if (st != MT_OK || mt_ctx_status(ctx) != MT_OK) {
        if (mt_ctx_status(ctx) == MT_OK) mt_fail(ctx, MT_ERR_INTERNAL, "%s forward failed", m->model_type);
        return NULL;
    }
    for (int i = 0; b && i < b->n; i++)
        if (!(p->bind_used & (1u << i))) {
            mt_fail(ctx, MT_ERR_USAGE,
                    "cannot bind '%s': no input of this %s model has that symbol (inputs use batch "
                    "and seq; encoder-decoders also dec_seq; vision-language models also images)",
                    b->names[i], m->model_type);
            return NULL;
        }
    return g;
}
