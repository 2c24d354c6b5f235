"""A tiny orthographic ray caster for the 2.5-D procedural scenes (`shapes`, `two-domain`).

Each pixel (sub-sampled for anti-aliasing) sends one ray along the camera's viewing direction;
every primitive returns, per ray, the distance t to its first hit (inf for a miss) and the
surface normal there. The nearest hit wins. Everything is vectorised over rays with NumPy.
"""
from __future__ import annotations

import numpy as np

INF = np.float32(np.inf)


def camera_basis(azimuth: float, elevation: float):
    """The camera's right, up and toward-the-camera unit vectors (world coordinates, y up)."""
    toward_camera = np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation),
                              np.cos(elevation) * np.cos(azimuth)])
    right = np.array([np.cos(azimuth), 0.0, -np.sin(azimuth)])
    up = np.cross(right, -toward_camera)
    return right, up, toward_camera


def camera_rays(size: int, supersample: int, azimuth: float, elevation: float,
                half_width: float, target=(0.0, 0.0, 0.0), distance: float = 50.0):
    """Origins (P x 3) and the shared direction (3,) of an orthographic camera's rays.

    The camera sits at `azimuth` around the vertical (y) axis and `elevation` above the horizon
    (radians), looks at `target`, and sees a square of side 2 * half_width. Rays are ordered row by
    row, top row first, with `supersample`^2 rays per pixel.
    """
    right, up, toward_camera = camera_basis(azimuth, elevation)
    forward = -toward_camera
    n = size * supersample
    s = (np.arange(n) + 0.5) / n * 2 - 1  # sub-pixel centres in [-1, 1]
    u, v = np.meshgrid(s, -s)  # v: +1 at the top row
    origins = (np.asarray(target, dtype=np.float64) + distance * toward_camera
               + half_width * (u[..., None] * right + v[..., None] * up))
    return origins.reshape(-1, 3).astype(np.float32), forward.astype(np.float32)


def pixel_average(values: np.ndarray, size: int, supersample: int) -> np.ndarray:
    """Average the supersample x supersample rays of each pixel: (..., P) -> (..., size, size)."""
    shape = values.shape[:-1] + (size, supersample, size, supersample)
    return values.reshape(shape).mean(axis=(-1, -3))


def plane(origins, direction, normal, offset):
    """Plane {p : p . normal = offset}, hit only from the side its normal faces."""
    normal = np.asarray(normal, dtype=np.float32)
    denom = float(direction @ normal)
    if denom >= 0:
        return np.full(len(origins), INF), np.broadcast_to(normal, origins.shape)
    t = (offset - origins @ normal) / denom
    return np.where(t > 0, t, INF).astype(np.float32), np.broadcast_to(normal, origins.shape)


def box(origins, direction, center, half):
    """Axis-aligned box: see `boxes` (the slab method)."""
    t, _, normal = boxes(origins, direction, [center], [half])
    return t, normal


def sphere(origins, direction, center, radius):
    """|o + t d - c|^2 = r^2, a quadratic in t (|d| = 1): t = -b - sqrt(b^2 - c)."""
    oc = origins - np.asarray(center, dtype=np.float32)
    b = oc @ direction
    c = np.einsum("ij,ij->i", oc, oc) - radius * radius
    disc = b * b - c
    t = -b - np.sqrt(np.maximum(disc, 0))
    hit = (disc >= 0) & (t > 0)
    t = np.where(hit, t, INF).astype(np.float32)
    normal = (oc + np.where(hit, t, 0)[:, None] * direction) / radius
    return t, normal.astype(np.float32)


def vertical_cylinder(origins, direction, radius, y0, y1, caps=True):
    """Cylinder x^2 + z^2 = r^2 between heights y0 and y1 (its side, plus the flat top if `caps`)."""
    ox, oy, oz = origins[:, 0], origins[:, 1], origins[:, 2]
    dx, dy, dz = direction
    a = dx * dx + dz * dz
    b = ox * dx + oz * dz
    c = ox * ox + oz * oz - radius * radius
    disc = b * b - a * c
    t_side = (-b - np.sqrt(np.maximum(disc, 0))) / max(a, 1e-9)
    y = oy + t_side * dy
    side_hit = (disc >= 0) & (t_side > 0) & (y >= y0) & (y <= y1)
    t = np.where(side_hit, t_side, INF).astype(np.float32)
    normal = np.stack([ox + t_side * dx, np.zeros_like(ox), oz + t_side * dz], axis=1) / radius
    if caps and dy < 0:  # looking down: the top disc can be seen
        t_top = (y1 - oy) / dy
        on_top = ((ox + t_top * dx) ** 2 + (oz + t_top * dz) ** 2 <= radius * radius) & (t_top > 0) & (t_top < t)
        t = np.where(on_top, t_top, t).astype(np.float32)
        normal = np.where(on_top[:, None], np.array([0, 1, 0], dtype=np.float32), normal)
    return t, normal.astype(np.float32)


def nearest(*hits):
    """Combine (t, normal) pairs: the index of the nearest primitive per ray (-1 for none), its t
    and its normal."""
    t, normal = hits[0][0], np.broadcast_to(hits[0][1], (len(hits[0][0]), 3))
    which = np.zeros(len(t), dtype=np.int64)
    for k, (t_k, normal_k) in enumerate(hits[1:], start=1):
        closer = t_k < t
        t = np.where(closer, t_k, t)
        normal = np.where(closer[:, None], normal_k, normal)
        which[closer] = k
    return np.where(np.isfinite(t), which, -1), t, normal


def boxes(origins, direction, centers, halves):
    """Union of axis-aligned boxes (B x 3 centres and half sizes), tested all at once.

    Returns per ray the distance to the nearest box (inf for none), which box it is (-1 for none)
    and the normal of the face hit. Same slab method as `box`, one axis at a time on P x B arrays.
    """
    centers = np.asarray(centers, dtype=np.float32)
    halves = np.asarray(halves, dtype=np.float32)
    d = np.where(np.abs(direction) < 1e-9, 1e-9, direction).astype(np.float32)
    t_enter = t_exit = axis = None
    for k in range(3):
        t1 = (centers[:, k] - halves[:, k] - origins[:, k:k + 1]) / d[k]  # P x B
        t2 = (centers[:, k] + halves[:, k] - origins[:, k:k + 1]) / d[k]
        near, far = np.minimum(t1, t2), np.maximum(t1, t2)
        if k == 0:
            t_enter, t_exit, axis = near, far, np.zeros(near.shape, dtype=np.int8)
        else:
            later = near > t_enter
            axis = np.where(later, np.int8(k), axis)
            t_enter, t_exit = np.maximum(t_enter, near), np.minimum(t_exit, far)
    t_enter = np.where((t_enter <= t_exit) & (t_enter > 0), t_enter, INF)
    which = t_enter.argmin(axis=1)
    rows = np.arange(len(origins))
    t = t_enter[rows, which]
    hit_axis = axis[rows, which]
    normal = np.zeros_like(origins)
    normal[rows, hit_axis] = -np.sign(d[hit_axis])
    return t.astype(np.float32), np.where(np.isfinite(t), which, -1), normal
