#!/usr/bin/env python3
"""Measure the stochastic stage on the validation split: does the 2-step student match the many-step
teacher, and what does the sample spread mark? (The measurement behind the distillation choice.)

For each checkpoint and step count: RMSE of the K-sample mean against the clean depth (1/4 resolution,
normalised units and metres) on hidden (masked) pixels, distance to the teacher's 8-step samples from the
same noise, and AUROC of the spread for flagging pixels whose conditioning was corrupted by a simulated
sensor error (wrong but valid) vs left clean.

  python scripts/eval_stage1.py runs/stage1/model.safetensors runs/distill/model.safetensors
"""

from __future__ import annotations

import json
import sys

import torch
import torch.nn.functional as F

from perfecting_depth_ros.data.dataset import SyntheticDepthDataset, load_shards
from perfecting_depth_ros.evaluate.metrics import auroc
from perfecting_depth_ros.train.common import load_model, normalize_batch


@torch.no_grad()
def main(paths: list[str], frames: int = 64, samples: int = 4) -> int:
    torch.manual_seed(0)
    arr = load_shards("data_cache/synth128", "val")
    masked = SyntheticDepthDataset(arr, "masked", seed=123, augment=False)
    sensor = SyntheticDepthDataset(arr, "sensor", seed=123, augment=False)
    teacher, _ = load_model(paths[0])
    teacher.eval()
    rows = []
    for mode, ds in (("masked", masked), ("sensor", sensor)):
        batch = {k: torch.stack([ds[i][k] for i in range(frames)]) for k in ("rgb", "raw", "gt")}
        raw_n, gt_n, mask, centre, scale = normalize_batch(batch["raw"], batch["gt"])
        B, _, H, W = raw_n.shape
        noise = torch.randn(B, samples, 1, H // 4, W // 4)
        teacher.set_steps(8)
        ref = teacher.sample(teacher.condition(batch["rgb"], raw_n, mask), noise).mean(1)
        x0 = F.avg_pool2d(gt_n, 4)
        hidden = F.avg_pool2d(1 - mask, 4) > 0.5
        raw_q = F.avg_pool2d(raw_n * mask, 4) / F.avg_pool2d(mask, 4).clamp_min(1e-3)
        wrong = (F.avg_pool2d(mask, 4) > 0.99) & ((raw_q - x0).abs() * scale / 2 > 0.05)
        clean = (F.avg_pool2d(mask, 4) > 0.99) & ~wrong
        for p in paths:
            m, meta = load_model(p)
            m.eval()
            for steps in (1, 2, 4, 8):
                m.set_steps(steps)
                s = m.sample(m.condition(batch["rgb"], raw_n, mask), noise)
                mean, spread = s.mean(1), s.std(1, unbiased=False)
                err_m = ((mean - x0) * scale / 2)
                row = {"model": meta.get("stage", p), "data": mode, "steps": steps,
                       "rmse_hidden_m": float(err_m[hidden].pow(2).mean().sqrt()),
                       "rmse_all_m": float(err_m.pow(2).mean().sqrt()),
                       "to_teacher8_m": float(((mean - ref) * scale / 2).abs().mean()),
                       "spread_hidden_vs_valid": float(spread[hidden].mean() / spread[~hidden].mean().clamp_min(1e-9))}
                if mode == "sensor" and wrong.any():
                    lab = wrong[wrong | clean].numpy()
                    row["auroc_spread_wrong"] = auroc(spread[wrong | clean].numpy(), lab)
                    row["auroc_residual_wrong"] = auroc((mean - raw_q).abs()[wrong | clean].numpy(), lab)
                rows.append(row)
                print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
