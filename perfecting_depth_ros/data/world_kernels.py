"""Compiled per-pixel kernels of the world renderer (numba): ray casting and shading.

The same geometry and appearance as the vectorised numpy code in :mod:`.world` (kept there as the
reference implementation and the fallback when numba is missing), but one pass per pixel: each ray
only tests the primitives whose screen box contains it, and texture and lights are evaluated in
registers instead of full-image temporaries. This is what brings rendering to tens of frames per
second on one core (``scripts/bench_world.py``).

Scenes are packed into flat arrays by :func:`pack_primitives` / :func:`pack_materials`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_EPS = 1e-6
_FAR = 1e9
BOX, CYL, SPHERE = 0, 1, 2
_SHAPE_CODES = {"box": BOX, "cyl": CYL, "sphere": SPHERE}
# Texture patterns and material classes, as in world.py.
_PLAIN, _NOISE, _WOOD, _TILE, _FABRIC, _PRINTED = range(6)
_SPECULAR, _TRANSPARENT, _MIRROR = 2, 3, 4


def pack_primitives(prims, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Primitives as (float params [P,9], int params [P,6]).

    float: centre xyz, size xyz, cos(yaw), sin(yaw), unused; int: shape code, opaque flag, screen box
    u0, u1, v0, v1 (``boxes`` [P,4], from the caller's culling; u1/v1 exclusive).
    """
    fp = np.zeros((len(prims), 9), np.float64)
    ip = np.zeros((len(prims), 6), np.int64)
    for k, p in enumerate(prims):
        fp[k, 0:3] = p.center
        fp[k, 3:3 + len(p.size)] = p.size
        fp[k, 6], fp[k, 7] = np.cos(p.yaw), np.sin(p.yaw)
        ip[k, 0] = _SHAPE_CODES[p.shape]
        ip[k, 1] = int(p.material.kind != _TRANSPARENT)
        ip[k, 2:6] = boxes[k]
    return fp, ip


def pack_materials(mats) -> tuple[np.ndarray, np.ndarray]:
    """Materials as (float params [M,7]: colour, second colour, pattern scale; int params [M,3]: kind,
    pattern, seed)."""
    fm = np.zeros((len(mats), 7), np.float64)
    im = np.zeros((len(mats), 3), np.int64)
    for k, m in enumerate(mats):
        fm[k, 0:3], fm[k, 3:6], fm[k, 6] = m.color, m.color2, m.scale
        im[k] = (m.kind, m.pattern, m.seed)
    return fm, im


# ----------------------------------------------------------------------------- casting


@njit(cache=True)
def camera_rays(K, R, height, width):
    """Unit world-frame ray directions [H*W,3] of a pinhole camera and their length before
    normalisation (the factor from range to z-depth)."""
    fx, cx, fy, cy = K[0, 0], K[0, 2], K[1, 1], K[1, 2]
    d = np.empty((height * width, 3))
    dn = np.empty(height * width)
    for v in range(height):
        yc = (v - cy) / fy
        for u in range(width):
            xc = (u - cx) / fx
            i = v * width + u
            x = xc * R[0, 0] + yc * R[0, 1] + R[0, 2]
            y = xc * R[1, 0] + yc * R[1, 1] + R[1, 2]
            z = xc * R[2, 0] + yc * R[2, 1] + R[2, 2]
            n = np.sqrt(x * x + y * y + z * z)
            d[i, 0], d[i, 1], d[i, 2], dn[i] = x / n, y / n, z / n, n
    return d, dn


@njit(cache=True, fastmath=False)
def _hit_box(fp, ox, oy, oz, dx, dy, dz):
    c, s = fp[6], fp[7]
    # world -> local: rotate by -yaw about z (columns of R are the local axes)
    px, py, pz = ox - fp[0], oy - fp[1], oz - fp[2]
    o = (px * c + py * s, -px * s + py * c, pz)
    d = (dx * c + dy * s, -dx * s + dy * c, dz)
    tn, tf, axis = -_FAR, _FAR, 0
    for a in range(3):
        h = fp[3 + a]
        if d[a] != 0.0:
            inv = 1.0 / d[a]
            t1, t2 = (-h - o[a]) * inv, (h - o[a]) * inv
            lo, hi = min(t1, t2), max(t1, t2)
        else:  # parallel slab: inside it or missed
            if abs(o[a]) <= h:
                lo, hi = -_FAR, _FAR
            else:
                return _FAR, 0.0, 0.0, 0.0
        if lo > tn:
            tn, axis = lo, a
        tf = min(tf, hi)
    if not (tn <= tf and tn > _EPS):
        return _FAR, 0.0, 0.0, 0.0
    sgn = -1.0 if d[axis] > 0 else (1.0 if d[axis] < 0 else 0.0)
    # local normal (sgn on ``axis``) -> world
    if axis == 0:
        return tn, sgn * c, sgn * s, 0.0
    if axis == 1:
        return tn, -sgn * s, sgn * c, 0.0
    return tn, 0.0, 0.0, sgn


@njit(cache=True, fastmath=False)
def _hit_cyl(fp, ox, oy, oz, dx, dy, dz):
    r, hl, axis = fp[3], fp[4], int(fp[5])
    o3 = (ox - fp[0], oy - fp[1], oz - fp[2])
    d3 = (dx, dy, dz)
    a0, a1 = (1, 2) if axis == 0 else ((0, 2) if axis == 1 else (0, 1))
    o0, o1, oa = o3[a0], o3[a1], o3[axis]
    d0, d1, da = d3[a0], d3[a1], d3[axis]
    a = d0 * d0 + d1 * d1
    b = 2.0 * (o0 * d0 + o1 * d1)
    cc = o0 * o0 + o1 * o1 - r * r
    disc = b * b - 4.0 * a * cc
    t = _FAR
    n0, n1, na = 0.0, 0.0, 0.0
    if disc >= 0.0 and a > 0.0:
        ts = (-b - np.sqrt(disc)) / (2.0 * a)
        z = oa + ts * da
        if ts > _EPS and abs(z) <= hl:
            t = ts
            n0, n1 = (o0 + t * d0) / r, (o1 + t * d1) / r
    if da != 0.0:
        for zc in (-hl, hl):
            tc = (zc - oa) / da
            q0, q1 = o0 + tc * d0, o1 + tc * d1
            if tc > _EPS and q0 * q0 + q1 * q1 <= r * r and tc < t:
                t = tc
                n0, n1, na = 0.0, 0.0, (1.0 if zc > 0 else -1.0)
    if t >= _FAR:
        return _FAR, 0.0, 0.0, 0.0
    if axis == 0:
        return t, na, n0, n1
    if axis == 1:
        return t, n0, na, n1
    return t, n0, n1, na


@njit(cache=True, fastmath=False)
def _hit_sphere(fp, ox, oy, oz, dx, dy, dz):
    r = fp[3]
    px, py, pz = ox - fp[0], oy - fp[1], oz - fp[2]
    b = px * dx + py * dy + pz * dz
    disc = b * b - (px * px + py * py + pz * pz - r * r)
    if disc < 0.0:
        return _FAR, 0.0, 0.0, 0.0
    ts = -b - np.sqrt(disc)
    if ts <= _EPS:
        return _FAR, 0.0, 0.0, 0.0
    return ts, (px + ts * dx) / r, (py + ts * dy) / r, (pz + ts * dz) / r


@njit(cache=True, fastmath=False)
def cast(o, d, width, room_lo, room_hi, door, fp, ip):
    """Nearest hit per ray over the room and the primitives, and nearest opaque hit.

    o [3] camera centre; d [N,3] unit rays in row-major pixel order (N = H*width); door: (wall,
    centre, half width, height) with wall < 0 for none. Returns t, normal [N,3], surface index
    (room surfaces 0..5, then 6 + primitive index), and the same three for opaque surfaces.
    """
    n_rays = d.shape[0]
    t_all = np.empty(n_rays)
    n_all = np.zeros((n_rays, 3))
    m_all = np.empty(n_rays, np.int32)
    t_op = np.empty(n_rays)
    n_op = np.zeros((n_rays, 3))
    m_op = np.empty(n_rays, np.int32)
    wall, centre, half, dh = int(door[0]), door[1], door[2], door[3]
    for i in range(n_rays):  # the room: every ray leaves it somewhere
        dx, dy, dz = d[i, 0], d[i, 1], d[i, 2]
        # room: exit through the nearest of the six planes (first axis on ties, as np.argmin)
        best_t, best_a, best_s = _FAR, 0, 0.0
        for a in range(3):
            da = d[i, a]
            if da > 0:
                ta = (room_hi[a] - o[a]) / da
            elif da < 0:
                ta = (room_lo[a] - o[a]) / da
            else:
                continue
            if ta > 0 and ta < best_t:
                best_t, best_a, best_s = ta, a, (1.0 if da > 0 else -1.0)
        if best_a == 2:
            surf = 0 if best_s < 0 else 1
        elif best_a == 0:
            surf = 2 if best_s < 0 else 3
        else:
            surf = 4 if best_s < 0 else 5
        t = best_t
        if wall >= 0 and surf == wall:
            px, py, pz = o[0] + t * dx, o[1] + t * dy, o[2] + t * dz
            along = py if wall < 4 else px
            if abs(along - centre) < half and pz < dh:  # corridor wall 1.5 m behind the opening
                ax = 0 if wall < 4 else 1
                plane = room_lo[ax] - 1.5 if wall % 2 == 0 else room_hi[ax] + 1.5
                t = (plane - o[ax]) / d[i, ax]
        t_all[i] = t
        t_op[i] = t
        m_all[i] = surf
        m_op[i] = surf
        n_all[i, best_a] = -best_s
        n_op[i, best_a] = -best_s
    # primitives: each against the rays of its screen box only (same update order as the reference)
    for k in range(fp.shape[0]):
        shape, opaque = ip[k, 0], ip[k, 1] == 1
        for v in range(ip[k, 4], ip[k, 5]):
            for u in range(ip[k, 2], ip[k, 3]):
                i = v * width + u
                dx, dy, dz = d[i, 0], d[i, 1], d[i, 2]
                if shape == 0:
                    th, nx, ny, nz = _hit_box(fp[k], o[0], o[1], o[2], dx, dy, dz)
                elif shape == 1:
                    th, nx, ny, nz = _hit_cyl(fp[k], o[0], o[1], o[2], dx, dy, dz)
                else:
                    th, nx, ny, nz = _hit_sphere(fp[k], o[0], o[1], o[2], dx, dy, dz)
                if th < t_all[i]:
                    t_all[i] = th
                    n_all[i, 0], n_all[i, 1], n_all[i, 2] = nx, ny, nz
                    m_all[i] = 6 + k
                if opaque and th < t_op[i]:
                    t_op[i] = th
                    n_op[i, 0], n_op[i, 1], n_op[i, 2] = nx, ny, nz
                    m_op[i] = 6 + k
    return t_all, n_all, m_all, t_op, n_op, m_op


# ----------------------------------------------------------------------------- appearance


@njit(cache=True)
def _hash2(ix, iy, seed):
    h = (np.int64(ix) * 374761393 + np.int64(iy) * 668265263 + np.int64(seed) * 2147483647) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    return np.float32((h ^ (h >> 16)) & 0xFFFF) / np.float32(65535.0)


@njit(cache=True, fastmath=True)
def _value_noise(u, v, seed, octaves):
    out, amp, total = 0.0, 1.0, 0.0
    for k in range(octaves):
        fu, fv = u * (2 ** k), v * (2 ** k)
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


@njit(cache=True, fastmath=True)
def _pattern(pattern, seed, u, v):
    if pattern == _PLAIN:
        w = 0.5 + 0.1 * _value_noise(u * 4, v * 4, seed, 2)
    elif pattern == _NOISE:
        w = _value_noise(u * 3, v * 3, seed, 4)
    elif pattern == _WOOD:
        w = 0.5 + 0.5 * np.sin(u * 12 + 6 * _value_noise(u * 2, v * 8, seed, 3))
    elif pattern == _TILE:
        fu, fv = (u * 2) % 1.0, (v * 2) % 1.0
        if fu < 0.05 or fv < 0.05:
            w = 0.0
        else:
            w = 0.7 + 0.3 * _hash2(np.floor(u * 2), np.floor(v * 2), seed)
    elif pattern == _FABRIC:
        w = 0.5 + 0.25 * np.sin(u * 60) * np.sin(v * 60) + 0.25 * _value_noise(u * 10, v * 10, seed, 2)
    else:  # printed: blocks of colour and text-like stripes
        if (v * 40) % 1.0 < 0.35 and _hash2(np.floor(u * 12), np.floor(v * 40), seed + 1) > 0.4:
            w = 0.05
        else:
            w = _hash2(np.floor(u * 3), np.floor(v * 5), seed)
    return min(max(w, 0.0), 1.0)


@njit(cache=True, fastmath=True)
def shade(o, d, rows, t, n, mat, fm, im, lights, power, ambient):
    """Colour and albedo [len(rows),3] of the surfaces hit by rays ``rows``: planar-projected
    texture, Lambert lighting from point lights with 1/(1+r^2) falloff, Blinn highlights on shiny
    materials."""
    out = np.empty((rows.shape[0], 3), np.float32)
    alb = np.empty((rows.shape[0], 3), np.float32)
    for j in range(rows.shape[0]):
        i = rows[j]
        dx, dy, dz = d[i, 0], d[i, 1], d[i, 2]
        px, py, pz = o[0] + t[i] * dx, o[1] + t[i] * dy, o[2] + t[i] * dz
        nx, ny, nz = n[i, 0], n[i, 1], n[i, 2]
        m = mat[i]
        ax = 0
        if abs(ny) > abs(nx):
            ax = 1
        if abs(nz) > max(abs(nx), abs(ny)):
            ax = 2
        u = py if ax == 0 else px
        v = py if ax == 2 else pz
        sc = fm[m, 6]
        w = _pattern(im[m, 1], im[m, 2], u / sc, v / sc)
        a0 = fm[m, 0] * (1 - w) + fm[m, 3] * w
        a1 = fm[m, 1] * (1 - w) + fm[m, 4] * w
        a2 = fm[m, 2] * (1 - w) + fm[m, 5] * w
        if nx * dx + ny * dy + nz * dz > 0:  # face the camera
            nx, ny, nz = -nx, -ny, -nz
        light, spec = ambient, 0.0
        shiny = im[m, 0] == _SPECULAR or im[m, 0] == _MIRROR or im[m, 0] == _TRANSPARENT
        for k in range(lights.shape[0]):
            lx, ly, lz = lights[k, 0] - px, lights[k, 1] - py, lights[k, 2] - pz
            dist2 = lx * lx + ly * ly + lz * lz
            inv = 1.0 / np.sqrt(dist2)
            lx, ly, lz = lx * inv, ly * inv, lz * inv
            light += power[k] * max(nx * lx + ny * ly + nz * lz, 0.0) / (1.0 + dist2)
            if shiny:
                hx, hy, hz = lx - dx, ly - dy, lz - dz
                hn = np.sqrt(hx * hx + hy * hy + hz * hz) + _EPS
                c = max((nx * hx + ny * hy + nz * hz) / hn, 0.0)
                c4 = (c * c) * (c * c)
                c8 = c4 * c4
                c16 = c8 * c8
                spec += power[k] * (c16 * c16 * c16 * c8 * c4) / (1.0 + dist2) * 4  # c ** 60
        out[j, 0], out[j, 1], out[j, 2] = a0 * light + spec, a1 * light + spec, a2 * light + spec
        alb[j, 0], alb[j, 1], alb[j, 2] = a0, a1, a2
    return out, alb


@njit(cache=True)
def expose(color, gain, wb, gamma):
    """Camera response: ``clip(color * gain * wb, 0, 1) ** gamma`` per channel, as float32 [N,3]."""
    out = np.empty(color.shape, np.float32)
    for i in range(color.shape[0]):
        for c in range(3):
            x = np.float32(color[i, c] * np.float32(gain)) * wb[c]
            x = min(max(x, np.float32(0.0)), np.float32(1.0))
            out[i, c] = x ** np.float32(gamma)
    return out
