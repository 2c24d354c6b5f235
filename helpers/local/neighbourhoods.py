"""Neighbourhoods N(x_i) for the Local VAE (Sec. 3.1 of "Localized Generations with Deep Neural Networks for
Multi-Scale Structured Datasets", anonymous ICLR 2020 submission, OpenReview,
https://openreview.net/group?id=ICLR.cc/2020/Conference).

Two constructions, as in the paper:

- synthetic neighbourhoods by sampling: K draws from an observation-noise model around x_i (the paper
  used this for 3D Shapes, where the data are dense). The paper does not name the noise; here it is
  Gaussian pixel noise x + sigma * eps, clipped to the data's range [0, 1].
- k nearest neighbours in latent space: the K training examples whose codes (posterior means) are
  closest to x_i's, excluding x_i itself; the table is rebuilt from the current encoder during training
  (the paper used Faiss and refreshed the codes continuously; exact search with torch.cdist here).
  The k-nearest-neighbour graph is also the first step of LLE (S. T. Roweis, L. K. Saul, "Nonlinear
  Dimensionality Reduction by Locally Linear Embedding", Science 290(5500), 2000,
  https://doi.org/10.1126/science.290.5500.2323).
"""
from __future__ import annotations

import torch
from torch import nn


def noise_neighbourhoods(x: torch.Tensor, k: int, sigma: float, generator: torch.Generator | None = None,
                         low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """[B, K, ...]: K copies of each x_i with independent Gaussian noise of std `sigma`, clipped to [low, high]."""
    noise = torch.empty(len(x), k, *x.shape[1:], device=x.device, dtype=x.dtype).normal_(generator=generator)
    return (x.unsqueeze(1) + sigma * noise).clamp(low, high)


def knn_indices(codes: torch.Tensor, k: int, queries: torch.Tensor | None = None, exclude_self: bool = True,
                chunk: int = 2048) -> torch.Tensor:
    """[M, k] indices of the k codes nearest (Euclidean) to each query (default: every code, itself excluded).

    Exact search in chunks of queries, so memory stays chunk x N.
    """
    queries = codes if queries is None else queries
    if exclude_self and queries is not codes:
        raise ValueError("exclude_self needs the queries to be the codes themselves")
    out = []
    for start in range(0, len(queries), chunk):
        distances = torch.cdist(queries[start:start + chunk], codes)
        if exclude_self:
            rows = torch.arange(start, start + len(distances), device=codes.device)
            distances[torch.arange(len(distances), device=codes.device), rows] = float("inf")
        out.append(distances.topk(k, dim=1, largest=False).indices)
    return torch.cat(out)


class LatentKNN(nn.Module):
    """The latent k-nearest-neighbour table of a training set, kept as a buffer (so checkpoints hold it).

    `rebuild(model, images)` recomputes it from the model's posterior means; `neighbours(indices, images)`
    gathers the [B, K, ...] neighbourhoods of a minibatch given its row indices in the training set.
    """

    def __init__(self, n: int, k: int, every: int):
        super().__init__()
        self.k, self.every = int(k), int(every)
        self.register_buffer("table", torch.zeros(n, k, dtype=torch.long))

    @torch.no_grad()
    def rebuild(self, model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> None:
        codes = torch.cat([model.encoder(images[i:i + batch_size]).chunk(2, dim=-1)[0]
                           for i in range(0, len(images), batch_size)])
        self.table.copy_(knn_indices(codes, self.k).to(self.table.device))

    def neighbours(self, indices: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return images[self.table[indices]]
