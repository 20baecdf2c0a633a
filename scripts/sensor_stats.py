#!/usr/bin/env python3
"""Simulated vs real sensor statistics (Kinect v1): hole ratio, holes along depth edges, noise versus range.

Real: 7-Scenes frames (every 25th) with the fused TSDF reference as truth. Simulated: the kinect_v1 model
on synthetic test frames. Writes docs/sensor_stats.png and prints the figures.
"""

import json

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from perfecting_depth_ros.data.dataset import frame_at, load_shards  # noqa: E402
from perfecting_depth_ros.data.sensors import simulate  # noqa: E402
from perfecting_depth_ros.evaluate.metrics import depth_edges  # noqa: E402
from perfecting_depth_ros.evaluate.reference import load_sequence, read_frame  # noqa: E402

bins = np.arange(0.5, 4.01, 0.25)


def stats(pairs):
    hole, edge_hole, res, rng = [], [], [], []
    for raw, gt in pairs:
        ok = gt > 0
        hole.append(np.mean(raw[ok] == 0))
        e = cv2.dilate(depth_edges(gt).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ok
        edge_hole.append(np.mean(raw[e] == 0) if e.any() else np.nan)
        v = ok & (raw > 0) & ~e
        res.append(raw[v] - gt[v])
        rng.append(gt[v])
    r, g = np.concatenate(res), np.concatenate(rng)
    idx = np.digitize(g, bins)
    noise = [1.4826 * np.median(np.abs(r[idx == k] - np.median(r[idx == k]))) if np.sum(idx == k) > 100 else np.nan
             for k in range(1, len(bins))]
    return {"hole_ratio": float(np.mean(hole)), "hole_ratio_near_edges": float(np.nanmean(edge_hole)), "noise_m": noise}


d, _, _ = load_sequence()
real = []
for i in range(0, 1000, 25):
    _, raw = read_frame(d, i)
    ref = cv2.imread(f"data_cache/7scenes_ref/ref/{i:06d}.png", cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
    real.append((raw, ref))
arr = load_shards("data_cache/test240", "test")
sim = []
for i in range(40):
    f = frame_at(arr, i)
    gt = np.where(f.depth < 4.0, f.depth, 0).astype(np.float32)  # the reference's range
    sim.append((simulate(f, "kinect_v1", np.random.default_rng(i)), gt))
sr, ss = stats(real), stats(sim)
print(json.dumps({"real_7scenes_kinect_v1": sr, "simulated_kinect_v1": ss}, default=float))
fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
c = bins[:-1] + 0.125
ax[0].plot(c, np.array(sr["noise_m"]) * 1000, "o-", label="real Kinect v1 (7-Scenes vs TSDF reference)")
ax[0].plot(c, np.array(ss["noise_m"]) * 1000, "s-", label="simulated kinect_v1")
ax[0].plot(c, 2.85e-3 * c**2 * 1000 / np.sqrt(12) * 2, "k--", lw=0.8, label="quantisation model (Khoshelham 2012)")
ax[0].set(xlabel="range (m)", ylabel="robust noise sigma (mm)", title="Noise versus range")
ax[0].legend(fontsize=7)
ax[1].bar([0, 1], [sr["hole_ratio"], ss["hole_ratio"]], width=0.35, label="all pixels")
ax[1].bar([0.4, 1.4], [sr["hole_ratio_near_edges"], ss["hole_ratio_near_edges"]], width=0.35, label="within 2 px of a depth edge")
ax[1].set_xticks([0.2, 1.2], ["real", "simulated"])
ax[1].set(ylabel="fraction without depth", title="Holes")
ax[1].legend(fontsize=7)
fig.tight_layout()
fig.savefig("docs/sensor_stats.png", dpi=100)
