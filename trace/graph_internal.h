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

#endif
