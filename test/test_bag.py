"""The bag tool: rosbag2 in (sqlite3 and mcap), rosbag2 out with the original messages plus the node's
outputs; refuses to overwrite; stops clearly on a truncated bag; matches the live node's output."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CameraInfo, Image

from perfecting_depth_ros.bag import BagError, enhance_bag
from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.data.world import render_random
from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.node.harness import make_header, make_image, make_info

ROOT = Path(__file__).resolve().parents[1]
TOPICS = {"rgb": "/camera/rgb/image_rect_color", "depth": "/camera/depth_registered/image_rect",
          "info": "/camera/rgb/camera_info"}


def frames(n=3):
    out = []
    for i in range(n):
        f = render_random(40 + i, 60, 80)
        out.append((f, simulate(f, "kinect_v1", np.random.default_rng(i))))
    return out


def write_bag(path: Path, seq, storage=StoragePlugin.SQLITE3, extra_topic=True, spacing_ns=100_000_000,
              info_every: int = 1, depth_frame: str = "cam", version: int = 9, distortion: list | None = None,
              topics: dict | None = None):
    ts = get_typestore(Stores.ROS2_JAZZY)
    w = Writer(path, version=version, storage_plugin=storage)
    w.open()
    c = {k: w.add_connection(t, "sensor_msgs/msg/CameraInfo" if k == "info" else "sensor_msgs/msg/Image", typestore=ts)
         for k, t in (topics or TOPICS).items()}
    other = w.add_connection("/tf_static_like", "std_msgs/msg/String", typestore=ts) if extra_topic else None
    for i, (f, raw) in enumerate(seq):
        stamp = 1_000_000_000 + i * spacing_ns
        h = make_header(stamp, "cam")
        mm = np.clip(np.round(raw * 1000), 0, 65535).astype(np.uint16)  # as Player.publish does
        if i % info_every == 0:
            info = make_info(f.K, 60, 80, h)
            if distortion:
                info.distortion_model, info.d = "plumb_bob", distortion
            w.write(c["info"], stamp, serialize_message(info))
        w.write(c["rgb"], stamp + 1000, serialize_message(make_image(f.rgb, "rgb8", h)))
        w.write(c["depth"], stamp + 2000, serialize_message(make_image(mm, "16UC1", make_header(stamp, depth_frame))))
        if other is not None:
            from std_msgs.msg import String

            w.write(other, stamp + 3000, serialize_message(String(data=f"hello {i}")))
    w.close()


def read_all(path: Path):
    out = {}
    with Reader(path) as r:
        for conn, _, raw in r.messages():
            out.setdefault(conn.topic, []).append((conn.msgtype, raw))
    return out


@pytest.mark.parametrize("storage, version", [(StoragePlugin.SQLITE3, 9), (StoragePlugin.MCAP, 9),
                                              (StoragePlugin.SQLITE3, 8)])
def test_bag_roundtrip(tmp_path, storage, version):
    import yaml

    seq = frames()
    write_bag(tmp_path / "in", seq, storage, version=version)
    s = enhance_bag(tmp_path / "in", tmp_path / "out", TOPICS["rgb"], TOPICS["depth"], TOPICS["info"],
                    method="guided_fill", progress=False)
    assert s["processed"] == 3 and s["failed"] == 0 and s["messages"] == 12
    meta = yaml.safe_load((tmp_path / "out" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == version  # an older input: version 8, with its QoS profiles a string, as before 9
    qos = [t["topic_metadata"]["offered_qos_profiles"] for t in meta["topics_with_message_count"]]
    assert all(isinstance(q, str if version < 9 else list) for q in qos)
    if version == 8:  # Humble records version 5
        from perfecting_depth_ros.bag import output_version

        path = tmp_path / "in" / "metadata.yaml"
        path.write_text(path.read_text().replace("version: 8", "version: 5", 1))
        assert output_version(tmp_path / "in") == 8
    raws = [np.round(raw * 1000) > 0 for _, raw in seq]  # a classical fill keeps every measurement, fills every hole
    assert s["source_shares"]["measured_kept"] == pytest.approx(np.mean(raws), abs=1e-3)
    assert s["source_shares"]["rebuilt"] == pytest.approx(1 - np.mean(raws), abs=1e-3)
    got = read_all(tmp_path / "out")
    for t in list(TOPICS.values()) + ["/tf_static_like"]:
        assert len(got[t]) == 3  # every original message kept
    for k, typ in (("image_rect", "sensor_msgs/msg/Image"), ("uncertainty", "sensor_msgs/msg/Image"),
                   ("camera_info", "sensor_msgs/msg/CameraInfo"), ("points", "sensor_msgs/msg/PointCloud2")):
        msgs = got[f"/camera/depth_enhanced/{k}"]
        assert len(msgs) == 3 and msgs[0][0] == typ
    img = deserialize_message(got["/camera/depth_enhanced/image_rect"][1][1], Image)
    assert img.encoding == "32FC1" and img.header.stamp.nanosec == 100_000_000 and img.header.frame_id == "cam"
    depth = np.frombuffer(bytes(img.data), "<f4").reshape(60, 80)
    f, raw = seq[1]
    ok = np.isfinite(depth)
    assert ok.mean() > 0.9 and np.median(np.abs(depth[ok] - f.depth[ok])) < 0.05


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_bag_with_workers_writes_what_one_at_a_time_writes(tmp_path, storage):
    """--workers 3: frames enhanced at once (the learned model), each frame's outputs written as it finishes; the
    bag read back holds the same messages in the same order as with one worker."""
    write_bag(tmp_path / "in", frames(7), storage)
    enh = DepthEnhancer(backend="onnxruntime")
    got = {}
    for workers in (1, 3):
        out = tmp_path / f"out{workers}"
        s = enhance_bag(tmp_path / "in", out, TOPICS["rgb"], TOPICS["depth"], TOPICS["info"], progress=False,
                        enhancer=enh, workers=workers)
        assert s["processed"] == 7 and s["failed"] == 0, s
        got[workers] = read_all(out)
    import importlib

    def messages(bag):  # deserialised: CDR alignment padding is not zeroed, so the bytes can differ there
        def cls(typ):  # "sensor_msgs/msg/Image" -> sensor_msgs.msg.Image
            pkg, _, name = typ.split("/")
            return getattr(importlib.import_module(f"{pkg}.msg"), name)

        return {t: [deserialize_message(raw, cls(typ)) for typ, raw in msgs] for t, msgs in bag.items()}

    assert messages(got[3]) == messages(got[1]) and len(got[1]["/camera/depth_enhanced/image_rect"]) == 7
    with pytest.raises(ValueError, match="workers"):
        enhance_bag(tmp_path / "in", tmp_path / "out0", TOPICS["rgb"], TOPICS["depth"], TOPICS["info"],
                    progress=False, enhancer=enh, workers=0)


def test_bag_refuses_overwrite_and_bad_topics(tmp_path):
    write_bag(tmp_path / "in", frames(1))
    (tmp_path / "out").mkdir()
    with pytest.raises(BagError, match="refusing to overwrite"):
        enhance_bag(tmp_path / "in", tmp_path / "out", *TOPICS.values(), method="raw", progress=False)
    with pytest.raises(BagError, match="not in"):
        enhance_bag(tmp_path / "in", tmp_path / "out2", "/nope", TOPICS["depth"], TOPICS["info"], method="raw",
                    progress=False)
    with pytest.raises(BagError, match="cannot open"):
        enhance_bag(tmp_path / "missing", tmp_path / "out3", *TOPICS.values(), method="raw", progress=False)


def test_truncated_bag_stops_clearly_and_leaves_readable_output(tmp_path):
    from perfecting_depth_ros.cli import main

    args = ["--method", "raw", "--rgb", TOPICS["rgb"], "--depth", TOPICS["depth"], "--info", TOPICS["info"]]
    # sqlite3 cut short: opens, then fails part way -> error, and the output holds what came before
    write_bag(tmp_path / "in", frames(6), StoragePlugin.SQLITE3, extra_topic=False)
    db = next((tmp_path / "in").glob("*.db3"))
    data = db.read_bytes()
    db.write_bytes(data[: int(len(data) * 0.5)])
    rc = main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), *args])
    assert rc == 2
    if (tmp_path / "out").exists():  # partial output opens and reads
        read_all(tmp_path / "out")
    # mcap without its footer cannot be opened: a clear error, exit code 2, nothing half-written
    write_bag(tmp_path / "in2", frames(3), StoragePlugin.MCAP, extra_topic=False)
    mcap = next((tmp_path / "in2").glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[:-200])
    assert main(["bag", str(tmp_path / "in2"), str(tmp_path / "out2"), *args]) == 2
    assert not (tmp_path / "out2").exists()


def test_bag_tool_and_node_publish_the_same(tmp_path):
    """Same input through the live node (its own process, over DDS) and through the bag tool."""
    from rclpy.executors import SingleThreadedExecutor

    from perfecting_depth_ros.node.harness import Collector, Player, finish, handshake, spin_until, start_node

    seq = frames(1)
    write_bag(tmp_path / "in", seq)
    enhance_bag(tmp_path / "in", tmp_path / "out", *TOPICS.values(), method="guided_fill", progress=False)
    bag_depth = deserialize_message(read_all(tmp_path / "out")["/camera/depth_enhanced/image_rect"][0][1], Image)
    rclpy.init()
    proc = start_node(ROOT / "config" / "enhancer.yaml", "/camera", params={"method": "guided_fill"},
                      log_path=tmp_path / "node.log")
    player, coll = Player("/camera"), Collector("/camera")
    ex = SingleThreadedExecutor()
    ex.add_node(player)
    ex.add_node(coll)
    try:
        f, raw = seq[0]
        assert handshake(ex, player, coll, f.rgb, raw, f.K)
        player.publish(f.rgb, raw, f.K, 1_000_000_000, frame_id="cam")
        assert spin_until(ex, lambda: 1_000_000_000 in coll.complete_stamps(), 20)
        live = coll.msgs["depth"][1_000_000_000]
    finally:
        finish(proc, ex, player, coll)
    assert (live.height, live.width, live.encoding, live.header.frame_id) == \
        (bag_depth.height, bag_depth.width, bag_depth.encoding, bag_depth.header.frame_id)
    assert bytes(live.data) == bytes(bag_depth.data)


def test_bag_with_compressed_topics_gives_the_raw_bags_output(tmp_path):
    """A bag recorded over image_transport's compressed (PNG colour) and compressedDepth (RVL) topics is enhanced
    like the same frames recorded raw; the outputs go beside the camera's topics, not under the transport's."""
    import cv2
    from test_compressed import compressed_depth_payload

    seq = frames(2)
    write_bag(tmp_path / "raw", seq, extra_topic=False)
    ts = get_typestore(Stores.ROS2_JAZZY)
    Compressed = ts.types["sensor_msgs/msg/CompressedImage"]
    topics = {"rgb": TOPICS["rgb"] + "/compressed", "depth": TOPICS["depth"] + "/compressedDepth",
              "info": TOPICS["info"]}
    w = Writer(tmp_path / "comp", version=9, storage_plugin=StoragePlugin.MCAP)
    w.open()
    c = {k: w.add_connection(t, "sensor_msgs/msg/CameraInfo" if k == "info" else "sensor_msgs/msg/CompressedImage",
                             typestore=ts) for k, t in topics.items()}
    for i, (f, raw) in enumerate(seq):
        stamp = 1_000_000_000 + i * 100_000_000
        h = make_header(stamp, "cam")
        header = ts.types["std_msgs/msg/Header"](stamp=ts.types["builtin_interfaces/msg/Time"](sec=1, nanosec=i * 100_000_000),
                                                 frame_id="cam")
        mm = np.clip(np.round(raw * 1000), 0, 65535).astype(np.uint16)
        rgb = Compressed(header=header, format="rgb8; png compressed bgr8",
                         data=cv2.imencode(".png", np.ascontiguousarray(f.rgb[..., ::-1]))[1].ravel())
        depth = Compressed(header=header, format="16UC1; compressedDepth rvl",
                           data=np.frombuffer(compressed_depth_payload(mm, "16UC1", "rvl"), np.uint8))
        w.write(c["info"], stamp, serialize_message(make_info(f.K, 60, 80, h)))
        w.write(c["rgb"], stamp + 1000, ts.serialize_cdr(rgb, "sensor_msgs/msg/CompressedImage"))
        w.write(c["depth"], stamp + 2000, ts.serialize_cdr(depth, "sensor_msgs/msg/CompressedImage"))
    w.close()
    a = enhance_bag(tmp_path / "raw", tmp_path / "raw_out", *TOPICS.values(), method="guided_fill", progress=False)
    b = enhance_bag(tmp_path / "comp", tmp_path / "comp_out", *topics.values(), method="guided_fill", progress=False)
    assert a["processed"] == b["processed"] == 2 and b["output_topics"] == a["output_topics"]
    got_a, got_b = read_all(tmp_path / "raw_out"), read_all(tmp_path / "comp_out")
    from sensor_msgs.msg import PointCloud2

    for k, typ in (("image_rect", Image), ("uncertainty", Image), ("points", PointCloud2)):
        t = f"/camera/depth_enhanced/{k}"
        for (_, x), (_, y) in zip(got_a[t], got_b[t], strict=True):
            x, y = deserialize_message(x, typ), deserialize_message(y, typ)
            assert x.header == y.header and (x.height, x.width) == (y.height, y.width)
            assert bytes(x.data) == bytes(y.data)


def test_unregistered_depth_is_warned_about(tmp_path, capsys):
    from perfecting_depth_ros.cli import main

    write_bag(tmp_path / "in", frames(1), depth_frame="cam_depth")
    rc = main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--method", "guided_fill", "--rgb", TOPICS["rgb"],
               "--depth", TOPICS["depth"], "--info", TOPICS["info"]])
    err = capsys.readouterr().err
    assert rc == 0 and "warning: depth frame_id 'cam_depth' is not the colour's 'cam'" in err
    rc = main(["check", "--bag", str(tmp_path / "in"), "--draws", "1", "--methods", "inpaint_ns"])
    assert rc == 0 and "warning: depth frame_id 'cam_depth'" in capsys.readouterr().err  # check says so too
    # millimetre depth read with depth_scale 1 (metres per unit): the units named once, the bag still written
    write_bag(tmp_path / "in2", frames(2))
    rc = main(["bag", str(tmp_path / "in2"), str(tmp_path / "out2"), "--method", "guided_fill", "--rgb",
               TOPICS["rgb"], "--depth", TOPICS["depth"], "--info", TOPICS["info"], "--depth-scale", "1"])
    err = capsys.readouterr().err
    assert rc == 0 and err.count("warning: depth units implausible") == 1 and "depth_scale is 1 m per 16UC1" in err
    # a black colour guide (lights off, a covered lens): enhanced, and said once, as the node's diagnostics warn
    dark = [(dataclasses.replace(f, rgb=np.zeros_like(f.rgb)), raw) for f, raw in frames(2)]
    write_bag(tmp_path / "in3", dark)
    rc = main(["bag", str(tmp_path / "in3"), str(tmp_path / "out3"), "--rgb", TOPICS["rgb"], "--depth",
               TOPICS["depth"], "--info", TOPICS["info"]])
    out, err = capsys.readouterr()
    assert rc == 0 and "2 of 2 depth frames enhanced" in out and err.count("warning: colour guide black") == 1, err


def test_camera_info_recorded_once(tmp_path):
    """A bag whose camera_info was recorded once: matched by stamp only its first frame is enhanced (the rest are
    reported unmatched); with info_sync="latest" every frame is."""
    write_bag(tmp_path / "in", frames(3), info_every=3)
    a = enhance_bag(tmp_path / "in", tmp_path / "a", *TOPICS.values(), method="guided_fill", progress=False)
    b = enhance_bag(tmp_path / "in", tmp_path / "b", *TOPICS.values(), method="guided_fill", progress=False,
                    info_sync="latest")
    assert (a["processed"], a["unmatched_or_dropped"]) == (1, 2)
    assert (b["processed"], b["unmatched_or_dropped"]) == (3, 0)
    infos = [deserialize_message(m, CameraInfo) for _, m in read_all(tmp_path / "b")["/camera/depth_enhanced/camera_info"]]
    assert [i.header.stamp.nanosec for i in infos] == [0, 100_000_000, 200_000_000]  # each frame's own stamp


def test_same_output_for_classical_enhancer_in_process():
    f, raw = frames(1)[0]
    a = DepthEnhancer("guided_fill").enhance(f.rgb, raw)
    b = DepthEnhancer("guided_fill").enhance(f.rgb, raw)
    np.testing.assert_array_equal(a.depth, b.depth)


def _write_image_folders(root, n: int) -> None:
    """``n`` rendered frames as root/rgb/NNN.png (BGR files) and root/depth/NNN.png (16-bit millimetres)."""
    import cv2

    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for i, (f, raw) in enumerate(frames(n)):
        cv2.imwrite(str(root / "rgb" / f"{i:03d}.png"), f.rgb[..., ::-1])
        cv2.imwrite(str(root / "depth" / f"{i:03d}.png"), np.round(raw * 1000).astype(np.uint16))


def test_enhance_files_command(tmp_path, capsys):
    import cv2

    from perfecting_depth_ros.cli import main

    _write_image_folders(tmp_path, 2)
    rc = main(["enhance", "--rgb", str(tmp_path / "rgb"), "--depth", str(tmp_path / "depth"), "--out", str(tmp_path / "out"),
               "--method", "guided_fill", "--intrinsics", "60,60,39.5,29.5"])
    assert rc == 0 and "depth units implausible" not in capsys.readouterr().err
    d = np.load(tmp_path / "out" / "001_depth.npy")
    assert d.shape == (60, 80) and np.isfinite(d).mean() > 0.9
    png = cv2.imread(str(tmp_path / "out" / "001_depth.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and abs(int(png[30, 40]) - round(float(d[30, 40]) * 1000)) <= 1
    assert (tmp_path / "out" / "001.ply").read_bytes().startswith(b"ply\nformat binary_little_endian")
    assert (tmp_path / "out" / "000_panel.png").exists()
    src = cv2.imread(str(tmp_path / "out" / "001_source.png"), cv2.IMREAD_UNCHANGED)
    raw = cv2.imread(str(tmp_path / "depth" / "001.png"), cv2.IMREAD_UNCHANGED)
    assert src.dtype == np.uint8 and np.all(src[raw > 0] == 1) and np.all(src[(raw == 0) & np.isfinite(d)] == 3)
    assert main(["enhance", "--rgb", str(tmp_path / "rgb"), "--depth", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    bad_range = ["enhance", "--rgb", str(tmp_path / "rgb"), "--depth", str(tmp_path / "depth"), "--out", str(tmp_path / "o2"),
                 "--method", "guided_fill", "--max-range", "-3"]
    # millimetre PNGs read as metres: the units named once, the frames still written
    assert main(["enhance", "--rgb", str(tmp_path / "rgb"), "--depth", str(tmp_path / "depth"), "--out",
                 str(tmp_path / "o3"), "--method", "guided_fill", "--depth-scale", "1"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: depth units implausible") == 1 and "depth_scale is 1 m per 16UC1 unit" in err
    assert (tmp_path / "o3" / "001_depth.npy").exists()
    assert main(bad_range) == 2  # a negative sensor range is a clear error, not a silent default
    # --workers 3: the same files, the lines in the frames' order
    _write_image_folders(tmp_path / "many", 7)
    runs = {}
    for w in (1, 3):
        assert main(["enhance", "--rgb", str(tmp_path / "many" / "rgb"), "--depth", str(tmp_path / "many" / "depth"),
                     "--out", str(tmp_path / f"w{w}"), "--workers", str(w)]) == 0
        runs[w] = [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if "% valid" in line]
        for i in range(7):
            np.testing.assert_array_equal(np.load(tmp_path / f"w{w}" / f"{i:03d}_depth.npy"),
                                          np.load(tmp_path / "w1" / f"{i:03d}_depth.npy"))
    assert runs[3] == runs[1] == [f"{i:03d}.png" for i in range(7)], runs
    assert main(["enhance", "--rgb", str(tmp_path / "rgb"), "--depth", str(tmp_path / "depth"), "--out",
                 str(tmp_path / "o4"), "--workers", "0"]) == 2


def test_enhance_runs_the_shipped_model_with_and_without_the_hole_fusion(tmp_path):
    import cv2

    from perfecting_depth_ros.cli import main

    _write_image_folders(tmp_path, 1)
    common = ["enhance", "--rgb", str(tmp_path / "rgb"), "--depth", str(tmp_path / "depth")]
    assert main([*common, "--out", str(tmp_path / "on")]) == 0
    assert main([*common, "--out", str(tmp_path / "off"), "--no-hole-fusion"]) == 0
    on, off = np.load(tmp_path / "on" / "000_depth.npy"), np.load(tmp_path / "off" / "000_depth.npy")
    raw = cv2.imread(str(tmp_path / "depth" / "000.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
    kept = (raw > 0) & np.isclose(off, raw, rtol=0, atol=1e-5)  # measurements the model kept as they are
    assert np.isfinite(on).all() and np.isfinite(off).all() and kept.mean() > 0.5
    assert (on != off).any() and not (on != off)[kept].any()  # the fusion changes rebuilt pixels only


def test_bag_tool_takes_the_node_output_options(tmp_path):
    from perfecting_depth_ros.cli import main

    write_bag(tmp_path / "in", frames(2))
    base = ["bag", str(tmp_path / "in"), "--method", "guided_fill", "--rgb", TOPICS["rgb"], "--depth", TOPICS["depth"],
            "--info", TOPICS["info"]]
    assert main(base + [str(tmp_path / "out"), "--output-encoding", "16UC1", "--depth-max-sigma", "0.05"]) == 0
    got = read_all(tmp_path / "out")
    img = deserialize_message(got["/camera/depth_enhanced/image_rect"][0][1], Image)
    sig = deserialize_message(got["/camera/depth_enhanced/uncertainty"][0][1], Image)
    mm = np.frombuffer(bytes(img.data), "<u2").reshape(60, 80)
    sigma = np.frombuffer(bytes(sig.data), "<f4").reshape(60, 80)
    assert img.encoding == "16UC1" and (mm[sigma > 0.05] == 0).all() and (mm[sigma <= 0.05] > 0).mean() > 0.99
    assert main(base + [str(tmp_path / "out2"), "--depth-scale", "0"]) == 2  # a clear refusal, nothing written
    assert not (tmp_path / "out2").exists()
    assert main(base + [str(tmp_path / "out3"), "--sigma-scale", "3"]) == 0  # the node's sigma_scale
    got3 = read_all(tmp_path / "out3")
    sig3 = deserialize_message(got3["/camera/depth_enhanced/uncertainty"][0][1], Image)
    np.testing.assert_allclose(np.frombuffer(bytes(sig3.data), "<f4").reshape(60, 80), 3 * sigma, rtol=1e-6)
    assert main(base + [str(tmp_path / "out4"), "--sigma-scale", "-1"]) == 2
    assert main(base + [str(tmp_path / "out_w0"), "--workers", "0"]) == 2 and not (tmp_path / "out_w0").exists()
    assert main(base + [str(tmp_path / "out_w2"), "--workers", "2", "--sigma-scale", "3"]) == 0
    sig7 = deserialize_message(read_all(tmp_path / "out_w2")["/camera/depth_enhanced/uncertainty"][0][1], Image)
    assert sig7 == sig3
    # the node's cloud_decimation: every 3rd row and column of the full cloud, organised
    from sensor_msgs.msg import PointCloud2

    from perfecting_depth_ros.node.convert import cloud_to_array

    assert main(base + [str(tmp_path / "out5"), "--cloud-decimation", "3"]) == 0
    full = cloud_to_array(deserialize_message(read_all(tmp_path / "out3")["/camera/depth_enhanced/points"][0][1],
                                              PointCloud2))
    dec = deserialize_message(read_all(tmp_path / "out5")["/camera/depth_enhanced/points"][0][1], PointCloud2)
    assert (dec.height, dec.width) == (20, 27)
    sub = cloud_to_array(dec)
    for f in ("x", "y", "z", "rgb"):
        np.testing.assert_allclose(sub[f], full[f][::3, ::3], rtol=1e-6, atol=1e-7, equal_nan=True)
    assert main(base + [str(tmp_path / "out6"), "--cloud-decimation", "0"]) == 2
    # the depth as compressedDepth, in place of the Image: what the node publishes on image_rect/compressedDepth
    from sensor_msgs.msg import CompressedImage

    from perfecting_depth_ros.node.compressed import compressed_to_depth

    assert main(base + [str(tmp_path / "out9"), "--compressed-depth-max", "10"]) == 0
    got9 = read_all(tmp_path / "out9")
    assert "/camera/depth_enhanced/image_rect" not in got9
    msg = deserialize_message(got9["/camera/depth_enhanced/image_rect/compressedDepth"][0][1], CompressedImage)
    plain = deserialize_message(got3["/camera/depth_enhanced/image_rect"][0][1], Image)
    want = np.frombuffer(bytes(plain.data), "<f4").reshape(60, 80)
    depth, _ = compressed_to_depth(msg.format, bytes(msg.data))
    assert msg.format == "32FC1; compressedDepth png" and len(got9["/camera/depth_enhanced/points"]) == 2
    ok = np.isfinite(want)
    assert ok.mean() > 0.9 and (depth[~ok] == 0).all()
    np.testing.assert_allclose(depth[ok], want[ok], atol=0, rtol=0.51 * want[ok].max() / 10100)
    assert main(base + [str(tmp_path / "out10"), "--compressed-depth-max", "-1"]) == 2
    # the node's beyond_range_sigmas: with a range, rebuilt depth whose value + 2 sigma passes it is written invalid
    r = float(np.nanpercentile(want, 60))
    assert main(base + [str(tmp_path / "out11"), "--max-range", str(r), "--beyond-range-sigmas", "2"]) == 0
    got11 = read_all(tmp_path / "out11")
    d11 = np.frombuffer(bytes(deserialize_message(got11["/camera/depth_enhanced/image_rect"][0][1], Image).data),
                        "<f4").reshape(60, 80)
    drop = (frames(1)[0][1] <= 0) & (want + 2 * sigma > r)
    assert drop.any() and np.isnan(d11[drop]).all()
    np.testing.assert_array_equal(d11[~drop], want[~drop])
    assert main(base + [str(tmp_path / "out12"), "--beyond-range-sigmas", "-1"]) == 2
    # the node's below_range_sigmas: with a minimum range, rebuilt depth whose value - 1 sigma reaches below it too
    r = float(np.nanpercentile(want, 40))
    assert main(base + [str(tmp_path / "out13"), "--min-range", str(r), "--below-range-sigmas", "1"]) == 0
    got13 = read_all(tmp_path / "out13")
    d13 = np.frombuffer(bytes(deserialize_message(got13["/camera/depth_enhanced/image_rect"][0][1], Image).data),
                        "<f4").reshape(60, 80)
    drop = (frames(1)[0][1] <= 0) & (want - sigma < r)
    assert drop.any() and np.isnan(d13[drop]).all()
    np.testing.assert_array_equal(d13[~drop], want[~drop])
    assert main(base + [str(tmp_path / "out14"), "--below-range-sigmas", "-1"]) == 2
    assert main(base + [str(tmp_path / "out15"), "--min-range", "-1"]) == 2
    # the node's rectified: false: a bag of raw images whose camera_info has a distortion; the cloud undoes it
    from perfecting_depth_ros.node.convert import raw_image_geometry

    write_bag(tmp_path / "raw", frames(1), distortion=[-0.3, 0.1, 0.0, 0.0, 0.0])
    raw_base = [a if a != str(tmp_path / "in") else str(tmp_path / "raw") for a in base]
    assert main(raw_base + [str(tmp_path / "out7"), "--unrectified"]) == 0
    assert main(raw_base + [str(tmp_path / "out8")]) == 0
    got7, got8 = read_all(tmp_path / "out7"), read_all(tmp_path / "out8")
    c7, c8 = (cloud_to_array(deserialize_message(g["/camera/depth_enhanced/points"][0][1], PointCloud2))
              for g in (got7, got8))
    info = deserialize_message(got7["/camera/depth_enhanced/camera_info"][0][1], CameraInfo)
    rays = raw_image_geometry(info, (60, 80))[1]
    ok = np.isfinite(c7["z"])
    np.testing.assert_allclose(c7["x"][ok], (c7["z"] * rays[..., 0])[ok], rtol=1e-5)
    np.testing.assert_array_equal(c7["z"], c8["z"])  # the same depth, other rays
    assert np.nanmax(np.abs(c7["x"] - c8["x"])) > 0.05


def test_bag_footprint_frames_leave_out_the_border_the_sensor_never_measures(tmp_path):
    """--footprint-frames: the node's footprint_frames, counted in bag order, so workers write the same bag."""
    from perfecting_depth_ros.cli import main

    y, x = np.mgrid[:60, :80]
    outline = np.abs(x - 39.5) / 40 + np.abs(y - 29.5) / 30 < 1.4  # corners cut off, as an Azure Kinect's
    write_bag(tmp_path / "in", [(f, np.where(outline, raw, 0)) for f, raw in frames(4)])
    base = ["bag", str(tmp_path / "in"), "--method", "inpaint_ns", "--rgb", TOPICS["rgb"], "--depth", TOPICS["depth"],
            "--info", TOPICS["info"], "--footprint-frames", "2"]
    assert main(base + [str(tmp_path / "out")]) == 0
    assert main(base + [str(tmp_path / "out_w3"), "--workers", "3"]) == 0
    assert main(base[:-2] + [str(tmp_path / "out_neg"), "--footprint-frames", "-1"]) == 2
    got = {}
    for name in ("out", "out_w3"):
        msgs = read_all(tmp_path / name)
        depth = [np.frombuffer(bytes(deserialize_message(raw, Image).data), "<f4").reshape(60, 80)
                 for _, raw in msgs["/camera/depth_enhanced/image_rect"]]
        src = [np.frombuffer(bytes(deserialize_message(raw, Image).data), np.uint8).reshape(60, 80)
               for _, raw in msgs["/camera/depth_enhanced/source"]]
        assert len(depth) == 4 and np.isfinite(depth[0][~outline]).all()  # one frame: nothing left out yet
        for d, s in zip(depth[1:], src[1:]):
            assert np.isnan(d[~outline]).all() and (s[~outline] == 0).all()
            assert np.isfinite(d[outline]).mean() > 0.9
        got[name] = np.stack(depth)
    np.testing.assert_array_equal(got["out_w3"], got["out"])  # NaN where NaN (the bytes' CDR padding may differ)
