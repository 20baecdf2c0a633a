"""The three training objectives. Each takes a batch and returns (loss, logs).

- stage1: the conditional diffusion prior on *clean* depth with random masks (x0 prediction).
- distill: the 2-step student matches the many-step teacher's DDIM endpoint from the same noise.
- stage2: the refiner on sensor-simulated depth, with the stage-1 prior frozen.
- errorhead: the raw-error head on sensor-simulated depth, with everything else frozen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.world import TRANSPARENT
from ..evaluate.metrics import WRONG_THRESHOLD_M
from ..model import PerfectingDepthModel
from ..model.error_head import mixture_sigma
from .common import normalize_batch

RANGE_UNKNOWN_P = 0.2  # share of samples trained with the sensor's max range hidden (a node may not know it)
FAR_WEIGHT = 0.2  # stage 2: weight of the out-of-range BCE (refiner_far)
GLASS_HOLE_WEIGHT = 4.0  # farbranch: holes on glass (in range, but they look like no return) weigh this much more


def _prepare(batch: dict):
    raw_n, gt_n, mask, centre, scale = normalize_batch(batch["raw"], batch["gt"])
    return batch["rgb"], raw_n, gt_n, mask, centre, scale


def range_batch(model: PerfectingDepthModel, batch: dict, centre: torch.Tensor, scale: torch.Tensor,
                unknown_p: float = RANGE_UNKNOWN_P) -> torch.Tensor | None:
    """The refiner's ``range`` input [B,2] for a batch (None for models without it): known flag and the
    sensor's max range in each sample's normalised units; hidden for a random ``unknown_p`` of the samples."""
    if not model.cfg.refiner_range:
        return None
    r = batch["max_range"].float().view(-1)
    known = ((r > 0) & (torch.rand_like(r) >= unknown_p)).float()
    return torch.stack([known, (r - centre.view(-1)) * 2 / scale.view(-1) * known], 1)


def stage1_loss(model: PerfectingDepthModel, batch: dict, draws: int = 2):
    """Denoising loss at random timesteps; the condition is encoded once and shared by ``draws`` noises."""
    rgb, raw_n, gt_n, mask, *_ = _prepare(batch)
    s = model.cfg.stride
    cond = model.condition(rgb, raw_n, mask).repeat(draws, 1, 1, 1)
    x0 = F.avg_pool2d(gt_n, s).repeat(draws, 1, 1, 1)  # [B*draws,1,h,w]
    t = torch.randint(0, model.cfg.num_train_timesteps, (x0.shape[0],), device=x0.device)
    noise = torch.randn_like(x0)
    x_t = model.scheduler.add_noise(x0, noise, t)
    pred = model.denoiser(x_t, t, cond)
    loss = F.mse_loss(pred, x0)
    return loss, {"mse": loss.item()}


def distill_loss(student: PerfectingDepthModel, batch: dict, teacher: PerfectingDepthModel, teacher_steps: int,
                 gt_weight: float = 0.25):
    """Student S-step sample vs teacher ``teacher_steps``-step DDIM sample from the same initial noise."""
    rgb, raw_n, gt_n, mask, *_ = _prepare(batch)
    B, _, H, W = rgb.shape
    noise = torch.randn(student.noise_shape(B, H, W, samples=2), device=rgb.device)
    with torch.no_grad():
        teacher.set_steps(teacher_steps)
        target = teacher.sample(teacher.condition(rgb, raw_n, mask), noise)
    out = student.sample(student.condition(rgb, raw_n, mask), noise)
    x0 = F.avg_pool2d(gt_n, student.cfg.stride).unsqueeze(1).expand_as(out)
    l_t = F.mse_loss(out, target)
    l_gt = F.mse_loss(out, x0)
    loss = l_t + gt_weight * l_gt
    return loss, {"to_teacher": l_t.item(), "to_gt": l_gt.item()}


def reliable_label(raw: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Raw pixels worth keeping: valid and within max(1.5 cm, 1 % of range) of the truth."""
    return ((raw > 0) & ((raw - gt).abs() < torch.clamp(0.01 * gt, min=0.015))).float()


def _frozen_prior(model: PerfectingDepthModel, rgb, raw_n, mask):
    """Stage 1 (K samples, S steps) without gradients, from fresh noise, as at run time."""
    B, _, H, W = rgb.shape
    with torch.no_grad():
        return model.prior(rgb, raw_n, mask, torch.randn(model.noise_shape(B, H, W), device=rgb.device))


def error_head_loss(model: PerfectingDepthModel, batch: dict, max_pos_weight: float = 20.0):
    """Raw-error head: class-balanced BCE of "valid raw is > 5 cm off", L1 of the log error size where it
    is, and the Laplace NLL of the combined sigma on the final depth (keeps the published sigma calibrated)."""
    rgb, raw_n, gt_n, mask, centre, scale = _prepare(batch)
    cond, mean_f, spread_f = _frozen_prior(model, rgb, raw_n, mask)
    with torch.no_grad():
        final, sigma, gate, refined = model.refiner(rgb, raw_n, mask, mean_f, spread_f, cond[:, 2:],
                                                    range_batch(model, batch, centre, scale))
    p, mag = model.error_head(rgb, raw_n, mask, mean_f, spread_f, refined, sigma, gate, cond[:, 2:])
    w = (batch["gt"] > 0).float() * mask
    wrong = (((batch["raw"] - batch["gt"]).abs() > WRONG_THRESHOLD_M).float() * w)
    n_pos, n_neg = wrong.sum(), (w - wrong).sum()
    pos_weight = (n_neg / n_pos.clamp_min(1)).clamp(1.0, max_pos_weight)
    bw = w * (1 + (pos_weight - 1) * wrong)
    l_bce = (F.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), wrong, reduction="none") * bw).sum() / bw.sum().clamp_min(1)
    size = (raw_n - gt_n).abs().clamp_min(1e-3)
    l_mag = ((mag.log() - size.log()).abs() * wrong).sum() / n_pos.clamp_min(1)
    b = mixture_sigma(sigma, p, mag)
    wa = (batch["gt"] > 0).float()
    l_nll = ((final - gt_n).abs() / b + b.log()).mul(wa).sum() / wa.sum().clamp_min(1)
    loss = l_bce + 0.3 * l_mag + 0.1 * l_nll
    return loss, {"bce": l_bce.item(), "mag": l_mag.item(), "nll": l_nll.item(), "pos_frac": (n_pos / w.sum()).item()}


def depth_edges(depth: torch.Tensor, margin: int, rel_jump: float = 0.05) -> torch.Tensor:
    """1 within ``margin`` px of a jump of more than ``rel_jump`` (relative to the nearer side) between neighbouring
    valid depths of ``depth`` (B, 1, H, W, metres, 0 invalid), else 0; all 0 when ``margin`` is 0."""
    if margin <= 0:
        return torch.zeros_like(depth)
    valid = depth > 0

    def jumps(a, b, va, vb):
        return va & vb & ((a - b).abs() > rel_jump * torch.minimum(a, b))

    jx = jumps(depth[..., 1:], depth[..., :-1], valid[..., 1:], valid[..., :-1])  # between columns
    jy = jumps(depth[..., 1:, :], depth[..., :-1, :], valid[..., 1:, :], valid[..., :-1, :])  # between rows
    # both pixels of each jump
    edges = F.pad(jx, (1, 0)) | F.pad(jx, (0, 1)) | F.pad(jy, (0, 0, 1, 0)) | F.pad(jy, (0, 0, 0, 1))
    return F.max_pool2d(edges.float(), 2 * margin + 1, stride=1, padding=margin)


def stage2_loss(model: PerfectingDepthModel, batch: dict, artifact_weight: float = 1.0, l2_weight: float = 0.0,
                real_sigma_weight: float = 1.0, grad_weight: float = 0.5, real_edge_margin: int = 0):
    """Refiner loss: L1 of the rebuilt depth (plus ``l2_weight`` x its squared error: L1 alone is minimised by the
    median of what a hole may hide, squared error by the mean, which RMSE scores), BCE of the keep-raw gate, Laplace
    NLL of sigma. On the batch's real frames (``batch["real"]`` 1) the gate's and sigma's terms weigh
    ``real_sigma_weight`` times as much: 0 lets real frames teach the depth fill alone (tried against a fall of the
    synthetic AUROC in a long real fine-tune: it fell as far, stage2_context2_more_holdout_fill.yaml).
    ``grad_weight`` weighs the gradient-matching term (edges); ``real_edge_margin`` > 0 leaves the pixels within that
    many px of a depth jump of a real frame's target out of the depth and gradient terms (a real sensor's edges carry
    flying pixels and bleed, which would teach blurred edges).

    The three heads are trained apart (gate and depth detached from each other's loss), so the gate
    answers "is this raw pixel right?" and keeps reliable raw pixels to the millimetre.
    """
    rgb, raw_n, gt_n, mask, centre, scale = _prepare(batch)
    cond, mean_f, spread_f = _frozen_prior(model, rgb, raw_n, mask)
    range_ = range_batch(model, batch, centre, scale)
    final, sigma, gate, refined, far_logit = model.refiner(rgb, raw_n, mask, mean_f, spread_f, cond[:, 2:], range_,
                                                           return_far=True)
    # w: where the target exists (everywhere for synthetic data; the fused surface for real frames)
    w = (batch["gt"] > 0).float()
    label = reliable_label(batch["raw"], batch["gt"])
    w_fit = w  # where the depth and its gradients learn
    if real_edge_margin > 0 and "real" in batch:
        real = batch["real"].float().view(-1, 1, 1, 1)
        w_fit = w * (1.0 - real * depth_edges(batch["gt"], real_edge_margin))

    def wmean(x, wt):
        return (x * wt).sum() / wt.sum().clamp_min(1)

    w_art = w_fit * (1.0 + (artifact_weight - 1.0) * (1.0 - label))
    e_depth = refined - gt_n
    l_l1, l_sq = wmean(e_depth.abs(), w_art), wmean(e_depth.square(), w_art)
    l_depth = l_l1 + l2_weight * l_sq
    # gradient matching keeps edges sharp (SharpDepth's concern) without over-smoothing
    gx = lambda x: x[..., :, 1:] - x[..., :, :-1]  # noqa: E731
    gy = lambda x: x[..., 1:, :] - x[..., :-1, :]  # noqa: E731
    l_grad = (wmean((gx(refined) - gx(gt_n)).abs(), w_fit[..., :, 1:] * w_fit[..., :, :-1])
              + wmean((gy(refined) - gy(gt_n)).abs(), w_fit[..., 1:, :] * w_fit[..., :-1, :]))
    gate_logit = torch.logit(gate.clamp(1e-4, 1 - 1e-4))
    w_unc = w  # where the gate and sigma learn
    if real_sigma_weight != 1.0 and "real" in batch:
        w_unc = w * (1.0 + (real_sigma_weight - 1.0) * batch["real"].float().view(-1, 1, 1, 1))
    l_gate = wmean(F.binary_cross_entropy_with_logits(gate_logit, label, reduction="none"), mask * w_unc)
    err = (final.detach() - gt_n).abs()
    l_nll = wmean(err / sigma + torch.log(sigma), w_unc)
    loss = l_depth + grad_weight * l_grad + 0.2 * l_gate + 0.1 * l_nll
    logs = {}
    if far_logit is not None:  # which holes lie past the sensor's range (known range only)
        l_far, logs = far_bce(far_logit, batch, mask, range_)
        loss = loss + FAR_WEIGHT * l_far
    with torch.no_grad():
        keep = ((final - raw_n).abs() * mask).sum() / mask.sum().clamp_min(1)
    return loss, {"l1": l_l1.item(), "sq": l_sq.item(), "grad": l_grad.item(), "gate": l_gate.item(), "nll": l_nll.item(),
                  "final_l1": wmean(err, w).item(), "keep_dev": keep.item(), **logs}


def far_branch_loss(model: PerfectingDepthModel, batch: dict, glass_weight: float = GLASS_HOLE_WEIGHT):
    """The out-of-range branch alone (everything else frozen): BCE of "this raw hole's truth lies past the
    sensor's range" over holes with a known range, holes on glass weighted ``glass_weight`` times (they are
    in range but look like no return, the branch's costly mistake)."""
    rgb, raw_n, gt_n, mask, centre, scale = _prepare(batch)
    cond, mean_f, spread_f = _frozen_prior(model, rgb, raw_n, mask)
    range_ = range_batch(model, batch, centre, scale)
    *_, far_logit = model.refiner(rgb, raw_n, mask, mean_f, spread_f, cond[:, 2:], range_, return_far=True)
    return far_bce(far_logit, batch, mask, range_, glass_weight)


def far_bce(far_logit: torch.Tensor, batch: dict, mask: torch.Tensor, range_: torch.Tensor, glass_weight: float = 1.0):
    """BCE of "this raw hole's truth lies past the sensor's range" over the holes with a target and a known
    range, holes on glass weighted ``glass_weight`` times; returns (loss, logs)."""
    beyond = (batch["gt"] > batch["max_range"].view(-1, 1, 1, 1)).float()
    glass = (batch["material"] == TRANSPARENT).float()
    wf = (batch["gt"] > 0).float() * (1 - mask) * range_[:, 0].view(-1, 1, 1, 1) * (1 + (glass_weight - 1) * glass)
    den = wf.sum().clamp_min(1)
    loss = (F.binary_cross_entropy_with_logits(far_logit, beyond, reduction="none") * wf).sum() / den
    return loss, {"far": loss.item(), "far_frac": ((beyond * wf).sum() / den).item()}
