"""The graph in FP16 for TensorRT: converted, checked, and run here by ONNX Runtime against the FP32 graph."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from perfecting_depth_ros.backends.base import read_metadata
from perfecting_depth_ros.backends.precision import (
    RECIPE,
    PrecisionError,
    _drop_round_trips,
    convert_fp16,
    fed_only_by,
    folded_onnx,
    fp16_onnx,
)
from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.enhancer import DEFAULT_WEIGHTS, DepthEnhancer

SHIPPED_GRAPH = DEFAULT_WEIGHTS.parent / "perfecting_depth_k4_s2.onnx"


@pytest.fixture(scope="module")
def graph_inputs(frame):
    """What the enhancer feeds the shipped graph for a rendered frame seen by a simulated sensor."""
    enh = DepthEnhancer("learned", backend="onnxruntime", fusion=False)
    seen = []
    run = enh.backend.run
    enh.backend.run = lambda inputs: (seen.append(dict(inputs)), run(inputs))[1]
    enh.enhance(frame.rgb, simulate(frame, "realsense_d435", np.random.default_rng(0)))
    return seen[0]


def _run(path, inputs):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in s.get_inputs()]
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {k: v for k, v in inputs.items() if k in names})))


def test_the_folded_graph_gives_the_same_outputs_from_a_ninth_of_the_nodes(graph_inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    folded = folded_onnx(SHIPPED_GRAPH)
    assert len(onnx.load(str(folded)).graph.node) < len(onnx.load(str(SHIPPED_GRAPH)).graph.node) / 5
    assert read_metadata(folded)["model_sha256"] == read_metadata(SHIPPED_GRAPH)["model_sha256"]
    ref, got = _run(SHIPPED_GRAPH, graph_inputs), _run(folded, graph_inputs)
    for k in ref:
        assert np.array_equal(ref[k], got[k]), k
    assert folded_onnx(SHIPPED_GRAPH) == folded


def test_the_fp16_graph_is_valid_typed_fp32_outside_and_close_to_fp32(graph_inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    out = fp16_onnx(SHIPPED_GRAPH)  # folded, then converted: what TensorRT builds from
    half = onnx.load(str(out))
    for v in list(half.graph.input) + list(half.graph.output):
        assert v.type.tensor_type.elem_type == TensorProto.FLOAT, v.name  # mean and spread included
    declared = {v.name: v.type.tensor_type.elem_type for v in half.graph.value_info}
    convs = [declared.get(n.input[0]) for n in half.graph.node if n.op_type == "Conv"]
    assert convs.count(TensorProto.FLOAT16) > 0.75 * len(convs)  # the networks run in FP16; the fill's sums do not
    md = read_metadata(out)
    assert md["precision"] == RECIPE and md["model_sha256"] == read_metadata(SHIPPED_GRAPH)["model_sha256"]
    ref, got = _run(SHIPPED_GRAPH, graph_inputs), _run(out, graph_inputs)
    for k in ref:
        assert np.isfinite(got[k]).all(), k
    d = np.abs(ref["final"] - got["final"])
    assert np.percentile(d, 99) < 5e-3 and d.max() < 0.05  # normalised depth units (about a metre a unit)
    assert np.percentile(np.abs(ref["sigma"] - got["sigma"]) / ref["sigma"], 99) < 0.02
    # the whole graph in FP16 (the converter alone): the in-graph fill's epsilons and cancellations do not survive
    naive = tmp_path / "naive.onnx"
    convert_fp16(folded_onnx(SHIPPED_GRAPH), naive, fp32_inputs=())
    assert np.percentile(np.abs(ref["final"] - _run(naive, graph_inputs)["final"]), 99) > 10 * np.percentile(d, 99)


def test_fp16_copy_is_cached_and_redone_for_another_graph(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "pkg" / "graph.onnx"
    src.parent.mkdir()
    m = helper.make_model(_graph([helper.make_node("Abs", ["depth"], ["out"], name="abs")], inputs=("depth",)),
                          ir_version=8, opset_imports=[helper.make_opsetid("", 17)])  # what every onnxruntime reads
    helper.set_model_props(m, {"model_sha256": "ab" * 32})
    onnx.save(m, str(src))
    first = fp16_onnx(src)
    assert first.parent == tmp_path / "cache"  # never beside the graph (the shipped one lives in the package)
    stamp = first.stat().st_mtime_ns
    assert fp16_onnx(src) == first and first.stat().st_mtime_ns == stamp  # reused
    helper.set_model_props(m, {"model_sha256": "cd" * 32})
    onnx.save(m, str(src))  # other weights under the same name: converted again
    assert read_metadata(fp16_onnx(src))["model_sha256"] == "cd" * 32
    first.write_bytes(b"truncated")
    assert read_metadata(fp16_onnx(src))["precision"] == RECIPE
    out = _run(first, {"depth": np.array([-2.0], np.float32)})["out"]
    assert out.dtype == np.float32 and out[0] == 2.0


def _graph(nodes, inputs=("depth", "rgb"), outputs=("out",)):
    f = TensorProto.FLOAT
    return helper.make_graph(nodes, "g", [helper.make_tensor_value_info(x, f, [1]) for x in inputs],
                             [helper.make_tensor_value_info(x, f, [1]) for x in outputs])


def test_fed_only_by_keeps_the_depth_arithmetic_and_its_constants():
    eps = helper.make_node("Constant", [], ["eps"], name="eps", value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1e-12]))
    both = helper.make_node("Constant", [], ["two"], name="two", value=helper.make_tensor("v", TensorProto.FLOAT, [1], [2.0]))
    nodes = [eps, both,
             helper.make_node("Clip", ["depth", "eps"], ["c"], name="clip"),
             helper.make_node("Div", ["depth", "c"], ["q"], name="div"),
             helper.make_node("Mul", ["rgb", "two"], ["r"], name="mul_rgb"),
             helper.make_node("Add", ["q", "r"], ["out"], name="mix")]
    kept = fed_only_by(_graph(nodes), ("depth",))
    assert kept == ["eps", "clip", "div"]  # "two" feeds only what rgb reaches; "mix" reads rgb


def test_round_trips_between_fp32_nodes_are_removed_and_real_casts_kept():
    f, h, i64 = TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.INT64
    nodes = [helper.make_node("Abs", ["depth"], ["a"], name="abs"),
             helper.make_node("Cast", ["a"], ["a16"], name="to16", to=h),
             helper.make_node("Cast", ["a16"], ["a32"], name="to32", to=f),
             helper.make_node("Neg", ["a32"], ["out"], name="neg"),
             helper.make_node("Cast", ["n"], ["n16"], name="int_to16", to=h),
             helper.make_node("Cast", ["n16"], ["n32"], name="int_to32", to=f)]
    g = _graph(nodes, inputs=("depth",), outputs=("out", "n32"))
    g.input.append(helper.make_tensor_value_info("n", i64, [1]))
    g.value_info.extend([helper.make_tensor_value_info("a", f, [1]), helper.make_tensor_value_info("a16", h, [1])])
    assert _drop_round_trips(g) == 1
    names = [n.name for n in g.node]
    assert "to16" not in names and "to32" not in names and g.node[names.index("neg")].input[0] == "a"
    assert "int_to16" in names and "int_to32" in names  # an integer through FP16 is a real conversion


def test_graph_precision_reaches_the_backends_and_the_cpu_routes_stay_fp32(frame, tmp_path, monkeypatch, caplog):
    import logging

    from perfecting_depth_ros.backends import create_backend

    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="precision"):
        create_backend("onnxruntime", DEFAULT_WEIGHTS, precision="half")
    with pytest.raises(ValueError, match="precision"):
        DepthEnhancer("inpaint_ns", precision="half")  # refused whatever the method, as the node's choices are
    with caplog.at_level(logging.INFO, logger="perfecting_depth_ros.backends"):
        cpu = DepthEnhancer(backend="onnxruntime", precision="fp16", fusion=False)
    assert cpu.backend.precision == "fp32" and "fp16" not in cpu.description  # no FP16 arithmetic on this CPU route
    assert "runs FP32" in caplog.text
    raw = simulate(frame, "realsense_d435", np.random.default_rng(0))
    ref = cpu.enhance(frame.rgb, raw)
    # ONNX Runtime's CUDA provider first in line (this onnxruntime lists it but has none: the session falls back to
    # the CPU, which runs the FP16 copy it was given): the route a Jetson's onnxruntime-gpu takes
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    half = DepthEnhancer(backend="onnxruntime", device="cuda", precision="fp16", fusion=False)
    assert half.backend.precision == "fp16" and " fp16 " in half.description
    assert read_metadata(half.backend.path)["precision"] == RECIPE
    got = half.enhance(frame.rgb, raw)
    d = np.abs(got.depth - ref.depth)[np.isfinite(ref.depth)]
    assert np.percentile(d, 99) < 0.01 and np.median(d) < 1e-3  # metres
    full = DepthEnhancer(backend="onnxruntime", device="cuda", precision="auto", fusion=False)
    assert full.backend.precision == "fp32" and full.backend.path.name == SHIPPED_GRAPH.name


def test_an_initializer_read_by_fp32_and_fp16_nodes_is_given_to_each_in_its_type(tmp_path):
    """After folding, a constant can feed the raw depth's FP32 arithmetic and an FP16 node alike; each must read it
    in its own type (without the copy the graph fails the type check, and conversion refuses it)."""
    from onnx import numpy_helper

    half_c = numpy_helper.from_array(np.array([0.5], np.float32), "half_c")
    nodes = [helper.make_node("Mul", ["depth", "half_c"], ["d"], name="depth_mul"),
             helper.make_node("Mul", ["rgb", "half_c"], ["r"], name="rgb_mul"),
             helper.make_node("Add", ["d", "r"], ["out"], name="mix")]
    g = _graph(nodes, inputs=("depth", "rgb", "mask"))
    g.initializer.append(half_c)
    src = tmp_path / "shared.onnx"
    onnx.save(helper.make_model(g, ir_version=8, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    convert_fp16(src, tmp_path / "shared16.onnx")
    out = _run(tmp_path / "shared16.onnx", {"depth": np.array([3.0], np.float32), "rgb": np.array([1.0], np.float32),
                                            "mask": np.array([1.0], np.float32)})["out"]
    assert out.dtype == np.float32 and out[0] == 2.0
    import perfecting_depth_ros.backends.precision as P

    split, P._split_shared_initializers = P._split_shared_initializers, lambda graph, blocked: 0
    try:
        with pytest.raises(PrecisionError, match="checker"):
            convert_fp16(src, tmp_path / "bad.onnx")
    finally:
        P._split_shared_initializers = split


def test_export_writes_the_graphs_tensorrt_builds_from(tmp_path, monkeypatch, capsys):
    from perfecting_depth_ros.cli import main

    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    for precision, recipe in (("fp16", RECIPE), ("fp32", "fp32-folded1")):
        out = tmp_path / f"pd_{precision}.onnx"
        assert main(["export", "--tensorrt", precision, "--out", str(out), "--height", "480", "--width", "640"]) == 0
        assert read_metadata(out)["precision"] == recipe
        line = capsys.readouterr().out
        assert f"trtexec --onnx={out} --stronglyTyped" in line and "rgb:1x3x480x640" in line
        assert "noise:1x4x1x120x160" in line
        ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])  # a whole, loadable file
