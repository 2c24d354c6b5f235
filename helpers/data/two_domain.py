"""`two-domain`: two procedural families that share some factors and differ in others.

The stand-in for the CarsNORB data of the Local VAE paper ("Localized Generations with Deep Neural
Networks for Multi-Scale Structured Datasets", anonymous ICLR 2020 submission,
https://openreview.net/group?id=ICLR.cc/2020/Conference; Sec. 5.2), which concatenates
Cars3D (elevation, azimuth, car type; coloured) and SmallNORB (elevation, azimuth, category,
lighting; grey). Here:

- family A, "cars": a box-built car of 3 types (sedan, van, pickup) in 6 paint colours, on white;
- family B, "turntable toys": a grey box-built object of 4 categories (animal, human, airplane,
  truck) under 4 lighting directions, on dark grey.

Both share azimuth (16 steps of 22.5 degrees) and elevation (4 values, 10 to 40 degrees): the
global factors. The others only exist in one family and are -1 in the other family's rows.
Items of both families are mixed in one set and the family is kept in `.domain` (0 = cars,
1 = toys) for evaluation only: a model sees images, nothing else.

Like `shapes`, geometry is ray-cast once per (family, type, azimuth, elevation) and cached;
colour and lighting are then per-item weighted sums.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from . import raycast
from .dataset import ArrayDataset, load_procedural
from .factors import hue_to_rgb, sample_grid, split_seed

FACTOR_NAMES = ("azimuth", "elevation", "car_type", "colour", "category", "lighting")
FACTOR_SIZES = (16, 4, 3, 6, 4, 4)
DOMAINS = ("cars", "toys")
AZIMUTHS_DEG = np.arange(16) * 22.5
ELEVATIONS_DEG = np.array([10.0, 20.0, 30.0, 40.0])
CAR_TYPES = ("sedan", "van", "pickup")
CATEGORIES = ("animal", "human", "airplane", "truck")
PAINT = hue_to_rgb(np.arange(6) / 6, saturation=0.8, value=0.85)
_BACKGROUND = (0.93, 0.3)  # cars on white, toys on dark grey
_TOY_GREY = 0.9
_TYRE = 0.12
# lights in camera coordinates (right, up, toward the camera); cars use the first
_LIGHTS = np.array([[-0.6, 0.6, 0.5], [0.7, 0.5, 0.5], [0.0, 1.0, 0.15], [0.0, 0.2, 1.0]])
_LIGHTS /= np.linalg.norm(_LIGHTS, axis=1, keepdims=True)
_SUPERSAMPLE = 2
_HALF_WIDTH = 1.3

# Objects as boxes: (centre xyz, half size xyz, dark?). x is the object's length, y up.
_WHEELS = [((sx * 0.6, 0.16, sz * 0.42), (0.17, 0.16, 0.06), True) for sx in (-1, 1) for sz in (-1, 1)]
_CARS = {
    "sedan": [((0, 0.36, 0), (1.0, 0.2, 0.44), False), ((-0.1, 0.7, 0), (0.5, 0.16, 0.38), False)] + _WHEELS,
    "van": [((0, 0.42, 0), (0.9, 0.26, 0.44), False), ((-0.15, 0.88, 0), (0.72, 0.22, 0.42), False)] + _WHEELS,
    "pickup": [((0, 0.36, 0), (1.05, 0.18, 0.44), False), ((0.5, 0.75, 0), (0.3, 0.22, 0.42), False),
               ((-0.55, 0.62, 0.4), (0.5, 0.1, 0.04), False), ((-0.55, 0.62, -0.4), (0.5, 0.1, 0.04), False)] + _WHEELS,
}
_TOYS = {
    "animal": [((0, 0.6, 0), (0.55, 0.18, 0.2), False), ((0.72, 0.85, 0), (0.18, 0.14, 0.12), False),
               ((-0.72, 0.68, 0), (0.18, 0.04, 0.04), False)]
              + [((sx * 0.4, 0.22, sz * 0.13), (0.06, 0.22, 0.06), False) for sx in (-1, 1) for sz in (-1, 1)],
    "human": [((0, 0.95, 0), (0.13, 0.3, 0.26), False), ((0, 1.42, 0), (0.12, 0.13, 0.12), False),
              ((0, 0.33, 0.12), (0.09, 0.33, 0.08), False), ((0, 0.33, -0.12), (0.09, 0.33, 0.08), False),
              ((0, 0.95, 0.34), (0.06, 0.28, 0.06), False), ((0, 0.95, -0.34), (0.06, 0.28, 0.06), False)],
    "airplane": [((0, 0.5, 0), (1.0, 0.12, 0.12), False), ((0.1, 0.5, 0), (0.24, 0.03, 1.0), False),
                 ((-0.88, 0.76, 0), (0.12, 0.2, 0.03), False), ((-0.88, 0.55, 0), (0.1, 0.03, 0.36), False)],
    "truck": [((0.75, 0.55, 0), (0.25, 0.35, 0.4), False), ((-0.25, 0.68, 0), (0.7, 0.45, 0.42), False)]
             + [((sx, 0.16, sz * 0.4), (0.16, 0.16, 0.05), False) for sx in (-0.6, 0.7) for sz in (-1, 1)],
}


def sample_factors(n: int, seed: int = 0, split: str | None = None, toy_fraction: float = 0.5) -> torch.Tensor:
    """n factor vectors (N x 6 LongTensor, -1 where a factor does not apply).

    Each item is a toy with probability toy_fraction, else a car. The split hash runs over each
    family's own grid (16 x 4 x 3 x 6 cars, 16 x 4 x 4 x 4 toys), so no combination is in both splits.
    """
    rng = np.random.default_rng(seed) if split is None else split_seed(seed, split)
    is_toy = rng.random(n) < toy_fraction
    out = np.full((n, 6), -1, dtype=np.int64)
    cars = sample_grid((16, 4, 3, 6), int((~is_toy).sum()), rng, split)
    toys = sample_grid((16, 4, 4, 4), int(is_toy.sum()), rng, split)
    out[~is_toy, 0:4] = cars
    out[is_toy, 0:2], out[is_toy, 4:6] = toys[:, 0:2], toys[:, 2:4]
    return torch.from_numpy(out)


def domain_of(factors) -> torch.Tensor:
    """0 for a car, 1 for a toy: a car is an item whose car_type applies."""
    return (torch.as_tensor(factors)[:, 2] < 0).long()


def _cast(parts, azimuth, elevation, size):
    """Maps of one object view, (2 + L) x size x size: its coverage; its dark parts' coverage times
    their shading under light 0; its coverage times its shading under each light k."""
    centers = np.array([p[0] for p in parts], dtype=np.float32)
    halves = np.array([p[1] for p in parts], dtype=np.float32)
    dark = np.array([p[2] for p in parts])
    low, high = (centers - halves).min(axis=0), (centers + halves).max(axis=0)
    origins, direction = raycast.camera_rays(size, _SUPERSAMPLE, azimuth, elevation, _HALF_WIDTH,
                                             target=(0.0, (low[1] + high[1]) / 2, 0.0))
    # only rays that pass the object's bounding sphere can hit it: test the boxes on those alone
    center, radius = (low + high) / 2, np.linalg.norm(high - low) / 2
    oc = origins - center
    closest = oc - (oc @ direction)[:, None] * direction
    candidates = np.flatnonzero((closest * closest).sum(axis=1) <= radius * radius)
    t, which, normal = raycast.boxes(origins[candidates], direction, centers, halves)
    right, up, toward = raycast.camera_basis(azimuth, elevation)
    lights = _LIGHTS @ np.stack([right, up, toward])  # camera-relative lights in world coordinates
    hit = which >= 0
    maps = np.zeros((2 + len(_LIGHTS), len(origins)), dtype=np.float32)
    maps[0, candidates] = hit
    shade = np.where(hit, 0.2 + 0.8 * np.clip(normal @ lights.T, 0, 1).T, 0)  # ambient + Lambert, lights x rays
    maps[1, candidates] = np.where(dark[np.maximum(which, 0)], shade[0], 0)
    maps[2:, candidates] = shade
    return raycast.pixel_average(maps, size, _SUPERSAMPLE)


@lru_cache(maxsize=4)
def _geometry(size: int):
    """Cached maps: cars (3, 16, 4, 2 + L, H, W) and toys (4, 16, 4, 2 + L, H, W)."""
    result = []
    for objects in (_CARS, _TOYS):
        maps = np.zeros((len(objects), 16, 4, 2 + len(_LIGHTS), size, size), dtype=np.float32)
        for k, parts in enumerate(objects.values()):
            for a, azimuth in enumerate(np.deg2rad(AZIMUTHS_DEG)):
                for e, elevation in enumerate(np.deg2rad(ELEVATIONS_DEG)):
                    maps[k, a, e] = _cast(parts, azimuth, elevation, size)
        result.append(torch.from_numpy(maps))
    return tuple(result)


def render(factors, size: int = 64) -> torch.Tensor:
    """RGB images (N x 3 x size x size float32 in [0, 1]) of factor vectors (N x 6, -1 = n/a)."""
    f = torch.as_tensor(np.asarray(factors, dtype=np.int64).reshape(-1, 6))
    is_toy = domain_of(f).bool()
    sizes = torch.tensor(FACTOR_SIZES)
    used = torch.cat([torch.ones(len(f), 2, dtype=torch.bool),
                      (~is_toy)[:, None].expand(-1, 2), is_toy[:, None].expand(-1, 2)], dim=1)
    if bool(((f < 0) | (f >= sizes))[used].any()) or bool((f[~used] != -1).any()):
        raise ValueError("two-domain: azimuth and elevation are always set; a car sets car_type and colour "
                         "(category = lighting = -1), a toy sets category and lighting (car_type = colour = -1)")
    cars, toys = _geometry(size)
    out = torch.empty((len(f), 3, size, size), dtype=torch.float32)
    paint = torch.from_numpy(PAINT)
    c = torch.nonzero(~is_toy).flatten()
    if len(c):
        fc = f[c]
        m = cars[fc[:, 2], fc[:, 0], fc[:, 1]]  # n x (2 + L) x H x W
        coverage, tyres, shade = m[:, 0:1], m[:, 1:2], m[:, 2:3]
        # painted body: its shading x paint; tyres: their shading x dark grey; elsewhere white
        out[c] = (_BACKGROUND[0] * (1 - coverage) + (shade - tyres) * paint[fc[:, 3]][:, :, None, None]
                  + tyres * _TYRE)
    t = torch.nonzero(is_toy).flatten()
    if len(t):
        ft = f[t]
        m = toys[ft[:, 4], ft[:, 0], ft[:, 1]]
        coverage = m[:, 0:1]
        lit = m[torch.arange(len(t)), 2 + ft[:, 5]][:, None]  # the item's lighting condition
        out[t] = (_BACKGROUND[1] * (1 - coverage) + _TOY_GREY * lit).expand(-1, 3, -1, -1)
    return out.clamp_(0, 1)


def load(split: str = "train", n: int | None = None, size: int = 64, seed: int = 0,
         toy_fraction: float = 0.5) -> ArrayDataset:
    """n mixed items (default 5000 train / 1000 test) at size 64 (default) or 32."""
    return load_procedural(
        "two-domain", split, n, size, seed, sizes=(32, 64), factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES,
        sample_factors=lambda n, seed=0, split=None: sample_factors(n, seed, split, toy_fraction), render=render,
        info={"domains": DOMAINS, "car_types": CAR_TYPES, "categories": CATEGORIES},
        fields=lambda factors: {"domain": domain_of(factors)})
