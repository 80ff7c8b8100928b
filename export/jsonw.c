/* metatrace — the JSON text writer (jsonw.h): strings, numbers, the buffer. */
#include <math.h>
#include <stdlib.h>

#include "jsonw.h"

#define SP8 "        "
const char mtx_jw_newline[MTX_JW_NL] = "\n" SP8 SP8 SP8 SP8 SP8 SP8 SP8 SP8;

void mtx_sink_flush(mtx_sink *s)
{
    size_t n = (size_t)(s->p - s->buf);
    if (n && !s->failed && fwrite(s->buf, 1, n, s->out) != n)
        s->failed = true;
    s->p = s->buf;
    s->flushes++;
}

void mtx_sink_write_big(mtx_sink *s, const char *buf, size_t n)
{
    mtx_sink_flush(s);
    if (!s->failed && fwrite(buf, 1, n, s->out) != n)
        s->failed = true;
}

/* ---- strings ----------------------------------------------------------------- */

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* A byte of x below 0x20 (a control byte), a quote or a backslash, or (with
 * high) one with its top bit set. Each test is exact for "any byte of the
 * word" (the classic has-zero-byte and has-less-than word tricks). */
static inline uint64_t special8(uint64_t x, uint64_t high)
{
    uint64_t ctl = (x - ONES * 0x20) & ~x & HIGHS;
    uint64_t q = x ^ (ONES * 0x22);
    uint64_t bs = x ^ (ONES * 0x5C);
    q = (q - ONES) & ~q & HIGHS;
    bs = (bs - ONES) & ~bs & HIGHS;
    return ctl | q | bs | (x & high);
}

static inline bool special1(unsigned char c, bool ascii)
{
    return c < 0x20 || c == '"' || c == '\\' || (ascii && c >= 0x80);
}

/* Does any of the n bytes need escaping (or, with ascii, lie outside ASCII)?
 * Whole words where it can, and short strings in one word (they are most:
 * node names, symbols, dtypes). */
static bool has_special(const char *str, size_t n, bool ascii)
{
    uint64_t high = ascii ? HIGHS : 0;
    uint64_t v, t;
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            memcpy(&v, str + i, 8);
            if (special8(v, high))
                return true;
        }
        if (i == n)
            return false;
        memcpy(&v, str + n - 8, 8); /* the last 8 bytes, overlapping the ones checked */
        return special8(v, high) != 0;
    }
    if (n >= 4) { /* the first and the last 4 bytes */
        uint32_t a, b;
        memcpy(&a, str, 4);
        memcpy(&b, str + n - 4, 4);
        v = (uint64_t)a | (uint64_t)b << 32;
        return special8(v, high) != 0;
    }
    if (n == 0)
        return false;
    /* 1 to 3 bytes: the first, the middle and the last, in a word padded
     * with a byte that needs nothing */
    t = (unsigned char)str[0] | (uint64_t)(unsigned char)str[n >> 1] << 8 | (uint64_t)(unsigned char)str[n - 1] << 16;
    v = t | (ONES * 'a' & ~0xFFFFFFULL);
    return special8(v, high) != 0;
}

/* The escaped form, in pieces of at most 4 KiB (each needs 6 bytes a byte
 * at most); '?' for every byte >= 0x80 when `ascii`. */
static void w_str_escaped(mtx_jw *w, const char *str, size_t n, bool ascii)
{
    static const char hex[] = "0123456789ABCDEF";
    mtx_sink *s = w->s;
    const unsigned char *u = (const unsigned char *)str;
    char *p = mtx_sink_room(s, 1);
    *p++ = '"';
    s->p = p;
    size_t i = 0;
    while (i < n) {
        size_t stop = n - i < 4096 ? n : i + 4096;
        p = mtx_sink_room(s, (stop - i) * 6);
        for (; i < stop; i++) {
            unsigned char c = u[i];
            if (!special1(c, ascii)) {
                *p++ = (char)c;
                continue;
            }
            if (c >= 0x80) {
                *p++ = '?';
                continue;
            }
            *p++ = '\\';
            switch (c) {
            case '"': *p++ = '"'; break;
            case '\\': *p++ = '\\'; break;
            case '\b': *p++ = 'b'; break;
            case '\f': *p++ = 'f'; break;
            case '\n': *p++ = 'n'; break;
            case '\r': *p++ = 'r'; break;
            case '\t': *p++ = 't'; break;
            default:
                *p++ = 'u';
                *p++ = '0';
                *p++ = '0';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 15];
            }
        }
        s->p = p;
    }
    p = mtx_sink_room(s, 1);
    *p++ = '"';
    s->p = p;
}

/* memcpy of a short string without a call: two overlapping fixed-size
 * copies (the way the library's memcpy does it inside). */
static inline void copy_short(char *d, const char *s, size_t n)
{
    if (n >= 16) {
        if (n > 32) {
            memcpy(d, s, n);
            return;
        }
        char a[16], b[16];
        memcpy(a, s, 16);
        memcpy(b, s + n - 16, 16);
        memcpy(d, a, 16);
        memcpy(d + n - 16, b, 16);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else if (n > 0) {
        d[0] = s[0];
        d[n >> 1] = s[n >> 1];
        d[n - 1] = s[n - 1];
    }
}

static void w_str_n(mtx_jw *w, const char *str, size_t n)
{
    if (n <= MTX_SINK_BUF / 8 && !has_special(str, n, false)) {
        char *p = mtx_sink_room(w->s, n + 2);
        *p = '"';
        copy_short(p + 1, str, n);
        p[n + 1] = '"';
        w->s->p = p + n + 2;
        return;
    }
    w_str_escaped(w, str, n, false);
}

void mtx_w_str(mtx_jw *w, const char *str)
{
    if (!str) {
        mtx_w_null(w);
        return;
    }
    w_str_n(w, str, strlen(str));
}

void mtx_w_gstr(mtx_jw *w, const char *str)
{
    if (!str) {
        mtx_w_null(w);
        return;
    }
    unsigned h = ((uint32_t)((uintptr_t)str >> 3) * 2654435761u) >> 23 & (MTX_JW_STRS - 1);
    size_t n;
    if (w->strs[h].str == str) {
        n = w->strs[h].len;
    } else {
        n = strlen(str);
        if (n > MTX_SINK_BUF / 8 || has_special(str, n, false)) {
            w_str_escaped(w, str, n, false);
            return;
        }
        w->strs[h].str = str;
        w->strs[h].len = n;
    }
    char *p = mtx_sink_room(w->s, n + 2);
    *p = '"';
    copy_short(p + 1, str, n);
    p[n + 1] = '"';
    w->s->p = p + n + 2;
}

void mtx_w_key(mtx_jw *w, const char *key)
{
    mtx_w_elem(w);
    mtx_w_gstr(w, key);
    if (w->compact)
        MTX_W_LIT(w, ":");
    else
        MTX_W_LIT(w, ": ");
}

/* jansson's UTF-8 check (utf8_check_string): shortest forms only, no
 * surrogates, nothing above U+10FFFF. */
static bool valid_utf8(const unsigned char *u, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t len;
        unsigned v;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            v = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            v = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            v = c & 0x07;
        } else {
            return false;
        }
        if (len > n - i)
            return false;
        for (size_t k = 1; k < len; k++) {
            unsigned d = u[i + k];
            if (d < 0x80 || d > 0xBF)
                return false;
            v = (v << 6) | (d & 0x3F);
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000))
            return false;
        i += len;
    }
    return true;
}

bool mtx_json_string_ok(const char *str)
{
    if (!str)
        return false;
    size_t n = strlen(str);
    return !has_special(str, n, true) || valid_utf8((const unsigned char *)str, n);
}

void mtx_w_ustr(mtx_jw *w, const char *str)
{
    if (!str) {
        mtx_w_null(w);
        return;
    }
    size_t n = strlen(str);
    if (!has_special(str, n, true) || valid_utf8((const unsigned char *)str, n))
        w_str_n(w, str, n);
    else
        w_str_escaped(w, str, n, true);
}

/* ---- numbers ----------------------------------------------------------------- */

static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                  "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                  "8081828384858687888990919293949596979899";

void mtx_w_int(mtx_jw *w, long long v)
{
    char *p = mtx_sink_room(w->s, 24);
    unsigned long long u = (unsigned long long)v;
    if (v < 0) {
        *p++ = '-';
        u = 0ULL - u;
    }
    int n = 1;
    for (unsigned long long t = u; t >= 10 && n < 20; t /= 10)
        n++;
    char *q = p + n;
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        q -= 2;
        q[0] = digit_pairs[2 * r];
        q[1] = digit_pairs[2 * r + 1];
    }
    if (u >= 10) {
        q -= 2;
        q[0] = digit_pairs[2 * u];
        q[1] = digit_pairs[2 * u + 1];
    } else {
        *--q = (char)('0' + u);
    }
    w->s->p = p + n;
}

/* jansson's real format: %.*g, a ".0" when neither '.' nor 'e' appears, and
 * the exponent without '+' or leading zeros. */
static int format_real(char *buf, size_t size, int precision, double f)
{
    int n = snprintf(buf, size, "%.*g", precision, f);
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        buf[n++] = '.';
        buf[n++] = '0';
        buf[n] = 0;
    }
    char *e = strchr(buf, 'e');
    if (e) {
        char *start = e + 1, *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start)
            memmove(start, end, strlen(end) + 1);
        n = (int)strlen(buf);
    }
    return n;
}

void mtx_w_real(mtx_jw *w, double f)
{
    if (!isfinite(f)) {
        mtx_w_open(w, '{');
        MTX_W_KEY(w, "float");
        mtx_w_str(w, isnan(f) ? "nan" : f > 0 ? "inf" : "-inf");
        mtx_w_close(w, '}');
        return;
    }
    uint64_t bits;
    memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < w->nreals; i++)
        if (w->reals[i].bits == bits) {
            mtx_w_raw(w, w->reals[i].text, (size_t)w->reals[i].len);
            return;
        }
    int k = w->next_real;
    w->next_real = (k + 1) % MTX_JW_REALS;
    if (w->nreals < MTX_JW_REALS)
        w->nreals++;
    w->reals[k].bits = bits;
    w->reals[k].len = format_real(w->reals[k].text, sizeof w->reals[k].text - 4, w->real_precision, f);
    mtx_w_raw(w, w->reals[k].text, (size_t)w->reals[k].len);
}
