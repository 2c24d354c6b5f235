"""VAE with an implicit optimal prior (VAE-IOP): the aggregated posterior as prior, via the density-ratio trick.

Source: H. Takahashi, T. Iwata, Y. Yamanaka, M. Yamada, S. Yagi, "Variational Autoencoder with Implicit
Optimal Priors", AAAI 2019, https://arxiv.org/abs/1809.05284

The prior that maximises the average ELBO is the aggregated posterior q(z) = E_{p_d(x)} q(z|x). Its KL term
has no closed form, but with the standard normal p(z) as a reference,

    KL(q(z|x) || q(z)) = KL(q(z|x) || p(z)) - E_{q(z|x)}[log q(z) / p(z)],

so the bound needs only the log density ratio r(z) = log q(z)/p(z). A network T(z) estimates it by
logistic regression, codes (label 1) against prior samples (label 0):

    max_T E_{q(z)} log sigmoid(T(z)) + E_{p(z)} log(1 - sigmoid(T(z))),   optimum T*(z) = log q(z)/p(z).

VAE-IOP's loss per example: rec + KL(q(z|x) || p(z)) - T(z), z ~ q(z|x) reparameterised. T is read with
frozen weights: the exact gradient of E_{q(z)}[r(z)] with respect to the encoder is E[grad_z r(z) dz/dphi]
plus E_{q(z)}[grad_phi log q_phi(z)], and the second term is zero (a score function has mean zero), so the
pathwise gradient through z alone is the right one. T takes its own optimiser steps on detached codes.

Choices stated: T is an MLP (`helpers.regularised.adversarial.LatentDiscriminator`) with one step per
minibatch, alternating with the VAE's step; sampling from the implicit prior q(z) ~ p(z) exp(T(z)) is by
sampling-importance-resampling from p(z) (the paper evaluates likelihoods and does not fix a sampler).
"""
from __future__ import annotations


import torch
from torch import nn

from ..likelihoods import make_likelihood
from ..nets import decoder_for, encoder_for
from ..vae import VAE, seeded
from ..adversary import adversarial_loss_fn  # noqa: F401  (the same two-player loop)
from .adversarial import LatentDiscriminator


class VAE_IOP(VAE):
    """A VAE whose KL term is taken to the aggregated posterior, estimated by the density ratio T(z).

    loss = rec + beta * kl with kl = KL(q(z|x) || N(0, I)) - T(z); logs "loss", "rec", "kl" (the estimate of
    KL to the aggregated posterior), "kl_prior" (the analytic KL to N(0, I)) and "log_ratio" (mean T(z)).
    Train with `helpers.train.train(model, x, loss_fn=adversarial_loss_fn, optimizer=Adam(model.main_parameters()))`;
    the ratio estimator's loss is logged as "disc_loss".
    """

    adversary_loss_name = "disc_loss"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, likelihood: nn.Module | None = None,
                 ratio_hidden: tuple[int, ...] = (64, 64), ratio_lr: float = 1e-3):
        super().__init__(encoder, decoder, latent_dim, likelihood)
        self.ratio = LatentDiscriminator(latent_dim, ratio_hidden, ratio_lr)

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, likelihood: str = "bernoulli",
                 hidden: tuple[int, ...] = (256, 256), ratio_hidden: tuple[int, ...] = (64, 64),
                 ratio_lr: float = 1e-3, **likelihood_options) -> "VAE_IOP":
        return cls(encoder_for(data_shape, 2 * latent_dim, hidden), decoder_for(latent_dim, data_shape, hidden),
                   latent_dim, make_likelihood(likelihood, **likelihood_options), ratio_hidden, ratio_lr)

    def adversary_step(self, x: torch.Tensor) -> torch.Tensor:
        """One logistic-regression step of T: codes z ~ q(z|x) are positives, prior samples negatives."""
        with torch.no_grad():
            z_codes = self.encode(x).sample()
            z_prior = self.prior().sample((len(z_codes),))
        return self.ratio.step(z_codes, z_prior)

    def log_ratio(self, z: torch.Tensor) -> torch.Tensor:
        """T(z) ~ log q(z) / p(z), weights frozen (gradients flow through z only)."""
        return self.ratio.frozen(z)

    def loss(self, x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
        q = self.encode(x)
        z = q.rsample()
        rec = -self.decode(z).log_prob(x)
        kl_prior = torch.distributions.kl_divergence(q, self.prior())    # KL(q(z|x) || N(0, I)), closed form
        t = self.log_ratio(z)
        kl = kl_prior - t                                                 # ~ KL(q(z|x) || q(z))
        return {"loss": (rec + beta * kl).mean(), "rec": rec.mean(), "kl": kl.mean(), "elbo": -(rec + kl).mean(),
                "kl_prior": kl_prior.mean(), "log_ratio": t.mean()}

    def log_importance_weights(self, x: torch.Tensor, n_samples: int) -> torch.Tensor:
        """As the VAE's, with the implicit prior log q(z) ~ log p(z) + T(z) (normalised only at T's optimum)."""
        q = self.encode(x)
        z = q.rsample((n_samples,))
        x_rep = x.unsqueeze(0).expand(n_samples, *x.shape).reshape(-1, *x.shape[1:])
        log_px = self.decode(z.reshape(-1, self.latent_dim)).log_prob(x_rep).reshape(n_samples, -1)
        return log_px + self.prior().log_prob(z) + self.log_ratio(z) - q.log_prob(z)

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None, oversample: int = 10) -> torch.Tensor:
        """z from the implicit prior by sampling-importance-resampling: draw n * oversample codes from
        N(0, I), keep n of them with probability proportional to exp(T(z)) ~ q(z)/p(z)."""
        with seeded(generator):
            proposals = self.prior().sample((n * oversample,))
            weights = torch.softmax(self.ratio(proposals), 0)
            return proposals[torch.multinomial(weights, n, replacement=True)]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, oversample: int = 10) -> torch.Tensor:
        return self.decode_mean(self.sample_prior(n, generator, oversample=oversample))

    def main_parameters(self) -> list[nn.Parameter]:
        """Encoder, decoder and likelihood parameters (everything but the ratio estimator T)."""
        return [p for name, p in self.named_parameters() if not name.startswith("ratio.")]
