"""Latent interpolation: straight lines versus shortest paths through a graph of latent samples.

Klushyn, Chen, Kurle, Cseke & van der Smagt, "Learning Hierarchical Priors in VAEs" (NeurIPS 2019,
https://arxiv.org/abs/1905.04982), evaluate a latent space by how well it supports interpolation:
draw N codes z_1..z_N from the (learned) prior, connect each to its k nearest neighbours by
undirected edges weighted with the Euclidean distance, and interpolate between two codes along the
shortest path of that graph. The path stays where the prior puts mass, so where a straight line
would cross an empty region (and decode to garbage), the graph path goes round it; a decoded path
that still jumps reveals a latent space with holes.

    knn_graph      the graph (scipy sparse, symmetric)
    graph_path     shortest path between two codes (scipy.sparse.csgraph.dijkstra)
    linear_path    the straight line, for comparison
    resample_path  n points at equal arc length along any path
    decode_path    decoded frames along a path
    smoothness     one number per decoded sequence: largest step / mean step (1 = even, >> 1 = a jump)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from sklearn.neighbors import kneighbors_graph

from .arrays import as_array

CODES = "[N, latent_dim] array"


def knn_graph(codes, k: int = 10) -> csr_matrix:
    """Undirected k-nearest-neighbour graph: W_ij = ||z_i - z_j|| if j is among i's k nearest or vice versa."""
    codes = as_array(codes, "codes", shape=CODES)
    if not 1 <= k < len(codes):
        raise ValueError(f"k must be between 1 and the number of codes - 1 ({len(codes) - 1}), got {k}")
    directed = kneighbors_graph(codes, n_neighbors=k, mode="distance", include_self=False)
    # Duplicate codes are at distance 0, and a 0 in a sparse graph reads as "no edge": keep a tiny weight.
    directed.data = np.maximum(directed.data, 1e-12)
    return directed.maximum(directed.T).tocsr()               # symmetric: an edge if either end chose it


class GraphPath(NamedTuple):
    points: np.ndarray    # [L, latent_dim] codes along the path, start and end included
    indices: np.ndarray   # [L] index of each point in `codes` (-1 for a start/end given as a vector)
    length: float         # sum of the Euclidean edge lengths


def graph_path(codes, start, end, k: int = 10) -> GraphPath:
    """Shortest path through the k-NN graph of `codes` from `start` to `end` (Klushyn et al. 2019).

    `start` and `end` are indices into `codes`, or codes themselves (any vectors): a vector is added
    to the graph as an extra node, joined to its nearest nodes like every other node.
    """
    codes = as_array(codes, "codes", shape=CODES)
    nodes, endpoints = codes, []
    for point in (start, end):
        if np.ndim(point) == 0:
            index = int(point)
            if not -len(codes) <= index < len(codes):
                raise IndexError(f"endpoint index {index} is outside the {len(codes)} codes")
            endpoints.append(index % len(codes))
        else:
            vector = np.asarray(point, np.float64).reshape(1, -1)
            if vector.shape[1] != codes.shape[1]:
                raise ValueError(f"endpoint has {vector.shape[1]} dims, the codes have {codes.shape[1]}")
            nodes = np.concatenate([nodes, vector])
            endpoints.append(len(nodes) - 1)
    graph = knn_graph(nodes, k)
    distances, predecessors = dijkstra(graph, directed=False, indices=endpoints[0], return_predecessors=True)
    if not np.isfinite(distances[endpoints[1]]):
        raise ValueError(f"start and end lie in different components of the {k}-NN graph: raise k or "
                         "sample more codes")
    route = [endpoints[1]]
    while route[-1] != endpoints[0]:                          # walk the predecessor tree back to the start
        route.append(predecessors[route[-1]])
    route = np.array(route[::-1])
    return GraphPath(nodes[route], np.where(route < len(codes), route, -1), float(distances[endpoints[1]]))


def linear_path(a, b, n: int = 10) -> np.ndarray:
    """n evenly spaced points on the straight line from a to b (both included), [n, latent_dim]."""
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"a and b differ in size: {a.shape} vs {b.shape}")
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) * a + t * b                                # z(t) = (1 - t) a + t b


def path_length(points) -> float:
    """Total Euclidean length of a polyline [L, dims]."""
    points = as_array(points, "points", shape=CODES)
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def resample_path(points, n: int) -> np.ndarray:
    """n points at equal arc-length spacing along the polyline `points` (ends kept), [n, dims].

    Graph paths have uneven steps (nodes are random samples); resampling first makes the decoded
    frames of different paths comparable, and makes `smoothness` measure the decoder, not the spacing.
    """
    points = as_array(points, "points", shape=CODES)
    if n < 2:
        raise ValueError(f"n must be at least 2 (the two ends), got {n}")
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    if arc[-1] == 0:                                          # a path that never moves
        return np.repeat(points[:1], n, axis=0)
    targets = np.linspace(0.0, arc[-1], n)
    return np.stack([np.interp(targets, arc, column) for column in points.T], axis=1)


def _device_and_dtype(decoder) -> tuple[torch.device, torch.dtype]:
    """Where and in which precision the decoder's weights live (a module, or a method of one)."""
    module = decoder if isinstance(decoder, torch.nn.Module) else getattr(decoder, "__self__", None)
    if isinstance(module, torch.nn.Module):
        for parameter in module.parameters():
            if parameter.is_floating_point():
                return parameter.device, parameter.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def decode_path(decoder, path_codes, batch_size: int = 512) -> np.ndarray:
    """Decode each code of a path: `decoder(z)` -> tensor, or a distribution (its mean is taken).

    Works with a decoder network (`vae.decoder`, gives logits for a Bernoulli decoder) or a method
    returning p(x|z) (`vae.decode`, gives pixel means). Returns a numpy array [L, ...].
    """
    device, dtype = _device_and_dtype(decoder)
    codes, frames = torch.as_tensor(as_array(path_codes, "path_codes", shape=CODES), dtype=dtype), []
    with torch.no_grad():
        for start in range(0, len(codes), batch_size):
            out = decoder(codes[start:start + batch_size].to(device))
            if isinstance(out, torch.distributions.Distribution):
                out = out.mean
            frames.append(out.detach().cpu().numpy())
    return np.concatenate(frames)


def step_sizes(sequence) -> np.ndarray:
    """||x_{t+1} - x_t|| for each consecutive pair of frames of a sequence [T, ...]."""
    frames = np.asarray(sequence, np.float64)
    if len(frames) < 2:
        raise ValueError("a sequence needs at least two frames to have steps")
    return np.linalg.norm(np.diff(frames.reshape(len(frames), -1), axis=0), axis=1)


def smoothness(sequence) -> float:
    """Smoothness factor of a decoded sequence: max_t ||x_{t+1} - x_t|| / mean_t ||x_{t+1} - x_t||.

    Smaller is smoother (as the smoothness factor of Klushyn et al. 2019): 1 when every frame changes by the
    same amount, T - 1 at most, when all the change happens in one jump. A path through a hole of
    the latent space decodes to a sudden jump, which this ratio flags whatever the overall scale of
    the images. Decode equally spaced codes (`resample_path`) so the spacing is not what is measured.
    A sequence that does not change at all counts as perfectly smooth (1.0).
    """
    steps = step_sizes(sequence)
    mean = steps.mean()
    return float(steps.max() / mean) if mean > 0 else 1.0
