/* Qwen2.5-VL's vision pieces that Qwen3-VL's tower shares (qwen2_5_vl.c defines them,
 * qwen3_vl.c uses them): the tower's hyper-parameters, the Conv3d patch embedding and
 * the vision attention batched over equal chunks of rows. */
#ifndef METATRACE_QWEN_VL_H
#define METATRACE_QWEN_VL_H

#include "blocks.h"

typedef struct qwen_vit {
    int64_t depth, hidden, intermediate, heads, head_dim, channels, patch, temporal, merge, window, out_hidden;
    int64_t win;      /* merged tokens a side of one window: window_size // merge // patch (Qwen2.5-VL) */
    int64_t side;     /* patches a side of the traced image */
    int64_t patches;  /* side^2 */
    int64_t tokens;   /* image tokens per image: patches / merge^2 */
    int64_t in_dim;   /* C * T * P * P: one row of pixel_values */
    const bool *full; /* per block: full attention (fullatt_block_indexes; Qwen2.5-VL) */
    const char *act;
    mt_dtype dtype;
} qwen_vit;

/* The handles the towers' forwards read (blocks.h, "handles bound at build"). The tower's,
 * bound to the vision model by the family's build: its patch embedding (filled by
 * mt_qwen_vit_patch_embed_new), rotary module, blocks and merger, and the family's extras. */
typedef struct mt_qwen_vit_h {
    mt_module *patch_embed, *proj; /* patch_embed and its Conv3d */
    mt_param *proj_w, *proj_b;     /* proj_b NULL without a bias (Qwen2.5-VL) */
    mt_module *pos_embed;          /* Qwen3-VL's learned position table; NULL: none */
    mt_module *rotary;             /* rotary_pos_emb */
    mt_param *inv_freq;            /* its buffer */
    mt_module *blocks, *merger;
    mt_module *deepstack;          /* Qwen3-VL's deepstack_merger_list; NULL: none */
} mt_qwen_vit_h;
extern const mt_handle_kind mt_qwen_vit_h_kind;
/* A vision block's (Qwen2_5_VLVisionBlock, Qwen3VLVisionBlock): the attention holds an mt_attn_h
 * (qkv the fused projection, o its proj), the MLP the handle of its own kind. */
typedef struct mt_qwen_vit_block_h {
    mt_module *norm1, *attn, *norm2, *mlp;
} mt_qwen_vit_block_h;
extern const mt_handle_kind mt_qwen_vit_block_h_kind;
/* A patch merger's: its norm (ln_q, norm), the two Linears and the activation between them,
 * and the Sequential holding them (Qwen2.5-VL's mlp; NULL when they are the merger's own). */
typedef struct mt_qwen_vit_merger_h {
    mt_module *norm, *seq, *fc1, *act, *fc2;
} mt_qwen_vit_merger_h;
extern const mt_handle_kind mt_qwen_vit_merger_h_kind;

/* patch_embed (class `cls`) under vis: proj nn.Conv3d(in_channels, hidden, kernel = stride =
 * (temporal_patch_size, patch_size, patch_size)), with a bias when `bias` (Qwen3-VL) or without
 * (Qwen2.5-VL); its modules and parameters stored in th. */
mt_module *mt_qwen_vit_patch_embed_new(mt_model *m, mt_module *vis, const qwen_vit *v, const char *cls, bool bias,
                                       mt_qwen_vit_h *th);
/* Its forward on the processor's rows px [n, C * T * P * P]: x.view(-1, C, T, P, P),
 * proj(x.to(dtype=proj.weight.dtype)).view(-1, hidden), traced inside the module. */
mt_tensor *mt_qwen_vit_patch_embed(mt_tracer *tr, const qwen_vit *v, const mt_qwen_vit_h *th, mt_tensor *px);
/* The vision attention (Qwen2_5_VLVisionAttention, Qwen3VLVisionAttention; `at` bound to an
 * mt_attn_h) on x [seq, dim]: qkv, reshape(seq, 3, heads, -1).permute(1, 0, 2, 3).unbind(0),
 * apply_rotary_pos_emb_vision (float32, cos/sin.unsqueeze(-2)), the attention over the
 * cu_seqlens chunks batched as [seq / chunk, heads, chunk, head_dim], reshape(seq, -1), proj. */
mt_tensor *mt_qwen_vit_attn(mt_tracer *tr, const qwen_vit *v, mt_module *at, mt_tensor *x, mt_tensor *cos,
                            mt_tensor *sin, int64_t chunk);
/* The Qwen vision-language models' inputs after input_ids and attention_mask, in their forward's
 * argument order: position_ids [3, batch, seq] int64 (get_rope_index's result), pixel_values
 * [images * patches, in_dim] in dtype dt (the processor's rows at the fixed grid), and
 * image_grid_thw [images, 3] int64 (every row (1, side, side); read only by the Python loops the
 * trace turns into constants, it carries the image count); each appended to m->inputs. */
/* position_ids of the language model traced alone (Qwen2_5_VLTextModel, Qwen3VLTextModel without
 * position_ids), an mt_dec_spec hook: cache_position.view(1, 1, -1).expand(3, inputs_embeds.shape[0], -1),
 * the three M-RoPE rows equal. */
mt_tensor *mt_qwen_vl_text_position_ids(mt_tracer *tr, mt_model *m, const mt_dec_spec *s, mt_tensor *cache_pos,
                                        mt_tensor *h);
mt_status mt_qwen_vl_inputs(mt_model *m, mt_tracer *tr, const qwen_vit *v, mt_dtype dt, mt_tensor **position_ids,
                            mt_tensor **pixel_values);

/* Qwen3-VL's vision tower (qwen3_vl.c defines it), which Qwen3.5's wrapper (qwen3_5.c) composes without
 * its deepstack mergers: Conv3d patches with a bias, the learned position table interpolated to the
 * fixed grid, 2-D rotary, LayerNorm blocks with the GELU MLP, the patch merger. */
typedef struct mt_qwen3_vit {
    qwen_vit v;
    const char *cls;    /* class prefix: "Qwen3VL", "Qwen3_5", "Qwen3_5Moe" (set before reading) */
    bool deepstack_on;  /* deepstack_visual_indexes read and its mergers built (Qwen3-VL; set before reading) */
    bool cast_pos;      /* (hidden_states + pos_embeds).to(input dtype) (Qwen3-VL) rather than the bare sum */
    int64_t grid;       /* num_grid_per_side */
    int64_t pos_num;    /* num_position_embeddings */
    int64_t *deepstack; /* deepstack_visual_indexes, in the config's order (below the built depth) */
    int n_deepstack;    /* entries of deepstack_visual_indexes (mergers built) */
    mt_module *visual;  /* set by the caller to mt_qwen3_vit_build's result */
    mt_tensor **ds_feats; /* the deepstack features in the order the blocks give them (while tracing) */
    int n_feats;
} mt_qwen3_vit;
/* The vision config c (m->cfg is c while it runs; --layers cuts the depth): Qwen3VLVisionConfig's defaults. */
mt_status mt_qwen3_vit_read(mt_model *m, mt_config *c, mt_qwen3_vit *t);
/* The tower `visual` under parent, its handles bound. */
mt_module *mt_qwen3_vit_build(mt_model *m, mt_qwen3_vit *t, mt_module *parent);
/* Its forward (pixel_values, grid_thw) on the fixed grid: the merged features [images * tokens, out_hidden];
 * the deepstack features into t->ds_feats. */
mt_tensor *mt_qwen3_vit_forward(mt_tracer *tr, mt_qwen3_vit *t, mt_tensor *px, const mt_sym *images);
/* The wrapper's checks of the tower against its language model (vc: the vision config, top: the
 * wrapper's): out_hidden_size equals the decoder's hidden size, image_token_id inside its vocabulary. */
mt_status mt_qwen3_vit_check(const mt_qwen3_vit *t, mt_config *vc, mt_config *top, int64_t image_token,
                             int64_t hidden, int64_t vocab);
/* The tower's info rows (deepstack_mergers with its mergers) and the note on the traced image. */
void mt_qwen3_vit_info(mt_model *m, const mt_qwen3_vit *t, int64_t image_token);

#endif
