"""Normal-Gamma and Dirichlet exponential-family maths for the factorial mixture prior.

Source: U. Paquet, S. K. Ghaisas, O. Tieleman, "A Factorial Mixture Prior for Compositional Deep
Generative Models", arXiv 2018, https://arxiv.org/abs/1812.07480 (Sections 2.2-2.7, Appendices B-D).
Stochastic variational inference: M. D. Hoffman, D. M. Blei, C. Wang, J. Paisley, "Stochastic Variational
Inference", JMLR 14, 2013, https://jmlr.org/papers/v14/hoffman13a.html

Every mixture component has, per latent dimension d, a mean mu and a precision alpha with the
Normal-Gamma distribution

    NG(mu, alpha; m, s, a, b) = N(mu; m, (s alpha)^-1) Gamma(alpha; a, b)        (Gamma with rate b)

(the hyperprior with (m0, s0, a0, b0), the posterior q with (m, s, a, b)). As an exponential family,

    log NG = eta . t(mu, alpha) - A(eta),   t = [log alpha, alpha, alpha mu, alpha mu^2],
    eta   = [a - 1/2, -(b + s m^2 / 2), s m, -s / 2]                                  (Appendix B, eq. 12)

and the mean of t (the "expected sufficient statistics") is

    E[t] = [psi(a) - log b, a / b, a m / b, a m^2 / b + 1 / s].

Functions here work elementwise on tensors of any shape (a natural-parameter tensor has a trailing
axis of length 4).
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Dirichlet, Gamma, StudentT, kl_divergence

LOG_2PI = math.log(2 * math.pi)


# --- the two parameterisations ---------------------------------------------------------------------
def natural_from_mean(m, s, a, b) -> torch.Tensor:
    """eta = [a - 1/2, -(b + s m^2/2), s m, -s/2] (eq. 12), stacked on a new last axis."""
    m, s, a, b = torch.broadcast_tensors(*map(torch.as_tensor, (m, s, a, b)))
    return torch.stack([a - 0.5, -(b + 0.5 * s * m ** 2), s * m, -0.5 * s], dim=-1)


def mean_from_natural(eta: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(m, s, a, b) from eta: s = -2 eta4, m = eta3 / s, a = eta1 + 1/2, b = -eta2 - s m^2 / 2."""
    s = -2.0 * eta[..., 3]
    m = eta[..., 2] / s
    a = eta[..., 0] + 0.5
    b = -eta[..., 1] - 0.5 * s * m ** 2
    return m, s, a, b


def expected_statistics(m, s, a, b) -> torch.Tensor:
    """E[t] = [E log alpha, E alpha, E alpha mu, E alpha mu^2] under NG(m, s, a, b)."""
    e_alpha = a / b
    return torch.stack([torch.digamma(a) - torch.log(b), e_alpha, e_alpha * m, e_alpha * m ** 2 + 1.0 / s], dim=-1)


# --- densities and divergences ---------------------------------------------------------------------
def log_prob(mu, alpha, m, s, a, b) -> torch.Tensor:
    """log NG(mu, alpha; m, s, a, b), elementwise."""
    log_normal = 0.5 * (torch.log(s * alpha) - LOG_2PI) - 0.5 * s * alpha * (mu - m) ** 2
    return log_normal + Gamma(a, b).log_prob(alpha)


def sample(m, s, a, b, shape=()) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, alpha) ~ NG: alpha ~ Gamma(a, b), then mu ~ N(m, 1 / (s alpha))."""
    alpha = Gamma(a, b).sample(shape)
    mu = m + torch.randn_like(alpha) / torch.sqrt(s * alpha)
    return mu, alpha


def kl(m, s, a, b, m0, s0, a0, b0) -> torch.Tensor:
    """KL(NG(m, s, a, b) || NG(m0, s0, a0, b0)), elementwise (Appendix C.1 in our own derivation).

    Split as KL(q(alpha) || p(alpha)) + E_q(alpha) KL(q(mu|alpha) || p(mu|alpha)); the second is a KL between
    two Gaussians with precisions s alpha and s0 alpha, so alpha cancels in the variance ratio and enters the
    mean term only linearly, through E[alpha] = a / b:
        1/2 [ s0/s - 1 - log(s0/s) + s0 (a/b) (m - m0)^2 ].
    """
    m0, s0, a0, b0 = (torch.as_tensor(v, dtype=m.dtype, device=m.device) for v in (m0, s0, a0, b0))
    normal_part = 0.5 * (s0 / s - 1.0 - torch.log(s0 / s) + s0 * (a / b) * (m - m0) ** 2)
    a0, b0 = torch.broadcast_tensors(a0, b0)
    gamma_part = kl_divergence(Gamma(a, b), Gamma(a0.expand_as(a), b0.expand_as(b)))
    return normal_part + gamma_part


def dirichlet_kl(c: torch.Tensor, c0) -> torch.Tensor:
    """KL(Dir(c) || Dir(c0)) over the last axis (torch's closed form)."""
    c0 = torch.as_tensor(c0, dtype=c.dtype, device=c.device).expand_as(c)
    return kl_divergence(Dirichlet(c), Dirichlet(c0))


def dirichlet_expected_log(c: torch.Tensor) -> torch.Tensor:
    """E_Dir(c)[log pi_k] = psi(c_k) - psi(sum_k c_k)."""
    return torch.digamma(c) - torch.digamma(c.sum(-1, keepdim=True))


# --- the two expectations the ELBO needs -----------------------------------------------------------
def expected_log_normal(mu_q, var_q, m, s, a, b) -> torch.Tensor:
    """Eq. (6), per dimension: E_{q(z) q(mu, alpha)} log N(z; mu, 1/alpha) with q(z) = N(mu_q, var_q):

        1/2 [ psi(a) - log b - log 2 pi - 1/s - (a/b) ((mu_q - m)^2 + var_q) ].

    E[alpha (z - mu)^2] = E[alpha] E_z[(z - m)^2] + E[alpha (mu - m)^2] = (a/b)((mu_q - m)^2 + var_q) + 1/s, since
    mu - m has variance 1/(s alpha) given alpha. Broadcasts: pass mu_q [B, 1, D] against m [K, D] for [B, K, D].
    """
    return 0.5 * (torch.digamma(a) - torch.log(b) - LOG_2PI - 1.0 / s - (a / b) * ((mu_q - m) ** 2 + var_q))


def expected_kl_gaussian(mu_q, var_q, m, s, a, b) -> torch.Tensor:
    """E_{q(mu, alpha)} KL(N(mu_q, var_q) || N(mu, 1/alpha)) per dimension: -H[q(z)] - eq. (6).

        1/2 [ -1 - log var_q + log b - psi(a) + 1/s + (a/b)((mu_q - m)^2 + var_q) ].
    """
    neg_entropy = -0.5 * (1.0 + LOG_2PI + torch.log(var_q))
    return neg_entropy - expected_log_normal(mu_q, var_q, m, s, a, b)


def predictive_student_t(m, s, a, b) -> StudentT:
    """q(z_d | k) = integral N(z; mu, 1/alpha) NG(mu, alpha) = T(z; m, scale^2 = (s+1)/s * b/a, 2a dof), eq. (10).

    Integrating mu out gives N(z; m, (1 + 1/s)/alpha); integrating a Gamma(a, b) precision out of a
    Gaussian gives a Student-t with 2a degrees of freedom and squared scale (1 + 1/s) b / a.
    Its variance (for a > 1) is (s+1)/s * b / (a - 1).
    """
    return StudentT(2.0 * a, m, torch.sqrt((s + 1.0) / s * b / a))
