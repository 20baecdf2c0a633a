"""Metrics are right on cases with known answers."""

import numpy as np
import pytest

from perfecting_depth_ros.evaluate import metrics as M


def test_depth_errors_known_values():
    gt = np.array([1.0, 2.0, 4.0, 1.0])
    pred = np.array([1.1, 2.0, np.nan, 1.0])
    e = M.depth_errors(pred, gt, np.ones(4, bool))
    assert e["coverage"] == pytest.approx(0.75)
    assert e["mae"] == pytest.approx(0.1 / 3)
    assert e["rmse"] == pytest.approx(np.sqrt(0.01 / 3))
    assert e["d105"] == pytest.approx(2 / 3)


def test_regions_partition():
    gt = np.array([1.0, 1.0, 1.0])
    raw = np.array([0.0, 1.2, 1.01])
    r = M.regions(raw, gt)
    assert r["missing"].tolist() == [True, False, False]
    assert r["wrong"].tolist() == [False, True, False]
    assert r["reliable"].tolist() == [False, False, True]


def test_auroc_and_ause(rng):
    label = rng.random(2000) < 0.3
    assert M.auroc(label.astype(float) + 0.01 * rng.random(2000), label) == pytest.approx(1.0)
    assert abs(M.auroc(rng.random(2000), label) - 0.5) < 0.05
    err = rng.exponential(1, 5000)
    assert M.sparsification(err, err)["ause"] == pytest.approx(0, abs=1e-9)
    rand = M.sparsification(err, rng.random(5000))
    assert rand["ause"] == pytest.approx(rand["ause_random"], rel=0.1)


def test_uncertainty_coverage_of_calibrated_gaussian(rng):
    gt = rng.uniform(1, 3, 20000)
    s = rng.uniform(0.01, 0.1, 20000)
    pred = gt + rng.normal(0, 1, 20000) * s
    u = M.uncertainty_metrics(pred, s, gt, gt)
    assert u["cov1"] == pytest.approx(0.683, abs=0.02) and u["cov2"] == pytest.approx(0.954, abs=0.01)


def test_boundary_errors_prefer_sharp_edges():
    gt = np.ones((40, 40), np.float32)
    gt[:, 20:] = 3.0
    import cv2

    blurred = cv2.GaussianBlur(gt, (0, 0), 4)
    sharp = M.boundary_errors(gt, gt)
    blur = M.boundary_errors(blurred, gt)
    assert sharp["dbe_acc"] == 0 and blur["dbe_acc"] > 1


def test_warp_depth_with_known_motion():
    from perfecting_depth_ros.evaluate.reference import warp_depth

    K = np.array([[100.0, 0, 31.5], [0, 100, 23.5], [0, 0, 1]])
    d = np.full((48, 64), 2.0, np.float32)
    eye = np.eye(4)
    np.testing.assert_allclose(warp_depth(d, K, eye, eye), d)
    fwd = np.eye(4)
    fwd[2, 3] = 0.5  # the second camera is 0.5 m closer to the wall
    w = warp_depth(d, K, eye, fwd)
    assert np.nanmedian(w) == pytest.approx(1.5, abs=1e-5)
    assert np.isnan(w).mean() > 0.2  # a closer camera sees past the warped pixels: holes, never invented depth


def test_frame_change_measures_flicker_and_leaves_out_disocclusions():
    from perfecting_depth_ros.evaluate.reference import frame_change

    K = np.array([[100.0, 0, 31.5], [0, 100, 23.5], [0, 0, 1]])
    eye = np.eye(4)
    d = np.full((48, 64), 2.0, np.float32)
    assert frame_change(d, d, K, eye, eye) == 0.0
    nxt = d + 0.03
    nxt[:, :32] += 0.5  # half the view changes by more than 10 cm: a disocclusion, not flicker
    assert frame_change(d, nxt, K, eye, eye) == pytest.approx(0.03, abs=1e-5)
    left = np.zeros(d.shape, bool)
    left[:, :32] = True
    assert np.isnan(frame_change(d, nxt, K, eye, eye, where=left))


def test_real_holdout_draws_keep_the_first_and_add_independent_ones():
    """The real benchmark's hidden blobs: draw 0 is the mask the benchmark always used (seed 20000 + frame), the
    others differ from it and from each other, each hiding about 10 % of the valid pixels."""
    import numpy as np

    from perfecting_depth_ros.data.real import holdout_mask
    from perfecting_depth_ros.evaluate.benchmark import holdout_draws, real_table

    depth = np.where(np.random.default_rng(0).random((120, 160)) < 0.9, 2.0, 0.0).astype(np.float32)
    masks = holdout_draws(depth, 3, 4)
    assert len(masks) == 4
    assert np.array_equal(masks[0], holdout_mask(depth, np.random.default_rng(20_003)))
    for i in range(4):
        assert not (masks[i] & (depth <= 0)).any() and 0.05 < masks[i].sum() / (depth > 0).sum() < 0.15
        for j in range(i):
            assert not np.array_equal(masks[i], masks[j])
    table = real_table({"f": {"a": {"mae": 0.01, "mae_draws": 0.02, "draws": 4}}})
    assert "10.0 (20.0)" in table and "mean of 4 draws** | **20.0**" in table


def test_real_table_compares_methods_draw_by_draw():
    """With per-draw figures, the real table adds the learned model minus each other method draw by draw (mean over
    the test frames, its standard error, and in how many draws it is lower); without them, nothing is added."""
    from perfecting_depth_ros.evaluate.benchmark import paired_draws, paired_frames, real_table

    res = {"a": {"learned": {"mae": 0.010, "mae_draws": 0.011, "draws": 3, "mae_per_draw": [0.010, 0.011, 0.012]},
                 "ns": {"mae": 0.012, "mae_draws": 0.012, "draws": 3, "mae_per_draw": [0.012, 0.010, 0.014]}},
           "b": {"learned": {"mae": 0.020, "mae_draws": 0.020, "draws": 3, "mae_per_draw": [0.020, 0.020, 0.020]},
                 "ns": {"mae": 0.022, "mae_draws": 0.022, "draws": 3, "mae_per_draw": [0.022, 0.022, 0.022]}}}
    line = paired_draws(list(res.values()), "test frames")  # frames without a use are test frames
    # per draw: learned 15.0, 15.5, 16.0 mm; ns 17.0, 16.0, 18.0 mm: differences -2.0, -0.5, -2.0
    assert "ns -1.5 ± 0.5 mm, lower in 3 of 3" in line
    assert line in real_table(res)
    # frame by frame: learned 11 and 20 mm, ns 12 and 22 mm (means of their draws): -1 and -2 mm, -1.5 on average;
    # the resampled frames' mean difference lies between the two frames' own
    frames = paired_frames(list(res.values()), "test frames")
    assert "ns -1.5 mm (-2.0 to -1.0), lower in 2 of 2" in frames and frames in real_table(res)
    del res["b"]["ns"]["mae_per_draw"]
    assert paired_draws(list(res.values())) == ""
    assert paired_frames(list(res.values())[:1]) == ""  # one frame: nothing to resample


def test_holdout_mask_hole_bias_draws_blobs_toward_raw_holes():
    """hole_bias > 0 puts more of the hidden pixels next to the raw holes, hides the same share of valid pixels and
    never a hole; 0 leaves the draw as it always was."""
    import cv2
    import numpy as np

    from perfecting_depth_ros.data.real import holdout_mask

    depth = np.full((120, 160), 2.0, np.float32)
    depth[:, 70:80] = 0  # a shadow band
    near = cv2.distanceTransform((depth > 0).astype(np.uint8), cv2.DIST_L2, 3) < 5
    share = {}
    for bias in (0.0, 1.5):
        masks = [holdout_mask(depth, np.random.default_rng(s), 0.2, 4.0, bias) for s in range(8)]
        for m in masks:
            assert not (m & (depth <= 0)).any() and 0.15 < m.sum() / (depth > 0).sum() < 0.25
        share[bias] = np.mean([(m & near).sum() / m.sum() for m in masks])
    assert share[1.5] > 1.5 * share[0.0]
    plain = holdout_mask(depth, np.random.default_rng(3), 0.2, 4.0)
    assert np.array_equal(plain, holdout_mask(depth, np.random.default_rng(3), 0.2, 4.0, 0.0))


def test_real_table_reports_the_test_frames_apart_from_trained_on_ones():
    """7-Scenes frames 0-699 were in the self-supervised fine-tune and 700-799 chose checkpoints: the real table marks
    them and gives the mean over the frames neither touched on its own rows."""
    from perfecting_depth_ros.data.real import real_frames, sevenscenes_use
    from perfecting_depth_ros.evaluate.benchmark import real_table

    assert [sevenscenes_use(i) for i in (0, 699, 700, 799, 800, 999)] == ["train", "train", "val", "val", "test", "test"]
    res = {"7scenes_000100": {"a": {"mae": 0.010, "use": "train"}}, "7scenes_000700": {"a": {"mae": 0.020, "use": "val"}},
           "nyu": {"a": {"mae": 0.040, "use": "test"}}, "7scenes_000900": {"a": {"mae": 0.060, "use": "test"}}}
    table = real_table(res)
    assert "| 7scenes_000100 (train) |" in table and "| 7scenes_000700 (val) |" in table and "| nyu |" in table
    assert "| **mean** | **32.5** |" in table and "| **mean, 2 test frames** | **50.0** |" in table
    assert "test frames" not in real_table({"nyu": res["nyu"]})  # nothing to set apart
    for fr in real_frames(sevenscenes_every=100):  # the real data, where this machine has it
        if fr.name.startswith("7scenes_"):
            assert fr.use == sevenscenes_use(int(fr.name.split("_")[1]))
        else:
            assert fr.use == "test"


def test_laplace_nll_is_lowest_at_the_true_spread():
    """The score of the published 1-sigma: exact on a hand case, and lowest when sigma is the errors' true spread."""
    assert M.laplace_nll(np.zeros(3), np.full(3, np.sqrt(2.0))) == pytest.approx(np.log(2.0))
    err = np.random.default_rng(0).laplace(0, 0.05, 50_000)  # Laplace scale 0.05: std 0.05 * sqrt 2
    true = 0.05 * np.sqrt(2.0)
    nll = {f: M.laplace_nll(err, np.full(err.size, f * true)) for f in (0.5, 1.0, 2.0)}
    assert nll[1.0] < nll[0.5] and nll[1.0] < nll[2.0]


def test_bootstrap_ratios_resample_frames_and_take_the_best_classical_fill_each_time():
    from perfecting_depth_ros.evaluate.benchmark import bootstrap_ratios, per_frame_sums, ratios_line
    from perfecting_depth_ros.evaluate.metrics import depth_errors, regions

    rng = np.random.default_rng(0)
    frames, px = 12, 50
    gt = rng.uniform(1, 4, (frames, px))
    raw = np.where(rng.random((frames, px)) < 0.3, 0.0, gt)
    fid = np.repeat(np.arange(frames), px)
    reg = regions(raw.ravel(), gt.ravel())
    noise = rng.normal(0, 1, (frames, px))
    preds = {"learned": gt + 0.05 * noise, "joint_bilateral": gt + 0.1 * noise, "inpaint_ns": gt + 0.2 * noise,
             "raw": raw}
    syn = {n: {"per_frame": per_frame_sums(p.ravel(), gt.ravel(), reg, fid, frames)} for n, p in preds.items()}
    # the pooled sums give depth_errors' own figures
    for n, p in preds.items():
        pf = syn[n]["per_frame"]
        assert np.sqrt(sum(pf["all_sum"]) / sum(pf["all_n"])) == pytest.approx(
            depth_errors(p.ravel(), gt.ravel(), reg["all"])["rmse"])
    r = bootstrap_ratios(syn, draws=200)
    assert r["rmse"]["best"] == "joint_bilateral"  # raw is no classical fill, and it misses pixels
    assert r["rmse"]["ratio"] == pytest.approx(0.5, abs=0.05)
    assert r["rmse"]["lo"] <= r["rmse"]["ratio"] <= r["rmse"]["hi"] and r["rmse"]["hi"] - r["rmse"]["lo"] < 0.2
    # the same errors as the best fill: a ratio of exactly 1 on every resample
    syn["learned"] = {"per_frame": syn["joint_bilateral"]["per_frame"]}
    same = bootstrap_ratios(syn, draws=50)
    assert same["artifact_mae"]["ratio"] == same["artifact_mae"]["lo"] == same["artifact_mae"]["hi"] == 1.0
    assert "RMSE 1.00x (1.00-1.00)" in ratios_line(same) and "12 test frames" in ratios_line(same)
    assert bootstrap_ratios({"learned": syn["learned"]}) == {}  # nothing to compare with
