// metatrace libtorch oracle — graph replay.
//
// Reads graphs exported by `metatrace -o x.json` (format metatrace-graph v1,
// docs/graph-format.md), binds the symbolic dims to concrete values, creates
// ATen meta tensors for placeholders and parameters/buffers (get_attr), runs
// every node with the ATen op of its target, args and kwargs (call_module
// nodes dispatch on the module's class from the "modules" list), and checks
// that each node's recorded shape and dtype are what ATen produces. A target
// the replayer does not know is a disagreement: the JSON must stay executable.
//
// usage: replay [--bind name=v,name=v]... [--verbose] graph.json...
//   prints "replay: <file> [<binding>]: N nodes, K disagreements" per file and
//   binding; exit status 1 when any K > 0 or a file cannot be replayed.
#include "oracle.hpp"

#include <cmath>
#include <jansson.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

using oracle::Call;
using oracle::Val;

namespace {

using Binding = std::vector<std::pair<std::string, int64_t>>;

// ---- symbolic dim expressions: integers, names, + - * // **, parentheses ----------
// Python semantics: // floors toward minus infinity, ** binds tighter than unary minus.
struct Expr {
    const std::string &s;
    const Binding &b;
    size_t p = 0;
    Expr(const std::string &str, const Binding &bind) : s(str), b(bind) {}

    [[noreturn]] void fail(const std::string &why) const {
        throw std::runtime_error("dim expression \"" + s + "\": " + why + " at offset " + std::to_string(p));
    }
    void ws() {
        while (p < s.size() && isspace((unsigned char)s[p])) p++;
    }
    bool eat(const char *tok) {
        ws();
        size_t n = strlen(tok);
        if (s.compare(p, n, tok) == 0) {
            // "*" must not match the first half of "**"
            if (n == 1 && tok[0] == '*' && p + 1 < s.size() && s[p + 1] == '*') return false;
            p += n;
            return true;
        }
        return false;
    }
    int64_t parse() {
        int64_t v = sum();
        ws();
        if (p != s.size()) fail("unexpected character");
        return v;
    }
    int64_t sum() {
        int64_t v = product();
        for (;;) {
            if (eat("+")) {
                int64_t w = product();
                if (__builtin_add_overflow(v, w, &v)) fail("overflow");
            } else if (eat("-")) {
                int64_t w = product();
                if (__builtin_sub_overflow(v, w, &v)) fail("overflow");
            } else {
                return v;
            }
        }
    }
    int64_t product() {
        int64_t v = unary();
        for (;;) {
            if (eat("//")) {
                int64_t w = unary();
                if (w == 0) fail("division by zero");
                int64_t q = v / w;
                if ((v % w != 0) && ((v < 0) != (w < 0))) q--;
                v = q;
            } else if (eat("*")) {
                int64_t w = unary();
                if (__builtin_mul_overflow(v, w, &v)) fail("overflow");
            } else {
                return v;
            }
        }
    }
    int64_t unary() {
        if (eat("-")) return -unary();
        if (eat("+")) return unary();
        return power();
    }
    int64_t power() {
        int64_t base = atom();
        if (eat("**")) {
            int64_t e = unary();
            if (e < 0) fail("negative exponent");
            int64_t r = 1;
            for (int64_t k = 0; k < e; k++)
                if (__builtin_mul_overflow(r, base, &r)) fail("overflow");
            return r;
        }
        return base;
    }
    int64_t atom() {
        ws();
        if (p >= s.size()) fail("unexpected end");
        if (s[p] == '(') {
            p++;
            int64_t v = sum();
            if (!eat(")")) fail("missing )");
            return v;
        }
        if (isdigit((unsigned char)s[p])) {
            int64_t v = 0;
            while (p < s.size() && isdigit((unsigned char)s[p])) {
                if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[p] - '0', &v)) fail("overflow");
                p++;
            }
            return v;
        }
        if (isalpha((unsigned char)s[p]) || s[p] == '_') {
            size_t q = p;
            while (p < s.size() && (isalnum((unsigned char)s[p]) || s[p] == '_')) p++;
            std::string name = s.substr(q, p - q);
            for (const auto &kv : b)
                if (kv.first == name) return kv.second;
            fail("unbound symbol '" + name + "'");
        }
        fail("unexpected character");
    }
};

int64_t eval_dim(const std::string &s, const Binding &b) { return Expr(s, b).parse(); }

// ---- JSON helpers ------------------------------------------------------------------------
std::string jstr(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

int64_t dim_of(json_t *d, const Binding &b) {
    if (json_is_integer(d)) return json_integer_value(d);
    if (json_is_string(d)) return eval_dim(json_string_value(d), b);
    throw std::runtime_error("a dim is neither an integer nor a string");
}

std::vector<int64_t> shape_of(json_t *arr, const Binding &b) {
    if (!json_is_array(arr)) throw std::runtime_error("shape is not an array");
    std::vector<int64_t> out;
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d) out.push_back(dim_of(d, b));
    return out;
}

// The JSON writes torch dtype names without the "torch." prefix.
at::ScalarType dtype_of(const std::string &name) {
    for (at::ScalarType s : {at::kBool, at::kByte, at::kChar, at::kShort, at::kInt, at::kLong, at::kHalf,
                             at::kBFloat16, at::kFloat, at::kDouble, at::kComplexFloat})
        if (name == oracle::aten_dtype_name(s)) return s;
    if (name == "float8_e4m3fn" || name == "float8_e5m2")
        throw std::runtime_error("dtype '" + name + "' has no ATen type in this libtorch");
    throw std::runtime_error("unknown dtype '" + name + "'");
}

at::Tensor meta(const std::vector<int64_t> &shape, at::ScalarType dt) {
    return at::empty(shape, at::TensorOptions().device(at::kMeta).dtype(dt));
}

// A CPU-fallback result (an op without a meta kernel in this libtorch, run on
// zero-filled CPU tensors) back on the meta device, sizes and strides kept, so
// that later nodes see meta inputs as in the rest of the graph.
Val to_meta(const Val &v) {
    Val r = v;
    if (v.kind == Val::TENSOR && v.t.defined() && !v.t.device().is_meta())
        r.t = at::empty_strided(v.t.sizes(), v.t.strides(), v.t.options().device(at::kMeta));
    for (Val &x : r.items) x = to_meta(x);
    return r;
}

std::string shape_str(at::IntArrayRef s) {
    std::string o = "[";
    for (size_t k = 0; k < s.size(); k++) o += (k ? ", " : "") + std::to_string(s[k]);
    return o + "]";
}

struct Replay {
    const char *file;
    json_t *root;
    Binding bind;                  // command-line binding, plus data-dependent symbols once seen
    std::map<std::string, json_t *> symbols; // the "symbols" list by name
    bool verbose;
    std::map<std::string, Val> env;
    std::map<std::string, json_t *> params;   // name -> parameters/buffers entry
    std::map<std::string, json_t *> modules;  // path -> modules entry
    int nodes = 0, disagreements = 0;

    Replay(const char *f, json_t *r, const Binding &b, bool v) : file(f), root(r), bind(b), verbose(v) {
        nbind0 = b.size();
        for (const char *sect : {"parameters", "buffers"}) {
            size_t i;
            json_t *e;
            json_array_foreach(json_object_get(root, sect), i, e) params[jstr(e, "name")] = e;
        }
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(root, "modules"), i, e) modules[jstr(e, "path")] = e;
        json_array_foreach(json_object_get(root, "symbols"), i, e) symbols[jstr(e, "name")] = e;
    }

    bool bound(const std::string &name) const {
        for (const auto &kv : bind)
            if (kv.first == name) return true;
        return false;
    }

    // A data-dependent symbol (a fresh "nnz_k": tokens routed to an expert) gets
    // its value from the first node that produces it, as ATen computed it; the
    // value must lie within the symbol's recorded bounds.
    void bind_dynamic(const std::string &node, json_t *shape, const at::Tensor &got) {
        if (!json_is_array(shape)) return;
        for (size_t k = 0; k < json_array_size(shape) && (int64_t)k < got.dim(); k++) {
            json_t *d = json_array_get(shape, k);
            if (!json_is_string(d)) continue;
            std::string name = json_string_value(d);
            if (name.empty() || !(isalpha((unsigned char)name[0]) || name[0] == '_')) continue;
            bool ident = true;
            for (char ch : name) ident = ident && (isalnum((unsigned char)ch) || ch == '_');
            if (!ident || bound(name) || !symbols.count(name)) continue;
            int64_t v = got.size((int64_t)k);
            bind.push_back({name, v});
            json_t *sym = symbols[name];
            json_t *lo = json_object_get(sym, "lo"), *hi = json_object_get(sym, "hi");
            if (json_is_integer(lo) && v < json_integer_value(lo))
                disagree(node, "symbol " + name + " = " + std::to_string(v) + " is below its lower bound");
            if (hi && !json_is_null(hi) && v > dim_of(hi, bind))
                disagree(node, "symbol " + name + " = " + std::to_string(v) + " is above its upper bound");
        }
    }

    void disagree(const std::string &node, const std::string &what) {
        disagreements++;
        printf("DISAGREE %s %s: node %s: %s\n", file, binding_str().c_str(), node.c_str(), what.c_str());
    }

    size_t nbind0 = 0; // the command-line part of bind
    std::string binding_str() const {
        std::string s = "[";
        for (size_t k = 0; k < nbind0; k++)
            s += (k ? "," : "") + bind[k].first + "=" + std::to_string(bind[k].second);
        return s + "]";
    }

    Val param_tensor(const std::string &name) {
        auto it = params.find(name);
        if (it == params.end()) throw std::runtime_error("no parameter or buffer named '" + name + "'");
        return Val::tensor(meta(shape_of(json_object_get(it->second, "shape"), bind), dtype_of(jstr(it->second, "dtype"))));
    }

    // A JSON argument (docs/graph-format.md "Argument encoding") as a Python value.
    Val arg(json_t *j) {
        if (json_is_null(j)) return Val::none();
        if (json_is_true(j)) return Val::boolean(true);
        if (json_is_false(j)) return Val::boolean(false);
        if (json_is_integer(j)) return Val::integer(json_integer_value(j));
        if (json_is_real(j)) return Val::real(json_real_value(j));
        if (json_is_string(j)) return Val::str(json_string_value(j));
        if (json_is_array(j)) {
            std::vector<Val> items;
            size_t i;
            json_t *e;
            json_array_foreach(j, i, e) items.push_back(arg(e));
            return Val::list(std::move(items));
        }
        if (json_is_object(j)) {
            if (json_t *n = json_object_get(j, "node")) {
                auto it = env.find(json_string_value(n) ? json_string_value(n) : "");
                if (it == env.end()) throw std::runtime_error(std::string("reference to unknown node '") +
                                                              (json_string_value(n) ? json_string_value(n) : "?") + "'");
                return it->second;
            }
            if (json_t *s = json_object_get(j, "sym")) return Val::integer(dim_of(s, bind));
            if (json_t *f = json_object_get(j, "float")) { // non-finite floats (Llama 4's float("-inf") fill)
                std::string v = json_string_value(f) ? json_string_value(f) : "";
                if (v == "inf") return Val::real(std::numeric_limits<double>::infinity());
                if (v == "-inf") return Val::real(-std::numeric_limits<double>::infinity());
                if (v == "nan") return Val::real(std::numeric_limits<double>::quiet_NaN());
                throw std::runtime_error("unknown float encoding '" + v + "'");
            }
            if (json_t *d = json_object_get(j, "dtype")) return Val::dtype(dtype_of(json_string_value(d) ? json_string_value(d) : ""));
            if (json_t *d = json_object_get(j, "device")) return Val::device(json_string_value(d) ? json_string_value(d) : "");
            if (json_object_get(j, "ellipsis")) return Val::ellipsis();
            if (json_t *f = json_object_get(j, "float")) { // inf, -inf, nan (graph-format.md)
                std::string v = json_string_value(f) ? json_string_value(f) : "";
                if (v == "inf") return Val::real(INFINITY);
                if (v == "-inf") return Val::real(-INFINITY);
                if (v == "nan") return Val::real(NAN);
            }
            if (json_t *s = json_object_get(j, "slice")) {
                std::optional<int64_t> v[3];
                for (size_t k = 0; k < 3 && k < json_array_size(s); k++) {
                    json_t *e = json_array_get(s, k);
                    if (json_is_null(e)) continue;
                    if (json_is_object(e)) e = json_object_get(e, "sym");
                    v[k] = dim_of(e, bind);
                }
                return Val::slice(v[0], v[1], v[2]);
            }
        }
        throw std::runtime_error("unknown argument encoding");
    }

    Call call_of(json_t *node) {
        Call c;
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(node, "args"), i, e) c.args.push_back(arg(e));
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(node, "kwargs"), k, v) c.kwargs.push_back({k, arg(v)});
        return c;
    }

    // call_module: the module's parameters (weight, bias) and constructor attributes
    // join the call as keyword arguments; the executor is chosen by class name.
    std::string module_call(json_t *node, Call &c) {
        std::string path = jstr(node, "target");
        auto it = modules.find(path);
        if (it == modules.end()) throw std::runtime_error("call_module target '" + path + "' not in the modules list");
        std::string type = jstr(it->second, "type");
        for (const char *local : {"weight", "bias"}) {
            std::string name = path + "." + local;
            if (params.count(name)) c.kwargs.push_back({local, param_tensor(name)});
        }
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(it->second, "attributes"), k, v) {
            // "bias": false is a constructor flag; the tensors come from the parameters
            if (!strcmp(k, "weight") || !strcmp(k, "bias")) continue;
            try {
                c.kwargs.push_back({k, arg(v)});
            } catch (const std::exception &) {
                // attributes the executor does not read may use other encodings
            }
        }
        if (type == "LayerNorm") {
            bool has_ns = false;
            for (auto &kw : c.kwargs) has_ns |= kw.first == "normalized_shape";
            if (!has_ns) {
                for (auto &kw : c.kwargs)
                    if (kw.first == "weight") c.kwargs.push_back({"normalized_shape", Val::ints(std::vector<int64_t>(
                                                                                          kw.second.t.sizes().begin(), kw.second.t.sizes().end()))});
            }
        }
        return "module:" + type;
    }

    void check(const std::string &name, const Val &got, json_t *shape, json_t *dtype, const char *what) {
        if (got.kind != Val::TENSOR) {
            disagree(name, std::string(what) + ": ATen gives " + oracle::repr(got) + ", not a tensor");
            return;
        }
        bind_dynamic(name, shape, got.t);
        std::vector<int64_t> want = shape_of(shape, bind);
        std::string wd = json_string_value(dtype) ? json_string_value(dtype) : "?";
        std::string gd = oracle::aten_dtype_name(got.t.scalar_type());
        if (!got.t.sizes().equals(want) || gd != wd)
            disagree(name, std::string(what) + ": recorded " + wd + shape_str(want) + ", ATen gives " + gd +
                               shape_str(got.t.sizes()));
    }

    // The recorded output as meta tensors (used after a disagreement so that the
    // following nodes are still checked against our record).
    Val recorded(json_t *node) {
        json_t *outs = json_object_get(node, "outputs");
        if (json_is_array(outs)) {
            std::vector<Val> items;
            size_t i;
            json_t *o;
            json_array_foreach(outs, i, o) items.push_back(
                Val::tensor(meta(shape_of(json_object_get(o, "shape"), bind), dtype_of(jstr(o, "dtype")))));
            return Val::tuple(std::move(items));
        }
        return Val::tensor(meta(shape_of(json_object_get(node, "shape"), bind), dtype_of(jstr(node, "dtype"))));
    }

    void run() {
        oracle::RunOpts ro; // meta only; CPU fallback for small tensors without meta kernels
        size_t i;
        json_t *node;
        json_array_foreach(json_object_get(root, "nodes"), i, node) {
            std::string name = jstr(node, "name"), op = jstr(node, "op"), target = jstr(node, "target");
            if (op == "output") continue;
            nodes++;
            try {
                if (op == "placeholder") {
                    env[name] = recorded(node);
                    continue;
                }
                if (op == "get_attr") {
                    env[name] = param_tensor(target);
                    check(name, env[name], json_object_get(node, "shape"), json_object_get(node, "dtype"), "get_attr");
                    continue;
                }
                Call c = call_of(node);
                std::string key;
                if (op == "call_function") key = "function:" + target;
                else if (op == "call_method") key = "method:" + target;
                else if (op == "call_module") key = module_call(node, c);
                else throw std::runtime_error("unknown node op '" + op + "'");
                oracle::Result r = oracle::run(key, c, ro);
                r.out = to_meta(r.out);
                if (verbose) printf("  %s = %s%s -> %s\n", name.c_str(), key.c_str(), oracle::repr(c).c_str(),
                                    r.oc == oracle::Outcome::OK ? oracle::repr(r.out).c_str() : r.msg.c_str());
                if (r.oc != oracle::Outcome::OK) {
                    disagree(name, std::string(r.oc == oracle::Outcome::REJECT ? "ATen rejects " : "oracle cannot run ") +
                                       key + oracle::repr(c) + ": " + r.msg);
                    env[name] = recorded(node);
                    continue;
                }
                int before = disagreements;
                json_t *outs = json_object_get(node, "outputs");
                if (json_is_array(outs)) {
                    if (r.out.kind != Val::TUPLE || r.out.items.size() != json_array_size(outs)) {
                        disagree(name, "recorded " + std::to_string(json_array_size(outs)) + " outputs, ATen gives " +
                                           oracle::repr(r.out));
                    } else {
                        size_t k;
                        json_t *o;
                        json_array_foreach(outs, k, o) check(name, r.out.items[k], json_object_get(o, "shape"),
                                                             json_object_get(o, "dtype"), ("output " + std::to_string(k)).c_str());
                    }
                } else {
                    check(name, r.out, json_object_get(node, "shape"), json_object_get(node, "dtype"), key.c_str());
                }
                env[name] = disagreements == before ? r.out : recorded(node);
            } catch (const std::exception &ex) {
                disagree(name, std::string("cannot replay: ") + ex.what());
                try {
                    env[name] = recorded(node);
                } catch (const std::exception &) {
                }
            }
        }
    }
};

bool parse_binding(const char *s, Binding &out) {
    std::string str(s);
    size_t p = 0;
    while (p < str.size()) {
        size_t comma = str.find(',', p);
        std::string item = str.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
        size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0) return false;
        char *end = nullptr;
        long long v = strtoll(item.c_str() + eq + 1, &end, 10);
        if (!end || *end) return false;
        out.push_back({item.substr(0, eq), v});
        if (comma == std::string::npos) break;
        p = comma + 1;
    }
    return true;
}

} // namespace

int main(int argc, char **argv) {
    std::vector<Binding> bindings;
    std::vector<const char *> files;
    bool verbose = false;
    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--bind") && k + 1 < argc) {
            Binding b;
            if (!parse_binding(argv[++k], b)) {
                fprintf(stderr, "replay: bad binding '%s' (want name=int,name=int)\n", argv[k]);
                return 2;
            }
            bindings.push_back(b);
        } else if (!strcmp(argv[k], "--verbose") || !strcmp(argv[k], "-v")) {
            verbose = true;
        } else if (argv[k][0] == '-') {
            fprintf(stderr, "usage: replay [--bind name=v,...]... [--verbose] graph.json...\n");
            return 2;
        } else {
            files.push_back(argv[k]);
        }
    }
    if (files.empty()) {
        fprintf(stderr, "usage: replay [--bind name=v,...]... [--verbose] graph.json...\n");
        return 2;
    }
    if (bindings.empty()) bindings.push_back({{"batch", 1}, {"seq", 7}});
    int bad = 0, total_nodes = 0, total_dis = 0;
    for (const char *f : files) {
        json_error_t err;
        json_t *root = json_load_file(f, 0, &err);
        if (!root) {
            printf("replay: %s: cannot read: %d:%d: %s\n", f, err.line, err.column, err.text);
            bad++;
            continue;
        }
        if (jstr(root, "format") != "metatrace-graph") {
            printf("replay: %s: not a metatrace-graph file\n", f);
            bad++;
            json_decref(root);
            continue;
        }
        for (const Binding &b : bindings) {
            Replay r(f, root, b, verbose);
            r.run();
            printf("replay: %s %s: %d nodes, %d disagreements\n", f, r.binding_str().c_str(), r.nodes, r.disagreements);
            fflush(stdout);
            total_nodes += r.nodes;
            total_dis += r.disagreements;
        }
        json_decref(root);
    }
    printf("replay: %zu files x %zu bindings: %d nodes, %d disagreements\n", files.size(), bindings.size(),
           total_nodes, total_dis);
    return (bad || total_dis) ? 1 : 0;
}
