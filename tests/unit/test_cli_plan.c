/* The CLI's --tp / --plan-style: plans written as JSON or a table, and the
 * list of working degrees. Expected values: transformers' LlamaConfig
 * base_model_tp_plan, and divisibility worked out by hand from the config. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static json_t *run_json(const char *const *argv)
{
    char *out = NULL, *err = NULL;
    int rc = tu_run_cli(argv, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    cr_assert_not_null(j, "not JSON (%s): %.200s", e.text, out);
    free(out);
    free(err);
    return j;
}

Test(cli_plan, auto_lists_the_working_degrees) {
    /* Llama-3.2-3B: 24 heads, 8 KV heads, intermediate 8192, vocab 128256.
     * A degree works when it divides 24 and 8 (KV replication would need a
     * multiple of 8 that divides 24: none beyond 8): 1, 2, 4, 8. At 3 the
     * heads divide (24/3) but neither the KV heads nor 8192 do. */
    const char *argv[] = {tu_src("samples/configs/meta-llama--Llama-3.2-3B.resaved.config.json"),
                          "--layers", "2", "--tp", "auto", "--all", "--format", "json", NULL};
    json_t *j = run_json(argv);
    json_t *deg = json_object_get(j, "degrees");
    cr_assert_eq(json_array_size(deg), 64);
    for (size_t i = 0; i < 64; i++) {
        json_t *d = json_array_get(deg, i);
        int tp = (int)json_integer_value(json_object_get(d, "tp"));
        bool want = tp == 1 || tp == 2 || tp == 4 || tp == 8;
        cr_assert_eq(json_is_true(json_object_get(d, "valid")), want, "tp=%d", tp);
        if (!want) {
            cr_assert(json_is_string(json_object_get(d, "reason")), "tp=%d has no reason", tp);
            /* an unusable degree has no per-rank figures: null, never 0 */
            cr_assert(json_is_null(json_object_get(d, "param_bytes_per_rank")), "tp=%d", tp);
            cr_assert(json_is_null(json_object_get(d, "comm_bytes_per_token")), "tp=%d", tp);
            cr_assert(json_is_null(json_object_get(d, "kv_replication")), "tp=%d", tp);
        }
    }
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(deg, 2), "reason")),
                     "num_key_value_heads=8 not divisible by 3, and 3 is not a multiple of it "
                     "(no KV replication possible); intermediate_size=8192 not divisible by 3");
    json_decref(j);
}

Test(cli_plan, auto_lists_only_usable_degrees_without_all) {
    /* the same model without --all: the four usable degrees 1, 2, 4, 8 and nothing else */
    const char *argv[] = {tu_src("samples/configs/meta-llama--Llama-3.2-3B.resaved.config.json"),
                          "--layers", "2", "--tp", "auto", "--format", "json", NULL};
    json_t *j = run_json(argv);
    json_t *deg = json_object_get(j, "degrees");
    cr_assert_eq(json_array_size(deg), 4);
    const int want[] = {1, 2, 4, 8};
    for (size_t i = 0; i < 4; i++) {
        json_t *d = json_array_get(deg, i);
        cr_assert_eq(json_integer_value(json_object_get(d, "tp")), want[i]);
        cr_assert(json_is_true(json_object_get(d, "valid")));
        cr_assert(json_is_integer(json_object_get(d, "param_bytes_per_rank")));
    }
    json_decref(j);
    /* the table likewise: no "no" rows, and it says how to see them */
    char *out = NULL, *err = NULL;
    const char *targv[] = {tu_src("samples/configs/meta-llama--Llama-3.2-3B.resaved.config.json"), "--layers", "2",
                           "--tp", "auto", NULL};
    cr_assert_eq(tu_run_cli(targv, &out, &err), 0, "%s", err);
    cr_assert_not_null(strstr(out, "--all"), "%s", out);
    cr_assert_null(strstr(out, "  no  "), "%s", out);
    free(out);
    free(err);
}

Test(cli_plan, unusable_degree_exits_1_and_writes_nothing) {
    /* Llama-2-70B's shape (64 heads, 8 KV heads, intermediate 28672) at tp=3:
     * 64 = 3 x 21 + 1, so the heads do not divide; exit 1, the reason on
     * stderr, no file. The library still answers with valid=false. */
    const char *dir = tu_tmpdir();
    char cfg[512], out[512];
    snprintf(cfg, sizeof cfg, "%s/l70.json", dir);
    snprintf(out, sizeof out, "%s/plan3.json", dir);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fputs("{\"model_type\": \"llama\", \"hidden_size\": 8192, \"intermediate_size\": 28672, "
          "\"num_attention_heads\": 64, \"num_hidden_layers\": 80, \"num_key_value_heads\": 8, "
          "\"vocab_size\": 32000, \"torch_dtype\": \"float16\"}\n", f);
    fclose(f);
    char *so = NULL, *se = NULL;
    const char *argv[] = {cfg, "--layers", "2", "--tp", "3", "-o", out, NULL};
    cr_assert_eq(tu_run_cli(argv, &so, &se), 1, "%s", se);
    cr_assert_not_null(strstr(se, "--tp 3"), "%s", se);
    cr_assert_not_null(strstr(se, "num_attention_heads=64 not divisible by 3"), "%s", se);
    cr_assert(access(out, F_OK) != 0, "no output file for an unusable degree");
    free(so);
    free(se);
    /* to standard output: nothing written either */
    const char *argv2[] = {cfg, "--layers", "2", "--tp", "3", NULL};
    cr_assert_eq(tu_run_cli(argv2, &so, &se), 1, "%s", se);
    cr_assert_str_eq(so, "");
    free(so);
    free(se);
}

Test(cli_plan, llama_plan_equals_transformers_base_plan) {
    const char *dir = tu_tmpdir();
    char out[512];
    snprintf(out, sizeof out, "%s/plan.json", dir);
    const char *argv[] = {tu_src("samples/configs/huggyllama--llama-7b.config.json"), "--layers", "2",
                          "--tp", "8", "--plan-style", "transformers", "-o", out, NULL};
    char *so = NULL, *se = NULL;
    cr_assert_eq(tu_run_cli(argv, &so, &se), 0, "%s", se);
    json_error_t e;
    json_t *j = json_load_file(out, 0, &e);
    cr_assert_not_null(j, "%s", e.text);
    json_t *plan = json_object_get(json_object_get(j, "plan"), "tp_plan");
    /* LlamaConfig.base_model_tp_plan in transformers */
    const char *want[][2] = {
        {"model.layers.*.self_attn.q_proj", "colwise"}, {"model.layers.*.self_attn.k_proj", "colwise"},
        {"model.layers.*.self_attn.v_proj", "colwise"}, {"model.layers.*.self_attn.o_proj", "rowwise"},
        {"model.layers.*.mlp.gate_proj", "colwise"},    {"model.layers.*.mlp.up_proj", "colwise"},
        {"model.layers.*.mlp.down_proj", "rowwise"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *v = json_object_get(plan, want[i][0]);
        cr_assert_not_null(v, "no entry for %s", want[i][0]);
        cr_assert_str_eq(json_string_value(v), want[i][1], "%s", want[i][0]);
    }
    /* q_proj [4096, 4096] column-parallel over 8 ranks: rank 3 reads rows 1536..2048 */
    json_t *params = json_object_get(json_object_get(j, "plan"), "params");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(params); i++) {
        json_t *p = json_array_get(params, i);
        if (strcmp(json_string_value(json_object_get(p, "name")), "model.layers.1.self_attn.q_proj.weight"))
            continue;
        json_t *sl = json_array_get(json_object_get(p, "slices"), 3);
        cr_assert_eq(json_integer_value(json_array_get(sl, 0)), 1536);
        cr_assert_eq(json_integer_value(json_array_get(sl, 1)), 2048);
        seen = true;
    }
    cr_assert(seen);
    /* the document is the graph JSON with the plan as its last member: every node of the
     * graph has a placement under plan.nodes, and nothing else does */
    json_t *nodes = json_object_get(j, "nodes"), *placed = json_object_get(json_object_get(j, "plan"), "nodes");
    cr_assert(json_is_array(nodes) && json_array_size(nodes) > 0);
    cr_assert_str_eq(json_string_value(json_object_get(j, "format")), "metatrace-graph");
    cr_assert_eq(json_object_size(placed), json_array_size(nodes));
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(nodes, i), "name"));
        cr_assert_not_null(json_object_get(placed, name), "no placement for node %s", name);
    }
    json_decref(j);
    free(so);
    free(se);
}

Test(cli_plan, bad_tp_values_are_usage_errors) {
    const char *dir = tu_tmpdir();
    char out[512];
    snprintf(out, sizeof out, "%s/plan.svg", dir);
    const char *cfg = tu_src("samples/configs/huggyllama--llama-7b.config.json");
    const char *a1[] = {cfg, "--tp", "0", NULL};
    const char *a2[] = {cfg, "--tp", "eight", NULL};
    const char *a3[] = {cfg, "--tp", "auto", "-o", out, NULL};
    const char *a4[] = {cfg, "--tp", "8", "--plan-style", "megatron", NULL};
    const char *const *cases[] = {a1, a2, a3, a4};
    const char *msgs[] = {"--tp: expected a degree", "--tp: expected a degree", "--tp auto lists degrees",
                          "--plan-style: expected 'ours' or 'transformers'"};
    for (int i = 0; i < 4; i++) {
        char *so = NULL, *se = NULL;
        cr_assert_eq(tu_run_cli(cases[i], &so, &se), 2, "case %d", i);
        cr_assert(strstr(se, msgs[i]), "case %d: %s", i, se);
        free(so);
        free(se);
    }
    cr_assert(!tu_exists(out), "a failed run created %s", out);
}

Test(cli_plan, dot_marks_roles_and_collectives) {
    const char *dir = tu_tmpdir();
    char out[512];
    snprintf(out, sizeof out, "%s/plan.dot", dir);
    const char *argv[] = {tu_src("samples/configs/huggyllama--llama-7b.config.json"), "--layers", "1",
                          "--tp", "4", "-o", out, NULL};
    char *so = NULL, *se = NULL;
    cr_assert_eq(tu_run_cli(argv, &so, &se), 0, "%s", se);
    char *dot = tu_read(out, NULL);
    cr_assert_not_null(dot);
    /* q_proj's weight is column-parallel, o_proj's row-parallel; the o_proj
     * output is all-reduced before the residual add. */
    const char *q = strstr(dot, "model_layers_0_self_attn_q_proj\t");
    cr_assert_not_null(q, "no q_proj call node");
    const char *q_end = strstr(q, "];");
    const char *q_role = strstr(q, "xlabel=colwise");
    cr_assert(q_role && q_end && q_role < q_end, "q_proj is not marked colwise");
    const char *o = strstr(dot, "model_layers_0_self_attn_o_proj\t");
    cr_assert_not_null(o, "no o_proj call node");
    const char *o_end = strstr(o, "];");
    const char *o_role = strstr(o, "xlabel=rowwise");
    cr_assert(o_role && o_end && o_role < o_end, "o_proj is not marked rowwise");
    cr_assert(strstr(dot, "xlabel=colwise"), "no colwise role in the DOT");
    cr_assert(strstr(dot, "xlabel=rowwise"), "no rowwise role in the DOT");
    cr_assert(strstr(dot, "all_reduce"), "no collective edge");
    cr_assert(strstr(dot, "color=red"), "collective edge not marked");
    free(dot);
    free(so);
    free(se);
}

Test(cli_plan, sequence_parallel_flag) {
    /* --sp without --tp is a usage error (exit 2) that names what it needs */
    const char *bad[] = {tu_src("samples/configs/huggyllama--llama-7b.config.json"), "--sp", NULL};
    char *so = NULL, *se = NULL;
    cr_assert_eq(tu_run_cli(bad, &so, &se), 2);
    cr_assert(strstr(se, "--sp") && strstr(se, "--tp"), "%s", se);
    free(so);
    free(se);
    /* with --tp the plan says so and reduce-scatters instead of all-reducing (llama-7b cut
     * to 2 layers: 4 row-parallel outputs, see test_plan.c sequence_parallel_llama) */
    const char *argv[] = {tu_src("samples/configs/huggyllama--llama-7b.config.json"), "--layers", "2",
                          "--tp", "8", "--sp", "--format", "json", NULL};
    json_t *j = run_json(argv);
    json_t *plan = json_object_get(j, "plan");
    cr_assert(json_is_true(json_object_get(plan, "sequence_parallel")));
    int rs = 0, ar = 0;
    json_t *comms = json_object_get(plan, "comms");
    for (size_t i = 0; i < json_array_size(comms); i++) {
        const char *k = json_string_value(json_object_get(json_array_get(comms, i), "kind"));
        rs += strcmp(k, "reduce_scatter") == 0;
        ar += strcmp(k, "all_reduce") == 0;
    }
    cr_assert(rs == 4 && ar == 0, "%d reduce_scatter, %d all_reduce", rs, ar);
    json_decref(j);
}

Test(cli_plan, bind_sets_the_plan_bound) {
    /* concrete shapes from --bind are the plan's bound: llama-7b cut to 2 layers at tp=8
     * moves 120512 B/token (test_plan.c sequence_parallel_llama, by hand) whatever the
     * tokens, and the KV cache is 2 layers x 2 x 4096/8 x 2 B = 4096 B/token, x 8 x 2048 */
    const char *argv[] = {tu_src("samples/configs/huggyllama--llama-7b.config.json"), "--layers", "2",
                          "--tp", "8", "--bind", "batch=8,seq=2048", "--format", "json", NULL};
    json_t *j = run_json(argv);
    json_t *plan = json_object_get(j, "plan");
    json_t *bound = json_object_get(plan, "bound");
    cr_assert_eq(json_integer_value(json_object_get(bound, "batch")), 8);
    cr_assert_eq(json_integer_value(json_object_get(bound, "seq")), 2048);
    double comm = json_number_value(json_object_get(plan, "comm_wire_bytes_per_token"));
    cr_assert(comm > 120511.5 && comm < 120512.5, "%.3f", comm);
    json_t *mem = json_object_get(plan, "memory_per_rank");
    cr_assert_eq(json_integer_value(json_object_get(mem, "kv_cache_bytes_per_token")), 4096);
    cr_assert_eq(json_integer_value(json_object_get(mem, "kv_cache_bytes")), 4096LL * 8 * 2048);
    json_decref(j);
    /* sequence parallelism needs the sequence as a symbol */
    const char *bad[] = {tu_src("samples/configs/huggyllama--llama-7b.config.json"), "--tp", "8", "--sp",
                         "--bind", "seq=128", NULL};
    char *so = NULL, *se = NULL;
    cr_assert_eq(tu_run_cli(bad, &so, &se), 2);
    cr_assert(strstr(se, "--sp") && strstr(se, "seq"), "%s", se);
    free(so);
    free(se);
}

/* Issue 10: the plan's picture rendered: SVG and PNG of --tp N (roles filled,
 * collectives as labelled red edges), through the same render guards. */
Test(cli_plan, plan_renders_as_svg_and_png) {
    const char *dir = tu_tmpdir();
    char svg[512], png[512];
    snprintf(svg, sizeof svg, "%s/plan.svg", dir);
    snprintf(png, sizeof png, "%s/plan.png", dir);
    const char *cfg = tu_src("samples/configs/huggyllama--llama-7b.config.json");
    const char *a1[] = {cfg, "--layers", "1", "--tp", "4", "-o", svg, NULL};
    const char *a2[] = {cfg, "--layers", "1", "--tp", "4", "-o", png, NULL};
    char *so = NULL, *se = NULL;
    cr_assert_eq(tu_run_cli(a1, &so, &se), 0, "%s", se);
    free(so);
    free(se);
    size_t len = 0;
    char *text = tu_read(svg, &len);
    cr_assert(text && strstr(text, "<svg"), "not an SVG");
    /* llama at tp=4: o_proj and down_proj all-reduce [b, s, 4096] in fp16 each layer:
     * 2 x 3/4 x 8192 = 12288 B/token, the label the plan DOT puts on the edge */
    cr_assert(strstr(text, "all_reduce 12288 B/token"), "no collective label in the SVG");
    free(text);
    cr_assert_eq(tu_run_cli(a2, &so, &se), 0, "%s", se);
    free(so);
    free(se);
    text = tu_read(png, &len);
    cr_assert(text && len > 8 && memcmp(text, "\x89PNG", 4) == 0, "not a PNG");
    free(text);
}

/* --cluster with --tp prices the plan on that cluster's link (the table says
 * which); alone it is --fit; a bad spec is a usage error before any work. */
Test(cli_plan, cluster_with_tp) {
    char *so = NULL, *se = NULL;
    const char *cfg = tu_src("samples/configs/huggyllama--llama-7b.config.json");
    const char *a[] = {cfg, "--tp", "4", "--cluster", "4xL40S", NULL};
    cr_assert_eq(tu_run_cli(a, &so, &se), 0, "%s", se);
    cr_assert_not_null(strstr(so, "over PCIe Gen4 x16"), "%s", so);
    free(so);
    free(se);
    const char *b[] = {cfg, "--tp", "4", NULL};
    cr_assert_eq(tu_run_cli(b, &so, &se), 0, "%s", se);
    cr_assert_not_null(strstr(so, "over NVLink 4"), "%s", so);
    free(so);
    free(se);
    const char *bad[] = {cfg, "--tp", "4", "--cluster", "4xV100", NULL};
    cr_assert_eq(tu_run_cli(bad, &so, &se), 2, "%s", se);
    cr_assert_not_null(strstr(se, "4xV100"), "%s", se);
    free(so);
    free(se);
    /* --fit with --tp stays an error: the fit enumerates its own degrees */
    const char *fit[] = {cfg, "--tp", "4", "--fit", "4xL40S", NULL};
    cr_assert_eq(tu_run_cli(fit, &so, &se), 2, "%s", se);
    free(so);
    free(se);
}
