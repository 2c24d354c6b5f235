"""The Conditional Subspace VAE (CSVAE) of Klys, Snell & Zemel (2018), as a reimplementation proposal plans.

Sources: J. Klys, J. Snell, R. Zemel, "Learning Latent Subspaces in Variational Autoencoders",
NeurIPS 2018, https://arxiv.org/abs/1812.06190; A. Shafarostov, M. Pominova, A. Lyzhov, E. Lazareva,
"Learning Latent Subspaces in Variational Autoencoders" (project proposal to reimplement it, 2019,
unpublished).

Data: x with k binary attributes y in {0, 1}^k. Latent space H = Z x W = Z x W_1 x ... x W_k: one small
subspace W_i (here 2-D) per attribute, meant to hold *everything* about x that is correlated with y_i
(the kind of glasses, how wide the smile), while Z holds the rest and nothing about y.

Generative model   p(x, y, w, z) = p_theta(x|w,z) p(z) p(w|y) p(y),
                   p(z) = N(0, I),   p(w|y) = prod_i p(w_i|y_i),
                   p(w_i|y_i = 0) = N(m_0 1, s_0^2 I),   p(w_i|y_i = 1) = N(m_1 1, s_1^2 I)
                   (different means and spreads per attribute value; defaults m_0 = 0, s_0 = 0.1, m_1 = 3, s_1 = 1:
                   absent attributes collapse to one point, present ones have room to vary).
Inference model    q_phi(z|x) q_phi(w|x,y), diagonal Gaussians.

The bound (Jensen, with the factorised q):

    log p(x|y) >= E_{q(z|x) q(w|x,y)}[log p(x|w,z)] - KL(q(w|x,y) || p(w|y)) - KL(q(z|x) || p(z))   (M1)

(log p(x, y) adds the constant log p(y)). Klys et al. weight the three terms by beta_1, beta_2, beta_3.
On its own M1 does not stop Z from carrying y. So the model also minimises I(Z; Y) = H(Y) - H(Y|Z):
H(Y) is fixed by the data, so this means maximising H(Y|Z). p(y|z) is unknown; an adversary
q_delta(y|z) learns it by maximising E[log q_delta(y|z)] (N), with its own optimiser, and the encoder
maximises the entropy of the adversary's prediction, E_{q(z|x)}[H(q_delta(.|z))] (M2, weight beta_4).
An optimal adversary makes M2 equal H(Y|Z); the entropy is bounded by k log 2 (see helpers.conditional.cvae).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Independent, Normal

from .cvae import AttributeAdversary, _as_likelihood, binary_entropy
from ..likelihoods import BernoulliLikelihood, diagonal_gaussian, gaussian_kl
from ..nets import decoder_for, encoder_for
from ..vae import seeded


class CSVAE(nn.Module):
    """Conditional Subspace VAE: q(z|x), q(w|x,y), p(x|w,z), p(w_i|y_i), and the adversary q_delta(y|z).

    encoder_z maps x to 2 * z_dim numbers (mean, log std of q(z|x)); encoder_w maps x to `features`
    numbers and a linear head maps [features, y] to 2 * k * w_dim (q(w|x,y)); decoder maps [z, w] to
    the likelihood's parameters. `CSVAE.for_data(shape, z_dim, n_attributes)` builds default nets.
    Train with `helpers.train.train(model, (x, y), loss_fn=helpers.adversary.adversarial_loss_fn,
    optimizer=torch.optim.Adam(model.main_parameters(), lr))`; the adversary's loss is logged as "adversary_ce".
    """

    adversary_loss_name = "adversary_ce"   # the term under which adversarial_loss_fn logs the adversary's loss

    def __init__(self, encoder_z: nn.Module, encoder_w: nn.Module, features: int, decoder: nn.Module,
                 z_dim: int, n_attributes: int, w_dim: int = 2, likelihood: nn.Module | None = None,
                 prior_means: tuple[float, float] = (0.0, 3.0), prior_stds: tuple[float, float] = (0.1, 1.0),
                 betas: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 10.0),
                 adversary_hidden: tuple[int, ...] = (64, 64), adversary_lr: float = 1e-3):
        super().__init__()
        if min(prior_stds) <= 0:
            raise ValueError(f"prior_stds must be positive, got {prior_stds}")
        self.encoder_z, self.encoder_w, self.decoder = encoder_z, encoder_w, decoder
        self.z_dim, self.n_attributes, self.w_dim = z_dim, n_attributes, w_dim
        self.head_w = nn.Linear(features + n_attributes, 2 * n_attributes * w_dim)
        self.likelihood = likelihood if likelihood is not None else BernoulliLikelihood()
        # p(w_i | y_i): entry 0 for y_i = 0, entry 1 for y_i = 1 (buffers: fixed, but saved with the model).
        self.register_buffer("prior_means", torch.tensor(prior_means, dtype=torch.float32))
        self.register_buffer("prior_stds", torch.tensor(prior_stds, dtype=torch.float32))
        self.betas = tuple(float(b) for b in betas)
        self.adversary = AttributeAdversary(z_dim, n_attributes, adversary_hidden, adversary_lr)
        self._start_w_posterior_at_prior(features)

    @torch.no_grad()
    def _start_w_posterior_at_prior(self, features: int) -> None:
        """Initialise the W head so that q(w|x,y) starts near p(w|y): mean m_{y_i}, log std log s_{y_i}.

        The head is linear in y, and y_i is 0 or 1, so bias = (m_0, log s_0) and a weight of
        (m_1 - m_0, log s_1 - log s_0) on y_i reproduce the prior exactly; the weights on the image
        features keep their random start. Same model family, but the subspaces begin in their prior
        regions instead of having to travel there (from N(0, 1) to N(3, 1) and down to a spread of 0.1).
        """
        k, d = self.n_attributes, self.w_dim
        m0, m1 = self.prior_means.tolist()
        s0, s1 = self.prior_stds.log().tolist()
        bias = self.head_w.bias.view(2, k, d)                       # [mean | log std] x attribute x dim
        y_weight = self.head_w.weight[:, features:].view(2, k, d, k)
        bias[0], bias[1] = m0, s0
        y_weight.zero_()
        for i in range(k):
            y_weight[0, i, :, i], y_weight[1, i, :, i] = m1 - m0, s1 - s0

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], z_dim: int, n_attributes: int, w_dim: int = 2,
                 likelihood: str | nn.Module = "bernoulli", hidden: tuple[int, ...] = (256, 256), features: int = 256,
                 **options) -> "CSVAE":
        """Default nets for data of this shape (`helpers.nets.encoder_for` / `decoder_for`)."""
        encoder_z = encoder_for(data_shape, 2 * z_dim, hidden)
        encoder_w = nn.Sequential(encoder_for(data_shape, features, hidden), nn.ReLU())
        decoder = decoder_for(z_dim + n_attributes * w_dim, data_shape, hidden)
        return cls(encoder_z, encoder_w, features, decoder, z_dim, n_attributes, w_dim,
                   _as_likelihood(likelihood), **options)

    @property
    def latent_dim(self) -> int:
        """Size of the whole code [z, w]."""
        return self.z_dim + self.n_attributes * self.w_dim

    def _check(self, y: torch.Tensor) -> torch.Tensor:
        if y.dim() != 2 or y.shape[1] != self.n_attributes:
            raise ValueError(f"y must be a batch x {self.n_attributes} tensor of 0/1 attributes, got shape "
                             f"{tuple(y.shape)}; pass e.g. dataset.attributes[:, [i, j]]")
        return y.float()

    # --- the distributions ------------------------------------------------------------------------
    def encode_z(self, x: torch.Tensor) -> Independent:
        """q(z|x): the encoder of Z never sees y."""
        return diagonal_gaussian(self.encoder_z(x))

    def encode_w(self, x: torch.Tensor, y: torch.Tensor) -> Independent:
        """q(w|x,y) over all k subspaces, flattened to k * w_dim (attribute i owns entries i*w_dim ... )."""
        return diagonal_gaussian(self.head_w(torch.cat([self.encoder_w(x), self._check(y)], dim=-1)))

    def prior_w_params(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of p(w|y) = prod_i p(w_i|y_i), each batch x (k * w_dim)."""
        y = self._check(y).long()
        mean = self.prior_means[y].repeat_interleave(self.w_dim, dim=-1)   # m_{y_i} on every entry of W_i
        std = self.prior_stds[y].repeat_interleave(self.w_dim, dim=-1)
        return mean, std

    def prior_w(self, y: torch.Tensor) -> Independent:
        """p(w|y) as a distribution."""
        return Independent(Normal(*self.prior_w_params(y)), 1)

    def prior_z(self) -> Independent:
        """p(z) = N(0, I)."""
        zeros = torch.zeros(self.z_dim, device=self.prior_means.device)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def decode(self, z: torch.Tensor, w: torch.Tensor) -> torch.distributions.Distribution:
        """p(x|w,z): the decoder sees no y, only the code."""
        return self.likelihood(self.decoder(torch.cat([z, w], dim=-1)))

    # --- objective --------------------------------------------------------------------------------
    def kl_w(self, q_w: Independent, y: torch.Tensor) -> torch.Tensor:
        """KL(q(w|x,y) || p(w|y)) in closed form: per dimension, a KL between two 1-D Gaussians."""
        mean, std = self.prior_w_params(y)
        return gaussian_kl(q_w.base_dist.loc, q_w.base_dist.scale, mean, std)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """-(beta_1 E[log p(x|w,z)] - beta_2 KL_w - beta_3 KL_z) - beta_4 E[H(q_delta(y|z))], batch mean.

        The adversary is frozen here (its weights are constants); the entropy term's gradient reaches the
        encoder of Z through the reparameterised z and nowhere else.
        """
        b1, b2, b3, b4 = self.betas
        y = self._check(y)
        q_z, q_w = self.encode_z(x), self.encode_w(x, y)
        z, w = q_z.rsample(), q_w.rsample()
        rec = -self.decode(z, w).log_prob(x)                                  # -log p(x|w,z), one sample
        kl_w = self.kl_w(q_w, y)                                              # KL(q(w|x,y) || p(w|y))
        kl_z = torch.distributions.kl_divergence(q_z, self.prior_z())         # KL(q(z|x) || p(z))
        entropy = binary_entropy(self.adversary.frozen(z))                    # H(q_delta(.|z)), M2
        loss = b1 * rec + b2 * kl_w + b3 * kl_z - b4 * entropy
        return {"loss": loss.mean(), "rec": rec.mean(), "kl_w": kl_w.mean(), "kl_z": kl_z.mean(),
                "elbo": -(rec + kl_w + kl_z).mean(), "adversary_entropy": entropy.mean().detach()}

    def adversary_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """max_delta E[log q_delta(y|z)] (N): one step of the adversary's own optimiser, z ~ q(z|x) detached."""
        with torch.no_grad():
            z = self.encode_z(x).sample()
        return self.adversary.step(z, self._check(y))

    def log_importance_weights(self, x: torch.Tensor, y: torch.Tensor, n_samples: int) -> torch.Tensor:
        """log w = log p(x|w,z) + log p(w|y) + log p(z) - log q(w|x,y) - log q(z|x): weights for log p(x|y)."""
        y = self._check(y)
        q_z, q_w = self.encode_z(x), self.encode_w(x, y)
        z, w = q_z.rsample((n_samples,)), q_w.rsample((n_samples,))          # [S, B, .]
        x_rep = x.unsqueeze(0).expand(n_samples, *x.shape).reshape(-1, *x.shape[1:])
        log_px = self.decode(z.reshape(-1, self.z_dim), w.reshape(-1, w.shape[-1])).log_prob(x_rep)
        log_px = log_px.reshape(n_samples, -1)
        return log_px + self.prior_w(y).log_prob(w) + self.prior_z().log_prob(z) - q_w.log_prob(w) - q_z.log_prob(z)

    def iwae_bound(self, x: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
        """L_k = log 1/k sum_s w_s <= log p(x|y), per example."""
        return torch.logsumexp(self.log_importance_weights(x, y, k), 0) - math.log(k)

    # --- using a trained model --------------------------------------------------------------------
    @torch.no_grad()
    def codes(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means (z, w), w shaped batch x k x w_dim."""
        z = self.encode_z(x).mean
        w = self.encode_w(x, y).mean.reshape(len(x), self.n_attributes, self.w_dim)
        return z, w

    def encode_mean(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The whole code [z, w] at the posterior means, batch x latent_dim (`codes` gives the pair)."""
        return torch.cat([self.encode_z(x).mean, self.encode_w(x, y).mean], dim=-1)

    @torch.no_grad()
    def decode_mean(self, z: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        """Mean of p(x|w,z); w may be batch x k x w_dim or flattened. Without w, z is the whole code [z, w]."""
        if w is None:
            return self.likelihood.mean(self.decoder(z))
        return self.likelihood.mean(self.decoder(torch.cat([z, w.reshape(len(w), -1)], dim=-1)))

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None, *, y: torch.Tensor) -> torch.Tensor:
        """The whole code [z, w] ~ p(z) p(w|y), batch x latent_dim, for the attributes y [n, k]."""
        with seeded(generator):
            z = self.prior_z().sample((n,))
            w = self.prior_w(y).sample()
        return torch.cat([z, w], dim=-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, *, y: torch.Tensor) -> torch.Tensor:
        """Means of p(x|w,z) for (z, w) ~ p(z) p(w|y)."""
        return self.decode_mean(self.sample_prior(n, generator, y=y))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean of p(x|w,z) at the posterior means."""
        return self.decode_mean(*self.codes(x, y))

    @torch.no_grad()
    def transfer(self, x: torch.Tensor, y: torch.Tensor, y_new: torch.Tensor) -> torch.Tensor:
        """Attribute manipulation: keep z and the unchanged subspaces; move each changed W_i to the mean of
        p(w_i | y_i = new value) (the centre of the region the prior reserves for that value)."""
        y, y_new = self._check(y), self._check(y_new)
        z, w = self.codes(x, y)
        target = self.prior_means[y_new.long()].unsqueeze(-1).expand_as(w)
        changed = (y != y_new).unsqueeze(-1).expand_as(w)
        return self.decode_mean(z, torch.where(changed, target, w))

    def main_parameters(self) -> list[nn.Parameter]:
        """Everything but the adversary: what the model's optimiser steps."""
        return [p for name, p in self.named_parameters() if not name.startswith("adversary.")]
