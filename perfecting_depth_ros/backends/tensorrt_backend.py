"""Native TensorRT backend: engine built from the exported ONNX, cached, run with execute_async_v3.

- Built once per (GPU model, TensorRT version, input size, K, S, model sha256, model-code sha256), serialised to the
  cache, and loaded on later starts; a corrupt or foreign engine file is rebuilt.
- The graph is parsed with its constants folded (``precision.folded_onnx``: 676 instead of 5,504 nodes, the same
  outputs). FP16 (the default): TensorRT 10 and 11 build a strongly typed network from ``precision.fp16_onnx``'s
  copy of it, FP16 but for the in-graph geometry of the raw depth, which stays FP32. Never ``BuilderFlag.FP16``:
  it lets TensorRT put any layer in FP16, where the fill's epsilons underflow and its sums cancel (the whole graph
  in FP16: the real hold-out error +16 %, scripts/probe_fp16.py). Without onnxconverter-common, and on TensorRT 8
  (no strong typing), the engine is FP32 and the log says so.
- Inputs and outputs live in pre-allocated device buffers (torch CUDA tensors), on one CUDA stream.
- Nothing here touches TensorRT unless a usable CUDA GPU is present (the lean runtime segfaults
  in ``deserialize_cuda_engine`` without one).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .base import (
    OUTPUT_NAMES,
    Backend,
    BackendError,
    cache_dir,
    graph_code_sha,
    graph_feed,
    input_names,
    input_shapes,
    nvidia_device_present,
    takes_range,
)

log = logging.getLogger("perfecting_depth_ros.backends")


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; its hash names the cache file."""

    gpu: str
    trt_version: str
    height: int
    width: int
    samples: int
    steps: int
    model_sha256: str
    precision: str
    graph_sha256: str = ""  # the model code the ONNX was exported from

    def filename(self) -> str:
        h = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:20]
        return f"pd_{self.height}x{self.width}_k{self.samples}_s{self.steps}_{self.precision}_{h}.engine"


def engine_path(key: EngineKey, root: Path | None = None) -> Path:
    return (root or cache_dir()) / key.filename()


def write_engine(path: Path, key: EngineKey, engine_bytes: bytes) -> None:
    """Engine file = 4-byte header length + JSON key + serialized engine (so a foreign file is detected)."""
    head = json.dumps(asdict(key), sort_keys=True).encode()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # another process may write the same engine
    tmp.write_bytes(len(head).to_bytes(4, "little") + head + engine_bytes)
    tmp.replace(path)


def read_engine(path: Path, key: EngineKey) -> bytes | None:
    """The serialized engine if the file exists and was built for exactly ``key``; None otherwise."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    try:
        n = int.from_bytes(data[:4], "little")
        if not 0 < n < 4096 or len(data) < 4 + n:
            raise ValueError("bad header length")
        stored = json.loads(data[4 : 4 + n])
    except (ValueError, UnicodeDecodeError) as e:
        log.warning("engine cache %s is corrupt (%s); rebuilding", path, e)
        return None
    if stored != asdict(key):
        log.warning("engine cache %s was built for %s; rebuilding", path, stored)
        return None
    body = data[4 + n :]
    return body if body else None


def cuda_gpu_name() -> str:
    """Name of the first CUDA GPU, or raise BackendError (checked before TensorRT is imported)."""
    if "torch" not in sys.modules and not nvidia_device_present():
        raise BackendError("no NVIDIA device (not loading torch to look further)")
    try:
        import torch
    except ImportError as e:
        raise BackendError("torch is needed for CUDA buffers") from e
    if not torch.cuda.is_available():
        raise BackendError("no CUDA GPU")
    return torch.cuda.get_device_name(0)


def trt_major(version: str) -> int:
    return int(version.split(".")[0])


class TensorRTBackend(Backend):
    """TensorRT engine for one input size (the camera's model size; rebuilt if the size changes)."""

    def __init__(self, weights: str | Path, sha: str, samples: int, steps: int, height: int = 240, width: int = 320,
                 fp16: bool = True):
        self.gpu = cuda_gpu_name()
        try:
            import tensorrt as trt
        except (ImportError, OSError) as e:
            raise BackendError(f"TensorRT is not installed ({e})") from e
        import torch

        self.trt, self.torch = trt, torch
        self.weights, self.sha, self.samples, self.steps = Path(weights), sha, samples, steps
        self.precision = self._precision(fp16)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.stream = torch.cuda.Stream()
        self.stride = 4
        self.takes_range = takes_range(weights)
        self.name = f"tensorrt-{trt.__version__}"
        self._size = None
        self._prepare(height, width)

    def _precision(self, fp16: bool) -> str:
        """The engine's precision: ``precision.RECIPE`` (mixed FP16) where it can be built, else "fp32" (logged)."""
        from .precision import engine_precision

        precision, why = engine_precision(self.trt.__version__, fp16)
        if why:
            log.warning("building the TensorRT engine in FP32: %s", why)
        return precision

    def _key(self, height: int, width: int) -> EngineKey:
        return EngineKey(self.gpu, self.trt.__version__, height, width, self.samples, self.steps, self.sha,
                         self.precision, graph_code_sha())

    def _build(self, height: int, width: int) -> bytes:
        from .onnx_backend import cached_onnx

        trt = self.trt
        onnx_path = cached_onnx(self.weights, self.sha, self.samples, self.steps)
        strongly_typed = trt_major(trt.__version__) >= 10  # TensorRT 11 has no other kind
        from .precision import PrecisionError, folded_onnx, fp16_onnx

        if self.precision != "fp32":
            try:
                onnx_path = fp16_onnx(onnx_path)
            except PrecisionError as e:  # the converter's output failed its checks: an FP32 engine, said so
                log.warning("building the TensorRT engine in FP32: %s", e)
                self.precision = "fp32"
        if self.precision == "fp32":
            try:
                onnx_path = folded_onnx(onnx_path)  # constants folded: the same outputs, a ninth of the nodes
            except PrecisionError as e:
                log.warning("building the TensorRT engine from the unfolded graph: %s", e)
        builder = trt.Builder(self.logger)
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(Path(onnx_path).read_bytes()):
            errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendError(f"TensorRT cannot parse {onnx_path}: {errs}")
        config = builder.create_builder_config()
        profile = builder.create_optimization_profile()
        s = self.stride
        shapes = input_shapes(height, width, self.samples, s, self.takes_range)
        for name, shp in shapes.items():
            profile.set_shape(name, shp, shp, shp)
        config.add_optimization_profile(profile)
        engine = builder.build_serialized_network(network, config)
        if engine is None:
            raise BackendError("TensorRT engine build failed")
        return bytes(engine)

    def _prepare(self, height: int, width: int) -> None:
        torch = self.torch
        key = self._key(height, width)
        path = engine_path(key)
        blob = read_engine(path, key)
        engine = self.runtime.deserialize_cuda_engine(blob) if blob else None
        if engine is None:
            log.info("building TensorRT engine for %dx%d (K=%d, S=%d) on %s", height, width, self.samples, self.steps, self.gpu)
            blob = self._build(height, width)
            key = self._key(height, width)  # the precision it was built in (FP32 where the FP16 copy failed)
            write_engine(engine_path(key), key, blob)
            engine = self.runtime.deserialize_cuda_engine(blob)
            if engine is None:
                raise BackendError("TensorRT could not deserialize the engine it just built")
        self.engine = engine
        self.context = engine.create_execution_context()
        s = self.stride
        shapes = input_shapes(height, width, self.samples, s, self.takes_range)
        self.buffers = {}
        for name, shp in shapes.items():
            self.context.set_input_shape(name, shp)
            self.buffers[name] = torch.empty(shp, dtype=torch.float32, device="cuda")
        for name in OUTPUT_NAMES:
            self.buffers[name] = torch.empty((1, 1, height, width), dtype=torch.float32, device="cuda")
        for name, buf in self.buffers.items():
            self.context.set_tensor_address(name, buf.data_ptr())
        self._size = (height, width)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self.torch
        h, w = inputs["rgb"].shape[2:]
        if (h, w) != self._size:
            self._prepare(h, w)
        with torch.cuda.stream(self.stream):
            for name, x in graph_feed(inputs, input_names(self.takes_range)).items():
                self.buffers[name].copy_(torch.from_numpy(x), non_blocking=True)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise BackendError("TensorRT execution failed")
            outs = {k: self.buffers[k].to("cpu", non_blocking=True) for k in OUTPUT_NAMES}
        self.stream.synchronize()
        return {k: v.numpy() for k, v in outs.items()}
