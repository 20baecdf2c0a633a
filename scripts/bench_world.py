#!/usr/bin/env python3
"""Rendering and sensor-simulation throughput on one core (prints frames/s; not a timed test)."""

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from perfecting_depth_ros.data.sensors import SENSORS, simulate  # noqa: E402
from perfecting_depth_ros.data.world import render_random  # noqa: E402

cv2.setNumThreads(1)
for h, w, crop in ((240, 320, None), (128, 160, (240, 320))):
    t = time.perf_counter()
    frames = [render_random(5000 + i, h, w, crop_of=crop) for i in range(20)]
    dt = time.perf_counter() - t
    print(f"render {w}x{h}{' (crop of 320x240)' if crop else ''}: {20 / dt:.1f} frames/s")
    for s in SENSORS:
        t = time.perf_counter()
        for i, f in enumerate(frames):
            simulate(f, s, np.random.default_rng(i))
        print(f"  simulate {s}: {20 / (time.perf_counter() - t):.0f} frames/s")
