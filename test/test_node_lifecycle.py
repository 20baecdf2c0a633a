"""enhancer_lifecycle_node, the managed node, as its own process driven through its lifecycle services as Nav2's
lifecycle_manager or launch_ros drive them: nothing subscribed or computed until it is active, the inputs dropped
when it is deactivated, everything destroyed on cleanup, a model that cannot load failing configure with the
reason, and start-up-only parameters taken while unconfigured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn

from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.data.world import render_random
from perfecting_depth_ros.node.harness import Collector, Player, finish, handshake, spin_until, start_node

ROOT = Path(__file__).resolve().parents[1]
NS = "/camera"
NODE = f"{NS}/depth_enhancer"


@pytest.fixture(scope="module")
def managed(tmp_path_factory):
    log = tmp_path_factory.mktemp("node") / "node.log"
    rclpy.init()
    proc = start_node(ROOT / "config" / "enhancer.yaml", NS, params={"method": "guided_fill",
                                                                     "diagnostics_period": 0.2},
                      log_path=log, executable="enhancer_lifecycle_node")
    player, coll = Player(NS), Collector(NS)
    ex = SingleThreadedExecutor()
    ex.add_node(player)
    ex.add_node(coll)
    f = render_random(13, 96, 128)
    raw = simulate(f, "kinect_v1", np.random.default_rng(2))
    try:
        yield {"ex": ex, "player": player, "coll": coll, "frame": f, "raw": raw, "proc": proc, "log": log}
    finally:
        rc = finish(proc, ex, player, coll)
        assert rc == 0, log.read_text()[-2000:]


def _call(m, srv_type, name, request, timeout=60.0):
    cli = m["coll"].create_client(srv_type, f"{NODE}/{name}")
    try:
        assert cli.wait_for_service(timeout_sec=30), f"{NODE}/{name} not offered"
        fut = cli.call_async(request)
        assert spin_until(m["ex"], fut.done, timeout), f"{name} did not answer"
        return fut.result()
    finally:
        m["coll"].destroy_client(cli)


def _state(m) -> str:
    return _call(m, GetState, "get_state", GetState.Request()).current_state.label


def _transition(m, transition_id) -> bool:
    req = ChangeState.Request()
    req.transition.id = transition_id
    return _call(m, ChangeState, "change_state", req).success


def _set(m, name, value) -> bool:
    pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value) if isinstance(value, str) else \
        ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    req = SetParameters.Request(parameters=[Parameter(name=name, value=pv)])
    return _call(m, SetParameters, "set_parameters", req).results[0].successful


def _inputs_subscribed(m) -> bool:
    return m["player"].pub_depth.get_subscription_count() > 0


def test_the_managed_node_follows_its_lifecycle(managed):
    m = managed
    ex, coll, player = m["ex"], m["coll"], m["player"]
    assert _state(m) == "unconfigured"
    assert coll.subs[0].get_publisher_count() == 0  # nothing exists before configure
    assert _set(m, "queue_size", 3)  # start-up-only: taken while unconfigured
    # a model that cannot load fails configure with the reason, and the node stays unconfigured
    assert _set(m, "method", "learned") and _set(m, "weights", "/nonexistent/model.safetensors")
    assert not _transition(m, Transition.TRANSITION_CONFIGURE)
    assert _state(m) == "unconfigured"
    assert "cannot configure" in m["log"].read_text()
    assert _set(m, "method", "guided_fill") and _set(m, "weights", "")

    assert _transition(m, Transition.TRANSITION_CONFIGURE) and _state(m) == "inactive"
    assert spin_until(ex, coll.matched, 20), "outputs not advertised after configure"
    assert not _set(m, "queue_size", 4)  # configured: start-up-only parameters refused, with the reason
    ok = spin_until(ex, lambda: "inactive" in coll.last_diag_values().get("_message", ""), 10)
    assert ok, coll.last_diag_values()
    assert spin_until(ex, lambda: not _inputs_subscribed(m), 10)  # inactive: nothing delivered, nothing computed
    spin_until(ex, lambda: False, 1.0)
    assert not _inputs_subscribed(m)

    assert _transition(m, Transition.TRANSITION_ACTIVATE) and _state(m) == "active"
    f, raw = m["frame"], m["raw"]
    assert handshake(ex, player, coll, f.rgb, raw, f.K), "no round trip while active"

    assert _transition(m, Transition.TRANSITION_DEACTIVATE) and _state(m) == "inactive"
    assert spin_until(ex, lambda: not _inputs_subscribed(m), 10), "inputs still subscribed when inactive"
    with coll.lock:
        for v in coll.msgs.values():
            v.clear()
    player.publish(f.rgb, raw, f.K, 5_000_000_000)
    spin_until(ex, lambda: False, 1.5)
    assert not coll.msgs["depth"]  # nothing processed while inactive

    assert _transition(m, Transition.TRANSITION_ACTIVATE)
    assert handshake(ex, player, coll, f.rgb, raw, f.K), "no round trip after activating again"

    assert _transition(m, Transition.TRANSITION_DEACTIVATE)
    assert _transition(m, Transition.TRANSITION_CLEANUP) and _state(m) == "unconfigured"
    assert spin_until(ex, lambda: coll.subs[0].get_publisher_count() == 0, 10), "outputs left after cleanup"
    assert _transition(m, Transition.TRANSITION_UNCONFIGURED_SHUTDOWN) and _state(m) == "finalized"
    assert m["proc"].poll() is None


def test_cleanup_releases_the_model_and_a_bad_setting_fails_configure(tiny_weights, tmp_path, monkeypatch):
    """In process: cleanup lets the model go (its ONNX Runtime session, on a GPU its device memory, is destroyed,
    not kept by the node), configure loads it again, and a setting the node cannot run with fails configure
    with the reason instead of stopping the process."""
    import gc
    import weakref

    from rclpy.parameter import Parameter as RclpyParameter

    from perfecting_depth_ros.node.enhancer_node import ManagedEnhancerNode

    monkeypatch.setenv("PERFECTING_DEPTH_CACHE", str(tmp_path / "cache"))
    ctx = rclpy.Context()  # its own: the module's fixture holds the default one
    rclpy.init(context=ctx)
    try:
        node = ManagedEnhancerNode(context=ctx, parameter_overrides=[
            RclpyParameter("method", value="learned"), RclpyParameter("backend", value="onnxruntime"),
            RclpyParameter("weights", value=str(tiny_weights))])
        assert node._enhancer is None and not node.up  # unconfigured: nothing loaded
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        backend = weakref.ref(node._enhancer.backend)
        timers = list(node.timers)
        st = node.streams[0]  # what cleanup destroys has callback groups of its own (spin.py)
        made = [*st.subs.values(), *(h for pub in [*st.publishers(), node.pub_diag] for h in pub.event_handlers)]
        assert made and all(e.callback_group is not node.default_callback_group for e in made)
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        gc.collect()
        assert backend() is None and node.streams == [] and not node.up
        assert list(node.timers) == timers  # no timer destroyed under the executor: they idle until configure
        assert node.set_parameters([RclpyParameter("diagnostics_period", value=0.5)])[0].successful
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.diag_timer.timer_period_ns == 500_000_000 and list(node.timers) == timers
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert node.set_parameters([RclpyParameter("cameras", value=["front", "front"])])[0].successful
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE  # a name twice: refused, named
        assert not node.up and node._state_machine.current_state[1] == "unconfigured"
        assert node.set_parameters([RclpyParameter("cameras", value=["front", "rear"])])[0].successful
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert [st.prefix for st in node.streams] == ["front", "rear"]
        node.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)
