"""Classical depth completion methods robot teams run today, behind the DepthEnhancer interface.

Each method takes (rgb uint8 HxWx3, depth float32 m with 0/NaN missing) and returns filled depth and,
where one is meaningful, an uncertainty (1-sigma metres); ``has_uncertainty`` says which.
"""

from __future__ import annotations

import functools
import os

import cv2
import numpy as np

FLAT_GUIDE = float(np.finfo(np.float32).eps)  # OpenCV blurs a joint bilateral filter's source when its guide's
# values span less than this


class ClassicalMethod:
    """Base: subclasses implement ``fill``; ``name`` and ``has_uncertainty`` describe them."""

    name = "classical"
    has_uncertainty = False
    needs_ximgproc = False  # OpenCV's contrib module (require_ximgproc)

    def fill(self, rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError


def _valid(depth: np.ndarray) -> np.ndarray:
    return np.isfinite(depth) & (depth > 0)


class RawDepth(ClassicalMethod):
    """The sensor's depth as it is (no fill): the floor every method must beat."""

    name = "raw"

    def fill(self, rgb, depth):
        out = np.where(_valid(depth), depth, np.nan).astype(np.float32)
        return out, None


CLOSE_MARGIN_RADII = 8  # close_holes(within=...): the box's margin past the wanted pixels' depth, in radii


def _inpaint_mm(depth: np.ndarray, hole: np.ndarray, radius: int, flag: int) -> np.ndarray:
    """OpenCV inpainting of depth as 16-bit millimetres (metres in and out)."""
    mm = np.clip(np.round(np.nan_to_num(depth) * 1000), 0, 65535).astype(np.uint16)
    return cv2.inpaint(mm, hole.astype(np.uint8), radius, flag).astype(np.float32) / 1000.0


def close_holes(filled: np.ndarray, within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Close what a local filter left open (holes wider than its largest window) with Navier-Stokes
    inpainting from everything filled so far, so every method returns dense depth as a robot needs.
    Returns the dense depth and the mask of pixels closed this way.

    ``within`` (HxW bool): only the values at these pixels are wanted. The box around those of them that are open is
    inpainted, with a margin of their greatest distance into the open region plus ``CLOSE_MARGIN_RADII`` inpainting
    radii (the other pixels stay as they are, open ones open): the fill marches in from the nearest filled pixels, and
    what lies farther did not change a single value at those pixels on any frame measured (160 real and synthetic
    frames, 350 k such pixels; scripts/probe_close_crop.py), at a fraction of the cost where the open region is
    large (the registration border of NYU v2's raw Kinect frames: 30-40 -> 3-9 ms at 640x480)."""
    rest = ~(np.isfinite(filled) & (filled > 0))
    if not rest.any() or rest.all():  # nothing to close, or nothing to close it from
        return filled, np.zeros_like(rest)
    radius = 5
    box = (slice(None), slice(None))  # the whole frame
    if within is not None:
        need = within & rest
        if not need.any():
            return filled, np.zeros_like(rest)
        depth_in = cv2.distanceTransform(rest.astype(np.uint8), cv2.DIST_L2, 3)  # px into the open region
        m = int(np.ceil(float(depth_in[need].max()))) + CLOSE_MARGIN_RADII * radius
        ys, xs = np.nonzero(need)
        box = (slice(max(ys.min() - m, 0), ys.max() + m + 1), slice(max(xs.min() - m, 0), xs.max() + m + 1))
    sub, open_ = filled[box], rest[box]
    if open_.all():  # nothing filled in the box to close it from
        return filled, np.zeros_like(rest)
    out = filled.astype(np.float32, copy=True)
    out[box] = np.where(open_, _inpaint_mm(sub, open_, radius, cv2.INPAINT_NS), sub)
    closed = np.zeros_like(rest)
    closed[box] = open_
    return out, closed


class InpaintFill(ClassicalMethod):
    """OpenCV inpainting (Telea or Navier-Stokes) of depth as 16-bit millimetres.

    (OpenCV's float32 path overshoots badly on depth maps - negative depths were measured here - so
    the 16-bit path, which OpenCV supports natively, is used.)
    """

    def __init__(self, method: str = "telea", radius: int = 5):
        self.flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
        self.name = f"inpaint_{method}"
        self.radius = radius

    def fill(self, rgb, depth):
        v = _valid(depth)
        if not v.any():
            return np.full(depth.shape, np.nan, np.float32), None
        d = np.where(v, depth, 0).astype(np.float32)
        filled = _inpaint_mm(d, ~v, self.radius, self.flag)
        return np.where(v, d, filled).astype(np.float32), None


class MorphologicalFill(ClassicalMethod):
    """IP-Basic-style fill (Ku et al., CRV 2018): invert, dilate with a diamond, close, fill, blur.

    IP-Basic's kernels and order, written here with OpenCV morphology; depth inverted so that
    dilation favours the nearer surface, as in the original.
    """

    name = "ip_basic"
    max_depth = 100.0

    def fill(self, rgb, depth):
        v = _valid(depth)
        d = np.where(v, depth, 0).astype(np.float32)
        inv = np.where(v, self.max_depth - d, 0).astype(np.float32)
        diamond = np.array([[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]], np.uint8)
        inv = cv2.dilate(inv, diamond)
        inv = cv2.morphologyEx(inv, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        empty = inv < 0.1
        inv = np.where(empty, cv2.dilate(inv, np.ones((7, 7), np.uint8)), inv)
        for k in (15, 31):  # large fills for big holes
            empty = inv < 0.1
            if not empty.any():
                break
            inv = np.where(empty, cv2.dilate(inv, np.ones((k, k), np.uint8)), inv)
        inv = cv2.medianBlur(inv, 5)
        blurred = cv2.GaussianBlur(inv, (5, 5), 0)
        inv = np.where(inv > 0.1, blurred, inv)
        out = np.where(inv > 0.1, self.max_depth - inv, np.nan)
        out = np.where(v, d, out)
        return out.astype(np.float32), None


def require_ximgproc(what: str) -> None:
    """Raise ImportError naming ``what`` when this OpenCV lacks the contrib module ximgproc (plain opencv-python has
    none; opencv-contrib-python and Ubuntu's and Debian's python3-opencv have it)."""
    if not hasattr(cv2, "ximgproc"):
        raise ImportError(f"{what} needs OpenCV's contrib module ximgproc, which this OpenCV {cv2.__version__} lacks: "
                          "install opencv-contrib-python-headless (not beside opencv-python) or Ubuntu's python3-opencv")


class GuidedFill(ClassicalMethod):
    """RGB-guided fill: normalised convolution with a guided filter (opencv-contrib ximgproc).

    The guided filter of (depth * valid) divided by the guided filter of valid gives an
    edge-aware weighted average; repeated at growing radii until holes close (the guided filter
    costs the same at any radius); what is wider than the largest window is closed by Navier-Stokes
    inpainting. The local weighted spread of the neighbours is reported as an uncertainty (1-sigma m);
    pixels beyond every window get a coarse 10 % of their depth.
    """

    name = "guided_fill"
    has_uncertainty = True
    needs_ximgproc = True

    def __init__(self, radii: tuple[int, ...] = (4, 8, 16, 32, 64, 128), eps: float = 1e-3):
        self.radii, self.eps = radii, eps

    def fill(self, rgb, depth):
        v = _valid(depth)
        d = np.where(v, depth, 0).astype(np.float32)
        guide = rgb if rgb.ndim == 3 else np.repeat(rgb[..., None], 3, axis=2)
        out = d.copy()
        have = v.copy()
        sigma = np.zeros_like(d)
        w = v.astype(np.float32)
        for r in self.radii:
            if have.all():
                break
            gf = cv2.ximgproc.createGuidedFilter(guide, r, self.eps * 255**2)
            num = gf.filter(d * w)
            num2 = gf.filter(d * d * w)
            den = gf.filter(w)
            ok = (den > 0.05) & ~have
            with np.errstate(divide="ignore", invalid="ignore"):
                mu = num / den
                var = np.maximum(num2 / den - mu * mu, 0)
            out[ok] = mu[ok]
            sigma[ok] = np.sqrt(var[ok]) + 0.01 * mu[ok]
            have |= ok
        out[~have] = np.nan
        out, rest = close_holes(out)
        sigma[rest] = 0.1 * out[rest]
        sigma[~np.isfinite(out)] = np.nan
        # measured pixels: the sensor's own noise, roughly 0.2 % of range plus 2 mm
        sigma[v] = 0.002 + 0.002 * d[v]
        return out, sigma


TILE = 32  # joint_bilateral_at's tiles (px)
CALL_PX = 400  # joint_bilateral_at: what one filter call costs beyond its pixels, in pixels' worth of filtering
ENGINES = ("auto", "compiled", "opencv")


COMPILED_ENV = "PERFECTING_DEPTH_COMPILED"  # "0": no numba at run time (its import and LLVM take about 130 MB)


def compiled_off() -> bool:
    """Whether the environment turns the compiled fill off (COMPILED_ENV set to 0)."""
    return os.environ.get(COMPILED_ENV, "1").strip() == "0"


@functools.cache
def compiled_points():
    """``bilateral_kernel.joint_bilateral_points``, compiled (or loaded from numba's cache) on the first call, or
    None where numba is missing, cannot compile or cache here, is told not to compile (``NUMBA_DISABLE_JIT``) or the
    environment sets COMPILED_ENV to 0."""
    if compiled_off():
        return None
    try:
        import numba

        if numba.config.DISABLE_JIT:  # the kernel would run as Python: hundreds of times slower than OpenCV
            return None
        from .bilateral_kernel import joint_bilateral_points

        guide = np.arange(48, dtype=np.float32).reshape(4, 4, 3)
        joint_bilateral_points(guide, guide, 3, 20.0, np.ones((4, 4), bool))  # compile now, not at a first frame
    except Exception:  # ImportError, numba's errors on an unsupported numpy or platform, no writable cache
        return None
    return joint_bilateral_points


def joint_bilateral_at(guide: np.ndarray, src: np.ndarray, dia: int, sigma_color: float, need: np.ndarray,
                       engine: str = "auto") -> np.ndarray:
    """``cv2.ximgproc.jointBilateralFilter(guide, src, dia, sigma_color, dia / 2)`` at the pixels ``need`` (HxW
    bool); elsewhere 0 or the filter's value.

    ``engine`` "compiled" (or "auto" where numba is installed) runs ``bilateral_kernel``'s kernel at those pixels
    alone: the whole-frame filter's values, bit for bit with this machine's OpenCV, in a fifth of the time on real
    640x480 frames. "opencv" (or "auto" without numba) runs OpenCV's filter on crops: per TILE x TILE tile, the box
    around its needed pixels with the window's radius around it (clipped to the image, where the border is reflected
    as in the whole frame), or on the whole frame when that is cheaper. Its values are the whole-frame filter's to
    float rounding (measured up to 7e-6 m): OpenCV scales its colour-weight table to each image's range of guide
    values. A crop whose guide is flat (OpenCV would blur it with a square kernel instead) takes the whole frame's
    values. The kernel takes 3-channel guides and sources whose guide is not flat and is not the source; others
    go to OpenCV: to its contrib module, or, where this OpenCV lacks it, to what that filter computes in those two
    cases, its core's bilateral filter (a guide filtering itself) and Gaussian blur (a flat guide). So with numba
    the hole fusion needs no contrib module (JetPack's OpenCV and plain opencv-python have none)."""
    if engine not in ENGINES:
        raise ValueError(f"joint bilateral engine must be one of {ENGINES}, got {engine!r}")
    points = compiled_points() if engine != "opencv" else None
    if engine == "compiled" and points is None:
        raise RuntimeError("the compiled joint bilateral filter needs numba (pip install numba)")
    flat = float(guide.max()) - float(guide.min()) < FLAT_GUIDE
    itself = np.shares_memory(guide, src)  # OpenCV runs its plain bilateral filter on a guide filtering itself
    if points is not None and guide.ndim == 3 and guide.shape[2] == 3 and src.shape == guide.shape and not flat \
            and not itself:
        return points(guide, src, dia, sigma_color, need)
    if not hasattr(cv2, "ximgproc"):  # no contrib module: what its filter computes in the cases the kernel leaves,
        if itself:  # from OpenCV's core (the same values, tested)
            return cv2.bilateralFilter(src, dia, sigma_color, dia / 2)
        if flat:
            return cv2.GaussianBlur(src, (dia, dia), dia / 2)
        require_ximgproc("the joint bilateral filter" + (" without numba" if points is None else f" of a {guide.shape} guide"))
    H, W = need.shape
    r = dia // 2
    boxes = []
    for y in range(0, H, TILE):
        rows = need[y:y + TILE]
        if not rows.any():
            continue
        for x in range(0, W, TILE):
            t = rows[:, x:x + TILE]
            if t.any():
                ys, xs = np.flatnonzero(t.any(1)), np.flatnonzero(t.any(0))
                boxes.append((y + ys[0], y + ys[-1] + 1, x + xs[0], x + xs[-1] + 1))
    crops = [(max(y0 - r, 0), min(y1 + r, H), max(x0 - r, 0), min(x1 + r, W)) for y0, y1, x0, x1 in boxes]
    if sum((y1 - y0) * (x1 - x0) + CALL_PX for y0, y1, x0, x1 in crops) >= H * W:
        return cv2.ximgproc.jointBilateralFilter(guide, src, dia, sigma_color, dia / 2)
    out, whole = np.zeros(src.shape, np.float32), None
    for (y0, y1, x0, x1), (Y0, Y1, X0, X1) in zip(boxes, crops):
        g = guide[Y0:Y1, X0:X1]
        if float(g.max()) - float(g.min()) < FLAT_GUIDE:  # OpenCV's square-kernel fallback; not the frame's
            if whole is None:
                whole = cv2.ximgproc.jointBilateralFilter(guide, src, dia, sigma_color, dia / 2)
            out[y0:y1, x0:x1] = whole[y0:y1, x0:x1]
            continue
        res = cv2.ximgproc.jointBilateralFilter(g, src[Y0:Y1, X0:X1], dia, sigma_color, dia / 2)
        out[y0:y1, x0:x1] = res[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0]
    return out


class JointBilateralFill(ClassicalMethod):
    """Joint bilateral filter fill (ximgproc.jointBilateralFilter as normalised convolution).

    Runs at half resolution (the filter's cost grows with the diameter squared) and fills only holes;
    what is wider than the largest window is closed by Navier-Stokes inpainting.
    """

    name = "joint_bilateral"

    def __init__(self, diameters: tuple[int, ...] = (5, 9, 17), sigma_color: float = 20.0, engine: str = "auto"):
        if engine not in ENGINES:
            raise ValueError(f"joint bilateral engine must be one of {ENGINES}, got {engine!r}")
        self.diameters, self.sigma_color, self.engine = diameters, sigma_color, engine  # engine: joint_bilateral_at's

    @property
    def needs_ximgproc(self) -> bool:
        """Whether it needs OpenCV's contrib module here: not where its filter runs compiled (numba)."""
        return self.engine == "opencv" or compiled_points() is None

    def fill(self, rgb, depth):
        return close_holes(self.fill_local(rgb, depth))[0], None

    def fill_local(self, rgb: np.ndarray, depth: np.ndarray, max_side: int | None = None) -> np.ndarray:
        """The filter's fill alone: NaN where no window reached a measurement (``fill`` closes those).

        It works at half the input's resolution, or lower where that would be larger than ``max_side`` px (the hole
        fusion's fill keeps the scale it was fitted at on larger cameras: its windows span the same share of the
        scene, at a quarter of the cost for 1280x720)."""
        v = _valid(depth)
        d = np.where(v, depth, 0).astype(np.float32)
        H, W = d.shape
        h, w = max(1, H // 2), max(1, W // 2)
        if max_side is not None and max(h, w) > max_side:
            s = max_side / max(H, W)
            h, w = max(1, round(H * s)), max(1, round(W * s))
        guide = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        num0 = cv2.resize(d, (w, h), interpolation=cv2.INTER_AREA)
        w0 = cv2.resize(v.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        small = np.where(w0 > 0, num0 / np.maximum(w0, 1e-6), 0).astype(np.float32)
        have = w0 > 0.5
        wgt = have.astype(np.float32)
        small = small * wgt
        for dia in self.diameters:
            if have.all():
                break
            # numerator and denominator in one call (the filter weighs every channel alike): a third less time;
            # only where a pixel still open has a filled one within the window's radius (no other can fill)
            r = dia // 2
            need = ~have & (cv2.dilate(have.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0)
            both = joint_bilateral_at(guide, np.dstack([small * wgt, wgt, np.zeros_like(wgt)]), dia,
                                      self.sigma_color, need, self.engine)
            num, den = both[..., 0], both[..., 1]
            ok = (den > 0.05) & ~have
            small[ok] = num[ok] / den[ok]
            have |= ok
            wgt = have.astype(np.float32)
        small[~have] = np.nan
        up = cv2.resize(small, (W, H), interpolation=cv2.INTER_NEAREST)
        return np.where(v, d, up).astype(np.float32)


class ColorizationFill(ClassicalMethod):
    """Levin et al. colorization fill (the NYU Depth toolbox's fill_depth_colorization), scipy sparse solve.

    Each pixel's depth is a weighted mean of its 3x3 neighbours, weighted by grey-level similarity;
    measured pixels are pinned. Solved at a reduced size (``max_pixels``) to bound the time.
    """

    name = "colorization"

    def __init__(self, max_pixels: int = 80 * 106, alpha: float = 1.0):
        self.max_pixels, self.alpha = max_pixels, alpha

    def fill(self, rgb, depth):
        H0, W0 = depth.shape
        f = min(1.0, np.sqrt(self.max_pixels / (H0 * W0)))
        H, W = max(2, int(H0 * f)), max(2, int(W0 * f))
        v0 = _valid(depth)
        d0 = np.where(v0, depth, 0).astype(np.float32)
        # area-average of valid depth, so small holes are not sampled as zeros
        num = cv2.resize(d0, (W, H), interpolation=cv2.INTER_AREA)
        den = cv2.resize(v0.astype(np.float32), (W, H), interpolation=cv2.INTER_AREA)
        known = den > 0.5
        d = np.where(known, num / np.maximum(den, 1e-6), 0)
        gray = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (W, H), interpolation=cv2.INTER_AREA).astype(np.float64) / 255
        n = H * W
        idx = np.arange(n).reshape(H, W)
        rows, cols, vals = [], [], []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy == 0 and dx == 0:
                    continue
                ys = slice(max(0, -dy), H - max(0, dy))
                xs = slice(max(0, -dx), W - max(0, dx))
                ys2 = slice(max(0, dy), H - max(0, -dy))
                xs2 = slice(max(0, dx), W - max(0, -dx))
                rows.append(idx[ys, xs].ravel())
                cols.append(idx[ys2, xs2].ravel())
                vals.append((gray[ys, xs] - gray[ys2, xs2]).ravel())
        r, c, diff = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        var = max(np.var(gray), 2e-6)
        w = np.exp(-(diff**2) / (0.6 * var))
        wsum = np.bincount(r, weights=w, minlength=n)
        w = w / wsum[r]
        import scipy.sparse  # the colorization fill alone needs scipy
        import scipy.sparse.linalg

        A = scipy.sparse.csr_matrix((-w, (r, c)), shape=(n, n)) + scipy.sparse.identity(n)
        kn = known.ravel()
        G = scipy.sparse.diags(kn.astype(np.float64))
        # pinned rows: identity (x = d) for known pixels, smoothness for the rest
        M = G + scipy.sparse.diags(1.0 - kn) @ A
        b = kn * d.ravel() * self.alpha
        x = scipy.sparse.linalg.spsolve(M.tocsc(), b).reshape(H, W).astype(np.float32)
        out = cv2.resize(x, (W0, H0), interpolation=cv2.INTER_LINEAR)
        if not known.any():
            out[:] = np.nan
        return np.where(v0, d0, out).astype(np.float32), None


def all_baselines(include_slow: bool = True) -> list[ClassicalMethod]:
    methods: list[ClassicalMethod] = [RawDepth(), InpaintFill("telea"), InpaintFill("ns"), MorphologicalFill(),
                                      GuidedFill(), JointBilateralFill()]
    if include_slow:
        methods.append(ColorizationFill())
    return methods


BASELINES = {m.name: m for m in all_baselines()}
