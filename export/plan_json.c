/* Tensor-parallel plan output: the standalone JSON object (docs/plan.md) and
 * a human table. */
#include <jansson.h>
#include <string.h>

#include <metatrace/plan.h>

#include "json_internal.h"

static json_t *ints(const int64_t *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

/* A packed dim's parts: "parts" (their lengths) or "part" (parts of one
 * length, as many as the dim holds). */
static json_t *placement_json(const mt_plan *pl, mt_placement p) {
    json_t *o = json_object();
    const char *k = p.kind == MT_PLACE_SHARD ? "shard" : p.kind == MT_PLACE_PARTIAL ? "partial" : "replicate";
    json_object_set_new(o, "kind", json_string(k));
    if (p.kind == MT_PLACE_SHARD) {
        json_object_set_new(o, "dim", json_integer(p.dim));
        json_object_set_new(o, "ways", json_integer(p.ways));
        if (p.layout > 0 && p.layout <= pl->nlayouts) {
            const mt_plan_layout *L = &pl->layouts[p.layout - 1];
            if (L->nparts) json_object_set_new(o, "parts", ints(L->lens, L->nparts));
            else json_object_set_new(o, "part", json_integer(L->part));
        }
    }
    return o;
}

/* The plan object (docs/plan.md). */
static json_t *plan_json(const mt_plan *p) {
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string(MT_PLAN_FORMAT));
    json_object_set_new(root, "version", json_integer(MT_PLAN_VERSION));
    json_object_set_new(root, "model_type", json_string(p->model->model_type));
    json_object_set_new(root, "tp", json_integer(p->tp));
    json_object_set_new(root, "style", json_string(p->style == MT_PLAN_TRANSFORMERS ? "transformers" : "ours"));
    json_object_set_new(root, "sequence_parallel", json_boolean(p->sequence_parallel));
    json_object_set_new(root, "valid", json_boolean(p->valid));
    json_object_set_new(root, "reason", p->reason ? json_string(p->reason) : json_null());
    json_object_set_new(root, "note", p->note ? json_string(p->note) : json_null());
    json_object_set_new(root, "kv_replication", json_integer(p->kv_replication));
    json_t *bound = json_object();
    json_object_set_new(bound, "batch", json_integer(p->batch));
    json_object_set_new(bound, "seq", json_integer(p->seq));
    json_object_set_new(root, "bound", bound);
    json_t *dict = json_object();
    for (int i = 0; i < p->nrules; i++) json_object_set_new(dict, p->rules[i].pattern, json_string(p->rules[i].style));
    json_object_set_new(root, "tp_plan", dict);
    json_t *params = json_array();
    for (int i = 0; i < p->nparams; i++) {
        const mt_plan_param *pp = &p->params[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(pp->name));
        json_object_set_new(o, "role", json_string(mt_plan_role_name(pp->role)));
        json_object_set_new(o, "dtype", json_string(mt_dtype_name(pp->param->t->dtype)));
        json_object_set_new(o, "shard_dim", pp->shard_dim >= 0 ? json_integer(pp->shard_dim) : json_null());
        json_object_set_new(o, "ways", json_integer(pp->ways));
        json_object_set_new(o, "shape", ints(pp->shape, pp->ndim));
        json_object_set_new(o, "local_shape", ints(pp->local, pp->ndim));
        if (pp->parts > 1) json_object_set_new(o, "parts", json_integer(pp->parts));
        if (pp->shard_dim >= 0) {
            json_t *sl = json_array();
            for (int r = 0; r < p->tp; r++) {
                int64_t rg[MT_PLAN_MAX_PARTS][2];
                int nr = mt_plan_param_ranges(p, pp, r, rg, MT_PLAN_MAX_PARTS);
                if (nr > MT_PLAN_MAX_PARTS) nr = MT_PLAN_MAX_PARTS;
                json_t *x = json_array();
                for (int k = 0; k < nr; k++) {
                    /* one [start, stop]; a packed parameter: one per part */
                    json_t *y = pp->parts > 1 ? json_array() : x;
                    json_array_append_new(y, json_integer(rg[k][0]));
                    json_array_append_new(y, json_integer(rg[k][1]));
                    if (y != x) json_array_append_new(x, y);
                }
                json_array_append_new(sl, x);
            }
            json_object_set_new(o, "slices", sl);
        }
        json_array_append_new(params, o);
    }
    json_object_set_new(root, "params", params);
    json_t *nodes = json_object();
    for (int i = 0; i < p->graph->n; i++)
        json_object_set_new(nodes, p->graph->nodes[i]->name, placement_json(p, p->nodes[i]));
    json_object_set_new(root, "nodes", nodes);
    json_t *comms = json_array();
    for (int i = 0; i < p->ncomms; i++) {
        const mt_plan_comm *c = &p->comms[i];
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(mt_comm_kind_name(c->kind)));
        json_object_set_new(o, "after", json_string(c->producer->name));
        json_object_set_new(o, "output", json_integer(c->output));
        json_object_set_new(o, "before", json_string(c->consumer ? c->consumer->name : ""));
        json_object_set_new(o, "from", placement_json(p, c->from));
        json_object_set_new(o, "to", placement_json(p, c->to));
        json_object_set_new(o, "bytes_per_token", json_real(c->bytes_per_token));
        json_object_set_new(o, "wire_bytes_per_token", json_real(c->wire_per_token));
        json_array_append_new(comms, o);
    }
    json_object_set_new(root, "comms", comms);
    json_object_set_new(root, "comm_wire_bytes_per_token", json_real(p->comm_per_token));
    json_object_set_new(root, "comm_seconds", json_real(p->comm_seconds));
    json_object_set_new(root, "link", p->link ? json_string(p->link) : json_null());
    json_t *mem = json_object();
    json_object_set_new(mem, "param_bytes", json_integer(p->mem.param_bytes));
    json_t *bd = json_object();
    for (int d = 0; d < MT_DTYPE_COUNT; d++)
        if (p->mem.param_bytes_by_dtype[d])
            json_object_set_new(bd, mt_dtype_name((mt_dtype)d), json_integer(p->mem.param_bytes_by_dtype[d]));
    json_object_set_new(mem, "param_bytes_by_dtype", bd);
    json_object_set_new(mem, "total_param_bytes", json_integer(p->mem.total_param_bytes));
    json_object_set_new(mem, "replicated_extra_bytes", json_integer(p->mem.replicated_extra_bytes));
    json_object_set_new(mem, "kv_replicated_bytes", json_integer(p->mem.kv_replicated_bytes));
    json_object_set_new(mem, "kv_cache_bytes_per_token", json_integer(p->mem.kv_bytes_per_token));
    json_object_set_new(mem, "kv_cache_bytes", json_integer(p->mem.kv_bytes));
    json_object_set_new(mem, "activation_peak_bytes", json_integer(p->mem.activation_peak_bytes));
    json_object_set_new(root, "memory_per_rank", mem);
    json_t *ex = json_array();
    for (int i = 0; i < p->nexperts; i++) {
        const mt_plan_experts *x = &p->experts[i];
        json_t *o = json_object();
        json_object_set_new(o, "pattern", json_string(x->pattern));
        json_object_set_new(o, "layers", json_integer(x->layers));
        json_object_set_new(o, "experts", json_integer(x->experts));
        json_object_set_new(o, "top_k", json_real(x->top_k));
        json_object_set_new(o, "hidden", json_integer(x->hidden));
        json_object_set_new(o, "param_bytes", json_integer(x->param_bytes));
        json_object_set_new(o, "local_bytes", json_integer(x->local_bytes));
        json_object_set_new(o, "comm_wire_bytes_per_token", json_real(x->comm_per_token));
        json_object_set_new(o, "fused", json_boolean(x->fused));
        json_object_set_new(o, "placement", json_string(x->placement ? x->placement : "sharded"));
        json_t *ep = json_object();
        json_object_set_new(ep, "valid", json_boolean(x->ep_valid));
        json_object_set_new(ep, "reason", x->ep_reason ? json_string(x->ep_reason) : json_null());
        json_object_set_new(ep, "experts_per_rank", x->ep_valid ? json_integer(x->experts / p->tp) : json_null());
        json_object_set_new(ep, "local_bytes", x->ep_valid ? json_integer(x->ep_local_bytes) : json_null());
        json_object_set_new(ep, "all_to_all_wire_bytes_per_token", json_real(x->ep_comm_per_token));
        json_object_set_new(o, "expert_parallel", ep);
        json_array_append_new(ex, o);
    }
    json_object_set_new(root, "experts", ex);
    return root;
}

mt_status mt_plan_export_json(const mt_plan *p, FILE *out) {
    if (!p || !out) return MT_ERR_USAGE;
    json_t *wrap = json_object();
    json_object_set_new(wrap, "plan", plan_json(p));
    int rc = json_dumpf(wrap, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(wrap);
    if (rc != 0 || fputc('\n', out) == EOF) return mt_fail(p->ctx, MT_ERR_IO, "writing the plan JSON failed");
    return MT_OK;
}

mt_status mt_plan_export_graph_json(const mt_plan *p, FILE *out) { return mt_plan_export_graph_json_opts(p, NULL, out); }

mt_status mt_plan_export_graph_json_opts(const mt_plan *p, const struct mt_json_opts *opts, FILE *out) {
    if (!p || !out) return MT_ERR_USAGE;
    return mtx_export_json_full((mt_model *)p->model, (mt_graph *)p->graph, NULL, opts, "plan", plan_json(p), out);
}

/* A JSON string: '"' and '\\' escaped, control characters as \\u00XX. */
static void put_json_str(const char *s, FILE *out) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fputc('\\', out);
        if (*p < 0x20) fprintf(out, "\\u%04x", *p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

mt_status mt_plan_degrees_export_json(const mt_model *m, const mt_plan_degree *deg, int n, bool all, FILE *out) {
    if (!m || !deg || n < 0 || !out) return MT_ERR_USAGE;
    fputs("{\n  \"model_type\": ", out);
    put_json_str(m->model_type, out);
    fputs(",\n  \"degrees\": [", out);
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (!deg[i].valid && !all) continue;
        fprintf(out, "%s\n    {\"tp\": %d, \"valid\": %s, \"kv_replication\": ", first ? "" : ",", deg[i].tp,
                deg[i].valid ? "true" : "false");
        first = false;
        /* an unusable degree has no per-rank figures: null, never 0 */
        if (deg[i].valid)
            fprintf(out, "%d, \"param_bytes_per_rank\": %lld, \"comm_bytes_per_token\": %.17g, \"reason\": ",
                    deg[i].kv_replication, (long long)deg[i].param_bytes, deg[i].comm_per_token);
        else
            fputs("null, \"param_bytes_per_rank\": null, \"comm_bytes_per_token\": null, \"reason\": ", out);
        if (deg[i].reason) put_json_str(deg[i].reason, out);
        else fputs("null", out);
        fputc('}', out);
    }
    fputs(first ? "]\n}\n" : "\n  ]\n}\n", out);
    if (ferror(out)) return mt_fail(m->ctx, MT_ERR_IO, "writing the plan degrees JSON failed");
    return MT_OK;
}

static double gib(int64_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

mt_status mt_plan_print(const mt_plan *p, FILE *out) {
    if (!p || !out) return MT_ERR_USAGE;
    fprintf(out, "tp=%d (%s style%s) %s%s\n", p->tp, p->style == MT_PLAN_TRANSFORMERS ? "transformers" : "ours",
            p->sequence_parallel ? ", sequence parallel" : "", p->valid ? "valid" : "INVALID: ",
            p->valid ? "" : p->reason);
    if (p->note) fprintf(out, "  note: %s\n", p->note);
    fprintf(out, "  per rank: params %.3f GiB (total %.3f GiB, replicated extra %.3f GiB, KV replication %.3f GiB)\n",
            gib(p->mem.param_bytes), gib(p->mem.total_param_bytes), gib(p->mem.replicated_extra_bytes),
            gib(p->mem.kv_replicated_bytes));
    fprintf(out, "  per rank: KV cache %lld B/token, %.3f GiB at batch=%lld seq=%lld; activation peak %.3f GiB\n",
            (long long)p->mem.kv_bytes_per_token, gib(p->mem.kv_bytes), (long long)p->batch, (long long)p->seq,
            gib(p->mem.activation_peak_bytes));
    int counts[MT_COMM_COUNT] = {0};
    for (int i = 0; i < p->ncomms; i++) counts[p->comms[i].kind]++;
    fprintf(out, "  communication: %.0f B/token per rank (%d all_reduce, %d all_gather, %d reduce_scatter, "
            "%d all_to_all)\n",
            p->comm_per_token, counts[MT_COMM_ALL_REDUCE], counts[MT_COMM_ALL_GATHER], counts[MT_COMM_REDUCE_SCATTER],
            counts[MT_COMM_ALL_TO_ALL]);
    if (p->link)
        fprintf(out, "  collectives: %.3f ms estimated for a prefill of %lld x %lld tokens and one decode step, over %s\n",
                p->comm_seconds * 1e3, (long long)p->batch, (long long)p->seq, p->link);
    for (int i = 0; i < p->nexperts; i++) {
        const mt_plan_experts *x = &p->experts[i];
        const char *pl = x->placement ? x->placement : "sharded";
        bool ep = strcmp(pl, "expert_parallel") == 0;
        fprintf(out, "  experts %s: %d layers x %d %sexperts, top-%g, ", x->pattern, x->layers, x->experts,
                x->fused ? "fused " : "", x->top_k);
        if (ep) fprintf(out, "expert parallel, %d whole expert(s) per rank", x->experts / p->tp);
        else fprintf(out, "%s", strcmp(pl, "replicated") == 0 ? "whole on every rank"
                                : strcmp(pl, "mixed") == 0    ? "partly sharded"
                                                              : "sharded inside each expert");
        fprintf(out, ": %.3f GiB per rank, %.0f B/token in the MoE blocks\n", gib(x->local_bytes), x->comm_per_token);
        if (ep) continue;
        if (x->ep_valid)
            fprintf(out, "    expert parallel instead: %d whole expert(s) per rank, %.3f GiB per rank, "
                    "all-to-all dispatch + combine %.0f B/token\n",
                    x->experts / p->tp, gib(x->ep_local_bytes), x->ep_comm_per_token);
        else fprintf(out, "    expert parallel: not possible (%s)\n", x->ep_reason);
    }
    for (int i = 0; i < p->nrules; i++) fprintf(out, "    %-48s %s\n", p->rules[i].pattern, p->rules[i].style);
    return ferror(out) ? MT_ERR_IO : MT_OK;
}
