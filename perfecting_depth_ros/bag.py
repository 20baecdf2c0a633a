"""`perfecting-depth bag IN OUT`: enhance a rosbag2 recording (sqlite3 or mcap) into a new bag.

Colour and depth topics may be raw Images or image_transport's compressed / compressedDepth CompressedImages
(decoded as the node decodes them).

The new bag holds every original message unchanged plus the node's output topics with the same names,
types and header stamps the live node publishes. Messages are read with ``rosbags``, synchronised with
the node's FrameSynchronizer, converted with the node's own functions and serialised by rclpy, so for
the same input the bag tool and the node publish the same output (a test checks it). Offline nothing is
dropped: every matched set is processed.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import numpy as np

OUTPUT_TYPES = {"image_rect": "sensor_msgs/msg/Image", "uncertainty": "sensor_msgs/msg/Image",
                "camera_info": "sensor_msgs/msg/CameraInfo", "points": "sensor_msgs/msg/PointCloud2",
                "source": "sensor_msgs/msg/Image"}
COMPRESSED_DEPTH = "image_rect/compressedDepth"  # written instead of image_rect with compressed_depth_max set



class BagError(RuntimeError):
    """The input bag cannot be read (missing, corrupt, truncated) or the output cannot be written."""


def frame_outputs(enhancer, rgb_msg, depth_msg, info_msg, depth_scale: float = 0.001, max_sigma: float = 0.0,
                  depth_max_sigma: float = 0.0, encoding: str = "32FC1", cloud_decimation: int = 1,
                  warnings: list | None = None, rectified: bool = True,
                  compressed_depth_max: float | None = None, leave_out: np.ndarray | None = None) -> dict:
    """Convert one synchronised set exactly as the node does, enhance it, and build the node's messages (the node's
    ``depth_scale``, ``max_sigma``, ``depth_max_sigma``, ``output_encoding``, ``cloud_decimation``, ``rectified``
    and, for image_rect/compressedDepth too, ``compressed_depth_max``). A depth in implausible units is named in
    ``warnings`` (once per kind), as the node reports it. ``leave_out``: pixels whose rebuilt depth is given no value
    (``SensorFootprint``: the node's ``footprint_frames``)."""
    from .dark_guide import BLACK_P99
    from .enhancer import drop_rebuilt
    from .io import match_depth_size
    from .node import convert

    depth, _ = convert.image_to_depth(depth_msg, depth_scale)
    _warn_once(warnings, convert.depth_units_warning(depth, convert.encoding_of(depth_msg), depth_scale))
    rgb = match_depth_size(convert.image_to_rgb(rgb_msg), depth.shape)
    K, rays = convert.cloud_geometry(info_msg, depth.shape, rectified)
    out = enhancer.enhance(rgb, depth)
    if out.guide_brightness < BLACK_P99:  # as the node's diagnostics warn
        _warn_once(warnings, f"colour guide black: frames enhanced without a colour cue (99th-percentile brightness "
                             f"{out.guide_brightness:.0f} of 255 at stamp {depth_msg.header.stamp.sec}."
                             f"{depth_msg.header.stamp.nanosec:09d}; lights off, a covered lens, or the wrong rgb "
                             "topic?)")
    if leave_out is not None:
        out.depth, out.uncertainty, out.source = drop_rebuilt(out.depth, out.uncertainty, out.source, leave_out)
    return convert.output_messages(out, rgb, K, info_msg, _rclpy_header(depth_msg.header), max_sigma,
                                   depth_max_sigma=depth_max_sigma, encoding=encoding,
                                   cloud_decimation=cloud_decimation, rays=rays,
                                   compressed_depth_max=compressed_depth_max)


def _warn_once(warnings: list | None, warning: str) -> None:
    """Add ``warning`` to ``warnings`` unless one of its kind (the text before its first colon) is there already."""
    if warning and warnings is not None and not any(w.split(":")[0] == warning.split(":")[0] for w in warnings):
        warnings.append(warning)


def open_bag(path: str | Path, topics) -> tuple:
    """An open rosbags Reader and its connections by topic; BagError when the bag cannot be opened or lacks one of
    ``topics`` (the reader is closed then)."""
    from rosbags.rosbag2 import Reader

    try:
        reader = Reader(Path(path))
        reader.open()
    except Exception as e:  # rosbags raises ReaderError and friends for missing/corrupt metadata
        raise BagError(f"cannot open bag {path}: {e}") from e
    conns = {c.topic: c for c in reader.connections}
    for t in topics:
        if t not in conns:
            reader.close()
            raise BagError(f"topic {t} not in {path}; it has: {', '.join(sorted(conns))}")
    return reader, conns


def output_version(inp: Path) -> int:
    """The rosbag2 metadata version to write: 9 for an input of version 9 or later, else 8 (what the writer offers
    closest to older distros: version 9 stores the QoS profiles as a YAML list, where older rosbag2, Humble's among
    them (its bags are version 5), reads a string; version 8 keeps them a string)."""
    import yaml

    try:
        meta = yaml.safe_load((inp / "metadata.yaml").read_text())
        version = int(meta["rosbag2_bagfile_information"]["version"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return 9
    return 9 if version >= 9 else 8


def _rclpy_header(h):
    from std_msgs.msg import Header

    out = Header()
    out.stamp.sec, out.stamp.nanosec = int(h.stamp.sec), int(h.stamp.nanosec)
    out.frame_id = str(h.frame_id)
    return out


def enhance_bag(inp: str | Path, outp: str | Path, rgb_topic: str, depth_topic: str, info_topic: str,
                out_prefix: str = "", method: str = "learned", slop: float = 0.02, progress: bool = True,
                enhancer=None, max_range_m: float | None = None, outputs: dict | None = None,
                info_sync: str = "stamp", workers: int = 1) -> dict:
    """Process a bag; return a summary dict. Raises BagError with a clear message on unreadable input.

    ``outputs``: keyword arguments of ``frame_outputs`` (depth_scale, max_sigma, depth_max_sigma, encoding,
    cloud_decimation, rectified, compressed_depth_max: the depth written as compressedDepth instead of an Image), and
    footprint_frames (the node's: after that many frames, rebuilt pixels at the border no frame measured get no value;
    the frames are counted in bag order, whatever ``workers``).
    ``info_sync``: the node's camera_info_sync ("latest" for a bag with camera_info recorded rarely or once).
    ``workers``: frames enhanced at once (the node's ``workers``: the graph one at a time, the work around it in
    parallel); the outputs are the same, written as each frame finishes, in frame order."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    from tqdm import tqdm

    from .enhancer import SOURCE_NAMES, DepthEnhancer
    from .footprint import SensorFootprint
    from .node import convert
    from .node.convert import image_topic_of, registration_warning
    from .node.sync import FrameSynchronizer

    if not 1 <= workers <= 64:
        raise ValueError(f"workers must be 1-64, got {workers}")
    outputs = dict(outputs or {})
    frames = outputs.pop("footprint_frames", 0)
    footprint = SensorFootprint(frames) if frames else None
    inp, outp = Path(inp), Path(outp)
    if outp.exists():
        raise BagError(f"{outp} exists; refusing to overwrite (choose another output path)")
    reader, _ = open_bag(inp, (rgb_topic, depth_topic, info_topic))
    typestore = get_typestore(Stores.ROS2_JAZZY)
    base = out_prefix or image_topic_of(depth_topic).rsplit("/", 2)[0]  # /camera/depth_registered/image_rect -> /camera
    types = dict(OUTPUT_TYPES)
    if outputs.get("compressed_depth_max") is not None:  # as `ros2 bag record` of the transport's topic
        del types["image_rect"]
        types[COMPRESSED_DEPTH] = "sensor_msgs/msg/CompressedImage"
    out_topics = {k: f"{base.rstrip('/')}/depth_enhanced/{k}" for k in types}
    enh = enhancer or DepthEnhancer(method, max_range_m=max_range_m)
    sync = FrameSynchronizer("approximate", slop, queue_size=30, info_sync=info_sync)
    key_of = {rgb_topic: "rgb", depth_topic: "depth", info_topic: "info"}
    storage = StoragePlugin.MCAP if any(p.suffix == ".mcap" for p in inp.iterdir()) else StoragePlugin.SQLITE3
    writer = Writer(outp, version=output_version(inp), storage_plugin=storage)
    writer.open()
    stats = {"messages": 0, "frames_in": 0, "processed": 0, "failed": 0, "errors": [], "warnings": [],
             "truncated": False}
    labels = np.zeros(len(SOURCE_NAMES), np.int64)  # depth_enhanced/source pixels written, by label
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    pending: deque = deque()  # frames being enhanced, oldest first: (outputs or their future, log time, warnings)

    def finish(job) -> None:
        """Write one frame's outputs (or count its failure), in the order the frames were taken."""
        nonlocal labels
        outs, log_ts, warned = job
        try:
            outs = outs.result() if pool is not None else outs()
        except ValueError as e:
            stats["failed"] += 1
            stats["errors"].append(str(e))
            return
        finally:
            for w in warned:  # once per kind, as frame_outputs names them
                _warn_once(stats["warnings"], w)
        for k, m in outs.items():
            if k in out_conns:  # image_rect is built for the rest (the cloud) but not written when compressed
                writer.write(out_conns[k], log_ts, serialize_message(m))
        if "source" in outs:
            labels += np.bincount(np.frombuffer(bytes(outs["source"].data), np.uint8), minlength=4)[:4]
        stats["processed"] += 1

    t0 = time.monotonic()
    try:
        conns = {}
        for c in reader.connections:
            # keep the original definition when the bag has one, else take it from the typestore
            have_def = bool(c.msgdef and c.msgdef.data and c.digest)
            conns[c.id] = writer.add_connection(
                c.topic, c.msgtype, typestore=None if have_def else typestore,
                msgdef=c.msgdef.data if have_def else None, rihs01=c.digest if have_def else None,
                serialization_format=getattr(c.ext, "serialization_format", "cdr"),
                offered_qos_profiles=getattr(c.ext, "offered_qos_profiles", ()))
        out_conns = {k: writer.add_connection(t, types[k], typestore=typestore) for k, t in out_topics.items()}
        bar = tqdm(total=reader.message_count, desc="bag", unit="msg", disable=not progress)
        it = reader.messages()
        while True:
            try:
                conn, ts, raw = next(it)
            except StopIteration:
                break
            except Exception as e:  # truncated or corrupt storage: stop, keep what was written
                stats["truncated"] = True
                stats["errors"].append(f"input bag is truncated or corrupt after {stats['messages']} messages: {e}")
                break
            writer.write(conns[conn.id], ts, raw)
            stats["messages"] += 1
            bar.update(1)
            key = key_of.get(conn.topic)
            if key is None:
                continue
            msg = typestore.deserialize_cdr(raw, conn.msgtype)
            stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
            if key == "depth":
                stats["frames_in"] += 1
            sync.add(key, stamp, (ts, msg))
            s = sync.take(0)
            if s is None:
                continue
            warning = registration_warning(str(s.rgb[1].header.frame_id), str(s.depth[1].header.frame_id))
            if warning and warning not in stats["warnings"]:
                stats["warnings"].append(warning)
            warned: list[str] = []  # this frame's own (frames may be enhanced at once)
            leave_out = None
            if footprint is not None:  # counted here, in bag order, so that workers do not change what is left out
                try:
                    leave_out = footprint.update(convert.image_to_depth(s.depth[1], outputs.get("depth_scale", 0.001))[0])
                except ValueError:
                    pass  # an undecodable depth: frame_outputs fails it and says why
            job = functools.partial(frame_outputs, enh, s.rgb[1], s.depth[1], s.info[1], **outputs, warnings=warned,
                                    leave_out=leave_out)
            pending.append((pool.submit(job) if pool is not None else job, max(s.depth[0], s.rgb[0], s.info[0]),
                            warned))
            while len(pending) > (workers - 1 if pool is None else 2 * workers):  # bounded: frames hold images
                finish(pending.popleft())
        while pending:
            finish(pending.popleft())
        bar.close()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        writer.close()
        reader.close()
    dt = time.monotonic() - t0
    stats.update({"unmatched_or_dropped": stats["frames_in"] - stats["processed"] - stats["failed"],
                  "seconds": round(dt, 2), "frames_per_s": round(stats["processed"] / max(dt, 1e-9), 2),
                  "output_topics": list(out_topics.values()), "method": enh.description})
    if labels.sum():  # what the written depth is made of, over every frame (enhancer.SOURCE_NAMES)
        stats["source_shares"] = {k: float(n / labels.sum()) for k, n in zip(SOURCE_NAMES, labels)}
    return stats


def main(args) -> int:
    from .offline import enhancer_from_args

    try:
        if (not args.depth_scale > 0 or args.max_sigma < 0 or args.depth_max_sigma < 0 or args.cloud_decimation < 1
                or args.compressed_depth_max < 0):
            raise ValueError("--depth-scale must be positive, --max-sigma, --depth-max-sigma and "
                             "--compressed-depth-max not negative, --cloud-decimation at least 1")
        enh = enhancer_from_args(args)
        if args.footprint_frames < 0:
            raise ValueError("--footprint-frames must not be negative")
        outputs = {"depth_scale": args.depth_scale, "max_sigma": args.max_sigma,
                   "depth_max_sigma": args.depth_max_sigma, "encoding": args.output_encoding,
                   "cloud_decimation": args.cloud_decimation, "rectified": not args.unrectified,
                   "compressed_depth_max": args.compressed_depth_max or None,
                   "footprint_frames": args.footprint_frames}
        s = enhance_bag(args.input, args.output, args.rgb, args.depth, args.info, args.out_prefix, args.method, args.slop,
                        enhancer=enh, outputs=outputs, info_sync=args.info_sync, workers=args.workers)
    except (BagError, ValueError) as e:  # ValueError: a bad --method or --local-window
        print(f"perfecting-depth bag: error: {e}", file=sys.stderr)
        return 2
    print(f"{s['processed']} of {s['frames_in']} depth frames enhanced ({s['failed']} failed, "
          f"{s['unmatched_or_dropped']} without a matching rgb/camera_info) in {s['seconds']} s "
          f"({s['frames_per_s']} frames/s) with {s['method']}; {s['messages']} original messages copied")
    print("new topics: " + ", ".join(s["output_topics"]))
    if "source_shares" in s:
        sh = s["source_shares"]
        print(f"written depth: {sh['measured_kept']:.1%} measured and kept, {sh['measured_replaced']:.1%} measured but "
              f"judged wrong and replaced, {sh['rebuilt']:.1%} rebuilt holes, {sh['no_value']:.1%} without a value")
    for w in s["warnings"]:
        print(f"perfecting-depth bag: warning: {w}", file=sys.stderr)
    for e in s["errors"][:5]:
        print(f"  {e}", file=sys.stderr)
    if s["truncated"]:
        print(f"perfecting-depth bag: error: {s['errors'][-1]}; {args.output} holds what was read before", file=sys.stderr)
        return 2
    return 0
