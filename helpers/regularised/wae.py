"""The Wasserstein autoencoder with the MMD penalty (WAE-MMD).

Source: I. Tolstikhin, O. Bousquet, S. Gelly, B. Schölkopf, "Wasserstein Auto-Encoders", ICLR 2018,
https://arxiv.org/abs/1711.01558 (Algorithm 2)

The optimal-transport cost between the data and the model, W_c(P_X, P_G), equals the best expected
reconstruction cost over encoders whose aggregate posterior Q_Z matches the prior P_Z (their
Theorem 1). Relaxing the constraint into a penalty gives the objective

    D_WAE = inf_Q  E_{P_X} E_{Q(z|x)} [c(x, G(z))] + lambda * D_Z(Q_Z, P_Z),

and with D_Z = MMD (inverse multiquadric kernel) the penalty is estimated on each minibatch from the
codes z_i = E(x_i) and as many prior draws z~_i ~ N(0, I) (`helpers.metrics.mmd`). Unlike the VAE's
KL, the penalty compares the *aggregate* of the codes with the prior, so each code may be a point:
the encoder here is deterministic. Generation: z ~ N(0, I), x = G(z).
"""
from __future__ import annotations

import torch
from torch import nn

from ..metrics.mmd import DEFAULT_SCALES, mmd
from ..vae import standard_normal
from .autoencoders import Autoencoder


class WAE_MMD(Autoencoder):  # noqa: N801 (the paper's name)
    """loss = c(x, G(E(x))) + lam * MMD_u^2(E(x), z~), z~ ~ N(0, I); c as in `Autoencoder`."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, likelihood: nn.Module | None = None,
                 lam: float = 10.0, kernel: str = "imq", scales=DEFAULT_SCALES):
        super().__init__(encoder, decoder, latent_dim, likelihood)
        self.lam, self.kernel, self.scales = lam, kernel, tuple(scales)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I); a seeded generator draws on the CPU (the same numbers on every device)."""
        return standard_normal(n, self.latent_dim, self._device(), generator)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encoder(x)
        rec = self.reconstruction(x, z).mean()
        # MMD is accumulated in float64; back to the loss's dtype so the optimiser sees one precision.
        divergence = mmd(z, self.sample_prior(len(z)), self.kernel, self.scales).to(rec.dtype)
        return {"loss": rec + self.lam * divergence, "rec": rec, "mmd": divergence}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """x = G(z), z ~ N(0, I) (for a WAE + GMM: `model.decode_mean(model.fit_expost(codes).sample(n))`)."""
        return self.decode_mean(self.sample_prior(n, generator))
