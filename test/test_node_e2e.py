"""End to end: enhancer_node as its own process with config/enhancer.yaml and the launch file's remappings,
fed over loopback DDS by a test publisher; every output and each kind of bad input is checked."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor

from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.data.world import render_random
from perfecting_depth_ros.node.convert import cloud_to_array
from perfecting_depth_ros.node.harness import (
    Collector,
    Player,
    finish,
    handshake,
    make_header,
    make_image,
    make_info,
    spin_until,
    start_node,
    stop_node,
)

ROOT = Path(__file__).resolve().parents[1]
NS = "/camera"
# launch/enhancer.launch.py: rgb:=, depth:=, info:= arguments, set as the README's launch line sets them for
# realsense-ros 4.54+ (absolute names under /camera/camera; the node's namespace is /camera)
DRIVER = "/camera/camera"
REMAPS = {"rgb/image_rect_color": f"{DRIVER}/color/image_raw",
          "depth_registered/image_rect": f"{DRIVER}/aligned_depth_to_color/image_raw",
          "rgb/camera_info": f"{DRIVER}/color/camera_info"}
TOPICS = {"rgb": REMAPS["rgb/image_rect_color"], "depth": REMAPS["depth_registered/image_rect"],
          "info": REMAPS["rgb/camera_info"]}


def _launch_remaps_match_the_launch_file():
    import ast

    src = (ROOT / "launch" / "enhancer.launch.py").read_text()
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "REMAPPINGS":
            return set(ast.literal_eval(node.value)) == set(REMAPS)
    return False


@pytest.fixture(scope="module")
def ros(tmp_path_factory):
    assert _launch_remaps_match_the_launch_file()
    log = tmp_path_factory.mktemp("node") / "node.log"
    rclpy.init()
    proc = start_node(ROOT / "config" / "enhancer.yaml", NS, REMAPS,
                      params={"method": "guided_fill", "input_timeout": 0.5, "diagnostics_period": 0.2}, log_path=log)
    player = Player(topics=TOPICS)
    coll = Collector(NS)
    ex = SingleThreadedExecutor()
    ex.add_node(player)
    ex.add_node(coll)
    try:
        f = render_random(11, 120, 160)
        raw = simulate(f, "kinect_v1", np.random.default_rng(0))
        assert handshake(ex, player, coll, f.rgb, raw, f.K), "no round trip through the node within 60 s"
        yield {"ex": ex, "player": player, "coll": coll, "frame": f, "raw": raw, "proc": proc, "log": log}
    finally:
        finish(proc, ex, player, coll)


def _send_and_wait(r, stamp_ns, **kw):
    r["player"].publish(r["frame"].rgb, r["raw"], r["frame"].K, stamp_ns, frame_id="cam_optical", **kw)
    return spin_until(r["ex"], lambda: stamp_ns in r["coll"].complete_stamps(), 20)


def _diag_after(r, predicate, timeout=5.0):
    """Whether a diagnostics status received from now on satisfies ``predicate`` (a state the node holds)."""
    coll = r["coll"]
    with coll.lock:
        coll.diagnostics.clear()
    ok = spin_until(r["ex"], lambda: predicate(coll.last_diag_values()), timeout)
    return ok, coll.last_diag_values()


def _diag_since(r, mark, predicate, timeout=5.0):
    """Whether any status received since ``mark`` (``coll.diag_mark()`` taken before the frame was sent) satisfies
    ``predicate``: the node names a frame's problem in one status's message, which may come before the outputs do."""
    coll = r["coll"]
    ok = spin_until(r["ex"], lambda: any(predicate(v) for v in coll.diag_values_since(mark)), timeout)
    return ok, coll.diag_values_since(mark)[-3:]


def test_outputs_are_complete_and_correct(ros):
    stamp = 1_000_000_000
    assert _send_and_wait(ros, stamp)
    c = ros["coll"]
    d, s, info, pts = (c.msgs[k][stamp] for k in ("depth", "sigma", "info", "points"))
    H, W = ros["raw"].shape
    for m in (d, s):
        assert m.encoding == "32FC1" and (m.height, m.width) == (H, W)
        assert m.header.frame_id == "cam_optical" and m.header.stamp.sec == 1 and m.header.stamp.nanosec == 0
    depth = np.frombuffer(bytes(d.data), "<f4").reshape(H, W)
    sigma = np.frombuffer(bytes(s.data), "<f4").reshape(H, W)
    gt = ros["frame"].depth
    ok = np.isfinite(depth)
    assert ok.mean() > 0.95
    assert np.median(np.abs(depth[ok] - gt[ok])) < 0.05  # values are sane metres
    assert np.all(sigma[np.isfinite(sigma)] >= 0)
    assert (info.height, info.width) == (H, W) and info.header.frame_id == "cam_optical"
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), ros["frame"].K, rtol=1e-5)
    cloud = cloud_to_array(pts)
    assert (pts.height, pts.width) == (H, W) and pts.header.frame_id == "cam_optical"
    assert [f.name for f in pts.fields] == ["x", "y", "z", "rgb", "sigma"]
    np.testing.assert_allclose(cloud["z"][ok], depth[ok], rtol=1e-6)
    src = c.msgs["source"][stamp]
    assert src.encoding == "mono8" and (src.height, src.width) == (H, W) and src.header.frame_id == "cam_optical"
    source = np.frombuffer(bytes(src.data), np.uint8).reshape(H, W)
    raw = np.clip(np.round(ros["raw"] * 1000), 0, 65535).astype(np.uint16) * np.float32(0.001)  # as Player sends it
    measured = raw > 0
    np.testing.assert_array_equal(source == 1, measured & (depth == raw))  # a classical fill keeps them all
    np.testing.assert_array_equal(source == 3, ~measured & ok)
    np.testing.assert_array_equal(source == 0, ~ok)


def test_diagnostics_report_rates_latency_backend(ros):
    for k in range(5):
        assert _send_and_wait(ros, 2_000_000_000 + k * 50_000_000)
    # rates cover the last 2 s: on a loaded machine the first diagnostics after the burst can come later
    # than that, so keep frames flowing (a live camera) while waiting, up to three more frames. A status the node
    # sent while it published the fifth frame's outputs can arrive after them, still counting four: wait for the
    # state the five frames leave, not for the first status that counts any
    for k in range(5, 8):
        ok, v = _diag_after(ros, lambda v: int(v.get("processed", "0")) >= 5 and float(v.get("output_rate_hz", 0)) > 0)
        if ok:
            break
        assert _send_and_wait(ros, 2_000_000_000 + k * 50_000_000)
    assert ok, v
    assert v["method"] == "classical:guided_fill" and v["backend"] == "classical"
    assert v["max_range"] == "unknown"  # the default: the sensor's range not configured
    assert float(v["latency_p50_ms"]) > 0 and int(v["processed"]) >= 5
    shares = {k: float(v[f"last_frame_{k}_pct"]) for k in ("no_value", "measured_kept", "measured_replaced", "rebuilt")}
    raw = ros["raw"]  # a classical fill keeps every measurement and fills every hole
    assert shares["measured_kept"] == pytest.approx(100 * (raw[::4, ::4] > 0).mean(), abs=0.1)
    assert shares["rebuilt"] == pytest.approx(100 - shares["measured_kept"], abs=0.2)
    assert shares["measured_replaced"] == 0 and sum(shares.values()) == pytest.approx(100, abs=0.2)


def test_bgr_and_32fc1_inputs(ros):
    assert _send_and_wait(ros, 3_000_000_000, rgb_encoding="bgr8", depth_encoding="32FC1")


def _publish_raw(ros, stamp, rgb_msg=None, depth_msg=None, info_msg=None):
    p, f = ros["player"], ros["frame"]
    h = make_header(stamp, "cam_optical")
    p.pub_info.publish(info_msg or make_info(f.K, *ros["raw"].shape, h))
    p.pub_rgb.publish(rgb_msg or make_image(f.rgb, "rgb8", h))
    mm = np.clip(ros["raw"] * 1000, 0, 65535).astype(np.uint16)
    p.pub_depth.publish(depth_msg or make_image(mm, "16UC1", h))


@pytest.mark.parametrize("case", ["encoding", "truncated", "k_zero", "info_size", "backwards"])
def test_bad_input_is_reported_and_nothing_published(ros, case):
    stamp = {"encoding": 4, "truncated": 5, "k_zero": 6, "info_size": 7, "backwards": 8}[case] * 1_000_000_000
    h = make_header(stamp, "cam_optical")
    f = ros["frame"]
    before = int(ros["coll"].last_diag_values().get("rejected", 0) or 0)
    mark = ros["coll"].diag_mark()
    if case == "encoding":
        m = make_image(f.rgb, "rgb8", h)
        m.encoding = "32FC3"
        _publish_raw(ros, stamp, rgb_msg=m)
        expect = "unsupported colour encoding"
    elif case == "truncated":
        m = make_image(np.clip(ros["raw"] * 1000, 0, 65535).astype(np.uint16), "16UC1", h)
        m.data = bytes(m.data)[:100]
        _publish_raw(ros, stamp, depth_msg=m)
        expect = "truncated"
    elif case == "k_zero":
        info = make_info(f.K, *ros["raw"].shape, h)
        info.k, info.p = [0.0] * 9, [0.0] * 12  # an uncalibrated camera
        _publish_raw(ros, stamp, info_msg=info)
        expect = "all zeros"
    elif case == "info_size":
        _publish_raw(ros, stamp, info_msg=make_info(f.K, 100, 100, h))
        expect = "does not match depth"
    else:
        _publish_raw(ros, stamp - 7_000_000_000 + 1)  # older than the newest processed set (< 5 s jump)
        assert _send_and_wait(ros, stamp + 1)
        _publish_raw(ros, stamp)
        expect = "backwards"
    ok, v = _diag_since(ros, mark, lambda v: int(v.get("rejected", 0) or 0) > before and v.get("_level", 0) >= 1
                        and expect in v.get("_message", "") + " ".join(k for k in v if k.startswith("rejected[")))
    assert ok, v
    if case != "backwards":
        spin_until(ros["ex"], lambda: False, 0.5)
        assert stamp not in ros["coll"].msgs["depth"]
    assert ros["proc"].poll() is None  # still running
    assert _send_and_wait(ros, stamp + 500_000_000)  # and still working


def test_depth_in_another_frame_than_the_colour_is_reported(ros):
    """Unregistered depth (its frame_id is not the colour's) is still processed, and diagnostics say why the result
    cannot be trusted."""
    stamp = 8_700_000_000  # after the bad-input tests' stamps (up to 8.5 s)
    mm = np.clip(np.round(ros["raw"] * 1000), 0, 65535).astype(np.uint16)
    _publish_raw(ros, stamp, depth_msg=make_image(mm, "16UC1", make_header(stamp, "cam_depth_optical")))
    assert spin_until(ros["ex"], lambda: stamp in ros["coll"].complete_stamps(), 20)
    ok, v = _diag_after(ros, lambda v: any("is not the colour" in k for k in v if k.startswith("rejected[")))
    assert ok, v


def test_depth_in_millimetres_as_32fc1_is_reported(ros):
    """A driver that writes millimetres into 32FC1: processed (as unregistered depth is), and diagnostics name the
    units instead of a cloud 1000x too large going out unremarked."""
    stamp = 8_800_000_000
    h = make_header(stamp, "cam_optical")
    mm = np.where(ros["raw"] > 0, ros["raw"] * 1000, np.nan).astype(np.float32)
    mark = ros["coll"].diag_mark()
    _publish_raw(ros, stamp, depth_msg=make_image(mm, "32FC1", h))
    assert spin_until(ros["ex"], lambda: stamp in ros["coll"].complete_stamps(), 20)
    ok, v = _diag_since(ros, mark, lambda v: "rejected[depth units implausible]" in v
                        and "millimetres give 1000x" in v.get("_message", ""))
    assert ok, v


def test_raw_images_with_lens_distortion_are_reported(ros):
    """The launch line's colour topic is an image_raw (as an Azure Kinect driver names it) and its camera_info has
    a lens distortion: processed, and diagnostics say the cloud is bent and name rectified: false."""
    stamp = 8_900_000_000
    info = make_info(ros["frame"].K, *ros["raw"].shape, make_header(stamp, "cam_optical"))
    info.distortion_model, info.d = "rational_polynomial", [0.5, -2.6, 0.0005, -0.0002, 1.5, 0.38, -2.4, 1.4]
    mark = ros["coll"].diag_mark()
    _publish_raw(ros, stamp, info_msg=info)
    assert spin_until(ros["ex"], lambda: stamp in ros["coll"].complete_stamps(), 20)
    ok, v = _diag_since(ros, mark, lambda v: "rejected[unrectified images with lens distortion]" in v
                        and f"{TOPICS['rgb']} is a raw image" in v.get("_message", "")
                        and "set rectified: false" in v.get("_message", ""))
    assert ok, v


def test_rgb_size_mismatch_is_resampled(ros):
    stamp = 9_000_000_000
    import cv2

    h = make_header(stamp, "cam_optical")
    big = cv2.resize(ros["frame"].rgb, (320, 240))
    _publish_raw(ros, stamp, rgb_msg=make_image(big, "rgb8", h))
    assert spin_until(ros["ex"], lambda: stamp in ros["coll"].complete_stamps(), 20)
    ok, v = _diag_after(ros, lambda v: any("resampled" in k for k in v))
    assert ok, v


def test_the_colour_used_goes_out_under_the_depths_stamp(ros):
    """depth_enhanced/rgb/image_rect_color: the colour the depth was enhanced with, under the depth's header, so a
    consumer that synchronises exactly (RTAB-Map with approx_sync false) gets colour, depth and camera_info of one
    stamp, while the driver stamped the colour 7 ms apart and sent it as bgr8."""
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    ex, got = ros["ex"], {}
    reader = Node("colour_reader")
    qos = QoSProfile(depth=10)
    qos.reliability = ReliabilityPolicy.RELIABLE
    sub = reader.create_subscription(Image, f"{NS}/depth_enhanced/rgb/image_rect_color",
                                     lambda m: got.__setitem__(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, m),
                                     qos)
    ex.add_node(reader)
    try:
        assert spin_until(ex, lambda: sub.get_publisher_count() > 0, 20), "no colour output advertised"
        stamp = None
        for k in range(20):  # the node's publisher may see this subscription a little after we see it
            stamp = 60_000_000_000 + k * 100_000_000
            ros["player"].publish(ros["frame"].rgb, ros["raw"], ros["frame"].K, stamp, frame_id="cam_optical",
                                  rgb_encoding="bgr8", rgb_offset_ns=7_000_000)
            if spin_until(ex, lambda s=stamp: s in got and s in ros["coll"].complete_stamps(), 2.0):
                break
        assert stamp in got, "no colour output while subscribed"
        m, d = got[stamp], ros["coll"].msgs["depth"][stamp]
        assert m.header == d.header and m.encoding == "rgb8" and (m.height, m.width) == (d.height, d.width)
        np.testing.assert_array_equal(np.frombuffer(bytes(m.data), np.uint8).reshape(m.height, m.width, 3),
                                      ros["frame"].rgb)
    finally:
        ex.remove_node(reader)
        reader.destroy_node()


def test_stopped_input_topic_warns(ros):
    assert _send_and_wait(ros, 10_000_000_000)
    ok, v = _diag_after(ros, lambda v: v.get("_level") == 1 and "no input" in v.get("_message", ""), timeout=5)
    assert ok, v


def _set_params(ros, **params):
    node = ros["coll"]
    cli = node.create_client(SetParameters, f"{NS}/depth_enhancer/set_parameters")
    assert cli.wait_for_service(timeout_sec=10)
    req = SetParameters.Request()
    for k, val in params.items():
        pv = ParameterValue()
        if isinstance(val, str):
            pv.type, pv.string_value = ParameterType.PARAMETER_STRING, val
        elif isinstance(val, bool):
            pv.type, pv.bool_value = ParameterType.PARAMETER_BOOL, val
        elif isinstance(val, int):
            pv.type, pv.integer_value = ParameterType.PARAMETER_INTEGER, val
        else:
            pv.type, pv.double_value = ParameterType.PARAMETER_DOUBLE, val
        req.parameters.append(Parameter(name=k, value=pv))
    fut = cli.call_async(req)
    spin_until(ros["ex"], fut.done, 10)
    node.destroy_client(cli)
    return fut.result().results


def test_parameters_are_validated_at_runtime(ros):
    (r,) = _set_params(ros, method="magic")
    assert not r.successful and "must be one of" in r.reason
    (r,) = _set_params(ros, samples=99)
    assert not r.successful  # out of the declared range 1..16
    (r,) = _set_params(ros, local_window=0.9)
    assert not r.successful  # out of the declared range 0..0.5
    (r,) = _set_params(ros, local_window=0.025)
    assert r.successful
    (r,) = _set_params(ros, hole_fusion=False)
    assert r.successful
    (r,) = _set_params(ros, queue_size=7)
    assert not r.successful and "restart" in r.reason
    (r,) = _set_params(ros, slop=0.05)
    assert r.successful
    (r,) = _set_params(ros, cpu_threads=-1)
    assert not r.successful  # out of the declared range 0..256
    (r,) = _set_params(ros, cpu_threads=1)
    assert r.successful
    (r,) = _set_params(ros, method="ip_basic")
    assert r.successful
    assert _send_and_wait(ros, 11_000_000_000)
    ok, v = _diag_after(ros, lambda v: v.get("method") == "classical:ip_basic")
    assert ok, v
    assert v["cpu_threads"] == "1"
    (r,) = _set_params(ros, method="guided_fill")
    assert r.successful


def test_max_rate_caps_how_often_sets_are_processed(ros):
    (r,) = _set_params(ros, max_rate=2.0)
    assert r.successful
    try:
        assert _send_and_wait(ros, 20_000_000_000)  # the cap applies from the next set on
        first = 20_100_000_000
        t0 = time.monotonic()
        k = 0
        while time.monotonic() - t0 < 3.0:  # a 10 Hz camera for 3 s: 30 sets
            ros["player"].publish(ros["frame"].rgb, ros["raw"], ros["frame"].K, first + k * 100_000_000,
                                  frame_id="cam_optical")
            spin_until(ros["ex"], lambda: False, 0.1)
            k += 1
        spin_until(ros["ex"], lambda: False, 1.0)  # the last slot
        elapsed = time.monotonic() - t0
        done = [s for s in ros["coll"].complete_stamps() if s >= first]
        # one set per half second at most (the first right away); guided_fill alone would keep up with all of them
        assert 2 <= len(done) <= int(elapsed * 2.0) + 1, (len(done), k, elapsed)
        assert done[-1] >= first + (k - 8) * 100_000_000  # the newest sets are taken, not a backlog
        ok, v = _diag_after(ros, lambda v: v.get("max_rate_hz") == "2.00")
        assert ok, v
        assert int(v["dropped_sets"]) > 0
    finally:
        (r,) = _set_params(ros, max_rate=0.0)
        assert r.successful


def test_trusted_depth_and_16uc1_output(ros):
    (r,) = _set_params(ros, output_encoding="32FC2")
    assert not r.successful and "must be one of" in r.reason
    results = _set_params(ros, depth_max_sigma=0.05, output_encoding="16UC1", cloud_decimation=2)
    assert all(x.successful for x in results)
    try:
        stamp = 30_000_000_000
        assert _send_and_wait(ros, stamp)
        c = ros["coll"]
        d, s = c.msgs["depth"][stamp], c.msgs["sigma"][stamp]
        H, W = ros["raw"].shape
        assert d.encoding == "16UC1" and s.encoding == "32FC1"
        mm = np.frombuffer(bytes(d.data), "<u2").reshape(H, W)
        sigma = np.frombuffer(bytes(s.data), "<f4").reshape(H, W)
        assert (mm[sigma > 0.05] == 0).all() and (mm[sigma <= 0.05] > 0).mean() > 0.99
        assert 0 < (sigma > 0.05).mean() < 1  # the threshold splits this frame
        pts = c.msgs["points"][stamp]
        assert (pts.height, pts.width) == (H // 2, W // 2)  # cloud_decimation: every 2nd row and column
        z = cloud_to_array(pts)["z"]
        np.testing.assert_allclose(z, np.where(mm > 0, mm / 1000.0, np.nan)[::2, ::2], atol=6e-4, equal_nan=True)
    finally:
        results = _set_params(ros, depth_max_sigma=0.0, output_encoding="32FC1", cloud_decimation=1)
        assert all(x.successful for x in results)


def test_footprint_leaves_out_what_the_sensor_never_measures(ros):
    (r,) = _set_params(ros, footprint_frames=-1)
    assert not r.successful
    (r,) = _set_params(ros, footprint_frames=2)
    assert r.successful
    H, W = ros["raw"].shape
    y, x = np.mgrid[:H, :W]
    outline = np.abs(x - (W - 1) / 2) / (W / 2) + np.abs(y - (H - 1) / 2) / (H / 2) < 1.4  # corners cut off
    raw = np.where(outline, ros["raw"], 0).astype(np.float32)
    p, c, f = ros["player"], ros["coll"], ros["frame"]

    def send(stamp):
        p.publish(f.rgb, raw, f.K, stamp, frame_id="cam_optical")
        assert spin_until(ros["ex"], lambda: stamp in c.complete_stamps(), 20)
        depth = np.frombuffer(bytes(c.msgs["depth"][stamp].data), "<f4").reshape(H, W)
        return depth, np.frombuffer(bytes(c.msgs["source"][stamp].data), np.uint8).reshape(H, W)

    try:
        depth, _ = send(35_000_000_000)  # the first frame: too few to tell
        assert np.isfinite(depth[~outline]).all()
        depth, source = send(35_100_000_000)
        assert np.isnan(depth[~outline]).all() and (source[~outline] == 0).all()
        assert np.isfinite(depth[outline & (raw > 0)]).all() and (source[raw > 0] == 1).all()
        assert np.isfinite(depth[outline]).mean() > 0.95  # holes inside the outline are filled as before
        ok, v = _diag_after(ros, lambda v: "left out" in v.get("footprint", ""))
        assert ok, v
        share = float(v["footprint"].split(" %")[0])
        assert 100 * (~outline).mean() <= share < 100 * (~outline).mean() + 5
    finally:
        (r,) = _set_params(ros, footprint_frames=0)
        assert r.successful
    depth, _ = send(35_200_000_000)
    assert np.isfinite(depth[~outline]).all()  # off: filled again
    ok, v = _diag_after(ros, lambda v: v.get("footprint") == "off")
    assert ok, v


def test_latest_camera_info_serves_frames_without_their_own(ros):
    (r,) = _set_params(ros, camera_info_sync="sometimes")
    assert not r.successful and "must be one of" in r.reason
    assert _send_and_wait(ros, 50_000_000_000)  # an info of its own stamp: the one kept as the latest
    (r,) = _set_params(ros, camera_info_sync="latest")
    assert r.successful
    try:
        p, f = ros["player"], ros["frame"]
        stamp = 50_100_000_000
        h = make_header(stamp, "cam_optical")
        mm = np.clip(np.round(ros["raw"] * 1000), 0, 65535).astype(np.uint16)
        p.pub_rgb.publish(make_image(f.rgb, "rgb8", h))  # no camera_info for this frame
        p.pub_depth.publish(make_image(mm, "16UC1", h))
        assert spin_until(ros["ex"], lambda: stamp in ros["coll"].complete_stamps(), 20)
        info = ros["coll"].msgs["info"][stamp]
        assert info.header.stamp.sec == 50 and info.header.stamp.nanosec == 100_000_000
        np.testing.assert_allclose(np.reshape(info.k, (3, 3)), f.K, rtol=1e-5)
    finally:
        (r,) = _set_params(ros, camera_info_sync="stamp")
        assert r.successful


def test_sigma_scale_multiplies_the_published_sigma_at_once(ros):
    (r,) = _set_params(ros, sigma_scale=0.0)
    assert not r.successful  # outside its range
    c = ros["coll"]
    H, W = ros["raw"].shape
    stamp_a, stamp_b = 40_000_000_000, 40_100_000_000
    assert _send_and_wait(ros, stamp_a)
    (r,) = _set_params(ros, sigma_scale=2.5)
    assert r.successful
    try:
        assert _send_and_wait(ros, stamp_b)
        sig = [np.frombuffer(bytes(c.msgs["sigma"][s].data), "<f4").reshape(H, W) for s in (stamp_a, stamp_b)]
        dep = [np.frombuffer(bytes(c.msgs["depth"][s].data), "<f4").reshape(H, W) for s in (stamp_a, stamp_b)]
        np.testing.assert_array_equal(dep[0], dep[1])  # depth untouched
        assert np.isfinite(sig[0]).mean() > 0.5
        np.testing.assert_allclose(sig[1], 2.5 * sig[0], rtol=1e-6)
        ok, vals = _diag_after(ros, lambda v: v.get("sigma_scale") == "2.5")
        assert ok, vals  # diagnostics say the sigma is rescaled
    finally:
        (r,) = _set_params(ros, sigma_scale=1.0)
        assert r.successful


def test_beyond_range_sigmas_applies_at_once_to_rebuilt_pixels_only(ros):
    """With max_range set, beyond_range_sigmas publishes rebuilt pixels whose depth + k sigma passes the range as
    invalid (depth NaN, source 0), from the next frame; measured pixels stay."""
    c = ros["coll"]
    raw = ros["raw"]
    H, W = raw.shape
    r = float(np.percentile(raw[raw > 0], 60))
    stamp_a, stamp_b = 41_000_000_000, 41_100_000_000
    (res,) = _set_params(ros, max_range=r)
    assert res.successful
    try:
        assert _send_and_wait(ros, stamp_a)
        (res,) = _set_params(ros, beyond_range_sigmas=2.0)
        assert res.successful
        ok, vals = _diag_after(ros, lambda v: v.get("beyond_range_sigmas") == "2")
        assert ok, vals  # diagnostics say the filter is on
        assert _send_and_wait(ros, stamp_b)
        dep = [np.frombuffer(bytes(c.msgs["depth"][s].data), "<f4").reshape(H, W) for s in (stamp_a, stamp_b)]
        sig = np.frombuffer(bytes(c.msgs["sigma"][stamp_a].data), "<f4").reshape(H, W)
        drop = (raw <= 0) & (dep[0] + 2 * sig > r)
        assert drop.any() and np.isnan(dep[1][drop]).all()
        np.testing.assert_array_equal(dep[1][~drop], dep[0][~drop])
        assert np.isfinite(dep[1][raw > 0]).all()
        (res,) = _set_params(ros, max_range=0.0)  # the filter set without the range it needs: diagnostics say so
        assert res.successful
        ok, vals = _diag_after(ros, lambda v: v.get("beyond_range_sigmas") == "2 (no effect: max_range unknown)")
        assert ok, vals
    finally:
        assert all(x.successful for x in _set_params(ros, beyond_range_sigmas=0.0, max_range=0.0))


def test_below_range_sigmas_applies_at_once_to_rebuilt_pixels_only(ros):
    """With min_range set, below_range_sigmas publishes rebuilt pixels whose depth - k sigma reaches below it as
    invalid (depth NaN), from the next frame; measured pixels stay; set without the range, diagnostics say it does
    nothing; a min_range not below max_range is warned about."""
    c = ros["coll"]
    raw = ros["raw"]
    H, W = raw.shape
    r = float(np.percentile(raw[raw > 0], 40))
    stamp_a, stamp_b = 42_000_000_000, 42_100_000_000
    (res,) = _set_params(ros, min_range=r)
    assert res.successful
    try:
        assert _send_and_wait(ros, stamp_a)
        (res,) = _set_params(ros, below_range_sigmas=1.0)
        assert res.successful
        ok, vals = _diag_after(ros, lambda v: v.get("below_range_sigmas") == f"1 (min_range {r:g} m)")
        assert ok, vals  # diagnostics say the filter is on, and with which range
        assert _send_and_wait(ros, stamp_b)
        dep = [np.frombuffer(bytes(c.msgs["depth"][s].data), "<f4").reshape(H, W) for s in (stamp_a, stamp_b)]
        sig = np.frombuffer(bytes(c.msgs["sigma"][stamp_a].data), "<f4").reshape(H, W)
        drop = (raw <= 0) & (dep[0] - sig < r)
        assert drop.any() and np.isnan(dep[1][drop]).all()
        np.testing.assert_array_equal(dep[1][~drop], dep[0][~drop])
        assert np.isfinite(dep[1][raw > 0]).all()
        (res,) = _set_params(ros, max_range=r / 2)  # a sensor whose ranges cannot both be right
        assert res.successful
        ok, vals = _diag_after(ros, lambda v: "is not below max_range" in v.get("_message", ""))
        assert ok, vals
        assert all(x.successful for x in _set_params(ros, min_range=0.0, max_range=0.0))  # the filter without its range
        ok, vals = _diag_after(ros, lambda v: v.get("below_range_sigmas") == "1 (no effect: min_range unknown)")
        assert ok, vals
    finally:
        assert all(x.successful for x in _set_params(ros, below_range_sigmas=0.0, min_range=0.0, max_range=0.0))


def test_inputs_that_arrive_but_never_match_are_explained(ros):
    """Every input arriving and still no output (camera_info stamped on its own, colour and depth further apart than
    the slop): diagnostics warn with the stamp offsets and the setting that would match them, instead of 'ok'."""
    from perfecting_depth_ros.node.enhancer_node import NO_MATCH_WARN_S

    r, coll = ros, ros["coll"]
    stamp = 900_000_000_000  # past every other test's stamps; a later, earlier stamp is taken as a restarted camera
    # on a loaded machine one send can lag past the fixture's 0.5 s input_timeout; "stale" restarts the no-match
    # clock (a fresh-clone run met it once), so this test gives the inputs longer
    (res,) = _set_params(ros, input_timeout=5.0)
    assert res.successful

    def send_until(predicate, **offsets):
        nonlocal stamp
        end = time.monotonic() + NO_MATCH_WARN_S + 8
        while time.monotonic() < end:
            stamp += 100_000_000
            r["player"].publish(r["frame"].rgb, r["raw"], r["frame"].K, stamp, frame_id="cam_optical", **offsets)
            spin_until(r["ex"], lambda: False, 0.1)
            if predicate(coll.last_diag_values()):
                return True
        return False

    def warns(*words):
        return lambda v: v.get("_level") == 1 and all(w in v.get("_message", "") for w in words)

    def story() -> str:
        """The last diagnostics statuses received, in brief (what the node said instead)."""
        with coll.lock:
            last = list(coll.diagnostics[-6:])
        keys = ("stamp_offset_rgb_s", "stamp_offset_info_s", "time_jumps", "input_rate_rgb_hz", "input_rate_depth_hz",
                "input_rate_info_hz", "processed", "dropped_sets", "rejected", "rejected_stamps")
        return "\n".join(f"[{st.name}] level {st.level!r}: {st.message} | "
                         + ", ".join(f"{kv.key}={kv.value}" for kv in st.values if kv.key in keys) for st in last)

    assert send_until(warns("none has matched", "camera_info +1.000 s", "camera_info_sync: latest"),
                      info_offset_ns=1_000_000_000), story()
    assert coll.last_diag_values()["stamp_offset_info_s"] == "+1.000"
    # the next camera_info stamps must not be older than the last one (1 s ahead): three in a row would be time going
    # back, which starts the matching over (sync.JUMP_RUN), a path of its own that this test is not about
    stamp += 2_000_000_000
    assert send_until(warns("colour -0.250 s", "slop >= 0.300 s"), rgb_offset_ns=-250_000_000), story()
    assert send_until(lambda v: v.get("_level") == 0), story()  # in step again: ok
    (res,) = _set_params(ros, input_timeout=0.5)
    assert res.successful


def test_log_level_warn_keeps_info_off_the_console(ros, tmp_path):
    """The launch file's log_level:=warn: a node started with --log-level warn (as the launch file passes it) makes a
    round trip and warns of a misspelt parameter, and prints no INFO line (its own, or the package's Python records:
    the backend chosen, the model loaded); at the default level the module's node printed its INFO lines."""
    assert "[INFO]" in ros["log"].read_text() and "enhancer ready" in ros["log"].read_text()
    log = tmp_path / "warn.log"
    proc = start_node(ROOT / "config" / "enhancer.yaml", "/quiet", params={"method": "learned", "slopp": 0.02},
                      log_path=log, log_level="warn")
    player, coll = Player(ns="/quiet", name="quiet_player"), Collector("/quiet", name="quiet_collector")
    ros["ex"].add_node(player)
    ros["ex"].add_node(coll)
    try:
        f = ros["frame"]
        assert handshake(ros["ex"], player, coll, f.rgb, ros["raw"], f.K), "no round trip through the quiet node"
    finally:
        stop_node(proc)
        for n in (player, coll):
            ros["ex"].remove_node(n)
            n.destroy_node()
    text = log.read_text()
    assert "[WARN]" in text and "'slopp' is not one of this node's" in text, text
    assert "[INFO]" not in text, text
