"""The whole inference graph: condition encoder once, K samples x S denoiser steps, statistics, refiner.

This one module is what the backends export and run, so ONNX Runtime and TensorRT compute exactly
what torch computes. The noise is an input (TensorRT ignores seeds of in-graph random ops).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler
from torch import nn

from .condition import ConditionEncoder
from .config import ModelConfig
from .denoiser import Denoiser
from .error_head import ErrorHead, combine_sigma
from .refiner import Refiner


def make_scheduler(cfg: ModelConfig) -> DDIMScheduler:
    """DDIM with x0 ('sample') prediction, zero terminal SNR and trailing timesteps (few-step friendly)."""
    return DDIMScheduler(
        num_train_timesteps=cfg.num_train_timesteps, beta_schedule="scaled_linear", prediction_type="sample",
        clip_sample=False, timestep_spacing="trailing", rescale_betas_zero_snr=True, set_alpha_to_one=True,
    )


class PerfectingDepthModel(nn.Module):
    """Stage 1 (stochastic prior) + stage 2 (refiner, optional raw-error head) in one module."""

    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg = cfg or ModelConfig()
        self.encoder = ConditionEncoder(self.cfg)
        cond_ch = self.encoder.out_channels
        self.denoiser = Denoiser(self.cfg, cond_ch)
        self.refiner = Refiner(self.cfg, cond_ch)
        w = self.cfg.error_head_channels
        self.error_head = ErrorHead(w, cond_ch, context=self.cfg.error_head_context,
                                                light=self.cfg.error_head_light) if w else None
        self.scheduler = make_scheduler(self.cfg)
        self.set_steps(self.cfg.steps)

    def set_steps(self, steps: int) -> None:
        if not 1 <= steps <= 50:
            raise ValueError(f"steps must be in 1..50, got {steps}")
        self.scheduler.set_timesteps(steps)
        self.steps = steps

    # --------------------------------------------------------------------- stage 1
    def condition(self, rgb: torch.Tensor, depth_n: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Shared condition at 1/stride: [pooled raw depth, valid fraction, encoder features]."""
        s = self.cfg.stride
        msum = F.avg_pool2d(mask, s)
        dpool = F.avg_pool2d(depth_n * mask, s) / msum.clamp_min(1e-3)
        feat = self.encoder(rgb, depth_n, mask)
        return torch.cat([dpool, msum, feat], dim=1)  # [B,2+C,h,w]

    def sample(self, cond: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """DDIM (eta = 0) from the given initial noise [B,K,1,h,w] -> samples [B,K,1,h,w]."""
        B, K = noise.shape[:2]
        x = noise.flatten(0, 1)
        prepared = self.denoiser.prepare(cond)  # the condition's share, once per frame for every sample and step
        for t in self.scheduler.timesteps:
            tt = torch.full((B * K,), int(t), dtype=torch.int64, device=x.device)
            x0 = self.denoiser.run(x, tt, prepared)
            x = self.scheduler.step(x0, int(t), x, eta=0.0).prev_sample
        return x.view(B, K, *x.shape[1:])

    def noise_shape(self, batch: int, height: int, width: int, samples: int | None = None) -> tuple[int, ...]:
        s = self.cfg.stride
        return (batch, samples or self.cfg.samples, 1, height // s, width // s)

    def prior(self, rgb: torch.Tensor, depth_n: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor):
        """Stage 1 as the refiner sees it: (condition, sample mean, sample spread), mean and spread
        upsampled to the input resolution. Shared by the graph and the training losses."""
        cond = self.condition(rgb, depth_n, mask)
        samples = self.sample(cond, noise)  # [B,K,1,h,w]
        mean = samples.mean(dim=1)
        spread = ((samples - mean.unsqueeze(1)) ** 2).mean(dim=1).sqrt()
        up = float(self.cfg.stride)
        return (cond, F.interpolate(mean, scale_factor=up, mode="bilinear"),
                F.interpolate(spread, scale_factor=up, mode="bilinear"))

    # --------------------------------------------------------------------- full graph
    def forward(self, rgb: torch.Tensor, depth_n: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor,
                range_: torch.Tensor | None = None):
        """rgb [B,3,H,W] 0..1, depth_n [B,1,H,W], mask [B,1,H,W], noise [B,K,1,H/4,W/4], range_ [B,2] (the
        sensor's max range, see ``refiner.range_channels``; read only when ``cfg.refiner_range``).

        Returns (final, sigma, mean, spread, gate), each [B,1,H,W] in normalised depth units.
        """
        cond, mean_f, spread_f = self.prior(rgb, depth_n, mask, noise)
        final, sigma, gate, refined = self.refiner(rgb, depth_n, mask, mean_f, spread_f, cond[:, 2:], range_)
        published = sigma * self.cfg.sigma_gain if self.cfg.sigma_gain != 1.0 else sigma
        if self.error_head is not None:  # valid-looking raw pixels that are wrong: widen sigma there
            p, mag = self.error_head(rgb, depth_n, mask, mean_f, spread_f, refined, sigma, gate, cond[:, 2:])
            published = combine_sigma(published, p, self.cfg.p_scale, self.cfg.p_power)
            if self.cfg.error_head_gate:  # a raw pixel the head doubts is rebuilt, not kept
                gate = gate * (1 - p)
                final = gate * depth_n + (1 - gate) * refined
        return final, published, mean_f, spread_f, gate
