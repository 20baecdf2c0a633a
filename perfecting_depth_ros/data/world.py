"""Procedural indoor RGB-D worlds, ray cast per pixel (numba kernels in world_kernels.py; the vectorised
numpy code here is the reference and the fallback).

A scene is a room (floor, walls, ceiling, an optional doorway) filled with furniture-like boxes,
cylinders, spheres, tabletop clutter and thin structures (legs, poles, cables, shelf edges). One
call to :func:`render` returns per pixel: clean metric depth (z along the optical axis), RGB that
looks like a photograph (textured materials, a few lights, exposure, white balance, noise and blur),
the surface normal, the material class, and the depth of the first *opaque* surface (what a sensor
sees through glass).

Two world versions: 1 (the first benchmark's) draws glass as a faint tint over what lies behind it; 2 draws
glass as a camera sees it: most panes sit in an opaque frame, and both glass faces reflect the room by
Fresnel's law (Schlick), more at grazing angles. Version 1 frames are unchanged by version 2's existence.

World frame: z up, floor at z = 0. Camera frame: OpenCV optical (x right, y down, z forward).
Everything is seeded: ``render(sample_scene(rng), sample_camera(rng, ...))`` with the same seed gives
the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

try:  # compiled kernels; without numba the numpy reference below renders the same frames, slower
    from . import world_kernels as _wk
except ImportError:
    _wk = None

# Material classes (per-pixel label written by the renderer).
MATTE, DARK, SPECULAR, TRANSPARENT, MIRROR = 0, 1, 2, 3, 4
MATERIAL_NAMES = ("matte", "dark", "specular", "transparent", "mirror")

# Texture patterns.
PLAIN, NOISE, WOOD, TILE, FABRIC, PRINTED = range(6)

_EPS = 1e-6
_FAR = 1e9
WORLD_VERSIONS = (1, 2)  # 1: faint glass (first benchmark); 2: framed glass with Fresnel reflections


@dataclass
class Material:
    """Appearance of one object: base and second colour, pattern, reflectance class."""

    kind: int
    color: np.ndarray  # [3] linear RGB albedo
    color2: np.ndarray  # [3]
    pattern: int
    scale: float  # pattern period in metres
    seed: int


@dataclass
class Primitive:
    """One ray-castable shape: 'box' (yaw about z), 'cyl' (axis along x, y or z) or 'sphere'."""

    shape: str
    center: np.ndarray  # [3] world
    size: np.ndarray  # box: half extents [3]; cyl: (radius, half length, axis); sphere: (radius,)
    yaw: float
    material: Material


@dataclass
class Scene:
    """A room (axis-aligned interior box) with primitives and point lights."""

    room_lo: np.ndarray  # [3]
    room_hi: np.ndarray  # [3]
    room_materials: list[Material]  # floor, ceiling, wall -x, +x, -y, +y
    doorway: tuple[int, float, float, float] | None  # (wall index 2..5, centre along wall, half width, height)
    primitives: list[Primitive] = field(default_factory=list)
    lights: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # [L,3] positions
    light_power: np.ndarray = field(default_factory=lambda: np.zeros((0,)))  # [L]
    ambient: float = 0.25


@dataclass
class Camera:
    """Pinhole camera: intrinsics K [3,3], image size, camera-to-world rotation and position."""

    K: np.ndarray
    height: int
    width: int
    R_wc: np.ndarray  # [3,3] columns are camera axes in world
    t_wc: np.ndarray  # [3]


@dataclass
class Frame:
    """A rendered frame: everything a sensor simulator and a trainer need."""

    rgb: np.ndarray  # [H,W,3] uint8
    depth: np.ndarray  # [H,W] float32 m, clean z-depth of the first surface
    depth_opaque: np.ndarray  # [H,W] float32 m, z-depth of the first opaque surface (seen through glass)
    normal: np.ndarray  # [H,W,3] float32, camera frame, unit
    material: np.ndarray  # [H,W] uint8 material class
    albedo: np.ndarray  # [H,W] float32 mean albedo of the first surface (dark surfaces lose IR return)
    K: np.ndarray  # [3,3] float32


# ----------------------------------------------------------------------------- scene sampling


_PATTERN_CDF_P = np.array([0.1, 0.3, 0.15, 0.15, 0.15, 0.15])


def _choice(rng: np.random.Generator, probs) -> int:
    """``int(rng.choice(len(probs), p=probs))`` without its argument checks: the same single uniform
    draw and inverse-CDF lookup (test_data checks the equivalence), at a tenth of the cost."""
    cdf = np.cumsum(probs, dtype=np.float64)
    cdf /= cdf[-1]
    return int(np.searchsorted(cdf, rng.random(), side="right"))


def _random_material(rng: np.random.Generator, kind_probs=(0.62, 0.12, 0.12, 0.09, 0.05)) -> Material:
    kind = _choice(rng, np.asarray(kind_probs) / np.sum(kind_probs))
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(0.05, 0.8) * 255, 255]]], np.uint8)
    base = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0
    lum = rng.uniform(0.25, 0.85)
    if kind == DARK:
        lum = rng.uniform(0.02, 0.07)
    color = base * lum
    color2 = np.clip(color * rng.uniform(0.4, 1.6) + rng.normal(0, 0.08, 3), 0.01, 1.0)
    pattern = (PLAIN, NOISE, WOOD, TILE, FABRIC, PRINTED)[_choice(rng, _PATTERN_CDF_P)]
    return Material(kind, color.astype(np.float32), color2.astype(np.float32), pattern,
                    float(rng.uniform(0.05, 0.6)), int(rng.integers(1 << 30)))


def _check_version(version: int) -> None:
    if version not in WORLD_VERSIONS:
        raise ValueError(f"world version must be one of {WORLD_VERSIONS}, got {version!r}")


def sample_scene(rng: np.random.Generator, version: int = 1) -> Scene:
    """Sample a furnished room with lights; sizes and counts follow indoor robot scenes. ``version`` 2 puts
    most glass panes in an opaque frame (see the module docstring)."""
    _check_version(version)
    sx, sy, sz = rng.uniform(3.0, 9.0), rng.uniform(3.0, 9.0), rng.uniform(2.4, 3.2)
    lo, hi = np.array([0.0, 0.0, 0.0]), np.array([sx, sy, sz])
    matte = (1.0, 0.06, 0.04, 0.0, 0.0)
    room_m = [_random_material(rng, matte) for _ in range(6)]
    room_m[0].pattern = int(rng.choice([WOOD, TILE, NOISE, FABRIC]))
    doorway = None
    if rng.random() < 0.5:
        wall = int(rng.integers(2, 6))
        along = sy if wall < 4 else sx
        doorway = (wall, float(rng.uniform(0.8, along - 0.8)), float(rng.uniform(0.4, 0.7)), float(rng.uniform(1.9, 2.2)))
    prims: list[Primitive] = []

    def place_xy(margin: float) -> tuple[float, float]:
        return float(rng.uniform(margin, sx - margin)), float(rng.uniform(margin, sy - margin))

    def box(cx, cy, cz, hx, hy, hz, yaw, mat):
        prims.append(Primitive("box", np.array([cx, cy, cz]), np.array([hx, hy, hz]), yaw, mat))

    def cyl(cx, cy, cz, r, hl, axis, mat):
        prims.append(Primitive("cyl", np.array([cx, cy, cz]), np.array([r, hl, axis]), 0.0, mat))

    # Tables with legs and clutter on top.
    for _ in range(int(rng.integers(0, 3))):
        cx, cy = place_xy(0.6)
        hx, hy, h = rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.6), rng.uniform(0.45, 0.8)
        m = _random_material(rng)
        box(cx, cy, h, hx, hy, 0.02, 0.0, m)
        leg = _random_material(rng, (0.5, 0.3, 0.2, 0.0, 0.0))
        for dx in (-1, 1):
            for dy in (-1, 1):
                cyl(cx + dx * (hx - 0.04), cy + dy * (hy - 0.04), h / 2, rng.uniform(0.012, 0.03), h / 2, 2, leg)
        for _ in range(int(rng.integers(1, 6))):
            ox, oy = cx + rng.uniform(-hx, hx) * 0.8, cy + rng.uniform(-hy, hy) * 0.8
            cm = _random_material(rng, (0.4, 0.15, 0.2, 0.2, 0.05))
            k = rng.random()
            if k < 0.4:
                r, hh = rng.uniform(0.03, 0.07), rng.uniform(0.04, 0.15)
                cyl(ox, oy, h + 0.02 + hh, r, hh, 2, cm)
            elif k < 0.8:
                a, b, c = rng.uniform(0.03, 0.15, 3)
                box(ox, oy, h + 0.02 + c, a, b, c, rng.uniform(0, np.pi), cm)
            else:
                r = rng.uniform(0.03, 0.1)
                prims.append(Primitive("sphere", np.array([ox, oy, h + 0.02 + r]), np.array([r]), 0.0, cm))
    # Cabinets, boxes, shelves.
    for _ in range(int(rng.integers(1, 6))):
        cx, cy = place_xy(0.3)
        hx, hy, hz = rng.uniform(0.15, 0.8), rng.uniform(0.15, 0.5), rng.uniform(0.15, 1.0)
        m = _random_material(rng)
        yaw = float(rng.uniform(0, np.pi)) if rng.random() < 0.6 else 0.0
        box(cx, cy, hz, hx, hy, hz, yaw, m)
        if rng.random() < 0.3:  # shelf edges: thin slabs sticking out of the front
            for k in range(int(rng.integers(1, 4))):
                box(cx, cy, (k + 1) * 2 * hz / 4, hx + 0.03, hy + 0.05, 0.01, yaw, _random_material(rng))
    # Columns, round things, balls.
    for _ in range(int(rng.integers(0, 4))):
        cx, cy = place_xy(0.3)
        m = _random_material(rng)
        if rng.random() < 0.6:
            r, hh = rng.uniform(0.1, 0.4), rng.uniform(0.2, 0.9)
            cyl(cx, cy, hh, r, hh, 2, m)
        else:
            r = rng.uniform(0.1, 0.45)
            prims.append(Primitive("sphere", np.array([cx, cy, r]), np.array([r]), 0.0, m))
    # Thin structures: poles floor-to-ceiling and cables along the walls or across the room.
    for _ in range(int(rng.integers(0, 4))):
        cx, cy = place_xy(0.2)
        m = _random_material(rng, (0.6, 0.2, 0.2, 0.0, 0.0))
        if rng.random() < 0.5:
            cyl(cx, cy, sz / 2, rng.uniform(0.01, 0.04), sz / 2, 2, m)
        else:
            axis = int(rng.integers(0, 2))
            half = (sx if axis == 0 else sy) / 2
            cc = [sx / 2, sy / 2]
            cc[1 - axis] = cy if axis == 0 else cx
            cyl(cc[0], cc[1], rng.uniform(0.05, 1.8), rng.uniform(0.004, 0.015), half, axis, m)
    # Glass panels and mirrors (valid-looking wrong depth for sensors).
    if rng.random() < 0.35:
        cx, cy = place_xy(0.5)
        glass = Material(TRANSPARENT, np.array([0.8, 0.85, 0.9], np.float32), np.array([0.7, 0.8, 0.85], np.float32),
                         PLAIN, 1.0, 0)
        cz, hx, hz, yaw = rng.uniform(0.5, 1.2), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.8), float(rng.uniform(0, np.pi))
        box(cx, cy, cz, hx, 0.01, hz, yaw, glass)
        if version >= 2 and rng.random() < 0.8:  # a window, door or cabinet frame around the pane
            fw, fd = rng.uniform(0.02, 0.06), rng.uniform(0.015, 0.035)
            fm = _random_material(rng, (0.6, 0.2, 0.2, 0.0, 0.0))
            c, sn = np.cos(yaw), np.sin(yaw)
            for ox, oz, bx, bz in ((0, hz + fw / 2, hx + fw, fw / 2), (0, -hz - fw / 2, hx + fw, fw / 2),
                                   (hx + fw / 2, 0, fw / 2, hz), (-hx - fw / 2, 0, fw / 2, hz)):
                box(cx + ox * c, cy + ox * sn, cz + oz, bx, fd, bz, yaw, fm)
    n_lights = int(rng.integers(1, 4))
    lights = np.stack([rng.uniform(lo + 0.3, hi - 0.1) for _ in range(n_lights)])
    lights[:, 2] = sz - 0.15
    power = rng.uniform(2.0, 8.0, n_lights)
    return Scene(lo, hi, room_m, doorway, prims, lights, power, float(rng.uniform(0.15, 0.4)))


def sample_camera(rng: np.random.Generator, scene: Scene, height: int, width: int,
                  fov_deg: tuple[float, float] = (55.0, 90.0), crop_of: tuple[int, int] | None = None) -> Camera:
    """A robot-mounted camera: 0.2-1.6 m high, pitched -35..+10 deg, horizontal FOV 55-90 deg.

    ``crop_of=(H0, W0)`` renders a random ``height x width`` window of an ``H0 x W0`` camera, so
    training crops keep the pixel scale of the full camera.
    """
    fov = np.deg2rad(rng.uniform(*fov_deg))
    full_h, full_w = crop_of if crop_of else (height, width)
    f = (full_w / 2) / np.tan(fov / 2)
    cx, cy = (full_w - 1) / 2, (full_h - 1) / 2
    if crop_of:
        cx -= rng.integers(0, full_w - width + 1)
        cy -= rng.integers(0, full_h - height + 1)
    K = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]], np.float64)
    pos = np.array([rng.uniform(scene.room_lo[0] + 0.3, scene.room_hi[0] - 0.3),
                    rng.uniform(scene.room_lo[1] + 0.3, scene.room_hi[1] - 0.3), rng.uniform(0.2, 1.6)])
    yaw, pitch, roll = rng.uniform(0, 2 * np.pi), np.deg2rad(rng.uniform(-35, 10)), np.deg2rad(rng.normal(0, 2))
    fwd = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    c, s = np.cos(roll), np.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    R = np.stack([right, down, fwd], axis=1)
    return Camera(K, height, width, R, pos)


# ----------------------------------------------------------------------------- ray casting


class _Hits:
    """Running nearest hit over all surfaces and over opaque surfaces only."""

    def __init__(self, n: int):
        self.t = np.full(n, _FAR)
        self.n = np.zeros((n, 3))
        self.mat = np.full(n, -1, np.int32)
        self.t_op = np.full(n, _FAR)
        self.n_op = np.zeros((n, 3))
        self.mat_op = np.full(n, -1, np.int32)

    def update(self, t: np.ndarray, normal: np.ndarray, mat_id: int, opaque: bool,
               idx: np.ndarray | slice = slice(None)) -> None:
        """Keep hits at ray indices ``idx`` (t, normal given for those rays only) that are nearer."""
        rows = np.arange(len(self.t))[idx]
        closer = t < self.t[rows]
        r = rows[closer]
        self.t[r] = t[closer]
        self.n[r] = normal[closer]
        self.mat[r] = mat_id
        if opaque:
            closer = t < self.t_op[rows]
            r = rows[closer]
            self.t_op[r] = t[closer]
            self.n_op[r] = normal[closer]
            self.mat_op[r] = mat_id


def _room(scene: Scene, o: np.ndarray, d: np.ndarray, hits: _Hits, mat_base: int) -> None:
    """Exit point of rays from inside the room box, with a doorway opening onto a corridor wall."""
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(d > 0, scene.room_hi, scene.room_lo)
        ts = (bound - o) / d
        ts[~np.isfinite(ts) | (ts <= 0)] = _FAR
    axis = np.argmin(ts, axis=1)
    t = ts[np.arange(len(d)), axis]
    sign = np.sign(d[np.arange(len(d)), axis])
    normal = np.zeros_like(d)
    normal[np.arange(len(d)), axis] = -sign
    # surface index: floor 0, ceiling 1, walls 2..5 (-x, +x, -y, +y)
    surf = np.where(axis == 2, np.where(sign < 0, 0, 1), np.where(axis == 0, np.where(sign < 0, 2, 3),
                                                                   np.where(sign < 0, 4, 5)))
    if scene.doorway is not None:
        wall, centre, half, dh = scene.doorway
        p = o + t[:, None] * d
        along = p[:, 1] if wall < 4 else p[:, 0]
        in_door = (surf == wall) & (np.abs(along - centre) < half) & (p[:, 2] < dh)
        if in_door.any():  # corridor: a wall 1.5 m behind the opening, dimmer
            ax = 0 if wall < 4 else 1
            plane = (scene.room_lo if wall % 2 == 0 else scene.room_hi)[ax] + (-1.5 if wall % 2 == 0 else 1.5)
            t2 = (plane - o[in_door, ax]) / d[in_door, ax]
            t[in_door] = t2
    for s in range(6):
        sel = np.flatnonzero(surf == s)
        hits.update(t[sel], normal[sel], mat_base + s, True, sel)


def _box(prim: Primitive, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(prim.yaw), np.sin(prim.yaw)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])  # local -> world
    ol, dl = (o - prim.center) @ R, d @ R
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dl
        t1, t2 = (-prim.size - ol) * inv, (prim.size - ol) * inv
    tmin, tmax = np.minimum(t1, t2), np.maximum(t1, t2)
    tmin = np.nan_to_num(tmin, nan=-_FAR)
    tmax = np.nan_to_num(tmax, nan=_FAR)
    near_axis = np.argmax(tmin, axis=1)
    tn, tf = tmin.max(axis=1), tmax.min(axis=1)
    hit = (tn <= tf) & (tn > _EPS)
    t = np.where(hit, tn, _FAR)
    nl = np.zeros_like(d)
    idx = np.arange(len(d))
    nl[idx, near_axis] = -np.sign(dl[idx, near_axis])
    return t, nl @ R.T


def _cyl(prim: Primitive, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r, hl, axis = prim.size[0], prim.size[1], int(prim.size[2])
    perm = [a for a in range(3) if a != axis] + [axis]
    ol, dl = (o - prim.center)[:, perm], d[:, perm]
    a = dl[:, 0] ** 2 + dl[:, 1] ** 2
    b = 2 * (ol[:, 0] * dl[:, 0] + ol[:, 1] * dl[:, 1])
    cc = ol[:, 0] ** 2 + ol[:, 1] ** 2 - r * r
    disc = b * b - 4 * a * cc
    with np.errstate(divide="ignore", invalid="ignore"):
        ts = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    z = ol[:, 2] + ts * dl[:, 2]
    side = (disc >= 0) & (ts > _EPS) & (np.abs(z) <= hl)
    t = np.where(side, ts, _FAR)
    nl = np.zeros_like(d)
    p = ol + t[:, None] * dl
    nl[:, 0], nl[:, 1] = p[:, 0] / r, p[:, 1] / r
    with np.errstate(divide="ignore", invalid="ignore"):
        for zc in (-hl, hl):  # caps
            tc = (zc - ol[:, 2]) / dl[:, 2]
            pc = ol[:, :2] + tc[:, None] * dl[:, :2]
            cap = (tc > _EPS) & (np.sum(pc * pc, axis=1) <= r * r) & (tc < t)
            t = np.where(cap, tc, t)
            nl[cap] = 0.0
            nl[cap, 2] = np.sign(zc)
    normal = np.zeros_like(d)
    normal[:, perm] = nl
    return t, normal


def _sphere(prim: Primitive, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = prim.size[0]
    oc = o - prim.center
    b = np.sum(oc * d, axis=1)
    disc = b * b - (np.sum(oc * oc, axis=1) - r * r)
    ts = -b - np.sqrt(np.maximum(disc, 0))
    hit = (disc >= 0) & (ts > _EPS)
    t = np.where(hit, ts, _FAR)
    normal = (oc + t[:, None] * d) / r
    return t, normal


_CUBE = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)


def _half_extents(prim: Primitive) -> np.ndarray:
    """Half extents of the primitive's bounding box in its own frame (a box's before its yaw)."""
    if prim.shape == "box":
        return np.asarray(prim.size, np.float64)
    if prim.shape == "cyl":
        r, hl, axis = prim.size[0], prim.size[1], int(prim.size[2])
        ext = np.array([r, r, r])
        ext[axis] = hl
        return ext
    return np.full(3, prim.size[0])


def _screen_box(prim: Primitive, cam: Camera, H: int, W: int) -> tuple[int, int, int, int]:
    """Pixel box (u0, u1, v0, v1; ends exclusive) of the primitive's bounding cube on screen: the
    whole image when it straddles the camera plane, an empty box when it is behind or off screen."""
    local = _CUBE * _half_extents(prim)
    if prim.shape == "box" and prim.yaw != 0.0:  # the box's own corners, turned by its yaw
        c, s = np.cos(prim.yaw), np.sin(prim.yaw)
        local = local @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1.0]])
    corners = prim.center + local
    pc = (corners - cam.t_wc) @ cam.R_wc  # world -> camera
    if np.all(pc[:, 2] < 0.02):
        return 0, 0, 0, 0  # behind the camera
    if np.any(pc[:, 2] < 0.02):
        return 0, W, 0, H
    uv = pc[:, :2] / pc[:, 2:3] * [cam.K[0, 0], cam.K[1, 1]] + [cam.K[0, 2], cam.K[1, 2]]
    u0, v0 = np.floor(uv.min(axis=0)).astype(int)
    u1, v1 = np.ceil(uv.max(axis=0)).astype(int)
    u0, u1, v0, v1 = max(u0, 0), min(u1 + 1, W), max(v0, 0), min(v1 + 1, H)
    if u0 >= u1 or v0 >= v1:
        return 0, 0, 0, 0
    return int(u0), int(u1), int(v0), int(v1)


def _screen_rows(box: tuple[int, int, int, int], H: int, W: int) -> np.ndarray | slice:
    """Flat pixel indices inside a screen box (a slice for the whole image)."""
    u0, u1, v0, v1 = box
    if (u0, u1, v0, v1) == (0, W, 0, H):
        return slice(None)
    return (np.arange(v0, v1)[:, None] * W + np.arange(u0, u1)[None, :]).ravel()


_SHAPES = {"box": _box, "cyl": _cyl, "sphere": _sphere}


# ----------------------------------------------------------------------------- appearance


def _hash2(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    h = (ix.astype(np.int64) * 374761393 + iy.astype(np.int64) * 668265263 + seed * 2147483647) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / 65535.0


def _value_noise(u: np.ndarray, v: np.ndarray, seed: int, octaves: int = 3) -> np.ndarray:
    out = np.zeros_like(u, dtype=np.float32)
    amp, total = 1.0, 0.0
    for k in range(octaves):
        fu, fv = u * (2**k), v * (2**k)
        iu, iv = np.floor(fu), np.floor(fv)
        au, av = fu - iu, fv - iv
        au, av = au * au * (3 - 2 * au), av * av * (3 - 2 * av)
        s = seed + 7919 * k
        n00, n10 = _hash2(iu, iv, s), _hash2(iu + 1, iv, s)
        n01, n11 = _hash2(iu, iv + 1, s), _hash2(iu + 1, iv + 1, s)
        out += amp * ((n00 * (1 - au) + n10 * au) * (1 - av) + (n01 * (1 - au) + n11 * au) * av)
        total += amp
        amp *= 0.5
    return out / total


def _texture(mat: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Albedo [N,3] of a material at world points p with normals n (planar projection)."""
    ax = np.argmax(np.abs(n), axis=1)
    u = np.where(ax == 0, p[:, 1], p[:, 0])
    v = np.where(ax == 2, p[:, 1], p[:, 2])
    u, v = u / mat.scale, v / mat.scale
    if mat.pattern == PLAIN:
        w = 0.5 + 0.1 * _value_noise(u * 4, v * 4, mat.seed, 2)
    elif mat.pattern == NOISE:
        w = _value_noise(u * 3, v * 3, mat.seed, 4)
    elif mat.pattern == WOOD:
        w = 0.5 + 0.5 * np.sin(u * 12 + 6 * _value_noise(u * 2, v * 8, mat.seed, 3))
    elif mat.pattern == TILE:
        fu, fv = np.mod(u * 2, 1.0), np.mod(v * 2, 1.0)
        grout = (fu < 0.05) | (fv < 0.05)
        w = np.where(grout, 0.0, 0.7 + 0.3 * _hash2(np.floor(u * 2), np.floor(v * 2), mat.seed))
    elif mat.pattern == FABRIC:
        w = 0.5 + 0.25 * np.sin(u * 60) * np.sin(v * 60) + 0.25 * _value_noise(u * 10, v * 10, mat.seed, 2)
    else:  # PRINTED: blocks of colour and text-like stripes
        blk = _hash2(np.floor(u * 3), np.floor(v * 5), mat.seed)
        lines = (np.mod(v * 40, 1.0) < 0.35) & (_hash2(np.floor(u * 12), np.floor(v * 40), mat.seed + 1) > 0.4)
        w = np.where(lines, 0.05, blk)
    w = np.clip(w, 0, 1).astype(np.float32)[:, None]
    return mat.color * (1 - w) + mat.color2 * w


def _cast_numpy(scene: Scene, cam: Camera, o: np.ndarray, d: np.ndarray, boxes: list) -> _Hits:
    """Reference caster: each surface against all the rays in its screen box, vectorised."""
    H, W = cam.height, cam.width
    hits = _Hits(H * W)
    _room(scene, o, d, hits, 0)
    for k, prim in enumerate(scene.primitives):
        sel = _screen_rows(boxes[k], H, W)
        if not isinstance(sel, slice) and len(sel) == 0:
            continue
        t, nrm = _SHAPES[prim.shape](prim, o[sel], d[sel])
        hits.update(t, nrm, 6 + k, prim.material.kind != TRANSPARENT, sel)
    return hits


def _cast_compiled(scene: Scene, cam: Camera, d: np.ndarray, boxes: list) -> _Hits:
    fp, ip = _wk.pack_primitives(scene.primitives, np.asarray(boxes, np.int64).reshape(-1, 4))
    door = np.array(scene.doorway if scene.doorway is not None else (-1, 0.0, 0.0, 0.0), np.float64)
    hits = _Hits.__new__(_Hits)
    hits.t, hits.n, hits.mat, hits.t_op, hits.n_op, hits.mat_op = _wk.cast(
        np.asarray(cam.t_wc, np.float64), d, cam.width, scene.room_lo.astype(np.float64),
        scene.room_hi.astype(np.float64), door, fp, ip)
    return hits


def _shade_rays(scene: Scene, mats: list, kinds: np.ndarray, o: np.ndarray, d: np.ndarray, t: np.ndarray,
                nrm: np.ndarray, mat_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear colour and albedo of the surfaces that rays (o, d) hit at distance t (numpy reference)."""
    n = len(t)
    p = o + t[:, None] * d
    alb = np.zeros((n, 3), np.float32)
    for mi in np.unique(mat_idx):
        sel = mat_idx == mi
        alb[sel] = _texture(mats[mi], p[sel], nrm[sel])
    nrm = nrm * np.where(np.sum(nrm * d, axis=1, keepdims=True) > 0, -1.0, 1.0)  # face the camera
    light = np.full(n, scene.ambient, np.float32)
    spec = np.zeros(n, np.float32)
    shiny = np.isin(kinds[mat_idx], (SPECULAR, MIRROR, TRANSPARENT))
    for lp, pw in zip(scene.lights, scene.light_power):
        lv = lp - p
        dist2 = np.sum(lv * lv, axis=1)
        lv /= np.sqrt(dist2)[:, None]
        light += pw * np.maximum(np.sum(nrm * lv, axis=1), 0) / (1.0 + dist2)
        hv = lv - d
        hv /= np.linalg.norm(hv, axis=1, keepdims=True) + _EPS
        spec += shiny * pw * np.maximum(np.sum(nrm * hv, axis=1), 0) ** 60 / (1.0 + dist2) * 4
    return alb * light[:, None] + spec[:, None], alb


def _glass_reflection(scene: Scene, mats: list, kinds: np.ndarray, p: np.ndarray, d: np.ndarray,
                      nrm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What glass at points ``p`` (normals ``nrm``, viewed along ``d``) mirrors of the opaque room, and the
    Fresnel reflectance of its two faces (Schlick, n = 1.5)."""
    cos = np.abs(np.sum(d * nrm, axis=1))
    nf = nrm * np.where(np.sum(nrm * d, axis=1, keepdims=True) > 0, -1.0, 1.0)  # towards the camera
    r = d - 2 * np.sum(d * nf, axis=1, keepdims=True) * nf
    o = p + 1e-3 * r
    hits = _Hits(len(p))
    _room(scene, o, r, hits, 0)
    for k, prim in enumerate(scene.primitives):
        t, n = _SHAPES[prim.shape](prim, o, r)
        hits.update(t, n, 6 + k, prim.material.kind != TRANSPARENT)
    found = hits.t_op < _FAR
    col = np.full((len(p), 3), scene.ambient * 0.5, np.float32)
    if found.any():
        col[found], _ = _shade_rays(scene, mats, kinds, o[found], r[found], hits.t_op[found], hits.n_op[found],
                                    hits.mat_op[found])
    f = 0.04 + 0.96 * (1.0 - cos) ** 5
    return col, np.clip(2 * f / (1 + f), 0, 1).astype(np.float32)  # two faces, inter-reflections summed


def render(scene: Scene, cam: Camera, rng: np.random.Generator, engine: str = "auto", version: int = 1) -> Frame:
    """Ray cast one frame: clean depth, photo-like RGB, normals, material classes.

    ``engine``: "compiled" (numba per-pixel kernels, :mod:`.world_kernels`), "numpy" (the vectorised
    reference) or "auto" (compiled when numba is installed). Both give the same frame up to float
    rounding. ``version`` 2 shades glass with Fresnel reflections of the room (module docstring).
    """
    _check_version(version)
    if engine == "auto":
        engine = "numpy" if _wk is None else "compiled"
    if engine not in ("compiled", "numpy"):
        raise ValueError(f"unknown render engine {engine!r} (compiled | numpy | auto)")
    if engine == "compiled" and _wk is None:
        raise ValueError("render engine 'compiled' needs numba (pip install numba)")
    H, W = cam.height, cam.width
    if engine == "compiled":
        d, dn = _wk.camera_rays(np.asarray(cam.K, np.float64), np.asarray(cam.R_wc, np.float64), H, W)
    else:
        (fx, _, cx), (_, fy, cy) = cam.K[0], cam.K[1]
        xc, yc = (np.arange(W) - cx) / fx, (np.arange(H) - cy) / fy  # camera rays (xc, yc, 1)
        R = cam.R_wc
        d = (xc[None, :, None] * R[:, 0] + yc[:, None, None] * R[:, 1] + R[:, 2]).reshape(-1, 3)  # world
        dn = np.sqrt(np.einsum("ij,ij->i", d, d))
        d /= dn[:, None]
    o = np.broadcast_to(cam.t_wc, d.shape)
    mats = list(scene.room_materials) + [p.material for p in scene.primitives]
    boxes = [_screen_box(p, cam, H, W) for p in scene.primitives]  # only rays there can reach it
    hits = _cast_compiled(scene, cam, d, boxes) if engine == "compiled" else _cast_numpy(scene, cam, o, d, boxes)

    z = (hits.t / dn).astype(np.float32)  # range -> z-depth
    z_op = (hits.t_op / dn).astype(np.float32)
    kinds = np.array([m.kind for m in mats])
    mat_cls = kinds[hits.mat].astype(np.uint8)

    def shade_numpy(t, nrm, mat_idx):
        return _shade_rays(scene, mats, kinds, o, d, t, nrm, mat_idx)

    if engine == "compiled":
        fm, im = _wk.pack_materials(mats)

    def shade(t, nrm, mat_idx, rows=None):
        """Colour and albedo of the surfaces hit by ``rows`` (all rays when None)."""
        if engine == "numpy":
            col, alb = shade_numpy(t, nrm, mat_idx)
            return (col, alb) if rows is None else (col[rows], alb[rows])
        idx = np.arange(H * W) if rows is None else np.flatnonzero(rows)
        return _wk.shade(np.asarray(cam.t_wc, np.float64), d, idx, t, nrm, mat_idx, fm, im,
                        np.asarray(scene.lights, np.float64).reshape(-1, 3),
                        np.asarray(scene.light_power, np.float64), float(scene.ambient))

    color, alb = shade(hits.t_op, hits.n_op, hits.mat_op)
    glass = mat_cls == TRANSPARENT
    if glass.any():
        gcol, _ = shade(hits.t, hits.n, hits.mat, glass)
        if version == 1:  # glass: mostly the scene behind it, tinted, plus a highlight
            color[glass] = 0.75 * color[glass] + 0.25 * gcol
        else:  # what passes through both faces, tinted, plus what they reflect of the room
            g = np.flatnonzero(glass)
            refl, f = _glass_reflection(scene, mats, kinds, cam.t_wc + hits.t[g, None] * d[g], d[g], hits.n[g])
            color[glass] = (1 - f[:, None]) * (0.85 * color[glass] + 0.15 * gcol) + f[:, None] * refl
    mirror = mat_cls == MIRROR
    if mirror.any():  # a mirror shows a blurred bright reflection of the room
        color[mirror] = 0.3 * color[mirror] + 0.5 * np.float32(np.mean(color, axis=0))
    # Camera: auto exposure, white balance, gamma, blur, noise.
    gain = 0.8 / (np.percentile(color, 95) + 1e-4) * rng.uniform(0.7, 1.2)
    wb = rng.normal(1.0, 0.06, 3).astype(np.float32)
    if engine == "numpy":
        img = color.reshape(H, W, 3)
        img *= gain
        img *= wb
        img = np.clip(img, 0, 1) ** (1 / 2.2)
    else:
        img = _wk.expose(color, gain, wb, 1 / 2.2).reshape(H, W, 3)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.3, 0.9))
    img += rng.normal(0, rng.uniform(0.005, 0.025), img.shape).astype(np.float32)
    rgb = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    normal_c = (hits.n @ cam.R_wc).reshape(H, W, 3).astype(np.float32)  # world -> camera
    normal_c *= np.where(normal_c[..., 2:3] > 0, -1.0, 1.0).astype(np.float32)
    albedo = alb.mean(axis=1).reshape(H, W).astype(np.float32)
    return Frame(rgb, z.reshape(H, W), z_op.reshape(H, W), normal_c, mat_cls.reshape(H, W), albedo,
                 cam.K.astype(np.float32))


def populate_view(scene: Scene, cam: Camera, rng: np.random.Generator, count: tuple[int, int] = (2, 7)) -> None:
    """Add objects standing on the floor inside the camera's view, 0.5-4 m ahead, so frames are busy."""
    fwd = cam.R_wc[:, 2].copy()
    fwd[2] = 0.0
    fwd /= np.linalg.norm(fwd) + _EPS
    side = np.array([-fwd[1], fwd[0], 0.0])
    for _ in range(int(rng.integers(*count))):
        dist = rng.uniform(0.5, 4.0)
        p = cam.t_wc + fwd * dist + side * rng.uniform(-0.6, 0.6) * dist
        p = np.clip(p, scene.room_lo + 0.1, scene.room_hi - 0.1)
        m = _random_material(rng)
        k = rng.random()
        if k < 0.45:
            hx, hy, hz = rng.uniform(0.05, 0.5, 2).tolist() + [rng.uniform(0.05, 0.9)]
            scene.primitives.append(Primitive("box", np.array([p[0], p[1], hz]), np.array([hx, hy, hz]),
                                              float(rng.uniform(0, np.pi)), m))
        elif k < 0.75:
            r, hh = rng.uniform(0.03, 0.3), rng.uniform(0.05, 0.8)
            scene.primitives.append(Primitive("cyl", np.array([p[0], p[1], hh]), np.array([r, hh, 2]), 0.0, m))
        elif k < 0.9:
            r = rng.uniform(0.05, 0.35)
            scene.primitives.append(Primitive("sphere", np.array([p[0], p[1], r]), np.array([r]), 0.0, m))
        else:  # a thin pole
            scene.primitives.append(Primitive("cyl", np.array([p[0], p[1], 1.0]),
                                              np.array([rng.uniform(0.008, 0.03), 1.0, 2]), 0.0, m))


def render_random(seed: int, height: int = 240, width: int = 320, crop_of: tuple[int, int] | None = None,
                  engine: str = "auto", version: int = 1) -> Frame:
    """One seeded random frame of world ``version``; frames whose camera is inside or against an object
    are resampled."""
    rng = np.random.default_rng(seed)
    while True:
        scene = sample_scene(rng, version)
        cam = sample_camera(rng, scene, height, width, crop_of=crop_of)
        populate_view(scene, cam, rng)
        frame = render(scene, cam, rng, engine, version)
        if np.mean(frame.depth < 0.25) < 0.02 and np.median(frame.depth) < 12.0:
            return frame
