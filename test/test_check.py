"""`perfecting-depth check`: the masked hold-out on a user's own frames, from folders and from a rosbag2 recording."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_bag import _write_image_folders, frames, write_bag

from perfecting_depth_ros.cli import main
from perfecting_depth_ros.data.real import holdout_mask
from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.evaluate.own_frames import check_frames

ROOT = Path(__file__).resolve().parents[1]


def test_check_scores_the_hidden_measurements_of_each_frame():
    seq = [(f"f{i}", lambda f=f, raw=raw: (f.rgb, raw)) for i, (f, raw) in enumerate(frames(2))]
    methods = {"learned": DepthEnhancer(), "inpaint_ns": DepthEnhancer("inpaint_ns")}
    rep = check_frames(iter(seq), methods, draws=2, seed=5)
    assert rep["frames"] == ["f0", "f1"] and rep["draws"] == 2 and not rep["skipped"]
    # the same figure computed by hand: hidden blobs drawn from (seed, frame, draw), errors pooled
    err, truth = [], []
    for k, (_, load) in enumerate(seq):
        rgb, raw = load()
        for d in range(2):
            hide = holdout_mask(raw, np.random.default_rng((5, k, d)))
            out = DepthEnhancer("inpaint_ns").enhance(rgb, np.where(hide, 0, raw).astype(np.float32))
            err.append((out.depth - raw)[hide])
            truth.append(raw[hide])
    e, t = np.concatenate(err), np.concatenate(truth)
    ns = rep["methods"]["inpaint_ns"]
    assert rep["hidden_px"] == e.size
    assert abs(ns["mae_mm"] - np.mean(np.abs(e)) * 1000) < 1e-3
    # what an obstacle layer does with those rays: filled farther than 5 cm + 1 % clears the surface, nearer marks
    # a phantom in front of it
    assert ns["too_far"] == pytest.approx(np.mean(e > 0.05 + 0.01 * t)) and ns["too_far"] > 0
    assert ns["too_near"] == pytest.approx(np.mean(e < -(0.05 + 0.01 * t))) and ns["too_near"] + ns["too_far"] < 1
    assert ns["frame_draws"] == 4 and 0 <= ns["learned_lower_in"] <= 4 and "within_2sigma" not in ns
    learned = rep["methods"]["learned"]
    assert 0 < learned["mae_mm"] < 1000 and 0.5 < learned["within_2sigma"] <= 1.0 and learned["median_ms"] > 0
    gates = learned["sigma_thresholds"]  # what a depth_max_sigma keeps: more with a looser threshold
    kept = [g["frame_kept"] for g in gates]
    assert kept == sorted(kept) and 0 < kept[-1] <= 1 and all(0 <= g["hidden_kept"] <= 1 for g in gates)
    assert "sigma_thresholds" not in ns
    sh = rep["learned_source_shares"]  # the frames as recorded: every measured pixel kept or replaced, holes rebuilt
    recorded = [load()[1][::4, ::4] for _, load in seq]
    assert sh["measured_kept"] + sh["measured_replaced"] == pytest.approx(np.mean([(r > 0).mean() for r in recorded]))
    assert sh["rebuilt"] == pytest.approx(np.mean([(r <= 0).mean() for r in recorded])) and sh["no_value"] == 0
    assert rep["guide"]["dark_share"] == 0 and rep["guide"]["median_brightness"] >= 128  # rendered: auto-exposed
    scale = learned["sigma_scale_for_95"]  # scaling the sigma by it puts 95 % of the hidden errors within +-2 sigma
    methods = {"learned": DepthEnhancer(sigma_scale=scale)}
    again = check_frames(iter(seq), methods, draws=2, seed=5)["methods"]["learned"]
    assert abs(again["within_2sigma"] - 0.95) < 0.005 and abs(again["sigma_scale_for_95"] - scale) < 1e-3 * scale
    assert again["mae_mm"] == learned["mae_mm"]  # depth untouched


def test_check_says_how_dark_the_colour_guide_is():
    """A recording in a dim room, one frame of it black: the report says how many frames the learned model gets
    brightened and how many carry no colour cue at all."""
    from perfecting_depth_ros.evaluate.own_frames import format_report

    fr = frames(3)
    seq = [(f"f{i}", lambda f=f, raw=raw, i=i: ((f.rgb // 6 if i else f.rgb * 0).astype(np.uint8), raw))
           for i, (f, raw) in enumerate(fr)]
    rep = check_frames(iter(seq), {"learned": DepthEnhancer()}, draws=1, seed=5)
    g = rep["guide"]
    assert g["dark_share"] == 1 and g["black_share"] == pytest.approx(1 / 3) and g["brightens"]
    text = format_report(rep)
    assert "100% of the frames dark" in text and "33% black" in text and "brightened for the learned model" in text


def test_check_command_on_folders_and_on_a_bag(tmp_path, capsys):
    _write_image_folders(tmp_path, 3)
    out = tmp_path / "report.json"
    rc = main(["check", "--rgb", str(tmp_path / "rgb"), "--depth", str(tmp_path / "depth"), "--frames", "2",
               "--draws", "1", "--methods", "learned-fast,inpaint_ns", "--out", str(out), "--max-range", "4.5",
               "--params-out", str(tmp_path / "params.yaml")])
    assert rc == 0
    rep = json.loads(out.read_text())
    import yaml

    params = yaml.safe_load((tmp_path / "params.yaml").read_text())["/**/depth_enhancer"]["ros__parameters"]
    scale = round(rep["methods"]["learned-fast"]["sigma_scale_for_95"], 2)
    assert (params["sigma_scale"], params["max_range"], params["depth_scale"]) == (scale, 4.5, 0.001)
    cfg = yaml.safe_load((ROOT / "config" / "enhancer.yaml").read_text())["/**/depth_enhancer"]["ros__parameters"]
    assert set(params) == set(cfg) and all(type(v) is type(cfg[k]) for k, v in params.items())  # the node's file
    _node_takes_the_parameters_file(tmp_path / "params.yaml", scale)
    assert rep["frames"] == ["000.png", "002.png"]  # spread over the recording: first and last
    assert set(rep["methods"]) == {"learned-fast", "inpaint_ns"}
    assert "+hole_fusion" not in rep["methods"]["learned-fast"]["description"]  # the node's hole_fusion: false
    write_bag(tmp_path / "bag", frames(3))
    rc = main(["check", "--bag", str(tmp_path / "bag"), "--draws", "1", "--methods", "learned,inpaint_ns",
               "--out", str(tmp_path / "bag.json")])
    assert rc == 0
    rep = json.loads((tmp_path / "bag.json").read_text())
    assert len(rep["frames"]) == 3 and rep["sizes_hw"] == [[60, 80]]
    assert rep["methods"]["inpaint_ns"]["frame_draws"] == 3
    assert "learned lower in" in capsys.readouterr().out
    write_bag(tmp_path / "long", frames(6), spacing_ns=3_000_000_000)  # colour between them is skipped undecoded
    rc = main(["check", "--bag", str(tmp_path / "long"), "--frames", "2", "--draws", "1", "--methods", "inpaint_ns",
               "--out", str(tmp_path / "long.json")])
    assert rc == 0  # two sets spread over the recording: the first and the last depth image, each with its colour
    assert json.loads((tmp_path / "long.json").read_text())["frames"] == ["1.000000000", "16.000000000"]


def test_check_refuses_bad_requests_clearly(tmp_path, capsys):
    _write_image_folders(tmp_path, 1)
    both = ["check", "--bag", str(tmp_path), "--rgb", str(tmp_path / "rgb"), "--depth", str(tmp_path / "depth")]
    assert main(both) == 2
    assert main(["check", "--rgb", str(tmp_path / "rgb")]) == 2
    assert main(["check", "--rgb", str(tmp_path / "rgb"), "--depth", str(tmp_path / "depth"), "--methods", "magic"]) == 2
    write_bag(tmp_path / "bag", frames(1))
    assert main(["check", "--bag", str(tmp_path / "bag"), "--depth-topic", "/nope"]) == 2
    assert "topic /nope not in" in capsys.readouterr().err
    (tmp_path / "empty_depth").mkdir()
    import cv2

    cv2.imwrite(str(tmp_path / "empty_depth" / "000.png"), np.zeros((60, 80), np.uint16))  # no valid depth at all
    assert main(["check", "--rgb", str(tmp_path / "rgb"), "--depth", str(tmp_path / "empty_depth")]) == 2
    assert "no frame could be scored" in capsys.readouterr().err
    (tmp_path / "two").mkdir()
    _write_image_folders(tmp_path / "two", 2)
    (tmp_path / "two" / "depth" / "001.png").write_bytes(b"\x89PNG truncated")  # an unreadable file is skipped
    out = tmp_path / "two.json"
    assert main(["check", "--rgb", str(tmp_path / "two" / "rgb"), "--depth", str(tmp_path / "two" / "depth"),
                 "--methods", "inpaint_ns", "--draws", "1", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["frames"] == ["000.png"] and rep["skipped"][0]["frame"] == "001.png"
    assert "cannot read" in rep["skipped"][0]["reason"]


def test_check_says_when_the_depth_units_look_wrong(tmp_path, capsys):
    """A wrong --depth-scale (16-bit millimetres read as metres), in folders or in a bag, is named once, as the
    node names it; the right scale says nothing."""
    _write_image_folders(tmp_path, 2)
    args = ["check", "--rgb", str(tmp_path / "rgb"), "--depth", str(tmp_path / "depth"), "--draws", "1",
            "--methods", "inpaint_ns", "--out", str(tmp_path / "r.json")]
    assert main(args) == 0
    assert "depth units implausible" not in capsys.readouterr().err
    assert main(args + ["--depth-scale", "1"]) == 0
    err = capsys.readouterr().err
    assert err.count("depth units implausible") == 1 and "depth_scale is 1 m per 16UC1 unit" in err
    write_bag(tmp_path / "bag", frames(2))
    bag = ["check", "--bag", str(tmp_path / "bag"), "--draws", "1", "--methods", "inpaint_ns",
           "--out", str(tmp_path / "b.json")]
    assert main(bag) == 0 and "depth units implausible" not in capsys.readouterr().err
    assert main(bag + ["--depth-scale", "1"]) == 0
    err = capsys.readouterr().err
    assert err.count("depth units implausible") == 1 and "depth_scale is 1 m per 16UC1 unit" in err


def test_check_writes_rectified_false_for_a_raw_distorted_camera(tmp_path, capsys):
    """A recording of raw colour (image_raw) whose camera_info has a lens distortion, as an Azure Kinect driver
    publishes it: the parameters file check writes says rectified: false, and the report says why; a rectified
    recording keeps the shipped rectified: true."""
    import yaml

    raw_topics = {"rgb": "/k4a/rgb/image_raw", "depth": "/k4a/depth_to_rgb/image_raw", "info": "/k4a/rgb/camera_info"}
    write_bag(tmp_path / "k4a", frames(2), distortion=[0.5, -2.6, 0.0005, -0.0002, 1.5, 0.38, -2.4, 1.4],
              topics=raw_topics)
    args = ["check", "--bag", str(tmp_path / "k4a"), "--rgb-topic", raw_topics["rgb"], "--depth-topic",
            raw_topics["depth"], "--draws", "1", "--methods", "inpaint_ns", "--params-out", str(tmp_path / "k4a.yaml")]
    assert main(args) == 0
    assert "note: unrectified images with lens distortion" in capsys.readouterr().out
    params = yaml.safe_load((tmp_path / "k4a.yaml").read_text())["/**/depth_enhancer"]["ros__parameters"]
    assert params["rectified"] is False
    write_bag(tmp_path / "rect", frames(2), distortion=[0.5, -2.6, 0.0005, -0.0002, 1.5, 0.38, -2.4, 1.4])
    assert main(["check", "--bag", str(tmp_path / "rect"), "--draws", "1", "--methods", "inpaint_ns",
                 "--params-out", str(tmp_path / "rect.yaml")]) == 0
    params = yaml.safe_load((tmp_path / "rect.yaml").read_text())["/**/depth_enhancer"]["ros__parameters"]
    assert params["rectified"] is True and "note:" not in capsys.readouterr().out


def test_check_on_a_truncated_bag_refuses_clearly(tmp_path, capsys):
    from rosbags.rosbag2 import StoragePlugin

    write_bag(tmp_path / "in", frames(6), StoragePlugin.SQLITE3, extra_topic=False)
    db = next((tmp_path / "in").glob("*.db3"))
    db.write_bytes(db.read_bytes()[: int(db.stat().st_size * 0.5)])
    assert main(["check", "--bag", str(tmp_path / "in"), "--methods", "inpaint_ns"]) == 2
    err = capsys.readouterr().err
    assert "cannot open bag" in err and "Traceback" not in err


def _node_takes_the_parameters_file(path, scale: float) -> None:
    """enhancer_node starts with the file check wrote and reports its sigma_scale."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from perfecting_depth_ros.node.harness import Collector, finish, spin_until, start_node

    rclpy.init()
    proc = start_node(path, "/camera", params={"method": "guided_fill", "diagnostics_period": 0.2})
    coll = Collector("/camera")
    ex = SingleThreadedExecutor()
    ex.add_node(coll)
    try:
        assert spin_until(ex, lambda: coll.last_diag_values().get("sigma_scale") == f"{scale:g}", 30), \
            coll.last_diag_values()
        assert proc.poll() is None
    finally:
        finish(proc, ex, coll)


def test_check_names_what_the_sensor_never_measures_and_writes_footprint_frames(tmp_path, capsys):
    """A recording whose depth has its corners cut off (an Azure Kinect's hexagon): check says how much of the image
    no frame measured at its border, and the parameters file it writes turns footprint_frames on; a recording
    measured to its border leaves it off."""
    import yaml

    y, x = np.mgrid[:60, :80]
    outline = np.abs(x - 39.5) / 40 + np.abs(y - 29.5) / 30 < 1.4
    seq = frames(6)
    write_bag(tmp_path / "hex", [(f, np.where(outline, raw, 0)) for f, raw in seq])
    args = ["check", "--bag", str(tmp_path / "hex"), "--draws", "1", "--methods", "inpaint_ns",
            "--out", str(tmp_path / "hex.json"), "--params-out", str(tmp_path / "hex.yaml")]
    assert main(args) == 0
    share = json.loads((tmp_path / "hex.json").read_text())["unmeasured_border"]
    assert (~outline).mean() <= share < (~outline).mean() + 0.05
    assert "measured in none of these 6 frames" in capsys.readouterr().out
    params = yaml.safe_load((tmp_path / "hex.yaml").read_text())["/**/depth_enhancer"]["ros__parameters"]
    assert params["footprint_frames"] == 30
    write_bag(tmp_path / "full", seq)
    assert main(["check", "--bag", str(tmp_path / "full"), "--draws", "1", "--methods", "inpaint_ns",
                 "--out", str(tmp_path / "full.json"), "--params-out", str(tmp_path / "full.yaml")]) == 0
    assert json.loads((tmp_path / "full.json").read_text())["unmeasured_border"] < 0.005
    assert "measured in none" not in capsys.readouterr().out
    params = yaml.safe_load((tmp_path / "full.yaml").read_text())["/**/depth_enhancer"]["ros__parameters"]
    assert params["footprint_frames"] == 0
