/* metatrace — diff of two graph JSON documents (include/metatrace/diff.h,
 * docs/diff.md).
 *
 * The documents are read with a small scanner of our own, not jansson: the
 * graph of DeepSeek-V3 is 138 MB of JSON with 230k nodes, which jansson takes
 * ~3.7 s and ~800 MB to load, per document. Here each document is one buffer:
 * it is validated once (strict JSON), then read through spans (pointer +
 * length into the buffer). Values are compared as JSON values (whitespace and
 * the spelling of strings and reals aside) with a byte comparison first, so
 * documents written the same way compare at memcmp speed. Keyed sections are
 * matched through a hash map per document: linear in the documents' size. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <metatrace/diff.h>
#include <metatrace/metatrace.h>

#define MAX_DEPTH 512

/* A JSON value (or a string's contents, quotes excluded) inside a buffer. */
typedef struct span {
    const char *p;
    size_t n;
} span;

/* A document's top-level members, and the elements of those that are
 * arrays, recorded while validating: the sections are never rescanned. */
typedef struct top {
    span *keys, *vals;
    span **elems; /* NULL unless the value is an array */
    int *nelems;
    int n, cap;
} top;

typedef struct doc {
    const char *name;
    const char *buf;
    size_t len;
    top t;
} doc;

typedef struct dd {
    mt_ctx *ctx;
    doc a, b;
    mt_diff_entry *items;
    int n, cap;
    bool failed;  /* out of memory */
    bool bad;     /* a document is not what it should be (error set) */
    int counts[MT_DIFF_SECTION_COUNT][MT_DIFF_CHANGE_COUNT];
} dd;

static const char *const section_names[MT_DIFF_SECTION_COUNT] = {
    /* ORDER mt_diff_section */
    "model", "symbols", "parameters", "buffers", "modules", "nodes", "totals", "sizing", "other",
};
static const char *const change_names[MT_DIFF_CHANGE_COUNT] = {"added", "removed", "changed"};

const char *mt_diff_section_name(mt_diff_section s)
{
    return s >= 0 && s < MT_DIFF_SECTION_COUNT ? section_names[s] : "?";
}

const char *mt_diff_change_name(mt_diff_change c)
{
    return c >= 0 && c < MT_DIFF_CHANGE_COUNT ? change_names[c] : "?";
}

/* ---- validation ---------------------------------------------------------------
 * RFC 8259 JSON, one value, whitespace around it. On error: the offset. */

typedef struct vstate {
    const char *buf, *end;
    const char *err_at;
    const char *err;
    mt_ctx *ctx;
    top *t;            /* where the top-level members go */
    span *last_elems;  /* the elements of the last depth-1 array validated */
    int last_n;
    bool nomem;
} vstate;

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static const char *ws(const char *p, const char *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

static const char *vfail(vstate *v, const char *at, const char *what)
{
    if (!v->err) {
        v->err = what;
        v->err_at = at;
    }
    return NULL;
}

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* p at the opening quote; returns past the closing one. */
static const char *v_string(vstate *v, const char *p)
{
    const char *end = v->end;
    p++;
    while (p < end) {
        while (p < end && (unsigned char)*p >= 0x20 && *p != '"' && *p != '\\')
            p++;
        if (p >= end)
            break;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return vfail(v, p, "control character in a string");
        if (c == '\\') {
            if (p + 1 >= end)
                break;
            char e = p[1];
            if (e == 'u') {
                if (end - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5]))
                    return vfail(v, p, "bad \\u escape");
                p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == 0)
                return vfail(v, p, "bad escape in a string");
            p += 2;
            continue;
        }
        p++;
    }
    return vfail(v, p, "unterminated string");
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static const char *v_number(vstate *v, const char *p)
{
    const char *end = v->end, *start = p;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        while (p < end && is_digit(*p))
            p++;
    else
        return vfail(v, start, "invalid number");
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p))
            return vfail(v, start, "invalid number");
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return vfail(v, start, "invalid number");
        while (p < end && is_digit(*p))
            p++;
    }
    return p;
}

/* Append a span to a heap array of spans (doubling). */
static bool span_push(mt_ctx *ctx, span **arr, int *n, int *cap, span s)
{
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 64;
        span *a = mt_heap_alloc(ctx, (size_t)c * sizeof *a);
        if (!a)
            return false;
        if (*n)
            memcpy(a, *arr, (size_t)*n * sizeof *a);
        mt_heap_free(ctx, *arr);
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = s;
    return true;
}

static bool top_push(vstate *v, span key, span val)
{
    top *t = v->t;
    if (t->n == t->cap) {
        int c = t->cap ? t->cap * 2 : 16;
        span *k = mt_alloc_array(v->ctx, (size_t)c, sizeof *k), *vv = mt_alloc_array(v->ctx, (size_t)c, sizeof *vv);
        span **e = mt_alloc_array(v->ctx, (size_t)c, sizeof *e);
        int *ne = mt_alloc_array(v->ctx, (size_t)c, sizeof *ne);
        if (!k || !vv || !e || !ne)
            return false;
        if (t->n) {
            memcpy(k, t->keys, (size_t)t->n * sizeof *k);
            memcpy(vv, t->vals, (size_t)t->n * sizeof *vv);
            memcpy(e, t->elems, (size_t)t->n * sizeof *e);
            memcpy(ne, t->nelems, (size_t)t->n * sizeof *ne);
        }
        t->keys = k;
        t->vals = vv;
        t->elems = e;
        t->nelems = ne;
        t->cap = c;
    }
    t->keys[t->n] = key;
    t->vals[t->n] = val;
    t->elems[t->n] = v->last_elems;
    t->nelems[t->n] = v->last_n;
    t->n++;
    v->last_elems = NULL;
    v->last_n = 0;
    return true;
}

static const char *v_value(vstate *v, const char *p, int depth)
{
    const char *end = v->end;
    p = ws(p, end);
    if (p >= end)
        return vfail(v, p, "a value expected");
    if (depth > MAX_DEPTH)
        return vfail(v, p, "nested too deeply");
    switch (*p) {
    case '"':
        return v_string(v, p);
    case '{':
        p = ws(p + 1, end);
        if (p < end && *p == '}')
            return p + 1;
        for (;;) {
            p = ws(p, end);
            if (p >= end || *p != '"')
                return vfail(v, p, "a string key expected");
            const char *kstart = p;
            if (!(p = v_string(v, p)))
                return NULL;
            span key = {kstart + 1, (size_t)(p - kstart - 2)};
            p = ws(p, end);
            if (p >= end || *p != ':')
                return vfail(v, p, "':' expected");
            const char *vstart = ws(p + 1, end);
            if (!(p = v_value(v, p + 1, depth + 1)))
                return NULL;
            if (depth == 0 && v->t) {
                span val = {vstart, (size_t)(p - vstart)};
                if (!top_push(v, key, val)) {
                    v->nomem = true;
                    return vfail(v, p, "out of memory");
                }
            }
            p = ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == '}')
                return p + 1;
            return vfail(v, p, "',' or '}' expected");
        }
    case '[': {
        /* The elements of a top-level member's array are recorded. */
        bool rec = depth == 1 && v->t;
        span *el = NULL;
        int n = 0, cap = 0;
        p = ws(p + 1, end);
        if (p < end && *p == ']')
            return p + 1;
        for (;;) {
            const char *st = ws(p, end);
            if (!(p = v_value(v, p, depth + 1)))
                break;
            if (rec && !span_push(v->ctx, &el, &n, &cap, (span){st, (size_t)(p - st)})) {
                v->nomem = true;
                p = vfail(v, p, "out of memory");
                break;
            }
            p = ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == ']') {
                if (rec) {
                    v->last_elems = el;
                    v->last_n = n;
                }
                return p + 1;
            }
            p = vfail(v, p, "',' or ']' expected");
            break;
        }
        mt_heap_free(v->ctx, el);
        return NULL;
    }
    case 't':
        if (end - p >= 4 && memcmp(p, "true", 4) == 0)
            return p + 4;
        break;
    case 'f':
        if (end - p >= 5 && memcmp(p, "false", 5) == 0)
            return p + 5;
        break;
    case 'n':
        if (end - p >= 4 && memcmp(p, "null", 4) == 0)
            return p + 4;
        break;
    default:
        if (*p == '-' || is_digit(*p))
            return v_number(v, p);
    }
    return vfail(v, p, "invalid token");
}

/* ---- reading validated JSON ----------------------------------------------------- */

/* Past the string whose opening quote is at p (valid JSON). */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\')
            p++;
    }
    return end;
}

static bool is_scalar_end(char c) { return c == ',' || c == ']' || c == '}' || c == ':' || is_ws(c); }

/* Past the value starting at p (valid JSON, no leading whitespace). Used on
 * small values only: the big arrays are split by the validator. */
static const char *skip_value(const char *p, const char *end)
{
    if (*p == '"')
        return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && !is_scalar_end(*p))
            p++;
        return p;
    }
    int depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            p = skip_string(p, end);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return p + 1;
        p++;
    }
    return p;
}

typedef struct iter {
    const char *p, *end;
} iter;

/* Start iterating an object or array value. */
static void it_begin(iter *it, span v)
{
    it->p = v.p + 1;
    it->end = v.p + v.n;
}

static bool arr_next(iter *it, span *val)
{
    const char *p = ws(it->p, it->end);
    if (*p == ',')
        p = ws(p + 1, it->end);
    if (*p == ']')
        return false;
    const char *e = skip_value(p, it->end);
    val->p = p;
    val->n = (size_t)(e - p);
    it->p = e;
    return true;
}

/* key: the string's raw contents (escapes kept). */
static bool obj_next(iter *it, span *key, span *val)
{
    const char *p = ws(it->p, it->end);
    if (*p == ',')
        p = ws(p + 1, it->end);
    if (*p == '}')
        return false;
    const char *k = skip_value(p, it->end);
    key->p = p + 1;
    key->n = (size_t)(k - p - 2);
    p = ws(k, it->end);
    p = ws(p + 1, it->end); /* ':' */
    const char *e = skip_value(p, it->end);
    val->p = p;
    val->n = (size_t)(e - p);
    it->p = e;
    return true;
}

static bool span_is(span s, const char *lit) { return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0; }
static bool span_eq(span a, span b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }
static bool is_obj(span v) { return v.n > 0 && v.p[0] == '{'; }
static bool is_arr(span v) { return v.n > 0 && v.p[0] == '['; }
static bool is_str(span v) { return v.n > 0 && v.p[0] == '"'; }

/* The member `key` (raw) of object obj; `hint` (may be NULL) is where to look
 * first and is moved past the member found, so walking two objects with the
 * same key order costs one comparison per member. */
static bool find_member(span obj, span key, const char **hint, span *val)
{
    iter it;
    it_begin(&it, obj);
    const char *start = it.p;
    span k, v;
    if (hint && *hint) {
        it.p = *hint;
        while (obj_next(&it, &k, &v))
            if (span_eq(k, key)) {
                *hint = it.p;
                *val = v;
                return true;
            }
        it.p = start;
    }
    while (obj_next(&it, &k, &v)) {
        if (span_eq(k, key)) {
            if (hint)
                *hint = it.p;
            *val = v;
            return true;
        }
    }
    return false;
}

static bool get_member(span obj, const char *key, span *val)
{
    span k = {key, strlen(key)};
    return find_member(obj, k, NULL, val);
}

/* ---- strings ----------------------------------------------------------------- */

static size_t utf8_put(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode a string's raw contents into o (room for raw.n bytes: decoding never
 * grows a string); returns the length. \u0000 becomes '?'. */
static size_t decode_into(span raw, char *o)
{
    size_t n = 0;
    for (size_t i = 0; i < raw.n;) {
        char c = raw.p[i];
        if (c != '\\') {
            o[n++] = c;
            i++;
            continue;
        }
        char e = raw.p[i + 1];
        i += 2;
        switch (e) {
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned long cp = strtoul((char[5]){raw.p[i], raw.p[i + 1], raw.p[i + 2], raw.p[i + 3], 0}, NULL, 16);
            i += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= raw.n && raw.p[i] == '\\' && raw.p[i + 1] == 'u') {
                unsigned long lo =
                    strtoul((char[5]){raw.p[i + 2], raw.p[i + 3], raw.p[i + 4], raw.p[i + 5], 0}, NULL, 16);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            if (cp == 0 || (cp >= 0xD800 && cp < 0xE000))
                o[n++] = '?';
            else
                n += utf8_put(o + n, cp);
            break;
        }
        default: o[n++] = e; break; /* " \ / */
        }
    }
    return n;
}

/* A string value or raw contents decoded into the arena. */
static char *decode_raw(dd *d, span raw)
{
    char *o = mt_alloc(d->ctx, raw.n + 1);
    if (!o) {
        d->failed = true;
        return NULL;
    }
    o[decode_into(raw, o)] = 0;
    return o;
}

/* One decoded unit of a string's raw contents at *i (a byte, or the UTF-8
 * bytes of an escape) into u; returns its length and advances *i. */
static size_t next_unit(span raw, size_t *i, char u[8])
{
    if (raw.p[*i] != '\\') {
        u[0] = raw.p[(*i)++];
        return 1;
    }
    size_t j = *i + 2;
    if (raw.p[*i + 1] == 'u') {
        j += 4;
        if (j + 6 <= raw.n && raw.p[j] == '\\' && raw.p[j + 1] == 'u')
            j += 6; /* a surrogate pair decodes together (decode_into checks it) */
    }
    span one = {raw.p + *i, j - *i};
    size_t n = decode_into(one, u);
    *i = j;
    return n;
}

/* Strings equal once decoded ("\u0041" equals "A"); no allocation. */
static bool raw_equal(span a, span b)
{
    if (span_eq(a, b))
        return true;
    if (!memchr(a.p, '\\', a.n) && !memchr(b.p, '\\', b.n))
        return false;
    size_t i = 0, j = 0, na = 0, nb = 0, ka = 0, kb = 0;
    char ua[16], ub[16];
    for (;;) {
        if (ka == na && i < a.n) {
            na = next_unit(a, &i, ua);
            ka = 0;
        }
        if (kb == nb && j < b.n) {
            nb = next_unit(b, &j, ub);
            kb = 0;
        }
        bool ea = ka == na, eb = kb == nb;
        if (ea || eb)
            return ea && eb;
        if (ua[ka++] != ub[kb++])
            return false;
    }
}

/* ---- value equality ----------------------------------------------------------
 * Token by token: punctuation equal, strings equal once decoded, integers
 * equal as written, reals equal as doubles (the documents may print reals at
 * different precisions), an integer never equal to a real (as json_equal). */

typedef struct tok {
    char kind; /* '{' '}' '[' ']' ':' ',' 's' string, 'n' number, 'l' literal, 0 end */
    span s;    /* string: raw contents; number/literal: text */
} tok;

static tok next_tok(const char **pp, const char *end)
{
    tok t = {0, {NULL, 0}};
    const char *p = ws(*pp, end);
    if (p >= end) {
        *pp = p;
        return t;
    }
    char c = *p;
    if (strchr("{}[]:,", c)) {
        t.kind = c;
        *pp = p + 1;
        return t;
    }
    const char *e = skip_value(p, end);
    if (c == '"') {
        t.kind = 's';
        t.s.p = p + 1;
        t.s.n = (size_t)(e - p - 2);
    } else {
        t.kind = (c == '-' || is_digit(c)) ? 'n' : 'l';
        t.s.p = p;
        t.s.n = (size_t)(e - p);
    }
    *pp = e;
    return t;
}

static bool is_real_text(span s) { return memchr(s.p, '.', s.n) || memchr(s.p, 'e', s.n) || memchr(s.p, 'E', s.n); }

static double num_value(span s)
{
    char buf[64];
    if (s.n >= sizeof buf)
        return strtod(s.p, NULL); /* a number is followed by a delimiter */
    memcpy(buf, s.p, s.n);
    buf[s.n] = 0;
    return strtod(buf, NULL);
}

/* Equal bytes once whitespace outside strings is dropped (an indented and a
 * compact document): the common case, without tokenizing. */
static bool ws_equal(span a, span b)
{
    const char *p = a.p, *ea = a.p + a.n, *q = b.p, *eb = b.p + b.n;
    bool in_str = false;
    for (;;) {
        if (!in_str) {
            while (p < ea && is_ws(*p))
                p++;
            while (q < eb && is_ws(*q))
                q++;
        }
        if (p == ea || q == eb)
            return p == ea && q == eb;
        if (*p != *q)
            return false;
        if (in_str && *p == '\\') {
            if (p + 1 == ea || q + 1 == eb || p[1] != q[1])
                return false;
            p += 2;
            q += 2;
            continue;
        }
        if (*p == '"')
            in_str = !in_str;
        p++;
        q++;
    }
}

static bool value_equal(span a, span b)
{
    if (span_eq(a, b) || ws_equal(a, b))
        return true;
    const char *pa = a.p, *ea = a.p + a.n, *pb = b.p, *eb = b.p + b.n;
    for (;;) {
        tok ta = next_tok(&pa, ea), tb = next_tok(&pb, eb);
        if (ta.kind != tb.kind)
            return false;
        switch (ta.kind) {
        case 0:
            return true;
        case 's':
            if (!raw_equal(ta.s, tb.s))
                return false;
            break;
        case 'l':
            if (!span_eq(ta.s, tb.s))
                return false;
            break;
        case 'n':
            if (span_eq(ta.s, tb.s))
                break;
            if (!is_real_text(ta.s) || !is_real_text(tb.s) || num_value(ta.s) != num_value(tb.s))
                return false;
            break;
        default:
            break;
        }
    }
}

/* Compact JSON text of a value (whitespace outside strings dropped), arena. */
static char *compact(dd *d, span v)
{
    char *o = mt_alloc(d->ctx, v.n + 1);
    if (!o) {
        d->failed = true;
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        if (c == '"') {
            size_t j = i + 1;
            while (v.p[j] != '"')
                j += v.p[j] == '\\' ? 2 : 1;
            memcpy(o + n, v.p + i, j + 1 - i);
            n += j + 1 - i;
            i = j;
        } else if (!is_ws(c)) {
            o[n++] = c;
        }
    }
    o[n] = 0;
    return o;
}

/* A value for the text report: a string decoded, anything else compact. */
static char *display(dd *d, span v)
{
    if (is_str(v)) {
        span raw = {v.p + 1, v.n - 2};
        return decode_raw(d, raw);
    }
    return compact(d, v);
}

/* ---- entries ----------------------------------------------------------------- */

static mt_diff_entry *add_entry(dd *d, mt_diff_section sec, mt_diff_change ch, const char *name)
{
    if (d->failed)
        return NULL;
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 64;
        mt_diff_entry *items = mt_alloc_array(d->ctx, (size_t)cap, sizeof *items);
        if (!items) {
            d->failed = true;
            return NULL;
        }
        if (d->n)
            memcpy(items, d->items, (size_t)d->n * sizeof *items);
        d->items = items;
        d->cap = cap;
    }
    mt_diff_entry *e = &d->items[d->n++];
    memset(e, 0, sizeof *e);
    e->section = sec;
    e->change = ch;
    e->name = name;
    d->counts[sec][ch]++;
    return e;
}

/* ---- leaf sections: recursive comparison ------------------------------------- */

static char *join_key(dd *d, const char *path, span rawkey)
{
    char *k = decode_raw(d, rawkey);
    if (!k)
        return NULL;
    if (!path || !*path)
        return k;
    char *r = mt_sprintf(d->ctx, "%s.%s", path, k);
    if (!r)
        d->failed = true;
    return r;
}

static void tree_diff(dd *d, mt_diff_section sec, const char *path, span a, span b, const char *skip, int depth)
{
    if (d->failed || value_equal(a, b))
        return;
    if (depth < MAX_DEPTH && is_obj(a) && is_obj(b)) {
        iter it;
        span k, va, vb;
        const char *hint = NULL;
        it_begin(&it, a);
        while (obj_next(&it, &k, &va)) {
            if (skip && span_is(k, skip))
                continue;
            char *p = join_key(d, path, k);
            if (!p)
                return;
            if (find_member(b, k, &hint, &vb)) {
                tree_diff(d, sec, p, va, vb, NULL, depth + 1);
            } else {
                mt_diff_entry *e = add_entry(d, sec, MT_DIFF_REMOVED, p);
                if (e)
                    e->old_value = compact(d, va);
            }
        }
        hint = NULL;
        it_begin(&it, b);
        while (obj_next(&it, &k, &vb)) {
            if ((skip && span_is(k, skip)) || find_member(a, k, &hint, &va))
                continue;
            char *p = join_key(d, path, k);
            mt_diff_entry *e = p ? add_entry(d, sec, MT_DIFF_ADDED, p) : NULL;
            if (e)
                e->new_value = compact(d, vb);
        }
        return;
    }
    if (depth < MAX_DEPTH && is_arr(a) && is_arr(b)) {
        iter ia, ib;
        span va, vb;
        it_begin(&ia, a);
        it_begin(&ib, b);
        bool more_a = arr_next(&ia, &va), more_b = arr_next(&ib, &vb);
        for (int i = 0; (more_a || more_b) && !d->failed; i++) {
            char *p = mt_sprintf(d->ctx, "%s[%d]", path ? path : "", i);
            if (!p) {
                d->failed = true;
                return;
            }
            if (more_a && more_b) {
                tree_diff(d, sec, p, va, vb, NULL, depth + 1);
            } else {
                mt_diff_entry *e = add_entry(d, sec, more_a ? MT_DIFF_REMOVED : MT_DIFF_ADDED, p);
                if (e && more_a)
                    e->old_value = compact(d, va);
                else if (e)
                    e->new_value = compact(d, vb);
            }
            if (more_a)
                more_a = arr_next(&ia, &va);
            if (more_b)
                more_b = arr_next(&ib, &vb);
        }
        return;
    }
    mt_diff_entry *e = add_entry(d, sec, MT_DIFF_CHANGED, path && *path ? path : "");
    if (e) {
        e->old_value = compact(d, a);
        e->new_value = compact(d, b);
    }
}

/* ---- keyed sections: entries matched by name ---------------------------------- */

typedef struct kentry {
    span key;     /* the key member's contents: raw, or decoded when it had escapes */
    bool decoded; /* key already decoded */
    span obj;
} kentry;

typedef struct klist {
    kentry *e;
    int n;
    int *slots; /* open addressing: index + 1, 0 empty */
    size_t mask;
} klist;

static uint64_t hash_raw(span s)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < s.n; i++) {
        h ^= (unsigned char)s.p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int klist_find(const klist *l, span key)
{
    for (size_t i = hash_raw(key) & l->mask;; i = (i + 1) & l->mask) {
        int s = l->slots[i];
        if (s == 0)
            return -1;
        if (span_eq(l->e[s - 1].key, key))
            return s - 1;
    }
}

/* The entries of array `arr` keyed by their member `keyname`; the key is
 * normalised (escapes decoded) only when it has escapes. */
static bool klist_build(dd *d, const doc *src, const char *section, const span *elems, int n, const char *keyname,
                        klist *l)
{
    memset(l, 0, sizeof *l);
    l->e = mt_heap_alloc(d->ctx, (size_t)(n ? n : 1) * sizeof *l->e);
    if (!l->e) {
        d->failed = true;
        return false;
    }
    l->n = n;
    for (int i = 0; i < n; i++) {
        span k, v = elems[i];
        if (!is_obj(v) || !get_member(v, keyname, &k) || !is_str(k)) {
            mt_error_set(d->ctx, MT_ERR_UNSUPPORTED, src->name, 0, 0, NULL,
                         "not a metatrace-graph document: %s[%d] is not an object with a string \"%s\"", section,
                         i, keyname);
            d->bad = true;
            return false;
        }
        span raw = {k.p + 1, k.n - 2};
        if (memchr(raw.p, '\\', raw.n)) {
            char *dec = mt_alloc(d->ctx, raw.n + 1);
            if (!dec) {
                d->failed = true;
                return false;
            }
            raw.n = decode_into(raw, dec);
            raw.p = dec;
            l->e[i].decoded = true;
        }
        l->e[i].key = raw;
        l->e[i].obj = v;
    }
    size_t slots = 16;
    while (slots < (size_t)l->n * 2)
        slots *= 2;
    l->slots = mt_heap_alloc(d->ctx, slots * sizeof *l->slots);
    l->mask = slots - 1;
    if (!l->slots) {
        d->failed = true;
        return false;
    }
    for (int i = 0; i < l->n; i++) {
        span raw = l->e[i].key;
        size_t s = hash_raw(raw) & l->mask;
        while (l->slots[s]) {
            if (span_eq(l->e[l->slots[s] - 1].key, raw)) {
                mt_error_set(d->ctx, MT_ERR_UNSUPPORTED, src->name, 0, 0, NULL,
                             "not a metatrace-graph document: %s \"%.*s\" appears twice", section, (int)raw.n,
                             raw.p);
                d->bad = true;
                return false;
            }
            s = (s + 1) & l->mask;
        }
        l->slots[s] = i + 1;
    }
    return true;
}

static void klist_free(dd *d, klist *l)
{
    mt_heap_free(d->ctx, l->e);
    mt_heap_free(d->ctx, l->slots);
}

/* The node's innermost module: the last of its module_stack ("" at top). */
static const char *node_module(dd *d, span obj)
{
    span st, v, last = {NULL, 0};
    if (!get_member(obj, "module_stack", &st) || !is_arr(st))
        return "";
    iter it;
    it_begin(&it, st);
    while (arr_next(&it, &v))
        last = v;
    return last.p && is_str(last) ? display(d, last) : "";
}

static const char *member_display(dd *d, span obj, const char *key)
{
    span v;
    return get_member(obj, key, &v) ? display(d, v) : "?";
}

/* The text report's description of an added or removed entry. */
static const char *describe(dd *d, mt_diff_section sec, span obj)
{
    const char *r = NULL;
    switch (sec) {
    case MT_DIFF_PARAMETERS:
    case MT_DIFF_BUFFERS: {
        span t;
        r = mt_sprintf(d->ctx, "%s %s", member_display(d, obj, "shape"), member_display(d, obj, "dtype"));
        if (r && sec == MT_DIFF_PARAMETERS && get_member(obj, "tied_to", &t) && is_str(t))
            r = mt_sprintf(d->ctx, "%s, tied to %s", r, display(d, t));
        break;
    }
    case MT_DIFF_MODULES:
        r = member_display(d, obj, "type");
        break;
    case MT_DIFF_NODES:
        r = mt_sprintf(d->ctx, "%s %s %s %s", member_display(d, obj, "op"), member_display(d, obj, "target"),
                       member_display(d, obj, "shape"), member_display(d, obj, "dtype"));
        break;
    default:
        r = compact(d, obj);
        break;
    }
    if (!r)
        d->failed = true;
    return r;
}

static const char *key_str(dd *d, const kentry *k)
{
    if (!k->decoded)
        return decode_raw(d, k->key);
    char *s = mt_strndup(d->ctx, k->key.p, k->key.n);
    if (!s)
        d->failed = true;
    return s;
}

static void keyed_entry(dd *d, mt_diff_section sec, mt_diff_change ch, const kentry *k)
{
    mt_diff_entry *e = add_entry(d, sec, ch, key_str(d, k));
    if (!e)
        return;
    if (sec == MT_DIFF_NODES)
        e->module = node_module(d, k->obj);
    e->detail = describe(d, sec, k->obj);
    if (ch == MT_DIFF_ADDED)
        e->new_value = compact(d, k->obj);
    else
        e->old_value = compact(d, k->obj);
}

/* An entry's members, read once (node objects have about ten). */
#define MAX_FIELDS 32
typedef struct fields {
    span key[MAX_FIELDS], val[MAX_FIELDS];
    bool used[MAX_FIELDS]; /* matched with the other entry's member */
    int n;
} fields;

/* False when the object has more members than MAX_FIELDS. */
static bool fields_read(span obj, fields *f)
{
    iter it;
    it_begin(&it, obj);
    f->n = 0;
    span k, v;
    while (obj_next(&it, &k, &v)) {
        if (f->n == MAX_FIELDS)
            return false;
        f->key[f->n] = k;
        f->val[f->n] = v;
        f->used[f->n++] = false;
    }
    return true;
}

/* The member `key` at index `hint` if it is there, else anywhere; -1. */
static int fields_find(const fields *f, span key, int hint)
{
    if (hint < f->n && span_eq(f->key[hint], key))
        return hint;
    for (int i = 0; i < f->n; i++)
        if (span_eq(f->key[i], key))
            return i;
    return -1;
}

static void field_entry(dd *d, mt_diff_section sec, const char *name, const char *module, span key, const span *a,
                        const span *b)
{
    mt_diff_entry *e = add_entry(d, sec, MT_DIFF_CHANGED, name);
    if (!e)
        return;
    e->module = module;
    e->field = decode_raw(d, key);
    e->old_value = a ? compact(d, *a) : NULL;
    e->new_value = b ? compact(d, *b) : NULL;
}

/* Fields of an entry present in both documents; the key member skipped. */
static void fields_diff(dd *d, mt_diff_section sec, const char *keyname, const kentry *ka, const kentry *kb)
{
    if (value_equal(ka->obj, kb->obj))
        return;
    const char *name = key_str(d, kb);
    const char *module = sec == MT_DIFF_NODES ? node_module(d, kb->obj) : NULL;
    fields fa, fb;
    if (fields_read(ka->obj, &fa) && fields_read(kb->obj, &fb)) {
        for (int i = 0; i < fa.n && !d->failed; i++) {
            if (span_is(fa.key[i], keyname))
                continue;
            int j = fields_find(&fb, fa.key[i], i);
            if (j >= 0)
                fb.used[j] = true;
            if (j < 0 || !value_equal(fa.val[i], fb.val[j]))
                field_entry(d, sec, name, module, fa.key[i], &fa.val[i], j >= 0 ? &fb.val[j] : NULL);
        }
        for (int j = 0; j < fb.n && !d->failed; j++)
            if (!fb.used[j] && !span_is(fb.key[j], keyname))
                field_entry(d, sec, name, module, fb.key[j], NULL, &fb.val[j]);
        return;
    }
    /* Entries with many members: searched in place. */
    iter it;
    span k, va, vb;
    const char *hint = NULL;
    it_begin(&it, ka->obj);
    while (obj_next(&it, &k, &va) && !d->failed) {
        if (span_is(k, keyname))
            continue;
        bool in_b = find_member(kb->obj, k, &hint, &vb);
        if (!in_b || !value_equal(va, vb))
            field_entry(d, sec, name, module, k, &va, in_b ? &vb : NULL);
    }
    hint = NULL;
    it_begin(&it, kb->obj);
    while (obj_next(&it, &k, &vb) && !d->failed)
        if (!span_is(k, keyname) && !find_member(ka->obj, k, &hint, &va))
            field_entry(d, sec, name, module, k, NULL, &vb);
}

/* Entries of B in order, each removed entry of A reported where it stood
 * (before the first B entry matched to an A entry after it), so the report
 * follows the graph. */
static void keyed_diff(dd *d, mt_diff_section sec, const span *a, int na, const span *b, int nb,
                       const char *keyname)
{
    const char *secname = section_names[sec];
    klist la, lb;
    memset(&lb, 0, sizeof lb);
    if (!klist_build(d, &d->a, secname, a, na, keyname, &la) || !klist_build(d, &d->b, secname, b, nb, keyname, &lb)) {
        klist_free(d, &la);
        klist_free(d, &lb);
        return;
    }
    int ia = 0;
    for (int j = 0; j < lb.n && !d->failed; j++) {
        int i = klist_find(&la, lb.e[j].key);
        if (i < 0) {
            keyed_entry(d, sec, MT_DIFF_ADDED, &lb.e[j]);
            continue;
        }
        for (; ia <= i; ia++)
            if (klist_find(&lb, la.e[ia].key) < 0)
                keyed_entry(d, sec, MT_DIFF_REMOVED, &la.e[ia]);
        fields_diff(d, sec, keyname, &la.e[i], &lb.e[j]);
    }
    for (; ia < la.n && !d->failed; ia++)
        if (klist_find(&lb, la.e[ia].key) < 0)
            keyed_entry(d, sec, MT_DIFF_REMOVED, &la.e[ia]);
    klist_free(d, &la);
    klist_free(d, &lb);
}

/* ---- documents ------------------------------------------------------------------ */

static void locate(const doc *dc, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = dc->buf; p < at && p < dc->buf + dc->len; p++) {
        if (*p == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

/* Validate dc and return its top-level object and version. */
static bool check_doc(dd *d, doc *dc, span *root, long long *version)
{
    vstate v = {dc->buf, dc->buf + dc->len, NULL, NULL, d->ctx, &dc->t, NULL, 0, false};
    const char *p = ws(dc->buf, v.end);
    const char *e = p < v.end ? v_value(&v, p, 0) : vfail(&v, p, "empty document: a JSON object expected");
    if (e && ws(e, v.end) != v.end)
        e = vfail(&v, ws(e, v.end), "end of document expected after the top-level value");
    if (!e && v.nomem) {
        mt_fail(d->ctx, MT_ERR_NOMEM, "%s: out of memory reading the document", dc->name);
        return false;
    }
    if (!e) {
        int line, col;
        locate(dc, v.err_at, &line, &col);
        mt_error_set(d->ctx, MT_ERR_PARSE, dc->name, line, col, NULL, "not JSON: %s (expected a metatrace-graph document)",
                     v.err);
        return false;
    }
    root->p = p;
    root->n = (size_t)(e - p);
    span f, ver;
    if (!is_obj(*root) || !get_member(*root, "format", &f) || !span_is(f, "\"" MT_JSON_FORMAT "\"")) {
        mt_error_set(d->ctx, MT_ERR_UNSUPPORTED, dc->name, 0, 0, NULL,
                     "not a metatrace-graph document (expected an object with \"format\": \"" MT_JSON_FORMAT
                     "\", as metatrace -o FILE.json writes)");
        return false;
    }
    if (!get_member(*root, "version", &ver) || is_real_text(ver) || ver.p[0] < '0' || ver.p[0] > '9' ||
        ver.n > 9) {
        mt_error_set(d->ctx, MT_ERR_UNSUPPORTED, dc->name, 0, 0, NULL,
                     "not a metatrace-graph document: \"version\" is not a small non-negative integer");
        return false;
    }
    *version = (long long)num_value(ver);
    if (*version < 1 || *version > MT_JSON_VERSION) {
        mt_error_set(d->ctx, MT_ERR_UNSUPPORTED, dc->name, 0, 0, NULL,
                     "metatrace-graph version %lld: this metatrace reads versions 1 to %d", *version,
                     MT_JSON_VERSION);
        return false;
    }
    return true;
}

static int top_find(const top *t, span key)
{
    for (int i = 0; i < t->n; i++)
        if (span_eq(t->keys[i], key))
            return i;
    return -1;
}

static bool top_get(const top *t, span key, span *v)
{
    int i = top_find(t, key);
    if (i >= 0)
        *v = t->vals[i];
    return i >= 0;
}

static void top_free(mt_ctx *ctx, top *t)
{
    for (int i = 0; i < t->n; i++)
        mt_heap_free(ctx, t->elems[i]);
    t->n = 0;
}

static const struct {
    const char *key;
    mt_diff_section sec;
    const char *keyname; /* NULL: leaf by leaf */
} sections[] = {
    {"model", MT_DIFF_MODEL, NULL},           {"symbols", MT_DIFF_SYMBOLS, "name"},
    {"parameters", MT_DIFF_PARAMETERS, "name"}, {"buffers", MT_DIFF_BUFFERS, "name"},
    {"modules", MT_DIFF_MODULES, "path"},     {"nodes", MT_DIFF_NODES, "name"},
    {"totals", MT_DIFF_TOTALS, NULL},         {"sizing", MT_DIFF_SIZING, NULL},
};

/* Top-level members not compared, or compared before the sections. */
static bool is_known(span key)
{
    if (span_is(key, "format") || span_is(key, "version") || span_is(key, "tool"))
        return true;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (span_is(key, sections[i].key))
            return true;
    return false;
}

/* A whole section present on one side only. */
static void section_one_side(dd *d, mt_diff_section sec, const char *key, span v, bool added)
{
    mt_diff_entry *e = add_entry(d, sec, added ? MT_DIFF_ADDED : MT_DIFF_REMOVED, sec == MT_DIFF_OTHER ? key : "");
    if (!e)
        return;
    if (added)
        e->new_value = compact(d, v);
    else
        e->old_value = compact(d, v);
}

static mt_diff *run_sections(dd *d);

/* The recorded elements are freed however the comparison ends. */
static mt_diff *run_diff(dd *d)
{
    mt_diff *r = run_sections(d);
    top_free(d->ctx, &d->a.t);
    top_free(d->ctx, &d->b.t);
    return r;
}

static mt_diff *run_sections(dd *d)
{
    span ra, rb;
    long long va, vb;
    if (!check_doc(d, &d->a, &ra, &va) || !check_doc(d, &d->b, &rb, &vb))
        return NULL;
    if (va != vb) {
        mt_error_set(d->ctx, MT_ERR_UNSUPPORTED, d->b.name, 0, 0, NULL,
                     "metatrace-graph version %lld, but '%s' is version %lld: export both with the same "
                     "metatrace",
                     vb, d->a.name, va);
        return NULL;
    }
    const top ta = d->a.t, tb = d->b.t;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0] && !d->failed; i++) {
        span sa, sb, key = {sections[i].key, strlen(sections[i].key)};
        bool ha = top_get(&ta, key, &sa), hb = top_get(&tb, key, &sb);
        mt_diff_section sec = sections[i].sec;
        if (!ha && !hb)
            continue;
        if (!ha || !hb) {
            section_one_side(d, sec, sections[i].key, hb ? sb : sa, hb);
            continue;
        }
        if (sections[i].keyname) {
            const doc *bad = !is_arr(sa) ? &d->a : !is_arr(sb) ? &d->b : NULL;
            if (bad) {
                mt_error_set(d->ctx, MT_ERR_UNSUPPORTED, bad->name, 0, 0, NULL,
                             "not a metatrace-graph document: \"%s\" is not an array", sections[i].key);
                return NULL;
            }
            int ia = top_find(&ta, key), ib = top_find(&tb, key);
            keyed_diff(d, sec, ta.elems[ia], ta.nelems[ia], tb.elems[ib], tb.nelems[ib], sections[i].keyname);
            if (d->bad)
                return NULL;
        } else {
            tree_diff(d, sec, "", sa, sb, sec == MT_DIFF_MODEL ? "config" : NULL, 0);
        }
    }
    /* Other members ("plan"), in the first document's order, then the second's. */
    span w;
    for (int i = 0; i < ta.n && !d->failed; i++) {
        if (is_known(ta.keys[i]))
            continue;
        char *key = decode_raw(d, ta.keys[i]);
        if (!key)
            break;
        if (top_get(&tb, ta.keys[i], &w))
            tree_diff(d, MT_DIFF_OTHER, key, ta.vals[i], w, NULL, 0);
        else
            section_one_side(d, MT_DIFF_OTHER, key, ta.vals[i], false);
    }
    for (int i = 0; i < tb.n && !d->failed; i++) {
        if (is_known(tb.keys[i]) || top_get(&ta, tb.keys[i], &w))
            continue;
        char *key = decode_raw(d, tb.keys[i]);
        if (key)
            section_one_side(d, MT_DIFF_OTHER, key, tb.vals[i], true);
    }
    if (d->failed) {
        mt_fail(d->ctx, MT_ERR_NOMEM, "out of memory while comparing '%s' and '%s'", d->a.name, d->b.name);
        return NULL;
    }
    mt_diff *r = mt_alloc(d->ctx, sizeof *r);
    if (!r)
        return NULL;
    r->name_a = mt_strdup(d->ctx, d->a.name);
    r->name_b = mt_strdup(d->ctx, d->b.name);
    r->n = d->n;
    r->entries = d->items;
    memcpy(r->counts, d->counts, sizeof r->counts);
    return r;
}

mt_diff *mt_graph_diff_mem(mt_ctx *ctx, const char *name_a, const char *text_a, size_t len_a, const char *name_b,
                           const char *text_b, size_t len_b)
{
    if (!ctx)
        return NULL;
    if (!text_a || !text_b) {
        mt_fail(ctx, MT_ERR_USAGE, "mt_graph_diff_mem: NULL document");
        return NULL;
    }
    dd d;
    memset(&d, 0, sizeof d);
    d.ctx = ctx;
    d.a.name = name_a ? name_a : "A";
    d.a.buf = text_a;
    d.a.len = len_a;
    d.b.name = name_b ? name_b : "B";
    d.b.buf = text_b;
    d.b.len = len_b;
    return run_diff(&d);
}

/* The whole file in a heap block (NUL-terminated); pipes work too. */
static char *read_all(mt_ctx *ctx, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        mt_error_set(ctx, MT_ERR_IO, path, 0, 0, NULL, "cannot open: %s (expected a metatrace-graph JSON file)",
                     strerror(errno));
        return NULL;
    }
    struct stat st;
    size_t cap = 1 << 16;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        cap = (size_t)st.st_size + 1;
    char *buf = mt_heap_alloc(ctx, cap);
    size_t n = 0;
    while (buf) {
        if (n + 1 == cap) {
            /* Full: grow only if there is more (a regular file read whole
             * does not reach EOF until asked again). */
            int c = fgetc(f);
            if (c == EOF)
                break;
            char *bigger = mt_heap_alloc(ctx, cap * 2);
            if (bigger)
                memcpy(bigger, buf, n);
            mt_heap_free(ctx, buf);
            buf = bigger;
            cap *= 2;
            if (!buf)
                break;
            buf[n++] = (char)c;
        }
        size_t k = fread(buf + n, 1, cap - 1 - n, f);
        n += k;
        if (k == 0)
            break;
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf) {
        mt_fail(ctx, MT_ERR_NOMEM, "%s: out of memory reading the document", path);
        return NULL;
    }
    if (err) {
        mt_heap_free(ctx, buf);
        mt_error_set(ctx, MT_ERR_IO, path, 0, 0, NULL, "cannot read: %s (expected a metatrace-graph JSON file)",
                     strerror(err));
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

mt_diff *mt_graph_diff(mt_ctx *ctx, const char *path_a, const char *path_b)
{
    if (!ctx)
        return NULL;
    if (!path_a || !path_b) {
        mt_fail(ctx, MT_ERR_USAGE, "mt_graph_diff: NULL path");
        return NULL;
    }
    size_t la = 0, lb = 0;
    char *a = read_all(ctx, path_a, &la);
    char *b = a ? read_all(ctx, path_b, &lb) : NULL;
    mt_diff *r = b ? mt_graph_diff_mem(ctx, path_a, a, la, path_b, b, lb) : NULL;
    mt_heap_free(ctx, a);
    mt_heap_free(ctx, b);
    return r;
}

/* ---- reports ------------------------------------------------------------------- */

static const char *const singular[MT_DIFF_SECTION_COUNT] = {
    /* ORDER mt_diff_section: keyed sections' entry kinds */
    NULL, "symbol", "parameter", "buffer", "module", "node", NULL, NULL, NULL,
};

static void print_entry(FILE *out, const mt_diff_entry *e)
{
    static const char sign[MT_DIFF_CHANGE_COUNT] = {'+', '-', '~'};
    fputc(sign[e->change], out);
    fputc(' ', out);
    const char *kind = singular[e->section];
    if (kind) {
        fprintf(out, "%s %s", kind, e->name);
        if (e->module && *e->module)
            fprintf(out, " (%s)", e->module);
        if (e->change == MT_DIFF_CHANGED)
            fprintf(out, ": %s %s -> %s\n", e->field ? e->field : "?", e->old_value ? e->old_value : "(absent)",
                    e->new_value ? e->new_value : "(absent)");
        else
            fprintf(out, ": %s\n", e->detail ? e->detail : "");
        return;
    }
    if (e->section == MT_DIFF_OTHER)
        fputs(e->name, out);
    else if (*e->name)
        fprintf(out, "%s.%s", section_names[e->section], e->name);
    else
        fputs(section_names[e->section], out);
    switch (e->change) {
    case MT_DIFF_CHANGED: fprintf(out, ": %s -> %s\n", e->old_value, e->new_value); break;
    case MT_DIFF_ADDED: fprintf(out, ": %s\n", e->new_value); break;
    default: fprintf(out, ": %s\n", e->old_value); break;
    }
}

static mt_status finish(mt_ctx *ctx, FILE *out)
{
    if (fflush(out) != 0 || ferror(out))
        return mt_fail(ctx, MT_ERR_IO, "writing the diff report: %s", strerror(errno ? errno : EIO));
    return MT_OK;
}

mt_status mt_diff_print(mt_ctx *ctx, const mt_diff *d, FILE *out)
{
    if (!ctx || !d || !out)
        return ctx ? mt_fail(ctx, MT_ERR_USAGE, "mt_diff_print: NULL argument") : MT_ERR_USAGE;
    if (d->n == 0)
        return finish(ctx, out);
    fprintf(out, "--- %s\n+++ %s\n", d->name_a, d->name_b);
    for (int i = 0; i < d->n; i++)
        print_entry(out, &d->entries[i]);
    fprintf(out, "%d difference%s:", d->n, d->n == 1 ? "" : "s");
    bool first = true;
    for (int s = 0; s < MT_DIFF_SECTION_COUNT; s++) {
        const int *c = d->counts[s];
        if (!c[0] && !c[1] && !c[2])
            continue;
        fprintf(out, "%s %s", first ? "" : ",", section_names[s]);
        first = false;
        for (int k = 0; k < MT_DIFF_CHANGE_COUNT; k++)
            if (c[k])
                fprintf(out, " %c%d", "+-~"[k], c[k]);
    }
    fputc('\n', out);
    return finish(ctx, out);
}

static void json_string_out(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04X", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

mt_status mt_diff_print_json(mt_ctx *ctx, const mt_diff *d, FILE *out)
{
    if (!ctx || !d || !out)
        return ctx ? mt_fail(ctx, MT_ERR_USAGE, "mt_diff_print_json: NULL argument") : MT_ERR_USAGE;
    fputs("{\n  \"format\": \"metatrace-graph-diff\",\n  \"version\": 1,\n  \"a\": ", out);
    json_string_out(out, d->name_a);
    fputs(",\n  \"b\": ", out);
    json_string_out(out, d->name_b);
    fprintf(out, ",\n  \"equal\": %s,\n  \"counts\": {", d->n == 0 ? "true" : "false");
    for (int s = 0; s < MT_DIFF_SECTION_COUNT; s++)
        fprintf(out, "%s\n    \"%s\": {\"added\": %d, \"removed\": %d, \"changed\": %d}", s ? "," : "",
                section_names[s], d->counts[s][0], d->counts[s][1], d->counts[s][2]);
    fputs("\n  },\n  \"differences\": [", out);
    for (int i = 0; i < d->n; i++) {
        const mt_diff_entry *e = &d->entries[i];
        fprintf(out, "%s\n    {\"section\": \"%s\", \"change\": \"%s\", \"name\": ", i ? "," : "",
                section_names[e->section], change_names[e->change]);
        json_string_out(out, e->name);
        fputs(", \"module\": ", out);
        json_string_out(out, e->module);
        fputs(", \"field\": ", out);
        json_string_out(out, e->field);
        if (e->old_value)
            fprintf(out, ", \"old\": %s", e->old_value);
        if (e->new_value)
            fprintf(out, ", \"new\": %s", e->new_value);
        fputc('}', out);
    }
    fputs(d->n ? "\n  ]\n}\n" : "]\n}\n", out);
    return finish(ctx, out);
}
