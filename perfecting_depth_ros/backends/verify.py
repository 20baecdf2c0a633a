"""Checking a backend's graph outputs against the FP32 reference: ONNX Runtime on the CPU running the same graph.

The GPU routes (TensorRT, ONNX Runtime's TensorRT and CUDA providers, torch on CUDA) and their FP16 or TF32 arithmetic
cannot be run where this package is built and tested, and an engine that computes something else (a TensorRT or
driver release that mis-builds an operator, an FP16 copy that overflows on another GPU) returns finite, plausible
depth: nothing downstream would notice. So the enhancer runs the first frame of each model input size through both the
route it uses and the reference, compares the two here, and where they disagree more than FP16 and TF32 arithmetic
ever made them (``scripts/probe_verify.py``) it runs the reference from then on and says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAR_M = 0.05  # a pixel whose depth differs from the reference's by more than this is counted ...
SIGMA_REL = 0.25  # ... and one whose 1-sigma (or sample spread) differs by more than FAR_M and this share of its own
MAX_FAR_SHARE = 0.001  # allowed share of either (scripts/probe_verify.py: what FP16 and TF32 give, what faults give)
MAX_GATE_FLIPS = 0.002  # allowed share of valid raw pixels the keep gate decides otherwise
MAX_MEDIAN_M = 0.001  # allowed median depth difference: a shift of the whole frame stays below FAR_M on a near scene
VERIFY_MODES = ("auto", "always", "off")


@dataclass(frozen=True)
class Agreement:
    """How far a backend's graph outputs lie from the reference's on one frame (metres at the model's size)."""

    far_share: float  # share of pixels whose depth differs by more than FAR_M
    sigma_far_share: float  # share of pixels whose 1-sigma differs by more than FAR_M and SIGMA_REL of its own
    spread_far_share: float  # the same for the samples' spread (the hole fusion reads it)
    gate_flips: float  # share of valid raw pixels whose keep decision (gate > 0.5) differs
    max_diff_m: float  # largest depth difference
    median_diff_m: float  # median depth difference

    @property
    def ok(self) -> bool:
        """Within the bounds above, which FP16 and TF32 arithmetic keep to; a non-finite output never is."""
        return (bool(np.isfinite(self.max_diff_m)) and self.far_share <= MAX_FAR_SHARE
                and self.sigma_far_share <= MAX_FAR_SHARE and self.spread_far_share <= MAX_FAR_SHARE
                and self.gate_flips <= MAX_GATE_FLIPS
                and self.median_diff_m <= MAX_MEDIAN_M)

    def summary(self) -> str:
        return (f"depth more than {FAR_M * 100:.0f} cm apart at {100 * self.far_share:.3f} % of the pixels, sigma at "
                f"{100 * self.sigma_far_share:.3f} %, spread at {100 * self.spread_far_share:.3f} % (allowed "
                f"{100 * MAX_FAR_SHARE:.1f} % each), the keep gate decided "
                f"otherwise on {100 * self.gate_flips:.3f} % of the raw pixels (allowed {100 * MAX_GATE_FLIPS:.1f} %), "
                f"depth difference median {1000 * self.median_diff_m:.2f} mm (allowed {1000 * MAX_MEDIAN_M:g} mm), "
                f"max {self.max_diff_m:.3f} m")


def compare_outputs(reference: dict[str, np.ndarray], outputs: dict[str, np.ndarray], scale: float,
                    valid: np.ndarray) -> Agreement:
    """Compare two graph runs on the same inputs. ``scale`` is the frame's normalisation scale (a normalised unit
    is ``scale / 2`` metres), ``valid`` the [h, w] mask of raw measurements at the model's size."""
    half = scale / 2.0
    d = np.abs(outputs["final"][0, 0].astype(np.float64) - reference["final"][0, 0]) * half
    d = np.where(np.isfinite(d), d, np.inf)  # NaN counts as far

    def far(key: str, unit: float) -> float:  # a spread-like output: FAR_M apart and SIGMA_REL of the reference's
        ref = reference[key][0, 0].astype(np.float64) * unit
        diff = np.abs(outputs[key][0, 0].astype(np.float64) * unit - ref)
        diff = np.where(np.isfinite(diff), diff, np.inf)
        return float(np.mean((diff > FAR_M) & (diff > SIGMA_REL * ref)))

    flips = (outputs["gate"][0, 0] > 0.5) != (reference["gate"][0, 0] > 0.5)
    n_valid = int(valid.sum())
    return Agreement(far_share=float(np.mean(d > FAR_M)), sigma_far_share=far("sigma", half * np.sqrt(2.0)),
                     spread_far_share=far("spread", half),
                     gate_flips=float(flips[valid].sum() / n_valid) if n_valid else 0.0,
                     max_diff_m=float(d.max()), median_diff_m=float(np.median(d)))


def is_reference(backend_name: str, precision: str) -> bool:
    """Whether a backend (by its ``name`` and ``precision``) is the reference itself: ONNX Runtime on the CPU, FP32."""
    return backend_name == "onnxruntime-cpu" and not precision.startswith("fp16")


def needs_verify(mode: str, backend_name: str, precision: str, supplied: bool = False) -> bool:
    """Whether ``mode`` asks for a backend to be checked against the reference: "auto" the GPU routes, FP16 graphs and
    backends ``supplied`` as objects by the caller; "always" every route but the reference; "off" none."""
    if mode == "off" or (not supplied and is_reference(backend_name, precision)):
        return False
    return mode == "always" or supplied or runs_on_gpu(backend_name) or precision.startswith("fp16")


def runs_on_gpu(backend_name: str) -> bool:
    """Whether a backend (by its ``name``) runs the graph on a GPU: TensorRT, ONNX Runtime's TensorRT or CUDA
    provider, torch on CUDA."""
    return (backend_name.startswith(("tensorrt", "torch-cuda"))
            or backend_name in ("onnxruntime-tensorrt", "onnxruntime-cuda"))
