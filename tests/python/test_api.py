"""The metatrace Python package (python/metatrace) against independent sources.

Run by ctest (python_api) with METATRACE_LIB (the shared library), METATRACE_CLI
(the CLI) and PYTHONPATH (python/) set. Expected values come from:
  - the CLI, a separate program over the same library, whose JSON export the
    Python objects must reproduce (names, shapes, dtypes, counts, bytes);
  - published parameter counts and hand arithmetic written here;
  - error messages the library documents (docs/cli.md).
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import metatrace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "samples", "configs")
CLI = os.environ.get("METATRACE_CLI")
CONFIGS = sorted(glob.glob(os.path.join(SAMPLES, "*.config.json")) + glob.glob(os.path.join(SAMPLES, "*", "*.config.json")))
LLAMA = os.path.join(SAMPLES, "huggyllama--llama-7b.config.json")
# Whole graphs of 100,000+ nodes (DeepSeek-V3: 230,000, 82 MB of JSON) take
# seconds to parse in Python: these round-trip at 4 layers (DeepSeek-V3: 3
# dense layers, one mixture-of-experts layer and the MTP layer).
FEWER_LAYERS = {"deepseek-ai--DeepSeek-V3.config.json": 4, "Qwen--Qwen3-Coder-30B-A3B-Instruct.config.json": 4}


def cli(*args):
    """The CLI's standard output (bytes); a failure fails the test."""
    if not CLI:
        raise unittest.SkipTest("METATRACE_CLI is not set")
    r = subprocess.run([CLI] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise AssertionError("metatrace %s: exit %d: %s" % (" ".join(map(str, args)), r.returncode, r.stderr.decode()))
    return r.stdout


def cli_json(*args):
    return json.loads(cli(*args, "-f", "json", "-o", "-"))


class RoundTrip(unittest.TestCase):
    """Every shipped config: the Python objects equal the CLI's JSON document."""

    def test_every_shipped_config(self):
        self.assertGreaterEqual(len(CONFIGS), 20)
        for path in CONFIGS:
            name = os.path.basename(path)
            with self.subTest(config=name):
                layers = FEWER_LAYERS.get(name)
                opt = ["--layers", str(layers)] if layers else []
                raw = cli(path, *opt, "--compact", "-f", "json", "-o", "-")
                doc = json.loads(raw)
                g = metatrace.load(path, layers=layers).trace()
                # the same document byte for byte (compact, the same config path)
                self.assertEqual(g.to_json(compact=True), raw.decode())
                self.assertEqual(len(g.nodes), len(doc["nodes"]))
                for n, j in zip(g.nodes, doc["nodes"]):
                    self.assertEqual((n.name, n.op, n.target, n.dtype), (j["name"], j["op"], j["target"], j["dtype"]))
                    self.assertEqual(n.shape, None if j["shape"] is None else tuple(j["shape"]))
                    self.assertEqual(list(n.module_stack), j["module_stack"])
                    refs = [a["node"] for a in _refs(j["args"]) + _refs(j["kwargs"])]
                    self.assertEqual([x.name for x in _node_args((n.args, n.kwargs))], refs)
                self.assertEqual(len(g.parameters), len(doc["parameters"]))
                for p, j in zip(g.parameters, doc["parameters"]):
                    self.assertEqual((p.name, list(p.shape), p.dtype, p.tied_to),
                                     (j["name"], j["shape"], j["dtype"], j["tied_to"]))
                self.assertEqual([(b.name, list(b.shape), b.dtype, b.persistent) for b in g.buffers],
                                 [(b["name"], b["shape"], b["dtype"], b["persistent"]) for b in doc["buffers"]])
                self.assertEqual([m.path for m in g.modules], [m["path"] for m in doc["modules"]])
                # totals: the document's, and again from the Parameter objects
                t = doc["totals"]
                self.assertEqual(g.totals.parameters, t["parameters"])
                unique = [p for p in g.parameters if p.tied_to is None]
                self.assertEqual(sum(p.numel for p in unique), t["parameters"])
                self.assertEqual(sum(p.bytes for p in unique), t["parameter_bytes"])
                self.assertEqual(g.sizing().raw, doc["sizing"])
                g.close()

    def test_published_totals(self):
        # Hand arithmetic (LLaMA-7B, modeling_llama.py): embed and head 32000 x 4096 each,
        # 32 layers of q/k/v/o 4096^2, gate/up/down 4096 x 11008 and two RMSNorms, final norm.
        llama = 2 * 32000 * 4096 + 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096) + 4096
        self.assertEqual(llama, 6738415616)  # the published figure (index total_size / 2)
        published = {
            "huggyllama--llama-7b.config.json": 6738415616,
            "mistralai--Mistral-7B-v0.1.config.json": 7241732096,
            "mistralai--Mixtral-8x7B-v0.1.config.json": 46702792704,
            "openai-community--gpt2-large.config.json": 774030080,
            "bigscience--bloom-560m.config.json": 559214592,
        }
        for name, want in published.items():
            with self.subTest(config=name):
                g = metatrace.load(os.path.join(SAMPLES, name), layers=None).trace()
                self.assertEqual(g.totals.parameters, want)
        g = metatrace.load(LLAMA).trace()
        self.assertEqual(g.totals.parameter_bytes, 2 * 6738415616)  # float16
        self.assertEqual(g.parameter("model.embed_tokens.weight").shape, (32000, 4096))
        self.assertEqual(g.parameter("model.embed_tokens.weight").bytes, 32000 * 4096 * 2)


def _refs(v):
    if isinstance(v, dict):
        if set(v) == {"node"}:
            return [v]
        return [r for x in v.values() for r in _refs(x)]
    if isinstance(v, list):
        return [r for x in v for r in _refs(x)]
    return []


def _node_args(v):
    if isinstance(v, metatrace.Node):
        return [v]
    if isinstance(v, dict):
        return [r for x in v.values() for r in _node_args(x)]
    if isinstance(v, (tuple, list)):
        return [r for x in v for r in _node_args(x)]
    if isinstance(v, slice):
        return _node_args((v.start, v.stop, v.step))
    return []


class Options(unittest.TestCase):
    """Build, trace and export options against the CLI with the same options."""

    def test_build_options_and_binding(self):
        g = metatrace.load(LLAMA, layers=2, dtype="bfloat16", attn="eager").trace(batch=2, seq=5)
        doc = cli_json(LLAMA, "--layers", "2", "--dtype", "bfloat16", "--attn", "eager", "--bind", "batch=2,seq=5")
        self.assertEqual(g.document, doc)
        self.assertEqual(g.model.num_layers, 2)
        self.assertEqual(g.model.dtype, "bfloat16")
        logits = g.node("lm_head")
        self.assertEqual(logits.shape, (2, 5, 32000))
        self.assertEqual(logits.concrete_shape, (2, 5, 32000))
        self.assertEqual(logits.dtype, "bfloat16")
        self.assertEqual(logits.module, "lm_head")
        self.assertIn("torch.nn.functional.softmax", [n.target for n in g.nodes])  # eager attention
        # 2 layers, hand arithmetic: 2 x 202,383,360 + 2 x 131,072,000 + 4096
        self.assertEqual(g.totals.parameters, 2 * 202383360 + 2 * 131072000 + 4096)

    def test_symbolic_shapes(self):
        g = metatrace.load(LLAMA, layers=1).trace()
        logits = g.node("lm_head")
        self.assertEqual(logits.shape, ("batch", "seq", 32000))
        self.assertIsNone(logits.concrete_shape)
        self.assertEqual(logits.shape_at(batch=3, seq=7), (3, 7, 32000))
        view = g.node("view")  # q.view(batch, seq, 32, 128)
        self.assertEqual(view.args[1:], (metatrace.Sym("batch"), metatrace.Sym("seq"), 32, 128))
        self.assertIs(view.args[0], g.node("model_layers_0_self_attn_q_proj"))
        self.assertIn(view, g.node("model_layers_0_self_attn_q_proj").users)
        self.assertEqual(metatrace.eval_dim("(seq + 1)//2 + batch*seq**2", batch=2, seq=4), 34)
        with self.assertRaises(metatrace.Error) as e:
            metatrace.eval_dim("batch*seq", batch=2)
        self.assertIn("'seq' is not bound", str(e.exception))
        getitem = g.node("getitem")  # mask[None, None, :, :]
        self.assertEqual(getitem.args[1], (None, None, slice(None, None, None), slice(None, None, None)))
        full = g.node("full")
        self.assertEqual(full.kwargs, {"dtype": metatrace.DType("float16")})

    def test_exports_equal_the_cli(self):
        g = metatrace.load(LLAMA, layers=2).trace(batch=1, seq=64)
        args = [LLAMA, "--layers", "2", "--bind", "batch=1,seq=64"]
        self.assertEqual(g.to_dot(), cli(*args, "-f", "dot", "-o", "-").decode())
        self.assertEqual(g.summary(), cli(*args).decode())
        self.assertEqual(g.to_json(stable=True), cli(*args, "--stable", "-f", "json", "-o", "-").decode())
        self.assertEqual(g.module_table(depth=2), cli(*args, "--depth", "2").decode())
        s = g.sizing(kv_dtype="float8_e4m3fn", mem="80GiB", dp=8, optimizer="sgd")
        want = cli_json(*args, "--kv-dtype", "float8_e4m3fn", "--mem", "80GiB", "--dp", "8", "--optimizer", "sgd")
        self.assertEqual(s.raw, want["sizing"])
        self.assertEqual(s.kv_cache.dtype, "float8_e4m3fn")
        plan = g.plan(8, plan_style="transformers")
        self.assertEqual(plan.raw, cli_json(*args, "--tp", "8", "--plan-style", "transformers")["plan"])
        self.assertTrue(plan.valid)
        roles = {p.name: p.role for p in plan.params}
        self.assertEqual(roles["model.layers.0.self_attn.q_proj.weight"], "colwise")
        self.assertEqual(roles["model.layers.0.self_attn.o_proj.weight"], "rowwise")
        degrees = g.plan_degrees()
        self.assertEqual([d.raw for d in degrees], cli_json(*args, "--tp", "auto")["degrees"])
        # 32 heads: degrees dividing 32 (and 11008, 4096) work; 3 does not
        self.assertEqual([d.tp for d in degrees if d.valid and d.tp <= 8], [1, 2, 4, 8])
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "g.json")
            g.to_json(out)
            cli(*args, "-o", os.path.join(d, "c.json"))
            with open(out, "rb") as a, open(os.path.join(d, "c.json"), "rb") as b:
                self.assertEqual(a.read(), b.read())
            svg = g.render("svg")
            self.assertTrue(svg.lstrip().startswith(b"<?xml") or b"<svg" in svg[:400])

    def test_hub_cache_and_model_id(self):
        with tempfile.TemporaryDirectory() as hub:
            repo = os.path.join(hub, "models--huggyllama--llama-7b")
            rev = "0123456789abcdef0123456789abcdef01234567"
            os.makedirs(os.path.join(repo, "refs"))
            os.makedirs(os.path.join(repo, "snapshots", rev))
            shutil.copy(LLAMA, os.path.join(repo, "snapshots", rev, "config.json"))
            with open(os.path.join(repo, "refs", "main"), "w") as f:
                f.write(rev)
            old = os.environ.get("HF_HUB_CACHE")
            os.environ["HF_HUB_CACHE"] = hub
            try:
                for spec, revision in ((repo, None), ("huggyllama/llama-7b", None), ("huggyllama/llama-7b", rev)):
                    m = metatrace.load(spec, revision, layers=1)
                    self.assertEqual(m.config_path, os.path.join(repo, "snapshots", rev, "config.json"))
                    self.assertEqual(m.trace().model.model_type, "llama")
                with self.assertRaises(metatrace.Error) as e:
                    metatrace.load("huggyllama/llama-7b", "nope")
                self.assertIn("nope", e.exception.message)
                with self.assertRaises(metatrace.Error) as e:
                    metatrace.load("nobody/nothing")
                self.assertIn(hub, e.exception.message)  # names where it looked
            finally:
                if old is None:
                    del os.environ["HF_HUB_CACHE"]
                else:
                    os.environ["HF_HUB_CACHE"] = old


class Errors(unittest.TestCase):
    """Library errors are metatrace.Error carrying the library's message."""

    def test_missing_file(self):
        with self.assertRaises(metatrace.Error) as e:
            metatrace.load("/nonexistent/config.json")
        self.assertEqual(e.exception.message, "/nonexistent/config.json: cannot open: No such file or directory")

    def test_located_config_errors(self):
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "config.json")
            with open(bad, "w") as f:
                f.write('{\n  "model_type": "llama",\n  "hidden_size": "big"\n}\n')
            with self.assertRaises(metatrace.Error) as e:
                metatrace.load(bad)
            self.assertIn("config.json:3:3: field 'hidden_size'", str(e.exception))
            with open(bad, "w") as f:
                f.write('{"model_type": "gpt9"}')
            with self.assertRaises(metatrace.Error) as e:
                metatrace.load(d)
            self.assertIn("unsupported model_type 'gpt9'", str(e.exception))
            with open(bad, "w") as f:
                f.write('{"model_type": "llama",}')
            with self.assertRaises(metatrace.Error) as e:
                metatrace.load(bad)
            self.assertIn("config.json:1:", str(e.exception))

    def test_usage_errors(self):
        cases = [
            (lambda: metatrace.load(LLAMA, layers=0), "option 'layers': expected a number of layers from 1 to 1024, got '0'"),
            (lambda: metatrace.load(LLAMA, dtype="int8"), "option 'dtype': expected a floating-point dtype"),
            (lambda: metatrace.load(LLAMA, dtype="float8_e4m3fn"), "set quant to fp8"),
            (lambda: metatrace.load(LLAMA, attn="flash"), "option 'attn': expected eager or sdpa, got 'flash'"),
            (lambda: metatrace.load(LLAMA, layers=1).trace(dec_seq=3), "cannot bind 'dec_seq'"),
            (lambda: metatrace.load(LLAMA, layers=1).trace(batch=0), "must be a positive integer"),
        ]
        for fn, msg in cases:
            with self.subTest(msg=msg):
                with self.assertRaises(metatrace.Error) as e:
                    fn()
                self.assertIn(msg, e.exception.message)
                self.assertEqual(e.exception.status, "usage error")
        g = metatrace.load(LLAMA, layers=1).trace()
        for kw, msg in [({"dp": 0}, "option 'dp'"), ({"quant": "int3"}, "unknown quantization method 'int3'"),
                        ({"optimizer": "lion"}, "option 'optimizer'"), ({"mem": "lots"}, "mem: expected a size")]:
            with self.subTest(kw=kw):
                with self.assertRaises(metatrace.Error) as e:
                    g.sizing(**kw)
                self.assertIn(msg, str(e.exception))
        with self.assertRaises(metatrace.Error) as e:
            g.export("pdf")
        self.assertIn("unknown export format 'pdf'", str(e.exception))
        # the context is usable again after an error (the first error is cleared)
        self.assertEqual(g.sizing(dp=2).training.dp, 2)
        with self.assertRaises(metatrace.Error) as e:
            metatrace.load(LLAMA, layers=1).trace(seq=8).plan(2, sp=True)
        self.assertIn("option 'sp'", str(e.exception))

    def test_unsupported_family_choice(self):
        with self.assertRaises(metatrace.Error) as e:
            metatrace.load(os.path.join(SAMPLES, "bigscience--bloom-560m.config.json"), attn="sdpa")
        self.assertEqual(e.exception.status, "usage error")
        self.assertIn("sdpa", e.exception.message)


class Package(unittest.TestCase):
    def test_version_and_library(self):
        self.assertEqual(metatrace.version(), cli("--version").decode().split()[-1])
        self.assertEqual(metatrace.__version__, metatrace.version())
        self.assertTrue(os.path.exists(metatrace.library_path()))

    def test_sizes(self):
        self.assertEqual(metatrace.parse_size("80GiB"), 80 * 2**30)
        self.assertEqual(metatrace.parse_size("141GB"), 141 * 10**9)
        self.assertEqual(metatrace.parse_size("1.5KiB"), 1536)
        self.assertEqual(metatrace.parse_size(17179869184), 17179869184)


if __name__ == "__main__":
    unittest.main(verbosity=2)
