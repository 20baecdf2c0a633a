"""Model hyper-parameters, saved inside every checkpoint so a file alone rebuilds its model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class ModelConfig:
    """Widths and sampling settings of the two-stage model."""

    enc_channels: tuple[int, int, int, int] = (16, 32, 48, 64)  # 1/2, 1/4, 1/8, 1/16
    denoiser_channels: int = 32
    denoiser_blocks: int = 2
    time_dim: int = 64
    refiner_channels: tuple[int, int, int] = (16, 24, 48)  # full, 1/2, 1/4
    groups: int = 8
    num_train_timesteps: int = 1000
    samples: int = 4  # K
    steps: int = 2  # S
    stride: int = 4  # the stochastic stage runs at 1/stride of the model input
    refiner_fill: bool = False  # the refiner also sees a classical fill of the raw depth (normalised convolution)
    fill_order: int = 0  # that fill: 0 = masked box averages, 1 = planar (first-order normalised convolution)
    refiner_base: str = "mean"  # what the refiner's correction is added to: "mean" (stage-1 mean), "fill" or "colour"
    #                             (refiner/colour_fill, falling back to the fill or the mean where no colour window reaches)
    error_head_channels: int = 0  # width of the raw-error head (model/error_head.py); 0 = no head
    error_head_context: bool = False  # give the head a 1/16-resolution branch (frame-wide context)
    error_head_light: bool = False  # the head's full-resolution output path made small (about 6x fewer MACs)
    error_head_gate: bool = False  # the head also lowers the keep-raw gate to gate * (1 - p) and re-blends
    colour_fill: bool = False  # the refiner also sees a colour-guided (joint bilateral) fill of the raw depth
    refiner_range: bool = False  # the refiner sees the sensor's max range (graph input "range": known flag, normalised)
    range_relative: bool = False  # with refiner_range: also (range - classical fill) per pixel, clipped to +-2
    refiner_far: bool = False  # with refiner_range: a supervised "this hole lies past the sensor's range" output that
    #                           lifts the rebuilt depth there to at least the range
    far_branch: bool = False  # refiner_far's logit from its own small branch on detached decoder features, the
    #                           range and (range - rebuilt depth), so its loss leaves the depth path alone
    far_lift: str = "soft"  # refiner_far's lift: "soft" (by p, the expected value), "hard" (where p > 0.5: the
    #                         median, what an L1-scored depth wants from a two-way guess) or "none" (depth not moved;
    #                         p only widens sigma)
    far_threshold: float = 0.0  # logit where p = 0.5 (scripts/calibrate_far.py sets it)
    far_scale: float = 1.0  # p = sigmoid(far_scale * (logit - far_threshold)): a Platt calibration of the logit
    sigma_gain: float = 1.0  # published sigma: the refiner's scale times this (scripts/calibrate_sigma.py fits it)
    p_scale: float = 0.3  # ... widened by p_scale * p ** p_power, p the raw-error head's probability
    p_power: float = 1.0  # (model/error_head.combine_sigma)
    far_sigma: bool = False  # sigma also carries the two-way guess: the variance of lifting (or not) by range - depth
    refiner_context: int = 0  # width of a 1/8-resolution level on the refiner's 1/4 features (two ResNet blocks),
    #                           added back through a zero-initialised 1x1 convolution, so a warm start computes
    #                           what its checkpoint computed; 0 = none
    refiner_context2: int = 0  # width of a 1/16-resolution level on that 1/8 level (needs refiner_context), grown
    #                            the same way; 0 = none

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        names = {f.name for f in fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**kw)
