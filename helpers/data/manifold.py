"""`manifold`: data of known intrinsic dimension n, for the latent-dimension experiments of the slides.

Sources: Prathosh A.P., "The landscape of Regularized Auto-Encoders for generative modeling" (lecture
slides, IIT Delhi; no public link), on A. K. Mondal et al., "MaskAAE: Latent space optimization for
adversarial auto-encoders", UAI 2020, https://arxiv.org/abs/1912.04564, and A. K. Mondal et al.,
"FlexAE: Flexibly learning latent priors for Wasserstein auto-encoders", UAI 2021.

The slides' data-generation hypothesis (their Fig. 3 and 10): nature draws a latent code
z ~ N(0, I_n) and maps it through a fixed smooth function f into the d-dimensional data space,
so the data fill an n-dimensional manifold of R^d. f must be Lipschitz (A1) and must not be
expressible through fewer than n dimensions (A2). Here f is a fixed random two-layer network,

    x = sigmoid(W2 tanh(W1 z + b1) + b2),

with weights drawn once from `generator_seed`: tanh and sigmoid are smooth and 1-Lipschitz, so f
is Lipschitz, and a random W1 (hidden width >= n) keeps all n directions of z. The sigmoid puts x in
[0, 1] like pixel data. With `image_size` the d outputs form a grey image whose output weights are
blurred spatially, so every latent direction changes the image smoothly.
The ground-truth factors are the n coordinates of z (continuous).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .dataset import ArrayDataset
from .factors import split_seed


@lru_cache(maxsize=8)
def generator(intrinsic_dim: int = 8, ambient_dim: int = 64, image_size: int | None = None,
              generator_seed: int = 1234):
    """The fixed random map f as a function z (N x n) -> x (N x d), plus its weights."""
    rng = np.random.default_rng([generator_seed, intrinsic_dim, ambient_dim if image_size is None else image_size])
    d = ambient_dim if image_size is None else image_size * image_size
    hidden = max(64, 4 * intrinsic_dim)
    w1 = rng.normal(0, 1.5 / np.sqrt(intrinsic_dim), size=(hidden, intrinsic_dim))  # tanh in its curved range
    b1 = rng.normal(0, 0.5, size=hidden)
    w2 = rng.normal(0, 2.5 / np.sqrt(hidden), size=(d, hidden))
    b2 = rng.normal(0, 0.3, size=d)
    if image_size is not None:
        # blur each output weight map so images vary smoothly in space as well as in z
        from scipy.ndimage import gaussian_filter

        maps = w2.T.reshape(hidden, image_size, image_size)
        maps = np.stack([gaussian_filter(m, sigma=image_size / 12, mode="wrap") for m in maps])
        maps *= np.sqrt(d) * 2.5 / np.sqrt(hidden) / np.linalg.norm(maps.reshape(hidden, -1), axis=1)[:, None, None]
        w2 = maps.reshape(hidden, d).T
    weights = {name: torch.from_numpy(a.astype(np.float32)) for name, a in
               {"w1": w1, "b1": b1, "w2": w2, "b2": b2}.items()}

    def f(z: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(z @ weights["w1"].T + weights["b1"])
        return torch.sigmoid(h @ weights["w2"].T + weights["b2"])

    return f, weights


def sample_factors(n: int, seed: int = 0, split: str | None = None, intrinsic_dim: int = 8) -> torch.Tensor:
    """n latent codes z ~ N(0, I) (N x intrinsic_dim float32)."""
    rng = np.random.default_rng(seed) if split is None else split_seed(seed, split)
    return torch.from_numpy(rng.standard_normal((n, intrinsic_dim)).astype(np.float32))


def render(z, intrinsic_dim: int = 8, ambient_dim: int = 64, image_size: int | None = None,
           generator_seed: int = 1234) -> torch.Tensor:
    """f(z): N x ambient_dim vectors, or N x 1 x image_size x image_size images, in [0, 1]."""
    z = torch.as_tensor(z, dtype=torch.float32).reshape(-1, intrinsic_dim)
    f, _ = generator(intrinsic_dim, ambient_dim, image_size, generator_seed)
    with torch.no_grad():
        x = f(z)
    return x if image_size is None else x.reshape(-1, 1, image_size, image_size)


def load(split: str = "train", n: int | None = None, intrinsic_dim: int = 8, ambient_dim: int = 64,
         image_size: int | None = None, seed: int = 0, generator_seed: int = 1234) -> ArrayDataset:
    """n points (default 5000 train / 1000 test) on an intrinsic_dim-dimensional manifold.

    Vectors of ambient_dim (default 64) in [0, 1]; or, with image_size (e.g. 16 or 28), grey images.
    Train and test share the generator f (generator_seed) and differ in the drawn codes z.
    """
    if not 1 <= intrinsic_dim <= (ambient_dim if image_size is None else image_size ** 2):
        raise ValueError("manifold: intrinsic_dim must be between 1 and the data dimension")
    n = (5000 if split == "train" else 1000) if n is None else int(n)
    options = dict(intrinsic_dim=intrinsic_dim, ambient_dim=ambient_dim, image_size=image_size,
                   generator_seed=generator_seed)
    z = sample_factors(n, seed, split, intrinsic_dim)
    return ArrayDataset(
        render(z, **options), name="manifold", split=split, factors=z,
        factor_names=tuple(f"z{i}" for i in range(intrinsic_dim)), factor_sizes=(None,) * intrinsic_dim,
        sample_factors=lambda n, seed=0: sample_factors(n, seed, None, intrinsic_dim),
        render=lambda z: render(z, **options),
        info={**options, "seed": seed},
    )
