"""scripts/reproduce_shipped.sh, the chain of commands that made the shipped weights, runs end to end at toy scale
(--smoke: a few frames, 4 steps a run) and leaves files the enhancer loads. A stand-in for the 7-Scenes sequence
(rendered frames through the simulated Kinect v1, their clean depth as the fused reference) feeds the real-data
runs, which no other test reaches: the refiner's self-supervised hold-out, the heads' reference labels, the fusion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import load_script, stand_in_sequence
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 4  # what --smoke trains on: 7-Scenes frames 0-3


def test_the_shipped_weights_recipe_runs_end_to_end_with_a_seed_offset_and_ships_loadable_files(tmp_path):
    from perfecting_depth_ros.backends.base import verify_weights
    from perfecting_depth_ros.enhancer import DepthEnhancer

    work, ship, real = tmp_path / "work", tmp_path / "ship", tmp_path / "real"
    stand_in_sequence(real, work / "data_cache" / "7scenes_ref", FRAMES)
    env = {**os.environ, "PERFECTING_DEPTH_REAL_DATA": str(real), "OMP_NUM_THREADS": "2", "PYTHON": sys.executable}
    r = subprocess.run(["bash", str(ROOT / "scripts" / "reproduce_shipped.sh"), "--smoke", "--work", str(work),
                        "--ship", str(ship), "--seed-offset", "1000"], capture_output=True, text=True, env=env,
                       timeout=1200)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])

    # every run of the chain trained, from the checkpoint the recipe names
    runs = work / "runs"
    chain = ["stage1", "distill", "stage2", "stage2b", "stage2c", "stage2d", "stage2e", "stage2f", "stage2g",
             "errorhead_light_hard", "stage2_v2_holdout", "errorhead_mixed_long", "errorhead_mixed_trade",
             "stage2_hole_bias", "errorhead_hb300_trade", "errorhead_hb300_long", "stage2_scale", "stage2_scale2_cpu",
             "scale2cpu_holdout", "stage2_scale4_cpu", "stage2_context_cpu", "stage2_context2_cpu",
             "stage2_context2_edges_cpu", "context2edges_holdout"]
    # runs whose config file has another name
    config_of = {"scale2cpu_holdout": "stage2_scale_holdout", "context2edges_holdout": "stage2_scale_holdout"}
    for name in chain:
        with safe_open(str(runs / name / "model.safetensors"), framework="np") as f:
            assert json.loads(f.metadata()["meta"])["step"] == 4, name
    # --seed-offset 1000: another draw of the recipe, every run seeded with its config's seed plus 1000
    def seed(name: str) -> int:
        return yaml.safe_load((ROOT / "config" / "train" / f"{name}.yaml").read_text())["seed"]

    for name in chain:
        assert json.loads((runs / name / "config.json").read_text())["seed"] == seed(config_of.get(name, name)) + 1000
    for name, config in (("fusion", "fusion"), ("scale2cpu_fusion", "fusion_scale"),
                         ("context2edges_fusion", "fusion_scale")):
        assert json.loads((runs / name / "report.json").read_text())["config"]["seed"] == seed(config) + 1000
    starts = {n: json.loads((runs / n / "config.json").read_text())["init"] for n in chain}
    assert starts["errorhead_light_hard"] == "runs/stage2g/model.safetensors"
    assert starts["stage2_hole_bias"] == "runs/head_soup/mixed_53_59.safetensors"
    assert starts["errorhead_hb300_long"] == "runs/stage2_hole_bias/model.safetensors"
    # the scale runs start from the fifteenth session's shipped weights and go on from each other
    assert Path(starts["stage2_scale"]).resolve() == (ship / "perfecting_depth.safetensors").resolve()
    assert starts["stage2_scale2_cpu"] == "runs/stage2_scale/model.safetensors"
    assert starts["scale2cpu_holdout"] == "runs/stage2_scale2_cpu/model.safetensors"
    assert starts["stage2_scale4_cpu"] == "runs/stage2_scale2_cpu/model.safetensors"
    assert starts["stage2_context_cpu"] == "runs/stage2_scale4_cpu/model.safetensors"
    assert starts["stage2_context2_cpu"] == "runs/stage2_context_cpu/model.safetensors"
    assert starts["stage2_context2_edges_cpu"] == "runs/stage2_context2_cpu/model.safetensors"
    assert starts["context2edges_holdout"] == "runs/stage2_context2_edges_cpu/model.safetensors"
    with safe_open(str(runs / "stage2_context2_edges_cpu" / "model.safetensors"), framework="np") as f:  # grown levels
        grown = json.loads(f.metadata()["model_config"])
        assert (grown["refiner_context"], grown["refiner_context2"]) == (64, 96)
    # the real-data runs read the stand-in frames: hold-out blobs for the refiner, reference labels for the heads
    for name in ("stage2_v2_holdout", "stage2_hole_bias", "errorhead_mixed_long", "errorhead_hb300_long",
                 "scale2cpu_holdout", "stage2_context2_edges_cpu", "context2edges_holdout"):
        cfg = json.loads((runs / name / "config.json").read_text())
        assert cfg["real_frames"] == [0, FRAMES] and cfg["real_target"] in ("holdout", "reference"), name

    # each stage trained its own part only (scripts/compare_weights.py): the refiner's fine-tune left stage 1 as it
    # was, the head fits and their average left all but the head
    from safetensors.numpy import load_file

    compare = load_script("compare_weights").compare
    soup, bias = runs / "head_soup" / "mixed_53_59.safetensors", runs / "stage2_hole_bias" / "model.safetensors"
    parts = compare(load_file(bias), load_file(soup))
    assert [parts[k]["identical"] == parts[k]["tensors"] for k in ("encoder", "denoiser", "refiner")] == [True, True,
                                                                                                           False]
    parts = compare(load_file(runs / "head_soup" / "hb300_83_89.safetensors"), load_file(bias))
    assert all(parts[k]["identical"] == parts[k]["tensors"] for k in ("encoder", "denoiser", "refiner"))
    assert parts["error_head"]["identical"] < parts["error_head"]["tensors"] and "_names" not in parts

    # what was shipped: the context2 edges-held real-share run's real fine-tune, its graph and the fusion fitted on it,
    # all in the manifest
    shipped = ship / "perfecting_depth.safetensors"
    assert shipped.read_bytes() == (runs / "context2edges_holdout" / "model.safetensors").read_bytes()
    assert (ship / "hole_fusion.safetensors").read_bytes() == (runs / "context2edges_fusion" / "hole_fusion.safetensors"
                                                                ).read_bytes()
    manifest = json.loads((ship / "manifest.json").read_text())
    assert set(manifest) >= {"perfecting_depth.safetensors", "perfecting_depth_k4_s2.onnx", "hole_fusion.safetensors"}
    sha = verify_weights(shipped)
    with safe_open(str(ship / "hole_fusion.safetensors"), framework="np") as f:
        assert f.metadata()["model_sha256"] == sha
    enh = DepthEnhancer("learned", weights=str(shipped), backend="onnxruntime", fusion=str(ship / "hole_fusion.safetensors"))
    rgb = cv2.imread(str(real / "7scenes_redkitchen_kinect1" / "rgb" / "000000.jpg"))[..., ::-1]
    raw = cv2.imread(str(real / "7scenes_redkitchen_kinect1" / "depth" / "000000.png"), cv2.IMREAD_UNCHANGED) / 1000.0
    out = enh.enhance(np.ascontiguousarray(rgb), raw.astype(np.float32))
    assert out.depth.shape == raw.shape and np.isfinite(out.depth).all() and np.isfinite(out.uncertainty).all()


def test_the_recipe_stops_before_its_first_run_when_the_real_sequence_or_open3d_is_missing(tmp_path):
    """What the chain needs hours in comes first: the 7-Scenes sequence is checked, and its reference is built (with
    open3d) before the first run. A stand-in open3d that fails to import makes the second case the same on every
    machine."""
    blocker = tmp_path / "no_open3d" / "open3d"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('open3d blocked by the test')\n")
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(blocker.parent)}
    script = ["bash", str(ROOT / "scripts" / "reproduce_shipped.sh"), "--smoke"]

    work = tmp_path / "work"
    r = subprocess.run([*script, "--work", str(work)], capture_output=True, text=True, timeout=60,
                       env={**env, "PERFECTING_DEPTH_REAL_DATA": str(tmp_path / "nowhere")})
    assert r.returncode == 2 and "7-Scenes sequence is not at" in r.stderr, r.stderr
    assert not (work / "runs").exists() and not (work / "data_cache").exists()

    real = tmp_path / "real"
    stand_in_sequence(real, tmp_path / "unused_ref", FRAMES)
    r = subprocess.run([*script, "--work", str(work)], capture_output=True, text=True, timeout=120,
                       env={**env, "PERFECTING_DEPTH_REAL_DATA": str(real)})
    assert r.returncode == 1 and "reference needs open3d" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (work / "runs").exists() and not (work / "data_cache").exists()


def test_the_real_frames_a_run_trains_on_are_7scenes_training_frames():
    from perfecting_depth_ros.train.common import TrainConfig

    tiny = ROOT / "config" / "train" / "tiny.yaml"
    assert list(range(*TrainConfig.from_yaml(tiny).real_frames)) == list(range(700))
    for bad in ([690, 710], [0, 0], [800, 900]):  # the gap and test blocks are never trained on
        with pytest.raises(ValueError, match="real_frames must name 7-Scenes training frames"):
            TrainConfig.from_yaml(tiny, settings={"real_frames": bad})


def test_train_set_overrides_config_keys_as_yaml_and_rejects_what_it_cannot_read():
    """`perfecting-depth train ... --set KEY=VALUE`, what --smoke cuts every run with: YAML values, null included."""
    from perfecting_depth_ros.cli import _settings
    from perfecting_depth_ros.train.common import TrainConfig

    g = ROOT / "config" / "train" / "stage2g.yaml"
    assert TrainConfig.from_yaml(g).stop_after == 500
    s = _settings(["stop_after=null", "batch_size=2", "real_frames=[0, 4]", "model={fill_order: 0}"])
    cfg = TrainConfig.from_yaml(g, settings=s, steps=4)
    assert (cfg.stop_after, cfg.batch_size, cfg.real_frames, cfg.steps, cfg.model) == (None, 2, [0, 4], 4,
                                                                                      {"fill_order": 0})
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        _settings(["batch_size"])
    with pytest.raises(ValueError, match="unknown keys"):
        TrainConfig.from_yaml(g, settings=_settings(["batchsize=2"]))
