"""The VampPrior (Tomczak & Welling 2018), a baseline of the poster's likelihood table.

Sources: J. M. Tomczak, M. Welling, "VAE with a VampPrior", AISTATS 2018, https://arxiv.org/abs/1705.07120;
the poster is that of A. Klushyn, N. Chen, R. Kurle, B. Cseke, P. van der Smagt, "Learning Hierarchical
Priors in VAEs", NeurIPS 2019, https://arxiv.org/abs/1905.04982

The optimal empirical-Bayes prior is the aggregated posterior (1/N) sum_n q_phi(z|x_n). The VampPrior
replaces the N data points by K learned pseudo-inputs u_k:

    p_lambda(z) = 1/K sum_k q_phi(z|u_k),

a finite mixture of the encoder's own posteriors. The KL term has no closed form; it is estimated
with the same sample z ~ q_phi(z|x) as the reconstruction: log q_phi(z|x) - log p_lambda(z).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical, MixtureSameFamily

from ..likelihoods import make_likelihood
from ..nets import decoder_for, encoder_for
from ..vae import VAE


class VampPriorVAE(VAE):
    """A VAE whose prior is the mixture of its posteriors at K learned pseudo-inputs.

    The pseudo-inputs live in data space (shape `data_shape`) and are clipped to [0, 1] with a hard
    tanh, as in Tomczak & Welling, so they stay valid inputs for the encoder. They start at
    `pseudo_init` (e.g. K random training examples) or, by default, at small noise around 0.5.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, data_shape: tuple[int, ...],
                 n_pseudo_inputs: int = 500, likelihood: nn.Module | None = None,
                 pseudo_init: torch.Tensor | None = None):
        super().__init__(encoder, decoder, latent_dim, likelihood)
        if pseudo_init is None:
            pseudo_init = 0.5 + 0.01 * torch.randn(n_pseudo_inputs, *data_shape)
        elif tuple(pseudo_init.shape) != (n_pseudo_inputs, *data_shape):
            raise ValueError(f"pseudo_init has shape {tuple(pseudo_init.shape)}, expected "
                             f"{(n_pseudo_inputs, *data_shape)} (K pseudo-inputs shaped like the data)")
        self.raw_pseudo_inputs = nn.Parameter(pseudo_init.clone().float())

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, n_pseudo_inputs: int = 500,
                 likelihood: str = "bernoulli", hidden: tuple[int, ...] = (256, 256),
                 pseudo_init: torch.Tensor | None = None, **likelihood_options) -> "VampPriorVAE":
        return cls(encoder_for(data_shape, 2 * latent_dim, hidden), decoder_for(latent_dim, data_shape, hidden),
                   latent_dim, tuple(data_shape), n_pseudo_inputs, make_likelihood(likelihood, **likelihood_options),
                   pseudo_init)

    @property
    def pseudo_inputs(self) -> torch.Tensor:
        """u_k, clipped to the data range [0, 1] (hardtanh)."""
        return nn.functional.hardtanh(self.raw_pseudo_inputs, 0.0, 1.0)

    def prior(self) -> MixtureSameFamily:
        """p(z) = 1/K sum_k q_phi(z|u_k): a uniform mixture of K diagonal Gaussians."""
        components = self.encode(self.pseudo_inputs)                      # batch shape [K]
        k = components.batch_shape[0]
        weights = Categorical(logits=torch.zeros(k, device=self._device()))
        return MixtureSameFamily(weights, components)

    def log_prior(self, z: torch.Tensor, max_numbers: int = 2 ** 24) -> torch.Tensor:
        """log p(z) for codes z [..., L], in chunks: each code meets all K components (codes x K x L numbers)."""
        prior = self.prior()
        flat = z.reshape(-1, self.latent_dim)
        k = prior.component_distribution.batch_shape[0]
        per_chunk = max(1, max_numbers // (k * self.latent_dim))
        return torch.cat([prior.log_prob(chunk) for chunk in flat.split(per_chunk)]).reshape(z.shape[:-1])

    def log_importance_weights(self, x: torch.Tensor, n_samples: int) -> torch.Tensor:
        """log w[s, b] = log p(x_b | z_sb) + log p(z_sb) - log q(z_sb | x_b), z_sb ~ q(z|x_b)."""
        q = self.encode(x)
        z = q.sample((n_samples,))                                            # [S, B, L]
        x_rep = x.unsqueeze(0).expand(n_samples, *x.shape).reshape(-1, *x.shape[1:])
        log_px_z = self.decode(z.reshape(-1, self.latent_dim)).log_prob(x_rep).reshape(n_samples, -1)
        return log_px_z + self.log_prior(z) - q.log_prob(z)

    def loss(self, x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """rec + beta * KL with the single-sample KL estimate log q(z|x) - log p(z)."""
        q = self.encode(x)
        z = q.rsample()
        rec = -self.decode(z).log_prob(x)
        kl = q.log_prob(z) - self.log_prior(z)
        loss = rec + beta * kl
        return {"loss": loss.mean(), "rec": rec.mean(), "kl": kl.mean(), "elbo": -(rec + kl).mean()}
