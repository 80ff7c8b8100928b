/* Symbolic dims: canonical polynomials over named symbols, interned per context.
 *
 * Representation
 *   atom  — a named symbol ("seq") or a floor-division atom "(expr)//c"
 *           (expr interned, c > 1, expr's coefficients in [0, c) with no
 *           common factor with c, expr not constant).
 *   mono  — product of atoms with positive powers, factors sorted by atom
 *           order; interned. The constant monomial is NULL.
 *   sym   — sum of terms coef*mono, coef != 0, terms sorted by monomial
 *           order; interned, so equal polynomials are the same pointer.
 *
 * Orders (all deterministic, independent of creation order or addresses):
 *   atoms: named symbols before floor atoms; then by name / printed form.
 *   monos: graded lexicographic — degree descending, then the monomial with
 *          the higher power of the earliest atom first. It is a monomial order
 *          (compatible with multiplication), which the long division needs.
 *
 * Internal helpers return an rc (R_OK, R_NODIV, R_OVF, R_NOMEM) and set no
 * error themselves (except NOMEM, which the allocator reports); the public
 * functions turn an rc into a context error with a message naming operands. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <metatrace/sym.h>

#include "ctx_internal.h"
#include "sym_internal.h"

enum { R_OK = 0, R_NODIV, R_OVF, R_NOMEM };
enum { ATOM_VAR = 0, ATOM_FLOOR = 1 };

#define SMALL_MIN (-1)
#define SMALL_MAX 4096
#define SMALL_N (SMALL_MAX - SMALL_MIN + 1)
#define LOCAL_TERMS 16
#define LONGDIV_MAX_STEPS 100000

typedef struct mt_atom {
    uint32_t id;
    int kind;
    const char *name;     /* VAR: the symbol name; FLOOR: printed form */
    const mt_sym *expr;   /* FLOOR: the dividend */
    int64_t c;            /* FLOOR: the divisor (> 1) */
    const mt_sym *sym;    /* the expression 1*atom */
    mt_symbol_info *info; /* VAR: its symbol-table entry */
} mt_atom;

typedef struct factor {
    const mt_atom *atom;
    int pow;
} factor;

typedef struct mt_mono {
    uint32_t id;
    int degree, n;
    factor f[];
} mt_mono;

typedef struct term {
    int64_t coef;
    const mt_mono *mono; /* NULL: the constant monomial */
} term;

struct mt_sym {
    mt_ctx *ctx;     /* for lazy printing */
    const char *str; /* cached printed form (arena), NULL until asked */
    uint32_t id;
    int n;
    term t[];
};

/* ---- open-addressing hash table of interned pointers ---------------------- */

typedef struct hent {
    uint64_t hash;
    const void *p; /* NULL: empty slot */
} hent;

typedef struct htab {
    hent *e;
    size_t cap, n; /* cap is 0 or a power of two */
} htab;

typedef bool (*heq_fn)(const void *entry, const void *key);

static const void *ht_get(const htab *t, uint64_t h, heq_fn eq, const void *key) {
    if (!t->cap) return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const hent *e = &t->e[i];
        if (!e->p) return NULL;
        if (e->hash == h && eq(e->p, key)) return e->p;
    }
}

static bool ht_put(mt_ctx *ctx, htab *t, uint64_t h, const void *p) {
    if ((t->n + 1) * 4 > t->cap * 3) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        hent *ne = mt_heap_alloc(ctx, ncap * sizeof *ne);
        if (!ne) return false;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->e[i].p) continue;
            size_t j = (size_t)t->e[i].hash & (ncap - 1);
            while (ne[j].p) j = (j + 1) & (ncap - 1);
            ne[j] = t->e[i];
        }
        mt_heap_free(ctx, t->e);
        t->e = ne;
        t->cap = ncap;
    }
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    while (t->e[i].p) i = (i + 1) & mask;
    t->e[i].hash = h;
    t->e[i].p = p;
    t->n++;
    return true;
}

static uint64_t hmix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    return h;
}

static uint64_t hstr(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return hmix(h, 0);
}

/* ---- the per-context table ------------------------------------------------ */

typedef struct prefix_rec {
    const char *name;
    int next;
} prefix_rec;

struct mt_symtab {
    mt_ctx *ctx;
    htab syms, monos, vars, floors, prefixes;
    uint32_t nsym, nmono, natom;
    mt_symbol_info **info; /* named symbols in creation order */
    int ninfo, capinfo;
    const mt_sym *small[SMALL_N]; /* constants SMALL_MIN..SMALL_MAX */
};

struct mt_symtab *mt__symtab(mt_ctx *ctx) {
    void **slot = mt__ctx_slot(ctx, MT_SLOT_SYMTAB);
    if (!*slot) {
        struct mt_symtab *st = mt_heap_alloc(ctx, sizeof *st);
        if (!st) return NULL;
        st->ctx = ctx;
        *slot = st;
    }
    return *slot;
}

static struct mt_symtab *symtab_peek(const mt_ctx *ctx) {
    return *mt__ctx_slot((mt_ctx *)ctx, MT_SLOT_SYMTAB);
}

/* ---- term buffers (stack first, heap when they grow) ---------------------- */

typedef struct tbuf {
    term *v;
    int n, cap;
    term local[LOCAL_TERMS];
} tbuf;

static void tb_init(tbuf *b) {
    b->v = b->local;
    b->n = 0;
    b->cap = LOCAL_TERMS;
}

static void tb_free(mt_ctx *ctx, tbuf *b) {
    if (b->v != b->local) mt_heap_free(ctx, b->v);
    tb_init(b);
}

static int tb_reserve(mt_ctx *ctx, tbuf *b, size_t need) {
    if (need <= (size_t)b->cap) return R_OK;
    if (need > INT_MAX / 2) return R_OVF;
    size_t ncap = (size_t)b->cap * 2;
    while (ncap < need) ncap *= 2;
    term *nv = mt_heap_alloc(ctx, ncap * sizeof *nv);
    if (!nv) return R_NOMEM;
    if (b->n) memcpy(nv, b->v, (size_t)b->n * sizeof *nv);
    if (b->v != b->local) mt_heap_free(ctx, b->v);
    b->v = nv;
    b->cap = (int)ncap;
    return R_OK;
}

static int tb_push(mt_ctx *ctx, tbuf *b, int64_t coef, const mt_mono *m) {
    int rc = tb_reserve(ctx, b, (size_t)b->n + 1);
    if (rc) return rc;
    b->v[b->n].coef = coef;
    b->v[b->n].mono = m;
    b->n++;
    return R_OK;
}

static void tb_swap(tbuf *a, tbuf *b) {
    /* A buffer may point at its own local array, which moves with the copy. */
    term *av = a->v, *bv = b->v;
    bool al = av == a->local, bl = bv == b->local;
    tbuf t;
    memcpy(&t, a, sizeof t);
    memcpy(a, b, sizeof *a);
    memcpy(b, &t, sizeof *b);
    a->v = bl ? a->local : bv;
    b->v = al ? b->local : av;
}

/* ---- atoms and monomials -------------------------------------------------- */

static int atom_cmp(const mt_atom *a, const mt_atom *b) {
    if (a == b) return 0;
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    int c = strcmp(a->name, b->name);
    if (c) return c < 0 ? -1 : 1;
    if (a->c != b->c) return a->c < b->c ? -1 : 1;
    return a->id < b->id ? -1 : 1; /* not reached: printed forms are unique */
}

static int mono_degree(const mt_mono *m) { return m ? m->degree : 0; }

/* < 0 when a comes first in canonical order. */
static int mono_cmp(const mt_mono *a, const mt_mono *b) {
    if (a == b) return 0;
    int da = mono_degree(a), db = mono_degree(b);
    if (da != db) return da > db ? -1 : 1;
    for (int i = 0; i < a->n && i < b->n; i++) {
        int c = atom_cmp(a->f[i].atom, b->f[i].atom);
        if (c) return c;
        if (a->f[i].pow != b->f[i].pow) return a->f[i].pow > b->f[i].pow ? -1 : 1;
    }
    return a->id < b->id ? -1 : 1; /* not reached for distinct monomials */
}

typedef struct mono_key {
    const factor *f;
    int n;
} mono_key;

static uint64_t mono_hash(const factor *f, int n) {
    uint64_t h = (uint64_t)n;
    for (int i = 0; i < n; i++) h = hmix(hmix(h, f[i].atom->id), (uint64_t)f[i].pow);
    return h;
}

static bool mono_eq(const void *entry, const void *key) {
    const mt_mono *m = entry;
    const mono_key *k = key;
    if (m->n != k->n) return false;
    for (int i = 0; i < k->n; i++)
        if (m->f[i].atom != k->f[i].atom || m->f[i].pow != k->f[i].pow) return false;
    return true;
}

/* Intern a factor list (sorted, powers > 0). n == 0 gives the NULL monomial. */
static int mono_intern(struct mt_symtab *st, const factor *f, int n, const mt_mono **out) {
    *out = NULL;
    if (n == 0) return R_OK;
    uint64_t h = mono_hash(f, n);
    mono_key k = {f, n};
    const mt_mono *m = ht_get(&st->monos, h, mono_eq, &k);
    if (m) {
        *out = m;
        return R_OK;
    }
    int deg = 0;
    for (int i = 0; i < n; i++) {
        if (deg > INT_MAX - f[i].pow) return R_OVF;
        deg += f[i].pow;
    }
    mt_mono *nm = mt_alloc(st->ctx, sizeof *nm + (size_t)n * sizeof(factor));
    if (!nm) return R_NOMEM;
    nm->id = ++st->nmono;
    nm->degree = deg;
    nm->n = n;
    memcpy(nm->f, f, (size_t)n * sizeof *f);
    if (!ht_put(st->ctx, &st->monos, h, nm)) return R_NOMEM;
    *out = nm;
    return R_OK;
}

static int mono_mul(struct mt_symtab *st, const mt_mono *a, const mt_mono *b, const mt_mono **out) {
    if (!a || !b) {
        *out = a ? a : b;
        return R_OK;
    }
    factor local[16];
    size_t need = (size_t)a->n + (size_t)b->n;
    factor *f = need <= 16 ? local : mt_heap_alloc(st->ctx, need * sizeof *f);
    if (!f) return R_NOMEM;
    int i = 0, j = 0, n = 0, rc = R_OK;
    while (i < a->n || j < b->n) {
        int c = (i < a->n && j < b->n) ? atom_cmp(a->f[i].atom, b->f[j].atom) : (i < a->n ? -1 : 1);
        if (c < 0) f[n++] = a->f[i++];
        else if (c > 0) f[n++] = b->f[j++];
        else {
            if (a->f[i].pow > INT_MAX - b->f[j].pow) {
                rc = R_OVF;
                break;
            }
            f[n].atom = a->f[i].atom;
            f[n++].pow = a->f[i++].pow + b->f[j++].pow;
        }
    }
    if (!rc) rc = mono_intern(st, f, n, out);
    if (f != local) mt_heap_free(st->ctx, f);
    return rc;
}

/* a / d when d divides a: R_OK with *out, else R_NODIV. */
static int mono_div(struct mt_symtab *st, const mt_mono *a, const mt_mono *d, const mt_mono **out) {
    if (!d) {
        *out = a;
        return R_OK;
    }
    if (mono_degree(a) < d->degree) return R_NODIV;
    factor local[16];
    factor *f = a->n <= 16 ? local : mt_heap_alloc(st->ctx, (size_t)a->n * sizeof *f);
    if (!f) return R_NOMEM;
    int i = 0, j = 0, n = 0, rc = R_OK;
    while (i < a->n) {
        int c = j < d->n ? atom_cmp(a->f[i].atom, d->f[j].atom) : -1;
        if (c < 0) f[n++] = a->f[i++];
        else if (c > 0) { rc = R_NODIV; break; } /* d has an atom a lacks */
        else {
            int p = a->f[i].pow - d->f[j].pow;
            if (p < 0) { rc = R_NODIV; break; }
            if (p > 0) {
                f[n].atom = a->f[i].atom;
                f[n++].pow = p;
            }
            i++;
            j++;
        }
    }
    if (!rc && j < d->n) rc = R_NODIV;
    if (!rc) rc = mono_intern(st, f, n, out);
    if (f != local) mt_heap_free(st->ctx, f);
    return rc;
}

/* ---- interning polynomials ------------------------------------------------ */

typedef struct sym_key {
    const term *t;
    int n;
} sym_key;

static uint64_t sym_hash(const term *t, int n) {
    uint64_t h = (uint64_t)n * 0x51ull;
    for (int i = 0; i < n; i++) h = hmix(hmix(h, (uint64_t)t[i].coef), t[i].mono ? t[i].mono->id : 0);
    return h;
}

static bool sym_eq(const void *entry, const void *key) {
    const mt_sym *s = entry;
    const sym_key *k = key;
    if (s->n != k->n) return false;
    for (int i = 0; i < k->n; i++)
        if (s->t[i].coef != k->t[i].coef || s->t[i].mono != k->t[i].mono) return false;
    return true;
}

/* Intern a canonical term list (sorted, no zero coefficients). */
static const mt_sym *sym_intern(struct mt_symtab *st, const term *t, int n) {
    int64_t cv = 0;
    bool is_const = n == 0 || (n == 1 && !t[0].mono);
    if (is_const) {
        cv = n ? t[0].coef : 0;
        if (cv >= SMALL_MIN && cv <= SMALL_MAX && st->small[cv - SMALL_MIN]) return st->small[cv - SMALL_MIN];
    }
    uint64_t h = sym_hash(t, n);
    sym_key k = {t, n};
    const mt_sym *s = ht_get(&st->syms, h, sym_eq, &k);
    if (!s) {
        mt_sym *ns = mt_alloc(st->ctx, sizeof *ns + (size_t)n * sizeof(term));
        if (!ns) return NULL;
        ns->ctx = st->ctx;
        ns->id = ++st->nsym;
        ns->n = n;
        if (n) memcpy(ns->t, t, (size_t)n * sizeof *t);
        if (!ht_put(st->ctx, &st->syms, h, ns)) return NULL;
        s = ns;
    }
    if (is_const && cv >= SMALL_MIN && cv <= SMALL_MAX) st->small[cv - SMALL_MIN] = s;
    return s;
}

static const mt_sym *const_sym(struct mt_symtab *st, int64_t v) {
    term t = {v, NULL};
    return sym_intern(st, &t, v != 0);
}

/* ---- printing ------------------------------------------------------------- */

typedef struct sbuf {
    mt_ctx *ctx;
    char *p;
    size_t n, cap;
    bool failed;
    char local[256];
} sbuf;

static void sb_init(sbuf *b, mt_ctx *ctx) {
    b->ctx = ctx;
    b->p = b->local;
    b->n = 0;
    b->cap = sizeof b->local;
    b->failed = false;
    b->p[0] = 0;
}

static void sb_put(sbuf *b, const char *s, size_t len) {
    if (b->failed) return;
    if (b->n + len + 1 > b->cap) {
        size_t ncap = b->cap * 2;
        while (ncap < b->n + len + 1) ncap *= 2;
        char *np = mt_heap_alloc(b->ctx, ncap);
        if (!np) {
            b->failed = true;
            return;
        }
        memcpy(np, b->p, b->n + 1);
        if (b->p != b->local) mt_heap_free(b->ctx, b->p);
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v) {
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sb_put(b, tmp, (size_t)k);
}

static const char *sb_finish(sbuf *b) {
    const char *r = b->failed ? NULL : mt_strndup(b->ctx, b->p, b->n);
    if (b->p != b->local) mt_heap_free(b->ctx, b->p);
    return r;
}

static uint64_t abs_u64(int64_t v) { return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; }

/* Printed form is a valid Python expression: "batch*seq", "2*seq + 1",
 * "seq**2 - 1", "(seq + 1)//2", "batch*((seq + 1)//2)". */
const char *mt_sym_str(const mt_sym *s) {
    if (!s) return "<null>";
    if (s->str) return s->str;
    sbuf b;
    sb_init(&b, s->ctx);
    if (s->n == 0) sb_str(&b, "0");
    for (int i = 0; i < s->n; i++) {
        const term *t = &s->t[i];
        bool neg = t->coef < 0;
        if (i == 0) {
            if (neg) sb_str(&b, "-");
        } else {
            sb_str(&b, neg ? " - " : " + ");
        }
        uint64_t ac = abs_u64(t->coef);
        if (!t->mono) {
            sb_u64(&b, ac);
            continue;
        }
        bool before = i == 0 && neg; /* something binds to the first factor */
        if (ac != 1) {
            sb_u64(&b, ac);
            sb_str(&b, "*");
            before = true;
        }
        for (int j = 0; j < t->mono->n; j++) {
            const factor *f = &t->mono->f[j];
            if (j) sb_str(&b, "*");
            /* '//' has the precedence of '*' and binds left: wrap a floor
             * atom that follows a factor or a sign, or that is raised. */
            bool wrap = f->atom->kind == ATOM_FLOOR && (before || j > 0 || f->pow > 1);
            if (wrap) sb_str(&b, "(");
            sb_str(&b, f->atom->name);
            if (wrap) sb_str(&b, ")");
            if (f->pow > 1) {
                sb_str(&b, "**");
                sb_u64(&b, (uint64_t)f->pow);
            }
        }
    }
    const char *r = sb_finish(&b);
    if (!r) return "<out of memory>";
    ((mt_sym *)s)->str = r;
    return r;
}

/* ---- named symbols -------------------------------------------------------- */

static bool is_ident(const char *s) {
    if (!s || !*s) return false;
    if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))) return false;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static bool var_eq(const void *entry, const void *key) {
    return strcmp(((const mt_atom *)entry)->name, key) == 0;
}

/* Make the bare expression 1*atom for a new atom. */
static bool atom_finish(struct mt_symtab *st, mt_atom *a) {
    factor f = {a, 1};
    const mt_mono *m;
    if (mono_intern(st, &f, 1, &m)) return false;
    term t = {1, m};
    a->sym = sym_intern(st, &t, 1);
    return a->sym != NULL;
}

static const mt_atom *var_find(struct mt_symtab *st, const char *name) {
    return ht_get(&st->vars, hstr(name), var_eq, name);
}

static const mt_atom *var_create(struct mt_symtab *st, const char *name, int64_t lo, const mt_sym *hi) {
    mt_ctx *ctx = st->ctx;
    mt_atom *a = mt_alloc(ctx, sizeof *a);
    mt_symbol_info *info = mt_alloc(ctx, sizeof *info);
    char *nm = mt_strdup(ctx, name);
    if (!a || !info || !nm) return NULL;
    a->id = ++st->natom;
    a->kind = ATOM_VAR;
    a->name = nm;
    a->info = info;
    if (!atom_finish(st, a)) return NULL;
    info->name = nm;
    info->sym = a->sym;
    info->lo = lo;
    info->hi = hi;
    info->origin = NULL;
    if (st->ninfo == st->capinfo) {
        int ncap = st->capinfo ? st->capinfo * 2 : 16;
        mt_symbol_info **ni = mt_heap_alloc(ctx, (size_t)ncap * sizeof *ni);
        if (!ni) return NULL;
        if (st->ninfo) memcpy(ni, st->info, (size_t)st->ninfo * sizeof *ni);
        mt_heap_free(ctx, st->info);
        st->info = ni;
        st->capinfo = ncap;
    }
    if (!ht_put(ctx, &st->vars, hstr(nm), a)) return NULL;
    st->info[st->ninfo++] = info;
    return a;
}

const mt_sym *mt_sym_const(mt_ctx *ctx, int64_t v) {
    struct mt_symtab *st = mt__symtab(ctx);
    if (!st) return NULL;
    if (v >= SMALL_MIN && v <= SMALL_MAX && st->small[v - SMALL_MIN]) return st->small[v - SMALL_MIN];
    return const_sym(st, v);
}

const mt_sym *mt_sym_var(mt_ctx *ctx, const char *name) {
    if (!is_ident(name)) {
        mt_fail(ctx, MT_ERR_USAGE, "invalid symbol name '%s'", name ? name : "(null)");
        return NULL;
    }
    struct mt_symtab *st = mt__symtab(ctx);
    if (!st) return NULL;
    const mt_atom *a = var_find(st, name);
    if (!a) a = var_create(st, name, 1, NULL);
    return a ? a->sym : NULL;
}

static bool prefix_eq(const void *entry, const void *key) {
    return strcmp(((const prefix_rec *)entry)->name, key) == 0;
}

const mt_sym *mt_sym_fresh(mt_ctx *ctx, const char *prefix, int64_t lo, const mt_sym *hi) {
    if (!is_ident(prefix)) {
        mt_fail(ctx, MT_ERR_USAGE, "invalid symbol prefix '%s'", prefix ? prefix : "(null)");
        return NULL;
    }
    struct mt_symtab *st = mt__symtab(ctx);
    if (!st) return NULL;
    uint64_t h = hstr(prefix);
    prefix_rec *p = (prefix_rec *)ht_get(&st->prefixes, h, prefix_eq, prefix);
    if (!p) {
        p = mt_alloc(ctx, sizeof *p);
        if (!p || !(p->name = mt_strdup(ctx, prefix))) return NULL;
        if (!ht_put(ctx, &st->prefixes, h, p)) return NULL;
    }
    for (;;) {
        if (p->next == INT_MAX) {
            mt_fail(ctx, MT_ERR_OVERFLOW, "too many fresh symbols with prefix '%s'", prefix);
            return NULL;
        }
        char *name = mt_sprintf(ctx, "%s_%d", prefix, p->next++);
        if (!name) return NULL;
        if (var_find(st, name)) continue; /* taken by mt_sym_var: skip it */
        const mt_atom *a = var_create(st, name, lo, hi);
        return a ? a->sym : NULL;
    }
}

/* ---- queries -------------------------------------------------------------- */

bool mt_sym_is_const(const mt_sym *s) { return s && (s->n == 0 || (s->n == 1 && !s->t[0].mono)); }

int64_t mt_sym_const_value(const mt_sym *s) { return (s && s->n) ? s->t[0].coef : 0; }

bool mt__sym_const_of(const mt_sym *s, int64_t *v) {
    if (!mt_sym_is_const(s)) return false;
    *v = s->n ? s->t[0].coef : 0;
    return true;
}

/* The atom of a bare expression 1*atom, or NULL. */
static const mt_atom *bare_atom(const mt_sym *s) {
    if (!s || s->n != 1 || s->t[0].coef != 1 || !s->t[0].mono) return NULL;
    const mt_mono *m = s->t[0].mono;
    return (m->n == 1 && m->f[0].pow == 1) ? m->f[0].atom : NULL;
}

bool mt_sym_is_var(const mt_sym *s) {
    const mt_atom *a = bare_atom(s);
    return a && a->kind == ATOM_VAR;
}

int mt_sym_count(const mt_ctx *ctx) {
    const struct mt_symtab *st = symtab_peek(ctx);
    return st ? st->ninfo : 0;
}

const mt_symbol_info *mt_sym_info(const mt_ctx *ctx, int i) {
    const struct mt_symtab *st = symtab_peek(ctx);
    return (st && i >= 0 && i < st->ninfo) ? st->info[i] : NULL;
}

mt_symbol_info *mt_sym_info_of(mt_ctx *ctx, const mt_sym *var) {
    (void)ctx;
    const mt_atom *a = bare_atom(var);
    return (a && a->kind == ATOM_VAR) ? a->info : NULL;
}

void mt_sym_set_bounds(mt_ctx *ctx, const mt_sym *var, int64_t lo, const mt_sym *hi) {
    mt_symbol_info *info = mt_sym_info_of(ctx, var);
    if (!info) {
        mt_fail(ctx, MT_ERR_USAGE, "cannot set bounds of '%s': not a symbol", mt_sym_str(var));
        return;
    }
    info->lo = lo;
    info->hi = hi;
}

/* ---- arithmetic (internal, rc-returning) ---------------------------------- */

static int finish(struct mt_symtab *st, const tbuf *b, const mt_sym **out) {
    *out = sym_intern(st, b->v, b->n);
    return *out ? R_OK : R_NOMEM;
}

/* *out = a + k*b */
static int add_scaled(struct mt_symtab *st, const mt_sym *a, const mt_sym *b, int64_t k, const mt_sym **out) {
    tbuf r;
    tb_init(&r);
    int rc = tb_reserve(st->ctx, &r, (size_t)a->n + (size_t)b->n);
    int i = 0, j = 0;
    while (!rc && (i < a->n || j < b->n)) {
        int c = (i < a->n && j < b->n) ? mono_cmp(a->t[i].mono, b->t[j].mono) : (i < a->n ? -1 : 1);
        if (c < 0) {
            r.v[r.n++] = a->t[i++];
            continue;
        }
        int64_t kb;
        if (!mt_mul_ok(k, b->t[j].coef, &kb)) {
            rc = R_OVF;
            break;
        }
        const mt_mono *m = b->t[j++].mono;
        if (c == 0 && !mt_add_ok(a->t[i++].coef, kb, &kb)) {
            rc = R_OVF;
            break;
        }
        if (kb) {
            r.v[r.n].coef = kb;
            r.v[r.n++].mono = m;
        }
    }
    if (!rc) rc = finish(st, &r, out);
    tb_free(st->ctx, &r);
    return rc;
}

static int scale(struct mt_symtab *st, const mt_sym *a, int64_t k, const mt_sym **out) {
    if (k == 1) {
        *out = a;
        return R_OK;
    }
    if (k == 0) {
        *out = const_sym(st, 0);
        return *out ? R_OK : R_NOMEM;
    }
    tbuf r;
    tb_init(&r);
    int rc = tb_reserve(st->ctx, &r, (size_t)a->n);
    for (int i = 0; !rc && i < a->n; i++) {
        if (!mt_mul_ok(a->t[i].coef, k, &r.v[i].coef)) rc = R_OVF;
        r.v[i].mono = a->t[i].mono;
        r.n++;
    }
    if (!rc) rc = finish(st, &r, out);
    tb_free(st->ctx, &r);
    return rc;
}

static int add_const(struct mt_symtab *st, const mt_sym *a, int64_t c, const mt_sym **out) {
    if (c == 0) {
        *out = a;
        return R_OK;
    }
    tbuf r;
    tb_init(&r);
    int rc = tb_reserve(st->ctx, &r, (size_t)a->n + 1);
    if (!rc) {
        memcpy(r.v, a->t, (size_t)a->n * sizeof(term));
        r.n = a->n;
        if (r.n && !r.v[r.n - 1].mono) {
            if (!mt_add_ok(r.v[r.n - 1].coef, c, &r.v[r.n - 1].coef)) rc = R_OVF;
            else if (r.v[r.n - 1].coef == 0) r.n--;
        } else {
            r.v[r.n].coef = c;
            r.v[r.n++].mono = NULL;
        }
    }
    if (!rc) rc = finish(st, &r, out);
    tb_free(st->ctx, &r);
    return rc;
}

static int term_cmp(const void *x, const void *y) {
    return mono_cmp(((const term *)x)->mono, ((const term *)y)->mono);
}

static int mul(struct mt_symtab *st, const mt_sym *a, const mt_sym *b, const mt_sym **out) {
    if (mt_sym_is_const(b)) return scale(st, a, mt_sym_const_value(b), out);
    if (mt_sym_is_const(a)) return scale(st, b, mt_sym_const_value(a), out);
    tbuf r;
    tb_init(&r);
    int rc = tb_reserve(st->ctx, &r, (size_t)a->n * (size_t)b->n);
    for (int i = 0; !rc && i < a->n; i++)
        for (int j = 0; !rc && j < b->n; j++) {
            term *t = &r.v[r.n];
            if (!mt_mul_ok(a->t[i].coef, b->t[j].coef, &t->coef)) rc = R_OVF;
            else rc = mono_mul(st, a->t[i].mono, b->t[j].mono, &t->mono);
            if (!rc) r.n++;
        }
    if (!rc) {
        qsort(r.v, (size_t)r.n, sizeof(term), term_cmp);
        /* Sum each run of equal monomials; drop the ones that cancel. */
        int w = 0;
        for (int i = 0; i < r.n && !rc;) {
            term acc = r.v[i++];
            while (!rc && i < r.n && r.v[i].mono == acc.mono)
                if (!mt_add_ok(acc.coef, r.v[i++].coef, &acc.coef)) rc = R_OVF;
            if (acc.coef) r.v[w++] = acc;
        }
        r.n = w;
    }
    if (!rc) rc = finish(st, &r, out);
    tb_free(st->ctx, &r);
    return rc;
}

/* c == -1 and v == INT64_MIN would trap in '%' and '/'. */
static int coef_div(int64_t v, int64_t c, int64_t *q) {
    if (c == -1) return mt_mul_ok(v, -1, q) ? R_OK : R_OVF;
    if (v % c) return R_NODIV;
    *q = v / c;
    return R_OK;
}

/* Exact polynomial division: R_OK with *out, R_NODIV, or an error rc. */
static int divide(struct mt_symtab *st, const mt_sym *a, const mt_sym *b, const mt_sym **out) {
    if (b->n == 0) return R_NODIV;
    if (a == b) {
        *out = const_sym(st, 1);
        return *out ? R_OK : R_NOMEM;
    }
    tbuf q, r, nr;
    tb_init(&q);
    tb_init(&r);
    tb_init(&nr);
    int rc = R_OK;
    if (b->n == 1) {
        /* Monomial divisor: divide term by term (order is preserved). */
        rc = tb_reserve(st->ctx, &q, (size_t)a->n);
        for (int i = 0; !rc && i < a->n; i++) {
            rc = coef_div(a->t[i].coef, b->t[0].coef, &q.v[i].coef);
            if (!rc) rc = mono_div(st, a->t[i].mono, b->t[0].mono, &q.v[i].mono);
            if (!rc) q.n++;
        }
    } else {
        /* Long division by leading terms. The monomial order is compatible
         * with multiplication, so when b divides a the leading term of every
         * remainder is divisible by b's leading term; the first one that is
         * not proves a is not a multiple of b. */
        rc = tb_reserve(st->ctx, &r, (size_t)a->n);
        if (!rc) {
            memcpy(r.v, a->t, (size_t)a->n * sizeof(term));
            r.n = a->n;
        }
        const term *lb = &b->t[0];
        for (int steps = 0; !rc && r.n > 0; steps++) {
            if (steps > LONGDIV_MAX_STEPS) {
                rc = R_NODIV; /* pathological input: give up conservatively */
                break;
            }
            term qt;
            rc = coef_div(r.v[0].coef, lb->coef, &qt.coef);
            if (!rc) rc = mono_div(st, r.v[0].mono, lb->mono, &qt.mono);
            if (!rc) rc = tb_push(st->ctx, &q, qt.coef, qt.mono);
            if (rc) break;
            /* nr = r - qt*b; qt*b is sorted because qt is a monomial. */
            nr.n = 0;
            rc = tb_reserve(st->ctx, &nr, (size_t)r.n + (size_t)b->n);
            int i = 0, j = 0;
            term pj;
            bool have = false;
            while (!rc && (i < r.n || j < b->n || have)) {
                if (!have && j < b->n) {
                    if (!mt_mul_ok(qt.coef, b->t[j].coef, &pj.coef) || !mt_mul_ok(pj.coef, -1, &pj.coef)) {
                        rc = R_OVF;
                        break;
                    }
                    rc = mono_mul(st, qt.mono, b->t[j].mono, &pj.mono);
                    if (rc) break;
                    j++;
                    have = true;
                }
                int c = (i < r.n && have) ? mono_cmp(r.v[i].mono, pj.mono) : (i < r.n ? -1 : 1);
                if (c < 0) {
                    nr.v[nr.n++] = r.v[i++];
                } else if (c > 0) {
                    nr.v[nr.n++] = pj;
                    have = false;
                } else {
                    int64_t s;
                    if (!mt_add_ok(r.v[i].coef, pj.coef, &s)) {
                        rc = R_OVF;
                        break;
                    }
                    if (s) {
                        nr.v[nr.n].coef = s;
                        nr.v[nr.n++].mono = pj.mono;
                    }
                    i++;
                    have = false;
                }
            }
            if (!rc) tb_swap(&r, &nr);
        }
    }
    if (!rc) rc = finish(st, &q, out);
    tb_free(st->ctx, &q);
    tb_free(st->ctx, &r);
    tb_free(st->ctx, &nr);
    return rc;
}

static int64_t gcd64(int64_t a, int64_t b) {
    uint64_t x = abs_u64(a), y = abs_u64(b);
    while (y) {
        uint64_t t = x % y;
        x = y;
        y = t;
    }
    return (int64_t)x; /* callers pass values with |v| < INT64_MAX */
}

static void py_floordiv(int64_t v, int64_t c, int64_t *q, int64_t *r) {
    /* c > 1, so neither '/' nor '%' can trap. */
    *q = v / c;
    *r = v % c;
    if (*r < 0) {
        *r += c;
        (*q)--;
    }
}

static bool floor_eq(const void *entry, const void *key) {
    const mt_atom *a = entry, *k = key;
    return a->expr == k->expr && a->c == k->c;
}

static int floor_atom(struct mt_symtab *st, const mt_sym *e, int64_t c, const mt_sym **out) {
    uint64_t h = hmix(hmix(0xf1, e->id), (uint64_t)c);
    mt_atom key = {.expr = e, .c = c};
    const mt_atom *a = ht_get(&st->floors, h, floor_eq, &key);
    if (!a) {
        mt_ctx *ctx = st->ctx;
        mt_atom *na = mt_alloc(ctx, sizeof *na);
        const char *es = mt_sym_str(e);
        if (!na) return R_NOMEM;
        na->id = ++st->natom;
        na->kind = ATOM_FLOOR;
        na->expr = e;
        na->c = c;
        na->name = mt_sym_is_var(e) ? mt_sprintf(ctx, "%s//%lld", es, (long long)c)
                                    : mt_sprintf(ctx, "(%s)//%lld", es, (long long)c);
        if (!na->name || !atom_finish(st, na)) return R_NOMEM;
        if (!ht_put(ctx, &st->floors, h, na)) return R_NOMEM;
        a = na;
    }
    *out = a->sym;
    return R_OK;
}

/* floor(a / c) for c > 0. Writes a = c*Q + R with every coefficient of R in
 * [0, c); then floor(a/c) = Q + floor(R/c) because Q is integer-valued. A
 * constant R contributes 0; otherwise R and c are divided by their common
 * factor and floor(R/c) becomes an atom (nested floors are flattened). */
static int floordiv(struct mt_symtab *st, const mt_sym *a, int64_t c, const mt_sym **out) {
    if (c == 1) {
        *out = a;
        return R_OK;
    }
    tbuf qb, rb;
    tb_init(&qb);
    tb_init(&rb);
    int rc = tb_reserve(st->ctx, &qb, (size_t)a->n);
    if (!rc) rc = tb_reserve(st->ctx, &rb, (size_t)a->n);
    int64_t g = c;
    for (int i = 0; !rc && i < a->n; i++) {
        int64_t q, r;
        py_floordiv(a->t[i].coef, c, &q, &r);
        if (q) {
            qb.v[qb.n].coef = q;
            qb.v[qb.n++].mono = a->t[i].mono;
        }
        if (r) {
            rb.v[rb.n].coef = r;
            rb.v[rb.n++].mono = a->t[i].mono;
            g = gcd64(g, r);
        }
    }
    const mt_sym *qs = NULL, *fs = NULL;
    if (!rc) rc = finish(st, &qb, &qs);
    bool rconst = rb.n == 0 || (rb.n == 1 && !rb.v[0].mono);
    if (!rc && !rconst) {
        for (int i = 0; i < rb.n; i++) rb.v[i].coef /= g;
        int64_t c2 = c / g;
        const mt_sym *rs;
        rc = finish(st, &rb, &rs);
        if (!rc) {
            const mt_atom *inner = bare_atom(rs);
            int64_t cc;
            if (inner && inner->kind == ATOM_FLOOR && mt_mul_ok(inner->c, c2, &cc))
                rc = floordiv(st, inner->expr, cc, &fs); /* (e//c1)//c2 == e//(c1*c2) */
            else
                rc = floor_atom(st, rs, c2, &fs);
        }
    }
    tb_free(st->ctx, &qb);
    tb_free(st->ctx, &rb);
    if (rc) return rc;
    if (!fs) {
        *out = qs;
        return R_OK;
    }
    return add_scaled(st, qs, fs, 1, out);
}

/* ---- public arithmetic ---------------------------------------------------- */

static const mt_sym *report(mt_ctx *ctx, int rc, const mt_sym *r, const char *op, const mt_sym *a,
                            const mt_sym *b) {
    if (rc == R_OK) return r;
    if (rc == R_OVF)
        mt_fail(ctx, MT_ERR_OVERFLOW, "symbolic arithmetic overflows 64 bits: (%s) %s (%s)", mt_sym_str(a), op,
                mt_sym_str(b));
    else if (rc == R_NOMEM)
        mt_fail(ctx, MT_ERR_NOMEM, "out of memory in symbolic arithmetic");
    return NULL;
}

const mt_sym *mt_sym_add(mt_ctx *ctx, const mt_sym *a, const mt_sym *b) {
    if (!a || !b) return NULL;
    if (b->n == 0) return a;
    if (a->n == 0) return b;
    struct mt_symtab *st = mt__symtab(ctx);
    if (!st) return NULL;
    const mt_sym *r = NULL;
    int rc = mt_sym_is_const(b) ? add_const(st, a, b->t[0].coef, &r) : add_scaled(st, a, b, 1, &r);
    return report(ctx, rc, r, "+", a, b);
}

const mt_sym *mt_sym_sub(mt_ctx *ctx, const mt_sym *a, const mt_sym *b) {
    if (!a || !b) return NULL;
    if (b->n == 0) return a;
    struct mt_symtab *st = mt__symtab(ctx);
    if (!st) return NULL;
    if (a == b) return const_sym(st, 0);
    const mt_sym *r = NULL;
    int rc = add_scaled(st, a, b, -1, &r);
    return report(ctx, rc, r, "-", a, b);
}

const mt_sym *mt_sym_mul(mt_ctx *ctx, const mt_sym *a, const mt_sym *b) {
    if (!a || !b) return NULL;
    struct mt_symtab *st = mt__symtab(ctx);
    if (!st) return NULL;
    const mt_sym *r = NULL;
    int rc = mul(st, a, b, &r);
    return report(ctx, rc, r, "*", a, b);
}

const mt_sym *mt_sym_add_const(mt_ctx *ctx, const mt_sym *a, int64_t c) {
    if (!a) return NULL;
    struct mt_symtab *st = mt__symtab(ctx);
    if (!st) return NULL;
    const mt_sym *r = NULL;
    int rc = add_const(st, a, c, &r);
    return rc ? report(ctx, rc, NULL, "+", a, mt_sym_const(ctx, c)) : r;
}

const mt_sym *mt_sym_mul_const(mt_ctx *ctx, const mt_sym *a, int64_t c) {
    if (!a) return NULL;
    struct mt_symtab *st = mt__symtab(ctx);
    if (!st) return NULL;
    const mt_sym *r = NULL;
    int rc = scale(st, a, c, &r);
    return rc ? report(ctx, rc, NULL, "*", a, mt_sym_const(ctx, c)) : r;
}

const mt_sym *mt_sym_div_exact(mt_ctx *ctx, const mt_sym *a, const mt_sym *b) {
    if (!a || !b) return NULL;
    struct mt_symtab *st = mt__symtab(ctx);
    if (!st) return NULL;
    const mt_sym *r = NULL;
    int rc = divide(st, a, b, &r);
    if (rc == R_NODIV) {
        mt_fail(ctx, MT_ERR_SHAPE, "cannot divide %s by %s exactly", mt_sym_str(a), mt_sym_str(b));
        return NULL;
    }
    return report(ctx, rc, r, "/", a, b);
}

bool mt_sym_divides(mt_ctx *ctx, const mt_sym *b, const mt_sym *a) {
    if (!a || !b) return false;
    struct mt_symtab *st = mt__symtab(ctx);
    if (!st) return false;
    const mt_sym *r = NULL;
    return divide(st, a, b, &r) == R_OK;
}

const mt_sym *mt_sym_floordiv(mt_ctx *ctx, const mt_sym *a, int64_t c) {
    if (!a) return NULL;
    if (c <= 0) {
        mt_fail(ctx, MT_ERR_USAGE, "floor division of %s by %lld: the divisor must be positive", mt_sym_str(a),
                (long long)c);
        return NULL;
    }
    struct mt_symtab *st = mt__symtab(ctx);
    if (!st) return NULL;
    const mt_sym *r = NULL;
    int rc = floordiv(st, a, c, &r);
    return rc ? report(ctx, rc, NULL, "//", a, mt_sym_const(ctx, c)) : r;
}

const mt_sym *mt_sym_prod(mt_ctx *ctx, const mt_sym *const *dims, int n) {
    const mt_sym *r = mt_sym_const(ctx, 1);
    if (n > 0 && !dims) return NULL;
    for (int i = 0; r && i < n; i++) r = mt_sym_mul(ctx, r, dims[i]);
    return r;
}

/* ---- evaluation and substitution ------------------------------------------ */

static const int64_t *binding_find(const mt_binding *b, const char *name) {
    if (!b) return NULL;
    for (int i = 0; i < b->n; i++)
        if (b->names[i] && strcmp(b->names[i], name) == 0) return &b->values[i];
    return NULL;
}

/* R_OK, R_OVF, or R_NODIV meaning "unbound" with *unbound set. */
static int eval_sym(const mt_sym *s, const mt_binding *b, int64_t *out, const char **unbound);

static int eval_atom(const mt_atom *a, const mt_binding *b, int64_t *out, const char **unbound) {
    if (a->kind == ATOM_VAR) {
        const int64_t *v = binding_find(b, a->name);
        if (!v) {
            *unbound = a->name;
            return R_NODIV;
        }
        *out = *v;
        return R_OK;
    }
    int64_t e, r;
    int rc = eval_sym(a->expr, b, &e, unbound);
    if (!rc) py_floordiv(e, a->c, out, &r);
    return rc;
}

static int eval_sym(const mt_sym *s, const mt_binding *b, int64_t *out, const char **unbound) {
    int64_t sum = 0;
    for (int i = 0; i < s->n; i++) {
        int64_t v = s->t[i].coef;
        const mt_mono *m = s->t[i].mono;
        for (int j = 0; m && j < m->n; j++) {
            int64_t x;
            int rc = eval_atom(m->f[j].atom, b, &x, unbound);
            if (rc) return rc;
            for (int p = 0; p < m->f[j].pow; p++)
                if (!mt_mul_ok(v, x, &v)) return R_OVF;
        }
        if (!mt_add_ok(sum, v, &sum)) return R_OVF;
    }
    *out = sum;
    return R_OK;
}

mt_status mt_sym_eval(mt_ctx *ctx, const mt_sym *s, const mt_binding *b, int64_t *out) {
    if (!s) return mt_fail(ctx, MT_ERR_USAGE, "cannot evaluate a NULL dim");
    const char *unbound = NULL;
    int64_t v = 0;
    int rc = eval_sym(s, b, &v, &unbound);
    if (rc == R_NODIV) return mt_fail(ctx, MT_ERR_USAGE, "unbound symbol '%s'", unbound);
    if (rc) return mt_fail(ctx, MT_ERR_OVERFLOW, "evaluating %s overflows 64 bits", mt_sym_str(s));
    if (out) *out = v;
    return MT_OK;
}

static bool atom_affected(const mt_atom *a, const mt_binding *b);

static bool sym_affected(const mt_sym *s, const mt_binding *b) {
    for (int i = 0; i < s->n; i++) {
        const mt_mono *m = s->t[i].mono;
        for (int j = 0; m && j < m->n; j++)
            if (atom_affected(m->f[j].atom, b)) return true;
    }
    return false;
}

static bool atom_affected(const mt_atom *a, const mt_binding *b) {
    return a->kind == ATOM_VAR ? binding_find(b, a->name) != NULL : sym_affected(a->expr, b);
}

const mt_sym *mt_sym_subst(mt_ctx *ctx, const mt_sym *s, const mt_binding *b) {
    if (!s) return NULL;
    if (!b || b->n == 0 || !sym_affected(s, b)) return s;
    const mt_sym *sum = mt_sym_const(ctx, 0);
    for (int i = 0; sum && i < s->n; i++) {
        const mt_sym *t = mt_sym_const(ctx, s->t[i].coef);
        const mt_mono *m = s->t[i].mono;
        for (int j = 0; t && m && j < m->n; j++) {
            const mt_atom *a = m->f[j].atom;
            const mt_sym *x;
            if (a->kind == ATOM_VAR) {
                const int64_t *v = binding_find(b, a->name);
                x = v ? mt_sym_const(ctx, *v) : a->sym;
            } else {
                x = mt_sym_floordiv(ctx, mt_sym_subst(ctx, a->expr, b), a->c);
            }
            for (int p = 0; t && x && p < m->f[j].pow; p++) t = mt_sym_mul(ctx, t, x);
            if (!x) t = NULL;
        }
        sum = mt_sym_add(ctx, sum, t);
    }
    return sum;
}
