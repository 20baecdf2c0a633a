"""Does JPEG colour (rgb_transport: compressed) cost accuracy? The check command's masked hold-out on real frames,
with the colour image as it arrives over image_transport's compressed topic at several JPEG qualities.

Same frames, same hidden blobs and same depth in every row; only the colour differs (the frames' own files, then
JPEG-encoded and decoded by the node's decoder at each quality). Real 7-Scenes Kinect v1 frames spread over the
whole sequence (training frames included: this measures a transport effect, not the model's accuracy).

    python scripts/probe_jpeg_colour.py [--frames 10] [--draws 2] [--out outputs/probe_jpeg_colour.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from perfecting_depth_ros.evaluate.own_frames import check_frames, folder_frames, make_methods
from perfecting_depth_ros.node.compressed import compressed_to_rgb

SEVEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "7scenes_redkitchen_kinect1"


def jpeg_frames(frames, quality: int | None):
    """The same frames with the colour JPEG-encoded at ``quality`` (None: unchanged) and decoded as the node does."""
    for name, load in frames:
        def jpeg_load(load=load):
            rgb, depth = load()
            if quality is None:
                return rgb, depth
            data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
            return compressed_to_rgb("rgb8; jpeg compressed bgr8", data), depth

        yield name, jpeg_load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--qualities", default="none,95,80,50")
    ap.add_argument("--out", default="outputs/probe_jpeg_colour.json")
    a = ap.parse_args()
    methods = make_methods(["learned", "learned-fast", "joint_bilateral"], max_range_m=4.5)
    rows = {}
    for q in a.qualities.split(","):
        quality = None if q == "none" else int(q)
        frames = list(folder_frames(SEVEN / "rgb", SEVEN / "depth", 0.001, a.frames))
        rep = check_frames(jpeg_frames(frames, quality), methods, draws=a.draws)
        rows[q] = {m: {"mae_mm": r["mae_mm"], "rmse_mm": r["rmse_mm"]} for m, r in rep["methods"].items()}
        print(f"colour {'as recorded' if quality is None else f'JPEG q={quality}'}: "
              + ", ".join(f"{m} {r['mae_mm']:.2f} mm MAE / {r['rmse_mm']:.1f} mm RMSE" for m, r in rows[q].items()),
              flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"frames": a.frames, "draws": a.draws, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
