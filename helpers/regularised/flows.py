"""A VAE whose posterior sample is refined by inverse autoregressive flow (IAF) steps.

Sources: D. P. Kingma, T. Salimans, R. Jozefowicz, X. Chen, I. Sutskever, M. Welling, "Improved Variational
Inference with Inverse Autoregressive Flow", NeurIPS 2016, https://arxiv.org/abs/1606.04934 (Algorithm 1,
eqs. 10-14); the masks of M. Germain, K. Gregor, I. Murray, H. Larochelle, "MADE: Masked Autoencoder for
Distribution Estimation", ICML 2015, https://arxiv.org/abs/1502.03509

The encoder gives q_0(z_0|x) = N(mu, diag sigma^2) and a context h. Each step t = 1..K:

    [m_t, s_t] = MADE_t(z_{t-1}, h),   sigma_t = sigmoid(s_t),   z_t = sigma_t * z_{t-1} + (1 - sigma_t) * m_t

with m_t,i and s_t,i depending on z_{t-1,j} only for j before i in step t's order, so dz_t/dz_{t-1} is
triangular with diagonal sigma_t, and log|det| = sum_i log sigma_t,i. The posterior density follows:

    log q_K(z_K|x) = log q_0(z_0|x) - sum_t sum_i log sigma_t,i

and the bound is ELBO = E[log p(x|z_K) + log p(z_K) - log q_K(z_K|x)] (one sample, KL by Monte Carlo).
Successive steps alternate the order (natural, reversed), as the paper reverses the variables.

Free bits (Kingma et al. 2016, their eq. 15 in appendix C): split the latent variables into K groups and train on

    L_lambda = E_{x~M}[E_q log p(x|z)] - sum_j max(lambda, E_{x~M}[KL_j(x)])

with M the minibatch, so that a group whose KL (averaged over the minibatch) is below lambda nats gets no
gradient from the KL term: using fewer than lambda nats per group is never rewarded, which stops the posterior
from collapsing onto the prior early in training. The log-ratio log q_K(z_K|x) - log p(z_K) is a sum over the
latent dimensions (q_0 and p factorise, and each step's log-determinant is sum_i log sigma_t,i), and here each
dimension is one group: KL_i = log q_0,i(z_0,i) - sum_t log sigma_t,i - log p(z_K,i), one sample.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Independent

from ..likelihoods import diagonal_gaussian, make_likelihood
from ..nets import decoder_for, encoder_for
from ..vae import VAE


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (out x in)."""

    def __init__(self, n_in: int, n_out: int, mask: torch.Tensor):
        super().__init__(n_in, n_out)
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class IAFStep(nn.Module):
    """One IAF step; its MADE gives (m, s) autoregressively in `order` (natural or reversed)."""

    def __init__(self, dim: int, hidden: tuple[int, ...] = (64, 64), context_dim: int = 0, reverse: bool = False,
                 gate_bias: float = 2.0):
        super().__init__()
        # MADE degrees: input i has degree deg_in[i] (its position in this step's order, 1..D); a hidden unit
        # of degree k may see inputs of degree <= k; output i may see hidden units of degree < deg_in[i].
        deg_in = torch.arange(dim, 0, -1) if reverse else torch.arange(1, dim + 1)
        degrees, layers = deg_in, []
        for width in hidden:
            deg_h = torch.arange(width) % max(dim - 1, 1) + 1
            layers.append(MaskedLinear(len(degrees), width, deg_h[:, None] >= degrees[None, :]))
            degrees = deg_h
        self.hidden = nn.ModuleList(layers)
        self.out = MaskedLinear(len(degrees), 2 * dim, (deg_in[:, None] > degrees[None, :]).repeat(2, 1))
        self.context = nn.Linear(context_dim, hidden[0]) if context_dim and hidden else None
        with torch.no_grad():   # start near the identity: sigma = sigmoid(gate_bias) close to 1 (the paper's advice)
            self.out.bias[dim:] = gate_bias

    def forward(self, z: torch.Tensor, h: torch.Tensor | None = None,
                per_dim: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_t, log|det dz_t/dz_{t-1}|) per example, eqs. (11)-(14) of Kingma et al. 2016; per_dim: the
        log-determinant's terms log sigma_t,i, one per dimension (they sum to it)."""
        a = z
        for i, layer in enumerate(self.hidden):
            a = layer(a)
            if i == 0 and self.context is not None and h is not None:
                a = a + self.context(h)
            a = F.elu(a)
        m, s = self.out(a).chunk(2, dim=-1)
        sigma = torch.sigmoid(s)
        log_sigma = F.logsigmoid(s)
        return sigma * z + (1 - sigma) * m, (log_sigma if per_dim else log_sigma.sum(-1))


class IAF(nn.Module):
    """K IAF steps with alternating orders; returns z_K and the summed log-determinant."""

    def __init__(self, dim: int, n_steps: int = 2, hidden: tuple[int, ...] = (64, 64), context_dim: int = 0):
        super().__init__()
        self.steps = nn.ModuleList(IAFStep(dim, hidden, context_dim, reverse=t % 2 == 1) for t in range(n_steps))

    def forward(self, z: torch.Tensor, h: torch.Tensor | None = None,
                per_dim: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = torch.zeros(z.shape if per_dim else z.shape[:-1], dtype=z.dtype, device=z.device)
        for step in self.steps:
            z, ld = step(z, h, per_dim)
            log_det = log_det + ld
        return z, log_det


class FlowVAE(VAE):
    """VAE + IAF. The encoder outputs 2 * latent_dim + context_dim numbers: (mean, log std, h).

    loss = rec + beta * kl with rec = -log p(x|z_K), kl = log q_K(z_K|x) - log p(z_K) (one sample);
    with free_bits = lambda > 0 the KL term is sum_i max(lambda, minibatch mean of KL_i), one group per latent
    dimension (Kingma et al. 2016, eq. 15; the module docstring). Logs "loss", "rec", "kl" (the plain KL, whatever
    the objective), "elbo", "log_det" (the flow's mean log-determinant) and, with free bits, "kl_free_bits".
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, likelihood: nn.Module | None = None,
                 n_flows: int = 2, flow_hidden: tuple[int, ...] = (64, 64), context_dim: int = 8,
                 free_bits: float = 0.0):
        super().__init__(encoder, decoder, latent_dim, likelihood)
        self.context_dim, self.free_bits = context_dim, free_bits
        self.flow = IAF(latent_dim, n_flows, flow_hidden, context_dim)

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, likelihood: str = "bernoulli",
                 hidden: tuple[int, ...] = (256, 256), n_flows: int = 2, flow_hidden: tuple[int, ...] = (64, 64),
                 context_dim: int = 8, free_bits: float = 0.0, **likelihood_options) -> "FlowVAE":
        return cls(encoder_for(data_shape, 2 * latent_dim + context_dim, hidden),
                   decoder_for(latent_dim, data_shape, hidden), latent_dim,
                   make_likelihood(likelihood, **likelihood_options), n_flows, flow_hidden, context_dim, free_bits)

    def encode_with_context(self, x: torch.Tensor) -> tuple[Independent, torch.Tensor]:
        """(q_0(z_0|x), h): the flow's base distribution and its context."""
        out = self.encoder(x)
        return diagonal_gaussian(out[..., :2 * self.latent_dim]), out[..., 2 * self.latent_dim:]

    def encode(self, x: torch.Tensor) -> Independent:
        """The base q_0(z_0|x) only (the posterior itself is its push-forward through the flow)."""
        return self.encode_with_context(x)[0]

    def posterior_sample(self, x: torch.Tensor, n_samples: int | None = None):
        """(z_K, log q_K(z_K|x)); z_K has shape [S, B, L] when n_samples is given, else [B, L]."""
        q0, h = self.encode_with_context(x)
        z0 = q0.rsample() if n_samples is None else q0.rsample((n_samples,))
        h = h if n_samples is None else h.expand(n_samples, *h.shape)
        z, log_det = self.flow(z0, h)
        return z, q0.log_prob(z0) - log_det

    def kl_per_dim(self, q0: Independent, z0: torch.Tensor, z: torch.Tensor, log_det_dims: torch.Tensor) -> torch.Tensor:
        """[..., L]: log q_0,i(z_0,i) - sum_t log sigma_t,i - log p(z_K,i); the sum over i is log q_K(z_K|x) - log p(z_K)."""
        log_prior_dims = torch.distributions.Normal(torch.zeros_like(z), torch.ones_like(z)).log_prob(z)
        return q0.base_dist.log_prob(z0) - log_det_dims - log_prior_dims

    @staticmethod
    def free_bits_kl(kl_dims: torch.Tensor, free_bits: float) -> torch.Tensor:
        """sum_i max(lambda, mean over the minibatch of KL_i): the KL term of Kingma et al.'s eq. 15 (a scalar)."""
        return torch.clamp(kl_dims.mean(0), min=free_bits).sum()

    def loss(self, x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
        q0, h = self.encode_with_context(x)
        z0 = q0.rsample()
        z, log_det_dims = self.flow(z0, h, per_dim=True)
        log_det = log_det_dims.sum(-1)
        rec = -self.decode(z).log_prob(x)
        kl_dims = self.kl_per_dim(q0, z0, z, log_det_dims)
        kl = kl_dims.sum(-1)                                       # log q_K(z_K|x) - log p(z_K), one sample
        terms = {"rec": rec.mean(), "kl": kl.mean(), "elbo": -(rec + kl).mean(), "log_det": log_det.mean()}
        if self.free_bits > 0:
            terms["kl_free_bits"] = self.free_bits_kl(kl_dims, self.free_bits)
            return {"loss": rec.mean() + beta * terms["kl_free_bits"], **terms}
        return {"loss": (rec + beta * kl).mean(), **terms}

    def log_importance_weights(self, x: torch.Tensor, n_samples: int) -> torch.Tensor:
        """log w[s, b] = log p(x_b|z_sb) + log p(z_sb) - log q_K(z_sb|x_b)."""
        z, log_q = self.posterior_sample(x, n_samples)
        x_rep = x.unsqueeze(0).expand(n_samples, *x.shape).reshape(-1, *x.shape[1:])
        log_px = self.decode(z.reshape(-1, self.latent_dim)).log_prob(x_rep).reshape(n_samples, -1)
        return log_px + self.prior().log_prob(z) - log_q

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic code: the flow applied to the base mean (not the exact mean of q_K, which has no
        closed form)."""
        q0, h = self.encode_with_context(x)
        return self.flow(q0.mean, h)[0]
