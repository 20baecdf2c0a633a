#!/usr/bin/env python3
"""Does the published depth help a robot track its camera? Frame-to-frame odometry on the real 7-Scenes test block
(Kinect v1, frames 800-999, never trained on or chosen with) against the sequence's camera poses.

Why: the README tells visual-odometry users to set `depth_max_sigma: 0.1` so that guessed depth stays out of their
3D features, and SLAM front ends take the enhanced depth as they take raw depth; neither had been measured. Two
trackers, both Open3D's (a SLAM front end's two usual kinds):
- RGB-D odometry (photometric and geometric, Open3D's hybrid Jacobian; the colour registered to the depth, the
  depth cut at 4 m): what RTAB-Map-like visual odometry does with the image;
- point-to-plane ICP on the point cloud (1 cm voxels, 5 cm correspondences, normals from 3 cm neighbourhoods): what
  a depth-only front end (KinectFusion-like, lidar-style SLAM) does with the cloud.
Each pair (i, i + gap) starts from the identity; its error is the relative pose's against the 7-Scenes poses
(themselves KinectFusion's: good to a few mm). A pair fails when the tracker gives up or lands more than 5 cm or 2
degrees off. What the node publishes is scored: the raw depth, the learned depth with every value, with
`depth_max_sigma` 0.3 and 0.1 (NaN where sigma is larger), its measured pixels only (the raw depth less
what the keep gate rejects), and the classical fills.

  python scripts/rgbd_odometry.py [--gap 5] [--every 2] [--json OUT]   (15-25 minutes on this CPU)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from perfecting_depth_ros.enhancer import SOURCE_MEASURED, DepthEnhancer
from perfecting_depth_ros.evaluate.reference import KINECT_V1_RANGE_M, TEST, load_sequence, read_frame

FAIL_M, FAIL_DEG = 0.05, 2.0
DEPTH_MAX_M = 4.0


def published(enh: DepthEnhancer, classical: dict[str, DepthEnhancer], rgb: np.ndarray, raw: np.ndarray
              ) -> dict[str, np.ndarray]:
    """Each scored variant's depth in metres (NaN: no value) for one frame."""
    out = enh.enhance(rgb, raw, max_range_m=KINECT_V1_RANGE_M)
    d, s = out.depth.astype(np.float32), out.uncertainty
    v = {"raw": np.where(raw > 0, raw, np.nan).astype(np.float32),
         "learned": d,
         "learned depth_max_sigma 0.3": np.where(s <= 0.3, d, np.nan),
         "learned depth_max_sigma 0.1": np.where(s <= 0.1, d, np.nan),
         "learned measured only": np.where(out.source == SOURCE_MEASURED, d, np.nan)}
    for name, c in classical.items():
        v[name] = c.enhance(rgb, raw).depth.astype(np.float32)
    return v


def pose_error(T: np.ndarray, T_true: np.ndarray) -> tuple[float, float]:
    """(translation error in m, rotation error in degrees) of the relative pose ``T`` against ``T_true``."""
    E = np.linalg.inv(T_true) @ T
    angle = np.degrees(np.arccos(np.clip((np.trace(E[:3, :3]) - 1) / 2, -1.0, 1.0)))
    return float(np.linalg.norm(E[:3, 3])), float(angle)


class Trackers:
    """Open3D's RGB-D odometry and point-to-plane ICP for one camera."""

    def __init__(self, K: np.ndarray, hw: tuple[int, int]) -> None:
        import open3d as o3d

        self.o3d = o3d
        h, w = hw
        self.intr = o3d.camera.PinholeCameraIntrinsic(w, h, K[0, 0], K[1, 1], K[0, 2], K[1, 2])
        self.option = o3d.pipelines.odometry.OdometryOption(depth_max=DEPTH_MAX_M)

    def prepare(self, rgb: np.ndarray, depth: np.ndarray):
        """What both trackers take from one frame's colour and published depth (NaN: no value): the RGB-D image
        and the downsampled cloud with normals, made once per frame and variant."""
        o3d = self.o3d
        d = o3d.geometry.Image(np.nan_to_num(depth, nan=0.0).astype(np.float32))
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(rgb)), d, depth_scale=1.0, depth_trunc=DEPTH_MAX_M,
            convert_rgb_to_intensity=True)
        cloud = o3d.geometry.PointCloud.create_from_depth_image(d, self.intr, depth_scale=1.0, depth_trunc=DEPTH_MAX_M)
        cloud = cloud.voxel_down_sample(0.01)
        cloud.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=0.03, max_nn=30))
        return rgbd, cloud

    def rgbd(self, a, b) -> np.ndarray | None:
        """The pose taking prepared frame a's points into b's by RGB-D odometry, or None when it gives up."""
        o3d = self.o3d
        ok, T, _ = o3d.pipelines.odometry.compute_rgbd_odometry(
            a[0], b[0], self.intr, np.eye(4), o3d.pipelines.odometry.RGBDOdometryJacobianFromHybridTerm(), self.option)
        return np.asarray(T) if ok else None

    def icp(self, a, b) -> np.ndarray | None:
        """The same by point-to-plane ICP on the clouds."""
        o3d = self.o3d
        if len(a[1].points) < 100 or len(b[1].points) < 100:
            return None
        r = o3d.pipelines.registration.registration_icp(
            a[1], b[1], 0.05, np.eye(4), o3d.pipelines.registration.TransformationEstimationPointToPlane(),
            o3d.pipelines.registration.ICPConvergenceCriteria(max_iteration=50))
        return np.asarray(r.transformation) if r.fitness > 0 else None


def summarise(errs: list[tuple[float, float] | None]) -> dict:
    ok = [e for e in errs if e is not None and e[0] <= FAIL_M and e[1] <= FAIL_DEG]
    t = np.array([e[0] for e in errs if e is not None])
    r = np.array([e[1] for e in errs if e is not None])
    return {"pairs": len(errs), "failed": len(errs) - len(ok),
            "median_trans_mm": float(np.median(t) * 1000) if len(t) else float("nan"),
            "mean_trans_mm_ok": float(np.mean([e[0] for e in ok]) * 1000) if ok else float("nan"),
            "median_rot_deg": float(np.median(r)) if len(r) else float("nan")}


def main(args: list[str]) -> int:
    gap = int(args[args.index("--gap") + 1]) if "--gap" in args else 5
    every = int(args[args.index("--every") + 1]) if "--every" in args else 2
    json_out = args[args.index("--json") + 1] if "--json" in args else None
    seq, K, poses = load_sequence()
    enh = DepthEnhancer("learned", backend="onnxruntime")
    classical = {"joint_bilateral": DepthEnhancer("joint_bilateral"), "inpaint_ns": DepthEnhancer("inpaint_ns")}
    test = list(TEST)
    pairs = [(i, i + gap) for i in test[::every] if i + gap <= test[-1]]
    trackers = Trackers(K, read_frame(seq, test[0])[1].shape)
    frames: dict[int, dict] = {}  # per frame, each variant's tracker inputs (a frame is in two pairs or more)

    def frame(i: int) -> dict:
        if i not in frames:
            rgb, raw = read_frame(seq, i)
            frames[i] = {name: trackers.prepare(rgb, d) for name, d in published(enh, classical, rgb, raw).items()}
        return frames[i]

    errs: dict[str, dict[str, list]] = {}
    for a, b in pairs:
        fa, fb = frame(a), frame(b)
        T_true = np.linalg.inv(poses[b]) @ poses[a]
        for name in fa:
            for kind, T in (("rgbd", trackers.rgbd(fa[name], fb[name])), ("icp", trackers.icp(fa[name], fb[name]))):
                errs.setdefault(kind, {}).setdefault(name, []).append(None if T is None else pose_error(T, T_true))
        for k in [k for k in frames if k <= a]:  # later pairs start after a
            frames.pop(k)
    results = {kind: {name: summarise(e) for name, e in by.items()} for kind, by in errs.items()}
    motion = [np.linalg.norm((np.linalg.inv(poses[b]) @ poses[a])[:3, 3]) for a, b in pairs]
    print(f"{len(pairs)} pairs, gap {gap} frames, camera motion median {np.median(motion) * 1000:.0f} mm")
    for kind, by in results.items():
        for name, r in by.items():
            print(json.dumps({"tracker": kind, "published": name, **{k: round(v, 2) for k, v in r.items()}}), flush=True)
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
