"""VaDE: a Gaussian-mixture prior whose parameters xi are point estimates learned by gradient.

Source: Z. Jiang, Y. Zheng, H. Tan, B. Tang, H. Zhou, "Variational Deep Embedding: An Unsupervised and
Generative Approach to Clustering", IJCAI 2017, https://arxiv.org/abs/1611.05148. In the terms of Paquet,
Ghaisas & Tieleman (arXiv 2018, https://arxiv.org/abs/1812.07480) it is their model with I = 1 and xi treated as
parameters instead of random variables: no hyperprior, no SVI, and E_q(xi)[...] becomes a plug-in value.

    gamma_k  = softmax_k( log pi_k + E_q(z|x) log N(z; mu_k, diag sigma_k^2) )
    KL[z]    = sum_k gamma_k KL(q(z|x) || N(mu_k, diag sigma_k^2))
    KL[r]    = sum_k gamma_k (log gamma_k - log pi_k)
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from ..likelihoods import gaussian_kl
from ..precision import on_host
from ..vae import VAE
from .factorial_prior import average_terms


class VaDE(VAE):
    """A VAE with a K-component diagonal GMM prior whose weights, means and variances are nn.Parameters."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, n_components: int,
                 likelihood: nn.Module | None = None):
        super().__init__(encoder, decoder, latent_dim, likelihood)
        self.n_components = int(n_components)
        self.weight_logits = nn.Parameter(torch.zeros(n_components))
        self.means = nn.Parameter(torch.randn(n_components, latent_dim))
        self.log_vars = nn.Parameter(torch.zeros(n_components, latent_dim))

    @torch.no_grad()
    def init_from_codes(self, codes: torch.Tensor, seed: int = 0) -> None:
        """Fit scikit-learn's diagonal GaussianMixture to pre-trained codes, as Jiang et al. do."""
        from sklearn.mixture import GaussianMixture
        gmm = GaussianMixture(self.n_components, covariance_type="diag", random_state=seed, reg_covar=1e-4)
        with on_host():
            gmm.fit(codes.detach().cpu().double().numpy())
        as_tensor = lambda a: torch.as_tensor(a, dtype=self.means.dtype, device=self.means.device)  # noqa: E731
        self.weight_logits.copy_(as_tensor(gmm.weights_).log())
        self.means.copy_(as_tensor(gmm.means_))
        self.log_vars.copy_(as_tensor(gmm.covariances_).log())

    def prior(self) -> MixtureSameFamily:
        """p(z) = sum_k pi_k N(z; m_k, diag v_k): the GMM prior (so `sample_prior`, `log_prior` and the
        importance weights of `VAE` use it)."""
        weights = Categorical(logits=self.weight_logits)
        components = Independent(Normal(self.means, (0.5 * self.log_vars).exp()), 1)
        return MixtureSameFamily(weights, components)

    def responsibilities(self, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        """gamma [B, K]: the same softmax as eq. (5), with plug-in parameters."""
        v = self.log_vars.exp()
        e_log_n = -0.5 * (math.log(2 * math.pi) + self.log_vars + ((mu.unsqueeze(1) - self.means) ** 2
                                                                      + var.unsqueeze(1)) / v).sum(-1)
        return torch.softmax(e_log_n + torch.log_softmax(self.weight_logits, -1), -1)

    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        q = self.encode(x)
        mu, var = q.mean, q.variance
        rec = -self.decode(q.rsample()).log_prob(x)
        gamma = self.responsibilities(mu, var).detach()     # at its optimum: no gradient through it is needed
        kl_each = gaussian_kl(mu.unsqueeze(1), var.sqrt().unsqueeze(1), self.means, (0.5 * self.log_vars).exp())
        kl_z = (gamma * kl_each).sum(-1)
        kl_r = (torch.xlogy(gamma, gamma) - gamma * torch.log_softmax(self.weight_logits, -1)).sum(-1)
        return {"rec": rec, "kl_z": kl_z, "kl_r": kl_r, "elbo": -(rec + kl_z + kl_r)}

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        t = self.terms(x)
        return {"loss": -t["elbo"].mean(), "rec": t["rec"].mean(), "kl_z": t["kl_z"].mean(),
                "kl_r": t["kl_r"].mean(), "elbo": t["elbo"].mean()}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, batch_size: int = 1000) -> dict[str, float]:
        """Test averages of elbo, rec, kl_z, kl_r, as `MixturePriorVAE.evaluate` reports them."""
        return average_terms(self.terms, x, batch_size)
