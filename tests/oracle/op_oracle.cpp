// metatrace libtorch oracle — op-level differential test.
//
// For every op of the MT_OPS table, generate seeded, reproducible cases with
// concrete shapes, run metatrace's rule (mt_op_infer) and the same call on
// ATen meta tensors (oracle::run), and compare: output shapes and dtypes when
// both accept, and failure with failure (metatrace must reject exactly when
// PyTorch raises). An op without cases fails the test, so a new op cannot
// escape the oracle.
//
// usage: op_oracle [--seed N] [--op NAME]... [--verbose] [--list]
#include "oracle.hpp"

#include <ATen/Parallel.h>
#include <torch/version.h>

extern "C" {
#include "metatrace/metatrace.h"
}

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using oracle::Call;
using oracle::Val;

namespace {

// ---- seeded randomness (splitmix64: same numbers on every platform) -------------
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    int64_t range(int64_t lo, int64_t hi) { return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1)); } // [lo, hi]
    bool coin(int percent) { return (int64_t)(next() % 100) < percent; }
};

uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

// ---- values ----------------------------------------------------------------------------
using Shape = std::vector<int64_t>;

at::Tensor meta(const Shape &shape, at::ScalarType dt = at::kFloat) {
    return at::empty(shape, at::TensorOptions().device(at::kMeta).dtype(dt));
}
Val t(const Shape &shape, at::ScalarType dt = at::kFloat) { return Val::tensor(meta(shape, dt)); }
Val I(int64_t v) { return Val::integer(v); }
Val F(double v) { return Val::real(v); }
Val B(bool v) { return Val::boolean(v); }
Val D(at::ScalarType d) { return Val::dtype(d); }
Val L(std::vector<Val> xs) { return Val::list(std::move(xs)); }
Val Ls(const Shape &xs) { return Val::ints(xs); }
Val N() { return Val::none(); }
Val S(std::optional<int64_t> a, std::optional<int64_t> b, std::optional<int64_t> c = std::nullopt) {
    return Val::slice(a, b, c);
}
const std::nullopt_t &none = std::nullopt;

// The dtypes both sides know (float8 is absent from libtorch 1.13).
const std::vector<at::ScalarType> kAll = {at::kBool,  at::kByte,     at::kChar,  at::kShort,
                                          at::kInt,   at::kLong,     at::kHalf,  at::kBFloat16,
                                          at::kFloat, at::kDouble,   at::kComplexFloat};
const std::vector<at::ScalarType> kFloats = {at::kHalf, at::kBFloat16, at::kFloat, at::kDouble};
const int kFloat8Count = 2;

struct Case {
    Call call;
};

struct Gen {
    std::vector<Case> cases;
    int skipped_float8 = 0; // cases not generated because libtorch 1.13 lacks the dtype
    Rng rng;
    explicit Gen(uint64_t seed) : rng(seed) {}
    void add(std::vector<Val> args, std::vector<std::pair<std::string, Val>> kwargs = {}) {
        Case c;
        c.call.args = std::move(args);
        c.call.kwargs = std::move(kwargs);
        cases.push_back(std::move(c));
    }
};

// ---- shapes -------------------------------------------------------------------------------
Shape rand_shape(Rng &r, int maxrank, int64_t maxdim = 4) {
    Shape s((size_t)r.range(0, maxrank));
    for (auto &d : s) d = r.range(1, maxdim);
    return s;
}

// Pairs for broadcasting: compatible ones built from a common shape, and some
// that are not (a dim changed to another value > 1).
std::vector<std::pair<Shape, Shape>> broadcast_pairs(Rng &r, int nrand) {
    std::vector<std::pair<Shape, Shape>> v = {
        {{2, 3}, {2, 3}},       {{2, 3}, {3}},          {{2, 3}, {1}},        {{2, 1}, {1, 3}},
        {{4, 1, 3}, {2, 1}},    {{2, 3}, {2}},          {{2, 3}, {3, 2}},     {{}, {2, 3}},
        {{2, 3}, {}},           {{}, {}},               {{0, 3}, {1}},        {{0}, {2}},
        {{5, 1, 4}, {1, 6, 1}}, {{3}, {4}},             {{1, 1, 1}, {7}},     {{2, 0}, {2, 1}},
        {{8, 1, 6, 1}, {7, 1, 5}}, {{2, 3, 4, 5}, {3, 1, 5}}, {{2, 3, 4, 5}, {2, 1, 4, 6}},
    };
    for (int k = 0; k < nrand; k++) {
        Shape base = rand_shape(r, 4);
        auto derive = [&](void) {
            Shape s(base.begin() + (long)r.range(0, (int64_t)base.size()), base.end());
            for (auto &d : s) {
                if (r.coin(30)) d = 1;
                else if (r.coin(8)) d = d + r.range(1, 2); // likely incompatible
            }
            return s;
        };
        v.push_back({derive(), derive()});
    }
    return v;
}

std::vector<Val> scalars() { return {B(true), I(3), I(-2), F(2.5)}; }

// ---- generators per op ------------------------------------------------------------------------
// Binary elementwise ops: broadcasting, then type promotion across every pair of
// dtypes as tensor-tensor, tensor-zero-dim, zero-dim-tensor, zero-dim-zero-dim,
// tensor-Python-scalar and Python-scalar-tensor.
void gen_binary(Gen &g, const std::string &name) {
    bool method = name == "pow"; // Tensor.pow: self is always a tensor
    for (auto &p : broadcast_pairs(g.rng, 40)) g.add({t(p.first), t(p.second)});
    for (auto a : kAll) {
        for (auto b : kAll) {
            g.add({t({2, 3}, a), t({2, 3}, b)});
            g.add({t({2, 3}, a), t({}, b)});
            g.add({t({}, a), t({2, 3}, b)});
            g.add({t({}, a), t({}, b)});
        }
        for (const Val &s : scalars()) {
            g.add({t({2, 3}, a), s});
            g.add({t({}, a), s});
            if (!method) g.add({s, t({2, 3}, a)});
        }
    }
    // pairs involving float8: (13^2 - 11^2) dtype pairs x 4 layouts, + scalars
    g.skipped_float8 += (13 * 13 - 11 * 11) * 4 + kFloat8Count * (int)scalars().size() * (method ? 2 : 3);
}

void gen_where(Gen &g) {
    std::vector<std::vector<Shape>> shapes = {
        {{2, 3}, {2, 3}, {2, 3}}, {{2, 1}, {1, 3}, {3}},   {{2, 3}, {2}, {2, 3}},  {{}, {2, 3}, {}},
        {{4, 1, 1}, {1, 3, 1}, {1, 1, 5}}, {{3}, {2, 3}, {4, 1, 1}}, {{2, 3}, {}, {}}, {{0, 3}, {1}, {3}},
    };
    for (int k = 0; k < 20; k++) shapes.push_back({rand_shape(g.rng, 3, 3), rand_shape(g.rng, 3, 3), rand_shape(g.rng, 3, 3)});
    for (auto &s : shapes) g.add({t(s[0], at::kBool), t(s[1]), t(s[2])});
    for (auto cd : {at::kByte, at::kFloat, at::kLong}) g.add({t({2, 3}, cd), t({2, 3}), t({2, 3})});
    for (auto a : kAll) {
        for (auto b : kAll) {
            g.add({t({2, 3}, at::kBool), t({2, 3}, a), t({2, 3}, b)});
            g.add({t({2, 3}, at::kBool), t({2, 3}, a), t({}, b)});
        }
        for (const Val &s : scalars()) {
            g.add({t({2, 3}, at::kBool), t({2, 3}, a), s});
            g.add({t({2, 3}, at::kBool), s, t({2, 3}, a)});
        }
    }
    for (const Val &x : scalars())
        for (const Val &y : scalars()) g.add({t({2, 3}, at::kBool), x, y});
    g.skipped_float8 += (13 * 13 - 11 * 11) * 2 + kFloat8Count * 4 * 2;
}

void gen_masked_fill(Gen &g) {
    for (auto a : kAll) {
        for (const Val &s : scalars()) g.add({t({2, 3}, a), t({2, 3}, at::kBool), s});
        for (auto b : kAll) g.add({t({2, 3}, a), t({2, 3}, at::kBool), t({}, b)});
        g.add({t({2, 3}, a), t({2, 3}, at::kBool), t({1}, a)});
    }
    for (auto md : {at::kByte, at::kFloat, at::kLong}) g.add({t({2, 3}), t({2, 3}, md), F(0.0)});
    std::vector<std::pair<Shape, Shape>> sh = {{{2, 3}, {3}},    {{2, 3}, {1, 3}}, {{2, 3}, {4, 2, 3}},
                                               {{2, 3}, {2}},    {{2, 1}, {2, 5}}, {{}, {3}},
                                               {{1, 1, 4, 4}, {2, 1, 4, 4}}, {{2, 3}, {}}};
    for (auto &p : sh) g.add({t(p.first), t(p.second, at::kBool), F(-1e9)});
    g.skipped_float8 += kFloat8Count * (4 + 13 + 1) + 11 * kFloat8Count;
}

void gen_unary(Gen &g, const std::string &name) {
    std::vector<Shape> shapes = {{}, {3}, {2, 3, 4}, {0, 2}};
    for (auto a : kAll)
        for (auto &s : shapes) {
            if (name == "gelu") {
                g.add({t(s, a)});
                g.add({t(s, a)}, {{"approximate", Val::str("tanh")}});
            } else if (name == "silu" || name == "relu") {
                g.add({t(s, a)});
                g.add({t(s, a)}, {{"inplace", B(false)}});
            } else {
                g.add({t(s, a)});
            }
        }
    if (name == "gelu") {
        g.add({t({2, 3})}, {{"approximate", Val::str("none")}});
        g.add({t({2, 3})}, {{"approximate", Val::str("bogus")}});
    }
    g.skipped_float8 += kFloat8Count * (int)shapes.size();
}

void gen_to(Gen &g) {
    for (auto a : kAll)
        for (auto b : kAll) {
            g.add({t({2, 3}, a), D(b)});
            g.add({t({2, 3}, a)}, {{"dtype", D(b)}});
            g.add({t({2, 3}, a), Val::device("meta"), D(b)});
            g.add({t({}, a), t({4}, b)});
        }
    g.add({t({2, 3})}, {{"device", Val::device("meta")}});
    g.add({t({2, 3}), Val::device("cpu")});
    g.skipped_float8 += (13 * 13 - 11 * 11) * 4;
}

void gen_type_as(Gen &g) {
    for (auto a : kAll)
        for (auto b : kAll) {
            g.add({t({2, 3}, a), t({2, 3}, b)});
            g.add({t({}, a), t({5, 1}, b)});
        }
    g.skipped_float8 += (13 * 13 - 11 * 11) * 2;
}

void gen_reduce(Gen &g, const std::string &name) {
    bool has_dtype = name != "amax";
    std::vector<Shape> shapes = {{2, 3, 4}, {5}, {}, {2, 0, 3}};
    std::vector<Val> dims = {N(), I(0), I(-1), I(1), I(3), I(-4), Ls({0, 2}), Ls({}), Ls({1, 1}), Ls({-1, 2}), Ls({0, -3})};
    for (auto &s : shapes)
        for (auto &d : dims)
            for (bool keep : {false, true}) {
                if (d.kind == Val::NONE) {
                    g.add({t(s)});
                    if (keep) g.add({t(s)}, {{"dim", d}, {"keepdim", B(true)}});
                    continue;
                }
                g.add({t(s), d, B(keep)});
                if (keep) g.add({t(s)}, {{"dim", d}, {"keepdim", B(true)}});
            }
    for (auto a : kAll) {
        g.add({t({2, 3}, a), I(1)});
        g.add({t({2, 3}, a), I(-1), B(true)});
        g.add({t({2, 3}, a)});
        if (has_dtype)
            for (auto b : {at::kFloat, at::kDouble, at::kLong, at::kHalf, at::kBool, at::kComplexFloat}) {
                g.add({t({2, 3}, a), I(1)}, {{"dtype", D(b)}});
                g.add({t({2, 3}, a)}, {{"dtype", D(b)}});
            }
    }
    g.skipped_float8 += kFloat8Count * (has_dtype ? 15 : 3);
}

void gen_softmax(Gen &g) {
    std::vector<Shape> shapes = {{}, {5}, {2, 3}, {2, 3, 4}, {2, 3, 4, 5}, {2, 0}};
    std::vector<Val> dims = {N(), I(0), I(-1), I(1), I(2), I(4), I(-5)};
    for (auto &s : shapes)
        for (auto &d : dims) {
            g.add({t(s)}, {{"dim", d}});
            g.add({t(s), d});
        }
    for (auto a : kAll)
        for (Val dt : {N(), D(at::kFloat), D(at::kHalf), D(at::kLong), D(at::kDouble)}) {
            g.add({t({2, 3}, a)}, {{"dim", I(-1)}, {"dtype", dt}});
            if (dt.kind != Val::NONE) g.add({t({2, 3}, a), I(-1), I(3), dt});
        }
    g.skipped_float8 += kFloat8Count * 9;
}

Shape mm_shape(int rank, int64_t outer, int64_t inner, bool left, const Shape &batch) {
    if (rank == 0) return {};
    if (rank == 1) return {inner};
    Shape s(batch.end() - (rank - 2), batch.end());
    if (left) { s.push_back(outer); s.push_back(inner); }
    else { s.push_back(inner); s.push_back(outer); }
    return s;
}

void gen_matmul(Gen &g) {
    // every rank combination 0..4 x 0..4 (rank 0 is an error in torch.matmul)
    for (int ra = 0; ra <= 4; ra++)
        for (int rb = 0; rb <= 4; rb++) {
            Shape ba = {2, 3}, bb = {2, 3};
            g.add({t(mm_shape(ra, 5, 4, true, ba)), t(mm_shape(rb, 6, 4, false, bb))});        // compatible
            g.add({t(mm_shape(ra, 5, 4, true, ba)), t(mm_shape(rb, 6, 7, false, bb))});        // inner mismatch
            g.add({t(mm_shape(ra, 5, 4, true, ba)), t(mm_shape(rb, 6, 4, false, {1, 3}))});    // batch broadcast
            g.add({t(mm_shape(ra, 5, 4, true, {2, 1})), t(mm_shape(rb, 6, 4, false, {1, 3}))}); // both broadcast
            g.add({t(mm_shape(ra, 5, 4, true, ba)), t(mm_shape(rb, 6, 4, false, {4, 3}))});    // batch mismatch
            g.add({t(mm_shape(ra, 5, 4, true, ba)), t(mm_shape(rb, 6, 4, false, {2, 5}))});    // batch mismatch
            g.add({t(mm_shape(ra, 1, 4, true, ba)), t(mm_shape(rb, 1, 4, false, bb))});        // unit outer dims
        }
    for (int k = 0; k < 60; k++) {
        int ra = (int)g.rng.range(1, 4), rb = (int)g.rng.range(1, 4);
        Shape ba = rand_shape(g.rng, 2, 3), bb = rand_shape(g.rng, 2, 3);
        while (ba.size() < 2) ba.insert(ba.begin(), g.rng.range(1, 3));
        while (bb.size() < 2) bb.insert(bb.begin(), g.rng.range(1, 3));
        int64_t kin = g.rng.range(1, 4), kin2 = g.rng.coin(80) ? kin : g.rng.range(1, 4);
        g.add({t(mm_shape(ra, g.rng.range(1, 4), kin, true, ba)), t(mm_shape(rb, g.rng.range(1, 4), kin2, false, bb))});
    }
    for (auto a : kAll)
        for (auto b : kAll) g.add({t({3, 4}, a), t({4, 5}, b)});
    for (auto a : {at::kFloat, at::kHalf, at::kLong})
        for (auto b : {at::kFloat, at::kHalf, at::kLong}) {
            g.add({t({4}, a), t({4}, b)});
            g.add({t({2, 3, 4}, a), t({4}, b)});
        }
    g.skipped_float8 += 13 * 13 - 11 * 11;
}

void gen_linear(Gen &g) {
    std::vector<Shape> inputs = {{4}, {3, 4}, {2, 3, 4}, {2, 2, 3, 4}, {3, 5}, {}};
    std::vector<Shape> weights = {{6, 4}, {6, 5}, {4}, {2, 6, 4}, {1, 4}, {}};
    std::vector<std::optional<Shape>> biases = {std::nullopt, Shape{6}, Shape{1}, Shape{7}, Shape{}, Shape{3, 6}};
    for (auto &x : inputs)
        for (auto &w : weights)
            for (auto &b : biases) {
                if (b) g.add({t(x), t(w), t(*b)});
                else g.add({t(x), t(w)});
            }
    for (auto a : kAll)
        for (auto b : {at::kFloat, at::kHalf, at::kBFloat16, at::kLong}) {
            g.add({t({3, 4}, a), t({6, 4}, b)});
            g.add({t({3, 4}, a), t({6, 4}, a), t({6}, b)});
        }
    g.add({t({3, 4})}, {{"weight", t({6, 4})}, {"bias", t({6})}});
    g.skipped_float8 += kFloat8Count * 8;
}

void gen_embedding(Gen &g) {
    std::vector<Shape> idx = {{}, {5}, {2, 3}, {2, 3, 4}, {0, 2}};
    std::vector<at::ScalarType> idt = {at::kLong, at::kInt, at::kShort, at::kByte, at::kFloat, at::kBool};
    std::vector<Shape> ws = {{10, 4}, {10}, {10, 4, 2}, {1, 1}};
    for (auto &s : idx)
        for (auto d : idt)
            for (auto &w : ws) g.add({t(s, d), t(w)});
    for (auto wd : kAll) g.add({t({2, 3}, at::kLong), t({10, 4}, wd)});
    for (int64_t p : {0, 3, 9, 10, -1, -10, -11}) g.add({t({2, 3}, at::kLong), t({10, 4})}, {{"padding_idx", I(p)}});
    g.skipped_float8 += kFloat8Count;
}

void gen_layer_norm(Gen &g) {
    std::vector<Val> ns = {Ls({4}), Ls({3, 4}), Ls({2, 3, 4}), Ls({5}), Ls({1, 2, 3, 4}), Ls({}), I(4), Ls({3})};
    std::vector<std::optional<Shape>> wb = {std::nullopt, Shape{4}, Shape{3, 4}, Shape{5}};
    for (auto &n : ns)
        for (auto &w : wb)
            for (auto &b : wb) {
                std::vector<Val> args = {t({2, 3, 4}), n, w ? t(*w) : N(), b ? t(*b) : N()};
                g.add(args);
            }
    for (auto a : kAll) {
        g.add({t({2, 3, 4}, a), Ls({4}), t({4}, a), t({4}, a), F(1e-5)});
        g.add({t({2, 3, 4}, a), Ls({4})});
    }
    for (auto a : kFloats)
        for (auto b : kFloats) g.add({t({2, 3, 4}, a), Ls({4}), t({4}, b), t({4}, b)});
    g.add({t({}), Ls({1})});
    g.add({t({2, 3, 4})}, {{"normalized_shape", Ls({4})}, {"eps", F(1e-6)}});
    g.skipped_float8 += kFloat8Count * 2;
}

// Factorizations of n into `parts` dims (random), for view/reshape targets.
Shape factorize(Rng &r, int64_t n, int parts) {
    Shape s;
    for (int k = 0; k < parts - 1; k++) {
        std::vector<int64_t> divs;
        for (int64_t d = 1; d <= n; d++)
            if (n % d == 0) divs.push_back(d);
        int64_t d = divs[(size_t)r.range(0, (int64_t)divs.size() - 1)];
        s.push_back(d);
        n /= d;
    }
    s.push_back(n);
    return s;
}

void gen_view(Gen &g) {
    std::vector<std::pair<Shape, std::vector<Shape>>> fixed = {
        {{2, 3, 4}, {{24}, {-1}, {6, 4}, {6, -1}, {-1, 4}, {2, -1, 2}, {-1, -1}, {5, -1}, {25}, {2, 3, 4, 1},
                     {1, -1, 1}, {0, -1}, {-2, 12}, {2, 12, 1, 1}, {}, {24, 0}}},
        {{6}, {{2, 3}, {3, -1}, {6, 1, 1}, {-1}, {7}, {}}},
        {{}, {{}, {1}, {-1}, {1, 1}, {1, -1}, {2}}},
        {{1}, {{}, {-1}, {1, 1, 1}}},
        {{0, 3}, {{0}, {-1}, {3, 0}, {0, -1}, {-1, 0}, {0, 5}, {1, 0, 3}}},
        {{4, 0}, {{2, 2, 0}, {-1, 2, 0}}},
    };
    for (auto &f : fixed)
        for (auto &target : f.second) {
            g.add({t(f.first), Ls(target)});
            std::vector<Val> args = {t(f.first)};
            for (int64_t d : target) args.push_back(I(d));
            if (!target.empty()) g.add(args);
        }
    for (int k = 0; k < 60; k++) {
        Shape s = rand_shape(g.rng, 4, 4);
        int64_t n = 1;
        for (int64_t d : s) n *= d;
        Shape target = factorize(g.rng, n, (int)g.rng.range(1, 4));
        if (g.rng.coin(40)) target[(size_t)g.rng.range(0, (int64_t)target.size() - 1)] = -1;
        if (g.rng.coin(10)) target[0] += 1;
        g.add({t(s), Ls(target)});
    }
    g.add({t({2, 3})}, {{"size", Ls({3, 2})}});
    for (auto a : kAll) g.add({t({2, 3}, a), I(-1)});
    g.skipped_float8 += kFloat8Count;
}

void gen_transpose(Gen &g) {
    std::vector<std::pair<Shape, std::vector<std::pair<int64_t, int64_t>>>> v = {
        {{2, 3, 4}, {{0, 1}, {1, 0}, {-1, -2}, {0, 0}, {0, 3}, {-4, 0}, {2, -3}}},
        {{}, {{0, 0}, {-1, 0}, {0, 1}}},
        {{5}, {{0, -1}, {0, 1}}},
        {{2, 3, 4, 5}, {{1, 2}, {1, 3}, {-3, -1}}},
    };
    for (auto &p : v)
        for (auto &d : p.second) g.add({t(p.first), I(d.first), I(d.second)});
    for (auto a : kAll) g.add({t({2, 3}, a), I(0), I(1)});
    g.skipped_float8 += kFloat8Count;
}

void gen_permute(Gen &g) {
    std::vector<Shape> perms = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0},
                                {-1, 0, 1}, {0, 1}, {0, 0, 1}, {0, 1, 3}, {0, 1, 2, 3}, {-3, -2, -1}, {0, -3, 1}};
    for (auto &p : perms) {
        g.add({t({2, 3, 4}), Ls(p)});
        std::vector<Val> args = {t({2, 3, 4})};
        for (int64_t d : p) args.push_back(I(d));
        g.add(args);
    }
    g.add({t({}), Ls({})});
    g.add({t({}), Ls({0})});
    g.add({t({5}), I(0)});
    g.add({t({2, 3})}, {{"dims", Ls({1, 0})}});
    for (auto a : kAll) g.add({t({2, 3}, a), I(1), I(0)});
    g.skipped_float8 += kFloat8Count;
}

void gen_unsqueeze(Gen &g) {
    for (int64_t d = -5; d <= 4; d++) g.add({t({2, 3}), I(d)});
    for (int64_t d = -3; d <= 2; d++) g.add({t({}), I(d)});
    for (auto a : kAll) g.add({t({2, 3}, a), I(0)});
    g.add({t({2, 3})}, {{"dim", I(1)}});
    g.skipped_float8 += kFloat8Count;
}

void gen_squeeze(Gen &g) {
    std::vector<Shape> shapes = {{1, 3, 1}, {2, 3}, {1}, {}, {1, 1}, {0, 1}};
    std::vector<Val> dims = {N(), I(0), I(1), I(2), I(-1), I(3), I(-4), Ls({0, 2}), Ls({0, 0}), Ls({}), Ls({-1, 0})};
    for (auto &s : shapes)
        for (auto &d : dims) {
            if (d.kind == Val::NONE) g.add({t(s)});
            else g.add({t(s), d});
        }
    for (auto a : kAll) g.add({t({1, 3}, a), I(0)});
    g.skipped_float8 += kFloat8Count;
}

void gen_expand(Gen &g) {
    std::vector<std::pair<Shape, std::vector<Shape>>> v = {
        {{3, 1}, {{3, 4}, {-1, 4}, {2, 3, 4}, {2, -1, 4}, {-1, 3, 4}, {3, 5}, {4, 1}, {3}, {3, -1}, {1, 3, 1}, {3, 0}, {3, -2}}},
        {{}, {{2, 2}, {}, {-1}, {1}}},
        {{1}, {{5}, {2, 5}, {0}}},
        {{2, 3}, {{2, 3}, {-1, -1}, {4, -1, -1}, {2, 6}}},
    };
    for (auto &p : v)
        for (auto &target : p.second) {
            g.add({t(p.first), Ls(target)});
            std::vector<Val> args = {t(p.first)};
            for (int64_t d : target) args.push_back(I(d));
            if (!target.empty()) g.add(args);
        }
    for (auto a : kAll) g.add({t({3, 1}, a), I(3), I(4)});
    g.skipped_float8 += kFloat8Count;
}

void gen_contiguous(Gen &g) {
    for (auto a : kAll)
        for (const Shape &s : std::vector<Shape>{{}, {2, 3}, {0, 4}}) g.add({t(s, a)});
    g.skipped_float8 += kFloat8Count * 3;
}

void gen_cat(Gen &g) {
    std::vector<std::pair<std::vector<Shape>, std::vector<int64_t>>> v = {
        {{{2, 3}}, {0, 1, -1, 2}},
        {{{2, 3}, {4, 3}}, {0, 1, -2}},
        {{{2, 3}, {2, 5}}, {1, -1, 0}},
        {{{2, 3}, {2, 3}, {2, 3}}, {0, 1, 2}},
        {{{2, 3}, {3}}, {0}},
        {{{2, 3}, {0}}, {0, 1}},
        {{{0}, {2, 3}}, {1}},
        {{{}, {}}, {0}},
        {{{2, 3, 4}, {2, 1, 4}}, {1, -2, 0}},
        {{{2, 0}, {2, 3}}, {1}},
    };
    for (auto &p : v)
        for (int64_t d : p.second) {
            std::vector<Val> ts;
            for (auto &s : p.first) ts.push_back(t(s));
            g.add({L(ts), I(d)});
            if (d == 0) g.add({L(ts)});
        }
    g.add({L({}), I(0)});
    g.add({L({t({2, 3}), t({2, 3})})}, {{"dim", I(1)}});
    for (auto a : kAll)
        for (auto b : kAll) g.add({L({t({2, 3}, a), t({1, 3}, b)}), I(0)});
    g.skipped_float8 += 13 * 13 - 11 * 11;
}

void gen_split(Gen &g) {
    for (int64_t s : {1, 2, 3, 4, 6, 7, 0, -1})
        for (int64_t d : {0, 1, -1, 2}) g.add({t({6, 4}), I(s), I(d)});
    for (Shape sec : std::vector<Shape>{{2, 4}, {1, 2, 3}, {3, 3, 1}, {6}, {0, 6}, {}, {7, -1}})
        for (int64_t d : {0, -2}) g.add({t({6, 4}), Ls(sec), I(d)});
    g.add({t({0, 4}), I(0)});
    g.add({t({0, 4}), I(2)});
    g.add({t({6, 4}), I(2)});
    g.add({t({6, 4})}, {{"split_size", I(4)}, {"dim", I(1)}});
    g.add({t({}), I(1)});
    for (auto a : kAll) g.add({t({6, 4}, a), I(4)});
    g.skipped_float8 += kFloat8Count;
}

void gen_chunk(Gen &g) {
    for (int64_t n = -1; n <= 8; n++)
        for (int64_t d : {0, 1, 2, -1}) g.add({t({6, 4}), I(n), I(d)});
    for (int64_t n : {2, 3, 4, 5, 6}) g.add({t({5, 4}), I(n)});
    g.add({t({0, 4}), I(2)});
    g.add({t({}), I(1)});
    g.add({t({6, 4})}, {{"chunks", I(3)}, {"dim", I(0)}});
    for (auto a : kAll) g.add({t({6, 4}, a), I(2)});
    g.skipped_float8 += kFloat8Count;
}

void gen_topk(Gen &g) {
    for (int64_t k = -1; k <= 6; k++)
        for (int64_t d : {0, 1, -1, 2}) g.add({t({5, 4}), I(k), I(d)});
    g.add({t({5, 4}), I(2)}, {{"largest", B(false)}, {"sorted", B(false)}});
    g.add({t({5, 4}), I(2), I(-1), B(false), B(true)});
    g.add({t({}), I(0)});
    g.add({t({}), I(1)});
    g.add({t({}), I(2)});
    g.add({t({0, 3}), I(0), I(0)});
    for (auto a : kAll) g.add({t({5, 4}, a), I(2)});
    g.skipped_float8 += kFloat8Count;
}

void gen_getitem(Gen &g) {
    std::vector<Val> idx = {
        I(0), I(-1), I(3), I(4), I(-5), S(none, none), S(1, 3), S(1, none, 2), S(-2, none), S(none, -1),
        S(10, 20), S(3, 1), S(none, none, 0), S(none, none, -1), S(-10, 2), S(0, 100, 3), N(), Val::ellipsis(),
        L({I(0), I(1)}), L({S(none, none), I(0)}), L({Val::ellipsis(), I(0)}), L({Val::ellipsis(), N()}),
        L({N(), Val::ellipsis(), N()}), L({I(0), I(0), I(0)}), L({I(0), I(0), I(0), I(0)}),
        L({Val::ellipsis(), Val::ellipsis()}), L({Val::ellipsis(), S(none, 2)}), L({S(none, none), N(), S(1, 2)}),
        L({I(1), Val::ellipsis(), S(2, 5), N()}), L({S(1, 3), S(1, 3), S(1, 3)}), L({I(0), I(5)}), L({}),
        L({N(), N(), I(-4)}),
        Val::tensor(meta({2}, at::kLong)), L({S(none, none), Val::tensor(meta({3}, at::kLong))}),
        Val::tensor(meta({2, 3}, at::kLong)), Val::tensor(meta({7}, at::kInt)), Val::tensor(meta({}, at::kLong)),
    };
    for (auto &i : idx) g.add({t({4, 5, 6}), i});
    for (auto &i : std::vector<Val>{N(), Val::ellipsis(), I(0), L({}), L({N(), N()})}) g.add({t({}), i});
    for (auto a : kAll) g.add({t({4, 5}, a), L({S(none, none), S(none, 3)})});
    g.skipped_float8 += kFloat8Count;
}

void gen_arange(Gen &g) {
    std::vector<std::vector<Val>> argsets = {
        {I(5)}, {I(0)}, {I(-3)}, {F(2.5)}, {I(1), I(5)}, {I(5), I(1)}, {I(5), I(1), I(-1)}, {I(0), I(10), I(3)},
        {I(0), I(10), I(0)}, {F(0.0), F(1.0), F(0.1)}, {I(0), F(2.5)}, {I(-5), I(5), I(2)}, {I(3), I(3)},
        {B(true)}, {F(1e-3)}, {I(10), I(0), I(-3)},
    };
    for (auto &a : argsets) {
        g.add(a);
        for (auto d : {at::kFloat, at::kInt, at::kHalf, at::kLong, at::kDouble}) g.add(a, {{"dtype", D(d)}});
    }
    g.add({}, {{"end", I(4)}});
    g.add({}, {{"start", I(1)}, {"end", I(4)}});
    g.add({I(1)}, {{"end", I(4)}});
    g.add({I(4)}, {{"device", Val::device("meta")}});
}

void gen_full(Gen &g) {
    std::vector<Shape> sizes = {{2, 3}, {}, {0}, {-1}, {4, 0, 2}};
    std::vector<Val> fills = {B(true), I(3), F(2.5), I(-7)};
    for (auto &s : sizes)
        for (auto &f : fills) {
            g.add({Ls(s), f});
            for (auto d : {at::kHalf, at::kInt, at::kBool, at::kFloat, at::kComplexFloat}) g.add({Ls(s), f}, {{"dtype", D(d)}});
        }
    g.add({Ls({2})}, {{"fill_value", F(1.0)}});
    g.skipped_float8 += kFloat8Count * 4;
}

void gen_triu(Gen &g) {
    std::vector<Shape> shapes = {{3, 3}, {2, 4, 5}, {4}, {}, {0, 3}, {2, 2, 3, 3}};
    for (auto &s : shapes)
        for (int64_t d : {0, 1, -1, 10, -10}) {
            g.add({t(s), I(d)});
            if (d == 0) g.add({t(s)});
        }
    g.add({t({3, 3})}, {{"diagonal", I(1)}});
    for (auto a : kAll) g.add({t({3, 3}, a), I(1)});
    g.skipped_float8 += kFloat8Count;
}

void gen_sdpa(Gen &g) {
    using KV = std::vector<std::pair<std::string, Val>>;
    // shapes: q [B, Hq, L, E], k [B, Hk, S, E], v [B, Hk, S, Ev]
    struct Qkv { Shape q, k, v; };
    std::vector<Qkv> qkv = {
        {{2, 4, 5, 8}, {2, 4, 6, 8}, {2, 4, 6, 8}},   {{2, 4, 5, 8}, {2, 4, 6, 8}, {2, 4, 6, 3}},
        {{2, 8, 5, 8}, {2, 2, 6, 8}, {2, 2, 6, 8}},   {{2, 8, 5, 8}, {2, 3, 6, 8}, {2, 3, 6, 8}},
        {{2, 8, 5, 8}, {2, 1, 6, 8}, {2, 1, 6, 8}},   {{2, 4, 5, 8}, {2, 4, 6, 7}, {2, 4, 6, 8}},
        {{2, 4, 5, 8}, {2, 4, 6, 8}, {2, 4, 7, 8}},   {{4, 5, 8}, {4, 6, 8}, {4, 6, 8}},
        {{5, 8}, {6, 8}, {6, 8}},                     {{8}, {6, 8}, {6, 8}},
        {{1, 4, 5, 8}, {2, 4, 6, 8}, {2, 4, 6, 8}},   {{2, 4, 5, 8}, {3, 4, 6, 8}, {3, 4, 6, 8}},
        {{2, 8, 5, 8}, {2, 2, 6, 8}, {2, 4, 6, 8}},   {{2, 3, 2, 5, 8}, {2, 3, 2, 6, 8}, {2, 3, 2, 6, 8}},
    };
    for (auto &s : qkv) {
        for (bool gqa : {false, true}) {
            KV kw;
            if (gqa) kw.push_back({"enable_gqa", B(true)});
            g.add({t(s.q), t(s.k), t(s.v)}, kw);
            KV kc = kw;
            kc.push_back({"is_causal", B(true)});
            g.add({t(s.q), t(s.k), t(s.v)}, kc);
        }
    }
    // masks: dtype and shape
    std::vector<Shape> masks = {{5, 6}, {2, 1, 5, 6}, {1, 1, 1, 6}, {2, 4, 5, 6}, {6}, {5, 7}, {3, 1, 5, 6}, {2, 4, 5, 6, 1}, {}};
    for (auto &m : masks)
        for (auto md : {at::kBool, at::kFloat, at::kHalf, at::kLong}) {
            g.add({t({2, 4, 5, 8}), t({2, 4, 6, 8}), t({2, 4, 6, 8}), t(m, md)});
            g.add({t({2, 4, 5, 8}, at::kHalf), t({2, 4, 6, 8}, at::kHalf), t({2, 4, 6, 8}, at::kHalf)},
                  {{"attn_mask", t(m, md)}});
        }
    g.add({t({2, 4, 5, 8}), t({2, 4, 6, 8}), t({2, 4, 6, 8}), t({5, 6}, at::kBool)}, {{"is_causal", B(true)}});
    g.add({t({2, 4, 5, 8}), t({2, 4, 6, 8}), t({2, 4, 6, 8}), N(), F(0.1)});
    g.add({t({2, 4, 5, 8}), t({2, 4, 6, 8}), t({2, 4, 6, 8})}, {{"scale", F(0.125)}});
    g.add({t({2, 4, 5, 8}), t({2, 4, 6, 8}), t({2, 4, 6, 8})}, {{"dropout_p", F(0.0)}, {"is_causal", B(false)}});
    for (auto a : kAll) {
        for (auto b : {at::kFloat, at::kHalf, at::kBFloat16}) g.add({t({2, 4, 5, 8}, a), t({2, 4, 6, 8}, b), t({2, 4, 6, 8}, b)});
        g.add({t({2, 4, 5, 8}, a), t({2, 4, 6, 8}, a), t({2, 4, 6, 8}, a)});
    }
    g.skipped_float8 += kFloat8Count * 3;
}

void gen_dropout(Gen &g) {
    for (double p : {0.0, 0.5, 1.0, -0.1, 1.5})
        for (bool tr : {true, false}) {
            g.add({t({2, 3}), F(p), B(tr)});
            g.add({t({2, 3})}, {{"p", F(p)}, {"training", B(tr)}});
        }
    g.add({t({2, 3})});
    g.add({t({})}, {{"p", F(0.1)}});
    for (auto a : kFloats) g.add({t({2, 3}, a), F(0.1), B(false)});
    g.add({t({2, 3}), I(0)});
    g.skipped_float8 += kFloat8Count;
}

// ---- mixture-of-experts routing ops ----
void gen_one_hot(Gen &g) {
    for (const Shape &s : std::vector<Shape>{{5}, {2, 3}, {}, {0}})
        for (auto d : {at::kLong, at::kInt, at::kFloat})
            for (int64_t n : {4, 1, 0, -2}) g.add({t(s, d), I(n)});
    g.add({t({5}, at::kLong)});
    g.add({t({5}, at::kLong)}, {{"num_classes", I(8)}});
}

void gen_nonzero(Gen &g) {
    for (const Shape &s : std::vector<Shape>{{5}, {2, 3}, {}, {0, 3}, {2, 3, 4}})
        for (auto d : {at::kBool, at::kFloat, at::kLong, at::kHalf}) {
            g.add({t(s, d)});
            g.add({t(s, d)}, {{"as_tuple", B(true)}});
        }
}

void gen_index_select(Gen &g) {
    for (int64_t d : {0, 1, -1, 2, -3})
        for (const Shape &is : std::vector<Shape>{{3}, {}, {2, 2}, {0}})
            for (auto id : {at::kLong, at::kInt, at::kFloat}) g.add({t({5, 4}), I(d), t(is, id)});
    for (auto a : kAll) g.add({t({5, 4}, a), I(0), t({3}, at::kLong)});
    g.add({t({5, 4})}, {{"dim", I(1)}, {"index", t({2}, at::kLong)}});
}

void gen_gather(Gen &g) {
    for (int64_t d : {0, 1, -1, 2})
        for (const Shape &is : std::vector<Shape>{{5, 4}, {3, 4}, {5, 2}, {6, 4}, {5, 5}, {5}, {1, 1}, {5, 4, 1}})
            for (auto id : {at::kLong, at::kInt}) g.add({t({5, 4}), I(d), t(is, id)});
    g.add({t({}), I(0), t({}, at::kLong)});
    g.add({t({5}), I(0), t({}, at::kLong)});
    for (auto a : kAll) g.add({t({5, 4}, a), I(1), t({5, 2}, at::kLong)});
}

void gen_index_add(Gen &g) {
    std::vector<Shape> idx = {{3}, {}, {3, 1}};
    std::vector<Shape> src = {{3, 4}, {3, 5}, {2, 4}, {1, 4}, {3}, {4, 3}};
    for (int64_t d : {0, 1, -2, 2})
        for (auto &i : idx)
            for (auto &sr : src)
                for (auto id : {at::kLong, at::kInt}) g.add({t({5, 4}), I(d), t(i, id), t(sr)});
    g.add({t({5, 4}), I(0), t({3}, at::kFloat), t({3, 4})});
    for (auto a : {at::kHalf, at::kLong, at::kDouble, at::kBFloat16})
        g.add({t({5, 4}), I(0), t({3}, at::kLong), t({3, 4}, a)});
    g.add({t({5, 4}), I(0), t({3}, at::kLong), t({3, 4})}, {{"alpha", F(2.0)}});
}

void gen_zeros(Gen &g) {
    for (const Shape &s : std::vector<Shape>{{2, 3}, {}, {0}, {-1}, {4, 0, 2}}) {
        g.add({Ls(s)});
        std::vector<Val> args;
        for (int64_t d : s) args.push_back(I(d));
        if (!s.empty()) g.add(args);
        for (auto d : {at::kHalf, at::kLong, at::kBool}) g.add({Ls(s)}, {{"dtype", D(d)}});
    }
    g.add({}, {{"size", Ls({2, 2})}});
    g.skipped_float8 += kFloat8Count;
}

void gen_zeros_like(Gen &g) {
    for (auto a : kAll) {
        g.add({t({2, 3}, a)});
        g.add({t({}, a)}, {{"dtype", D(at::kLong)}});
        g.add({t({2, 3})}, {{"dtype", D(a)}});
    }
    g.skipped_float8 += kFloat8Count * 3;
}

void gen_scatter(Gen &g) {
    std::vector<Shape> idx = {{2, 4}, {5, 4}, {6, 4}, {2, 5}, {2}, {1, 1}};
    std::vector<Shape> src = {{2, 4}, {3, 5}, {1, 4}, {6, 4}};
    for (int64_t d : {0, 1, 2})
        for (auto &i : idx)
            for (auto &sr : src) g.add({t({5, 4}), I(d), t(i, at::kLong), t(sr)});
    g.add({t({5, 4}), I(0), t({2, 4}, at::kInt), t({2, 4})});
    for (auto a : {at::kHalf, at::kLong, at::kBFloat16}) g.add({t({5, 4}), I(0), t({2, 4}, at::kLong), t({2, 4}, a)});
    for (const Val &v : scalars()) g.add({t({5, 4}), I(1), t({5, 2}, at::kLong), v});
    g.add({t({5, 4}), I(1), t({5, 2}, at::kLong)}, {{"value", F(1.0)}});
    g.add({t({5, 4}), I(0), t({2, 4}, at::kLong), t({2, 4})}, {{"reduce", Val::str("add")}});
    g.add({t({5, 4}), I(0), t({2, 4}, at::kLong), t({2, 4})}, {{"reduce", Val::str("bogus")}});
}

void gen_clamp(Gen &g) {
    for (auto a : kAll) {
        for (const Val &v : scalars()) {
            g.add({t({2, 3}, a), v});
            g.add({t({2, 3}, a)}, {{"max", v}});
            g.add({t({2, 3}, a), v, F(10.0)});
        }
        for (auto b : {at::kFloat, at::kLong, at::kHalf}) {
            g.add({t({2, 3}, a), t({}, b)});
            g.add({t({2, 3}, a), t({3}, b), t({2, 1}, b)});
        }
    }
    g.add({t({2, 3})});
    g.add({t({2, 3}), N(), N()});
    g.add({t({2, 3}), t({4, 2, 3})});
    g.add({t({2, 3}), t({3, 1})});
    g.add({t({2, 3})}, {{"min", I(0)}, {"max", I(5)}});
    g.skipped_float8 += kFloat8Count * 18;
}

void gen_invert(Gen &g) {
    for (auto a : kAll)
        for (const Shape &s : std::vector<Shape>{{}, {2, 3}}) g.add({t(s, a)});
    g.skipped_float8 += kFloat8Count * 2;
}

void gen_repeat_interleave(Gen &g) {
    for (const Shape &s : std::vector<Shape>{{2, 3}, {1, 4, 2}, {0, 3}, {}})
        for (int64_t r : {0, 1, 2, -1}) {
            g.add({t(s), I(r)});
            for (int64_t d : {0, -1, 2, -4}) g.add({t(s), I(r)}, {{"dim", I(d)}});
        }
    for (auto a : kAll) g.add({t({2, 3}, a), I(2), I(1)});
    g.add({t({2, 3}), I(2), I(1)}, {{"output_size", I(6)}});
    g.add({t({2, 3}), I(2), I(1)}, {{"output_size", I(5)}});
    g.skipped_float8 += kFloat8Count;
}

void gen_stack(Gen &g) {
    for (const Shape &s : std::vector<Shape>{{2, 3}, {}, {1, 4, 2}})
        for (int64_t d : {0, 1, -1, -2, 3, -4, 4}) {
            g.add({L({t(s), t(s)}), I(d)});
            g.add({L({t(s), t(s), t(s)})}, {{"dim", I(d)}});
        }
    g.add({L({t({2, 3}), t({3, 2})})});
    g.add({L({t({2, 3}), t({2, 3, 1})})});
    g.add({L({})});
    for (auto a : kAll) g.add({L({t({2, 3}), t({2, 3}, a)}), I(-1)});
    g.skipped_float8 += kFloat8Count;
}

void gen_flatten(Gen &g) {
    for (const Shape &s : std::vector<Shape>{{2, 3, 4}, {}, {5}, {2, 0, 3}})
        for (int64_t a : {0, 1, -1, -2, 3})
            for (int64_t b : {-1, 0, 1, 2, -3, 4}) g.add({t(s), I(a), I(b)});
    for (auto a : kAll) g.add({t({2, 3, 4}, a), I(-2)});
    g.add({t({2, 3, 4})});
    g.skipped_float8 += kFloat8Count;
}

// torch.min: the two-tensor form (elementwise, broadcast and promoted like
// torch.minimum) across dtype pairs and broadcast pairs; the one-tensor form
// (0-d result, empty input refused). The dim form is not modelled.
void gen_min(Gen &g) {
    for (auto &p : broadcast_pairs(g.rng, 20)) g.add({t(p.first), t(p.second)});
    for (auto a : kAll) {
        for (auto b : kAll) {
            g.add({t({2, 3}, a), t({3}, b)});
            g.add({t({}, a), t({2, 3}, b)});
        }
        g.add({t({2, 3}, a)});
        g.add({t({}, a)});
    }
    g.add({t({0, 3})});
    g.add({t({2, 3}), t({4, 3})});
    g.add({t({2, 3})}, {{"other", t({2, 3})}});
    g.skipped_float8 += (13 * 13 - 11 * 11) * 2 + kFloat8Count * 2;
}

// torch.full_like(input, fill_value, *, dtype=None): input's shape, input's dtype
// unless dtype is given.
void gen_full_like(Gen &g) {
    for (auto a : kAll) {
        for (const Val &v : scalars()) g.add({t({2, 3}, a), v});
        g.add({t({}, a), I(7)}, {{"dtype", D(at::kLong)}});
        g.add({t({2, 3}), F(1.0)}, {{"dtype", D(a)}});
    }
    g.add({t({0, 4}, at::kLong), I(31)});
    g.add({t({2, 3})}, {{"fill_value", F(0.5)}});
    g.skipped_float8 += kFloat8Count * 6;
}

// torch.cumsum / Tensor.cumsum: every dtype with and without dtype=, dims in and
// out of range, 0-dim and empty inputs, a missing dim.
void gen_cumsum(Gen &g) {
    std::vector<Shape> shapes = {{2, 3, 4}, {5}, {}, {2, 0}};
    for (auto &s : shapes)
        for (int64_t d : {0, 1, -1, 2, 3, -3, -4}) {
            g.add({t(s), I(d)});
            g.add({t(s)}, {{"dim", I(d)}});
        }
    for (auto a : kAll) {
        g.add({t({2, 3}, a), I(1)});
        g.add({t({}, a), I(0)});
        for (auto b : {at::kFloat, at::kDouble, at::kLong, at::kInt, at::kHalf, at::kBool})
            g.add({t({2, 3}, a), I(-1)}, {{"dtype", D(b)}});
    }
    g.add({t({2, 3})});
    g.add({t({2, 3}), I(1), D(at::kDouble)});
    g.add({t({2, 3}), I(1)}, {{"dim", I(0)}});
    g.skipped_float8 += kFloat8Count * 8;
}

// F.conv2d: SigLIP's patch embedding, strides, paddings (ints and strings),
// dilations, groups, unbatched inputs, and the rejections (channels, kernel larger
// than the padded input, dtypes, bias size, rank).
void gen_conv2d(Gen &g) {
    for (auto a : kFloats) g.add({t({2, 3, 28, 28}, a), t({8, 3, 14, 14}, a), t({8}, a), Ls({14, 14}), Val::str("valid"), Ls({1, 1}), I(1)});
    g.add({t({1, 4, 7, 7}), t({6, 4, 3, 3}), N(), I(2), I(1)});
    g.add({t({1, 1, 10, 10}), t({1, 1, 3, 3})}, {{"dilation", I(2)}});
    g.add({t({1, 4, 5, 5}), t({6, 2, 3, 3})}, {{"groups", I(2)}});
    g.add({t({1, 4, 5, 7}), t({6, 4, 3, 3})}, {{"padding", Val::str("same")}});
    g.add({t({3, 28, 28}), t({8, 3, 14, 14})}, {{"stride", Ls({14, 7})}});
    for (int k = 0; k < 12; k++) {
        int64_t c = g.rng.range(1, 4), o = g.rng.range(1, 4), kh = g.rng.range(1, 4), kw = g.rng.range(1, 4);
        int64_t h = g.rng.range(1, 9), w = g.rng.range(1, 9);
        g.add({t({2, c, h, w}), t({o, c, kh, kw}), t({o}), Ls({g.rng.range(1, 3), g.rng.range(1, 3)}),
               Ls({g.rng.range(0, 2), g.rng.range(0, 2)}), Ls({g.rng.range(1, 2), g.rng.range(1, 2)})});
    }
    g.add({t({1, 4, 5, 5}), t({6, 3, 3, 3})});
    g.add({t({1, 4, 5, 5}), t({6, 2, 3, 3})}, {{"groups", I(4)}});
    g.add({t({1, 6, 5, 5}), t({5, 2, 3, 3})}, {{"groups", I(3)}});
    g.add({t({1, 3, 2, 2}), t({1, 3, 3, 3})});
    g.add({t({1, 3, 8, 8}), t({1, 3, 3, 3}, at::kBFloat16)});
    g.add({t({1, 3, 8, 8}), t({2, 3, 3, 3}), t({3})});
    g.add({t({3, 8}), t({2, 3, 3, 3})});
    g.add({t({1, 3, 8, 8}), t({2, 3, 3, 3})}, {{"stride", I(2)}, {"padding", Val::str("same")}});
}

// F.conv3d: Qwen2.5-VL's patch embedding (kernel = stride = the patch), strides,
// paddings (ints, triples, strings), dilation, groups, unbatched inputs, rejections.
void gen_conv3d(Gen &g) {
    for (auto a : kFloats) g.add({t({4, 3, 2, 14, 14}, a), t({8, 3, 2, 14, 14}, a), N(), Ls({2, 14, 14})});
    g.add({t({2, 4, 8, 9, 10}), t({6, 4, 2, 3, 3}), t({6})}, {{"stride", Ls({2, 3, 1})}, {"padding", Ls({0, 0, 1})}});
    g.add({t({4, 5, 5, 5}), t({6, 2, 3, 3, 3})}, {{"groups", I(2)}});
    g.add({t({1, 1, 7, 7, 7}), t({1, 1, 3, 3, 3})}, {{"dilation", I(2)}});
    g.add({t({1, 2, 4, 5, 6}), t({3, 2, 3, 3, 3})}, {{"padding", Val::str("same")}});
    g.add({t({1, 2, 4, 5, 6}), t({3, 2, 3, 3, 3})}, {{"padding", Val::str("valid")}});
    for (int k = 0; k < 8; k++) {
        int64_t c = g.rng.range(1, 3), o = g.rng.range(1, 3);
        g.add({t({2, c, g.rng.range(1, 6), g.rng.range(1, 6), g.rng.range(1, 6)}),
               t({o, c, g.rng.range(1, 3), g.rng.range(1, 3), g.rng.range(1, 3)}), t({o}),
               Ls({g.rng.range(1, 2), g.rng.range(1, 2), g.rng.range(1, 2)}),
               Ls({g.rng.range(0, 1), g.rng.range(0, 1), g.rng.range(0, 1)})});
    }
    g.add({t({3, 8, 8}), t({1, 3, 2, 2, 2})});
    g.add({t({1, 4, 8, 8, 8}), t({1, 3, 2, 2, 2})});
    g.add({t({1, 3, 2, 8, 8}), t({1, 3, 3, 2, 2})});
    g.add({t({1, 3, 8, 8, 8}), t({1, 3, 2, 2, 2}, at::kBFloat16)});
    g.add({t({1, 3, 8, 8, 8}), t({2, 3, 2, 2, 2}), t({3})});
    g.add({t({1, 3, 8, 8, 8}), t({2, 3, 2, 2, 2})}, {{"stride", I(2)}, {"padding", Val::str("same")}});
}

// Tensor.unbind(dim=0): Qwen2.5-VL's q, k, v = qkv(...).permute(...).unbind(0); every dim,
// negative dims, out of range, 0-d.
void gen_unbind(Gen &g) {
    for (int64_t d : {0, 1, 2, -1, -3, 3, -4}) g.add({t({3, 2, 4}), I(d)});
    g.add({t({3, 5, 2, 4})});
    g.add({t({2, 3})}, {{"dim", I(1)}});
    g.add({t({1})});
    g.add({t({})});
    for (auto a : kFloats) g.add({t({3, 4}, a)});
}

// torch.outer: Qwen2.5-VL's vision rotary table torch.outer(seq, inv_freq); dtypes
// promote; both arguments must be 1-D.
void gen_outer(Gen &g) {
    g.add({t({32}), t({20})});
    g.add({t({3}, at::kLong), t({4})});
    g.add({t({3}, at::kHalf), t({4}, at::kBFloat16)});
    g.add({t({3}, at::kLong), t({4}, at::kInt)});
    g.add({t({0}), t({4})});
    g.add({t({3, 1}), t({4})});
    g.add({t({3}), t({})});
    for (auto a : kFloats) g.add({t({2}, a), t({5}, a)});
}

// torch.argsort: Qwen2.5-VL's reverse of its window order; dims, descending, stable,
// 0-d and empty inputs, out-of-range dims.
void gen_argsort(Gen &g) {
    g.add({t({256}, at::kLong)});
    for (int64_t d : {0, 1, -1, -2, 2}) g.add({t({2, 5}), I(d)});
    g.add({t({2, 5})}, {{"dim", I(0)}, {"descending", B(true)}});
    g.add({t({4}), I(0), B(false)}, {{"stable", B(true)}});
    g.add({t({})});
    g.add({t({0, 3})});
    for (auto a : kFloats) g.add({t({3, 4}, a)});
    g.add({t({3, 4}, at::kInt)});
}

// F.unfold: Pixtral's 2 x 2 patch merger, kernels, dilations, paddings and strides as
// ints and pairs, 3-D inputs, odd sides, and the rejections.
void gen_unfold(Gen &g) {
    for (auto a : kFloats) g.add({t({2, 16, 10, 10}, a)}, {{"kernel_size", I(2)}, {"stride", I(2)}});
    g.add({t({1, 3, 4, 4}), I(2)});
    g.add({t({2, 2, 5, 7}), I(3)}, {{"dilation", Ls({2, 1})}, {"padding", Ls({1, 0})}, {"stride", Ls({2, 1})}});
    g.add({t({3, 6, 6}), Ls({2, 3})}, {{"stride", I(3)}});
    g.add({t({1, 8, 5, 4})}, {{"kernel_size", I(2)}, {"stride", I(2)}});
    g.add({t({1, 2, 6, 6}), I(2), I(1), I(1), I(2)});
    for (int k = 0; k < 12; k++) {
        int64_t kh = g.rng.range(1, 4), kw = g.rng.range(1, 4);
        g.add({t({g.rng.range(1, 3), g.rng.range(1, 4), g.rng.range(1, 9), g.rng.range(1, 9)}), Ls({kh, kw}),
               Ls({g.rng.range(1, 3), g.rng.range(1, 3)}), Ls({g.rng.range(0, 2), g.rng.range(0, 2)}),
               Ls({g.rng.range(1, 3), g.rng.range(1, 3)})});
    }
    g.add({t({1, 1, 2, 2}), I(3)});
    g.add({t({1, 1, 4, 4}), I(0)});
    g.add({t({1, 1, 4, 4}), I(2)}, {{"stride", I(0)}});
    g.add({t({1, 1, 4, 4}), I(2)}, {{"padding", I(-1)}});
    g.add({t({1, 1, 4, 4}), I(2)}, {{"dilation", I(0)}});
    g.add({t({4, 4}), I(2)});
    g.add({t({1, 0, 4, 4}), I(2)});
}

// F.avg_pool2d: Gemma 3's projector pooling, strides, paddings, ceil_mode, 3-D
// inputs, and the rejections (padding over half the kernel, output too small, rank).
void gen_avg_pool2d(Gen &g) {
    for (auto a : kFloats) g.add({t({2, 8, 16, 16}, a)}, {{"kernel_size", I(4)}, {"stride", I(4)}});
    g.add({t({1, 1, 8, 8}), I(2)});
    g.add({t({1, 2, 7, 7}), I(3), I(2), I(1)});
    g.add({t({1, 1, 6, 6}), I(3), I(2)}, {{"ceil_mode", B(true)}});
    g.add({t({1, 1, 5, 5}), I(2), I(2), I(1)}, {{"ceil_mode", B(true)}});
    g.add({t({2, 8, 8}), Ls({2, 4})});
    for (int k = 0; k < 12; k++) {
        int64_t kh = g.rng.range(1, 4), kw = g.rng.range(1, 4);
        g.add({t({1, 2, g.rng.range(1, 9), g.rng.range(1, 9)}), Ls({kh, kw}), Ls({g.rng.range(1, 3), g.rng.range(1, 3)}),
               Ls({g.rng.range(0, 2), g.rng.range(0, 2)}), B(g.rng.coin(50))});
    }
    g.add({t({1, 1, 8, 8}), I(2), I(2), I(2)});
    g.add({t({1, 1, 2, 2}), I(3)});
    g.add({t({8, 8}), I(2)});
    g.add({t({1, 1, 4, 4})}, {{"kernel_size", I(2)}, {"divisor_override", I(0)}});
}

// Tensor.masked_scatter: the merge shape, broadcasting of self and mask, and the
// rejections (non-bool mask, source dtype, shapes that do not broadcast).
void gen_masked_scatter(Gen &g) {
    for (auto a : kFloats) g.add({t({2, 5, 8}, a), t({2, 5, 8}, at::kBool), t({1, 4, 8}, a)});
    g.add({t({2, 3}), t({4, 1, 3}, at::kBool), t({24})});
    g.add({t({2, 3}), t({2, 3}, at::kBool)}, {{"source", t({7})}});
    g.add({t({2, 3}), t({2, 3}, at::kLong), t({6})});
    g.add({t({2, 3}), t({2, 3}, at::kByte), t({6})});
    g.add({t({2, 3}), t({2, 3}, at::kBool), t({6}, at::kHalf)});
    g.add({t({2, 3}), t({4, 3}, at::kBool), t({12})});
}

// F.conv1d: batched and unbatched inputs, groups (Mamba's depthwise conv:
// groups = channels, padding K-1), stride, dilation, the padding strings, bias,
// and the rejections (channels, groups, bias size, too short, dtypes, ranks).
void gen_conv1d(Gen &g) {
    g.add({t({2, 8, 5}), t({8, 1, 4}), t({8}), I(1), I(3), I(1), I(8)});
    g.add({t({2, 6, 10}), t({4, 3, 3})}, {{"groups", I(2)}});
    g.add({t({2, 6, 10}), t({4, 6, 3})}, {{"stride", I(2)}, {"padding", I(1)}});
    g.add({t({2, 6, 10}), t({4, 6, 3})}, {{"stride", Ls({2})}, {"dilation", I(2)}});
    g.add({t({6, 10}), t({4, 6, 3})}, {{"padding", Val::str("same")}});
    g.add({t({6, 10}), t({4, 6, 3})}, {{"padding", Val::str("valid")}});
    g.add({t({2, 6, 10}), t({4, 6, 3})}, {{"padding", Val::str("full")}});
    g.add({t({2, 6, 10}), t({4, 3, 3})});
    g.add({t({2, 6, 10}), t({5, 3, 3})}, {{"groups", I(2)}});
    g.add({t({2, 6, 2}), t({4, 6, 3})});
    g.add({t({2, 6, 10}), t({4, 6, 3}), t({3})});
    g.add({t({6, 10}), t({4, 6})});
    g.add({t({1, 2, 6, 10}), t({4, 6, 3})});
    for (auto a : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kLong, at::kInt}) {
        g.add({t({2, 8, 5}, a), t({8, 1, 4}, a), t({8}, a), I(1), I(3), I(1), I(8)});
        g.add({t({2, 8, 5}), t({8, 1, 4}, a)}, {{"groups", I(8)}});
    }
}

// Qwen3-Next's torch_chunk_gated_delta_rule: q, k [B, T, H, K], v [B, T, H, V],
// g, beta [B, T, H]; seq a multiple of the chunk or not, shorter than one chunk,
// the default chunk of 64, an initial state, the final state or not, low and
// double precision; and the rejections (key not 4-D, q and k dims, value heads,
// g heads, beta length, zero heads or key dim (zero tokens are accepted: no chunks),
// chunk_size 0, a wrong initial state).
void gen_gated_delta(Gen &g) {
    using KW = std::vector<std::pair<std::string, Val>>;
    auto args = [](Shape q, Shape k, Shape v, Shape gg, Shape b, at::ScalarType dt = at::kFloat) {
        return std::vector<Val>{t(q, dt), t(k, dt), t(v, dt), t(gg, at::kFloat), t(b, dt)};
    };
    KW fin = {{"chunk_size", I(4)}, {"output_final_state", B(true)}, {"use_qk_l2norm_in_kernel", B(true)}};
    g.add(args({2, 5, 3, 4}, {2, 5, 3, 4}, {2, 5, 3, 6}, {2, 5, 3}, {2, 5, 3}), fin);
    g.add(args({1, 8, 2, 4}, {1, 8, 2, 4}, {1, 8, 2, 4}, {1, 8, 2}, {1, 8, 2}), fin);
    g.add(args({2, 3, 2, 8}, {2, 3, 2, 8}, {2, 3, 2, 8}, {2, 3, 2}, {2, 3, 2}));
    g.add(args({2, 7, 4, 8}, {2, 7, 4, 8}, {2, 7, 4, 8}, {2, 7, 4}, {2, 7, 4}),
          {{"initial_state", N()}, {"output_final_state", B(false)}, {"use_qk_l2norm_in_kernel", B(true)}});
    {
        auto a = args({2, 5, 3, 4}, {2, 5, 3, 4}, {2, 5, 3, 6}, {2, 5, 3}, {2, 5, 3});
        a.push_back(I(4));
        a.push_back(t({2, 3, 4, 6}));
        g.add(a, {{"output_final_state", B(true)}});
        auto bad = args({2, 5, 3, 4}, {2, 5, 3, 4}, {2, 5, 3, 6}, {2, 5, 3}, {2, 5, 3});
        bad.push_back(I(4));
        bad.push_back(t({2, 3, 4, 5}));
        g.add(bad, {{"output_final_state", B(true)}});
    }
    for (auto dt : {at::kHalf, at::kBFloat16, at::kDouble})
        g.add(args({1, 5, 2, 4}, {1, 5, 2, 4}, {1, 5, 2, 4}, {1, 5, 2}, {1, 5, 2}, dt), fin);
    g.add(args({2, 5, 3, 4}, {2, 5, 3}, {2, 5, 3, 6}, {2, 5, 3}, {2, 5, 3}), fin);
    g.add(args({2, 5, 3, 5}, {2, 5, 3, 4}, {2, 5, 3, 6}, {2, 5, 3}, {2, 5, 3}), fin);
    g.add(args({2, 5, 3, 4}, {2, 5, 3, 4}, {2, 5, 2, 6}, {2, 5, 3}, {2, 5, 3}), fin);
    g.add(args({2, 5, 3, 4}, {2, 5, 3, 4}, {2, 5, 3, 6}, {2, 5, 2}, {2, 5, 3}), fin);
    g.add(args({2, 5, 3, 4}, {2, 5, 3, 4}, {2, 5, 3, 6}, {2, 5, 3}, {2, 4, 3}), fin);
    g.add(args({2, 0, 3, 4}, {2, 0, 3, 4}, {2, 0, 3, 6}, {2, 0, 3}, {2, 0, 3}), fin);
    g.add(args({2, 5, 0, 4}, {2, 5, 0, 4}, {2, 5, 0, 6}, {2, 5, 0}, {2, 5, 0}), fin);
    g.add(args({2, 5, 3, 0}, {2, 5, 3, 0}, {2, 5, 3, 6}, {2, 5, 3}, {2, 5, 3}), fin);
    g.add(args({2, 5, 3, 4}, {2, 5, 3, 4}, {2, 5, 3, 6}, {2, 5, 3}, {2, 5, 3}), {{"chunk_size", I(0)}});
}

// Values, not only shapes: the chunked rule (what the executor runs) against the
// token-by-token recurrence, both written from the maths, on random inputs (q, k
// l2-normalised, g = -softplus(.) < 0, beta in (0, 1), as Qwen3-Next feeds them), seq
// shorter than, equal to and longer than the chunk, with and without an initial state.
// Returns the number of disagreements (max |difference| above 1e-4).
int gated_delta_values(bool verbose) {
    at::manual_seed(12);
    int bad = 0, n = 0;
    struct Shp { int64_t B, T, H, K, V, C; bool s0; };
    for (Shp p : {Shp{1, 3, 2, 4, 4, 4, false}, Shp{2, 8, 3, 4, 6, 4, false}, Shp{2, 11, 2, 8, 8, 4, true},
                  Shp{1, 70, 2, 16, 8, 64, true}, Shp{3, 16, 4, 8, 8, 16, false}}) {
        at::Tensor q = at::randn({p.B, p.T, p.H, p.K}), k = at::randn({p.B, p.T, p.H, p.K});
        at::Tensor v = at::randn({p.B, p.T, p.H, p.V});
        at::Tensor gg = -at::softplus(at::randn({p.B, p.T, p.H})), beta = at::sigmoid(at::randn({p.B, p.T, p.H}));
        c10::optional<at::Tensor> s0;
        if (p.s0) s0 = at::randn({p.B, p.H, p.K, p.V}) * 0.1;
        auto a = oracle::gated_delta_chunked(q, k, v, gg, beta, p.C, s0, true);
        auto b = oracle::gated_delta_recurrent(q, k, v, gg, beta, s0, true);
        double d = std::max((a.first - b.first).abs().max().item<double>(), (a.second - b.second).abs().max().item<double>());
        n++;
        if (!(d <= 1e-4)) {
            bad++;
            printf("DISAGREE gated delta rule values [B=%lld T=%lld H=%lld K=%lld V=%lld chunk %lld%s]: chunked vs "
                   "recurrent differ by %g\n", (long long)p.B, (long long)p.T, (long long)p.H, (long long)p.K,
                   (long long)p.V, (long long)p.C, p.s0 ? ", initial state" : "", d);
        } else if (verbose) {
            printf("gated delta rule values [T=%lld chunk %lld]: max difference %g\n", (long long)p.T, (long long)p.C, d);
        }
    }
    printf("gated delta rule values: %d cases, %d disagreements (chunked vs recurrent, float32, tolerance 1e-4)\n", n,
           bad);
    return bad;
}

// F.pad: constant padding of the last dims (Mamba's chunk padding of dim 1 of a
// 4-D and a 3-D tensor, the (1, 0) pad of the chunk sums), cropping, the
// rejections, and a mode the oracle does not execute.
void gen_pad(Gen &g) {
    g.add({t({2, 5, 3, 4}), Ls({0, 0, 0, 0, 0, 3, 0, 0})}, {{"mode", Val::str("constant")}, {"value", I(0)}});
    g.add({t({2, 5, 3}), Ls({0, 0, 0, 3, 0, 0})}, {{"mode", Val::str("constant")}, {"value", I(0)}});
    g.add({t({2, 3, 4}), Ls({1, 0})});
    g.add({t({2, 3}), Ls({1, 2, 3, 4})});
    g.add({t({2, 5}), Ls({-1, -2})});
    g.add({t({2, 5}), Ls({-3, -3})});
    g.add({t({2, 5}), Ls({1, 2, 3})});
    g.add({t({5}), Ls({1, 2, 3, 4})});
    g.add({t({2, 5}), Ls({1, 1})}, {{"value", F(2.5)}});
    for (auto a : kAll) g.add({t({2, 3}, a), Ls({1, 1})});
    g.skipped_float8 += kFloat8Count;
}

// mamba_ssm's selective_scan_fn: Jamba's call (variable B/C, D, z, no bias), the grouped and
// constant B/C forms, delta_bias with softplus, and each rejection of its checks.
void gen_selective_scan(Gen &g) {
    for (auto a : {at::kFloat, at::kHalf, at::kBFloat16}) {
        g.add({t({2, 8, 5}, a), t({2, 8, 5}, a), t({8, 4}), t({2, 4, 5}, a), t({2, 4, 5}, a), t({8}), t({2, 8, 5}, a)},
              {{"delta_softplus", Val::boolean(false)}});
        g.add({t({2, 8, 5}, a), t({2, 8, 5}, a), t({8, 4}), t({2, 2, 4, 5}, a), t({2, 2, 4, 5}, a)},
              {{"delta_bias", t({8})}, {"delta_softplus", Val::boolean(true)}});
        g.add({t({2, 8, 5}, a), t({2, 8, 5}, a), t({8, 4}, a), t({2, 4, 5}, a), t({2, 4, 5}, a)});
        g.add({t({2, 8, 5}, a), t({2, 8, 5}, a), t({8, 4}), t({2, 4, 5}, a), t({2, 4, 5}, a), t({8}, a)});
    }
    g.add({t({2, 8, 5}), t({2, 8, 5}), t({8, 4}), t({8, 4}), t({8, 4})});
    g.add({t({1, 6, 3}), t({1, 6, 3}), t({6, 2}), t({1, 2, 3}), t({1, 2, 3})}, {{"z", t({1, 6, 3})}});
    g.add({t({2, 8, 5}), t({2, 8, 5}), t({8, 4}), t({2, 3, 4, 5}), t({2, 4, 5})});
    g.add({t({2, 8, 5}), t({2, 8, 5}, at::kHalf), t({8, 4}), t({2, 4, 5}), t({2, 4, 5})});
    g.add({t({2, 8, 5}), t({2, 8, 5}), t({8, 4}), t({2, 4, 6}), t({2, 4, 5})});
    g.add({t({2, 8, 5}), t({2, 8, 5}), t({8, 300}), t({2, 300, 5}), t({2, 300, 5})});
    g.add({t({2, 8, 5}, at::kDouble), t({2, 8, 5}, at::kDouble), t({8, 4}), t({2, 4, 5}, at::kDouble),
           t({2, 4, 5}, at::kDouble)});
    g.add({t({2, 8, 5}), t({2, 8, 5}), t({8, 4}), t({2, 4, 5}), t({2, 4, 5})}, {{"z", t({2, 8, 4})}});
    g.add({t({2, 8, 5}), t({2, 8, 5}), t({7, 4}), t({2, 4, 5}), t({2, 4, 5})});
}

// MiniMax's lightning attention: blocks that divide the sequence and a partial last block,
// one block larger than the sequence, v of another width, the dtypes, and each shape rejection.
void gen_lightning(Gen &g) {
    auto call = [&](const Shape &q, const Shape &v, int64_t h, int64_t B, at::ScalarType a, at::ScalarType dec) {
        g.add({t(q, a), t(q, a), t(v, a), t({h, 1, 1}, dec), t({h, B, 1}, dec), t({h, B, 1}, dec), t({1, h, B, B}, dec)});
    };
    for (auto a : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16}) {
        call({2, 4, 6, 8}, {2, 4, 6, 8}, 4, 3, a, a);
        call({2, 4, 7, 8}, {2, 4, 7, 5}, 4, 3, a, a);
        call({1, 2, 3, 4}, {1, 2, 3, 4}, 2, 8, a, a);
    }
    call({2, 4, 6, 8}, {2, 4, 6, 8}, 4, 3, at::kBFloat16, at::kFloat);
    call({2, 4, 6, 8}, {2, 4, 6, 8}, 4, 3, at::kLong, at::kLong);
    g.add({t({2, 4, 6, 8}), t({2, 4, 5, 8}), t({2, 4, 6, 8}), t({4, 1, 1}), t({4, 3, 1}), t({4, 3, 1}), t({1, 4, 3, 3})});
    g.add({t({2, 4, 6, 8}), t({2, 4, 6, 8}), t({2, 4, 6, 8}), t({2, 1, 1}), t({4, 3, 1}), t({4, 3, 1}), t({1, 4, 3, 3})});
    g.add({t({2, 4, 6, 8}), t({2, 4, 6, 8}), t({2, 4, 6, 8}), t({4, 1, 1}), t({4, 3, 1}), t({4, 2, 1}), t({1, 4, 3, 3})});
    g.add({t({2, 4, 6, 8}), t({2, 4, 6, 8}), t({2, 4, 6, 8}), t({4, 1, 1}), t({4, 3, 1}), t({4, 3, 1}), t({1, 4, 3, 2})});
}

// F.softplus: every dtype (integral and complex rejected), beta and threshold.
void gen_softplus(Gen &g) {
    for (auto a : kAll)
        for (const Shape &s : std::vector<Shape>{{}, {2, 3}, {0, 4}}) g.add({t(s, a)});
    g.add({t({3})}, {{"beta", I(2)}, {"threshold", F(10.0)}});
    g.add({t({3}), F(0.5), F(5.0)});
    g.skipped_float8 += kFloat8Count * 3;
}

// Llama 4's ops.
// torch.bmm: 3-D operands, batch and inner dims matching or not, every dtype pair
// on a few, ranks other than 3.
void gen_bmm(Gen &g) {
    g.add({t({2, 3, 4}), t({2, 4, 5})});
    g.add({t({2, 3, 4}), t({1, 4, 5})});
    g.add({t({1, 3, 4}), t({2, 4, 5})});
    g.add({t({2, 3, 4}), t({2, 3, 5})});
    g.add({t({2, 0, 4}), t({2, 4, 5})});
    g.add({t({3, 4}), t({2, 4, 5})});
    g.add({t({2, 3, 4}), t({4, 5})});
    g.add({t({2, 2, 3, 4}), t({2, 2, 4, 5})});
    g.add({t({2, 3, 4})}, {{"mat2", t({2, 4, 1})}});
    for (auto a : kAll)
        for (auto b : kAll) g.add({t({2, 3, 4}, a), t({2, 4, 5}, b)});
    g.skipped_float8 += 13 * 13 - 11 * 11;
}

// Tensor.repeat(*repeats): as many repeats as dims, more, fewer, zero, negative, a list.
void gen_repeat(Gen &g) {
    for (const Shape &s : std::vector<Shape>{{2, 3}, {}, {4}, {2, 0}}) {
        g.add({t(s), I(2), I(1)});
        g.add({t(s), I(1), I(3), I(2)});
        g.add({t(s), I(3)});
        g.add({t(s), I(0), I(1)});
        g.add({t(s), I(-1), I(2)});
        g.add({t(s), Ls({2, 2, 1})});
    }
    for (auto a : kAll) g.add({t({2, 3}, a), I(16), I(1)});
    g.skipped_float8 += kFloat8Count;
}

// torch.ones_like: as zeros_like.
void gen_ones_like(Gen &g) {
    for (auto a : kAll) {
        g.add({t({2, 3}, a)});
        g.add({t({}, a)}, {{"dtype", D(at::kLong)}});
        g.add({t({2, 3})}, {{"dtype", D(a)}});
    }
    g.skipped_float8 += kFloat8Count * 3;
}

// torch.polar(abs, angle): every dtype pair, broadcast pairs on float32.
void gen_polar(Gen &g) {
    for (auto a : kAll)
        for (auto b : kAll) g.add({t({2, 3}, a), t({2, 3}, b)});
    for (auto &p : broadcast_pairs(g.rng, 10)) g.add({t(p.first), t(p.second)});
    g.add({t({2})}, {{"angle", t({2})}});
    g.skipped_float8 += 13 * 13 - 11 * 11;
}

// torch.view_as_complex / view_as_real: every dtype, last dims 2 and not, 0-dim.
void gen_view_as(Gen &g) {
    for (auto a : kAll)
        for (const Shape &s : std::vector<Shape>{{3, 2}, {2, 3}, {}, {2}, {4, 0, 2}, {1, 5, 4, 2}}) g.add({t(s, a)});
    g.skipped_float8 += kFloat8Count * 6;
}

// Tensor.add_: broadcast pairs (other into self or not), every dtype pair and scalar
// (in-place casts), alpha.
void gen_add_(Gen &g) {
    for (auto &p : broadcast_pairs(g.rng, 20)) g.add({t(p.first), t(p.second)});
    for (auto a : kAll) {
        for (auto b : kAll) g.add({t({2, 3}, a), t({3}, b)});
        for (const Val &v : scalars()) g.add({t({2, 3}, a), v});
        g.add({t({2, 3}, a), t({2, 3}, a)}, {{"alpha", F(0.5)}});
        g.add({t({2, 3}, a), t({2, 3}, a)}, {{"alpha", I(2)}});
    }
    g.skipped_float8 += 13 * 13 - 11 * 11 + kFloat8Count * ((int)scalars().size() + 2);
}

// Gemma 3n's ops.
// torch.std: shapes and dims as the reductions, unbiased and correction (and both),
// keepdim, every dtype (integral rejected).
void gen_std(Gen &g) {
    std::vector<Shape> shapes = {{2, 3, 4}, {5}, {}, {2, 0, 3}};
    std::vector<Val> dims = {N(), I(0), I(-1), I(3), Ls({0, 2}), Ls({1, 1})};
    for (auto &s : shapes)
        for (auto &d : dims) {
            g.add({t(s), d});
            g.add({t(s)}, {{"dim", d}, {"keepdim", B(true)}, {"unbiased", B(false)}});
            g.add({t(s), d, B(true), B(true)});
        }
    g.add({t({2, 3})}, {{"dim", I(1)}, {"correction", I(0)}});
    g.add({t({2, 3})}, {{"dim", I(1)}, {"correction", I(0)}, {"unbiased", B(false)}});
    for (auto a : kAll) {
        g.add({t({2, 3}, a)}, {{"dim", I(-1)}, {"keepdim", B(true)}, {"unbiased", B(false)}});
        g.add({t({2, 3}, a)});
    }
    g.skipped_float8 += kFloat8Count * 2;
}

// torch.tensor of a number: float, int, bool, a dtype, requires_grad, not a number.
void gen_tensor(Gen &g) {
    for (const Val &v : {F(1e-5), I(3), B(true)}) {
        g.add({v});
        for (auto a : kAll) g.add({v}, {{"dtype", D(a)}});
        g.add({v}, {{"requires_grad", B(true)}});
    }
    g.add({Val::str("a")});
    g.skipped_float8 += kFloat8Count * 3;
}

// Which generator serves which op (by the lower-case op name of the table).
void generate(const std::string &name, Gen &g) {
    static const std::set<std::string> binary = {"add", "sub", "mul", "truediv", "pow", "maximum", "minimum",
                                                 "eq", "ne", "lt", "le", "gt", "ge", "and", "or",
                                                 "floordiv"};
    static const std::set<std::string> unaryops = {"neg", "abs", "rsqrt", "sqrt", "exp", "log", "sin",
                                                   "cos", "tanh", "sigmoid", "silu", "gelu", "relu",
                                                   "floor", "log1p"};
    if (binary.count(name)) return gen_binary(g, name);
    if (unaryops.count(name)) return gen_unary(g, name);
    if (name == "sum" || name == "mean" || name == "amax") return gen_reduce(g, name);
    if (name == "view" || name == "reshape") return gen_view(g);
    static const std::map<std::string, void (*)(Gen &)> one = {
        {"where", gen_where},         {"masked_fill", gen_masked_fill}, {"to", gen_to},
        {"type_as", gen_type_as},     {"softmax", gen_softmax},         {"matmul", gen_matmul},
        {"linear", gen_linear},       {"embedding", gen_embedding},     {"layer_norm", gen_layer_norm},
        {"transpose", gen_transpose}, {"permute", gen_permute},         {"unsqueeze", gen_unsqueeze},
        {"squeeze", gen_squeeze},     {"expand", gen_expand},           {"contiguous", gen_contiguous},
        {"cat", gen_cat},             {"split", gen_split},             {"chunk", gen_chunk},
        {"topk", gen_topk},           {"getitem", gen_getitem},         {"arange", gen_arange},
        {"full", gen_full},           {"triu", gen_triu},               {"scaled_dot_product_attention", gen_sdpa},
        {"dropout", gen_dropout},     {"one_hot", gen_one_hot},         {"nonzero", gen_nonzero},
        {"index_select", gen_index_select}, {"gather", gen_gather},     {"index_add", gen_index_add},
        {"index_add_", gen_index_add}, {"zeros", gen_zeros},            {"zeros_like", gen_zeros_like},
        {"scatter", gen_scatter},     {"scatter_", gen_scatter},        {"invert", gen_invert},
        {"clamp_", gen_clamp},
        {"clamp", gen_clamp},
        {"repeat_interleave", gen_repeat_interleave}, {"stack", gen_stack}, {"flatten", gen_flatten},
        {"min", gen_min}, {"full_like", gen_full_like}, {"cumsum", gen_cumsum},
        {"bmm", gen_bmm}, {"repeat", gen_repeat}, {"ones_like", gen_ones_like}, {"polar", gen_polar},
        {"view_as_complex", gen_view_as}, {"view_as_real", gen_view_as}, {"add_", gen_add_},
        {"conv2d", gen_conv2d}, {"avg_pool2d", gen_avg_pool2d}, {"masked_scatter", gen_masked_scatter},
        {"conv1d", gen_conv1d}, {"pad", gen_pad}, {"softplus", gen_softplus}, {"tril", gen_triu},
        {"ones", gen_zeros},
        {"torch_chunk_gated_delta_rule", gen_gated_delta},
        {"unfold", gen_unfold},
        {"conv3d", gen_conv3d}, {"unbind", gen_unbind}, {"outer", gen_outer}, {"argsort", gen_argsort},
        {"selective_scan_fn", gen_selective_scan},
        {"lightning_attention", gen_lightning},
        {"std", gen_std}, {"clone", gen_contiguous}, {"tensor", gen_tensor},
    };
    auto it = one.find(name);
    if (it != one.end()) it->second(g);
}

// ---- metatrace side -----------------------------------------------------------------------
struct MtBuild {
    mt_ctx *ctx = nullptr;
    bool ok = true;
    std::string why;
};

mt_arg to_mt(MtBuild &b, const Val &v) {
    switch (v.kind) {
    case Val::NONE: return mt_a_none();
    case Val::TENSOR: {
        mt_dtype d = oracle::from_aten(v.t.scalar_type());
        std::vector<int64_t> shape(v.t.sizes().begin(), v.t.sizes().end());
        mt_tensor *x = mt_tensor_meta_i(b.ctx, d, (int)shape.size(), shape.data());
        if (!x) { b.ok = false; b.why = mt_ctx_errmsg(b.ctx); return mt_a_none(); }
        return mt_a_tensor(x);
    }
    case Val::INT: return mt_a_int(v.i);
    case Val::FLOAT: return mt_a_float(v.f);
    case Val::BOOL: return mt_a_bool(v.b);
    case Val::DTYPE: return mt_a_dtype(oracle::from_aten(v.dt));
    case Val::STR: return mt_a_str(mt_strdup(b.ctx, v.s.c_str()));
    case Val::ELLIPSIS: return mt_a_ellipsis();
    case Val::SLICE: {
        const mt_sym *s[3];
        for (int k = 0; k < 3; k++) s[k] = v.sl[k] ? mt_sym_const(b.ctx, *v.sl[k]) : nullptr;
        return mt_a_slice(s[0], s[1], s[2]);
    }
    case Val::DEVICE: {
        mt_arg a = mt_a_none();
        a.kind = MT_ARG_DEVICE;
        a.v.device = v.s == "cpu" ? MT_DEVICE_CPU : MT_DEVICE_META;
        return a;
    }
    case Val::LIST:
    case Val::TUPLE: {
        std::vector<mt_arg> items;
        for (const Val &x : v.items) items.push_back(to_mt(b, x));
        return mt_a_list(b.ctx, items.data(), (int)items.size());
    }
    }
    b.ok = false;
    b.why = "unknown value kind";
    return mt_a_none();
}

struct OutDesc {
    std::vector<int64_t> shape;
    std::string dtype;
    bool symbolic = false;
};

std::string shape_str(const std::vector<int64_t> &s) {
    std::string o = "[";
    for (size_t k = 0; k < s.size(); k++) o += (k ? ", " : "") + (s[k] < 0 ? std::string("sym") : std::to_string(s[k]));
    return o + "]";
}

std::string outs_str(const std::vector<OutDesc> &v, bool tuple) {
    std::string o = tuple ? "(" : "";
    for (size_t k = 0; k < v.size(); k++)
        o += (k ? ", " : "") + v[k].dtype + shape_str(v[k].shape);
    return o + (tuple ? ")" : "");
}

std::vector<OutDesc> aten_outs(const Val &v) {
    std::vector<OutDesc> out;
    if (v.kind == Val::TENSOR) {
        out.push_back({std::vector<int64_t>(v.t.sizes().begin(), v.t.sizes().end()), oracle::aten_dtype_name(v.t.scalar_type())});
    } else {
        for (const Val &x : v.items) {
            auto o = aten_outs(x);
            out.insert(out.end(), o.begin(), o.end());
        }
    }
    return out;
}

bool representable(const Val &v) {
    if (v.kind == Val::TENSOR) return oracle::from_aten(v.t.scalar_type()) != MT_DTYPE_NONE;
    for (const Val &x : v.items)
        if (!representable(x)) return false;
    return true;
}

struct OpStats {
    std::string name;
    int cases = 0, agree = 0, disagree = 0, undecided = 0, unmodelled = 0, unrepresentable = 0, float8 = 0;
    int no_cases = 0, crashed = 0;
};

// The current case, for the crash report (a rule that crashes is a finding too).
char g_current[2048];

void on_crash(int sig) {
    const char *m = "\nCRASH (signal) while running: ";
    ssize_t w = write(2, m, strlen(m));
    w = write(2, g_current, strlen(g_current));
    w = write(2, "\n", 1);
    (void)w;
    _exit(128 + sig);
}

OpStats run_op(int id, uint64_t seed, bool verbose, const oracle::RunOpts &ro) {
    const mt_opdef *def = mt_op_def((mt_op_id)id);
    OpStats st;
    st.name = def->name;
    std::string key = std::string(def->kind == MT_NODE_CALL_METHOD ? "method:" : "function:") + def->target;
    Gen g(seed ^ hash_str(def->name));
    generate(def->name, g);
    st.float8 = g.skipped_float8;
    if (g.cases.empty() || !oracle::has_executor(key)) {
        printf("FAIL %s (%s): %s\n", def->name, def->target,
               g.cases.empty() ? "no generated cases" : "no ATen executor for its target");
        st.no_cases = 1;
        return st;
    }
    for (const Case &cs : g.cases) {
        st.cases++;
        std::string call_s = std::string(def->target) + oracle::repr(cs.call);
        snprintf(g_current, sizeof g_current, "%s", call_s.c_str());
        // ours
        mt_ctx *ctx = mt_ctx_new();
        MtBuild b;
        b.ctx = ctx;
        std::vector<mt_arg> args;
        for (const Val &v : cs.call.args) args.push_back(to_mt(b, v));
        std::vector<mt_kwarg> kwargs;
        for (const auto &kw : cs.call.kwargs) kwargs.push_back({kw.first.c_str(), to_mt(b, kw.second)});
        std::vector<mt_tensor> outs(MT_MAX_OUTS);
        int nout = 0;
        bool is_tuple = false;
        mt_status ms = MT_ERR_INTERNAL;
        std::string mt_msg;
        std::vector<OutDesc> mo;
        if (b.ok) {
            ms = mt_op_infer(ctx, (mt_op_id)id, args.data(), (int)args.size(), kwargs.data(), (int)kwargs.size(),
                             outs.data(), &nout, &is_tuple);
            if (ms != MT_OK) mt_msg = mt_ctx_errmsg(ctx);
            for (int k = 0; ms == MT_OK && k < nout; k++) {
                OutDesc o;
                o.dtype = mt_dtype_name(outs[k].dtype);
                for (int d = 0; d < outs[k].ndim; d++) {
                    // a symbolic dim (a fresh data-dependent size) matches any ATen size
                    if (!mt_sym_is_const(outs[k].shape[d])) {
                        o.symbolic = true;
                        o.shape.push_back(-1);
                    } else {
                        o.shape.push_back(mt_sym_const_value(outs[k].shape[d]));
                    }
                }
                mo.push_back(o);
            }
        } else {
            mt_msg = "oracle could not build metatrace arguments: " + b.why;
        }
        mt_ctx_free(ctx);
        // ATen
        oracle::Result r = oracle::run(key, cs.call, ro);
        // compare
        std::string verdict;
        bool bad = false;
        if (r.oc == oracle::Outcome::UNSUPPORTED) {
            st.undecided++;
            verdict = "UNDECIDED " + r.msg;
        } else if (r.oc == oracle::Outcome::REJECT) {
            if (ms == MT_OK) {
                bad = true;
                verdict = "we accept -> " + outs_str(mo, is_tuple) + "; ATen rejects (" + r.how + "): " + r.msg;
            } else {
                st.agree++;
                verdict = "both reject";
            }
        } else { // ATen OK
            std::vector<OutDesc> ao = aten_outs(r.out);
            bool ttuple = r.out.kind == Val::TUPLE;
            if (ms != MT_OK) {
                if (!representable(r.out)) {
                    st.unrepresentable++;
                    verdict = "n/a: ATen gives " + outs_str(ao, ttuple) + " (not a metatrace dtype); we reject";
                } else if (ms == MT_ERR_UNSUPPORTED) {
                    st.unmodelled++;
                    verdict = "declared unsupported: " + mt_msg + "; ATen gives " + outs_str(ao, ttuple);
                } else {
                    bad = true;
                    verdict = "we reject (" + std::string(mt_status_name(ms)) + ": " + mt_msg + "); ATen gives " +
                              outs_str(ao, ttuple) + " (" + r.how + ")";
                }
            } else {
                bool same = ttuple == is_tuple && ao.size() == mo.size();
                for (size_t k = 0; same && k < ao.size(); k++) {
                    same = mo[k].shape.size() == ao[k].shape.size() && mo[k].dtype == ao[k].dtype;
                    for (size_t d = 0; same && d < ao[k].shape.size(); d++)
                        same = mo[k].shape[d] == ao[k].shape[d] || mo[k].shape[d] == -1;
                }
                if (same) {
                    st.agree++;
                    verdict = "agree " + outs_str(ao, ttuple);
                } else {
                    bad = true;
                    verdict = "we give " + outs_str(mo, is_tuple) + "; ATen gives " + outs_str(ao, ttuple) + " (" +
                              r.how + ")";
                }
            }
        }
        if (bad) {
            st.disagree++;
            printf("DISAGREE %s: %s\n", call_s.c_str(), verdict.c_str());
        } else if (verbose) {
            printf("  %s: %s\n", call_s.c_str(), verdict.c_str());
        }
    }
    return st;
}

} // namespace

int main(int argc, char **argv) {
    uint64_t seed = 20241125;
    bool verbose = false;
    std::set<std::string> only;
    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--seed") && k + 1 < argc) seed = strtoull(argv[++k], nullptr, 10);
        else if (!strcmp(argv[k], "--op") && k + 1 < argc) only.insert(argv[++k]);
        else if (!strcmp(argv[k], "--verbose") || !strcmp(argv[k], "-v")) verbose = true;
        else {
            fprintf(stderr, "usage: op_oracle [--seed N] [--op NAME]... [--verbose]\n");
            return 2;
        }
    }
    // One thread: each op runs in a forked child (so a crashing rule is reported
    // and the other ops still run), and forking is only safe without thread pools.
    at::set_num_threads(1);
    setvbuf(stdout, nullptr, _IOLBF, 0);
    printf("op_oracle: libtorch %s, seed %llu (float8_e4m3fn/float8_e5m2 have no ATen dtype in this libtorch)\n",
           TORCH_VERSION, (unsigned long long)seed);
    oracle::RunOpts ro;
    ro.cpu_cross_check = true;
    std::vector<OpStats> stats;
    int ops = 0, without_cases = 0, total_disagree = 0, total_cases = 0, total_undecided = 0, crashed = 0;
    for (int id = 0; id < MT_OP_COUNT; id++) {
        const mt_opdef *def = mt_op_def((mt_op_id)id);
        if (!only.empty() && !only.count(def->name)) continue;
        ops++;
        OpStats st;
        st.name = def->name;
        fflush(stdout);
        fflush(stderr);
        int fd[2];
        if (pipe(fd) != 0) { perror("pipe"); return 2; }
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 2; }
        if (pid == 0) {
            close(fd[0]);
            signal(SIGSEGV, on_crash);
            signal(SIGABRT, on_crash);
            signal(SIGBUS, on_crash);
            signal(SIGFPE, on_crash);
            OpStats r = run_op(id, seed, verbose, ro);
            int v[9] = {r.cases, r.agree, r.disagree, r.undecided, r.unmodelled, r.unrepresentable, r.float8, r.no_cases, 0};
            fflush(stdout);
            ssize_t w = write(fd[1], v, sizeof v);
            (void)w;
            _exit(0);
        }
        close(fd[1]);
        int v[9] = {0};
        ssize_t got = read(fd[0], v, sizeof v);
        close(fd[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        if (got == (ssize_t)sizeof v) {
            st.cases = v[0]; st.agree = v[1]; st.disagree = v[2]; st.undecided = v[3];
            st.unmodelled = v[4]; st.unrepresentable = v[5]; st.float8 = v[6]; st.no_cases = v[7];
        } else {
            st.crashed = 1;
            st.disagree = 1;
            crashed++;
            printf("DISAGREE %s: the op crashed (%s %d) - see the CRASH line on stderr for the case\n", def->name,
                   WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
        without_cases += st.no_cases;
        total_cases += st.cases;
        total_disagree += st.disagree;
        total_undecided += st.undecided;
        stats.push_back(st);
        fflush(stdout);
    }
    printf("\n%-12s %6s %6s %9s %9s %10s %8s %8s\n", "op", "cases", "agree", "disagree", "undecided", "unmodelled",
           "n/a", "float8");
    int unmodelled = 0, float8 = 0, unrep = 0;
    for (const OpStats &s : stats) {
        printf("%-12s %6d %6d %9d %9d %10d %8d %8d%s%s\n", s.name.c_str(), s.cases, s.agree, s.disagree, s.undecided,
               s.unmodelled, s.unrepresentable, s.float8, s.crashed ? "  CRASHED" : "", s.no_cases ? "  NO CASES" : "");
        unmodelled += s.unmodelled;
        float8 += s.float8;
        unrep += s.unrepresentable;
    }
    printf("\nundecided (oracle cannot run the case): %d; declared unsupported by metatrace where ATen accepts: %d;\n"
           "ATen result dtype not a metatrace dtype (complex128, ...), metatrace rejects: %d;\n"
           "not generated (float8 absent from libtorch %s): %d\n",
           total_undecided, unmodelled, unrep, TORCH_VERSION, float8);
    if (without_cases) printf("ops without cases or executor: %d\n", without_cases);
    if (only.empty() || only.count("torch_chunk_gated_delta_rule")) total_disagree += gated_delta_values(verbose);
    printf("oracle: %d ops, %d cases, %d disagreements\n", ops, total_cases, total_disagree);
    return (total_disagree > 0 || without_cases > 0) ? 1 : 0;
}
