/* metatrace — pictures of a traced model: DOT, SVG and PNG (docs/cli.md,
 * "Pictures").
 *
 * By default a picture is drawn for a person: repeated identical ModuleList
 * entries (layers, the experts of a MoE block) folded into one node after the
 * first, short labels ("q_proj  Linear  [b, s, 4096]"), nodes filled by op
 * class with a legend, the residual stream as a straight spine. Options draw
 * less (a depth, one subtree) or more (every layer, FX labels). */
#ifndef METATRACE_PICTURE_H
#define METATRACE_PICTURE_H

#include <stdio.h>

#include "plan.h"
#include "sizing.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Lists with at least this many entries fold their repeats by default. */
#define MT_PICTURE_FOLD_MIN 5

typedef struct mt_picture_opts {
    /* 0: every module. N >= 1: modules deeper than N (the root's children,
     * or with `module` the subtree root's children, are depth 1) are drawn
     * as one node each, with input/output shapes, parameters and FLOPs. */
    int depth;
    /* NULL or "": the whole model. Otherwise the dotted path of the one
     * module drawn (with what feeds it and what reads it as small in/out
     * nodes); a path that names no module is MT_ERR_USAGE, the message naming
     * the nearest valid paths. */
    const char *module;
    /* Draw every entry of a repeated list (no folding). Folding applies to
     * lists of at least MT_PICTURE_FOLD_MIN entries: a run of identical (or
     * periodic) entries keeps its first period drawn and the rest becomes
     * one node "layers 1-31 (x 31, identical)" with in/out shapes, parameter
     * and FLOP totals; edges into and out of it are those of its nodes. */
    bool unfold;
    /* FX labels (node name, op kind and target, shape and dtype) instead of
     * the short ones. */
    bool verbose_labels;
    /* The plain FX graph: no fills, legend or layout hints, the writer's
     * original attributes (for tools that read the DOT). */
    bool plain;
    /* FLOPs of collapsed and folded nodes; NULL: the sizing pass is run with
     * its defaults when a collapsed or folded node is drawn. */
    const mt_sizing *sizing;
} mt_picture_opts;

/* The DOT text (opts NULL: the defaults above, as mt_export_dot). Errors on
 * m->ctx: MT_ERR_USAGE for a bad `module` or depth, MT_ERR_IO for a failed
 * write, MT_ERR_NOMEM. */
MT_API mt_status mt_export_dot_opts(mt_model *m, mt_graph *g, const mt_picture_opts *opts, FILE *out);

/* SVG or PNG ("svg", "png") of the same picture through Graphviz. A PNG
 * larger than cairo can draw (32,767 pixels a side) is refused
 * (MT_ERR_UNSUPPORTED) with advice instead of being scaled down to
 * illegibility. */
MT_API mt_status mt_export_render_opts(mt_model *m, mt_graph *g, const char *format, const mt_picture_opts *opts,
                                       FILE *out);

/* The plan's DOT (mt_plan_export_dot: roles, placements, collectives) drawn
 * with the picture options (NULL: folded, short labels). Its own fills replace
 * the op-class fills and the legend; an edge into or out of a folded or
 * collapsed node is drawn red when the first producer/consumer pair it stands
 * for carries a collective. */
MT_API mt_status mt_plan_export_dot_opts(const mt_plan *p, const mt_picture_opts *opts, FILE *out);
/* The plan's picture rendered as "svg" or "png" (the same guards as
 * mt_export_render_opts: PNG past cairo's size refused). */
MT_API mt_status mt_plan_export_render_opts(const mt_plan *p, const char *format, const mt_picture_opts *opts,
                                            FILE *out);

/* What a picture would draw: nodes (the legend included), edges and clusters
 * after folding and collapsing, the widest rank (nodes, and edges passing
 * through, on one level of the longest-path layering), and the seconds
 * Graphviz's dot layout is expected to take on it (a fit of measured times:
 * 2.2e-5 s x (nodes + edges) x widest rank; docs/cli.md "Pictures"), for a
 * caller to warn or refuse before starting. Nothing is written. */
typedef struct mt_picture_size {
    int nodes, edges, clusters;
    int widest_rank;
    double layout_seconds;
} mt_picture_size;
MT_API mt_status mt_picture_measure(mt_model *m, mt_graph *g, const mt_picture_opts *opts, mt_picture_size *out);

#ifdef __cplusplus
}
#endif
#endif
