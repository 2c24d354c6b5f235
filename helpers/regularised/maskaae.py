"""MaskAAE: an adversarial autoencoder that learns how many latent dimensions to use, with a WGAN-GP critic.

Sources: A. K. Mondal, S. P. Chowdhury, A. Jayendran, P. Singla, H. Asnani, Prathosh A.P., "MaskAAE: Latent
space optimization for adversarial auto-encoders", UAI 2020, https://arxiv.org/abs/1912.04564; the WGAN-GP
critic of I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, "Improved Training of Wasserstein
GANs", NeurIPS 2017, https://arxiv.org/abs/1704.00028; the lecture: Prathosh A.P., "The landscape of
Regularized Auto-Encoders for generative modeling", slides, IIT Delhi (no public link), Figures 4-7, Table 2.

The slides' theorem: if the data are f(z~) with z~ in n dimensions, an autoencoder with m latent dimensions
can reconstruct perfectly (R1) and match its prior (R2) only when m = n. With m > n the codes E(x) fill an
n-dimensional set of zero volume in R^m, and no divergence to N(0, I_m) can reach zero. MaskAAE lets the
model switch dimensions off: a mask mu in [0, 1]^m multiplies the code, z = mu * E(x), and the SAME mask
multiplies the prior samples before the critic sees them, mu * eps with eps ~ N(0, I_m). A closed
dimension (mu_i = 0) is 0 on both sides, so it costs the divergence nothing; an open one must carry
N(0, 1)-distributed information. The critic C measures the Wasserstein-1 distance with a gradient penalty:

    critic:  max_C  E_eps C(mu * eps) - E_x C(mu * E(x)) - lambda_gp E_zhat (||grad C(zhat)|| - 1)^2     (WGAN-GP)
    model:   min    c(x, D(mu * E(x))) + lambda [E_eps C(mu * eps) - E_x C(mu * E(x))]                  (W-1 estimate)
                    + w(t) alpha sum_i mu_i + b(t) beta sum_i mu_i (1 - mu_i)                           (the mask's loss)

The model's adversarial term is the critic's Wasserstein estimate: the encoder moves through the second
expectation, the mask through both. m_A, the active dimensions, are the mu_i above 1/2.

The mask's loss, and what it does to each mu_i (the slides show the mask, Figure 4, but print no loss for it;
the weights, the schedule and the binarising term are ours). Its gradient is

    d/d mu_i [alpha mu_i + beta mu_i (1 - mu_i)] = alpha + beta (1 - 2 mu_i).

With beta < alpha this is > alpha - beta > 0 everywhere in [0, 1]: a pull towards 0 whose slope varies by
+-beta, which never pushes a mu_i towards 1 (an earlier version had alpha = 1, beta = 0.1 and called the term
"binarising": the open mu_i then stopped where the reconstruction's gradient balanced the pull, at 0.7-0.9).
The term has two wells, 0 and 1, only when beta > alpha: below mu* = (alpha + beta) / (2 beta) the gradient
pushes down, above it up. With beta > alpha from the first step, though, a mask that starts at 1 sits in the
upper well and nothing closes. So the two terms act in order:

1. steps < warmup: the mask is frozen at 1 while encoder, decoder and critic settle;
2. the L1 pull alpha sum mu, its weight w(t) rising linearly to 1 over `ramp` steps: every mu_i falls at rate
   ~alpha unless the reconstruction's gradient holds it up. That gradient exists because of the noise fill (see
   `MaskLayer`): half-closing an informative dimension replaces half its signal by noise. The surplus
   dimensions carry nothing the decoder needs, fall to 0 and are clamped there; the informative ones stop
   where the reconstruction's gradient equals the pull (strictly inside (0, 1));
3. from `binary_start` (default warmup + ramp) the double well beta sum mu (1 - mu), beta = 2 > alpha = 1
   (mu* = 3/4): at 0 its gradient alpha + beta > 0 keeps the closed dimensions shut, and the open ones, held
   near mu* or above by the reconstruction, are pushed to 1, where the layer is the plain product in
   training and evaluation alike (no train/eval mismatch in the dimensions the decoder reads).

mu is kept in [0, 1] by projection after every step (`after_step`): a mu_i whose gradient keeps its sign
runs into 0 or 1 and stays there. `binary_fraction()` measures the result: the share of mu_i within 0.05 of
{0, 1}. `learn_mask=False` keeps the mask frozen open (mu = 1) for the whole run: the same network, critic and
standardisation without the mask, to measure what the mask itself adds.

In training mode `MaskLayer` fills what the mask removes with fresh noise, mu * E(x) + (1 - mu) * xi (our
choice: a plain product is scale-invariant, see its docstring). At mu_i = 1 this is the plain product z_i in
both modes; at mu_i = 0 it is pure noise xi_i in training (on the code side and the prior side alike, so the
critic sees the same N(0, 1) coordinate on both and the decoder learns to ignore it) and 0 in evaluation.

Other choices stated: alpha = 1 per dimension against a reconstruction cost in nats summed over the data
dimensions; the encoder's output is standardised over the batch (BatchNorm without affine parameters), so a
code dimension's scale is mu_i alone; lambda = 1, lambda_gp = 10 (Gulrajani et al.), one critic step per model
step, Adam(0.5, 0.9) for the critic (their setting). The critic steps first on detached samples with its own
optimiser (`adversary_step`, called by `helpers.adversary.adversarial_loss_fn`), so
`train(model, x, loss_fn=adversarial_loss_fn, optimizer=model.optimizer(lr, mask_lr),
after_step=model.after_step)` trains it (the mask has its own, larger learning rate).
"""
from __future__ import annotations

import torch
from torch import nn

from ..likelihoods import make_likelihood
from ..metrics.latent import active_dims
from ..nets import decoder_for, encoder_for
from ..vae import standard_normal
from .adversarial import LatentDiscriminator
from .autoencoders import Autoencoder


def gradient_penalty(critic, positive: torch.Tensor, negative: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017, eq. 3): E_zhat (||grad_z C(zhat)||_2 - 1)^2 with zhat = e * positive
    + (1 - e) * negative, e ~ U[0, 1] per example. create_graph: it is a term of the critic's loss."""
    e = torch.rand(len(positive), 1, device=positive.device, generator=generator)
    zhat = (e * positive.detach() + (1 - e) * negative.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(zhat).sum(), zhat, create_graph=True)
    return (grad.norm(dim=-1) - 1).pow(2).mean()


class LatentCritic(LatentDiscriminator):
    """C(z), a 1-Lipschitz (by penalty) critic on latent codes with its own Adam optimiser.

    Notebook 04's `LatentDiscriminator` (the two-player base `helpers.adversary.Adversary`) with another
    loss: `step(positive, negative)` maximises E C(positive) - E C(negative) - gp_weight * GP on detached
    inputs (its loss is the negative of that); `frozen(z)` evaluates C with constant weights, so a model's
    loss can read it without moving it. The optimiser state travels in `state_dict` (checkpoints resume it).
    """

    def __init__(self, latent_dim: int, hidden: tuple[int, ...] = (64, 64), lr: float = 5e-4, gp_weight: float = 10.0,
                 betas: tuple[float, float] = (0.5, 0.9)):
        super().__init__(latent_dim, hidden, lr, betas)
        self.gp_weight = gp_weight

    def loss(self, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        """-(E C(pos) - E C(neg)) + gp_weight * GP: minimised by the critic (`step` detaches the samples)."""
        wasserstein = self(positive).mean() - self(negative).mean()
        return -wasserstein + self.gp_weight * gradient_penalty(self, positive, negative)


class MaskLayer(nn.Module):
    """z -> mu * z with a trainable mu in [0, 1]^m (starts at 1: every dimension open).

    mu is the parameter itself, kept in [0, 1] by `project_()` after each optimiser step (projected
    gradient descent), so its gradient is the plain d loss / d mu everywhere in the box. `gate` (a buffer,
    0 or 1) scales the gradient that reaches mu without changing its value: mu stays fixed while gate = 0.

    With `noise` (our choice, not in the slides), training fills what the mask takes away with fresh noise:
    mu * z + (1 - mu) * xi. A plain product mu * z is scale-invariant (the next layer's weights can undo any
    mu_i > 0, so the reconstruction never says which dimensions it needs); with the noise a half-closed
    dimension really loses half its signal, so closing an informative dimension costs reconstruction and
    closing a redundant one costs nothing. In eval mode, and at mu_i = 1 in either mode, it is the plain
    product; at mu_i = 0 in training it is pure noise xi_i (0 in eval mode).
    """

    def __init__(self, latent_dim: int, noise: bool = True):
        super().__init__()
        self.noise = noise
        self.values = nn.Parameter(torch.ones(latent_dim))
        self.register_buffer("gate", torch.ones(()))

    def mask(self) -> torch.Tensor:
        """mu as the loss sees it: its value, with gradient gate * d/d mu."""
        frozen = self.values.detach()
        return frozen + self.gate * (self.values - frozen)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """mu * z; in training mode plus (1 - mu) * xi, xi ~ N(0, I) fresh noise (see the class docstring)."""
        mu = self.mask()
        if self.training and self.noise:
            return z * mu + (1 - mu) * torch.randn_like(z)
        return z * mu

    @torch.no_grad()
    def project_(self) -> None:
        self.values.clamp_(0.0, 1.0)

    def sparsity(self) -> torch.Tensor:
        """sum_i mu_i (the L1 norm on [0, 1])."""
        return self.mask().sum()

    def binarisation(self) -> torch.Tensor:
        """sum_i mu_i (1 - mu_i): 0 exactly when every mu_i is 0 or 1, largest (m/4) at mu = 1/2."""
        mu = self.mask()
        return (mu * (1 - mu)).sum()

    def binary_fraction(self, tolerance: float = 0.05) -> float:
        """The share of mu_i within `tolerance` of 0 or 1 (1.0: a binary mask)."""
        mu = self.values.detach()
        return float(((mu <= tolerance) | (mu >= 1 - tolerance)).float().mean())

    def active(self, threshold: float = 0.5) -> torch.Tensor:
        """Boolean [m]: the unmasked dimensions (mu_i > threshold)."""
        return torch.as_tensor(active_dims(self.values.detach().cpu(), threshold))


class MaskAAE(Autoencoder):
    """Deterministic encoder, mask layer, decoder, WGAN-GP latent critic (see the module docstring).

    loss = rec + lam * W + w(t) alpha sum mu + b(t) beta sum mu (1 - mu) (w: the L1 ramp, b: 0 before
    `binary_start`, 1 from it; see the module docstring); logs "loss", "rec", "wasserstein",
    "mask_l1", "mask_binary", "active" (the number of mu_i > 1/2, as a float tensor: no host sync);
    `adversarial_loss_fn` logs the critic's loss as "disc_loss".
    """

    adversary_loss_name = "disc_loss"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, likelihood: nn.Module | None = None,
                 lam: float = 1.0, mask_l1: float = 1.0, mask_binary: float = 2.0, warmup: int = 200,
                 ramp: int = 200, binary_start: int | None = None, critic_hidden: tuple[int, ...] = (64, 64),
                 critic_lr: float = 5e-4, gp_weight: float = 10.0, standardise: bool = True, learn_mask: bool = True):
        if standardise:   # every code dimension with unit variance over the batch: mu_i alone sets its scale
            encoder = nn.Sequential(encoder, nn.BatchNorm1d(latent_dim, affine=False))
        super().__init__(encoder, decoder, latent_dim, likelihood)
        self.lam, self.mask_l1, self.mask_binary, self.warmup, self.ramp = lam, mask_l1, mask_binary, warmup, ramp
        self.binary_start = warmup + ramp if binary_start is None else binary_start
        self.learn_mask = learn_mask
        self.mask = MaskLayer(latent_dim)
        self.critic = LatentCritic(latent_dim, critic_hidden, critic_lr, gp_weight)
        self.register_buffer("mask_weight", torch.zeros(()))
        self.register_buffer("binary_weight", torch.zeros(()))
        self.mask.gate.fill_(1.0 if learn_mask and warmup <= 0 else 0.0)

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, likelihood: str = "bernoulli",
                 hidden: tuple[int, ...] = (256, 256), likelihood_options: dict | None = None, **options) -> "MaskAAE":
        return cls(encoder_for(data_shape, latent_dim, hidden), decoder_for(latent_dim, data_shape, hidden),
                   latent_dim, make_likelihood(likelihood, **(likelihood_options or {})), **options)

    # --- codes and prior ---------------------------------------------------------------------------
    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        """The masked code mu * E(x) (what the decoder reads)."""
        return self.mask(self.encoder(x))

    def prior_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """eps ~ N(0, I_m), unmasked; a seeded generator draws on the CPU."""
        return standard_normal(n, self.latent_dim, self._device(), generator)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """mu * eps: the prior as the critic and the decoder see it."""
        return self.mask(self.prior_noise(n, generator))

    # --- training ----------------------------------------------------------------------------------
    def adversary_step(self, x: torch.Tensor) -> torch.Tensor:
        """The critic's step: masked prior samples are the positives, masked codes the negatives."""
        with torch.no_grad():
            codes = self.encode_mean(x)
            prior = self.sample_prior(len(codes))
        return self.critic.step(prior, codes)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encode_mean(x)                                         # mu * E(x)
        rec = self.reconstruction(x, z).mean()                          # c(x, D(mu * E(x)))
        prior = self.sample_prior(len(z))                               # mu * eps
        wasserstein = self.critic.frozen(prior).mean() - self.critic.frozen(z).mean()
        l1, binary = self.mask.sparsity(), self.mask.binarisation()
        mask_loss = self.mask_weight * self.mask_l1 * l1 + self.binary_weight * self.mask_binary * binary
        active = (self.mask.values.detach() > 0.5).sum().to(rec.dtype)
        return {"loss": rec + self.lam * wasserstein + mask_loss, "rec": rec, "wasserstein": wasserstein,
                "mask_l1": l1.detach(), "mask_binary": binary.detach(), "active": active}

    @torch.no_grad()
    def after_step(self, step: int, terms: dict | None = None) -> None:
        """The mask's schedule (pass as `train(..., after_step=model.after_step)`): project mu to [0, 1], then
        set what the next step, number t = step + 1 (train() counts from 1), uses: the mask is frozen for
        t < warmup, the L1 weight is (t - warmup) / ramp, clipped to [0, 1], and the binarising term's weight
        is 1 from t = binary_start on. With learn_mask=False all stay 0 (the mask frozen open). Python numbers
        only: no host-device sync."""
        self.mask.project_()
        if not self.learn_mask:
            return
        t = step + 1
        self.mask.gate.fill_(1.0 if t >= self.warmup else 0.0)
        self.mask_weight.fill_(min(1.0, max(0.0, (t - self.warmup) / max(self.ramp, 1))))
        self.binary_weight.fill_(1.0 if t >= self.binary_start else 0.0)

    def main_parameters(self) -> list[nn.Parameter]:
        """Encoder, decoder, mask and likelihood parameters (everything but the critic)."""
        return [p for name, p in self.named_parameters() if not name.startswith("critic.")]

    def optimizer(self, lr: float = 1e-3, mask_lr: float = 1e-2) -> torch.optim.Adam:
        """Adam over `main_parameters`, the mask in its own group with its own rate: Adam moves a parameter
        by about its learning rate per step, so at the network's rate the mask could travel from 1 to 0 only
        in ~1/lr steps, longer than a short run. Pass it to `train(optimizer=...)`."""
        mask = [self.mask.values]
        rest = [p for p in self.main_parameters() if p is not self.mask.values]
        return torch.optim.Adam([{"params": rest, "lr": lr}, {"params": mask, "lr": mask_lr}])

    # --- after training ----------------------------------------------------------------------------
    def active_dims(self, threshold: float = 0.5) -> int:
        """m_A: how many mask values exceed the threshold."""
        return int(self.mask.active(threshold).sum())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """x = D(mu * eps), eps ~ N(0, I_m)."""
        return self.decode_mean(self.sample_prior(n, generator))
