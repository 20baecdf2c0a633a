"""DepthEnhancer: input checks, classical methods, the learned path on every backend, bad weights."""

import json
import shutil

import cv2
import numpy as np
import pytest

from perfecting_depth_ros import DepthEnhancer
from perfecting_depth_ros.backends import BackendError
from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.edge_side import choose_edge_side
from perfecting_depth_ros.enhancer import (
    LOCAL_FAR_REACH,
    SOURCE_MEASURED,
    STRAY_WINDOW,
    check_inputs,
    clip_to_local,
    local_range,
    model_size_for,
    smooth_rebuilt,
)


def test_check_inputs_rejects_bad_input():
    rgb = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="does not match"):
        check_inputs(rgb, np.zeros((4, 6), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        check_inputs(rgb.astype(np.float32), np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="float"):
        check_inputs(rgb, np.zeros((4, 5), np.uint16))
    with pytest.raises(ValueError, match="non-empty"):
        check_inputs(rgb, np.zeros((0,), np.float32))
    _, d = check_inputs(rgb, np.array([[np.nan, np.inf, -1, 2, 0]] * 4, np.float32))
    assert d.tolist()[0] == [0, 0, 0, 2, 0]


def test_model_size():
    assert model_size_for(480, 640) == (240, 320)
    assert model_size_for(640, 480) == (320, 240)  # a camera on its side: the same scale and cost as upright
    assert model_size_for(424, 512) == (272, 320)
    h, w = model_size_for(100, 90)
    assert h % 16 == 0 and w % 16 == 0


@pytest.mark.parametrize("method", ["guided_fill", "ip_basic", "inpaint_telea", "joint_bilateral", "colorization"])
def test_classical_methods_fill_holes(frame, method):
    raw = simulate(frame, "kinect_v1", np.random.default_rng(0))
    out = DepthEnhancer(method).enhance(frame.rgb, raw, intrinsics=frame.K)
    assert out.depth.shape == raw.shape and out.depth.dtype == np.float32
    assert out.method == f"classical:{method}"
    holes = raw == 0
    raw[:, : raw.shape[1] // 3] = 0  # a hole wider than any local window: dense methods still close it
    out = DepthEnhancer(method).enhance(frame.rgb, raw, intrinsics=frame.K)
    holes = raw == 0
    dense = method in ("guided_fill", "inpaint_telea", "joint_bilateral", "colorization")
    assert np.isfinite(out.depth[holes]).mean() == 1.0 if dense else np.isfinite(out.depth[holes]).mean() > 0.5
    if method == "guided_fill":
        assert np.all(np.isfinite(out.uncertainty[holes]) & (out.uncertainty[holes] > 0))
    valid = raw > 0
    np.testing.assert_allclose(out.depth[valid], raw[valid], rtol=1e-6)  # classical fills keep raw pixels
    assert out.points.shape == raw.shape + (3,)


def test_local_range_is_the_nearest_and_farthest_measurement_in_the_window():
    d = np.zeros((40, 40), np.float32)
    d[10, 10], d[12, 14], d[30, 30] = 1.0, 3.0, 9.0
    lo, hi = local_range(d, 9 / 40)  # a 9-px window
    assert (lo[11, 12], hi[11, 12]) == (1.0, 3.0)  # both of the near measurements reach it
    assert (lo[30, 26], hi[30, 26]) == (9.0, 9.0)
    assert lo[20, 38] == 0 and np.isinf(hi[20, 38])  # no measurement in reach: no bound


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_local_range_matches_a_brute_force_window_search(dtype):
    rng = np.random.default_rng(5)
    d = rng.uniform(0.4, 6.0, (23, 31)).astype(dtype)
    d[rng.random(d.shape) < 0.6] = 0.0
    d[:8, :10] = 0.0  # a region with no measurement in reach
    d[3, 20], d[15, 4], d[20, 25] = np.nan, -1.0, np.nan  # invalid like a hole
    lo, hi = local_range(d, 5 / 31)  # a 5-px window
    assert lo.dtype == hi.dtype == np.float32
    for y in range(d.shape[0]):
        for x in range(d.shape[1]):
            win = d[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3]
            win = win[win > 0]
            if win.size:
                assert (lo[y, x], hi[y, x]) == (np.float32(win.min()), np.float32(win.max()))
            else:
                assert lo[y, x] == 0 and np.isinf(hi[y, x])


def test_clip_to_local_bounds_holes_but_not_those_rebuilt_past_the_reach():
    d = np.zeros((40, 40), np.float32)
    d[:, :20] = 2.0  # measured left half, a hole on the right
    rebuilt = np.full_like(d, 2.5)
    rebuilt[:, 30:] = 4.0  # far from any measurement
    rebuilt[:5, 20:30] = 1.0
    rebuilt[5:10, 20:30] = 0.9 * LOCAL_FAR_REACH * 5.0  # inside the reach of a 5 m sensor
    rebuilt[10:15, 20:30] = 1.1 * LOCAL_FAR_REACH * 5.0  # past it: taken for an out-of-range hole
    out = clip_to_local(rebuilt, d, 9 / 40, reach=5.0)
    np.testing.assert_array_equal(out[:, :20], rebuilt[:, :20])  # measurements untouched
    assert np.all(out[:5, 20:24] == 2.0) and np.all(out[5:10, 20:24] == 2.0)  # clipped up, clipped down
    np.testing.assert_array_equal(out[10:15, 20:30], rebuilt[10:15, 20:30])
    np.testing.assert_array_equal(out[:, 30:], rebuilt[:, 30:])  # no measurement within the window: no bound


def test_smooth_rebuilt_flattens_bumps_in_rebuilt_pixels_only():
    d = np.zeros((40, 40), np.float32)
    d[:, :20] = 2.0 + 0.05 * (np.arange(40) % 2)[:, None]  # kept raw, noisy: left as it is
    kept = d > 0
    composite = np.where(kept, d, 3.0).astype(np.float32)
    composite[20, 30] = 3.6  # a one-pixel bump in the rebuilt half
    for rel in (0.0, 0.3):
        out = smooth_rebuilt(composite, kept, 1.5, rel)
        np.testing.assert_array_equal(out[kept], composite[kept])
        assert abs(out[20, 30] - 3.0) < 0.25 * 0.6  # the bump loses most of its height
        np.testing.assert_allclose(out[3:12, 28:37], 3.0, atol=1e-5)  # flat stays flat
    # at a working size, the filter runs there and its change is upsampled: the same where the image is that size
    np.testing.assert_array_equal(smooth_rebuilt(composite, kept, 1.5, 0.1, work_size=(40, 40)),
                                  smooth_rebuilt(composite, kept, 1.5, 0.1))
    big = cv2.resize(composite, (80, 80), interpolation=cv2.INTER_NEAREST)
    big_kept = cv2.resize(kept.astype(np.uint8), (80, 80), interpolation=cv2.INTER_NEAREST) > 0
    out = smooth_rebuilt(big, big_kept, 1.5, 0.0, work_size=(40, 40))
    np.testing.assert_array_equal(out[big_kept], big[big_kept])
    assert abs(out[40:42, 60:62] - 3.0).max() < 0.6 * 0.6  # the (now 2x2) bump loses much of its height
    # a step between a near object and the background in the rebuilt part survives the edge-preserving filter
    step = np.where(kept, d, np.where(np.arange(40)[None, :] < 30, 1.0, 3.0)).astype(np.float32)
    out = smooth_rebuilt(step, kept, 1.5, 0.1)
    assert out[10, 29] < 1.01 and out[10, 30] > 2.97


def test_smooth_rebuilt_deep_part_flattens_edges_far_from_measurements_only():
    """With deep_px, a step deep inside a hole (no measurement near it) is smoothed away, while one at the hole's
    border, where the bilateral keeps it, stays; kept pixels never change."""
    d = np.zeros((60, 80), np.float32)
    d[:, :10] = 2.0  # kept raw on the left; the rest is a hole
    kept = d > 0
    cols = np.arange(80)[None, :].repeat(60, 0)
    rebuilt = np.where(cols < 50, 1.0, 3.0)  # a rebuilt step 40 px from the nearest measurement
    rebuilt[:, 10:13] = 1.2  # and one right at the border (2.0 kept -> 1.2 rebuilt)
    composite = np.where(kept, d, rebuilt).astype(np.float32)
    plain = smooth_rebuilt(composite, kept, 1.5, 0.1)
    deep = smooth_rebuilt(composite, kept, 1.5, 0.1, deep_from=(8.0, 16.0), deep_px=6.0)
    np.testing.assert_array_equal(deep[kept], composite[kept])
    assert plain[30, 49] < 1.01 and plain[30, 50] > 2.97  # the bilateral alone keeps the deep step
    assert deep[30, 49] > 1.3 and deep[30, 50] < 2.7  # the deep Gaussian spreads it
    np.testing.assert_array_equal(deep[:, 10:17], plain[:, 10:17])  # nearer than d0 = 8 px: untouched
    np.testing.assert_allclose(deep[:, 75:], plain[:, 75:], rtol=1e-4)  # flat, 4 sigma from the step, stays flat


def _edge_scene():
    """A near red object (1 m, columns < 20) in front of a blue wall (3 m); a 4 px hole along the edge whose
    pixels show the wall from column 20 on, all rebuilt at the foreground's depth (the learned fill's lean)."""
    cols = np.arange(40)[None, :].repeat(30, 0)
    truth = np.where(cols < 20, 1.0, 3.0).astype(np.float32)
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[cols < 20] = (200, 30, 30)
    rgb[cols >= 20] = (30, 30, 200)
    raw = truth.copy()
    raw[:, 18:22] = 0
    return truth, rgb, raw, np.where(raw > 0, raw, 1.0).astype(np.float32)


def test_choose_edge_side_moves_rebuilt_pixels_to_the_surface_their_colour_matches():
    truth, rgb, raw, rebuilt = _edge_scene()
    kept = raw > 0
    for replace in ("always", "wrong_side"):
        out = choose_edge_side(rebuilt, raw, kept, rgb, radius=2.0, replace=replace)
        np.testing.assert_array_equal(out[kept], raw[kept])  # measurements never change
        np.testing.assert_allclose(out[:, 18:22], truth[:, 18:22], atol=1e-5)  # each side its own depth: sharp
    # off, or no measurement of a second surface near the hole: nothing changes
    np.testing.assert_array_equal(choose_edge_side(rebuilt, raw, kept, rgb, radius=0.0), rebuilt)
    flat = np.where(kept, 2.0, 1.5).astype(np.float32)
    np.testing.assert_array_equal(choose_edge_side(flat, np.where(kept, 2.0, 0.0), kept, rgb, radius=2.0), flat)
    # a steep slope with a 2 px hole spans more than the ratio, but its window has kept depth in the middle of the
    # span: no step when a gap is asked for (without it, the side choice flattens the hole onto one side)
    cols = np.arange(40, dtype=np.float32)[None, :].repeat(30, 0)
    slope_kept = (cols < 19) | (cols > 20)
    slope_raw = np.where(slope_kept, 1.0 + 0.1 * cols, 0).astype(np.float32)
    guess = np.where(slope_kept, slope_raw, 2.95).astype(np.float32)
    np.testing.assert_array_equal(choose_edge_side(guess, slope_raw, slope_kept, rgb, 2.0, gap=0.25), guess)
    assert not np.array_equal(choose_edge_side(guess, slope_raw, slope_kept, rgb, 2.0), guess)
    with pytest.raises(ValueError, match="replace"):
        choose_edge_side(rebuilt, raw, kept, rgb, radius=2.0, replace="blend")


def test_edge_side_in_the_enhancer_changes_rebuilt_pixels_only(tiny_weights, monkeypatch):
    from perfecting_depth_ros import enhancer as E

    truth, rgb, raw, _ = _edge_scene()
    rgb = cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_NEAREST)
    raw = cv2.resize(raw, (320, 240), interpolation=cv2.INTER_NEAREST)
    enh = DepthEnhancer("learned", weights=tiny_weights, backend="torch", seed=1)
    monkeypatch.setattr(E, "EDGE_SIDE_PX", 0.0)
    off = enh.enhance(rgb, raw)
    monkeypatch.setattr(E, "EDGE_SIDE_PX", 2.0)
    on = enh.enhance(rgb, raw)
    kept = off.raw_reliability > 0.5
    np.testing.assert_array_equal(on.depth[kept], off.depth[kept])
    assert np.isfinite(on.depth).all() and np.isfinite(on.uncertainty).all()


def test_local_window_bounds_rebuilt_holes_and_leaves_raw_pixels(tiny_weights, frame):
    """With local_window, a rebuilt hole pixel lies within the measurements around it, and whatever was clipped
    joins its 1-sigma; raw pixels get exactly what they get without the bound."""
    raw = simulate(frame, "kinect_v1", np.random.default_rng(2))
    raw[20:60, 30:90] = 0  # a hole wider than any sensor's
    off = DepthEnhancer("learned", weights=tiny_weights, backend="torch", seed=1).enhance(frame.rgb, raw)
    on = DepthEnhancer("learned", weights=tiny_weights, backend="torch", seed=1,
                       local_window=0.1).enhance(frame.rgb, raw)
    lo, hi = local_range(raw, 0.1)
    hole = (raw == 0) & np.isfinite(hi)
    past_reach = on.depth > LOCAL_FAR_REACH * raw.max()  # taken for out-of-range holes: no upper bound
    assert np.all((on.depth[hole] >= lo[hole] - 1e-6) & ((on.depth[hole] <= hi[hole] + 1e-6) | past_reach[hole]))
    clipped = np.abs(on.depth - off.depth)
    assert clipped[hole].max() > 0  # the tiny model's rebuild strays somewhere; the bound catches it
    assert np.all(on.uncertainty[hole] >= clipped[hole] - 1e-6)
    # without the bound, a hole rebuilt past the nearby measurements (STRAY_WINDOW) says so in its 1-sigma
    near, far = local_range(raw, STRAY_WINDOW)
    stray = np.where(raw == 0, np.maximum(near - off.depth, 0) + np.maximum(off.depth - far, 0), 0)
    assert stray.max() > 0
    assert np.all(off.uncertainty >= stray - 1e-5)
    valid = raw > 0
    np.testing.assert_array_equal(on.depth[valid], off.depth[valid])
    np.testing.assert_array_equal(on.uncertainty[valid], off.uncertainty[valid])
    with pytest.raises(ValueError, match="local_window"):
        DepthEnhancer("learned", weights=tiny_weights, backend="torch", local_window=2)


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown method"):
        DepthEnhancer("magic")


def test_learned_onnxruntime_matches_torch(tiny_weights, frame, tmp_path, monkeypatch):
    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    raw = simulate(frame, "realsense_d435", np.random.default_rng(0))
    outs = {}
    for backend in ("torch", "onnxruntime"):
        enh = DepthEnhancer("learned", weights=tiny_weights, backend=backend, seed=3)
        outs[backend] = enh.enhance(frame.rgb, raw)
        assert backend in enh.backend_name
    a, b = outs["torch"], outs["onnxruntime"]
    ok = np.isfinite(a.depth)
    assert ok.mean() > 0.95
    np.testing.assert_allclose(a.depth[ok], b.depth[ok], atol=1e-3)  # metres
    np.testing.assert_allclose(a.uncertainty[ok], b.uncertainty[ok], atol=1e-3)
    assert np.all(a.uncertainty[ok] > 0)
    assert set(a.timings) >= {"preprocess_ms", "inference_ms", "postprocess_ms", "total_ms"}


def test_no_writable_home_still_runs_and_exports(tiny_weights, frame, tmp_path, monkeypatch, caplog):
    """A service user without a home, or a read-only one: the shipped graph needs no cache folder, and a graph that
    has to be exported goes to the temporary directory, with a warning; with nowhere to write, a clear error."""
    import logging
    import os
    import tempfile

    from perfecting_depth_ros.backends.base import cache_dir

    blocker = tmp_path / "a_file"
    blocker.write_text("")  # nothing can be created below a file, whoever runs the test
    monkeypatch.delenv("PERFECTING_DEPTH_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(blocker / "home"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    out = DepthEnhancer(backend="onnxruntime").enhance(frame.rgb, simulate(frame, "kinect_v1", np.random.default_rng(0)))
    assert np.isfinite(out.depth).all()
    assert not (tmp_path / "tmp").exists()  # the shipped graph wrote nothing
    raw = simulate(frame, "realsense_d435", np.random.default_rng(1))
    with caplog.at_level(logging.WARNING, logger="perfecting_depth_ros.backends"):
        enh = DepthEnhancer("learned", weights=tiny_weights, backend="onnxruntime")  # exported: needs the cache
    assert np.isfinite(enh.enhance(frame.rgb, raw).depth).any()
    fallback = tmp_path / "tmp" / f"perfecting_depth_ros-{os.getuid()}"
    assert list(fallback.glob("*.onnx")) and "PERFECTING_DEPTH_CACHE" in caplog.text
    monkeypatch.setattr(tempfile, "tempdir", str(blocker / "tmp"))
    with pytest.raises(BackendError, match="PERFECTING_DEPTH_CACHE"):
        cache_dir()


PINNED_RUN = """
import os, sys
import numpy as np
(cpu,) = os.sched_getaffinity(0)
from perfecting_depth_ros import DepthEnhancer
from perfecting_depth_ros.backends.base import usable_cpus
rng = np.random.default_rng(0)
enhancer = DepthEnhancer(backend="onnxruntime")  # kept: its session's threads live as long as it does
out = enhancer.enhance(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8),
                       rng.uniform(0.5, 3, (120, 160)).astype(np.float32))
assert np.isfinite(out.depth).all() and usable_cpus() == 1
for t in os.listdir("/proc/self/task"):
    if os.sched_getaffinity(int(t)) != {cpu}:
        sys.exit(f"thread {t} runs on CPUs {sorted(os.sched_getaffinity(int(t)))}, outside the process's {cpu}")
"""


def test_a_pinned_process_keeps_its_threads_on_its_cpus():
    """A node pinned to some cores (taskset, a launch prefix, a cpuset) must not spread onto the others: ONNX
    Runtime's default thread pool pins its threads across the whole machine unless given a thread count."""
    import os
    import subprocess
    import sys

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs to pin the process to one of them")
    cpu = min(os.sched_getaffinity(0))
    r = subprocess.run([sys.executable, "-c", PINNED_RUN], capture_output=True, text=True, timeout=300,
                       preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))  # started pinned, as by taskset
    assert r.returncode == 0, r.stderr[-2000:]


def test_learned_auto_backend_falls_back_to_cpu(tiny_weights, frame, tmp_path, monkeypatch):
    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    enh = DepthEnhancer("learned", weights=tiny_weights, backend="auto")
    assert enh.backend_name == "onnxruntime-cpu"
    assert any(r.startswith("tensorrt") for r in enh.backend.skipped)


def test_fixed_noise_repeats_the_draw_and_fresh_noise_does_not(tiny_weights, frame):
    """A stream with fixed noise gives the same answer for the same frame (no flicker from the draw); fresh
    noise redraws per frame; a new model input size gets a draw of its own shape."""
    raw = simulate(frame, "kinect_v1", np.random.default_rng(1))
    fixed = DepthEnhancer("learned", weights=tiny_weights, backend="torch", seed=5)
    fresh = DepthEnhancer("learned", weights=tiny_weights, backend="torch", seed=5, noise="fresh")
    a, b = fixed.enhance(frame.rgb, raw), fixed.enhance(frame.rgb, raw)
    np.testing.assert_array_equal(a.spread, b.spread)
    np.testing.assert_array_equal(a.depth, b.depth)
    c, d = fresh.enhance(frame.rgb, raw), fresh.enhance(frame.rgb, raw)
    np.testing.assert_array_equal(a.spread, c.spread)  # same seed: the first draw is the same
    assert not np.array_equal(c.spread, d.spread)
    half = fixed.enhance(frame.rgb[::2, ::2].copy(), raw[::2, ::2].copy())
    assert half.depth.shape == raw[::2, ::2].shape and np.isfinite(half.depth).mean() > 0.95
    # a frame's result does not depend on the sizes of the frames before it
    np.testing.assert_array_equal(fixed.enhance(frame.rgb, raw).depth, a.depth)
    other = DepthEnhancer("learned", weights=tiny_weights, backend="torch", seed=5)
    np.testing.assert_array_equal(other.enhance(frame.rgb[::2, ::2].copy(), raw[::2, ::2].copy()).depth, half.depth)
    with pytest.raises(ValueError, match="noise must be one of"):
        DepthEnhancer("learned", weights=tiny_weights, backend="torch", noise="sometimes")


def test_max_range_is_checked_and_fed_to_models_that_read_it(tiny_weights, frame, tmp_path, monkeypatch):
    """A bad max range is a clear error; models trained with the range input get it (torch and ONNX Runtime
    alike, the range never below the farthest measurement); older models and classical methods ignore it."""
    import torch

    from perfecting_depth_ros.enhancer import range_input
    from perfecting_depth_ros.train.common import load_model, save_checkpoint

    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="max_range_m"):
            DepthEnhancer("guided_fill", max_range_m=bad)
    np.testing.assert_allclose(range_input(4.5, 2.0, 2.0), [[1.0, 2.5]])
    np.testing.assert_array_equal(range_input(None, 2.0, 2.0), [[0.0, 0.0]])
    model, _ = load_model(tiny_weights, overrides={"refiner_range": True})
    with torch.no_grad():
        model.refiner.enc1[0].weight[:, -2:].normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    w = tmp_path / "range.safetensors"
    save_checkpoint(w, model, {})
    raw = simulate(frame, "kinect_v1", np.random.default_rng(2))
    far = float(raw.max())
    outs = {}
    for backend in ("torch", "onnxruntime"):
        enh = DepthEnhancer("learned", weights=w, backend=backend)
        assert enh.backend.takes_range and enh.reads_range
        known, unknown = enh.enhance(frame.rgb, raw, max_range_m=4.5), enh.enhance(frame.rgb, raw)
        assert np.nanmax(np.abs(known.depth - unknown.depth)) > 1e-4  # the range reaches the refiner
        below = enh.enhance(frame.rgb, raw, max_range_m=far / 2)  # a stated range below a measurement is lifted to it
        np.testing.assert_array_equal(below.depth, enh.enhance(frame.rgb, raw, max_range_m=far).depth)
        outs[backend] = known
    np.testing.assert_allclose(outs["torch"].depth, outs["onnxruntime"].depth, atol=1e-3, equal_nan=True)
    old = DepthEnhancer("learned", weights=tiny_weights, backend="onnxruntime")
    assert not old.backend.takes_range and not old.reads_range and not DepthEnhancer("guided_fill").reads_range
    np.testing.assert_array_equal(old.enhance(frame.rgb, raw, max_range_m=4.5).depth, old.enhance(frame.rgb, raw).depth)
    fill = DepthEnhancer("guided_fill", max_range_m=4.5)
    np.testing.assert_array_equal(fill.enhance(frame.rgb, raw).depth, DepthEnhancer("guided_fill").enhance(frame.rgb, raw).depth)


def test_learned_needs_some_valid_depth(tiny_weights, frame):
    enh = DepthEnhancer("learned", weights=tiny_weights, backend="torch")
    with pytest.raises(ValueError, match="valid depth"):
        enh.enhance(frame.rgb, np.zeros(frame.depth.shape, np.float32))


@pytest.mark.parametrize("shape", [(240, 1), (1, 320)])
def test_learned_fills_strips_thinner_than_a_fill_cell(shape):
    """A strip one pixel wide with holes: filled with finite depth, measurements kept
    (the planar fill at camera resolution once raised an OpenCV assertion there)."""
    rng = np.random.default_rng(0)
    depth = rng.uniform(1.0, 2.0, shape).astype(np.float32)
    depth.flat[::3] = np.nan
    out = DepthEnhancer("learned", backend="onnxruntime").enhance(rng.integers(0, 255, (*shape, 3), dtype=np.uint8),
                                                                  depth)
    assert out.depth.shape == shape and np.isfinite(out.depth).all() and (out.depth > 0).all()
    kept = out.source == SOURCE_MEASURED
    np.testing.assert_array_equal(out.depth[kept], depth[kept])


def test_corrupt_or_unlisted_weights_are_rejected(tiny_weights, tmp_path):
    bad = tmp_path / "model.safetensors"
    shutil.copy(tiny_weights, bad)
    with pytest.raises(BackendError, match="manifest"):
        DepthEnhancer("learned", weights=bad, backend="torch")
    (tmp_path / "manifest.json").write_text(json.dumps({"model.safetensors": "0" * 64}))
    with pytest.raises(BackendError, match="sha256 mismatch"):
        DepthEnhancer("learned", weights=bad, backend="torch")
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    from perfecting_depth_ros.backends.base import write_manifest

    write_manifest(bad)  # listed, but truncated: safetensors must refuse it
    with pytest.raises(BackendError, match="cannot read"):
        DepthEnhancer("learned", weights=bad, backend="torch")
    with pytest.raises(BackendError, match="not found"):
        DepthEnhancer("learned", weights=tmp_path / "missing.safetensors", backend="torch")
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"x")
    with pytest.raises(BackendError, match="safetensors"):
        DepthEnhancer("learned", weights=pt, backend="torch")


def test_corrupt_cached_onnx_is_rebuilt(tiny_weights, frame, tmp_path, monkeypatch):
    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    enh = DepthEnhancer("learned", weights=tiny_weights, backend="onnxruntime")
    path = enh.backend.path
    path.write_bytes(b"not an onnx file")
    enh2 = DepthEnhancer("learned", weights=tiny_weights, backend="onnxruntime")
    raw = simulate(frame, "kinect_v1", np.random.default_rng(0))
    assert np.isfinite(enh2.enhance(frame.rgb, raw).depth).any()


def test_hole_detail_adds_only_what_full_resolution_measurements_show():
    from perfecting_depth_ros.enhancer import _hole_detail
    from perfecting_depth_ros.fill import planar_fill

    H, W = 96, 128
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    bowl = 1.0 + 2.0 * ((xx - 60) / W) ** 2 + 1.5 * ((yy - 40) / H) ** 2  # curved: planes fit it only locally
    depth = bowl.copy()
    depth[30:60, 40:80] = 0  # a hole
    low = cv2.resize(depth, (W // 2, H // 2), interpolation=cv2.INTER_NEAREST)
    # a model that learned nothing beyond the fill: its result is the low-resolution fill
    final_low = planar_fill(low, np.full(low.shape, 2.0, np.float32))
    flat = np.where(depth > 0, 2.0, 0).astype(np.float32)
    assert np.abs(_hole_detail(flat, np.where(low > 0, 2.0, 0).astype(np.float32), np.full_like(final_low, 2.0))).max() < 1e-5
    detail = _hole_detail(depth, low, final_low)
    up = cv2.resize(final_low, (W, H), interpolation=cv2.INTER_LINEAR)
    hole = depth == 0
    assert np.all(np.isfinite(detail)) and np.abs(detail[hole]).max() < 0.5
    # next to the hole's border the finer full-resolution windows pull the result towards the measurements
    rim = hole & (cv2.dilate((~hole).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    assert np.abs(up + detail - bowl)[rim].mean() < 0.8 * np.abs(up - bowl)[rim].mean()


def test_rebuilt_depth_stays_within_the_measured_range(frame):
    """Holes far from support are never published as negative or runaway depth: every pixel gets a
    value between half the nearest and twice the farthest measurement."""
    enh = DepthEnhancer(backend="onnxruntime")
    depth = simulate(frame, "kinect_v1", np.random.default_rng(1))
    depth[:, : depth.shape[1] // 2] = 0  # half the frame missing: the model has to extrapolate
    out = enh.enhance(frame.rgb, depth)
    v = depth[depth > 0]
    assert np.isfinite(out.depth).all() and np.isfinite(out.uncertainty).all()
    assert out.depth.min() >= 0.5 * v.min() - 1e-4 and out.depth.max() <= 2.0 * v.max() + 1e-4


def test_sigma_scale_multiplies_the_published_sigma_only(tiny_weights, frame):
    raw = simulate(frame, "kinect_v1", np.random.default_rng(1))
    enh = DepthEnhancer("learned", weights=tiny_weights, backend="torch")
    a = enh.enhance(frame.rgb, raw)
    enh.sigma_scale = 0.4  # a change applies to the next frame
    b = enh.enhance(frame.rgb, raw)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_allclose(b.uncertainty, 0.4 * a.uncertainty, rtol=1e-6)
    for bad in (0, -1.0, float("nan"), float("inf"), 1000.0, True, "2"):
        with pytest.raises(ValueError, match="sigma_scale"):
            DepthEnhancer("raw", sigma_scale=bad)


def test_source_map_says_which_pixels_are_measured_replaced_or_rebuilt(frame):
    from perfecting_depth_ros.enhancer import (
        KEEP_GATE,
        SOURCE_MEASURED,
        SOURCE_NONE,
        SOURCE_REBUILT,
        SOURCE_REPLACED,
    )

    raw = simulate(frame, "kinect_v1", np.random.default_rng(2))
    out = DepthEnhancer(backend="onnxruntime").enhance(frame.rgb, raw)
    valid = raw > 0
    kept = valid & (out.raw_reliability > KEEP_GATE)  # the gate's decision
    assert out.source.dtype == np.uint8 and out.source.shape == raw.shape
    np.testing.assert_array_equal(out.source == SOURCE_MEASURED, kept)
    np.testing.assert_array_equal(out.source == SOURCE_REPLACED, valid & ~kept)
    np.testing.assert_array_equal(out.source == SOURCE_REBUILT, ~valid)
    assert (out.source == SOURCE_REPLACED).any() and (out.source == SOURCE_REBUILT).any()
    assert np.all(out.depth[kept] == raw[kept])
    # a classical fill keeps every measurement; pixels it leaves empty have no source
    raw[:, : raw.shape[1] // 2] = 0
    out = DepthEnhancer("ip_basic").enhance(frame.rgb, raw)
    assert np.all(out.source[raw > 0] == SOURCE_MEASURED)
    np.testing.assert_array_equal(out.source == SOURCE_NONE, ~np.isfinite(out.depth))
    assert (out.source == SOURCE_NONE).any() and (out.source == SOURCE_REBUILT).any()


def test_keep_measurements_publishes_every_measurement_and_doubts_the_suspect_ones(frame):
    """keep_measurements: every valid raw pixel published as measured, exactly; the holes as before; where the
    default replaced a measurement, its 1-sigma grows by the distance to the model's estimate (in quadrature)."""
    from perfecting_depth_ros.enhancer import SOURCE_MEASURED, SOURCE_REBUILT, SOURCE_REPLACED

    raw = simulate(frame, "kinect_v1", np.random.default_rng(2))
    enh = DepthEnhancer(backend="onnxruntime")
    a = enh.enhance(frame.rgb, raw)
    enh.keep_measurements = True  # a change applies to the next frame
    b = enh.enhance(frame.rgb, raw)
    valid = raw > 0
    replaced = a.source == SOURCE_REPLACED
    assert replaced.any()
    np.testing.assert_array_equal(b.depth[valid], raw[valid])
    np.testing.assert_array_equal(b.depth[~valid], a.depth[~valid])
    assert not (b.source == SOURCE_REPLACED).any() and np.all(b.source[valid] == SOURCE_MEASURED)
    np.testing.assert_array_equal(b.source == SOURCE_REBUILT, ~valid)
    np.testing.assert_array_equal(b.uncertainty[~replaced], a.uncertainty[~replaced])
    np.testing.assert_allclose(b.uncertainty[replaced],
                               np.hypot(a.uncertainty[replaced], raw[replaced] - a.depth[replaced]), rtol=1e-5)


def test_beyond_range_sigmas_drops_rebuilt_pixels_that_may_lie_past_the_range(frame):
    """beyond_range_sigmas with a known range: rebuilt pixels whose depth + k sigma passes the range get no value
    (NaN depth and sigma, source 0); every measured pixel and every other rebuilt one is as before; without a range,
    or at 0, nothing changes; values outside [0, 10] are refused."""
    from perfecting_depth_ros.enhancer import SOURCE_NONE, SOURCE_REBUILT

    raw = simulate(frame, "kinect_v1", np.random.default_rng(2))
    enh = DepthEnhancer(backend="onnxruntime")
    r = float(np.percentile(raw[raw > 0], 60))  # a range inside the frame: some rebuilt pixels reach past it
    a = enh.enhance(frame.rgb, raw, max_range_m=r)
    enh.beyond_range_sigmas = 2.0  # a change applies to the next frame
    b = enh.enhance(frame.rgb, raw, max_range_m=r)
    drop = (a.source == SOURCE_REBUILT) & (a.depth + 2 * a.uncertainty > r)
    assert 0 < drop.sum() < (a.source == SOURCE_REBUILT).sum()
    assert np.isnan(b.depth[drop]).all() and np.isnan(b.uncertainty[drop]).all() and (b.source[drop] == SOURCE_NONE).all()
    np.testing.assert_array_equal(b.depth[~drop], a.depth[~drop])
    np.testing.assert_array_equal(b.source[~drop], a.source[~drop])
    np.testing.assert_array_equal(enh.enhance(frame.rgb, raw).depth, DepthEnhancer(backend="onnxruntime").enhance(
        frame.rgb, raw).depth)  # no range known: nothing dropped
    for bad in (-1.0, 11.0, float("nan"), True, "2"):
        with pytest.raises(ValueError, match="beyond_range_sigmas"):
            enh.beyond_range_sigmas = bad


def test_below_range_sigmas_drops_rebuilt_pixels_that_may_lie_inside_the_minimum_range(frame):
    """below_range_sigmas with a known minimum range: rebuilt pixels whose depth - k sigma reaches below it get no
    value (NaN depth and sigma, source 0); every measured pixel and every other rebuilt one is as before; the range
    given to the constructor or per frame; without one, or at 0, nothing changes; bad values are refused."""
    from perfecting_depth_ros.enhancer import SOURCE_NONE, SOURCE_REBUILT

    raw = simulate(frame, "kinect_v1", np.random.default_rng(2))
    enh = DepthEnhancer(backend="onnxruntime")
    r = float(np.percentile(raw[raw > 0], 40))  # a minimum range inside the frame: some rebuilt pixels reach below
    a = enh.enhance(frame.rgb, raw, min_range_m=r)
    enh.below_range_sigmas = 1.0  # a change applies to the next frame
    b = enh.enhance(frame.rgb, raw, min_range_m=r)
    drop = (a.source == SOURCE_REBUILT) & (a.depth - a.uncertainty < r)
    assert 0 < drop.sum() < (a.source == SOURCE_REBUILT).sum()
    assert np.isnan(b.depth[drop]).all() and np.isnan(b.uncertainty[drop]).all() and (b.source[drop] == SOURCE_NONE).all()
    np.testing.assert_array_equal(b.depth[~drop], a.depth[~drop])
    np.testing.assert_array_equal(b.source[~drop], a.source[~drop])
    c = DepthEnhancer(backend="onnxruntime", min_range_m=r, below_range_sigmas=1.0).enhance(frame.rgb, raw)
    np.testing.assert_array_equal(c.depth, b.depth)  # the constructor's range, the same drop
    np.testing.assert_array_equal(enh.enhance(frame.rgb, raw).depth, a.depth)  # no range known: nothing dropped
    for bad in (-1.0, 11.0, float("nan"), True, "1"):
        with pytest.raises(ValueError, match="below_range_sigmas"):
            enh.below_range_sigmas = bad
    for bad in (-0.5, float("inf"), float("nan"), 101.0, "0.5"):
        with pytest.raises(ValueError, match="min_range_m"):
            enh.enhance(frame.rgb, raw, min_range_m=bad)


def test_threads_cap_onnxruntime_torch_and_opencv(tiny_weights, frame):
    import torch

    before = cv2.getNumThreads(), torch.get_num_threads()
    try:
        enh = DepthEnhancer("learned", weights=tiny_weights, backend="onnxruntime", threads=1)
        opts = enh.backend.session.get_session_options()
        assert opts.intra_op_num_threads == 1
        assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"  # idle threads block
        assert cv2.getNumThreads() == 1
        DepthEnhancer("learned", weights=tiny_weights, backend="torch", threads=1)
        assert torch.get_num_threads() == 1
        raw = simulate(frame, "kinect_v1", np.random.default_rng(1))
        a = enh.enhance(frame.rgb, raw)
        b = DepthEnhancer("learned", weights=tiny_weights, backend="onnxruntime").enhance(frame.rgb, raw)
        np.testing.assert_allclose(a.depth, b.depth, rtol=1e-5, atol=1e-5)  # the same result, on fewer cores
    finally:
        cv2.setNumThreads(before[0])
        torch.set_num_threads(before[1])
    for bad in (-1, 1.5, True, "2", 5000):
        with pytest.raises(ValueError, match="threads"):
            DepthEnhancer("raw", threads=bad)


def test_source_shares_count_what_is_published():
    from perfecting_depth_ros import enhancer as E
    from perfecting_depth_ros.enhancer import SOURCE_NAMES, EnhancedDepth, source_shares

    names = {E.SOURCE_NONE: "no_value", E.SOURCE_MEASURED: "measured_kept", E.SOURCE_REPLACED: "measured_replaced",
             E.SOURCE_REBUILT: "rebuilt"}
    assert SOURCE_NAMES == tuple(names[k] for k in range(4))

    depth = np.ones((8, 8), np.float32)
    sigma = np.zeros((8, 8), np.float32)
    source = np.ones((8, 8), np.uint8)
    source[:, 4:] = 3  # right half rebuilt
    source[0, 0] = 2
    sigma[:, 6:] = 1.0  # the right quarter is untrusted
    out = EnhancedDepth(depth, sigma, "learned", "test", source=source)
    assert source_shares(out, step=1) == {"no_value": 0.0, "measured_kept": 31 / 64, "measured_replaced": 1 / 64,
                                          "rebuilt": 0.5}
    assert source_shares(out, depth_max_sigma=0.5, step=1)["no_value"] == 0.25
    assert source_shares(EnhancedDepth(depth, sigma, "raw", "test")) == {}



def test_threads_enhancing_at_once_get_what_one_at_a_time_gets(frame):
    """DepthEnhancer.enhance called from several threads at once (the node's ``workers``): the graph runs one frame at
    a time, the work around it overlaps, and every frame comes out as it does alone (fixed noise)."""
    import threading
    import time

    enh = DepthEnhancer(backend="onnxruntime")
    frames = [(frame.rgb, simulate(frame, sensor, np.random.default_rng(i)))
              for i, sensor in enumerate(["kinect_v1", "realsense_d435", "azure_kinect"] * 2)]
    alone = [enh.enhance(rgb, raw) for rgb, raw in frames]
    inner, lock, state = enh.backend.run, threading.Lock(), {"now": 0, "most": 0}

    def run(inputs):  # how many frames are inside the graph at once
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.02)  # long enough for another thread to try to enter
        try:
            return inner(inputs)
        finally:
            with lock:
                state["now"] -= 1

    enh.backend.run = run
    together: dict[int, object] = {}
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, enh.enhance(*frames[i])))
               for i in range(len(frames))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert state["most"] == 1 and sorted(together) == list(range(len(frames)))
    assert any(out.timings["graph_wait_ms"] > 5 for out in together.values())  # they did queue for the graph
    for i, out in together.items():
        np.testing.assert_array_equal(out.depth, alone[i].depth)
        np.testing.assert_array_equal(out.uncertainty, alone[i].uncertainty)
