"""FlexAE: a Wasserstein autoencoder whose prior is learned, a generator that follows the codes.

Sources: A. K. Mondal, H. Asnani, P. Singla, Prathosh A.P., "FlexAE: Flexibly learning latent priors for
Wasserstein auto-encoders", UAI 2021 (PMLR 161), https://proceedings.mlr.press/v161/, code
https://github.com/dair-iitd/FlexAE; the lecture:
Prathosh A.P., "The landscape of Regularized Auto-Encoders for generative modeling", slides, IIT Delhi (no
public link), Figure 10, Tables 3-5; the critic is the WGAN-GP of `helpers.regularised.maskaae`
(Gulrajani et al., NeurIPS 2017, https://arxiv.org/abs/1704.00028).

The slides' corollary: when the latent dimension m exceeds the data's intrinsic dimension n, the codes live
on an n-dimensional set, and the WAE objective can reach a zero divergence only if the prior P(z) is itself
supported on such a set: a fixed N(0, I_m) never is. FlexAE therefore learns the prior: a generator
G_psi maps u ~ N(0, I_m') (m' >= m) to z = G_psi(u), and its push-forward p_psi(z) can concentrate on a
low-dimensional set. The objective (the slides' D_FlexAE),

    inf_{phi, theta, psi}  E_x c(x, D_theta(E_phi(x))) + lambda D_Z(q_phi(z), p_psi(z)),

takes D_Z = the Wasserstein-1 distance estimated by a critic C_kappa with a gradient penalty:

    critic:  max_C  E_x C(E(x)) - E_u C(G(u)) - lambda_gp GP
    model:   min    c(x, D(E(x))) + lambda [E_x C(E(x)) - E_u C(G(u))]

Encoder and generator both descend the same estimate, so they move towards each other (the encoder through
the first expectation, the generator through the second). Generation: x = D(G(u)), u ~ N(0, I_m').

The bias-variance trade-off (the slides' Table 5): a generator too small cannot follow the codes (bias);
one large enough to place a point on every training code memorises them (variance), and its samples are
copies of training images. Choices stated (not in the slides): joint training from the first step, lambda =
1, lambda_gp = 10, m' = m by default, MLP generator (hidden (128, 128)); the encoder's output and the
generator's samples are standardised over the batch (BatchNorm without affine parameters): with a learned
prior nothing else fixes the codes' scale, and encoder and generator, chasing each other, can drift off
together; five critic steps per model step (Gulrajani et al.'s n_critic = 5) at the critic's rate 2e-3, since
the critic must follow two moving distributions (with one step, short runs left the generator far behind).
Train with `train(model, x, loss_fn=adversarial_loss_fn, optimizer=Adam(model.main_parameters(), lr))`.
"""
from __future__ import annotations

import torch
from torch import nn

from ..likelihoods import make_likelihood
from ..nets import decoder_for, encoder_for, mlp
from .autoencoders import Autoencoder
from .maskaae import LatentCritic


class PriorGenerator(nn.Module):
    """G_psi: u ~ N(0, I_{noise_dim}) -> z in R^{latent_dim}, an MLP (the learnable prior p_psi)."""

    def __init__(self, latent_dim: int, noise_dim: int | None = None, hidden: tuple[int, ...] = (128, 128),
                 standardise: bool = False):
        super().__init__()
        self.latent_dim = latent_dim
        self.noise_dim = latent_dim if noise_dim is None else noise_dim
        if self.noise_dim < latent_dim:
            raise ValueError(f"FlexAE's generator needs noise_dim m' >= latent_dim m, got {self.noise_dim} < {latent_dim}")
        self.net = mlp([self.noise_dim, *hidden, latent_dim])
        if standardise:   # samples with unit variance per dimension over the batch, like standardised codes
            self.net.append(nn.BatchNorm1d(latent_dim, affine=False))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.net(u)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        u = (torch.randn(n, self.noise_dim, device=device) if generator is None
             else torch.randn(n, self.noise_dim, generator=generator).to(device))
        return self(u)


class FlexAE(Autoencoder):
    """Deterministic encoder E, decoder D, prior generator G (`generator`), WGAN-GP critic C (`critic`).

    loss = rec + lam * (E C(E(x)) - E C(G(u))); logs "loss", "rec", "wasserstein". `adversary_step` takes
    `critic_steps` critic steps on one batch of codes, each against fresh generator samples;
    `adversarial_loss_fn` logs the last one's critic loss as "disc_loss".
    """

    adversary_loss_name = "disc_loss"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, likelihood: nn.Module | None = None,
                 lam: float = 1.0, noise_dim: int | None = None, generator_hidden: tuple[int, ...] = (128, 128),
                 critic_hidden: tuple[int, ...] = (64, 64), critic_lr: float = 2e-3, gp_weight: float = 10.0,
                 standardise: bool = True, critic_steps: int = 5):
        if standardise:   # codes with unit variance per dimension over the batch: nothing else pins their scale
            encoder = nn.Sequential(encoder, nn.BatchNorm1d(latent_dim, affine=False))
        super().__init__(encoder, decoder, latent_dim, likelihood)
        self.lam, self.critic_steps = lam, critic_steps
        self.generator = PriorGenerator(latent_dim, noise_dim, generator_hidden, standardise=standardise)
        self.critic = LatentCritic(latent_dim, critic_hidden, critic_lr, gp_weight)

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, likelihood: str = "bernoulli",
                 hidden: tuple[int, ...] = (256, 256), likelihood_options: dict | None = None, **options) -> "FlexAE":
        return cls(encoder_for(data_shape, latent_dim, hidden), decoder_for(latent_dim, data_shape, hidden),
                   latent_dim, make_likelihood(likelihood, **(likelihood_options or {})), **options)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = G(u): samples of the learned prior p_psi."""
        return self.generator.sample(n, generator)

    def adversary_step(self, x: torch.Tensor) -> torch.Tensor:
        """`critic_steps` critic steps: codes are the positives, generator samples the negatives (detached;
        fresh generator samples each step). Returns the last step's critic loss."""
        with torch.no_grad():
            codes = self.encoder(x)
        for _ in range(self.critic_steps):
            with torch.no_grad():
                prior = self.sample_prior(len(codes))
            loss = self.critic.step(codes, prior)
        return loss

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encoder(x)
        rec = self.reconstruction(x, z).mean()                            # c(x, D(E(x)))
        wasserstein = self.critic.frozen(z).mean() - self.critic.frozen(self.sample_prior(len(z))).mean()
        return {"loss": rec + self.lam * wasserstein, "rec": rec, "wasserstein": wasserstein}

    def main_parameters(self) -> list[nn.Parameter]:
        """Encoder, decoder, generator and likelihood parameters (everything but the critic)."""
        return [p for name, p in self.named_parameters() if not name.startswith("critic.")]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """x = D(G(u)), u ~ N(0, I_m')."""
        return self.decode_mean(self.sample_prior(n, generator))
