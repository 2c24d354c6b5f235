"""Issue 24, item 5: progress bars that a saved notebook can show, REWO's switch in words, and a warning
when GECO/REWO end with beta at a clamp."""
import sys
import types
import warnings

import pytest
import torch

import helpers.train as train_module
from helpers.taming.constraints import GECO, REWO
from helpers.taming.vhp import VHPVAE
from helpers.train import progress_style, train, widget_frontend

FRONTEND_VARS = ("JPY_SESSION_NAME", "COLAB_RELEASE_TAG", "COURSE_QUIET", "COURSE_PROGRESS")


@pytest.fixture
def kernel(monkeypatch):
    """An IPython kernel as papermill/nbconvert start it: a shell with a kernel, no frontend in the env."""
    import IPython
    for name in list(FRONTEND_VARS) + [k for k in __import__("os").environ if k.startswith("VSCODE_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    return monkeypatch


def test_a_kernel_without_a_known_frontend_gets_plain_text(kernel):
    assert not widget_frontend()
    assert progress_style() == "text"
    bar = train_module._progress_bar(None, 0, 10, "t")
    try:
        assert type(bar).__module__ == "tqdm.std"   # not tqdm.notebook: nothing empty saved in the notebook
    finally:
        bar.close()


@pytest.mark.parametrize("var", ["JPY_SESSION_NAME", "COLAB_RELEASE_TAG", "VSCODE_PID"])
def test_a_known_frontend_gets_the_widget(kernel, var):
    kernel.setenv(var, "x")
    assert widget_frontend() and progress_style() == "widget"


def test_quiet_and_overrides(kernel):
    kernel.setenv("COURSE_QUIET", "1")
    assert progress_style() is None
    assert train_module._progress_bar(None, 0, 10, "t") is None
    kernel.setenv("COURSE_PROGRESS", "text")
    assert progress_style() == "text"
    kernel.setenv("COURSE_PROGRESS", "none")
    kernel.delenv("COURSE_QUIET")
    assert progress_style() is None


def test_rewo_says_never_switched_in_words():
    schedule = REWO(kappa2=0.1, nu=1.0)
    assert schedule.switch_text == "never switched (still in the initial phase)"
    schedule.switch_step.fill_(42)
    assert schedule.switch_text == "switched at step 42"


def test_a_final_beta_at_its_clamp_warns():
    geco = GECO(kappa2=0.1, nu=1.0, beta_init=0.5, beta_min=0.5, beta_max=2.0)
    with pytest.warns(RuntimeWarning, match="beta_min"):
        geco.finish_training()
    geco.set_beta(10.0)
    with pytest.warns(RuntimeWarning, match="beta_max"):
        geco.finish_training()
    geco.set_beta(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        geco.finish_training()
    rewo = REWO(kappa2=0.1, nu=1.0, beta_init=0.5, beta_min=0.5)   # held at beta_init in its first phase
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rewo.finish_training()


def test_train_warns_once_when_geco_ends_at_its_clamp(monkeypatch):
    monkeypatch.setenv("COURSE_QUIET", "1")
    torch.manual_seed(0)
    x = (torch.rand(64, 10) > 0.5).float()
    model = VHPVAE.for_data((10,), latent_dim=2, hidden=(16,), prior_hidden=(8,), n_prior_samples=4)
    # kappa2 far below any reachable error: every step pushes beta down, onto beta_min
    model.schedule = GECO(kappa2=-1.0, nu=1.0, beta_init=1e-3, beta_min=1e-3)
    with pytest.warns(RuntimeWarning, match="clamp") as record:
        train(model, x, steps=3, batch_size=16, loss_fn=model.schedule.loss_fn,
              after_step=model.schedule.after_step, progress=False)
    assert sum("clamp" in str(w.message) for w in record) == 1
