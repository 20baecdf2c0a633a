"""`perfecting-depth check`: does the enhancer help on *your* camera? A masked hold-out on your own frames.

No ground truth is needed. On each frame, hole-shaped blobs of the valid raw depth (about 10 % of it) are hidden,
every method fills the frame, and the hidden measurements score the fill: the benchmark's real-frame hold-out, run
on your sensor, your scenes and this machine. Per method it reports the MAE and RMSE of the hidden pixels pooled
over all frames and draws, the mean difference of the per-frame MAE to the learned enhancer's (with how many
frame-draws each was lower), the share of hidden-pixel errors within +-2 sigma (methods that give a sigma) and the
median time per frame; for the methods that give a 1-sigma, what a threshold on it (the node's ``depth_max_sigma``
or ``max_sigma``) keeps: the share of the frame and of the hidden pixels, and the MAE of the hidden pixels kept;
and the share of hidden surfaces filled more than ``metrics.ray_tolerance`` too far (an obstacle layer would clear
them) or too near (it would mark a phantom in front of them).

What it cannot measure: raw pixels that look valid but are wrong (glass, mirrors: nothing tells the truth there),
and the real holes themselves (only hidden measurements are scored, so surfaces the sensor does measure). It tells
you whether the fill of measurable surfaces is better on your frames, and what it costs.

Frames come from two folders paired by sorted name (as ``perfecting-depth enhance``) or from a rosbag2 recording
(as ``perfecting-depth bag``), spread evenly over the recording.
"""

from __future__ import annotations

import bisect
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..dark_guide import BLACK_P99, DARK_P99
from ..data.real import holdout_mask
from ..enhancer import SOURCE_NAMES, source_shares
from ..footprint import SensorFootprint
from .metrics import ray_tolerance

SIGMA_THRESHOLDS_M = (0.05, 0.1, 0.2, 0.3, 0.5)  # candidate depth_max_sigma / max_sigma values reported
RGB_WINDOW_NS = 2_000_000_000  # colour images logged within this of a wanted depth image are decoded for matching
FAST = "learned-fast"  # the learned enhancer without the hole fusion (the node's hole_fusion: false)


def _spread(n_total: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(n_total)`` (all of them when there are fewer)."""
    if n_total <= n:
        return list(range(n_total))
    return sorted({int(round(i)) for i in np.linspace(0, n_total - 1, n)})


Frame = tuple[str, Callable[[], tuple[np.ndarray, np.ndarray]]]  # (name, load() -> (RGB uint8, depth metres))


def _same_size(rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from ..io import match_depth_size

    return match_depth_size(rgb, depth.shape), depth


def _units_checked(depth: np.ndarray, warning: str, warned: list) -> np.ndarray:
    """``depth``, after saying once per run (stderr) the node's depth-units ``warning`` if any: a recording in the
    wrong units gives scores and a parameters file for depth 1000x off."""
    if warning and not warned:
        print(f"perfecting-depth check: warning: {warning}", file=sys.stderr)
        warned.append(warning)
    return depth


def _file_depth(path: Path, depth_scale: float, warned: list) -> np.ndarray:
    from ..io import depth_file_units_warning, read_depth

    depth = read_depth(path, depth_scale)
    return _units_checked(depth, depth_file_units_warning(path, depth, depth_scale), warned)


def folder_frames(rgb: str | Path, depth: str | Path, depth_scale: float, frames: int) -> Iterator[Frame]:
    """Up to ``frames`` file pairs spread over the two folders; ``load`` raises ValueError for an unreadable file."""
    from ..io import read_rgb
    from ..offline import paired_files

    rgbs, depths = paired_files(rgb, depth)
    warned: list = []
    for i in _spread(len(depths), frames):
        yield depths[i].name, lambda r=rgbs[i], d=depths[i]: _same_size(read_rgb(r), _file_depth(d, depth_scale, warned))


def bag_frames(path: str | Path, rgb_topic: str, depth_topic: str, depth_scale: float, frames: int,
               slop: float = 0.02) -> Iterator[Frame]:
    """Up to ``frames`` synchronised sets (named by the depth stamp) spread over a rosbag2 recording, converted by
    the node's own functions (``load`` raises ValueError for an image they refuse). Raises bag.BagError when the bag
    or a topic cannot be read."""
    from rosbags.typesys import Stores, get_typestore

    from ..bag import open_bag
    from ..node.convert import image_to_rgb, registration_warning
    from ..node.sync import FrameSynchronizer

    reader, conns = open_bag(path, (rgb_topic, depth_topic))
    warned = False
    units_warned: list = []
    try:
        wanted = set(_spread(max(conns[depth_topic].msgcount, 1), frames))
        # the log times of the wanted depth messages (no decoding): colour images far from all of them are skipped
        # undecoded, so a long recording costs little more than its reading
        near_ts = sorted(ts for k, (_, ts, _) in enumerate(reader.messages(connections=[conns[depth_topic]]))
                         if k in wanted)
        typestore = get_typestore(Stores.ROS2_JAZZY)
        sync = FrameSynchronizer("approximate", slop, queue_size=30)  # the node's matcher
        key_of = {rgb_topic: "rgb", depth_topic: "depth"}
        n_depth = 0
        it = reader.messages(connections=[conns[rgb_topic], conns[depth_topic]])
        while True:
            try:
                conn, ts, raw = next(it)
            except StopIteration:
                break
            except Exception as e:  # truncated or corrupt storage: score what was read before
                print(f"perfecting-depth check: the bag is truncated or corrupt after {n_depth} depth messages ({e}); "
                      "scoring the frames read before", file=sys.stderr)
                break
            key = key_of[conn.topic]
            if key == "depth":
                n_depth += 1
                if n_depth - 1 not in wanted:
                    continue
            elif not _within(near_ts, ts, RGB_WINDOW_NS):
                continue
            msg = typestore.deserialize_cdr(raw, conn.msgtype)
            stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
            sync.add(key, stamp, msg)
            if key == "depth":  # camera_info is not needed here: the depth's own stamp stands in for it
                sync.add("info", stamp, None)
            s = sync.take(0)
            if s is None:
                continue
            warning = registration_warning(str(s.rgb.header.frame_id), str(s.depth.header.frame_id))
            if warning and not warned:
                print(f"perfecting-depth check: warning: {warning}", file=sys.stderr)
                warned = True
            yield (f"{s.depth.header.stamp.sec}.{s.depth.header.stamp.nanosec:09d}",
                   lambda s=s: _same_size(image_to_rgb(s.rgb), _bag_depth(s.depth, depth_scale, units_warned)))
    finally:
        reader.close()


def bag_distortion(path: str | Path, rgb_topic: str, info_topic: str = "") -> str:
    """The node's ``distortion_warning`` for a recording ("" if none): its colour topic is a raw image and the first
    camera_info on ``info_topic`` (default: ``camera_info`` beside the colour topic) has a lens distortion, so the
    node wants ``rectified: false``. "" too when the bag has no such camera_info."""
    from rosbags.typesys import Stores, get_typestore

    from ..bag import open_bag
    from ..node.convert import distortion_warning, image_topic_of

    topic = info_topic or image_topic_of(rgb_topic).rsplit("/", 1)[0] + "/camera_info"
    reader, conns = open_bag(path, ())
    try:
        if topic not in conns:
            return ""
        for conn, _, raw in reader.messages(connections=[conns[topic]]):
            info = get_typestore(Stores.ROS2_JAZZY).deserialize_cdr(raw, conn.msgtype)
            return distortion_warning(info, rgb_topic)
        return ""
    finally:
        reader.close()


def _bag_depth(msg, depth_scale: float, warned: list) -> np.ndarray:
    from ..node.convert import depth_units_warning, encoding_of, image_to_depth

    depth = image_to_depth(msg, depth_scale)[0]
    return _units_checked(depth, depth_units_warning(depth, encoding_of(msg), depth_scale), warned)


def _within(sorted_ts: list[int], ts: int, window: int) -> bool:
    """Whether some value of ``sorted_ts`` lies within ``window`` of ``ts``."""
    i = bisect.bisect_left(sorted_ts, ts - window)
    return i < len(sorted_ts) and sorted_ts[i] <= ts + window


def make_methods(names: list[str], max_range_m: float | None, weights: str | None = None,
                 sigma_scale: float = 1.0) -> dict:
    """The enhancers to compare: ``learned``, ``learned-fast`` (no hole fusion) or a classical method's name;
    the learned ones publish their sigma times ``sigma_scale``."""
    from ..enhancer import DepthEnhancer

    out = {}
    for n in names:
        if n in (FAST, "learned"):
            out[n] = DepthEnhancer("learned", weights=weights, max_range_m=max_range_m, sigma_scale=sigma_scale,
                                   fusion=False if n == FAST else "auto")
        else:
            out[n] = DepthEnhancer(n)  # ValueError for an unknown name
    return out


MIN_FOOTPRINT_FRAMES = 5  # frames a check needs before it names what the sensor never measures
FOOTPRINT_SUGGEST = 0.005  # the share of the image, measured in no frame and open to the border, that it names


def check_frames(frames, methods: dict, draws: int = 2, seed: int = 0) -> dict:
    """Score ``methods`` on the hidden blobs of each (name, load) frame, ``draws`` independent blob draws per frame.
    Frames that cannot be read or that a method refuses (too little valid depth) are listed in ``skipped`` with the
    reason, and scored for no method."""
    err = {m: [] for m in methods}
    tol = {m: [] for m in methods}  # metrics.ray_tolerance of each hidden pixel's measured depth
    ratio = {m: [] for m in methods}  # |error| / sigma of the hidden pixels
    gated = {m: [] for m in methods}  # per frame-draw and threshold: (frame px kept, hidden px kept, their abs error sum)
    ms = {m: [] for m in methods}
    per_draw = {m: [] for m in methods}
    scored, skipped, sizes = [], [], []
    shares = []  # the learned enhancer's source_shares of each frame as recorded (nothing hidden)
    guides = []  # the learned enhancer's guide brightness of each frame as recorded
    footprint = SensorFootprint(MIN_FOOTPRINT_FRAMES)  # what the node's footprint_frames would leave out
    for k, (name, load) in enumerate(frames):
        rows = {}
        try:
            rgb, depth = load()
            whole = methods["learned"].enhance(rgb, depth) if "learned" in methods else None
            for d in range(draws):
                hide = holdout_mask(depth, np.random.default_rng((seed, k, d)))
                if hide.sum() < 10:
                    raise ValueError("too few valid depth pixels to hide any")
                inp = np.where(hide, 0, depth).astype(np.float32)
                tol_hidden = ray_tolerance(depth[hide])  # the same for every method
                for m, enh in methods.items():
                    out = enh.enhance(rgb, inp)
                    e = (out.depth - depth)[hide]
                    ok = np.isfinite(e)
                    s = None if out.uncertainty is None else out.uncertainty[hide]
                    s = s if s is not None and np.isfinite(s).any() else None  # classical fills give no sigma
                    rows.setdefault(m, []).append((e[ok], tol_hidden[ok],
                                                   None if s is None else np.abs(e[ok]) / s[ok],
                                                   out.timings["total_ms"],
                                                   None if s is None else _gate_counts(out, e, s)))
        except ValueError as exc:
            skipped.append({"frame": name, "reason": str(exc)})
            continue
        scored.append(name)
        if whole is not None:
            shares.append(source_shares(whole))
            guides.append(whole.guide_brightness)
        footprint.update(depth)
        if list(depth.shape) not in sizes:
            sizes.append(list(depth.shape))
        for m, rs in rows.items():
            for e, tl, r, t, g in rs:
                err[m].append(e)
                tol[m].append(tl)
                ms[m].append(t)
                per_draw[m].append(float(np.mean(np.abs(e))) if e.size else np.nan)
                if r is not None:
                    ratio[m].append(r)
                    gated[m].append(g)
    if not scored:
        raise ValueError("no frame could be scored: " + "; ".join(f"{s['frame']}: {s['reason']}" for s in skipped[:3]))
    report: dict = {"frames": scored, "skipped": skipped, "draws": draws, "hidden_px": int(sum(e.size for e in err[
        next(iter(methods))])), "sizes_hw": sizes, "methods": {}}
    if footprint.outside is not None:  # measured in no frame and open to the border (frames of the last size)
        report["unmeasured_border"] = float(footprint.outside.mean())
    if shares:  # what the node would publish for these frames, on average
        report["learned_source_shares"] = {k: float(np.mean([x[k] for x in shares])) for k in SOURCE_NAMES}
    if guides:  # the colour guide as recorded: how often the learned model gets it brightened, or black
        b = np.array(guides)
        report["guide"] = {"median_brightness": float(np.median(b)), "dark_share": float(np.mean(b < DARK_P99)),
                           "black_share": float(np.mean(b < BLACK_P99)),
                           "brightens": bool(methods["learned"].brighten_dark_guide)}
    ref = np.array(per_draw["learned"]) if "learned" in per_draw else None
    for m in methods:
        e = np.concatenate(err[m])
        tl = np.concatenate(tol[m])
        r = {"description": methods[m].description, "mae_mm": float(np.mean(np.abs(e)) * 1000),
             "rmse_mm": float(np.sqrt(np.mean(e * e)) * 1000), "median_ms": float(np.median(ms[m])),
             # what an obstacle layer does with these rays: farther than the hidden surface clears its cell, nearer
             # marks a cell in front of it (a phantom); hidden pixels without a value do neither
             "too_far": float(np.mean(e > tl)), "too_near": float(np.mean(e < -tl))}
        if ratio[m]:
            q = np.concatenate(ratio[m])
            q = np.where(np.isfinite(q), q, np.inf)  # a pixel without a finite sigma is not within any bound
            r["within_2sigma"] = float(np.mean(q <= 2))
            # the factor on this sigma that would put 95 % of these errors within +-2 sigma (hidden pixels are
            # rebuilt ones; kept measurements have no truth in a recording)
            r["sigma_scale_for_95"] = float(np.quantile(q, 0.95) / 2) * methods[m].sigma_scale
            g = np.sum(gated[m], axis=0)  # [threshold, (frame kept, hidden kept, abs error sum, frame pixels)]
            hidden_px = sum(x.size for x in err[m])
            r["sigma_thresholds"] = [{"max_sigma_m": t, "frame_kept": float(fk / npx),
                                      "hidden_kept": float(hk / max(hidden_px, 1)),
                                      "hidden_mae_mm": float(es / hk * 1000) if hk else None}
                                     for t, (fk, hk, es, npx) in zip(SIGMA_THRESHOLDS_M, g)]
        if ref is not None and m != "learned":
            diff = (np.array(per_draw[m]) - ref) * 1000
            r["minus_learned_mm"] = float(np.nanmean(diff))
            r["minus_learned_se_mm"] = float(np.nanstd(diff) / np.sqrt(max(np.isfinite(diff).sum(), 1)))
            r["learned_lower_in"] = int(np.sum(diff > 0))
            r["frame_draws"] = int(np.isfinite(diff).sum())
        report["methods"][m] = r
    return report


def _gate_counts(out, err: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """For each SIGMA_THRESHOLDS_M value: pixels of the frame with depth and a 1-sigma at most that, hidden pixels
    within it, the sum of their absolute errors, and the frame's pixel count ([len(SIGMA_THRESHOLDS_M), 4])."""
    whole = out.uncertainty[np.isfinite(out.depth)]
    ok = np.isfinite(err) & np.isfinite(sigma)
    rows = []
    for t in SIGMA_THRESHOLDS_M:
        m = ok & (sigma <= t)
        rows.append((np.count_nonzero(whole <= t), np.count_nonzero(m), float(np.abs(err[m]).sum()), out.depth.size))
    return np.array(rows, np.float64)


def format_report(rep: dict) -> str:
    """The report as a table for the terminal."""
    sizes = ", ".join(f"{w}x{h}" for h, w in rep["sizes_hw"])
    lines = [f"{len(rep['frames'])} frames ({sizes}), {rep['draws']} draws of hidden "
             f"blobs each, {rep['hidden_px']} hidden pixels per method"
             + (f"; {len(rep['skipped'])} frames skipped" if rep["skipped"] else ""),
             f"{'method':16s} {'MAE mm':>8s} {'RMSE mm':>8s} {'within 2 sigma':>14s} {'ms/frame':>9s}  vs learned"]
    for m, r in rep["methods"].items():
        cov = f"{r['within_2sigma'] * 100:.1f} %" if "within_2sigma" in r else "-"
        vs = ""
        if "minus_learned_mm" in r:
            vs = (f"{r['minus_learned_mm']:+.1f} +- {r['minus_learned_se_mm']:.1f} mm; learned lower in "
                  f"{r['learned_lower_in']} of {r['frame_draws']}")
        lines.append(f"{m:16s} {r['mae_mm']:8.1f} {r['rmse_mm']:8.1f} {cov:>14s} {r['median_ms']:9.0f}  {vs}")
    lines.append("hidden surfaces an obstacle layer (5 cm cells) would clear (filled farther) / mark in front of "
                 "(filled nearer), beyond 5 cm + 1 %: " + ", ".join(
                     f"{m} {r['too_far'] * 100:.1f} / {r['too_near'] * 100:.1f} %" for m, r in rep["methods"].items()
                     if "too_far" in r))
    for m, r in rep["methods"].items():
        if "sigma_scale_for_95" in r:
            lines.append(f"{m}: sigma_scale {r['sigma_scale_for_95']:.2f} would put 95 % of these hidden pixels' errors "
                         "within +-2 sigma (rebuilt pixels; kept measurements cannot be scored here)")
    for m, r in rep["methods"].items():
        if "sigma_thresholds" in r:
            lines.append(f"{m}, published depth gated by its 1-sigma (the node's depth_max_sigma / max_sigma):")
            lines.extend(f"  <= {g['max_sigma_m']:.2f} m: {g['frame_kept'] * 100:5.1f} % of the frame kept, hidden "
                         f"pixels {g['hidden_kept'] * 100:5.1f} % kept at MAE "
                         + ("-" if g["hidden_mae_mm"] is None else f"{g['hidden_mae_mm']:.1f} mm")
                         for g in r["sigma_thresholds"])
            break
    if "learned_source_shares" in rep:
        sh = rep["learned_source_shares"]
        lines.append(f"learned on these frames as recorded (the node's depth_enhanced/source): {sh['measured_kept']:.1%} "
                     f"measured and kept, {sh['measured_replaced']:.1%} measured but judged wrong and replaced, "
                     f"{sh['rebuilt']:.1%} rebuilt holes, {sh['no_value']:.1%} without a value")
    if "guide" in rep:
        g = rep["guide"]
        dark = (f"; {g['dark_share']:.0%} of the frames dark (below {DARK_P99:.0f}: "
                + ("brightened for the learned model, as the node does by default)" if g["brightens"]
                   else "left as recorded: brighten_dark_guide is off)") if g["dark_share"] else "")
        black = (f", {g['black_share']:.0%} black (no colour cue: lights off, a covered lens or the wrong topic; in "
                 "the dark the depth camera's IR image is the better guide)" if g["black_share"] else "")
        lines.append(f"colour guide: 99th-percentile brightness a median {g['median_brightness']:.0f} of 255"
                     + dark + black)
    if rep.get("unmeasured_border", 0) >= FOOTPRINT_SUGGEST:
        lines.append(f"{rep['unmeasured_border']:.1%} of the image, open to its border, was measured in none of these "
                     f"{len(rep['frames'])} frames (outside the sensor's outline, or a border hole the recording never "
                     f"saw measured): every fill invents depth there, and the node's footprint_frames leaves it out")
    lines.append("scored: hidden valid measurements only (surfaces your sensor measures), not glass, mirrors or "
                 "real holes")
    return "\n".join(lines)


def node_params(rep: dict, source: str, max_range_m: float | None, depth_scale: float, base: str) -> str:
    """enhancer_node's parameters file from a check report: ``base`` (the shipped config/enhancer.yaml's text) with the
    learned enhancer's suggested ``sigma_scale`` and the sensor's ``max_range`` and ``depth_scale`` as checked. What
    the hole fusion bought on these frames goes in a comment (a trade of time for accuracy, left to the user)."""
    m = rep["methods"]
    values: dict[str, tuple[str, str]] = {}  # key -> (value, comment)
    learned = m.get("learned") or m.get(FAST)
    if learned and "sigma_scale_for_95" in learned:
        scale = min(max(round(learned["sigma_scale_for_95"], 2), 0.01), 100.0)  # the node's range for it
        values["sigma_scale"] = (repr(scale), "check: 95 % of hidden-pixel errors within +-2 sigma on these frames")
    if max_range_m:
        values["max_range"] = (repr(float(max_range_m)), "check: as given")  # a float: the node declares doubles
    values["depth_scale"] = (repr(float(depth_scale)), "check: as given")
    if rep.get("distortion"):
        values["rectified"] = ("false", "check: the colour is a raw image with a lens distortion; the cloud undoes it")
    if rep.get("unmeasured_border", 0) >= FOOTPRINT_SUGGEST:
        values["footprint_frames"] = ("30", f"check: {rep['unmeasured_border']:.1%} of the image at its border "
                                      "measured in no frame; 0 to fill it anyway")
    if "learned" in m and FAST in m:
        a, b = m["learned"], m[FAST]
        values["hole_fusion"] = ("true", f"check: hidden-pixel MAE {a['mae_mm']:.1f} mm at {a['median_ms']:.0f} ms/frame; "
                                 f"false: {b['mae_mm']:.1f} mm at {b['median_ms']:.0f} ms/frame")
    head = (f"# perfecting-depth check on {source}: {len(rep['frames'])} frames, {rep['draws']} draws each; "
            "lines marked 'check:' come from it\n")
    out = base
    for k, (v, c) in values.items():
        pattern = re.compile(rf"^(\s+){k}:[^\n]*$", re.M)
        if pattern.search(out):
            out = pattern.sub(lambda mt, k=k, v=v, c=c: f"{mt.group(1)}{k}: {v}  # {c}", out, count=1)
        else:
            out = out.rstrip("\n") + f"\n    {k}: {v}  # {c}\n"
    return head + out


def main(args) -> int:
    from ..bag import BagError

    try:
        if not args.depth_scale > 0 or args.frames < 1 or args.draws < 1:
            raise ValueError("--depth-scale must be positive, --frames and --draws at least 1")
        if bool(args.bag) == bool(args.rgb or args.depth):
            raise ValueError("give either --bag or both --rgb and --depth")
        if not args.bag and not (args.rgb and args.depth):
            raise ValueError("--rgb and --depth go together")
        methods = make_methods([m.strip() for m in args.methods.split(",") if m.strip()],
                               args.max_range or None, args.weights, args.sigma_scale)
        if args.bag:
            frames = bag_frames(args.bag, args.rgb_topic, args.depth_topic, args.depth_scale, args.frames)
        else:
            frames = folder_frames(args.rgb, args.depth, args.depth_scale, args.frames)
        t0 = time.monotonic()
        rep = check_frames(frames, methods, args.draws, args.seed)
        rep["seconds"] = round(time.monotonic() - t0, 1)
        if args.bag:  # the node's rectified: the scores do not depend on it, the parameters file does
            rep["distortion"] = bag_distortion(args.bag, args.rgb_topic, getattr(args, "info_topic", ""))
    except (BagError, ValueError, FileNotFoundError, RuntimeError) as e:  # RuntimeError: a backend that fails
        print(f"perfecting-depth check: error: {e}", file=sys.stderr)
        return 2
    print(format_report(rep))
    if rep.get("distortion"):
        print(f"note: {rep['distortion']}")
    for s in rep["skipped"][:5]:
        print(f"  skipped {s['frame']}: {s['reason']}", file=sys.stderr)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rep, indent=1))
        print(f"report written to {args.out}")
    if getattr(args, "params_out", ""):
        Path(args.params_out).parent.mkdir(parents=True, exist_ok=True)
        from ..node import shipped_config

        Path(args.params_out).write_text(node_params(rep, args.bag or args.depth, args.max_range or None,
                                                     args.depth_scale, shipped_config().read_text()))
        print(f"node parameters written to {args.params_out}")
    return 0
