"""PyTorch backend (CPU or CUDA): the reference every exported backend is checked against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import OUTPUT_NAMES, Backend, BackendError


class TorchBackend(Backend):
    def __init__(self, weights: str | Path, samples: int, steps: int, device: str = "cpu"):
        from ..train.common import load_model

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError("CUDA requested but torch sees no GPU")
        try:
            model, _ = load_model(weights)
        except ValueError as e:
            raise BackendError(str(e)) from e
        model.set_steps(steps)
        self.model = model.eval().to(device)
        self.device = device
        self.samples = samples
        self.stride = model.cfg.stride
        self.name = f"torch-{device}"

    @torch.inference_mode()
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        t = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in inputs.items()}
        outs = self.model(t["rgb"], t["depth"], t["mask"], t["noise"])
        return {k: v.float().cpu().numpy() for k, v in zip(OUTPUT_NAMES, outs)}
