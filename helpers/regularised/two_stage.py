"""The two-stage VAE: a VAE with a learned decoder variance, then a second VAE that learns where its codes go.

Source: B. Dai, D. Wipf, "Diagnosing and Enhancing VAE Models", ICLR 2019, https://arxiv.org/abs/1903.05789

Stage 1 is a VAE with the Gaussian decoder p(x|z) = N(x; D(z), gamma I), gamma learned:

    -log p(x|z) = d/2 log(2 pi gamma) + ||x - D(z)||^2 / (2 gamma),

minimised over gamma at gamma* = ||x - D(z)||^2 / d, the mean squared error. As reconstructions
improve, gamma -> 0 and the d/2 log gamma term rewards every bit of reconstruction accuracy without
bound: the encoder variances of the dimensions the data needs shrink to 0 (the VAE finds the data's
manifold, r of the latent dimensions), the other dimensions collapse onto the prior. The codes then
fill the r useful dimensions in some distribution q(z) that is NOT N(0, I) (their Section 4), so
decoding prior samples gives poor images although reconstructions are good.

Stage 2 is a second VAE, trained on stage-1 codes z = mu(x) + sigma(x) * eps with a fresh eps each
step (samples of q(z), not only its means), also with a learned gamma; with u in the same number of
dimensions it can match q(z) (their Theorem 2). Generation: u ~ N(0, I) -> z = D_2(u) -> x = D_1(z).

Here gamma = sigma^2 of `helpers.likelihoods.GaussianLikelihood(learn_sigma=True)` (log-parameterised,
one scalar). Dai & Wipf start at gamma = 1; the default here starts at sigma = 0.1, because Adam moves
log sigma by about the learning rate per step and short course runs would spend them getting there.
"""
from __future__ import annotations

import torch
from torch import nn

from ..likelihoods import GaussianLikelihood
from ..nets import mlp_decoder, mlp_encoder
from ..vae import VAE


class TwoStageVAE(nn.Module):
    """`stage1`: VAE on x with learned gamma; `stage2`: VAE on stage-1 codes with learned gamma.

    Train stage 1 with `model.loss` (the default of `helpers.train.train`), then stage 2 with
    `train(model, x, loss_fn=stage2_loss_fn, optimizer=torch.optim.Adam(model.stage2.parameters()))`.
    """

    def __init__(self, stage1: VAE, stage2: VAE):
        super().__init__()
        self.stage1, self.stage2 = stage1, stage2

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, hidden: tuple[int, ...] = (256, 256),
                 stage2_hidden: tuple[int, ...] = (256, 256), sigma: float = 0.1) -> "TwoStageVAE":
        """Stage 1: the course's default VAE for this shape; stage 2: MLPs on latent_dim-vectors (u and z
        of the same dimension, as in Dai & Wipf)."""
        stage1 = VAE.for_data(data_shape, latent_dim, likelihood="gaussian-learned", hidden=hidden, sigma=sigma)
        stage2 = VAE(mlp_encoder((latent_dim,), 2 * latent_dim, stage2_hidden),
                     mlp_decoder(latent_dim, (latent_dim,), stage2_hidden), latent_dim,
                     GaussianLikelihood(sigma, learn_sigma=True))
        return cls(stage1, stage2)

    @property
    def latent_dim(self) -> int:
        return self.stage1.latent_dim

    @property
    def gamma(self) -> torch.Tensor:
        """Stage 1's decoder variance gamma = sigma^2."""
        return self.stage1.likelihood.sigma.detach() ** 2

    @property
    def gamma2(self) -> torch.Tensor:
        """Stage 2's decoder variance."""
        return self.stage2.likelihood.sigma.detach() ** 2

    # --- stage 1 -----------------------------------------------------------------------------------
    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stage 1's negative ELBO (rec includes d/2 log(2 pi gamma))."""
        return {**self.stage1.loss(x), "gamma": self.gamma}

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage1.encode(x).mean

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        return self.stage1.likelihood.mean(self.stage1.decoder(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage1.reconstruct(x)

    # --- stage 2 -----------------------------------------------------------------------------------
    @torch.no_grad()
    def stage2_codes(self, x: torch.Tensor) -> torch.Tensor:
        """z = mu(x) + sigma(x) * eps with a fresh eps ~ N(0, I) on every call: stage 2 learns q(z), the
        aggregate of the stage-1 posteriors, not only their means. Stage 1 is fixed (no gradient)."""
        q = self.stage1.encode(x)
        return q.mean + q.stddev * torch.randn_like(q.mean)

    def stage2_loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {**self.stage2.loss(self.stage2_codes(x)), "gamma2": self.gamma2}

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean of stage 2's decoder at u ~ N(0, I): the codes stage 1's decoder reads."""
        return self.stage2.sample(n, generator)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """u ~ N(0, I) -> z = mean of stage 2's decoder -> x = mean of stage 1's decoder."""
        return self.decode_mean(self.sample_prior(n, generator))


def stage2_loss_fn(model: TwoStageVAE, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    """`loss_fn` for `helpers.train.train`: stage 2's loss on freshly sampled stage-1 codes of batch[0]."""
    return model.stage2_loss(batch[0])
