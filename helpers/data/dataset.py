"""The one container every data set of the course comes in.

`ArrayDataset` is a torch `Dataset` whose whole content sits in tensors, so a notebook can
look at `ds.images`, `ds.factors`, ... directly, or hand `ds` to a `DataLoader`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch


class ArrayDataset(torch.utils.data.Dataset):
    """Images (or vectors) plus whatever is known about them.

    Attributes
    ----------
    images : Tensor
        N x C x H x W, float32 in [0, 1]. Vector data sets (the sklearn toys, `manifold` in
        vector form) hold N x D real vectors instead. A large real set loaded with
        `storage="uint8"` holds uint8 pixels; `ds[i]` still returns float32 in [0, 1].
    labels : LongTensor or None
        One class per item (digit, clothing type, alphabet, ...).
    factors : Tensor or None
        N x F ground-truth factors. A LongTensor of indices when every factor is discrete;
        float32 when any factor is continuous (discrete columns then hold whole numbers).
        -1 marks a factor that does not apply to an item (see `two-domain`).
    factor_names : tuple of str
    factor_sizes : tuple of (int or None)
        Number of values of each discrete factor; None for a continuous one.
    attributes : Tensor or None
        N x A float 0/1 binary attributes (portraits, CelebA, toys), for conditional models.
    attribute_names : tuple of str
    domain : LongTensor or None
        Which procedural family an item comes from (`two-domain` only). Kept for evaluation:
        a model should never be given it.

    `ds[i]` returns `(image, target)`: target is the label if there are labels, else the factor
    vector if there are factors, else an empty tensor, so `for x, _ in loader` always works.
    """

    def __init__(
        self,
        images: torch.Tensor,
        *,
        name: str = "",
        split: str = "",
        labels: torch.Tensor | None = None,
        factors: torch.Tensor | None = None,
        factor_names: Sequence[str] = (),
        factor_sizes: Sequence[int | None] = (),
        attributes: torch.Tensor | None = None,
        attribute_names: Sequence[str] = (),
        domain: torch.Tensor | None = None,
        sample_factors: Callable | None = None,
        render: Callable | None = None,
        info: dict | None = None,
    ):
        n = len(images)
        for what, value in (("labels", labels), ("factors", factors), ("attributes", attributes), ("domain", domain)):
            if value is not None and len(value) != n:
                raise ValueError(f"{what} has {len(value)} rows but there are {n} images")
        if factors is not None and factors.shape[1] != len(factor_names):
            raise ValueError(f"{factors.shape[1]} factor columns but {len(factor_names)} factor names")
        if factors is not None and len(factor_sizes) != len(factor_names):
            raise ValueError("give one size (or None for a continuous factor) per factor name")
        self.images = images
        self.name = name
        self.split = split
        self.labels = labels
        self.factors = factors
        self.factor_names = tuple(factor_names)
        self.factor_sizes = tuple(factor_sizes)
        self.attributes = attributes
        self.attribute_names = tuple(attribute_names)
        self.domain = domain
        self.info = dict(info or {})
        # For factor data sets: draw factors / draw images of given factors, with this set's options.
        self.sample_factors = sample_factors
        self.render = render

    def __len__(self) -> int:
        return len(self.images)

    def image(self, index) -> torch.Tensor:
        """Item(s) as float32 in [0, 1], whatever the storage."""
        x = self.images[index]
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        return x

    def __getitem__(self, index):
        if self.labels is not None:
            target = self.labels[index]
        elif self.factors is not None:
            target = self.factors[index]
        else:
            target = torch.zeros(0)
        return self.image(index), target

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one item (C x H x W, or D for vector data)."""
        return tuple(self.images.shape[1:])

    def __repr__(self) -> str:
        parts = [f"{self.name!r}", f"split={self.split!r}", f"n={len(self)}", f"item={self.shape}"]
        if self.labels is not None:
            parts.append(f"labels={int(self.labels.max()) + 1 if len(self.labels) else 0} classes")
        if self.factor_names:
            parts.append("factors=" + ",".join(self.factor_names))
        if self.attribute_names:
            parts.append("attributes=" + ",".join(self.attribute_names))
        return f"ArrayDataset({', '.join(parts)})"


def load_procedural(name: str, split: str, n: int | None, size: int, seed: int, *, sizes: Sequence[int],
                    sample_factors: Callable, render: Callable, factor_names: Sequence[str],
                    factor_sizes: Sequence[int | None], info: dict | None = None,
                    fields: Callable[[torch.Tensor], dict] | None = None) -> ArrayDataset:
    """The `load` of a procedural data set (sprites, shapes, pendulum, portraits, two-domain): `n` items of
    the split (default 5000 train / 1000 test), their factors drawn by `sample_factors(n, seed, split)` and
    rendered by `render(factors, size)`; the data set keeps both, bound to `size`, to draw more
    (`ds.sample_factors(n, seed)`, `ds.render(factors)`). `sizes`: the image sizes there are; `info`: what
    `ds.info` holds besides size and seed; `fields(factors)`: more `ArrayDataset` fields (attributes, domain).
    """
    if size not in sizes:
        allowed = f"{', '.join(map(str, sizes[:-1]))} or {sizes[-1]}" if len(sizes) > 1 else str(sizes[0])
        raise ValueError(f"{name}: size must be {allowed}")
    n = (5000 if split == "train" else 1000) if n is None else int(n)
    factors = sample_factors(n, seed, split)
    return ArrayDataset(
        render(factors, size), name=name, split=split, factors=factors,
        factor_names=factor_names, factor_sizes=factor_sizes, **(fields(factors) if fields else {}),
        sample_factors=lambda n, seed=0: sample_factors(n, seed),
        render=lambda factors: render(factors, size),
        info={"size": size, "seed": seed, **(info or {})},
    )
