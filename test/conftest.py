"""Shared fixtures: a per-run ROS domain, tiny trained weights, a rendered frame."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # Each test run gets its own DDS domain on loopback only; subprocesses inherit the environment.
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(30, 200)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)


def load_script(name: str):
    """scripts/<name>.py as a module (the scripts are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def stand_in_sequence(real: Path, ref: Path, frames: int) -> None:
    """``frames`` rendered frames as ``real``/7scenes_redkitchen_kinect1 in the sequence's layout, and their reference
    in ``ref`` as `perfecting-depth reference` writes it."""
    import json

    import cv2

    from perfecting_depth_ros.data.sensors import simulate
    from perfecting_depth_ros.data.world import render_random

    seq = real / "7scenes_redkitchen_kinect1"
    for sub in (seq / "rgb", seq / "depth", ref / "ref"):
        sub.mkdir(parents=True)
    for i in range(frames):
        f = render_random(9000 + i, 480, 640)
        raw = simulate(f, "kinect_v1", np.random.default_rng(i))
        assert (raw > 0).mean() > 0.3
        cv2.imwrite(str(seq / "rgb" / f"{i:06d}.jpg"), cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(seq / "depth" / f"{i:06d}.png"), np.round(raw * 1000).astype(np.uint16))
        cv2.imwrite(str(ref / "ref" / f"{i:06d}.png"), np.round(f.depth * 1000).astype(np.uint16))
    (seq / "intrinsics.json").write_text(json.dumps({"fx": 585.0, "fy": 585.0, "cx": 320.0, "cy": 240.0}))
    np.savetxt(seq / "poses_cam_to_world.txt", np.tile(np.eye(4), (frames, 1)))
    (ref / "quality.json").write_text(json.dumps({"frames": frames, "note": "stand-in: the clean rendered depth"}))


@pytest.fixture(scope="session")
def frame():
    from perfecting_depth_ros.data.world import render_random

    return render_random(7, 96, 128)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A tiny model trained for a few steps on a few rendered frames (stage 1 then stage 2)."""
    from perfecting_depth_ros.data.dataset import write_shards
    from perfecting_depth_ros.train.common import TrainConfig
    from perfecting_depth_ros.train.loop import train

    d = tmp_path_factory.mktemp("tiny")
    write_shards(d / "data", "train", 8, 64, 80, shard_size=8, workers=1, progress=False)
    cfg = TrainConfig.from_yaml(ROOT / "config/train/tiny.yaml", data_dir=str(d / "data"), out_dir=str(d / "s1"))
    p1 = train(cfg)
    cfg2 = TrainConfig.from_yaml(ROOT / "config/train/tiny.yaml", stage="stage2", data_dir=str(d / "data"),
                                 out_dir=str(d / "s2"), init=str(p1))
    return train(cfg2)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
