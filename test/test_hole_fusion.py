"""The hole fusion (hole_fusion.py, train/fusion.py): it learns where the classical fill is right, its numpy forward
is the trained MLP, it only ever changes rebuilt pixels, and bad weights are refused with a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from perfecting_depth_ros.backends.base import BackendError, write_manifest
from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.enhancer import DEFAULT_FUSION, DepthEnhancer
from perfecting_depth_ros.hole_fusion import CLASSICAL_DIAMETERS, FEATURE_NAMES, HoleFusion, classical_fill
from perfecting_depth_ros.train.fusion import FusionConfig, fit

NF = len(FEATURE_NAMES)


def _domain(rng, n: int, scale: float) -> dict[str, np.ndarray]:
    """Columns where the classical fill is exact where feature 1 > 0 and the learned depth is exact elsewhere."""
    x = rng.standard_normal((n, NF)).astype(np.float32)
    x[:, 0] = np.log1p(rng.uniform(0, 8, n))  # all within the reach: the classical fill may take part everywhere
    truth = rng.uniform(0.5, 4, n).astype(np.float32)
    off = (scale * rng.choice([-1, 1], n)).astype(np.float32)
    classical_right = x[:, 1] > 0
    return {"x": x, "truth": truth, "learned": np.where(classical_right, truth + off, truth),
            "classical": np.where(classical_right, truth, truth - off)}


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    domains = {"a": _domain(rng, 20_000, 0.02), "b": _domain(rng, 20_000, 0.3)}
    cfg = FusionConfig(steps=400, batch_size=2048, hidden=8, reach_px=16.0, l2_weight=1.0)
    params, report = fit(domains, cfg)
    return domains, params, report


def test_fit_learns_where_each_depth_is_right_and_numpy_runs_the_trained_mlp(fitted):
    domains, params, report = fitted
    fusion = HoleFusion(params)
    for name, d in domains.items():
        r = report[name]
        assert r["mae_fused_m"] < 0.3 * min(r["mae_learned_m"], r["mae_classical_m"]), r
        w = fusion.weight(d["x"])
        fused = w * d["learned"] + (1 - w) * d["classical"]
        assert np.mean(np.abs(fused - d["truth"])) == pytest.approx(r["mae_fused_m"], rel=1e-3)


def test_the_mlp_matches_a_float64_reference_and_leaves_its_input_alone():
    fusion = HoleFusion.load(DEFAULT_FUSION)
    p = {k: v.astype(np.float64) for k, v in fusion.p.items()}
    rng = np.random.default_rng(3)
    x = np.asfortranarray((rng.standard_normal((5000, fusion.n_features)) * p["std"] + p["mean"]).astype(np.float32))
    x[:, 0] = np.abs(x[:, 0])
    before = x.copy()

    def gelu(v):
        return 0.5 * v * (1 + np.tanh(0.7978845608 * (v + 0.044715 * v ** 3)))

    h = (x.astype(np.float64) - p["mean"]) / p["std"]
    h = gelu(h @ p["l0.weight"].T + p["l0.bias"])
    h = gelu(h @ p["l1.weight"].T + p["l1.bias"])
    w = 1 / (1 + np.exp(-(h @ p["l2.weight"].T + p["l2.bias"])[:, 0]))
    ref = 1 - (1 - w) * np.clip(2 - np.expm1(x[:, 0].astype(np.float64)) / p["reach"][0], 0, 1)
    got = fusion.weight(x)
    assert got.dtype == np.float32 and np.abs(got - ref).max() < 1e-5
    assert np.array_equal(x, before)  # a column-major input is not normalised in place


def test_classical_fill_fades_out_past_the_reach(fitted):
    _, params, _ = fitted
    fusion = HoleFusion(params)
    x = np.zeros((3, NF), np.float32)
    x[:, 1] = 3.0  # where the fit trusts the classical fill
    x[:, 0] = np.log1p([4.0, 24.0, 40.0])  # inside the reach, halfway out, past twice the reach (16 px)
    w = fusion.weight(x)
    assert w[0] < 0.2 and w[0] < w[1] < 1.0 and w[2] == 1.0


def test_fuse_changes_rebuilt_pixels_only(fitted, frame):
    _, params, _ = fitted
    raw = simulate(frame, "kinect_v1", np.random.default_rng(1))
    rebuilt = np.where(raw > 0, raw, float(np.median(raw[raw > 0])) + 0.3).astype(np.float32)
    out = HoleFusion(params).fuse(frame.rgb, raw, rebuilt, np.full_like(raw, 0.05), np.full_like(raw, 0.02))
    kept = raw > 0
    assert np.array_equal(out[kept], rebuilt[kept])
    assert np.isfinite(out).all() and (out[~kept] != rebuilt[~kept]).any()


def test_bad_fusion_weights_are_refused(fitted, tiny_weights, tmp_path):
    _, params, _ = fitted
    with pytest.raises(ValueError, match="lack"):
        HoleFusion({k: v for k, v in params.items() if k != "reach"})
    with pytest.raises(ValueError, match="features"):
        HoleFusion({**params, "mean": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="corrupt"):
        HoleFusion({**params, "l1.weight": np.full_like(params["l1.weight"], np.nan)})
    with pytest.raises(ValueError, match="corrupt"):
        HoleFusion({**params, "reach": np.zeros(1, np.float32)})
    path = tmp_path / "fusion.safetensors"
    save_file(params, str(path))
    with pytest.raises(BackendError, match="manifest"):  # not listed beside it
        DepthEnhancer("learned", weights=tiny_weights, backend="torch", fusion=path)
    path.write_bytes(path.read_bytes()[:100])
    write_manifest(path)
    with pytest.raises(BackendError, match="cannot read"):
        DepthEnhancer("learned", weights=tiny_weights, backend="torch", fusion=path)
    with pytest.raises(ValueError, match="fusion must be"):
        DepthEnhancer("learned", weights=tiny_weights, backend="torch", fusion=3)


def test_enhancer_with_fusion_changes_rebuilt_pixels_only(fitted, tiny_weights, frame, tmp_path):
    _, params, _ = fitted
    path = tmp_path / "fusion.safetensors"
    save_file(params, str(path))
    write_manifest(path)
    raw = simulate(frame, "kinect_v1", np.random.default_rng(2))
    off = DepthEnhancer("learned", weights=tiny_weights, backend="torch")  # "auto": no fusion with other weights
    on = DepthEnhancer("learned", weights=tiny_weights, backend="torch", fusion=path)
    assert off.fusion is None and "+hole_fusion" in on.description
    a, b = off.enhance(frame.rgb, raw), on.enhance(frame.rgb, raw)
    kept = a.raw_reliability > 0.5
    assert np.array_equal(a.depth[kept], b.depth[kept]) and np.array_equal(b.depth[kept], raw[kept])
    assert np.isfinite(b.depth).all() and (a.depth[~kept] != b.depth[~kept]).any()
    assert "fusion_ms" in b.timings


def test_fusion_fitted_on_another_model_is_refused(fitted, tiny_weights, tmp_path):
    _, params, _ = fitted
    path = tmp_path / "fusion.safetensors"
    save_file(params, str(path), metadata={"model_sha256": "0" * 64})
    write_manifest(path)
    with pytest.raises(BackendError, match="another model"):
        DepthEnhancer("learned", weights=tiny_weights, backend="torch", fusion=path)


def test_shipped_fusion_is_used_with_the_weights_it_was_fitted_on(tmp_path):
    """The shipped fusion is listed in the manifest, records the shipped model's sha256, and "auto" finds it for the
    shipped weights wherever their file lies."""
    import shutil

    from perfecting_depth_ros.backends.base import sha256_file, verify_weights
    from perfecting_depth_ros.enhancer import DEFAULT_FUSION, DEFAULT_WEIGHTS

    verify_weights(DEFAULT_FUSION)
    assert HoleFusion.load(DEFAULT_FUSION).model_sha256 == sha256_file(DEFAULT_WEIGHTS)
    assert DepthEnhancer(backend="torch").fusion is not None
    copy = tmp_path / "model.safetensors"
    shutil.copy(DEFAULT_WEIGHTS, copy)
    write_manifest(copy)
    assert DepthEnhancer(weights=copy, backend="torch").fusion is not None
    assert DepthEnhancer(weights=copy, backend="torch", fusion=False).fusion is None


def test_an_earlier_fit_on_fewer_features_reads_the_first_ones(fitted):
    _, params, _ = fitted
    rng = np.random.default_rng(3)
    short = {**params, "mean": params["mean"][:5], "std": params["std"][:5], "l0.weight": params["l0.weight"][:, :5]}
    x = rng.standard_normal((50, NF)).astype(np.float32)
    w = HoleFusion(short).weight(x)
    assert w.shape == (50,) and np.array_equal(w, HoleFusion(short).weight(np.ascontiguousarray(x[:, :5])))


def test_the_classical_fill_uses_the_windows_the_file_was_fitted_with(fitted, frame):
    _, params, _ = fitted
    raw = simulate(frame, "kinect_v1", np.random.default_rng(4))
    raw[20:80, 30:100] = 0  # a hole wider than the first windows reach
    assert HoleFusion(params).diameters == CLASSICAL_DIAMETERS  # an earlier file names none
    fills = {d: classical_fill(frame.rgb, raw, d) for d in ((5, 9, 17), (5, 9, 9), (5,))}
    reach = {d: int(np.isfinite(f).sum()) for d, f in fills.items()}
    assert reach[(5,)] < reach[(5, 9, 9)] and reach[(5,)] < reach[(5, 9, 17)]
    rebuilt = np.where(raw > 0, raw, float(np.median(raw[raw > 0]))).astype(np.float32)
    sigma, spread = np.full_like(raw, 0.05), np.full_like(raw, 0.02)
    outs = {}
    for d in fills:
        hf = HoleFusion(params, {"classical_diameters": ",".join(map(str, d))})
        assert hf.diameters == d
        outs[d] = hf.fuse(frame.rgb, raw, rebuilt, sigma, spread)
    assert not np.array_equal(outs[(5, 9, 9)], outs[(5, 9, 17)])
    assert np.array_equal(outs[(5, 9, 17)], HoleFusion(params).fuse(frame.rgb, raw, rebuilt, sigma, spread))
    for bad in ("5,8", "", "5,9,x", "1", "5,9,9,9,9,9,9"):
        with pytest.raises(ValueError, match="classical_diameters"):
            HoleFusion(params, {"classical_diameters": bad})


def test_the_classical_fill_keeps_its_scale_on_cameras_wider_than_640():
    from perfecting_depth_ros.data.world import render_random
    from perfecting_depth_ros.evaluate.baselines import JointBilateralFill

    jb = JointBilateralFill()
    small = render_random(5, 120, 160)
    raw = simulate(small, "kinect_v1", np.random.default_rng(0))
    np.testing.assert_array_equal(classical_fill(small.rgb, raw), jb.fill_local(small.rgb, raw))  # up to 640: as is
    big = render_random(5, 360, 1280)
    raw = simulate(big, "realsense_d435", np.random.default_rng(0))
    fill = classical_fill(big.rgb, raw)
    rebuilt = np.where(raw > 0, np.nan, fill)
    # worked at 320x90 and brought back by nearest neighbour: every rebuilt value is one of 4x4 blocks' values
    blocks = rebuilt.reshape(90, 4, 320, 4).transpose(0, 2, 1, 3).reshape(90, 320, 16)
    has = np.isfinite(blocks).any(-1)
    spread = np.nanmax(blocks[has], -1) - np.nanmin(blocks[has], -1)
    assert has.sum() > 100 and spread.max() < 1e-6
    assert not np.array_equal(fill, jb.fill_local(big.rgb, raw), equal_nan=True)  # the default works at 640x180


@pytest.mark.parametrize("engine", ["opencv", "compiled"])
def test_the_joint_bilateral_filter_at_chosen_pixels_matches_the_whole_frame(monkeypatch, engine):
    """joint_bilateral_at computes the filter only around the pixels it is asked for. On OpenCV's crops its values
    are the whole-frame filter's to float rounding (OpenCV scales its colour table to each crop's guide range) and a
    crop whose guide is flat takes the whole frame's values (OpenCV would blur it with a square kernel); numba's
    kernel gives the whole-frame filter's values bit for bit, at the image's borders too. The hole fill built on
    either is the whole-frame fill's."""
    import cv2

    from perfecting_depth_ros.data.world import render_random
    from perfecting_depth_ros.evaluate import baselines as B

    rng = np.random.default_rng(0)
    guide = rng.uniform(0, 255, (240, 320, 3)).round().astype(np.float32)
    guide[:64, :64] = 128.0  # a flat patch, a hole inside it: the crop around that hole is flat
    have = np.ones((240, 320), bool)
    have[20:40, 20:40] = False
    have[:3, 100:130] = have[200:240, -5:] = False  # holes at the image's borders (reflected windows)
    for y, x in rng.integers(0, [230, 310], (12, 2)):  # a few holes elsewhere
        if y > 70 or x > 70:
            have[y:y + rng.integers(2, 9), x:x + rng.integers(2, 9)] = False
    depth = rng.uniform(1, 3, have.shape).astype(np.float32)
    src = np.dstack([depth * have, have, np.zeros(have.shape)]).astype(np.float32)
    for dia in (5, 9, 17):
        r = dia // 2
        need = ~have & (cv2.dilate(have.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0)
        whole = cv2.ximgproc.jointBilateralFilter(guide, src, dia, 20.0, dia / 2)
        crops = B.joint_bilateral_at(guide, src, dia, 20.0, need, engine)
        if engine == "compiled":  # (OpenCV's crops leave the filter's values beside the needed pixels)
            assert not crops[~need].any()
            np.testing.assert_array_equal(crops[need], whole[need])
        np.testing.assert_allclose(crops[need], whole[need], rtol=1e-5, atol=1e-6)
        box = (slice(20 - 2 * r, 40 + 2 * r), slice(20 - 2 * r, 40 + 2 * r))  # the flat hole's crop, with margin
        flat = need[box]
        naive = cv2.ximgproc.jointBilateralFilter(guide[box], src[box], dia, 20.0, dia / 2)  # a flat crop as it is
        assert np.abs(naive[flat] - whole[box][flat]).max() > 1e-3  # the case matters
        np.testing.assert_allclose(crops[box][flat], whole[box][flat], rtol=1e-5, atol=1e-6)
    flat_frame = np.full_like(guide, 7.0)  # a flat guide: OpenCV blurs the source; the kernel leaves it to OpenCV
    np.testing.assert_array_equal(B.joint_bilateral_at(flat_frame, src, 9, 20.0, ~have, engine)[~have],
                                  cv2.ximgproc.jointBilateralFilter(flat_frame, src, 9, 20.0, 4.5)[~have])
    # a guide filtering itself: OpenCV runs its plain bilateral filter, and so does joint_bilateral_at
    np.testing.assert_allclose(B.joint_bilateral_at(guide, guide, 9, 20.0, ~have, engine)[~have],
                               cv2.ximgproc.jointBilateralFilter(guide, guide, 9, 20.0, 4.5)[~have], rtol=1e-5)
    f = render_random(11, 240, 320)
    raw = simulate(f, "kinect_v1", np.random.default_rng(2))
    raw[150:190, 40:90] = 0  # one larger hole beside the sensor's own
    fill = B.JointBilateralFill(engine=engine).fill_local(f.rgb, raw)
    calls = []

    def whole_frame(guide, src, dia, sigma_color, need, engine):
        calls.append(dia)
        return cv2.ximgproc.jointBilateralFilter(guide, src, dia, sigma_color, dia / 2)

    monkeypatch.setattr(B, "joint_bilateral_at", whole_frame)
    reference = B.JointBilateralFill().fill_local(f.rgb, raw)
    assert calls == [5, 9, 17]
    np.testing.assert_array_equal(np.isnan(fill), np.isnan(reference))
    np.testing.assert_allclose(fill, reference, rtol=1e-5, atol=1e-6)
    if engine == "compiled":
        np.testing.assert_array_equal(fill, reference)


def test_the_compiled_fill_is_used_where_numba_runs_and_can_be_turned_off(monkeypatch):
    """"auto" takes numba's kernel where it compiles; PERFECTING_DEPTH_COMPILED=0, NUMBA_DISABLE_JIT or no numba
    leave the fill to OpenCV's crops (the enhancer says so in its description); an unknown engine is refused."""
    import sys

    import numba

    from perfecting_depth_ros import DepthEnhancer
    from perfecting_depth_ros.evaluate import baselines as B

    assert B.compiled_points() is not None
    assert DepthEnhancer(backend="onnxruntime").description.endswith("+hole_fusion")
    cases = ((("PERFECTING_DEPTH_COMPILED", "0"),), False, False), ((), True, False), ((), False, True)
    for env, disable_jit, missing in cases:
        B.compiled_points.cache_clear()
        with monkeypatch.context() as m:
            for k, v in env:
                m.setenv(k, v)
            m.setattr(numba.config, "DISABLE_JIT", disable_jit)
            if missing:  # numba not installed: its import fails
                m.setitem(sys.modules, "numba", None)
            assert B.compiled_points() is None
            assert "without numba" in DepthEnhancer(backend="onnxruntime").description
            with pytest.raises(RuntimeError, match="needs numba"):
                B.joint_bilateral_at(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.float32), 3, 20.0,
                                     np.ones((4, 4), bool), "compiled")
        B.compiled_points.cache_clear()
    for bad in ("numba", ""):
        with pytest.raises(ValueError, match="engine"):
            B.JointBilateralFill(engine=bad)
        with pytest.raises(ValueError, match="engine"):
            B.joint_bilateral_at(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.float32), 3, 20.0,
                                 np.ones((4, 4), bool), bad)


def test_the_compiled_filter_refuses_what_would_read_outside_its_arrays():
    """The kernel indexes without bounds checks: windows wider than the image stay inside it (OpenCV's values), and a
    mask of another size, a NaN or infinite guide value (its colour table index) or a window OpenCV would replace by
    its defaults are refused with a clear error, not a crash."""
    import cv2

    from perfecting_depth_ros.evaluate.bilateral_kernel import joint_bilateral_points

    rng = np.random.default_rng(0)
    for h, w in ((2, 2), (5, 6), (3, 40)):  # windows wider than the image: reflected again and again, as OpenCV does
        g, s = rng.uniform(0, 255, (h, w, 3)).astype(np.float32), rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
        for dia in (5, 17):
            np.testing.assert_array_equal(joint_bilateral_points(g, s, dia, 20.0, np.ones((h, w), bool)),
                                          cv2.ximgproc.jointBilateralFilter(g, s, dia, 20.0, dia / 2))
    g = rng.uniform(0, 255, (20, 30, 3)).astype(np.float32)
    ok = np.ones((20, 30), bool)
    assert joint_bilateral_points(g, g, 5, 20.0, ok).shape == g.shape
    for guide, src, dia, sigma, need, what in ((g, g, 5, 20.0, np.ones((30, 20), bool), "HxW mask"),
                                               (g, g[:, :, :2], 5, 20.0, ok, "HxWx3"),
                                               (g, g, 1, 20.0, ok, "diameter"), (g, g, 5, 0.0, ok, "sigma")):
        with pytest.raises(ValueError, match=what):
            joint_bilateral_points(guide, src, dia, sigma, need)
    for bad in (np.nan, np.inf):
        g2 = g.copy()
        g2[3, 4, 1] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            joint_bilateral_points(g2, g, 5, 20.0, ok)


def test_the_compiled_fill_runs_where_no_cache_folder_is_writable():
    """A read-only install with no home folder: numba finds no folder to cache the kernel in (refused at the kernel's
    definition). The kernel is then compiled in the process, and gives OpenCV's whole-frame values all the same."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import numba.core.caching as c, numpy as np, cv2\n"
        "c.CacheImpl._locator_classes = []  # no cache folder anywhere\n"
        "from perfecting_depth_ros.evaluate.baselines import compiled_points\n"
        "f = compiled_points()\n"
        "assert f is not None\n"
        "g = np.random.default_rng(0).uniform(0, 255, (40, 50, 3)).astype(np.float32)\n"
        "s = np.random.default_rng(1).uniform(0, 1, (40, 50, 3)).astype(np.float32)\n"
        "need = np.ones((40, 50), bool)\n"
        "assert np.array_equal(f(g, s, 9, 20.0, need), cv2.ximgproc.jointBilateralFilter(g, s, 9, 20.0, 4.5))\n"
        "print('compiled without a cache')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "compiled without a cache" in r.stdout, r.stderr[-2000:]


def test_a_dense_fusion_reaches_deep_holes_with_all_thirteen_features(frame):
    """A file fitted on all of FEATURE_NAMES with the classical fill closed by Navier-Stokes (``dense_classical``,
    config/train/fusion_deep.yaml: not shipped) weighs the fill in deep inside a hole too, where the windows of the
    joint bilateral fill do not reach and a file without it leaves the learned depth alone; kept pixels stay."""
    from perfecting_depth_ros.train.fusion import FusionConfig, fit

    rng = np.random.default_rng(3)
    domains = {"a": _domain(rng, 20_000, 0.3)}  # the classical fill right where feature 1 (colour gradient) > 0
    params, _ = fit(domains, FusionConfig(steps=300, batch_size=2048, hidden=8, reach_px=10_000.0, features=NF))
    raw = simulate(frame, "kinect_v1", np.random.default_rng(4))
    raw[10:110, 20:140] = 0  # far wider than the classical fill's windows
    rebuilt = np.where(raw > 0, raw, float(np.median(raw[raw > 0])) + 0.5).astype(np.float32)
    sigma, spread = np.full_like(raw, 0.05), np.full_like(raw, 0.02)
    deep = np.zeros(raw.shape, bool)
    deep[40:80, 60:100] = True
    assert not np.isfinite(classical_fill(frame.rgb, raw))[deep].any()  # the bilateral windows do not reach
    shallow = HoleFusion(params).fuse(frame.rgb, raw, rebuilt, sigma, spread, max_range=4.5)
    dense_fusion = HoleFusion(params, {"dense_classical": "1"})
    assert dense_fusion.n_features == NF == 13 and dense_fusion.dense
    dense = dense_fusion.fuse(frame.rgb, raw, rebuilt, sigma, spread, max_range=4.5)
    assert np.array_equal(shallow[deep], rebuilt[deep]) and not np.array_equal(dense[deep], rebuilt[deep])
    assert np.array_equal(dense[raw > 0], rebuilt[raw > 0]) and np.isfinite(dense).all()


def test_train_fusion_writes_weights_the_enhancer_loads(tiny_weights, frame, tmp_path, monkeypatch):
    """`perfecting-depth train fusion` leaves a fusion the enhancer takes as it is: its sha256 is recorded in the
    manifest beside it (the forty-ninth session's scoring chain stopped on a fusion without one)."""
    from conftest import stand_in_sequence

    from perfecting_depth_ros.train.fusion import train_fusion

    stand_in_sequence(tmp_path / "real", tmp_path / "ref", frames=2)
    monkeypatch.setenv("PERFECTING_DEPTH_REAL_DATA", str(tmp_path / "real"))
    cfg = FusionConfig(out_dir=str(tmp_path / "fusion"), weights=str(tiny_weights), real_frames=[0, 2], real_draws=1,
                       synth_frames=2, synth_size=[96, 128], steps=5, batch_size=256)
    path = train_fusion(cfg)
    enh = DepthEnhancer("learned", weights=tiny_weights, backend="torch", fusion=path)
    raw = simulate(frame, "kinect_v1", np.random.default_rng(2))
    out = enh.enhance(frame.rgb, raw)
    assert np.isfinite(out.depth).all() and out.depth.shape == raw.shape
