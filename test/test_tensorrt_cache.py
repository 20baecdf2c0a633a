"""TensorRT engine cache keys, invalidation and error paths, without a GPU (the GPU path runs on robots)."""

import numpy as np
import pytest

from perfecting_depth_ros.backends import BackendError, create_backend
from perfecting_depth_ros.backends.tensorrt_backend import EngineKey, TensorRTBackend, read_engine, trt_major, write_engine

KEY = EngineKey("NVIDIA H100", "10.3.0", 240, 320, 4, 2, "ab" * 32, "fp16")


def test_every_key_field_changes_the_file_name():
    names = {KEY.filename()}
    for field, value in [("gpu", "Orin"), ("trt_version", "11.4.1"), ("height", 480), ("width", 640), ("samples", 8),
                         ("steps", 1), ("model_sha256", "cd" * 32), ("precision", "fp32"),
                         ("graph_sha256", "ef" * 32)]:
        names.add(EngineKey(**{**KEY.__dict__, field: value}).filename())
    assert len(names) == 10


def test_engine_file_roundtrip_and_invalidation(tmp_path):
    p = tmp_path / KEY.filename()
    assert read_engine(p, KEY) is None  # missing
    write_engine(p, KEY, b"ENGINE")
    assert read_engine(p, KEY) == b"ENGINE"
    other = EngineKey(**{**KEY.__dict__, "trt_version": "11.0.0"})
    assert read_engine(p, other) is None  # built for another TensorRT: rebuild
    p.write_bytes(b"\xff\xff\xff\xffgarbage")
    assert read_engine(p, KEY) is None  # corrupt header: rebuild
    p.write_bytes(b"")
    assert read_engine(p, KEY) is None


def test_trt_version_major():
    assert trt_major("10.3.0.26") == 10 and trt_major("11.4.1") == 11


def test_no_gpu_means_a_clear_error_before_touching_tensorrt(tiny_weights):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the no-GPU path is what CI checks")
    with pytest.raises(BackendError, match="no CUDA GPU"):
        TensorRTBackend(tiny_weights, "x" * 64, 4, 2)
    with pytest.raises(BackendError, match="tensorrt unavailable"):
        create_backend("tensorrt", tiny_weights)
    b = create_backend("auto", tiny_weights)
    assert b.name.startswith("onnxruntime") and "tensorrt: no CUDA GPU" in b.skipped[0]
    assert [r.split(":")[0] for r in b.skipped] == ["tensorrt", "onnxruntime-tensorrt", "onnxruntime-cuda", "torch-cuda"]
    assert "no TensorRT execution provider" in b.skipped[1]
    out = b.run({"rgb": np.zeros((1, 3, 32, 32), np.float32), "depth": np.zeros((1, 1, 32, 32), np.float32),
                 "mask": np.ones((1, 1, 32, 32), np.float32), "noise": np.zeros((1, 4, 1, 8, 8), np.float32)})
    assert out["final"].shape == (1, 1, 32, 32)


def test_onnxruntime_providers_in_order_of_preference(tmp_path):
    """TensorRT through onnxruntime (engines cached, full precision), then CUDA, then the CPU; what this onnxruntime
    lacks is left out."""
    from perfecting_depth_ros.backends.onnx_backend import ort_providers

    every = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    trt, cuda, cpu = ort_providers(every, True, True, tmp_path)
    assert trt[0] == "TensorrtExecutionProvider" and trt[1]["trt_engine_cache_path"] == str(tmp_path)
    assert trt[1]["trt_engine_cache_enable"] and "trt_fp16_enable" not in trt[1]
    assert (cuda, cpu) == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert ort_providers(every, True, False, tmp_path) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert ort_providers(every, False, False, tmp_path) == ["CPUExecutionProvider"]
    assert ort_providers(["CPUExecutionProvider"], True, True, tmp_path) == ["CPUExecutionProvider"]


def test_node_falls_back_from_a_gpu_route_to_the_cpu_then_to_torch():
    from perfecting_depth_ros.node.enhancer_node import fallback_for

    for gpu in ("tensorrt-10.3.0", "onnxruntime-tensorrt", "onnxruntime-cuda"):
        assert fallback_for(gpu) == "onnxruntime"
    assert fallback_for("onnxruntime-cpu") == "torch"
    assert fallback_for("torch-cpu") is None and fallback_for("torch-cuda-graphs") is None


def test_engine_precision_is_mixed_fp16_only_where_strong_typing_and_the_converter_are(monkeypatch, caplog):
    from types import SimpleNamespace

    from perfecting_depth_ros.backends import precision

    trt = SimpleNamespace(__version__="10.3.0")  # JetPack 6.1+
    assert TensorRTBackend._precision(SimpleNamespace(trt=trt), True) == precision.RECIPE
    assert TensorRTBackend._precision(SimpleNamespace(trt=trt), False) == "fp32"
    assert precision.RECIPE != precision.recipe(fp32_inputs=())  # what stays FP32 names the engine: another is rebuilt
    trt.__version__ = "8.6.2"  # JetPack 6.0 / 5: no strongly typed networks, and BuilderFlag.FP16 is never used
    assert TensorRTBackend._precision(SimpleNamespace(trt=trt), True) == "fp32"
    assert "FP32" in caplog.text
    monkeypatch.setattr(precision, "converter_missing", lambda: "FP16 conversion unavailable (no onnxconverter_common)")
    trt.__version__ = "11.4.1"
    assert TensorRTBackend._precision(SimpleNamespace(trt=trt), True) == "fp32"
    assert "onnxconverter-common" in caplog.text
