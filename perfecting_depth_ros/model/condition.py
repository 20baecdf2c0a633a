"""Condition encoder: RGB + masked depth + mask -> features at 1/4 resolution. Runs once per frame."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

from .config import ModelConfig


def conv(cin: int, cout: int, stride: int = 1, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


class ConditionEncoder(nn.Module):
    """A small U-Net down to 1/16 for context (hole filling needs it), decoded back to 1/4."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c1, c2, c3, c4 = cfg.enc_channels
        g = cfg.groups
        self.stem = nn.Sequential(conv(5, c1, 2), nn.SiLU(), conv(c1, c2, 2), nn.SiLU())  # 1/4
        self.block2 = ResnetBlock2D(in_channels=c2, temb_channels=None, groups=g)
        self.down3 = conv(c2, c3, 2)
        self.block3 = ResnetBlock2D(in_channels=c3, temb_channels=None, groups=g)
        self.down4 = conv(c3, c4, 2)
        self.block4a = ResnetBlock2D(in_channels=c4, temb_channels=None, groups=g)
        self.block4b = ResnetBlock2D(in_channels=c4, temb_channels=None, groups=g)
        self.up3 = conv(c4 + c3, c3)
        self.up2 = conv(c3 + c2, c2)
        self.out_channels = c2

    def forward(self, rgb: torch.Tensor, depth_n: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """rgb [B,3,H,W] in [0,1]; depth_n [B,1,H,W] normalised (0 where invalid); mask [B,1,H,W] 1 = valid."""
        x = torch.cat([rgb * 2 - 1, depth_n * mask, mask], dim=1)
        f2 = self.block2(self.stem(x), None)  # [B,c2,H/4,W/4]
        f3 = self.block3(self.down3(f2), None)  # [B,c3,H/8,W/8]
        f4 = self.block4b(self.block4a(self.down4(f3), None), None)  # [B,c4,H/16,W/16]
        u3 = F.silu(self.up3(torch.cat([F.interpolate(f4, scale_factor=2.0, mode="nearest"), f3], 1)))
        return F.silu(self.up2(torch.cat([F.interpolate(u3, scale_factor=2.0, mode="nearest"), f2], 1)))
