"""`perfecting-depth info`: what this machine will run, and why, before a robot depends on it.

Prints the package and Python versions, whether the weights match their manifest and the shipped ONNX graph matches
the weights and model code, which inference libraries and GPU routes exist, the backend ``auto`` picks with the
reason it skipped each faster one, whether that backend agrees with ONNX Runtime on the CPU (FP32) on a frame of the
camera's size (the check the node makes at its first frame, ``verify_backend``), and the time of one frame at that
size. Exit code 1 when the learned enhancer cannot be built (the node would fall back to nothing useful) or its
backend fails that check (the node would run on the CPU), else 0.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import time

HEAVY = {"torch": "torch", "tensorrt": "tensorrt"}  # read from the install's metadata: importing takes seconds


def _version(module: str) -> str:
    if module in HEAVY:
        if importlib.util.find_spec(module) is None:
            return "not installed"
        try:
            return importlib.metadata.version(HEAVY[module])
        except importlib.metadata.PackageNotFoundError:  # e.g. TensorRT from the system's packages
            return "installed"
    try:
        m = importlib.import_module(module)
    except ImportError:
        return "not installed"
    except Exception as e:  # a broken install: say so rather than crash the report
        return f"broken ({type(e).__name__}: {e})"
    return str(getattr(m, "__version__", "installed"))


def collect(weights: str | None = None, size: tuple[int, int] = (480, 640), runs: int = 3) -> dict:
    """The report as a dict (see the module docstring)."""
    import numpy as np

    from . import __version__
    from .backends.base import nvidia_device_present, usable_cpus, verify_weights
    from .backends.onnx_backend import shipped_onnx
    from .enhancer import DEFAULT_WEIGHTS, DepthEnhancer

    rep: dict = {"package": __version__, "python": platform.python_version(), "machine": platform.machine(),
                 "cpu_cores": os.cpu_count(), "usable_cpus": usable_cpus() or os.cpu_count(),
                 "nvidia_device": nvidia_device_present(),
                 "ros_distro": os.environ.get("ROS_DISTRO", "") or "(not set)"}
    rep["libraries"] = {m: _version(m) for m in ("numpy", "cv2", "numba", "onnxruntime", "torch", "tensorrt", "rclpy")}
    import cv2

    from .evaluate.baselines import compiled_off, compiled_points

    rep["opencv_ximgproc"] = hasattr(cv2, "ximgproc")  # the hole fusion's filter (OpenCV's contrib module)
    rep["compiled_fill"] = compiled_points() is not None  # its compiled kernel (numba)
    rep["compiled_fill_off"] = compiled_off()
    from .backends.precision import engine_precision

    trt = rep["libraries"]["tensorrt"]
    precision, why = engine_precision(trt if trt[:1].isdigit() else "10")  # the installed TensorRT, else a current one
    rep["tensorrt_precision"] = "FP16, the raw depth's geometry in FP32" if precision != "fp32" else f"FP32 ({why})"
    try:
        import onnxruntime as ort

        rep["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError:
        rep["onnxruntime_providers"] = []
    path = weights or str(DEFAULT_WEIGHTS)
    w = {"path": path}
    try:
        w["sha256"] = verify_weights(path)
        w["verified"] = True
    except Exception as e:  # BackendError / FileNotFoundError: the reason is the report
        w["verified"], w["error"] = False, str(e)
    if w.get("verified"):
        try:  # the same test the ONNX Runtime backend applies before it runs the shipped graph
            graph, usable = shipped_onnx(path, w["sha256"], 4, 2)
            if graph.is_file():
                w["shipped_graph"] = "current" if usable else "stale (re-exported at start)"
        except Exception as e:
            w["shipped_graph"] = f"unreadable ({e})"
    rep["weights"] = w
    try:
        enh = DepthEnhancer(weights=weights)
        backend = {"chosen": enh.backend_name, "skipped": list(getattr(enh.backend, "skipped", [])),
                   "description": enh.description}
        h, wd = size
        rng = np.random.default_rng(0)
        rgb = rng.integers(0, 255, (h, wd, 3)).astype(np.uint8)
        depth = np.full((h, wd), 2.0, np.float32)
        depth[h // 4: h // 2, wd // 4: wd // 2] = 0
        enh.enhance(rgb, depth)  # warm-up: allocations, engine builds; a GPU route is checked against the CPU here
        backend["verification"] = enh.verification
        backend["verification_failed"] = enh.verification_failed
        ms = []
        for _ in range(runs):
            t = time.perf_counter()
            enh.enhance(rgb, depth)
            ms.append((time.perf_counter() - t) * 1e3)
        backend[f"ms_per_frame_{wd}x{h}"] = round(float(np.median(ms)), 1)
        rep["backend"] = backend
    except Exception as e:
        rep["backend"] = {"error": f"{type(e).__name__}: {e}"}
    return rep


def format_report(rep: dict) -> str:
    lines = [f"perfecting_depth_ros {rep['package']}, Python {rep['python']}, {rep['machine']}, {rep['cpu_cores']} "
             f"cores ({rep['usable_cpus']} usable by this process), NVIDIA device: "
             f"{'yes' if rep['nvidia_device'] else 'no'}, ROS_DISTRO {rep['ros_distro']}",
             "libraries: " + ", ".join(f"{k} {v}" for k, v in rep["libraries"].items()),
             "onnxruntime providers: " + (", ".join(rep["onnxruntime_providers"]) or "none"),
             f"TensorRT engines (backend tensorrt): {rep['tensorrt_precision']}",
             "OpenCV contrib ximgproc (guided_fill; the hole fusion and joint_bilateral without numba): "
             + ("yes" if rep["opencv_ximgproc"] else "no" + ("" if rep["compiled_fill"] else
                ": the hole fusion is off; install numba, or opencv-contrib-python-headless or Ubuntu's python3-opencv")),
             "the hole fusion's fill compiled (numba): "
             + ("yes" if rep["compiled_fill"] else "no, turned off (PERFECTING_DEPTH_COMPILED=0)" if rep["compiled_fill_off"]
                else "NO: install numba (pip install numba) for a fill about 20 ms faster a 640x480 frame")]
    w = rep["weights"]
    lines.append(f"weights: {w['path']}: " + ("verified against manifest.json" if w.get("verified")
                                             else f"FAILED: {w.get('error')}"))
    if "shipped_graph" in w:
        lines.append(f"shipped ONNX graph (K=4, S=2): {w['shipped_graph']}")
    b = rep["backend"]
    if "error" in b:
        lines.append(f"learned enhancer: cannot be built: {b['error']}")
    else:
        lines.append(f"backend auto: {b['chosen']} ({b['description']})")
        lines.extend(f"  skipped {s}" for s in b["skipped"])
        lines.append(f"  checked against ONNX Runtime on the CPU: {b['verification']}")
        lines.extend(f"  one frame at {k.split('_')[-1]}: {v} ms (median)" for k, v in b.items() if k.startswith("ms_"))
    return "\n".join(lines)


def main(args) -> int:
    h, w = (int(v) for v in args.size.split("x"))
    rep = collect(args.weights, (h, w), args.runs)
    print(json.dumps(rep, indent=1) if args.json else format_report(rep))
    b = rep["backend"]
    return 1 if "error" in b or b.get("verification_failed") or not rep["weights"].get("verified") else 0
