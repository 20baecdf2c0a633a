"""Helpers shared by the training scripts: configs, seeding, batch normalisation, EMA, checkpoints."""

from __future__ import annotations

import copy
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import load_file, save_file

from ..model import ModelConfig, PerfectingDepthModel

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """One training run (read from a YAML file; unknown keys are an error)."""

    stage: str  # stage1 | distill | stage2
    data_dir: str = "data_cache/synth128"
    out_dir: str = "runs/default"
    init: str | None = None  # checkpoint to start from (distill: the teacher; stage2: the distilled model)
    steps: int = 1000
    stop_after: int | None = None  # end the run after this many steps (the lr schedule still spans ``steps``)
    max_minutes: float | None = None  # end this run (not the schedule) once it has trained this long; resumable
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    ema_decay: float = 0.995
    seed: int = 0
    threads: int = 2
    loader_workers: int = 0  # processes that prepare batches (sensor simulation); 0: the training process itself
    device: str = "auto"  # auto: a GPU when torch sees one, else the CPU; "cpu"; "cuda" (accelerate places the run)
    log_every: int = 50
    ckpt_every: int = 500
    snapshot_every: int = 0  # also keep model_step{N}.safetensors every N steps, to choose among on validation
    teacher_steps: int = 12  # distill: DDIM steps of the teacher
    real_ref_dir: str | None = None  # stage2: also train on 7-Scenes training frames against this fused reference
    real_fraction: float = 0.5  # share of real samples when real_ref_dir is set
    real_frames: list[int] = field(default_factory=lambda: [0, 700])  # range(*real_frames): 7-Scenes training frames
    texture_aug: float = 0.0  # sensor stages: chance of a random texture over a synthetic frame's RGB
    screens: float = 0.0  # sensor stages: chance of a dark screen painted over a flat surface (data/screens.py)
    dark_guide: float = 0.0  # sensor stages: chance of the colour recorded in the dark, brightened (data/low_light.py)
    near_aug: float = 0.0  # sensor stages: chance of a scaled-down world (more surfaces below the min range)
    real_hole_bias: float = 0.0  # real_target holdout: draw the hidden blobs toward the frame's raw holes
    real_target: str = "reference"  # reference: the fused surface; holdout: hidden raw blobs (no reference read)
    extra_holes: float = 0.0  # stage2: chance of hiding extra random blobs of valid raw pixels
    artifact_weight: float = 1.0  # stage2: weight of the depth loss where raw is missing or wrong
    l2_weight: float = 0.0  # stage2: weight of the rebuilt depth's squared error beside its L1 (normalised units)
    real_sigma_weight: float = 1.0  # stage2: weight of sigma's NLL and the gate's BCE on real frames (0: they teach
    # the depth fill alone; the uncertainty learns from synthetic frames only)
    grad_weight: float = 0.5  # stage2: weight of the gradient-matching term (keeps depth edges sharp)
    real_edge_margin: int = 0  # stage2: real frames' target pixels this near a depth jump teach no depth (0: all do)
    hard_weight: int = 1  # sensor stages: frames showing glass or a mirror come this many times per epoch
    hflip: bool = True  # flip training windows horizontally half of the time (False: shadows keep their side)
    alt_data_dir: str | None = None  # a second set of frames (e.g. other sizes), every ``alt_every``-th batch
    alt_batch_size: int = 4
    alt_every: int = 2
    model: dict = field(default_factory=dict)  # ModelConfig overrides

    def __post_init__(self) -> None:
        from ..data.dataset import REAL_TARGETS

        if self.real_target not in REAL_TARGETS:
            raise ValueError(f"real_target must be one of {REAL_TARGETS}, got {self.real_target!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be positive (or absent), got {self.max_minutes!r}")
        from ..data.real import sevenscenes_training_frames

        sevenscenes_training_frames(self.real_frames)
        if self.alt_data_dir and self.alt_every < 2:
            raise ValueError(f"alt_every must be >= 2 (every alt_every-th batch is from alt_data_dir), got {self.alt_every}")

    @classmethod
    def from_yaml(cls, path: str | Path, settings: dict | None = None, **overrides) -> TrainConfig:
        return config_from_yaml(cls, path, overrides, settings)


def config_from_yaml(cls, path: str | Path, overrides: dict, settings: dict | None = None):
    """A config dataclass from a YAML file, with the ``overrides`` that are not None, then every key of ``settings``
    (``--set``; None included: ``stop_after=null``); unknown keys are an error."""
    d = yaml.safe_load(Path(path).read_text()) or {}
    d.update({k: v for k, v in overrides.items() if v is not None})
    d.update(settings or {})
    unknown = set(d) - set(cls.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    return cls(**d)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def normalize_batch(raw: torch.Tensor, gt: torch.Tensor | None = None, min_valid: int = 16):
    """Per-sample scale-shift normalisation from the valid raw depth (same rule as inference).

    raw, gt [B,1,H,W] metres. Returns (raw_n, gt_n, mask, centre [B], scale [B]); samples with fewer
    than ``min_valid`` raw pixels fall back to the statistics of ``gt``.
    """
    from ..model.normalization import depth_stats

    mask = (raw > 0).float()
    centres, scales = [], []
    for b in range(raw.shape[0]):
        r = raw[b, 0].detach().cpu().numpy()
        v = r > 0
        if v.sum() < min_valid and gt is not None:
            r, v = gt[b, 0].detach().cpu().numpy(), np.ones_like(v)
        c, s = depth_stats(r, v)
        centres.append(c)
        scales.append(s)
    centre = torch.tensor(centres, device=raw.device).view(-1, 1, 1, 1)
    scale = torch.tensor(scales, device=raw.device).view(-1, 1, 1, 1)
    raw_n = (raw - centre) * 2 / scale * mask
    gt_n = None if gt is None else (gt - centre) * 2 / scale
    return raw_n, gt_n, mask, centre, scale


class EMA:
    """Exponential moving average of a model's parameters (evaluated and shipped instead of the raw weights)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for e, p in zip(self.model.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1 - self.decay)
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)


def save_checkpoint(path: str | Path, model: PerfectingDepthModel, meta: dict) -> None:
    """Weights as safetensors; the model config and training metadata ride in its header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    md = {"model_config": json.dumps(model.cfg.to_dict()), "meta": json.dumps(meta)}
    save_file(state, str(path), metadata=md)
    from ..backends.base import write_manifest

    write_manifest(path)


# (ModelConfig field, state-dict prefix) of the parts a warm start may add: the raw-error head, the out-of-range
# branch (it exists only with refiner_far) and the refiner's coarser levels (their output convolutions zero)
GROWN_PARTS = (("error_head_channels", "error_head."), ("far_branch", "refiner.far."),
               ("refiner_context", "refiner.context."), ("refiner_context2", "refiner.context2."))


def load_model(path: str | Path, strict: bool = True, overrides: dict | None = None) -> tuple[PerfectingDepthModel, dict]:
    """Rebuild a model from a safetensors checkpoint alone. Raises ValueError on a foreign or corrupt file.

    ``overrides`` changes ModelConfig fields (warm start of a wider model): weights whose shape grew
    only in input channels are copied into the leading channels, the new channels start at zero, so
    the warm-started model computes what the checkpoint computed; a layer that grew only in output channels
    keeps the checkpoint's outputs, and its new outputs get zero weights and the new model's own bias; a
    raw-error head added this way starts from its random initialisation, a refiner context level (or the one
    below it) from its own (its output convolution zero, so it adds nothing until trained).
    """
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            md = f.metadata() or {}
        state = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for truncated/garbage files
        raise ValueError(f"cannot read weights {path}: {e}") from e
    if "model_config" not in md:
        raise ValueError(f"{path} has no model_config in its header: not a perfecting_depth_ros checkpoint")
    saved = json.loads(md["model_config"])
    cfg = ModelConfig.from_dict({**saved, **(overrides or {})})
    model = PerfectingDepthModel(cfg)
    if overrides:
        own = model.state_dict()
        for k, v in list(state.items()):
            w = own.get(k)
            if w is None or w.shape == v.shape:
                continue
            if w.dim() == 4 and v.dim() == 4 and w.shape[1] > v.shape[1] and w.shape[0] == v.shape[0]:
                grown = torch.zeros_like(w)  # new inputs: zero weights, so the output is unchanged
                grown[:, : v.shape[1]] = v
                state[k] = grown
            elif w.dim() == v.dim() and w.shape[0] > v.shape[0] and w.shape[1:] == v.shape[1:]:
                grown = torch.zeros_like(w) if w.dim() > 1 else w.clone()  # new outputs: zero weights, own bias
                grown[: v.shape[0]] = v
                state[k] = grown
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shapes differ: weights for another model configuration
        raise ValueError(f"{path} does not match the model: {e}") from e
    # parts that ``overrides`` added start from their own initialisation: their weights are not in the file
    added = tuple(prefix for field, prefix in GROWN_PARTS if getattr(cfg, field) and not saved.get(field))
    if added:
        missing = [k for k in missing if not k.startswith(added)]
    if strict and (missing or unexpected):
        raise ValueError(f"{path} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model, json.loads(md.get("meta", "{}"))


def save_train_state(path: Path, step: int, model, ema: EMA, opt, elapsed: float) -> None:
    """Everything needed to resume (loaded with torch.load(weights_only=True): no pickle), the random number
    generators' states included, so that a resumed run draws the noise an uninterrupted one would have."""
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    # written beside it and renamed over it: a run killed while saving (a session's end, a preempted machine) keeps
    # its previous state whole instead of a truncated file that cannot be resumed
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"step": step, "model": model.state_dict(), "ema": ema.model.state_dict(),
                "opt": opt.state_dict(), "elapsed": elapsed, "rng": rng}, tmp)
    os.replace(tmp, path)


def try_resume(path: Path, model, ema: EMA, opt, device: torch.device | str = "cpu") -> tuple[int, float]:
    if not path.exists():
        return 0, 0.0
    loc = torch.device(device)
    # "cpu:0" (what accelerate names the CPU under several processes) is not a place torch.load can restore to
    st = torch.load(path, weights_only=True, map_location="cpu" if loc.type == "cpu" else loc)
    model.load_state_dict(st["model"])
    ema.model.load_state_dict(st["ema"])
    opt.load_state_dict(st["opt"])
    rng = st.get("rng", {})  # absent in states written before the thirty-eighth session
    if "torch" in rng:
        torch.set_rng_state(rng["torch"].cpu())
    if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(list(rng["cuda"].cpu()))
    print(f"resumed from {path} at step {st['step']}")
    return int(st["step"]), float(st["elapsed"])


class Timer:
    def __init__(self, offset: float = 0.0):
        self.t0 = time.time() - offset

    def elapsed(self) -> float:
        return time.time() - self.t0


def _one_thread_worker(_: int) -> None:
    """A batch-preparing process uses one core: there are as many of them as cores to spare."""
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def infinite_batches(dataset, batch_size: int, seed: int, workers: int = 0, skip: int = 0):
    """Shuffled batches forever (epoch counter advances the dataset's augmentation seed). Raises ValueError when the
    dataset holds fewer samples than one batch (full batches only: it would never yield one).

    ``workers`` processes prepare the batches (a GPU outruns one core's sensor simulation); every sample is drawn
    from its own seed (dataset seed, epoch, index), so the batches are the same whatever their number. Each epoch's
    order is drawn from (``seed``, epoch) alone, so ``skip`` starts the stream after that many batches without
    preparing them: a resumed run goes on with the batches an uninterrupted one would have drawn."""
    from torch.utils.data import DataLoader

    from ..backends.base import usable_cpus

    n = len(dataset)
    if n < batch_size:
        raise ValueError(f"{n} training samples cannot fill one batch of {batch_size}: render more frames "
                         "or lower batch_size")
    workers = min(workers, usable_cpus() or os.cpu_count() or 1)  # no more processes than this one may run on
    if workers:
        # the workers are forked from this process: an OpenCV thread pool started here before (reading the real
        # frames does) is copied into them mid-state, and their first OpenCV call waits on it forever (met: a
        # batch-64 run with real windows hung at step 0). One thread here stops the pool before the first fork.
        import cv2

        cv2.setNumThreads(1)
    per_epoch = n // batch_size
    epoch, offset = divmod(skip, per_epoch)
    while True:
        for d in getattr(dataset, "datasets", [dataset]):
            d.epoch = epoch
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)  # this epoch's order, and the loader's own seed
        order = torch.randperm(n, generator=g)[offset * batch_size:per_epoch * batch_size].tolist()
        yield from DataLoader(dataset, batch_size=batch_size, sampler=order, generator=g, drop_last=True,
                              num_workers=workers, worker_init_fn=_one_thread_worker if workers else None)
        epoch, offset = epoch + 1, 0
