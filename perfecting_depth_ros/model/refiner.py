"""Stage 2: deterministic refiner. RGB, raw depth, stage-1 mean and spread -> final depth, sigma, gate."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

from ..fill import PLANAR_SCALES, SUPPORT
from .config import ModelConfig


def _box(x: torch.Tensor, k: int) -> torch.Tensor:
    """k x k box mean, size-preserving (zeros outside), as two separable 1-D poolings."""
    x = F.avg_pool2d(x, (1, k), stride=1, padding=(0, k // 2))
    return F.avg_pool2d(x, (k, 1), stride=1, padding=(k // 2, 0))


def normalized_fill(depth_n: torch.Tensor, mask: torch.Tensor, fallback: torch.Tensor,
                    kernels: tuple[int, ...] = (31, 15, 7, 3)) -> torch.Tensor:
    """Classical hole fill inside the graph: normalised convolution at 1/4 resolution.

    Masked box averages of growing size (3..31 cells of 4 px, up to ~124 px) fill each hole from the
    nearest scale that has enough valid support; where none has, ``fallback`` (the stage-1 mean) is
    used. Valid pixels keep their value. Plain pooling and interpolation ops, so it exports to ONNX.
    All tensors [B,1,H,W] with H, W multiples of 4.
    """
    d4 = F.avg_pool2d(depth_n * mask, 4)
    m4 = F.avg_pool2d(mask, 4)
    fill = F.avg_pool2d(fallback, 4)
    for k in kernels:  # coarse to fine: finer scales overwrite where they have support
        num, den = _box(d4, k), _box(m4, k)
        alpha = (den / 0.05).clamp(0, 1)
        fill = alpha * (num / den.clamp_min(1e-4)) + (1 - alpha) * fill
    fill = F.interpolate(fill, scale_factor=4.0, mode="bilinear")
    return mask * depth_n + (1 - mask) * fill


def _taps(k: int, p: int, like: torch.Tensor) -> torch.Tensor:
    u = torch.arange(k, dtype=like.dtype, device=like.device) / (k // 2) - 1.0  # offsets in half-widths, -1..1
    return u ** p / k


# Window moments as two separable convolutions: a dense horizontal one from (m, m*d) to nine channels
# (input channel, power of u), then a depthwise vertical one (power of v), giving
# s, s_v, s_vv, s_u, s_uv, s_uu, s_d, s_dv, s_du.
_MOMENTS = ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0), (0, 1, 1), (0, 2, 0), (1, 0, 0), (1, 0, 1), (1, 1, 0))


def _moment_weights(k: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Built on ``like``'s device (no host-to-device copy, so CUDA graphs can capture it)."""
    wh = torch.zeros(len(_MOMENTS), 2, 1, k, dtype=like.dtype, device=like.device)
    wv = torch.zeros(len(_MOMENTS), 1, k, 1, dtype=like.dtype, device=like.device)
    for o, (i, pu, pv) in enumerate(_MOMENTS):
        wh[o, i, 0] = _taps(k, pu, like)
        wv[o, 0, :, 0] = _taps(k, pv, like)
    return wh, wv


def _plane_at_centre(m: torch.Tensor, d: torch.Tensor, k: int, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted least-squares plane through the valid cells of each k x k window, evaluated at its
    centre (Cramer's rule on the 3 x 3 normal equations); also how far the window is trusted."""
    wh, wv = _moment_weights(k, d)
    x = F.conv2d(torch.cat([m, m * d], 1), wh, padding=(0, k // 2))
    moments = F.conv2d(x, wv, padding=(k // 2, 0), groups=len(_MOMENTS))
    s, sv, svv, su, suv, suu, sd, sdv, sdu = moments.split(1, dim=1)
    p, r, q = suu + ridge * s, svv + ridge * s, suv
    c00, c01, c02 = p * r - q * q, su * r - q * sv, su * q - p * sv
    det = s * c00 - su * c01 + sv * c02
    num = sd * c00 - su * (sdu * r - q * sdv) + sv * (sdu * q - p * sdv)
    # trusted by support alone: near a hole's rim a thin, ill-conditioned strip of measurements still
    # beats a coarser window (the ridge makes such a fit fall back towards the strip's mean); trusting by
    # conditioning as well was measured worse on the 7-Scenes gap-block hold-out (25.2 vs 22.0 mm)
    return num / det.clamp_min(1e-12), (s / SUPPORT).clamp(0, 1)


def planar_fill(depth_n: torch.Tensor, mask: torch.Tensor, fallback: torch.Tensor,
                scales: tuple[tuple[int, int], ...] = PLANAR_SCALES, ridge: float = 0.02) -> torch.Tensor:
    """Hole fill by first-order normalised convolution (Knutsson & Westin), inside the graph.

    For each window, coarse to fine, a plane is fitted by weighted least squares to the valid cells
    (``ridge`` shrinks the slope where support is thin) and evaluated at the window centre, so walls,
    floors and table tops are filled exactly where the zeroth-order fill is biased on slopes. Large
    windows run on coarser cell grids (``scales`` = (cell px, window cells)) and are upsampled to the
    finest grid. Valid pixels keep their value; ``fallback`` where no window has support. Plain
    convolution, pooling and interpolation ops, so it exports to ONNX. Tensors [B,1,H,W], H and W
    multiples of the largest cell. The numpy twin is :func:`perfecting_depth_ros.fill.planar_fill`.
    """
    fine = min(c for c, _ in scales)
    fill = F.avg_pool2d(fallback, fine)
    grids = {}  # several windows share a cell grid
    for cell, k in scales:
        if cell not in grids:
            m = F.avg_pool2d(mask, cell)
            grids[cell] = m, F.avg_pool2d(depth_n * mask, cell) / m.clamp_min(1e-6)
        m, d = grids[cell]
        est, alpha = _plane_at_centre(m, d, k, ridge)
        if cell != fine:
            est = F.interpolate(est, scale_factor=float(cell // fine), mode="bilinear")
            alpha = F.interpolate(alpha, scale_factor=float(cell // fine), mode="bilinear")
        fill = alpha * est + (1 - alpha) * fill
    fill = F.interpolate(fill, scale_factor=float(fine), mode="bilinear")
    return mask * depth_n + (1 - mask) * fill


COLOUR_CELL = 4  # colour_fill's grid (px), taps per side and pass dilations: chosen by scripts/probe_colour_fill.py
COLOUR_TAPS = 3  # as the cheapest variant that keeps most of the gain (about 2 ms of the 320x240 CPU graph)
COLOUR_RADII = (1, 2)
COLOUR_SIGMA = 20.0 / 255.0  # colour distance (RGB in 0..1) at which a neighbour's weight falls to 1/e^0.5


def colour_fill(depth_n: torch.Tensor, mask: torch.Tensor, rgb: torch.Tensor, fallback: torch.Tensor,
                cell: int = COLOUR_CELL, taps: int = COLOUR_TAPS, radii: tuple[int, ...] = COLOUR_RADII,
                sigma_c: float = COLOUR_SIGMA) -> torch.Tensor:
    """Hole fill by joint bilateral normalised convolution with the RGB as guide, inside the graph.

    The in-graph kin of the ``joint_bilateral`` baseline, which beats the planar fill in ordinary holes: on a grid of
    ``cell`` px, windows of growing size fill each hole from valid neighbours weighted by spatial closeness and colour
    likeness (a hole at a depth edge takes the depth of the side whose colour it shares); each pass fills where its
    weighted support reaches 5 %, later passes see what earlier ones filled, and what no window reaches takes
    ``fallback``. Valid pixels keep their value. The ``taps`` x ``taps`` dilated neighbours of a pass are slices of
    one edge-padded tensor, weighed at once, so it exports to ONNX in few nodes. [B,*,H,W], H, W multiples of cell.
    """
    mc = F.avg_pool2d(mask, cell)
    have = (mc > 0.5).to(depth_n.dtype)
    val = F.avg_pool2d(depth_n * mask, cell) / mc.clamp_min(1e-6) * have
    g = F.avg_pool2d(rgb, cell)
    h, w = g.shape[-2:]
    half = taps // 2
    offs = [(iy, ix) for iy in range(-half, half + 1) for ix in range(-half, half + 1)]
    for r in radii:
        p = half * r
        sig_s2 = 2.0 * (2 * r + 0.5) ** 2  # the baseline's spatial sigma = diameter / 2, in grid cells
        xp = F.pad(torch.cat([g, have * val, have, torch.ones_like(have)], 1), (p, p, p, p), mode="replicate")
        xs = torch.stack([xp[:, :, p + iy * r:p + iy * r + h, p + ix * r:p + ix * r + w] for iy, ix in offs], 2)
        space = torch.tensor([-(iy * iy + ix * ix) * r * r / sig_s2 for iy, ix in offs], dtype=g.dtype,
                             device=g.device).view(1, len(offs), 1, 1)
        wt = torch.exp(-0.5 / sigma_c ** 2 * ((g.unsqueeze(2) - xs[:, :3]) ** 2).sum(1) + space)  # [B,taps^2,h,w]
        num, den, tot = (wt.unsqueeze(1) * xs[:, 3:]).sum(2).split(1, 1)
        ok = (den > 0.05 * tot).to(val.dtype) * (1 - have)
        val = val + ok * (num / den.clamp_min(1e-12) - val)
        have = have + ok
    val = have * val + (1 - have) * F.avg_pool2d(fallback, cell)
    return mask * depth_n + (1 - mask) * F.interpolate(val, scale_factor=float(cell), mode="bilinear")


FAR_BIAS_INIT = -4.0  # the out-of-range output starts near "no" (p = 0.018), so a warm start barely moves
RANGE_CLIP = (-1.0, 4.0)  # normalised max range seen by the refiner: past +4 the sensor's limit is far off


def range_channels(range_: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """The sensor's max range as two constant channels [known, clip(range_n) * known].

    ``range_`` is [B,2]: (1 if the max range is known else 0, the max range in the frame's normalised depth
    units); None means unknown for every sample. Depth is normalised per frame, so without this the model
    cannot tell a hole past the sensor's range from one on a surface it could measure."""
    B, _, H, W = like.shape
    if range_ is None:
        return like.new_zeros(B, 2, H, W)
    known = range_[:, 0:1]
    value = range_[:, 1:2].clamp(*RANGE_CLIP) * known
    return torch.cat([known, value], 1).view(B, 2, 1, 1).expand(B, 2, H, W)


def context_level(c_in: int, width: int, groups: int) -> nn.ModuleDict:
    """A coarser level for a U-Net's features: a stride-2 convolution, two ResNet blocks of ``width`` channels and a
    1x1 convolution back to ``c_in`` that starts at zero, so a level grown onto a trained model adds nothing until
    trained (``context_features`` and ``context_back`` run it)."""
    level = nn.ModuleDict({
        "down": nn.Sequential(nn.Conv2d(c_in, width, 3, stride=2, padding=1), nn.SiLU()),
        "block1": ResnetBlock2D(in_channels=width, out_channels=width, temb_channels=None, groups=groups),
        "block2": ResnetBlock2D(in_channels=width, out_channels=width, temb_channels=None, groups=groups),
        "up": nn.Conv2d(width, c_in, 1),
    })
    nn.init.zeros_(level["up"].weight)
    nn.init.zeros_(level["up"].bias)
    return level


def context_features(level: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
    """A ``context_level``'s features of ``x``, at half its resolution."""
    return level["block2"](level["block1"](level["down"](x), None), None)


def context_back(level: nn.ModuleDict, features: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``features`` brought back to ``like``'s size and channels: what the level adds to ``like``."""
    return level["up"](F.interpolate(features, size=like.shape[-2:], mode="bilinear"))


class Refiner(nn.Module):
    """A three-level U-Net (full, 1/2, 1/4); the 1/4 level also sees the condition features (and, with
    ``refiner_context``, a fourth level at 1/8 adds to it, and with ``refiner_context2`` a fifth at 1/16 adds to that).

    Outputs, all at full resolution in normalised depth units:
    - ``refined``: the rebuilt depth (a learned correction added to the stage-1 mean, or, with
      ``refiner_base="fill"``, to the in-graph classical fill, which is exact next to measurements, or with
      ``refiner_base="colour"`` to the colour-guided fill);
    - ``gate``: probability that the raw pixel is reliable; final = gate * raw + (1 - gate) * refined;
    - ``sigma``: 1-sigma (Laplace scale) of the final depth, trained with a Laplace NLL.
    """

    def __init__(self, cfg: ModelConfig, cond_channels: int):
        super().__init__()
        c1, c2, c3 = cfg.refiner_channels
        g = cfg.groups
        n_in = 3 + 2 + 3  # rgb, raw + mask, mean + spread + |mean - raw|
        self.use_fill = cfg.refiner_fill
        if cfg.refiner_base not in ("mean", "fill", "colour") or (cfg.refiner_base == "fill" and not cfg.refiner_fill):
            raise ValueError(f"refiner_base={cfg.refiner_base!r} needs refiner_fill (mean | fill | colour)")
        if cfg.fill_order not in (0, 1):
            raise ValueError(f"fill_order must be 0 (normalised convolution) or 1 (planar), got {cfg.fill_order}")
        self.fill_order = cfg.fill_order
        self.base_is_fill = cfg.refiner_base == "fill"
        self.base_is_colour = cfg.refiner_base == "colour"  # colour_fill (its fallback the planar / mean base)
        if self.use_fill:
            n_in += 2  # classical fill of raw, and fill - mean
        self.use_range = cfg.refiner_range
        self.use_far = cfg.refiner_far
        if self.use_far and not self.use_range:
            raise ValueError("refiner_far needs refiner_range (the lift is to the sensor's range)")
        if cfg.far_lift not in ("soft", "hard", "none"):
            raise ValueError(f"far_lift must be 'soft', 'hard' or 'none', got {cfg.far_lift!r}")
        self.far_lift = cfg.far_lift
        self.far_threshold = float(cfg.far_threshold)
        self.far_scale = float(cfg.far_scale)
        self.far_sigma = bool(cfg.far_sigma)
        if self.use_range:
            n_in += 2  # the sensor's max range (known flag, normalised value): last, so a warm start grows by zeros
        self.range_relative = cfg.range_relative
        if self.range_relative and not self.use_range:
            raise ValueError("range_relative needs refiner_range")
        if self.range_relative:
            n_in += 1  # (range - classical fill) per pixel: how close a hole's fill comes to the sensor's reach
        self.use_colour = cfg.colour_fill
        if self.use_colour:
            n_in += 2  # colour-guided fill of raw, and colour fill - base: after everything, for the same reason
        self.enc1 = nn.Sequential(nn.Conv2d(n_in, c1, 3, padding=1), nn.SiLU())
        self.enc2 = nn.Sequential(nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.SiLU())
        self.enc3 = nn.Sequential(nn.Conv2d(c2 + n_in, c3, 3, stride=2, padding=1), nn.SiLU())
        self.mid = ResnetBlock2D(in_channels=c3 + cond_channels, out_channels=c3, temb_channels=None, groups=g)
        if cfg.refiner_context2 and not cfg.refiner_context:
            raise ValueError("refiner_context2 adds a level below refiner_context's: it needs refiner_context")
        # coarser levels: more of the frame seen from inside a large hole (1/8 on the 1/4 features, 1/16 on that)
        self.context = context_level(c3, int(cfg.refiner_context), g) if cfg.refiner_context else None
        self.context2 = (context_level(int(cfg.refiner_context), int(cfg.refiner_context2), g)
                         if cfg.refiner_context2 else None)
        self.dec2 = nn.Sequential(nn.Conv2d(c3 + c2, c2, 1), nn.SiLU(), nn.Conv2d(c2, c2, 3, padding=1), nn.SiLU())
        self.dec1 = nn.Sequential(nn.Conv2d(c2 + c1, c1, 1), nn.SiLU(), nn.Conv2d(c1, c1, 3, padding=1), nn.SiLU())
        self.far_branch = self.use_far and cfg.far_branch
        self.head = nn.Conv2d(c1, 4 if self.use_far and not self.far_branch else 3, 3, padding=1)
        if self.far_branch:  # [decoder features (detached), known, range - rebuilt depth, mask] -> logit
            self.far = nn.Sequential(nn.Conv2d(c1 + 3, 8, 3, padding=1), nn.SiLU(), nn.Conv2d(8, 1, 1))
            nn.init.zeros_(self.far[2].weight)
        if self.use_far:
            with torch.no_grad():
                (self.far[2].bias if self.far_branch else self.head.bias)[-1] = FAR_BIAS_INIT

    def forward(self, rgb, depth_n, mask, mean_n, std_n, cond, range_=None, return_far: bool = False):
        """Returns (final, sigma, gate, refined), and the out-of-range logit when ``return_far`` (None without it)."""
        x = torch.cat([rgb * 2 - 1, depth_n * mask, mask, mean_n, std_n, (mean_n - depth_n).abs() * mask], 1)
        base = mean_n  # the classical fill when there is one: what the colour fill and the range are measured from
        if self.use_fill:
            base = (planar_fill if self.fill_order == 1 else normalized_fill)(depth_n, mask, mean_n)
            x = torch.cat([x, base, base - mean_n], 1)
        if self.use_range:
            rc = range_channels(range_, depth_n)
            x = torch.cat([x, rc], 1)
        if self.range_relative:
            x = torch.cat([x, (rc[:, 1:2] - base).clamp(-2, 2) * rc[:, 0:1]], 1)
        if self.use_colour or self.base_is_colour:
            cf = colour_fill(depth_n, mask, rgb, base)
            if self.use_colour:
                x = torch.cat([x, cf, cf - base], 1)
        e1 = self.enc1(x)  # [B,c1,H,W]
        e2 = self.enc2(e1)  # [B,c2,H/2,W/2]
        e3 = self.enc3(torch.cat([e2, F.avg_pool2d(x, 2)], 1))  # [B,c3,H/4,W/4]
        m = self.mid(torch.cat([e3, cond], 1), None)
        if self.context is not None:
            e4 = context_features(self.context, m)  # [B,c4,H/8,W/8]
            if self.context2 is not None:
                e4 = e4 + context_back(self.context2, context_features(self.context2, e4), e4)  # via [B,c5,H/16,W/16]
            m = m + context_back(self.context, e4, m)
        d2 = self.dec2(torch.cat([F.interpolate(m, scale_factor=2.0, mode="bilinear"), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="bilinear"), e1], 1))
        out = self.head(d1)
        refined = (cf if self.base_is_colour else base if self.base_is_fill else mean_n) + out[:, 0:1]
        sigma = F.softplus(out[:, 1:2]) + 1e-3
        far_logit = None
        if self.use_far:  # holes past the sensor's reach: at least the range, with the probability the head gives
            if self.far_branch:
                below = (rc[:, 1:2] - refined.detach()).clamp(-2, 2) * rc[:, 0:1]
                far_logit = self.far(torch.cat([d1.detach(), rc[:, 0:1], below, mask], 1))
            else:
                far_logit = out[:, 3:4]
            hole = (1 - mask) * rc[:, 0:1]
            p = torch.sigmoid(self.far_scale * (far_logit - self.far_threshold)) * hole
            lift = F.relu(rc[:, 1:2] - refined)  # up to the range
            if self.far_lift == "hard":
                q = (far_logit > self.far_threshold).to(far_logit.dtype) * hole
            else:
                q = p if self.far_lift == "soft" else torch.zeros_like(p)
            refined = refined + q * lift
            if self.far_sigma:  # the truth is the range or more with probability p, else where the depth path put
                # it: the variance of that two-way guess about what was published (Laplace scale = std / sqrt(2))
                sigma = torch.sqrt(sigma * sigma + (p * (1 - q) ** 2 + (1 - p) * q * q) * lift * lift / 2)
        gate = torch.sigmoid(out[:, 2:3]) * mask
        final = gate * depth_n + (1 - gate) * refined
        if return_far:
            return final, sigma, gate, refined, far_logit
        return final, sigma, gate, refined
