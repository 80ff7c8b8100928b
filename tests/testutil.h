/* Shared helpers for the Criterion tests. */
#ifndef METATRACE_TESTUTIL_H
#define METATRACE_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <metatrace/metatrace.h>
#include <metatrace/family.h> /* the tests build toy models and trace by hand */

/* Absolute path of a file under the source tree ("samples/configs/x.json"). */
const char *tu_src(const char *rel);
/* The shipped configs, "samples/configs/NAME.config.json" (relative to the
 * source tree), sorted; returns how many (static storage, up to 64). */
int tu_shipped_configs(const char *const **out);
/* A fresh private temporary directory (tests run forked and in parallel). */
const char *tu_tmpdir(void);
/* Write text to dir/name; returns the path (static storage rotates, copy if kept). */
char *tu_write(const char *dir, const char *name, const char *text);
/* Read a whole file (malloc'd, NUL-terminated) or NULL. */
char *tu_read(const char *path, size_t *len);
bool tu_exists(const char *path);

/* Run the metatrace CLI with argv (NULL-terminated, without argv[0]); captures
 * stdout and stderr (malloc'd) and returns the exit status (-1 on crash). */
int tu_run_cli(const char *const *argv, char **out, char **err);

/* Build a model from a config file with optional layer override; asserts. */
mt_model *tu_build(mt_ctx *ctx, const char *config_path, int64_t layers);
/* Build a model from config text (labelled "config.json" in messages) with an
 * optional layer override; asserts. */
mt_model *tu_build_text(mt_ctx *ctx, const char *json, int64_t layers);
/* Assert a parameter's full shape (all dims); TU_SHAPE(m, name, d0, d1, ...). */
void tu_check_dims(mt_model *m, const char *name, int ndim, const int64_t *dims);
#define TU_SHAPE(m, name, ...)                                                              \
    tu_check_dims(m, name, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),     \
                  (int64_t[]){__VA_ARGS__})
/* Assert the graph's output is logits [batch, seq, vocab]. */
void tu_check_logits(mt_model *m, mt_graph *g, int64_t vocab);
/* Build and trace symbolically; asserts success. */
mt_graph *tu_trace(mt_model *m);

/* Load a checkpoint index (tests/data/index/NAME) weight_map keys, sorted. */
char **tu_index_keys(const char *index_name, int *n);
/* Buffers old .bin checkpoints stored (rotary inv_freq, GPT-J/NeoX attn.bias
 * and masked_bias): in an index but not parameters. */
bool tu_is_stored_buffer(const char *key);
/* Assert our parameter names equal the index's weight_map keys less stored
 * buffers. Tied aliases are left out (checkpoints store a tied matrix once)
 * unless keep_tied (Falcon's index stores lm_head.weight as well). */
void tu_check_index_names(mt_model *m, const char *index_name, bool keep_tied);
/* Assert a parameter's rank and leading dims (d1 ignored for rank 1). */
void tu_check_shape(mt_model *m, const char *name, int ndim, int64_t d0, int64_t d1);

/* Graph queries the family tests share: a call_function/call_method node of op `id`;
 * recorded under the module `path`; how many such nodes (under `path`, or anywhere with
 * NULL); the first; a node's keyword argument by name (NULL: absent). */
bool tu_is_op(const mt_node *n, mt_op_id id);
bool tu_under(const mt_node *n, const char *path);
int tu_count_ops(mt_graph *g, mt_op_id id, const char *path);
mt_node *tu_first_op(mt_graph *g, mt_op_id id, const char *path);
const mt_arg *tu_kwarg(const mt_node *n, const char *name);

#endif
