/* FLOPs per node (sizing.h). Placeholder: every node 0 until the per-op
 * rules land. */
#include <metatrace/sizing.h>

const mt_sym *mt_node_flops(mt_ctx *ctx, const mt_node *n) {
    (void)n;
    return mt_sym_const(ctx, 0);
}
