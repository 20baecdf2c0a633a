"""Backend interface, weight verification, and the ``auto`` selection order."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

log = logging.getLogger("perfecting_depth_ros.backends")

INPUT_NAMES = ("rgb", "depth", "mask", "noise")
RANGE_INPUT = "range"  # [1,2]: the sensor's max range (known flag, normalised); only graphs of refiner_range models
OUTPUT_NAMES = ("final", "sigma", "mean", "spread", "gate")


def takes_range(weights: str | Path) -> bool:
    """Whether the model in this checkpoint reads the sensor's max range (graph input ``range``)."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="np") as f:
            md = f.metadata() or {}
        return bool(json.loads(md.get("model_config", "{}")).get("refiner_range", False))
    except Exception as e:  # a corrupt file is reported by the loader with more context
        log.debug("cannot read the model config of %s: %s", weights, e)
        return False


def input_names(with_range: bool) -> tuple[str, ...]:
    return INPUT_NAMES + ((RANGE_INPUT,) if with_range else ())


def graph_feed(inputs: dict[str, np.ndarray], names: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
    """The float32 arrays a graph with these input ``names`` runs on; a missing ``range`` means unknown (zeros)."""
    if RANGE_INPUT in names and RANGE_INPUT not in inputs:
        inputs = {**inputs, RANGE_INPUT: np.zeros((1, 2), np.float32)}
    return {k: np.ascontiguousarray(inputs[k], np.float32) for k in names}


def input_shapes(height: int, width: int, samples: int, stride: int, with_range: bool) -> dict[str, tuple[int, ...]]:
    """Shapes of the graph inputs for one frame of the model size."""
    shapes = {"rgb": (1, 3, height, width), "depth": (1, 1, height, width), "mask": (1, 1, height, width),
              "noise": (1, samples, 1, height // stride, width // stride)}
    if with_range:
        shapes[RANGE_INPUT] = (1, 2)
    return shapes


class BackendError(RuntimeError):
    """A backend cannot be created or cannot run (missing library, GPU, corrupt file...)."""


class Backend:
    """Runs the exported graph: ``run({rgb, depth, mask, noise[, range]}) -> {final, sigma, mean, spread, gate}``.

    ``range`` is read only by graphs whose model takes the sensor's max range (``takes_range``); other
    graphs ignore it, so callers may always pass it."""

    name = "base"
    stride = 4
    takes_range = False
    precision = "fp32"  # "fp16..." where the graph runs its FP16 copy (backends/precision.py)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError


def _cgroup_cpu_quota() -> float | None:
    """CPUs' worth of time this process's cgroup may use (docker --cpus, a Kubernetes limit), or None if unlimited
    or unknown. cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us / cpu.cfs_period_us)."""
    root = Path("/sys/fs/cgroup")
    try:
        rel = next((line.split(":", 2)[2].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
                    if line.startswith("0::")), "/")
    except OSError:
        rel = "/"
    for d in dict.fromkeys((root / rel.lstrip("/"), root)):
        try:
            quota, period = (d / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        except (OSError, ValueError):
            continue
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def usable_cpus() -> int | None:
    """How many CPUs this process may use when that is fewer than the machine has: a CPU set it is pinned to
    (taskset, a launch prefix, docker --cpuset-cpus, isolated cores) or a cgroup CPU quota. None when unrestricted.

    ONNX Runtime's default thread pool sizes itself to the whole machine and pins its threads to cores, moving them
    out of such a set (measured here: a process pinned to CPU 0 got an ONNX Runtime thread pinned to CPU 1; in a
    container's cpuset the pinning fails, with an error per thread); given a thread count it pins nothing."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        allowed = os.cpu_count() or 1
    n = allowed
    quota = _cgroup_cpu_quota()
    if quota is not None:
        n = min(n, max(1, int(quota + 0.5)))
    return n if n < (os.cpu_count() or n) else None


def _cache_candidates() -> list[Path]:
    """Cache folders in order of preference: $PERFECTING_DEPTH_CACHE, else $XDG_CACHE_HOME/perfecting_depth_ros or
    ~/.cache/perfecting_depth_ros; then one in the system's temporary directory."""
    import tempfile

    out = []
    if os.environ.get("PERFECTING_DEPTH_CACHE"):
        out.append(Path(os.environ["PERFECTING_DEPTH_CACHE"]))
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        try:
            out.append((Path(xdg) if xdg else Path.home() / ".cache") / "perfecting_depth_ros")
        except RuntimeError:  # no home directory to be found (Python 3.12+ raises)
            pass
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return out + [Path(tempfile.gettempdir()) / f"perfecting_depth_ros-{uid}"]


def cache_dir() -> Path:
    """Where exported ONNX files and TensorRT engines are cached, created on first use (only when something is
    exported or built: the shipped graph needs none). Where the preferred folder cannot be created or written (a
    read-only home, a service user without one), a folder in the temporary directory, with a warning; BackendError
    if none can be."""
    reasons = []
    for d in _cache_candidates():
        try:
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK | os.X_OK):
                if reasons:
                    log.warning("cache folder %s; set PERFECTING_DEPTH_CACHE to a writable folder to keep exported "
                                "graphs and engines across restarts", "; ".join(reasons + [f"using {d}"]))
                return d
            reasons.append(f"{d} is not writable")
        except OSError as e:
            reasons.append(f"cannot create {d} ({e.strerror or e})")
    raise BackendError(f"no writable cache folder: {'; '.join(reasons)}; set PERFECTING_DEPTH_CACHE")


@functools.lru_cache(maxsize=1)
def graph_code_sha() -> str:
    """sha256 of the model's source files (``model/*.py`` but the package's ``__init__.py``, which builds nothing):
    an exported graph or engine built from other source is stale even for the same weights, so caches and the
    shipped ONNX are keyed by it too."""
    h = hashlib.sha256()
    for p in sorted((Path(__file__).resolve().parent.parent / "model").glob("*.py")):
        if p.name == "__init__.py":
            continue
        h.update(p.name.encode())
        h.update(p.read_bytes().replace(b"\r\n", b"\n"))
    return h.hexdigest()


def read_metadata(path: str | Path) -> dict[str, str]:
    """An ONNX file's metadata (model and graph sha256, K, S, ...), read with the onnx package when it is installed,
    else with ONNX Runtime: neither needs torch, so the robot's run-time path does not either."""
    try:
        import onnx
    except ImportError:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        return dict(sess.get_modelmeta().custom_metadata_map)
    m = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in m.metadata_props}


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(path: str | Path) -> None:
    """Record a weights file's sha256 in ``manifest.json`` beside it."""
    path = Path(path)
    man = path.parent / "manifest.json"
    entries = json.loads(man.read_text()) if man.exists() else {}
    entries[path.name] = sha256_file(path)
    man.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")


def verify_weights(path: str | Path) -> str:
    """Check a safetensors file against ``manifest.json`` beside it; return its sha256.

    Raises BackendError if the file is missing, is not safetensors, is not listed, or does not match.
    """
    path = Path(path)
    if not path.is_file():
        raise BackendError(f"weights not found: {path}")
    if path.suffix != ".safetensors":
        raise BackendError(f"weights must be a .safetensors file (no pickle), got {path.name}")
    man = path.parent / "manifest.json"
    if not man.is_file():
        raise BackendError(f"no manifest.json beside {path}; write one with `perfecting-depth manifest {path}`")
    try:
        expected = json.loads(man.read_text()).get(path.name)
    except json.JSONDecodeError as e:
        raise BackendError(f"corrupt manifest {man}: {e}") from e
    if expected is None:
        raise BackendError(f"{path.name} is not listed in {man}")
    actual = sha256_file(path)
    if actual != expected:
        raise BackendError(f"sha256 mismatch for {path}: manifest {expected[:12]}..., file {actual[:12]}... "
                           "(corrupt or replaced weights)")
    return actual


def nvidia_device_present() -> bool:
    """Whether the system shows an NVIDIA GPU device node (desktop /dev/nvidia0..., Jetson /dev/nvhost-*, /dev/nvgpu):
    a check that costs nothing, so a CPU-only robot does not import torch (~1.5 s, ~300 MB) only to learn that."""
    import glob

    return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/dev/nvhost-*") or os.path.exists("/dev/nvgpu"))


PRECISIONS = ("auto", "fp16", "fp32")


def _onnxruntime(weights, sha: str, samples: int, steps: int, precision: str, **kw) -> Backend:
    """ONNX Runtime; with ``precision`` "fp16" and a GPU provider first in line, on the graph's FP16 copy."""
    import onnxruntime as ort

    from .onnx_backend import OnnxRuntimeBackend, cached_onnx, ort_providers

    first = ort_providers(ort.get_available_providers(), kw.get("prefer_gpu", True), kw.get("tensorrt", False))[0]
    if precision != "fp16" or first == "CPUExecutionProvider":
        return OnnxRuntimeBackend(weights, sha, samples, steps, **kw)
    from .precision import PrecisionError, fp16_onnx

    try:
        half = fp16_onnx(cached_onnx(weights, sha, samples, steps))
    except PrecisionError as e:
        log.warning("running the FP32 graph: %s", e)
        return OnnxRuntimeBackend(weights, sha, samples, steps, **kw)
    b = OnnxRuntimeBackend(weights, sha, samples, steps, onnx_path=half, **kw)
    b.precision = "fp16"
    return b


def create_backend(kind: str, weights: str | Path, samples: int = 4, steps: int = 2, device: str = "cpu",
                   threads: int = 0, precision: str = "auto") -> Backend:
    """Create a backend by name.

    "auto" tries, in order: TensorRT; ONNX Runtime with its TensorRT execution provider; ONNX Runtime with its CUDA
    execution provider; torch on CUDA (CUDA graphs); ONNX Runtime on the CPU; torch on the CPU. It logs what it
    chose and why it skipped the others (also kept in ``backend.skipped``). ``threads`` > 0 caps the CPU threads
    ONNX Runtime (per session) and torch (process-wide) compute with; 0 leaves their defaults.

    ``precision``: "auto" builds TensorRT engines in FP16 (the raw depth's geometry in FP32, backends/precision.py)
    and runs every other route in FP32; "fp32" runs everything in FP32; "fp16" also runs ONNX Runtime's GPU
    providers on the FP16 copy of the graph. The CPU routes and torch always run FP32 (``backend.precision``).
    """
    if kind not in ("auto", "tensorrt", "onnxruntime", "torch"):
        raise ValueError(f"unknown backend {kind!r}: auto | tensorrt | onnxruntime | torch")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: {' | '.join(PRECISIONS)}")
    sha = verify_weights(weights)
    order = (["tensorrt", "onnxruntime-tensorrt", "onnxruntime-cuda", "torch-cuda", "onnxruntime", "torch"]
             if kind == "auto" else [kind])
    reasons = []
    for name in order:
        try:
            if name == "tensorrt":
                from .tensorrt_backend import TensorRTBackend

                b = TensorRTBackend(weights, sha, samples, steps, fp16=precision != "fp32")
            elif name == "onnxruntime-tensorrt":  # TensorRT through onnxruntime (Jetson builds): no torch needed
                import onnxruntime as ort

                if "TensorrtExecutionProvider" not in ort.get_available_providers():
                    raise BackendError("this onnxruntime has no TensorRT execution provider")
                b = _onnxruntime(weights, sha, samples, steps, precision, prefer_gpu=True, threads=threads,
                                 tensorrt=True)
                if not b.name.endswith("tensorrt"):
                    raise BackendError("the TensorRT execution provider did not start")
            elif name == "onnxruntime-cuda":
                import onnxruntime as ort

                if "CUDAExecutionProvider" not in ort.get_available_providers():
                    raise BackendError("this onnxruntime has no CUDA execution provider")
                b = _onnxruntime(weights, sha, samples, steps, precision, prefer_gpu=True, threads=threads)
                if not b.name.endswith("cuda"):
                    raise BackendError("the CUDA execution provider did not start")
            elif name == "torch-cuda":  # TorchBackend refuses "cuda" when torch sees no GPU
                if "torch" not in sys.modules and not nvidia_device_present():
                    raise BackendError("no NVIDIA device (not loading torch to look further)")
                from .torch_backend import TorchBackend

                b = TorchBackend(weights, samples, steps, device="cuda")
            elif name == "onnxruntime":
                b = _onnxruntime(weights, sha, samples, steps, precision, prefer_gpu=(device != "cpu"), threads=threads)
            else:
                from .torch_backend import TorchBackend

                b = TorchBackend(weights, samples, steps, device=device)
                if threads:
                    import torch

                    torch.set_num_threads(threads)
        except (BackendError, ImportError, OSError) as e:
            reasons.append(f"{name}: {e}")
            if kind != "auto":
                raise BackendError(f"backend {name} unavailable: {e}") from e
            continue
        if precision == "fp16" and b.precision == "fp32":
            log.info("precision fp16: %s runs FP32 (FP16 is for TensorRT and ONNX Runtime's GPU providers)", b.name)
        if reasons:
            log.info("backend auto chose %s; skipped %s", b.name, "; ".join(reasons))
        else:
            log.info("backend %s", b.name)
        b.skipped = reasons
        return b
    raise BackendError("no backend available: " + "; ".join(reasons))
