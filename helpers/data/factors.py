"""Sampling discrete factor grids, with train/test splits that never share a combination.

A data set like dSprites is a grid of factor combinations (3 x 6 x 40 x 32 x 32 = 737,280).
Drawing train and test items with two seeds would put the same combination (the same image) in
both. Instead each combination is assigned to a split by a fixed hash of its grid index, so the
two splits are disjoint, and the assignment is the same for the embedded and the real data set.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

SPLITS = ("train", "test")
TEST_FRACTION = 0.1


def split_seed(seed: int, split: str) -> np.random.Generator:
    """The random generator for (seed, split): independent streams for train and test."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    return np.random.default_rng([int(seed), SPLITS.index(split)])


def flat_index(factors: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Row-major position of each factor combination in the grid (mixed-radix number)."""
    return np.ravel_multi_index(tuple(np.asarray(factors, dtype=np.int64).T), tuple(sizes))


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: scrambles integers so neighbouring grid cells land in unrelated splits."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def in_test_split(index: np.ndarray) -> np.ndarray:
    """True for the grid cells (about TEST_FRACTION of them) that belong to the test split."""
    with np.errstate(over="ignore"):
        return (_mix64(np.asarray(index)) % np.uint64(1000)) < np.uint64(round(1000 * TEST_FRACTION))


def split_mask(index: np.ndarray, split: str) -> np.ndarray:
    if split == "all":
        return np.ones(np.shape(index), dtype=bool)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)} (or 'all' for real grids)")
    test = in_test_split(index)
    return test if split == "test" else ~test


def sample_grid(sizes: Sequence[int], n: int, rng: np.random.Generator, split: str | None = None) -> np.ndarray:
    """n factor combinations drawn uniformly from the grid (restricted to `split` if given)."""
    sizes = tuple(int(s) for s in sizes)
    chosen = []
    have = 0
    while have < n:
        batch = max(64, 2 * (n - have) if split != "test" else 12 * (n - have))
        draw = np.stack([rng.integers(0, s, size=batch) for s in sizes], axis=1)
        if split is not None:
            draw = draw[split_mask(flat_index(draw, sizes), split)]
        chosen.append(draw)
        have += len(draw)
    return np.concatenate(chosen)[:n].astype(np.int64)


def hue_to_rgb(hue: np.ndarray, saturation: float = 1.0, value: float = 1.0) -> np.ndarray:
    """HSV -> RGB for an array of hues in [0, 1), vectorised (matplotlib's hsv_to_rgb does the same)."""
    from matplotlib.colors import hsv_to_rgb

    hue = np.asarray(hue, dtype=np.float64) % 1.0
    hsv = np.stack([hue, np.full_like(hue, saturation), np.full_like(hue, value)], axis=-1)
    return hsv_to_rgb(hsv).astype(np.float32)
