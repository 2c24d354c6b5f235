"""Importance weighted autoencoders (Burda, Grosse & Salakhutdinov 2016), baselines of the poster's table.

Sources: Y. Burda, R. Grosse, R. Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016,
https://arxiv.org/abs/1509.00519; the poster is that of A. Klushyn, N. Chen, R. Kurle, B. Cseke,
P. van der Smagt, "Learning Hierarchical Priors in VAEs", NeurIPS 2019, https://arxiv.org/abs/1905.04982
(its likelihood table compares the VHP with these baselines).

The IWAE has the VAE's model and encoder but trains on the k-sample bound

    L_k(x) = E_{z_1:k ~ q(z|x)} [ log 1/k sum_i p(x, z_i) / q(z_i|x) ]  <=  log p(x),

which is the ELBO for k = 1 and increases monotonically to log p(x) as k grows (Burda et al., Thm 1).

- `IWAE`: one stochastic layer (L = 1), p(z) = N(0, I).
- `TwoLayerIWAE`: two stochastic layers (L = 2),
      p(z2) = N(0, I), p(z1|z2), p(x|z1);   q(z1|x), q(z2|z1);
      log w = log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1).
  Structurally the same graph as the VHP with q_Phi(zeta|z); what differs is the objective.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Independent, Normal

from ..likelihoods import make_likelihood
from ..nets import decoder_for, encoder_for, mlp
from ..vae import VAE, LatentVariableModel, seeded
from ..likelihoods import diagonal_gaussian


def iwae_objective(log_w: torch.Tensor) -> torch.Tensor:
    """L_k per example from the [k, batch] log-weights: logsumexp_i log w_i - log k."""
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


class IWAE(VAE):
    """L = 1: the VAE of `helpers.vae`, trained on L_k with k = `k` importance samples."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int,
                 likelihood: nn.Module | None = None, k: int = 5):
        super().__init__(encoder, decoder, latent_dim, likelihood)
        if k < 1:
            raise ValueError(f"k is a number of importance samples, at least 1; got {k}")
        self.k = k

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, k: int = 5, likelihood: str = "bernoulli",
                 hidden: tuple[int, ...] = (256, 256), **likelihood_options) -> "IWAE":
        return cls(encoder_for(data_shape, 2 * latent_dim, hidden), decoder_for(latent_dim, data_shape, hidden),
                   latent_dim, make_likelihood(likelihood, **likelihood_options), k)

    def loss(self, x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """-L_k averaged over the batch (beta is accepted for a common signature and must be 1)."""
        if beta != 1.0:
            raise ValueError("the IWAE bound has no beta; train it with beta = 1")
        log_w = self.log_importance_weights(x, self.k)          # reparameterised samples: gradients flow
        bound = iwae_objective(log_w)
        return {"loss": -bound.mean(), "iwae": bound.mean(), "elbo": log_w.mean()}


class TwoLayerIWAE(LatentVariableModel):
    """L = 2 stochastic layers (Burda et al. 2016, Sec. 5), trained on L_k.

    encoder: x -> 2 * d1 (q(z1|x));  encoder2: z1 -> 2 * d2 (q(z2|z1));
    decoder2: z2 -> 2 * d1 (p(z1|z2));  decoder: z1 -> parameters of p(x|z1).
    """

    def __init__(self, encoder: nn.Module, encoder2: nn.Module, decoder2: nn.Module, decoder: nn.Module,
                 latent_dims: tuple[int, int], likelihood: nn.Module | None = None, k: int = 5):
        super().__init__(encoder, decoder, latent_dims[0], likelihood)   # q(z1|x), p(x|z1): the base's
        self.encoder2, self.decoder2 = encoder2, decoder2
        self.latent_dims = tuple(latent_dims)
        self.k = k

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dims: tuple[int, int] = (100, 50), k: int = 5,
                 likelihood: str = "bernoulli", hidden: tuple[int, ...] = (200, 200),
                 hidden2: tuple[int, ...] = (100, 100), **likelihood_options) -> "TwoLayerIWAE":
        """Burda et al.'s MNIST sizes by default: 200-200 units to z1 (100), 100-100 units to z2 (50)."""
        d1, d2 = latent_dims
        return cls(encoder_for(data_shape, 2 * d1, hidden), mlp([d1, *hidden2, 2 * d2]), mlp([d2, *hidden2, 2 * d1]),
                   decoder_for(d1, data_shape, hidden), (d1, d2), make_likelihood(likelihood, **likelihood_options), k)

    def top_prior(self) -> Independent:
        """p(z2) = N(0, I)."""
        zeros = torch.zeros(self.latent_dims[1], device=next(self.parameters()).device)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def log_importance_weights(self, x: torch.Tensor, n_samples: int) -> torch.Tensor:
        """log w = log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1), shape [S, B]."""
        q1 = self.encode(x)
        z1 = q1.rsample((n_samples,))                                         # [S, B, d1]
        q2 = diagonal_gaussian(self.encoder2(z1))
        z2 = q2.rsample()                                                     # [S, B, d2]
        x_rep = x.unsqueeze(0).expand(n_samples, *x.shape).reshape(-1, *x.shape[1:])
        log_px_z1 = self.decode(z1.reshape(-1, self.latent_dims[0])).log_prob(x_rep).reshape(n_samples, -1)
        log_pz1_z2 = diagonal_gaussian(self.decoder2(z2)).log_prob(z1)
        return log_px_z1 + log_pz1_z2 + self.top_prior().log_prob(z2) - q1.log_prob(z1) - q2.log_prob(z2)

    def loss(self, x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
        if beta != 1.0:
            raise ValueError("the IWAE bound has no beta; train it with beta = 1")
        log_w = self.log_importance_weights(x, self.k)
        bound = iwae_objective(log_w)
        return {"loss": -bound.mean(), "iwae": bound.mean(), "elbo": log_w.mean()}

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z1 ~ p(z1) = int p(z1|z2) p(z2) dz2 (ancestral sampling)."""
        with seeded(generator):
            z2 = self.top_prior().sample((n,))
            return diagonal_gaussian(self.decoder2(z2)).sample()

