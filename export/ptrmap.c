/* metatrace — export-private pointer map (see ptrmap.h). */
#include "ptrmap.h"

#include <string.h>

static size_t slot_of(const void *key, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)key;
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return (size_t)h & (cap - 1);
}

void mtx_ptrmap_init(mtx_ptrmap *m, mt_ctx *ctx)
{
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
}

void *mtx_ptrmap_get(const mtx_ptrmap *m, const void *key)
{
    if (!key || m->cap == 0)
        return NULL;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (!m->keys[i])
            return NULL;
    }
}

static void insert(mtx_ptrmap *m, const void *key, void *val)
{
    size_t i = slot_of(key, m->cap);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
}

static bool grow(mtx_ptrmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    if (cap > SIZE_MAX / sizeof(void *)) {
        mt_fail(m->ctx, MT_ERR_NOMEM, "pointer map too large");
        return false;
    }
    const void **keys = mt_heap_alloc(m->ctx, cap * sizeof(void *));
    void **vals = mt_heap_alloc(m->ctx, cap * sizeof(void *));
    if (!keys || !vals) {
        if (keys)
            mt_heap_free(m->ctx, (void *)keys);
        if (vals)
            mt_heap_free(m->ctx, vals);
        mt_fail(m->ctx, MT_ERR_NOMEM, "out of memory (pointer map)");
        return false;
    }
    const void **okeys = m->keys;
    void **ovals = m->vals;
    size_t ocap = m->cap;
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (okeys[i])
            insert(m, okeys[i], ovals[i]);
    if (okeys) {
        mt_heap_free(m->ctx, (void *)okeys);
        mt_heap_free(m->ctx, ovals);
    }
    return true;
}

bool mtx_ptrmap_put(mtx_ptrmap *m, const void *key, void *val)
{
    if (!key)
        return false;
    if ((m->n + 1) * 2 > m->cap && !grow(m))
        return false;
    insert(m, key, val);
    return true;
}

void mtx_ptrmap_free(mtx_ptrmap *m)
{
    if (m->keys) {
        mt_heap_free(m->ctx, (void *)m->keys);
        mt_heap_free(m->ctx, m->vals);
    }
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->n = 0;
}
