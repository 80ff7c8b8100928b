/* metatrace — the interactive viewer: one self-contained HTML file.
 *
 * The file holds the traced graph as compact JSON (column arrays over a
 * string table), the viewer's script and style, and the layout library
 * (dagre, vendored under export/html/vendor/): nothing is fetched when it is
 * opened. The browser lays out only the module level being looked at, so a
 * model of hundreds of thousands of nodes opens in about a second. What the
 * page shows and how it is tested: docs/cli.md ("Interactive viewer") and
 * docs/ARCHITECTURE.md (the layout decision). */
#ifndef METATRACE_VIEWER_H
#define METATRACE_VIEWER_H

#include <stdio.h>

#include "plan.h"
#include "sizing.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_html_opts {
    /* Per-node FLOPs and the header's figures; NULL: the sizing pass is run
     * with its defaults. */
    const mt_sizing *sizing;
    /* A tensor-parallel plan of the same graph (mt_plan_run): the page adds
     * the plan view (every parameter's role, shard and per-rank shape, every
     * node's placement, the collectives). NULL: no plan. A plan with
     * valid=false is MT_ERR_USAGE. */
    const mt_plan *plan;
    /* The module the page opens at (its graph shown, the module tree opened
     * down to it), a dotted path such as "model.layers.3.mlp"; the rest of
     * the model stays reachable (Up, the breadcrumbs, the tree). NULL or "":
     * the viewer's choice (down from the root to the level that shows the
     * folded layers). A path that names no module is MT_ERR_USAGE, the
     * message naming the modules under the deepest part that exists. */
    const char *module;
    /* Levels of the module tree expanded when the page opens, counted from
     * `module` (its children are level 1), else from the root: 1 to 64. A
     * folded group of identical entries stays one row. 0: the viewer's
     * choice (the path to the opened module). Outside 0..64: MT_ERR_USAGE. */
    int depth;
} mt_html_opts;

/* Write the viewer of graph `g` traced from `m` to `out`.
 *
 * The page shows the module hierarchy (collapsible; consecutive identical
 * ModuleList entries, such as decoder layers or the experts of a MoE block,
 * folded into one group "layers 3-60 (x 58)", periodic patterns as one group
 * per phase), the graph of the module being viewed (its own nodes, each child
 * module as one box, folded groups as one box that unfolds in place), search
 * by node name, op, target and module path, and a panel with the selected
 * node's op, target, shape, dtype, module path, parameters (names, shapes,
 * dtypes, bytes), FLOPs and, under a plan, placement and roles.
 *
 * The loop glue of a ModuleList (a MoE block selecting an expert's tokens
 * before calling it and weighting and adding its output after) is drawn
 * inside the entry it serves; the panel names the module the node was
 * recorded in. Errors on m->ctx: MT_ERR_IO when writing fails, MT_ERR_NOMEM,
 * MT_ERR_USAGE for NULL arguments or an invalid plan. */
MT_API mt_status mt_export_html(mt_model *m, mt_graph *g, const mt_html_opts *opts, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
