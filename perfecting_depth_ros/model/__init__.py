"""Torch modules of the learned enhancer: condition encoder, denoiser, refiner, and the full graph."""

from .config import ModelConfig
from .pipeline import PerfectingDepthModel

__all__ = ["ModelConfig", "PerfectingDepthModel"]
