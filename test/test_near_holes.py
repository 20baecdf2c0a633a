"""near_holes: which rebuilt pixels count as holes below the minimum range, and the cap there."""

from __future__ import annotations

import numpy as np

from perfecting_depth_ros.evaluate.baselines import close_holes
from perfecting_depth_ros.hole_fusion import classical_fill
from perfecting_depth_ros.near_holes import cap_near_holes, near_border_holes, nearest_kept_depth


def _scene():
    """A 60x80 frame: a plane from 0.6 m (bottom rows) to 2.0 m (top); three holes: a band at the bottom border
    (below the minimum range), a blob in the middle, and a patch at the top border beside the far measurements."""
    rows = np.linspace(2.0, 0.6, 60, dtype=np.float32)[:, None]
    depth = np.repeat(rows, 80, axis=1)
    kept = np.ones(depth.shape, bool)
    kept[52:, :] = False  # bottom border band, beside the nearest measurements
    kept[25:32, 30:40] = False  # interior blob
    kept[:4, 60:] = False  # top border patch beside the farthest measurements
    rgb = np.full(depth.shape + (3,), 128, np.uint8)
    return depth, kept, rgb


def test_only_border_holes_beside_the_nearest_measurements_are_selected():
    depth, kept, _ = _scene()
    sel = near_border_holes(kept, np.where(kept, depth, 0), 1.15)
    assert sel[52:, :].all()
    assert not sel[25:32, 30:40].any() and not sel[:4, 60:].any() and not sel[kept].any()
    assert not near_border_holes(kept, np.where(kept, depth, 0), 0.0).any()


def test_nearest_kept_depth_over_the_frame_and_at_chosen_pixels():
    depth, kept, _ = _scene()
    kept_depth = np.where(kept, depth, 0).astype(np.float32)
    full = nearest_kept_depth(kept, kept_depth)
    assert np.array_equal(full[kept], kept_depth[kept])  # a kept pixel is its own nearest
    np.testing.assert_allclose(full[55, :], depth[51, :])  # the bottom band: the last kept row above it
    assert full[26, 35] == depth[24, 35] and full[31, 34] == depth[32, 34]  # the blob: its nearest rim row
    for where in (~kept, np.zeros_like(kept), np.ones_like(kept)):
        assert np.array_equal(nearest_kept_depth(kept, kept_depth, where), full[where])


def test_cap_brings_far_guesses_in_and_leaves_the_rest():
    depth, kept, rgb = _scene()
    kept_depth = np.where(kept, depth, 0).astype(np.float32)
    final = np.where(kept, depth, 5.0).astype(np.float32)  # every hole rebuilt far away
    classical = classical_fill(rgb, kept_depth)
    out = cap_near_holes(final, kept_depth, 1.15, classical)
    assert np.array_equal(out[kept], final[kept])
    assert out[52:, :].max() < 1.0  # the near band now follows the floor's nearest measurements
    assert np.array_equal(out[25:32, 30:40], final[25:32, 30:40]) and np.array_equal(out[:4, 60:], final[:4, 60:])
    near = np.where(kept, depth, 0.3).astype(np.float32)  # a rebuild already nearer than the fill stays
    np.testing.assert_array_equal(cap_near_holes(near, kept_depth, 1.15, classical), near)
    np.testing.assert_array_equal(cap_near_holes(final, kept_depth, 0.0, classical), final)


def test_closing_only_the_pixels_wanted_gives_the_whole_frames_values_there():
    depth, kept, rgb = _scene()
    classical = classical_fill(rgb, np.where(kept, depth, 0).astype(np.float32))
    classical[40:60, :] = np.nan  # a wide open region at the bottom border, beyond the fill's windows
    classical[5:15, 5:15] = np.nan  # another one, far from it
    whole, closed_all = close_holes(classical)
    within = np.zeros(depth.shape, bool)
    within[55:, 10:20] = True
    part, closed = close_holes(classical, within=within)
    assert closed[55:60, 10:20].all() and closed_all[5:15, 5:15].all()  # a 60x80 frame: the box spans it
    np.testing.assert_array_equal(part[55:60, 10:20], whole[55:60, 10:20])
    untouched, none = close_holes(classical, within=~np.isnan(classical))  # only filled pixels met: nothing to close
    assert not none.any() and untouched is classical


def test_closing_a_few_pixels_of_a_wide_border_band_crops_it():
    # a registration border: a band of no depth around the whole frame, one open region; the pixels wanted lie in
    # one corner, and only the box around them (their depth into the band plus the margin) is inpainted
    rng = np.random.default_rng(3)
    H, W = 240, 320
    yy, xx = np.mgrid[0:H, 0:W]
    filled = (1.5 + 0.004 * xx + 0.002 * yy + 0.01 * rng.standard_normal((H, W))).astype(np.float32)
    filled[:, :24] = filled[:, -16:] = filled[:12, :] = filled[-12:, :] = np.nan
    whole, _ = close_holes(filled)
    within = np.zeros((H, W), bool)
    within[-12:, :30] = True
    part, closed = close_holes(filled, within=within)
    need = within & np.isnan(filled)
    np.testing.assert_array_equal(part[need], whole[need])
    assert closed[need].all() and not closed[:12, 200:].any() and np.isnan(part[:12, 200:]).all()
    assert np.isfinite(whole[:12, 200:]).all()
