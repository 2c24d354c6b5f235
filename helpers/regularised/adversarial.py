"""Autoencoders whose aggregated posterior is pushed to the prior by a latent discriminator: AAE and WAE-GAN.

Sources: A. Makhzani, J. Shlens, N. Jaitly, I. Goodfellow, B. Frey, "Adversarial Autoencoders", ICLR 2016
workshop, https://arxiv.org/abs/1511.05644; I. Tolstikhin, O. Bousquet, S. Gelly, B. Schoelkopf,
"Wasserstein Auto-Encoders", ICLR 2018, https://arxiv.org/abs/1711.01558 (Algorithm 2, WAE-GAN).

Both fit the Wasserstein form of the slides, inf E c(x, D(E(x))) + lambda D_Z(Q(z), P(z)), with D_Z the
Jensen-Shannon divergence estimated by a discriminator d_gamma(z) = sigmoid(l_gamma(z)) that tells prior
samples (label 1) from codes (label 0). It maximises the GAN value

    V(d) = E_{z~P} log d(z) + E_{z~Q} log(1 - d(z)),                                   (Goodfellow et al. 2014)

whose optimum d* = p / (p + q) gives V(d*) = 2 JS(P || Q) - log 4, i.e. l* = log p(z) - log q(z). The
encoder then minimises the non-saturating generator loss -log d(E(x)) (WAE Algorithm 2), which has the
same fixed point as log(1 - d) but does not vanish while the discriminator wins easily.

Two players, two optimisers (the two-player base `helpers.adversary.Adversary`): `LatentDiscriminator.step`
sees detached codes, and the model's `loss` reads the discriminator through `frozen`, so each update
touches only its own player's parameters (tested bit for bit). `helpers.adversary.adversarial_loss_fn`
alternates them: the discriminator's step, then the model's loss.

Choices stated: the AAE has a Gaussian encoder q(z|x) (Makhzani et al.'s "Gaussian posterior" option) and
the decoder likelihood's negative log-probability as reconstruction term; the WAE-GAN has a deterministic
encoder (as in Tolstikhin et al.'s experiments) and the cost c of `WAE_MMD` (-log p(x|G(z)); the paper's
||x - y||^2 up to scale with likelihood="gaussian"), so the two WAEs differ only in D_Z. Makhzani
et al. alternate a reconstruction phase and a regularisation phase; here both terms share one encoder
step (rec + lambda * generator loss), right after the discriminator's step on the same minibatch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..adversary import Adversary, adversarial_loss_fn  # noqa: F401  (the alternating loss_fn)
from ..likelihoods import make_likelihood
from ..nets import decoder_for, encoder_for, mlp
from ..vae import LatentVariableModel, standard_normal
from .autoencoders import Autoencoder


def discriminator_loss(logits_positive: torch.Tensor, logits_negative: torch.Tensor) -> torch.Tensor:
    """-V = -E_pos log sigmoid(l) - E_neg log(1 - sigmoid(l)), the logistic loss (batch means, so >= 0).

    Minimised by l = log p_pos(z) / p_neg(z), where it equals log 4 - 2 JS(p_pos || p_neg).
    """
    return F.softplus(-logits_positive).mean() + F.softplus(logits_negative).mean()


def generator_loss(logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator term -log d(z) = -log sigmoid(l(z)) = softplus(-l(z)), per example."""
    return F.softplus(-logits)


class LatentDiscriminator(Adversary):
    """l_gamma(z), the logit of "z came from the positive distribution", with its own Adam optimiser.

    The two-player base (`helpers.adversary.Adversary`): `step(positive, negative)` takes one step of
    max_gamma V on detached samples, `frozen(z)` evaluates l with its weights as constants (the model's
    loss cannot move gamma), and the optimiser state travels in `state_dict`, so checkpoints resume it.
    """

    def __init__(self, latent_dim: int, hidden: tuple[int, ...] = (64, 64), lr: float = 5e-4,
                 betas: tuple[float, float] = (0.9, 0.999)):
        super().__init__(mlp([latent_dim, *hidden, 1]), lr, betas)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)

    def loss(self, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        """-V (eq. above): what the discriminator's step minimises."""
        return discriminator_loss(self(positive), self(negative))


class _AdversarialPrior:
    """What AAE and WAE_GAN share (a mixin): prior N(0, I), the discriminator's step, the encoder's
    adversarial term, sampling from the prior, and the parameter split. Needs `codes(x)`, `decode_mean`.
    `adversarial_loss_fn` logs the discriminator's loss as "disc_loss" (log 4 = 1.386 when it cannot tell
    codes from prior samples)."""

    adversary_loss_name = "disc_loss"

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I); a seeded generator draws on the CPU (the same numbers on every device)."""
        return standard_normal(n, self.latent_dim, next(self.parameters()).device, generator)

    def adversary_step(self, x: torch.Tensor) -> torch.Tensor:
        """max_gamma E_P log d(z) + E_Q log(1 - d(z~)): prior samples are positives, codes negatives."""
        with torch.no_grad():
            z_codes = self.codes(x)
        return self.discriminator.step(self.sample_prior(len(z_codes)), z_codes)

    def adversarial_term(self, z: torch.Tensor) -> torch.Tensor:
        """The encoder's side: -log d(z) against the frozen discriminator, per example."""
        return generator_loss(self.discriminator.frozen(z))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """x = D(z), z ~ N(0, I)."""
        return self.decode_mean(self.sample_prior(n, generator))

    def main_parameters(self) -> list[nn.Parameter]:
        """Encoder, decoder and likelihood parameters (everything but the discriminator)."""
        return [p for name, p in self.named_parameters() if not name.startswith("discriminator.")]


class AAE(_AdversarialPrior, LatentVariableModel):
    """Adversarial autoencoder: Gaussian q(z|x), rec = -log p(x|z) at z ~ q(z|x), lambda = 1 by default.
    q(z|x), p(x|z) and their means are the shared base's (`helpers.vae.LatentVariableModel`).

    loss = rec + lam * (-log d(z)), z ~ q(z|x) reparameterised; logs "loss", "rec", "adv".
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, likelihood: nn.Module | None = None,
                 lam: float = 1.0, disc_hidden: tuple[int, ...] = (64, 64), disc_lr: float = 5e-4):
        super().__init__(encoder, decoder, latent_dim, likelihood)
        self.lam = lam
        self.discriminator = LatentDiscriminator(latent_dim, disc_hidden, disc_lr)

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, likelihood: str = "bernoulli",
                 hidden: tuple[int, ...] = (256, 256), likelihood_options: dict | None = None, **options) -> "AAE":
        """Default nets (`helpers.nets`); `options` (lam, disc_hidden, disc_lr) go to the class."""
        return cls(encoder_for(data_shape, 2 * latent_dim, hidden), decoder_for(latent_dim, data_shape, hidden),
                   latent_dim, make_likelihood(likelihood, **(likelihood_options or {})), **options)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x).rsample()

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.codes(x)
        rec = -self.decode(z).log_prob(x)                             # reconstruction phase
        adv = self.adversarial_term(z)                                # regularisation phase, encoder side
        return {"loss": (rec + self.lam * adv).mean(), "rec": rec.mean(), "adv": adv.mean()}


class WAE_GAN(_AdversarialPrior, Autoencoder):  # noqa: N801 (the paper's name)
    """WAE-GAN (Tolstikhin et al. 2018, Algorithm 2): deterministic encoder z~ = E(x).

    loss = c(x, G(z~)) + lam * (-log d(z~)); logs "loss", "rec" (the cost c), "adv". The cost c is
    `Autoencoder.reconstruction`, the same as `WAE_MMD`'s (-log p(x|G(z)); with likelihood="gaussian" it is
    ||x - G(z)||^2 / (2 sigma^2) + const, the paper's squared distance), so the two WAEs differ only in D_Z.
    `for_data(shape, latent_dim, likelihood=..., hidden=..., lam=..., disc_hidden=..., disc_lr=...)`.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, likelihood: nn.Module | None = None,
                 lam: float = 1.0, disc_hidden: tuple[int, ...] = (64, 64), disc_lr: float = 5e-4):
        super().__init__(encoder, decoder, latent_dim, likelihood)
        self.lam = lam
        self.discriminator = LatentDiscriminator(latent_dim, disc_hidden, disc_lr)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encoder(x)
        rec = self.reconstruction(x, z)                               # c(x, G(z~))
        adv = self.adversarial_term(z)                                # -log D(z~), Algorithm 2
        return {"loss": (rec + self.lam * adv).mean(), "rec": rec.mean(), "adv": adv.mean()}
