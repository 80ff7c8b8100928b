/* Library-internal model state (not part of the public API): what
 * struct mt_model (family.h) keeps behind its priv pointer. */
#ifndef METATRACE_MODEL_INTERNAL_H
#define METATRACE_MODEL_INTERNAL_H

#include <stdint.h>

#include <metatrace/family.h>

struct mt_model_private {
    mt_kwarg *info;           /* resolved hyper-parameters for reports (mt_model_info) */
    int ninfo, infocap;
    const mt_binding *bind;   /* while tracing: concrete values for input symbols */
    uint32_t bind_used;       /* bit i: bind->names[i] was used by an input */
};

/* The recorded info as one array (*n entries; NULL when none). */
const mt_kwarg *mt__model_infos(const mt_model *m, int *n);

#endif
