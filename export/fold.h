/* metatrace — export-private: repeated blocks of a traced model.
 *
 * The entries of a ModuleList (a module whose children are all named by an
 * index: decoder layers, the experts of a MoE block) that are the same up to
 * their index, found once over the graph and shared by the per-module table
 * (summary.c, --depth) and the pictures (dot.c: folded layers and experts).
 *
 * Each entry owns a *segment*: a range of graph nodes, its own nodes plus the
 * glue its loop iteration records in the module that runs the loop (for an
 * expert: selecting its tokens before, weighting and adding its output after;
 * for plain layers there is none). Two entries are the same when their
 * segments match node by node: op and target (module and parameter paths
 * relative to the entry), output shapes and dtypes (data-dependent symbols
 * such as nnz_3 match any other of their kind), constant arguments (an
 * integer equal to the entry's own index matches the other's index), and
 * inputs — produced at the same place inside the segment, or the same node
 * outside (a shared mask or rotary table), or the previous entry's output at
 * the same place (the residual chain) — and their modules have the same
 * classes, parameters and shapes. Sliding-window layers differ from global
 * ones because they read another mask.
 *
 * Runs are found greedily from the first entry, as the longest periodic run
 * (period 1..MTX_FOLD_MAX_PERIOD, at least two periods, whole periods): p = 1
 * is a run of identical layers, p = 2 alternating sliding/global layers, p = 6
 * Gemma-3's 5:1 pattern. Linear in the graph for a fixed period bound. */
#ifndef METATRACE_EXPORT_FOLD_H
#define METATRACE_EXPORT_FOLD_H

#include <metatrace/metatrace.h>

#define MTX_FOLD_MAX_PERIOD 8

/* Entries [first, first + period * reps) of a list, reps >= 2. */
typedef struct mtx_run {
    int first, period, reps;
} mtx_run;

typedef struct mtx_folds mtx_folds;

/* Analyse every ModuleList of m against its traced graph g. Everything lives
 * in m's context arena. NULL with the error on the context (out of memory). */
mtx_folds *mtx_folds_find(mt_model *m, const mt_graph *g);

/* The module a dotted path names (--module), or NULL with MT_ERR_USAGE on
 * m's context naming the nearest valid paths (the deepest existing prefix
 * and its children). Pictures and the viewer share it. */
const mt_module *mtx_find_module(mt_model *m, const char *path);

/* True when `mod` is a ModuleList (two or more children, all named by an
 * index). */
bool mtx_is_list(const mt_module *mod);

/* The runs of a list in entry order (none: *n = 0, NULL). */
const mtx_run *mtx_folds_runs(const mtx_folds *F, const mt_module *list, int *n);

/* The segment of entry k of `list`: graph nodes lo..hi (inclusive). False when
 * the entry recorded no node. */
bool mtx_folds_segment(const mtx_folds *F, const mt_module *list, int k, int *lo, int *hi);

/* The module that runs the list's loop (the stack entry just outside its
 * entries), or NULL. */
const mt_module *mtx_folds_scope(const mtx_folds *F, const mt_module *list);

/* Unique parameters under a module (tied aliases and buffers not counted;
 * symbolic dims count 0). */
/* Parameters a module holds itself (buffers and tied aliases excluded), and with its children. */
int64_t mtx_own_params(const mt_module *mod);
int64_t mtx_module_params(const mt_module *mod);
/* "1.79 TFLOP", "512 FLOP": the pictures' and the summary's FLOP figures. */
const char *mtx_flops_text(double v, char *buf, size_t n);
/* The other figures people read, one spelling everywhere (summary, pictures, viewer):
 * "6,738,415,616" (buf of at least 32 bytes); "12.55 GiB", below 1 KiB "512 B";
 * "6.74B", "108.86K", below 1000 the number itself. */
const char *mtx_grouped(int64_t v, char *buf);
const char *mtx_bytes_text(double v, char *buf, size_t n);
const char *mtx_count_text(double v, char *buf, size_t n);

#endif
