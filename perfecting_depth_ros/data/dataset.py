"""Synthetic RGB-D data on disk and as torch Datasets.

Frames are rendered once into ``.npz`` shards (seeded: frame i of a split always comes from seed
``split_seed * 1_000_003 + i``), then each training sample draws a fresh mask (stage 1) or a fresh
sensor simulation (stage 2) from them.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from . import low_light
from .real import SENSOR_MAX_RANGE_M, holdout_mask
from .sensors import SENSORS, random_hole_mask, simulate
from .world import MIRROR, TRANSPARENT, Frame, render_random

SPLIT_SEEDS = {"train": 1, "val": 2, "test": 3}
SPLIT_STRIDE = 1_000_003  # frame seeds of one split: SPLIT_SEEDS[split] * SPLIT_STRIDE + index, index below the stride
_FIELDS = ("rgb", "depth", "depth_opaque", "normal", "material", "albedo", "K")


def frame_seed(split: str, index: int) -> int:
    return SPLIT_SEEDS[split] * SPLIT_STRIDE + index


def _render_chunk(args: tuple[str, int, int, int, int, tuple[int, int] | None, int]) -> dict[str, np.ndarray]:
    split, start, stop, h, w, crop_of, version = args
    frames = [render_random(frame_seed(split, i), h, w, crop_of=crop_of, version=version) for i in range(start, stop)]
    out = {k: np.stack([getattr(f, k) for f in frames]) for k in _FIELDS}
    out["normal"] = out["normal"].astype(np.float16)
    out["depth_opaque"] = out["depth_opaque"].astype(np.float32)
    return out


def write_shards(out_dir: str | os.PathLike, split: str, count: int, height: int, width: int,
                 crop_of: tuple[int, int] | None = None, shard_size: int = 500, workers: int = 1,
                 progress: bool = True, version: int = 1, start: int = 0) -> list[Path]:
    """Render ``count`` frames of ``split`` of world ``version``, frame indices ``start`` to ``start + count``, into
    ``out_dir/{split}-NNNN.npz`` shards (NNNN counts from ``start // shard_size``; each records its world version);
    return their paths. ``start`` renders more frames of the same split that share none with the first ones."""
    from tqdm import tqdm

    if start < 0 or start % shard_size:
        raise ValueError(f"start must be a non-negative multiple of the shard size {shard_size}, got {start}")
    if start + count > SPLIT_STRIDE:
        raise ValueError("start + count reaches the next split's frame seeds")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for s0 in range(start, start + count, shard_size):
        s1 = min(start + count, s0 + shard_size)
        for c0 in range(s0, s1, 50):
            jobs.append((s0, (split, c0, min(s1, c0 + 50), height, width, crop_of, version)))
    paths, pending = [], {}
    bar = tqdm(total=count, desc=f"render {split}", disable=not progress)
    # One worker renders in this process: no fork of a process that may already run torch's threads (which can
    # deadlock the child; Python 3.12 warns about it).
    ex = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    results = (ex.map if ex else map)(_render_chunk, [j for _, j in jobs])
    try:
        for (s0, job), res in zip(jobs, results):
            pending.setdefault(s0, []).append(res)
            bar.update(job[2] - job[1])
            if sum(len(r["depth"]) for r in pending[s0]) == min(start + count, s0 + shard_size) - s0:
                parts = pending.pop(s0)
                p = out / f"{split}-{s0 // shard_size:04d}.npz"
                np.savez(p, world_version=np.int64(version), **{k: np.concatenate([r[k] for r in parts]) for k in _FIELDS})
                paths.append(p)
    finally:
        if ex:
            ex.shutdown()
    bar.close()
    return paths


def load_shards(data_dir: str | os.PathLike, split: str, shards: int | None = None) -> dict[str, np.ndarray]:
    """All frames of a split (or of its first ``shards`` shards) as stacked arrays (raises FileNotFoundError with a
    hint if none)."""
    paths = sorted(Path(data_dir).glob(f"{split}-*.npz"))[:shards]
    if not paths:
        raise FileNotFoundError(f"no {split} shards in {data_dir}; run `perfecting-depth data --out {data_dir}`")
    # field by field: the peak is the frames once plus one field, not the frames twice
    return {k: np.concatenate([_member(p, k) for p in paths]) for k in _FIELDS}


def _member(path: Path, key: str) -> np.ndarray:
    """One array of an .npz file, the file closed again."""
    with np.load(path) as z:
        return z[key]


def shard_world_version(data_dir: str | os.PathLike, split: str) -> int:
    """The world version a split's shards were rendered with (1 for shards written before versions existed)."""
    paths = sorted(Path(data_dir).glob(f"{split}-*.npz"))
    if not paths:
        raise FileNotFoundError(f"no {split} shards in {data_dir}")
    versions = set()
    for p in paths:
        with np.load(p) as z:
            versions.add(int(z["world_version"]) if "world_version" in z.files else 1)
    if len(versions) > 1:
        raise ValueError(f"{data_dir}: {split} shards of several world versions {sorted(versions)}")
    return versions.pop()


def frame_at(arrays: dict[str, np.ndarray], i: int) -> Frame:
    return Frame(**{k: (arrays[k][i].astype(np.float32) if k == "normal" else arrays[k][i]) for k in _FIELDS})


@dataclass
class Sample:
    """One training/evaluation example (numpy, metres; raw depth 0 = invalid)."""

    rgb: np.ndarray  # [H,W,3] uint8
    raw: np.ndarray  # [H,W] float32
    gt: np.ndarray  # [H,W] float32
    material: np.ndarray  # [H,W] uint8
    K: np.ndarray
    sensor: str


def sensor_sample(frame: Frame, sensor: str, rng: np.random.Generator) -> Sample:
    """A frame seen through a simulated sensor."""
    return Sample(frame.rgb, simulate(frame, sensor, rng), frame.depth, frame.material, frame.K, sensor)


def masked_sample(frame: Frame, rng: np.random.Generator) -> Sample:
    """A frame with clean depth hidden under a random hole mask (stage-1 training: no sensor errors)."""
    raw = frame.depth.copy()
    raw[random_hole_mask(raw.shape, rng)] = 0.0
    return Sample(frame.rgb, raw, frame.depth, frame.material, frame.K, "masked")


def texture_overlay(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random sharp-edged pattern (patches, stripes or fine noise) as a per-pixel, per-channel RGB gain [H,W,3]
    around 1, drawn with no regard to the scene: RGB edges that are not depth edges, so that a refiner trained with
    it stops copying texture into the depth it rebuilds."""
    import cv2

    H, W = shape
    kind = int(rng.integers(3))
    if kind == 0:  # patches: blurred noise, thresholded
        n = cv2.GaussianBlur(rng.standard_normal((H, W)).astype(np.float32), (0, 0), float(rng.uniform(1, 6)))
        pat = (n > 0).astype(np.float32)
    elif kind == 1:  # stripes of any direction and period
        th, f = rng.uniform(0, np.pi), rng.uniform(0.05, 0.5)
        yy, xx = np.mgrid[:H, :W].astype(np.float32)
        pat = (np.sin(f * (xx * np.cos(th) + yy * np.sin(th))) > 0).astype(np.float32)
    else:  # fine noise
        pat = rng.random((H, W)).astype(np.float32)
    gain = 1 + rng.uniform(0.1, 0.4) * (2 * pat - 1)
    return (gain[..., None] ** rng.uniform(0.7, 1.3, 3)).astype(np.float32)


NEAR_AUG_SCALE = (0.35, 0.8)  # near_aug: the world's scale factors


def scaled_world(frame: Frame, scale: float) -> Frame:
    """The same picture of a world ``scale`` times the size: every depth scales, the RGB and the intrinsics do
    not (a pinhole image is invariant to scaling the scene about the camera). Scaled down, more of the scene falls
    below a sensor's minimum range: the large near holes (a floor just in front of a robot) that are rare in the
    rooms as rendered."""
    return replace(frame, depth=(frame.depth * scale).astype(np.float32),
                   depth_opaque=(frame.depth_opaque * scale).astype(np.float32))


class SyntheticDepthDataset(Dataset):
    """Torch Dataset over rendered shards; ``mode`` is 'masked' (stage 1) or 'sensor' (stage 2).

    Items are dicts of float tensors: rgb [3,H,W] 0..1, raw [1,H,W] m, gt [1,H,W] m, material [1,H,W], and
    max_range [] m (the simulated sensor's, 0 in masked mode).
    A horizontal flip is applied with probability 0.5 when ``augment`` and ``hflip`` (without it, occlusion shadows
    stay on the side the sensor puts them: left of foreground objects, as in data/sensors.py); ``texture_aug`` is
    the chance of a random texture laid over the RGB (``texture_overlay``); ``near_aug`` the chance of a scaled-down
    world before the sensor (``scaled_world``); ``screens`` the chance of a dark screen painted over a flat surface,
    its raw depth dropped (data/screens.py); ``dark_guide`` the chance of the colour as a camera records it in the dark
    and the enhancer brightens it (data/low_light.py). ``hard_weight`` > 1 lists frames that show glass or a mirror (at
    least 0.5 % of their pixels) that many times per epoch, each time with its own sensor draw.
    """

    def __init__(self, arrays: dict[str, np.ndarray], mode: str, seed: int = 0, augment: bool = True,
                 sensors: tuple[str, ...] = tuple(SENSORS), extra_holes: float = 0.0, hard_weight: int = 1,
                 texture_aug: float = 0.0, near_aug: float = 0.0, hflip: bool = True, screens: float = 0.0,
                 dark_guide: float = 0.0):
        if mode not in ("masked", "sensor"):
            raise ValueError(f"mode must be 'masked' or 'sensor', got {mode!r}")
        if hard_weight < 1:
            raise ValueError(f"hard_weight must be >= 1, got {hard_weight}")
        self.arrays, self.mode, self.seed, self.augment, self.sensors = arrays, mode, seed, augment, sensors
        self.extra_holes = extra_holes  # sensor mode: chance of also hiding random blobs of valid pixels
        self.texture_aug = texture_aug  # chance of a random texture over the RGB (texture_overlay)
        self.near_aug = near_aug  # sensor mode: chance of a scaled-down world (more surfaces below min range)
        self.screens = screens  # sensor mode: chance of a dark screen the sensor does not see (data/screens.py)
        self.dark_guide = dark_guide  # chance of a dark colour guide, brightened (data/low_light.py)
        self.hflip = hflip
        self.epoch = 0
        self.index = np.arange(len(arrays["depth"]))
        if hard_weight > 1:
            hard = np.flatnonzero(np.isin(arrays["material"], (TRANSPARENT, MIRROR)).mean(axis=(1, 2)) >= 0.005)
            self.index = np.concatenate([self.index] + [hard] * (hard_weight - 1))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, i))
        frame = frame_at(self.arrays, int(self.index[i]))
        if self.mode == "masked":
            s = masked_sample(frame, rng)
        else:
            if self.near_aug > 0 and rng.random() < self.near_aug:
                frame = scaled_world(frame, float(rng.uniform(*NEAR_AUG_SCALE)))
            s = sensor_sample(frame, self.sensors[int(rng.integers(len(self.sensors)))], rng)
            if rng.random() < self.extra_holes:  # holes are not always far or shadowed: blobs on surfaces too
                s.raw = np.where(random_hole_mask(s.raw.shape, rng, coverage=rng.uniform(0.03, 0.25)), 0, s.raw)
        rgb, raw, gt, mat = s.rgb, s.raw, s.gt, s.material
        if self.mode == "sensor" and self.screens > 0 and rng.random() < self.screens:
            from .screens import KINDS, paint_screen

            painted = paint_screen(rgb, gt, raw, rng, KINDS[int(rng.integers(len(KINDS)))], scale=raw.shape[1] / 320)
            if painted is not None:
                rgb, raw = painted[0], painted[1]
        if self.texture_aug > 0 and rng.random() < self.texture_aug:  # after the sensor: depth never sees it
            rgb = np.clip(rgb * texture_overlay(rgb.shape[:2], rng), 0, 255).astype(np.uint8)
        if self.dark_guide > 0 and rng.random() < self.dark_guide:  # after everything that paints the colour
            rgb = low_light.dark_guide(np.ascontiguousarray(rgb), rng)
        if self.augment and self.hflip and rng.random() < 0.5:
            rgb, raw, gt, mat = rgb[:, ::-1], raw[:, ::-1], gt[:, ::-1], mat[:, ::-1]
        return {
            "rgb": torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0,
            "raw": torch.from_numpy(np.ascontiguousarray(raw))[None].float(),
            "gt": torch.from_numpy(np.ascontiguousarray(gt))[None].float(),
            "material": torch.from_numpy(np.ascontiguousarray(mat))[None].float(),
            # the sensor's max range, metres (0: none, the clean depth of stage 1)
            "max_range": torch.tensor(SENSORS[s.sensor].max_range_m if s.sensor in SENSORS else 0.0),
            "real": torch.tensor(0.0),  # 1 for RealReferenceDataset's frames, which may share a batch with these
        }


REAL_TARGETS = ("reference", "holdout")  # what RealReferenceDataset trains real frames against


class RealReferenceDataset(Dataset):
    """Real Kinect v1 frames of the 7-Scenes training block, with one of two targets.

    Frames are brought to the model's pixel scale (640x480 -> 320x240, valid-aware), then a random
    ``crop`` window is taken; ``length`` items cycle over the frames with fresh crops.

    - ``target="reference"``: the fused TSDF reference (read from ``ref_dir``); 0 where the fused surface
      has no value (the loss skips those pixels).
    - ``target="holdout"``: self-supervised. Random blobs of the valid raw pixels are hidden from the input
      and the hidden raw depth is the target (0, so unscored, everywhere else): filling holes in real
      surfaces, learnt from real measurements alone. ``ref_dir`` is not read. ``hole_bias`` draws the blobs
      toward the frame's own raw holes (``holdout_mask``).

    Windows are flipped horizontally half of the time unless ``hflip`` is False; ``dark_guide`` is the chance of a
    window's colour as a camera records it in the dark and the enhancer brightens it (data/low_light.py).
    """

    def __init__(self, ref_dir: str | os.PathLike | None, indices, length: int, crop: tuple[int, int] = (128, 160),
                 seed: int = 0, root: str | os.PathLike | None = None, target: str = "reference",
                 hidden: tuple[float, float] = (0.1, 0.3), hole_bias: float = 0.0, hflip: bool = True,
                 dark_guide: float = 0.0):
        import cv2

        from ..enhancer import _resize_depth
        from ..evaluate.reference import load_sequence, read_frame

        if target not in REAL_TARGETS:
            raise ValueError(f"target must be one of {REAL_TARGETS}, got {target!r}")
        if target == "reference" and ref_dir is None:
            raise ValueError("target 'reference' needs ref_dir (the fused reference)")
        d, _, _ = load_sequence(Path(root) if root else None)
        self.rgb, self.raw, self.ref = [], [], []
        for i in indices:
            rgb, raw = read_frame(d, i)
            self.rgb.append(cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA))
            self.raw.append(_resize_depth(raw, (240, 320)))
            if target == "reference":
                ref = cv2.imread(str(Path(ref_dir) / "ref" / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
                self.ref.append(_resize_depth(ref.astype(np.float32) / 1000, (240, 320)))
        self.length, self.crop, self.seed, self.epoch = length, crop, seed, 0
        self.target, self.hidden, self.hole_bias, self.hflip = target, hidden, hole_bias, hflip
        self.dark_guide = dark_guide

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, i, 7))
        k = i % len(self.rgb)
        h, w = self.crop
        y, x = int(rng.integers(0, 240 - h + 1)), int(rng.integers(0, 320 - w + 1))
        sl = (slice(y, y + h), slice(x, x + w))
        rgb, raw = self.rgb[k][sl], self.raw[k][sl]
        if self.target == "reference":
            ref = self.ref[k][sl]
        else:
            hide = holdout_mask(raw, rng, float(rng.uniform(*self.hidden)), float(rng.uniform(2.0, 10.0)),
                                self.hole_bias)
            raw, ref = np.where(hide, 0, raw).astype(np.float32), np.where(hide, raw, 0).astype(np.float32)
        if self.dark_guide > 0 and rng.random() < self.dark_guide:
            rgb = low_light.dark_guide(np.ascontiguousarray(rgb), rng)
        if self.hflip and rng.random() < 0.5:
            rgb, raw, ref = rgb[:, ::-1], raw[:, ::-1], ref[:, ::-1]
        return {
            "rgb": torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0,
            "raw": torch.from_numpy(np.ascontiguousarray(raw))[None].float(),
            "gt": torch.from_numpy(np.ascontiguousarray(ref))[None].float(),
            "material": torch.zeros(1, h, w),
            "max_range": torch.tensor(SENSOR_MAX_RANGE_M["kinect_v1"]),  # 7-Scenes: Kinect v1
            "real": torch.tensor(1.0),
        }
