"""The VAE with a hierarchical prior, VHP (Klushyn et al. 2019).

Source: A. Klushyn, N. Chen, R. Kurle, B. Cseke, P. van der Smagt, "Learning Hierarchical Priors in VAEs",
NeurIPS 2019, https://arxiv.org/abs/1905.04982 (the paper and its NeurIPS poster: "poster" below).

Generative model   p(zeta) = N(0, I)
                   p_Theta(z|zeta) = N(mu_Theta(zeta), diag sigma_Theta(zeta)^2)
                   p_Theta(z) = int p_Theta(z|zeta) p(zeta) dzeta      (the hierarchical prior)
                   p_theta(x|z)                                        (the decoder)
Inference model    q_phi(z|x)      the usual diagonal-Gaussian encoder
                   q_Phi(zeta|z)   a diagonal-Gaussian encoder of the prior's own latent.

The optimal empirical-Bayes prior is the aggregated posterior E_{p_D(x)} q_phi(z|x); the continuous
mixture p_Theta(z) approximates it. Its density has no closed form, so the KL term is replaced by the
importance-weighted upper bound (poster, "Hierarchical Priors")

    KL(q_phi(z|x) || p_Theta(z)) <= F = E_{q_phi(z|x)} [ log q_phi(z|x)
                                       - E_{zeta_1:K ~ q_Phi(zeta|z)} log 1/K sum_k p_Theta(z|zeta_k) p(zeta_k) / q_Phi(zeta_k|z) ].

The inner term is an IWAE bound on log p_Theta(z) (a lower bound, so F is an upper bound on the KL);
it tightens as K grows and is exact when q_Phi(zeta|z) is the true posterior p_Theta(zeta|z).

Why q_Phi(zeta|z) and not q_Phi(zeta|x): the poster writes q_Phi(zeta|x), the paper's implementation
conditions on z. Both give a valid bound, but with z as input the pair (p_Theta(z|zeta), q_Phi(zeta|z)) is a
self-contained VAE over latent codes: log p_Theta(z) can be estimated at *any* z (a grid for plotting
the prior's density, samples from other models, the NLL estimator's z ~ q(z|x)) without going back to x.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Independent, Normal

from ..adversary import frozen
from ..likelihoods import BernoulliLikelihood, GaussianLikelihood, diagonal_gaussian, make_likelihood
from ..nets import decoder_for, encoder_for, mlp
from ..vae import LatentVariableModel, seeded


class HierarchicalPrior(nn.Module):
    """p_Theta(z) = int p_Theta(z|zeta) N(zeta; 0, I) dzeta, with the proposal q_Phi(zeta|z).

    `conditional` maps zeta to 2 * latent_dim numbers (mean, log std of p_Theta(z|zeta)), `inference`
    maps z to 2 * zeta_dim numbers (mean, log std of q_Phi(zeta|z)). By default both are MLPs with tanh
    units: a smooth map from the Gaussian zeta onto a curved set of codes (e.g. the pendulum's ring) is
    found far more easily than with ReLU units, whose prior in our tests stayed stuck at a Gaussian blob.
    """

    def __init__(self, latent_dim: int, zeta_dim: int | None = None, hidden: tuple[int, ...] = (256, 256),
                 conditional: nn.Module | None = None, inference: nn.Module | None = None,
                 activation: type[nn.Module] = nn.Tanh, init_std: float | None = 0.1, momentum: float = 0.99,
                 max_rows: int = 2 ** 19):
        super().__init__()
        self.latent_dim = latent_dim
        self.zeta_dim = zeta_dim or latent_dim
        self.conditional = (conditional if conditional is not None
                            else mlp([self.zeta_dim, *hidden, 2 * latent_dim], activation))
        self.inference = (inference if inference is not None
                          else mlp([latent_dim, *hidden, 2 * self.zeta_dim], activation))
        if conditional is None and init_std is not None:
            # Start with a narrow p_Theta(z|zeta), so the prior can only cover the codes by *using* zeta.
            # From a broad start the prior's own VAE tends to collapse: p_Theta(z|zeta) ignores zeta and the
            # prior stays one Gaussian blob (in our tests, on a thin ring of codes, in about half the seeds).
            with torch.no_grad():
                self.conditional[-1].bias[latent_dim:].fill_(math.log(init_std))
        self.max_rows = max_rows          # codes x K evaluated at once; bounds memory for 5000-sample NLLs
        # Standardisation of the codes: the networks see (z - shift) / scale, and p_Theta(z|zeta) is mapped
        # back with the same affine map. Nothing else pins the size of the latent space once the prior is
        # learned, and tanh networks fail to fit a ring of radius 10 that they fit easily at radius 1.
        # shift and scale track the aggregated posterior's mean and standard deviation (`track_codes`).
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))
        self.register_buffer("tracking", torch.tensor(False))   # set by the first `track_codes`
        self.momentum = momentum

    def p_zeta(self) -> Independent:
        """p(zeta) = N(0, I)."""
        zeros = torch.zeros(self.zeta_dim, device=self._device())
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def p_z_given_zeta(self, zeta: torch.Tensor) -> Independent:
        """p_Theta(z|zeta) = N(shift + scale * mu(zeta), (scale * sigma(zeta))^2)."""
        mean, log_std = self.conditional(zeta).chunk(2, dim=-1)
        std = log_std.clamp(-12.0, 6.0).exp()
        return Independent(Normal(self.shift + self.scale * mean, self.scale * std), 1)

    def q_zeta_given_z(self, z: torch.Tensor) -> Independent:
        """q_Phi(zeta|z), computed from the standardised code (z - shift) / scale."""
        return diagonal_gaussian(self.inference((z - self.shift) / self.scale))

    @torch.no_grad()
    def track_codes(self, q: Independent) -> None:
        """Move shift/scale towards the mean/std of the aggregated posterior of this batch.

        Mixture moments: mean = E_x[mu(x)], var = Var_x[mu(x)] + E_x[sigma(x)^2]. The first call sets them
        (a data-dependent initialisation, e.g. when REWO starts training the prior); later calls move them
        by an exponential moving average (weight `momentum`), so the prior does not jump with every batch.
        """
        mean = q.mean.reshape(-1, self.latent_dim)
        var = q.variance.reshape(-1, self.latent_dim)
        batch_mean = mean.mean(0)
        batch_std = (mean.var(0, unbiased=False) + var.mean(0)).sqrt()
        weight = 1.0 - self.momentum if bool(self.tracking) else 1.0
        self.shift.lerp_(batch_mean, weight)
        self.scale.lerp_(batch_std, weight)
        self.tracking.fill_(True)

    def log_weights(self, z: torch.Tensor, n_samples: int) -> torch.Tensor:
        """log w_k = log p_Theta(z|zeta_k) + log p(zeta_k) - log q_Phi(zeta_k|z), zeta_k ~ q_Phi(zeta|z).

        z: [..., latent_dim]; returns [n_samples, ...]. Reparameterised, so gradients reach z, Theta, Phi.
        """
        q = self.q_zeta_given_z(z)
        zeta = q.rsample((n_samples,))                                        # [K, ..., zeta_dim]
        return self.p_z_given_zeta(zeta).log_prob(z) + self.p_zeta().log_prob(zeta) - q.log_prob(zeta)

    def log_prob_bound(self, z: torch.Tensor, n_samples: int) -> torch.Tensor:
        """log 1/K sum_k w_k: a stochastic lower bound on log p_Theta(z) (Jensen), tight as K -> infinity.

        Evaluated in chunks of at most `max_rows` (codes x K) so large batches fit in memory.
        """
        flat = z.reshape(-1, self.latent_dim)
        per_chunk = max(1, self.max_rows // n_samples)
        parts = [torch.logsumexp(self.log_weights(chunk, n_samples), dim=0)
                 for chunk in flat.split(per_chunk)]
        return (torch.cat(parts) - math.log(n_samples)).reshape(z.shape[:-1])

    @torch.no_grad()
    def sample(self, n: int, return_zeta: bool = False):
        """z_n, zeta_n ~ p_Theta(z|zeta) p(zeta): the nodes of the poster's interpolation graph."""
        zeta = self.p_zeta().sample((n,))
        z = self.p_z_given_zeta(zeta).sample()
        return (z, zeta) if return_zeta else z

    def _device(self) -> torch.device:
        return next(self.parameters()).device


class VHPVAE(LatentVariableModel):
    """A VAE whose prior is a `HierarchicalPrior`, trained with the bound F in place of the KL.

    The prior has no closed form, so the model has no `prior()` (it derives from `LatentVariableModel`,
    not `VAE`): `sample_prior(n)` draws z ~ p_Theta(z), `log_prior(z)` is the IWAE estimate of log p_Theta(z).

    loss(x, beta, train_prior) = C(x, z) + beta * F   (the Lagrangian divided by lambda = 1 / beta),
    where C is the reconstruction term: -log p(x|z) for a Bernoulli decoder, the squared error for a
    Gaussian one (then 1 / (2 sigma^2) is absorbed into beta, as in GECO).
    `n_prior_samples` is K in F during training; `n_prior_samples_eval` is the inner K used by
    `log_importance_weights` (the NLL estimator).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, hierarchical_prior: HierarchicalPrior,
                 likelihood: nn.Module | None = None, n_prior_samples: int = 16, n_prior_samples_eval: int = 50):
        super().__init__(encoder, decoder, latent_dim, likelihood)
        self.hierarchical_prior = hierarchical_prior
        self.n_prior_samples, self.n_prior_samples_eval = n_prior_samples, n_prior_samples_eval

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, likelihood: str = "bernoulli",
                 hidden: tuple[int, ...] = (256, 256), zeta_dim: int | None = None,
                 prior_hidden: tuple[int, ...] = (256, 256), n_prior_samples: int = 16,
                 n_prior_samples_eval: int = 50, **likelihood_options) -> "VHPVAE":
        """Default encoder/decoder for this data shape (`helpers.nets`) and MLPs for the prior."""
        return cls(encoder_for(data_shape, 2 * latent_dim, hidden), decoder_for(latent_dim, data_shape, hidden),
                   latent_dim, HierarchicalPrior(latent_dim, zeta_dim, prior_hidden),
                   make_likelihood(likelihood, **likelihood_options), n_prior_samples, n_prior_samples_eval)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log 1/K sum_k w_k(z) with K = `n_prior_samples_eval`: a stochastic lower bound on log p_Theta(z)."""
        return self.hierarchical_prior.log_prob_bound(z, self.n_prior_samples_eval)

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p_Theta(z), e.g. the nodes of the interpolation graph."""
        with seeded(generator):
            return self.hierarchical_prior.sample(n)

    # --- the terms of the objective -------------------------------------------------------------------
    def reconstruction_error(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """C(x, z): the reconstruction-error term of -log p(x|z), one value per example."""
        if isinstance(self.likelihood, GaussianLikelihood):
            mean = self.decoder(z)
            return (x - mean).pow(2).flatten(1).sum(-1)       # squared error; sigma enters through beta
        return -self.decode(z).log_prob(x)                   # Bernoulli: the cross-entropy is all of -log p(x|z)

    def kl_bound(self, q: Independent, z: torch.Tensor, n_samples: int | None = None) -> torch.Tensor:
        """One-sample estimate of F per example: log q_phi(z|x) - log 1/K sum_k w_k(z)."""
        return q.log_prob(z) - self.hierarchical_prior.log_prob_bound(z, n_samples or self.n_prior_samples)

    def loss(self, x: torch.Tensor, beta: float = 1.0, train_prior: bool = True) -> dict[str, torch.Tensor]:
        """C + beta * F averaged over the batch; train_prior=False keeps Theta, Phi fixed (REWO's first phase)."""
        q = self.encode(x)
        z = q.rsample()
        rec = self.reconstruction_error(x, z)
        if train_prior:
            if self.training:
                self.hierarchical_prior.track_codes(q)
            kl = self.kl_bound(q, z)
        else:
            with frozen(self.hierarchical_prior):
                kl = self.kl_bound(q, z)
        loss = rec + beta * kl                               # L_VHP / lambda, with beta = 1 / lambda
        log_px_z = rec if isinstance(self.likelihood, BernoulliLikelihood) else -self.decode(z).log_prob(x)
        return {"loss": loss.mean(), "rec": rec.mean(), "kl": kl.mean(), "elbo": -(log_px_z + kl).mean()}

    def log_importance_weights(self, x: torch.Tensor, n_samples: int) -> torch.Tensor:
        """log w_s = log p(x|z_s) + log p^_Theta(z_s) - log q(z_s|x), z_s ~ q(z|x), shape [S, B].

        p^_Theta(z_s) = 1/K sum_k p_Theta(z_s, zeta_k) / q_Phi(zeta_k|z_s) is an unbiased estimate of
        p_Theta(z_s). Hence exp(log w_s) is unbiased for p(x, z_s) / q(z_s|x), 1/S sum_s w_s is unbiased
        for p(x), and log of it is a stochastic *lower* bound on log p(x) (Jensen), like the IWAE bound.
        It is importance sampling over the pair (z, zeta) with proposal q_phi(z|x) q_Phi(zeta|z), so it
        converges to log p(x) as S grows for any K; a larger K lowers the variance of each weight.
        """
        q = self.encode(x)
        z = q.sample((n_samples,))                                            # [S, B, L]
        flat = z.reshape(-1, self.latent_dim)
        x_rep = x.unsqueeze(0).expand(n_samples, *x.shape).reshape(-1, *x.shape[1:])
        log_px_z = self.decode(flat).log_prob(x_rep).reshape(n_samples, -1)
        log_pz = self.hierarchical_prior.log_prob_bound(z, self.n_prior_samples_eval)
        return log_px_z + log_pz - q.log_prob(z)

    def iwae_bound(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """L_k = log 1/k sum_s w_s, per example, with the weights above."""
        return torch.logsumexp(self.log_importance_weights(x, k), 0) - math.log(k)
