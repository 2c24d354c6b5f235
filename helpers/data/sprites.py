"""`sprites`: dSprites' factor structure, drawn procedurally.

dSprites (L. Matthey, I. Higgins, D. Hassabis, A. Lerchner, "dSprites: Disentanglement testing
Sprites dataset", 2017, https://github.com/deepmind/dsprites-dataset) is every combination of
shape (square, ellipse, heart), scale (6), orientation (40), posX (32) and posY (32): 737,280
binary 64 x 64 images. Here each image is drawn
from its factors by testing, for every pixel centre, whether it lies inside the shape: the pixel is
moved into the sprite's own frame (translate, rotate by -orientation, divide by the scale) and
checked against the shape's implicit equation. Differences to the real set: orientations are
2*pi*k/40 (the real set's 0 and 2*pi coincide), and the sprite sizes are this module's own.
Symmetric shapes look the same at some orientations (a square every 90 degrees), as in dSprites.
"""
from __future__ import annotations

import numpy as np
import torch

from .dataset import ArrayDataset, load_procedural
from .factors import sample_grid, split_seed

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = 2 * np.pi * np.arange(40) / 40
POSITIONS = np.linspace(0.0, 1.0, 32)

_HALF_SIZE = 0.13  # half the side of the square at scale 1, in image widths
_MARGIN = 0.16  # sprite centres range over [_MARGIN, 1 - _MARGIN]


def sample_factors(n: int, seed: int = 0, split: str | None = None) -> torch.Tensor:
    """n factor index vectors (N x 5 LongTensor), uniform over the grid (and over `split` if given)."""
    rng = np.random.default_rng(seed) if split is None else split_seed(seed, split)
    return torch.from_numpy(sample_grid(FACTOR_SIZES, n, rng, split))


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Is (u, v), in the sprite's frame (units of the half size, v pointing up), inside the shape?"""
    if shape == 0:  # square: |u|, |v| <= 1
        return np.maximum(np.abs(u), np.abs(v)) <= 1.0
    if shape == 1:  # ellipse with semi-axes 1.3 and 0.65 (same area order as the square)
        return (u / 1.3) ** 2 + (v / 0.65) ** 2 <= 1.0
    # heart: (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, scaled to fit and centred
    x, y = u * 1.1, v * 1.1 + 0.15
    r = x * x + y * y - 1.0
    return r * r * r - x * x * y * y * y <= 0.0


def render(factors, size: int = 64, chunk: int = 1000) -> torch.Tensor:
    """Binary images (N x 1 x size x size float32) of the given factor indices (N x 5)."""
    f = np.asarray(factors, dtype=np.int64).reshape(-1, 5)
    for i, s in enumerate(FACTOR_SIZES):
        if f.size and (f[:, i].min() < 0 or f[:, i].max() >= s):
            raise ValueError(f"factor {FACTOR_NAMES[i]} must be an index in [0, {s - 1}]")
    grid = ((np.arange(size, dtype=np.float32) + 0.5) / size)
    out = np.zeros((len(f), size, size), dtype=np.float32)
    for start in range(0, len(f), chunk):
        part = f[start:start + chunk]
        half = (_HALF_SIZE * SCALES[part[:, 1]]).astype(np.float32)[:, None, None]
        theta = ORIENTATIONS[part[:, 2]]
        cos, sin = np.cos(theta).astype(np.float32)[:, None, None], np.sin(theta).astype(np.float32)[:, None, None]
        cx = (_MARGIN + (1 - 2 * _MARGIN) * POSITIONS[part[:, 3]]).astype(np.float32)[:, None, None]
        cy = (_MARGIN + (1 - 2 * _MARGIN) * POSITIONS[part[:, 4]]).astype(np.float32)[:, None, None]
        dx = grid[None, None, :] - cx
        dy = cy - grid[None, :, None]  # image rows grow downwards; the sprite frame's v points up
        # rotate by -theta into the sprite's frame, then measure in half sizes
        u = (cos * dx + sin * dy) / half
        v = (-sin * dx + cos * dy) / half
        for shape in range(3):
            rows = np.flatnonzero(part[:, 0] == shape)
            if len(rows):
                out[start + rows] = _inside(shape, u[rows], v[rows])
    return torch.from_numpy(out).unsqueeze(1)


def load(split: str = "train", n: int | None = None, size: int = 64, seed: int = 0) -> ArrayDataset:
    """n sprites of the split (default 5000 train / 1000 test); size 64 (as dSprites) or 32."""
    return load_procedural("sprites", split, n, size, seed, sizes=(32, 64), sample_factors=sample_factors,
                           render=render, factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES, info={"shapes": SHAPES})
