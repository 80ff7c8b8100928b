/* Private: the JSON text writer of the graph document (export/json.c) and of
 * its sizing member (export/sizing_json.c).
 *
 * It prints exactly the bytes jansson's json_dumpf(doc, JSON_INDENT(2)) gives
 * for the same document (or JSON_COMPACT's): a newline and two spaces per
 * level before every element and before a non-empty container's closing
 * bracket, `"key": ` before a member's value, `,` between elements, strings
 * escaped as jansson escapes them (quote, backslash, control bytes; UTF-8
 * kept), integers in decimal, reals in jansson's format (docs/graph-format.md;
 * tests/unit/test_export.c re-parses and re-dumps with jansson to check).
 *
 * The text goes through one buffer of MTX_SINK_BUF bytes, handed to the FILE
 * when full: memory does not grow with the graph, and the primitives below
 * write straight into the buffer (a room check, then stores), since a call
 * per token into a general write routine was most of the export's cost. */
#ifndef METATRACE_JSONW_H
#define METATRACE_JSONW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <metatrace/metatrace.h>

#define MTX_SINK_BUF (64 * 1024)

typedef struct mtx_sink {
    FILE *out;
    bool failed;        /* a write to out failed: later text is dropped */
    char *buf;          /* MTX_SINK_BUF bytes */
    char *p;            /* next free byte */
    char *end;          /* buf + MTX_SINK_BUF */
    const char *indent; /* jansson-dumped values: written after each newline */
    unsigned long flushes; /* times the buffer was handed over (text before it is gone) */
} mtx_sink;

/* Hand the buffered text to the FILE. */
void mtx_sink_flush(mtx_sink *s);

/* Room for n (at most MTX_SINK_BUF) bytes at s->p. */
static inline char *mtx_sink_room(mtx_sink *s, size_t n)
{
    if ((size_t)(s->end - s->p) < n)
        mtx_sink_flush(s);
    return s->p;
}

void mtx_sink_write_big(mtx_sink *s, const char *buf, size_t n);

static inline void mtx_sink_write(mtx_sink *s, const char *buf, size_t n)
{
    if (n > MTX_SINK_BUF) {
        mtx_sink_write_big(s, buf, n);
        return;
    }
    char *p = mtx_sink_room(s, n);
    memcpy(p, buf, n);
    s->p = p + n;
}

#define MTX_JW_MAX_DEPTH 32
#define MTX_JW_REALS 8
#define MTX_JW_STRS 512 /* entries of the string cache (a power of 2) */

typedef struct mtx_jw {
    mtx_sink *s;
    bool compact;        /* JSON_COMPACT: no newlines or indentation, ',' and ':' alone */
    int real_precision;  /* JSON_REAL_PRECISION: significant digits of every real */
    int depth;           /* indentation level (2 spaces each) */
    bool first[MTX_JW_MAX_DEPTH]; /* no element written yet at this depth */
    /* the last reals printed (a model repeats a few: eps, scales) */
    struct {
        uint64_t bits;
        int len;
        char text[40];
    } reals[MTX_JW_REALS];
    int nreals, next_real;
    /* mtx_w_gstr: strings seen, by address (direct-mapped), with their
     * length; only strings that need no escaping are entered */
    struct {
        const char *str;
        size_t len;
    } strs[MTX_JW_STRS];
} mtx_jw;

/* A newline and 64 spaces (the deepest indentation written), with room to copy
 * MTX_JW_NL bytes at once. */
#define MTX_JW_NL 72
extern const char mtx_jw_newline[MTX_JW_NL];

static inline char *mtx_jw_indent(const mtx_jw *w, char *p, int depth)
{
    if (w->compact)
        return p;
    size_t n = (size_t)depth * 2;
    if (n < 16) { /* most lines: one 16-byte copy */
        memcpy(p, mtx_jw_newline, 16);
    } else {
        if (n > 64)
            n = 64;
        memcpy(p, mtx_jw_newline, MTX_JW_NL);
    }
    return p + n + 1;
}

/* Before an element of the current array or object: ',' unless it is the
 * first, then the line break and indentation. */
static inline void mtx_w_elem(mtx_jw *w)
{
    char *p = mtx_sink_room(w->s, MTX_JW_NL + 1);
    if (!w->first[w->depth])
        *p++ = ',';
    w->first[w->depth] = false;
    w->s->p = mtx_jw_indent(w, p, w->depth);
}

static inline void mtx_w_open(mtx_jw *w, char c)
{
    char *p = mtx_sink_room(w->s, 1);
    *p = c;
    w->s->p = p + 1;
    w->depth++;
    w->first[w->depth] = true;
}

static inline void mtx_w_close(mtx_jw *w, char c)
{
    bool empty = w->first[w->depth];
    w->depth--;
    char *p = mtx_sink_room(w->s, MTX_JW_NL + 1);
    if (!empty)
        p = mtx_jw_indent(w, p, w->depth);
    *p = c;
    w->s->p = p + 1;
}

/* n bytes of text that needs no escaping (punctuation, literals, numbers). */
static inline void mtx_w_raw(mtx_jw *w, const char *text, size_t n)
{
    mtx_sink_write(w->s, text, n);
}
#define MTX_W_LIT(w, lit) mtx_w_raw((w), lit, sizeof(lit) - 1)

/* `"key": ` for a key spelled in the source (no character to escape):
 * MTX_W_KEY(w, "name"). The compact form drops the space. */
static inline void mtx_w_key_lit(mtx_jw *w, const char *quoted, size_t n)
{
    mtx_w_elem(w);
    char *p = mtx_sink_room(w->s, n);
    memcpy(p, quoted, n);
    w->s->p = p + n - (w->compact ? 1 : 0);
}
#define MTX_W_KEY(w, key) mtx_w_key_lit((w), "\"" key "\": ", sizeof("\"" key "\": ") - 1)

/* A JSON string as jansson escapes it; NULL gives null. Bytes that are not
 * UTF-8 are written as they are. */
void mtx_w_str(mtx_jw *w, const char *str);
/* mtx_w_str for a string that stays at its address, unchanged, until the
 * document is written (the model's and graph's strings, literals; not a
 * buffer of the caller's): its length and whether it needs escaping are
 * remembered by address. */
void mtx_w_gstr(mtx_jw *w, const char *str);
/* The same, but as a value made by jansson's json_string: text that is not
 * valid UTF-8 (as jansson checks it) gets every byte >= 0x80 replaced by '?'
 * (what the exporter did for such text when jansson built the section). */
void mtx_w_ustr(mtx_jw *w, const char *str);
/* An arbitrary key (escaped as a string; kept like mtx_w_gstr's). */
void mtx_w_key(mtx_jw *w, const char *key);
void mtx_w_int(mtx_jw *w, long long v);
/* A real in jansson's format at w->real_precision digits; inf and nan as
 * the object {"float": "inf"|"-inf"|"nan"} (docs/graph-format.md). */
void mtx_w_real(mtx_jw *w, double f);

static inline void mtx_w_null(mtx_jw *w) { MTX_W_LIT(w, "null"); }
static inline void mtx_w_bool(mtx_jw *w, bool b)
{
    if (b)
        MTX_W_LIT(w, "true");
    else
        MTX_W_LIT(w, "false");
}

/* Would jansson's json_string take str (not NULL, valid UTF-8)? */
bool mtx_json_string_ok(const char *str);

#endif
