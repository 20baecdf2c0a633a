"""A real-sensor reference from the 1000-frame 7-Scenes Kinect v1 sequence (../shared/data/real).

`perfecting-depth reference` fuses every raw depth frame into a TSDF with the given camera poses (Open3D's
VoxelBlockGrid), extracts the surface and ray casts it back into each view (Open3D RaycastingScene),
giving a denoised, hole-filled reference depth per frame. It reports how good that reference is where it
can be checked (agreement with raw depth on reliable pixels, coverage, edges) and writes panels.

`evaluate_sevenscenes` scores enhancers on the fixed test block against that reference, by region, and
measures temporal flicker (consecutive frames warped with the known poses). The split is contiguous:
frames 0-699 train, 700-799 a gap, 800-999 test, so test frames are never near-duplicates of training ones.

Derived files go to ``data_cache/`` (not committed); the commands say so and stop when the data is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..data.real import (
    SENSOR_MAX_RANGE_M,
    SEVENSCENES_GAP,
    SEVENSCENES_TEST,
    SEVENSCENES_TRAIN,
    default_real_dir,
)
from ..data.real import read_sevenscenes_frame as read_frame  # the sequence's one frame reader
from . import metrics as M

SEQ = "7scenes_redkitchen_kinect1"
KINECT_V1_RANGE_M = SENSOR_MAX_RANGE_M["kinect_v1"]  # the sequence's sensor
TRAIN, GAP, TEST = SEVENSCENES_TRAIN, SEVENSCENES_GAP, SEVENSCENES_TEST


def load_sequence(root: Path | None = None):
    d = (root or default_real_dir()) / SEQ
    if not d.is_dir():
        raise FileNotFoundError(f"{d} not found: the 7-Scenes sequence lives in ../shared/data/real and is not shipped")
    intr = json.loads((d / "intrinsics.json").read_text())
    K = np.array([[intr["fx"], 0, intr["cx"]], [0, intr["fy"], intr["cy"]], [0, 0, 1.0]])
    poses = np.loadtxt(d / "poses_cam_to_world.txt").reshape(-1, 4, 4)
    return d, K, poses


def read_reference(ref_dir: Path, i: int) -> np.ndarray | None:
    """Fused reference depth of frame ``i`` in metres (0 where the fused surface has no value), or None
    when ``ref_dir`` holds none for that frame."""
    p = Path(ref_dir) / "ref" / f"{i:06d}.png"
    if not p.exists():
        return None
    return cv2.imread(str(p), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0


def build_reference(out: Path, root: Path | None = None, voxel: float = 0.01, stride: int = 1,
                    frames: range | None = None, trunc_voxels: float = 8.0) -> dict:
    """Fuse all frames, render the surface into every view; write ref/NNNNNN.png (uint16 mm) + quality.json.

    With ``frames`` (e.g. ``TRAIN``) only those frames are fused and rendered: a reference that knows nothing of the
    other frames (fit for training labels). ``trunc_voxels``: the TSDF's truncation in voxels (Open3D's default, 8:
    8 cm at 1 cm voxels); the fused surface can reach about that far past a silhouette. Memory grows as 1/voxel²
    (about 2.6 GB at 1 cm, 10 GB at 5 mm)."""
    frames = range(0, 1000) if frames is None else frames
    import open3d as o3d

    d, K, poses = load_sequence(root)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ref").mkdir(exist_ok=True)
    H, W = 480, 640
    from tqdm import tqdm

    mesh_path = out / "fused_mesh.npz"
    fused_as = np.array([voxel, trunc_voxels, frames.start, frames.stop, stride], np.float64)
    m = np.load(mesh_path) if mesh_path.exists() else None
    if m is not None and "fused_as" in m and np.array_equal(m["fused_as"], fused_as):  # fused so before: reuse it
        verts, tris = m["vertices"], m["triangles"]
    else:
        # Open3D's tensor VoxelBlockGrid (the legacy ScalableTSDFVolume of this build integrates nothing)
        import open3d.core as o3c

        vbg = o3d.t.geometry.VoxelBlockGrid(attr_names=("tsdf", "weight"), attr_dtypes=(o3c.float32, o3c.float32),
                                            attr_channels=((1), (1)), voxel_size=voxel, block_resolution=16,
                                            block_count=int(80000 * max(1.0, (0.01 / voxel) ** 2)),
                                            device=o3c.Device("CPU:0"))
        Kt = o3c.Tensor(K, o3c.float64)
        for i in tqdm([i for i in range(0, len(poses), stride) if i in frames], desc="fuse"):
            _, depth = read_frame(d, i)
            img = o3d.t.geometry.Image(o3c.Tensor(np.round(depth * 1000).astype(np.uint16)))
            ext = o3c.Tensor(np.linalg.inv(poses[i]), o3c.float64)
            coords = vbg.compute_unique_block_coordinates(img, Kt, ext, 1000.0, 4.0, trunc_voxels)
            vbg.integrate(coords, img, Kt, ext, 1000.0, 4.0, trunc_voxels)
        mesh = vbg.extract_triangle_mesh()
        verts = mesh.vertex.positions.numpy().astype(np.float32)
        tris = mesh.triangle.indices.numpy().astype(np.uint32)
        np.savez_compressed(mesh_path, vertices=verts, triangles=tris, fused_as=fused_as)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(tris))
    ys, xs = np.mgrid[0:H, 0:W]
    rays_c = np.stack([(xs - K[0, 2]) / K[0, 0], (ys - K[1, 2]) / K[1, 1], np.ones((H, W))], -1).reshape(-1, 3)
    agree, cover, edge_agree = [], [], []
    rendered = [i for i in range(len(poses)) if i in frames]
    for i in tqdm(rendered, desc="render"):
        T = poses[i]
        dirs = rays_c @ T[:3, :3].T
        rays = np.concatenate([np.broadcast_to(T[:3, 3], dirs.shape), dirs], 1).astype(np.float32)
        t = scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy().reshape(H, W)  # ray param = z (dirs have z_c = 1)
        ref = np.where(np.isfinite(t) & (t < 6.0), t, 0).astype(np.float32)
        cv2.imwrite(str(out / "ref" / f"{i:06d}.png"), np.round(ref * 1000).astype(np.uint16))
        if i % 10 == 0:
            _, raw = read_frame(d, i)
            both = (raw > 0) & (ref > 0)
            diff = np.abs(raw - ref)[both]
            agree.append(float(np.median(diff)))
            cover.append(float((ref > 0).mean()))
            e = M.depth_edges(ref) & both
            edge_agree.append(float(np.median(np.abs(raw - ref)[e])) if e.any() else np.nan)
    q = {"frames": len(rendered), "voxel_m": voxel, "trunc_voxels": trunc_voxels,
         "median_abs_raw_minus_ref_m": float(np.median(agree)),
         "ref_coverage": float(np.mean(cover)), "median_abs_raw_minus_ref_at_edges_m": float(np.nanmedian(edge_agree)),
         "triangles": int(len(tris)),
         "fusion": f"Open3D VoxelBlockGrid TSDF, 16^3 blocks, depth <= 4 m, frames {frames.start}-{frames.stop - 1}"}
    (out / "quality.json").write_text(json.dumps(q, indent=1))
    return q


def warp_depth(depth: np.ndarray, K: np.ndarray, T_src: np.ndarray, T_dst: np.ndarray) -> np.ndarray:
    """Forward-warp a depth map from one camera pose into another (z-buffered, nearest pixel)."""
    H, W = depth.shape
    ok = np.isfinite(depth) & (depth > 0)
    ys, xs = np.nonzero(ok)
    z = depth[ys, xs]
    P = np.stack([(xs - K[0, 2]) / K[0, 0] * z, (ys - K[1, 2]) / K[1, 1] * z, z, np.ones_like(z)])
    Q = np.linalg.inv(T_dst) @ T_src @ P
    zq = Q[2]
    u = np.round(Q[0] / zq * K[0, 0] + K[0, 2]).astype(int)
    v = np.round(Q[1] / zq * K[1, 1] + K[1, 2]).astype(int)
    keep = (zq > 0) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
    out = np.full((H, W), np.inf, np.float32)
    np.minimum.at(out, (v[keep], u[keep]), zq[keep].astype(np.float32))
    out[~np.isfinite(out)] = np.nan
    return out


def frame_change(depth: np.ndarray, next_depth: np.ndarray, K: np.ndarray, pose: np.ndarray,
                 next_pose: np.ndarray, where: np.ndarray | None = None) -> float:
    """Flicker between consecutive outputs of a static scene: ``depth`` warped into the next view with the
    known poses against ``next_depth``, mean |difference| in metres over pixels valid in both (and in
    ``where``); changes over 10 cm are disocclusions and left out. NaN when no pixel is left."""
    warped = warp_depth(depth, K, pose, next_pose)
    both = np.isfinite(warped) & np.isfinite(next_depth)
    both &= np.abs(warped - next_depth) < 0.1
    if where is not None:
        both &= where
    return float(np.mean(np.abs(warped - next_depth)[both])) if both.any() else np.nan


def evaluate_sevenscenes(methods: dict, ref_dir: Path, every: int = 10, root: Path | None = None) -> dict:
    """Metrics on the test block (every ``every``-th frame) against the fused reference, and flicker."""
    d, K, poses = load_sequence(root)
    res: dict = {}
    acc = {m: {"pred": [], "sigma": [], "flicker": []} for m in methods}
    gts, raws = [], []
    for i in list(TEST)[::every]:
        rgb, raw = read_frame(d, i)
        ref = read_reference(ref_dir, i)
        ref[ref == 0] = np.nan
        rgb2, raw2 = read_frame(d, i + 1)
        gts.append(ref.ravel())
        raws.append(raw.ravel())
        for name, enh in methods.items():
            out = enh.enhance(rgb, raw, max_range_m=KINECT_V1_RANGE_M)
            acc[name]["pred"].append(out.depth.ravel())
            acc[name]["sigma"].append(out.uncertainty.ravel())
            # static scene: any change after warping is flicker (or pose error, the same for every method)
            nxt = enh.enhance(rgb2, raw2, max_range_m=KINECT_V1_RANGE_M).depth
            acc[name]["flicker"].append(frame_change(out.depth, nxt, K, poses[i], poses[i + 1]))
    gt, raw = np.concatenate(gts), np.concatenate(raws)
    reg = M.regions(raw, np.nan_to_num(gt, nan=0.0))
    for name in methods:
        pred, sigma = np.concatenate(acc[name]["pred"]), np.concatenate(acc[name]["sigma"])
        r = {k: M.depth_errors(pred, np.nan_to_num(gt, nan=0.0), reg[k]) for k in ("all", "missing", "wrong", "reliable")}
        r["flicker_mm"] = float(np.nanmean(acc[name]["flicker"]) * 1000)
        r["uncertainty"] = M.uncertainty_metrics(pred, sigma, np.nan_to_num(gt, nan=0.0), raw) if np.isfinite(sigma).any() else {}
        res[name] = r
    return res


def misregistration_effect(enh, ref_dir: Path, shifts=((0, 0), (3, 0), (-3, 0), (0, 3), (6, 0)), every: int = 20,
                           root: Path | None = None) -> dict:
    """Does the enhancer tolerate RGB-depth misregistration? MAE against the reference with the RGB shifted
    by (dx, dy) pixels on top of the registration read_frame applies (data.real.SEVENSCENES_RGB_TO_DEPTH)."""
    d, _, _ = load_sequence(root)
    out = {}
    for dx, dy in shifts:
        errs = []
        for i in list(TEST)[::every]:
            rgb, raw = read_frame(d, i)
            ref = cv2.imread(str(ref_dir / "ref" / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
            A = np.float32([[1, 0, dx], [0, 1, dy]])
            shifted = cv2.warpAffine(rgb, A, (rgb.shape[1], rgb.shape[0]), borderMode=cv2.BORDER_REPLICATE)
            pred = enh.enhance(shifted, raw, max_range_m=KINECT_V1_RANGE_M).depth
            ok = np.isfinite(pred) & (ref > 0)
            errs.append(np.abs(pred - ref)[ok & (raw == 0)].mean() if (ok & (raw == 0)).any() else np.nan)
        out[f"{dx},{dy}"] = float(np.nanmean(errs))
    return out
