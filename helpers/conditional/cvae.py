"""Conditional VAEs: the CVAE and the CVAE with information factorisation.

Source: A. Shafarostov, M. Pominova, A. Lyzhov, E. Lazareva, "Learning Latent Subspaces in Variational
Autoencoders" (project proposal, 2019, unpublished), which plans to reimplement J. Klys, J. Snell,
R. Zemel, "Learning Latent Subspaces in Variational Autoencoders" (NeurIPS 2018,
https://arxiv.org/abs/1812.06190), a paper that compares these two models with the Conditional
Subspace VAE of `helpers.conditional.csvae`. Every data point x comes with k binary attributes y in {0, 1}^k
(glasses, smiling, ...).

CVAE, eq. (1) of the proposal (its left side should read log p(x|y)):

    log p(x|y) >= E_{q(z|x,y)}[log p(x|z,y)] - KL(q(z|x,y) || p(z)),   p(z) = N(0, I).

Encode x, change y, decode: the decoder draws the new attribute, and z is meant to carry the rest.

CVAE with information factorisation (CVAE-info): the encoder becomes q(z|x) and an adversary
r_psi(z) predicts y from z, eq. (2):

    max_phi min_psi L(r_psi(z), y),  z ~ q_phi(z|x),  L = binary cross-entropy,

so that z keeps nothing the adversary could use to recover y. `AttributeAdversary` holds r_psi with its
own optimiser (the two-player base `helpers.adversary.Adversary`); `helpers.adversary.adversarial_loss_fn`
is the `loss_fn` that lets `helpers.train.train` alternate the two players. The encoder's side comes in two forms (`penalty=`):

- "cross-entropy": subtract the adversary's cross-entropy, eq. (2) as written. Unbounded: the encoder
  can drive it to infinity by making the adversary confidently *wrong*, which needs z to know y.
- "entropy" (default): maximise the entropy of the adversary's prediction, at most k log 2 nats and
  largest exactly when r_psi(z) says 1/2 whatever y is, i.e. when z looks uninformative. This is the
  form Klys et al. use for the CSVAE (their M2 term).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Independent, Normal

from ..adversary import Adversary, adversarial_loss_fn  # noqa: F401  (the alternating loss_fn)
from ..likelihoods import BernoulliLikelihood, diagonal_gaussian, make_likelihood
from ..nets import decoder_for, encoder_for, mlp
from ..vae import seeded

PENALTIES = ("entropy", "cross-entropy")


def binary_entropy(logits: torch.Tensor) -> torch.Tensor:
    """H(Bernoulli(sigmoid(l))) = -p log p - (1-p) log(1-p) in nats, summed over the last dim (attributes).

    Written as the cross-entropy of the logits against their own probabilities, which is numerically
    stable for any logit; each attribute contributes at most log 2.
    """
    probs = torch.sigmoid(logits)
    return F.binary_cross_entropy_with_logits(logits, probs, reduction="none").sum(-1)


def attribute_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L(r(z), y) = -sum_i [y_i log r_i + (1 - y_i) log(1 - r_i)], per example (eq. 2's L)."""
    return F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(-1)


def adversary_penalty(logits: torch.Tensor, y: torch.Tensor, form: str = "entropy") -> torch.Tensor:
    """The term the *encoder* adds to its loss (minimises), per example.

    "entropy":       -H(r(z))      bounded below by -k log 2; minimal when r(z) = 1/2 for every attribute.
    "cross-entropy": -L(r(z), y)   eq. (2) read literally; unbounded below.
    """
    if form == "entropy":
        return -binary_entropy(logits)
    if form == "cross-entropy":
        return -attribute_cross_entropy(logits, y)
    raise ValueError(f"unknown penalty {form!r}: choose one of {', '.join(PENALTIES)}")


class AttributeAdversary(Adversary):
    """r_psi(z) (CVAE-info) or q_delta(y|z) (CSVAE): logits of the k binary attributes, with its own optimiser.

    The two-player base (`helpers.adversary.Adversary`: `step` on detached codes, `frozen` for the
    encoder's view, optimiser state in checkpoints) with eq. (2)'s inner objective as its loss.
    """

    def __init__(self, latent_dim: int, n_attributes: int, hidden: tuple[int, ...] = (64, 64), lr: float = 1e-3):
        super().__init__(mlp([latent_dim, *hidden, n_attributes]), lr)

    def loss(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """min_psi L(r_psi(z), y): eq. (2)'s inner min, the batch mean of the attributes' cross-entropy."""
        return attribute_cross_entropy(self(z), y).mean()


def _as_likelihood(likelihood) -> nn.Module:
    """A likelihood module as given, or built by name ('bernoulli', 'gaussian', 'gaussian-learned')."""
    return make_likelihood(likelihood) if isinstance(likelihood, str) else likelihood


class ConditionalVAE(nn.Module):
    """CVAE, eq. (1): q_phi(z|x,y), p_theta(x|z,y), p(z) = N(0, I).

    `encoder` maps x to `features` numbers; a linear head maps [features, y] to the mean and log
    standard deviation of q(z|x,y) (or features alone, with `condition_encoder=False`, as in CVAE-info).
    `decoder` maps the concatenation [z, y] to the likelihood's parameters, shaped like x.
    `ConditionalVAE.for_data(shape, latent_dim, n_attributes)` builds the course's default nets.
    """

    def __init__(self, encoder: nn.Module, features: int, decoder: nn.Module, latent_dim: int, n_attributes: int,
                 likelihood: nn.Module | None = None, condition_encoder: bool = True):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim, self.n_attributes = latent_dim, n_attributes
        self.condition_encoder = condition_encoder
        self.head = nn.Linear(features + (n_attributes if condition_encoder else 0), 2 * latent_dim)
        self.likelihood = likelihood if likelihood is not None else BernoulliLikelihood()

    @classmethod
    def for_data(cls, data_shape: tuple[int, ...], latent_dim: int, n_attributes: int,
                 likelihood: str | nn.Module = "bernoulli",
                 hidden: tuple[int, ...] = (256, 256), features: int = 256, **options) -> "ConditionalVAE":
        """Default nets for data of this shape (`helpers.nets.encoder_for` / `decoder_for`)."""
        encoder = nn.Sequential(encoder_for(data_shape, features, hidden), nn.ReLU())
        decoder = decoder_for(latent_dim + n_attributes, data_shape, hidden)
        return cls(encoder, features, decoder, latent_dim, n_attributes, _as_likelihood(likelihood), **options)

    def _check(self, y: torch.Tensor) -> torch.Tensor:
        if y.dim() != 2 or y.shape[1] != self.n_attributes:
            raise ValueError(f"y must be a batch x {self.n_attributes} tensor of 0/1 attributes, got shape "
                             f"{tuple(y.shape)}; pass e.g. dataset.attributes[:, [i, j]]")
        return y.float()

    # --- the distributions ------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Independent:
        """q(z|x,y) (CVAE) or q(z|x) (`condition_encoder=False`, where y is ignored and may be None)."""
        h = self.encoder(x)
        if self.condition_encoder:
            if y is None:
                raise ValueError("this CVAE's encoder is q(z|x,y): pass the attributes y too")
            h = torch.cat([h, self._check(y)], dim=-1)
        return diagonal_gaussian(self.head(h))

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.distributions.Distribution:
        """p(x|z,y): the decoder reads z and the attributes side by side."""
        return self.likelihood(self.decoder(torch.cat([z, self._check(y)], dim=-1)))

    def prior(self) -> Independent:
        """p(z) = N(0, I)."""
        zeros = torch.zeros(self.latent_dim, device=self.head.weight.device, dtype=self.head.weight.dtype)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    # --- objective --------------------------------------------------------------------------------
    def loss(self, x: torch.Tensor, y: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """Negative eq. (1), batch mean: rec = -log p(x|z,y) at one reparameterised z, kl analytic."""
        y = self._check(y)
        q = self.encode(x, y)
        z = q.rsample()
        rec = -self.decode(z, y).log_prob(x)                             # -E_q[log p(x|z,y)], one sample
        kl = torch.distributions.kl_divergence(q, self.prior())         # KL(q(z|x,y) || p(z)), closed form
        return {"loss": (rec + beta * kl).mean(), "rec": rec.mean(), "kl": kl.mean(), "elbo": -(rec + kl).mean()}

    def log_importance_weights(self, x: torch.Tensor, y: torch.Tensor, n_samples: int) -> torch.Tensor:
        """log w[s, b] = log p(x_b|z_sb, y_b) + log p(z_sb) - log q(z_sb|x_b, y_b): weights for log p(x|y)."""
        y = self._check(y)
        q = self.encode(x, y)
        z = q.rsample((n_samples,))                                       # [S, B, L]
        x_rep = x.unsqueeze(0).expand(n_samples, *x.shape).reshape(-1, *x.shape[1:])
        y_rep = y.unsqueeze(0).expand(n_samples, *y.shape).reshape(-1, y.shape[-1])
        log_px = self.decode(z.reshape(-1, self.latent_dim), y_rep).log_prob(x_rep).reshape(n_samples, -1)
        return log_px + self.prior().log_prob(z) - q.log_prob(z)

    def iwae_bound(self, x: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
        """L_k = log 1/k sum_s w_s <= log p(x|y), per example (Burda et al. 2016)."""
        return torch.logsumexp(self.log_importance_weights(x, y, k), 0) - math.log(k)

    # --- using a trained model --------------------------------------------------------------------
    def encode_mean(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The mean of q(z|x,y) (or of q(z|x))."""
        return self.encode(x, y).mean

    def decode_mean(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The mean of p(x|z,y)."""
        return self.likelihood.mean(self.decoder(torch.cat([z, self._check(y)], dim=-1)))

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None, *,
                     y: torch.Tensor | None = None) -> torch.Tensor:
        """z ~ p(z) = N(0, I), [n, latent_dim]; p(z) does not depend on y (accepted for the common call)."""
        with seeded(generator):
            return self.prior().sample((n,))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, *, y: torch.Tensor) -> torch.Tensor:
        """Means of p(x|z,y) for z ~ p(z), with the attributes y [n, k] given."""
        return self.decode_mean(self.sample_prior(n, generator), y)

    @torch.no_grad()
    def codes(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior means of z (what the leakage classifier reads)."""
        return self.encode_mean(x, y)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean of p(x|z,y) at the posterior mean z."""
        return self.transfer(x, y, y)

    @torch.no_grad()
    def transfer(self, x: torch.Tensor, y: torch.Tensor, y_new: torch.Tensor) -> torch.Tensor:
        """Attribute manipulation: encode (x, y), decode the posterior mean with the new attributes."""
        return self.decode_mean(self.encode_mean(x, y), y_new)

    def main_parameters(self) -> list[nn.Parameter]:
        """Encoder, decoder and likelihood parameters (everything but an adversary)."""
        return [p for name, p in self.named_parameters() if not name.startswith("adversary.")]


class InfoFactorisedCVAE(ConditionalVAE):
    """CVAE with information factorisation: q(z|x) instead of q(z|x,y), plus eq. (2) against r_psi(z).

    Encoder loss:    -ELBO + adversary_weight * penalty(r_psi(z), y),   z ~ q(z|x) reparameterised
    Adversary loss:  L(r_psi(z), y) on detached z, with the adversary's own optimiser.
    Train with `helpers.train.train(model, (x, y), loss_fn=adversarial_loss_fn,
    optimizer=torch.optim.Adam(model.main_parameters(), lr))`; the adversary's loss is logged as "adversary_ce".
    """

    adversary_loss_name = "adversary_ce"   # the term under which adversarial_loss_fn logs the adversary's loss

    def __init__(self, encoder: nn.Module, features: int, decoder: nn.Module, latent_dim: int, n_attributes: int,
                 likelihood: nn.Module | None = None, adversary_weight: float = 10.0, penalty: str = "entropy",
                 adversary_hidden: tuple[int, ...] = (64, 64), adversary_lr: float = 1e-3,
                 condition_encoder: bool = False):
        if condition_encoder:
            raise ValueError("CVAE-info encodes q(z|x) without y (the proposal's eq. 2); "
                             "use ConditionalVAE for q(z|x,y)")
        if penalty not in PENALTIES:
            raise ValueError(f"unknown penalty {penalty!r}: choose one of {', '.join(PENALTIES)}")
        super().__init__(encoder, features, decoder, latent_dim, n_attributes, likelihood, condition_encoder=False)
        self.adversary = AttributeAdversary(latent_dim, n_attributes, adversary_hidden, adversary_lr)
        self.adversary_weight, self.penalty = adversary_weight, penalty

    def loss(self, x: torch.Tensor, y: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """-eq. (1) with q(z|x), plus the encoder's side of eq. (2) against the frozen adversary."""
        y = self._check(y)
        q = self.encode(x)
        z = q.rsample()
        rec = -self.decode(z, y).log_prob(x)
        kl = torch.distributions.kl_divergence(q, self.prior())
        logits = self.adversary.frozen(z)                                 # gradient reaches phi through z only
        penalty = adversary_penalty(logits, y, self.penalty)              # eq. (2), encoder side (max_phi)
        loss = rec + beta * kl + self.adversary_weight * penalty
        return {"loss": loss.mean(), "rec": rec.mean(), "kl": kl.mean(), "elbo": -(rec + kl).mean(),
                "adversary_entropy": binary_entropy(logits).mean().detach()}

    def adversary_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """eq. (2), inner min_psi: one step of the adversary's optimiser on z ~ q(z|x) (no gradient to phi)."""
        with torch.no_grad():
            z = self.encode(x).sample()
        return self.adversary.step(z, self._check(y))


# --- evaluation: how much of y is left in z, and does changing y change the image? ----------------
def leakage_accuracy(train_codes, train_y, test_codes, test_y, hidden: tuple[int, ...] = (64, 64),
                     seed: int = 0):
    """Accuracy, per attribute, of a *fresh* classifier that predicts y_i from the codes (held-out split).

    One scikit-learn MLP per attribute on standardised codes, fitted on (train_codes, train_y) with
    early stopping on a tenth of it, scored on (test_codes, test_y). It never saw the adversary, so it
    measures what the codes still say about y, linearly or not. Compare with `chance_accuracy(test_y)`:
    nearer chance means less leakage. Returns a NumPy array of k accuracies.
    """
    import numpy as np
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    as_np = lambda a: a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)  # noqa: E731
    train_codes, train_y, test_codes, test_y = map(as_np, (train_codes, train_y, test_codes, test_y))
    train_codes, test_codes = train_codes.reshape(len(train_codes), -1), test_codes.reshape(len(test_codes), -1)
    if train_y.ndim != 2 or test_y.ndim != 2:
        raise ValueError("pass the attributes as N x k arrays (k = 1 for a single attribute: y[:, None])")
    accuracies = []
    for i in range(train_y.shape[1]):
        probe = make_pipeline(StandardScaler(), MLPClassifier(hidden, max_iter=300, early_stopping=True,
                                                              n_iter_no_change=10, random_state=seed))
        probe.fit(train_codes, train_y[:, i])
        accuracies.append(probe.score(test_codes, test_y[:, i]))
    return np.array(accuracies)


def chance_accuracy(y):
    """Accuracy of always guessing each attribute's majority value: the floor a leak-free code sits at."""
    p = torch.as_tensor(y, dtype=torch.float32).mean(0)
    return torch.maximum(p, 1 - p).numpy()


@torch.no_grad()
def transfer_accuracy(model: nn.Module, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
                      batch_size: int = 500):
    """Flip one attribute at a time and ask a separately trained classifier whether the image changed.

    For each attribute i: y' = y with y_i flipped, x' = model.transfer(x, y, y'), and the classifier's
    logit for i on x' is compared with y'_i. Returns (flipped, kept): per attribute, the fraction of
    flips that worked, and the fraction of the *other* attributes that stayed as they were.
    `classifier` maps images to k logits; train it on real images only, so it judges generated ones.
    """
    k = y.shape[1]
    flipped, kept = torch.zeros(k), torch.zeros(k)
    for i in range(k):
        y_new = y.clone()
        y_new[:, i] = 1 - y_new[:, i]
        chunks = range(0, len(x), batch_size)
        logits = torch.cat([classifier(model.transfer(x[s:s + batch_size], y[s:s + batch_size],
                                                      y_new[s:s + batch_size])) for s in chunks])
        correct = ((logits > 0).float() == y_new).float()
        flipped[i] = correct[:, i].mean()
        others = [j for j in range(k) if j != i]
        kept[i] = correct[:, others].mean() if others else 1.0
    return flipped.numpy(), kept.numpy()
