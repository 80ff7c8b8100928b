/* The Mamba-2 mixer shared by transformers' Mamba-2 hybrids (BambaMixer;
 * GraniteMoeHybridMambaLayer subclasses it). A family reads its config into
 * an mt_mamba2 and calls these from its build and forward.
 *
 * Build (BambaMixer.__init__ order): act (ACT2FN[hidden_act]), conv1d
 * (torch.nn.Conv1d(conv_dim, conv_dim, d_conv, groups=conv_dim, padding=d_conv-1,
 * bias=conv_bias)), in_proj (hidden -> intermediate + conv_dim + heads), dt_bias,
 * A_log [heads], norm (the gated RMSNorm over intermediate, class norm_cls), D
 * [heads], out_proj (intermediate -> hidden); the module carries the attributes
 * num_heads, head_dim, n_groups, ssm_state_size, chunk_size, by which the
 * sizing pass finds its recurrent state.
 *
 * Forward (BambaMixer.forward -> torch_forward without a cache): the padding
 * mask twice (forward, then apply_mask_to_padding_states), in_proj, split into
 * gate / xBC / dt, act(conv1d(xBC.transpose(1, 2))[..., :seq].transpose(1, 2)),
 * the mask, split into x / B / C, A = -exp(A_log.float()), dt =
 * clamp(softplus(dt + dt_bias), dt_min, dt_max), x/B/C reshaped per head and
 * .float(), B/C repeat_interleave'd from groups to heads, the chunked SSD scan
 * with seq padded to chunk*((seq + chunk - 1)//chunk) (segment_sum, diagonal
 * blocks, chunk states, the recurrence over chunks + 1, the off-diagonal
 * output), the D skip, the slice back to seq, the gated norm, out_proj. */
#ifndef METATRACE_MAMBA2_H
#define METATRACE_MAMBA2_H

#include "blocks.h"

typedef struct mt_mamba2 {
    int64_t hidden, heads, head_dim, groups, state, conv_kernel, chunk;
    int64_t intermediate;    /* mamba_expand * hidden = heads * head_dim */
    int64_t conv_dim;        /* intermediate + 2 * groups * state */
    bool conv_bias, proj_bias;
    double dt_min, dt_max;   /* time_step_limit */
    double norm_eps;         /* the gated norm's (rms_norm_eps) */
    const char *hidden_act;  /* the conv's activation */
    mt_dtype dtype;
    const char *cls, *norm_cls; /* "BambaMixer", "BambaRMSNormGated" */
} mt_mamba2;

/* The mixer module `name` under parent; NULL on error (message on the context). */
mt_module *mt_mamba2_build(mt_model *m, mt_module *parent, const char *name, const mt_mamba2 *p);
/* x [batch, seq, hidden] through the mixer mx; amask the 2-D attention_mask the model passes its
 * Mamba layers. */
mt_tensor *mt_mamba2_forward(mt_tracer *tr, mt_module *mx, mt_tensor *x, mt_tensor *amask, const mt_mamba2 *p);

#endif
