"""`perfecting-depth train STAGE --config FILE`: one readable loop for every stage.

Config, seed, data, model, optimiser, loop; EMA weights are what gets saved and shipped.
Resumable from ``out_dir/train_state.pt``. Hugging Face accelerate places the run: on a GPU when torch sees
one (``device: auto``), and across processes when started by ``accelerate launch --multi_gpu`` (or ``torchrun``):
each process draws its own batches, gradients are averaged across processes after every backward pass, and
the first process alone logs and writes checkpoints, so N processes train like one with N times the batch. One
process on the CPU computes exactly what this loop computed before accelerate (the shipped weights reproduce).
"""

from __future__ import annotations

import copy
import json
import time
import warnings
from pathlib import Path

import torch
from tqdm import tqdm

from ..data.dataset import SyntheticDepthDataset, load_shards
from ..model import ModelConfig, PerfectingDepthModel
from . import stages
from .common import (
    EMA,
    Timer,
    TrainConfig,
    infinite_batches,
    load_model,
    save_checkpoint,
    save_train_state,
    seed_everything,
    try_resume,
)


def _accelerator(device: str):
    """The run's accelerate ``Accelerator`` (``device``: auto | cpu | cuda); ``ValueError`` for cuda without a GPU."""
    from accelerate import Accelerator

    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: cuda, but torch sees no GPU (a CPU build of torch, or no driver)")
    return Accelerator(cpu=device == "cpu")


def average_gradients(params: list[torch.nn.Parameter], accelerator) -> None:
    """Average the gradients of ``params`` across processes (one flat all-reduce; a no-op in one process)."""
    if accelerator.num_processes == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = accelerator.reduce(torch.cat([g.reshape(-1) for g in grads]), reduction="mean")
    for g, v in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(v.view_as(g))


def _check_in_step(model: torch.nn.Module, accelerator) -> None:
    """Raise if the processes' weights have drifted apart (they must stay identical)."""
    if accelerator.num_processes == 1:
        return
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    drift = accelerator.reduce((flat - accelerator.reduce(flat, reduction="mean")).abs().max(), reduction="sum")
    if drift.item() > 1e-4:
        raise RuntimeError(f"training processes disagree on the weights (max difference {drift.item():.2e})")


def _out_of_time(started: float, max_minutes: float | None, accelerator) -> bool:
    """Whether this run's time budget is spent; every process gets the first process's answer, so all stop at the
    same step."""
    if not max_minutes:
        return False
    spent = torch.tensor([float(time.monotonic() - started > max_minutes * 60)])
    if accelerator.num_processes > 1:
        spent = accelerator.reduce(spent.to(accelerator.device), reduction="sum").cpu()
    return bool(spent.item() > 0)


def train(cfg: TrainConfig) -> Path:
    """Run one stage to ``cfg.steps`` and return the path of its EMA checkpoint."""
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.threads)
    accelerator = _accelerator(cfg.device)
    device, rank, main = accelerator.device, accelerator.process_index, accelerator.is_main_process
    out = Path(cfg.out_dir)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({**cfg.__dict__, "processes": accelerator.num_processes},
                                                    indent=2))

    # model: fresh (stage1) or from the previous stage's checkpoint
    if cfg.init:
        model, _ = load_model(cfg.init, overrides=cfg.model or None)
    else:
        model = PerfectingDepthModel(ModelConfig.from_dict(cfg.model))
    teacher = None
    if cfg.stage == "stage1":
        params = list(model.encoder.parameters()) + list(model.denoiser.parameters())
        mode = "masked"
    elif cfg.stage == "distill":
        teacher = copy.deepcopy(model).eval().requires_grad_(False)
        params = list(model.encoder.parameters()) + list(model.denoiser.parameters())
        mode = "masked"
    elif cfg.stage == "stage2":
        model.encoder.requires_grad_(False)
        model.denoiser.requires_grad_(False)
        params = list(model.refiner.parameters())
        mode = "sensor"
    elif cfg.stage == "errorhead":
        if model.error_head is None:
            raise ValueError("stage errorhead needs model.error_head_channels > 0 in the config")
        model.requires_grad_(False)
        model.error_head.requires_grad_(True)
        params = list(model.error_head.parameters())
        mode = "sensor"
    elif cfg.stage == "farbranch":
        if not (model.cfg.refiner_far and model.cfg.far_branch):
            raise ValueError("stage farbranch needs model.refiner_far and model.far_branch in the config")
        model.requires_grad_(False)
        model.refiner.far.requires_grad_(True)
        params = list(model.refiner.far.parameters())
        mode = "sensor"
    else:
        raise ValueError(f"unknown stage {cfg.stage!r}: stage1 | distill | stage2 | errorhead | farbranch")
    model.set_steps(model.cfg.steps)
    model.to(device)
    if teacher is not None:
        teacher.to(device)
    if rank:  # every process starts from the same weights; each then draws its own noise
        torch.manual_seed(cfg.seed + 1000 * rank)

    augment = dict(extra_holes=cfg.extra_holes, hard_weight=cfg.hard_weight, texture_aug=cfg.texture_aug,
                   near_aug=cfg.near_aug, hflip=cfg.hflip, screens=cfg.screens,
                   dark_guide=cfg.dark_guide)  # main and alternate frames alike
    data = SyntheticDepthDataset(load_shards(cfg.data_dir, "train"), mode, seed=cfg.seed, **augment)
    if cfg.real_ref_dir or cfg.real_target == "holdout":  # real 7-Scenes training frames 0-699 mixed in
        from torch.utils.data import ConcatDataset

        from ..data.dataset import RealReferenceDataset

        n_real = int(len(data) * cfg.real_fraction / (1 - cfg.real_fraction))
        data = ConcatDataset([data, RealReferenceDataset(cfg.real_ref_dir, range(*cfg.real_frames), n_real, seed=cfg.seed,
                                                         target=cfg.real_target, hole_bias=cfg.real_hole_bias,
                                                         hflip=cfg.hflip, dark_guide=cfg.dark_guide)])
    alt_data = None
    if cfg.alt_data_dir:  # frames of another size cannot share a batch: they take every alt_every-th step
        alt_data = SyntheticDepthDataset(load_shards(cfg.alt_data_dir, "train"), mode, seed=cfg.seed + 1, **augment)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.05)
    ema = EMA(model, cfg.ema_decay)
    start, elapsed = try_resume(out / "train_state.pt", model, ema, opt, device)  # the first process's generators
    if rank and start:  # the state holds the first process's: the others draw on from noise of their own
        torch.manual_seed(cfg.seed + 1000 * rank + 7919 * start)
    with warnings.catch_warnings():  # fast-forwarding a resumed schedule steps it before any optimizer step
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
        for _ in range(start):
            sched.step()
    # the batch streams go on where the run stopped (steps before ``start`` took start // alt_every alternate ones)
    alt_taken = start // cfg.alt_every if alt_data is not None else 0
    batches = infinite_batches(data, cfg.batch_size, cfg.seed + 1000 * rank,  # each process its own batches
                               cfg.loader_workers, skip=start - alt_taken)
    alt = None
    if alt_data is not None:
        # these frames get loader workers too, so the training process only trains (forking workers after OpenCV
        # ran here is made safe in infinite_batches, where a CPU check once met the deadlock)
        alt = infinite_batches(alt_data, cfg.alt_batch_size, cfg.seed + 1 + 1000 * rank, cfg.loader_workers,
                               skip=alt_taken)
    timer = Timer(elapsed)
    log = open(out / "log.jsonl", "a") if main else None
    end = min(cfg.steps, cfg.stop_after or cfg.steps)  # stop_after: cut a schedule short, reproducibly
    bar = tqdm(range(start, end), initial=start, total=end, desc=cfg.stage, disable=not main)
    model.train()
    started = time.monotonic()
    for step in bar:
        batch = next(alt) if alt is not None and step % cfg.alt_every == cfg.alt_every - 1 else next(batches)
        batch = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        if cfg.stage == "stage1":
            loss, logs = stages.stage1_loss(model, batch)
        elif cfg.stage == "distill":
            loss, logs = stages.distill_loss(model, batch, teacher, cfg.teacher_steps)
            model.set_steps(model.cfg.steps)
        elif cfg.stage == "errorhead":
            loss, logs = stages.error_head_loss(model, batch)
        elif cfg.stage == "farbranch":
            loss, logs = stages.far_branch_loss(model, batch)
        else:
            loss, logs = stages.stage2_loss(model, batch, cfg.artifact_weight, cfg.l2_weight,
                                               cfg.real_sigma_weight, cfg.grad_weight, cfg.real_edge_margin)
        opt.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        average_gradients(params, accelerator)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        ema.update(model)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if (step + 1) % cfg.log_every == 0 and main:
            log.write(json.dumps({"step": step + 1, "loss": loss.item(), "lr": sched.get_last_lr()[0],
                                  "frame_hw": list(batch["rgb"].shape[-2:]),
                                  "time_s": round(timer.elapsed(), 1), **logs}) + "\n")
            log.flush()
        snapshot = bool(cfg.snapshot_every) and (step + 1) % cfg.snapshot_every == 0
        out_of_time = _out_of_time(started, cfg.max_minutes, accelerator)  # one answer per step, for every process
        if (step + 1) % cfg.ckpt_every == 0 or step + 1 == end or out_of_time or snapshot:  # a snapshot: no ckpt step
            _check_in_step(model, accelerator)
            if main:  # the first process alone writes; every process goes on to the stop check below
                save_train_state(out / "train_state.pt", step + 1, model, ema, opt, timer.elapsed())
                meta = {"stage": cfg.stage, "step": step + 1, "seed": cfg.seed,
                        "wall_time_s": round(timer.elapsed(), 1), "threads": cfg.threads,
                        "batch_size": cfg.batch_size, "init": cfg.init, "device": str(device),
                        "processes": accelerator.num_processes}
                save_checkpoint(out / "model.safetensors", ema.model, meta)
                if snapshot:
                    save_checkpoint(out / f"model_step{step + 1}.safetensors", ema.model, meta)
        if out_of_time:  # saved above: `train` with the same config resumes from here
            if main:
                log.write(json.dumps({"step": step + 1, "stopped": f"max_minutes {cfg.max_minutes} spent"}) + "\n")
                log.flush()
            break
    if log is not None:
        log.close()
    accelerator.wait_for_everyone()
    if accelerator.num_processes > 1:
        # tear the process group down before the interpreter does: left to exit, a gloo worker thread was now and
        # then still joinable and the process aborted ("terminate called without an active exception")
        accelerator.end_training()
    return out / "model.safetensors"
