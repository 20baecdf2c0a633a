"""SensorFootprint: the pixels a stream's sensor never measures, connected to the image border, are left without a
value once enough frames were seen; holes inside the footprint are filled as before."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.data.world import render_random
from perfecting_depth_ros.enhancer import SOURCE_MEASURED, SOURCE_NONE, SOURCE_REBUILT, DepthEnhancer
from perfecting_depth_ros.footprint import SensorFootprint, border_connected

H, W = 96, 128


def hexagon(h: int = H, w: int = W) -> np.ndarray:
    """An Azure Kinect NFOV-like footprint: the image with its four corners cut off."""
    y, x = np.mgrid[:h, :w]
    u, v = np.abs(x - (w - 1) / 2) / (w / 2), np.abs(y - (h - 1) / 2) / (h / 2)
    return u + v < 1.4


def frames(n: int, seed: int = 0):
    """Raw depth inside the hexagon with holes that move from frame to frame (each pixel measured in some frame)."""
    rng = np.random.default_rng(seed)
    inside = hexagon()
    for _ in range(n):
        holes = rng.random((H, W)) < 0.3
        yield np.where(inside & ~holes, rng.uniform(0.5, 4.0, (H, W)), 0).astype(np.float32)


def test_border_connected_keeps_interior_holes():
    m = np.zeros((20, 20), bool)
    m[0:3, 0:3] = True  # at a corner
    m[8:12, 8:12] = True  # inside
    m[15:20, 10] = True  # a thin band reaching the bottom edge
    out = border_connected(m)
    assert out[0:3, 0:3].all() and out[15:20, 10].all()
    assert not out[8:12, 8:12].any()
    assert not border_connected(np.zeros((5, 5), bool)).any()
    assert border_connected(np.ones((5, 5), bool)).all()


def test_footprint_learns_the_sensor_outline_after_its_frames():
    fp = SensorFootprint(5)
    results = [fp.update(raw) for raw in frames(8)]
    assert all(r is None for r in results[:4])
    assert fp.outside is not None and fp.count == 8
    np.testing.assert_array_equal(results[-1], ~hexagon())
    assert not results[-1].flags.writeable


def test_footprint_leaves_holes_inside_and_forgets_border_holes_once_measured():
    inside = hexagon()
    window = np.zeros((H, W), bool)
    window[40:56, 0:10] = True  # a hole at the left edge, inside the footprint: never measured at first
    tv = np.zeros((H, W), bool)
    tv[40:50, 60:70] = True  # a hole in the middle, never measured
    fp = SensorFootprint(3)
    for raw in frames(6, seed=1):
        out = fp.update(np.where(window | tv, 0, raw))
    assert out[window].all() and not out[tv].any()
    np.testing.assert_array_equal(out & ~window, ~inside)
    raw = next(frames(1, seed=2))
    raw[window] = 2.0  # the window measured once
    out = fp.update(raw)
    assert not out[window].any()
    np.testing.assert_array_equal(out, ~inside)


def test_footprint_starts_over_on_a_new_size_and_rejects_bad_input():
    fp = SensorFootprint(2)
    for raw in frames(3):
        fp.update(raw)
    assert fp.outside is not None
    assert fp.update(np.ones((H // 2, W // 2), np.float32)) is None  # another size: counting again
    assert fp.count == 1
    nan = np.full((H, W), np.nan, np.float32)
    nan[10:20, 10:20] = 1.0
    fp.update(nan)
    out = fp.update(nan)  # NaN is not a measurement
    assert out.sum() == H * W - 100
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(ValueError):
            SensorFootprint(bad)
    with pytest.raises(ValueError):
        SensorFootprint(2).update(np.ones((2, 3, 4), np.float32))


def test_footprint_from_several_threads_is_the_union_of_their_frames():
    raws = list(frames(40, seed=3))
    fp = SensorFootprint(40)

    def work(k):
        for raw in raws[k::4]:
            fp.update(raw)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fp.count == 40
    np.testing.assert_array_equal(fp.outside, ~hexagon())


def test_apply_leaves_the_outside_without_a_value_and_keeps_the_rest():
    f = render_random(4, H, W)
    inside = hexagon()
    enh = DepthEnhancer("inpaint_ns")
    fp = SensorFootprint(2)
    K = f.K.astype(np.float32)
    for seed in range(3):
        raw = np.where(inside, simulate(f, "kinect_v1", np.random.default_rng(seed)), 0).astype(np.float32)
        plain = enh.enhance(f.rgb, raw, intrinsics=K)
        before = plain.depth.copy()
        out = fp.apply(raw, enh.enhance(f.rgb, raw, intrinsics=K))
        if seed == 0:
            np.testing.assert_array_equal(out.depth, before)  # one frame: nothing left out yet
    assert np.isfinite(before).all()  # the fill invents depth outside the sensor's outline
    left = fp.outside
    # the outline, and the holes inside it that no frame measured and that open onto it (a window at its edge)
    assert left[~inside].all() and left[inside].mean() < 0.05 and not (left & (raw > 0)).any()
    assert np.isnan(out.depth[left]).all() and np.isnan(out.uncertainty[left]).all()
    assert (out.source[left] == SOURCE_NONE).all() and np.isnan(out.points[left]).all()
    np.testing.assert_array_equal(out.depth[~left], before[~left])  # measured and rebuilt as before
    assert (out.source[raw > 0] == SOURCE_MEASURED).all()
    assert (out.source[~left & (raw <= 0)] == SOURCE_REBUILT).all()
    assert np.isfinite(out.points[~left]).all()
