"""Every model class of the course follows the protocol written in helpers/vae.py's docstring.

Each model is built on a tiny shape and checked: the protocol's methods exist with the agreed
signatures, `loss` returns a dict of scalar tensors with a "loss" entry, `sample_prior` and `sample`
return the right shapes, the same generator seed gives the same samples, and no model raises
NotImplementedError for a method of its base class.
"""
import ast
import inspect
import pathlib

import pytest
import torch
from torch import nn

from helpers.conditional.csvae import CSVAE
from helpers.conditional.cvae import ConditionalVAE, InfoFactorisedCVAE
from helpers.local.local_vae import LocalVAE
from helpers.mixture_priors.factorial_prior import FactorialMixturePrior, MixturePriorVAE
from helpers.mixture_priors.vade import VaDE
from helpers.nets import decoder_for, encoder_for
from helpers.regularised import (AAE, RAE, VAE_IOP, WAE_GAN, WAE_MMD, Autoencoder, FlexAE, FlowVAE, MaskAAE,
                                 TwoStageVAE)
from helpers.taming.iwae import IWAE, TwoLayerIWAE
from helpers.taming.vampprior import VampPriorVAE
from helpers.taming.vhp import VHPVAE
from helpers.vae import VAE, LatentVariableModel

D, L, K = 6, 2, 2          # data dimension, latent dimension, attributes
HELPERS = pathlib.Path(__file__).resolve().parents[1] / "helpers"


def _autoencoder_with_prior(cls):
    def build():
        model = cls.for_data((D,), L, hidden=(8,))
        model.fit_expost(model.encode_mean(torch.rand(40, D)).detach(), n_components=2)
        return model
    return build


def _mixture_prior_vae():
    mixture = FactorialMixturePrior([2, 3], 1, n_data=100)
    mixture.initialise(torch.randn(100, L), generator=torch.Generator().manual_seed(0))   # a finite predictive
    return MixturePriorVAE(encoder_for((D,), 2 * L, (8,)), decoder_for(L, (D,), (8,)), mixture)


# name -> (builder, extra keyword arguments for loss/sample/encode, whether the model is conditional)
BUILDERS = {
    "VAE": lambda: VAE.for_data((D,), L, hidden=(8,)),
    "IWAE": lambda: IWAE.for_data((D,), L, hidden=(8,), k=3),
    "TwoLayerIWAE": lambda: TwoLayerIWAE.for_data((D,), (3, L), hidden=(8,), hidden2=(8,), k=3),
    "VampPriorVAE": lambda: VampPriorVAE.for_data((D,), L, hidden=(8,), n_pseudo_inputs=3),
    "VHPVAE": lambda: VHPVAE.for_data((D,), L, hidden=(8,), prior_hidden=(8,), n_prior_samples=3,
                                      n_prior_samples_eval=3),
    "VaDE": lambda: VaDE(encoder_for((D,), 2 * L, (8,)), decoder_for(L, (D,), (8,)), L, 3),
    "MixturePriorVAE": lambda: _mixture_prior_vae(),
    "ConditionalVAE": lambda: ConditionalVAE.for_data((D,), L, K, hidden=(8,), features=8),
    "InfoFactorisedCVAE": lambda: InfoFactorisedCVAE.for_data((D,), L, K, hidden=(8,), features=8,
                                                              adversary_hidden=(8,)),
    "CSVAE": lambda: CSVAE.for_data((D,), L, K, hidden=(8,), features=8, adversary_hidden=(8,)),
    "Autoencoder": _autoencoder_with_prior(Autoencoder),
    "RAE": _autoencoder_with_prior(RAE),
    "WAE_MMD": lambda: WAE_MMD.for_data((D,), L, hidden=(8,)),
    "WAE_GAN": lambda: WAE_GAN.for_data((D,), L, hidden=(8,), disc_hidden=(8,)),
    "AAE": lambda: AAE.for_data((D,), L, hidden=(8,), disc_hidden=(8,)),
    "VAE_IOP": lambda: VAE_IOP.for_data((D,), L, hidden=(8,), ratio_hidden=(8,)),
    "FlowVAE": lambda: FlowVAE.for_data((D,), L, hidden=(8,)),
    "TwoStageVAE": lambda: TwoStageVAE.for_data((D,), L, hidden=(8,), stage2_hidden=(8,)),
    "MaskAAE": lambda: MaskAAE.for_data((D,), L, hidden=(8,), critic_hidden=(8,)),
    "FlexAE": lambda: FlexAE.for_data((D,), L, hidden=(8,), critic_hidden=(8,), generator_hidden=(8,)),
    "LocalVAE": lambda: LocalVAE.for_data((D,), L, hidden=(8,)),
}
CONDITIONAL = {"ConditionalVAE", "InfoFactorisedCVAE", "CSVAE"}
PROTOCOL = ("loss", "encode_mean", "decode_mean", "reconstruct", "sample_prior", "sample")


def _model_classes_in_helpers() -> set[str]:
    """Every class in helpers/ that derives (by name) from a model base: the list this test must cover."""
    bases = {"VAE", "LatentVariableModel", "Autoencoder", "ConditionalVAE"}
    found, models = {}, set()
    for path in HELPERS.rglob("*.py"):
        if path.parts[-2] in ("data", "metrics"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                found[node.name] = [getattr(b, "id", getattr(b, "attr", "")) for b in node.bases]
    changed = True
    while changed:
        changed = False
        for name, parents in found.items():
            if name not in models and (set(parents) & (bases | models)):
                models.add(name)
                changed = True
    # nn.Module models that are not built on a base: named by what they offer (a loss and sampling)
    for name in ("TwoLayerIWAE", "CSVAE", "ConditionalVAE", "AAE", "TwoStageVAE"):
        models.add(name)
    return models


def test_every_model_class_is_covered():
    missing = _model_classes_in_helpers() - set(BUILDERS) - {"VAE", "LatentVariableModel"}
    assert not missing, f"add these model classes to BUILDERS: {sorted(missing)}"


def _inputs(name: str, n: int = 5):
    torch.manual_seed(0)
    x = torch.rand(n, D)
    if name in CONDITIONAL:
        return (x, (torch.rand(n, K) > 0.5).float())
    if name == "LocalVAE":
        return (x, torch.rand(n, 3, D))               # x and a neighbourhood of 3 points per example
    return (x,)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_protocol_methods_and_signatures(name):
    model = BUILDERS[name]()
    for method in PROTOCOL:
        assert callable(getattr(model, method, None)), f"{name} has no {method}"
    for method in ("sample_prior", "sample"):
        params = list(inspect.signature(getattr(model, method)).parameters.values())
        assert [p.name for p in params[:2]] == ["n", "generator"], f"{name}.{method}{[p.name for p in params]}"
        assert params[1].default is None
        extra = params[2:]
        assert all(p.default is not inspect.Parameter.empty or p.kind is inspect.Parameter.KEYWORD_ONLY
                   for p in extra), f"{name}.{method}: options after (n, generator) must be keyword arguments"
    for old in ("prior_samples", "prior_sample", "generate", "masked_prior_sample"):
        assert not hasattr(model, old), f"{name} still has the old name {old}"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_loss_returns_named_scalar_terms(name):
    model = BUILDERS[name]()
    terms = model.loss(*_inputs(name))
    assert isinstance(terms, dict) and "loss" in terms
    for key, value in terms.items():
        assert torch.is_tensor(value) and value.dim() == 0, f"{name}: term {key} is not a scalar tensor"
    assert torch.isfinite(terms["loss"])


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_samples_have_the_right_shapes_and_repeat_with_the_seed(name):
    model = BUILDERS[name]().eval()
    n = 4
    options = {"y": (torch.rand(n, K) > 0.5).float()} if name in CONDITIONAL else {}
    z = model.sample_prior(n, torch.Generator().manual_seed(3), **options)
    assert z.shape == (n, model.latent_dim)
    x = model.sample(n, torch.Generator().manual_seed(3), **options)
    assert x.shape == (n, D)
    again = model.sample(n, torch.Generator().manual_seed(3), **options)
    assert torch.equal(x, again), f"{name}: the same generator seed gave different samples"
    assert torch.equal(z, model.sample_prior(n, torch.Generator().manual_seed(3), **options))
    assert model.sample(n, **options).shape == (n, D)              # generator=None: the global random state


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_encode_decode_means_round_trip_shapes(name):
    model = BUILDERS[name]().eval()
    inputs = _inputs(name)
    x = inputs[0]
    condition = inputs[1:] if name in CONDITIONAL else ()
    code = model.encode_mean(x, *condition)
    assert code.shape == (len(x), model.latent_dim)
    decoded = model.decode_mean(code) if name == "CSVAE" else model.decode_mean(code, *condition)
    assert decoded.shape == x.shape
    assert model.reconstruct(x, *condition).shape == x.shape


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_probabilistic_models_encode_and_decode_to_distributions(name):
    model = BUILDERS[name]()
    if not hasattr(model, "encode") or name in ("CSVAE", "TwoStageVAE"):
        pytest.skip("deterministic encoder, or a code made of several parts")
    inputs = _inputs(name)
    condition = inputs[1:] if name in CONDITIONAL else ()
    q = model.encode(inputs[0], *condition)
    assert isinstance(q, torch.distributions.Distribution)
    z = q.sample()
    assert isinstance(model.decode(z, *condition), torch.distributions.Distribution)


def test_no_model_raises_not_implemented_for_a_base_method():
    """NotImplementedError appears nowhere in the models' code (a model that cannot offer a method of its
    base class should not derive from it)."""
    for path in HELPERS.rglob("*.py"):
        if path.parts[-2] in ("data", "metrics") or path.name == "constraints.py":
            continue    # constraints.py: the schedules' abstract step, not a model
        assert "NotImplementedError" not in path.read_text(), path


def test_a_closed_form_prior_is_offered_only_where_it_exists():
    assert not hasattr(BUILDERS["VHPVAE"](), "prior")
    assert not hasattr(BUILDERS["MixturePriorVAE"](), "prior")
    assert issubclass(VHPVAE, LatentVariableModel) and not issubclass(VHPVAE, VAE)
    vade = BUILDERS["VaDE"]()
    assert vade.prior().log_prob(torch.zeros(3, L)).shape == (3,)     # the GMM prior, not N(0, I)
    assert isinstance(vade.prior(), torch.distributions.MixtureSameFamily)
    assert isinstance(VAE.for_data((D,), L, hidden=(8,)), nn.Module)
