"""metatrace.fx.to_fx against PyTorch itself (Debian's python3-torch, 1.13).

For every shipped config at 2 layers, bound batch=2, seq=5 and batch=1, seq=1: the GraphModule
passes graph.lint(); its state_dict names, shapes and dtypes are our
parameters (tied aliases included) and persistent buffers; and
torch.fx.passes.shape_prop.ShapeProp over meta tensors computes, node for
node, the shape and dtype we recorded. Where torch 1.13 has no meta kernel
(nonzero, one_hot: data-dependent sizes) our output stands in; those nodes are
counted and printed with the reason. Any computed shape or dtype that differs
from ours fails the test. Run by ctest (python_fx) with METATRACE_LIB and
PYTHONPATH set.
"""
import collections
import glob
import operator
import os
import sys
import unittest

try:
    import torch
except ImportError:
    sys.stderr.write("python_fx: torch is not importable by %s: install Debian's python3-torch "
                     "(scripts/setup.sh test installs it)\n" % sys.executable)
    sys.exit(1)

import metatrace
import metatrace.fx as mfx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "samples", "configs")
CONFIGS = sorted(glob.glob(os.path.join(SAMPLES, "*.config.json")) + glob.glob(os.path.join(SAMPLES, "*", "*.config.json")))
# Ops torch 1.13 cannot run on meta tensors (data-dependent output sizes; and
# Tensor.repeat_interleave, whose meta kernel there asks for output_size even with
# an int repeat count: Qwen3.5's Gated DeltaNet in the shipped unsloth--Qwen3.5-9B
# config): the only nodes allowed to be skipped. Anything else torch refuses fails.
MAY_SKIP = {"torch.nonzero", "torch.nn.functional.one_hot", "repeat_interleave"}
# Two bindings: a small prompt, and one token (the decode-step shapes).
BINDINGS = [{"batch": 2, "seq": 5}, {"batch": 1, "seq": 1}]


class ToFx(unittest.TestCase):
    def test_shipped_configs_two_layers(self):
        self.assertGreaterEqual(len(CONFIGS), 20)
        total = collections.Counter()
        reasons = collections.defaultdict(set)
        for path, bind in [(p, b) for b in BINDINGS for p in CONFIGS]:
            name = os.path.basename(path)
            with self.subTest(config=name, bind=bind):
                g = metatrace.load(path, layers=2).trace(**bind)
                gm = mfx.to_fx(g)
                gm.graph.lint()
                self.assertIsInstance(gm, torch.fx.GraphModule)
                # state_dict: our parameter names (tied aliases share the tensor) and persistent buffers
                sd = gm.state_dict()
                want = {p.name: (p.shape, p.dtype) for p in g.parameters}
                want.update({b.name: (b.shape, b.dtype) for b in g.buffers if b.persistent})
                self.assertEqual(set(sd), set(want))
                for k, t in sd.items():
                    self.assertEqual((tuple(t.shape), str(t.dtype)[6:]), want[k], k)
                    self.assertEqual(t.device.type, "meta")
                named = {k for k, _ in gm.named_parameters()}
                self.assertEqual(named, {p.name for p in g.parameters if p.tied_to is None})
                for p in g.parameters:
                    if p.tied_to:
                        self.assertIs(gm.get_parameter(p.name), gm.get_parameter(p.tied_to))
                # one fx node per node of ours
                mapped = [n.meta["metatrace_node"] for n in gm.graph.nodes if "metatrace_node" in n.meta]
                self.assertEqual(mapped, [n.name for n in g.nodes])
                r = mfx.shape_prop(gm, g)
                for node, want_, got in r.disagreements:
                    print("DISAGREE %s %s: ours %s, torch %s" % (name, node, want_, got))
                self.assertEqual(r.disagreements, [])
                for node, reason in r.skipped:
                    target = g.node(node).target
                    self.assertIn(target, MAY_SKIP, "%s: %s skipped: %s" % (name, node, reason))
                    reasons[target].add(reason)
                self.assertEqual(len(r.checked) + len(r.skipped) + 1, len(g.nodes))  # + the output node
                print("to_fx %-58s %s %5d nodes: %5d reproduced by ShapeProp (%d through the sdpa composite), "
                      "%d skipped %s" % (name, ",".join("%s=%d" % kv for kv in bind.items()), len(g.nodes), len(r.checked), len(r.composite), len(r.skipped),
                                         dict(collections.Counter(g.node(n).target for n, _ in r.skipped))))
                total.update(nodes=len(g.nodes), checked=len(r.checked), skipped=len(r.skipped),
                             composite=len(r.composite))
        print("to_fx total: %d nodes, %d reproduced, %d skipped, %d through the sdpa composite (torch %s)"
              % (total["nodes"], total["checked"], total["skipped"], total["composite"], torch.__version__))
        for target, rs in sorted(reasons.items()):
            print("skipped %s: %s" % (target, "; ".join(sorted(rs))))
        self.assertGreater(total["checked"], 0.9 * total["nodes"])

    def test_every_family_tiny_config(self):
        # One tiny config per registered family (tests/tiny_configs.h, written by
        # dump_tiny), with the default attention and with eager where the family
        # has it: the families no shipped config covers (T5, BART, OLMo, ...).
        # repeat_interleave (function or method: Qwen3-Next's q/k to the value heads)
        # may also be skipped: 1.13 cannot run it on meta tensors without output_size; so may torch.polar (Llama 4's rotary):
        # 1.13 has no meta kernel for polar.out (the op oracle checks it on CPU).
        dump = os.environ.get("METATRACE_DUMP_TINY")
        if not dump:
            self.skipTest("METATRACE_DUMP_TINY is not set")
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([dump, d], check=True, stdout=subprocess.DEVNULL)
            configs = sorted(glob.glob(os.path.join(d, "*.config.json")))
            self.assertGreaterEqual(len(configs), 34)
            total = collections.Counter()
            for path in configs:
                for attn in (None, "eager"):
                    with self.subTest(config=os.path.basename(path), attn=attn):
                        try:
                            m = metatrace.load(path, attn=attn)
                        except metatrace.Error:
                            if attn is None:
                                raise
                            continue  # no eager attention traced for this family
                        bind = {"batch": 2, "seq": 5}
                        try:
                            g = m.trace(dec_seq=3, **bind)  # encoder-decoders
                        except metatrace.Error:
                            g = m.trace(**bind)
                        gm = mfx.to_fx(g)
                        gm.graph.lint()
                        r = mfx.shape_prop(gm, g)
                        self.assertEqual(r.disagreements, [])
                        for node, reason in r.skipped:
                            self.assertIn(g.node(node).target,
                                          MAY_SKIP | {"torch.repeat_interleave", "repeat_interleave", "torch.polar"},
                                          reason)
                        total.update(graphs=1, nodes=len(g.nodes), checked=len(r.checked), skipped=len(r.skipped))
            print("to_fx families: %(graphs)d graphs, %(nodes)d nodes, %(checked)d reproduced, %(skipped)d skipped"
                  % total)

    def test_symbolic_graph(self):
        # Unbound: view(x, batch, seq, ...) becomes input_ids.size(0/1) nodes, as
        # torch.fx's symbolic tracer records them; ShapeProp at a binding given later.
        g = metatrace.load(os.path.join(SAMPLES, "huggyllama--llama-7b.config.json"), layers=2).trace()
        gm = mfx.to_fx(g)
        gm.graph.lint()
        sizes = [n for n in gm.graph.nodes if n.op == "call_method" and n.target == "size"]
        self.assertEqual(sorted(n.args[1] for n in sizes), [0, 1])
        for bind in ({"batch": 1, "seq": 1}, {"batch": 3, "seq": 17}):
            r = mfx.shape_prop(gm, g, bind)
            self.assertEqual((r.disagreements, r.skipped), ([], []))
            logits = next(n for n in gm.graph.nodes if n.meta.get("metatrace_node") == "lm_head")
            self.assertEqual(tuple(logits.meta["tensor_meta"].shape), (bind["batch"], bind["seq"], 32000))

    def test_runs_directly_on_meta(self):
        # With factory_device="meta" the arange/full/zeros calls get device=meta, so
        # the module runs when called (no interpreter): the symbolic graph at two
        # bindings gives logits [batch, seq, vocab] in the model's dtype, as traced.
        g = metatrace.load(os.path.join(SAMPLES, "huggyllama--llama-7b.config.json"), layers=2,
                           dtype="bfloat16").trace()
        gm = mfx.to_fx(g, factory_device="meta")
        gm.graph.lint()
        factories = [n for n in gm.graph.nodes if n.op == "call_function" and n.target in (torch.arange, torch.full)]
        self.assertTrue(factories)
        self.assertTrue(all(n.kwargs.get("device") == torch.device("meta") for n in factories))
        for bind in ({"batch": 1, "seq": 1}, {"batch": 2, "seq": 7}):
            out = gm(*mfx.example_inputs(g, bind))
            logits = out[0] if isinstance(out, (tuple, list)) else out
            self.assertEqual(logits.device.type, "meta")
            self.assertEqual((tuple(logits.shape), logits.dtype), ((bind["batch"], bind["seq"], 32000), torch.bfloat16))
        # without it, the factories make CPU tensors and the meta module cannot mix them
        with self.assertRaises(Exception):
            mfx.to_fx(g)(*mfx.example_inputs(g, {"batch": 1, "seq": 3}))

    def test_modules_are_real_torch_modules(self):
        g = metatrace.load(os.path.join(SAMPLES, "openai-community--gpt2-large.config.json"), layers=1).trace(batch=1, seq=3)
        gm = mfx.to_fx(g)
        self.assertIsInstance(gm.get_submodule("transformer.h.0.ln_1"), torch.nn.LayerNorm)
        self.assertIsInstance(gm.get_submodule("transformer.wte"), torch.nn.Embedding)
        self.assertIsInstance(gm.get_submodule("lm_head"), torch.nn.Linear)
        self.assertIsInstance(gm.get_submodule("transformer.h.0.attn.c_attn"), mfx.Conv1D)
        self.assertEqual(gm.get_submodule("transformer.h.0.ln_1").eps, 1e-5)
        targets = {n.target for n in gm.graph.nodes if n.op == "call_function"}
        self.assertIn(operator.add, targets)
        sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", mfx.scaled_dot_product_attention)
        self.assertIn(sdpa, targets)  # torch < 2.0: the composite

    def test_a_wrong_shape_is_caught(self):
        # The comparison can fail: record a wrong shape on one node.
        g = metatrace.load(os.path.join(SAMPLES, "huggyllama--llama-7b.config.json"), layers=1).trace(batch=2, seq=5)
        gm = mfx.to_fx(g)
        g.node("model_layers_0_self_attn_q_proj").shape = (2, 5, 4097)
        g.node("rsqrt").dtype = "float16"
        r = mfx.shape_prop(gm, g)
        self.assertEqual(sorted(n for n, _, _ in r.disagreements), ["model_layers_0_self_attn_q_proj", "rsqrt"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
