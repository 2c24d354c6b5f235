"""The variational autoencoder (Kingma & Welling 2014; Rezende et al. 2014).

Sources: D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014,
https://arxiv.org/abs/1312.6114; D. J. Rezende, S. Mohamed, D. Wierstra, "Stochastic Backpropagation
and Approximate Inference in Deep Generative Models", ICML 2014, https://arxiv.org/abs/1401.4082

Generative model  p(z) = N(0, I),  p_theta(x|z) = likelihood(decoder(z)).
Inference model   q_phi(z|x) = N(mu_phi(x), diag sigma_phi(x)^2).

ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x).

Every latent-variable model in the course provides `log_importance_weights(x, S)`, the
S x batch matrix of log w_s = log p(x, z_s) - log q(z_s|x) with z_s ~ q(z|x), so that one
estimator (`helpers.metrics.nll`) computes importance-sampled likelihoods for all of them:
log p(x) ~= logsumexp_s(log w_s) - log S.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Independent, Normal

from .likelihoods import BernoulliLikelihood, diagonal_gaussian, make_likelihood
from .nets import decoder_for, encoder_for


class VAE(nn.Module):
    """A VAE with a diagonal-Gaussian encoder and a standard-normal prior.

    `encoder` maps x to 2 * latent_dim numbers (mean, log standard deviation), `decoder` maps z to
    the likelihood's parameters shaped like x. `VAE.for_data(shape, latent_dim)` builds both.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int,
                 likelihood: nn.Module | None = None):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim = latent_dim
        self.likelihood = likelihood if likelihood is not None else BernoulliLikelihood()

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, likelihood: str = "bernoulli",
                 hidden: tuple[int, ...] = (256, 256), **likelihood_options) -> "VAE":
        """Default architecture for data of this shape (see `helpers.nets.encoder_for`)."""
        return cls(encoder_for(data_shape, 2 * latent_dim, hidden), decoder_for(latent_dim, data_shape, hidden),
                   latent_dim, make_likelihood(likelihood, **likelihood_options))

    # --- the two distributions the encoder and decoder define -------------------------------
    def encode(self, x: torch.Tensor) -> Independent:
        """q_phi(z|x), a diagonal Gaussian per example."""
        return diagonal_gaussian(self.encoder(x))  # encoder output = (mean, log standard deviation)

    def decode(self, z: torch.Tensor) -> torch.distributions.Distribution:
        """p_theta(x|z) for a batch of codes."""
        return self.likelihood(self.decoder(z))

    def prior(self) -> Independent:
        """p(z) = N(0, I)."""
        zeros = torch.zeros(self.latent_dim, device=self._device())
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    # --- objective ----------------------------------------------------------------------------
    def loss(self, x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """beta-weighted negative ELBO, averaged over the batch (beta = 1: the ELBO itself).

        rec = -E_q[log p(x|z)]   one reparameterised sample z = mu + sigma * eps, eps ~ N(0, I)
        kl  = KL(q(z|x) || p(z)) analytic for two Gaussians
        """
        q = self.encode(x)
        z = q.rsample()  # the reparameterisation trick: gradients flow through mu and sigma
        rec = -self.decode(z).log_prob(x)
        kl = torch.distributions.kl_divergence(q, self.prior())
        loss = rec + beta * kl
        return {"loss": loss.mean(), "rec": rec.mean(), "kl": kl.mean(), "elbo": -(rec + kl).mean()}

    def log_importance_weights(self, x: torch.Tensor, n_samples: int) -> torch.Tensor:
        """log w[s, b] = log p(x_b | z_sb) + log p(z_sb) - log q(z_sb | x_b), z_sb ~ q(z|x_b)."""
        q = self.encode(x)
        z = q.rsample((n_samples,))                              # [S, B, L]
        flat = z.reshape(-1, self.latent_dim)                    # decode all S*B codes in one pass
        x_rep = x.unsqueeze(0).expand(n_samples, *x.shape).reshape(-1, *x.shape[1:])
        log_px_z = self.decode(flat).log_prob(x_rep).reshape(n_samples, -1)
        return log_px_z + self.prior().log_prob(z) - q.log_prob(z)

    def iwae_bound(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Burda et al. (2016): L_k = E[log 1/k sum_s w_s], per example (k = 1 is the ELBO)."""
        log_w = self.log_importance_weights(x, k)
        return torch.logsumexp(log_w, 0) - math.log(k)

    # --- using a trained model ----------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """Means of p(x|z) for z ~ p(z)."""
        z = self.prior().sample((n,))
        return self.likelihood.mean(self.decoder(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of p(x|z) at z = the posterior mean."""
        return self.likelihood.mean(self.decoder(self.encode(x).mean))

    def _device(self) -> torch.device:
        return next(self.parameters()).device
