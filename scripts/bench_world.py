#!/usr/bin/env python3
"""Rendering and sensor-simulation throughput on one core (prints frames/s; not a timed test).

Renders the same seeded frames with the compiled kernels (numba, the default) and the vectorised
numpy reference; the first compiled call (JIT, cached on disk afterwards) is not timed.
"""

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from perfecting_depth_ros.data.sensors import SENSORS, simulate  # noqa: E402
from perfecting_depth_ros.data.world import render_random  # noqa: E402

cv2.setNumThreads(1)
N = 40
render_random(0, engine="compiled")  # compile (or load the cache) outside the timing
for h, w, crop in ((240, 320, None), (128, 160, (240, 320))):
    for engine in ("compiled", "numpy"):
        t = time.perf_counter()
        frames = [render_random(5000 + i, h, w, crop_of=crop, engine=engine) for i in range(N)]
        dt = time.perf_counter() - t
        print(f"render {w}x{h}{' (crop of 320x240)' if crop else ''} [{engine}]: {N / dt:.1f} frames/s")
    for s in SENSORS:
        t = time.perf_counter()
        for i, f in enumerate(frames):
            simulate(f, s, np.random.default_rng(i))
        print(f"  simulate {s}: {N / (time.perf_counter() - t):.0f} frames/s")
