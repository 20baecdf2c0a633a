#!/usr/bin/env python3
"""Choose between checkpoints without touching a test set: masked hold-out MAE on the 7-Scenes gap block
(frames 700-799, used neither for training nor for testing), the same frames unmasked against the fused
TSDF reference (MAE where raw is valid, and the AUROC of sigma for raw pixels > 5 cm off it: does a
change hurt real measurements or real uncertainty?), and RMSE / artifact MAE / AUROC on synthetic
validation frames at 240x320 (seeds of the 'val' split, never the test split's).

  python scripts/validate_gap.py runs/stage2c/model.safetensors runs/stage2e/model.safetensors [--classical]
      [--world-version 2]  (the synthetic validation frames from world version 2: framed, reflecting glass)
      [--range-unknown]  (the sensors' max range withheld, as for a node not told it)
      [--fresh]  (other validation frames and draws, for confirming a choice: see score)
      [--third]  (a third set of frames and draws, never used by --fresh or the usual scoring: see score)
      [--fourth]  (a fourth such set)
      [--fifth]  (a fifth such set)
      [--sixth]  (a sixth such set)
      [--seventh]  (a seventh such set)
      [--eighth]  (an eighth such set)
      [--ninth]  (a ninth such set)
      [--tenth]  (a tenth such set)
      [--sets=0,7,8,9]  (those sets' frames pooled into one score: VAL_SETS' numbers, 0 the usual set, 7 the eighth)
      [--blob-seed S]  (adds blob_mae_m: the pooled MAE in gap-block blobs drawn from seeds S+, see gap_blob_frames)
      [--fusion=off|auto|PATH]  (the hole fusion the enhancer uses: DepthEnhancer's ``fusion``; default auto)
      [--near-cap=F]  (enhancer.NEAR_CAP_FACTOR for this run: holes below the minimum range, near_holes.py; 0 off)
      [--keep-gate=G]  (enhancer.KEEP_GATE for this run: raw pixels are kept where the reliability exceeds it)
      [--hole-shape=PX]  (enhancer.HOLE_SHAPE_PX for this run: deep in raw holes a colour-guided shape, hole_shape.py)
      [--samples=K] [--steps=S]  (the sampler's K samples and S steps, DepthEnhancer's; default the shipped 4 and 2)
      [--noise-seeds N]  (each figure averaged over the enhancer's fixed noise drawn from seeds 0..N-1, with its
                          spread over them in "seed_sd"; the default is 1, seed 0, the shipped enhancer's draw)

The fixed noise draw alone moves the figures: over seeds 0-3 the shipped model's world-v1 validation RMSE is 0.4252,
0.4262, 0.4187 and 0.4151 m (fourteenth session), so differences of a few mm in RMSE between two models scored with
one draw are within what another draw gives; --noise-seeds 4 scores a choice that close.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from perfecting_depth_ros.data.dataset import frame_seed
from perfecting_depth_ros.data.real import holdout_mask
from perfecting_depth_ros.data.sensors import SENSORS, _occlusion_band, simulate
from perfecting_depth_ros.data.world import render_random
from perfecting_depth_ros.enhancer import MIN_VALID_PIXELS, DepthEnhancer
from perfecting_depth_ros.evaluate import metrics as M
from perfecting_depth_ros.evaluate.reference import (
    GAP,
    KINECT_V1_RANGE_M,
    load_sequence,
    read_frame,
    read_reference,
)

N_VAL = 45
FAR_M = KINECT_V1_RANGE_M  # raw holes with the truth beyond Kinect v1's range are left out of val_rmse_in_range_m
REF = Path(__file__).resolve().parents[1] / "data_cache" / "7scenes_ref"  # perfecting-depth reference


FRESH_VAL_FIRST = 7000  # --fresh: validation seeds 7000-7044, gap-block frames 705, 715, ... and blob seeds 31000+
# The validation sets score() draws from: (first synthetic validation seed, first gap-block frame, first hold-out
# seed); set 0 is the usual one, 1 is --fresh, 2 is --third (seeds 9000-9044, gap-block frames 702, 712, ...), 3 is
# --fourth (seeds 11000-11044, gap-block frames 707, 717, ...), 4 is --fifth (seeds 13000-13044, frames 703, 713, ...),
# 5 is --sixth (seeds 15000-15044, frames 708, 718, ...), 6 is --seventh (seeds 17000-17044, frames 704, 714, ...),
# 7 is --eighth (seeds 19000-19044, frames 706, 716, ...), 8 is --ninth (seeds 21000-21044, frames 701, 711, ...),
# 9 is --tenth (seeds 23000-23044, frames 709, 719, ...; the last offset of the gap block's frames). Sets 10-13
# (forty-seventh session; only through --sets) have synthetic frames of their own (seeds 25000, 27000, 29000, 31000+)
# and reuse the gap block's frames of sets 0, 8, 2 and 4 (700, 710, ...; 701, ...; 702, ...; 703, ...) with hidden
# blobs of their own (seeds 80000-83000+): one set's synthetic frames move a comparison far more than its real ones do
# (stage2_recipe_control.yaml).
VAL_SETS = {0: (1000, 0, 30_000), 1: (FRESH_VAL_FIRST, 5, 31_000), 2: (9000, 2, 33_000), 3: (11_000, 7, 35_000),
            4: (13_000, 3, 37_000), 5: (15_000, 8, 39_000), 6: (17_000, 4, 41_000), 7: (19_000, 6, 43_000),
            8: (21_000, 1, 45_000), 9: (23_000, 9, 47_000), 10: (25_000, 0, 80_000), 11: (27_000, 1, 81_000),
            12: (29_000, 2, 82_000), 13: (31_000, 3, 83_000), 14: (33_000, 4, 86_000), 15: (35_000, 5, 87_000),
            16: (37_000, 6, 88_000), 17: (39_000, 7, 89_000), 18: (41_000, 8, 92_000), 19: (43_000, 9, 93_000),
            20: (45_000, 0, 94_000), 21: (47_000, 1, 95_000), 22: (49_000, 2, 98_000), 23: (51_000, 3, 99_000),
            24: (53_000, 4, 100_000), 25: (55_000, 5, 101_000), 26: (57_000, 6, 104_000), 27: (59_000, 7, 105_000),
            28: (61_000, 8, 108_000), 29: (63_000, 9, 109_000), 30: (65_000, 0, 110_000), 31: (67_000, 1, 111_000),
            32: (69_000, 2, 116_000), 33: (71_000, 3, 117_000), 34: (73_000, 4, 118_000), 35: (75_000, 5, 119_000),
            36: (77_000, 6, 122_000), 37: (79_000, 7, 123_000), 38: (81_000, 8, 124_000), 39: (83_000, 9, 125_000),
            40: (85_000, 0, 128_000), 41: (87_000, 1, 129_000), 42: (89_000, 2, 130_000), 43: (91_000, 3, 131_000),
            44: (93_000, 4, 134_000), 45: (95_000, 5, 135_000), 46: (97_000, 6, 136_000), 47: (99_000, 7, 137_000),
            48: (101_000, 8, 140_000), 49: (103_000, 9, 141_000), 50: (105_000, 0, 142_000), 51: (107_000, 1, 143_000),
            52: (109_000, 2, 146_000), 53: (111_000, 3, 147_000), 54: (113_000, 4, 148_000), 55: (115_000, 5, 149_000),
            56: (117_000, 6, 152_000), 57: (119_000, 7, 153_000), 58: (121_000, 8, 154_000), 59: (123_000, 9, 155_000)}


def shadow_holes(f, raw: np.ndarray, max_range: float) -> np.ndarray:
    """Raw holes in the occlusion shadow of a stereo or structured-light sensor (the band beside foreground objects
    the second view or the projector cannot see; 1 px wider for misregistration); none for time of flight."""
    sensor = next(s for s in SENSORS.values() if s.max_range_m == max_range)
    if not sensor.shadow:
        return np.zeros(raw.shape, bool)
    band = _occlusion_band(f.depth, float(f.K[0, 0]) * sensor.baseline_m).astype(np.uint8)
    return (cv2.dilate(band, np.ones((3, 3), np.uint8)) > 0) & (raw <= 0) & (f.depth > 0)


def val_frames(version: int = 1, first: int = 1000):
    """The synthetic validation frames (validation seeds ``first``.., never the test split's) with simulated raw
    depth; ``first=FRESH_VAL_FIRST`` gives 45 others, for confirming a choice made on the usual ones."""
    for i in range(N_VAL):
        f = render_random(frame_seed("val", first + i), 240, 320, version=version)
        sensor = list(SENSORS)[i % 3]
        raw = simulate(f, sensor, np.random.default_rng(40_000 + first - 1000 + i))
        if (raw > 0).sum() >= MIN_VALID_PIXELS:  # a frame the enhancer refuses (a wall at arm's length) is skipped
            yield f, raw, SENSORS[sensor].max_range_m


N_CAL = 60


def cal_frames():
    """Calibration frames for scripts/calibrate_*.py: 60 synthetic frames (world v1 and v2 in turn, the three sensors
    in turn) from validation-split seeds 5000-5059, never the 45 frames scored here nor the test split; yields
    (frame, raw, sensor max range)."""
    for i in range(N_CAL):
        f = render_random(frame_seed("val", 5000 + i), 240, 320, version=1 + i % 2)
        sensor = list(SENSORS)[i % 3]
        yield f, simulate(f, sensor, np.random.default_rng(50_000 + i)), SENSORS[sensor].max_range_m


def gap_blob_frames(seq, every: int = 5, draws: int = 2, seed: int = 32_000):
    """The 7-Scenes gap block (every ``every``-th frame of 700-799) with blobs of valid raw hidden, ``draws`` draws per
    frame from seeds ``seed``+ (32000+ by default, not validate_gap's own 30000+): yields (rgb, raw, hidden mask) for
    the probe scripts."""
    for k, i in enumerate(list(GAP)[::every]):
        rgb, raw = read_frame(seq, i)
        for d in range(draws):
            yield rgb, raw, holdout_mask(raw, np.random.default_rng(seed + 100 * k + d))


def blob_mae(enh: DepthEnhancer, seq, seed: int) -> float:
    """Pooled MAE in the hidden pixels of ``gap_blob_frames(seq, seed=seed)`` (40 frame-draws of the gap block)."""
    err = [np.abs(enh.enhance(rgb, np.where(hide, 0, raw).astype(np.float32), max_range_m=KINECT_V1_RANGE_M).depth
                  - raw)[hide] for rgb, raw, hide in gap_blob_frames(seq, seed=seed)]
    return float(np.mean(np.concatenate(err)))


def mean_dbe(dbe: list[dict]) -> dict:
    """Per-frame depth-boundary errors (metrics.boundary_errors) averaged over the frames that have true edges."""
    return {"val_dbe_acc_px": float(np.mean([b["dbe_acc"] for b in dbe if b])),
            "val_dbe_comp_px": float(np.mean([b["dbe_comp"] for b in dbe if b]))}


def probe_setup(args: list[str], candidates: dict, flag: str):
    """The probe scripts' common command line, ``[weights] [flag] [--only=A,B]``: returns (whether ``flag`` was
    given, the candidate names to score, the learned enhancer on ONNX Runtime, the 7-Scenes sequence)."""
    names = [a for a in args if a.startswith("--only=")]
    only = names[0].split("=", 1)[1].split(",") if names else list(candidates)
    weights = next((a for a in args if not a.startswith("--")), None)
    return flag in args, only, DepthEnhancer("learned", weights=weights, backend="onnxruntime"), load_sequence()[0]


def report_section(report: dict, key: str, value: dict, out_path: str | None = None) -> None:
    """Add one section to a probe's report, print it as a JSON line, and (re)write the whole report to ``out_path``."""
    report[key] = value
    print(json.dumps({key: value}), flush=True)
    if out_path:
        Path(out_path).write_text(json.dumps(report, indent=1))


def published_nll(pred: np.ndarray, sigma: np.ndarray, truth: np.ndarray) -> float:
    """Laplace NLL of the published 1-sigma over the pixels with a prediction, a sigma and a truth."""
    ok = np.isfinite(pred) & np.isfinite(sigma) & (truth > 0) & (sigma > 0)
    return M.laplace_nll((pred - truth)[ok], sigma[ok])


def set_frames(sets: tuple[int, ...]):
    """(gap-block frame, hold-out seed) pairs of the validation ``sets`` (VAL_SETS keys), in order."""
    for s in sets:
        _, first_gap, holdout_seed = VAL_SETS[s]
        yield from ((i, holdout_seed + k) for k, i in enumerate(list(GAP)[first_gap::10]))


def score(enh: DepthEnhancer, seq, version: int = 1, use_range: bool = True, fresh: int | tuple[int, ...] = 0) -> dict:
    """Validation figures; ``use_range=False`` withholds the sensors' max range (a node not told it); ``fresh=1``
    (or True) scores other frames and draws (FRESH_VAL_FIRST), to confirm a choice made on the usual ones, and
    ``fresh=2`` .. ``9`` a third .. tenth set (VAL_SETS); a tuple of set numbers pools their frames (``--sets``)."""
    d = seq
    kinect = KINECT_V1_RANGE_M if use_range else None
    sets = tuple(int(s) for s in fresh) if isinstance(fresh, (tuple, list)) else (int(fresh),)
    gap, rp, rs, rg, rr = [], [], [], [], []
    for i, hide_seed in set_frames(sets):
        rgb, raw = read_frame(d, i)
        hide = holdout_mask(raw, np.random.default_rng(hide_seed))
        out = enh.enhance(rgb, np.where(hide, 0, raw).astype(np.float32), max_range_m=kinect)
        gap.append(np.nanmean(np.abs(out.depth - raw)[hide]))
        ref = read_reference(REF, i)
        if ref is not None:
            full = enh.enhance(rgb, raw, max_range_m=kinect)
            rp.append(full.depth.ravel()), rs.append(full.uncertainty.ravel()), rr.append(raw.ravel())
            rg.append(ref.ravel())
    preds, sigmas, gts, raws, dbe, near, shadow = [], [], [], [], [], [], []
    for f, raw, max_range in (x for s in sets for x in val_frames(version, VAL_SETS[s][0])):
        out = enh.enhance(f.rgb, raw, max_range_m=max_range if use_range else None)
        # holes nearer than every measurement of the frame (below the sensor's minimum range, mostly)
        near.append(np.abs(out.depth - f.depth)[(raw <= 0) & (f.depth > 0) & (f.depth < raw[raw > 0].min())])
        shadow.append(np.abs(out.depth - f.depth)[shadow_holes(f, raw, max_range)])
        dbe.append(M.boundary_errors(out.depth, f.depth))
        preds.append(out.depth.ravel()), sigmas.append(out.uncertainty.ravel())
        gts.append(f.depth.ravel()), raws.append(raw.ravel())
    p, s, g, r = (np.concatenate(x) for x in (preds, sigmas, gts, raws))
    reg = M.regions(r, g)
    beyond = (r <= 0) & (g > FAR_M)  # holes whose truth lies past the sensor's range: nothing in the frame shows it
    res = {"gap_holdout_mae_m": float(np.mean(gap)),
           "val_rmse_m": M.depth_errors(p, g, reg["all"]).get("rmse"),
           "val_rmse_in_range_m": M.depth_errors(p, g, reg["all"] & ~beyond).get("rmse"),
           "val_mae_missing_m": M.depth_errors(p, g, reg["missing"]).get("mae"),
           "val_mae_artifact_m": M.depth_errors(p, g, reg["artifact"]).get("mae"), **mean_dbe(dbe),
           "val_mae_near_hole_m": float(np.nanmean(np.concatenate(near))), "val_near_hole_px": int(sum(map(len, near))),
           "val_mae_shadow_m": float(np.mean(np.concatenate(shadow))), "val_shadow_px": int(sum(map(len, shadow)))}
    if rp:  # the gap frames unmasked, against the fused reference (0 = no reference there)
        p2, s2, g2, r2 = (np.concatenate(x) for x in (rp, rs, rg, rr))
        res["gap_ref_mae_valid_m"] = M.depth_errors(p2, g2, (r2 > 0) & (g2 > 0)).get("mae")
        res["gap_ref_mae_missing_m"] = M.depth_errors(p2, g2, (r2 <= 0) & (g2 > 0)).get("mae")  # real raw holes
        if np.isfinite(s2).any():
            res["gap_ref_auroc"] = M.uncertainty_metrics(p2, s2, g2, r2).get("auroc_raw_wrong")
    if np.isfinite(s).any():
        u = M.uncertainty_metrics(p, s, g, r)
        res.update({"val_auroc": u.get("auroc_raw_wrong"), "val_cov2": u.get("cov2"), "val_ause": u.get("ause"),
                    "val_nll_laplace": published_nll(p, s, g)})
    return res


def eq_arg(args: list[str], name: str, default: str) -> tuple[str, list[str]]:
    """The last ``--name=VALUE`` in ``args`` (``default`` if none), and ``args`` without any."""
    given = [a for a in args if a.startswith(f"--{name}=")]
    return (given[-1].split("=", 1)[1] if given else default), [a for a in args if not a.startswith(f"--{name}=")]


def fusion_arg(args: list[str]) -> tuple[bool | str, list[str]]:
    """``--fusion=off|auto|PATH`` (default auto) as DepthEnhancer's ``fusion``, and ``args`` without it."""
    value, args = eq_arg(args, "fusion", "auto")
    return (False if value == "off" else value), args


def score_seeds(weights: str, seq, version: int, use_range: bool, fresh: int | tuple[int, ...], seeds: int,
                blob_seed: int | None = None, fusion: bool | str = "auto", samples: int = 4, steps: int = 2) -> dict:
    """score (and blob_mae when ``blob_seed`` is given) of ``weights`` averaged over the enhancer's fixed noise drawn
    from seeds 0..``seeds``-1; with more than one seed, "seed_sd" holds each figure's standard deviation over them."""
    rows = []
    for seed in range(seeds):
        enh = DepthEnhancer("learned", weights=weights, backend="onnxruntime", seed=seed, fusion=fusion,
                            samples=samples, steps=steps)
        extra = {} if blob_seed is None else {"blob_seed": blob_seed, "blob_mae_m": blob_mae(enh, seq, blob_seed)}
        rows.append({**score(enh, seq, version, use_range, fresh), **extra})
    if seeds == 1:
        return rows[0]
    keys = [k for k, v in rows[0].items() if isinstance(v, float)]
    out = {**rows[0], **{k: float(np.mean([r[k] for r in rows])) for k in keys}, "noise_seeds": seeds}
    out["seed_sd"] = {k: float(np.std([r[k] for r in rows])) for k in keys}
    return out


def take_int(args: list[str], flag: str, default: int | None) -> tuple[int | None, list[str]]:
    """The integer after ``flag`` (``default`` without it) and ``args`` without the two."""
    if flag not in args:
        return default, args
    k = args.index(flag)
    return int(args[k + 1]), args[:k] + args[k + 2:]


def main(args: list[str]) -> int:
    seq = load_sequence()[0]
    version, args = take_int(args, "--world-version", 1)
    blob_seed, args = take_int(args, "--blob-seed", None)
    seeds, args = take_int(args, "--noise-seeds", 1)
    fusion, args = fusion_arg(args)
    near, args = eq_arg(args, "near-cap", "")
    keep_gate, args = eq_arg(args, "keep-gate", "")
    shape, args = eq_arg(args, "hole-shape", "")
    samples, args = eq_arg(args, "samples", "4")
    steps, args = eq_arg(args, "steps", "2")
    samples, steps = int(samples), int(steps)
    import perfecting_depth_ros.enhancer as enhancer_module

    if near:
        enhancer_module.NEAR_CAP_FACTOR = float(near)
    if keep_gate:
        enhancer_module.KEEP_GATE = float(keep_gate)
    if shape:
        enhancer_module.HOLE_SHAPE_PX = float(shape)
    flags = ((9, "--tenth"), (8, "--ninth"), (7, "--eighth"), (6, "--seventh"), (5, "--sixth"), (4, "--fifth"), (3, "--fourth"),
             (2, "--third"), (1, "--fresh"))
    fresh = next((k for k, flag in flags if flag in args), 0)
    tag = {} if version == 1 else {"world_version": version}
    if fresh:
        tag["fresh"] = True if fresh == 1 else fresh
    pooled, args = eq_arg(args, "sets", "")
    if pooled:  # several sets' frames pooled into one score
        fresh = tuple(int(x) for x in pooled.split(",") if x.strip().isdigit())
        if len(fresh) != len(pooled.split(",")) or any(x not in VAL_SETS for x in fresh) or len(set(fresh)) != len(fresh):
            raise SystemExit(f"--sets: distinct set numbers from {sorted(VAL_SETS)}, got {pooled!r}")
        tag["sets"] = list(fresh)
    use_range = "--range-unknown" not in args
    if not use_range:
        tag["max_range"] = "unknown"
    if fusion != "auto":
        tag["fusion"] = fusion
    if near:
        tag["near_cap"] = float(near)
    if keep_gate:
        tag["keep_gate"] = float(keep_gate)
    if shape:
        tag["hole_shape"] = float(shape)
    if (samples, steps) != (4, 2):
        tag.update(samples=samples, steps=steps)
    for p in [a for a in args if not a.startswith("--")]:
        print(json.dumps({"weights": p, **tag, **score_seeds(p, seq, version, use_range, fresh, seeds, blob_seed,
                                                                     fusion, samples, steps)}),
              flush=True)
    if "--classical" in args:
        for name in ("inpaint_ns", "joint_bilateral", "guided_fill"):
            print(json.dumps({"method": name, **tag, **score(DepthEnhancer(name), seq, version, fresh=fresh)}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
