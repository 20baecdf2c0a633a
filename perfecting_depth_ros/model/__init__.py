"""Torch modules of the learned enhancer: condition encoder, denoiser, refiner, and the full graph.

The names below are imported on first use, so that ``model.normalization`` (numpy only, used at run time) does not
load torch: the ONNX Runtime and TensorRT paths run without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import ModelConfig
    from .pipeline import PerfectingDepthModel

__all__ = ["ModelConfig", "PerfectingDepthModel"]


def __getattr__(name: str):
    if name == "ModelConfig":
        from .config import ModelConfig

        return ModelConfig
    if name == "PerfectingDepthModel":
        from .pipeline import PerfectingDepthModel

        return PerfectingDepthModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
