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
    assert [r.split(":")[0] for r in b.skipped] == ["tensorrt", "onnxruntime-cuda", "torch-cuda"]
    out = b.run({"rgb": np.zeros((1, 3, 32, 32), np.float32), "depth": np.zeros((1, 1, 32, 32), np.float32),
                 "mask": np.ones((1, 1, 32, 32), np.float32), "noise": np.zeros((1, 4, 1, 8, 8), np.float32)})
    assert out["final"].shape == (1, 1, 32, 32)
