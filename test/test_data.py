"""Synthetic world and sensor simulator: seeded, sane, and showing the failure modes they model."""

import numpy as np
import pytest

from perfecting_depth_ros.data.sensors import SENSORS, _occlusion_band, random_hole_mask, simulate
from perfecting_depth_ros.data.world import TRANSPARENT, render_random


def test_render_is_seeded_and_sane():
    a, b = render_random(3, 48, 64), render_random(3, 48, 64)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth, b.depth)
    assert a.rgb.dtype == np.uint8 and a.rgb.shape == (48, 64, 3)
    assert np.all(np.isfinite(a.depth)) and 0.1 < a.depth.min() and a.depth.max() < 30
    n = np.linalg.norm(a.normal, axis=2)
    assert np.allclose(n, 1, atol=1e-3)
    assert np.all(a.depth_opaque >= a.depth - 1e-5)
    assert a.rgb.std() > 5  # not flat colours


def test_compiled_renderer_matches_the_numpy_reference():
    """The numba kernels are a faster route to the same frame: geometry exact, colour within a level."""
    for seed in (11, 12, 13):
        ref, fast = render_random(seed, 60, 80, engine="numpy"), render_random(seed, 60, 80, engine="compiled")
        np.testing.assert_array_equal(ref.depth, fast.depth)
        np.testing.assert_array_equal(ref.depth_opaque, fast.depth_opaque)
        np.testing.assert_array_equal(ref.material, fast.material)
        np.testing.assert_allclose(ref.normal, fast.normal, atol=1e-6)
        assert np.abs(ref.rgb.astype(int) - fast.rgb).max() <= 1
        np.testing.assert_allclose(ref.albedo, fast.albedo, atol=1e-5)


def test_fast_choice_draws_like_numpy():
    from perfecting_depth_ros.data.world import _choice

    probs = np.array([0.62, 0.12, 0.12, 0.09, 0.05])
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    assert [_choice(a, probs) for _ in range(500)] == [int(b.choice(5, p=probs)) for _ in range(500)]
    assert a.random() == b.random()  # same generator state afterwards


def test_sensor_models_corrupt_depth(frame, rng):
    for name in SENSORS:
        raw = simulate(frame, name, np.random.default_rng(1))
        assert raw.shape == frame.depth.shape and raw.dtype == np.float32
        valid = raw > 0
        assert 0.3 < valid.mean() < 1.0, name  # some holes, mostly valid
        err = np.abs(raw[valid] - frame.depth[valid])
        assert np.median(err) < 0.05, name  # mostly right


def test_structured_light_quantisation_grows_with_range():
    from perfecting_depth_ros.data.world import Frame

    H, W = 32, 32
    depth = np.tile(np.linspace(0.6, 4.0, W, dtype=np.float32), (H, 1))
    K = np.array([[580.0, 0, 16], [0, 580, 16], [0, 0, 1]], np.float32)
    f = Frame(np.zeros((H, W, 3), np.uint8), depth, depth, np.dstack([np.zeros((H, W, 2)), -np.ones((H, W))]).astype(np.float32),
              np.zeros((H, W), np.uint8), np.full((H, W), 0.5, np.float32), K)
    m = SENSORS["kinect_v1"]
    raw = simulate(f, m._replace(dropout_rate=0.0, misregistration_px=0.0) if hasattr(m, "_replace") else
                   type(m)(**{**m.__dict__, "dropout_rate": 0.0, "misregistration_px": 0.0}), np.random.default_rng(0))
    near, far = np.abs(raw[:, :4] - depth[:, :4]), np.abs(raw[:, -4:] - depth[:, -4:])
    assert far[raw[:, -4:] > 0].mean() > 5 * near[raw[:, :4] > 0].mean()


def test_occlusion_band_appears_left_of_foreground():
    depth = np.full((4, 40), 4.0, np.float32)
    depth[:, 20:30] = 1.0  # a near box
    band = _occlusion_band(depth, 580 * 0.075)
    assert band[:, :20].any() and not band[:, 20:30].any()
    cols = np.where(band[0])[0]
    assert cols.max() < 20


def test_transparent_surfaces_read_the_background(rng):
    for seed in range(40):
        f = render_random(seed, 64, 80)
        glass = f.material == TRANSPARENT
        if glass.sum() > 50:
            break
    else:
        raise AssertionError("no frame with glass in 40 seeds")
    raws = [simulate(f, "realsense_d435", np.random.default_rng(s)) for s in range(6)]
    rel = [np.median((np.abs(r - f.depth_opaque) / f.depth_opaque)[glass & (r > 0)]) for r in raws if (r[glass] > 0).sum() > 10]
    off = [np.median(np.abs(r - f.depth)[glass & (r > 0)]) for r in raws if (r[glass] > 0).sum() > 10]
    assert rel and min(rel) < 0.02  # valid-looking: the surface behind the glass...
    assert max(off) > 0.05  # ...so wrong for the glass itself


def test_hole_masks_cover_a_range(rng):
    cov = [random_hole_mask((64, 80), np.random.default_rng(s)).mean() for s in range(20)]
    assert 0.02 < min(cov) and max(cov) < 0.9 and np.std(cov) > 0.05


def test_hard_weight_repeats_glass_and_mirror_frames_with_fresh_draws():
    """Frames showing glass or a mirror are listed ``hard_weight`` times; each listing draws its own sensor."""
    import pytest

    from perfecting_depth_ros.data.dataset import SyntheticDepthDataset
    from perfecting_depth_ros.data.world import MIRROR

    frames = [render_random(s, 24, 32) for s in range(3)]
    arrays = {k: np.stack([getattr(f, k) for f in frames]) for k in
              ("rgb", "depth", "depth_opaque", "normal", "material", "albedo", "K")}
    arrays["material"][:] = 0
    arrays["material"][1, :4, :4] = TRANSPARENT  # 16 / 768 pixels = 2 %: hard
    arrays["material"][2, 0, 0] = MIRROR  # one pixel: not hard
    plain = SyntheticDepthDataset(arrays, "sensor")
    hard = SyntheticDepthDataset(arrays, "sensor", hard_weight=3)
    assert len(plain) == 3 and list(hard.index) == [0, 1, 2, 1, 1]
    a, b = hard[1], hard[3]
    for item in (a, b):  # the same frame (up to the flip) ...
        gt = item["gt"][0].numpy()
        assert np.array_equal(gt, frames[1].depth) or np.array_equal(gt, frames[1].depth[:, ::-1])
    assert not bool((a["raw"] == b["raw"]).all())  # ... with another sensor draw
    from perfecting_depth_ros.data.sensors import SENSORS

    ranges = {SENSORS[n].max_range_m for n in SENSORS}
    seen = {float(hard[i]["max_range"]) for i in range(len(hard))}
    assert seen <= ranges and len(seen) >= 1  # each item carries its simulated sensor's max range
    for i in range(len(hard)):  # and no raw depth past it
        assert float(hard[i]["raw"].max()) <= float(hard[i]["max_range"])
    assert float(SyntheticDepthDataset(arrays, "masked")[0]["max_range"]) == 0.0  # stage 1: clean depth, no sensor
    with pytest.raises(ValueError, match="hard_weight"):
        SyntheticDepthDataset(arrays, "sensor", hard_weight=0)


def test_texture_aug_changes_the_rgb_and_nothing_the_sensor_saw():
    """texture_aug lays a random pattern over the RGB after the sensor is simulated: raw and truth are the very
    ones the same item has without it; the RGB differs, by a bounded gain."""
    from perfecting_depth_ros.data.dataset import SyntheticDepthDataset, texture_overlay

    frames = [render_random(s, 24, 32) for s in range(2)]
    arrays = {k: np.stack([getattr(f, k) for f in frames]) for k in
              ("rgb", "depth", "depth_opaque", "normal", "material", "albedo", "K")}
    plain = SyntheticDepthDataset(arrays, "sensor", augment=False)
    tex = SyntheticDepthDataset(arrays, "sensor", augment=False, texture_aug=1.0)
    for i in range(2):
        a, b = plain[i], tex[i]
        assert np.array_equal(a["raw"], b["raw"]) and np.array_equal(a["gt"], b["gt"])
        assert not np.array_equal(a["rgb"], b["rgb"])
    for seed in range(6):  # every kind of pattern: a gain of at most +-40 % (a tint of up to ^1.3 on top)
        g = texture_overlay((24, 32), np.random.default_rng(seed))
        assert g.shape == (24, 32, 3) and 0.5 < g.min() and g.max() < 1.6 and g.std() > 0.01


def test_near_aug_scales_the_world_and_leaves_the_picture():
    """near_aug: the same RGB of a world scaled down (truth and glass backgrounds scale together), so that more of
    it falls below the sensor's minimum range and comes back as holes."""
    from perfecting_depth_ros.data.dataset import NEAR_AUG_SCALE, SyntheticDepthDataset, scaled_world
    from perfecting_depth_ros.data.sensors import SENSORS

    f = render_random(3, 48, 64)
    half = scaled_world(f, 0.5)
    np.testing.assert_allclose(half.depth, f.depth * 0.5, rtol=1e-6)
    np.testing.assert_allclose(half.depth_opaque, f.depth_opaque * 0.5, rtol=1e-6)
    assert np.array_equal(half.rgb, f.rgb) and np.array_equal(half.K, f.K)
    frames = [render_random(s, 48, 64) for s in range(4)]
    arrays = {k: np.stack([getattr(fr, k) for fr in frames]) for k in
              ("rgb", "depth", "depth_opaque", "normal", "material", "albedo", "K")}
    plain = SyntheticDepthDataset(arrays, "sensor", augment=False, sensors=("kinect_v1",))
    near = SyntheticDepthDataset(arrays, "sensor", augment=False, sensors=("kinect_v1",), near_aug=1.0)
    lo, hi = NEAR_AUG_SCALE
    below_plain = below_near = 0
    for i in range(4):
        a, b = plain[i], near[i]
        assert np.array_equal(a["rgb"], b["rgb"])
        ratio = (b["gt"][a["gt"] > 0] / a["gt"][a["gt"] > 0]).numpy()
        assert lo - 1e-6 <= ratio.min() and ratio.max() <= hi + 1e-6 and np.ptp(ratio) < 1e-4  # one scale per frame
        below_plain += int((a["gt"] < SENSORS["kinect_v1"].min_range_m).sum())
        below_near += int((b["gt"] < SENSORS["kinect_v1"].min_range_m).sum())
    assert below_near > below_plain


def _write_sequence(root, frames: int = 2):
    """A tiny 7-Scenes-shaped sequence on disk (real files: jpg colour, 16-bit mm png depth, intrinsics, poses)."""
    import json

    import cv2

    from perfecting_depth_ros.evaluate.reference import SEQ

    d = root / SEQ
    (d / "rgb").mkdir(parents=True)
    (d / "depth").mkdir()
    rng = np.random.default_rng(0)
    for i in range(frames):
        cv2.imwrite(str(d / "rgb" / f"{i:06d}.jpg"), rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
        depth = np.full((480, 640), 1500, np.uint16) + np.arange(640, dtype=np.uint16)[None]
        depth[:, :80] = 0  # a sensor hole: never a target
        cv2.imwrite(str(d / "depth" / f"{i:06d}.png"), depth)
    (d / "intrinsics.json").write_text(json.dumps({"fx": 585.0, "fy": 585.0, "cx": 320.0, "cy": 240.0}))
    np.savetxt(d / "poses_cam_to_world.txt", np.tile(np.eye(4).ravel(), (frames, 1)))


def test_real_holdout_target_hides_valid_raw_and_scores_only_it(tmp_path):
    from perfecting_depth_ros.data.dataset import RealReferenceDataset

    _write_sequence(tmp_path)
    ds = RealReferenceDataset(None, range(2), length=6, seed=3, root=tmp_path, target="holdout", hidden=(0.1, 0.3))
    for i in range(len(ds)):
        item = ds[i]
        raw, gt = item["raw"][0].numpy(), item["gt"][0].numpy()
        assert raw.shape == gt.shape == (128, 160)
        hidden = gt > 0
        assert not (hidden & (raw > 0)).any()  # a target pixel is never also an input
        assert np.all((gt[hidden] > 1.4) & (gt[hidden] < 2.2))  # the target is the frame's own raw depth
        source_valid = (raw > 0) | hidden
        assert 0.05 < hidden.sum() / source_valid.sum() < 0.4
        assert float(item["max_range"]) == 4.5  # 7-Scenes: Kinect v1
    full = RealReferenceDataset(None, range(2), length=2, seed=3, root=tmp_path, target="holdout", crop=(240, 320))
    for k in range(2):
        raw, gt = full[k]["raw"][0].numpy(), full[k]["gt"][0].numpy()
        band = slice(0, 39) if raw[:, :39].max() == 0 else slice(281, 320)  # items may come flipped
        assert raw[:, band].max() == 0 and gt[:, band].max() == 0  # the sensor's own hole is never a target
        assert (gt > 0).any()


def test_hflip_false_keeps_every_window_the_right_way_round(tmp_path):
    """hflip=False: synthetic items are the very ones augment=False gives (the same draws, never mirrored), and real
    windows keep the sequence's hole on the left; with flips, some item comes mirrored."""
    from perfecting_depth_ros.data.dataset import RealReferenceDataset, SyntheticDepthDataset

    frames = [render_random(s, 24, 32) for s in range(4)]
    arrays = {k: np.stack([getattr(f, k) for f in frames]) for k in
              ("rgb", "depth", "depth_opaque", "normal", "material", "albedo", "K")}
    plain = SyntheticDepthDataset(arrays, "sensor", augment=False)
    kept = SyntheticDepthDataset(arrays, "sensor", hflip=False)
    flipped = SyntheticDepthDataset(arrays, "sensor")
    for i in range(4):
        for k in ("rgb", "raw", "gt"):
            assert np.array_equal(plain[i][k], kept[i][k])
    assert any(np.array_equal(flipped[i]["gt"][0].numpy(), frames[i].depth[:, ::-1]) for i in range(4))
    _write_sequence(tmp_path)
    ds = RealReferenceDataset(None, range(2), length=6, seed=3, root=tmp_path, target="holdout", crop=(240, 320),
                              hflip=False)
    for i in range(len(ds)):
        raw = ds[i]["raw"][0].numpy()
        assert raw[:, :39].max() == 0 and raw[:, 41:].max() > 0  # the 80 px sensor hole (40 at 320 wide), left


def test_real_dataset_rejects_a_bad_target(tmp_path):
    import pytest

    from perfecting_depth_ros.data.dataset import RealReferenceDataset

    with pytest.raises(ValueError, match="target"):
        RealReferenceDataset(None, range(1), length=1, root=tmp_path, target="fused")
    with pytest.raises(ValueError, match="ref_dir"):
        RealReferenceDataset(None, range(1), length=1, root=tmp_path, target="reference")


def test_world_version_2_frames_panes_and_keeps_version_1():
    from perfecting_depth_ros.data.world import sample_scene

    def framed(prims, k):  # four opaque bars with the pane's yaw, the first two just above and below it
        pane, bars = prims[k], prims[k + 1:k + 5]
        return (len(bars) == 4 and all(b.shape == "box" and b.yaw == pane.yaw and b.material.kind != TRANSPARENT for b in bars)
                and np.allclose([b.center[2] - pane.center[2] for b in bars[:2]],
                                np.array([1, -1]) * (pane.size[2] + bars[0].size[2])))

    count = {1: 0, 2: 0}
    for seed in range(40):
        for version in (1, 2):
            prims = sample_scene(np.random.default_rng(seed), version).primitives
            panes = [k for k, p in enumerate(prims) if p.material.kind == TRANSPARENT and p.shape == "box"
                     and np.isclose(p.size[1], 0.01)]
            count[version] += sum(framed(prims, k) for k in panes)
    assert count[1] == 0 and count[2] >= 3
    with pytest.raises(ValueError, match="version"):
        sample_scene(np.random.default_rng(0), 3)


def test_world_version_2_glass_reflects_more_at_grazing_angles():
    from perfecting_depth_ros.data.world import Camera, _glass_reflection, render, sample_camera, sample_scene

    # same scene, camera and noise: geometry is identical, the colour changes on glass
    for seed in range(200):
        rng = np.random.default_rng(seed)
        scene = sample_scene(rng, 2)
        cam = sample_camera(rng, scene, 60, 80)
        a, b = render(scene, cam, np.random.default_rng(1), version=1), render(scene, cam, np.random.default_rng(1), version=2)
        glass = a.material == TRANSPARENT
        if glass.mean() > 0.05:
            break
    assert glass.mean() > 0.05
    assert np.array_equal(a.depth, b.depth) and np.array_equal(a.material, b.material)
    diff = np.abs(a.rgb.astype(int) - b.rgb.astype(int)).sum(-1)
    assert diff[glass].mean() > 3 * diff[~glass].mean() + 1
    assert isinstance(cam, Camera)
    # Fresnel: two faces reflect about 8 % head-on, and more and more towards grazing incidence
    n = np.tile([0.0, -1.0, 0.0], (4, 1))
    ang = np.radians([0, 45, 75, 88])
    d = np.stack([np.sin(ang), np.cos(ang), np.zeros(4)], 1)
    _, f = _glass_reflection(scene, list(scene.room_materials) + [p.material for p in scene.primitives],
                             np.array([m.kind for m in list(scene.room_materials) + [p.material for p in scene.primitives]]),
                             np.tile((scene.room_lo + scene.room_hi) / 2, (4, 1)), d, n)
    assert abs(f[0] - 0.077) < 0.005 and np.all(np.diff(f) > 0) and f[-1] > 0.5


def test_shards_record_their_world_version(tmp_path):
    from perfecting_depth_ros.data.dataset import load_shards, shard_world_version, write_shards

    write_shards(tmp_path / "v2", "val", 3, 24, 32, progress=False, version=2, shard_size=2)
    assert shard_world_version(tmp_path / "v2", "val") == 2
    assert load_shards(tmp_path / "v2", "val")["depth"].shape == (3, 24, 32)
    assert load_shards(tmp_path / "v2", "val", shards=1)["depth"].shape == (2, 24, 32)  # the first shard only
    np.savez(tmp_path / "val-0000.npz", depth=np.zeros((1, 2, 2)))  # written before versions existed
    assert shard_world_version(tmp_path, "val") == 1
    from perfecting_depth_ros.evaluate.benchmark import synthetic_split

    write_shards(tmp_path / "t2", "test", 1, 24, 32, progress=False, version=2)
    with pytest.raises(ValueError, match="world version 2, asked for 1"):
        next(synthetic_split(str(tmp_path / "t2"), 1, version=1))
    assert next(synthetic_split(str(tmp_path / "t2"), 1, version=2))[2].depth.shape == (24, 32)


def test_shards_from_a_later_start_continue_the_split(tmp_path):
    """write_shards(start=...) renders the split's frames from that index on, named after their place in the split:
    the same frames a longer render from 0 writes there, none of the first ones."""
    from perfecting_depth_ros.data.dataset import load_shards, write_shards

    whole = write_shards(tmp_path / "whole", "train", 4, 24, 32, progress=False, shard_size=2)
    later = write_shards(tmp_path / "later", "train", 2, 24, 32, progress=False, shard_size=2, start=2)
    assert [p.name for p in whole] == ["train-0000.npz", "train-0001.npz"] and [p.name for p in later] == ["train-0001.npz"]
    a, b = load_shards(tmp_path / "whole", "train"), load_shards(tmp_path / "later", "train")
    assert np.array_equal(a["depth"][2:], b["depth"]) and np.array_equal(a["rgb"][2:], b["rgb"])
    assert not np.array_equal(a["depth"][:2], b["depth"])
    with pytest.raises(ValueError, match="multiple of the shard size"):
        write_shards(tmp_path / "odd", "train", 2, 24, 32, progress=False, shard_size=2, start=1)
