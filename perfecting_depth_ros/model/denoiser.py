"""The light denoiser run K x S times per frame: x_t + shared condition features -> clean depth (x0)."""

from __future__ import annotations

import torch
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

from .config import ModelConfig


class Denoiser(nn.Module):
    """x0-prediction network at 1/4 resolution, timestep-conditioned with diffusers blocks."""

    def __init__(self, cfg: ModelConfig, cond_channels: int):
        super().__init__()
        c = cfg.denoiser_channels
        self.time_proj = Timesteps(cfg.time_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(cfg.time_dim, cfg.time_dim)
        # inputs: x_t, pooled masked depth, pooled mask, condition features
        self.conv_in = nn.Conv2d(3 + cond_channels, c, 3, padding=1)
        self.blocks = nn.ModuleList(
            ResnetBlock2D(in_channels=c, temb_channels=cfg.time_dim, groups=cfg.groups)
            for _ in range(cfg.denoiser_blocks)
        )
        self.conv_out = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x_t [N,1,h,w]; t [N] timesteps; cond [N,C,h,w] (depth, mask and features) -> x0 [N,1,h,w]."""
        temb = self.time_embed(self.time_proj(t).to(x_t.dtype))
        h = self.conv_in(torch.cat([x_t, cond], dim=1))
        for block in self.blocks:
            h = block(h, temb)
        # Predict a correction to the pooled raw depth where it exists: keeps the easy part easy.
        return self.conv_out(h) + cond[:, :1] * cond[:, 1:2]
