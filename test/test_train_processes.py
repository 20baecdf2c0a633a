"""The training loop under accelerate: several processes train as one (gradients averaged, the first process alone
writes), and a device the machine lacks is a clear error. Two CPU processes (gloo) stand in for GPUs here."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from perfecting_depth_ros.data.dataset import write_shards
from perfecting_depth_ros.train.common import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "config" / "train" / "tiny.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_as_one_and_only_the_first_writes(tmp_path):
    write_shards(tmp_path / "data", "train", 8, 64, 80, shard_size=8, workers=1, progress=False)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "perfecting_depth_ros.cli", "train", "stage1",
           "--config", str(TINY), "--data-dir", str(tmp_path / "data"), "--out-dir", str(out), "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    # the loop checks at every checkpoint that both processes hold the same weights: without the gradient average
    # their different batches would pull them apart and the run would fail there
    assert r.returncode == 0, r.stderr[-3000:]
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        meta = json.loads(f.metadata()["meta"])
    assert meta["processes"] == 2 and meta["device"].startswith("cpu") and meta["step"] == 6
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]  # one log, from the first process only
    assert json.loads((out / "config.json").read_text())["processes"] == 2


def test_a_device_the_machine_lacks_is_a_clear_error(tmp_path):
    import torch

    from perfecting_depth_ros.train.loop import train

    with pytest.raises(ValueError, match="device must be one of"):
        TrainConfig.from_yaml(TINY, device="tpu")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: device cuda is not an error here")
    cfg = TrainConfig.from_yaml(TINY, data_dir=str(tmp_path), out_dir=str(tmp_path / "run"), device="cuda")
    with pytest.raises(ValueError, match="no GPU"):
        train(cfg)


def test_the_hole_fusion_refuses_a_gpu_it_would_not_use():
    from perfecting_depth_ros.cli import main

    with pytest.raises(SystemExit, match="fits on the CPU"):
        main(["train", "fusion", "--config", str(ROOT / "config" / "train" / "fusion.yaml"), "--device", "cuda"])


def test_a_time_budget_ends_the_run_with_a_checkpoint_and_the_same_command_resumes(tmp_path):
    """max_minutes: the run stops after the step that spends the budget, saved; run again, it resumes from there.
    Under two processes both stop at the same step (else the next gradient average would hang)."""
    write_shards(tmp_path / "data", "train", 8, 64, 80, shard_size=8, workers=1, progress=False)
    out = tmp_path / "run"
    base = ["-m", "perfecting_depth_ros.cli", "train", "stage1", "--config", str(TINY), "--data-dir",
            str(tmp_path / "data"), "--out-dir", str(out), "--device", "cpu", "--steps", "1000",
            "--max-minutes", "0.0001"]
    dist = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for run in (1, 2):
        r = subprocess.run([*dist, "--master_port", str(_free_port()), *base], capture_output=True, text=True,
                           timeout=600, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        with safe_open(str(out / "model.safetensors"), framework="pt") as f:
            meta = json.loads(f.metadata()["meta"])
        assert meta["step"] == run and meta["processes"] == 2  # one step a run: 6 ms of budget
        stops = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines() if "stopped" in x]
        assert [s["step"] for s in stops] == list(range(1, run + 1))
    with pytest.raises(ValueError, match="max_minutes must be positive"):
        TrainConfig.from_yaml(TINY, max_minutes=0)


def test_fewer_frames_than_one_batch_is_a_clear_error_not_a_hang(tmp_path):
    from perfecting_depth_ros.train.loop import train

    write_shards(tmp_path / "data", "train", 8, 64, 80, shard_size=8, workers=1, progress=False)
    cfg = TrainConfig.from_yaml(TINY, data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "run"), device="cpu",
                                batch_size=64)
    with pytest.raises(ValueError, match="cannot fill one batch of 64"):
        train(cfg)


def test_loader_workers_prepare_the_same_batches(tmp_path):
    """loader_workers (a GPU outruns one core's sensor simulation) changes who prepares the batches, not what they
    hold: two epochs of sensor-mode batches, with and without two worker processes, are identical. In a process of its
    own, as training runs (the workers are forked: a fork of this test process, whose earlier tests left DDS,
    ONNX Runtime and OpenCV threads running, can deadlock)."""
    write_shards(tmp_path / "data", "train", 8, 64, 80, shard_size=8, workers=1, progress=False)
    script = f"""
import itertools
import numpy as np
from perfecting_depth_ros.data.dataset import SyntheticDepthDataset, load_shards
from perfecting_depth_ros.train.common import infinite_batches

data = SyntheticDepthDataset(load_shards({str(tmp_path / "data")!r}, "train"), "sensor", seed=3, extra_holes=0.5)
runs = []
for w in (0, 2):
    gen = infinite_batches(data, 4, seed=7, workers=w)
    runs.append(list(itertools.islice(gen, 4)))
    gen.close()  # its DataLoader and worker processes go
assert runs[0][0]["raw"].shape == (4, 1, 64, 80)
for a, b in zip(*runs):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy(), err_msg=k)
assert not np.array_equal(runs[0][0]["raw"].numpy(), runs[0][2]["raw"].numpy())  # a new epoch, new draws
print("same batches")
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0 and "same batches" in r.stdout, r.stderr[-3000:]


def test_loader_workers_start_after_opencv_threads_ran_in_the_training_process(tmp_path):
    """The training process may have run OpenCV on its thread pool before the workers fork (reading the real frames
    does): a worker forked with the pool mid-state used to wait forever on its first OpenCV call (about two forks in
    five here; a batch-64 run with real windows hung at step 0). Three rounds of pool work and fresh workers must
    all deliver their batches."""
    write_shards(tmp_path / "data", "train", 8, 64, 80, shard_size=8, workers=1, progress=False)
    script = f"""
import itertools
import cv2
import numpy as np
from perfecting_depth_ros.data.dataset import SyntheticDepthDataset, load_shards
from perfecting_depth_ros.train.common import infinite_batches

data = SyntheticDepthDataset(load_shards({str(tmp_path / "data")!r}, "train"), "sensor", seed=3)
img = np.random.default_rng(0).random((1024, 1024), np.float32)
cv2.setNumThreads(2)
for round_ in range(3):
    for _ in range(20):
        cv2.GaussianBlur(img, (31, 31), 5)  # OpenCV work in this process, on its pool while it has one
    gen = infinite_batches(data, 4, seed=7 + round_, workers=1)
    assert len(list(itertools.islice(gen, 2))) == 2
    gen.close()
print("workers delivered")
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and its workers
        proc.communicate()
        pytest.fail("a loader worker forked after OpenCV's threads ran never delivered its batch (deadlocked)")
    assert proc.returncode == 0 and "workers delivered" in out, err[-3000:]


def test_a_run_cut_and_resumed_ends_where_an_uninterrupted_one_does(tmp_path):
    """The resume state holds the random number generators, and the batch streams (main and alternate frames) go
    on from where they stopped: a run stopped after 3 of 6 steps and started again writes, bit for bit, the
    weights and losses of the same run left alone."""
    from safetensors.numpy import load_file

    from perfecting_depth_ros.train.loop import train

    write_shards(tmp_path / "data", "train", 8, 64, 80, shard_size=8, workers=1, progress=False)
    write_shards(tmp_path / "alt", "train", 4, 48, 64, shard_size=4, workers=1, progress=False)
    common = dict(data_dir=str(tmp_path / "data"), device="cpu", steps=6, batch_size=2, ckpt_every=100)
    extra = {"alt_data_dir": str(tmp_path / "alt"), "alt_batch_size": 2, "alt_every": 2}
    train(TrainConfig.from_yaml(TINY, out_dir=str(tmp_path / "whole"), settings=extra, **common))
    train(TrainConfig.from_yaml(TINY, out_dir=str(tmp_path / "cut"), settings={**extra, "stop_after": 3}, **common))
    assert json.loads((tmp_path / "cut" / "log.jsonl").read_text().splitlines()[-1])["step"] == 3
    train(TrainConfig.from_yaml(TINY, out_dir=str(tmp_path / "cut"), settings=extra, **common))  # resumes at 3

    def losses(run):
        return [json.loads(x)["loss"] for x in (tmp_path / run / "log.jsonl").read_text().splitlines()]

    assert losses("cut") == losses("whole") and len(losses("whole")) == 6
    a, b = load_file(str(tmp_path / "cut" / "model.safetensors")), load_file(str(tmp_path / "whole" / "model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_save_cut_short_leaves_the_previous_resume_state_whole(tmp_path, monkeypatch):
    """A run killed while it writes its resume state (a session's end, a preempted machine) must still resume: the
    state is written beside the old one and renamed over it, so a write that dies half-way leaves the old state."""
    import torch

    from perfecting_depth_ros.model.config import ModelConfig
    from perfecting_depth_ros.model.pipeline import PerfectingDepthModel
    from perfecting_depth_ros.train import common

    model = PerfectingDepthModel(ModelConfig(**TrainConfig.from_yaml(TINY).model))
    ema = common.EMA(model, 0.9)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    path = tmp_path / "train_state.pt"
    common.save_train_state(path, 3, model, ema, opt, 1.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_state.pt"]

    real_save = torch.save

    def dies_half_way(obj, f):
        real_save(obj, f)
        Path(f).write_bytes(Path(f).read_bytes()[:1000])  # what a kill leaves: the start of the file
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        common.save_train_state(path, 4, model, ema, opt, 2.0)
    monkeypatch.setattr(torch, "save", real_save)
    assert common.try_resume(path, model, ema, opt) == (3, 1.5)
