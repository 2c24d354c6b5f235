"""Issue 24, item 1: float64 only where the device has it, or on the host. CI has no MPS, so the CPU plays a
device without float64 (`helpers.precision.DEVICES_WITHOUT_FLOAT64` widened to "cpu") and a TorchDispatchMode
raises on any op that makes or reads a float64 tensor, except in host-side bookkeeping marked `on_host()`.
Models are built and moved (`.to("cpu")`, as a notebook moves them to its device) before the mode starts."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from helpers import precision
from helpers.metrics.likelihood import nll
from helpers.metrics.mmd import mmd
from helpers.mixture_priors import FactorialMixturePrior, MixturePriorVAE
from helpers.nets import mlp_decoder, mlp_encoder
from helpers.taming.constraints import GECO, REWO
from helpers.taming.vhp import VHPVAE
from helpers.train import train
from helpers.vae import VAE


class NoFloat64(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not precision.in_host_section():
            for t in tree_leaves((args, kwargs, out)):
                if isinstance(t, torch.Tensor) and t.dtype == torch.float64:
                    raise AssertionError(f"float64 op {func} outside the host-side bookkeeping")
                if t is torch.float64:
                    raise AssertionError(f"float64 requested by {func} outside the host-side bookkeeping")
        return out


@pytest.fixture
def no_float64_device(monkeypatch):
    monkeypatch.setattr(precision, "DEVICES_WITHOUT_FLOAT64", {"cpu", "mps"})
    monkeypatch.setenv("COURSE_QUIET", "1")
    torch.manual_seed(0)


def test_the_mode_catches_a_float64_op(no_float64_device):
    with pytest.raises(AssertionError, match="float64"), NoFloat64():
        torch.ones(3).double()


def test_vae_train_and_nll(no_float64_device):
    x = (torch.rand(64, 10) > 0.5).float()
    model = VAE.for_data((10,), latent_dim=2, hidden=(16,)).to("cpu")
    with NoFloat64():
        train(model, x, steps=4, batch_size=16, progress=False)
        value = nll(model, x[:8], n_samples=6, batch_size=4, chunk_size=4)
    assert value == value


@pytest.mark.parametrize("schedule", [GECO(kappa2=0.1, nu=0.1, beta_min=1e-4), REWO(kappa2=100.0, nu=0.01)],
                         ids=["GECO", "REWO"])
def test_vhp_with_a_constraint_schedule(no_float64_device, schedule):
    x = (torch.rand(64, 10) > 0.5).float()
    model = VHPVAE.for_data((10,), latent_dim=2, hidden=(16,), prior_hidden=(8,), n_prior_samples=4)
    model.schedule = schedule
    model.to("cpu")
    assert model.schedule.beta.dtype == torch.float32
    with NoFloat64():
        train(model, x, steps=4, batch_size=16, loss_fn=model.schedule.loss_fn,
              after_step=model.schedule.after_step, progress=False)
    assert model.schedule.beta_value > 0


def test_mmd(no_float64_device):
    x, y = torch.randn(20, 3), torch.randn(30, 3)
    with NoFloat64():
        value = mmd(x, y)
    assert value.dtype == torch.float32


def test_factorial_prior_svi_step_and_training(no_float64_device):
    prior = FactorialMixturePrior((3, 2), 2, n_data=64, delay=10.0, n_supervised=1)
    model = MixturePriorVAE(mlp_encoder((10,), 8, (16,)), mlp_decoder(4, (10,), (16,)), prior,
                            supervision_weight=1.0).to("cpu")
    x = (torch.rand(64, 10) > 0.5).float()
    y = torch.randint(0, 2, (64, 1))
    with NoFloat64():
        prior.svi_step(torch.randn(8, 4), torch.rand(8, 4), torch.tensor([[1], [0], [-1], [1], [0], [1], [-1], [0]]))
        train(model, (x, y), steps=4, batch_size=16, after_step=model.after_step, progress=False)
    assert float(prior.svi_steps) == 5


def test_cpu_keeps_float64(monkeypatch):
    """Off the pretend device nothing changes: CPU and CUDA keep float64 state (the receipts' numbers)."""
    assert precision.wide_dtype("cpu") == torch.float64 and precision.wide_dtype("cuda") == torch.float64
    assert precision.wide_dtype("mps") == torch.float32
    assert GECO(kappa2=0.1, nu=0.1).to("cpu").beta.dtype == torch.float64
