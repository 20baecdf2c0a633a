"""`perfecting-depth` command line: data, train, export, bench, eval, enhance, bag, check, demo, manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _size(s: str) -> tuple[int, int]:
    h, w = s.lower().split("x")
    return int(h), int(w)


def cmd_data(a) -> int:
    from .data.dataset import write_shards

    crop = _size(a.crop_of) if a.crop_of else None
    h, w = _size(a.size)
    paths = write_shards(a.out, a.split, a.frames, h, w, crop_of=crop, workers=a.workers, version=a.world_version,
                         start=a.start)
    print(f"wrote {len(paths)} shards to {a.out}")
    return 0


def _settings(pairs: list[str] | None) -> dict:
    """``--set KEY=VALUE`` pairs as config overrides, each VALUE read as YAML (``4``, ``null``, ``[0, 8]``)."""
    import yaml

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--set takes KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def cmd_train(a) -> int:
    if a.stage == "fusion":  # the hole fusion (hole_fusion.py) is fitted on the shipped model's outputs
        from .train.fusion import FusionConfig, train_fusion

        if a.steps is not None and a.steps <= 0:
            raise SystemExit("--steps must be positive")
        if a.device == "cuda":
            raise SystemExit("the hole fusion fits on the CPU (a few hundred weights, ~2 min): --device cuda does not "
                             "apply to it")
        path = train_fusion(FusionConfig.from_yaml(a.config, steps=a.steps, out_dir=a.out_dir, weights=a.init,
                                                   settings=_settings(a.set)))
        print(f"saved {path}")
        return 0
    from .train.common import TrainConfig
    from .train.loop import train

    cfg = TrainConfig.from_yaml(a.config, stage=a.stage, steps=a.steps, out_dir=a.out_dir, data_dir=a.data_dir,
                                init=a.init, device=a.device, max_minutes=a.max_minutes, settings=_settings(a.set))
    path = train(cfg)
    print(f"saved {path}")
    return 0


def cmd_manifest(a) -> int:
    from .backends.base import write_manifest

    for p in a.weights:
        write_manifest(p)
        print(f"recorded sha256 of {p} in {Path(p).parent / 'manifest.json'}")
    return 0


def cmd_export(a) -> int:
    from .backends.base import verify_weights
    from .enhancer import DEFAULT_WEIGHTS

    w = Path(a.weights or DEFAULT_WEIGHTS)
    sha = verify_weights(w)
    if a.tensorrt is None:
        from .backends.export import export_onnx

        out = export_onnx(w, a.out, samples=a.samples, steps=a.steps, height=a.height, width=a.width, model_sha=sha)
        print(f"wrote {out} (K={a.samples}, S={a.steps}, dynamic H/W, opset 17)")
        return 0
    import shutil

    from .backends.base import input_shapes, read_metadata, takes_range
    from .backends.onnx_backend import cached_onnx
    from .backends.precision import folded_onnx, fp16_onnx

    graph = cached_onnx(w, sha, a.samples, a.steps)  # the shipped graph where it fits: no torch needed
    made = fp16_onnx(graph) if a.tensorrt == "fp16" else folded_onnx(graph)
    shutil.copyfile(made, a.out)
    shapes = input_shapes(a.height, a.width, a.samples, int(read_metadata(made).get("stride", 4)), takes_range(w))
    dims = ",".join(f"{k}:{'x'.join(map(str, v))}" for k, v in shapes.items())
    print(f"wrote {a.out}: the graph TensorRT builds from ({a.tensorrt}, constants folded; K={a.samples}, S={a.steps})")
    print(f"  trtexec --onnx={a.out} --stronglyTyped --shapes={dims} --saveEngine=perfecting_depth_{a.tensorrt}.engine")
    return 0


def cmd_bench(a) -> int:
    from .evaluate.bench import main as bench_main

    return bench_main(a)


def cmd_eval(a) -> int:
    from .evaluate.benchmark import main as eval_main

    return eval_main(a)


def cmd_reference(a) -> int:
    import json

    from .evaluate.reference import build_reference

    start, stop = (int(v) for v in a.frames.split(":"))
    if not 0 <= start < stop:
        raise SystemExit(f"--frames must be START:STOP with 0 <= START < STOP, got {a.frames}")
    try:
        import open3d  # noqa: F401  (optional: requirements/reference.txt)
    except ImportError as e:
        raise SystemExit(f"perfecting-depth reference needs open3d ({e}): apt-get install libusb-1.0-0, then "
                         "pip install --no-deps open3d==0.20.0 && pip install dash plotly") from None
    try:
        q = build_reference(Path(a.out), Path(a.real_dir) if a.real_dir else None, voxel=a.voxel,
                            frames=range(start, stop), trunc_voxels=a.trunc_voxels)
    except FileNotFoundError as e:
        raise SystemExit(str(e)) from None
    print(json.dumps(q, indent=1))
    return 0


def cmd_enhance(a) -> int:
    from .offline import enhance_files

    return enhance_files(a)


def cmd_bag(a) -> int:
    from .bag import main as bag_main

    return bag_main(a)


def cmd_check(a) -> int:
    from .evaluate.own_frames import main as check_main

    return check_main(a)


def cmd_info(a) -> int:
    from .info import main as info_main

    return info_main(a)


def cmd_demo(a) -> int:
    from .demo import main as demo_main

    return demo_main(a)


def add_workers_arg(p: argparse.ArgumentParser) -> None:
    """``--workers``, as the enhance and bag commands take it (the node's ``workers``)."""
    p.add_argument("--workers", type=int, default=1, help="frames enhanced at once (the node's workers: the graph "
                   "one at a time, the work around it in parallel; the same output)")


def add_enhancer_args(p: argparse.ArgumentParser) -> None:
    """The DepthEnhancer options the file and bag commands share (``offline.enhancer_from_args`` reads them)."""
    p.add_argument("--method", default="learned")
    p.add_argument("--max-range", type=float, default=0.0, help="the depth sensor's maximum range, m (0: unknown)")
    p.add_argument("--local-window", type=float, default=0.0,
                   help="learned model: rebuilt holes stay within the measurements in a window this fraction of the "
                        "image's larger side (0: off)")
    p.add_argument("--no-hole-fusion", action="store_true", help="learned model: without the hole fusion (faster)")
    p.add_argument("--keep-measurements", action="store_true", help="learned model: every raw measurement kept as "
                   "it is, holes rebuilt only (the node's keep_measurements)")
    p.add_argument("--no-brighten-dark-guide", action="store_true", help="a dark colour guide (a dim room) as it "
                   "is, not brightened (the node's brighten_dark_guide: false)")
    p.add_argument("--sigma-scale", type=float, default=1.0, help="the published 1-sigma times this, as the node's "
                   "sigma_scale (a sensor's calibration; perfecting-depth check suggests one)")
    p.add_argument("--beyond-range-sigmas", type=float, default=0.0, help="with --max-range: rebuilt depth whose "
                   "value plus this many 1-sigmas reaches past the range is written as invalid (the node's "
                   "beyond_range_sigmas; 0: off)")
    p.add_argument("--min-range", type=float, default=0.0, help="the depth sensor's minimum range, m (0: unknown)")
    p.add_argument("--below-range-sigmas", type=float, default=0.0, help="with --min-range: rebuilt depth whose "
                   "value minus this many 1-sigmas reaches below the minimum range is written as invalid (the node's "
                   "below_range_sigmas; 0: off)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perfecting-depth", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("data", help="render synthetic RGB-D shards")
    d.add_argument("--out", default="data_cache/synth128")
    d.add_argument("--split", default="train", choices=["train", "val", "test"])
    d.add_argument("--frames", type=int, default=6000)
    d.add_argument("--start", type=int, default=0,
                   help="index of the first frame (a multiple of 500): more frames of the split, none shared with 0..start")
    d.add_argument("--size", default="128x160", help="HxW")
    d.add_argument("--crop-of", default="240x320", help="render a random window of this camera (HxW), or ''")
    d.add_argument("--workers", type=int, default=2)
    d.add_argument("--world-version", type=int, default=1, choices=[1, 2],
                   help="1: faint glass (first benchmark); 2: framed glass with Fresnel reflections")
    d.set_defaults(fn=cmd_data)

    t = sub.add_parser("train", help="train one stage from a config file")
    t.add_argument("stage", choices=["stage1", "distill", "stage2", "errorhead", "farbranch", "fusion"])
    t.add_argument("--config", required=True)
    t.add_argument("--steps", type=int)
    t.add_argument("--out-dir")
    t.add_argument("--data-dir")
    t.add_argument("--init")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"],
                   help="where the run trains (default: the config's, auto: a GPU when torch sees one)")
    t.add_argument("--max-minutes", type=float,
                   help="end this run once it has trained this long (checkpoint written; the same command resumes)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one config key (repeatable; VALUE is YAML, e.g. batch_size=4, stop_after=null, "
                        "real_frames=[0,8]); an unknown key is an error")
    t.set_defaults(fn=cmd_train)

    m = sub.add_parser("manifest", help="record sha256 of weights files in manifest.json")
    m.add_argument("weights", nargs="+")
    m.set_defaults(fn=cmd_manifest)

    e = sub.add_parser("export", help="export the whole graph to ONNX")
    e.add_argument("--weights")
    e.add_argument("--out", default="perfecting_depth.onnx")
    e.add_argument("--samples", type=int, default=4)
    e.add_argument("--steps", type=int, default=2)
    e.add_argument("--height", type=int, default=240)
    e.add_argument("--width", type=int, default=320)
    e.add_argument("--tensorrt", choices=["fp16", "fp32"], default=None,
                   help="write the graph the TensorRT backend builds from instead (constants folded; fp16: the mixed "
                        "FP16 copy), for trtexec or polygraphy; prints a trtexec line for --height x --width")
    e.set_defaults(fn=cmd_export)

    b = sub.add_parser("bench", help="latency and memory per backend, beside the fastest classical baseline")
    b.add_argument("--sizes", default="240x320,480x640")
    b.add_argument("--backends", default="onnxruntime,torch")
    b.add_argument("--runs", type=int, default=20)
    b.add_argument("--classical", help="comma-separated classical methods to time (default: ip_basic, inpaint_ns, "
                   "inpaint_telea, guided_fill); the fastest is reported beside the learned model")
    b.add_argument("--repeats", type=int, default=1,
                   help="run each configuration this many times in fresh processes and report the median run")
    b.add_argument("--samples", type=int, default=4)
    b.add_argument("--steps", type=int, default=2)
    b.add_argument("--weights")
    b.add_argument("--out", default="")
    b.add_argument("--readme", help="refresh the speed table in this README")
    b.set_defaults(fn=cmd_bench)

    v = sub.add_parser("eval", help="benchmark enhancers on the synthetic test split and the real frames")
    v.add_argument("--methods", default="learned,raw,inpaint_telea,inpaint_ns,ip_basic,guided_fill,joint_bilateral,colorization")
    v.add_argument("--test-dir", default="data_cache/test240")
    v.add_argument("--world-version", type=int, default=1, choices=[1, 2],
                   help="world version of the test split when --test-dir has to be rendered (its shards record it)")
    v.add_argument("--synthetic-only", action="store_true", help="skip the real frames and the 7-Scenes block")
    v.add_argument("--frames", type=int, default=60)
    v.add_argument("--real-dir", default=None, help="real frames (default ../shared/data/real)")
    v.add_argument("--real-draws", type=int, default=5,
                   help="independent hidden-blob draws per real frame (the table shows the first and their mean)")
    v.add_argument("--out", default="outputs/eval")
    v.add_argument("--weights")
    v.add_argument("--readme", help="refresh the benchmark table in this README")
    v.add_argument("--ref-dir", default="data_cache/7scenes_ref", help="7-Scenes fused reference (perfecting-depth reference)")
    v.set_defaults(fn=cmd_eval)

    r = sub.add_parser("reference", help="fuse the 7-Scenes sequence into a TSDF and render a reference depth per frame")
    r.add_argument("--out", default="data_cache/7scenes_ref")
    r.add_argument("--real-dir", default=None)
    r.add_argument("--voxel", type=float, default=0.01, help="TSDF voxel (m); memory grows as 1/voxel^2")
    r.add_argument("--trunc-voxels", type=float, default=8.0, help="TSDF truncation in voxels (the fused surface can "
                   "reach about voxel x this past a silhouette)")
    r.add_argument("--frames", default="0:1000", help="START:STOP, the frames fused and rendered (0:700 = training "
                   "frames only, a reference for training labels)")
    r.set_defaults(fn=cmd_reference)

    n = sub.add_parser("enhance", help="enhance RGB + depth files or folders")
    n.add_argument("--rgb", required=True)
    n.add_argument("--depth", required=True)
    n.add_argument("--out", required=True)
    n.add_argument("--depth-scale", type=float, default=0.001, help="metres per PNG unit")
    n.add_argument("--intrinsics", help="fx,fy,cx,cy for a PLY point cloud")
    add_workers_arg(n)
    add_enhancer_args(n)
    n.set_defaults(fn=cmd_enhance)

    g = sub.add_parser("bag", help="enhance a rosbag2 recording into a new bag")
    g.add_argument("input")
    g.add_argument("output")
    g.add_argument("--rgb", default="/camera/rgb/image_rect_color")
    g.add_argument("--depth", default="/camera/depth_registered/image_rect")
    g.add_argument("--info", default="/camera/rgb/camera_info")
    g.add_argument("--out-prefix", default="")
    g.add_argument("--slop", type=float, default=0.02)
    g.add_argument("--info-sync", default="stamp", choices=["stamp", "latest"],
                   help="latest: the newest camera_info goes with every frame (recorded rarely or once)")
    add_workers_arg(g)
    add_enhancer_args(g)
    g.add_argument("--depth-scale", type=float, default=0.001, help="metres per unit of 16UC1 input depth")
    g.add_argument("--max-sigma", type=float, default=0.0, help="cloud points with a larger 1-sigma become NaN (m)")
    g.add_argument("--depth-max-sigma", type=float, default=0.0,
                   help="depth with a larger 1-sigma is written as invalid, image and cloud (m; 0 keeps all)")
    g.add_argument("--output-encoding", default="32FC1", choices=["32FC1", "16UC1"])
    g.add_argument("--cloud-decimation", type=int, default=1,
                   help="points of every n-th row and column (the node's cloud_decimation)")
    g.add_argument("--footprint-frames", type=int, default=0, metavar="N",
                   help="after N frames, rebuilt depth at the image border that no frame has measured is written as "
                        "invalid (outside the sensor's field of view; the node's footprint_frames; 0: off)")
    g.add_argument("--unrectified", action="store_true", help="the images are raw, with camera_info's distortion "
                   "(the node's rectified: false): the cloud undoes it")
    g.add_argument("--compressed-depth-max", type=float, default=0.0, metavar="M",
                   help="write the depth as image_transport's compressedDepth (PNG, about 8x smaller; "
                        "depth_enhanced/image_rect/compressedDepth instead of image_rect), leaving out depth beyond "
                        "M metres, as the node's compressed_depth_max (0: a plain Image)")
    g.set_defaults(fn=cmd_bag)

    c = sub.add_parser("check", help="masked hold-out on your own frames: does the enhancer help on your camera?")
    c.add_argument("--rgb", help="folder (or file) of colour images, paired with --depth by sorted name")
    c.add_argument("--depth", help="folder (or file) of depth images: 16-bit PNG (see --depth-scale), NPY/EXR metres")
    c.add_argument("--bag", help="a rosbag2 recording instead of folders")
    c.add_argument("--rgb-topic", default="/camera/rgb/image_rect_color")
    c.add_argument("--depth-topic", default="/camera/depth_registered/image_rect")
    c.add_argument("--info-topic", default="", help="the colour's camera_info (default: camera_info beside the colour "
                   "topic); a raw colour image with a lens distortion gets rectified: false in --params-out")
    c.add_argument("--depth-scale", type=float, default=0.001, help="metres per unit of 16-bit depth")
    c.add_argument("--frames", type=int, default=20, help="frames spread evenly over the recording")
    c.add_argument("--draws", type=int, default=2, help="independent draws of hidden blobs per frame")
    c.add_argument("--methods", default="learned,joint_bilateral,inpaint_ns",
                   help="learned, learned-fast (no hole fusion) or classical methods, comma-separated")
    c.add_argument("--max-range", type=float, default=0.0, help="the depth sensor's maximum range, m (0: unknown)")
    c.add_argument("--weights", help="learned model weights (default: the shipped ones)")
    c.add_argument("--sigma-scale", type=float, default=1.0, help="score the learned sigma times this (the node's "
                   "sigma_scale)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", default="", help="also write the report as JSON here")
    c.add_argument("--params-out", default="", help="also write enhancer_node parameters (sigma_scale, max_range, "
                   "depth_scale, rectified) as a parameters file here")
    c.set_defaults(fn=cmd_check)

    i = sub.add_parser("info", help="what this machine will run: weights check, libraries, the backend auto picks "
                       "and why, one frame's time")
    i.add_argument("--weights", help="learned model weights (default: the shipped ones)")
    i.add_argument("--size", default="480x640", help="HxW of the frame timed")
    i.add_argument("--runs", type=int, default=3)
    i.add_argument("--json", action="store_true", help="the report as JSON")
    i.set_defaults(fn=cmd_info)

    o = sub.add_parser("demo", help="play a built-in RGB-D sequence through the real node and save outputs")
    o.add_argument("--out", default="outputs/demo")
    o.add_argument("--frames", type=int, default=30)
    o.add_argument("--rate", type=float, default=10.0)
    o.add_argument("--method", default="learned")
    o.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"perfecting-depth {args.cmd}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
