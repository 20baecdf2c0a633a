"""hole_shape: deep inside raw holes, the learned level with the colorization fill's shape."""

from __future__ import annotations

import numpy as np

from perfecting_depth_ros.evaluate import metrics as M
from perfecting_depth_ros.hole_shape import colour_shape

RAMP = (8.0, 16.0)


def _scene():
    """A 96x128 wall at 2 m, one colour, with a 60x80 raw hole in the middle, and a 'learned' fill of the hole with a
    0.6 m step down its middle that neither the colour nor any measurement backs."""
    depth = np.full((96, 128), 2.0, np.float32)
    hole = np.zeros(depth.shape, bool)
    hole[18:78, 24:104] = True
    raw = np.where(hole, 0.0, depth).astype(np.float32)
    final = depth.copy()
    final[18:78, 64:104] = 2.6
    rgb = np.full(depth.shape + (3,), 120, np.uint8)
    rgb += np.random.default_rng(0).integers(0, 3, rgb.shape, dtype=np.uint8)  # a little texture, no edge
    return rgb, raw, final, hole


def test_an_unbacked_step_deep_in_a_hole_is_smoothed_and_measurements_stay():
    rgb, raw, final, hole = _scene()
    out = colour_shape(final, rgb, raw, raw, 16.0, RAMP)
    assert np.array_equal(out[~hole], final[~hole])  # measurements untouched
    deep = np.zeros_like(hole)
    deep[18 + 17:78 - 17, 24 + 17:104 - 17] = True  # past ramp[1] from every measurement: the shape alone
    edges_before, edges_after = (M.depth_edges(final) & deep).sum(), (M.depth_edges(out) & deep).sum()
    assert edges_before >= 2 * 26 and edges_after == 0, (edges_before, edges_after)  # the step column, 2 px wide
    assert np.isfinite(out).all() and (out > 0).all()


def test_pixels_near_measurements_are_untouched_and_the_level_is_the_learned_one():
    rgb, raw, final, hole = _scene()
    final = np.where(hole, 2.5, raw).astype(np.float32)  # a flat learned fill at another level than the wall
    out = colour_shape(final, rgb, raw, raw, 16.0, RAMP)
    assert np.array_equal(out[18:26, 24:104], final[18:26, 24:104])  # within ramp[0] = 8 px of a measurement
    centre = out[40:56, 56:72]
    assert np.all(np.abs(centre - 2.5) < 0.1), (centre.min(), centre.max())  # the learned level, not the wall's 2 m
    assert not np.array_equal(out, final)


def test_nothing_to_do_returns_the_input():
    rgb, raw, final, hole = _scene()
    full = np.full(raw.shape, 2.0, np.float32)
    assert colour_shape(full, rgb, full, full, 16.0, RAMP) is full  # no hole
    assert colour_shape(final, rgb, raw, np.zeros_like(raw), 16.0, RAMP) is final  # no kept measurement
    small = np.where(hole, 0.0, 2.0).astype(np.float32)
    small[:, :] = 2.0
    small[40:44, 60:64] = 0.0  # a hole 4 px across: no pixel lies past ramp[0]
    assert colour_shape(full, rgb, small, small, 16.0, RAMP) is full
