"""MAML's one-step inner update and meta-objective, written with torch.func and vectorised over tasks.

Sources:
- C. Finn, P. Abbeel, S. Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks",
  ICML 2017, https://arxiv.org/abs/1703.03400
- E. Grant, C. Finn, S. Levine, T. Darrell, T. Griffiths, "Recasting Gradient-Based Meta-Learning as
  Hierarchical Bayes", ICLR 2018, https://arxiv.org/abs/1801.08930 (the maximum-likelihood form below)
- "Localized Generations with Deep Neural Networks for Multi-Scale Structured Datasets", anonymous ICLR 2020
  submission, https://openreview.net/group?id=ICLR.cc/2020/Conference (its eq. 4, used by the Local VAE)

Eq. 4, for tasks i = 1..N with a support set S_i and a query set Q_i:

    L(theta) = 1/N sum_i  loss(theta'_i; Q_i),    theta'_i = theta - alpha grad_theta loss(theta; S_i)

`loss(params, *batch)` is a *functional* loss: a scalar from a dict of parameters and tensors (build one
with `torch.func.functional_call`). The meta-gradient of one task is, by the chain rule,

    d/dtheta loss(theta'_i; Q_i) = (I - alpha H_i) g_i,   H_i = Hessian of loss(.; S_i) at theta,
                                                          g_i = grad loss(.; Q_i) at theta'_i.

The first-order approximation (Finn et al., Sec. 5.2) treats theta'_i as theta plus a constant, so its
gradient is g_i alone: it drops exactly the Hessian-vector product -alpha H_i g_i.

`meta_loss` maps the per-task computation over the task dimension with `torch.func.vmap` (one batched
computation for all tasks); `meta_loss_loop` is the plain Python loop over tasks, kept as the reference
the tests and the benchmark compare against.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.func import grad, vmap

Params = dict[str, torch.Tensor]


def adapt(loss: Callable[..., torch.Tensor], params: Params, support: tuple, alpha: float,
          first_order: bool = False) -> Params:
    """theta' = theta - alpha * grad loss(theta; support): one inner gradient step (eq. 4, eqs. 9-10).

    The returned parameters stay differentiable functions of `params` under autograd, so an outer
    backward pass differentiates through the step (second order). `first_order=True` detaches the
    inner gradient: theta' then depends on theta only through the identity.
    """
    if alpha == 0:                                   # theta' = theta exactly; no gradient to compute
        return dict(params)
    gradient = grad(loss)(params, *support)
    if first_order:
        gradient = {name: g.detach() for name, g in gradient.items()}
    return {name: p - alpha * gradient[name] for name, p in params.items()}


def task_loss(loss: Callable[..., torch.Tensor], params: Params, support: tuple, query: tuple, alpha: float,
              first_order: bool = False, query_loss: Callable[..., torch.Tensor] | None = None) -> torch.Tensor:
    """loss(theta'; query) for one task, theta' adapted on its support set (`query_loss` defaults to `loss`)."""
    adapted = adapt(loss, params, support, alpha, first_order)
    return (query_loss or loss)(adapted, *query)


def meta_loss(loss: Callable[..., torch.Tensor], params: Params, support: tuple, query: tuple, alpha: float,
              first_order: bool = False, query_loss: Callable[..., torch.Tensor] | None = None,
              reduce: bool = True) -> torch.Tensor:
    """Eq. 4, vectorised: every tensor of `support` and `query` has the task as its leading dimension.

    Returns the mean over tasks (or the per-task values with reduce=False). vmap batches the tasks'
    inner gradients and adapted forward passes into single kernels instead of a loop over tasks.
    """
    per_task = vmap(lambda s, q: task_loss(loss, params, s, q, alpha, first_order, query_loss))(support, query)
    return per_task.mean() if reduce else per_task


def meta_loss_loop(loss: Callable[..., torch.Tensor], params: Params, support: tuple, query: tuple, alpha: float,
                   first_order: bool = False, query_loss: Callable[..., torch.Tensor] | None = None,
                   reduce: bool = True) -> torch.Tensor:
    """The reference: the same as `meta_loss`, one task at a time in a Python loop."""
    n_tasks = len(support[0])
    per_task = torch.stack([task_loss(loss, params, tuple(t[i] for t in support), tuple(t[i] for t in query),
                                      alpha, first_order, query_loss) for i in range(n_tasks)])
    return per_task.mean() if reduce else per_task
