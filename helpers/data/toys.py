"""scikit-learn's 2-D / 3-D toy generators with a binary attribute, for conditional models.

- `moons`: two interleaved half circles; attribute = which moon.
- `circles`: two concentric circles; attribute = inner circle.
- `swiss-roll`: scikit-learn's swiss roll, seen from its axis (2-D) or in 3-D (`dim=3`);
  attribute = the outer half of the roll (position t above the middle of its range); factor t.

Vector data: `.images` is N x D (not N x C x H x W), real-valued, not limited to [0, 1].
`.attributes` (N x 1 float 0/1) and `.labels` (the same, as a LongTensor) hold the attribute.
"""
from __future__ import annotations

import numpy as np
import torch

from .dataset import ArrayDataset
from .factors import SPLITS

NAMES = ("moons", "circles", "swiss-roll")
_ATTRIBUTE = {"moons": "upper_moon", "circles": "inner_circle", "swiss-roll": "outer_half"}


def _seed(seed: int, split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    return 2 * int(seed) + SPLITS.index(split)  # train and test draw from different streams


def load(name: str, split: str = "train", n: int | None = None, noise: float | None = None, seed: int = 0,
         dim: int = 2) -> ArrayDataset:
    """n points (default 2000 train / 500 test) of the toy `name` with its binary attribute."""
    from sklearn import datasets

    n = (2000 if split == "train" else 500) if n is None else int(n)
    rs = _seed(seed, split)
    factors, factor_names, factor_sizes = None, None, None
    if name == "moons":
        x, y = datasets.make_moons(n, noise=0.08 if noise is None else noise, random_state=rs)
        y = 1 - y  # make_moons' label 0 is the upper moon
    elif name == "circles":
        x, y = datasets.make_circles(n, noise=0.05 if noise is None else noise, factor=0.5, random_state=rs)
    elif name == "swiss-roll":
        if dim not in (2, 3):
            raise ValueError("swiss-roll: dim must be 2 or 3")
        x3, t = datasets.make_swiss_roll(n, noise=0.3 if noise is None else noise, random_state=rs)
        x = x3[:, [0, 2]] if dim == 2 else x3
        x = x / 10.0  # unit scale, like the other toys
        # scikit-learn draws t uniformly on [1.5 pi, 4.5 pi]: the outer half is t > 3 pi
        y = (t > 3 * np.pi).astype(np.int64)
        factors = torch.from_numpy(np.stack([y, t], axis=1).astype(np.float32))
        factor_names, factor_sizes = ("outer_half", "t"), (2, None)
    else:
        raise ValueError(f"unknown toy {name!r}: choose one of {', '.join(NAMES)}")
    y = torch.from_numpy(np.asarray(y)).long()
    if factors is None:
        factors, factor_names, factor_sizes = y[:, None].clone(), (_ATTRIBUTE[name],), (2,)
    return ArrayDataset(
        torch.from_numpy(np.asarray(x, dtype=np.float32)), name=name, split=split, labels=y,
        factors=factors, factor_names=factor_names, factor_sizes=factor_sizes,
        attributes=y[:, None].float(), attribute_names=(_ATTRIBUTE[name],),
        info={"seed": seed, "noise": noise, "vector": True},
    )
