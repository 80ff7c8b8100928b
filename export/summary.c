/* metatrace — the human summary table (the CLI's default output).
 *
 * Two columns: a label padded to LABEL_W, then the value. Counts carry
 * thousands separators; sizes are also shown in binary units (KiB, MiB, GiB,
 * TiB) and parameter counts in decimal ones (K, M, B, T). */
#include <inttypes.h>
#include <string.h>

#include <metatrace/metatrace.h>

#include "model_internal.h"

#include "fold.h"
#include "ptrmap.h"

#define LABEL_W 26

/* Text from a config (class names, model_type, strings, paths) with control
 * characters shown as \xNN, so a config cannot drive the terminal. Returns s
 * itself when it is clean, else an escaped copy in `ctx`'s arena. */
static const char *printable(mt_ctx *ctx, const char *s)
{
    if (!s)
        return "?";
    size_t bad = 0, n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        bad += *p < 0x20 || *p == 0x7f;
    if (!bad || !ctx)
        return s;
    char *o = mt_alloc(ctx, n + 3 * bad + 1);
    if (!o)
        return "?";
    char *q = o;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            q += sprintf(q, "\\x%02x", *p);
        else
            *q++ = (char)*p;
    }
    *q = '\0';
    return o;
}

static void row(FILE *out, const char *label, const char *fmt, ...) MT_PRINTF(3, 4);
static void row(FILE *out, const char *label, const char *fmt, ...)
{
    fprintf(out, "%-*s", LABEL_W, label);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
}

static void put_dims(FILE *out, const mt_tensor *t)
{
    fputc('[', out);
    for (int i = 0; i < t->ndim; i++)
        fprintf(out, "%s%s", i ? ", " : "", t->shape[i] ? mt_sym_str(t->shape[i]) : "?");
    fprintf(out, "] %s", t->dtype == MT_DTYPE_NONE ? "?" : mt_dtype_name(t->dtype));
}

static void put_arg(mt_ctx *ctx, FILE *out, const mt_arg *a)
{
    switch (a->kind) {
    case MT_ARG_NONE:
        fputs("None", out);
        break;
    case MT_ARG_TENSOR:
        if (a->v.t)
            put_dims(out, a->v.t);
        else
            fputs("?", out);
        break;
    case MT_ARG_INT:
        fprintf(out, "%" PRId64, a->v.i);
        break;
    case MT_ARG_FLOAT: {
        /* Python's look: 10000.0, 1e-06 (a '.' or an exponent, or inf/nan). */
        char buf[40];
        snprintf(buf, sizeof buf, "%g", a->v.f);
        fputs(buf, out);
        if (!strpbrk(buf, ".eEin"))
            fputs(".0", out);
        break;
    }
    case MT_ARG_BOOL:
        fputs(a->v.b ? "True" : "False", out);
        break;
    case MT_ARG_SYM:
        fputs(a->v.sym ? mt_sym_str(a->v.sym) : "?", out);
        break;
    case MT_ARG_DTYPE:
        fputs(a->v.dtype == MT_DTYPE_NONE ? "?" : mt_dtype_name(a->v.dtype), out);
        break;
    case MT_ARG_STR:
        fputs(a->v.s ? printable(ctx, a->v.s) : "", out);
        break;
    case MT_ARG_DEVICE:
        fputs(mt_device_name(a->v.device), out);
        break;
    case MT_ARG_LIST:
        fputc('[', out);
        for (int i = 0; i < a->v.list.n; i++) {
            if (i)
                fputs(", ", out);
            put_arg(ctx, out, &a->v.list.items[i]);
        }
        fputc(']', out);
        break;
    case MT_ARG_SLICE:
        fputs("slice", out);
        break;
    case MT_ARG_ELLIPSIS:
        fputs("...", out);
        break;
    case MT_ARG_KIND_COUNT:
        fputs("?", out);
        break;
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Collect the tensors the output node returns (lists flattened). */
static void output_tensors(const mt_arg *a, const mt_tensor **ts, int *n, int cap)
{
    if (a->kind == MT_ARG_LIST) {
        for (int i = 0; i < a->v.list.n; i++)
            output_tensors(&a->v.list.items[i], ts, n, cap);
    } else if (a->kind == MT_ARG_TENSOR && a->v.t && *n < cap) {
        ts[(*n)++] = a->v.t;
    }
}

static void outputs(FILE *out, const mt_model *m, const mt_graph *g)
{
    const mt_node *o = NULL;
    for (int i = g->n - 1; i >= 0 && !o; i--)
        if (g->nodes[i]->op == MT_NODE_OUTPUT)
            o = g->nodes[i];
    if (!o) {
        row(out, "output", "none");
        return;
    }
    enum { CAP = 16 };
    const mt_tensor *ts[CAP];
    int n = 0;
    for (int i = 0; i < o->nargs; i++)
        output_tensors(&o->args[i], ts, &n, CAP);
    bool causal = m->class_name && ends_with(m->class_name, "ForCausalLM");
    for (int i = 0; i < n; i++) {
        char label[32];
        if (n == 1)
            snprintf(label, sizeof label, "%s", causal ? "logits" : "output");
        else
            snprintf(label, sizeof label, "output[%d]", i);
        fprintf(out, "%-*s", LABEL_W, label);
        put_dims(out, ts[i]);
        const char *from = ts[i]->node ? ts[i]->node->name : NULL;
        if (from)
            fprintf(out, "  (node %s)", from);
        fputc('\n', out);
    }
}

/* "12.55 GiB (13,476,831,232 bytes)" */
static const char *bytes_exact(int64_t v, char *buf, size_t n)
{
    char a[32], b[48];
    snprintf(buf, n, "%s (%s bytes)", mtx_bytes_text((double)v, b, sizeof b), mtx_grouped(v, a));
    return buf;
}

/* Attention layers by kind: "32 causal (sdpa), window 4096 on 32" */
static void attention_rows(FILE *out, const mt_sizing *s)
{
    int count[MT_ATTN_KIND_COUNT] = {0}, windowed = 0, mla = 0, eager = 0;
    int64_t wmin = 0, wmax = 0;
    for (int i = 0; i < s->nattn; i++) {
        const mt_sizing_attn *a = &s->attn[i];
        count[a->kind]++;
        eager += a->eager;
        mla += a->mla;
        if (a->window > 0) {
            if (!windowed || a->window < wmin) wmin = a->window;
            if (!windowed || a->window > wmax) wmax = a->window;
            windowed++;
        }
    }
    char line[256];
    int k = 0;
    for (int c = 0; c < MT_ATTN_KIND_COUNT; c++)
        if (count[c])
            k += snprintf(line + k, sizeof line - (size_t)k, "%s%d %s", k ? ", " : "", count[c],
                          mt_attn_kind_name((mt_attn_kind)c));
    if (k == 0)
        snprintf(line, sizeof line, "none recognised");
    else
        snprintf(line + k, sizeof line - (size_t)k, " (%s)", eager == s->nattn ? "eager" : eager ? "eager and sdpa" : "sdpa");
    row(out, "  attention layers", "%s", line);
    if (s->nattn > 0) {
        /* the first layer with a cache (a vision tower's bidirectional layers come first) */
        const mt_sizing_attn *a = &s->attn[0];
        for (int i = 0; i < s->nattn; i++)
            if (s->attn[i].kind != MT_ATTN_BIDIRECTIONAL) {
                a = &s->attn[i];
                break;
            }
        if (a->mla)
            row(out, "  heads", "%lld query heads; MLA: a latent of %lld per token cached (%d layers)",
                (long long)a->heads, (long long)a->mla_latent, mla);
        else
            row(out, "  heads", "%lld query, %lld key/value (%s), head_dim %lld", (long long)a->heads,
                (long long)a->kv_heads,
                a->kv_heads == 1 ? "MQA" : a->kv_heads == a->heads ? "MHA" : "GQA", (long long)a->head_dim_k);
    }
    if (windowed) {
        if (wmin == wmax)
            row(out, "  sliding window", "%lld tokens on %d of %d layers", (long long)wmin, windowed, s->nattn);
        else
            row(out, "  sliding window", "%lld-%lld tokens on %d of %d layers", (long long)wmin, (long long)wmax,
                windowed, s->nattn);
    }
}

static void sizing_section(FILE *out, const mt_model *m, const mt_sizing *s)
{
    char a[64], b[64], c[96];
    row(out, "sizing", "at batch %lld, seq %lld; context %lld tokens (%s)", (long long)s->batch, (long long)s->seq,
        (long long)s->context, s->context_note ? s->context_note : "-");
    if (s->weights.method) {
        row(out, "  weights", "%s, %s", bytes_exact(s->weight_bytes, c, sizeof c),
            s->weights.description ? s->weights.description : s->weights.method);
    } else {
        row(out, "  weights", "%s", bytes_exact(s->weight_bytes, c, sizeof c));
    }
    attention_rows(out, s);
    if (s->has_kv) {
        row(out, "  KV cache per token", "%s, %s", bytes_exact(s->kv_bytes_per_token, c, sizeof c),
            s->kv_dtype == MT_DTYPE_NONE ? "?" : mt_dtype_name(s->kv_dtype));
        snprintf(a, sizeof a, "  KV cache at %lld", (long long)s->context);
        row(out, a, "%s for %lld sequence%s%s", bytes_exact(s->kv_bytes_at_context, c, sizeof c), (long long)s->batch,
            s->batch == 1 ? "" : "s", s->kv_bytes_at_context < s->kv_bytes_per_token * s->context * s->batch
                                         ? " (windows capped)" : "");
    } else {
        row(out, "  KV cache", "none (nothing is cached per token)");
    }
    if (s->kv_cross_bytes > 0)
        row(out, "  cross-attention K/V", "%s for an encoder of %lld tokens", bytes_exact(s->kv_cross_bytes, c, sizeof c),
            (long long)s->seq);
    if (s->state_layers > 0) {
        char d[96], e[96];
        char dts[64];
        if (s->state_ssm_dtype == s->state_dtype || s->state_ssm_dtype == MT_DTYPE_NONE)
            snprintf(dts, sizeof dts, "%s", mt_dtype_name(s->state_dtype));
        else /* Qwen3-Next: the DeltaNet's state in float32 beside a bfloat16 conv state */
            snprintf(dts, sizeof dts, "conv %s, SSM %s", mt_dtype_name(s->state_dtype), mt_dtype_name(s->state_ssm_dtype));
        row(out, "  recurrent state", "%s per sequence, %s (%d recurrent layers: conv %s + SSM/linear attention %s; fixed, not per token)",
            bytes_exact(s->state_bytes_per_seq, c, sizeof c), dts, s->state_layers,
            bytes_exact(s->conv_state_bytes, d, sizeof d), bytes_exact(s->ssm_state_bytes, e, sizeof e));
        if (s->batch != 1)
            row(out, "", "%s for %lld sequences", bytes_exact(s->state_bytes_at_batch, c, sizeof c), (long long)s->batch);
    }
    if (s->kv_capacity_tokens >= 0)
        row(out, "  KV capacity", "%s tokens in the memory budget after weights and activations%s",
            mtx_grouped(s->kv_capacity_tokens, a), s->state_layers > 0 ? " and recurrent state" : "");
    row(out, "  activation peak", "%s at node %s (inference, liveness)", bytes_exact(s->activation_peak, c, sizeof c),
        s->peak_node ? s->peak_node : "-");
    int64_t inf = s->weight_bytes + (s->has_kv ? s->kv_bytes_at_context : 0) + s->kv_cross_bytes + s->activation_peak +
                  s->state_bytes_at_batch;
    row(out, "  inference total", "%s (weights + KV at context + %sactivation peak)", bytes_exact(inf, c, sizeof c),
        s->state_layers > 0 ? "recurrent state + " : "");
    row(out, "  FLOPs per token", "prefill %s (at seq %lld%s)", mtx_flops_text(s->flops_prefill_per_token, a, sizeof a),
        (long long)s->seq, s->has_kv ? ", causal halving" : "");
    if (s->flops_decode_per_token >= 0)
        row(out, "", "decode %s (one token over %lld cached%s)", mtx_flops_text((double)s->flops_decode_per_token, b, sizeof b),
            (long long)s->context,
            s->state_layers > 0 ? "; recurrent layers as the traced scan of one token (Mamba-2: padded to a chunk), not the "
                                  "cached recurrent step" : "");
    row(out, "", "training %s (3 x prefill)", mtx_flops_text(3 * s->flops_prefill_per_token, b, sizeof b));
    if (s->largest_layer)
        row(out, "  largest layer", "%s, %s", s->largest_layer, bytes_exact(s->largest_layer_bytes, c, sizeof c));
    (void)m;
    row(out, "training memory", "per rank: %s%s, data parallel %d, batch %lld x seq %lld",
        s->optimizer == MT_OPT_SGD ? "SGD" : "Adam",
        s->mixed_precision ? (s->optimizer == MT_OPT_SGD ? " with an fp32 master copy" : " with fp32 master weights and moments")
                           : " (fp32)",
        s->dp, (long long)s->batch, (long long)s->seq);
    fprintf(out, "  %-*s %12s %12s %12s %12s %12s %14s\n", LABEL_W - 3, "", "weights", "gradients", "optimizer",
            "activations", "total", "checkpointed");
    for (int z = 0; z < 4; z++) {
        const mt_train_mem *t = &s->train[z];
        char w[32], g[32], o[32], ac[32], to[32], ck[32], label[32];
        snprintf(label, sizeof label, "ZeRO-%d", z);
        fprintf(out, "  %-*s %12s %12s %12s %12s %12s %14s\n", LABEL_W - 3, label, mtx_bytes_text((double)t->weights, w, sizeof w),
                mtx_bytes_text((double)t->grads, g, sizeof g), mtx_bytes_text((double)t->optimizer, o, sizeof o),
                mtx_bytes_text((double)t->activations, ac, sizeof ac), mtx_bytes_text((double)t->total, to, sizeof to),
                mtx_bytes_text((double)t->total_ckpt, ck, sizeof ck));
    }
}

mt_status mt_export_summary(mt_model *m, mt_graph *g, FILE *out)
{
    return mt_export_summary_sized(m, g, NULL, out);
}

mt_status mt_export_summary_sized(mt_model *m, mt_graph *g, const mt_sizing *sz, FILE *out)
{
    if (!m || !g || !out)
        return m ? mt_fail(m->ctx, MT_ERR_USAGE, "mt_export_summary: NULL argument") : MT_ERR_USAGE;
    mt_totals t;
    memset(&t, 0, sizeof t);
    mt_status st = mt_model_totals(m, &t);
    if (st != MT_OK)
        return st;
    mt_sizing own;
    if (!sz) {
        if ((st = mt_model_sizing(m, g, NULL, &own)) != MT_OK)
            return st;
        sz = &own;
    }

    char a[32], b[32], c[48];
    row(out, "model", "%s (model_type %s)", printable(m->ctx, m->class_name), printable(m->ctx, m->model_type));
    row(out, "config", "%s", m->cfg && mt_config_path(m->cfg) ? printable(m->ctx, mt_config_path(m->cfg)) : "-");
    if (m->note)
        row(out, "note", "%s", printable(m->ctx, m->note));
    row(out, "dtype", "%s", m->dtype == MT_DTYPE_NONE ? "?" : mt_dtype_name(m->dtype));
    row(out, "layers", "%" PRId64, m->num_layers);
    int ninfo;
    const mt_kwarg *info = mt__model_infos(m, &ninfo);
    if (ninfo > 0) {
        fputs("hyper-parameters\n", out);
        for (int i = 0; i < ninfo; i++) {
            fprintf(out, "  %-*s ", LABEL_W - 3, printable(m->ctx, info[i].name));
            put_arg(m->ctx, out, &info[i].value);
            fputc('\n', out);
        }
    }

    row(out, "parameters", "%s (%s)", mtx_grouped(t.params, a), mtx_count_text((double)t.params, b, sizeof b));
    for (int d = 0; d < MT_DTYPE_COUNT; d++) {
        if (t.params_by_dtype[d] == 0)
            continue;
        char label[32];
        snprintf(label, sizeof label, "  %s", mt_dtype_name((mt_dtype)d));
        char e[32];
        row(out, label, "%s parameters, %s (%s bytes)", mtx_grouped(t.params_by_dtype[d], a),
            mtx_bytes_text((double)t.bytes_by_dtype[d], c, sizeof c), mtx_grouped(t.bytes_by_dtype[d], e));
    }
    row(out, "parameter bytes", "%s (%s bytes)", mtx_bytes_text((double)t.param_bytes, c, sizeof c),
        mtx_grouped(t.param_bytes, a));
    if (t.text_params != 0) {
        char d[64];
        snprintf(d, sizeof d, "%s", mtx_grouped(t.text_param_bytes, a));
        row(out, "language model", "%s (%s), %s (%s bytes) without the vision tower and projector",
            mtx_grouped(t.text_params, a), mtx_count_text((double)t.text_params, b, sizeof b),
            mtx_bytes_text((double)t.text_param_bytes, c, sizeof c), d);
    }

    int ntied = 0;
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        if (!p->tied_to)
            continue;
        row(out, ntied++ ? "" : "tied parameters", "%s -> %s", p->name, p->tied_to->name);
    }
    if (ntied == 0)
        row(out, "tied parameters", "none");

    if (m->buffers.n == 0)
        row(out, "buffers", "none");
    else
        row(out, "buffers", "%d (%s elements)", m->buffers.n, mtx_grouped(t.buffers, a));
    if (t.active_params != t.params)
        row(out, "active parameters", "%s (%s) per token", mtx_grouped(t.active_params, a),
            mtx_count_text((double)t.active_params, b, sizeof b));
    if (t.extra_params != 0)
        row(out, "extra parameters", "%s (%s), not counted above", mtx_grouped(t.extra_params, a),
            mtx_count_text((double)t.extra_params, b, sizeof b));

    int counts[MT_NODE_KIND_COUNT];
    memset(counts, 0, sizeof counts);
    mt_graph_count(g, counts);
    row(out, "graph nodes", "%s", mtx_grouped(g->n, a));
    for (int k = 0; k < MT_NODE_KIND_COUNT; k++) {
        char label[32];
        snprintf(label, sizeof label, "  %s", mt_opkind_name((mt_opkind)k));
        row(out, label, "%s", mtx_grouped(counts[k], a));
    }
    outputs(out, m, g);
    sizing_section(out, m, sz);

    if (fflush(out) != 0 || ferror(out))
        return mt_fail(m->ctx, MT_ERR_IO, "writing the summary failed");
    return MT_OK;
}

/* ---- the per-module table (--depth) ---------------------------------------------- */

typedef struct modrow {
    int64_t params;       /* unique parameters under the module */
    double flops;         /* at the bound shapes */
    const mt_node *last;  /* the last node recorded under it: its output is the module's */
} modrow;

typedef struct modtab {
    mtx_ptrmap idx;       /* module -> row index + 1 */
    modrow *rows;
    int n;
    int64_t total_params;
    double total_flops;
    int depth;
    bool unfold;
    FILE *out;
    mt_ctx *ctx;
    const mt_sizing *sz;
    const mtx_folds *folds;
} modtab;

static int64_t count_params(modtab *T, const mt_module *mod)
{
    int64_t n = mtx_own_params(mod);
    for (int i = 0; i < mod->children.n; i++)
        n += count_params(T, mod->children.items[i]);
    if (T->n < 0)
        return n;
    modrow *r = &T->rows[T->n];
    r->params = n;
    mtx_ptrmap_put(&T->idx, mod, (void *)(intptr_t)(++T->n));
    return n;
}

static modrow *row_of(const modtab *T, const mt_module *mod)
{
    intptr_t i = (intptr_t)mtx_ptrmap_get(&T->idx, mod);
    return i ? &T->rows[i - 1] : NULL;
}

static int count_modules(const mt_module *mod)
{
    int n = 1;
    for (int i = 0; i < mod->children.n; i++)
        n += count_modules(mod->children.items[i]);
    return n;
}

static bool is_index(const char *name) { return name && *name >= '0' && *name <= '9'; }

/* The attention window of the cores under a module (sliding layers differ
 * from global ones with the same FLOPs): their sum, 0 for full attention. */
static int64_t windows_under(const modtab *T, const mt_module *mod)
{
    int64_t w = 0;
    size_t n = strlen(mod->path);
    for (int i = 0; T->sz && i < T->sz->nattn; i++) {
        const char *p = T->sz->attn[i].module;
        if (p && strncmp(p, mod->path, n) == 0 && (p[n] == '.' || p[n] == '\0'))
            w += T->sz->attn[i].window;
    }
    return w;
}

/* A container never entered while tracing (ModuleList) sums its children. */
static void aggregate_containers(modtab *T, const mt_module *mod)
{
    for (int i = 0; i < mod->children.n; i++)
        aggregate_containers(T, mod->children.items[i]);
    modrow *r = row_of(T, mod);
    if (!r || r->last || mod->children.n == 0)
        return;
    for (int i = 0; i < mod->children.n; i++) {
        const modrow *c = row_of(T, mod->children.items[i]);
        if (!c)
            continue;
        r->flops += c->flops;
        if (c->last)
            r->last = c->last;
    }
}

static void table_row(modtab *T, const mt_module *mod, int level, const char *label, int times)
{
    const modrow *r = row_of(T, mod);
    char name[160], shape[96], a[32], b[32], c[48];
    /* a sliding-window layer says so (its FLOPs and parameters equal a global one's) */
    int64_t w = is_index(mod->name) ? windows_under(T, mod) : 0;
    if (w > 0)
        snprintf(name, sizeof name, "%*s%s, window %lld", 2 * (level - 1), "", label, (long long)w);
    else
        snprintf(name, sizeof name, "%*s%s", 2 * (level - 1), "", label);
    shape[0] = '\0';
    if (r && r->last && r->last->nout > 0) {
        const char *s = mt_shape_str(T->ctx, r->last->outs[0].ndim, r->last->outs[0].shape);
        snprintf(shape, sizeof shape, "%s", s ? s : "?");
    }
    int64_t params = r ? r->params : 0;
    double pct = T->total_params > 0 ? 100.0 * (double)params * times / (double)T->total_params : 0;
    char pcol[48];
    snprintf(pcol, sizeof pcol, "%s%s", mtx_grouped(params, a), times > 1 ? " each" : "");
    fprintf(T->out, "%-44s %-28s %-22s %21s %8.2f%% %14s\n", name, mod->type, shape, pcol, pct,
            mtx_flops_text(r ? r->flops : 0, c, sizeof c));
    (void)b;
}

/* Identical (or periodic) ModuleList entries fold into one row per phase
 * (fold.h finds the runs; the pictures fold the same ones). */
static void table_walk(modtab *T, const mt_module *mod, int level)
{
    int nruns = 0;
    const mtx_run *runs = T->unfold ? NULL : mtx_folds_runs(T->folds, mod, &nruns);
    int r = 0;
    for (int i = 0; i < mod->children.n; i++) {
        const mt_module *ch = mod->children.items[i];
        while (r < nruns && runs[r].first < i)
            r++;
        if (r >= nruns || runs[r].first != i) {
            table_row(T, ch, level, ch->name, 1);
            if (level < T->depth)
                table_walk(T, ch, level + 1);
            continue;
        }
        int period = runs[r].period, reps = runs[r].reps;
        for (int j = 0; j < period; j++) {
            const mt_module *first = mod->children.items[i + j];
            const mt_module *lastm = mod->children.items[i + j + (reps - 1) * period];
            char label[128];
            if (period == 1)
                snprintf(label, sizeof label, "%s-%s (x %d)", first->name, lastm->name, reps);
            else
                snprintf(label, sizeof label, "%s-%s step %d (x %d)", first->name, lastm->name, period, reps);
            table_row(T, first, level, label, reps);
            if (level < T->depth)
                table_walk(T, first, level + 1);
        }
        i += period * reps - 1;
    }
}

mt_status mt_export_module_table(mt_model *m, mt_graph *g, const mt_sizing *sz, int depth, bool unfold, FILE *out)
{
    if (!m || !g || !out || depth < 1)
        return m ? mt_fail(m->ctx, MT_ERR_USAGE, "mt_export_module_table: NULL argument or depth < 1") : MT_ERR_USAGE;
    mt_sizing own;
    mt_status st;
    if (!sz) {
        if ((st = mt_model_sizing(m, g, NULL, &own)) != MT_OK)
            return st;
        sz = &own;
    }
    modtab T;
    memset(&T, 0, sizeof T);
    T.ctx = m->ctx;
    T.out = out;
    T.depth = depth;
    T.unfold = unfold;
    T.sz = sz;
    mtx_ptrmap_init(&T.idx, m->ctx);
    T.rows = mt_alloc_array(m->ctx, (size_t)count_modules(m->root), sizeof *T.rows);
    if (!T.rows)
        return mt_ctx_status(m->ctx);
    T.total_params = count_params(&T, m->root);
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        double f = sz->node_flops && i < sz->nnodes ? sz->node_flops[i] : 0;
        T.total_flops += f;
        for (int d = 0; n->stack && d < n->stack->depth; d++) {
            modrow *r = row_of(&T, n->stack->mods[d]);
            if (!r)
                continue;
            r->flops += f;
            if (n->op != MT_NODE_OUTPUT && n->nout > 0)
                r->last = n;
        }
    }
    aggregate_containers(&T, m->root);
    if (!unfold && !(T.folds = mtx_folds_find(m, g))) {
        mtx_ptrmap_free(&T.idx);
        return mt_ctx_status(m->ctx);
    }
    char a[32], c[48];
    fprintf(out, "%s (model_type %s): FLOPs at batch %lld, seq %lld (dense, before causal halving)\n",
            printable(m->ctx, m->class_name), printable(m->ctx, m->model_type), (long long)sz->batch,
            (long long)sz->seq);
    fprintf(out, "%-44s %-28s %-22s %21s %9s %14s\n", "module", "class", "output shape", "parameters", "% params",
            "FLOPs");
    table_walk(&T, m->root, 1);
    fprintf(out, "%-44s %-28s %-22s %21s %8.2f%% %14s\n", "total", "", "", mtx_grouped(T.total_params, a), 100.0,
            mtx_flops_text(T.total_flops, c, sizeof c));
    mtx_ptrmap_free(&T.idx);
    if (fflush(out) != 0 || ferror(out))
        return mt_fail(m->ctx, MT_ERR_IO, "writing the module table failed");
    return MT_OK;
}
