/* Hugging Face config.json: loading, typed getters with located errors.
 *
 * The file is read whole and kept: jansson parses it (rejecting duplicate
 * keys) and a small scanner over the kept text finds where a field's key
 * sits, so every error can say FILE:LINE:COL. Lines and columns are 1-based
 * and counted like jansson counts them (a column is a Unicode character, a
 * line ends at '\n'). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>

#include <metatrace/model.h>

#include "ctx_internal.h"

struct mt_config {
    mt_ctx *ctx;
    const char *path; /* the file actually read (or the label of a parse) */
    const char *text; /* NUL-terminated copy of the source */
    size_t len;
    json_t *root;     /* an object; released when the context is freed */
    const char *prefix; /* a sub-config view (mt_config_sub): "text_config." before every field
                           in messages and locations; NULL for a whole file */
    const mt_config *parent;
};

/* The field's full path in the file: the view's prefix, then the field. */
static const char *full_field(const mt_config *c, const char *field) {
    if (!c->prefix || !field) return field;
    const char *f = mt_sprintf(c->ctx, "%s%s", c->prefix, field);
    return f ? f : field;
}

/* ---- small helpers ---------------------------------------------------------- */

static void cfg_json_release(void *p) { json_decref((json_t *)p); }

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* Shortest %g form that reads back to the same double; ".0" added when it
 * would look like an integer, so 4096.0 prints as "4096.0". */
static void fmt_real(char *buf, size_t size, double v) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) { /* n: inf/nan (never produced by jansson) */
        size_t n = strlen(buf);
        if (n + 2 < size) memcpy(buf + n, ".0", 3);
    }
}

#define MAX_SHOWN_STRING 40

/* A scalar's value as it would appear in JSON (strings quoted, escaped and
 * cut after MAX_SHOWN_STRING bytes); "" for objects and arrays. */
static const char *value_text(mt_ctx *ctx, const json_t *v) {
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return mt_sprintf(ctx, "%lld", (long long)json_integer_value(v));
    case JSON_REAL:
        fmt_real(buf, sizeof buf, json_real_value(v));
        return mt_strdup(ctx, buf);
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        size_t shown = len <= MAX_SHOWN_STRING ? len : MAX_SHOWN_STRING;
        /* never cut a UTF-8 sequence in half */
        while (shown < len && shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80) shown--;
        char *out = mt_alloc(ctx, shown * 6 + 8);
        if (!out) return "";
        size_t o = 0;
        out[o++] = '"';
        for (size_t i = 0; i < shown; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (ch == '"' || ch == '\\') {
                out[o++] = '\\';
                out[o++] = (char)ch;
            } else if (ch < 0x20) {
                o += (size_t)snprintf(out + o, 7, "\\u%04x", ch);
            } else {
                out[o++] = (char)ch;
            }
        }
        out[o++] = '"';
        if (shown < len) {
            memcpy(out + o, "...", 3);
            o += 3;
        }
        out[o] = 0;
        return out;
    }
    case JSON_OBJECT:
    case JSON_ARRAY: break;
    }
    return "";
}

/* "a string \"4096\"", "an integer 3", "an object", "null". */
static const char *describe(mt_ctx *ctx, const json_t *v) {
    if (json_is_object(v) || json_is_array(v) || json_is_null(v)) return type_name(v);
    const char *t = mt_sprintf(ctx, "%s %s", type_name(v), value_text(ctx, v));
    return t ? t : type_name(v);
}

/* ---- field paths -------------------------------------------------------------- */

/* One segment of a dotted path: [s, s+n). */
static const char *seg_next(const char *p, size_t *n) {
    const char *dot = strchr(p, '.');
    *n = dot ? (size_t)(dot - p) : strlen(p);
    return p;
}

static bool seg_index(const char *s, size_t n, size_t *out) {
    if (n == 0 || n > 18) return false;
    size_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

typedef enum { FOUND, ABSENT, BAD_PARENT } lookup_kind;

/* Walk a dotted path: object members by name, array elements by index
 * ("architectures.0"). BAD_PARENT: a prefix of the path (its length in
 * *prefix_len) names a value that is neither an object nor an array (nor
 * null, which counts as absent), so the rest cannot be reached. */
static lookup_kind lookup(const mt_config *c, const char *field, json_t **out,
                          size_t *prefix_len) {
    json_t *cur = c->root;
    const char *p = field;
    *out = NULL;
    for (;;) {
        size_t n;
        seg_next(p, &n);
        json_t *next = NULL;
        size_t idx;
        if (json_is_object(cur)) {
            next = json_object_getn(cur, p, n);
        } else if (json_is_array(cur)) {
            if (seg_index(p, n, &idx)) next = json_array_get(cur, idx);
        } else if (json_is_null(cur)) {
            return ABSENT;
        } else {
            *prefix_len = (size_t)(p - field) - 1; /* without the dot */
            *out = cur;
            return BAD_PARENT;
        }
        if (!next) return ABSENT;
        cur = next;
        if (p[n] == 0) break;
        p += n + 1;
    }
    *out = cur;
    return json_is_null(cur) ? ABSENT : FOUND;
}

/* ---- locating a field in the text --------------------------------------------
 * The text has already been accepted by jansson, so the scanner can be
 * lenient: it only has to step over strings (with escapes) and nested values
 * without being fooled by brackets or quotes inside strings. */

typedef struct scan {
    const char *s;
    size_t len, pos;
} scan;

static void sc_ws(scan *sc) {
    while (sc->pos < sc->len) {
        char ch = sc->s[sc->pos];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') break;
        sc->pos++;
    }
}

/* At an opening quote: step past the closing one. */
static void sc_skip_string(scan *sc) {
    sc->pos++;
    while (sc->pos < sc->len) {
        char ch = sc->s[sc->pos++];
        if (ch == '\\') sc->pos++;
        else if (ch == '"') return;
    }
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static unsigned hex4(const char *p) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) v = v * 16 + (unsigned)hexval(p[i]);
    return v;
}

static size_t utf8_put(unsigned cp, unsigned char *o) {
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At an opening quote: decode the string and compare it with name[0, n);
 * leaves pos after the closing quote. */
static bool sc_string_equals(scan *sc, const char *name, size_t n) {
    size_t start = sc->pos + 1, k = 0;
    bool eq = true;
    sc_skip_string(sc);
    size_t end = sc->pos - 1; /* the closing quote */
    for (size_t i = start; i < end && eq;) {
        unsigned char dec[8];
        size_t dn;
        char ch = sc->s[i];
        if (ch != '\\') {
            dec[0] = (unsigned char)ch;
            dn = 1;
            i++;
        } else {
            char e = sc->s[i + 1];
            i += 2;
            switch (e) {
            case 'b': dec[0] = '\b'; dn = 1; break;
            case 'f': dec[0] = '\f'; dn = 1; break;
            case 'n': dec[0] = '\n'; dn = 1; break;
            case 'r': dec[0] = '\r'; dn = 1; break;
            case 't': dec[0] = '\t'; dn = 1; break;
            case 'u': {
                unsigned cp = hex4(sc->s + i);
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= end && sc->s[i] == '\\' &&
                    sc->s[i + 1] == 'u') {
                    unsigned lo = hex4(sc->s + i + 2);
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
                dn = utf8_put(cp, dec);
                break;
            }
            default: dec[0] = (unsigned char)e; dn = 1; break; /* " \ / */
            }
        }
        if (k + dn > n || memcmp(name + k, dec, dn) != 0) eq = false;
        k += dn;
    }
    return eq && k == n;
}

/* Step over one value (string, number, literal, object or array). */
static void sc_skip_value(scan *sc) {
    sc_ws(sc);
    if (sc->pos >= sc->len) return;
    char ch = sc->s[sc->pos];
    if (ch == '"') {
        sc_skip_string(sc);
        return;
    }
    if (ch == '{' || ch == '[') {
        size_t depth = 0;
        while (sc->pos < sc->len) {
            ch = sc->s[sc->pos];
            if (ch == '"') {
                sc_skip_string(sc);
                continue;
            }
            sc->pos++;
            if (ch == '{' || ch == '[') depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0) return;
        }
        return;
    }
    while (sc->pos < sc->len) { /* number or literal */
        ch = sc->s[sc->pos];
        if (ch == ',' || ch == '}' || ch == ']' || ch == ' ' || ch == '\t' || ch == '\n' ||
            ch == '\r')
            return;
        sc->pos++;
    }
}

/* Byte offset of the field's key (of the element, for an array index), or
 * (size_t)-1 when the path does not lead anywhere in the text. */
static size_t locate_offset(const char *text, size_t len, const char *field) {
    scan sc = {text, len, 0};
    const char *p = field;
    sc_ws(&sc);
    for (;;) {
        size_t n, idx, found = (size_t)-1;
        seg_next(p, &n);
        if (sc.pos >= len) return (size_t)-1;
        if (text[sc.pos] == '{') {
            sc.pos++;
            for (;;) {
                sc_ws(&sc);
                if (sc.pos >= len || text[sc.pos] != '"') return (size_t)-1; /* '}' */
                size_t key_at = sc.pos;
                bool eq = sc_string_equals(&sc, p, n);
                sc_ws(&sc);
                if (sc.pos < len && text[sc.pos] == ':') sc.pos++;
                sc_ws(&sc);
                if (eq) {
                    found = key_at;
                    break;
                }
                sc_skip_value(&sc);
                sc_ws(&sc);
                if (sc.pos >= len || text[sc.pos] != ',') return (size_t)-1;
                sc.pos++;
            }
        } else if (text[sc.pos] == '[' && seg_index(p, n, &idx)) {
            sc.pos++;
            sc_ws(&sc);
            if (sc.pos < len && text[sc.pos] == ']') return (size_t)-1;
            for (size_t i = 0; i < idx; i++) {
                sc_skip_value(&sc);
                sc_ws(&sc);
                if (sc.pos >= len || text[sc.pos] != ',') return (size_t)-1;
                sc.pos++;
            }
            sc_ws(&sc);
            found = sc.pos;
        } else {
            return (size_t)-1;
        }
        if (p[n] == 0) return found;
        p += n + 1;
        /* for an object member, sc.pos is already at its value */
    }
}

static void offset_to_linecol(const char *text, size_t off, int *line, int *col) {
    int l = 1, c = 0;
    for (size_t i = 0; i <= off; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            l++;
            c = 0;
        } else if ((ch & 0xC0) != 0x80) {
            c++; /* count characters, not UTF-8 continuation bytes */
        }
    }
    *line = l;
    *col = c;
}

void mt_config_locate(const mt_config *c, const char *field, int *line, int *col) {
    int l = 0, k = 0;
    if (c && field && *field) {
        field = full_field(c, field);
        size_t off = locate_offset(c->text, c->len, field);
        if (off != (size_t)-1 && off < c->len) offset_to_linecol(c->text, off, &l, &k);
    }
    if (line) *line = l;
    if (col) *col = k;
}

/* ---- loading ------------------------------------------------------------------ */

static bool word_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.';
}

/* Python's json.dumps writes float('inf') and float('nan') as the bare tokens
 * Infinity, -Infinity and NaN, which strict JSON (jansson) rejects, and
 * transformers saves Mamba-2 configs that way ("time_step_limit": [0.0,
 * Infinity]). Outside strings, each such token becomes a string of the same
 * length, so every offset (and every line:col in messages) is unchanged:
 * Infinity -> "Inf" + 3 spaces, -Infinity -> "-Inf" + 3 spaces, NaN -> "N".
 * A field that may hold one reads the string back (bamba's time_step_limit);
 * anywhere else it is a located "expected a number" error instead of a
 * parse error for the whole file. */
static void python_floats_to_strings(char *t, size_t len) {
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char ch = t[i];
        if (in_str) {
            if (ch == '\\') i++;
            else if (ch == '"') in_str = false;
            continue;
        }
        if (ch == '"') {
            in_str = true;
            continue;
        }
        if (i > 0 && word_char(t[i - 1])) continue;
        const char *rep = NULL;
        size_t n = 0;
        if (len - i >= 8 && memcmp(t + i, "Infinity", 8) == 0) rep = "\"Inf\"   ", n = 8;
        else if (len - i >= 9 && memcmp(t + i, "-Infinity", 9) == 0) rep = "\"-Inf\"   ", n = 9;
        else if (len - i >= 3 && memcmp(t + i, "NaN", 3) == 0) rep = "\"N\"", n = 3;
        if (!rep || (i + n < len && word_char(t[i + n]))) continue;
        memcpy(t + i, rep, n);
        i += n - 1;
    }
}

mt_config *mt_config_parse(mt_ctx *ctx, const char *text, size_t len, const char *label) {
    if (!ctx) return NULL;
    if (!label) label = "<config>";
    if (!text) {
        mt_fail(ctx, MT_ERR_USAGE, "mt_config_parse: no text given for %s", label);
        return NULL;
    }
    mt_config *c = mt_alloc(ctx, sizeof *c);
    char *copy = len < SIZE_MAX ? mt_alloc(ctx, len + 1) : NULL;
    const char *path = mt_strdup(ctx, label);
    if (!c || !copy || !path) {
        mt_fail(ctx, MT_ERR_NOMEM, "out of memory reading %s", label);
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    c->ctx = ctx;
    c->path = path;
    c->text = copy;
    c->len = len;

    python_floats_to_strings(copy, len);
    json_error_t jerr;
    json_t *root = json_loadb(copy, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        mt_status st = json_error_code(&jerr) == json_error_out_of_memory ? MT_ERR_NOMEM
                                                                          : MT_ERR_PARSE;
        mt_error_set(ctx, st, path, jerr.line > 0 ? jerr.line : 0,
                     jerr.column > 0 ? jerr.column : 0, NULL, "%s", jerr.text);
        return NULL;
    }
    if (!mt__ctx_on_free(ctx, cfg_json_release, root)) {
        json_decref(root);
        mt_fail(ctx, MT_ERR_NOMEM, "out of memory reading %s", label);
        return NULL;
    }
    c->root = root;
    if (!json_is_object(root)) {
        scan sc = {copy, len, 0};
        int line = 0, col = 0;
        sc_ws(&sc);
        if (sc.pos < len) offset_to_linecol(copy, sc.pos, &line, &col);
        mt_error_set(ctx, MT_ERR_CONFIG, path, line, col, NULL,
                     "expected a JSON object at top level, got %s", describe(ctx, root));
        return NULL;
    }
    return c;
}

/* What a file that is not a regular file is, for the message. */
static const char *file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
#ifdef S_ISSOCK
    if (S_ISSOCK(mode)) return "a socket";
#endif
    return "not a file";
}

/* A config must be a regular file of at most MT_MAX_CONFIG_BYTES: a device
 * (/dev/zero, /dev/urandom) would be read until memory runs out, a FIFO with
 * no writer would block forever, and no real config is anywhere near the cap. */
static bool check_config_file(mt_ctx *ctx, const char *path, const struct stat *st) {
    if (!S_ISREG(st->st_mode)) {
        if (S_ISDIR(st->st_mode))
            mt_error_set(ctx, MT_ERR_IO, path, 0, 0, NULL, "cannot open: %s", strerror(EISDIR));
        else
            mt_error_set(ctx, MT_ERR_IO, path, 0, 0, NULL,
                         "'%s' is not a regular file (%s); a config must be a JSON file", path,
                         file_kind(st->st_mode));
        return false;
    }
    if (st->st_size > (off_t)MT_MAX_CONFIG_BYTES) {
        mt_error_set(ctx, MT_ERR_IO, path, 0, 0, NULL, "%.1f MiB is more than the %d MiB a config may have",
                     (double)st->st_size / (1024.0 * 1024.0), MT_MAX_CONFIG_BYTES / (1024 * 1024));
        return false;
    }
    return true;
}

/* Read a whole config file into memory owned by the context: at most
 * MT_MAX_CONFIG_BYTES + 1 bytes, so a file that grows while it is read (or a
 * /proc file whose size stat does not know) still cannot run away. */
static char *read_all(mt_ctx *ctx, const char *path, size_t *len_out) {
    /* stat first: a FIFO is refused here without ever being opened for
     * reading (open(2) on a FIFO blocks until a writer appears). */
    struct stat st;
    if (stat(path, &st) != 0) {
        mt_error_set(ctx, MT_ERR_IO, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (!check_config_file(ctx, path, &st)) return NULL;
    /* The name may be swapped for a FIFO or a device between stat and open:
     * O_NONBLOCK makes that open return at once instead of waiting for a
     * writer, and fstat checks what was actually opened. On a regular file
     * O_NONBLOCK changes nothing. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        mt_error_set(ctx, MT_ERR_IO, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        mt_error_set(ctx, MT_ERR_IO, path, 0, 0, NULL, "cannot read: %s", strerror(e));
        return NULL;
    }
    if (!check_config_file(ctx, path, &st)) {
        close(fd);
        return NULL;
    }
    const size_t limit = (size_t)MT_MAX_CONFIG_BYTES + 1; /* one byte more tells "too large" */
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096; /* +1: the read that sees EOF */
    if (cap > limit) cap = limit;
    char *buf = mt_heap_alloc(ctx, cap);
    size_t len = 0;
    for (;;) {
        if (!buf) {
            close(fd);
            return NULL; /* mt_heap_alloc set the error */
        }
        if (len == cap) {
            if (cap == limit) break;
            size_t ncap = cap * 2 < limit ? cap * 2 : limit;
            char *bigger = mt_heap_alloc(ctx, ncap);
            if (bigger) memcpy(bigger, buf, len);
            mt_heap_free(ctx, buf);
            buf = bigger;
            cap = ncap;
            continue;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            mt_heap_free(ctx, buf);
            mt_error_set(ctx, MT_ERR_IO, path, 0, 0, NULL, "cannot read: %s", strerror(e));
            return NULL;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    if (len > (size_t)MT_MAX_CONFIG_BYTES) {
        mt_heap_free(ctx, buf);
        mt_error_set(ctx, MT_ERR_IO, path, 0, 0, NULL, "more than the %d MiB a config may have",
                     MT_MAX_CONFIG_BYTES / (1024 * 1024));
        return NULL;
    }
    *len_out = len;
    return buf;
}

mt_config *mt_config_load(mt_ctx *ctx, const char *path) { return mt_config_load_revision(ctx, path, NULL); }

mt_config *mt_config_load_revision(mt_ctx *ctx, const char *path, const char *revision) {
    if (!ctx) return NULL;
    const char *file = mt_hub_config_path(ctx, path, revision);
    if (!file) return NULL;
    size_t len = 0;
    char *text = read_all(ctx, file, &len);
    if (!text) return NULL;
    mt_config *c = mt_config_parse(ctx, text, len, file);
    mt_heap_free(ctx, text); /* the config keeps its own copy */
    return c;
}

const char *mt_config_path(const mt_config *c) { return c ? c->path : NULL; }

mt_config *mt_config_sub(mt_config *c, const char *field) {
    if (!c || !field) return NULL;
    json_t *v = mt_config_json(c, field);
    if (!json_is_object(v)) return NULL;
    mt_config *s = mt_alloc(c->ctx, sizeof *s);
    if (!s) return NULL;
    *s = *c;
    s->root = v;
    s->prefix = mt_sprintf(c->ctx, "%s%s.", c->prefix ? c->prefix : "", field);
    s->parent = c;
    return s->prefix ? s : NULL;
}

mt_config *mt_config_parent(const mt_config *c) { return c ? (mt_config *)c->parent : NULL; }
mt_ctx *mt_config_ctx(const mt_config *c) { return c ? c->ctx : NULL; }

/* ---- getters ------------------------------------------------------------------ */

mt_status mt_config_error(mt_config *c, const char *field, const char *fmt, ...) {
    if (!c) return MT_ERR_USAGE;
    int line = 0, col = 0;
    mt_config_locate(c, field, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    mt_status st = mt_error_setv(c->ctx, MT_ERR_CONFIG, c->path, line, col, full_field(c, field), fmt, ap);
    va_end(ap);
    return st;
}

bool mt_config_has(const mt_config *c, const char *field) {
    json_t *v;
    size_t pl;
    return c && field && lookup(c, field, &v, &pl) == FOUND;
}

void *mt_config_json(const mt_config *c, const char *field) {
    json_t *v;
    size_t pl;
    if (!c) return NULL;
    if (!field || !*field) return c->root;
    return lookup(c, field, &v, &pl) == FOUND ? v : NULL;
}

/* Look the field up for a typed getter: FOUND with *out set, ABSENT, or an
 * error already set (returns BAD_PARENT). */
static lookup_kind get(mt_config *c, const char *field, json_t **out) {
    size_t pl = 0;
    if (!field || !*field) {
        mt_fail(c->ctx, MT_ERR_USAGE, "config getter called without a field name");
        return BAD_PARENT;
    }
    lookup_kind k = lookup(c, field, out, &pl);
    if (k == BAD_PARENT) {
        char *parent = mt_strndup(c->ctx, field, pl);
        if (!parent) return BAD_PARENT;
        mt_config_error(c, parent, "expected an object (to read '%s'), got %s", field,
                     describe(c->ctx, *out));
    }
    return k;
}

static mt_status missing(mt_config *c, const char *field) {
    return mt_error_set(c->ctx, MT_ERR_CONFIG, c->path, 0, 0, NULL,
                        "missing required field '%s'", full_field(c, field));
}

/* An integer, or a real with an integral value in int64 range. */
static bool as_int(const json_t *v, int64_t *out) {
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && (double)(int64_t)d == d) {
            *out = (int64_t)d;
            return true;
        }
    }
    return false;
}

/* ---- sanity limits on counts ---------------------------------------------------
 * Counts that drive how much is built (layers, experts) or how large sizes get
 * (heads, vocabulary, widths) are bounded by the typed integer getters
 * themselves, by the field's last dotted component, so every family (and
 * text_config.*) gets them without reading them differently. The limits are
 * far above every released model (docs/cli.md, "Limits"). */
typedef struct count_limit {
    const char *name;
    int64_t max;
    const char *what; /* the unit in the message: " layers" */
} count_limit;

static const count_limit COUNT_LIMITS[] = {
    {"num_hidden_layers", MT_MAX_LAYERS, " layers"},
    {"n_layer", MT_MAX_LAYERS, " layers"},
    {"n_layers", MT_MAX_LAYERS, " layers"},
    {"num_layers", MT_MAX_LAYERS, " layers"},
    {"encoder_layers", MT_MAX_LAYERS, " layers"},
    {"decoder_layers", MT_MAX_LAYERS, " layers"},
    {"num_decoder_layers", MT_MAX_LAYERS, " layers"},
    {"num_encoder_layers", MT_MAX_LAYERS, " layers"},
    {"num_nextn_predict_layers", MT_MAX_LAYERS, " layers"},
    {"num_local_experts", MT_MAX_EXPERTS, " experts"},
    {"n_routed_experts", MT_MAX_EXPERTS, " experts"},
    {"num_experts", MT_MAX_EXPERTS, " experts"},
    {"n_shared_experts", MT_MAX_EXPERTS, " experts"},
    {"num_experts_per_tok", MT_MAX_EXPERTS, " experts"},
    {"num_attention_heads", MT_MAX_HEADS, " heads"},
    {"num_key_value_heads", MT_MAX_HEADS, " heads"},
    {"num_heads", MT_MAX_HEADS, " heads"},
    {"num_kv_heads", MT_MAX_HEADS, " heads"},
    {"n_head", MT_MAX_HEADS, " heads"},
    {"n_head_kv", MT_MAX_HEADS, " heads"},
    {"multi_query_group_num", MT_MAX_HEADS, " heads"},
    {"encoder_attention_heads", MT_MAX_HEADS, " heads"},
    {"decoder_attention_heads", MT_MAX_HEADS, " heads"},
    {"vocab_size", MT_MAX_VOCAB, " tokens"},
    {"hidden_size", MT_MAX_HIDDEN, " for a width"},
    {"intermediate_size", MT_MAX_HIDDEN, " for a width"},
    {"moe_intermediate_size", MT_MAX_HIDDEN, " for a width"},
    {"shared_expert_intermediate_size", MT_MAX_HIDDEN, " for a width"},
    {"ffn_hidden_size", MT_MAX_HIDDEN, " for a width"},
    {"ffn_dim", MT_MAX_HIDDEN, " for a width"},
    {"encoder_ffn_dim", MT_MAX_HIDDEN, " for a width"},
    {"decoder_ffn_dim", MT_MAX_HIDDEN, " for a width"},
    {"n_embd", MT_MAX_HIDDEN, " for a width"},
    {"n_embed", MT_MAX_HIDDEN, " for a width"},
    {"n_inner", MT_MAX_HIDDEN, " for a width"},
    {"d_model", MT_MAX_HIDDEN, " for a width"},
    {"d_ff", MT_MAX_HIDDEN, " for a width"},
    {"d_kv", MT_MAX_HIDDEN, " for a width"},
    {"head_dim", MT_MAX_HIDDEN, " for a width"},
    {"word_embed_proj_dim", MT_MAX_HIDDEN, " for a width"},
    {"kv_lora_rank", MT_MAX_HIDDEN, " for a width"},
    {"q_lora_rank", MT_MAX_HIDDEN, " for a width"},
    {"qk_rope_head_dim", MT_MAX_HIDDEN, " for a width"},
    {"qk_nope_head_dim", MT_MAX_HIDDEN, " for a width"},
    {"v_head_dim", MT_MAX_HIDDEN, " for a width"},
    {"rotary_dim", MT_MAX_HIDDEN, " for a width"},
};

/* The limit on the field (by its last dotted component), or NULL. */
static const count_limit *count_limit_of(const char *field) {
    const char *dot = strrchr(field, '.');
    const char *last = dot ? dot + 1 : field;
    for (size_t i = 0; i < sizeof COUNT_LIMITS / sizeof COUNT_LIMITS[0]; i++)
        if (strcmp(COUNT_LIMITS[i].name, last) == 0) return &COUNT_LIMITS[i];
    return NULL;
}

/* "16,777,216" */
static const char *with_commas(mt_ctx *ctx, int64_t v) {
    char digits[32], out[48];
    snprintf(digits, sizeof digits, "%lld", (long long)v);
    size_t n = strlen(digits), o = 0, start = digits[0] == '-';
    for (size_t i = 0; i < n; i++) {
        if (i > start && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = 0;
    return mt_strdup(ctx, out);
}

/* A value read from the file above its field's limit: a located error. */
static bool within_limit(mt_config *c, const char *field, const json_t *v, int64_t x) {
    const count_limit *l = count_limit_of(field);
    if (!l || x <= l->max) return true;
    mt_config_error(c, field, "%s is more than the limit of %s%s (far above every real model; docs/cli.md, Limits)",
                 value_text(c->ctx, v), with_commas(c->ctx, l->max), l->what);
    return false;
}

/* ---- domains of real-valued fields -------------------------------------------------
 * A value read from the file outside its field's domain is a located error where
 * it is read, before it can turn into a NaN, a division by zero or a negative size
 * deep in a trace. By the field's last dotted component, as the count limits; the
 * counts above are also never negative. */
typedef enum domain { DOM_POSITIVE, DOM_UNIT, DOM_PROBABILITY, DOM_NONNEGATIVE } domain;

typedef struct field_domain {
    const char *name;
    domain dom;
} field_domain;

static const field_domain DOMAINS[] = {
    /* norm epsilons (a zero or negative epsilon is a division by zero or a NaN) */
    {"rms_norm_eps", DOM_POSITIVE}, {"layer_norm_eps", DOM_POSITIVE}, {"layer_norm_epsilon", DOM_POSITIVE},
    {"norm_epsilon", DOM_POSITIVE}, {"norm_eps", DOM_POSITIVE},
    /* rotary bases and scales */
    {"rope_theta", DOM_POSITIVE}, {"rope_local_base_freq", DOM_POSITIVE}, {"rotary_emb_base", DOM_POSITIVE},
    {"partial_rotary_factor", DOM_UNIT}, {"rotary_pct", DOM_UNIT},
    /* multipliers and caps */
    {"query_pre_attn_scalar", DOM_POSITIVE}, {"routed_scaling_factor", DOM_POSITIVE}, {"logit_scale", DOM_POSITIVE},
    {"clip_qkv", DOM_POSITIVE}, {"swiglu_limit", DOM_POSITIVE}, {"swiglu_alpha", DOM_POSITIVE},
    {"attn_logit_softcapping", DOM_POSITIVE}, {"final_logit_softcapping", DOM_POSITIVE},
    {"embedding_multiplier", DOM_POSITIVE}, {"residual_multiplier", DOM_POSITIVE},
    {"attention_multiplier", DOM_POSITIVE}, {"logits_scaling", DOM_POSITIVE},
    {"initializer_range", DOM_NONNEGATIVE}, {"initializer_factor", DOM_NONNEGATIVE},
    /* dropout probabilities */
    {"dropout", DOM_PROBABILITY}, {"attention_dropout", DOM_PROBABILITY}, {"hidden_dropout", DOM_PROBABILITY},
    {"activation_dropout", DOM_PROBABILITY}, {"resid_pdrop", DOM_PROBABILITY}, {"embd_pdrop", DOM_PROBABILITY},
    {"attn_pdrop", DOM_PROBABILITY}, {"hidden_dropout_prob", DOM_PROBABILITY},
    {"attention_probs_dropout_prob", DOM_PROBABILITY}, {"classifier_dropout", DOM_PROBABILITY},
    {"dropout_rate", DOM_PROBABILITY}, {"attention_dropout_prob", DOM_PROBABILITY},
};

static const char *const DOMAIN_TEXT[] = {
    [DOM_POSITIVE] = "a number > 0",
    [DOM_UNIT] = "a number in (0, 1]",
    [DOM_PROBABILITY] = "a probability in [0, 1]",
    [DOM_NONNEGATIVE] = "a number >= 0",
};

static const char *last_component(const char *field) {
    const char *dot = strrchr(field, '.');
    return dot ? dot + 1 : field;
}

static bool in_domain(mt_config *c, const char *field, const json_t *v, double x) {
    const char *last = last_component(field);
    for (size_t i = 0; i < sizeof DOMAINS / sizeof DOMAINS[0]; i++) {
        if (strcmp(DOMAINS[i].name, last) != 0) continue;
        domain d = DOMAINS[i].dom;
        bool ok = d == DOM_POSITIVE      ? x > 0
                  : d == DOM_UNIT        ? x > 0 && x <= 1
                  : d == DOM_PROBABILITY ? x >= 0 && x <= 1
                                         : x >= 0;
        if (ok) return true;
        mt_config_error(c, field, "expected %s, got %s", DOMAIN_TEXT[d], value_text(c->ctx, v));
        return false;
    }
    return true;
}

/* A count read from the file is never negative. */
static bool count_not_negative(mt_config *c, const char *field, const json_t *v, int64_t x) {
    if (x >= 0 || !count_limit_of(field)) return true;
    mt_config_error(c, field, "expected a count >= 0, got %s", value_text(c->ctx, v));
    return false;
}

bool mt_config_int(mt_config *c, const char *field, int64_t def, int64_t *out) {
    if (!c) return false;
    json_t *v;
    lookup_kind k = get(c, field, &v);
    if (k == ABSENT) {
        *out = def;
        return true;
    }
    if (k != FOUND) return false;
    if (as_int(v, out)) return count_not_negative(c, field, v, *out) && within_limit(c, field, v, *out);
    mt_config_error(c, field, "expected an integer, got %s", describe(c->ctx, v));
    return false;
}

bool mt_config_float(mt_config *c, const char *field, double def, double *out) {
    if (!c) return false;
    json_t *v;
    lookup_kind k = get(c, field, &v);
    if (k == ABSENT) {
        *out = def;
        return true;
    }
    if (k != FOUND) return false;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return in_domain(c, field, v, *out);
    }
    mt_config_error(c, field, "expected a number, got %s", describe(c->ctx, v));
    return false;
}

bool mt_config_bool(mt_config *c, const char *field, bool def, bool *out) {
    if (!c) return false;
    json_t *v;
    lookup_kind k = get(c, field, &v);
    if (k == ABSENT) {
        *out = def;
        return true;
    }
    if (k != FOUND) return false;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    mt_config_error(c, field, "expected a boolean, got %s", describe(c->ctx, v));
    return false;
}

bool mt_config_str(mt_config *c, const char *field, const char *def, const char **out) {
    if (!c) return false;
    json_t *v;
    lookup_kind k = get(c, field, &v);
    if (k == ABSENT) {
        *out = def;
        return true;
    }
    if (k != FOUND) return false;
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return true;
    }
    mt_config_error(c, field, "expected a string, got %s", describe(c->ctx, v));
    return false;
}

bool mt_config_req_int(mt_config *c, const char *field, int64_t *out) {
    if (!c) return false;
    json_t *v;
    lookup_kind k = get(c, field, &v);
    if (k == ABSENT) {
        missing(c, field);
        return false;
    }
    if (k != FOUND) return false;
    if (as_int(v, out)) return count_not_negative(c, field, v, *out) && within_limit(c, field, v, *out);
    mt_config_error(c, field, "expected an integer, got %s", describe(c->ctx, v));
    return false;
}

bool mt_config_pos_int(mt_config *c, const char *field, int64_t def, int64_t *out) {
    if (!c) return false;
    json_t *v;
    lookup_kind k = get(c, field, &v);
    if (k == ABSENT) {
        if (def <= 0) {
            missing(c, field);
            return false;
        }
        *out = def;
        return true;
    }
    if (k != FOUND) return false;
    int64_t x;
    if (!as_int(v, &x)) {
        mt_config_error(c, field, "expected a positive integer, got %s", describe(c->ctx, v));
        return false;
    }
    if (x <= 0) {
        mt_config_error(c, field, "expected a positive integer, got %s", value_text(c->ctx, v));
        return false;
    }
    if (!within_limit(c, field, v, x)) return false;
    *out = x;
    return true;
}

/* ---- model type --------------------------------------------------------------- */

const char *mt_config_architecture(mt_config *c) {
    if (!c) return NULL;
    json_t *a = json_object_get(c->root, "architectures");
    json_t *first = json_is_array(a) ? json_array_get(a, 0) : NULL;
    return json_is_string(first) ? json_string_value(first) : NULL;
}

const char *mt_config_model_type(mt_config *c) {
    if (!c) return NULL;
    const char *mt = NULL;
    if (!mt_config_str(c, "model_type", NULL, &mt)) return NULL;
    if (mt && *mt) return mt;
    if (mt) {
        mt_config_error(c, "model_type", "expected a non-empty string, got \"\"");
        return NULL;
    }
    /* A class name does not reliably give the model_type ("GPTNeoXForCausalLM"
     * is "gpt_neox"), so this stays an error; naming the class helps. */
    const char *arch = mt_config_architecture(c);
    if (arch)
        mt_error_set(c->ctx, MT_ERR_CONFIG, c->path, 0, 0, NULL,
                     "missing field 'model_type' (architectures[0] is \"%s\"; "
                     "add the model_type of that class)",
                     arch);
    else
        mt_error_set(c->ctx, MT_ERR_CONFIG, c->path, 0, 0, NULL, "missing field 'model_type'");
    return NULL;
}
