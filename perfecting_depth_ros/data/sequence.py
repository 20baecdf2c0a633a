"""A short generated RGB-D sequence (a camera panning through one procedural room), for the demo."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .sensors import simulate
from .world import Frame, populate_view, render, sample_camera, sample_scene


def demo_sequence(frames: int = 30, height: int = 240, width: int = 320, seed: int = 2025,
                  sensor: str = "kinect_v1") -> Iterator[tuple[Frame, np.ndarray]]:
    """Yield (clean frame, raw sensor depth) along a slow pan, seeded."""
    rng = np.random.default_rng(seed)
    while True:
        scene = sample_scene(rng)
        cam = sample_camera(rng, scene, height, width)
        populate_view(scene, cam, rng, count=(4, 8))
        first = render(scene, cam, np.random.default_rng(seed))
        if np.mean(first.depth < 0.4) < 0.05 and np.median(first.depth) < 6:
            break
    R0, t0 = cam.R_wc.copy(), cam.t_wc.copy()
    for i in range(frames):
        a = np.deg2rad(0.8 * i)  # pan about the world's vertical axis
        Rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
        cam.R_wc = Rz @ R0
        cam.t_wc = t0 + 0.01 * i * R0[:, 2] * np.array([1, 1, 0])
        f = render(scene, cam, np.random.default_rng(seed + i))
        yield f, simulate(f, sensor, np.random.default_rng(seed + 1000 + i))
