/* Symbolic dims: interning, canonical printing, division, evaluation.
 * Expected values are hand calculations or Python's integer semantics
 * (floor division rounds toward -inf: -7 // 2 == -4). */
#include <criterion/criterion.h>
#include <criterion/theories.h>
#include <math.h>
#include <string.h>

#include <metatrace/metatrace.h>

static mt_ctx *ctx;

static void setup(void) {
    ctx = mt_ctx_new();
    cr_assert_not_null(ctx);
}
static void teardown(void) { mt_ctx_free(ctx); }

TestSuite(sym, .init = setup, .fini = teardown);

#define C(v) mt_sym_const(ctx, (v))
#define V(n) mt_sym_var(ctx, (n))
#define ADD(a, b) mt_sym_add(ctx, (a), (b))
#define SUB(a, b) mt_sym_sub(ctx, (a), (b))
#define MUL(a, b) mt_sym_mul(ctx, (a), (b))
#define STR(s) mt_sym_str(s)

static int64_t eval1(const mt_sym *s, const char *name, int64_t v) {
    const char *names[] = {name};
    int64_t values[] = {v};
    mt_binding b = {names, values, 1};
    int64_t out = -12345;
    cr_assert_eq(mt_sym_eval(ctx, s, &b, &out), MT_OK, "%s", mt_ctx_errmsg(ctx));
    return out;
}

/* ---- constants and symbols ------------------------------------------------ */

Test(sym, constants_are_interned) {
    cr_assert_eq(C(7), C(7));
    cr_assert_eq(C(-1), C(-1));
    cr_assert_eq(C((int64_t)1 << 40), C((int64_t)1 << 40));
    cr_assert_neq(C(7), C(8));
    cr_assert(mt_sym_is_const(C(4096)));
    cr_assert_eq(mt_sym_const_value(C(4096)), 4096);
    cr_assert_eq(mt_sym_const_value(C(0)), 0);
    cr_assert_eq(mt_sym_const_value(C(INT64_MIN)), INT64_MIN);
    cr_assert_not(mt_sym_is_var(C(1)));
    cr_assert_eq(ADD(C(2), C(3)), C(5));
    cr_assert_eq(MUL(C(-3), C(4)), C(-12));
    cr_assert_eq(SUB(C(3), C(3)), C(0));
}

Test(sym, symbols_are_interned_by_name) {
    const mt_sym *seq = V("seq");
    cr_assert_not_null(seq);
    cr_assert_eq(V("seq"), seq);
    cr_assert_neq(V("batch"), seq);
    cr_assert(mt_sym_is_var(seq));
    cr_assert_not(mt_sym_is_const(seq));
    cr_assert_str_eq(STR(seq), "seq");
    cr_assert_not(mt_sym_is_var(mt_sym_mul_const(ctx, seq, 2)));
    cr_assert_not(mt_sym_is_var(MUL(seq, seq)));
}

Test(sym, invalid_symbol_names_are_usage_errors) {
    cr_assert_null(V("2seq"));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_USAGE);
    mt_error_clear(ctx);
    cr_assert_null(V("a-b"));
    mt_error_clear(ctx);
    cr_assert_null(V(""));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_USAGE);
}

/* ---- identity of equal expressions ---------------------------------------- */

Test(sym, product_is_commutative_by_identity) {
    const mt_sym *b = V("batch"), *s = V("seq");
    cr_assert_eq(MUL(b, s), MUL(s, b));
    cr_assert_eq(MUL(MUL(b, s), C(4096)), MUL(C(4096), MUL(s, b)));
}

Test(sym, square_of_a_sum_expands) {
    const mt_sym *a = V("a"), *b = V("b");
    const mt_sym *lhs = MUL(ADD(a, b), ADD(a, b));
    const mt_sym *rhs = ADD(ADD(MUL(a, a), mt_sym_mul_const(ctx, MUL(a, b), 2)), MUL(b, b));
    cr_assert_eq(lhs, rhs);
    cr_assert_str_eq(STR(lhs), "a**2 + 2*a*b + b**2");
}

Test(sym, cancellation_gives_constants) {
    const mt_sym *a = V("a"), *b = V("b");
    /* (a + b)(a - b) - a^2 + b^2 == 0 */
    const mt_sym *e = SUB(MUL(ADD(a, b), SUB(a, b)), SUB(MUL(a, a), MUL(b, b)));
    cr_assert_eq(e, C(0));
    cr_assert_eq(ADD(SUB(ADD(a, C(5)), a), C(-5)), C(0));
    cr_assert_eq(mt_sym_add_const(ctx, mt_sym_add_const(ctx, a, 3), -3), a);
}

/* ---- printing ------------------------------------------------------------- */

Test(sym, printing) {
    const mt_sym *seq = V("seq"), *batch = V("batch");
    cr_assert_str_eq(STR(C(4096)), "4096");
    cr_assert_str_eq(STR(C(0)), "0");
    cr_assert_str_eq(STR(C(-3)), "-3");
    cr_assert_str_eq(STR(C(INT64_MIN)), "-9223372036854775808");
    cr_assert_str_eq(STR(MUL(seq, batch)), "batch*seq");
    cr_assert_str_eq(STR(mt_sym_add_const(ctx, mt_sym_mul_const(ctx, seq, 2), 1)), "2*seq + 1");
    cr_assert_str_eq(STR(mt_sym_add_const(ctx, seq, -1)), "seq - 1");
    cr_assert_str_eq(STR(SUB(C(1), seq)), "-seq + 1");
    cr_assert_str_eq(STR(mt_sym_mul_const(ctx, seq, -2)), "-2*seq");
    cr_assert_str_eq(STR(MUL(batch, MUL(seq, seq))), "batch*seq**2");
    /* degree first, then names */
    cr_assert_str_eq(STR(ADD(ADD(seq, MUL(seq, seq)), batch)), "seq**2 + batch + seq");
    cr_assert_str_eq(STR(SUB(mt_sym_mul_const(ctx, batch, 3), mt_sym_mul_const(ctx, seq, 2))), "3*batch - 2*seq");
    /* cached: the same pointer comes back */
    cr_assert_eq(STR(MUL(seq, batch)), STR(MUL(batch, seq)));
}

Test(sym, printing_does_not_depend_on_creation_order) {
    /* "zeta" is created before "alpha": the order is still by name. */
    const mt_sym *z = V("zeta"), *a = V("alpha");
    cr_assert_str_eq(STR(ADD(z, a)), "alpha + zeta");
    cr_assert_str_eq(STR(MUL(z, a)), "alpha*zeta");
}

/* ---- exact division ------------------------------------------------------- */

Test(sym, numel_divided_by_a_dim) {
    const mt_sym *batch = V("batch"), *seq = V("seq");
    const mt_sym *dims[] = {batch, seq, C(4096)};
    const mt_sym *numel = mt_sym_prod(ctx, dims, 3);
    cr_assert_str_eq(STR(numel), "4096*batch*seq");
    cr_assert_eq(mt_sym_div_exact(ctx, numel, C(4096)), MUL(batch, seq));
    cr_assert_eq(mt_sym_div_exact(ctx, numel, MUL(batch, seq)), C(4096));
    cr_assert_eq(mt_sym_div_exact(ctx, numel, seq), mt_sym_mul_const(ctx, batch, 4096));
    cr_assert_eq(mt_sym_div_exact(ctx, numel, mt_sym_mul_const(ctx, seq, 64)), mt_sym_mul_const(ctx, batch, 64));
    cr_assert_eq(mt_sym_div_exact(ctx, numel, numel), C(1));
    cr_assert_eq(mt_sym_prod(ctx, NULL, 0), C(1));
    cr_assert(mt_sym_divides(ctx, C(4096), numel));
    cr_assert_eq(mt_ctx_status(ctx), MT_OK);
}

Test(sym, division_by_a_polynomial_factor) {
    const mt_sym *a = V("a"), *b = V("b"), *batch = V("batch"), *seq = V("seq");
    cr_assert_eq(mt_sym_div_exact(ctx, MUL(ADD(a, b), SUB(a, b)), ADD(a, b)), SUB(a, b));
    const mt_sym *sp1 = mt_sym_add_const(ctx, seq, 1);
    cr_assert_eq(mt_sym_div_exact(ctx, ADD(MUL(batch, seq), batch), sp1), batch);
    /* (2a + 3)(a*b - 1)(b + 1) / (a*b - 1) */
    const mt_sym *f1 = mt_sym_add_const(ctx, mt_sym_mul_const(ctx, a, 2), 3);
    const mt_sym *f2 = mt_sym_add_const(ctx, MUL(a, b), -1);
    const mt_sym *f3 = mt_sym_add_const(ctx, b, 1);
    const mt_sym *p = MUL(MUL(f1, f2), f3);
    cr_assert_eq(mt_sym_div_exact(ctx, p, f2), MUL(f1, f3));
    cr_assert_eq(mt_sym_div_exact(ctx, p, MUL(f1, f3)), f2);
    cr_assert_eq(mt_sym_div_exact(ctx, C(0), f2), C(0));
    cr_assert_eq(mt_ctx_status(ctx), MT_OK);
}

Test(sym, inexact_division_fails_with_both_operands) {
    const mt_sym *batch = V("batch"), *seq = V("seq");
    cr_assert_null(mt_sym_div_exact(ctx, seq, batch));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_SHAPE);
    cr_assert_str_eq(mt_ctx_error(ctx)->message, "cannot divide seq by batch exactly");
    mt_error_clear(ctx);

    cr_assert_null(mt_sym_div_exact(ctx, mt_sym_add_const(ctx, seq, 1), C(2)));
    cr_assert_str_eq(mt_ctx_error(ctx)->message, "cannot divide seq + 1 by 2 exactly");
    mt_error_clear(ctx);

    cr_assert_null(mt_sym_div_exact(ctx, C(7), C(2)));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_SHAPE);
    mt_error_clear(ctx);

    cr_assert_null(mt_sym_div_exact(ctx, seq, C(0)));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_SHAPE);
    mt_error_clear(ctx);

    /* (seq^2 + 1) is not a multiple of (seq + 1): remainder 2 */
    cr_assert_null(mt_sym_div_exact(ctx, mt_sym_add_const(ctx, MUL(seq, seq), 1), mt_sym_add_const(ctx, seq, 1)));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_SHAPE);
    mt_error_clear(ctx);

    /* the predicate does not touch the error state */
    cr_assert_not(mt_sym_divides(ctx, batch, seq));
    cr_assert_not(mt_sym_divides(ctx, C(3), mt_sym_mul_const(ctx, seq, 4)));
    cr_assert(mt_sym_divides(ctx, C(2), mt_sym_mul_const(ctx, seq, 4)));
    cr_assert_eq(mt_ctx_status(ctx), MT_OK);
}

/* ---- floor division ------------------------------------------------------- */

Test(sym, floordiv_of_constants_rounds_toward_minus_infinity) {
    /* Python: 7//2 == 3, -7//2 == -4, -8//2 == -4, 0//5 == 0, -1//4096 == -1 */
    cr_assert_eq(mt_sym_floordiv(ctx, C(7), 2), C(3));
    cr_assert_eq(mt_sym_floordiv(ctx, C(-7), 2), C(-4));
    cr_assert_eq(mt_sym_floordiv(ctx, C(-8), 2), C(-4));
    cr_assert_eq(mt_sym_floordiv(ctx, C(0), 5), C(0));
    cr_assert_eq(mt_sym_floordiv(ctx, C(-1), 4096), C(-1));
    cr_assert_eq(mt_sym_floordiv(ctx, C(INT64_MIN), 2), C(INT64_MIN / 2));
    cr_assert_eq(mt_sym_floordiv(ctx, C(INT64_MAX), 1), C(INT64_MAX));
}

Test(sym, floordiv_by_nonpositive_is_usage_error) {
    cr_assert_null(mt_sym_floordiv(ctx, V("seq"), 0));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_USAGE);
    mt_error_clear(ctx);
    cr_assert_null(mt_sym_floordiv(ctx, C(4), -2));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_USAGE);
}

Test(sym, floordiv_atoms) {
    const mt_sym *seq = V("seq"), *batch = V("batch");
    const mt_sym *sp1 = mt_sym_add_const(ctx, seq, 1);
    const mt_sym *h = mt_sym_floordiv(ctx, sp1, 2);
    cr_assert_not_null(h);
    cr_assert_str_eq(STR(h), "(seq + 1)//2");
    cr_assert_eq(mt_sym_floordiv(ctx, sp1, 2), h);
    cr_assert_not(mt_sym_is_var(h));
    cr_assert_not(mt_sym_is_const(h));
    cr_assert_null(mt_sym_info_of(ctx, h));
    cr_assert_str_eq(STR(mt_sym_floordiv(ctx, seq, 2)), "seq//2");
    /* exact cases need no atom */
    cr_assert_eq(mt_sym_floordiv(ctx, mt_sym_mul_const(ctx, seq, 6), 3), mt_sym_mul_const(ctx, seq, 2));
    cr_assert_eq(mt_sym_floordiv(ctx, seq, 1), seq);
    /* (2*seq + 3)//2 == seq + 1 since seq is an integer */
    cr_assert_eq(mt_sym_floordiv(ctx, mt_sym_add_const(ctx, mt_sym_mul_const(ctx, seq, 2), 3), 2),
                 mt_sym_add_const(ctx, seq, 1));
    /* (4*seq + 2)//4 == (2*seq + 1)//2 */
    cr_assert_eq(mt_sym_floordiv(ctx, mt_sym_add_const(ctx, mt_sym_mul_const(ctx, seq, 4), 2), 4),
                 mt_sym_floordiv(ctx, mt_sym_add_const(ctx, mt_sym_mul_const(ctx, seq, 2), 1), 2));
    /* (seq - 1)//2 + 1 == (seq + 1)//2 */
    cr_assert_eq(mt_sym_add_const(ctx, mt_sym_floordiv(ctx, mt_sym_add_const(ctx, seq, -1), 2), 1), h);
    /* ((seq + 1)//2)//3 == (seq + 1)//6 */
    cr_assert_eq(mt_sym_floordiv(ctx, h, 3), mt_sym_floordiv(ctx, sp1, 6));
    /* the atom acts like a symbol; printing stays a valid Python expression */
    cr_assert_str_eq(STR(MUL(batch, h)), "batch*((seq + 1)//2)");
    cr_assert_str_eq(STR(MUL(h, h)), "((seq + 1)//2)**2");
    cr_assert_str_eq(STR(mt_sym_mul_const(ctx, h, 3)), "3*((seq + 1)//2)");
    cr_assert_str_eq(STR(SUB(C(0), h)), "-((seq + 1)//2)");
    cr_assert_str_eq(STR(ADD(h, batch)), "batch + (seq + 1)//2");
    cr_assert_eq(mt_sym_div_exact(ctx, MUL(batch, h), h), batch);
}

Test(sym, floordiv_atoms_evaluate_like_python) {
    const mt_sym *seq = V("seq");
    const mt_sym *h = mt_sym_floordiv(ctx, mt_sym_add_const(ctx, seq, 1), 2);
    cr_assert_eq(eval1(h, "seq", 4), 2);   /* 5//2 */
    cr_assert_eq(eval1(h, "seq", 5), 3);   /* 6//2 */
    cr_assert_eq(eval1(h, "seq", -4), -2); /* -3//2 */
    const mt_sym *g = mt_sym_floordiv(ctx, mt_sym_add_const(ctx, seq, -1), 2);
    cr_assert_eq(eval1(g, "seq", 0), -1); /* -1//2 */
    cr_assert_eq(eval1(g, "seq", 4), 1);  /* 3//2 */
    const mt_sym *hh = mt_sym_floordiv(ctx, h, 3);
    cr_assert_eq(eval1(hh, "seq", 12), 2); /* (13//2)//3 == 6//3 */
    cr_assert_eq(eval1(hh, "seq", 10), 1); /* (11//2)//3 == 5//3 */
}

/* floor(x / c) through doubles (exact for these magnitudes) is an
 * independent reference for Python's floor division. */
TheoryDataPoints(sym, floordiv_matches_reference) = {
    DataPoints(int64_t, -1000, -37, -8, -7, -1, 0, 1, 7, 8, 37, 999, 1000),
    DataPoints(int64_t, 1, 2, 3, 7, 64, 4096),
    DataPoints(int64_t, 0, 1, 2, 5),
};

Theory((int64_t x, int64_t c, int64_t k), sym, floordiv_matches_reference) {
    int64_t ref = (int64_t)floor((double)x / (double)c);
    cr_assert_eq(mt_sym_floordiv(ctx, C(x), c), C(ref));
    /* symbolic: (k*seq + x)//c evaluated at seq = 3 */
    const mt_sym *e = mt_sym_add_const(ctx, mt_sym_mul_const(ctx, V("seq"), k), x);
    const mt_sym *f = mt_sym_floordiv(ctx, e, c);
    cr_assert_not_null(f);
    int64_t refs = (int64_t)floor((double)(k * 3 + x) / (double)c);
    cr_assert_eq(eval1(f, "seq", 3), refs, "(%s) at seq=3", STR(f));
}

/* ---- evaluation and substitution ------------------------------------------ */

Test(sym, eval_with_bindings) {
    const mt_sym *batch = V("batch"), *seq = V("seq");
    const mt_sym *e = mt_sym_add_const(ctx, MUL(MUL(batch, seq), seq), 1); /* batch*seq^2 + 1 */
    const char *names[] = {"seq", "batch", "unused"};
    int64_t values[] = {4096, 2, 99};
    mt_binding b = {names, values, 3};
    int64_t v = 0;
    cr_assert_eq(mt_sym_eval(ctx, e, &b, &v), MT_OK);
    cr_assert_eq(v, 2 * 4096 * 4096 + 1);
    cr_assert_eq(mt_sym_eval(ctx, C(-5), NULL, &v), MT_OK);
    cr_assert_eq(v, -5);
}

Test(sym, eval_reports_unbound_symbol) {
    const mt_sym *e = MUL(V("batch"), V("seq"));
    const char *names[] = {"batch"};
    int64_t values[] = {2};
    mt_binding b = {names, values, 1};
    int64_t v = 0;
    cr_assert_eq(mt_sym_eval(ctx, e, &b, &v), MT_ERR_USAGE);
    cr_assert_str_eq(mt_ctx_error(ctx)->message, "unbound symbol 'seq'");
}

Test(sym, subst_replaces_bound_symbols) {
    const mt_sym *batch = V("batch"), *seq = V("seq");
    const char *names[] = {"seq"};
    int64_t values[] = {7};
    mt_binding b = {names, values, 1};
    cr_assert_eq(mt_sym_subst(ctx, MUL(batch, seq), &b), mt_sym_mul_const(ctx, batch, 7));
    cr_assert_eq(mt_sym_subst(ctx, batch, &b), batch);
    cr_assert_eq(mt_sym_subst(ctx, MUL(seq, seq), &b), C(49));
    /* floor atoms evaluate once their expression is constant: (7 + 1)//2 */
    const mt_sym *h = mt_sym_floordiv(ctx, mt_sym_add_const(ctx, seq, 1), 2);
    cr_assert_eq(mt_sym_subst(ctx, h, &b), C(4));
    cr_assert_eq(mt_sym_subst(ctx, ADD(MUL(batch, h), seq), &b), mt_sym_add_const(ctx, mt_sym_mul_const(ctx, batch, 4), 7));
    /* a floor atom over a partly bound expression: (batch + seq)//2 -> (batch + 7)//2 == (batch + 1)//2 + 3 */
    const mt_sym *g = mt_sym_floordiv(ctx, ADD(batch, seq), 2);
    cr_assert_eq(mt_sym_subst(ctx, g, &b), mt_sym_add_const(ctx, mt_sym_floordiv(ctx, mt_sym_add_const(ctx, batch, 1), 2), 3));
    cr_assert_eq(mt_sym_subst(ctx, g, NULL), g);
}

/* ---- overflow ------------------------------------------------------------- */

Test(sym, coefficient_overflow_is_reported) {
    cr_assert_null(mt_sym_add_const(ctx, C(INT64_MAX), 1));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_OVERFLOW);
    mt_error_clear(ctx);
    cr_assert_null(ADD(C(INT64_MAX), C(1)));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_OVERFLOW);
    mt_error_clear(ctx);
    const mt_sym *seq = V("seq");
    cr_assert_null(mt_sym_mul_const(ctx, mt_sym_mul_const(ctx, seq, (int64_t)1 << 40), (int64_t)1 << 40));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_OVERFLOW);
    mt_error_clear(ctx);
    const mt_sym *big = mt_sym_mul_const(ctx, seq, (int64_t)1 << 62);
    cr_assert_null(MUL(big, ADD(seq, C(2))));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_OVERFLOW);
    mt_error_clear(ctx);
    cr_assert_null(SUB(C(INT64_MIN), C(1)));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_OVERFLOW);
    mt_error_clear(ctx);
    /* overflow while evaluating */
    int64_t v;
    const char *names[] = {"seq"};
    int64_t values[] = {(int64_t)1 << 32};
    mt_binding b = {names, values, 1};
    cr_assert_eq(mt_sym_eval(ctx, MUL(seq, seq), &b, &v), MT_ERR_OVERFLOW);
}

Test(sym, null_arguments_propagate) {
    const mt_sym *seq = V("seq");
    cr_assert_null(ADD(NULL, seq));
    cr_assert_null(MUL(seq, NULL));
    cr_assert_null(mt_sym_div_exact(ctx, NULL, seq));
    cr_assert_null(mt_sym_floordiv(ctx, NULL, 2));
    const mt_sym *dims[] = {seq, NULL};
    cr_assert_null(mt_sym_prod(ctx, dims, 2));
    cr_assert_eq(mt_ctx_status(ctx), MT_OK);
}

/* ---- symbol table --------------------------------------------------------- */

Test(sym, symbol_table_and_fresh_symbols) {
    cr_assert_eq(mt_sym_count(ctx), 0);
    const mt_sym *seq = V("seq");
    const mt_sym *tok_hi = MUL(V("batch"), seq);
    const mt_sym *u0 = mt_sym_fresh(ctx, "tokens", 0, tok_hi);
    const mt_sym *u1 = mt_sym_fresh(ctx, "tokens", 0, NULL);
    cr_assert_not_null(u0);
    cr_assert_neq(u0, u1);
    cr_assert_str_eq(STR(u0), "tokens_0");
    cr_assert_str_eq(STR(u1), "tokens_1");
    cr_assert(mt_sym_is_var(u0));
    cr_assert_eq(V("tokens_0"), u0);
    /* a name already taken is skipped */
    V("e_0");
    cr_assert_str_eq(STR(mt_sym_fresh(ctx, "e", 1, NULL)), "e_1");

    cr_assert_eq(mt_sym_count(ctx), 6);
    const char *order[] = {"seq", "batch", "tokens_0", "tokens_1", "e_0", "e_1"};
    for (int i = 0; i < 6; i++) cr_assert_str_eq(mt_sym_info(ctx, i)->name, order[i]);
    cr_assert_null(mt_sym_info(ctx, 6));

    const mt_symbol_info *si = mt_sym_info(ctx, 0);
    cr_assert_eq(si->sym, seq);
    cr_assert_eq(si->lo, 1);
    cr_assert_null(si->hi);
    cr_assert_null(si->origin);
    mt_symbol_info *ti = mt_sym_info_of(ctx, u0);
    cr_assert_eq(ti->lo, 0);
    cr_assert_eq(ti->hi, tok_hi);
    ti->origin = "tokens routed to expert 0";
    cr_assert_str_eq(mt_sym_info(ctx, 2)->origin, "tokens routed to expert 0");

    mt_sym_set_bounds(ctx, seq, 1, C(4096));
    cr_assert_eq(mt_sym_info_of(ctx, seq)->hi, C(4096));
    cr_assert_null(mt_sym_info_of(ctx, tok_hi));
    mt_sym_set_bounds(ctx, tok_hi, 0, NULL);
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_USAGE);
}

/* ---- interning cost ------------------------------------------------------- */

Test(sym, rebuilding_an_existing_expression_allocates_nothing) {
    const mt_sym *b = V("batch"), *s = V("seq");
    const mt_sym *first = NULL;
    size_t before = 0;
    for (int round = 0; round < 2; round++) {
        if (round == 1) before = mt_ctx_bytes(ctx);
        for (int i = 0; i < 2000; i++) {
            const mt_sym *e = mt_sym_mul_const(ctx, MUL(b, s), 4096);
            e = mt_sym_div_exact(ctx, e, C(32));
            e = ADD(e, mt_sym_mul_const(ctx, s, i % 128));
            if (i == 0 && round == 0) first = e;
            if (i == 0) cr_assert_eq(e, first);
        }
    }
    cr_assert_eq(mt_ctx_bytes(ctx), before);
}

Test(sym, many_distinct_nodes) {
    /* Grows every table past several resizes and checks identity survives. */
    const mt_sym *s = V("seq");
    const mt_sym *keep[64];
    for (int i = 0; i < 100000; i++) {
        const mt_sym *e = mt_sym_add_const(ctx, mt_sym_mul_const(ctx, s, i + 2), i);
        cr_assert_not_null(e);
        if (i % 1600 == 0) keep[i / 1600] = e;
    }
    for (int i = 0; i < 100000; i += 1600)
        cr_assert_eq(mt_sym_add_const(ctx, mt_sym_mul_const(ctx, s, i + 2), i), keep[i / 1600]);
}

/* ---- ring laws on random polynomials -------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint32_t rnd(rng *r) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33);
}
static int64_t rnd_in(rng *r, int64_t lo, int64_t hi) { return lo + (int64_t)(rnd(r) % (uint64_t)(hi - lo + 1)); }

/* A random polynomial sum c_ij x^i y^j (0 <= i, j <= 2) built from the table,
 * with its value computed directly from the same table. */
typedef struct poly {
    int64_t c[3][3];
} poly;

static poly rnd_poly(rng *r) {
    poly p;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) p.c[i][j] = (rnd(r) % 3 == 0) ? rnd_in(r, -5, 5) : 0;
    return p;
}

static const mt_sym *build(const poly *p) {
    const mt_sym *x = V("x"), *y = V("y");
    const mt_sym *sum = C(0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            const mt_sym *t = C(p->c[i][j]);
            for (int k = 0; k < i; k++) t = MUL(t, x);
            for (int k = 0; k < j; k++) t = MUL(y, t);
            sum = ADD(t, sum);
        }
    return sum;
}

static int64_t direct(const poly *p, int64_t x, int64_t y) {
    int64_t v = 0, xp = 1;
    for (int i = 0; i < 3; i++, xp *= x) {
        int64_t yp = 1;
        for (int j = 0; j < 3; j++, yp *= y) v += p->c[i][j] * xp * yp;
    }
    return v;
}

static int64_t eval_xy(const mt_sym *s, int64_t x, int64_t y) {
    const char *names[] = {"x", "y"};
    int64_t values[] = {x, y};
    mt_binding b = {names, values, 2};
    int64_t v = 0;
    cr_assert_eq(mt_sym_eval(ctx, s, &b, &v), MT_OK, "%s", mt_ctx_errmsg(ctx));
    return v;
}

Test(sym, ring_laws_on_random_polynomials) {
    rng r = {20240601};
    for (int iter = 0; iter < 300; iter++) {
        poly pa = rnd_poly(&r), pb = rnd_poly(&r), pc = rnd_poly(&r);
        const mt_sym *a = build(&pa), *b = build(&pb), *c = build(&pc);
        cr_assert(a && b && c);
        /* identities hold as pointer equality */
        cr_assert_eq(ADD(a, b), ADD(b, a));
        cr_assert_eq(MUL(a, b), MUL(b, a));
        cr_assert_eq(MUL(ADD(a, b), c), ADD(MUL(a, c), MUL(b, c)));
        cr_assert_eq(MUL(MUL(a, b), c), MUL(a, MUL(b, c)));
        cr_assert_eq(ADD(ADD(a, b), c), ADD(a, ADD(b, c)));
        cr_assert_eq(SUB(ADD(a, b), b), a);
        cr_assert_eq(SUB(a, a), C(0));
        if (b != C(0)) cr_assert_eq(mt_sym_div_exact(ctx, MUL(a, b), b), a, "(%s)*(%s) / (%s)", STR(a), STR(b), STR(b));
        /* a*b + 1 is a multiple of b only when b is a unit */
        if (b != C(0) && b != C(1) && b != C(-1)) {
            cr_assert_not(mt_sym_divides(ctx, b, mt_sym_add_const(ctx, MUL(a, b), 1)), "%s", STR(b));
            cr_assert_null(mt_sym_div_exact(ctx, mt_sym_add_const(ctx, MUL(a, b), 1), b));
            cr_assert_eq(mt_ctx_status(ctx), MT_ERR_SHAPE);
            mt_error_clear(ctx);
        }
        /* values agree with direct integer arithmetic */
        for (int k = 0; k < 4; k++) {
            int64_t x = rnd_in(&r, -9, 9), y = rnd_in(&r, -9, 9);
            int64_t va = direct(&pa, x, y), vb = direct(&pb, x, y), vc = direct(&pc, x, y);
            cr_assert_eq(eval_xy(a, x, y), va, "%s at x=%lld y=%lld", STR(a), (long long)x, (long long)y);
            cr_assert_eq(eval_xy(MUL(a, b), x, y), va * vb);
            cr_assert_eq(eval_xy(SUB(MUL(a, c), b), x, y), va * vc - vb);
            int64_t d = rnd_in(&r, 2, 7);
            int64_t ref = (int64_t)floor((double)va / (double)d);
            cr_assert_eq(eval_xy(mt_sym_floordiv(ctx, a, d), x, y), ref, "(%s)//%lld", STR(a), (long long)d);
        }
        cr_assert_eq(mt_ctx_status(ctx), MT_OK, "%s", mt_ctx_errmsg(ctx));
    }
}
