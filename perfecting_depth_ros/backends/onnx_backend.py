"""ONNX Runtime backend: CPU everywhere, CUDA / TensorRT execution providers where installed."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .base import OUTPUT_NAMES, RANGE_INPUT, Backend, BackendError, cache_dir, graph_feed, usable_cpus

log = logging.getLogger("perfecting_depth_ros.backends")


def shipped_onnx(weights: str | Path, sha: str, samples: int, steps: int) -> tuple[Path, bool]:
    """The graph shipped beside the weights for K/S (it needs no torch to run) and whether it is usable: listed with
    its sha256 in the same manifest, and exported from these weights (``sha``) and this model code."""
    from .base import graph_code_sha, read_metadata, sha256_file

    shipped = Path(weights).parent / f"{Path(weights).stem}_k{samples}_s{steps}.onnx"
    if not shipped.is_file():
        return shipped, False
    import json

    man = Path(weights).parent / "manifest.json"
    listed = json.loads(man.read_text()).get(shipped.name) if man.is_file() else None
    if listed != sha256_file(shipped):  # only a file the manifest lists is whole: its metadata can be read
        return shipped, False
    md = read_metadata(shipped)
    return shipped, md.get("model_sha256") == sha and md.get("graph_sha256") == graph_code_sha()


def cached_onnx(weights: str | Path, sha: str, samples: int, steps: int) -> Path:
    """The exported graph for these weights and K/S, exported once and reused; a corrupt file is rebuilt."""
    from .base import graph_code_sha, read_metadata

    graph = graph_code_sha()
    shipped, usable = shipped_onnx(weights, sha, samples, steps)
    if usable:
        return shipped
    if shipped.is_file():
        log.warning("shipped ONNX %s does not match its manifest, weights or model code; exporting a fresh one",
                    shipped)
    path = cache_dir() / f"pd_{sha[:16]}_{graph[:8]}_k{samples}_s{steps}.onnx"
    if path.exists():
        try:
            md = read_metadata(path)
            if (md.get("model_sha256") == sha and md.get("graph_sha256") == graph
                    and md.get("samples") == str(samples) and md.get("steps") == str(steps)):
                return path
            log.warning("cached ONNX %s does not match the weights or model code; re-exporting", path)
        except Exception as e:  # protobuf decode errors on a truncated file
            log.warning("cached ONNX %s is unreadable (%s); re-exporting", path, e)
        path.unlink(missing_ok=True)
    try:
        from .export import export_onnx  # torch: only when a graph has to be exported
    except ImportError as e:
        raise BackendError(f"no usable ONNX graph for {Path(weights).name} with K={samples} S={steps} (the shipped "
                           f"one is missing, corrupt or from other model code) and exporting one needs torch: {e}") from e
    return export_onnx(weights, path, samples=samples, steps=steps, model_sha=sha)


def ort_providers(available: list[str], prefer_gpu: bool, tensorrt: bool, cache: Path | None = None) -> list:
    """ONNX Runtime's execution providers in order of preference: TensorRT (``tensorrt``; engines cached in ``cache``,
    by default the cache folder's ``ort_trt``, full precision), CUDA (``prefer_gpu``), then the CPU; those this
    onnxruntime lacks are left out."""
    out: list = []
    if tensorrt and "TensorrtExecutionProvider" in available:
        if cache is None:
            cache = cache_dir() / "ort_trt"
        out.append(("TensorrtExecutionProvider", {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
                                                  "trt_timing_cache_enable": True}))
    if (prefer_gpu or tensorrt) and "CUDAExecutionProvider" in available:
        out.append("CUDAExecutionProvider")
    return out + ["CPUExecutionProvider"]


class OnnxRuntimeBackend(Backend):
    def __init__(self, weights: str | Path, sha: str, samples: int, steps: int, prefer_gpu: bool = True,
                 onnx_path: str | Path | None = None, threads: int = 0, tensorrt: bool = False):
        """``tensorrt``: run through ONNX Runtime's TensorRT execution provider when this onnxruntime has it (as the
        Jetson builds do): TensorRT without torch, engines cached per input size."""
        import onnxruntime as ort

        path = Path(onnx_path) if onnx_path else cached_onnx(weights, sha, samples, steps)
        providers = ort_providers(ort.get_available_providers(), prefer_gpu, tensorrt)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # a process restricted to fewer CPUs than the machine has: that many threads, unpinned (usable_cpus)
        threads = threads or int(os.environ.get("PERFECTING_DEPTH_THREADS", "0")) or (usable_cpus() or 0)
        if threads:
            so.intra_op_num_threads = threads
        # idle threads block instead of spinning: on a robot the cores they would burn between frames belong to the
        # rest of the stack (measured here at a camera's pace: 20 % less CPU time per 320x240 frame, latency within
        # noise; saturated, the graph is about 10 % slower: README "Speed")
        so.add_session_config_entry("session.intra_op.allow_spinning", os.environ.get("PERFECTING_DEPTH_SPIN", "0"))
        try:
            self.session = ort.InferenceSession(str(path), so, providers=providers)
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            raise BackendError(f"ONNX Runtime cannot load {path}: {e}") from e
        md = self.session.get_modelmeta().custom_metadata_map
        self.stride = int(md.get("stride", 4))
        self.samples = int(md.get("samples", samples))
        used = self.session.get_providers()[0].replace("ExecutionProvider", "").lower()
        self.name = f"onnxruntime-{used}"
        self.path = path
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.takes_range = RANGE_INPUT in self.input_names

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self.session.run(list(OUTPUT_NAMES), graph_feed(inputs, self.input_names))
        return dict(zip(OUTPUT_NAMES, outs))
