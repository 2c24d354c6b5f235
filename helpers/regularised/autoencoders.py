"""Deterministic autoencoders made generative after training: AE, RAE, and the ex-post Gaussian mixture.

Source: P. Ghosh, M. S. M. Sajjadi, A. Vergari, M. Black, B. Schölkopf, "From Variational to
Deterministic Autoencoders", ICLR 2020, https://arxiv.org/abs/1903.12436

A VAE's encoder noise mostly acts as a regulariser of the decoder. The RAE drops the noise and
regularises explicitly (their eq. 11):

    L_RAE = L_REC + beta * L_Z + lambda * L_REG,   L_Z = 1/2 ||z||^2,  z = E(x),

with L_REG one of
    RAE-L2   ||theta||^2, weight decay on the decoder's parameters only;
    RAE-GP   ||grad_z D(z)||^2 at the encoded z (a smooth decoder around the training codes).

Nothing makes the codes follow N(0, I), so sampling needs a density fitted to them after training
(ex-post density estimation, their Section 4): a Gaussian mixture on the training codes, sampled and
decoded. A plain autoencoder + the same mixture ("AE + GMM") is the baseline with no regulariser.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import nn

from ..likelihoods import BernoulliLikelihood, make_likelihood
from ..nets import decoder_for, encoder_for

REGULARISERS = ("l2", "gp")


class ExPostGMM:
    """A Gaussian mixture fitted to codes after training (scikit-learn's EM), as a sampler of z.

    Samples are drawn here from the fitted weights, means and covariances with this object's own
    generator (scikit-learn's `sample` reseeds from `random_state` on every call and so would repeat).
    """

    def __init__(self, n_components: int = 10, covariance_type: str = "full", seed: int = 0, **options):
        self.gmm = GaussianMixture(n_components, covariance_type=covariance_type, random_state=seed, **options)
        self.rng = np.random.default_rng(seed)

    def fit(self, codes) -> "ExPostGMM":
        self.gmm.fit(_numpy(codes))
        return self

    @property
    def weights(self) -> np.ndarray:
        return self.gmm.weights_

    @property
    def means(self) -> np.ndarray:
        return self.gmm.means_

    def covariances(self) -> np.ndarray:
        """[K, d, d] covariance matrices whatever `covariance_type` stored."""
        k, d = self.gmm.means_.shape
        cov, kind = self.gmm.covariances_, self.gmm.covariance_type
        if kind == "full":
            return cov
        if kind == "tied":
            return np.broadcast_to(cov, (k, d, d))
        if kind == "diag":
            return np.stack([np.diag(c) for c in cov])
        return cov[:, None, None] * np.eye(d)                          # spherical: one variance each

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """n codes: component c ~ Categorical(weights), z = mean_c + L_c eps, L_c L_c^T = Sigma_c (float32)."""
        rng = self.rng if seed is None else np.random.default_rng(seed)
        chol = np.linalg.cholesky(self.covariances())
        component = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())
        eps = rng.standard_normal((n, self.means.shape[1]))
        z = self.means[component] + np.einsum("nij,nj->ni", chol[component], eps)
        return torch.as_tensor(z, dtype=torch.float32)

    def log_prob(self, codes) -> torch.Tensor:
        """log q(z) under the mixture, per code (float64)."""
        return torch.as_tensor(self.gmm.score_samples(_numpy(codes)))


def _numpy(codes) -> np.ndarray:
    return np.asarray(codes.detach().cpu() if torch.is_tensor(codes) else codes, dtype=np.float64)


COSTS = ("likelihood", "squared")


class Autoencoder(nn.Module):
    """z = E(x), x_hat = D(z); loss = c(x, D(E(x))), the reconstruction cost `cost`:

    "likelihood" (default): -log p(x | D(z)) under the chosen likelihood, "bernoulli" the cross-entropy,
        "gaussian" (fixed sigma) ||x - x_hat||^2 / (2 sigma^2) + const;
    "squared": ||x - x_hat||^2 summed over the data dimensions, x_hat the likelihood's mean of D(z) (a sigmoid for
        "bernoulli"): the L_REC of Ghosh et al. (their eq. 11), with no constant and no sigma.
    Generation after `fit_expost(codes)`: z from the mixture, then D(z).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, likelihood: nn.Module | None = None,
                 cost: str = "likelihood"):
        super().__init__()
        if cost not in COSTS:
            raise ValueError(f"unknown cost {cost!r}: choose one of {', '.join(COSTS)}")
        self.encoder, self.decoder, self.latent_dim, self.cost = encoder, decoder, latent_dim, cost
        self.likelihood = likelihood if likelihood is not None else BernoulliLikelihood()
        self.expost: ExPostGMM | None = None

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, likelihood: str = "bernoulli",
                 hidden: tuple[int, ...] = (256, 256), likelihood_options: dict | None = None, **options):
        """Default architecture (`helpers.nets`); `options` go to the class (e.g. RAE's beta_z)."""
        return cls(encoder_for(data_shape, latent_dim, hidden), decoder_for(latent_dim, data_shape, hidden),
                   latent_dim, make_likelihood(likelihood, **(likelihood_options or {})), **options)

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(self.decoder(z))

    def decode(self, z: torch.Tensor) -> torch.distributions.Distribution:
        """p(x | D(z)), the likelihood the reconstruction cost is the negative log of."""
        return self.likelihood(self.decoder(z))

    def reconstruction(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """c(x, D(z)) per example: -log p(x | D(z)), or ||x - x_hat||^2 (cost="squared"), summed over the data
        dimensions."""
        if self.cost == "squared":
            return (x - self.decode_mean(z)).pow(2).flatten(1).sum(-1)
        return -self.likelihood(self.decoder(z)).log_prob(x)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rec = self.reconstruction(x, self.encoder(x)).mean()
        return {"loss": rec, "rec": rec}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_mean(self.encode_mean(x))

    def fit_expost(self, codes, n_components: int = 10, seed: int = 0, **options) -> ExPostGMM:
        """Fit the ex-post mixture to (training) codes; `sample` then draws from it."""
        self.expost = ExPostGMM(n_components, seed=seed, **options).fit(codes)
        return self.expost

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z from the ex-post mixture. It draws with NumPy: a generator hands it its seed (`initial_seed()`),
        None its own running random state."""
        if self.expost is None:
            raise RuntimeError(f"{type(self).__name__} has no prior to sample: call fit_expost(codes) first")
        seed = generator.initial_seed() if generator is not None else None
        return self.expost.sample(n, seed).to(self._device())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """x = D(z), z from `sample_prior`."""
        return self.decode_mean(self.sample_prior(n, generator))

    def _device(self) -> torch.device:
        return next(self.parameters()).device


def decoder_gradient_penalty(decode, z: torch.Tensor) -> torch.Tensor:
    """||grad_z D(z)||^2 (squared Frobenius norm of the decoder's Jacobian) per example, estimated with one
    random projection: ||J||_F^2 = E_v ||v^T J||^2 for v ~ N(0, I) in data space (Hutchinson), which costs
    one vector-Jacobian product instead of one backward pass per pixel. create_graph: it is a loss term."""
    if not z.requires_grad:
        z = z.detach().requires_grad_(True)
    out = decode(z)
    v = torch.randn_like(out)
    (vjp,) = torch.autograd.grad(out, z, grad_outputs=v, create_graph=True)
    return vjp.pow(2).sum(-1)


class RAE(Autoencoder):
    """Regularised autoencoder (Ghosh et al. 2020): loss = rec + beta_z * 1/2 ||z||^2 (+ reg_weight * L_GP).

    decoder_reg="l2": L_REG = ||theta_D||^2 is applied by the optimiser, as weight decay on the decoder's
    parameter group only: train with `optimizer=model.optimizer(lr)`. Adam's (coupled) weight_decay w
    adds w * theta to the gradient, the gradient of (w / 2) ||theta||^2, so w = 2 * reg_weight.
    decoder_reg="gp": the gradient penalty is a term of the loss ("reg"), and the optimiser is plain Adam.
    cost="squared" trains with the paper's L_REC = ||x - D(E(x))||^2; `paper_weights` scales its MNIST weights to
    other data.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, likelihood: nn.Module | None = None,
                 beta_z: float = 1.0, decoder_reg: str = "l2", reg_weight: float = 1e-3, cost: str = "likelihood"):
        super().__init__(encoder, decoder, latent_dim, likelihood, cost)
        if decoder_reg not in REGULARISERS:
            raise ValueError(f"unknown decoder_reg {decoder_reg!r}: choose one of {', '.join(REGULARISERS)}")
        self.beta_z, self.decoder_reg, self.reg_weight = beta_z, decoder_reg, reg_weight

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encoder(x)
        rec = self.reconstruction(x, z).mean()
        code_norm = 0.5 * z.pow(2).sum(-1).mean()                       # L_Z = 1/2 ||z||^2
        terms = {"rec": rec, "z_norm": code_norm}
        loss = rec + self.beta_z * code_norm
        if self.decoder_reg == "gp":
            terms["reg"] = decoder_gradient_penalty(self.decode_mean, z).mean()
            loss = loss + self.reg_weight * terms["reg"]
        return {"loss": loss, **terms}

    @staticmethod
    def paper_weights(data_dim: int, latent_dim: int) -> dict[str, object]:
        """Options for RAE-L2 with Ghosh et al.'s MNIST weights (their released configuration: embedding weight
        1e-4 on mean_dims z^2, L2 weight 1e-7 on the decoder's kernels), written for *this* class's loss and
        scaled to data of `data_dim` dimensions and `latent_dim` codes.

        Their loss per example is mean_pixels (x - x_hat)^2 + 1e-4 * mean_dims z^2 + 1e-7 ||theta_D||^2; ours sums
        the squared error over the data_dim pixels, i.e. their loss times data_dim (the same minimiser), so
            beta_z * 1/2 ||z||^2 = 1e-4 * data_dim / latent_dim * ||z||^2   ->  beta_z = 2e-4 * data_dim / latent_dim,
            reg_weight * ||theta_D||^2 = 1e-7 * data_dim * ||theta_D||^2    ->  reg_weight = 1e-7 * data_dim.
        """
        return {"beta_z": 2e-4 * data_dim / latent_dim, "reg_weight": 1e-7 * data_dim, "decoder_reg": "l2",
                "cost": "squared"}

    def param_groups(self, weight_decay: float | None = None) -> list[dict]:
        """Two groups: the decoder with weight decay (L2 only), everything else (encoder, likelihood) without."""
        if weight_decay is None:
            weight_decay = 2.0 * self.reg_weight if self.decoder_reg == "l2" else 0.0
        decoder_ids = {id(p) for p in self.decoder.parameters()}
        rest = [p for p in self.parameters() if id(p) not in decoder_ids]
        return [{"params": list(self.decoder.parameters()), "weight_decay": weight_decay},
                {"params": rest, "weight_decay": 0.0}]

    def optimizer(self, lr: float = 1e-3, weight_decay: float | None = None) -> torch.optim.Adam:
        """Adam over `param_groups` (pass it to `helpers.train.train(optimizer=...)`)."""
        return torch.optim.Adam(self.param_groups(weight_decay), lr=lr)
