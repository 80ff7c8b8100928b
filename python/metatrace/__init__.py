"""metatrace for Python: Hugging Face architectures built on the meta device from
their config.json, traced into FX-style graphs, sized and planned — through
ctypes against libmetatrace.so.3, standard library only (docs/python.md).

    import metatrace
    g = metatrace.load("samples/configs/huggyllama--llama-7b.config.json", layers=2).trace(batch=1, seq=128)
    print(g.totals.parameters, len(g.nodes), g.nodes[-2].shape)
    print(g.sizing().kv_cache.bytes_per_token, g.plan(8).tp_plan)
    g.to_json("llama.json"); fx_module = metatrace.fx.to_fx(g)   # torch.fx, when torch is importable
"""
from ._core import (Buffer, Device, DType, Error, Graph, Model, Module, Node, Parameter, Record, Sym,
                    dtype_size, eval_dim, library_path, load, parse_size, trace, version)

__version__ = version()

__all__ = ["Buffer", "Device", "DType", "Error", "Graph", "Model", "Module", "Node", "Parameter", "Record",
           "Sym", "dtype_size", "eval_dim", "library_path", "load", "parse_size", "trace", "version", "fx"]


def __getattr__(name):
    # metatrace.fx imports torch: only when asked for
    if name == "fx":
        import importlib
        return importlib.import_module(".fx", __name__)
    raise AttributeError("module 'metatrace' has no attribute %r" % name)
