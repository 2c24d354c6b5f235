"""`pendulum`: grey-scale images of a pendulum at angle theta (the VHP poster's toy data).

Source: A. Klushyn, N. Chen, R. Kurle, B. Cseke, P. van der Smagt, "Learning Hierarchical Priors in
VAEs", NeurIPS 2019, https://arxiv.org/abs/1905.04982 (the paper and its poster).

The only factor is the angle theta in [0, 2 pi): 0 hangs straight down, pi/2 points right. The
images therefore lie on a one-dimensional closed curve (a circle) in pixel space, which is what
the VHP poster's 2-D latent plots and graph-based interpolations show. `sequence` gives images
ordered along theta, to compare an interpolation in latent space with the true motion.

Each image is a rod from the pivot (image centre) to a bob, drawn with soft (anti-aliased)
edges from each pixel's distance to the rod and to the bob, so nearby angles give nearby images.
"""
from __future__ import annotations

import numpy as np
import torch

from .dataset import ArrayDataset, load_procedural
from .factors import split_seed

FACTOR_NAMES = ("theta",)
FACTOR_SIZES = (None,)

_ROD_LENGTH = 0.36  # in image widths, pivot at the centre
_ROD_WIDTH = 0.045
_BOB_RADIUS = 0.11


def sample_factors(n: int, seed: int = 0, split: str | None = None) -> torch.Tensor:
    """n angles (N x 1 float32), uniform on [0, 2 pi)."""
    rng = np.random.default_rng(seed) if split is None else split_seed(seed, split)
    return torch.from_numpy(rng.uniform(0, 2 * np.pi, size=(n, 1)).astype(np.float32))


def _coverage(distance: np.ndarray, radius: float, pixel: float) -> np.ndarray:
    """Fraction of a pixel covered by a shape, from the distance of its centre to the shape's axis."""
    return np.clip((radius - distance) / pixel + 0.5, 0.0, 1.0)


def render(theta, size: int = 16) -> torch.Tensor:
    """Images (N x 1 x size x size float32 in [0, 1]) of the pendulum at angles theta (N or N x 1)."""
    theta = np.asarray(theta, dtype=np.float64).reshape(-1, 1, 1)
    grid = (np.arange(size) + 0.5) / size - 0.5  # pixel centres, pivot at 0
    x, y = grid[None, None, :], grid[None, :, None]  # y grows downwards, so "down" is +y
    bob_x, bob_y = _ROD_LENGTH * np.sin(theta), _ROD_LENGTH * np.cos(theta)
    # distance to the rod segment from the pivot (0, 0) to the bob: project onto it, clamp to [0, 1]
    along = np.clip((x * bob_x + y * bob_y) / _ROD_LENGTH ** 2, 0.0, 1.0)
    rod_distance = np.hypot(x - along * bob_x, y - along * bob_y)
    bob_distance = np.hypot(x - bob_x, y - bob_y)
    pixel = 1.0 / size
    image = np.maximum(0.7 * _coverage(rod_distance, _ROD_WIDTH / 2 + 0.25 * pixel, pixel),
                       _coverage(bob_distance, _BOB_RADIUS, pixel))
    return torch.from_numpy(image.astype(np.float32)).unsqueeze(1)


def sequence(n_steps: int = 32, size: int = 16, start: float = 0.0, stop: float = 2 * np.pi) -> ArrayDataset:
    """n_steps images at evenly spaced angles from `start` up to (not including) `stop`."""
    theta = torch.from_numpy(np.linspace(start, stop, n_steps, endpoint=False).astype(np.float32)).unsqueeze(1)
    return ArrayDataset(render(theta, size), name="pendulum", split="sequence", factors=theta,
                        factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES,
                        sample_factors=lambda n, seed=0: sample_factors(n, seed),
                        render=lambda theta: render(theta, size), info={"size": size})


_sequence = sequence  # load() has an argument of the same name


def load(split: str = "train", n: int | None = None, size: int = 16, seed: int = 0,
         sequence: bool = False) -> ArrayDataset:
    """n pendulum images (default 5000 train / 1000 test) at size 16 (default), 32 or 64.

    sequence=True returns n images (default 32) ordered along theta instead of random angles.
    """
    if size not in (16, 32, 64):
        raise ValueError("pendulum: size must be 16, 32 or 64")
    if sequence:
        return _sequence(32 if n is None else int(n), size)
    return load_procedural("pendulum", split, n, size, seed, sizes=(16, 32, 64), sample_factors=sample_factors,
                           render=render, factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES)
