"""Decoder likelihoods p(x|z) and the Gaussian KL divergence, on torch.distributions.

A likelihood module turns the decoder's output (one number per data dimension) into a
distribution over a whole example, so `.log_prob(x)` is log p(x|z) summed over pixels.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Bernoulli, Independent, Normal


class BernoulliLikelihood(nn.Module):
    """p(x|z) = prod_d Bernoulli(x_d; sigmoid(logit_d)).

    Grey values in [0, 1] are allowed (the 'continuous targets' use of the Bernoulli
    cross-entropy common in VAE papers); then log p is not a normalised density, which is
    why the course reports likelihoods on binary data only.
    """

    support = (0.0, 1.0)

    def check_data(self, x: torch.Tensor) -> None:
        """Raise a clear error for data a Bernoulli cannot score. `helpers.train.train` calls it once
        before training (a check inside log_prob would make the CPU wait for the GPU every step)."""
        if x.numel() == 0:
            return
        low, high = (float(v) for v in torch.aminmax(x.detach()))
        if low < self.support[0] or high > self.support[1]:
            raise ValueError(f"a Bernoulli likelihood scores values in [0, 1], but the data range from {low:g} "
                             f"to {high:g}: scale them to [0, 1] (e.g. divide 8-bit pixels by 255) or use a "
                             f"Gaussian likelihood")

    def forward(self, logits: torch.Tensor) -> Independent:
        return Independent(Bernoulli(logits=logits, validate_args=False), logits.dim() - 1)

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)


class GaussianLikelihood(nn.Module):
    """p(x|z) = prod_d N(x_d; mean_d, sigma^2), sigma fixed or learned (one scalar, shared)."""

    def __init__(self, sigma: float = 0.1, learn_sigma: bool = False):
        super().__init__()
        log_sigma = torch.tensor(math.log(sigma))
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    @property
    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp()

    def forward(self, mean: torch.Tensor) -> Independent:
        return Independent(Normal(mean, self.sigma.expand_as(mean)), mean.dim() - 1)

    def mean(self, mean: torch.Tensor) -> torch.Tensor:
        return mean


def diagonal_gaussian(params: torch.Tensor, min_log_std: float = -12.0, max_log_std: float = 6.0) -> Independent:
    """Split a network's output into (mean, log std) and make the diagonal Gaussian they describe.

    The clamp keeps one bad batch from overflowing exp(); the range is far beyond what training uses.
    """
    mean, log_std = params.chunk(2, dim=-1)
    return Independent(Normal(mean, log_std.clamp(min_log_std, max_log_std).exp()), 1)


def make_likelihood(name: str, **options) -> nn.Module:
    """'bernoulli', 'gaussian' (fixed sigma) or 'gaussian-learned'."""
    if name == "bernoulli":
        return BernoulliLikelihood()
    if name == "gaussian":
        return GaussianLikelihood(learn_sigma=False, **options)
    if name == "gaussian-learned":
        return GaussianLikelihood(learn_sigma=True, **options)
    raise ValueError(f"unknown likelihood {name!r}: choose 'bernoulli', 'gaussian' or 'gaussian-learned'")


def gaussian_kl(mu_q: torch.Tensor, std_q: torch.Tensor,
                mu_p: torch.Tensor | float = 0.0, std_p: torch.Tensor | float = 1.0) -> torch.Tensor:
    """KL(N(mu_q, std_q^2) || N(mu_p, std_p^2)) for diagonal Gaussians, summed over the last dim.

    KL = 1/2 sum_d [ (std_q^2 + (mu_q - mu_p)^2) / std_p^2 - 1 + log std_p^2 - log std_q^2 ]
    """
    mu_p = torch.as_tensor(mu_p, dtype=mu_q.dtype, device=mu_q.device)
    std_p = torch.as_tensor(std_p, dtype=mu_q.dtype, device=mu_q.device)
    var_q, var_p = std_q.pow(2), std_p.pow(2)
    per_dim = 0.5 * ((var_q + (mu_q - mu_p).pow(2)) / var_p - 1.0 + var_p.log() - var_q.log())
    return per_dim.sum(-1)


def monte_carlo_kl(q, p, n_samples: int) -> torch.Tensor:
    """KL(q || p) estimated as the mean of log q(z) - log p(z) over z ~ q (unbiased, noisy)."""
    z = q.sample((n_samples,))
    return (q.log_prob(z) - p.log_prob(z)).mean(0)
