"""`shapes`: 3D Shapes' factor structure as a procedural 2.5-D scene.

3D Shapes (C. Burgess, H. Kim, "3D Shapes Dataset", 2018, https://github.com/deepmind/3dshapes-dataset)
shows one object in the corner of a room and varies six factors: floor hue (10), wall hue (10),
object hue (10), scale (8), shape (4: cube, cylinder, sphere, capsule) and orientation (15 viewing
angles in [-30, 30] degrees). Here the scene is ray-cast: a floor, two walls meeting in a corner,
and the object, seen by an orthographic camera that turns with the orientation factor, so the
corner and the object's visible faces move with it.

Rendering is split in two steps, because only three factors change the geometry:
1. for each (orientation, shape, scale) - 480 combinations - ray-cast once how much of each pixel
   is floor, wall or object, already multiplied by its Lambert shading (cached per image size);
2. an image is then a per-region colour lookup: pixel = sum over regions of weight x colour.
So colouring 10,000 images is a gather and a weighted sum, not 10,000 ray-casts.

`grid="coarse"` keeps the room, the ten hues of each colour factor and the factor names, but restricts the
geometry to 2 scales x 2 shapes x 3 orientations (`COARSE`) with larger objects (1.2 and 1.5 on the scale of
`SCALES`): the object covers 13-28 % of the image (19 % on average) instead of 2-15 %, so at 16 px a small network can learn its
scale, shape and orientation, while the three hues still carry most of the pixel variance. Notebook 06 uses
it for its quick profile; factor indices then run over the restricted grid (scale 0-1, shape 0-1, orientation
0-2) and `coarse_values(factors)` maps them back to scale, shape name and degrees.
"""
from __future__ import annotations

from functools import lru_cache, partial

import numpy as np
import torch

from . import raycast
from .dataset import ArrayDataset, load_procedural
from .factors import hue_to_rgb, sample_grid, split_seed

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
HUES = np.linspace(0.0, 0.9, 10)  # as in 3D Shapes
SCALES = np.linspace(0.75, 1.25, 8)
SHAPES = ("cube", "cylinder", "sphere", "capsule")
ORIENTATIONS_DEG = np.linspace(-30.0, 30.0, 15)

_WALL_DISTANCE = 3.0  # walls are the planes x = -3 and z = -3
_ELEVATION = np.deg2rad(25.0)
_LIGHT = np.array([0.6, 1.0, 0.3]) / np.linalg.norm([0.6, 1.0, 0.3])
_RAYS_PER_SIDE = 128  # sub-pixel rays across the image, for anti-aliasing (2 x 2 per pixel at 64 x 64)

# The coarse grid: which values each geometric factor takes (scale values on the same axis as SCALES).
COARSE = {"scales": (1.2, 1.5), "shapes": (0, 1), "orientations_deg": (-30.0, 0.0, 30.0)}  # shapes: cube, cylinder
GRIDS = {"full": FACTOR_SIZES,
         "coarse": (10, 10, 10, len(COARSE["scales"]), len(COARSE["shapes"]), len(COARSE["orientations_deg"]))}


def _sizes(grid: str) -> tuple:
    if grid not in GRIDS:
        raise ValueError(f"shapes: grid must be one of {', '.join(GRIDS)}, not {grid!r}")
    return GRIDS[grid]


def sample_factors(n: int, seed: int = 0, split: str | None = None, grid: str = "full") -> torch.Tensor:
    """n factor index vectors (N x 6 LongTensor), uniform over the grid (and over `split` if given)."""
    rng = np.random.default_rng(seed) if split is None else split_seed(seed, split)
    return torch.from_numpy(sample_grid(_sizes(grid), n, rng, split))


def coarse_values(factors) -> dict:
    """The coarse grid's indices (N x 6) as values: scale (on SCALES' axis), shape name, orientation in degrees."""
    f = np.asarray(factors, dtype=np.int64).reshape(-1, 6)
    return {"scale": np.asarray(COARSE["scales"])[f[:, 3]],
            "shape": np.asarray(SHAPES)[np.asarray(COARSE["shapes"])[f[:, 4]]],
            "orientation_deg": np.asarray(COARSE["orientations_deg"])[f[:, 5]]}


def _object_hit(shape: int, radius: float, origins, direction):
    """First hit of the rays with the object standing at the origin on the floor."""
    if shape == 0:
        return raycast.box(origins, direction, (0, radius, 0), (radius, radius, radius))
    if shape == 1:
        return raycast.vertical_cylinder(origins, direction, radius, 0.0, 2 * radius)
    if shape == 2:
        return raycast.sphere(origins, direction, (0, radius, 0), radius)
    # capsule: a cylinder with a hemisphere at each end
    r = 0.75 * radius
    bottom, top = r, r + 1.4 * radius
    _, side_t, side_n = raycast.nearest(raycast.vertical_cylinder(origins, direction, r, bottom, top, caps=False))
    _, t, n = raycast.nearest((side_t, side_n), raycast.sphere(origins, direction, (0, bottom, 0), r),
                              raycast.sphere(origins, direction, (0, top, 0), r))
    return t, n


def _region_weights(size: int) -> np.ndarray:
    """(15, 4, 8, 3, size, size) float32: shaded coverage of floor, wall and object per pixel."""
    return _geometry_weights(size, tuple(ORIENTATIONS_DEG), tuple(range(4)), tuple(SCALES))


@lru_cache(maxsize=6)
def _geometry_weights(size: int, orientations_deg: tuple, shapes: tuple, scales: tuple,
                      shaded: bool = True) -> np.ndarray:
    """(orientations, shapes, scales, 3, size, size) float32: shaded (or plain, `shaded=False`) coverage of
    floor, wall and object per pixel, for the given orientation angles, shape indices and scale values."""
    weights = np.zeros((len(orientations_deg), len(shapes), len(scales), 3, size, size), dtype=np.float32)
    supersample = max(1, _RAYS_PER_SIDE // size)
    for o, degrees in enumerate(orientations_deg):
        origins, direction = raycast.camera_rays(size, supersample, np.pi / 4 + np.deg2rad(degrees), _ELEVATION,
                                                 half_width=2.3, target=(-0.3, 1.0, -0.3))
        floor = raycast.plane(origins, direction, (0, 1, 0), 0.0)
        walls = raycast.nearest(raycast.plane(origins, direction, (1, 0, 0), -_WALL_DISTANCE),
                                raycast.plane(origins, direction, (0, 0, 1), -_WALL_DISTANCE))[1:]
        for j, shape in enumerate(shapes):
            for s, scale in enumerate(scales):
                which, _, normal = raycast.nearest(floor, walls, _object_hit(shape, 0.62 * scale, origins, direction))
                shade = 0.35 + 0.65 * np.clip(normal @ _LIGHT, 0, 1) if shaded else np.float32(1)  # ambient + Lambert
                regions = np.where(which == np.arange(3)[:, None], shade, np.float32(0))  # 3 x rays
                weights[o, j, s] = raycast.pixel_average(regions, size, supersample)
    return weights


def _weights(size: int, grid: str, shaded: bool = True) -> np.ndarray:
    if _sizes(grid) == FACTOR_SIZES:
        return _geometry_weights(size, tuple(ORIENTATIONS_DEG), tuple(range(4)), tuple(SCALES), shaded)
    return _geometry_weights(size, COARSE["orientations_deg"], COARSE["shapes"], COARSE["scales"], shaded)


def object_coverage(factors, size: int = 32, grid: str = "full") -> np.ndarray:
    """The share of the image the object covers (0-1) for each factor vector (N x 6)."""
    f = np.asarray(factors, dtype=np.int64).reshape(-1, 6)
    weights = _weights(size, grid, shaded=False)
    return weights[f[:, 5], f[:, 4], f[:, 3], 2].mean(axis=(-1, -2))


def render(factors, size: int = 64, chunk: int = 500, grid: str = "full") -> torch.Tensor:
    """RGB images (N x 3 x size x size float32 in [0, 1]) of the given factor indices (N x 6) of `grid`."""
    f = np.asarray(factors, dtype=np.int64).reshape(-1, 6)
    sizes = _sizes(grid)
    for i, s in enumerate(sizes):
        if f.size and (f[:, i].min() < 0 or f[:, i].max() >= s):
            raise ValueError(f"factor {FACTOR_NAMES[i]} must be an index in [0, {s - 1}]")
    n_scales, n_shapes, n_orientations = sizes[3:]
    weights = _weights(size, grid).reshape(n_orientations * n_shapes * n_scales, 3, size * size)  # geometry x region x pixel
    colours = hue_to_rgb(HUES, saturation=0.85)  # 10 x rgb
    geometry = (f[:, 5] * n_shapes + f[:, 4]) * n_scales + f[:, 3]  # index of (orientation, shape, scale)
    out = np.zeros((len(f), 3, size * size), dtype=np.float32)
    for start in range(0, len(f), chunk):
        rows = slice(start, start + chunk)
        for region in range(3):  # floor, wall, object: pixel += shaded coverage x the region's colour
            w = weights[geometry[rows], region][:, None, :]  # n x 1 x pixels
            out[rows] += w * colours[f[rows, region]][:, :, None]
    return torch.from_numpy(np.clip(out, 0, 1, out=out)).view(len(f), 3, size, size)


def load(split: str = "train", n: int | None = None, size: int = 64, seed: int = 0, grid: str = "full") -> ArrayDataset:
    """n scenes of the split (default 5000 train / 1000 test); size 64 (as 3D Shapes) or 32; grid "full" (3D
    Shapes' 480 geometries) or "coarse" (12 geometries of larger objects, `COARSE`)."""
    info = {"shapes": SHAPES, "grid": grid}
    if grid == "coarse":
        info.update(COARSE, shapes=tuple(SHAPES[i] for i in COARSE["shapes"]))
    return load_procedural("shapes", split, n, size, seed, sizes=(32, 64),
                           sample_factors=partial(sample_factors, grid=grid),
                           render=partial(render, grid=grid),
                           factor_names=FACTOR_NAMES, factor_sizes=_sizes(grid), info=info)
