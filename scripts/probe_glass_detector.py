#!/usr/bin/env python3
"""Can a detector with a frame-wide view find the raw pixels that look valid but are wrong, glass above all, where
the published sigma cannot? Synthetic validation frames only (scripts/validate_gap.py's usual 45; no test split).

Why: the shipped sigma ranks wrong raw pixels with AUROC 0.774 on the world-v1 validation frames, but by class
(each wrong class against the right pixels) glass 0.634, mirror 0.726, specular 0.744, other 0.893 (world v2:
0.672, 0.754, 0.826, 0.907). Glass is a third of the wrong pixels, and AUROC >= 0.9 needs it found. In world v1 a
pane is a faint tint over what lies behind it with straight borders that are no depth edges: what a detector needs
is the view across the pane to its borders (a pane can fill half the frame), which the shipped head's 1/4-resolution
trunk lacks, not more per-pixel cues (scripts/probe_wrong_cues.py).

The detector here is separate from the model: a plain convolutional encoder-decoder down to 1/16 resolution with
dilated convolutions there (each pixel sees the whole 128x160 window), input RGB, raw depth (normalised per frame
as the model does) and its mask, trained with class-balanced binary cross-entropy on 'valid raw more than 5 cm off'
on the world-v1 training shards through the simulated sensors (frames showing glass or mirrors twice per epoch).
It is scored on the validation frames alone (p, the detector's probability) beside the shipped sigma, per class,
and so is the mean of the two ranks (a combination with nothing fitted).

A second detector (``--label glass_mirror``, 2000 steps) learns only the wrong pixels on glass and mirrors: the
far-range noise and edge pixels in the first one's labels are not told by colour, and may drown the signal. Its
rule is the glass half of the first's (glass AUROC >= 0.734 on world v1); it says whether the colour of world v1
tells glass at all at this budget, not what to ship.

A third (written after the first two's outcome, before its training): the second's recipe on all 24 shards (12,000
frames, three times as many) for 2,500 steps, since the first two fit glass only partly on their own training
windows and lost more on new frames. The same glass bar.

Rule, written before training: if the detector's glass AUROC on the world-v1 validation frames is at least 0.10
above sigma's (>= 0.734) and its overall AUROC at least sigma's, such a view is worth building into the raw-error
head (the next step); otherwise the glass of world v1 is not found by frame-wide context either at this budget.

  PYTHONPATH=scripts python scripts/probe_glass_detector.py --data data_cache/synth128_v1_12k --steps 3000 \
      --every 500 --out runs/glass_detector > outputs/probe_glass_detector.txt
  PYTHONPATH=scripts python scripts/probe_glass_detector.py --steps 2000 --every 500 --label glass_mirror \
      --workers 0 --out runs/glass_detector_gm > outputs/probe_glass_detector_gm.txt
  PYTHONPATH=scripts python scripts/probe_glass_detector.py --shards 24 --steps 2500 --every 500 --label glass_mirror \
      --workers 0 --out runs/glass_detector_gm24 > outputs/probe_glass_detector_gm24.txt

Outcome (twenty-seventh session; 8 shards = 4,000 world-v1 frames, seed 97, 0.4 M parameters, one thread of the
2-core CPU: 41 min for 3,000 steps, 30 min for 2,000). AUROC on the usual validation frames, world v1 / v2, all
wrong raw pixels and each class against the right ones:

| score | all | glass | mirror | specular | other |
|---|---|---|---|---|---|
| shipped sigma | 0.7745 / 0.7883 | 0.634 / 0.672 | 0.726 / 0.754 | 0.744 / 0.826 | 0.893 / 0.907 |
| detector, every wrong pixel | 0.702 / 0.711 | 0.671 / 0.663 | 0.741 / 0.791 | 0.580 / 0.593 | 0.723 / 0.724 |
| its rank mean with sigma | 0.755 / 0.773 | 0.658 / 0.679 | 0.746 / 0.795 | 0.676 / 0.739 | 0.835 / 0.850 |
| detector, glass and mirrors only | 0.653 / 0.701 | 0.655 / 0.720 | **0.920 / 0.923** | 0.641 / 0.657 | 0.556 / 0.565 |
| its rank mean with sigma | 0.754 / 0.790 | 0.658 / 0.721 | 0.879 / 0.897 | 0.737 / 0.808 | 0.777 / 0.789 |
| the same on 12,000 frames, 2,500 steps | 0.603 / 0.663 | 0.568 / 0.652 | 0.862 / 0.886 | 0.616 / 0.579 | 0.532 / 0.557 |

No rule is met: world-v1 glass 0.671, 0.655 and 0.568 against the 0.734 asked (the third, with three times the
frames and a quarter more steps, 36 min, saw each frame fewer times and learnt less). A first try without group
norms at a learning rate of 2e-3 fell back to chance by step 1000. On training windows (shard 0, new sensor draws)
the two detectors rank glass at 0.743 / 0.797: they fit world-v1 glass only partly even where they trained, and lose
a further 0.07-0.14 on new frames. Mirrors, framed and reflecting the room, are found (0.92):
scripts/probe_mirror_sigma.py tries that detector on the published sigma. Telling world-v1 glass from colour may
need far more steps than a CPU session gives (the third run shows more frames alone do not help): a raw-error head
with this frame-wide view, trained on a GPU, is the next try.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from error_budget import VALID_CLASSES, classes, sigma_aurocs  # noqa: E402
from validate_gap import val_frames  # noqa: E402

from perfecting_depth_ros.data.dataset import SyntheticDepthDataset, load_shards  # noqa: E402
from perfecting_depth_ros.data.world import MIRROR, TRANSPARENT  # noqa: E402
from perfecting_depth_ros.enhancer import DepthEnhancer  # noqa: E402
from perfecting_depth_ros.train.common import infinite_batches, normalize_batch, seed_everything  # noqa: E402

WRONG_M = 0.05


class Detector(nn.Module):
    """Encoder to 1/16 resolution, dilated residual convolutions there, decoder with skips back to full
    resolution; one logit per pixel. Group norms and clipped gradients: without them the first try (learning rate
    2e-3) drifted back to chance by step 1000."""

    def __init__(self, widths=(24, 32, 48, 64)):
        super().__init__()
        c_in, self.down = 5, nn.ModuleList()
        for w in widths:
            self.down.append(nn.Sequential(nn.Conv2d(c_in, w, 3, stride=2, padding=1), nn.GroupNorm(8, w), nn.SiLU(),
                                           nn.Conv2d(w, w, 3, padding=1), nn.GroupNorm(8, w), nn.SiLU()))
            c_in = w
        self.mid = nn.ModuleList(nn.Sequential(nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_in, 3, padding=d, dilation=d))
                                 for d in (1, 2, 4, 8, 1))
        self.up = nn.ModuleList()
        for w_skip in reversed((5,) + tuple(widths[:-1])):
            self.up.append(nn.Sequential(nn.Conv2d(c_in + w_skip, max(w_skip, 16), 3, padding=1), nn.SiLU()))
            c_in = max(w_skip, 16)
        self.out = nn.Conv2d(c_in, 1, 1)

    def forward(self, rgb: torch.Tensor, raw_n: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([rgb * 2 - 1, raw_n * mask, mask], 1)
        skips, h = [], x
        for layer in self.down:
            skips.append(h)
            h = layer(h)
        for conv in self.mid:
            h = h + F.silu(conv(h))
        for layer, s in zip(self.up, reversed(skips)):
            h = layer(torch.cat([F.interpolate(h, size=s.shape[-2:], mode="bilinear"), s], 1))
        return self.out(h)


DETECTOR_WIDTH = 320  # the camera width its training windows were cut from


@torch.no_grad()
def detector_probability(det: Detector, rgb: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """The detector's probability [H,W] for one frame, run at DETECTOR_WIDTH (the scale it was trained at)."""
    h, w = raw.shape
    size = (DETECTOR_WIDTH, max(8, round(h * DETECTOR_WIDTH / w)))
    rgb_s = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if size != (w, h) else rgb
    raw_s = cv2.resize(raw, size, interpolation=cv2.INTER_NEAREST) if size != (w, h) else raw
    raw_n, _, mask, _, _ = normalize_batch(torch.from_numpy(raw_s)[None, None])
    x = torch.from_numpy(np.ascontiguousarray(rgb_s)).permute(2, 0, 1)[None].float() / 255
    p = torch.sigmoid(det(x, raw_n, mask))[0, 0].numpy()
    return p if size == (w, h) else cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)


def train(args) -> Detector:
    seed_everything(args.seed)
    ds = SyntheticDepthDataset(load_shards(args.data, "train", args.shards), "sensor", seed=args.seed, hard_weight=2)
    det = Detector()
    opt = torch.optim.AdamW(det.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps, pct_start=0.05)
    batches = infinite_batches(ds, args.batch, args.seed, workers=args.workers)
    t0 = time.time()
    for step in range(1, args.steps + 1):
        b = next(batches)
        raw_n, _, mask, _, _ = normalize_batch(b["raw"], b["gt"])
        label = ((b["raw"] - b["gt"]).abs() > WRONG_M).float() * mask
        if args.label == "glass_mirror":  # only the wrong pixels that colour may tell: glass and mirrors
            label = label * torch.isin(b["material"], torch.tensor([float(TRANSPARENT), float(MIRROR)])).float()
        pos = (label.sum() / mask.sum().clamp(min=1)).clamp(0.01, 0.5)
        w = mask * torch.where(label > 0, 0.5 / pos, 0.5 / (1 - pos))  # class-balanced over valid pixels
        logit = det(b["rgb"], raw_n, mask)
        loss = (F.binary_cross_entropy_with_logits(logit, label, reduction="none") * w).sum() / mask.sum().clamp(min=1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(det.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
        if step % args.every == 0 or step == args.steps:
            torch.save(det.state_dict(), Path(args.out) / f"detector_step{step}.pt")
    return det


def score(det: Detector | None, version: int) -> dict:
    """AUROC of the detector's p and of the shipped sigma: all wrong raw pixels, and each class against the right."""
    enh = DepthEnhancer(backend="torch")
    P, S, C = [], [], []
    for f, raw, max_range in val_frames(version):
        out = enh.enhance(f.rgb, raw, max_range_m=max_range)
        cls = classes(raw, f.depth, f.material)
        lab = np.full(raw.shape, -1, np.int8)
        for i, k in enumerate(VALID_CLASSES):
            lab[cls[k]] = i
        keep = lab >= 0
        if det is not None:
            P.append(detector_probability(det, f.rgb, raw)[keep])
        S.append(out.uncertainty[keep])
        C.append(lab[keep])
    c = np.concatenate(C)
    res = {"world_version": version, "wrong_share": float((c > 0).mean())}
    scores = {"sigma": np.concatenate(S)}
    if P:  # and the mean of the two ranks: a combination with nothing to fit
        scores["detector"] = np.concatenate(P)
        scores["rank_mean"] = rankdata(scores["sigma"]) + rankdata(scores["detector"])
    for name, s in scores.items():
        a = sigma_aurocs({k: s[c == i] for i, k in enumerate(VALID_CLASSES)})
        res[f"{name}_auroc"] = round(a.pop("all"), 4)
        res.update({f"{name}_auroc_{k.removeprefix('wrong_')}": round(v, 4) for k, v in a.items()})
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data_cache/synth128_v1_12k")
    ap.add_argument("--shards", type=int, default=8, help="training shards of 500 frames to load")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=97)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default="runs/glass_detector")
    ap.add_argument("--label", choices=("wrong", "glass_mirror"), default="wrong",
                    help="what the detector learns to flag: every valid raw pixel > 5 cm off, or those on glass/mirrors")
    ap.add_argument("--load", help="score a saved detector instead of training one")
    args = ap.parse_args()
    torch.set_num_threads(1)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.load:
        det = Detector()
        det.load_state_dict(torch.load(args.load))
    else:
        det = train(args)
    det.eval()
    for v in (1, 2):
        print(json.dumps(score(det, v)), flush=True)


if __name__ == "__main__":
    main()
