"""Train the hole fusion (hole_fusion.py): ``perfecting-depth train fusion --config config/train/fusion.yaml``.

1. Run the shipped model (fusion off) on
   - real 7-Scenes training frames (0-699 only) with blobs of valid raw hidden (data.real.holdout_mask): the hidden
     raw is the truth there;
   - synthetic training frames of both worlds with simulated sensors and hidden blobs: every pixel the model does not
     keep (raw holes, raw it rejects, hidden blobs) with a rendered truth;
   and keep, per scored pixel, the features the run time sees, the learned depth, the classical fill and the truth.
2. Fit the MLP on them (L1 plus ``l2_weight`` x squared error of the fused depth, each of the three domains weighed
   by the learned depth's own error there, so metre-scale synthetic holes do not drown centimetre-scale real ones).
   Seeded and bit-reproducible; under two minutes on a 2-core CPU.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data.screens import KINDS, paint_screen
from ..enhancer import KEEP_GATE
from ..hole_fusion import (
    BASE_FEATURES,
    CLASSICAL_DIAMETERS,
    FEATURE_NAMES,
    LAYERS,
    fusion_features,
    fusion_fill,
    reach_ramp,
)
from .common import config_from_yaml


@dataclass
class FusionConfig:
    out_dir: str = "runs/fusion"
    weights: str | None = None  # the model whose outputs are fused (None: the shipped one)
    real_frames: list[int] = field(default_factory=lambda: [3, 700, 10])  # range(start, stop, step), 7-Scenes train
    real_draws: int = 2  # blob draws per real frame
    real_seed: int = 70_000
    synth_frames: int = 120  # per world version (train split)
    synth_first: int = 200_000  # first train-split frame index (far from the refiner's training shards)
    synth_size: list[int] = field(default_factory=lambda: [240, 320])
    synth_seed: int = 71_000
    synth_blobs: bool = True  # also hide blobs of valid raw in the synthetic frames (more, easier holes)
    l2_weight: float = 0.0  # loss: L1 + this x squared error (each over the learned depth's own, per domain)
    reach_px: float = 16.0  # the classical fill takes part up to this far from a kept measurement (HoleFusion)
    classical_diameters: list[int] = field(default_factory=lambda: list(CLASSICAL_DIAMETERS))  # its windows (px)
    features: int = BASE_FEATURES  # the first this many of hole_fusion.FEATURE_NAMES
    dense_classical: bool = False  # the classical fill closed by Navier-Stokes where its windows do not reach
    screens: float = 0.0  # chance of a dark screen painted into a synthetic frame (data/screens.py)
    hidden: int = 16
    steps: int = 2000
    batch_size: int = 8192
    lr: float = 0.003
    seed: int = 0

    @classmethod
    def from_yaml(cls, path: str | Path, settings: dict | None = None, **overrides) -> FusionConfig:
        return config_from_yaml(cls, path, overrides, settings)


def frame_columns(enh, rgb: np.ndarray, inp: np.ndarray, truth: np.ndarray, score: np.ndarray,
                  max_range: float | None, diameters: tuple[int, ...] = CLASSICAL_DIAMETERS,
                  features: int = BASE_FEATURES, dense: bool = False) -> dict[str, np.ndarray]:
    """Features, learned depth, classical fill and truth of the pixels of ``score`` the model does not keep."""
    out = enh.enhance(rgb, inp, max_range_m=max_range)
    keep = out.raw_reliability > KEEP_GATE
    kept_depth = np.where(keep, inp, 0).astype(np.float32)
    classical = fusion_fill(rgb, kept_depth, diameters, dense)
    where = score & ~keep & np.isfinite(out.depth) & np.isfinite(classical) & (classical > 0)
    x = fusion_features(rgb, kept_depth, out.depth, classical, out.uncertainty, out.spread, where, features,
                        max_range)
    return {"x": x, "learned": out.depth[where], "classical": classical[where], "truth": truth[where]}


def _stack(rows: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def collect_real(cfg: FusionConfig, enh) -> dict[str, np.ndarray]:
    from tqdm import tqdm

    from ..data.real import holdout_mask, sevenscenes_training_frames
    from ..evaluate.reference import KINECT_V1_RANGE_M, load_sequence, read_frame

    seq = load_sequence()[0]
    frames = sevenscenes_training_frames(cfg.real_frames)
    rows = []
    for k, i in enumerate(tqdm(frames, desc="fusion data: 7-Scenes")):
        rgb, raw = read_frame(seq, i)
        for d in range(cfg.real_draws):
            hide = holdout_mask(raw, np.random.default_rng(cfg.real_seed + 100 * k + d))
            inp = np.where(hide, 0, raw).astype(np.float32)
            rows.append(frame_columns(enh, rgb, inp, raw, hide, KINECT_V1_RANGE_M, tuple(cfg.classical_diameters),
                                      cfg.features, cfg.dense_classical))
    return _stack(rows)


def collect_synthetic(cfg: FusionConfig, enh, version: int) -> dict[str, np.ndarray]:
    from tqdm import tqdm

    from ..data.dataset import frame_seed
    from ..data.real import holdout_mask
    from ..data.sensors import SENSORS, simulate
    from ..data.world import render_random
    from ..enhancer import MIN_VALID_PIXELS

    rows = []
    for i in tqdm(range(cfg.synth_frames), desc=f"fusion data: world v{version}"):
        f = render_random(frame_seed("train", cfg.synth_first + i), *cfg.synth_size, version=version)
        sensor = list(SENSORS)[i % len(SENSORS)]
        rng = np.random.default_rng(cfg.synth_seed + 1000 * version + i)
        raw = simulate(f, sensor, rng)
        rgb = f.rgb
        if cfg.screens > 0 and rng.random() < cfg.screens:  # a dark screen the sensor does not see
            painted = paint_screen(rgb, f.depth, raw, rng, KINDS[i % len(KINDS)])
            if painted is not None:
                rgb, raw = painted[0], painted[1]
        if (raw > 0).sum() < 4 * MIN_VALID_PIXELS:
            continue
        inp = np.where(holdout_mask(raw, rng), 0, raw).astype(np.float32) if cfg.synth_blobs else raw
        rows.append(frame_columns(enh, rgb, inp, f.depth, f.depth > 0, SENSORS[sensor].max_range_m,
                                  tuple(cfg.classical_diameters), cfg.features, cfg.dense_classical))
    return _stack(rows)


def fit(domains: dict[str, dict[str, np.ndarray]], cfg: FusionConfig) -> tuple[dict[str, np.ndarray], dict]:
    """Fit the MLP; returns its parameters (HoleFusion's names) and per-domain MAE of learned, classical, fused."""
    import torch

    torch.manual_seed(cfg.seed)
    nf = cfg.features
    t = {n: {k: torch.tensor(v[:, :nf] if k == "x" else v) for k, v in d.items()} for n, d in domains.items()}
    for d in t.values():
        d["ramp"] = reach_ramp(d["x"][:, 0], cfg.reach_px)
    x_all = torch.cat([d["x"] for d in t.values()])
    mean, std = x_all.mean(0), x_all.std(0) + 1e-6
    norm = {n: float((d["learned"] - d["truth"]).abs().mean()) for n, d in t.items()}
    norm2 = {n: float(((d["learned"] - d["truth"]) ** 2).mean()) for n, d in t.items()}
    net = torch.nn.Sequential(torch.nn.Linear(nf, cfg.hidden), torch.nn.GELU(approximate="tanh"),
                              torch.nn.Linear(cfg.hidden, cfg.hidden), torch.nn.GELU(approximate="tanh"),
                              torch.nn.Linear(cfg.hidden, 1))
    opt = torch.optim.Adam(net.parameters(), cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    gen = torch.Generator().manual_seed(cfg.seed)

    def fused(d, idx=None):
        x, lrn, cls, ramp = (d[k] if idx is None else d[k][idx] for k in ("x", "learned", "classical", "ramp"))
        w = torch.sigmoid(net((x - mean) / std))[:, 0]
        return lrn + (1 - w) * ramp * (cls - lrn)

    from tqdm import tqdm

    per = max(1, cfg.batch_size // len(t))
    for _ in tqdm(range(cfg.steps), desc="fusion fit"):
        loss = 0.0
        for n, d in t.items():
            idx = torch.randint(0, len(d["truth"]), (per,), generator=gen)
            e = fused(d, idx) - d["truth"][idx]
            loss = loss + e.abs().mean() / norm[n] + cfg.l2_weight * (e * e).mean() / norm2[n]
        opt.zero_grad()
        (loss / len(t)).backward()
        opt.step()
        sched.step()
    report = {}
    with torch.no_grad():
        for n, d in t.items():
            report[n] = {"pixels": len(d["truth"]), "mae_learned_m": norm[n],
                         "mae_classical_m": float((d["classical"] - d["truth"]).abs().mean()),
                         "mae_fused_m": float((fused(d) - d["truth"]).abs().mean())}
    layers = [m for m in net if isinstance(m, torch.nn.Linear)]
    params = {"mean": mean.numpy(), "std": std.numpy(), "reach": np.array([cfg.reach_px], np.float32)}
    for name, lin in zip(LAYERS, layers):
        params[f"{name}.weight"] = lin.weight.detach().numpy().copy()
        params[f"{name}.bias"] = lin.bias.detach().numpy().copy()
    return params, report


def train_fusion(cfg: FusionConfig) -> Path:
    """Collect, fit, write ``out_dir``/hole_fusion.safetensors (+ report.json); returns the weights' path."""
    import torch
    from safetensors.numpy import save_file

    from ..backends.base import verify_weights, write_manifest
    from ..enhancer import DEFAULT_WEIGHTS, DepthEnhancer

    t0 = time.time()
    model_sha = verify_weights(cfg.weights or DEFAULT_WEIGHTS)
    torch.set_num_threads(2)
    enh = DepthEnhancer("learned", weights=cfg.weights, backend="onnxruntime", fusion=False)
    domains = {"real_7scenes": collect_real(cfg, enh),
               "synthetic_v1": collect_synthetic(cfg, enh, 1), "synthetic_v2": collect_synthetic(cfg, enh, 2)}
    params, report = fit(domains, cfg)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "hole_fusion.safetensors"
    meta = {"model_sha256": model_sha, "config": json.dumps(asdict(cfg)),
            "features": ",".join(FEATURE_NAMES[:cfg.features]), "dense_classical": "1" if cfg.dense_classical else "0",
            "classical_diameters": ",".join(str(int(d)) for d in cfg.classical_diameters),
            "train_report": json.dumps(report), "wall_s": f"{time.time() - t0:.0f}"}
    save_file({k: np.ascontiguousarray(v, np.float32) for k, v in params.items()}, str(path), metadata=meta)
    write_manifest(path)  # the enhancer loads no weights without their sha256 beside them
    (out / "report.json").write_text(json.dumps({"train": report, "wall_s": time.time() - t0,
                                                 "config": asdict(cfg)}, indent=1))
    print(json.dumps(report, indent=1))
    return path
