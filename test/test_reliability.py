"""Reliability: a faulty backend mid-run (raises, returns NaN), fallback and recovery, runtime parameter
changes, camera_info size changing mid-stream; and property-based fuzzing of conversion and sync."""

from __future__ import annotations

import contextlib
import functools
import threading
import time

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.parameter import Parameter

from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.data.world import render_random
from perfecting_depth_ros.node.convert import ConversionError, camera_info_to_K, image_to_depth, image_to_rgb
from perfecting_depth_ros.node.enhancer_node import EnhancerNode
from perfecting_depth_ros.node.harness import (
    Collector,
    Player,
    handshake,
    make_header,
    make_image,
    make_info,
    spin_until,
)
from perfecting_depth_ros.node.spin import spin_through_destroy_races
from perfecting_depth_ros.node.sync import FrameSynchronizer


class FaultyBackend:
    """Wraps a real backend; raises, returns NaN, blocks, is slow or skews its depth while ``mode`` is set."""

    def __init__(self, inner):
        self.inner, self.mode, self.calls = inner, None, 0
        self.name, self.stride = inner.name, inner.stride
        self.entered, self.release = threading.Event(), threading.Event()  # mode "block"
        self.delay = 0.0  # mode "slow": seconds each call takes longer (a slower graph)

    def run(self, inputs):
        self.calls += 1
        if self.mode == "slow":
            time.sleep(self.delay)
        if self.mode == "block":  # a frame being computed: held until released
            self.entered.set()
            self.release.wait(10)
        if self.mode == "raise":
            raise RuntimeError("injected fault")
        out = self.inner.run(inputs)
        if self.mode == "nan":
            out = {k: np.full_like(v, np.nan) for k, v in out.items()}
        if self.mode == "skew":  # finite, plausible and wrong: a mis-built engine (a tenth of the frame's scale off)
            out = {**out, "final": out["final"] + np.float32(0.2)}
        return out


def _spin(node_cls=EnhancerNode, namespace: str | None = None, **params):
    """A node (``node_cls``, in ``namespace`` if given) with these parameters, spun by its own executor thread:
    (node, executor)."""
    node = node_cls(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()],
                    **({"namespace": namespace} if namespace else {}))
    node_ex = SingleThreadedExecutor()  # as the node's main() spins it: the multi-threaded executor's pool, shut down
    node_ex.add_node(node)  # under callbacks still running, left exceptions that printed "never retrieved" at exit
    threading.Thread(target=spin_through_destroy_races, args=(node_ex, node.get_logger()), daemon=True).start()
    return node, node_ex


@contextlib.contextmanager
def _talking_node(node_cls=EnhancerNode, **params):
    """rclpy up, ``_spin``'s node and a Player and a Collector on an executor of the test's: (node, player, coll,
    executor); everything destroyed and rclpy shut down after."""
    rclpy.init()
    node, node_ex = _spin(node_cls, **params)
    player, coll = Player(), Collector()
    ex = SingleThreadedExecutor()
    ex.add_node(player)
    ex.add_node(coll)
    try:
        yield node, player, coll, ex
    finally:
        node_ex.shutdown()
        ex.shutdown()  # let no callback run on a destroyed node
        node.destroy_node()
        player.destroy_node()
        coll.destroy_node()
        rclpy.try_shutdown()  # a test may have shut the context down, as a signal does


def test_spin_carries_on_past_an_entity_destroyed_under_it():
    """A callback meets a destroyed entity (here a publisher it destroys, as rclpy's take meets a subscription the
    node's lazy or lifecycle code destroyed a moment before): executor.spin() ends with InvalidHandle, and the node's
    spin (spin_through_destroy_races) keeps the other callbacks running until the executor is shut down. Any other
    exception still ends it."""
    from rclpy.exceptions import InvalidHandle
    from std_msgs.msg import Empty

    rclpy.init()
    try:
        for spin in ("plain", "node", "other"):
            node = rclpy.create_node(f"destroy_race_{spin}")
            pub, ticks, result = node.create_publisher(Empty, "destroy_race", 1), [], {}

            def fault(pub=pub):
                if spin == "other":
                    raise RuntimeError("a bug of the callback's own")
                node.destroy_publisher(pub)
                pub.publish(Empty())

            once = node.create_timer(0.05, lambda: (node.destroy_timer(once), fault()))
            node.create_timer(0.02, lambda: ticks.append(time.monotonic()))
            ex = MultiThreadedExecutor(num_threads=2)
            ex.add_node(node)

            def run(ex=ex, spin=spin, result=result):
                try:
                    result["passed"] = ex.spin() if spin == "plain" else spin_through_destroy_races(ex)
                except Exception as e:
                    result["raised"] = e

            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            thread.join(1.0)
            n = len(ticks)
            time.sleep(0.3)
            if spin == "node":
                assert thread.is_alive() and len(ticks) > n + 5, "the spin stopped"
                ex.shutdown()
                thread.join(5.0)
                assert not thread.is_alive() and result.get("passed", 0) >= 1, result
            else:
                assert not thread.is_alive() and len(ticks) <= n + 1
                assert isinstance(result.get("raised"), InvalidHandle if spin == "plain" else RuntimeError), result
                ex.shutdown()
            node.destroy_node()
    finally:
        rclpy.shutdown()


def test_spin_returns_when_the_context_is_shut_down():
    """A signal or rclpy.shutdown() under a spinning executor: the single-threaded one (the node's) raises
    ExternalShutdownException out of spin(), the multi-threaded one returns; spin_through_destroy_races returns for
    both, so the thread spinning it ends quietly."""
    for make in (SingleThreadedExecutor, lambda: MultiThreadedExecutor(num_threads=2)):
        rclpy.init()
        node = rclpy.create_node("shutdown_spin")
        ticks, result = [], {}
        node.create_timer(0.02, lambda: ticks.append(1))
        ex = make()
        ex.add_node(node)

        def run(ex=ex, result=result):
            try:
                result["passed"] = spin_through_destroy_races(ex)
            except BaseException as e:  # what ended the spin, for the assertion
                result["raised"] = e

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 5.0
            while len(ticks) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(ticks) >= 3, "the executor did not spin"
            rclpy.shutdown()
            thread.join(5.0)
            assert not thread.is_alive() and result == {"passed": 0}, (make, result)
        finally:
            rclpy.try_shutdown()  # a failed assertion leaves no context up for the next test
            ex.shutdown()
            node.destroy_node()


def _spin_node(tiny_weights):
    """An EnhancerNode running the tiny model on ONNX Runtime, spun by its own executor thread."""
    return _spin(method="learned", backend="onnxruntime", weights=str(tiny_weights), diagnostics_period=0.2)


@pytest.fixture
def live(tiny_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    with _talking_node(method="learned", backend="onnxruntime", weights=str(tiny_weights),
                       diagnostics_period=0.2) as (node, player, coll, ex):
        f = render_random(21, 64, 80)
        raw = simulate(f, "realsense_d435", np.random.default_rng(0))
        assert handshake(ex, player, coll, f.rgb, raw, f.K)
        # let warm-up frames still in flight finish before faults are injected
        assert spin_until(ex, lambda: node.streams[0].sync._mailbox is None and not node.busy, 10)
        state = {"node": node, "ex": ex, "player": player, "coll": coll, "f": f, "raw": raw, "stamp": 1_000_000_000}

        def send(expect: bool, **kw) -> bool:
            state["stamp"] += 100_000_000
            s = state["stamp"]
            player.publish(f.rgb, raw, f.K, s, **kw)
            got = spin_until(ex, lambda: s in coll.complete_stamps(), 10 if expect else 1.0)
            return got

        state["send"] = send
        yield state


def _inject(node) -> FaultyBackend:
    enh = node._ensure_enhancer()
    fb = FaultyBackend(enh.backend)
    enh.backend = fb
    return fb


def test_diagnostics_split_the_latency_into_the_graph_and_the_rest(live):
    """graph_p50_ms is the learned model's backend call (what a GPU speeds up), outside_graph_p50_ms the rest of the
    frame (the CPU's work around it): a graph made 0.3 s slower shows in the first and not in the second."""
    node, coll = live["node"], live["coll"]

    def split():
        v = coll.last_diag_values()
        return float(v.get("graph_p50_ms", "nan")), float(v.get("outside_graph_p50_ms", "nan")), v

    assert spin_until(live["ex"], lambda: np.isfinite(split()[0]), 5), split()[2]
    graph0 = split()[0]
    fb = _inject(node)
    fb.mode, fb.delay = "slow", 0.3
    n = len(node.streams[0].graph_split)
    for _ in range(2 * n + 3):  # the slow frames become the median
        assert live["send"](True)
    assert spin_until(live["ex"], lambda: split()[0] >= graph0 + 290, 5), split()[2]
    graph, rest, v = split()
    assert rest < 250 and graph + rest <= float(v["latency_max_ms"]) + 1, v
    (res,) = node.set_parameters([Parameter("method", value="guided_fill")])  # a classical fill has no graph
    assert res.successful
    assert spin_until(live["ex"], lambda: live["send"](True) and coll.last_diag_values().get("graph_p50_ms") == "nan",
                      10), coll.last_diag_values()


@pytest.mark.parametrize("mode", ["raise", "nan"])
def test_transient_fault_publishes_nothing_and_recovers(live, mode):
    fb = _inject(live["node"])
    assert live["send"](True)
    fb.mode = mode
    assert not live["send"](False)  # nothing wrong is published
    assert live["node"].streams[0].counts["failed"] >= 1
    v = live["coll"].last_diag_values()
    spin_until(live["ex"], lambda: live["coll"].last_diag_values().get("_level") == 2, 3)
    assert live["coll"].last_diag_values()["_level"] == 2  # ERROR
    fb.mode = None
    assert live["send"](True)  # recovers when the fault clears
    assert v is not None


def test_shutdown_while_a_frame_is_computed_is_quiet(live):
    """Ctrl-C, or ros2 launch stopping the node, while the worker computes a frame: the signal shuts the context
    down under it. The worker stops without an error (it used to log 'processing failed: RCLError: publisher's
    context is invalid' at nearly every shutdown with frames flowing) and the node is destroyed cleanly."""
    node = live["node"]
    stream = node.streams[0]
    fb = _inject(node)
    fb.mode = "block"
    live["send"](False)
    assert fb.entered.wait(10), "the frame never reached the backend"
    rclpy.shutdown()  # what rclpy's SIGINT handler does
    fb.release.set()
    node.workers[0].join(10)
    assert not node.workers[0].is_alive()
    assert stream.counts["failed"] == 0 and stream.last_problem == ""


def test_a_fault_of_the_worker_between_frames_is_reported_and_the_worker_goes_on(live):
    """A bug of the node's own outside any frame (here taking a set raises once): logged with its traceback, an ERROR
    in diagnostics naming it, and the worker goes on (before, the worker thread died and the node, still running and
    subscribed, published nothing more)."""
    node, coll = live["node"], live["coll"]
    take, raised = node._take, []

    def faulty(start):
        if not raised:
            raised.append(True)
            raise RuntimeError("injected between frames")
        return take(start)

    mark = coll.diag_mark()
    node._take = faulty
    assert spin_until(live["ex"], lambda: any(v["_level"] == 2 and "worker fault: RuntimeError: injected" in v["_message"]
                                              for v in coll.diag_values_since(mark)), 5), coll.last_diag_values()
    assert all(w.is_alive() for w in node.workers)
    assert live["send"](True)  # frames flow again


def test_a_frame_that_never_finishes_is_reported(live, monkeypatch):
    """A backend that hangs (here blocked) does not pass for a quiet camera: after STALL_WARN_S the diagnostics warn
    that a frame has been computing that long; once it finishes, the warning goes."""
    from perfecting_depth_ros.node import enhancer_node

    monkeypatch.setattr(enhancer_node, "STALL_WARN_S", 0.6)
    fb = _inject(live["node"])
    fb.mode = "block"
    mark = live["coll"].diag_mark()
    live["send"](False)
    assert fb.entered.wait(10), "the frame never reached the backend"

    def stalled():
        return [v for v in live["coll"].diag_values_since(mark) if "has been computing for" in v["_message"]]

    assert spin_until(live["ex"], lambda: stalled(), 5), live["coll"].last_diag_values()
    assert stalled()[-1]["_level"] == 1  # WARN
    fb.mode = None
    fb.release.set()
    assert live["send"](True)
    mark = live["coll"].diag_mark()
    assert spin_until(live["ex"], lambda: len(live["coll"].diag_values_since(mark)) >= 2, 5)
    assert not stalled()


def test_stall_timeout_ends_the_node_for_its_supervisor_to_restart(live):
    """stall_timeout: a frame computing longer than that (a hung backend) shuts the node's context down (main then
    exits with code 3 for ros2 launch's respawn or systemd); while it is 0 (the default) a hung frame only warns."""
    node = live["node"]
    fb = _inject(node)
    fb.mode = "block"
    live["send"](False)
    assert fb.entered.wait(10), "the frame never reached the backend"
    time.sleep(1.0)
    assert rclpy.ok() and not node.stalled  # off by default
    (res,) = node.set_parameters([Parameter("stall_timeout", value=0.5)])
    assert res.successful
    end = time.monotonic() + 5
    while rclpy.ok() and time.monotonic() < end:
        time.sleep(0.05)
    assert not rclpy.ok() and node.stalled
    fb.release.set()


HANGING_NODE = """
import sys, threading
from perfecting_depth_ros import enhancer
enhancer.DepthEnhancer.enhance = lambda self, *a, **k: threading.Event().wait()  # a backend that hangs
from perfecting_depth_ros.node.enhancer_node import main
main(args=["enhancer_node", "--ros-args", "-p", "method:=ip_basic", "-p", "stall_timeout:=1.0"])
"""


def test_a_hung_node_exits_with_code_3_under_stall_timeout():
    """The real node process with stall_timeout: 1.0 and an enhancer that never returns: it says why and exits with
    code 3 (what ros2 launch's respawn and systemd restart), instead of running on, subscribed and silent."""
    import os
    import subprocess
    import sys

    rclpy.init()
    proc = subprocess.Popen([sys.executable, "-c", HANGING_NODE], env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    player = Player()
    ex = SingleThreadedExecutor()
    ex.add_node(player)
    try:
        f = render_random(21, 64, 80)
        raw = simulate(f, "realsense_d435", np.random.default_rng(0))
        assert spin_until(ex, player.matched, 30), "the node never subscribed"
        stamp = 1_000_000_000
        while proc.poll() is None and stamp < 1_000_000_000 + 200 * 100_000_000:  # 20 s of frames at most
            stamp += 100_000_000
            player.publish(f.rgb, raw, f.K, stamp)
            spin_until(ex, lambda: False, 0.1)
        out = proc.communicate(timeout=10)[0]
        assert proc.returncode == 3, out
        assert "stall_timeout 1 s): the backend hangs; exiting with code 3" in out, out
    finally:
        if proc.poll() is None:
            proc.kill()
        player.destroy_node()
        rclpy.shutdown()


def test_deactivate_does_not_wait_for_ever_on_a_hung_frame(monkeypatch):
    """The managed node: deactivate waits for the frame being computed, but not for ever. A frame that hangs (here an
    enhancer blocked) holds the transition for STALL_WARN_S at most, and its outputs are never published, however late
    it finishes (before, deactivate, and with it the lifecycle service, waited for ever)."""
    from rclpy.lifecycle import TransitionCallbackReturn

    from perfecting_depth_ros.node import enhancer_node
    from perfecting_depth_ros.node.enhancer_node import ManagedEnhancerNode

    monkeypatch.setattr(enhancer_node, "STALL_WARN_S", 0.5)
    release = threading.Event()
    with _talking_node(ManagedEnhancerNode, method="guided_fill") as (node, player, coll, ex):
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        f = render_random(13, 64, 80)
        raw = simulate(f, "kinect_v1", np.random.default_rng(2))
        assert handshake(ex, player, coll, f.rgb, raw, f.K)
        assert spin_until(ex, lambda: node.streams[0].sync._mailbox is None and not node.busy, 10)
        enh = node._ensure_enhancer()
        inner, entered = enh.enhance, threading.Event()

        def hang(*args, **kwargs):
            entered.set()
            release.wait(10)
            return inner(*args, **kwargs)

        enh.enhance = hang
        stamp = 9_000_000_000
        player.publish(f.rgb, raw, f.K, stamp)
        assert spin_until(ex, entered.is_set, 10), "the frame never reached the enhancer"
        t = time.monotonic()
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert time.monotonic() - t < 5.0 and node.busy
        release.set()
        assert spin_until(ex, lambda: not node.busy, 10)
        spin_until(ex, lambda: False, 0.5)
        assert stamp not in coll.msgs["depth"]


def test_persistent_fault_falls_back_to_the_next_backend(live):
    fb = _inject(live["node"])
    fb.mode = "raise"
    for _ in range(8):  # a warm-up frame still in flight may be one of the failures: send until fallback
        if live["node"].fallback_note:
            break
        published = live["send"](False)
        assert not published or live["node"].fallback_note, "a frame was published while the backend failed"
    assert "fell back" in live["node"].fallback_note and fb.calls >= 3
    assert live["send"](True)  # onnxruntime -> torch, without the fault
    assert live["node"]._enhancer.backend_name.startswith("torch")


def test_backend_check_replaces_a_route_that_disagrees(live):
    """verify_backend: a backend whose depth is finite but wrong (here skewed) is found at its first frame; that frame
    and the later ones are published from ONNX Runtime on the CPU, and the diagnostics warn and say why."""
    node, coll, ex = live["node"], live["coll"], live["ex"]
    res = node.set_parameters([Parameter("backend", value="torch"), Parameter("verify_backend", value="always")])
    assert all(r.successful for r in res)
    fb = _inject(node)  # torch on the CPU: checked at its first frame, as verify_backend is "always"
    fb.mode = "skew"
    assert live["send"](True)
    enh = node._enhancer
    assert fb.calls >= 1 and enh.verification_failed and enh.backend_name == "onnxruntime-cpu", enh.verification
    calls = fb.calls
    assert live["send"](True) and fb.calls == calls  # the skewed backend is not run again

    def warned():
        v = coll.last_diag_values()
        return v.get("_level") == 1 and v["_message"].startswith("backend check FAILED: torch-cpu disagrees") and \
            v["verification"].startswith("FAILED") and v["backend"] == "onnxruntime-cpu"

    assert spin_until(ex, warned, 5), coll.last_diag_values()
    (res,) = node.set_parameters([Parameter("verify_backend", value="off")])  # a new enhancer: the route asked again
    assert res.successful and live["send"](True)
    assert spin_until(ex, lambda: coll.last_diag_values().get("verification") == "off"
                      and coll.last_diag_values().get("_level") == 0, 5), coll.last_diag_values()
    (res,) = node.set_parameters([Parameter("verify_period", value=30)])  # applies at once, an integer read as float
    assert res.successful and live["send"](True) and node._enhancer.verify_period == 30.0


def test_backend_check_failed_leaves_the_workers_of_a_cpu_graph(tiny_weights, tmp_path, monkeypatch):
    """workers: 0 (auto) gives a GPU route three workers on "8 cores"; when that route fails its check and the graph
    runs on the CPU instead, one works again (the route taken for a GPU here is torch: no GPU on this machine)."""
    from perfecting_depth_ros.node import enhancer_node as N

    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(N, "_cpus", lambda: 8)
    monkeypatch.setattr(N, "graph_on_gpu", lambda name: name.startswith("torch"))
    f = render_random(21, 64, 80)
    raw = simulate(f, "realsense_d435", np.random.default_rng(0))
    with _talking_node(method="learned", backend="onnxruntime", weights=str(tiny_weights),
                       diagnostics_period=0.2) as (node, player, coll, ex):
        assert handshake(ex, player, coll, f.rgb, raw, f.K)
        assert spin_until(ex, lambda: node.streams[0].sync._mailbox is None and not node.busy, 10)
        res = node.set_parameters([Parameter("backend", value="torch"), Parameter("verify_backend", value="always")])
        assert all(r.successful for r in res)
        fb = _inject(node)
        assert node._active_workers == 3
        fb.mode = "skew"
        player.publish(f.rgb, raw, f.K, 7_000_000_000)
        assert spin_until(ex, lambda: 7_000_000_000 in coll.complete_stamps(), 10)
        assert node._enhancer.verification_failed  # set before the frame's outputs are published; the workers after
        assert spin_until(ex, lambda: node._active_workers == 1, 5)
        assert spin_until(ex, lambda: coll.last_diag_values().get("workers") == "1 (auto)", 5), coll.last_diag_values()


def test_runtime_parameter_changes_apply(live):
    node = live["node"]
    res = node.set_parameters([Parameter("samples", value=2), Parameter("steps", value=1)])
    assert all(r.successful for r in res)
    assert live["send"](True)
    assert node._enhancer.samples == 2 and node._enhancer.steps == 1
    bad = node.set_parameters([Parameter("backend", value="cuda-magic")])
    assert not bad[0].successful and "must be one of" in bad[0].reason
    assert node._enhancer.noise_mode == "fixed"  # the default: no frame-to-frame flicker from the draw
    assert node.set_parameters([Parameter("noise", value="fresh")])[0].successful
    assert live["send"](True)
    assert node._enhancer.noise_mode == "fresh"
    bad = node.set_parameters([Parameter("noise", value="sometimes")])
    assert not bad[0].successful and "must be one of" in bad[0].reason
    assert node.set_parameters([Parameter("max_range", value=4.5)])[0].successful  # the sensor's reach, metres
    assert live["send"](True)
    assert not node._enhancer.reads_range  # the tiny test model has no range input: diagnostics say so
    assert not node.set_parameters([Parameter("max_range", value=-1.0)])[0].successful


def test_keep_measurements_applies_at_once_and_no_measurement_is_replaced(live):
    """keep_measurements set at runtime: from the next frame on, the published depth holds every raw measurement
    exactly and the source map says so (the tiny model replaces some by default)."""
    node, coll, raw = live["node"], live["coll"], live["raw"]
    sent = np.clip(np.round(raw * 1000), 0, 65535).astype(np.uint16) * np.float32(0.001)  # as Player sends it
    valid = sent > 0

    def published(stamp):
        d, src = coll.msgs["depth"][stamp], coll.msgs["source"][stamp]
        return (np.frombuffer(bytes(d.data), "<f4").reshape(d.height, d.width),
                np.frombuffer(bytes(src.data), np.uint8).reshape(src.height, src.width))

    assert live["send"](True)
    depth, source = published(live["stamp"])
    assert (source == 2).any() and not np.array_equal(depth[valid], sent[valid])
    try:
        assert node.set_parameters([Parameter("keep_measurements", value=True)])[0].successful
        assert live["send"](True)
        depth, source = published(live["stamp"])
        np.testing.assert_array_equal(depth[valid], sent[valid])
        assert not (source == 2).any() and np.all(source[valid] == 1)
    finally:
        assert node.set_parameters([Parameter("keep_measurements", value=False)])[0].successful


def test_a_dark_guide_is_brightened_and_a_black_one_warned(live):
    """A dim room: diagnostics give the last guide's brightness and the gain it was brightened by; a black guide (a
    covered lens, the wrong rgb topic) is enhanced, with a WARN that says so; brighten_dark_guide applies at once."""
    node, ex, coll, player, f, raw = (live[k] for k in ("node", "ex", "coll", "player", "f", "raw"))

    def send(rgb) -> dict:
        live["stamp"] += 100_000_000
        s = live["stamp"]
        player.publish(rgb, raw, f.K, s)
        assert spin_until(ex, lambda: s in coll.complete_stamps(), 10)
        mark = coll.diag_mark()  # the next status describes this frame
        assert spin_until(ex, lambda: coll.diag_values_since(mark), 5)
        return coll.diag_values_since(mark)[-1]

    v = send(f.rgb)  # auto-exposed: at most brought up to the training frames' median brightness, not called dark
    assert float(v["guide_brightness"]) >= 128 and 1.0 <= float(v["guide_gain"]) < 230 / 128, v
    assert "brightened" not in v["guide_gain"] and v["_level"] == 0, v
    v = send((f.rgb // 8).astype(np.uint8))
    assert float(v["guide_brightness"]) < 128 and float(v["guide_gain"].split()[0]) > 4, v
    assert "brightened" in v["guide_gain"] and v["_level"] == 0, v
    v = send(np.zeros_like(f.rgb))
    assert v["_level"] == 1 and "colour guide black" in v["_message"] and v["guide_brightness"] == "0", v
    assert v["guide_gain"].startswith("0 (black guide"), v
    try:
        assert node.set_parameters([Parameter("brighten_dark_guide", value=False)])[0].successful
        v = send((f.rgb // 8).astype(np.uint8))
        assert v["guide_gain"] == "off" and node._enhancer.brighten_dark_guide is False, v
    finally:
        assert node.set_parameters([Parameter("brighten_dark_guide", value=True)])[0].successful
    assert send(f.rgb)["_level"] == 0


def test_integers_for_float_parameters_work_and_bad_values_stop_the_start(tmp_path):
    """'max_range: 5' in a parameters file is an integer: rclpy's static typing would refuse it and the node would
    not start. It is read as 5.0, at start-up and at runtime; values that are no number, or out of range, are refused
    with the reason, and the executable exits with it instead of a traceback."""
    import subprocess

    from perfecting_depth_ros.node.harness import node_command

    params = tmp_path / "robot.yaml"
    params.write_text("/**/depth_enhancer:\n  ros__parameters:\n    method: raw\n    max_range: 5\n    slop: 0\n")
    rclpy.init(args=["--ros-args", "--params-file", str(params)])
    try:
        node = EnhancerNode()
        p = node._params()
        assert (p["max_range"], p["slop"]) == (5.0, 0.0) and all(type(p[k]) is float for k in ("max_range", "slop"))
        assert node.set_parameters([Parameter("depth_max_sigma", value=1)])[0].successful
        assert node._params()["depth_max_sigma"] == 1.0
        for value, reason in (("far", "must be a number"), (-2, "must be in [0, 100]"), (True, "must be a number")):
            r = node.set_parameters([Parameter("max_range", value=value)])[0]
            assert not r.successful and reason in r.reason, (value, r.reason)
        assert node._params()["max_range"] == 5.0
        node.destroy_node()
        with pytest.raises(ValueError, match=r"max_range must be in \[0, 100\], got -3"):
            EnhancerNode(parameter_overrides=[Parameter("max_range", value=-3)])
    finally:
        rclpy.shutdown()
    r = subprocess.run(node_command(params, params={"max_range": "far"}), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot start: max_range must be a number" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr


def test_parameters_the_node_does_not_have_are_named_not_silently_ignored(tmp_path):
    """A typo in a parameters file ('max_sigm'), or a QoS override named by the topic before remapping: rclpy
    ignores them without a word and the robot runs without the setting. The node names each, with the nearest
    parameter it has, in its log and its diagnostics."""
    import subprocess

    from perfecting_depth_ros.node.harness import node_command

    params = tmp_path / "robot.yaml"
    params.write_text("/**/depth_enhancer:\n  ros__parameters:\n    method: raw\n    max_sigm: 0.3\n"
                      "    qos_overrides./camera/info.subscription.durability: transient_local\n")
    rclpy.init(args=["--ros-args", "--params-file", str(params), "-r", "rgb/camera_info:=/camera/color/camera_info"])
    try:
        node = EnhancerNode()
        assert node.unknown_parameters == ["max_sigm", "qos_overrides./camera/info.subscription.durability"]
        assert node.get_parameter("max_sigma").value == 0.0
        st = node._stream_status(node.streams[0], node._params())
        values = {kv.key: kv.value for kv in st.values}
        assert values["ignored_parameters"] == "max_sigm, qos_overrides./camera/info.subscription.durability"
        deadline = time.monotonic() + 30
        while (node.loading or node._enhancer is None) and time.monotonic() < deadline:  # "loading" comes first
            time.sleep(0.01)
        node.streams[0].last_input = dict.fromkeys(node.streams[0].last_input, time.monotonic())  # inputs flowing
        st = node._stream_status(node.streams[0], node._params())
        assert st.level == DiagnosticStatus.WARN and st.message.startswith("parameters not of this node, ignored: max")
        node.destroy_node()
    finally:
        rclpy.shutdown()
    rclpy.init()
    try:
        node = EnhancerNode(parameter_overrides=[Parameter("max_sigma", value=0.3)])
        assert node.unknown_parameters == [] and "ignored_parameters" not in {
            kv.key for kv in node._stream_status(node.streams[0], node._params()).values}
        node.destroy_node()
    finally:
        rclpy.shutdown()
    r = subprocess.Popen(node_command(params, remaps={"rgb/camera_info": "/camera/color/camera_info"}),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = ""
        deadline = time.monotonic() + 60
        while "qos_overrides./camera/info" not in out and time.monotonic() < deadline:
            out += r.stdout.readline()
    finally:
        r.send_signal(2)
        out += r.communicate(timeout=20)[0]
    assert "parameter 'max_sigm' is not one of this node's and is ignored; did you mean 'max_sigma'?" in out
    assert ("'qos_overrides./camera/info.subscription.durability' is not one of this node's and is ignored; did you "
            "mean 'qos_overrides./camera/color/camera_info.subscription.durability'?") in out


def test_camera_info_latched_once_reaches_the_node_through_a_qos_override():
    """A driver that publishes camera_info once, transient_local, before the node starts: a volatile subscription
    never gets it. The node's QoS parameters (as image_pipeline's) make the subscription transient_local."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo


    rclpy.init()
    f = render_random(23, 48, 64)
    raw = simulate(f, "kinect_v1", np.random.default_rng(1))
    driver = rclpy.create_node("latched_driver")
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
    driver.create_publisher(CameraInfo, "rgb/camera_info", latched).publish(make_info(f.K, 48, 64, make_header(1, "c")))
    node, node_ex = _spin(**{"method": "raw", "camera_info_sync": "latest",
                             "qos_overrides./rgb/camera_info.subscription.durability": "transient_local",
                             "qos_overrides./rgb/camera_info.subscription.reliability": "reliable"})  # both: late joiner
    player, coll = Player(), Collector()
    ex = SingleThreadedExecutor()
    for n in (driver, player, coll):
        ex.add_node(n)
    try:
        stamp, got = 2_000_000_000, False
        for _ in range(100):  # colour and depth only, from now on
            stamp += 100_000_000
            player.pub_rgb.publish(make_image(f.rgb, "rgb8", make_header(stamp, "c")))
            player.pub_depth.publish(make_image(np.round(raw * 1000).astype(np.uint16), "16UC1", make_header(stamp, "c")))
            if spin_until(ex, lambda: bool(coll.complete_stamps()), 0.2):
                got = True
                break
        assert got, node.streams[0].sync.stats
        assert node.streams[0].sync.stats.received["info"] == 1
    finally:
        node_ex.shutdown()
        ex.shutdown()  # let no callback run on a destroyed node
        node.destroy_node()
        for n in (driver, player, coll):
            n.destroy_node()
        rclpy.shutdown()


def test_lazy_unsubscribes_the_inputs_while_nobody_reads_and_builds_no_cloud_for_nobody():
    """lazy: while no output has a subscriber the inputs are unsubscribed (DDS delivers nothing, nothing is
    computed) and diagnostics say so; a subscriber to the depth alone subscribes them again and the frames flow, yet
    no cloud is built while nobody reads it; a cloud subscriber joining later gets clouds from then on; when the
    last reader leaves, the inputs are unsubscribed again."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image, PointCloud2

    rclpy.init()
    # in a namespace of its own: it counts the subscribers of its inputs, and a process another test ended without
    # leaving the DDS graph (e.g. stall_timeout's exit) may stay in it, on the default topics, until its lease runs out
    node, node_ex = _spin(namespace="/lazy", method="raw", lazy=True)
    stream = node.streams[0]
    published = {"points": 0, "image_rect": 0}  # what the node handed to its publishers (counted on the real ones)
    for key, pub in (("points", stream.pub_cloud), ("image_rect", stream.pub_depth)):
        def counted(msg, key=key, publish=pub.publish):
            published[key] += 1
            publish(msg)
        pub.publish = counted
    player = Player("/lazy")
    ex = SingleThreadedExecutor()
    ex.add_node(player)
    f = render_random(24, 48, 64)
    raw = simulate(f, "kinect_v1", np.random.default_rng(2))
    stamp = [1_000_000_000]

    def send_until(predicate, timeout=20.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            stamp[0] += 100_000_000
            player.publish(f.rgb, raw, f.K, stamp[0])
            if spin_until(ex, predicate, 0.2):
                return True
        return False

    try:
        assert spin_until(ex, lambda: bool(stream.paused_inputs), 10)
        assert not send_until(lambda: player.pub_depth.get_subscription_count() > 0, timeout=2.0)
        assert stream.sync.stats.received["depth"] == 0 and published["image_rect"] == 0
        st = node._stream_status(stream, node._params())
        assert st.message == "idle: no subscriber to any output (lazy); inputs unsubscribed"
        assert {kv.key: kv.value for kv in st.values}["input_topics"] == "/lazy/rgb/image_rect_color, " \
            "/lazy/depth_registered/image_rect"

        depths, clouds = [], []
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        depth_sub = player.create_subscription(Image, "/lazy/depth_enhanced/image_rect", depths.append, qos)
        assert send_until(lambda: len(depths) >= 2)
        assert player.matched() and not stream.paused_inputs
        assert published["image_rect"] >= 2 and published["points"] == 0  # no cloud built while nobody read it
        cloud_sub = player.create_subscription(PointCloud2, "/lazy/depth_enhanced/points", clouds.append, qos)
        assert send_until(lambda: len(clouds) >= 2)
        assert clouds[-1].height == 48 and clouds[-1].width == 64
        assert not node._stream_status(stream, node._params()).message.startswith("idle")
        player.destroy_subscription(cloud_sub)
        player.destroy_subscription(depth_sub)  # the last reader leaves: the inputs go again
        assert spin_until(ex, lambda: player.pub_depth.get_subscription_count() == 0, 10)
        assert stream.paused_inputs
    finally:
        node_ex.shutdown()
        ex.shutdown()  # let no callback run on a destroyed node
        node.destroy_node()
        player.destroy_node()
        rclpy.shutdown()


def test_an_input_left_entered_by_the_destroy_race_stalls_nothing_else():
    """When rclpy's executor takes from an input subscription destroyed under it (lazy, lifecycle), Humble's raises
    before leaving the subscription's callback group, which then stays entered for good (as every release does for a
    QoS event handler). Put an input in that state (its group entered, as the executor does before it takes) and let
    the last reader leave, so lazy destroys it: the node's timers go on (the inputs come back with the next reader)
    and frames flow again, since each time the inputs are subscribed they get a callback group of their own."""
    rclpy.init()
    node, node_ex = _spin(method="raw", lazy=True, diagnostics_period=0.2)
    stream = node.streams[0]
    player, ex, readers = Player(), SingleThreadedExecutor(), []
    ex.add_node(player)
    f = render_random(25, 48, 64)
    raw = simulate(f, "kinect_v1", np.random.default_rng(3))
    stamp = [1_000_000_000]

    def frames_flow() -> bool:  # a new reader, and a frame makes the round trip to it
        readers.append(Collector(name=f"race_reader_{len(readers)}"))
        ex.add_node(readers[-1])
        end = time.monotonic() + 30
        while time.monotonic() < end:
            stamp[0] += 100_000_000
            player.publish(f.rgb, raw, f.K, stamp[0])
            if spin_until(ex, lambda: stamp[0] in readers[-1].complete_stamps(), 0.3):
                return True
        return False

    try:
        assert frames_flow()
        assert all(sub.callback_group is not node.default_callback_group for sub in stream.subs.values())
        sub = stream.subs["depth"]
        assert sub.callback_group.beginning_execution(sub)  # entered, and nothing will leave it
        ex.remove_node(readers[-1])  # the reader leaves
        readers[-1].destroy_node()
        assert spin_until(ex, lambda: bool(stream.paused_inputs), 10), "the lazy timer stalled"
        assert frames_flow(), "no frame after the inputs were subscribed again"
        n = readers[-1].diag_mark()
        assert spin_until(ex, lambda: readers[-1].diag_mark() >= n + 2, 5), "diagnostics stopped"
    finally:
        node_ex.shutdown()
        ex.shutdown()  # let no callback run on a destroyed node
        node.destroy_node()
        for n in (player, *readers[-1:]):
            n.destroy_node()
        rclpy.shutdown()


def test_raw_distorted_images_give_an_undistorted_cloud_and_an_unknown_model_is_refused():
    """rectified: false, as for an Azure Kinect's depth_to_rgb/image_raw: the published cloud undoes camera_info's
    distortion (each point on its pixel's true ray); a distortion model the node cannot undo rejects the frame
    with the reason and publishes nothing."""
    from perfecting_depth_ros.node.convert import cloud_to_array, raw_image_geometry

    rclpy.init()
    node, node_ex = _spin(method="raw", rectified=False)
    player, coll = Player(), Collector()
    ex = SingleThreadedExecutor()
    ex.add_node(player)
    ex.add_node(coll)
    H, W = 60, 80
    K = np.array([[70.0, 0, 39.5], [0, 70, 29.5], [0, 0, 1]])
    info = make_info(K, H, W, make_header(0, "c"))
    info.distortion_model, info.d = "rational_polynomial", [0.5, -2.6, 0.0005, -0.0002, 1.5, 0.38, -2.4, 1.4]
    depth_mm = np.full((H, W), 2000, np.uint16)
    rgb = np.full((H, W, 3), 128, np.uint8)
    stamp = [1_000_000_000]

    def send() -> int:
        stamp[0] += 100_000_000
        info.header = make_header(stamp[0], "c")
        player.pub_info.publish(info)
        player.pub_rgb.publish(make_image(rgb, "rgb8", make_header(stamp[0], "c")))
        player.pub_depth.publish(make_image(depth_mm, "16UC1", make_header(stamp[0], "c")))
        return stamp[0]

    try:
        assert spin_until(ex, lambda: player.matched() and coll.matched(), 20)
        got = None
        for _ in range(100):
            s = send()
            if spin_until(ex, lambda s=s: s in coll.msgs["points"], 0.2):
                got = s
                break
        assert got, node.streams[0].sync.stats
        c = cloud_to_array(coll.msgs["points"][got])
        rays = raw_image_geometry(info, (H, W))[1]
        np.testing.assert_allclose(np.stack([c["x"], c["y"]], -1), 2.0 * rays, rtol=1e-5)
        assert abs(c["x"][0, 0] - 2.0 * (0 - 39.5) / 70) > 0.02  # 3 cm off P's pinhole ray at the corner

        info.distortion_model = "kannala_brandt_of_my_own"
        before = node.streams[0].counts["rejected"]
        for _ in range(50):
            s = send()
            if spin_until(ex, lambda: node.streams[0].counts["rejected"] > before, 0.2):
                break
        # (the reasons tally, not last_problem: the diagnostics timer clears that once it has reported it)
        reasons = node.streams[0].reject_reasons
        assert any("distortion model 'kannala_brandt_of_my_own'" in k for k in reasons), reasons
        assert s not in coll.msgs["points"] and s not in coll.msgs["depth"]
    finally:
        node_ex.shutdown()
        ex.shutdown()  # let no callback run on a destroyed node
        node.destroy_node()
        for n in (player, coll):
            n.destroy_node()
        rclpy.shutdown()


def test_under_sim_time_the_diagnostics_follow_clock():
    """use_sim_time (the launch file's argument): with a bag played with --clock or a simulator, the node's clock,
    and so its diagnostics' stamps, follow /clock."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile
    from rosgraph_msgs.msg import Clock

    rclpy.init()
    node, node_ex = _spin(method="raw", use_sim_time=True, diagnostics_period=0.1)
    sim = rclpy.create_node("sim_clock")
    clock = sim.create_publisher(Clock, "/clock", QoSProfile(depth=10))
    stamps = []
    sim.create_subscription(DiagnosticArray, "/diagnostics", lambda m: stamps.append(m.header.stamp.sec), 10)
    ex = SingleThreadedExecutor()
    ex.add_node(sim)
    try:
        def stamped_at_sim_time():
            msg = Clock()
            msg.clock.sec = 1234
            clock.publish(msg)
            return 1234 in stamps

        assert spin_until(ex, stamped_at_sim_time, 20), stamps[-5:]
    finally:
        node_ex.shutdown()
        ex.shutdown()  # let no callback run on a destroyed node
        node.destroy_node()
        sim.destroy_node()
        rclpy.shutdown()


def test_the_package_log_reaches_rosout():
    """The backend auto chose (and why it skipped the others), TensorRT engine builds and cache warnings are Python
    log records: they reach /rosout, under the node's name, with their level."""
    import logging

    from rcl_interfaces.msg import Log

    rclpy.init()
    listener = rclpy.create_node("rosout_listener")
    lines = []
    listener.create_subscription(Log, "/rosout", lambda m: lines.append((m.name, m.level, m.msg)), 100)
    ex = SingleThreadedExecutor()
    ex.add_node(listener)
    node, node_ex = _spin(backend="auto")  # the shipped model
    try:
        assert spin_until(ex, lambda: any("backend auto chose" in m for _, _, m in lines), 60), lines[-5:]
        name, level, _ = next(x for x in lines if "backend auto chose" in x[2])
        assert name.endswith("depth_enhancer") and level == Log.INFO
        logging.getLogger("perfecting_depth_ros.backends").warning("probe %d", 42)
        assert spin_until(ex, lambda: (name, Log.WARN, "probe 42") in lines, 10), lines[-5:]
    finally:
        node_ex.shutdown()
        ex.shutdown()  # let no callback run on a destroyed node
        node.destroy_node()
        listener.destroy_node()
        rclpy.shutdown()
    assert node._log_handler not in logging.getLogger("perfecting_depth_ros").handlers  # taken with the node


def test_the_model_loads_at_start_up_and_on_a_change_not_on_the_next_frame(tiny_weights, tmp_path, monkeypatch):
    """Before any frame: diagnostics already name the loaded model; a parameter that needs a new model is
    applied at once, with the value being set."""
    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    rclpy.init()
    node, node_ex = _spin_node(tiny_weights)
    coll = Collector()
    ex = SingleThreadedExecutor()
    ex.add_node(coll)
    try:
        ok = spin_until(ex, lambda: coll.last_diag_values().get("method", "").startswith("learned:onnxruntime"), 30)
        assert ok, coll.last_diag_values()
        assert coll.last_diag_values()["processed"] == "0"
        for _ in range(5):
            k = 1 + (node._enhancer.samples % 3)
            assert node.set_parameters([Parameter("samples", value=k)])[0].successful
            assert spin_until(ex, lambda k=k: node._enhancer.samples == k and not node._pending_rebuild, 10)
        assert node._enhancer.description.endswith(f"K={k} S=2") and node.streams[0].counts["processed"] == 0
    finally:
        node_ex.shutdown()
        ex.shutdown()  # let no callback run on a destroyed node
        node.destroy_node()
        coll.destroy_node()
        rclpy.shutdown()


def test_workers_enhance_frames_at_once_and_publish_in_stamp_order(tiny_weights, tmp_path, monkeypatch):
    """workers: 2 enhances two frame sets at once. Every other frame's work after the graph is made 0.4 s slower,
    so a newer frame finishes first: the older one is dropped (counted as superseded), and every output arrives in
    stamp order; both workers were busy at once. A start-up-only parameter: refused at runtime."""
    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    with _talking_node(method="learned", backend="onnxruntime", weights=str(tiny_weights), diagnostics_period=0.2,
                       workers=2) as (node, player, coll, ex):
        assert [w.name for w in node.workers] == ["enhancer_worker_0", "enhancer_worker_1"]
        f = render_random(21, 64, 80)
        raw = simulate(f, "realsense_d435", np.random.default_rng(0))
        assert handshake(ex, player, coll, f.rgb, raw, f.K)
        assert spin_until(ex, lambda: node.streams[0].sync._mailbox is None and not node.busy, 10)
        state = _track_at_once(node._ensure_enhancer(), lambda n: n % 2 == 1)
        mark = coll.diag_mark()
        stamps = [3_000_000_000 + k * 100_000_000 for k in range(10)]
        for s in stamps:  # a 7 Hz camera
            player.publish(f.rgb, raw, f.K, s)
            spin_until(ex, lambda: False, 0.15)
        assert spin_until(ex, lambda: node.streams[0].sync._mailbox is None and not node.busy, 10)
        spin_until(ex, lambda: False, 0.5)  # the last messages on their way
        got = [s for s in coll.complete_stamps() if s in stamps]
        assert len(got) >= 3, got
        assert sorted(got, key=coll.recv_time.get) == got  # arrival order is stamp order
        assert state["most"] == 2, state
        assert spin_until(ex, lambda: coll.diag_values_since(mark) and
                          int(coll.last_diag_values().get("superseded", "0")) >= 1, 3), coll.last_diag_values()
        v = coll.last_diag_values()
        assert v["workers"] == "2" and int(v["processed"]) >= len(got), v
        (res,) = node.set_parameters([Parameter("workers", value=1)])
        assert not res.successful and "start-up only" in res.reason


def _track_at_once(enh, slow) -> dict:
    """``enh.enhance`` wrapped: the work after the graph of the n-th call (n = 1, 2, ...) takes 0.4 s more where
    ``slow(n)``; the dict returned counts the calls ("calls") and the most that ran at once ("most")."""
    inner, lock, state = enh.enhance, threading.Lock(), {"calls": 0, "now": 0, "most": 0}

    def enhance(*args, **kwargs):
        with lock:
            state["calls"] += 1
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            n = state["calls"]
        try:
            out = inner(*args, **kwargs)
            if slow(n):
                time.sleep(0.4)
            return out
        finally:
            with lock:
                state["now"] -= 1

    enh.enhance = enhance
    return state


def _most_at_once(node, player, coll, ex, f, raw) -> int:
    """How many frames ``node`` enhanced at once at most over a burst of 8 sets at 20 Hz, each frame's work after the
    graph made 0.4 s long."""
    state = _track_at_once(node._ensure_enhancer(), lambda n: True)
    for k in range(8):
        player.publish(f.rgb, raw, f.K, 5_000_000_000 + k * 50_000_000)
        spin_until(ex, lambda: False, 0.05)
    assert spin_until(ex, lambda: node.streams[0].sync._mailbox is None and not node.busy, 10)
    return state["most"]


def test_auto_workers_one_with_the_graph_on_the_cpu_more_with_a_gpu(tiny_weights, tmp_path, monkeypatch):
    """workers: 0 (auto, the default) runs one worker where the graph runs on the CPU, and with the graph on a GPU up
    to AUTO_WORKERS_MAX, leaving a core and never more than cpu_threads. On "8 cores" (the count replaced) the node
    starts three threads: with the graph on this CPU one of them works (one frame at a time, "1 (auto)"); with the
    backend taken for a GPU one (the test replaced: no GPU here) all three enhance at once ("3 (auto)")."""
    from perfecting_depth_ros.node import enhancer_node as N

    names = ("tensorrt-10.3.0", "onnxruntime-tensorrt", "onnxruntime-cuda", "torch-cuda", "torch-cuda-graphs",
             "onnxruntime-cpu", "torch-cpu", "classical")
    assert [N.graph_on_gpu(n) for n in names] == [True] * 5 + [False] * 3
    assert N.auto_workers(False, 16) == 1
    assert [N.auto_workers(True, c) for c in (1, 2, 3, 4, 16)] == [1, 1, 2, 3, 3]
    assert N.auto_workers(True, 16, cpu_threads=2) == 2
    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(N, "_cpus", lambda: 8)
    f = render_random(21, 64, 80)
    raw = simulate(f, "realsense_d435", np.random.default_rng(0))
    params = {"method": "learned", "backend": "onnxruntime", "weights": str(tiny_weights), "diagnostics_period": 0.2}
    for on_gpu, expect in ((False, 1), (True, 3)):
        monkeypatch.setattr(N, "graph_on_gpu", lambda name, on_gpu=on_gpu: on_gpu)
        with _talking_node(**params) as (node, player, coll, ex):
            assert len(node.workers) == 3
            assert handshake(ex, player, coll, f.rgb, raw, f.K)
            assert spin_until(ex, lambda: node.streams[0].sync._mailbox is None and not node.busy, 10)
            assert node._active_workers == expect
            assert _most_at_once(node, player, coll, ex, f, raw) == expect
            assert spin_until(ex, lambda: coll.last_diag_values().get("workers") == f"{expect} (auto)", 5), \
                coll.last_diag_values()


def test_camera_info_size_change_mid_stream(live):
    f, raw, player = live["f"], live["raw"], live["player"]
    assert live["send"](True)
    # info for a camera at twice the resolution, same aspect: K is scaled, output still right
    live["stamp"] += 100_000_000
    s = live["stamp"]
    h = make_header(s, "cam")
    K2 = f.K.copy()
    K2[:2] *= 2
    player.pub_info.publish(make_info(K2, 128, 160, h))
    player.pub_rgb.publish(make_image(f.rgb, "rgb8", h))
    player.pub_depth.publish(make_image(np.round(raw * 1000).astype(np.uint16), "16UC1", h))
    assert spin_until(live["ex"], lambda: s in live["coll"].complete_stamps(), 10)
    k = np.reshape(live["coll"].msgs["info"][s].k, (3, 3))
    assert k[0, 0] == pytest.approx(f.K[0, 0], rel=1e-4)


# ----------------------------------------------------------------------------- fuzzing

ENCODINGS = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "16UC1", "32FC1", "mono16", "yuv422", "", "8UC3", "64FC1",
             "yuv422_yuy2", "8UC1", "bayer_rggb8", "bayer_gbrg8", "bgr16", "rgba16", "32FC3"]


class FakeImage:
    """A plain object with Image's fields (conversion reads attributes only); any values allowed."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(enc=st.sampled_from(ENCODINGS), h=st.integers(-2, 12), w=st.integers(-2, 12), step=st.integers(-4, 80),
       big=st.booleans(), data=st.binary(max_size=600))
def test_fuzz_image_conversion_never_crashes(enc, h, w, step, big, data):
    m = FakeImage(encoding=enc, height=h, width=w, step=step, is_bigendian=big, data=data)
    for fn in (image_to_rgb, image_to_depth):
        try:
            out = fn(m)
        except ConversionError as e:
            assert str(e)  # every rejection explained
            continue
        arr = out[0] if isinstance(out, tuple) else out
        assert arr.shape[:2] == (h, w)
        if isinstance(out, tuple):
            assert np.all(np.isfinite(arr)) and np.all(arr >= 0)


FORMATS = ["rgb8; jpeg compressed bgr8", "jpeg", "png", "16UC1; compressedDepth png", "16UC1; compressedDepth rvl",
           "32FC1; compressedDepth rvl", "32FC1; compressedDepth", "16UC1; png compressed mono16", "", "8UC3; x"]


def _rvl_like(words: list[int], w: int, h: int, header: bytes) -> bytes:
    return header + np.array([w, h], "<u4").tobytes() + np.array(words, "<u4").tobytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(FORMATS), data=st.one_of(
    st.binary(max_size=400),
    st.builds(_rvl_like, st.lists(st.integers(0, 2**32 - 1), max_size=40), st.integers(0, 70), st.integers(0, 70),
              st.binary(min_size=12, max_size=12))))
def test_fuzz_compressed_payloads_never_crash(fmt, data):
    """Random CompressedImage payloads (random bytes, and RVL-shaped ones with random sizes and words): either an
    image or a ConversionError with its reason, never another exception."""
    from sensor_msgs.msg import CompressedImage

    m = CompressedImage(format=fmt)
    m.data = data
    for fn in (image_to_rgb, image_to_depth):
        try:
            out = fn(m)
        except ConversionError as e:
            assert str(e)
            continue
        arr = out[0] if isinstance(out, tuple) else out
        assert arr.ndim >= 2 and arr.size > 0
        if isinstance(out, tuple):
            assert np.all(np.isfinite(arr)) and np.all(arr >= 0)


@settings(max_examples=200, deadline=None)
@given(k=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=9, max_size=9),
       p=st.one_of(st.just([0.0] * 12),
                   st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=12, max_size=12)),
       h=st.integers(0, 2000), w=st.integers(0, 2000), bx=st.integers(0, 8), by=st.integers(0, 8),
       roi=st.one_of(st.just((0, 0, 0, 0)), st.tuples(*[st.integers(0, 2000)] * 4)))
def test_fuzz_camera_info_never_crashes(k, p, h, w, bx, by, roi):
    info = FakeImage(k=k, p=p, height=h, width=w, binning_x=bx, binning_y=by,
                     roi=FakeImage(x_offset=roi[0], y_offset=roi[1], width=roi[2], height=roi[3]))
    try:
        K = camera_info_to_K(info, (480, 640))
        assert np.all(np.isfinite(K)) and K[0, 0] > 0
    except ConversionError as e:
        assert str(e)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fk=st.floats(20, 2000), c=st.tuples(st.floats(-50, 200), st.floats(-50, 150)),
       model=st.sampled_from(["plumb_bob", "rational_polynomial", "equidistant", "pinhole", ""]),
       d=st.one_of(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=14),
                   st.lists(st.floats(-3, 3), max_size=8)))
@example(fk=93.0, c=(0.0, 0.0), model="plumb_bob", d=[0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.001953125])  # a fold
def test_fuzz_raw_image_distortion_never_crashes_and_rays_are_true(fk, c, model, d):
    """rectified: false with any camera_info distortion: a clear ConversionError, or rays that each project back
    onto their pixel (NaN where the model has no inverse: no point rather than a wrong one)."""
    from perfecting_depth_ros.geometry import distort
    from perfecting_depth_ros.node.convert import raw_image_geometry

    info = FakeImage(k=[fk, 0, c[0], 0, fk, c[1], 0, 0, 1], p=[0.0] * 12, height=120, width=160, binning_x=0,
                     binning_y=0, roi=FakeImage(x_offset=0, y_offset=0, width=0, height=0), d=d,
                     distortion_model=model)
    try:
        K, rays = raw_image_geometry(info, (120, 160))
    except ConversionError as e:
        assert str(e)
        return
    if rays is None:
        assert not any(d)
        return
    assert rays.shape == (120, 160, 2)
    if max(abs(v) for v in d) > 10:  # past any lens: float32 rays are exact in 3D, but the steep distortion
        return                        # magnifies their rounding into pixels, so only the no-crash part is checked
    ok = np.isfinite(rays).all(-1)
    x, y = distort(rays[..., 0][ok].astype(np.float64), rays[..., 1][ok].astype(np.float64), d, model)
    v, u = np.nonzero(ok)
    err = np.hypot(x * K[0, 0] + K[0, 2] - u, y * K[1, 1] + K[1, 2] - v)
    assert err.size == 0 or err.max() < 0.5  # float32 rays; realistic lenses: within 1e-3 px (test_convert)


@functools.cache
def _fuzz_enhancer(method: str):
    from perfecting_depth_ros import DepthEnhancer

    return DepthEnhancer(method, backend="onnxruntime") if method == "learned" else DepthEnhancer(method)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 48), w=st.integers(1, 48), method=st.sampled_from(["learned", "joint_bilateral", "ip_basic"]),
       bad=st.sampled_from([0.0, np.nan, np.inf, -1.0]), every=st.integers(1, 7), dh=st.sampled_from([0, 0, 1]),
       seed=st.integers(0, 2**16))
@example(h=240, w=1, method="learned", bad=np.nan, every=3, dh=0, seed=0)  # thinner than a fill cell: once an assertion
def test_fuzz_enhancer_never_crashes(h, w, method, bad, every, dh, seed):
    """The library on any small frame, one-pixel strips included, with holes given as 0, NaN, Inf or negative depth,
    and depth one row off the colour: an output of the depth's size, finite and positive wherever it gives a value,
    or a ValueError with its reason."""
    enh = _fuzz_enhancer(method)
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.3, 6.0, (h + dh, w)).astype(np.float32)
    depth.flat[::every] = bad
    try:
        out = enh.enhance(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), depth, max_range_m=4.5)
    except ValueError as e:
        assert str(e)
        return
    assert out.depth.shape == depth.shape
    given_value = ~np.isnan(out.depth)
    assert np.all(np.isfinite(out.depth[given_value])) and np.all(out.depth[given_value] > 0)


@settings(max_examples=200, deadline=None)
@given(events=st.lists(st.tuples(st.sampled_from(["rgb", "depth", "info"]), st.integers(0, 10**10)), max_size=60),
       mode=st.sampled_from(["exact", "approximate"]), slop=st.floats(0, 0.5), q=st.integers(1, 8))
def test_fuzz_sync_never_crashes_and_stays_bounded(events, mode, slop, q):
    s = FrameSynchronizer(mode, slop, q)
    last = -1
    for topic, stamp in events:
        reason = s.add(topic, stamp, stamp)
        assert reason is None or isinstance(reason, str)
        got = s.take(0)
        if got is not None:
            assert got.stamp_ns > last or s.stats.time_jumps  # emitted stamps only move forward
            last = got.stamp_ns
        assert all(len(v) <= q for v in s._queues.values())
