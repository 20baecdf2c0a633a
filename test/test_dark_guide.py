"""A dark colour guide (a dim room, night) brightened before enhancing; normal frames untouched."""

import cv2
import numpy as np
import pytest

from perfecting_depth_ros import DepthEnhancer
from perfecting_depth_ros.dark_guide import (
    BLACK_FILL,
    BLACK_P99,
    BLUR_SIGMA_PX,
    DARK_P99,
    MAX_GAIN,
    TARGET_P99,
    brighten_dark_guide,
    guide_brightness,
)
from perfecting_depth_ros.data.low_light import darken
from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.data.world import render_random


def test_a_guide_as_bright_as_the_training_frames_is_passed_through_untouched():
    bright = 0
    for seed in range(12):
        rgb = render_random(seed, 96, 128).rgb
        out, gain, p99 = brighten_dark_guide(rgb)
        if p99 >= TARGET_P99:
            assert out is rgb and gain == 1.0
            bright += 1
    assert bright >= 3


def test_a_dim_guide_is_brought_up_and_partly_smoothed():
    """Between DARK_P99 and TARGET_P99: multiplied up to the training frames' median brightness, with less of the
    smoothing the nearer it already was."""
    rgb = render_random(3, 96, 128).rgb
    for level in (0.75, 0.5, 0.3):
        dim = darken(rgb, level, np.random.default_rng(0))
        out, gain, p99 = brighten_dark_guide(dim)
        assert DARK_P99 <= p99 < TARGET_P99 and gain == pytest.approx(TARGET_P99 / p99)
        assert guide_brightness(out) == pytest.approx(TARGET_P99, abs=6)
        unsmoothed = np.round(np.minimum(dim.astype(np.float32) * np.float32(gain), 255)).astype(np.uint8)
        w = (TARGET_P99 - p99) / (TARGET_P99 - DARK_P99)  # the smoothing's weight
        change = np.abs(out.astype(int) - unsmoothed.astype(int)).mean()
        full = np.abs(cv2.GaussianBlur(unsmoothed, (5, 5), BLUR_SIGMA_PX).astype(int) - unsmoothed.astype(int)).mean()
        assert change == pytest.approx(w * full, rel=0.15, abs=0.3)


def test_the_brightening_has_no_step_as_the_exposure_drifts():
    """A stream whose auto-exposure drifts across DARK_P99 (the guide dimmed without noise, 99th percentile stepping
    by about one level): neighbouring guides as the model gets them stay as close as the guides themselves, where a
    brightening that started at DARK_P99 jumped by the whole gain (scripts/probe_guide_threshold.py)."""
    rgb = render_random(4, 96, 128).rgb
    guides = [darken(rgb, float(lv), None) for lv in np.geomspace(0.15, 0.5, 40)]
    p99 = [guide_brightness(g) for g in guides]
    assert min(p99) < DARK_P99 < max(p99) < TARGET_P99  # the ladder crosses the old step
    outs = [brighten_dark_guide(g)[0].astype(np.float32) for g in guides]
    jumps = [np.abs(b - a).mean() for a, b in zip(outs, outs[1:])]
    assert max(jumps) < 1.0, max(jumps)  # grey levels, mean over the image


def test_a_dark_guide_is_brought_to_the_target_brightness():
    rgb = render_random(3, 96, 128).rgb
    dark = (rgb.astype(np.float32) * 0.2).astype(np.uint8)  # about a tenth of the light, in gamma units
    out, gain, p99 = brighten_dark_guide(dark)
    assert p99 < DARK_P99 and p99 == pytest.approx(guide_brightness(dark))
    assert gain == pytest.approx(TARGET_P99 / p99) and gain <= MAX_GAIN
    assert out.dtype == np.uint8 and out.shape == dark.shape
    assert guide_brightness(out) == pytest.approx(TARGET_P99, abs=12)  # the Gaussian moves the percentile a little
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() < np.abs(dark.astype(int) - rgb.astype(int)).mean() / 3


def test_a_black_guide_becomes_a_flat_grey():
    """Too dark for the gain (lights off, a covered lens): a flat grey, which the model reads better than black."""
    for black in (np.zeros((48, 64, 3), np.uint8), np.full((48, 64, 3), 3, np.uint8)):
        out, gain, p99 = brighten_dark_guide(black)
        assert p99 < BLACK_P99 and gain == 0.0 and out.shape == black.shape and out.dtype == np.uint8
        assert np.all(out == BLACK_FILL)
    assert brighten_dark_guide(np.full((48, 64, 3), 9, np.uint8))[1] == MAX_GAIN  # just above: brightened


def test_the_enhancer_brightens_a_dark_guide_and_gets_near_its_output_in_the_light():
    """The shipped model on rendered frames at 3 % of the light (scripts/probe_low_light.py's darkening): with the
    guide brightened its depth lies much nearer its depth in the light than without; the gain is reported, and
    brighten_dark_guide=False (settable between frames) leaves the guide as it is."""
    enh = DepthEnhancer()
    near_on, near_off = [], []
    for seed in (3, 4, 5):
        f = render_random(seed, 120, 160)
        raw = simulate(f, "kinect_v1", np.random.default_rng(seed))
        dark = darken(f.rgb, 0.03, np.random.default_rng(seed))
        lit = enh.enhance(f.rgb, raw)
        assert lit.guide_gain == 1.0 and lit.guide_brightness >= DARK_P99
        on = enh.enhance(dark, raw)
        assert on.guide_gain > 2 and on.guide_brightness < DARK_P99
        enh.brighten_dark_guide = False
        off = enh.enhance(dark, raw)
        enh.brighten_dark_guide = True
        assert off.guide_gain == 1.0 and off.guide_brightness == on.guide_brightness
        near_on.append(np.nanmean(np.abs(on.depth - lit.depth)))
        near_off.append(np.nanmean(np.abs(off.depth - lit.depth)))
    assert np.mean(near_on) < 0.6 * np.mean(near_off), (near_on, near_off)


def test_the_classical_fills_take_the_guide_as_it_comes():
    """Brightening was chosen for the learned model; joint bilateral's colour weights would follow the amplified
    noise, so a classical fill reports the guide's brightness and leaves it as it is."""
    f = render_random(3, 96, 128)
    raw = simulate(f, "kinect_v1", np.random.default_rng(0))
    dark = (f.rgb // 8).astype(np.uint8)
    enh = DepthEnhancer("joint_bilateral")
    out = enh.enhance(dark, raw)
    assert out.guide_gain == 1.0 and out.guide_brightness < DARK_P99
    np.testing.assert_array_equal(out.depth, DepthEnhancer("joint_bilateral", brighten_dark_guide=False).enhance(
        dark, raw).depth)


def test_the_file_and_bag_commands_take_the_switch():
    """`perfecting-depth enhance` and `bag` brighten like the node, and --no-brighten-dark-guide turns it off."""
    from perfecting_depth_ros.cli import build_parser
    from perfecting_depth_ros.offline import enhancer_from_args

    for cmd in (["enhance", "--rgb", "a", "--depth", "b", "--out", "c"], ["bag", "in", "out"]):
        assert enhancer_from_args(build_parser().parse_args(cmd)).brighten_dark_guide is True
        assert enhancer_from_args(build_parser().parse_args([*cmd, "--no-brighten-dark-guide"])).brighten_dark_guide is False


def test_darken_records_less_light():
    """The low-light camera: seeded, level 1 untouched, black is zeros, less light a darker image, read noise alone
    not black."""
    rgb = render_random(5, 48, 64).rgb
    assert darken(rgb, 1.0, np.random.default_rng(0)) is rgb
    assert not darken(rgb, "black", np.random.default_rng(0)).any()
    means = [darken(rgb, lv, np.random.default_rng(0)).mean() for lv in (0.3, 0.03, 0.003)]
    assert means[0] > means[1] > means[2] and means[0] < rgb.mean()
    np.testing.assert_array_equal(darken(rgb, 0.03, np.random.default_rng(4)), darken(rgb, 0.03, np.random.default_rng(4)))
    noise = darken(rgb, 0.0, np.random.default_rng(0))
    assert 0 < guide_brightness(noise) < BLACK_P99 * 4


def test_dark_guide_augmentation_gives_what_the_enhancer_would_pass_the_model():
    """Training windows in the dark (dark_guide): the colour as the enhancer brightens it (a flat grey for a black
    guide, a brightened noisy one otherwise), at the window's size; depth and truth are the very ones the same item
    has without it, and dark_guide=0 leaves every item as it was."""
    from perfecting_depth_ros.data import low_light
    from perfecting_depth_ros.data.dataset import SyntheticDepthDataset

    rgb = render_random(6, 64, 80).rgb
    kinds = set()
    for seed in range(16):
        g = low_light.dark_guide(rgb, np.random.default_rng(seed))
        assert g.shape == rgb.shape and g.dtype == np.uint8
        kinds.add("grey" if np.all(g == BLACK_FILL) else "brightened")
        if not np.all(g == BLACK_FILL):
            assert guide_brightness(g) > DARK_P99 / 2  # brought up from the dark, not left at a few levels
    assert kinds == {"grey", "brightened"}
    frames = [render_random(s, 24, 32) for s in range(3)]
    arrays = {k: np.stack([getattr(f, k) for f in frames]) for k in
              ("rgb", "depth", "depth_opaque", "normal", "material", "albedo", "K")}
    plain = SyntheticDepthDataset(arrays, "sensor", augment=False)
    off = SyntheticDepthDataset(arrays, "sensor", augment=False, dark_guide=0.0)
    dark = SyntheticDepthDataset(arrays, "sensor", augment=False, dark_guide=1.0)
    for i in range(3):
        a, b, c = plain[i], off[i], dark[i]
        assert all(np.array_equal(a[k], b[k]) for k in a)
        assert np.array_equal(a["raw"], c["raw"]) and np.array_equal(a["gt"], c["gt"])
        assert not np.array_equal(a["rgb"], c["rgb"])
