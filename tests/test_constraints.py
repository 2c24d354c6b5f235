"""GECO and REWO updates (helpers.taming.constraints): values at known points and the fixed point beta = 1."""
import math

import numpy as np
import pytest
import torch

from helpers.taming.constraints import (GECO, REWO, f_beta, geco_beta_step, geco_lambda_step, moving_average,
                                 rewo_beta_step)
from helpers.train import train
from helpers.taming.vhp import VHPVAE


def test_f_beta_known_values():
    # constraint violated: f = -1 whatever beta and tau
    assert np.allclose(f_beta(np.array([0.01, 1.0, 5.0]), 2.0, tau=3.0), -1.0)
    # constraint met: f = tanh(tau (beta - 1))
    assert f_beta(1.0, -0.5, tau=3.0) == pytest.approx(0.0)
    assert f_beta(0.0, -0.5, tau=3.0) == pytest.approx(math.tanh(-3.0))
    assert f_beta(2.0, -0.5, tau=3.0) == pytest.approx(math.tanh(3.0))
    assert f_beta(0.9, -1e-3, tau=1.0) == pytest.approx(math.tanh(-0.1))


def test_rewo_equals_geco_while_the_constraint_is_violated():
    beta, delta, nu = np.array([0.1, 0.7, 1.5]), 3.0, 0.05
    assert np.allclose(rewo_beta_step(beta, delta, nu), geco_beta_step(beta, delta, nu))
    assert np.allclose(geco_beta_step(beta, delta, nu), beta * math.exp(-0.15))


def test_geco_lambda_and_beta_forms_agree():
    lam, delta, nu = 2.0, -1.5, 0.1
    assert 1.0 / geco_lambda_step(lam, delta, nu) == pytest.approx(geco_beta_step(1.0 / lam, delta, nu))


def test_rewo_moves_beta_towards_one_when_the_constraint_holds():
    nu, tau, delta = 0.1, 3.0, -1.0
    assert rewo_beta_step(1.0, delta, nu, tau) == pytest.approx(1.0)         # fixed point
    assert rewo_beta_step(0.5, delta, nu, tau) > 0.5                           # from below: up
    assert rewo_beta_step(1.5, delta, nu, tau) < 1.5                           # from above: down
    beta = 1e-3
    for _ in range(2000):
        beta = rewo_beta_step(beta, delta, nu, tau)
    assert beta == pytest.approx(1.0, abs=1e-6)


def test_beta_never_exceeds_one_from_below_when_steps_are_small():
    # beta exp(a tanh(tau (1 - beta))) is increasing on (0, 1] when a tau <= 1 (a = nu |delta|): no overshoot.
    rng = np.random.default_rng(0)
    nu, tau = 0.05, 3.0
    beta = rng.uniform(1e-4, 1.0, 10_000)
    delta = -rng.uniform(0.0, 1.0 / (nu * tau), 10_000)
    new = rewo_beta_step(beta, delta, nu, tau)
    assert np.all(new <= 1.0 + 1e-12) and np.all(new >= beta)
    # repeated steps from beta << 1 climb monotonically and never cross 1
    path = [1e-3]
    for d in -rng.uniform(0.0, 1.0 / (nu * tau), 3000):
        path.append(float(rewo_beta_step(path[-1], d, nu, tau)))
    assert max(path) <= 1.0 + 1e-12 and np.all(np.diff(path) >= 0)


def test_a_too_large_step_can_overshoot():
    # the condition nu tau |delta| <= 1 matters: here it is 6 and beta jumps past 1
    assert rewo_beta_step(0.99, -2.0, nu=1.0, tau=3.0) > 1.0


def test_geco_beta_grows_without_bound_when_the_constraint_holds():
    beta = 1.0
    for _ in range(100):
        beta = geco_beta_step(beta, -1.0, nu=0.05)
    assert beta == pytest.approx(math.exp(5.0))


def test_moving_average():
    assert moving_average(None, 4.0, 0.9) == 4.0
    assert moving_average(2.0, 4.0, 0.9) == pytest.approx(2.2)


def test_rewo_state_machine_and_checkpoint():
    rewo = REWO(kappa2=10.0, nu=0.01, tau=3.0, alpha=0.0, beta_init=1e-3)
    assert rewo.loss_options() == {"train_prior": False}
    rewo.after_step(1, {"rec": 12.0})                       # violated: still the initial phase, beta fixed
    assert bool(rewo.initial_phase) and rewo.beta_value == pytest.approx(1e-3)
    rewo.after_step(2, {"rec": 9.0})                        # met: switch, beta not moved on the switching step
    assert not bool(rewo.initial_phase) and int(rewo.switch_step) == 2 and rewo.beta_value == pytest.approx(1e-3)
    rewo.after_step(3, {"rec": 9.0})                        # main phase: f_beta update with delta = -1
    assert rewo.beta_value == pytest.approx(1e-3 * math.exp(0.01 * math.tanh(3 * (1e-3 - 1)) * -1.0))
    restored = REWO(kappa2=10.0, nu=0.01, alpha=0.0)
    restored.load_state_dict(rewo.state_dict())
    assert restored.beta_value == rewo.beta_value and not bool(restored.initial_phase)
    assert float(restored.constraint_avg) == 9.0


def test_geco_uses_the_moving_average():
    geco = GECO(kappa2=5.0, nu=0.1, alpha=0.5, beta_init=1.0)
    geco.after_step(1, {"rec": 7.0})                        # average starts at 7: delta = 2
    assert geco.beta_value == pytest.approx(math.exp(-0.2))
    geco.after_step(2, {"rec": 3.0})                        # average 5: delta = 0, beta unchanged
    assert geco.beta_value == pytest.approx(math.exp(-0.2))
    assert geco.lam == pytest.approx(math.exp(0.2))


def test_schedule_needs_the_constraint_term():
    with pytest.raises(KeyError, match="rec"):
        GECO(kappa2=1.0, nu=0.1).after_step(1, {"loss": 1.0})


def test_rewo_keeps_the_prior_fixed_in_its_initial_phase():
    torch.manual_seed(0)
    x = (torch.rand(64, 10) > 0.5).float()
    model = VHPVAE.for_data((10,), latent_dim=2, hidden=(16,), prior_hidden=(8,), n_prior_samples=4)
    model.schedule = REWO(kappa2=-1.0, nu=0.01)             # unreachable target: the initial phase never ends
    before = [p.detach().clone() for p in model.hierarchical_prior.parameters()]
    enc_before = [p.detach().clone() for p in model.encoder.parameters()]
    train(model, x, steps=5, batch_size=32, loss_fn=model.schedule.loss_fn, after_step=model.schedule.after_step,
          progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.hierarchical_prior.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(enc_before, model.encoder.parameters()))
    assert model.schedule.beta_value == pytest.approx(1e-3)
    model.schedule = REWO(kappa2=100.0, nu=0.001)           # met at once: the prior trains from step 2 on
    train(model, x, steps=5, batch_size=32, loss_fn=model.schedule.loss_fn, after_step=model.schedule.after_step,
          progress=False)
    assert not all(torch.equal(a, b) for a, b in zip(before, model.hierarchical_prior.parameters()))
    assert model.schedule.beta_value > 1e-3


def test_optional_beta_bounds():
    geco = GECO(kappa2=1.0, nu=1.0, alpha=0.0, beta_min=0.1, beta_max=5.0)
    geco.after_step(1, {"rec": 100.0})                      # exp(-99) would take beta to ~1e-43
    assert geco.beta_value == pytest.approx(0.1)
    for step in range(2, 10):
        geco.after_step(step, {"rec": 0.0})                 # delta = -1: beta grows by e per step, up to 5
    assert geco.beta_value == pytest.approx(5.0)
    with pytest.raises(ValueError, match="beta_min"):
        GECO(kappa2=1.0, nu=1.0, beta_init=0.01, beta_min=0.1)
