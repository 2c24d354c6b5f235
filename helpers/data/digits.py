"""`digits`: scikit-learn's 8 x 8 handwritten digits, shipped with scikit-learn (no download).

1,797 images of 16 grey levels (UCI "Optical Recognition of Handwritten Digits"). Pixels are
scaled to [0, 1] by dividing by 16; `size` upsamples them bilinearly (16, 28 or 32 make them fit
networks built for MNIST). The split is fixed: a permutation with seed 0, the last 297 images
are the test set, the first 1,500 the training set.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .dataset import ArrayDataset

N_TEST = 297
SIZES = (8, 16, 28, 32)


def load(split: str = "train", n: int | None = None, size: int = 8) -> ArrayDataset:
    """The train (1,500) or test (297) digits, optionally only the first n, at size 8, 16, 28 or 32."""
    from sklearn.datasets import load_digits

    if size not in SIZES:
        raise ValueError(f"digits: size must be one of {SIZES}")
    if split not in ("train", "test"):
        raise ValueError("digits: split must be 'train' or 'test'")
    bunch = load_digits()
    order = np.random.default_rng(0).permutation(len(bunch.target))
    rows = order[:-N_TEST] if split == "train" else order[-N_TEST:]
    if n is not None:
        if n > len(rows):
            raise ValueError(f"digits has only {len(rows)} {split} images; asked for {n}")
        rows = rows[:n]
    images = torch.from_numpy(bunch.images[rows].astype(np.float32) / 16.0).unsqueeze(1)
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp_(0, 1)
    return ArrayDataset(images, name="digits", split=split, labels=torch.from_numpy(bunch.target[rows]).long(),
                        info={"size": size, "rows": rows})
