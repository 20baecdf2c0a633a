"""Stage 2: deterministic refiner. RGB, raw depth, stage-1 mean and spread -> final depth, sigma, gate."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

from .config import ModelConfig


class Refiner(nn.Module):
    """A three-level U-Net (full, 1/2, 1/4); the 1/4 level also sees the condition features.

    Outputs, all at full resolution in normalised depth units:
    - ``refined``: the rebuilt depth (stage-1 mean + a learned correction);
    - ``gate``: probability that the raw pixel is reliable; final = gate * raw + (1 - gate) * refined;
    - ``sigma``: 1-sigma (Laplace scale) of the final depth, trained with a Laplace NLL.
    """

    def __init__(self, cfg: ModelConfig, cond_channels: int):
        super().__init__()
        c1, c2, c3 = cfg.refiner_channels
        g = cfg.groups
        n_in = 3 + 2 + 3  # rgb, raw + mask, mean + spread + |mean - raw|
        self.enc1 = nn.Sequential(nn.Conv2d(n_in, c1, 3, padding=1), nn.SiLU())
        self.enc2 = nn.Sequential(nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.SiLU())
        self.enc3 = nn.Sequential(nn.Conv2d(c2 + n_in, c3, 3, stride=2, padding=1), nn.SiLU())
        self.mid = ResnetBlock2D(in_channels=c3 + cond_channels, out_channels=c3, temb_channels=None, groups=g)
        self.dec2 = nn.Sequential(nn.Conv2d(c3 + c2, c2, 1), nn.SiLU(), nn.Conv2d(c2, c2, 3, padding=1), nn.SiLU())
        self.dec1 = nn.Sequential(nn.Conv2d(c2 + c1, c1, 1), nn.SiLU(), nn.Conv2d(c1, c1, 3, padding=1), nn.SiLU())
        self.head = nn.Conv2d(c1, 3, 3, padding=1)

    def forward(self, rgb, depth_n, mask, mean_n, std_n, cond):
        x = torch.cat([rgb * 2 - 1, depth_n * mask, mask, mean_n, std_n, (mean_n - depth_n).abs() * mask], 1)
        e1 = self.enc1(x)  # [B,c1,H,W]
        e2 = self.enc2(e1)  # [B,c2,H/2,W/2]
        e3 = self.enc3(torch.cat([e2, F.avg_pool2d(x, 2)], 1))  # [B,c3,H/4,W/4]
        m = self.mid(torch.cat([e3, cond], 1), None)
        d2 = self.dec2(torch.cat([F.interpolate(m, scale_factor=2.0, mode="bilinear"), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="bilinear"), e1], 1))
        out = self.head(d1)
        refined = mean_n + out[:, 0:1]
        gate = torch.sigmoid(out[:, 2:3]) * mask
        final = gate * depth_n + (1 - gate) * refined
        sigma = F.softplus(out[:, 1:2]) + 1e-3
        return final, sigma, gate, refined
