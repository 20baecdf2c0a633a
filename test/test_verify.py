"""The backend check (backends/verify.py, DepthEnhancer(verify=...)): a backend whose graph outputs disagree with the
FP32 reference, ONNX Runtime on the CPU, is replaced by the reference; one that agrees is kept."""

from __future__ import annotations

import numpy as np
import pytest

from perfecting_depth_ros import DepthEnhancer
from perfecting_depth_ros.backends.base import Backend, verify_weights
from perfecting_depth_ros.backends.onnx_backend import OnnxRuntimeBackend
from perfecting_depth_ros.backends.verify import FAR_M, MAX_FAR_SHARE, compare_outputs, needs_verify
from perfecting_depth_ros.enhancer import DEFAULT_WEIGHTS


def _outputs(rng, h=24, w=32):
    return {"final": rng.uniform(-1, 1, (1, 1, h, w)).astype(np.float32),
            "sigma": rng.uniform(0.01, 0.2, (1, 1, h, w)).astype(np.float32),
            "spread": rng.uniform(0.01, 0.2, (1, 1, h, w)).astype(np.float32),
            "gate": rng.uniform(0, 1, (1, 1, h, w)).astype(np.float32)}


def test_compare_outputs_counts_what_differs():
    rng = np.random.default_rng(0)
    ref = _outputs(rng)
    valid = np.ones((24, 32), bool)
    same = compare_outputs(ref, {k: v.copy() for k, v in ref.items()}, 4.0, valid)
    assert same.ok and same.far_share == same.sigma_far_share == same.spread_far_share == same.gate_flips == 0
    assert same.max_diff_m == 0
    # scale 4 m: a normalised unit is 2 m. 8 of 768 pixels moved 0.05 units (10 cm), the rest 0.01 (2 cm)
    got = {k: v.copy() for k, v in ref.items()}
    got["final"] += 0.01
    got["final"][0, 0, 0, :8] += 0.04
    a = compare_outputs(ref, got, 4.0, valid)
    assert a.far_share == pytest.approx(8 / 768) and not a.ok and a.max_diff_m == pytest.approx(0.1, abs=1e-5)
    assert a.median_diff_m == pytest.approx(0.02, abs=1e-5) and "1.042 %" in a.summary()
    # the whole frame shifted by 2 mm: no pixel is far, the median says it
    got = {k: v.copy() for k, v in ref.items()}
    got["final"] += 0.001
    shifted = compare_outputs(ref, got, 4.0, valid)
    assert shifted.far_share == 0 and shifted.median_diff_m == pytest.approx(0.002, abs=1e-5) and not shifted.ok
    # sigma: 10 cm more on a sigma of several metres is not counted, on a sigma of a few cm it is
    got = {k: v.copy() for k, v in ref.items()}
    got["sigma"][0, 0, 0, 0] = ref["sigma"][0, 0, 0, 0] + 0.05  # 0.05 units = 10 cm, sigma <= 0.2 units * 2.8 m
    got["sigma"][0, 0, 1, :] += 0.05
    ref["sigma"][0, 0, 1, :] = 2.0  # 5.7 m: 10 cm is 1.8 % of it
    got["sigma"][0, 0, 1, :] = 2.05
    b = compare_outputs(ref, got, 4.0, valid)
    assert b.sigma_far_share == pytest.approx(1 / 768) and b.far_share == 0 and b.ok == (1 / 768 <= MAX_FAR_SHARE)
    got = {k: v.copy() for k, v in ref.items()}
    got["spread"][0, 0, :2] *= 3  # the samples' spread tripled on 64 pixels (the hole fusion reads it)
    c = compare_outputs(ref, got, 4.0, valid)
    assert c.spread_far_share == pytest.approx(((ref["spread"][0, 0, :2] * 2 * 2 > 0.05).sum()) / 768) and not c.ok
    # the keep gate, counted over valid raw pixels only; a NaN is never within bounds
    got = {k: v.copy() for k, v in ref.items()}
    got["gate"] = 1 - ref["gate"]
    valid[:, 16:] = False
    assert compare_outputs(ref, got, 4.0, valid).gate_flips == pytest.approx(1.0)
    got = {k: v.copy() for k, v in ref.items()}
    got["final"][0, 0, 5, 5] = np.nan
    nan = compare_outputs(ref, got, 4.0, np.ones((24, 32), bool))
    assert not nan.ok and nan.far_share == pytest.approx(1 / 768) and FAR_M < nan.max_diff_m


def test_which_backends_are_checked():
    assert not needs_verify("auto", "onnxruntime-cpu", "fp32")  # the reference itself
    assert not needs_verify("always", "onnxruntime-cpu", "fp32")
    assert needs_verify("auto", "onnxruntime-cpu", "fp16")  # an FP16 graph on a CPU provider
    assert needs_verify("auto", "onnxruntime-cpu", "fp32", supplied=True)  # a backend object of the caller's
    for gpu in ("tensorrt-10.13.0", "onnxruntime-tensorrt", "onnxruntime-cuda", "torch-cuda-graphs"):
        assert needs_verify("auto", gpu, "fp32") and not needs_verify("off", gpu, "fp16")
    assert not needs_verify("auto", "torch-cpu", "fp32") and needs_verify("always", "torch-cpu", "fp32")
    with pytest.raises(ValueError, match="verify must be one of"):
        DepthEnhancer(verify="sometimes")


def test_a_backend_that_agrees_is_kept_and_checked_once_per_size(frame):
    enh = DepthEnhancer(backend="torch", verify="always")
    assert enh.verification.startswith("pending")
    out = enh.enhance(frame.rgb, frame.depth)
    a = enh.agreement
    assert not enh.verification_failed and enh.backend_name == "torch-cpu"
    assert enh.verification.startswith("torch-cpu agrees with onnxruntime-cpu (FP32) at 128x96"), enh.verification
    assert a.ok and a.far_share == 0 and a.gate_flips == 0 and a.max_diff_m < 1e-3
    assert DepthEnhancer(backend="torch").verification.startswith("not checked: a CPU route")  # auto
    plain = DepthEnhancer(backend="torch", verify="off").enhance(frame.rgb, frame.depth)
    np.testing.assert_array_equal(out.depth, plain.depth)  # the backend's own outputs are published
    enh.enhance(frame.rgb, frame.depth)
    assert enh.agreement is a  # once per model input size
    small = (slice(0, 64), slice(0, 96))
    enh.enhance(frame.rgb[small], frame.depth[small])
    assert enh.agreement is not a and "at 96x64" in enh.verification


def test_a_backend_computing_something_else_is_replaced_by_the_reference(frame, tiny_weights, tmp_path, monkeypatch):
    """A backend running another model's graph (a stale engine, a wrong file) returns finite, plausible depth: the
    check finds it on the first frame, and that frame and the next come from the reference, as a plain ONNX Runtime
    enhancer gives them."""
    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    wrong = OnnxRuntimeBackend(tiny_weights, verify_weights(tiny_weights), 4, 2, prefer_gpu=False)
    reference = DepthEnhancer(backend="onnxruntime", verify="off")
    unchecked = DepthEnhancer(backend=wrong, verify="off").enhance(frame.rgb, frame.depth)
    want = reference.enhance(frame.rgb, frame.depth)
    assert np.abs(unchecked.depth - want.depth).max() > 0.05  # the wrong graph really is wrong, and finite
    assert np.isfinite(unchecked.depth).all()
    enh = DepthEnhancer(backend=wrong)  # verify "auto" checks a backend given as an object
    out = enh.enhance(frame.rgb, frame.depth)
    assert enh.verification_failed and enh.verification.startswith("FAILED: onnxruntime-cpu disagrees"), enh.verification
    assert not enh.agreement.ok and enh.backend_name == "onnxruntime-cpu" and enh.backend is not wrong
    np.testing.assert_array_equal(out.depth, want.depth)
    np.testing.assert_array_equal(out.uncertainty, want.uncertainty)
    np.testing.assert_array_equal(enh.enhance(frame.rgb, frame.depth).depth, want.depth)


class LateFault(Backend):
    """A real backend that goes wrong after ``after`` calls (finite, plausible depth a tenth of the frame's scale off):
    a fault the first frame of a size does not show."""

    def __init__(self, inner, after: int):
        self.inner, self.after, self.calls = inner, after, 0
        self.name, self.stride, self.takes_range = "late-fault", inner.stride, inner.takes_range

    def run(self, inputs):
        self.calls += 1
        out = self.inner.run(inputs)
        return out if self.calls <= self.after else {**out, "final": out["final"] + np.float32(0.2)}


def test_verify_period_finds_a_fault_that_appears_later(frame):
    weights = DEFAULT_WEIGHTS
    want = DepthEnhancer(backend="onnxruntime", verify="off").enhance(frame.rgb, frame.depth).depth

    def late(period: float) -> DepthEnhancer:
        inner = OnnxRuntimeBackend(weights, verify_weights(weights), 4, 2, prefer_gpu=False)
        return DepthEnhancer(backend=LateFault(inner, after=1), verify_period=period)

    once = late(0.0)  # the first frame of a size only: the later fault goes through
    np.testing.assert_array_equal(once.enhance(frame.rgb, frame.depth).depth, want)
    assert once.agreement.ok and np.abs(once.enhance(frame.rgb, frame.depth).depth - want).max() > 0.01
    assert not once.verification_failed
    every = late(1e-9)  # checked at every frame
    np.testing.assert_array_equal(every.enhance(frame.rgb, frame.depth).depth, want)
    np.testing.assert_array_equal(every.enhance(frame.rgb, frame.depth).depth, want)  # found, the reference's frame
    assert every.verification_failed and every.backend_name == "onnxruntime-cpu", every.verification
    for bad in (-1.0, float("nan"), float("inf"), True, "5"):
        with pytest.raises(ValueError, match="verify_period"):
            every.verify_period = bad
