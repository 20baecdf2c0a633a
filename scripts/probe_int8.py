#!/usr/bin/env python3
"""Would INT8 convolutions speed the graph up on a CPU? ONNX Runtime's static quantization of the shipped graph's
convolutions (QDQ, per channel, activations uint8, weights int8), calibrated on validation frames, with every node
computed from the raw depth and its mask alone kept FP32 (backends/precision.fed_only_by, as for FP16). Validation
frames only (scripts/validate_gap.py's sets 2 for calibration and 3 for scoring).

  PYTHONPATH=scripts python scripts/probe_int8.py

Outcome (thirty-fifth session, 2-core x86 CPU with AVX512-VNNI, 320x240): the graph 31.6 ms in FP32 against 31.0-31.2
ms with INT8 convolutions (medians, interleaved; two runs), and 6.0 / 6.9 % of the pixels moved by more than 1 cm (99th
percentile 13 / 27 cm; world v1 / v2). No speed to pay for the change: not pursued. (The convolutions are about half of
the graph's time in ONNX Runtime's profile; the rest is normalisation, activations, concatenation and layout
reordering around them.)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from validate_gap import VAL_SETS, val_frames

from perfecting_depth_ros.backends.onnx_backend import OnnxRuntimeBackend
from perfecting_depth_ros.backends.precision import FP32_INPUTS, fed_only_by, folded_onnx
from perfecting_depth_ros.enhancer import DEFAULT_WEIGHTS, DepthEnhancer

CALIBRATION_FRAMES = 12  # per world version, from validation set 2


def calibration_inputs(enh: DepthEnhancer) -> list[dict[str, np.ndarray]]:
    """The graph's inputs for the first CALIBRATION_FRAMES frames of validation set 2, both world versions."""
    seen, run = [], enh.backend.run

    def record(inputs):
        seen.append({k: v.copy() for k, v in inputs.items()})
        return run(inputs)

    enh.backend.run = record
    try:
        for version in (1, 2):
            for i, (f, raw, max_range) in enumerate(val_frames(version, VAL_SETS[2][0])):
                if i == CALIBRATION_FRAMES:
                    break
                enh.enhance(f.rgb, raw, max_range_m=max_range)
    finally:
        enh.backend.run = run
    return seen


def quantize(src: Path, dst: Path, inputs: list[dict[str, np.ndarray]], names: list[str]) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{k: x[k] for k in names} for x in inputs])

        def get_next(self):
            return next(self.it, None)

    keep_fp32 = fed_only_by(onnx.load(str(src)).graph, FP32_INPUTS)
    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                    nodes_to_exclude=keep_fp32)


def main() -> None:
    enh = DepthEnhancer(backend="onnxruntime")
    fp32 = enh.backend
    inputs = calibration_inputs(enh)
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "int8.onnx"
        quantize(folded_onnx(fp32.path), dst, inputs, fp32.input_names)
        int8 = OnnxRuntimeBackend(DEFAULT_WEIGHTS, "int8", enh.samples, enh.steps, onnx_path=dst)
        times: dict[str, list[float]] = {"fp32": [], "int8": []}
        for _ in range(12):  # interleaved, the first two rounds left out
            for name, backend in (("fp32", fp32), ("int8", int8)):
                t = time.perf_counter()
                backend.run(inputs[0])
                times[name].append((time.perf_counter() - t) * 1e3)
        print("graph ms (median): " + ", ".join(f"{k} {np.median(v[2:]):.1f}" for k, v in times.items()), flush=True)
        for version in (1, 2):
            depth = {}
            for name, backend in (("fp32", fp32), ("int8", int8)):
                enh.backend = backend
                depth[name] = [enh.enhance(f.rgb, raw, max_range_m=r).depth
                               for f, raw, r in val_frames(version, VAL_SETS[3][0])]
            moved = np.concatenate([np.abs(a - b).ravel() for a, b in zip(depth["fp32"], depth["int8"])])
            print(f"world {version}: {100 * np.mean(moved > 0.01):.2f} % of pixels moved by > 1 cm, 99th percentile "
                  f"{np.percentile(moved, 99) * 1e3:.1f} mm", flush=True)
        enh.backend = fp32


if __name__ == "__main__":
    main()
