"""Raw-error head: how likely a *valid-looking* raw pixel is wrong, and by how much.

The sample spread marks holes and depth edges, not raw pixels that look valid but are wrong (glass seen
through, mirrors, specular spikes): the diffusion prior is conditioned on those very pixels. This head is
trained on its own (everything else frozen) on sensor-simulated frames to predict, per valid raw pixel,

- ``p``: the probability that the raw depth is more than 5 cm off the true surface, and
- ``mag``: the typical size of that error (normalised depth units) when it is.

Its inputs are the RGB, the raw depth and mask, the stage-1 mean and spread, the prior-vs-raw residual,
the refiner's outputs (rebuilt depth, sigma, gate) and the shared condition features; a 1/4-resolution
trunk with dilated convolutions gives it the context to see a tinted pane or a mirror frame, and an
optional 1/16-resolution branch sees across the whole frame (a pane that fills half the view).
The published 1-sigma combines its probability with the refiner's sigma (:func:`combine_sigma`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ErrorHead(nn.Module):
    """Full-resolution stem, 1/4-resolution dilated trunk (+ condition features and, with ``context``, a
    1/16-resolution branch added back before the trunk), full-resolution output. ``light`` keeps the
    full-resolution part small (8 trunk channels brought up, 8 skip channels, 1x1 output convolutions): on
    the 2-core CPU the default output path costs about 17 ms of the 320x240 graph."""

    N_IN = 3 + 2 + 3 + 3  # rgb, raw + mask, mean + spread + |mean - raw|, refined - raw + sigma + gate

    def __init__(self, channels: int, cond_channels: int, context: bool = False, light: bool = False):
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(self.N_IN, c // 2, 3, stride=2, padding=1), nn.SiLU(),
                                  nn.Conv2d(c // 2, c, 3, stride=2, padding=1), nn.SiLU())
        self.mix = nn.Sequential(nn.Conv2d(c + cond_channels, c, 1), nn.SiLU())
        self.context = nn.Sequential(
            nn.Conv2d(c, c, 3, stride=2, padding=1), nn.SiLU(), nn.Conv2d(c, c, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(c, c, 3, padding=2, dilation=2), nn.SiLU(), nn.Conv2d(c, c, 3, padding=4, dilation=4), nn.SiLU(),
        ) if context else None
        self.trunk = nn.ModuleList(nn.Conv2d(c, c, 3, padding=d, dilation=d) for d in (1, 2, 4, 8))
        if light:  # full resolution only sees 8 + 8 channels and 1x1 convolutions after the skip
            self.low = nn.Conv2d(c, 8, 1)
            self.skip = nn.Sequential(nn.Conv2d(self.N_IN, 8, 3, padding=1), nn.SiLU())
            self.out = nn.Sequential(nn.Conv2d(16, 16, 1), nn.SiLU(), nn.Conv2d(16, 2, 1))
        else:
            self.low = None
            self.skip = nn.Sequential(nn.Conv2d(self.N_IN, c // 2, 3, padding=1), nn.SiLU())
            self.out = nn.Sequential(nn.Conv2d(c + c // 2, c // 2, 3, padding=1), nn.SiLU(), nn.Conv2d(c // 2, 2, 1))

    def forward(self, rgb, depth_n, mask, mean_n, std_n, refined, sigma, gate, cond):
        """All [B,*,H,W] (``cond`` [B,C,H/4,W/4]); returns (p, mag), each [B,1,H,W]; p is 0 where raw is invalid."""
        x = torch.cat([rgb * 2 - 1, depth_n * mask, mask, mean_n, std_n, (mean_n - depth_n).abs() * mask,
                       (refined - depth_n) * mask, sigma, gate], 1)
        h = self.mix(torch.cat([self.stem(x), cond], 1))
        if self.context is not None:
            h = h + F.interpolate(self.context(h), size=h.shape[-2:], mode="bilinear")
        for conv in self.trunk:
            h = h + F.silu(conv(h))
        if self.low is not None:
            h = self.low(h)
        h = F.interpolate(h, size=x.shape[-2:], mode="bilinear")
        o = self.out(torch.cat([h, self.skip(x)], 1))
        p = torch.sigmoid(o[:, 0:1]) * mask
        mag = F.softplus(o[:, 1:2]) + 1e-3
        return p, mag


# How much the head's probability adds to the published Laplace scale (normalised depth units, where the
# frame's 2nd..98th depth percentiles span 2). Chosen on the validation frames of scripts/validate_gap.py
# among sqrt(b^2 + (c p)^2), b (1 + a p) and the mixture below, as the best AUROC with ±2-sigma coverage in
# 90-97 %; the mixture, which the head's NLL term is trained with, ranked worse than b alone. The default of
# ModelConfig.p_scale; a checkpoint calibrated by scripts/calibrate_sigma.py carries its own.
P_SCALE = 0.3


def mixture_sigma(b: torch.Tensor, p: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    """Laplace scale of a two-part error: the refiner's b, plus, with probability ``p``, an error of
    typical size ``mag`` (a Laplace scale of mag / sqrt(2) has that standard deviation). Training only."""
    return torch.sqrt(b * b + p * mag * mag / 2)


def combine_sigma(b: torch.Tensor, p: torch.Tensor, p_scale: float = P_SCALE, p_power: float = 1.0) -> torch.Tensor:
    """The published Laplace scale: the refiner's ``b`` widened by the head's probability ``p``
    (``p_scale * p ** p_power``: a power above 1 leaves pixels the head barely doubts nearly alone)."""
    widen = p_scale * (p if p_power == 1.0 else p ** p_power)
    return torch.sqrt(b * b + widen * widen)
