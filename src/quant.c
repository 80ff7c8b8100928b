/* Stored-tensor inventory of a checkpoint (quant.h). This first version lists
 * every unique parameter as itself; quantization methods come next. */
#include <string.h>

#include <metatrace/quant.h>

const char *mt_quant_methods(void) { return ""; }

mt_status mt_quant_inventory_of(mt_model *m, const char *method, mt_quant_inventory *out) {
    mt_ctx *ctx = m->ctx;
    memset(out, 0, sizeof *out);
    if (method) return mt_fail(ctx, MT_ERR_USAGE, "unknown quantization method '%s'", method);
    out->tensors = mt_alloc_array(ctx, (size_t)(m->params.n ? m->params.n : 1), sizeof *out->tensors);
    if (!out->tensors) return mt_ctx_status(ctx);
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        if (p->tied_to) continue;
        mt_stored_tensor *s = &out->tensors[out->n++];
        s->name = p->name;
        s->dtype = p->t->dtype;
        s->ndim = p->t->ndim;
        s->param = p;
        int64_t bytes = (int64_t)mt_dtype_size(p->t->dtype);
        for (int d = 0; d < p->t->ndim; d++) {
            if (!mt_sym_is_const(p->t->shape[d]))
                return mt_fail(ctx, MT_ERR_INTERNAL, "parameter '%s' has a symbolic shape", p->name);
            s->shape[d] = mt_sym_const_value(p->t->shape[d]);
            if (!mt_checked_mul(ctx, bytes, s->shape[d], &bytes, "parameter bytes")) return mt_ctx_status(ctx);
        }
        s->bytes = bytes;
        if (!mt_checked_add(ctx, out->total_bytes, bytes, &out->total_bytes, "checkpoint bytes") ||
            !mt_checked_add(ctx, out->bytes_by_dtype[s->dtype], bytes, &out->bytes_by_dtype[s->dtype],
                            "checkpoint bytes"))
            return mt_ctx_status(ctx);
    }
    return MT_OK;
}
