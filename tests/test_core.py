"""helpers core: KLs, likelihoods, the VAE's importance weights, the training loop, profiles."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Independent, MultivariateNormal, Normal

from helpers.likelihoods import BernoulliLikelihood, GaussianLikelihood, gaussian_kl, make_likelihood, monte_carlo_kl
from helpers.nets import conv_decoder_64, conv_encoder_64, count_parameters, decoder_for, encoder_for
from helpers.runtime import cap, checkpoint_dir, pick_profile_values, resolve_profile, resolve_smoke, seed_everything
from helpers.train import BatchSampler, NonFiniteLossError, train
from helpers.vae import VAE


# --- KL ------------------------------------------------------------------------------------------
def test_gaussian_kl_matches_hand_computed_value():
    # KL(N(1, 2^2) || N(0, 1)) = 1/2 (4 + 1 - 1 - log 4) = 2 - log 2, per dimension
    mu, std = torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0, 2.0]])
    assert gaussian_kl(mu, std).item() == pytest.approx(2 * (2 - math.log(2)), abs=1e-6)
    # KL(N(0, 1) || N(3, 0.5^2)) = 1/2 (1/0.25 + 9/0.25 - 1 + log 0.25)
    expected = 0.5 * (1 / 0.25 + 9 / 0.25 - 1 + math.log(0.25))
    assert gaussian_kl(torch.zeros(1, 1), torch.ones(1, 1), 3.0, 0.5).item() == pytest.approx(expected, abs=1e-6)
    assert gaussian_kl(torch.zeros(3, 4), torch.ones(3, 4)).abs().max().item() == 0.0


def test_gaussian_kl_agrees_with_torch_distributions_and_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    mu_q, std_q = torch.randn(5, 3, generator=gen), torch.rand(5, 3, generator=gen) + 0.3
    mu_p, std_p = torch.randn(5, 3, generator=gen), torch.rand(5, 3, generator=gen) + 0.5
    q, p = Independent(Normal(mu_q, std_q), 1), Independent(Normal(mu_p, std_p), 1)
    closed = gaussian_kl(mu_q, std_q, mu_p, std_p)
    torch.testing.assert_close(closed, torch.distributions.kl_divergence(q, p), rtol=1e-5, atol=1e-5)
    torch.manual_seed(1)
    errors = [(monte_carlo_kl(q, p, n) - closed).abs().max().item() for n in (100, 10_000, 400_000)]
    assert errors[-1] < 0.02 * closed.max().item() + 0.01
    assert errors[-1] < errors[0]  # the estimate converges to the closed form


# --- likelihoods ---------------------------------------------------------------------------------
def test_bernoulli_and_gaussian_log_probs_match_formulas():
    logits = torch.tensor([[0.0, 2.0, -1.0]])
    x = torch.tensor([[1.0, 0.0, 1.0]])
    expected = sum(xi * math.log(torch.sigmoid(l)) + (1 - xi) * math.log(1 - torch.sigmoid(l))
                   for xi, l in zip(x[0].tolist(), logits[0]))
    assert BernoulliLikelihood()(logits).log_prob(x).item() == pytest.approx(float(expected), abs=1e-5)
    mean = torch.tensor([[0.5, -1.0]])
    sigma = 0.2
    g = GaussianLikelihood(sigma)(mean).log_prob(torch.tensor([[0.7, -1.0]]))
    expected = -2 * math.log(sigma * math.sqrt(2 * math.pi)) - 0.5 * (0.2 / sigma) ** 2
    assert g.item() == pytest.approx(expected, abs=1e-5)
    assert len(list(make_likelihood("gaussian-learned").parameters())) == 1
    with pytest.raises(ValueError, match="bernoulli"):
        make_likelihood("poisson")


# --- architectures ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(64,), (1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 64, 64)])
def test_encoder_and_decoder_shapes_round_trip(shape):
    enc, dec = encoder_for(shape, 10), decoder_for(5, shape)
    assert enc(torch.zeros(2, *shape)).shape == (2, 10)
    assert dec(torch.zeros(2, 5)).shape == (2, *shape)


def test_table3_architecture_parameter_count():
    # Table 3 of the Localized Generations ICLR 2020 submission (Locatello et al. 2019's 64x64
    # architecture; see helpers.nets), counted by hand: conv weights + biases, then the FC layers.
    convs = (4 * 4 * 3 * 32 + 32) + (4 * 4 * 32 * 32 + 32) + (4 * 4 * 32 * 64 + 64) + (4 * 4 * 64 * 64 + 64)
    fcs = (1024 * 256 + 256) + (256 * 20 + 20)
    assert count_parameters(conv_encoder_64(3, 20)) == convs + fcs
    up = (4 * 4 * 64 * 64 + 64) + (4 * 4 * 64 * 32 + 32) + (4 * 4 * 32 * 32 + 32) + (4 * 4 * 32 * 3 + 3)
    assert count_parameters(conv_decoder_64(10, 3)) == (10 * 256 + 256) + (256 * 1024 + 1024) + up


# --- the VAE's importance weights: exact on a linear-Gaussian model -----------------------------
def linear_gaussian_vae(latent=2, data=4, sigma=0.5, seed=0):
    """p(z)=N(0,I), p(x|z)=N(Wz+b, sigma^2 I) with W's columns orthogonal, so the exact posterior
    N(S W^T (x-b) / sigma^2, S), S = (I + W^T W / sigma^2)^-1, is diagonal and the encoder can be set to it."""
    gen = torch.Generator().manual_seed(seed)
    q_mat, _ = torch.linalg.qr(torch.randn(data, latent, generator=gen))
    W = q_mat * torch.tensor([1.5, 0.7])[:latent]
    b = torch.randn(data, generator=gen)
    decoder, encoder = nn.Linear(latent, data), nn.Linear(data, 2 * latent)
    S_diag = 1.0 / (1.0 + (W * W).sum(0) / sigma**2)
    A = (S_diag[:, None] * W.T) / sigma**2
    with torch.no_grad():
        decoder.weight.copy_(W); decoder.bias.copy_(b)
        encoder.weight.zero_(); encoder.weight[:latent] = A
        encoder.bias.zero_(); encoder.bias[:latent] = -A @ b; encoder.bias[latent:] = 0.5 * S_diag.log()
    model = VAE(encoder, decoder, latent, GaussianLikelihood(sigma))
    exact = MultivariateNormal(b, W @ W.T + sigma**2 * torch.eye(data))
    return model, exact


def test_importance_weights_equal_exact_marginal_likelihood_with_exact_posterior():
    model, exact = linear_gaussian_vae()
    x = exact.sample((16,))
    log_w = model.log_importance_weights(x, 64)
    assert log_w.shape == (64, 16)
    # With q = the exact posterior every weight equals p(x): zero Monte-Carlo error.
    torch.testing.assert_close(log_w, exact.log_prob(x).expand(64, -1), atol=1e-4, rtol=0)
    torch.testing.assert_close(model.iwae_bound(x, 10), exact.log_prob(x), atol=1e-4, rtol=0)


def test_importance_sampled_nll_with_broadened_posterior_is_within_monte_carlo_error():
    model, exact = linear_gaussian_vae(seed=3)
    with torch.no_grad():
        model.encoder.bias[2:] += math.log(1.5)  # a deliberately too-wide q: weights now vary
    torch.manual_seed(0)
    x = exact.sample((8,))
    log_w = model.log_importance_weights(x, 20_000)
    estimate = torch.logsumexp(log_w, 0) - math.log(20_000)
    # delta-method standard error of log(mean w): std(w) / (sqrt(S) mean(w))
    w = (log_w - log_w.max(0).values).exp()
    stderr = w.std(0) / (w.mean(0) * math.sqrt(20_000))
    assert ((estimate - exact.log_prob(x)).abs() < 4 * stderr + 1e-3).all()
    elbo = log_w.mean(0)  # the average single-sample bound: the ELBO, strictly below log p(x) when q != posterior
    assert (elbo < exact.log_prob(x) - 0.01).all()


def digits_tensor():
    from sklearn.datasets import load_digits
    return torch.tensor(load_digits().data / 16.0, dtype=torch.float32)


def test_iwae_bound_increases_with_k_on_a_trained_model():
    seed_everything(0)
    x = (digits_tensor() > 0.5).float()
    model = VAE.for_data((64,), latent_dim=4, hidden=(128,))
    train(model, x[:1500], steps=400, batch_size=100, lr=3e-3, progress=False)
    torch.manual_seed(1)
    with torch.no_grad():
        bounds = [torch.stack([model.iwae_bound(x[1500:1700], k) for _ in range(3)]).mean().item()
                  for k in (1, 5, 50)]
    assert bounds[0] < bounds[1] < bounds[2], bounds
    assert bounds[2] - bounds[0] > 0.2  # a visible gap in nats (about 0.5 here), not noise


# --- training loop --------------------------------------------------------------------------------
def small_run(steps, checkpoint=None, after_step=None, checkpoint_every=5):
    seed_everything(0)
    x = torch.rand(200, 16, generator=torch.Generator().manual_seed(1))
    model = VAE.for_data((16,), latent_dim=2, hidden=(32,))
    history = train(model, x, steps=steps, batch_size=32, lr=1e-2, seed=7, checkpoint=checkpoint,
                    checkpoint_every=checkpoint_every, after_step=after_step, progress=False)
    return model, history


class Killed(Exception):
    pass


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path):
    reference, ref_history = small_run(30)

    def kill_at_12(step, terms):
        if step == 12:
            raise Killed  # steps 11 and 12 were done after the last checkpoint (10): they are lost
    ckpt = tmp_path / "run.pt"
    with pytest.raises(Killed):
        small_run(30, checkpoint=ckpt, after_step=kill_at_12)
    assert torch.load(ckpt, weights_only=False)["step"] == 10
    resumed, history = small_run(30, checkpoint=ckpt)
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert history["loss"] == ref_history["loss"]
    # A finished run is not trained again: rerunning the cell returns at once with the same model.
    again, _ = small_run(30, checkpoint=ckpt)
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), again.state_dict().values()))


KILL_SCRIPT = """
import os, signal, sys, torch
sys.path.insert(0, {root!r})
from tests.test_core import small_run
def kill(step, terms):
    if step == 17:
        os.kill(os.getpid(), signal.SIGKILL)
small_run(30, checkpoint={ckpt!r}, after_step=kill)
"""


def test_resume_after_a_real_process_kill(tmp_path):
    ckpt = str(tmp_path / "killed.pt")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT.format(root=root, ckpt=ckpt)], capture_output=True)
    assert proc.returncode == -9
    assert torch.load(ckpt, weights_only=False)["step"] == 15
    reference, _ = small_run(30)
    resumed, _ = small_run(30, checkpoint=ckpt)
    assert all(torch.equal(a, b) for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()))


def test_nan_guard_names_the_term_and_the_step():
    model = VAE.for_data((4,), latent_dim=2, hidden=(8,))

    def loss_fn(m, batch):
        terms = m.loss(*batch)
        if loss_fn.calls == 3:
            terms["kl"] = terms["kl"] * float("nan")
        loss_fn.calls += 1
        return terms
    loss_fn.calls = 1
    with pytest.raises(NonFiniteLossError, match=r"loss term 'kl' became nan at step 3"):
        train(model, torch.rand(50, 4), steps=10, batch_size=10, loss_fn=loss_fn, progress=False)


# --- profiles -----------------------------------------------------------------------------------
def test_profile_resolution(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "paper")
    assert resolve_profile(None) == "paper"
    assert resolve_profile("quick") == "quick" and resolve_profile(" GPU ") == "gpu"
    monkeypatch.delenv("COURSE_PROFILE")
    assert resolve_profile(None) == ("gpu" if torch.cuda.is_available() else "quick")
    with pytest.raises(ValueError, match="quick, gpu, paper"):
        resolve_profile("fast")


def test_smoke_flag_from_argument_or_environment(monkeypatch):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    assert resolve_smoke(None) is False and resolve_smoke(True) is True
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert resolve_smoke(None) is True and resolve_smoke(False) is False


def test_profile_table_column_and_smoke_caps():
    table = {"steps": {"quick": 100, "gpu": 5000, "paper": 300_000},
             "n_train": {"quick": 500, "gpu": None, "paper": None},
             "datasets": {"quick": ["digits"], "gpu": ["mnist", "omniglot"], "paper": ["mnist", "omniglot"]},
             "lr": {"quick": 1e-3, "gpu": 1e-3, "paper": 5e-4}}
    caps = {"steps": 8, "n_train": 64, "datasets": 1}
    assert pick_profile_values(table, "gpu") == {"steps": 5000, "n_train": None,
                                                 "datasets": ["mnist", "omniglot"], "lr": 1e-3}
    assert pick_profile_values(table, "gpu", smoke=True, caps=caps) == {"steps": 8, "n_train": 64,
                                                                        "datasets": ["mnist"], "lr": 1e-3}
    assert pick_profile_values(table, "quick", smoke=False, caps=caps)["steps"] == 100
    assert cap(3, 8) == 3 and cap(None, 8) == 8 and cap(2.5, 1) == 1.0
    with pytest.raises(KeyError, match="no 'gpu' column for a"):
        pick_profile_values({"a": {"quick": 1, "paper": 2}}, "gpu")
    with pytest.raises(KeyError, match="caps name sizes the table does not have: b"):
        pick_profile_values({"a": {"quick": 1, "gpu": 1, "paper": 2}}, "gpu", smoke=True, caps={"b": 1})


def test_checkpoint_folders_are_per_profile(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    assert checkpoint_dir("00", "quick") is None
    assert checkpoint_dir("00", "gpu") == tmp_path / "00-gpu"
    assert checkpoint_dir("00", "paper", smoke=True) == tmp_path / "00-paper-smoke"


def test_seed_everything_makes_draws_repeatable():
    seed_everything(3); a = torch.randn(5)
    seed_everything(3); b = torch.randn(5)
    assert torch.equal(a, b)


def test_tuple_batches_keep_examples_paired():
    x = torch.arange(40.0).reshape(20, 2)
    y = x[:, :1] * 10  # y is a function of x: any mispairing shows

    def loss_fn(model, batch):
        xb, yb = batch
        assert torch.equal(yb, xb[:, :1] * 10)
        return {"loss": (model(xb) - yb).pow(2).mean()}
    train(nn.Linear(2, 1), (x, y), steps=12, batch_size=6, loss_fn=loss_fn, progress=False)


def test_logging_in_blocks_gives_the_same_history_and_hooks_see_tensors():
    seen = []
    histories = []
    for log_every in (1, 7, 100):
        torch.manual_seed(0)
        model = VAE.for_data((4,), latent_dim=2, hidden=(8,))
        hook = (lambda step, terms: seen.append(type(terms["loss"]))) if log_every == 7 else None
        histories.append(train(model, torch.rand(50, 4), steps=23, batch_size=10, progress=False,
                               log_every=log_every, after_step=hook))
    assert len(histories[0]) == 23 and all(h.terms == histories[0].terms for h in histories)
    assert seen and all(t is torch.Tensor for t in seen)


def test_train_matches_a_bare_pytorch_loop():
    """train() adds bookkeeping, not arithmetic: the same batches and updates as a plain loop."""
    x = torch.rand(60, 4)
    torch.manual_seed(1)
    model = VAE.for_data((4,), latent_dim=2, hidden=(8,))
    bare = VAE.for_data((4,), latent_dim=2, hidden=(8,))
    bare.load_state_dict(model.state_dict())
    history = train(model, x, steps=12, batch_size=20, seed=5, progress=False)
    sampler, optimizer, losses = BatchSampler(60, 20, seed=5), torch.optim.Adam(bare.parameters(), lr=1e-3), []
    torch.manual_seed(5)
    for _ in range(12):
        loss = bare.loss(x[sampler.next_indices()])["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.allclose(history["loss"], losses, rtol=1e-6)


def test_use_cpu_threads_follows_omp_num_threads_else_takes_up_to_two_cores(monkeypatch):
    from helpers.runtime import MAX_CPU_THREADS, use_cpu_threads
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert use_cpu_threads(torch.device("cpu")) == 1 and torch.get_num_threads() == 1
        monkeypatch.delenv("OMP_NUM_THREADS")
        expected = min(MAX_CPU_THREADS, os.cpu_count() or 1)
        assert use_cpu_threads() == expected and torch.get_num_threads() == expected
        monkeypatch.setenv("OMP_NUM_THREADS", "not a number")   # ignored, like an unset variable
        assert use_cpu_threads() == expected
        torch.set_num_threads(1)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert use_cpu_threads(torch.device("cuda")) == 1      # a GPU run leaves the host's threads alone
    finally:
        torch.set_num_threads(before)


def test_the_runner_shares_the_cores_among_notebooks_side_by_side():
    from coursetools.runner import threads_per_notebook
    from helpers.runtime import MAX_CPU_THREADS
    cores = os.cpu_count() or 1
    assert threads_per_notebook(1) == min(MAX_CPU_THREADS, cores)
    assert threads_per_notebook(cores) == 1 and threads_per_notebook(4 * cores) == 1
