"""`perfecting-depth enhance`: RGB + depth files or folders in, enhanced depth, uncertainty, panels out.

Inputs: colour images (PNG/JPEG) and depth as 16-bit PNG (millimetres by default, ``--depth-scale``)
or NPY/EXR metres. Folders are paired by sorted file name. Outputs per frame, named after the depth
file: ``<stem>_depth.png`` (16-bit mm), ``<stem>_depth.npy`` and ``<stem>_sigma.npy`` (float32 metres,
NaN invalid), ``<stem>_source.png`` (8-bit: 1 measured and kept, 2 measured but replaced, 3 rebuilt hole, 0 none),
``<stem>_panel.png`` (RGB | raw | enhanced | 1-sigma), and ``<stem>.ply`` with ``--intrinsics fx,fy,cx,cy``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from .enhancer import DepthEnhancer

RGB_EXT = {".png", ".jpg", ".jpeg", ".bmp"}
DEPTH_EXT = {".png", ".npy", ".exr", ".tif", ".tiff"}


def _files(p: Path, exts: set[str]) -> list[Path]:
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.suffix.lower() in exts)
    if p.is_file():
        return [p]
    raise FileNotFoundError(f"{p} does not exist")


def paired_files(rgb: str | Path, depth: str | Path) -> tuple[list[Path], list[Path]]:
    """Colour and depth files (or folders of them) paired by sorted name; ValueError if the counts differ."""
    rgbs, depths = _files(Path(rgb), RGB_EXT), _files(Path(depth), DEPTH_EXT)
    if len(rgbs) != len(depths):
        raise ValueError(f"{len(rgbs)} colour files but {len(depths)} depth files; they are paired by sorted name")
    return rgbs, depths


def enhancer_from_args(args) -> DepthEnhancer:
    """The ``DepthEnhancer`` the options of ``cli.add_enhancer_args`` ask for (the enhance and bag commands)."""
    from .enhancer import DepthEnhancer

    return DepthEnhancer(args.method, max_range_m=args.max_range, local_window=args.local_window,
                         fusion=False if args.no_hole_fusion else "auto", sigma_scale=args.sigma_scale,
                         keep_measurements=args.keep_measurements, beyond_range_sigmas=args.beyond_range_sigmas,
                         min_range_m=args.min_range, below_range_sigmas=args.below_range_sigmas,
                         brighten_dark_guide=not args.no_brighten_dark_guide)


def enhance_files(args) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from .geometry import backproject, check_intrinsics
    from .io import depth_file_units_warning, match_depth_size, panel, read_depth, read_rgb, write_depth_png, write_ply

    rgbs, depths = paired_files(args.rgb, args.depth)
    K = None
    if args.intrinsics:
        K = check_intrinsics([float(v) for v in args.intrinsics.split(",")])
    if not 1 <= args.workers <= 64:
        raise ValueError(f"--workers must be 1-64, got {args.workers}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    enh = enhancer_from_args(args)

    def one(rp: Path, dp: Path) -> tuple[str, str, bool]:
        """Enhance and write one frame: (its line, a units warning or "", whether it failed)."""
        try:
            depth = read_depth(dp, args.depth_scale)
            units = depth_file_units_warning(dp, depth, args.depth_scale)
            rgb = match_depth_size(read_rgb(rp), depth.shape)
            res = enh.enhance(rgb, depth)
        except ValueError as e:
            return f"{dp.name}: skipped: {e}", "", True
        stem = dp.stem
        write_depth_png(out / f"{stem}_depth.png", res.depth)
        np.save(out / f"{stem}_depth.npy", res.depth)
        np.save(out / f"{stem}_sigma.npy", res.uncertainty)
        cv2.imwrite(str(out / f"{stem}_source.png"), res.source)
        cv2.imwrite(str(out / f"{stem}_panel.png"), panel(rgb, depth, res.depth, res.uncertainty)[..., ::-1])
        if K is not None:
            write_ply(out / f"{stem}.ply", backproject(res.depth, K), rgb, res.uncertainty)
        return (f"{dp.name}: {np.isfinite(res.depth).mean() * 100:.1f} % valid (raw {np.mean(depth > 0) * 100:.1f} %), "
                f"{res.timings['total_ms']:.0f} ms, {res.method}"), units or "", False

    failed, units_warned = 0, False
    # --workers: frames enhanced at once (the graph one at a time, the work around it in parallel), reported in order
    with ThreadPoolExecutor(args.workers) as pool:
        for line, units, bad in pool.map(one, rgbs, depths):
            if units and not units_warned:  # the frames are still written, as the node still publishes them
                print(f"warning: {units}", file=sys.stderr)
                units_warned = True
            print(line, file=sys.stderr if bad else sys.stdout)
            failed += bad
    print(f"{len(depths) - failed} of {len(depths)} frames written to {out}")
    return 1 if failed == len(depths) else 0
