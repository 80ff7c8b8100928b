/* metatrace — repeated blocks of a traced model (see fold.h). */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <metatrace/family.h>

#include "fold.h"
#include "ptrmap.h"

typedef struct flist {
    const mt_module *list;
    const mt_module *scope;
    int n;            /* entries */
    int *lo, *hi;     /* each entry's own nodes: first and last (-1: none) */
    int *slo, *shi;   /* segments (own nodes and glue) */
    int *ord;         /* entries with nodes, ascending */
    int nord;
    bool ordered;     /* spans ascending and disjoint: segments usable */
    mtx_run *runs;
    int nruns;
} flist;

struct mtx_folds {
    mt_ctx *ctx;
    const mt_graph *g;
    mtx_ptrmap lists; /* ModuleList -> flist */
    mtx_ptrmap pos;   /* entry module -> its index + 1 */
};

bool mtx_is_list(const mt_module *mod)
{
    if (!mod || mod->children.n < 2)
        return false;
    for (int i = 0; i < mod->children.n; i++) {
        const mt_module *c = mod->children.items[i];
        if (!c->name || c->name[0] < '0' || c->name[0] > '9')
            return false;
    }
    return true;
}

int64_t mtx_own_params(const mt_module *mod)
{
    int64_t n = 0;
    for (int i = 0; i < mod->params.n; i++) {
        const mt_param *p = mod->params.items[i];
        if (p->is_buffer || p->tied_to)
            continue;
        int64_t e = 1;
        for (int d = 0; d < p->t->ndim; d++)
            e *= mt_sym_is_const(p->t->shape[d]) ? mt_sym_const_value(p->t->shape[d]) : 0;
        n += e;
    }
    return n;
}

int64_t mtx_module_params(const mt_module *mod)
{
    int64_t n = mtx_own_params(mod);
    for (int i = 0; i < mod->children.n; i++)
        n += mtx_module_params(mod->children.items[i]);
    return n;
}

const char *mtx_flops_text(double v, char *buf, size_t n)
{
    static const char *const units[] = {"", "K", "M", "G", "T", "P", "E"};
    int u = 0;
    while (v >= 1000.0 && u < 6) {
        v /= 1000.0;
        u++;
    }
    snprintf(buf, n, u ? "%.2f %sFLOP" : "%.0f FLOP", v, units[u]);
    return buf;
}

/* ---- comparing ------------------------------------------------------------------ */

/* Two dims agree: the same expression, or the same text once the index of
 * every data-dependent symbol is blanked ("nnz_0*2" and "nnz_5*2"). */
static bool same_dim(const mt_sym *a, const mt_sym *b)
{
    if (a == b)
        return true;
    if (!a || !b || mt_sym_is_const(a) || mt_sym_is_const(b))
        return false;
    const char *x = mt_sym_str(a), *y = mt_sym_str(b);
    while (*x && *y) {
        if (*x == '_' && *y == '_' && x[1] >= '0' && x[1] <= '9' && y[1] >= '0' && y[1] <= '9') {
            x++, y++;
            while (*x >= '0' && *x <= '9')
                x++;
            while (*y >= '0' && *y <= '9')
                y++;
            continue;
        }
        if (*x != *y)
            return false;
        x++, y++;
    }
    return *x == *y;
}

static bool same_tensor(const mt_tensor *a, const mt_tensor *b)
{
    if (a->ndim != b->ndim || a->dtype != b->dtype)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (!same_dim(a->shape[d], b->shape[d]))
            return false;
    return true;
}

/* Module trees: classes, child names, parameters (names, shapes, dtypes). */
static bool same_module(const mt_module *a, const mt_module *b)
{
    if (strcmp(a->type ? a->type : "", b->type ? b->type : "") != 0 || a->leaf != b->leaf ||
        a->children.n != b->children.n || a->params.n != b->params.n)
        return false;
    for (int i = 0; i < a->params.n; i++) {
        const mt_param *p = a->params.items[i], *q = b->params.items[i];
        if (strcmp(p->local, q->local) != 0 || p->is_buffer != q->is_buffer || !p->tied_to != !q->tied_to ||
            !same_tensor(p->t, q->t))
            return false;
    }
    for (int i = 0; i < a->children.n; i++) {
        const mt_module *x = a->children.items[i], *y = b->children.items[i];
        if (strcmp(x->name, y->name) != 0 || !same_module(x, y))
            return false;
    }
    return true;
}

typedef struct cmp {
    const mtx_folds *F;
    const flist *L;
    int a, b;          /* the entries compared */
    int ra, rb;        /* their ranks among the entries with nodes */
    int64_t ia, ib;    /* their indexes (names) */
} cmp;

/* The rank (among the entries with nodes) of the segment holding node i, or
 * -1: the segment of rank `near` and the one before it first (inputs come
 * from the entry itself or the one before), else a binary search. */
static int seg_rank(const flist *L, int i, int near)
{
    for (int r = near; r >= near - 1 && r >= 0; r--)
        if (r < L->nord && i >= L->slo[L->ord[r]] && i <= L->shi[L->ord[r]])
            return r;
    int lo = 0, hi = L->nord - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, k = L->ord[mid];
        if (i < L->slo[k])
            hi = mid - 1;
        else if (i > L->shi[k])
            lo = mid + 1;
        else
            return mid;
    }
    return -1;
}

/* Rank of entry k among the entries with nodes. */
static int rank_of(const flist *L, int k)
{
    for (int lo = 0, hi = L->nord - 1; lo <= hi;) {
        int mid = (lo + hi) / 2;
        if (L->ord[mid] == k)
            return mid;
        if (L->ord[mid] < k)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Inputs x (of entry a's node) and y (of entry b's node) agree. */
static bool same_input(const cmp *c, int x, int y)
{
    const flist *L = c->L;
    int rx = seg_rank(L, x, c->ra), ry = seg_rank(L, y, c->rb);
    if (rx == c->ra || ry == c->rb) /* made inside the segments compared: at the same place */
        return rx == c->ra && ry == c->rb && x - L->slo[c->a] == y - L->slo[c->b];
    if (x == y)
        return true; /* a shared input */
    /* The chain: y is produced by the entry `shift` before b, x by the one
     * `shift` before a, at the same place counted from their ends (an
     * entry's output is its last node, whatever its kind); before the first
     * entry, x may be anything that precedes the list. */
    if (ry < 0)
        return false;
    int want = c->ra - (c->rb - ry);
    if (want < 0)
        return rx < 0 && x < L->slo[L->ord[0]];
    int sx = L->ord[want], sy = L->ord[ry];
    return rx == want && L->shi[sx] - x == L->shi[sy] - y;
}

static bool same_arg(const cmp *c, const mt_arg *x, const mt_arg *y)
{
    if (x->kind != y->kind)
        return false;
    switch (x->kind) {
    case MT_ARG_TENSOR:
        if (!x->v.t || !y->v.t || !x->v.t->node || !y->v.t->node)
            return x->v.t == y->v.t;
        return same_input(c, x->v.t->node->index, y->v.t->node->index);
    case MT_ARG_INT:
        return x->v.i == y->v.i || (x->v.i == c->ia && y->v.i == c->ib);
    case MT_ARG_FLOAT:
        return x->v.f == y->v.f || (x->v.f != x->v.f && y->v.f != y->v.f);
    case MT_ARG_BOOL:
        return x->v.b == y->v.b;
    case MT_ARG_SYM:
        return same_dim(x->v.sym, y->v.sym);
    case MT_ARG_DTYPE:
        return x->v.dtype == y->v.dtype;
    case MT_ARG_STR:
        return strcmp(x->v.s ? x->v.s : "", y->v.s ? y->v.s : "") == 0;
    case MT_ARG_SLICE:
        return same_dim(x->v.slice.start, y->v.slice.start) && same_dim(x->v.slice.stop, y->v.slice.stop) &&
               same_dim(x->v.slice.step, y->v.slice.step);
    case MT_ARG_LIST:
        if (x->v.list.n != y->v.list.n)
            return false;
        for (int i = 0; i < x->v.list.n; i++)
            if (!same_arg(c, &x->v.list.items[i], &y->v.list.items[i]))
                return false;
        return true;
    case MT_ARG_DEVICE:
        return x->v.device == y->v.device;
    case MT_ARG_NONE:
    case MT_ARG_ELLIPSIS:
    case MT_ARG_KIND_COUNT:
        return true;
    }
    return false;
}

/* A target relative to the entry when it names something inside it. */
static const char *relative(const char *target, const mt_module *entry, bool *inside)
{
    size_t n = strlen(entry->path);
    *inside = target && strncmp(target, entry->path, n) == 0 && (target[n] == '.' || target[n] == '\0');
    return *inside ? target + n : target ? target : "";
}

static bool same_node(const cmp *c, const mt_node *x, const mt_node *y)
{
    if (x->op != y->op || x->opid != y->opid || x->nout != y->nout || x->is_tuple != y->is_tuple ||
        x->nargs != y->nargs || x->nkwargs != y->nkwargs)
        return false;
    const mt_module *ea = c->L->list->children.items[c->a], *eb = c->L->list->children.items[c->b];
    bool ia, ib;
    const char *tx = relative(x->target, ea, &ia), *ty = relative(y->target, eb, &ib);
    if (ia != ib || strcmp(tx, ty) != 0)
        return false;
    int dx = x->stack ? x->stack->depth : 0, dy = y->stack ? y->stack->depth : 0;
    if (dx != dy || (dx > 0 && strcmp(x->stack->mods[dx - 1]->type, y->stack->mods[dy - 1]->type) != 0))
        return false;
    for (int i = 0; i < x->nout; i++)
        if (!same_tensor(&x->outs[i], &y->outs[i]))
            return false;
    for (int i = 0; i < x->nargs; i++)
        if (!same_arg(c, &x->args[i], &y->args[i]))
            return false;
    for (int i = 0; i < x->nkwargs; i++)
        if (strcmp(x->kwargs[i].name, y->kwargs[i].name) != 0 || !same_arg(c, &x->kwargs[i].value, &y->kwargs[i].value))
            return false;
    return true;
}

static int64_t index_of(const mt_module *entry, int k)
{
    int64_t v = 0;
    for (const char *p = entry->name; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    return entry->name[0] ? v : k;
}

/* Entries a and b of L are the same up to their index. */
static bool same_entry(const mtx_folds *F, const flist *L, int a, int b)
{
    if (L->lo[a] < 0 || L->lo[b] < 0 || !L->ordered)
        return false;
    int n = L->shi[a] - L->slo[a];
    if (n != L->shi[b] - L->slo[b])
        return false;
    const mt_module *ea = L->list->children.items[a], *eb = L->list->children.items[b];
    if (!same_module(ea, eb))
        return false;
    cmp c = {F, L, a, b, rank_of(L, a), rank_of(L, b), index_of(ea, a), index_of(eb, b)};
    for (int i = 0; i <= n; i++)
        if (!same_node(&c, F->g->nodes[L->slo[a] + i], F->g->nodes[L->slo[b] + i]))
            return false;
    return true;
}

/* ---- segments -------------------------------------------------------------------- */

static bool in_scope(const mt_node *n, const mt_module *scope)
{
    for (int d = 0; n->stack && d < n->stack->depth; d++)
        if (n->stack->mods[d] == scope)
            return true;
    return false;
}

/* Glue: the nodes between two entries (the same number between every pair,
 * all recorded in the scope) split into the tail of one entry and the head of
 * the next, the head being the longest stretch that also precedes the first
 * entry node for node (for the first entry: selecting its tokens). */
static void segments(const mtx_folds *F, flist *L)
{
    const mt_graph *g = F->g;
    for (int k = 0; k < L->n; k++) {
        L->slo[k] = L->lo[k];
        L->shi[k] = L->hi[k];
    }
    L->ordered = L->nord > 0;
    for (int r = 1; r < L->nord; r++)
        if (L->lo[L->ord[r]] <= L->hi[L->ord[r - 1]])
            L->ordered = false;
    if (!L->ordered || L->nord < 2 || !L->scope)
        return;
    int gap = L->lo[L->ord[1]] - L->hi[L->ord[0]] - 1;
    for (int r = 1; r < L->nord; r++) {
        int a = L->hi[L->ord[r - 1]], b = L->lo[L->ord[r]];
        if (b - a - 1 != gap)
            return;
        for (int i = a + 1; i < b; i++)
            if (!in_scope(g->nodes[i], L->scope))
                return;
    }
    if (gap == 0)
        return;
    int first = L->ord[0], second = L->ord[1];
    int head = 0;
    while (head < gap) {
        int x = L->lo[first] - head - 1, y = L->lo[second] - head - 1;
        if (x < 0 || !in_scope(g->nodes[x], L->scope))
            break;
        /* inputs are not compared here (segments are not known yet) */
        const mt_node *nx = g->nodes[x], *ny = g->nodes[y];
        if (nx->op != ny->op || nx->opid != ny->opid || nx->nout != ny->nout ||
            (nx->nout > 0 && !same_tensor(&nx->outs[0], &ny->outs[0])))
            break;
        head++;
    }
    int tail = gap - head, last = L->ord[L->nord - 1];
    for (int r = 0; r < L->nord; r++) {
        int k = L->ord[r];
        L->slo[k] = L->lo[k] - head;
        L->shi[k] = L->hi[k] + tail;
    }
    /* the last entry's tail: what follows it, as far as it matches the tail before */
    int have = 0, prev = L->ord[L->nord - 2];
    while (have < tail) {
        int x = L->hi[prev] + 1 + have, y = L->hi[last] + 1 + have;
        if (y >= g->n || !in_scope(g->nodes[y], L->scope))
            break;
        const mt_node *nx = g->nodes[x], *ny = g->nodes[y];
        if (nx->op != ny->op || nx->opid != ny->opid || nx->nout != ny->nout ||
            (nx->nout > 0 && !same_tensor(&nx->outs[0], &ny->outs[0])))
            break;
        have++;
    }
    L->shi[last] = L->hi[last] + have;
}

/* The longest periodic run from entry i (0: none), its period in *period. */
static int periodic_run(const mtx_folds *F, const flist *L, int i, int *period)
{
    int best = 0, n = L->n;
    for (int p = 1; p <= MTX_FOLD_MAX_PERIOD && i + 2 * p <= n; p++) {
        /* the most period p could cover: a longer period wins only with more
         * entries, so a period that cannot beat the best run is not tried
         * (each comparison walks two entries node by node; once p = 1 covers
         * the whole rest of the list, no other period is) */
        if ((n - i) / p * p <= best)
            continue;
        int r = 0;
        while (i + r + p < n && same_entry(F, L, i + r, i + r + p))
            r++;
        int len = (r + p) / p * p; /* entries covered: whole periods */
        if (len >= 2 * p && len > best) {
            best = len;
            *period = p;
        }
    }
    return best;
}

static bool find_runs(mtx_folds *F, flist *L)
{
    mtx_run *runs = mt_alloc_array(F->ctx, (size_t)L->n, sizeof *runs);
    if (!runs)
        return false;
    for (int i = 0; i < L->n;) {
        int period = 1, len = periodic_run(F, L, i, &period);
        if (len == 0) {
            i++;
            continue;
        }
        runs[L->nruns++] = (mtx_run){i, period, len / period};
        i += len;
    }
    L->runs = runs;
    return true;
}

/* ---- the analysis ------------------------------------------------------------------ */

static bool collect(mtx_folds *F, const mt_module *mod)
{
    if (mtx_is_list(mod)) {
        flist *L = mt_alloc(F->ctx, sizeof *L);
        int n = mod->children.n;
        if (!L || !(L->lo = mt_alloc_array(F->ctx, (size_t)n, sizeof(int))) ||
            !(L->hi = mt_alloc_array(F->ctx, (size_t)n, sizeof(int))) ||
            !(L->slo = mt_alloc_array(F->ctx, (size_t)n, sizeof(int))) ||
            !(L->shi = mt_alloc_array(F->ctx, (size_t)n, sizeof(int))) ||
            !(L->ord = mt_alloc_array(F->ctx, (size_t)n, sizeof(int))))
            return false;
        L->list = mod;
        L->n = n;
        for (int k = 0; k < n; k++) {
            L->lo[k] = L->hi[k] = -1;
            if (!mtx_ptrmap_put(&F->pos, mod->children.items[k], (void *)(uintptr_t)(k + 1)))
                return false;
        }
        if (!mtx_ptrmap_put(&F->lists, mod, L))
            return false;
    }
    for (int i = 0; i < mod->children.n; i++)
        if (!collect(F, mod->children.items[i]))
            return false;
    return true;
}

static bool analyse(mtx_folds *F, const mt_module *mod)
{
    flist *L = mtx_ptrmap_get(&F->lists, mod);
    if (L) {
        for (int k = 0; k < L->n; k++)
            if (L->lo[k] >= 0)
                L->ord[L->nord++] = k;
        segments(F, L);
        if (!find_runs(F, L))
            return false;
    }
    for (int i = 0; i < mod->children.n; i++)
        if (!analyse(F, mod->children.items[i]))
            return false;
    return true;
}

mtx_folds *mtx_folds_find(mt_model *m, const mt_graph *g)
{
    mtx_folds *F = mt_alloc(m->ctx, sizeof *F);
    if (!F)
        return NULL;
    F->ctx = m->ctx;
    F->g = g;
    mtx_ptrmap_init(&F->lists, m->ctx);
    mtx_ptrmap_init(&F->pos, m->ctx);
    if (!collect(F, m->root))
        return NULL;
    if (F->lists.n == 0)
        return F;
    /* Every node's entries, once per distinct module stack run. */
    const mt_modstack *prev = NULL;
    struct {
        flist *L;
        int k;
    } hits[MT_MAX_STACK];
    int nhits = 0;
    for (int i = 0; i < g->n; i++) {
        const mt_modstack *st = g->nodes[i]->stack;
        if (st != prev) {
            prev = st;
            nhits = 0;
            for (int d = 0; st && d < st->depth && nhits < MT_MAX_STACK; d++) {
                const mt_module *mod = st->mods[d];
                flist *L = mod && mod->parent ? mtx_ptrmap_get(&F->lists, mod->parent) : NULL;
                if (!L)
                    continue;
                int k = (int)(uintptr_t)mtx_ptrmap_get(&F->pos, mod) - 1;
                if (k < 0)
                    continue;
                if (!L->scope && d > 0)
                    L->scope = st->mods[d - 1];
                hits[nhits].L = L;
                hits[nhits].k = k;
                nhits++;
            }
        }
        for (int h = 0; h < nhits; h++) {
            flist *L = hits[h].L;
            int k = hits[h].k;
            if (L->lo[k] < 0)
                L->lo[k] = i;
            L->hi[k] = i;
        }
    }
    if (!analyse(F, m->root))
        return NULL;
    return F;
}

const mtx_run *mtx_folds_runs(const mtx_folds *F, const mt_module *list, int *n)
{
    const flist *L = F ? mtx_ptrmap_get(&F->lists, list) : NULL;
    *n = L ? L->nruns : 0;
    return L && L->nruns ? L->runs : NULL;
}

bool mtx_folds_segment(const mtx_folds *F, const mt_module *list, int k, int *lo, int *hi)
{
    const flist *L = F ? mtx_ptrmap_get(&F->lists, list) : NULL;
    if (!L || k < 0 || k >= L->n || L->lo[k] < 0)
        return false;
    *lo = L->slo[k];
    *hi = L->shi[k];
    return true;
}

const mt_module *mtx_folds_scope(const mtx_folds *F, const mt_module *list)
{
    const flist *L = F ? mtx_ptrmap_get(&F->lists, list) : NULL;
    return L ? L->scope : NULL;
}

const char *mtx_grouped(int64_t v, char *buf)
{
    char digits[24];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    char *p = buf;
    if (v < 0)
        *p++ = '-';
    for (int i = nd - 1; i >= 0; i--) {
        *p++ = digits[i];
        if (i > 0 && i % 3 == 0)
            *p++ = ',';
    }
    *p = '\0';
    return buf;
}

/* v scaled by `step` until it is below it, with the unit reached; the number
 * itself (with `unit0`) below one step. */
static const char *scaled(double v, const char *const *units, double step, const char *sep, char *buf, size_t n)
{
    double x = v;
    int u = 0;
    while ((x >= step || x <= -step) && u < 6) {
        x /= step;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f%s%s", v, *units[0] ? sep : "", units[0]);
    else
        snprintf(buf, n, "%.2f%s%s", x, sep, units[u]);
    return buf;
}

const char *mtx_bytes_text(double v, char *buf, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    return scaled(v, units, 1024.0, " ", buf, n);
}

const char *mtx_count_text(double v, char *buf, size_t n)
{
    static const char *const units[] = {"", "K", "M", "B", "T", "P", "E"};
    return scaled(v, units, 1000.0, "", buf, n);
}

const mt_module *mtx_find_module(mt_model *m, const char *path)
{
    const mt_module *mod = mt_module_find(m->root, path);
    if (mod)
        return mod;
    /* the deepest prefix that exists */
    const mt_module *at = m->root;
    const char *p = path;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        const mt_module *next = NULL;
        for (int i = 0; i < at->children.n && !next; i++) {
            const mt_module *c = at->children.items[i];
            if (strlen(c->name) == len && strncmp(c->name, p, len) == 0)
                next = c;
        }
        if (!next)
            break;
        at = next;
        p = dot ? dot + 1 : p + len;
    }
    /* its children, a long list shortened to the first two and the last */
    const char *list = "";
    int shown = 0;
    for (int i = 0; i < at->children.n; i++) {
        const mt_module *c = at->children.items[i];
        if (mtx_is_list(at) && at->children.n > 4 && i == 2) {
            list = mt_sprintf(m->ctx, "%s, ...", list);
            i = at->children.n - 2;
            continue;
        }
        list = list ? mt_sprintf(m->ctx, "%s%s%s", list, shown++ ? ", " : "", c->path) : NULL;
        if (!list)
            return NULL;
    }
    if (!list)
        return NULL;
    mt_fail(m->ctx, MT_ERR_USAGE, "--module: no module '%s' in %s; %s%s%s%s", path,
            m->class_name ? m->class_name : "the model", at->parent ? "under '" : "", at->parent ? at->path : "",
            at->parent ? "' there are: " : "the top-level modules are: ", shown ? list : "(none)");
    return NULL;
}
