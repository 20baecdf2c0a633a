"""The light denoiser run K x S times per frame: x_t + shared condition features -> clean depth (x0)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
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
        return self.run(x_t, t, self.prepare(cond))

    def prepare(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-frame part, computed once and shared by every sample and step: the condition's share of
        ``conv_in`` (a convolution is linear, so conv_in(cat[x_t, cond]) = conv(x_t, W_x) + conv(cond, W_c) + b)
        and the pooled raw depth the output corrects. cond [B,C,h,w] -> ([B,c,h,w], [B,1,h,w])."""
        return F.conv2d(cond, self.conv_in.weight[:, 1:], self.conv_in.bias, padding=1), cond[:, :1] * cond[:, 1:2]

    def run(self, x_t: torch.Tensor, t: torch.Tensor, prepared: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """x_t [B*K,1,h,w] (sample-minor: row b*K + k), t [B*K]; ``prepared`` from :meth:`prepare` on the
        B frames' condition -> x0 [B*K,1,h,w]. Only x_t's 1-channel share of ``conv_in`` runs per sample."""
        h_cond, base = prepared
        k = x_t.shape[0] // h_cond.shape[0]
        temb = self.time_embed(self.time_proj(t).to(x_t.dtype))
        h = F.conv2d(x_t, self.conv_in.weight[:, :1], None, padding=1)
        h = (h.unflatten(0, (-1, k)) + h_cond.unsqueeze(1)).flatten(0, 1)
        for block in self.blocks:
            h = block(h, temb)
        # Predict a correction to the pooled raw depth where it exists: keeps the easy part easy.
        out = self.conv_out(h)
        return (out.unflatten(0, (-1, k)) + base.unsqueeze(1)).flatten(0, 1)
