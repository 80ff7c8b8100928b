/* Library-internal graph settings (not part of the public API). */
#ifndef METATRACE_GRAPH_INTERNAL_H
#define METATRACE_GRAPH_INTERNAL_H

#include <stdint.h>

#include <metatrace/graph.h>

/* The most nodes `g` may get: mt_graph_append fails (MT_ERR_OVERFLOW, naming
 * the limit) instead of recording one more. A new graph has
 * MT_MAX_GRAPH_NODES; max <= 0 restores that default. Tests use it to reach
 * the guard without recording millions of nodes. */
void mt__graph_set_max_nodes(mt_graph *g, int64_t max);

/* ---- vouched layer runs ------------------------------------------------------
 * A caller that runs a stack of repeated layers (the shared decoder loop,
 * mt_dec_forward) may vouch for each layer's forward: the nodes it records
 * between mt__graph_run_begin and mt__graph_run_end are a function of the
 * layer's own module subtree (classes, parameters, attributes and the handles
 * its build bound), of the `in` tensors it passes, and of what every layer of
 * the stack shares, nothing else (no layer index, no state carried from one
 * layer to the next). The sizing pass then knows two such layers are
 * identical from their modules and inputs without reading their nodes'
 * arguments (sizing.c, "identical layers"); the test suite checks the vouch
 * against the node-by-node hash on every config it has. A graph without runs
 * (any other family, a graph built by hand) is read node by node. */
#define MT__RUN_MAX_IN 4
typedef struct mt__layer_run {
    const struct mt_module *layer;
    int first, end;                      /* nodes [first, end); end -1 while open */
    int nin;
    int nstream;                         /* in[0..nstream): the stream from the layer before (each
                                          * layer its own); the rest shared by the layers */
    const mt_tensor *in[MT__RUN_MAX_IN]; /* NULL entries are significant (no mask, NoPE) */
} mt__layer_run;
/* False only on MT_ERR_NOMEM (the error is set) or nin > MT__RUN_MAX_IN or
 * nstream outside [0, nin] (MT_ERR_INTERNAL). */
bool mt__graph_run_begin(mt_graph *g, const struct mt_module *layer, mt_tensor *const *in, int nin, int nstream);
void mt__graph_run_end(mt_graph *g);
/* The closed runs in recording order (NULL, 0: none). */
const mt__layer_run *mt__graph_runs(const mt_graph *g, int *n);
/* Forget the runs (tests: the sizing pass then reads every node). */
void mt__graph_drop_runs(mt_graph *g);

#endif
