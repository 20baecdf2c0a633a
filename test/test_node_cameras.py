"""Several cameras in one enhancer_node (``cameras``): one process and one model; each camera's topics in and out
under its name, its own synchroniser and its own diagnostics status; frames of both cameras are served."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor

from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.data.world import render_random
from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.node.harness import Collector, Player, finish, spin_until, start_node

ROOT = Path(__file__).resolve().parents[1]
NS = "/robot"
CAMERAS = ("front", "rear")


def test_two_cameras_share_one_node(tmp_path):
    rclpy.init()
    proc = start_node(ROOT / "config" / "enhancer.yaml", NS, params={"method": "guided_fill", "diagnostics_period": 0.2,
                                                                       "cameras": "[front, rear]"},
                      log_path=tmp_path / "node.log")
    players = {c: Player(f"{NS}/{c}", name=f"player_{c}") for c in CAMERAS}
    colls = {c: Collector(f"{NS}/{c}", name=f"collector_{c}") for c in CAMERAS}
    ex = SingleThreadedExecutor()
    for n in (*players.values(), *colls.values()):
        ex.add_node(n)
    try:
        frames = {c: render_random(30 + i, 90, 120) for i, c in enumerate(CAMERAS)}
        raws = {c: simulate(frames[c], "kinect_v1", np.random.default_rng(i)) for i, c in enumerate(CAMERAS)}
        assert spin_until(ex, lambda: all(p.matched() for p in players.values())
                          and all(c.matched() for c in colls.values()), 60), "the node did not subscribe to both"
        sent = {c: [] for c in CAMERAS}
        for k in range(40):  # both cameras stream; each set gets its camera's output until both have some
            for c in CAMERAS:
                stamp = 1_000_000_000 + k * 50_000_000
                players[c].publish(frames[c].rgb, raws[c], frames[c].K, stamp, frame_id=f"{c}_optical")
                sent[c].append(stamp)
            if spin_until(ex, lambda: all(len(colls[c].complete_stamps()) >= 3 for c in CAMERAS), 0.3):
                break
        for c in CAMERAS:
            got = colls[c].complete_stamps()
            assert len(got) >= 3, (c, len(got))
            assert set(got) <= set(sent[c])
            m = colls[c].msgs["depth"][got[-1]]
            assert m.header.frame_id == f"{c}_optical"  # each camera's frames come out under its own name
            H, W = raws[c].shape
            depth = np.frombuffer(bytes(m.data), "<f4").reshape(H, W)
            mm = np.clip(np.round(raws[c] * 1000), 0, 65535).astype(np.uint16) * np.float32(0.001)
            want = DepthEnhancer("guided_fill").enhance(frames[c].rgb, mm).depth
            np.testing.assert_allclose(depth, want, rtol=1e-6, equal_nan=True)
        coll = colls["front"]
        last: dict = {}

        def both_reported():  # the newest status of each camera, once it counts the frames above
            with coll.lock:
                last.update({s.name: {kv.key: kv.value for kv in s.values} for s in coll.diagnostics})
            names = [f"depth_enhancer: depth enhancement ({c})" for c in CAMERAS]
            return all(n in last and int(last[n]["processed"]) >= 3 for n in names)

        assert spin_until(ex, both_reported, 10), last
        assert last["depth_enhancer: depth enhancement (rear)"]["input_topics"].startswith(f"{NS}/rear/rgb/")
        assert all(v["cameras"] == "2" for v in last.values())
    finally:
        finish(proc, ex, *players.values(), *colls.values())
