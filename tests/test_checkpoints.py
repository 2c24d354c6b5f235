"""Checkpoints a learner can trust (issues 15 and 21): a changed setting (of the run's config or of the
model, optimiser or data) never resumes a stale run, a damaged or foreign file gives a clear error,
loading runs no code, and bad data are named before training."""
import functools
import os

import pytest
import torch

from helpers.runtime import seed_everything
from helpers.checkpoints import checkpoint_file
from helpers.train import CheckpointError, load_checkpoint, train
from helpers.vae import VAE

X = torch.rand(200, 16, generator=torch.Generator().manual_seed(1))


def run(steps, checkpoint=None, beta=1.0, latent_dim=2, lr=1e-2, hidden=(32,), after_step=None, **options):
    seed_everything(0)
    model = VAE.for_data((16,), latent_dim=latent_dim, hidden=hidden)
    history = train(model, X, steps=steps, batch_size=32, lr=lr, seed=7, checkpoint=checkpoint,
                    checkpoint_every=5, loss_fn=lambda m, batch: m.loss(batch[0], beta),
                    config={"profile": "test", "beta": beta}, after_step=after_step, progress=False, **options)
    return model, history


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters())) and \
        all(torch.equal(x, y) for x, y in zip(a.buffers(), b.buffers()))


def test_a_changed_beta_starts_fresh_and_keeps_the_old_file(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    run(10, ckpt, beta=1.0)
    capsys.readouterr()
    model, history = run(10, ckpt, beta=4.0)
    line = capsys.readouterr().out.strip()
    assert "config.beta=1.0, now config.beta=4.0" in line and "starting fresh" in line and len(line.splitlines()) == 1
    stale = list(tmp_path.glob("run.stale-*.pt"))
    assert len(stale) == 1 and stale[0].name in line
    assert load_checkpoint(stale[0])["run"]["config.beta"] == 1.0
    # the new run is the beta=4 run from scratch, not a continuation of the beta=1 one
    fresh, fresh_history = run(10, beta=4.0)
    assert same_weights(model, fresh) and history["loss"] == fresh_history["loss"]
    assert load_checkpoint(ckpt)["run"]["config.beta"] == 4.0


def test_the_config_is_saved_flat_and_must_hold_plain_values(tmp_path):
    ckpt = tmp_path / "run.pt"
    seed_everything(0)
    train(VAE.for_data((16,), latent_dim=2, hidden=(8,)), X, steps=3, checkpoint=ckpt, progress=False,
          config={"hidden": (8,), "method": "VAE", "n": None, "schedule": {"beta": 2.0, "pairs": [(1, 2)]}})
    run_state = load_checkpoint(ckpt)["run"]
    assert run_state["config.hidden"] == [8] and run_state["config.method"] == "VAE"
    assert run_state["config.schedule.beta"] == 2.0 and run_state["config.schedule.pairs"] == [[1, 2]]
    assert run_state["config.n"] is None
    # refused in any profile (no checkpoint here), so a quick run catches what a gpu run would save
    with pytest.raises(TypeError, match=r"config\.data is a Tensor"):
        train(VAE.for_data((16,), latent_dim=2, hidden=(8,)), X, steps=1, progress=False, config={"data": X})


def test_a_changed_parameter_shape_is_named(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    run(5, ckpt, hidden=(32,))
    run(5, ckpt, hidden=(48,))
    out = capsys.readouterr().out
    assert "model.encoder.1.0.out_features=32, now model.encoder.1.0.out_features=48" in out
    assert "more differences" in out   # the parameter shapes among them
    stale = load_checkpoint(next(tmp_path.glob("run.stale-*.pt")))["run"]
    assert stale["model.encoder.1.0.weight.shape"] == [32, 16]
    assert load_checkpoint(ckpt)["run"]["model.encoder.1.0.weight.shape"] == [48, 16]


def test_checkpoint_file_is_none_without_a_folder(tmp_path):
    assert checkpoint_file("beta_4", None) is None
    assert checkpoint_file("beta_4", tmp_path) == tmp_path / "beta_4.pt"


def test_a_changed_learning_rate_or_seed_is_noticed(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    run(5, ckpt)
    run(5, ckpt, lr=3e-3)
    assert "optimizer.lr=0.01, now optimizer.lr=0.003" in capsys.readouterr().out
    with pytest.raises(CheckpointError, match="optimizer.lr=0.003, now optimizer.lr=0.01"):
        run(5, ckpt, on_mismatch="error")


def test_extending_the_steps_resumes_and_matches_an_uninterrupted_run(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    run(10, ckpt)
    resumed, history = run(25, ckpt)
    assert "starting fresh" not in capsys.readouterr().out and not list(tmp_path.glob("*.stale-*"))
    reference, ref_history = run(25)
    assert same_weights(reference, resumed)
    assert history["loss"] == ref_history["loss"] and len(history) == 25


def test_fewer_steps_than_the_checkpoint_starts_fresh(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    run(20, ckpt)
    model, history = run(10, ckpt)
    assert "is at step 20, beyond steps=10" in capsys.readouterr().out and len(history) == 10


def test_a_changed_latent_size_starts_fresh_with_a_message(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    run(5, ckpt, latent_dim=2)
    model, history = run(5, ckpt, latent_dim=3)
    out = capsys.readouterr().out
    assert "model.latent_dim=2, now model.latent_dim=3" in out and "more differences" in out
    assert len(history) == 5 and model.latent_dim == 3


def test_changed_data_starts_fresh(tmp_path, capsys):
    seed_everything(0)
    ckpt = tmp_path / "run.pt"
    model = VAE.for_data((16,), latent_dim=2, hidden=(32,))
    train(model, X, steps=5, checkpoint=ckpt, progress=False)
    other = X.clone()
    other[100, 3] = 0.5   # one value in the middle of the set
    train(VAE.for_data((16,), latent_dim=2, hidden=(32,)), other, steps=5, checkpoint=ckpt, progress=False)
    assert "data[0].sha256" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["truncated", "random bytes", "empty"])
def test_a_damaged_file_raises_an_error_naming_it(tmp_path, damage):
    ckpt = tmp_path / "run.pt"
    run(5, ckpt)
    raw = ckpt.read_bytes()
    ckpt.write_bytes({"truncated": raw[:len(raw) // 2], "random bytes": os.urandom(5000), "empty": b""}[damage])
    with pytest.raises(CheckpointError, match=r"checkpoint .*run\.pt is truncated or is not a PyTorch checkpoint"
                                              r".*Delete it"):
        run(5, ckpt)
    assert isinstance(CheckpointError("x"), RuntimeError)


def test_a_checkpoint_holding_a_pickled_callable_is_refused(tmp_path):
    ckpt = tmp_path / "run.pt"
    run(5, ckpt)
    state = torch.load(ckpt, weights_only=True)
    state["history"] = functools.partial(print, "this would run on load")   # pickled by reference
    torch.save(state, ckpt)
    with pytest.raises(CheckpointError, match=r"run\.pt holds Python objects.*not loaded"):
        load_checkpoint(ckpt)
    with pytest.raises(CheckpointError, match=r"run\.pt holds Python objects"):
        run(5, ckpt)
    assert ckpt.exists()   # refused, not renamed or overwritten


def test_every_checkpoint_loads_with_weights_only(tmp_path):
    ckpt = tmp_path / "run.pt"
    run(5, ckpt)
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 5 and state["run"]["seed"] == 7 and state["run"]["batch_size"] == 32


def test_a_checkpoint_without_its_run_record_is_refused(tmp_path):
    """Files of the course's older formats (no record of their run) are not guessed at: a clear error."""
    ckpt = tmp_path / "run.pt"
    run(5, ckpt)
    state = torch.load(ckpt, weights_only=True)
    del state["run"]
    torch.save(state, ckpt)
    with pytest.raises(CheckpointError, match=r"run\.pt is not a training checkpoint.*'run'.*Delete it"):
        run(5, ckpt)
    assert ckpt.exists()


def test_nan_data_are_named_before_training():
    x = X.clone()
    x[37, 5] = float("nan")
    with pytest.raises(ValueError, match=r"tensor 0 .*nan at row 37"):
        train(VAE.for_data((16,), latent_dim=2, hidden=(8,)), x, steps=3, progress=False)
    y = torch.zeros(200, 1)
    y[150] = float("inf")
    with pytest.raises(ValueError, match=r"tensor 1 .*inf at row 150"):
        train(VAE.for_data((16,), latent_dim=2, hidden=(8,)), (X, y), steps=3, progress=False,
              loss_fn=lambda m, b: m.loss(b[0]))


def test_data_outside_a_bernoulli_support_get_a_clear_error():
    with pytest.raises(ValueError, match=r"Bernoulli likelihood scores values in \[0, 1\], but the data range from 0.0\d* to 254.9"):
        train(VAE.for_data((16,), latent_dim=2, hidden=(8,)), X * 255, steps=3, progress=False)


def test_an_adversarial_model_and_a_geco_schedule_really_resume(tmp_path, capsys):
    """Their extra state (the adversary's optimiser, GECO's buffers) loads with weights_only=True and their
    run records are the same on a rerun, so an interrupted run continues (no stale file) and ends where an
    uninterrupted one does."""
    from helpers.conditional.cvae import InfoFactorisedCVAE, adversarial_loss_fn
    from helpers.taming.constraints import GECO
    from helpers.likelihoods import GaussianLikelihood
    from helpers.taming.vhp import VHPVAE
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 5, generator=gen), (torch.rand(64, 2, generator=gen) > 0.5).float()
    binary = (torch.rand(64, 10, generator=gen) > 0.5).float()

    def cvae(steps, path):
        torch.manual_seed(0)
        model = InfoFactorisedCVAE.for_data((5,), 2, 2, likelihood=GaussianLikelihood(0.5), hidden=(16,), features=8)
        train(model, (x, y), steps=steps, batch_size=16, optimizer=torch.optim.Adam(model.main_parameters(), lr=1e-2),
              loss_fn=adversarial_loss_fn, checkpoint=path, checkpoint_every=3, progress=False)
        return model

    def geco(steps, path):
        torch.manual_seed(0)
        model = VHPVAE.for_data((10,), latent_dim=2, hidden=(16,), prior_hidden=(8,), n_prior_samples=4)
        model.schedule = GECO(kappa2=5.0, nu=0.1, alpha=0.5)
        train(model, binary, steps=steps, batch_size=16, loss_fn=model.schedule.loss_fn,
              after_step=model.schedule.after_step, checkpoint=path, checkpoint_every=3, progress=False)
        return model

    for build in (cvae, geco):
        build(3, tmp_path / f"{build.__name__}.pt")
        resumed = build(7, tmp_path / f"{build.__name__}.pt")
        assert load_checkpoint(tmp_path / f"{build.__name__}.pt")["step"] == 7
        assert "starting fresh" not in capsys.readouterr().out and not list(tmp_path.glob("*.stale-*"))
        assert same_weights(resumed, build(7, None)), build.__name__
    facts = load_checkpoint(tmp_path / "geco.pt")["run"]
    assert facts["model"] == "helpers.taming.vhp.VHPVAE" and facts["model.schedule.kappa2"] == 5.0
    assert facts["model.schedule.beta"] == 1.0   # the starting beta, not the trained one


def test_a_foreign_torch_file_is_named_as_not_a_training_checkpoint(tmp_path):
    ckpt = tmp_path / "weights.pt"
    torch.save(VAE.for_data((16,), latent_dim=2, hidden=(8,)).state_dict(), ckpt)   # weights only, no run state
    with pytest.raises(CheckpointError, match=r"weights\.pt is not a training checkpoint.*Delete it"):
        run(5, ckpt)
