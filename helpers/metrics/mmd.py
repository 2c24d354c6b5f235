"""Maximum mean discrepancy (MMD) between two samples: the latent divergence of the WAE-MMD.

Sources: A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf, A. Smola, "A Kernel Two-Sample Test",
JMLR 13, 2012, https://www.jmlr.org/papers/v13/gretton12a.html (the unbiased U-statistic, their
Lemma 6); I. Tolstikhin, O. Bousquet, S. Gelly, B. Schölkopf, "Wasserstein Auto-Encoders", ICLR 2018,
https://arxiv.org/abs/1711.01558 (the inverse multiquadric kernel and its scales, Section 4).

For a kernel k, MMD^2(P, Q) = E k(x, x') + E k(y, y') - 2 E k(x, y) with x, x' ~ P and y, y' ~ Q
independent. From samples x_1..x_n ~ P and y_1..y_m ~ Q the unbiased estimate leaves out the
pairs of a point with itself (the diagonal), whose kernel value is k(0) whatever P and Q are:

    MMD_u^2 = 1/(n(n-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j)
              - 2/(nm) sum_{i, j} k(x_i, y_j).

Being unbiased it is 0 in expectation when P = Q, so single estimates can be negative.

Kernels, summed over scales s (C_s = 2 d s, d the dimension; with s = 1 and a N(0, I) prior,
C = 2 d sigma^2 is Tolstikhin et al.'s choice):

- "imq" (inverse multiquadric)  k(x, y) = sum_s C_s / (C_s + ||x - y||^2)   heavy tails: the gradient
  does not vanish for far-apart codes, which is why the WAE prefers it to the RBF;
- "rbf"                         k(x, y) = sum_s exp(-||x - y||^2 / C_s)     has closed-form expectations
  under Gaussians, used to check the estimator.
"""
from __future__ import annotations

import math

import torch

from ..precision import on_host, wide_dtype

KERNELS = ("imq", "rbf")
DEFAULT_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||x_i - y_j||^2 as ||x_i||^2 + ||y_j||^2 - 2 x_i.y_j (no [n, m, d] tensor); clamped at 0 against rounding."""
    return (x.pow(2).sum(-1)[:, None] + y.pow(2).sum(-1)[None, :] - 2.0 * x @ y.T).clamp_min(0.0)


def kernel_matrix(x: torch.Tensor, y: torch.Tensor, kernel: str = "imq",
                  scales=DEFAULT_SCALES) -> torch.Tensor:
    """K[i, j] = k(x_i, y_j), summed over the scales (C_s = 2 d s)."""
    d2 = squared_distances(x, y)
    total = torch.zeros_like(d2)
    for s in scales:
        c = 2.0 * x.shape[-1] * float(s)
        if kernel == "imq":
            total = total + c / (c + d2)
        elif kernel == "rbf":
            total = total + torch.exp(-d2 / c)
        else:
            raise ValueError(f"unknown kernel {kernel!r}: choose one of {', '.join(KERNELS)}")
    return total


def _mean_off_diagonal(k: torch.Tensor) -> torch.Tensor:
    """1/(n(n-1)) sum_{i != j} K[i, j]: the U-statistic leaves out each point paired with itself."""
    n = k.shape[0]
    return (k.sum() - k.diagonal().sum()) / (n * (n - 1))


def mmd(x: torch.Tensor, y: torch.Tensor, kernel: str = "imq", scales=DEFAULT_SCALES) -> torch.Tensor:
    """Unbiased estimate of MMD^2 between the samples x [n, d] and y [m, d] (a 0-d float64 tensor).

    Computed in float64 (sums of n^2 kernel values lose digits in float32) and differentiable in
    x and y, so it serves as a training loss; cast the result to the loss's dtype there.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"mmd needs two [N, d] samples of the same dimension, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("the unbiased MMD needs at least two points in each sample")
    x, y = x.to(wide_dtype(x.device)), y.to(wide_dtype(x.device))   # float64 where the device has it
    return (_mean_off_diagonal(kernel_matrix(x, x, kernel, scales))
            + _mean_off_diagonal(kernel_matrix(y, y, kernel, scales))
            - 2.0 * kernel_matrix(x, y, kernel, scales).mean())


def gaussian_rbf_mmd(mean_x, std_x: float, mean_y, std_y: float, scales=DEFAULT_SCALES) -> float:
    """The population MMD^2 of the "rbf" kernel between N(mean_x, std_x^2 I) and N(mean_y, std_y^2 I).

    For independent a ~ N(m_a, s_a^2 I), b ~ N(m_b, s_b^2 I) the difference u = a - b is N(delta, v I),
    delta = m_a - m_b, v = s_a^2 + s_b^2. Per dimension, exp(-u^2 / C) = sqrt(pi C) N(u; 0, C/2), and the
    integral of a product of two Gaussian densities is a Gaussian density, N(delta; 0, v + C/2):

        E exp(-u^2 / C) = sqrt(C / (C + 2v)) exp(-delta^2 / (C + 2v)),
        E k(a, b) = sum_s (C_s / (C_s + 2v))^(d/2) exp(-||delta||^2 / (C_s + 2v)).

    MMD^2 = E k(x, x') [delta = 0, v = 2 s_x^2] + E k(y, y') [delta = 0, v = 2 s_y^2] - 2 E k(x, y).
    """
    with on_host():   # host-side arithmetic in float64
        mean_x, mean_y = (torch.as_tensor(m.detach().cpu() if torch.is_tensor(m) else m, dtype=torch.float64)
                          for m in (mean_x, mean_y))
        d, delta2 = mean_x.numel(), float((mean_x - mean_y).pow(2).sum())

    def expected_kernel(delta2: float, v: float) -> float:
        return sum((c / (c + 2 * v)) ** (d / 2) * math.exp(-delta2 / (c + 2 * v))
                   for c in (2.0 * d * float(s) for s in scales))

    return (expected_kernel(0.0, 2 * std_x ** 2) + expected_kernel(0.0, 2 * std_y ** 2)
            - 2 * expected_kernel(delta2, std_x ** 2 + std_y ** 2))
