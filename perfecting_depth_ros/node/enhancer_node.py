"""enhancer_node: a thin rclpy adapter around DepthEnhancer.

Subscribed (relative names, remap them):
  rgb/image_rect_color (sensor_msgs/Image: rgb8, bgr8, rgba8, bgra8, mono8, 8UC3, 8UC1, YUV 4:2:2, Bayer)
  depth_registered/image_rect (sensor_msgs/Image: 16UC1 mm or 32FC1 m, registered to the RGB camera)
  rgb/camera_info (sensor_msgs/CameraInfo)
  With rgb_transport / depth_transport set, as image_transport names them: rgb/image_rect_color/compressed,
  depth_registered/image_rect/compressedDepth (or /compressed) (sensor_msgs/CompressedImage); the base name is
  remapped first, then the transport's suffix added.
Published:
  depth_enhanced/image_rect (32FC1 m, NaN invalid, or 16UC1 mm, 0 invalid: output_encoding; header of the depth
    input; depth_max_sigma leaves out depth less trusted than that)
  depth_enhanced/image_rect/compressedDepth (sensor_msgs/CompressedImage: the same depth as image_transport's
    compressedDepth publishes it, PNG, for RViz or a recorder across a network; encoded only while subscribed; the
    remapped base name plus the suffix)
  depth_enhanced/uncertainty (32FC1, 1-sigma m)
  depth_enhanced/rgb/image_rect_color (rgb8: the colour the depth was enhanced with, at its size and under its
    header, so colour, depth and camera_info share one stamp, for consumers that synchronise exactly; built only
    while subscribed)
  depth_enhanced/camera_info
  depth_enhanced/points (organised PointCloud2: x y z rgb sigma, depth frame)
  depth_enhanced/source (mono8: 1 measured and kept, 2 measured but replaced as wrong, 3 rebuilt hole, 0 none)
  /diagnostics (diagnostic_msgs/DiagnosticArray)
With ``cameras: [front, rear]`` every topic above is read and published under each camera's name (front/rgb/...,
front/depth_enhanced/...), one model serving the cameras round-robin, one diagnostics status per camera.
Parameters: see config/enhancer.yaml (each is declared with a description and range).
enhancer_lifecycle_node (ManagedEnhancerNode) is the same node as a ROS 2 managed node: it starts unconfigured and
makes its streams and loads the model on configure, processes only while active, and releases it all on cleanup.

Processing runs on a worker thread fed by a one-slot mailbox (latest wins), so the node keeps
receiving while it computes, and stale frame sets are dropped and counted instead of queued. ``max_rate``
caps how often a set is taken (the newest one when the next slot opens), to leave the CPU or GPU to the
rest of the robot. ``workers`` runs several such threads: the model's graph one frame at a time, the CPU's work
around it in parallel, each camera's outputs published in stamp order (a frame finished after a newer one is dropped).
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
import threading
import time
import traceback
from collections import deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNodeMixin, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSPolicyKind, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from ..backends.base import PRECISIONS
from ..backends.verify import VERIFY_MODES, runs_on_gpu
from ..dark_guide import BLACK_P99, DARK_P99
from ..enhancer import NOISE_MODES, DepthEnhancer, source_shares
from ..footprint import SensorFootprint
from ..io import match_depth_size
from .convert import (
    ConversionError,
    cloud_geometry,
    depth_units_warning,
    distortion_warning,
    encoding_of,
    image_to_depth,
    image_to_rgb,
    output_messages,
    registration_warning,
)
from .spin import spin_through_destroy_races
from .sync import FrameSynchronizer

METHODS = ("learned", "guided_fill", "ip_basic", "inpaint_telea", "inpaint_ns", "joint_bilateral", "raw")
CHOICES = {
    "method": METHODS,
    "backend": ("auto", "onnxruntime", "torch", "tensorrt"),
    "graph_precision": PRECISIONS,
    "verify_backend": VERIFY_MODES,
    "sync_mode": ("exact", "approximate"),
    "input_reliability": ("best_effort", "reliable"),
    "output_reliability": ("best_effort", "reliable"),
    "size_mismatch": ("resample", "reject"),
    "noise": NOISE_MODES,
    "output_encoding": ("32FC1", "16UC1"),
    "camera_info_sync": ("stamp", "latest"),
    "rgb_transport": ("raw", "compressed"),
    "depth_transport": ("raw", "compressedDepth", "compressed"),
}
# Each subscription's and publisher's history, depth, reliability and durability can be overridden by parameters,
# as image_pipeline's nodes allow, read at start-up: for a driver that publishes camera_info once, latched,
# qos_overrides./camera/rgb/camera_info.subscription.durability: transient_local and .reliability: reliable (a
# best-effort reader gets no sample published before it joined).
QOS_OVERRIDES = QoSOverridingOptions([QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH, QoSPolicyKind.RELIABILITY,
                                      QoSPolicyKind.DURABILITY])


def own_qos(q: QoSProfile) -> QoSProfile:
    """A copy of ``q`` for one subscription or publisher: rclpy writes the QoS overrides into the profile it is given
    (``qos_profile_sensor_data`` is shared by the whole process)."""
    return QoSProfile(history=q.history, depth=q.depth, reliability=q.reliability, durability=q.durability,
                      lifespan=q.lifespan, deadline=q.deadline, liveliness=q.liveliness,
                      liveliness_lease_duration=q.liveliness_lease_duration,
                      avoid_ros_namespace_conventions=q.avoid_ros_namespace_conventions)


class RosLogHandler(logging.Handler):
    """Forwards the package's Python log records (the backend ``auto`` chose and why, TensorRT engine builds that
    take minutes, cache warnings) to the node's ROS logger, so /rosout, the console and the ROS log files see them;
    unforwarded, INFO records were dropped and warnings reached stderr alone."""

    def __init__(self, ros_logger):
        super().__init__(logging.DEBUG)
        self.ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.levelno >= logging.ERROR:
                self.ros_logger.error(text)
            elif record.levelno >= logging.WARNING:
                self.ros_logger.warning(text)
            elif record.levelno >= logging.INFO:
                self.ros_logger.info(text)
            else:
                self.ros_logger.debug(text)
        except Exception:  # a log line must never take the node down
            self.handleError(record)


NO_MATCH_WARN_S = 3.0  # every input arriving, and no set matched for this long: diagnostics say why
STALL_WARN_S = 10.0  # a frame computing for this long: diagnostics warn (a backend that hangs)
# parameters that need a new enhancer / new subscriptions when changed at runtime
REBUILD = {"method", "backend", "graph_precision", "verify_backend", "samples", "steps", "model_width", "weights",
           "noise", "seed", "local_window", "hole_fusion", "cpu_threads"}


def fallback_for(backend_name: str) -> str | None:
    """The backend to fall back to after repeated failures of ``backend_name``: a GPU route (TensorRT, ONNX Runtime's
    TensorRT or CUDA provider) -> ONNX Runtime on the CPU -> torch."""
    if backend_name.startswith("tensorrt") or backend_name in ("onnxruntime-tensorrt", "onnxruntime-cuda"):
        return "onnxruntime"
    return "torch" if backend_name.startswith("onnxruntime") else None


AUTO_WORKERS_MAX = 3  # workers: 0 (auto) with the graph on a GPU: at most this many frame sets at once


graph_on_gpu = runs_on_gpu  # whether a backend (by its name) runs the graph on a GPU


def guide_gain_text(guide: tuple[float, float] | None, brightens: bool) -> str:
    """The diagnostics' ``guide_gain`` for the last frame's (guide brightness, gain) (``brighten_dark_guide``)."""
    if guide is None:
        return "nan"
    if not brightens:
        return "off"
    brightness, gain = guide
    if gain == 0:
        return "0 (black guide: a flat grey instead)"
    return f"{gain:.2f}" + (" (dark guide brightened)" if brightness < DARK_P99 else "")


def auto_workers(on_gpu: bool, cpus: int, cpu_threads: int = 0) -> int:
    """How many workers ``workers: 0`` (auto) runs. One where the graph runs on the CPU: it already takes the cores,
    and a second worker only queues (README "Speed"). With the graph on a GPU the CPU's work around it sets the rate,
    so up to AUTO_WORKERS_MAX run at once, leaving one of the ``cpus`` usable cores to the rest of the robot and never
    more than ``cpu_threads`` (0: no cap)."""
    if not on_gpu:
        return 1
    return max(1, min(AUTO_WORKERS_MAX, cpus - 1, cpu_threads or AUTO_WORKERS_MAX))


FAILURES_BEFORE_FALLBACK = 3
LAZY_CHECK_S = 0.25  # lazy: how often the outputs' subscribers are counted (a new reader waits at most this long)
RESTART_ONLY = {"input_reliability", "output_reliability", "queue_size", "rgb_transport", "depth_transport",
                "cameras", "workers"}


def _cpus() -> int:
    """The cores this process may use (a CPU set or quota: backends.base.usable_cpus), else the machine's."""
    from ..backends.base import usable_cpus

    return usable_cpus() or os.cpu_count() or 1


def _stamp_ns(msg) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window: float = 2.0):
        self.window, self.times = window, deque(maxlen=1000)

    def tick(self, t: float | None = None) -> None:
        self.times.append(time.monotonic() if t is None else t)

    def rate(self) -> float:
        now = time.monotonic()
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()
        return len(self.times) / self.window


class Stream:
    """One camera's subscriptions, synchroniser, publishers and counters. ``prefix`` is "" for the node's own topics
    or a camera name: ``<prefix>/rgb/image_rect_color`` in, ``<prefix>/depth_enhanced/...`` out."""

    def __init__(self, node: EnhancerNode, prefix: str, p: dict, in_qos, out_qos):
        self.prefix = prefix
        self.sync = FrameSynchronizer(p["sync_mode"], p["slop"], p["queue_size"], on_ready=node._ready.set,
                                      info_sync=p["camera_info_sync"])
        self.counts = {"processed": 0, "failed": 0, "rejected": 0, "superseded": 0}
        # workers > 1: sets are numbered as they are taken, and a frame finished after a newer one of this camera was
        # published is dropped (superseded), so every output's stamps move forward as the inputs' did
        self.taken, self.published = 0, 0
        self.publish_lock = threading.Lock()  # one frame's messages go out together
        self.last_shares: dict[str, float] = {}  # enhancer.source_shares of the last published frame
        self.last_guide: tuple[float, float] | None = None  # the last published frame's (guide brightness, gain)
        self.footprint: SensorFootprint | None = None  # footprint_frames > 0: what the sensor has measured so far
        self.footprint_lock = threading.Lock()
        self.reject_reasons: dict[str, int] = {}
        self.last_problem = ""
        self.last_error_time = 0.0
        self.in_rate = {t: RateMeter() for t in ("rgb", "depth", "info")}
        self.last_input = dict.fromkeys(("rgb", "depth", "info"), 0.0)
        self.out_rate = RateMeter()
        self.latency = deque(maxlen=200)
        # the learned model's frames: (its graph's backend call, the rest of the frame) in ms; a GPU speeds up the first
        self.graph_split = deque(maxlen=200)
        # to tell inputs that arrive but do not match: sets matched, depth frames received, when either last changed
        self.seen_matched, self.depth_at_match, self.last_match_time = 0, 0, time.monotonic()
        t = self.topic
        # the inputs' own callback group, new each time they are subscribed: when rclpy takes from an input destroyed
        # under it (lazy, lifecycle), the group it then leaves entered (Humble's take raises outside the group's
        # try/finally; every release for QoS event handlers) holds only dead entities, not the node's timers and services
        group = MutuallyExclusiveCallbackGroup()
        self.subs = {
            "rgb": node._subscribe_image(self, "rgb", t("rgb/image_rect_color"), p["rgb_transport"], in_qos, group),
            "depth": node._subscribe_image(self, "depth", t("depth_registered/image_rect"), p["depth_transport"], in_qos,
                                           group),
            "info": node.create_subscription(CameraInfo, t("rgb/camera_info"), lambda m: node._on_msg(self, "info", m),
                                             own_qos(in_qos), qos_overriding_options=QOS_OVERRIDES,
                                             callback_group=group),
        }
        self.rgb_topic = self.subs["rgb"].topic_name
        self.input_topics = f"{self.rgb_topic}, {self.subs['depth'].topic_name}"
        # lazy: while no output has a reader the inputs are unsubscribed; type, resolved topic and QoS (overrides
        # applied) to subscribe them again
        self.paused_inputs: dict[str, tuple] = {}

        out_group = MutuallyExclusiveCallbackGroup()  # the outputs' QoS event handlers, for the same reason

        def pub(msg_type, name):
            return node.create_publisher(msg_type, t(name), own_qos(out_qos), qos_overriding_options=QOS_OVERRIDES,
                                         callback_group=out_group)

        self.pub_depth = pub(Image, "depth_enhanced/image_rect")
        # as image_transport advertises each transport beside the raw image: the remapped base name plus its suffix
        self.pub_depth_compressed = node.create_publisher(
            CompressedImage, f"{node.resolve_topic_name(t('depth_enhanced/image_rect'))}/compressedDepth",
            own_qos(out_qos), qos_overriding_options=QOS_OVERRIDES, callback_group=out_group)
        self.pub_sigma = pub(Image, "depth_enhanced/uncertainty")
        self.pub_rgb = pub(Image, "depth_enhanced/rgb/image_rect_color")
        self.pub_info = pub(CameraInfo, "depth_enhanced/camera_info")
        self.pub_cloud = pub(PointCloud2, "depth_enhanced/points")
        self.pub_source = pub(Image, "depth_enhanced/source")

    def topic(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def footprint_for(self, frames: int) -> SensorFootprint | None:
        """This camera's ``SensorFootprint`` for ``footprint_frames`` (None: off); a new value starts it over."""
        with self.footprint_lock:
            if frames <= 0:
                self.footprint = None
            elif self.footprint is None or self.footprint.frames != frames:
                self.footprint = SensorFootprint(frames)
            return self.footprint

    def footprint_status(self, frames: int) -> str:
        """The diagnostics' ``footprint``: off, still counting frames, or the share of the image left out."""
        fp = self.footprint
        if frames <= 0 or fp is None:
            return "off" if frames <= 0 else f"0 of {frames} frames"
        outside = fp.outside
        if outside is None:
            return f"{min(fp.count, frames)} of {frames} frames"
        return f"{100 * outside.mean():.1f} % of the image left out (never measured, at the border)"

    @staticmethod
    def read(pub) -> bool:
        """Whether what ``pub`` publishes now reaches anyone: a subscription has matched it, or it is transient-local
        (a QoS override), so a subscriber joining later gets its last message."""
        return pub.get_subscription_count() > 0 or pub.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL

    def pause_inputs(self, node: EnhancerNode) -> None:
        """Unsubscribe the inputs, so DDS stops delivering (and rclpy decoding) frames nobody will use."""
        for key, sub in self.subs.items():
            self.paused_inputs[key] = (sub.msg_type, sub.topic_name, sub.qos_profile)
            node.destroy_subscription(sub)
        self.subs = {}

    def resume_inputs(self, node: EnhancerNode) -> None:
        """Subscribe the inputs again, as they were (a latched camera_info is delivered again)."""
        group = MutuallyExclusiveCallbackGroup()  # a new one (see __init__)
        for key, (msg_type, topic, qos) in self.paused_inputs.items():
            self.subs[key] = node.create_subscription(msg_type, topic, lambda m, k=key: node._on_msg(self, k, m), qos,
                                                      callback_group=group)
        self.paused_inputs = {}
        self.last_input = dict.fromkeys(self.last_input, 0.0)  # "waiting for" until they come, not "stale"

    def publishers(self) -> tuple:
        """Every output publisher of this camera."""
        return (self.pub_depth, self.pub_depth_compressed, self.pub_sigma, self.pub_info, self.pub_cloud,
                self.pub_source, self.pub_rgb)

    def has_readers(self) -> bool:
        """Whether any output of this camera reaches anyone (``lazy``: its inputs are subscribed only then)."""
        return any(self.read(p) for p in self.publishers())


class EnhancerNode(Node):
    """The node: parameters, one Stream per camera, the diagnostics and the worker threads that enhance.

    ``managed=True`` leaves it unconfigured: ``bring_up`` (streams, model, worker) and ``tear_down`` are then called
    by ManagedEnhancerNode's lifecycle transitions instead of here and in ``destroy_node``."""

    def __init__(self, node_name: str = "depth_enhancer", *, managed: bool = False, **kwargs):
        super().__init__(node_name, **kwargs)
        self._log_handler = RosLogHandler(self.get_logger())
        self._declare_parameters()
        self._params()  # a value the node cannot start with raises here, named
        self._lock = threading.Lock()
        self._ready = threading.Event()  # a synchroniser has a set for the worker
        self._enhancer: DepthEnhancer | None = None
        self._enhancer_error = ""
        self._pending_rebuild = True  # the worker builds the enhancer at start-up, before the first frame
        self._build_lock = threading.Lock()
        self._pending_values: dict = {}  # values of REBUILD parameters being set (see _on_set_parameters)
        self.loading = False
        self._backend_override: str | None = None
        self._consecutive_failures = 0
        self.fallback_note = ""
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.streams: list[Stream] = []
        self.up = False  # streams, publishers and worker exist (the timers stay, idle until then)
        self.active = not managed  # frames are taken and processed (a managed node: only while active)
        self._running = False
        self._claim_lock = threading.Lock()  # the workers take sets one at a time (round-robin, max_rate slots)
        self._next_stream = 0  # round-robin: the camera served last goes to the back
        self._last_start = -1e9  # when the last set was taken (max_rate)
        self.workers: list[threading.Thread] = []
        self._auto_workers, self._active_workers = False, 1  # workers: 0 (auto), and how many work (bring_up)
        self.worker_fault, self._worker_fault_time = "", -1e9  # a fault of a worker's own between frames (_work)
        self._computing: dict[int, float] = {}  # worker thread -> when it took the set in its hands (busy, stalls)
        self.stalled = False  # stall_timeout passed: the context is shut down and main exits with code 3
        self.unknown_parameters: list[str] = []  # given but not declared (bring_up names them)
        if not managed:
            self.bring_up()

    @property
    def busy(self) -> bool:
        """A worker is processing a set."""
        return bool(self._computing)

    def _computing_for(self) -> float:
        """Seconds the oldest set in a worker's hands has been processed (0: none is)."""
        with self._lock:
            oldest = min(self._computing.values(), default=None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    def bring_up(self) -> None:
        """Subscriptions, publishers, diagnostics and the worker, from the parameters as they are now; the worker
        loads the model first. ``ValueError`` for a combination the node cannot run with."""
        p = self._params()
        in_qos = qos_profile_sensor_data if p["input_reliability"] == "best_effort" else QoSProfile(depth=p["queue_size"])
        if p["input_reliability"] == "reliable":
            in_qos.reliability = ReliabilityPolicy.RELIABLE
        out_qos = QoSProfile(depth=2)
        reliable_out = p["output_reliability"] == "reliable"
        out_qos.reliability = ReliabilityPolicy.RELIABLE if reliable_out else ReliabilityPolicy.BEST_EFFORT
        cameras = [c.strip("/") for c in p["cameras"] if c.strip("/")] or [""]
        if len(set(cameras)) != len(cameras):
            raise ValueError(f"cameras lists a name twice: {p['cameras']}")
        self.streams = [Stream(self, c, p, in_qos, out_qos) for c in cameras]
        if not self.active:  # a managed node until it is activated: nothing delivered, nothing computed
            for st in self.streams:
                st.pause_inputs(self)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10,
                                              callback_group=MutuallyExclusiveCallbackGroup())
        # the timers live as long as the node (idle while it is torn down), so no lifecycle transition destroys one
        # under the executor, whose take would then leave the node's default group entered (spin.py)
        if getattr(self, "diag_timer", None) is None:
            self.diag_timer = self.create_timer(p["diagnostics_period"], lambda: self._unless_torn_down(
                self._publish_diagnostics))
            self.lazy_timer = self.create_timer(LAZY_CHECK_S, lambda: self._unless_torn_down(self._tick))
        else:
            self.diag_timer.timer_period_ns = int(p["diagnostics_period"] * 1e9)
        self._running = True
        package_log = logging.getLogger("perfecting_depth_ros")  # attached once the node stands: no leak on failure
        package_log.addHandler(self._log_handler)
        if package_log.level == logging.NOTSET:  # not configured by the user: the node's log level (--log-level;
            # rclpy's severities are Python's numbers), else the root logger's WARNING would drop INFO
            package_log.setLevel(int(self.get_logger().get_effective_level()))
        self._pending_rebuild = True  # the worker loads the model before it takes a frame
        self._backend_override, self.fallback_note, self._consecutive_failures = None, "", 0  # a fresh start
        self._next_stream, self._last_start = 0, -1e9
        # workers: 0 (auto): as many threads as a GPU backend could use; until the model is loaded (and whenever it
        # runs on the CPU) only the first works
        self._auto_workers = p["workers"] == 0
        n = auto_workers(True, _cpus(), p["cpu_threads"]) if self._auto_workers else p["workers"]
        self._active_workers = 1 if self._auto_workers else n
        self.workers = [threading.Thread(target=self._work, args=(k,), name=f"enhancer_worker_{k}", daemon=True)
                        for k in range(n)]
        for w in self.workers:
            w.start()
        self.up = True
        self.unknown_parameters = self._unknown_parameters()  # after the streams: they declare the QoS overrides
        for name in self.unknown_parameters:
            near = difflib.get_close_matches(name, list(self._parameters), n=1, cutoff=0.6)
            self.get_logger().warning(f"parameter {name!r} is not one of this node's and is ignored"
                                      + (f"; did you mean {near[0]!r}?" if near else ""))

    def tear_down(self) -> None:
        """Stop the worker (after the frame in hand), destroy what ``bring_up`` made and release the model (its
        ONNX Runtime session or TensorRT engine is destroyed)."""
        self._running = False
        logging.getLogger("perfecting_depth_ros").removeHandler(self._log_handler)
        self._ready.set()
        end = time.monotonic() + 5.0  # under ros2 launch's SIGTERM escalation (5 s)
        for w in self.workers:
            w.join(timeout=max(end - time.monotonic(), 0.0))
        if getattr(self, "pub_diag", None) is not None:
            self.destroy_publisher(self.pub_diag)
            self.pub_diag = None
        for st in self.streams:
            for sub in st.subs.values():
                self.destroy_subscription(sub)
            for pub in st.publishers():
                self.destroy_publisher(pub)
        self.streams = []
        with self._build_lock:
            self._enhancer = None
        self.up = False

    def _unknown_parameters(self) -> list[str]:
        """Parameters given to this node (a parameters file, ``-p``, the launch file) that it does not have: a typo,
        or a QoS override named by a topic before remapping. rclpy ignores them without a word."""
        given = getattr(self, "_parameter_overrides", None) or {}
        return sorted(n for n in given if not self.has_parameter(n))

    def _subscribe_image(self, stream: Stream, key: str, base: str, transport: str, qos, group):
        """Subscribe to ``base`` (raw Image) or, as image_transport does, to the remapped base name plus the
        transport's suffix (CompressedImage), in callback group ``group``."""
        if transport == "raw":
            return self.create_subscription(Image, base, lambda m: self._on_msg(stream, key, m), own_qos(qos),
                                            qos_overriding_options=QOS_OVERRIDES, callback_group=group)
        topic = f"{self.resolve_topic_name(base)}/{transport}"
        self.get_logger().info(f"{key}: subscribing to {topic} (sensor_msgs/CompressedImage)")
        return self.create_subscription(CompressedImage, topic, lambda m: self._on_msg(stream, key, m), own_qos(qos),
                                        qos_overriding_options=QOS_OVERRIDES, callback_group=group)

    # ------------------------------------------------------------------ parameters
    def _declare_parameters(self) -> None:
        self._float_ranges: dict[str, tuple[float, float] | None] = {}
        self._param_names: list[str] = []  # the node's own, in declaration order (not use_sim_time or QoS overrides)

        def d(name, value, text, rng=None):
            desc = ParameterDescriptor(description=text)
            if isinstance(rng, FloatingPointRange):
                desc.floating_point_range = [rng]
            elif isinstance(rng, IntegerRange):
                desc.integer_range = [rng]
            if name in CHOICES:
                desc.additional_constraints = "one of: " + ", ".join(CHOICES[name])
            if isinstance(value, float):
                # "max_range: 5" in a parameters file is an integer: statically typed, rclpy would refuse it and
                # the node would not start. Any type is let in here; numbers are read as floats, the rest refused
                # (float_problem), and the range is checked for integers too.
                desc.dynamic_typing = True
                self._float_ranges[name] = (rng.from_value, rng.to_value) if rng is not None else None
            self.declare_parameter(name, value, desc)
            self._param_names.append(name)

        d("method", "learned", "learned (two-stage model) or a classical fill")
        d("backend", "auto", "inference backend for the learned model")
        d("graph_precision", "auto", "the graph's arithmetic on a GPU: auto = TensorRT engines in FP16 (the raw "
          "depth's geometry in FP32), other routes FP32; fp32 = FP32 everywhere; fp16 = ONNX Runtime's GPU "
          "providers in FP16 too (CPU routes are always FP32)")
        d("verify_backend", "auto", "check the learned model's backend against ONNX Runtime on the CPU (FP32) on "
          "the first frame of each size and run that reference instead where they disagree: auto = GPU routes and "
          "FP16 graphs, always = every route but the reference, off = none (diagnostics: verification)")
        d("verify_period", 0.0, "check the backend again every this many seconds (one CPU run of the graph each time; "
          "a fault that appears after the first frame); 0 = the first frame of each size only; applies at once",
          FloatingPointRange(from_value=0.0, to_value=86400.0, step=0.0))
        d("weights", "", "safetensors weights (empty: the shipped model)")
        d("samples", 4, "K stochastic samples", IntegerRange(from_value=1, to_value=16, step=1))
        d("steps", 2, "S denoiser steps", IntegerRange(from_value=1, to_value=8, step=1))
        d("model_width", 320, "longer image side (a landscape camera's width) the learned model runs at",
          IntegerRange(from_value=64, to_value=1280, step=16))
        d("sync_mode", "approximate", "exact or approximate stamp matching")
        d("slop", 0.02, "approximate sync tolerance (s)", FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0))
        d("camera_info_sync", "stamp", "stamp: camera_info matched by stamp like the images; latest: the newest "
          "camera_info goes with every set (for drivers or bags that publish it rarely or once)")
        d("queue_size", 5, "per-topic sync queue length", IntegerRange(from_value=1, to_value=100, step=1))
        d("input_reliability", "best_effort", "subscription reliability; best_effort also accepts reliable publishers")
        d("output_reliability", "reliable", "publisher reliability")
        d("depth_scale", 0.001, "metres per unit of 16UC1 depth", FloatingPointRange(from_value=1e-6, to_value=1.0, step=0.0))
        d("max_sigma", 0.0, "drop cloud points with sigma above this (m); 0 keeps all",
          FloatingPointRange(from_value=0.0, to_value=100.0, step=0.0))
        d("depth_max_sigma", 0.0, "publish depth whose 1-sigma exceeds this (m) as invalid, in the image and the cloud; "
          "0 keeps all", FloatingPointRange(from_value=0.0, to_value=100.0, step=0.0))
        d("sigma_scale", 1.0, "the published 1-sigma times this: a calibration for your sensor (perfecting-depth "
          "check suggests one); applies at once", FloatingPointRange(from_value=0.01, to_value=100.0, step=0.0))
        d("output_encoding", "32FC1", "depth_enhanced/image_rect: 32FC1 (metres, NaN invalid) or 16UC1 (mm, 0 invalid)")
        d("publish_cloud", True, "publish depth_enhanced/points")
        d("cloud_decimation", 1, "depth_enhanced/points of every n-th row and column (organised, n*n times lighter); "
          "applies at once", IntegerRange(from_value=1, to_value=16, step=1))
        d("compressed_depth_max", 10.0, "depth_enhanced/image_rect/compressedDepth leaves out depth beyond this (m), as "
          "image_transport's depth_max does; 32FC1 depth is quantised in steps of d^2/10100 m (1 mm at 3 m); "
          "applies at once", FloatingPointRange(from_value=0.5, to_value=650.0))
        d("keep_measurements", False, "learned model: publish every raw measurement as it is and rebuild holes only "
          "(a measurement judged wrong is kept, its distance from the model's estimate added to its 1-sigma); for "
          "planners that must never lose a measured obstacle; applies at once")
        d("brighten_dark_guide", True, "learned model: a colour guide darker than the model's training frames' median "
          "(a dim room, night: 99th-percentile brightness below 230 of 255) is brought up to it (up to 16x) and "
          "smoothed before enhancing, the smoothing in full below 128, a black one (below 8) replaced by a flat grey; "
          "brighter guides are not touched; the published colour stays the camera's; applies at once")
        d("beyond_range_sigmas", 0.0, "with max_range set: rebuilt depth whose value plus this many 1-sigmas reaches "
          "past max_range is published as invalid (a hole whose truth may lie past the sensor's range, which every "
          "fill puts too near); 0 = off; applies at once", FloatingPointRange(from_value=0.0, to_value=10.0, step=0.0))
        d("below_range_sigmas", 0.0, "with min_range set: rebuilt depth whose value minus this many 1-sigmas reaches "
          "below min_range is published as invalid (a hole that may be a surface too near for the sensor, which every "
          "fill puts too far: a ray through it would clear a real obstacle); 0 = off; applies at once",
          FloatingPointRange(from_value=0.0, to_value=10.0, step=0.0))
        d("footprint_frames", 0, "after this many frames, rebuilt pixels connected to the image border that no frame "
          "has measured (outside the sensor's field of view: an Azure Kinect's or Femto's hexagon, a registration "
          "border) are published as invalid; a pixel measured once is filled again; 0 = off; applies at once",
          IntegerRange(from_value=0, to_value=100000, step=1))
        d("rectified", True, "the input images are rectified (image_rect: the cloud from camera_info's P, as "
          "depth_image_proc); false: raw images with their distortion (a driver's image_raw, e.g. Azure Kinect "
          "depth_to_rgb): the cloud undoes camera_info's K and D (plumb_bob, rational_polynomial, equidistant)")
        d("lazy", False, "process frames only while some output has a subscriber, as image_pipeline's nodes do: "
          "meanwhile the inputs are unsubscribed and the CPU is spared; applies at once")
        d("publish_source", True, "publish depth_enhanced/source (mono8: 1 measured and kept, 2 measured but replaced, "
          "3 rebuilt hole, 0 no value)")
        d("size_mismatch", "resample", "RGB of another size than depth: resample it or reject the frame")
        d("input_timeout", 1.0, "warn when an input topic is silent this long (s)",
          FloatingPointRange(from_value=0.05, to_value=60.0, step=0.0))
        d("diagnostics_period", 1.0, "diagnostics publishing period (s)",
          FloatingPointRange(from_value=0.05, to_value=60.0, step=0.0))
        d("seed", 0, "sampling noise seed", IntegerRange(from_value=0, to_value=2**31 - 1, step=1))
        d("noise", "fixed", "sampling noise: fixed (drawn once, no frame-to-frame flicker from the draw) or fresh")
        d("max_range", 0.0, "the depth sensor's maximum range (m), as its driver states it; 0 = unknown",
          FloatingPointRange(from_value=0.0, to_value=100.0, step=0.0))
        d("min_range", 0.0, "the depth sensor's minimum range (m), as its driver states it (RealSense D435 about 0.2-0.3, "
          "Kinect v1 0.5, Azure Kinect NFOV 0.25-0.5); 0 = unknown; read by below_range_sigmas only",
          FloatingPointRange(from_value=0.0, to_value=100.0, step=0.0))
        d("local_window", 0.0, "learned model: rebuilt holes stay within the measurements in a window this fraction "
          "of the image's larger side (0 = off)", FloatingPointRange(from_value=0.0, to_value=0.5, step=0.0))
        d("max_rate", 0.0, "process at most this many frame sets per second, the newest when the next slot opens "
          "(Hz; 0 = as fast as the machine can)", FloatingPointRange(from_value=0.0, to_value=1000.0, step=0.0))
        d("stall_timeout", 0.0, "exit with code 3 when a frame has been computing this long (s): a hung backend (GPU "
          "driver, TensorRT) that only a restart clears, so that respawn:=true or systemd starts the node again; 0 = "
          "off (diagnostics still warn after 10 s); allow for a TensorRT engine built at the first frame (minutes on "
          "a Jetson); applies at once", FloatingPointRange(from_value=0.0, to_value=3600.0, step=0.0))
        d("workers", 0, "frame sets enhanced at once: the model's graph runs one at a time and the CPU's work around "
          "it (hole fusion, messages) in parallel, so with a GPU or spare cores 2-3 raise the output rate; outputs "
          "stay in stamp order (a frame finished after a newer one is dropped); 0 = auto: 1 where the graph runs on "
          "the CPU, with a GPU up to 3 (the usable cores less one, at most cpu_threads); start-up only",
          IntegerRange(from_value=0, to_value=8, step=1))
        d("cameras", [""], "camera names sharing this node's model: <name>/rgb/image_rect_color ... in, "
          "<name>/depth_enhanced/... out, one diagnostics status each; [''] = the node's own topics; start-up only")
        d("rgb_transport", "raw", "colour input: raw (sensor_msgs/Image) or compressed (JPEG/PNG CompressedImage on "
          "<rgb topic>/compressed); start-up only")
        d("depth_transport", "raw", "depth input: raw, compressedDepth (PNG or RVL on <depth topic>/compressedDepth) or "
          "compressed (16-bit PNG on <depth topic>/compressed); start-up only")
        d("cpu_threads", 0, "CPU threads the enhancer computes with (ONNX Runtime, torch, OpenCV); 0 = every core "
          "this process may use (a taskset or cpuset pin and a cgroup CPU quota are kept to); leave cores to SLAM "
          "and planners", IntegerRange(from_value=0, to_value=256, step=1))
        d("hole_fusion", True, "learned model: weigh rebuilt pixels against a colour-guided fill at camera "
          "resolution with the shipped hole fusion (used with the shipped weights only; false = off, faster)")
        problems = [self.float_problem(n, self.get_parameter(n).value) for n in self._float_ranges]
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))

    def float_problem(self, name: str, value) -> str:
        """Why ``value`` cannot be the float parameter ``name`` ("" if it can: a number in its range)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{name} must be a number, got {value!r}"
        rng = self._float_ranges.get(name)
        if rng is not None and not rng[0] <= value <= rng[1]:  # NaN fails too
            return f"{name} must be in [{rng[0]:g}, {rng[1]:g}], got {value!r}"
        return ""

    def _params(self) -> dict:
        return {n: self._as_declared(n, self.get_parameter(n).value) for n in self._param_names}

    def _as_declared(self, name: str, value):
        """A float parameter's value as a float (it may have been given as an integer)."""
        return float(value) if name in self._float_ranges else value

    def _on_set_parameters(self, params) -> SetParametersResult:
        for prm in params:
            problem = self.float_problem(prm.name, prm.value) if prm.name in self._float_ranges else ""
            if problem:
                return SetParametersResult(successful=False, reason=problem)
            if prm.name in CHOICES and prm.value not in CHOICES[prm.name]:
                return SetParametersResult(successful=False,
                                           reason=f"{prm.name} must be one of {', '.join(CHOICES[prm.name])}, got {prm.value!r}")
            if prm.name in RESTART_ONLY and self.up:  # a managed node takes them while unconfigured
                return SetParametersResult(successful=False, reason=f"{prm.name} applies at start-up only; restart "
                                           "the node (a managed node: clean it up and configure it again)")
        for prm in params:
            if prm.name in REBUILD:
                # the worker rebuilds at once, possibly before rclpy stores the value: hand it over
                with self._lock:
                    self._pending_values[prm.name] = self._as_declared(prm.name, prm.value)
                self._pending_rebuild = True
                self._backend_override = None
            if prm.name in ("sync_mode", "slop", "camera_info_sync"):
                cur = self._params()
                cur[prm.name] = self._as_declared(prm.name, prm.value)
                for st in self.streams:
                    st.sync.configure(cur["sync_mode"], cur["slop"], cur["queue_size"], cur["camera_info_sync"])
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ input
    def _on_msg(self, stream: Stream, topic: str, msg) -> None:
        stream.in_rate[topic].tick()
        stream.last_input[topic] = time.monotonic()
        reason = stream.sync.add(topic, _stamp_ns(msg), msg)
        if reason:
            self._reject(stream, reason)

    def _reject(self, stream: Stream, reason: str) -> None:
        key = reason.split(":")[0].split(" by ")[0][:60]
        with self._lock:
            stream.counts["rejected"] += 1
            stream.reject_reasons[key] = stream.reject_reasons.get(key, 0) + 1
            stream.last_problem = reason
        where = f"{stream.prefix}: " if stream.prefix else ""
        self.get_logger().warning(where + reason, throttle_duration_sec=2.0)

    def _unless_torn_down(self, callback) -> None:
        """A timer's ``callback``, skipped while the node is torn down (a managed node unconfigured), and quiet when it
        was torn down under a running executor (the context shut down by a signal, rclpy.shutdown from another
        thread): nothing is left to report on or subscribe."""
        if not self.up:
            return
        try:
            callback()
        except Exception:
            if self.up and self.context.ok():
                raise

    def _tick(self) -> None:
        """Every LAZY_CHECK_S: lazy's readers counted, stall_timeout's clock read."""
        self._apply_lazy()
        self._check_stall()

    def _check_stall(self) -> None:
        """stall_timeout: a frame computing longer than that means a hung backend (a GPU driver, TensorRT), which no
        restart of the frame can clear; the node says so and shuts its context down, and ``main`` exits with code 3,
        so that a supervisor (ros2 launch's respawn, systemd) starts it again."""
        limit = self.get_parameter("stall_timeout").value
        computing = self._computing_for()
        if not limit or computing <= limit or self.stalled:
            return
        self.stalled = True
        self.get_logger().fatal(f"a frame has been computing for {computing:.0f} s (stall_timeout "
                                f"{limit:g} s): the backend hangs; exiting with code 3 so that a supervisor "
                                "(respawn:=true, systemd) starts the node again")
        self.context.try_shutdown()

    def _apply_lazy(self) -> None:
        """lazy: unsubscribe a camera's inputs while none of its outputs has a reader, subscribe them when one comes."""
        lazy = self.get_parameter("lazy").value
        for st in self.streams:
            if not self.active:  # a managed node's inputs stay unsubscribed until it is activated
                continue
            idle = lazy and not st.has_readers()
            where = f"{st.prefix}: " if st.prefix else ""
            if idle and not st.paused_inputs:
                st.pause_inputs(self)
                self.get_logger().info(where + "no subscriber to any output: inputs unsubscribed until one comes (lazy)")
            elif not idle and st.paused_inputs:
                st.resume_inputs(self)
                self.get_logger().info(where + "an output has a subscriber: inputs subscribed again")

    # ------------------------------------------------------------------ worker
    def _ensure_enhancer(self) -> DepthEnhancer | None:
        with self._build_lock:
            if self._pending_rebuild:
                self._pending_rebuild = False
                self.loading = True
                try:
                    self._build_enhancer()
                finally:
                    self.loading = False
        return self._enhancer

    def _build_enhancer(self) -> None:
        p = self._params()
        with self._lock:
            p.update(self._pending_values)
            self._pending_values.clear()
        backend = self._backend_override or p["backend"]
        try:
            self._enhancer = DepthEnhancer(method=p["method"], backend=backend, weights=p["weights"] or None,
                                           samples=p["samples"], steps=p["steps"], model_width=p["model_width"],
                                           seed=p["seed"], noise=p["noise"], local_window=p["local_window"],
                                           fusion="auto" if p["hole_fusion"] else False, threads=p["cpu_threads"],
                                           precision=p["graph_precision"], verify=p["verify_backend"])
            self._enhancer_error = ""
            if self._auto_workers:
                self._active_workers = self._auto_active_workers(self._enhancer, p["cpu_threads"])
            self.get_logger().info(f"enhancer ready: {self._enhancer.description}"
                                   + (f", {self._active_workers} workers" if self._active_workers > 1 else ""))
        except Exception as e:  # a broken model must not take the node down: report and keep the old one
            self._enhancer_error = f"cannot create enhancer ({p['method']}/{backend}): {e}"
            self.get_logger().error(self._enhancer_error)

    def _take(self, start: int):
        """The next ready set, looking at the streams round-robin from ``start``: (stream index, set) or None."""
        n = len(self.streams)
        for k in range(n):
            i = (start + k) % n
            s = self.streams[i].sync.take(0)
            if s is not None:
                return i, s
        return None

    def _claim(self):
        """The next set for a worker: (stream, set, its number in the stream), or None, with the seconds to wait
        before looking again (max_rate's next slot) or 0 (nothing ready: wait for the synchronisers)."""
        with self._claim_lock:
            rate = self.get_parameter("max_rate").value  # read each time: a change applies at once
            wait = self._last_start + 1.0 / rate - time.monotonic() if rate > 0 else 0.0
            if wait > 0:  # max_rate: the next slot is not open yet; newer sets replace the waiting one meanwhile
                return None, wait
            self._ready.clear()  # cleared before looking: a set that arrives meanwhile sets it again
            got = self._take(self._next_stream) if self.active else None
            if got is None:
                return None, 0.0
            i, s = got
            self._next_stream = i + 1
            self._last_start = time.monotonic()
            stream = self.streams[i]
            stream.taken += 1
            with self._lock:
                self._computing[threading.get_ident()] = time.monotonic()
            return (stream, s, stream.taken), 0.0

    def _work(self, index: int = 0) -> None:
        """The loop of worker ``index`` (idle while ``workers: 0`` keeps it out: ``_active_workers``). A fault of the
        node's own between frames (not a frame's: ``_work_once`` reports those) is logged with its traceback and
        reported in diagnostics, and the worker goes on: a worker that died would leave the node running, subscribed
        and silent."""
        while self._running and self.context.ok():  # a signal shuts the context down before destroy_node runs
            if index >= self._active_workers:
                time.sleep(0.1)
                continue
            try:
                self._work_once()
            except Exception as e:
                if not (self._running and self.context.ok()):  # shutting down or torn down
                    break
                self.worker_fault = f"worker fault: {type(e).__name__}: {e}"
                self._worker_fault_time = time.monotonic()
                self.get_logger().error(f"{self.worker_fault}\n{traceback.format_exc()}", throttle_duration_sec=2.0)
                time.sleep(0.1)

    def _work_once(self) -> None:
        """Take one set, enhance it and publish its outputs (or load the model, or wait for a set)."""
        if self._pending_rebuild:  # at start-up and after a parameter change: load now, not on the next frame
            self._ensure_enhancer()
            return
        got, wait = self._claim()
        if got is None:
            if wait > 0:
                time.sleep(min(wait, 0.05))
            else:
                self._ready.wait(0.1)
            return
        stream, s, number = got
        try:
            self._process(stream, s, number)
        except ValueError as e:  # the input's fault (ConversionError included): reject with its reason
            self._reject(stream, str(e))
        except Exception as e:  # report, publish nothing for this frame, keep running
            if not (self.context.ok() and self._running):  # shutting down or torn down: outputs gone, not broken
                return
            with self._lock:
                stream.counts["failed"] += 1
                stream.last_problem = f"processing failed: {type(e).__name__}: {e}"
                stream.last_error_time = time.monotonic()
                self._consecutive_failures += 1
            self.get_logger().error(stream.last_problem, throttle_duration_sec=2.0)
            self._maybe_fall_back()
        else:
            with self._lock:
                self._consecutive_failures = 0
            self._workers_after_check()
        finally:
            with self._lock:
                self._computing.pop(threading.get_ident(), None)

    def _auto_active_workers(self, enh: DepthEnhancer, cpu_threads: int) -> int:
        """How many of the started workers ``workers: 0`` (auto) lets work with ``enh``'s backend."""
        return min(len(self.workers), auto_workers(graph_on_gpu(enh.backend_name), _cpus(), cpu_threads))

    def _workers_after_check(self) -> None:
        """A GPU route that failed its check against the CPU (``verify_backend``) left the graph on the CPU: ``workers:
        0`` (auto) then gives as many workers as with the graph on the CPU (one; more would only queue)."""
        enh = self._enhancer
        if not (self._auto_workers and enh is not None and enh.verification_failed):
            return
        n = self._auto_active_workers(enh, self._params()["cpu_threads"])
        if n != self._active_workers:
            self._active_workers = n
            self.get_logger().info(f"{n} worker{'s' if n > 1 else ''}: the graph runs on the CPU now")

    def _maybe_fall_back(self) -> None:
        """After repeated failures of the learned model, switch to the next backend (TensorRT -> ONNX Runtime
        CPU -> torch); the failing backend is retried when parameters change."""
        with self._lock:  # several workers may fail at once: one fallback, not one each
            enh = self._enhancer
            if enh is None or enh.method != "learned" or self._consecutive_failures < FAILURES_BEFORE_FALLBACK:
                return
            nxt = fallback_for(enh.backend_name)
            if nxt is None:
                return
            self.fallback_note = f"fell back from {enh.backend_name} to {nxt} after {self._consecutive_failures} failures"
            self._backend_override = nxt
            self._pending_rebuild = True
            self._consecutive_failures = 0
        self.get_logger().error(self.fallback_note)

    def _superseded(self, stream: Stream, number: int) -> bool:
        """Whether ``stream``'s ``number``-th set is older than one published already (workers > 1); counted."""
        if number >= stream.published:
            return False
        with self._lock:
            stream.counts["superseded"] += 1
        return True

    def _process(self, stream: Stream, s, number: int) -> None:
        """Enhance set ``s``, the ``number``-th taken from ``stream``, and publish its outputs."""
        t0 = time.monotonic()
        p = self._params()
        depth, n_bad = image_to_depth(s.depth, p["depth_scale"])
        if n_bad:
            self._reject(stream, f"depth has {n_bad} negative or undecodable values; treated as invalid")
        units = depth_units_warning(depth, encoding_of(s.depth), p["depth_scale"])
        if units:
            self._reject(stream, units)  # processed anyway, like unregistered depth: reported, not hidden
        rgb = image_to_rgb(s.rgb)
        warning = registration_warning(s.rgb.header.frame_id, s.depth.header.frame_id)
        if warning:
            self._reject(stream, warning)  # processed anyway: reported in diagnostics and the log
        H, W = depth.shape
        if rgb.shape[:2] != (H, W):
            if p["size_mismatch"] == "reject":
                raise ConversionError(f"rgb {rgb.shape[1]}x{rgb.shape[0]} and depth {W}x{H} differ; frame rejected")
            self._reject(stream, f"rgb {rgb.shape[1]}x{rgb.shape[0]} resampled to depth size {W}x{H}")
            rgb = match_depth_size(rgb, (H, W))
        K, rays = cloud_geometry(s.info, (H, W), p["rectified"])
        warning = distortion_warning(s.info, stream.rgb_topic) if p["rectified"] else ""
        if warning:
            self._reject(stream, warning)  # processed anyway, as unregistered depth is
        enh = self._ensure_enhancer()
        if enh is None:
            raise RuntimeError(self._enhancer_error or "no enhancer")
        enh.sigma_scale = p["sigma_scale"]  # these apply at once (no rebuild)
        enh.keep_measurements = p["keep_measurements"]
        enh.brighten_dark_guide = p["brighten_dark_guide"]
        enh.beyond_range_sigmas = p["beyond_range_sigmas"]
        enh.below_range_sigmas = p["below_range_sigmas"]
        enh.verify_period = p["verify_period"]
        out = enh.enhance(rgb, depth, max_range_m=p["max_range"] or None, min_range_m=p["min_range"] or None)
        if not np.isfinite(out.depth).any() and (depth > 0).any():
            raise RuntimeError("enhancer returned no finite depth")
        footprint = stream.footprint_for(p["footprint_frames"])
        if footprint is not None:
            out = footprint.apply(depth, out)
        if self._superseded(stream, number):  # already (workers > 1): no messages built for nothing
            return
        # the cloud and the source map are built only while someone reads them (the cloud is the costly message)
        msgs = output_messages(out, rgb, K, s.info, s.depth.header, p["max_sigma"],
                               p["publish_cloud"] and stream.read(stream.pub_cloud), p["depth_max_sigma"],
                               p["output_encoding"], p["publish_source"] and stream.read(stream.pub_source),
                               p["cloud_decimation"], rays,
                               p["compressed_depth_max"] if stream.read(stream.pub_depth_compressed) else None,
                               stream.read(stream.pub_rgb))
        with stream.publish_lock:
            if not self.active:  # a managed node deactivated while this frame was computed: nothing published
                return
            if self._superseded(stream, number):  # another worker published a newer set of it meanwhile
                return
            stream.published = number
            stream.pub_depth.publish(msgs["image_rect"])
            if "image_rect/compressedDepth" in msgs:
                stream.pub_depth_compressed.publish(msgs["image_rect/compressedDepth"])
            stream.pub_sigma.publish(msgs["uncertainty"])
            stream.pub_info.publish(msgs["camera_info"])
            if "rgb" in msgs:
                stream.pub_rgb.publish(msgs["rgb"])
            if "points" in msgs:
                stream.pub_cloud.publish(msgs["points"])
            if "source" in msgs:
                stream.pub_source.publish(msgs["source"])
        shares = source_shares(out, p["depth_max_sigma"])
        now = time.monotonic()
        stream.out_rate.tick(now)
        latency = (now - t0) * 1e3
        graph = out.timings.get("inference_ms") if enh.method == "learned" else None
        waited = out.timings.get("graph_wait_ms", 0.0)  # workers > 1: for another frame's graph
        with self._lock:
            stream.counts["processed"] += 1
            stream.latency.append(latency)
            if graph is None:
                stream.graph_split.clear()  # a classical fill now: no graph
            else:
                stream.graph_split.append((graph, max(latency - graph - waited, 0.0)))
            stream.last_shares = shares
            stream.last_guide = (out.guide_brightness, out.guide_gain)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        p = self._params()
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [self._stream_status(st, p) for st in self.streams]
        self.pub_diag.publish(arr)

    def _stream_status(self, stream: Stream, p: dict) -> DiagnosticStatus:
        """One camera's diagnostics status (the model's state is in each)."""
        now = time.monotonic()
        st = DiagnosticStatus()
        st.name = f"{self.get_name()}: depth enhancement" + (f" ({stream.prefix})" if stream.prefix else "")
        st.hardware_id = "perfecting_depth_ros"
        computing = self._computing_for()
        with self._lock:
            lat = sorted(stream.latency)
            split = list(stream.graph_split)
            counts, reasons, problem = dict(stream.counts), dict(stream.reject_reasons), stream.last_problem
            shares, guide = dict(stream.last_shares), stream.last_guide
        stale = [t for t, last in stream.last_input.items() if last and now - last > p["input_timeout"]]
        never = [t for t, last in stream.last_input.items() if not last]
        stats = stream.sync.stats
        if stats.matched != stream.seen_matched or never or stale:
            stream.seen_matched, stream.depth_at_match, stream.last_match_time = (stats.matched,
                                                                                  stats.received["depth"], now)
        unmatched = (now - stream.last_match_time > NO_MATCH_WARN_S
                     and stats.received["depth"] - stream.depth_at_match >= 3)  # not a camera's slow rate
        level, message = DiagnosticStatus.OK, "ok"
        if self._enhancer_error:
            level, message = DiagnosticStatus.ERROR, self._enhancer_error
        elif now - stream.last_error_time < 2 * p["diagnostics_period"] + 1:
            level, message = DiagnosticStatus.ERROR, problem
        elif now - self._worker_fault_time < 2 * p["diagnostics_period"] + 1:
            level, message = DiagnosticStatus.ERROR, self.worker_fault
        elif computing > STALL_WARN_S:  # a hung backend would otherwise look like a quiet camera
            level, message = DiagnosticStatus.WARN, (f"a frame has been computing for {computing:.0f} s: the backend "
                                                     "may hang (a TensorRT engine built at the first frame can take "
                                                     "minutes)")
        elif self._enhancer is not None and self._enhancer.verification_failed:  # right, but not on the route asked
            level, message = DiagnosticStatus.WARN, f"backend check {self._enhancer.verification}"
        elif self.loading:
            level, message = DiagnosticStatus.OK, "loading the enhancer"
        elif not self.active:
            level, message = DiagnosticStatus.OK, "inactive (lifecycle): inputs unsubscribed until activated"
        elif p["lazy"] and not stream.has_readers():
            level, message = DiagnosticStatus.OK, ("idle: no subscriber to any output (lazy)"
                                                   + ("; inputs unsubscribed" if stream.paused_inputs else ""))
        elif stale:
            level, message = DiagnosticStatus.WARN, f"no input on {', '.join(stale)} for > {p['input_timeout']} s"
        elif never and counts["processed"] == 0:
            level, message = DiagnosticStatus.WARN, f"waiting for {', '.join(never)}"
        elif unmatched:
            level, message = DiagnosticStatus.WARN, (f"inputs arrive but none has matched for > {NO_MATCH_WARN_S:g} s: "
                                                     + stream.sync.no_match_hint())
        elif problem and counts["rejected"]:
            level, message = DiagnosticStatus.WARN, problem
            stream.last_problem = ""
        elif guide is not None and guide[0] < BLACK_P99:  # enhanced, but without the colour cue the model reads
            level, message = DiagnosticStatus.WARN, (f"colour guide black (99th-percentile brightness {guide[0]:.0f} "
                                                     "of 255): enhanced without a colour cue (lights off, a covered "
                                                     "lens, or the wrong rgb topic?); in the dark, the depth camera's "
                                                     "IR image as the guide")
        elif self.unknown_parameters:  # the robot runs without a setting someone believes it has
            level, message = DiagnosticStatus.WARN, ("parameters not of this node, ignored: "
                                                     + ", ".join(self.unknown_parameters))
        elif p["beyond_range_sigmas"] and not p["max_range"]:  # so is this one: the filter needs the range
            level, message = DiagnosticStatus.WARN, "beyond_range_sigmas has no effect while max_range is 0 (unknown)"
        elif p["below_range_sigmas"] and not p["min_range"]:
            level, message = DiagnosticStatus.WARN, "below_range_sigmas has no effect while min_range is 0 (unknown)"
        elif p["min_range"] and p["max_range"] and p["min_range"] >= p["max_range"]:
            level, message = DiagnosticStatus.WARN, (f"min_range {p['min_range']:g} m is not below max_range "
                                                     f"{p['max_range']:g} m: check the sensor's figures")
        enh = self._enhancer
        brightens = bool(p["brighten_dark_guide"]) and (enh is None or enh.method == "learned")  # learned model only
        values = {
            "method": enh.description if enh else "(not loaded)",
            "backend": enh.backend_name if enh else "",
            "input_rate_rgb_hz": f"{stream.in_rate['rgb'].rate():.2f}",
            "input_rate_depth_hz": f"{stream.in_rate['depth'].rate():.2f}",
            "input_rate_info_hz": f"{stream.in_rate['info'].rate():.2f}",
            **{f"stamp_offset_{t}_s": f"{dt:+.3f}" for t, dt in stream.sync.stamp_offsets().items()},
            "output_rate_hz": f"{stream.out_rate.rate():.2f}",
            "max_rate_hz": f"{p['max_rate']:.2f}" if p["max_rate"] else "unlimited",
            "latency_p50_ms": f"{lat[len(lat) // 2]:.1f}" if lat else "nan",
            "latency_max_ms": f"{lat[-1]:.1f}" if lat else "nan",
            # of it, the learned model's graph (what a GPU runs) and the rest (the CPU's: conversions, fusion, messages)
            "graph_p50_ms": f"{np.median([g for g, _ in split]):.1f}" if split else "nan",
            "outside_graph_p50_ms": f"{np.median([r for _, r in split]):.1f}" if split else "nan",
            "processed": str(counts["processed"]),
            "failed": str(counts["failed"]),
            "rejected": str(counts["rejected"]),
            "superseded": str(counts["superseded"]),
            "dropped_sets": str(stats.dropped),
            "rejected_stamps": str(stats.rejected_backwards),
            "time_jumps": str(stats.time_jumps),
            "fallback": self.fallback_note or "none",
            "verification": enh.verification if enh and enh.method == "learned" else "n/a",
            # say whether a configured range is used, so nobody relies on a parameter the model ignores
            "max_range": ("unknown" if not p["max_range"] else f"{p['max_range']:.2f} m, "
                          + ("read by the model" if enh and enh.reads_range else "not read by this model")),
            "sigma_scale": f"{p['sigma_scale']:g}",  # the published 1-sigma is the model's times this
            "beyond_range_sigmas": ("off" if not p["beyond_range_sigmas"] else f"{p['beyond_range_sigmas']:g}"
                                    + ("" if p["max_range"] else " (no effect: max_range unknown)")),
            "below_range_sigmas": ("off" if not p["below_range_sigmas"] else f"{p['below_range_sigmas']:g}"
                                   + (f" (min_range {p['min_range']:g} m)" if p["min_range"]
                                      else " (no effect: min_range unknown)")),
            "footprint": stream.footprint_status(p["footprint_frames"]),
            "guide_brightness": "nan" if guide is None else f"{guide[0]:.0f}",  # the last frame's, 0-255
            "guide_gain": guide_gain_text(guide, brightens),
            "cpu_threads": str(p["cpu_threads"]) if p["cpu_threads"] else "all",
            "workers": str(self._active_workers) + (" (auto)" if self._auto_workers else ""),
            "input_topics": stream.input_topics,
            "cameras": str(len(self.streams)),
        }
        if self.unknown_parameters:
            values["ignored_parameters"] = ", ".join(self.unknown_parameters)
        # what the last published frame is made of: a sensor going blind, or a scene the model rebuilds much of
        values.update({f"last_frame_{k}_pct": f"{100 * v:.1f}" for k, v in shares.items()})
        values.update({f"rejected[{k}]": str(v) for k, v in reasons.items()})
        st.level, st.message = level, message
        st.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        return st

    def destroy_node(self) -> None:
        if hasattr(self, "up"):  # not when the constructor stopped before it (a bad parameter)
            self.tear_down()
        super().destroy_node()


class ManagedEnhancerNode(LifecycleNodeMixin, EnhancerNode):
    """The node as a ROS 2 managed (lifecycle) node, for stacks that bring their nodes up in order (Nav2's
    lifecycle_manager, launch_ros's LifecycleNode):

    - configure: subscriptions and publishers made, the model loaded (FAILURE, back to unconfigured, if it cannot
      be: the reason is logged); the inputs stay unsubscribed;
    - activate: the inputs subscribed, frames processed;
    - deactivate: the inputs unsubscribed, nothing computed (the model stays loaded, so activating again is quick);
    - cleanup, shutdown, error: everything destroyed and the model released (its session or engine destroyed).

    Start-up-only parameters (transports, QoS, cameras) can be changed while unconfigured and apply at the next
    configure. It keeps no Nav2 bond: give its lifecycle_manager ``bond_timeout: 0.0``."""

    def __init__(self, node_name: str = "depth_enhancer", **kwargs):
        EnhancerNode.__init__(self, node_name, managed=True, **kwargs)
        LifecycleNodeMixin.__init__(self)

    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.bring_up()
        except ValueError as e:
            self.get_logger().error(f"cannot configure: {e}")
            self.tear_down()
            return TransitionCallbackReturn.FAILURE
        if self._ensure_enhancer() is None:  # waits for the load (TensorRT may build an engine first)
            self.get_logger().error(f"cannot configure: {self._enhancer_error}")
            self.tear_down()
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info("configured; inactive until activated")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        for st in self.streams:  # again (on_deactivate did): an input callback still running then may have added one
            st.sync.reset()
        self.active = True
        if self.get_parameter("lazy").value:
            self._apply_lazy()  # the inputs are subscribed once an output has a reader
        else:
            for st in self.streams:
                st.resume_inputs(self)
        self.get_logger().info("active: inputs subscribed")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.active = False
        for st in self.streams:
            if not st.paused_inputs:
                st.pause_inputs(self)
            st.sync.reset()  # a set received before is not processed after activating again
        end = time.monotonic() + STALL_WARN_S  # the frame being computed is finished before the transition completes,
        while self.busy and time.monotonic() < end:  # unless it hangs: then the transition does not wait for ever
            time.sleep(0.01)
        if self.busy:
            self.get_logger().warning(f"inactive with a frame still computing after {STALL_WARN_S:g} s (a hung "
                                      "backend?); its outputs will not be published")
        self.get_logger().info("inactive: inputs unsubscribed, nothing computed")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self.tear_down()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self.active = False
        self.tear_down()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        self.active = False
        self.tear_down()
        return TransitionCallbackReturn.SUCCESS


def main(args=None, managed: bool = False) -> None:
    rclpy.init(args=args)
    try:
        node = ManagedEnhancerNode() if managed else EnhancerNode()
    except (ValueError, ParameterException) as e:  # a parameter the node cannot start with: say which, no traceback
        rclpy.logging.get_logger("depth_enhancer").fatal(f"cannot start: {e}")
        rclpy.try_shutdown()
        raise SystemExit(2) from None
    # one thread: every callback is short (frames are enhanced by the node's own workers), and rclpy's
    # MultiThreadedExecutor busy-loops while a task it handed to its pool has not started (ros2/rclpy#1452, fixed
    # in rolling by #1547), holding the GIL the workers need: measured with the demo on 2 cores, 26-30 of 40 frames
    # out and single frames taking 0.4-0.9 s, against 39-40 of 40 and at most 91 ms with this executor
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        spin_through_destroy_races(executor, node.get_logger())  # lazy and lifecycle destroy inputs while spinning
    except KeyboardInterrupt:
        pass
    finally:
        # no executor.shutdown() first: with the multi-threaded executor the node spun until the thirty-fifth session
        # it destroyed the guard condition before the pool's callbacks finished, which then failed on it and printed
        # "exception was never retrieved" at exit (4 of 13 SIGINTs under load); destroy_node does what is needed
        if node.stalled:  # a hung backend: the worker holding the frame cannot be joined, nor the GPU released
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(3)
        node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()


def main_managed(args=None) -> None:
    """enhancer_lifecycle_node: the same node, managed (starts unconfigured)."""
    main(args, managed=True)


if __name__ == "__main__":
    main()
