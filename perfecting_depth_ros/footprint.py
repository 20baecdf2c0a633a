"""What a depth sensor never measures: the pixels of its image rectangle outside its field of view (an Azure Kinect's
or Orbbec Femto's hexagonal or round depth image) or in its registration's border bands (a Kinect's depth registered
to its colour camera). Every fill rebuilds them like any other hole, which is depth invented where the sensor cannot
look. One frame cannot tell them from a hole at the image border (a window past the sensor's range); a stream can:
the sensor's footprint is every pixel some frame of it has measured.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from .enhancer import EnhancedDepth, drop_rebuilt


def border_connected(mask: np.ndarray) -> np.ndarray:
    """The pixels of bool ``mask`` in 8-connected regions that reach the image border."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(mask.shape, bool)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge > 0]  # label 0 is the rest of the image
    keep = np.zeros(n, bool)
    keep[edge] = True
    return keep[labels]


class SensorFootprint:
    """Which pixels of a stream to leave without a value: those connected to the image border that no frame has
    measured, once ``frames`` frames have been seen (none before that: one frame, or a robot that has not moved yet,
    tells too little). A pixel measured once leaves that set for good, and a new image size starts over, so a hole
    at the border that the sensor does measure later (a window, as the robot turns) is filled again from then on.
    Safe to call from several threads (the node's workers)."""

    def __init__(self, frames: int):
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1:
            raise ValueError(f"frames must be an integer >= 1, got {frames!r}")
        self.frames = int(frames)
        self._lock = threading.Lock()
        self._seen: np.ndarray | None = None
        self._count = 0
        self._outside: np.ndarray | None = None  # border_connected(~seen), made again when seen grows

    @property
    def count(self) -> int:
        """Frames seen since the last start (a new image size starts over)."""
        return self._count

    @property
    def outside(self) -> np.ndarray | None:
        """The pixels left out after the last ``update`` (None while fewer than ``frames`` frames have been seen)."""
        return self._outside if self._count >= self.frames else None

    def update(self, raw: np.ndarray) -> np.ndarray | None:
        """Add a frame's raw depth (> 0: measured; 0, negative or NaN: not) and return the pixels to leave without a
        value (bool, the frame's shape; read-only), or None while fewer than ``frames`` frames have been seen."""
        with np.errstate(invalid="ignore"):
            valid = np.asarray(raw) > 0
        if valid.ndim != 2:
            raise ValueError(f"raw depth must be HxW, got shape {valid.shape}")
        with self._lock:
            if self._seen is None or self._seen.shape != valid.shape:
                self._seen, self._count, self._outside = np.zeros(valid.shape, bool), 0, None
            new = valid & ~self._seen
            if new.any():
                self._seen |= new
                self._outside = None
            self._count += 1
            if self._count < self.frames:
                return None
            if self._outside is None:
                self._outside = border_connected(~self._seen)
                self._outside.flags.writeable = False
            return self._outside

    def apply(self, raw: np.ndarray, out: EnhancedDepth) -> EnhancedDepth:
        """``update`` with the frame's ``raw`` depth, then ``out`` with its rebuilt pixels among those left out given
        no value (NaN depth and 1-sigma, ``SOURCE_NONE``, NaN points). Measured pixels are never dropped."""
        outside = self.update(raw)
        if outside is None or out.source is None or not outside.any():
            return out
        out.depth, out.uncertainty, out.source = drop_rebuilt(out.depth, out.uncertainty, out.source, outside)
        if out.points is not None:
            out.points = np.where(np.isfinite(out.depth)[..., None], out.points, np.nan).astype(np.float32)
        return out
