"""enhancer_node over a compressed link: started as the launch file starts it with rgb_transport:=compressed
depth_transport:=compressedDepth, it subscribes to <remapped base>/compressed and /compressedDepth (as
image_transport names them), publishes what the library computes from the decoded frame, and rejects a corrupt
payload with its reason while it keeps running."""

from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage
from test_compressed import compressed_depth_payload

from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.data.world import render_random
from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.node.compressed import compressed_to_depth
from perfecting_depth_ros.node.harness import Collector, finish, make_header, make_info, spin_until, start_node

ROOT = Path(__file__).resolve().parents[1]
NS = "/camera"
REMAPS = {"rgb/image_rect_color": "color/image_raw", "depth_registered/image_rect": "aligned_depth/image_raw",
          "rgb/camera_info": "color/camera_info"}
TRANSPORT_PARAMS = {"rgb_transport": "compressed", "depth_transport": "compressedDepth"}


def _launch_passes_the_transports():
    tree = ast.parse((ROOT / "launch" / "enhancer.launch.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TRANSPORTS":
            return set(ast.literal_eval(node.value)) == set(TRANSPORT_PARAMS)
    return False


class CompressedPlayer(Node):
    """Publishes what image_transport's compressed and compressedDepth publishers put on the wire."""

    def __init__(self):
        super().__init__("compressed_player")
        qos = QoSProfile(depth=5)
        qos.reliability = ReliabilityPolicy.RELIABLE
        self.pub_rgb = self.create_publisher(CompressedImage, f"{NS}/color/image_raw/compressed", qos)
        self.pub_depth = self.create_publisher(CompressedImage, f"{NS}/aligned_depth/image_raw/compressedDepth", qos)
        self.pub_info = self.create_publisher(CameraInfo, f"{NS}/color/camera_info", qos)

    def publish(self, rgb, mm, K, stamp_ns, codec="png", depth_data=None):
        h = make_header(stamp_ns, "cam_optical")
        c = CompressedImage(header=h, format="rgb8; png compressed bgr8")
        c.data = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))[1].tobytes()
        d = CompressedImage(header=h, format=f"16UC1; compressedDepth {codec}")
        d.data = depth_data if depth_data is not None else compressed_depth_payload(mm, "16UC1", codec)
        self.pub_info.publish(make_info(K, *mm.shape, h))
        self.pub_rgb.publish(c)
        self.pub_depth.publish(d)

    def matched(self):
        return all(p.get_subscription_count() > 0 for p in (self.pub_rgb, self.pub_depth, self.pub_info))


@pytest.fixture(scope="module")
def link(tmp_path_factory):
    assert _launch_passes_the_transports()
    rclpy.init()
    proc = start_node(ROOT / "config" / "enhancer.yaml", NS, REMAPS,
                      params={"method": "guided_fill", "diagnostics_period": 0.2, **TRANSPORT_PARAMS},
                      log_path=tmp_path_factory.mktemp("node") / "node.log")
    player, coll = CompressedPlayer(), Collector(NS)
    ex = SingleThreadedExecutor()
    ex.add_node(player)
    ex.add_node(coll)
    try:
        f = render_random(12, 120, 160)
        mm = np.clip(np.round(simulate(f, "kinect_v1", np.random.default_rng(1)) * 1000), 0, 65535).astype(np.uint16)
        assert spin_until(ex, lambda: player.matched() and coll.matched(), 60), "the node did not subscribe"
        yield {"ex": ex, "player": player, "coll": coll, "frame": f, "mm": mm, "proc": proc}
    finally:
        finish(proc, ex, player, coll)


def _round_trip(link, stamp, **kw):
    """Send until the stamp comes back (the node's subscriptions may match a little after ours)."""
    for _ in range(40):
        link["player"].publish(link["frame"].rgb, link["mm"], link["frame"].K, stamp, **kw)
        if spin_until(link["ex"], lambda: stamp in link["coll"].complete_stamps(), 0.5):
            return True
    return False


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_compressed_inputs_give_what_the_library_gives(link, codec):
    stamp = {"png": 1, "rvl": 2}[codec] * 1_000_000_000
    assert _round_trip(link, stamp, codec=codec)
    H, W = link["mm"].shape
    got = np.frombuffer(bytes(link["coll"].msgs["depth"][stamp].data), "<f4").reshape(H, W)
    want = DepthEnhancer("guided_fill").enhance(link["frame"].rgb, link["mm"] * np.float32(0.001)).depth
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)
    assert np.isfinite(got).mean() > 0.95


def test_corrupt_payload_is_rejected_with_its_reason(link):
    good = compressed_depth_payload(link["mm"], "16UC1", "rvl")
    coll = link["coll"]
    with coll.lock:
        coll.diagnostics.clear()
    stamp = 3_000_000_000
    link["player"].publish(link["frame"].rgb, link["mm"], link["frame"].K, stamp, codec="rvl",
                           depth_data=good[: len(good) // 2 // 4 * 4])
    ok = spin_until(link["ex"], lambda: any("RVL" in k for k in coll.last_diag_values()), 10)
    assert ok, coll.last_diag_values()
    assert stamp not in coll.msgs["depth"]
    values = coll.last_diag_values()
    assert values["input_topics"] == f"{NS}/color/image_raw/compressed, {NS}/aligned_depth/image_raw/compressedDepth"
    assert link["proc"].poll() is None
    assert _round_trip(link, stamp + 1, codec="png")  # still working


def test_depth_output_also_goes_out_as_compressed_depth(link):
    """As image_transport does beside a raw image: <remapped depth output>/compressedDepth, encoded once someone
    subscribes (RViz's DepthCloud or a recorder across a network), carrying the published depth."""
    ex, got = link["ex"], {}
    reader = Node("compressed_depth_reader")
    qos = QoSProfile(depth=10)
    qos.reliability = ReliabilityPolicy.RELIABLE
    sub = reader.create_subscription(
        CompressedImage, f"{NS}/depth_enhanced/image_rect/compressedDepth",
        lambda m: got.__setitem__(m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec, m), qos)
    ex.add_node(reader)
    try:
        assert spin_until(ex, lambda: sub.get_publisher_count() > 0, 20), "no compressedDepth output advertised"
        stamp = None
        for k in range(20):  # the node's publisher may see this subscription a little after we see it
            stamp = 5_000_000_000 + k
            assert _round_trip(link, stamp)
            if spin_until(ex, lambda s=stamp: s in got, 1.0):
                break
        assert stamp in got, "no compressedDepth output while subscribed"
        msg = got[stamp]
        assert msg.format == "32FC1; compressedDepth png" and msg.header.frame_id == "cam_optical"
        H, W = link["mm"].shape
        raw = np.frombuffer(bytes(link["coll"].msgs["depth"][stamp].data), "<f4").reshape(H, W)
        depth, n_bad = compressed_to_depth(msg.format, bytes(msg.data))
        assert n_bad == 0 and depth.shape == (H, W)
        with np.errstate(invalid="ignore", divide="ignore"):  # within compressed_depth_max and the quantisation's
            ok = np.isfinite(raw) & (raw < 10.0) & (10100 / raw + (1 - 1010) < 65535.5)  # reach (0.152 m)
        assert ok.mean() > 0.95
        np.testing.assert_array_equal(depth > 0, ok)  # every published value within reach, and nothing else
        assert np.all(np.abs(depth[ok] - raw[ok]) <= 0.51 * raw[ok] ** 2 / 10100 + 1e-6)  # half a quantisation step
        assert len(msg.data) < raw.nbytes / 3
    finally:
        ex.remove_node(reader)
        reader.destroy_node()
