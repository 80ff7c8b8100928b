/* The SigLIP vision tower (transformers' SiglipVisionModel, models/siglip/
 * modeling_siglip.py), for multimodal families that embed it (Gemma 3). */
#ifndef METATRACE_SIGLIP_H
#define METATRACE_SIGLIP_H

#include "blocks.h"

typedef struct mt_siglip_spec {
    int64_t hidden, intermediate, layers, heads, head_dim, channels, image_size, patch_size;
    int64_t patches_side;      /* image_size / patch_size */
    double eps;                /* layer_norm_eps */
    const char *hidden_act;
    mt_dtype dtype;
} mt_siglip_spec;

/* Read a vision_config (SiglipVisionConfig's defaults) from `vcfg`, a view of
 * the wrapper's config; `layers_override` > 0 traces that many encoder layers
 * (--layers). Refuses vision_use_head (the attention-pooling head: not in the
 * towers metatrace traces). Errors are located in vcfg. */
mt_status mt_siglip_read(mt_model *m, mt_config *vcfg, int64_t layers_override, mt_siglip_spec *v);
/* SiglipVisionModel named `name` under parent: vision_model.{embeddings,
 * encoder.layers.N, post_layernorm}, in __init__ order. m->cfg must be the
 * vision config's view while it runs (activation errors are located there). */
mt_module *mt_siglip_build(mt_model *m, mt_module *parent, const char *name, const mt_siglip_spec *v);
/* last_hidden_state [images, patches, hidden] of pixel_values [images, channels,
 * image_size, image_size], with the attention implementation m->attn. */
mt_tensor *mt_siglip_forward(mt_tracer *tr, mt_module *tower, mt_tensor *pixel_values, const mt_siglip_spec *v);

#endif
