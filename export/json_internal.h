/* Private: the graph JSON document with one extra top-level member (the
 * tensor-parallel plan), written by the same writer as mt_export_json. */
#ifndef METATRACE_JSON_INTERNAL_H
#define METATRACE_JSON_INTERNAL_H

#include <jansson.h>
#include <stdio.h>

#include <metatrace/metatrace.h>

#include "model_internal.h"

/* `extra` (consumed, may be NULL) is written last, under `key`; the sizing
 * member comes from `sz` (NULL: computed with the defaults); `opts` (NULL:
 * the defaults, indented and with the path and version) as for
 * mt_export_json_opts. */
mt_status mtx_export_json_full(mt_model *m, mt_graph *g, const mt_sizing *sz, const mt_json_opts *opts,
                               const char *key, json_t *extra, FILE *out);
/* The same with the default options. */
mt_status mtx_export_json_member(mt_model *m, mt_graph *g, const mt_sizing *sz, const char *key, json_t *extra,
                                 FILE *out);
/* The "sizing" member, written at the writer's place (sizing_json.c). */
struct mtx_jw;
void mtx_sizing_write(struct mtx_jw *w, const mt_sizing *s);

#endif
