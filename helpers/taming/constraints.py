"""Constrained optimisation of VAEs: GECO (Rezende & Viola 2018) and REWO (Klushyn et al. 2019).

Sources: D. J. Rezende, F. Viola, "Taming VAEs", arXiv 2018, https://arxiv.org/abs/1810.00597 (GECO);
A. Klushyn, N. Chen, R. Kurle, B. Cseke, P. van der Smagt, "Learning Hierarchical Priors in VAEs",
NeurIPS 2019, https://arxiv.org/abs/1905.04982 (REWO; the paper and its poster).

Both treat the VAE objective as the Lagrangian of

    min  KL-term   subject to   E[C(x, z)] <= kappa^2,

where C is the reconstruction-error term of -log p(x|z) (the per-example cross-entropy for a
Bernoulli decoder) and kappa^2 a target reconstruction error set per data set. In the
beta = 1/lambda parameterisation that the course uses everywhere, the loss that is minimised is

    loss = C + beta * KL-term           (= (F + lambda (C - kappa^2)) / lambda, up to a constant),

and the two methods differ only in how beta moves after each step. With delta = C_t - kappa^2:

    GECO   lambda_t = lambda_{t-1} exp(nu delta)   <=>   beta_t = beta_{t-1} exp(-nu delta)
    REWO   beta_t   = beta_{t-1} exp(nu f_beta(beta_{t-1}, delta; tau) delta),
           f_beta(beta, delta; tau) = (1 - H(delta)) tanh(tau (beta - 1)) - H(delta)

(Klushyn et al. 2019, Sec. 3). So GECO is REWO with f_beta = -1: when the constraint holds
(delta < 0) GECO keeps raising beta past 1, while REWO's tanh factor stops it at beta = 1, where
the loss is the negative ELBO.

The module has two layers:
- pure functions (`f_beta`, `rewo_beta_step`, `geco_lambda_step`, `geco_beta_step`,
  `moving_average`) that work on floats and NumPy arrays, for derivations and plots;
- `GECO` and `REWO`, small `nn.Module`s whose state (beta, the moving average of C, the phase) are
  buffers, so a model that holds one as a submodule keeps that state in its checkpoints. Their
  `loss_fn` and `after_step` plug straight into `helpers.train.train`.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from ..precision import Float64State


# --- pure functions ---------------------------------------------------------------------------------
def heaviside(delta):
    """H(delta) = 1 for delta > 0, else 0. (H(0) does not matter: every use multiplies by delta.)"""
    return np.heaviside(delta, 0.0)


def f_beta(beta, delta, tau: float = 3.0):
    """f_beta(beta, delta; tau) = (1 - H(delta)) tanh(tau (beta - 1)) - H(delta)   (poster, REWO update).

    Constraint violated (delta > 0): f = -1, so beta shrinks exactly as under GECO.
    Constraint met (delta <= 0): f = tanh(tau (beta - 1)), which changes sign at beta = 1, so the
    step pushes beta towards 1 from either side and vanishes at beta = 1.
    """
    h = heaviside(delta)
    return (1.0 - h) * np.tanh(tau * (np.asarray(beta, dtype=float) - 1.0)) - h


def rewo_beta_step(beta, delta, nu: float, tau: float = 3.0):
    """beta_t = beta_{t-1} exp[nu f_beta(beta_{t-1}, delta; tau) delta],  delta = C_t - kappa^2."""
    return beta * np.exp(nu * f_beta(beta, delta, tau) * delta)


def geco_lambda_step(lam, delta, nu: float):
    """GECO (Rezende & Viola 2018): lambda_t = lambda_{t-1} exp(nu (C_t - kappa^2))."""
    return lam * np.exp(nu * np.asarray(delta, dtype=float))


def geco_beta_step(beta, delta, nu: float):
    """The same GECO update for beta = 1 / lambda: beta_t = beta_{t-1} exp(-nu (C_t - kappa^2))."""
    return beta * np.exp(-nu * np.asarray(delta, dtype=float))


def moving_average(average, value, alpha: float):
    """GECO's running estimate of the constraint: C_ma <- alpha C_ma + (1 - alpha) C_batch.

    A minibatch's C is noisy; updating beta from a smoothed C keeps beta from jittering.
    `average` = None (nothing seen yet) starts the average at `value`.
    """
    if average is None or (isinstance(average, float) and math.isnan(average)):
        return value
    return alpha * average + (1.0 - alpha) * value


# --- stateful schedules for helpers.train.train -------------------------------------------------------
class ConstraintSchedule(Float64State, nn.Module):
    """Shared machinery: the target kappa^2, the moving average of C and the current beta.

    Use it as a submodule of the model it trains (so checkpoints keep its buffers):

        model.schedule = REWO(kappa2=20.0, nu=0.01)
        train(model, data, loss_fn=model.schedule.loss_fn, after_step=model.schedule.after_step, ...)

    `loss_fn` calls `model.loss(x, beta=current beta, **extra)` and `after_step` reads the term
    named `constraint_key` (default "rec", the per-example reconstruction error C) of that loss.
    """

    def __init__(self, kappa2: float, nu: float, alpha: float = 0.99, beta_init: float = 1.0,
                 constraint_key: str = "rec", beta_min: float = 0.0, beta_max: float = math.inf):
        super().__init__()
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha is a moving-average weight in [0, 1), got {alpha}")
        if beta_init <= 0:
            raise ValueError(f"beta must stay positive (it is 1 / lambda), got beta_init={beta_init}")
        if not 0.0 <= beta_min <= beta_init <= beta_max:
            raise ValueError(f"need 0 <= beta_min <= beta_init <= beta_max, got {beta_min}, {beta_init}, {beta_max}")
        self.kappa2, self.nu, self.alpha, self.constraint_key = float(kappa2), float(nu), float(alpha), constraint_key
        # Optional safeguard, not part of either update rule (off by default): early in training C is
        # far above kappa^2 and the multiplicative update can drive beta to 1e-20 in a few hundred steps,
        # from where it takes thousands of steps to return. GECO implementations commonly clip it.
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)
        self.register_buffer("beta", torch.tensor(float(beta_init), dtype=torch.float64))
        self.register_buffer("constraint_avg", torch.tensor(float("nan"), dtype=torch.float64))
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long))

    @property
    def beta_value(self) -> float:
        return float(self.beta)

    @property
    def delta(self) -> float:
        """C_ma - kappa^2: positive while the reconstruction constraint is violated."""
        return float(self.constraint_avg) - self.kappa2

    def loss_options(self) -> dict:
        """Extra keyword arguments for `model.loss` (REWO freezes the prior in its first phase)."""
        return {}

    def loss_fn(self, model: nn.Module, batch) -> dict:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        # beta stays a tensor on the device: reading it as a float every step would make the CPU wait
        terms = model.loss(x, beta=self.beta.detach().clone(), **self.loss_options())
        terms["beta"] = self.beta.detach().clone()   # logged in the History next to the loss terms
        return terms

    def observe(self, constraint) -> None:
        """Fold one minibatch's C into the moving average (tensor ops: no wait for the GPU)."""
        c = torch.as_tensor(constraint, dtype=self.constraint_avg.dtype, device=self.constraint_avg.device)
        avg = self.constraint_avg
        # moving_average(): the first value starts the average, then C_ma <- alpha C_ma + (1 - alpha) C
        self.constraint_avg.copy_(torch.where(torch.isnan(avg), c, self.alpha * avg + (1.0 - self.alpha) * c))
        self.steps += 1

    def update_beta(self) -> None:
        raise NotImplementedError

    def set_beta(self, value) -> None:
        value = torch.as_tensor(value, dtype=self.beta.dtype, device=self.beta.device)
        self.beta.copy_(value.clamp(self.beta_min, self.beta_max))

    def after_step(self, step: int, terms: dict) -> None:
        """Hook for `train(after_step=...)`: read C from the step's terms, then move beta."""
        if self.constraint_key not in terms:
            raise KeyError(f"the loss returned no {self.constraint_key!r} term; the constraint schedule needs the "
                           f"per-example reconstruction error (terms were {sorted(terms)})")
        self.observe(terms[self.constraint_key])
        self.update_beta()

    def beta_at_clamp(self) -> str | None:
        """"beta_min" or "beta_max" when beta sits at that bound (a clamp that held the schedule), else None."""
        beta = float(self.beta)
        if self.beta_min > 0 and beta <= self.beta_min:
            return "beta_min"
        if math.isfinite(self.beta_max) and beta >= self.beta_max:
            return "beta_max"
        return None

    def finish_training(self) -> None:
        """Called once by `helpers.train.train` after the last step: warn when the final beta is at a clamp,
        since then the schedule, not the constraint, decided where beta ended."""
        bound = self.beta_at_clamp()
        if bound is not None:
            warnings.warn(f"{type(self).__name__}: the final beta = {float(self.beta):.4g} is at its clamp "
                          f"{bound} = {getattr(self, bound):.4g}; the constraint did not set it (train longer, or "
                          f"widen the bound)", RuntimeWarning, stacklevel=2)

    def extra_repr(self) -> str:
        return f"kappa2={self.kappa2}, nu={self.nu}, alpha={self.alpha}, beta={self.beta_value:.4g}"


class GECO(ConstraintSchedule):
    """GECO's multiplicative Lagrange-multiplier update, held as beta = 1 / lambda.

    lambda_t = lambda_{t-1} exp(nu (C_ma - kappa^2)): lambda grows while the reconstruction is worse
    than kappa^2 (beta shrinks, reconstruction dominates the loss) and decays once it is better, without
    any bound, so beta keeps growing past 1 and the final objective is not the ELBO.
    """

    @property
    def lam(self) -> float:
        return 1.0 / self.beta_value

    def update_beta(self) -> None:
        # geco_beta_step() on tensors: beta_t = beta_{t-1} exp(-nu (C_ma - kappa^2))
        self.set_beta(self.beta * torch.exp(-self.nu * (self.constraint_avg - self.kappa2)))


class REWO(ConstraintSchedule):
    """REWO (Klushyn et al. 2019): reconstruction first, then joint optimisation with the f_beta update.

    Initial phase: beta = beta_init << 1 stays fixed and the prior's parameters (Theta, Phi) are not
    trained (`loss_options` passes `train_prior=False`), until the moving average C_ma < kappa^2.
    Main phase: everything is trained jointly and beta follows `rewo_beta_step`, which ends at beta = 1
    when the constraint holds.
    """

    def __init__(self, kappa2: float, nu: float, tau: float = 3.0, alpha: float = 0.99, beta_init: float = 1e-3,
                 constraint_key: str = "rec", beta_min: float = 0.0, beta_max: float = math.inf):
        super().__init__(kappa2, nu, alpha, beta_init, constraint_key, beta_min, beta_max)
        self.tau = float(tau)
        self.register_buffer("initial_phase", torch.tensor(True))
        self.register_buffer("switch_step", torch.tensor(-1, dtype=torch.long))
        self._initial_phase_cache: bool | None = None

    def loss_options(self) -> dict:
        return {"train_prior": not self.in_initial_phase()}

    def in_initial_phase(self) -> bool:
        """The phase, known on the host. Read from the buffer while in the first phase (one small wait
        per step, for the few hundred steps it lasts); once over, never again."""
        if self._initial_phase_cache is not False:
            self._initial_phase_cache = bool(self.initial_phase)
        return self._initial_phase_cache

    @property
    def switch_text(self) -> str:
        """The switch in words: "switched at step N", or "never switched" while still in the initial phase."""
        step = int(self.switch_step)
        return "never switched (still in the initial phase)" if step < 0 else f"switched at step {step}"

    def beta_at_clamp(self) -> str | None:
        """As for GECO, except in the initial phase: there beta is held at beta_init, not clamped."""
        return None if self.in_initial_phase() else super().beta_at_clamp()

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._initial_phase_cache = None   # a loaded checkpoint may be in either phase

    def update_beta(self) -> None:
        delta = self.constraint_avg - self.kappa2
        if self.in_initial_phase():
            if bool(delta < 0):                     # C_ma < kappa^2: the reconstruction is good enough
                self.initial_phase.fill_(False)
                self._initial_phase_cache = False
                self.switch_step.copy_(self.steps)
            return                                  # beta stays at beta_init during the initial phase
        # rewo_beta_step() on tensors: beta_t = beta_{t-1} exp[nu f_beta(beta_{t-1}, delta; tau) delta],
        # f_beta = (1 - H(delta)) tanh(tau (beta - 1)) - H(delta)
        f = torch.where(delta > 0, -torch.ones_like(delta), torch.tanh(self.tau * (self.beta - 1.0)))
        self.set_beta(self.beta * torch.exp(self.nu * f * delta))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", tau={self.tau}, initial_phase={bool(self.initial_phase)}"
