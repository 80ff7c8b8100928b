// metatrace libtorch oracle — shared pieces of op_oracle and replay.
//
// A Python-like call (Val arguments and keyword arguments, tensors being ATen
// tensors on the meta device) is executed by the ATen op that PyTorch would
// run for the same FX target. The table of executors is keyed by
// "function:<qualified name>", "method:<name>" or "module:<nn class name>".
//
// This is test code (C++17 + libtorch); the library itself stays pure C.
#ifndef METATRACE_ORACLE_HPP
#define METATRACE_ORACLE_HPP

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "metatrace/dtype.h"
}

namespace oracle {

// One Python value as FX records it.
struct Val {
    enum Kind { NONE, TENSOR, INT, FLOAT, BOOL, DTYPE, STR, SLICE, ELLIPSIS, LIST, DEVICE, TUPLE };
    Kind kind = NONE;
    at::Tensor t;
    int64_t i = 0;
    double f = 0;
    bool b = false;
    at::ScalarType dt = at::kFloat;
    std::string s;                       // STR; DEVICE ("cpu", "meta")
    std::optional<int64_t> sl[3];        // SLICE start, stop, step
    std::vector<Val> items;              // LIST (a Python list or tuple), TUPLE (multi-output)

    static Val none() { return Val(); }
    static Val tensor(at::Tensor x) { Val v; v.kind = TENSOR; v.t = std::move(x); return v; }
    static Val integer(int64_t x) { Val v; v.kind = INT; v.i = x; return v; }
    static Val real(double x) { Val v; v.kind = FLOAT; v.f = x; return v; }
    static Val boolean(bool x) { Val v; v.kind = BOOL; v.b = x; return v; }
    static Val dtype(at::ScalarType x) { Val v; v.kind = DTYPE; v.dt = x; return v; }
    static Val str(std::string x) { Val v; v.kind = STR; v.s = std::move(x); return v; }
    static Val device(std::string x) { Val v; v.kind = DEVICE; v.s = std::move(x); return v; }
    static Val ellipsis() { Val v; v.kind = ELLIPSIS; return v; }
    static Val slice(std::optional<int64_t> a, std::optional<int64_t> b, std::optional<int64_t> c) {
        Val v; v.kind = SLICE; v.sl[0] = a; v.sl[1] = b; v.sl[2] = c; return v;
    }
    static Val list(std::vector<Val> xs) { Val v; v.kind = LIST; v.items = std::move(xs); return v; }
    static Val tuple(std::vector<Val> xs) { Val v; v.kind = TUPLE; v.items = std::move(xs); return v; }
    static Val ints(const std::vector<int64_t> &xs) {
        std::vector<Val> v;
        for (int64_t x : xs) v.push_back(integer(x));
        return list(std::move(v));
    }
};

struct Call {
    std::vector<Val> args;
    std::vector<std::pair<std::string, Val>> kwargs;
};

// A short Python-like rendering: "Tensor[2, 3]:float32", "[1, 2]", "slice(None, 3, None)".
std::string repr(const Val &v);
std::string repr(const Call &c);

// dtype mapping. Returns false when libtorch has no such ScalarType
// (float8_e4m3fn and float8_e5m2 are absent from libtorch 1.13).
bool to_aten(mt_dtype d, at::ScalarType *out);
// MT_DTYPE_NONE when metatrace has no such dtype (complex128, complex32, ...).
mt_dtype from_aten(at::ScalarType s);
const char *aten_dtype_name(at::ScalarType s); // torch name: "float32", "complex128"

enum class Outcome {
    OK,          // ATen produced outputs
    REJECT,      // ATen (or PyTorch's Python layer) raises for these inputs
    UNSUPPORTED  // the oracle cannot decide (unknown target, kernel missing in this libtorch)
};

struct Result {
    Outcome oc = Outcome::OK;
    Val out;            // TENSOR or TUPLE of TENSOR
    std::string msg;    // the error message for REJECT / UNSUPPORTED
    std::string how;    // "meta", "meta-ref", "cpu-fallback"; "+cpu" when cross-checked on CPU
};

struct RunOpts {
    // Also run the op on CPU tensors filled with zeros (when small) to learn which
    // dtypes the real kernels accept: meta kernels in libtorch 1.13 often skip
    // dtype checks (softmax of int64, bitwise_and of float, ...).
    bool cpu_cross_check = false;
    // Tensors larger than this (elements) are never materialized on CPU.
    int64_t cpu_limit = 1 << 20;
};

bool has_executor(const std::string &key);
std::vector<std::string> executor_keys();
Result run(const std::string &key, const Call &call, const RunOpts &opts);

// The gated delta rule of Qwen3-Next, written here from its maths (transformers'
// torch_chunk_gated_delta_rule and torch_recurrent_gated_delta_rule): q, k
// [B, T, H, K], v [B, T, H, V], g, beta [B, T, H] on CPU; returns (out [B, T, H, V]
// in q's dtype, final state [B, H, K, V] float32). The chunked form is what the
// executor runs; the token-by-token recurrence is its independent check.
std::pair<at::Tensor, at::Tensor> gated_delta_chunked(at::Tensor q, at::Tensor k, at::Tensor v, at::Tensor g,
                                                      at::Tensor beta, int64_t chunk, c10::optional<at::Tensor> s0,
                                                      bool l2norm);
std::pair<at::Tensor, at::Tensor> gated_delta_recurrent(at::Tensor q, at::Tensor k, at::Tensor v, at::Tensor g,
                                                        at::Tensor beta, c10::optional<at::Tensor> s0, bool l2norm);

// Modules (call_module) receive their parameters through the call: the replay
// puts them in kwargs ("weight", "bias") next to attributes from the JSON.

} // namespace oracle

#endif
