"""The factorial mixture prior: a product of Bayesian Gaussian mixtures over latent sub-vectors.

Source: U. Paquet, S. K. Ghaisas, O. Tieleman, "A Factorial Mixture Prior for Compositional Deep
Generative Models", arXiv 2018, https://arxiv.org/abs/1812.07480. It generalises the GMM-structured VAE of
M. J. Johnson, D. Duvenaud, A. B. Wiltschko, S. R. Datta, R. P. Adams, "Composing graphical models with
neural networks for structured representations and fast inference", NeurIPS 2016,
https://arxiv.org/abs/1603.06277, and uses the stochastic variational inference of M. D. Hoffman, D. M. Blei,
C. Wang, J. Paisley, "Stochastic Variational Inference", JMLR 14, 2013,
https://jmlr.org/papers/v14/hoffman13a.html.

The model (eq. 1-2): z = [z_1, ..., z_I], z_i in R^D; for each factor i a one-hot r_i ~ Cat(pi_i) picks
component k, and z_i ~ N(mu_ik, diag(alpha_ik)^-1). Hyperpriors: pi_i ~ Dir(c0), (mu_ikd, alpha_ikd) ~
NG(m0, s0, a0, b0). Posterior (eq. 3): q(z|x) from the encoder, q(r_i) = Cat(gamma_i) per data point, and
q(pi_i) = Dir(c_i), q(mu_ikd, alpha_ikd) = NG(m, s, a, b), kept here as natural parameters in buffers (so a
checkpoint keeps them).

`FactorialMixturePrior` holds q(xi) and computes
- the local step gamma (eq. 5), a softmax of eq. (6) plus E log pi, with labelled factors clamped (Sec. 2.5);
- KL[z] (line 4b) and KL[r] (line 4c) per data point, and the global KLs (4d, 4e);
- the batch optimum lambda* (eq. 13) and the SVI step lambda <- (1 - rho) lambda + rho lambda* (eq. 7) with
  rho_t = (t + delay)^-forgetting; on the full data with rho = 1 that is the coordinate-ascent (VB) update,
  which `fit_full_batch` repeats: a variational-Bayes GMM on fixed codes from the same code;
- ancestral sampling with Student-t marginals (eq. 10).
`MixturePriorVAE` is the VAE with this prior; its `after_step` takes the SVI step inside `helpers.train.train`.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Dirichlet

from ..vae import LatentVariableModel, seeded
from . import normal_gamma as ng
from ..precision import Float64State, on_host, wide_dtype


@torch.no_grad()
def average_terms(terms, x: torch.Tensor, batch_size: int = 1000,
                  keys: Sequence[str] = ("elbo", "rec", "kl_z", "kl_r")) -> dict[str, float]:
    """Data averages of the per-point terms `terms(batch)` returns (a dict of [B] tensors), batch by batch.

    The sums stay on the device, in float64 where it has it (each batch's sum, then the total); one copy to the
    host at the end."""
    sums = {key: 0.0 for key in keys}
    for start in range(0, len(x), batch_size):
        t = terms(x[start:start + batch_size])
        for key in keys:
            value = t[key].sum()
            sums[key] = sums[key] + value.to(wide_dtype(value.device))
    with on_host():
        return {key: float(value) / len(x) for key, value in sums.items()}


class FactorialMixturePrior(Float64State, nn.Module):
    """I Gaussian mixtures with Normal-Gamma / Dirichlet hyperpriors over the I blocks of z.

    n_components: K_i for each factor i; block_dim: D (every z_i has D dimensions, z has I*D).
    n_data: N, the size of the training set (the batch optimum is scaled by N / |B|, and the global KLs are
    shared out as 1/N per data point, lines 4d-4e). The first `n_supervised` factors may be clamped to labels.
    delay, forgetting: the Robbins-Monro step rho_t = (t + delay)^(-forgetting), forgetting in (1/2, 1].
    """

    def __init__(self, n_components: Sequence[int], block_dim: int, n_data: int, m0: float = 0.0, s0: float = 1.0,
                 a0: float = 0.01, b0: float = 0.01, c0: float = 1.0, delay: float = 2000.0,
                 forgetting: float = 0.7, n_supervised: int = 0):
        super().__init__()
        self.n_components, self.block_dim, self.n_data = [int(k) for k in n_components], int(block_dim), int(n_data)
        self.n_factors, self.latent_dim = len(self.n_components), len(self.n_components) * int(block_dim)
        self.m0, self.s0, self.a0, self.b0, self.c0 = float(m0), float(s0), float(a0), float(b0), float(c0)
        self.delay, self.forgetting, self.n_supervised = float(delay), float(forgetting), int(n_supervised)
        if not 0.5 < self.forgetting <= 1.0:
            raise ValueError("the forgetting rate must lie in (1/2, 1] for the Robbins-Monro conditions")
        prior = ng.natural_from_mean(*(torch.tensor(v, dtype=torch.float64) for v in (m0, s0, a0, b0)))
        for i, k in enumerate(self.n_components):
            # float64: lambda sums N/|B| * sum_n gamma z^2, and b is a difference of two such large numbers
            self.register_buffer(f"eta_{i}", prior.expand(k, self.block_dim, 4).clone())
            self.register_buffer(f"counts_{i}", torch.full((k,), float(c0), dtype=torch.float64))
        self.register_buffer("svi_steps", torch.zeros((), dtype=torch.float64))

    @property
    def state_dtype(self) -> torch.dtype:
        """float64, or float32 on a device without float64 (see helpers.precision)."""
        return self.svi_steps.dtype

    # --- q(xi) in its two parameterisations ----------------------------------------------------------
    def natural(self, i: int) -> torch.Tensor:
        return getattr(self, f"eta_{i}")

    def counts(self, i: int) -> torch.Tensor:
        return getattr(self, f"counts_{i}")

    def mean_params(self, i: int, dtype=None) -> tuple[torch.Tensor, ...]:
        """(m, s, a, b) of factor i, each [K_i, D]."""
        params = ng.mean_from_natural(self.natural(i))
        return tuple(p.to(dtype) for p in params) if dtype is not None else params

    def expected_weights(self, i: int) -> torch.Tensor:
        c = self.counts(i)
        return c / c.sum()

    def expected_means(self, i: int) -> torch.Tensor:
        return self.mean_params(i)[0]

    def expected_precisions(self, i: int) -> torch.Tensor:
        _, _, a, b = self.mean_params(i)
        return a / b

    def set_means(self, i: int, means: torch.Tensor) -> None:
        """Reset factor i to the hyperprior, with its component means moved to `means` [K_i, D]."""
        m = means.to(self.state_dtype)
        s, a, b = (torch.full_like(m, v) for v in (self.s0, self.a0, self.b0))
        self.natural(i).copy_(ng.natural_from_mean(m, s, a, b))
        self.counts(i).fill_(self.c0)

    def split(self, z: torch.Tensor) -> list[torch.Tensor]:
        return list(z.split(self.block_dim, dim=-1))

    # --- the local step: gamma, eq. (5)-(6) ----------------------------------------------------------
    def assignment_logits(self, mu: torch.Tensor, var: torch.Tensor) -> list[torch.Tensor]:
        """log gamma~_ik = E[log N(z_i; mu_ik, alpha_ik^-1)] (eq. 6, summed over d) + E[log pi_ik], each [B, K_i]."""
        logits = []
        for i, (mu_i, var_i) in enumerate(zip(self.split(mu), self.split(var))):
            m, s, a, b = self.mean_params(i, mu.dtype)
            e_log_n = ng.expected_log_normal(mu_i.unsqueeze(1), var_i.unsqueeze(1), m, s, a, b).sum(-1)
            logits.append(e_log_n + ng.dirichlet_expected_log(self.counts(i)).to(mu.dtype))
        return logits

    def clamp(self, gammas: list[torch.Tensor], labels: torch.Tensor | None) -> list[torch.Tensor]:
        """Sec. 2.5: labelled factors get q(r_i) = delta(r_i - y_i). labels: [B, n_supervised] long, -1 = unlabelled."""
        if labels is None:
            return gammas
        gammas = list(gammas)
        for i in range(labels.shape[1]):
            known = (labels[:, i] >= 0).unsqueeze(-1)
            one_hot = F.one_hot(labels[:, i].clamp(min=0), self.n_components[i]).to(gammas[i].dtype)
            gammas[i] = torch.where(known, one_hot, gammas[i])
        return gammas

    def responsibilities(self, mu: torch.Tensor, var: torch.Tensor, labels: torch.Tensor | None = None
                         ) -> list[torch.Tensor]:
        """gamma_i = softmax_k(log gamma~_ik) (eq. 5), clamped where labelled."""
        return self.clamp([torch.softmax(l, -1) for l in self.assignment_logits(mu, var)], labels)

    # --- the ELBO's terms ----------------------------------------------------------------------------
    def kl_z(self, mu: torch.Tensor, var: torch.Tensor, gammas: list[torch.Tensor]) -> torch.Tensor:
        """Line (4b) per data point: sum_i sum_k gamma_ik E_q(mu, alpha) KL(q(z_i|x) || N(mu_ik, alpha_ik^-1)), [B]."""
        total = 0.0
        for i, (mu_i, var_i) in enumerate(zip(self.split(mu), self.split(var))):
            m, s, a, b = self.mean_params(i, mu.dtype)
            kl = ng.expected_kl_gaussian(mu_i.unsqueeze(1), var_i.unsqueeze(1), m, s, a, b).sum(-1)   # [B, K]
            total = total + (gammas[i] * kl).sum(-1)
        return total

    def kl_r(self, gammas: list[torch.Tensor]) -> torch.Tensor:
        """Line (4c) per data point: sum_i E_q(pi_i) KL(Cat(gamma_i) || Cat(pi_i)) = sum gamma (log gamma - E log pi)."""
        total = 0.0
        for i, g in enumerate(gammas):
            e_log_pi = ng.dirichlet_expected_log(self.counts(i)).to(g.dtype)
            total = total + (torch.xlogy(g, g) - g * e_log_pi).sum(-1)
        return total

    def global_kl(self) -> torch.Tensor:
        """Lines (4d) + (4e) times N: sum of KL(q(mu, alpha) || p(mu, alpha)) and KL(q(pi) || p(pi))."""
        total = torch.zeros((), dtype=self.state_dtype, device=self.svi_steps.device)
        for i in range(self.n_factors):
            total = total + ng.kl(*self.mean_params(i), self.m0, self.s0, self.a0, self.b0).sum()
            total = total + ng.dirichlet_kl(self.counts(i), self.c0)
        return total

    def supervised_cross_entropy(self, mu: torch.Tensor, var: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The term of eq. (8) without Delta: -sum_i y_i . log g_i over the labelled factors, per data point [B]."""
        logits = self.assignment_logits(mu, var)
        total = torch.zeros(len(mu), dtype=mu.dtype, device=mu.device)
        for i in range(labels.shape[1]):
            known = labels[:, i] >= 0
            ce = F.cross_entropy(logits[i], labels[:, i].clamp(min=0), reduction="none")
            total = total + torch.where(known, ce, torch.zeros_like(ce))
        return total

    def collapsed_elbo(self, mu: torch.Tensor, var: torch.Tensor, labels: torch.Tensor | None = None,
                       chunk: int = 4096) -> torch.Tensor:
        """The ELBO of the mixture on fixed codes q(z) (its entropy left out, so var = 0 is allowed):
        N/|B| sum_n sum_i sum_k gamma (E log N + E log pi - log gamma) - global KL, with gamma at eq. (5).
        Computed `chunk` rows at a time ([chunk, K, D] intermediates, not [N, K, D])."""
        local = torch.zeros((), dtype=self.state_dtype, device=mu.device)
        for start in range(0, len(mu), chunk):
            rows = slice(start, start + chunk)
            logits = self.assignment_logits(mu[rows], var[rows])
            gammas = self.clamp([torch.softmax(l, -1) for l in logits], None if labels is None else labels[rows])
            local = local + sum((g * l - torch.xlogy(g, g)).sum() for g, l in zip(gammas, logits)).to(self.state_dtype)
        return self.n_data / len(mu) * local - self.global_kl()

    def responsibilities_chunked(self, mu: torch.Tensor, var: torch.Tensor, labels: torch.Tensor | None = None,
                                 chunk: int = 4096) -> list[torch.Tensor]:
        """`responsibilities` for many codes, `chunk` rows at a time."""
        parts = [self.responsibilities(mu[s:s + chunk], var[s:s + chunk], None if labels is None else labels[s:s + chunk])
                 for s in range(0, len(mu), chunk)]
        return [torch.cat(p) for p in zip(*parts)]

    # --- the global step: eq. (13) and (7) -----------------------------------------------------------
    def batch_optimum(self, mu: torch.Tensor, var: torch.Tensor, gammas: list[torch.Tensor], scale: float
                      ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """lambda* of eq. (13) and c* = c0 + N_k for each factor, with N/|B| = `scale`:
            N_k = scale sum_n gamma_nk,  S1 = scale sum_n gamma_nk mu_n,  S2 = scale sum_n gamma_nk (mu_n^2 + var_n)
            eta* = [a0 + N_k/2 - 1/2,  -(b0 + s0 m0^2/2 + S2/2),  s0 m0 + S1,  -(s0 + N_k)/2]."""
        optimum = []
        for i, (mu_i, var_i) in enumerate(zip(self.split(mu), self.split(var))):
            g = gammas[i].to(self.state_dtype)
            mu_i, var_i = mu_i.to(self.state_dtype), var_i.to(self.state_dtype)
            n_k = scale * g.sum(0)[:, None]                                  # [K, 1]
            s1 = scale * g.T @ mu_i                                          # [K, D]
            s2 = scale * g.T @ (mu_i ** 2 + var_i)
            eta = torch.stack([(self.a0 + 0.5 * n_k - 0.5).expand_as(s1),
                               -(self.b0 + 0.5 * self.s0 * self.m0 ** 2 + 0.5 * s2),
                               self.s0 * self.m0 + s1,
                               (-0.5 * (self.s0 + n_k)).expand_as(s1)], dim=-1)
            optimum.append((eta, self.c0 + n_k[:, 0]))
        return optimum

    @torch.no_grad()
    def natural_step(self, mu: torch.Tensor, var: torch.Tensor, gammas: list[torch.Tensor], rho: float,
                     scale: float) -> None:
        """lambda <- (1 - rho) lambda + rho lambda* (eq. 7): a natural-gradient step of length rho."""
        for i, (eta_star, c_star) in enumerate(self.batch_optimum(mu, var, gammas, scale)):
            self.natural(i).mul_(1 - rho).add_(rho * eta_star)
            self.counts(i).mul_(1 - rho).add_(rho * c_star)

    def step_size(self, t) -> torch.Tensor:
        """rho_t = (t + delay)^(-forgetting)."""
        return (torch.as_tensor(t, dtype=self.state_dtype) + self.delay) ** (-self.forgetting)

    @torch.no_grad()
    def svi_step(self, mu: torch.Tensor, var: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        """One SVI step on a minibatch (steps 1 and 3 of Sec. 2.4): gamma at its optimum, then eq. (7).
        rho stays a device tensor, so no step waits on the GPU."""
        self.svi_steps += 1
        rho = self.step_size(self.svi_steps)
        gammas = self.responsibilities(mu, var, labels)
        self.natural_step(mu, var, gammas, rho, self.n_data / len(mu))

    @torch.no_grad()
    def fit_full_batch(self, mu: torch.Tensor, var: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                       iterations: int = 100, init_resp: list[torch.Tensor] | None = None,
                       tol: float = 0.0) -> list[float]:
        """Variational-Bayes coordinate ascent on fixed codes: gamma step, then a natural step of length one on
        all the codes (scaled by N / len(mu)); `init_resp` takes a lambda step from given responsibilities first.
        Returns the collapsed ELBO after each iteration (it never decreases). Stops early when it rises by less
        than `tol`."""
        var = torch.zeros_like(mu) if var is None else var
        scale = self.n_data / len(mu)
        if init_resp is not None:
            self.natural_step(mu, var, self.clamp(init_resp, labels), 1.0, scale)
        history = []
        for _ in range(iterations):
            self.natural_step(mu, var, self.responsibilities_chunked(mu, var, labels), 1.0, scale)
            history.append(float(self.collapsed_elbo(mu, var, labels)))
            if len(history) > 1 and abs(history[-1] - history[-2]) <= tol:
                break
        return history

    @torch.no_grad()
    def initialise(self, mu: torch.Tensor, var: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                   iterations: int = 20, generator: torch.Generator | None = None) -> list[float]:
        """Seed q(xi) from encoded training data (Sec. 2.4): component means at K_i randomly chosen codes (our
        choice; the paper leaves it open), then `iterations` full-batch gamma and lambda steps."""
        for i, mu_i in enumerate(self.split(mu)):
            rows = torch.randperm(len(mu_i), generator=generator)[:self.n_components[i]]
            if len(rows) < self.n_components[i]:   # fewer codes than components: repeat some
                extra = torch.randint(len(mu_i), (self.n_components[i] - len(rows),), generator=generator)
                rows = torch.cat([rows, extra])
            self.set_means(i, mu_i[rows.to(mu_i.device)])
        return self.fit_full_batch(mu, var, labels, iterations)

    # --- sampling, Sec. 2.6 ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, clamp: torch.Tensor | None = None, generator_seed: int | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, k): pi_i ~ Dir(c_i), k_i ~ Cat(pi_i) unless clamp[:, i] >= 0 gives it, z_i ~ Student-t (eq. 10)."""
        if generator_seed is not None:
            torch.manual_seed(generator_seed)
        device = self.svi_steps.device
        zs, ks = [], []
        for i in range(self.n_factors):
            pi = Dirichlet(self.counts(i)).sample((n,))
            k = Categorical(probs=pi).sample()
            if clamp is not None and i < clamp.shape[1]:
                k = torch.where(clamp[:, i].to(device) >= 0, clamp[:, i].to(device), k)
            m, s, a, b = (p[k] for p in self.mean_params(i))
            zs.append(ng.predictive_student_t(m, s, a, b).sample())
            ks.append(k)
        return torch.cat(zs, -1).float(), torch.stack(ks, -1)


class MixturePriorVAE(LatentVariableModel):
    """A VAE whose prior is a `FactorialMixturePrior` (I = 1: the GMM-SVAE; I > 1: the factorial model).

    The prior is a Bayesian mixture known through its variational posterior: the model samples it
    (`sample_prior`, the Student-t predictive) but has no closed-form `prior()`, so it derives from
    `LatentVariableModel`, not `VAE`.

    loss(x, labels=None) returns the negative ELBO (4a-4e) per data point, plus Delta times the supervised
    cross-entropy of eq. (8) when labels are given: labels [B, n_supervised], -1 where unknown.
    gamma is computed without gradient: it sits at its optimum, so (envelope theorem) the gradient through it
    is zero for unlabelled factors. lambda is not a parameter: `after_step` (pass it to `train`) re-encodes the
    batch with the updated encoder and takes the SVI step (Sec. 2.4, step 3).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, mixture: FactorialMixturePrior,
                 likelihood: nn.Module | None = None, supervision_weight: float = 0.0):
        super().__init__(encoder, decoder, mixture.latent_dim, likelihood)
        self.mixture = mixture
        self.supervision_weight = float(supervision_weight)
        self._last_batch = None

    def terms(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Per data point: rec = -E log p(x|z) (one sample), kl_z (4b), kl_r (4c), elbo of eq. (11)."""
        q = self.encode(x)
        mu, var = q.mean, q.variance
        rec = -self.decode(q.rsample()).log_prob(x)
        with torch.no_grad():
            gammas = self.mixture.responsibilities(mu, var, labels)
        kl_z, kl_r = self.mixture.kl_z(mu, var, gammas), self.mixture.kl_r(gammas)
        return {"rec": rec, "kl_z": kl_z, "kl_r": kl_r, "elbo": -(rec + kl_z + kl_r), "mu": mu, "var": var}

    def loss(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        t = self.terms(x, labels)
        global_kl = (self.mixture.global_kl() / self.mixture.n_data).to(x.dtype)   # lines 4d-4e, per data point
        loss = (t["rec"] + t["kl_z"]).mean() + t["kl_r"].mean().detach() + global_kl.detach()
        out = {"rec": t["rec"].mean(), "kl_z": t["kl_z"].mean(), "kl_r": t["kl_r"].mean(),
               "elbo": t["elbo"].mean() - global_kl}
        if labels is not None and self.supervision_weight > 0:
            ce = self.mixture.supervised_cross_entropy(t["mu"], t["var"], labels).mean()
            loss = loss + self.supervision_weight * ce
            out["ce"] = ce
        out["loss"] = loss
        self._last_batch = (x.detach(), None if labels is None else labels.detach())
        return out

    @torch.no_grad()
    def after_step(self, step: int, terms: dict) -> None:
        """The SVI step on the batch just used, re-encoded after the gradient step (Sec. 2.4, step 3)."""
        x, labels = self._last_batch
        q = self.encode(x)
        self.mixture.svi_step(q.mean, q.variance, labels)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, batch_size: int = 1000) -> dict[str, float]:
        """Test averages of the terms of eq. (11): elbo, rec, kl_z, kl_r (gamma unclamped: labels unseen)."""
        return average_terms(self.terms, x, batch_size)

    @torch.no_grad()
    def assignments(self, x: torch.Tensor, batch_size: int = 1000) -> list[torch.Tensor]:
        """q(r_i | x) for every factor (eq. 5 with the posterior means of q(z|x)), each [N, K_i]."""
        parts = []
        for start in range(0, len(x), batch_size):
            q = self.encode(x[start:start + batch_size])
            parts.append(self.mixture.responsibilities(q.mean, q.variance))
        return [torch.cat(p) for p in zip(*parts)]

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None, clamp: torch.Tensor | None = None
                     ) -> torch.Tensor:
        """z from the Student-t predictive (Sec. 2.6); clamp [n, I'] fixes the components of the first factors
        (-1: drawn). The components themselves: `model.mixture.sample(n, clamp)`."""
        with seeded(generator):
            z, _ = self.mixture.sample(n, clamp)
        return z.to(self._device())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, clamp: torch.Tensor | None = None
               ) -> torch.Tensor:
        """Means of p(x|z) for z from the Student-t predictive (Sec. 2.6), components clamped as above."""
        return self.decode_mean(self.sample_prior(n, generator, clamp=clamp))

