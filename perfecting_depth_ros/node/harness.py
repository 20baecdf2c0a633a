"""Helpers to drive the real node over DDS: a frame player, an output collector, and a launcher.

Used by the demo, the latency benchmark and the end-to-end tests, so all three exercise the
node exactly as a robot would (separate process, loopback DDS, the launch file's remappings).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from .convert import set_message_data

# The launch file's remappings (launch/enhancer.launch.py REMAPPINGS with its default arguments).
DEFAULT_INPUTS = {"rgb": "rgb/image_rect_color", "depth": "depth_registered/image_rect", "info": "rgb/camera_info"}
OUTPUTS = {"depth": ("depth_enhanced/image_rect", Image), "sigma": ("depth_enhanced/uncertainty", Image),
           "info": ("depth_enhanced/camera_info", CameraInfo), "points": ("depth_enhanced/points", PointCloud2),
           "source": ("depth_enhanced/source", Image)}


def make_header(stamp_ns: int, frame_id: str) -> Header:
    h = Header()
    h.stamp.sec, h.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    h.frame_id = frame_id
    return h


def make_image(arr: np.ndarray, encoding: str, header: Header) -> Image:
    """numpy -> Image for the encodings the node accepts (arr already in the encoding's units/order)."""
    m = Image()
    m.header = header
    m.height, m.width = arr.shape[:2]
    m.encoding = encoding
    m.is_bigendian = 0
    a = np.ascontiguousarray(arr)
    m.step = a.strides[0]
    set_message_data(m, a)
    return m


def make_info(K: np.ndarray, height: int, width: int, header: Header) -> CameraInfo:
    m = CameraInfo()
    m.header = header
    m.height, m.width = height, width
    m.distortion_model = "plumb_bob"
    m.d = [0.0] * 5
    m.k = np.asarray(K, float).ravel().tolist()
    m.r = np.eye(3).ravel().tolist()
    P = np.zeros((3, 4))
    P[:, :3] = K
    m.p = P.ravel().tolist()
    return m


class Player(Node):
    """Publishes RGB, depth and camera_info like a camera driver (reliable by default)."""

    def __init__(self, ns: str = "", topics: dict | None = None, reliable: bool = True, name: str = "rgbd_player"):
        super().__init__(name)
        qos = QoSProfile(depth=5)
        qos.reliability = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        t = topics or {k: f"{ns}/{v}" if ns else v for k, v in DEFAULT_INPUTS.items()}
        self.pub_rgb = self.create_publisher(Image, t["rgb"], qos)
        self.pub_depth = self.create_publisher(Image, t["depth"], qos)
        self.pub_info = self.create_publisher(CameraInfo, t["info"], qos)

    def publish(self, rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, stamp_ns: int, frame_id: str = "camera_optical",
                depth_encoding: str = "16UC1", rgb_encoding: str = "rgb8", rgb_offset_ns: int = 0,
                info_offset_ns: int = 0) -> None:
        """One frame set stamped ``stamp_ns``; the colour and camera_info stamps ``*_offset_ns`` away from it (as
        drivers that stamp them on their own give them)."""
        h = make_header(stamp_ns, frame_id)
        if depth_encoding == "16UC1":
            d = np.clip(np.round(np.nan_to_num(depth_m) * 1000), 0, 65535).astype(np.uint16)
        else:
            d = np.where(depth_m > 0, depth_m, np.nan).astype(np.float32)
        c = rgb[..., ::-1] if rgb_encoding == "bgr8" else rgb
        self.pub_info.publish(make_info(K, depth_m.shape[0], depth_m.shape[1],
                                        make_header(stamp_ns + info_offset_ns, frame_id)))
        self.pub_rgb.publish(make_image(c, rgb_encoding, make_header(stamp_ns + rgb_offset_ns, frame_id)))
        self.pub_depth.publish(make_image(d, depth_encoding, h))

    def matched(self) -> bool:
        return all(p.get_subscription_count() > 0 for p in (self.pub_rgb, self.pub_depth, self.pub_info))


class Collector(Node):
    """Subscribes to every output of the node; keeps messages by stamp and receive times."""

    def __init__(self, ns: str = "", name: str = "output_collector"):
        super().__init__(name)
        self.lock = threading.Lock()
        self.msgs: dict[str, dict[int, object]] = {k: {} for k in OUTPUTS}
        self.recv_time: dict[int, float] = {}
        self.diagnostics: list = []  # a test may clear it
        self.n_statuses = 0  # every status ever received, for diag_mark
        qos = QoSProfile(depth=10)
        qos.reliability = ReliabilityPolicy.RELIABLE
        self.subs = []
        for key, (topic, typ) in OUTPUTS.items():
            full = f"{ns}/{topic}" if ns else topic
            self.subs.append(self.create_subscription(typ, full, lambda m, k=key: self._on(k, m), qos))
        from diagnostic_msgs.msg import DiagnosticArray

        self.subs.append(self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10))

    def _on(self, key: str, msg) -> None:
        s = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            self.msgs[key][s] = msg
            if key == "depth":
                self.recv_time[s] = time.monotonic()

    def _on_diag(self, msg) -> None:
        with self.lock:
            self.diagnostics.extend(msg.status)
            self.n_statuses += len(msg.status)

    def matched(self) -> bool:
        return all(s.get_publisher_count() > 0 for s in self.subs[:len(OUTPUTS)])

    def complete_stamps(self) -> list[int]:
        with self.lock:
            return sorted(set.intersection(*(set(v) for v in self.msgs.values())))

    def last_diag_values(self) -> dict[str, str]:
        with self.lock:
            if not self.diagnostics:
                return {}
            st = self.diagnostics[-1]
        return _status_values(st)

    def diag_mark(self) -> int:
        """A mark for :meth:`diag_values_since`: how many statuses have arrived so far."""
        with self.lock:
            return self.n_statuses

    def diag_values_since(self, mark: int) -> list[dict[str, str]]:
        """Every status received after ``mark``, oldest first, as :meth:`last_diag_values` gives one. A problem the
        node reports once (in one status's message) is found here however soon after the frame it came."""
        with self.lock:
            n = min(self.n_statuses - mark, len(self.diagnostics))
            statuses = list(self.diagnostics[len(self.diagnostics) - n:]) if n > 0 else []
        return [_status_values(st) for st in statuses]


def _status_values(st) -> dict[str, str]:
    """A DiagnosticStatus's key-value pairs, with its level and message as ``_level`` and ``_message``."""
    return {kv.key: kv.value for kv in st.values} | {"_level": int.from_bytes(st.level, "little")
                                                      if isinstance(st.level, bytes) else int(st.level),
                                                      "_message": st.message}


def spin_until(executor, predicate, timeout: float) -> bool:
    """Spin the executor until ``predicate()`` is true or ``timeout`` s pass; return the predicate's value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.05)
    return bool(predicate())


def handshake(executor, player: Player, collector: Collector, rgb, depth_m, K, timeout: float = 60.0) -> bool:
    """Wait until frames make the round trip. Matching on the publisher side does not mean the node's
    subscriptions have matched us yet, so warm-up frames (stamps 1, 2, 3... ns) are re-sent every
    0.5 s until one comes back; this also absorbs model loading."""
    end = time.monotonic() + timeout
    if not spin_until(executor, lambda: player.matched() and collector.matched(), timeout):
        return False
    k = 0
    while time.monotonic() < end:
        k += 1
        player.publish(rgb, depth_m, K, k)
        if spin_until(executor, lambda: bool(collector.complete_stamps()), 0.5):
            return True
    return False


def node_command(params_file: str | Path, namespace: str = "", remaps: dict[str, str] | None = None,
                 params: dict | None = None, executable: str = "enhancer_node", log_level: str = "info") -> list[str]:
    """The command line the launch file amounts to, for ``executable`` (enhancer_node or enhancer_lifecycle_node)."""
    exe = Path(sys.prefix) / "bin" / executable
    entry = "main_managed" if executable == "enhancer_lifecycle_node" else "main"
    start = [str(exe)] if exe.exists() else [
        sys.executable, "-c", f"from perfecting_depth_ros.node.enhancer_node import {entry}; {entry}()"]
    cmd = [*start, "--ros-args", "--log-level", log_level, "--ros-args", "--params-file", str(params_file)]
    if namespace:
        cmd += ["-r", f"__ns:={namespace}"]
    for src, dst in (remaps or {}).items():
        cmd += ["-r", f"{src}:={dst}"]
    for k, v in (params or {}).items():
        cmd += ["-p", f"{k}:={v}"]
    return cmd


def start_node(params_file: str | Path, namespace: str = "", remaps: dict[str, str] | None = None,
               params: dict | None = None, log_path: str | Path | None = None,
               executable: str = "enhancer_node", log_level: str = "info") -> subprocess.Popen:
    """Start enhancer_node (or ``executable``) as its own process with the whole environment passed on."""
    out = open(log_path, "w") if log_path else subprocess.DEVNULL
    return subprocess.Popen(node_command(params_file, namespace, remaps, params, executable, log_level),
                            env=dict(os.environ),
                            stdout=out, stderr=subprocess.STDOUT)


def stop_node(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """Stop the node process as Ctrl-C would (SIGINT, then SIGKILL after ``timeout`` s); its exit code."""
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def finish(proc: subprocess.Popen, executor, *nodes: Node) -> int:
    """Tear down a session with the node: stop its process, shut the executor down (no callback may run on a
    destroyed node), destroy our ``nodes`` and shut rclpy down; the node's exit code."""
    try:
        return stop_node(proc)
    finally:
        executor.shutdown()
        for n in nodes:
            n.destroy_node()
        rclpy.shutdown()
