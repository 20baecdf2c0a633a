"""The inference graph as TensorRT builds it: constants folded, and in half precision (FP16) for GPUs.

The exported graph builds its fill's window weights and many shapes from constants at run time (5,504 nodes);
ONNX Runtime's basic optimiser folds them into initializers (676 nodes, the same outputs bit for bit), which is
what ``folded_onnx`` keeps and what TensorRT parses: fewer layers to parse and build, none of them index plumbing.

TensorRT 11 builds strongly typed networks only: each tensor's type comes from the ONNX file, so FP16 has to be in
the graph. onnxconverter-common converts it; this module puts right what it gets wrong for this graph, and checks
the result:

- a graph output that the graph also reads (``mean`` and ``spread`` feed the refiner) stays FP16 under
  ``keep_io_types``: every output is first given an Identity of its own, so that all five come out in FP32;
- a Cast to FP32 whose result it marks FP16 (the timestep embedding) makes the file invalid (ONNX Runtime refuses
  it): such a Cast is made to cast to FP16;
- what ``FP32_INPUTS`` and ``FP32_OPS`` name stays in FP32 (the rest of the graph in FP16), for the reasons given
  there; the converter rounds every edge between two such nodes through FP16 (a Cast to FP16 and one back), and
  those round trips are removed, so that the FP32 part computes in FP32 from end to end.

The inputs and outputs stay FP32, so a backend feeds and reads it as it does the FP32 graph.
``scripts/probe_fp16.py`` measures what the conversion costs (validation and real frames).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger("perfecting_depth_ros.backends")

# Kept in FP32 on top of onnxconverter-common's own list (operators without FP16 kernels).
FP32_OPS: tuple[str, ...] = ()
# Every node computed from these graph inputs alone (and constants) stays FP32: the classical geometry of the raw
# depth, above all the in-graph planar fill's window moments and Cramer's rule, whose determinant cancels far
# below FP16's 11 bits (scripts/probe_fp16.py).
FP32_INPUTS: tuple[str, ...] = ("depth", "mask")
FOLDED = "fp32-folded1"  # the folded FP32 graph's recipe


def recipe(fp32_inputs: tuple[str, ...] = FP32_INPUTS, fp32_ops: tuple[str, ...] = FP32_OPS) -> str:
    """Names a conversion in the FP16 copy's metadata and in TensorRT engine caches: a copy or an engine made by
    another recipe (an older version of this module, other FP32 parts) is made again."""
    return f"fp16-mixed3:folded;inputs={','.join(fp32_inputs)};ops={','.join(fp32_ops)}"


RECIPE = recipe()  # the FP16 copy's recipe


class PrecisionError(RuntimeError):
    """The graph cannot be converted to FP16 (converter missing, or the result fails its checks)."""


def converter_missing() -> str:
    """Why the graph cannot be converted here ("" when it can): onnx or onnxconverter-common not installed."""
    try:
        import onnx  # noqa: F401
        from onnxconverter_common import float16  # noqa: F401
    except ImportError as e:
        return f"FP16 conversion unavailable ({e})"
    return ""


def engine_precision(trt_version: str, fp16: bool = True) -> tuple[str, str]:
    """The precision a TensorRT engine is built in here, ``RECIPE`` (FP16, the raw depth's geometry FP32) or "fp32",
    and, where FP16 was asked for and cannot be had, why."""
    if not fp16:
        return "fp32", ""
    if int(trt_version.split(".")[0]) < 10:
        return "fp32", (f"TensorRT {trt_version} has no strongly typed networks, and FP16 by the builder's choice puts "
                        "the in-graph fill in FP16, which it does not survive")
    missing = converter_missing()
    if missing:
        return "fp32", f"{missing}; pip install onnx onnxconverter-common for FP16"
    return RECIPE, ""


def fed_only_by(graph, inputs: tuple[str, ...]) -> list[str]:
    """Names of the nodes of ``graph`` computed from ``inputs`` alone: those that read one of them, or a tensor so
    computed, and nothing that depends on another graph input; and the constant-only nodes (no graph input upstream:
    a clamp's epsilon, a window's weights) that feed them, since a constant rounded to FP16 changes the FP32
    arithmetic it feeds (an epsilon of 1e-12 becomes 0 or, clamped by the converter, 1e-7)."""
    names = set(inputs)
    tainted = {i.name for i in graph.input} - names  # tensors that depend on another graph input
    reached: set[str] = set(names)  # tensors that depend on ``inputs`` only
    kept = set()
    for node in graph.node:  # ONNX lists nodes in topological order
        ins = [x for x in node.input if x]
        if any(x in tainted for x in ins):
            tainted.update(node.output)
        elif any(x in reached for x in ins):
            reached.update(node.output)
            kept.add(node.name)
    needed = {x for node in graph.node if node.name in kept for x in node.input}
    for node in reversed(graph.node):  # constant-only producers of what the kept nodes read, transitively
        if node.name not in kept and any(o in needed for o in node.output) and not any(
                x in tainted or x in reached for x in node.input if x):
            kept.add(node.name)
            needed.update(node.input)
    return [node.name for node in graph.node if node.name in kept]


def float_producers(model, names: list[str]) -> list[str]:
    """Those of the nodes ``names`` that produce a float tensor (shape and index arithmetic needs no blocking, and
    every blocked node costs the converter time)."""
    import onnx
    from onnx import TensorProto

    inferred = onnx.shape_inference.infer_shapes(model)
    declared = {v.name: v.type.tensor_type.elem_type
                for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    nodes = {n.name: n for n in model.graph.node}

    def makes_float(n) -> bool:
        if n.op_type == "Constant":
            return any(a.t.data_type == TensorProto.FLOAT for a in n.attribute)
        return any(declared.get(o) == TensorProto.FLOAT for o in n.output)

    return [x for x in names if makes_float(nodes[x])]


def _split_shared_initializers(graph, blocked: set[str]) -> int:
    """Give the ``blocked`` (FP32) nodes their own copy of every initializer that other nodes read too: the
    converter keeps an initializer a blocked node reads in FP32, and an FP16 node reading it would get FP32. Returns
    how many were copied."""
    inits = {i.name: i for i in graph.initializer}
    readers: dict[str, set[bool]] = {}
    for n in graph.node:
        for x in n.input:
            if x in inits:
                readers.setdefault(x, set()).add(n.name in blocked)
    shared = [x for x, kinds in readers.items() if kinds == {True, False}]
    for x in shared:
        copy = graph.initializer.add()
        copy.CopyFrom(inits[x])
        copy.name = f"{x}__fp32"
    names = set(shared)
    for n in graph.node:
        if n.name in blocked:
            for i, x in enumerate(n.input):
                if x in names:
                    n.input[i] = f"{x}__fp32"
    return len(shared)


def _save_whole(model, dst: Path) -> None:
    """Save ``model`` to ``dst`` whole or not at all: another process may make the same file at once."""
    import onnx

    tmp = dst.with_name(f"{dst.stem}.{os.getpid()}.tmp.onnx")
    onnx.save(model, str(tmp))
    tmp.replace(dst)


def _set_metadata(model, key: str, value: str) -> None:
    """Set one metadata entry of ``model``, replacing any earlier one of that key."""
    kept = [p for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    p = model.metadata_props.add()
    p.key, p.value = key, value


def _drop_round_trips(graph) -> int:
    """Remove the FP32 -> FP16 -> FP32 Cast pairs the converter puts on every edge between two FP32 nodes (it casts
    each blocked node's outputs to FP16 and its inputs back): the FP32 reader takes the FP32 tensor itself. Returns
    how many pairs were removed."""
    from onnx import TensorProto

    def cast_to(node) -> int | None:
        return next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None

    producer = {o: n for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    declared = {v.name: v.type.tensor_type.elem_type for v in list(graph.value_info) + list(graph.input)}
    rename: dict[str, str] = {}
    dropped = []
    for n in graph.node:
        if cast_to(n) != TensorProto.FLOAT or n.output[0] in outputs:
            continue
        up = producer.get(n.input[0])
        if up is None or cast_to(up) != TensorProto.FLOAT16:
            continue
        if declared.get(up.input[0]) != TensorProto.FLOAT:  # a cast from an integer tensor is a real conversion
            continue
        rename[n.output[0]] = up.input[0]  # readers of the FP32 copy read the FP32 original
        dropped.append(n)
    if not rename:
        return 0
    for n in graph.node:
        for i, x in enumerate(n.input):
            if x in rename:
                n.input[i] = rename[x]
    for n in dropped:
        graph.node.remove(n)
    used = {x for n in graph.node for x in n.input} | outputs
    for n in [n for n in graph.node if cast_to(n) == TensorProto.FLOAT16 and n.output[0] not in used]:
        graph.node.remove(n)  # an FP16 copy nothing reads any more
    return len(dropped)


def convert_fp16(src: str | Path, dst: str | Path, fp32_ops: tuple[str, ...] = FP32_OPS,
                 fp32_inputs: tuple[str, ...] = FP32_INPUTS):
    """Write an FP16 copy of the ONNX graph ``src`` to ``dst`` with FP32 inputs and outputs; return the model.

    Raises PrecisionError when onnxconverter-common is not installed or the converted graph fails its checks
    (ONNX's checker, every input and output FP32).
    """
    try:
        import onnx
        from onnx import TensorProto, helper
        from onnxconverter_common import float16
    except ImportError as e:
        raise PrecisionError(f"converting the graph to FP16 needs onnxconverter-common ({e})") from e
    model = onnx.load(str(src))
    graph = model.graph
    seen: set[str] = set()
    for i, node in enumerate(graph.node):  # blocking goes by node name: every node gets its own
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}__node{i}"
        seen.add(node.name)
    outputs = [o.name for o in graph.output]
    renamed = {name: f"{name}__pre_fp16" for name in outputs}
    for node in graph.node:  # the producers and every reader of an output now use the inner name
        for i, name in enumerate(node.output):
            node.output[i] = renamed.get(name, name)
        for i, name in enumerate(node.input):
            node.input[i] = renamed.get(name, name)
    out_nodes = {f"{name}__out" for name in outputs}  # never blocked: the converter then mistypes the output
    for name in outputs:
        graph.node.append(helper.make_node("Identity", [renamed[name]], [name], name=f"{name}__out"))
    blocked = [n for n in float_producers(model, fed_only_by(graph, fp32_inputs)) if n not in out_nodes]
    _split_shared_initializers(graph, set(blocked))
    block = list(float16.DEFAULT_OP_BLOCK_LIST) + list(fp32_ops)
    with warnings.catch_warnings():  # tiny constants (1e-12 epsilons) are clamped to FP16's smallest: said per value
        warnings.simplefilter("ignore", UserWarning)
        half = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=block,
                                                node_block_list=blocked)
    declared = {v.name: v.type.tensor_type.elem_type for v in list(half.graph.value_info) + list(half.graph.output)}
    for node in half.graph.node:
        if node.op_type != "Cast":
            continue
        to = next(a for a in node.attribute if a.name == "to")
        if to.i == TensorProto.FLOAT and declared.get(node.output[0]) == TensorProto.FLOAT16:
            to.i = TensorProto.FLOAT16
    _drop_round_trips(half.graph)
    try:
        onnx.checker.check_model(half, full_check=True)  # with type inference: an FP16 node reading FP32 fails
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise PrecisionError(f"the FP16 graph fails ONNX's checker: {e}") from e
    io = {v.name: v.type.tensor_type.elem_type for v in list(half.graph.input) + list(half.graph.output)}
    not_fp32 = sorted(k for k, t in io.items() if t != TensorProto.FLOAT)
    if not_fp32:
        raise PrecisionError(f"the FP16 graph's inputs/outputs {not_fp32} are not FP32")
    _set_metadata(half, "precision", recipe(fp32_inputs, fp32_ops))
    _save_whole(half, Path(dst))
    return half


def fold_constants(src: str | Path, dst: str | Path):
    """Write ``src`` with its constant subgraphs folded into initializers (ONNX Runtime's basic, standard-ONNX
    optimisations), keeping its metadata (``precision``: FOLDED) and only the opset domains its nodes use; return the
    model."""
    import onnx
    import onnxruntime as ort

    dst = Path(dst)
    optimised = dst.with_name(f"{dst.stem}.{os.getpid()}.ort.onnx")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(optimised)
    ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
    try:
        model = onnx.load(str(optimised))
    finally:
        optimised.unlink(missing_ok=True)
    used = {n.domain for n in model.graph.node}
    keep = [o for o in model.opset_import if o.domain in used or o.domain == ""]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise PrecisionError(f"the folded graph fails ONNX's checker: {e}") from e
    _set_metadata(model, "precision", FOLDED)
    _save_whole(model, dst)
    return model


def _cached(src: Path, suffix: str, want_recipe: str, make) -> Path:
    """``make(src, out)``'s output for ``src`` in the cache folder, made again when missing, unreadable, or made
    from another graph (its metadata) or by another recipe."""
    from .base import cache_dir, read_metadata

    want = {**read_metadata(src), "precision": want_recipe}
    out = cache_dir() / f"{src.stem}{suffix}.onnx"
    if out.is_file():
        try:
            if read_metadata(out) == want:
                return out
            log.info("%s was made from another graph or by another recipe; making it again", out)
        except Exception as e:  # a truncated file: protobuf's own decode errors
            log.warning("%s is unreadable (%s); making it again", out, e)
    make(src, out)
    return out


def folded_onnx(path: str | Path) -> Path:
    """The graph at ``path`` with its constants folded (``fold_constants``), made once and kept in the cache folder:
    what an FP32 TensorRT engine is built from."""
    return _cached(Path(path), "_folded", FOLDED, fold_constants)


def fp16_onnx(path: str | Path) -> Path:
    """The FP16 copy of the graph at ``path`` (its constants folded first), made once and kept in the cache folder
    (the shipped graph lives inside the installed package, which may be read-only). A copy of another graph (other
    weights, model code, K or S: its metadata says) or made by another ``recipe`` is made again."""
    return _cached(Path(path), "_fp16", RECIPE, lambda src, out: convert_fp16(folded_onnx(src), out))
