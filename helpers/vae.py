"""The variational autoencoder (Kingma & Welling 2014; Rezende et al. 2014).

Sources: D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014,
https://arxiv.org/abs/1312.6114; D. J. Rezende, S. Mohamed, D. Wierstra, "Stochastic Backpropagation
and Approximate Inference in Deep Generative Models", ICML 2014, https://arxiv.org/abs/1401.4082

Generative model  p(z) = N(0, I),  p_theta(x|z) = likelihood(decoder(z)).
Inference model   q_phi(z|x) = N(mu_phi(x), diag sigma_phi(x)^2).

ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x).

Every model of the likelihood tables (notebooks 00, 01, 04) provides `log_importance_weights(x, S)`, the
S x batch matrix of log w_s = log p(x, z_s) - log q(z_s|x) with z_s ~ q(z|x), so that one
estimator (`helpers.metrics.nll`) computes importance-sampled likelihoods for all of them:
log p(x) ~= logsumexp_s(log w_s) - log S.

The model protocol: every model class of the course (VAEs, autoencoders, conditional models) offers

    loss(x, ...) -> dict[str, Tensor]     named scalar terms, the one minimised under "loss"
    encode(x)    -> q(z|x)                a Distribution (probabilistic encoders only)
    decode(z)    -> p(x|z)                a Distribution (probabilistic decoders only)
    encode_mean(x) -> Tensor [B, L]       the code a downstream tool reads: the mean of q(z|x), or E(x)
    decode_mean(z) -> Tensor like x       the mean of p(x|z), or D(z)
    reconstruct(x) -> Tensor like x       decode_mean(encode_mean(x))
    sample_prior(n, generator=None) -> Tensor [n, L]           z ~ p(z)
    sample(n, generator=None)       -> Tensor [n, *data_shape]  decode_mean(sample_prior(n, generator))

Options a model needs beyond these (oversample, clamp, the attributes y) are keyword arguments after the
common ones; a conditional model takes its condition y after x (or z) in every method, e.g.
`decode_mean(z, y)` and `sample(n, generator=None, y=y)` (the CSVAE's code is the pair [z, w], which its
decoder reads without y: `decode_mean(code)` or `decode_mean(z, w)`). `generator=None` draws from the
global random state on the model's device; a `torch.Generator` makes the draw repeatable: the same seed,
the same samples (a CPU generator draws on the CPU, and the result moves to the model's device; the
autoencoders' ex-post mixture draws with NumPy, seeded with the generator's `initial_seed()`).
A model whose prior has a density (a closed form or an estimate) offers `log_prior(z)`; one with a
closed-form prior also offers `prior()`, the Distribution p(z). A model without a closed form (VHP's
hierarchical prior) does not pretend to have one: it derives from `LatentVariableModel`, not `VAE`.
A model with a second player (an adversary, discriminator or critic: `helpers.adversary`) adds
`adversary_step(*batch)`, `adversary_loss_name` and `main_parameters()`, and trains with
`helpers.adversary.adversarial_loss_fn`.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import nn
from torch.distributions import Independent, Normal

from .likelihoods import BernoulliLikelihood, diagonal_gaussian, make_likelihood
from .nets import decoder_for, encoder_for


@contextmanager
def seeded(generator: torch.Generator | None):
    """Draws inside take their randomness from `generator` (None: the global random state, untouched).

    For samplers that accept no generator (torch.distributions): the global state is forked, seeded from
    the generator, and restored on exit, so the same generator seed gives the same draws.
    """
    if generator is None:
        yield
        return
    seed = int(torch.randint(2 ** 62, (1,), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        torch.manual_seed(seed)
        yield


def standard_normal(n: int, dim: int, device: torch.device, generator: torch.Generator | None = None
                    ) -> torch.Tensor:
    """eps ~ N(0, I) [n, dim] on `device`; a generator draws on its own device (the CPU: the same numbers
    on every device) and the result moves to `device`."""
    if generator is None:
        return torch.randn(n, dim, device=device)
    return torch.randn(n, dim, generator=generator, device=generator.device).to(device)


class LatentVariableModel(nn.Module):
    """The shared base: a diagonal-Gaussian encoder q(z|x), a decoder p(x|z), and a prior known through
    `sample_prior(n, generator)` (and, where it has one, a density `log_prior(z)`), defined by subclasses.

    `encoder` maps x to 2 * latent_dim numbers (mean, log standard deviation), `decoder` maps z to
    the likelihood's parameters shaped like x. `for_data(shape, latent_dim)` builds both.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int,
                 likelihood: nn.Module | None = None):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim = latent_dim
        self.likelihood = likelihood if likelihood is not None else BernoulliLikelihood()

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, likelihood: str = "bernoulli",
                 hidden: tuple[int, ...] = (256, 256), **likelihood_options):
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

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean E[z|x]."""
        return self.encode(x).mean

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """The mean of p(x|z)."""
        return self.likelihood.mean(self.decoder(z))

    # --- using a trained model ----------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Means of p(x|z) for z ~ p(z)."""
        return self.decode_mean(self.sample_prior(n, generator))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of p(x|z) at z = the posterior mean."""
        return self.decode_mean(self.encode_mean(x))

    def _device(self) -> torch.device:
        return next(self.parameters()).device


class VAE(LatentVariableModel):
    """A VAE with a diagonal-Gaussian encoder and a standard-normal prior.

    `encoder` maps x to 2 * latent_dim numbers (mean, log standard deviation), `decoder` maps z to
    the likelihood's parameters shaped like x. `VAE.for_data(shape, latent_dim)` builds both.
    """

    def prior(self) -> Independent:
        """p(z) = N(0, I)."""
        zeros = torch.zeros(self.latent_dim, device=self._device())
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z), per code."""
        return self.prior().log_prob(z)

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p(z), [n, latent_dim]."""
        with seeded(generator):
            return self.prior().sample((n,))

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
