/* metatrace — rendered output (SVG, PNG) through Graphviz gvc.
 *
 * The picture is the DOT text itself: the one DOT writer (dot.c) writes it
 * into memory, cgraph reads it back (agread over a memory channel) and gvc
 * lays it out with the `dot` engine. Layout of very large graphs (tens of
 * thousands of nodes) is slow: prefer --layers to render a reduced model.
 * gvc keeps plugin state that leak checkers report; keep this out of
 * leak-checked tests.
 *
 * Determinism: cgraph's default ID discipline uses the address of the
 * interned name as the object id and orders subgraphs by id, so the order in
 * which the layout meets the clusters would follow heap addresses. The graph
 * is read with our own discipline instead, which hands out sequential ids:
 * every object is ordered as it appears in the text. */
#include <stdlib.h>
#include <string.h>

#include <graphviz/gvc.h>

#include <metatrace/metatrace.h>

#include "dot_internal.h"

/* Graphviz 2.42/2.43 takes `char *` for names and values it only reads:
 * the one place we cast const away. */
static char *cg(const char *s)
{
    return (char *)s;
}

/* ---- ID discipline: sequential ids and our own name table -----------------
 *
 * Object ids count up from 1 in creation order. Names live in a table owned
 * by the discipline state: id -> name for agnameof, name -> id for lookups.
 * (Leaving names to cgraph's internal map instead leaks that map in Graphviz
 * 2.43's agclose.) The state is allocated in the context arena, its tables on
 * the context heap; they are released by agclose (ids_close) or at the latest
 * by mt_ctx_free. The names themselves are cgraph strings, freed by
 * agclose. */

typedef struct seq_ids {
    mt_ctx *ctx;
    Agraph_t *root;
    const char **names; /* by id; NULL for anonymous objects (edges); [0] unused */
    size_t n, cap;      /* ids in use: 1 .. n-1 */
    size_t *slots;      /* hash of names: id, or 0 when empty */
    size_t nslots;      /* power of two */
    size_t named;
} seq_ids;

typedef struct ids_disc {
    Agdisc_t disc; /* first: cgraph hands ids_open a pointer to it */
    seq_ids *ids;
} ids_disc;

static size_t name_hash(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= UINT64_C(1099511628211);
    }
    return (size_t)h;
}

static size_t ids_find(const seq_ids *s, const char *name)
{
    if (!s->nslots)
        return 0;
    for (size_t i = name_hash(name) & (s->nslots - 1);; i = (i + 1) & (s->nslots - 1)) {
        size_t id = s->slots[i];
        if (!id || strcmp(s->names[id], name) == 0)
            return id;
    }
}

static void ids_slot_insert(seq_ids *s, size_t id)
{
    size_t i = name_hash(s->names[id]) & (s->nslots - 1);
    while (s->slots[i])
        i = (i + 1) & (s->nslots - 1);
    s->slots[i] = id;
}

/* A new id for `name` (NULL: anonymous); 0 when out of memory. */
static size_t ids_new(seq_ids *s, const char *name)
{
    if (s->n == 0)
        s->n = 1; /* id 0 is never handed out */
    if (s->n >= s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        const char **names = mt_heap_alloc(s->ctx, cap * sizeof *names);
        if (!names)
            return 0;
        if (s->names) {
            memcpy(names, s->names, s->n * sizeof *names);
            mt_heap_free(s->ctx, (void *)s->names);
        }
        s->names = names;
        s->cap = cap;
    }
    if (name && (s->named + 1) * 2 > s->nslots) {
        size_t nslots = s->nslots ? s->nslots * 2 : 1024;
        size_t *slots = mt_heap_alloc(s->ctx, nslots * sizeof *slots);
        if (!slots)
            return 0;
        if (s->slots)
            mt_heap_free(s->ctx, s->slots);
        s->slots = slots;
        s->nslots = nslots;
        for (size_t id = 1; id < s->n; id++)
            if (s->names[id])
                ids_slot_insert(s, id);
    }
    /* cgraph expects names to be its reference-counted strings (it reads
     * their header, e.g. to tell HTML labels): agstrdup, freed by agclose. */
    const char *copy = NULL;
    if (name && !(copy = agstrdup(s->root, cg(name))))
        return 0;
    size_t id = s->n++;
    s->names[id] = copy;
    if (copy) {
        ids_slot_insert(s, id);
        s->named++;
    }
    return id;
}

static void *ids_open(Agraph_t *g, Agdisc_t *disc)
{
    seq_ids *s = ((ids_disc *)disc)->ids;
    s->root = g;
    return s;
}

static long ids_map(void *state, int objtype, char *str, IDTYPE *id, int createflag)
{
    (void)objtype;
    seq_ids *s = state;
    size_t k = str ? ids_find(s, str) : 0;
    if (!k && str && !createflag)
        return 0; /* no such name */
    if (!k)
        k = ids_new(s, str);
    if (!k)
        return 0;
    *id = (IDTYPE)k;
    return 1;
}

static long ids_alloc(void *state, int objtype, IDTYPE request)
{
    (void)state;
    (void)objtype;
    (void)request;
    return 0; /* no caller-chosen ids */
}

static void ids_free(void *state, int objtype, IDTYPE id)
{
    (void)state;
    (void)objtype;
    (void)id; /* names stay until the graph is closed */
}

static char *ids_print(void *state, int objtype, IDTYPE id)
{
    (void)objtype;
    const seq_ids *s = state;
    return id < s->n ? (char *)s->names[id] : NULL;
}

static void ids_close(void *state)
{
    seq_ids *s = state;
    if (s->names)
        mt_heap_free(s->ctx, (void *)s->names);
    if (s->slots)
        mt_heap_free(s->ctx, s->slots);
    s->names = NULL;
    s->slots = NULL;
    s->n = s->cap = s->nslots = s->named = 0;
}

static void ids_register(void *state, int objtype, void *obj)
{
    (void)state;
    (void)objtype;
    (void)obj;
}

static const Agiddisc_t seq_id_disc = {ids_open,  ids_map,   ids_alloc,   ids_free,
                                       ids_print, ids_close, ids_register};

/* ---- reading from memory ------------------------------------------------------
 * The channel hands cgraph's scanner one line per call, as a FILE through
 * fgets would. */

typedef struct mem_chan {
    const char *p, *end;
} mem_chan;

static int mem_read(void *chan, char *buf, int bufsize)
{
    mem_chan *c = chan;
    if (bufsize <= 1 || c->p >= c->end)
        return 0;
    size_t room = (size_t)bufsize - 1, n = 0;
    while (n < room && c->p + n < c->end && c->p[n] != '\n')
        n++;
    if (n < room && c->p + n < c->end)
        n++; /* the line break */
    memcpy(buf, c->p, n);
    buf[n] = '\0';
    c->p += n;
    return (int)n;
}

static int mem_putstr(void *chan, const char *str)
{
    (void)chan;
    (void)str;
    return -1; /* read only */
}

static int mem_flush(void *chan)
{
    (void)chan;
    return 0;
}

static const Agiodisc_t mem_io = {mem_read, mem_putstr, mem_flush};

/* DOT text of ours read back by cgraph; NULL with an error on ctx. */
static Agraph_t *read_text(mt_ctx *ctx, const char *text, size_t len)
{
    ids_disc disc;
    disc.disc.mem = &AgMemDisc;
    disc.disc.id = (Agiddisc_t *)&seq_id_disc; /* cgraph only reads them */
    disc.disc.io = (Agiodisc_t *)&mem_io;
    disc.ids = mt_alloc(ctx, sizeof *disc.ids);
    if (!disc.ids)
        return NULL;
    disc.ids->ctx = ctx;
    mem_chan chan = {text, text + len};
    Agraph_t *ag = agread(&chan, &disc.disc);
    if (!ag)
        mt_fail(ctx, MT_ERR_INTERNAL, "render: Graphviz could not read our DOT text back");
    return ag;
}

/* The graph of `m`/`g` as our DOT text reads back; NULL with an error. */
static Agraph_t *read_back(mt_model *m, mt_graph *g, const mt_picture_opts *po)
{
    size_t len = 0;
    char *text = mtx_dot_text(m, g, NULL, po, &len);
    if (!text)
        return NULL;
    Agraph_t *ag = read_text(m->ctx, text, len);
    mt_heap_free(m->ctx, text);
    return ag;
}

/* Cairo draws at most 32,767 pixels a side; Graphviz renders PNG at 96 dpi
 * (1 point = 96/72 pixels) and scales a larger drawing down to fit, which
 * leaves text a pixel high. */
#define PNG_MAX_PIXELS 32767
#define PNG_DPI 96.0

mt_status mt_export_render(mt_model *m, mt_graph *g, const char *format, FILE *out)
{
    return mt_export_render_opts(m, g, format, NULL, out);
}

static mt_status check_format(mt_ctx *ctx, const char *format)
{
    if (strcmp(format, "svg") != 0 && strcmp(format, "png") != 0)
        return mt_fail(ctx, MT_ERR_USAGE, "render: unknown format '%s' (expected svg or png)", format);
    return MT_OK;
}

/* Lay out and render `ag` (closed here) as `format` onto `out`. */
static mt_status render(mt_ctx *ctx, Agraph_t *ag, const char *format, FILE *out)
{
    GVC_t *gvc = gvContext();
    if (!gvc) {
        agclose(ag);
        return mt_fail(ctx, MT_ERR_NOMEM, "render: cannot create a Graphviz context");
    }
    mt_status st = MT_OK;
    if (gvLayout(gvc, ag, "dot") != 0) {
        st = mt_fail(ctx, MT_ERR_INTERNAL, "render: Graphviz 'dot' layout failed (is the graphviz package installed?)");
    } else {
        boxf bb = GD_bb(ag);
        double wpx = (bb.UR.x - bb.LL.x) * PNG_DPI / 72.0, hpx = (bb.UR.y - bb.LL.y) * PNG_DPI / 72.0;
        if (strcmp(format, "png") == 0 && (wpx > PNG_MAX_PIXELS || hpx > PNG_MAX_PIXELS))
            st = mt_fail(ctx, MT_ERR_UNSUPPORTED,
                         "render: the PNG would be %.0f x %.0f pixels, more than the %d a side cairo can draw "
                         "(Graphviz would shrink it until the text is unreadable); draw less with --depth N or "
                         "--module PATH (and without --unfold), or write .svg, which has no such limit",
                         wpx, hpx, PNG_MAX_PIXELS);
        else if (gvRender(gvc, ag, format, out) != 0)
            st = mt_fail(ctx, MT_ERR_UNSUPPORTED, "render: Graphviz cannot render '%s' (missing plugin?)", format);
        else if (fflush(out) != 0 || ferror(out))
            st = mt_fail(ctx, MT_ERR_IO, "render: writing the %s image failed", format);
        gvFreeLayout(gvc, ag);
    }
    agclose(ag);
    gvFreeContext(gvc);
    return st;
}

mt_status mt_export_render_opts(mt_model *m, mt_graph *g, const char *format, const mt_picture_opts *opts,
                                FILE *out)
{
    if (!m || !g || !out || !format)
        return m ? mt_fail(m->ctx, MT_ERR_USAGE, "mt_export_render: NULL argument") : MT_ERR_USAGE;
    if (check_format(m->ctx, format) != MT_OK)
        return mt_ctx_status(m->ctx);
    Agraph_t *ag = read_back(m, g, opts);
    if (!ag)
        return mt_ctx_status(m->ctx) != MT_OK ? mt_ctx_status(m->ctx) : MT_ERR_INTERNAL;
    return render(m->ctx, ag, format, out);
}

mt_status mt_plan_export_render_opts(const mt_plan *p, const char *format, const mt_picture_opts *opts, FILE *out)
{
    if (!p || !out || !format)
        return p ? mt_fail(p->ctx, MT_ERR_USAGE, "mt_plan_export_render: NULL argument") : MT_ERR_USAGE;
    if (check_format(p->ctx, format) != MT_OK)
        return mt_ctx_status(p->ctx);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return mt_fail(p->ctx, MT_ERR_NOMEM, "render: cannot open a memory stream for the plan DOT");
    mt_status st = mt_plan_export_dot_opts(p, opts, mem);
    if (fclose(mem) != 0 && st == MT_OK)
        st = mt_fail(p->ctx, MT_ERR_NOMEM, "render: out of memory writing the plan DOT");
    Agraph_t *ag = st == MT_OK ? read_text(p->ctx, text, len) : NULL;
    free(text);
    if (!ag)
        return mt_ctx_status(p->ctx) != MT_OK ? mt_ctx_status(p->ctx) : MT_ERR_INTERNAL;
    return render(p->ctx, ag, format, out);
}
