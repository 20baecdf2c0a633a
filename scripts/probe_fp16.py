#!/usr/bin/env python3
"""What does running the graph in FP16 (TensorRT's default on a GPU) do to the published depth and sigma?

TensorRT builds its engine in FP16 unless told otherwise (``TensorRTBackend(fp16=True)``): from
``backends.precision.fp16_onnx``'s copy of the graph on TensorRT 11, through ``BuilderFlag.FP16`` on TensorRT 10.
No GPU or TensorRT is needed to see what FP16 costs: ONNX Runtime runs the same FP16 graph on this CPU, every tensor
between two operators rounded to FP16 (its CPU kernels compute in FP32, as TensorRT's FP16 kernels accumulate).
Each candidate below runs through the whole enhancer (hole fusion on, fixed noise) against the FP32 graph:

- per pixel, on the synthetic validation frames of both worlds and the real frames (../shared/data/real): how far the
  published depth and sigma move, and how many raw pixels the keep gate decides otherwise;
- the validation figures of ``scripts/validate_gap.py`` (usual set, both worlds; no test split).

Rule, written before scoring: FP16 with ``FP32_OPS`` and ``FP32_INPUTS`` as shipped (``--fp32-ops A,B`` and
``--fp32-inputs`` try others; an empty value keeps none) is the GPU default if,
against FP32, validation RMSE and artifact MAE move by less than 0.5 % on both worlds, AUROC and +-2 sigma by less
than 0.002, the gap-block hold-out MAE by less than 1 %, and the keep gate decides otherwise on fewer than 0.1 % of
valid raw pixels; else the backends build in FP32 until a set of FP32 operators meets it.

  PYTHONPATH=scripts python scripts/probe_fp16.py [--fp32-ops Sqrt,Div] [--fp32-inputs depth,mask] [--out F.json]
  PYTHONPATH=scripts python scripts/probe_fp16.py --tf32 [--out F.json]   # torch's TF32 convolutions instead

``--tf32`` asks the same of torch on a GPU, whose convolutions run in TF32 by default: every convolution's input
and weights rounded to 10 mantissa bits, summed in FP32 (emulated on this CPU), against torch in FP32.

Outcome (thirty-fourth session; outputs/fp16/probe_final*.json, not shipped; FP32 -> FP16):
- the whole graph in FP16 (``--fp32-inputs ""``; what TensorRT 10's FP16 flag and the backend's earlier conversion
  did): gap-block hold-out 18.92 -> 22.03 mm (+16.4 %), raw-missing MAE +1.9 / +1.6 %, artifact MAE +0.8 / +0.7 %,
  boundary accuracy +1.9 / +3.5 % (world v1 / v2), 6.5-9.0 % of the pixels moved by more than 1 mm: rule failed;
- the geometry of the raw depth kept FP32 (``FP32_INPUTS`` = depth, mask): every validation figure within 0.04 %
  (hold-out 18.924 -> 18.928 mm, RMSE 0.4162 -> 0.4161 / 0.4818 -> 0.4818 m, AUROC and +-2 sigma level), gate
  decided otherwise on 0.004-0.009 % of the raw pixels, 1.0-1.1 % of the pixels moved by more than 1 mm (99.9th
  percentile 4-6 mm): rule met, the default.
- ``--tf32`` (outputs/fp16/probe_tf32.json): every validation figure within 0.02 % of torch in FP32, 0.7-1.4 % of
  the pixels moved by more than 1 mm (99.9th percentile 2.5-5.1 mm): the torch backend leaves TF32 on.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from validate_gap import score, val_frames

from perfecting_depth_ros.backends.base import verify_weights
from perfecting_depth_ros.backends.onnx_backend import OnnxRuntimeBackend, cached_onnx
from perfecting_depth_ros.backends.precision import FP32_INPUTS, FP32_OPS, convert_fp16, folded_onnx
from perfecting_depth_ros.data.real import real_frames
from perfecting_depth_ros.enhancer import DEFAULT_WEIGHTS, KEEP_GATE, DepthEnhancer
from perfecting_depth_ros.evaluate.reference import load_sequence


def enhancer(graph: Path | None) -> DepthEnhancer:
    """The shipped model through ONNX Runtime on this CPU, with ``graph`` (an FP16 copy) in place of the FP32 one."""
    enh = DepthEnhancer("learned", backend="onnxruntime")
    if graph is not None:
        b = enh.backend
        enh.backend = OnnxRuntimeBackend(DEFAULT_WEIGHTS, verify_weights(DEFAULT_WEIGHTS), enh.samples, enh.steps,
                                         prefer_gpu=False, onnx_path=graph)
        assert enh.backend.stride == b.stride
        enh.backend_name = enh.backend.name + "-fp16"
    return enh


def tf32(x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to TF32 (10 mantissa bits, to nearest), kept in FP32: what cuDNN feeds its multipliers."""
    i = x.contiguous().view(torch.int32)
    return ((i + 0x1000) & ~0x1FFF).view(torch.float32)


def tf32_enhancer() -> DepthEnhancer:
    """The shipped model through torch on this CPU with every convolution's input and weights rounded to TF32 and
    summed in FP32: torch's convolutions on an Ampere-or-later GPU (``torch.backends.cudnn.allow_tf32``, on by
    default)."""
    enh = DepthEnhancer("learned", backend="torch")
    run, conv = enh.backend.run, F.conv2d

    def run_tf32(inputs):
        F.conv2d = lambda x, w, *a, **k: conv(tf32(x), tf32(w), *a, **k)
        try:
            return run(inputs)
        finally:
            F.conv2d = conv

    enh.backend.run = run_tf32
    return enh


def frames():
    """(name, rgb, raw, max_range) for every validation frame of both worlds and every real frame."""
    for version in (1, 2):
        for k, (f, raw, max_range) in enumerate(val_frames(version)):
            yield f"val_v{version}_{k}", f.rgb, raw, max_range
    for rf in real_frames():
        yield rf.name, rf.rgb, rf.depth, None


def pixel_diffs(ref: DepthEnhancer, cand: DepthEnhancer) -> dict:
    """How far the candidate's published depth and sigma move from the reference's, per frame group."""
    groups: dict[str, dict[str, list]] = {}
    for name, rgb, raw, max_range in frames():
        a = ref.enhance(rgb, raw, max_range_m=max_range)
        b = cand.enhance(rgb, raw, max_range_m=max_range)
        g = groups.setdefault("real" if not name.startswith("val") else name[:6], {k: [] for k in
                                                                               ("dd", "dsame", "ds", "flip", "valid", "nan")})
        both = np.isfinite(a.depth) & np.isfinite(b.depth)
        flipped = (raw > 0) & ((a.raw_reliability > KEEP_GATE) != (b.raw_reliability > KEEP_GATE))
        g["dd"].append(np.abs(a.depth - b.depth)[both])
        g["dsame"].append(np.abs(a.depth - b.depth)[both & ~flipped])
        g["ds"].append((np.abs(a.uncertainty - b.uncertainty) / a.uncertainty)[both & (a.uncertainty > 0)])
        valid = raw > 0
        g["flip"].append(int(((a.raw_reliability > KEEP_GATE) != (b.raw_reliability > KEEP_GATE))[valid].sum()))
        g["valid"].append(int(valid.sum()))
        g["nan"].append(int((np.isfinite(a.depth) != np.isfinite(b.depth)).sum()))
    out = {}
    for key, g in groups.items():
        dd, ds, dsame = np.concatenate(g["dd"]), np.concatenate(g["ds"]), np.concatenate(g["dsame"])
        out[key] = {"frames": len(g["valid"]), "depth_mm_median": 1e3 * float(np.median(dd)),
                    "depth_mm_p99": 1e3 * float(np.percentile(dd, 99)), "depth_mm_max": 1e3 * float(dd.max()),
                    "depth_mm_p99_9": 1e3 * float(np.percentile(dd, 99.9)),
                    "depth_mm_max_gate_unchanged": 1e3 * float(dsame.max()),
                    "depth_share_moved_1mm": float(np.mean(dd > 1e-3)),
                    "sigma_rel_median": float(np.median(ds)), "sigma_rel_p99": float(np.percentile(ds, 99)),
                    "gate_flips_share": sum(g["flip"]) / max(sum(g["valid"]), 1), "coverage_changed_px": sum(g["nan"])}
    return out


def compare(report: dict, ref: DepthEnhancer, cand: DepthEnhancer, label: str, out_path: str | None) -> None:
    """Fill ``report`` with the pixel differences and both validation scores; print as it goes; write it."""
    report["pixels"] = pixel_diffs(ref, cand)
    print(json.dumps(report, indent=1), flush=True)
    seq = load_sequence()[0]
    for version in (1, 2):
        report[f"val_v{version}"] = {"fp32": score(ref, seq, version), label: score(cand, seq, version)}
        print(json.dumps(report[f"val_v{version}"], indent=1), flush=True)
    if out_path:
        Path(out_path).write_text(json.dumps(report, indent=1) + "\n")


def main(args: list[str]) -> int:
    ops = tuple(x for x in args[args.index("--fp32-ops") + 1].split(",") if x) if "--fp32-ops" in args else FP32_OPS
    ins = (tuple(x for x in args[args.index("--fp32-inputs") + 1].split(",") if x) if "--fp32-inputs" in args
           else FP32_INPUTS)
    out_path = args[args.index("--out") + 1] if "--out" in args else None
    if "--tf32" in args:  # torch with TF32 convolutions against torch in FP32
        compare({"candidate": "tf32 convolutions (torch)"}, DepthEnhancer("learned", backend="torch"), tf32_enhancer(),
                "tf32", out_path)
        return 0
    ref = enhancer(None)
    src = folded_onnx(cached_onnx(DEFAULT_WEIGHTS, verify_weights(DEFAULT_WEIGHTS), ref.samples, ref.steps))
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "graph_fp16.onnx"
        t = time.perf_counter()
        convert_fp16(src, graph, fp32_ops=ops, fp32_inputs=ins)
        report = {"fp32_ops": list(ops), "fp32_inputs": list(ins), "convert_s": round(time.perf_counter() - t, 2)}
        compare(report, ref, enhancer(graph), "fp16", out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
