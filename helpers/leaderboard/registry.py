"""The registry: every generative model of the course, by name, behind one build/fit interface.

An `Entry` says how to build a model for data of a given shape and latent size (`build(shape, latent_dim,
budget)`, using the model's own class from the notebook that introduced it) and how to train it with the
course's one training loop (`fit(model, x_train, budget)`, a function of `helpers.leaderboard.fitting`, which
calls `helpers.train.train`). Everything else (evaluation, the table) reads the model only through the
course's model protocol (`helpers.vae`): encode_mean, reconstruct, sample(n, generator) and, where the
model defines a likelihood, log_importance_weights(x, S).

`Budget` is what every row shares: the step budget, batch size, learning rate, hidden widths, seed and
checkpoint folder, plus the few method settings (GECO's kappa^2, the number of GMM components, ...) that
`options` holds, all set once by the notebook. A learner adds a row with `register(name, build, ...)`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torch import nn

from . import fitting


@dataclass
class Budget:
    """The settings every model of the leaderboard shares (and the method options some read)."""

    steps: int
    batch_size: int
    lr: float
    hidden: tuple[int, ...]
    seed: int = 0
    checkpoints: Path | None = None          # a folder for helpers.checkpoints files, or None
    config: dict = field(default_factory=dict)   # saved in every checkpoint: another config starts fresh
    options: dict = field(default_factory=dict)  # method settings: kappa2, gmm_components, beta, ...

    def option(self, name: str, default=None):
        return self.options.get(name, default)


@dataclass
class Entry:
    """One row of the leaderboard."""

    name: str
    build: Callable[[tuple, int, Budget], nn.Module]
    fit: Callable = fitting.fit_plain        # fit(model, x_train, budget, tag) -> list of Histories
    likelihood: bool = False                 # the model defines log p(x) (importance-sampled NLL applies)
    notebook: str = "07"                     # where the course derives it
    family: str = ""
    note: str = ""


REGISTRY: dict[str, Entry] = {}


def register(name: str, build: Callable, fit: Callable = fitting.fit_plain, likelihood: bool = False,
             notebook: str = "07", family: str = "your model", note: str = "", replace: bool = True) -> Entry:
    """Add (or replace) a row: `build(shape, latent_dim, budget) -> model`, `fit(model, x, budget, tag)`."""
    if name in REGISTRY and not replace:
        raise ValueError(f"{name!r} is registered already")
    entry = Entry(name, build, fit, likelihood, notebook, family, note)
    REGISTRY[name] = entry
    return entry


def names(notebook: str | None = None) -> list[str]:
    """The registered names (of one notebook's models when `notebook` is given), in registration order."""
    return [n for n, e in REGISTRY.items() if notebook is None or e.notebook == notebook]


# --- the course's models ------------------------------------------------------------------------------
# Each builder uses the class its notebook uses, with that notebook's construction (see the notebook cited).

def _vae(shape, latent, b):
    from ..vae import VAE
    return VAE.for_data(shape, latent, "bernoulli", hidden=b.hidden)


def _iwae(shape, latent, b):
    from ..taming.iwae import IWAE
    return IWAE.for_data(shape, latent, k=b.option("iwae_k", 5), hidden=b.hidden)


def _geco(shape, latent, b):
    from ..taming.constraints import GECO
    model = _vae(shape, latent, b)
    model.schedule = GECO(b.option("kappa2"), b.option("nu", 0.002), alpha=b.option("ema", 0.95),
                          beta_min=b.option("beta_init", 0.01))
    return model


def _vhp_rewo(shape, latent, b):
    from ..taming.constraints import REWO
    from ..taming.vhp import VHPVAE
    model = VHPVAE.for_data(shape, latent, hidden=b.hidden, prior_hidden=b.option("prior_hidden", (64, 64)),
                            n_prior_samples=b.option("prior_k", 16), n_prior_samples_eval=b.option("nll_inner_k", 10))
    model.schedule = REWO(b.option("kappa2"), b.option("nu", 0.002), b.option("tau", 3.0), alpha=b.option("ema", 0.95),
                          beta_init=b.option("beta_init", 0.01))
    return model


def _vampprior(shape, latent, b):
    from ..taming.vampprior import VampPriorVAE
    k = b.option("pseudo_inputs", 50)
    return VampPriorVAE.for_data(shape, latent, n_pseudo_inputs=k, hidden=b.hidden,
                                 pseudo_init=b.option("pseudo_init")[:k])


def _factorial(shape, latent, b):
    from ..mixture_priors import FactorialMixturePrior, MixturePriorVAE
    base = _vae(shape, latent, b)
    blocks = b.option("mixture_blocks", (4, 4))            # I factors, K_i components each
    block_dim = latent // len(blocks)
    mixture = FactorialMixturePrior(tuple(blocks), block_dim, n_data=b.option("n_train"),
                                    delay=b.option("svi_delay", 10.0), forgetting=b.option("svi_forgetting", 0.7))
    return MixturePriorVAE(base.encoder, base.decoder, mixture)


def _ae(shape, latent, b):
    from ..regularised import Autoencoder
    return Autoencoder.for_data(shape, latent, hidden=b.hidden)


def _rae(shape, latent, b):
    from ..regularised import RAE
    return RAE.for_data(shape, latent, hidden=b.hidden, decoder_reg="l2")


def _wae(shape, latent, b):
    from ..regularised import WAE_MMD
    return WAE_MMD.for_data(shape, latent, hidden=b.hidden)


def _aae(shape, latent, b):
    from ..regularised import AAE
    return AAE.for_data(shape, latent, hidden=b.hidden)


def _flow(shape, latent, b):
    from ..regularised import FlowVAE
    return FlowVAE.for_data(shape, latent, hidden=b.hidden, n_flows=2, free_bits=b.option("free_bits", 0.0))


def _two_stage(shape, latent, b):
    from ..regularised import TwoStageVAE
    return TwoStageVAE.for_data(shape, latent, hidden=b.hidden, stage2_hidden=b.hidden)


def _maskaae(shape, latent, b):
    from ..regularised import MaskAAE
    return MaskAAE.for_data(shape, latent, "bernoulli", hidden=b.hidden, warmup=b.steps // 4, ramp=b.steps // 2)


def _flexae(shape, latent, b):
    from ..regularised import FlexAE
    return FlexAE.for_data(shape, latent, hidden=b.hidden, generator_hidden=b.option("generator_hidden", (64, 64)))


def _local(shape, latent, b):
    from ..local import LocalVAE
    from ..local.lowrank import supports
    from .adapters import LocalVAERow
    local = LocalVAE.for_data(shape, latent, hidden=b.hidden, alpha=b.option("local_alpha", 0.1))
    local.lowrank = supports(local)   # MLPs: the rank-K form (the same numbers as vmap, without B weight copies)
    return LocalVAERow(local, b.option("local_k", 4), b.option("noise_sigma", 0.05))


def _beta_fit(model, x, budget, tag):
    return fitting.fit_plain(model, x, budget, tag, beta=budget.option("beta", 4.0))


COURSE_MODELS = [  # name, build, fit, likelihood, notebook, family, note
    ("VAE", _vae, fitting.fit_plain, True, "00", "VAE", ""),
    ("β-VAE", _vae, _beta_fit, True, "00", "VAE", "beta from the budget's options"),
    ("IWAE", _iwae, fitting.fit_plain, True, "01", "VAE", "trained on the k-sample bound"),
    ("GECO-VAE", _geco, fitting.fit_schedule, True, "01", "constrained VAE", "beta from GECO's multiplier"),
    ("VHP + REWO", _vhp_rewo, fitting.fit_schedule, True, "01", "hierarchical prior", ""),
    ("VampPrior", _vampprior, fitting.fit_plain, True, "01", "learned prior", ""),
    ("Factorial mixture prior", _factorial, fitting.fit_mixture, False, "02", "mixture prior",
     "no IS-NLL: the prior is a variational posterior over mixtures, without a density in closed form"),
    ("AE + GMM", _ae, fitting.fit_expost, False, "04", "regularised AE", "ex-post GMM"),
    ("RAE + GMM", _rae, fitting.fit_expost, False, "04", "regularised AE", "L2 on the decoder, ex-post GMM"),
    ("WAE-MMD", _wae, fitting.fit_plain, False, "04", "regularised AE", ""),
    ("AAE", _aae, fitting.fit_adversarial, False, "04", "regularised AE", "stochastic encoder, no density"),
    ("VAE + IAF", _flow, fitting.fit_plain, True, "04", "flow posterior", "free bits from the budget's options"),
    ("2-stage VAE", _two_stage, fitting.fit_two_stage, False, "04", "two-stage VAE",
     "no IS-NLL: stage 1 is a Gaussian decoder on [0, 1] pixels, the prior a second VAE"),
    ("MaskAAE", _maskaae, fitting.fit_maskaae, False, "05", "latent dimensionality", ""),
    ("FlexAE", _flexae, fitting.fit_adversarial, False, "05", "latent dimensionality", ""),
    ("Local VAE", _local, fitting.fit_local, False, "06", "local structure",
     "evaluated with adapted weights (its codes, reconstructions and conditional samples); no IS-NLL: "
     "its density needs each example's adapted weights"),
]
for _row in COURSE_MODELS:
    register(*_row)
