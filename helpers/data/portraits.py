"""`portraits`: RGB face drawings with independent binary attributes and nuisance factors.

The quick stand-in for CelebA's attributes (notebooks 02 and 03). Three binary attributes, each
an independent fair coin: glasses, smiling, hat. Six nuisance factors that change the image but
not the attributes: skin tone, hair colour (5), face size, horizontal and vertical face position,
and background hue. A conditional model should learn to change an attribute and keep the rest.

Every part is drawn with anti-aliased edges: a pixel's coverage of a shape comes from the signed
distance of its centre to the shape's outline, measured in pixels.
"""
from __future__ import annotations

import numpy as np
import torch

from .dataset import ArrayDataset, load_procedural
from .factors import hue_to_rgb, split_seed

ATTRIBUTE_NAMES = ("glasses", "smiling", "hat")
FACTOR_NAMES = ATTRIBUTE_NAMES + ("skin_tone", "hair_colour", "face_size", "face_x", "face_y", "background_hue")
FACTOR_SIZES = (2, 2, 2, None, 5, None, None, None, None)
HAIR_COLOURS = np.array([[0.08, 0.07, 0.07], [0.42, 0.25, 0.12], [0.92, 0.80, 0.45],
                         [0.75, 0.30, 0.12], [0.72, 0.72, 0.72]], dtype=np.float32)
HAIR_NAMES = ("black", "brown", "blond", "red", "grey")
_SKIN_LIGHT = np.array([0.98, 0.85, 0.74], dtype=np.float32)
_SKIN_DARK = np.array([0.45, 0.30, 0.21], dtype=np.float32)
_HAT = np.array([0.14, 0.17, 0.40], dtype=np.float32)
_HAT_BAND = np.array([0.95, 0.85, 0.25], dtype=np.float32)
_INK = np.array([0.06, 0.05, 0.05], dtype=np.float32)
_LIPS = np.array([0.62, 0.12, 0.16], dtype=np.float32)


def sample_factors(n: int, seed: int = 0, split: str | None = None) -> torch.Tensor:
    """n factor vectors (N x 9 float32): 3 coin flips, then the nuisance factors."""
    rng = np.random.default_rng(seed) if split is None else split_seed(seed, split)
    columns = [
        rng.integers(0, 2, n), rng.integers(0, 2, n), rng.integers(0, 2, n),  # glasses, smiling, hat
        rng.uniform(0, 1, n),  # skin tone: 0 light ... 1 dark
        rng.integers(0, len(HAIR_COLOURS), n),
        rng.uniform(0.85, 1.1, n),  # face size
        rng.uniform(-0.06, 0.06, n), rng.uniform(-0.05, 0.05, n),  # face position (image widths)
        rng.uniform(0, 1, n),  # background hue
    ]
    return torch.from_numpy(np.stack(columns, axis=1).astype(np.float32))


def _cover(signed_distance, pixel):
    """Coverage of a pixel whose centre is `signed_distance` (negative inside) from an outline."""
    return np.clip(0.5 - signed_distance / pixel, 0.0, 1.0)


def _ellipse(u, v, cu, cv, ru, rv):
    """Approximate signed distance to an ellipse (exact for a circle)."""
    return (np.sqrt(((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2) - 1.0) * min(ru, rv)


def _rect(u, v, cu, cv, hu, hv):
    return np.maximum(np.abs(u - cu) - hu, np.abs(v - cv) - hv)


def _paint(image, colour, alpha):
    """Alpha-composite a colour (N x 3 or 3) over the image (N x H x W x 3) with coverage alpha."""
    colour = np.asarray(colour, dtype=np.float32)
    colour = colour[:, None, None, :] if colour.ndim == 2 else colour
    image += alpha[..., None] * (colour - image)


def render(factors, size: int = 32) -> torch.Tensor:
    """RGB portraits (N x 3 x size x size float32 in [0, 1]) of factor vectors (N x 9)."""
    f = np.asarray(factors, dtype=np.float32).reshape(-1, 9)
    n = len(f)
    glasses, smiling, hat = f[:, 0:1, None] > 0.5, f[:, 1:2, None] > 0.5, f[:, 2:3, None] > 0.5
    unit = (0.3 * f[:, 5])[:, None, None]  # face half-height, in image widths
    cx, cy = (0.5 + f[:, 6])[:, None, None], (0.56 + f[:, 7])[:, None, None]
    grid = ((np.arange(size) + 0.5) / size).astype(np.float32)
    # face coordinates: origin at the face centre, one unit = half the face height, v downwards
    u = (grid[None, None, :] - cx) / unit
    v = (grid[None, :, None] - cy) / unit
    pixel = 1.0 / (size * unit)  # one pixel in face units

    image = np.empty((n, size, size, 3), dtype=np.float32)
    image[:] = hue_to_rgb(f[:, 8], saturation=0.35, value=0.88)[:, None, None, :]
    hair = HAIR_COLOURS[f[:, 4].astype(int).clip(0, len(HAIR_COLOURS) - 1)]
    skin = _SKIN_LIGHT + f[:, 3:4] * (_SKIN_DARK - _SKIN_LIGHT)

    # hair behind the head, down to the ears
    _paint(image, hair, _cover(np.maximum(_ellipse(u, v, 0, -0.18, 0.98, 1.02), v - 0.3), pixel))
    _paint(image, skin, _cover(_ellipse(u, v, 0, 0, 0.78, 1.0), pixel))
    # fringe over the forehead
    _paint(image, hair, _cover(np.maximum(_ellipse(u, v, 0, -0.45, 0.8, 0.55), v + 0.55), pixel))
    for side in (-1, 1):  # eyes
        _paint(image, _INK, _cover(_ellipse(u, v, side * 0.33, -0.12, 0.1, 0.1), pixel))
    # mouth: a smile is a wide open half-disc, a neutral mouth a short flat line
    smile = np.maximum(_ellipse(u, v, 0, 0.3, 0.36, 0.3), 0.3 - v)
    neutral = _rect(u, v, 0, 0.48, 0.17, 0.045)
    _paint(image, _LIPS, _cover(np.where(smiling, smile, neutral), pixel))
    # glasses: dark frames round both eyes with tinted lenses and a bridge
    lens = np.minimum(_ellipse(u, v, -0.33, -0.12, 0.24, 0.2), _ellipse(u, v, 0.33, -0.12, 0.24, 0.2))
    frame = np.minimum(np.abs(lens) - 0.05, _rect(u, v, 0, -0.14, 0.1, 0.035))
    _paint(image, _INK, np.where(glasses, 0.45 * _cover(lens, pixel), 0))
    _paint(image, _INK, np.where(glasses, _cover(frame, pixel), 0))
    # hat: crown and wide brim over the top of the head, with a light band
    crown = np.minimum(_rect(u, v, 0, -1.2, 0.68, 0.32), _rect(u, v, 0, -0.86, 1.12, 0.07))
    _paint(image, _HAT, np.where(hat, _cover(crown, pixel), 0))
    _paint(image, _HAT_BAND, np.where(hat, _cover(_rect(u, v, 0, -1.0, 0.68, 0.07), pixel), 0))
    return torch.from_numpy(np.clip(image, 0, 1)).permute(0, 3, 1, 2).contiguous()


def load(split: str = "train", n: int | None = None, size: int = 32, seed: int = 0) -> ArrayDataset:
    """n portraits of the split (default 5000 train / 1000 test) at size 32 (default) or 64."""
    return load_procedural("portraits", split, n, size, seed, sizes=(32, 64), sample_factors=sample_factors,
                           render=render, factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES,
                           info={"hair_colours": HAIR_NAMES},
                           fields=lambda factors: {"attributes": factors[:, :3].clone(),
                                                   "attribute_names": ATTRIBUTE_NAMES})
