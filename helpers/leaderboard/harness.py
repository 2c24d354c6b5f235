"""The harness: build, train and evaluate registered models, one after another, under one `Budget`.

    results = run(names, x_train, reference, budget, latent_dim)   # {name: {metric: value, ...}}

Each model starts from the same seed (`seed_everything(budget.seed)` before it is built), trains on the same
tensor in the same batch order (`helpers.train.train` draws it from `budget.seed`) and is evaluated by
`evaluation.evaluate` on the same `Reference`. The wall time of its training is measured and reported as
seconds per 1,000 steps (`seconds_per_1k`, counting both stages of a two-stage model): a property of this
machine, shown in the table but never asserted.
"""
from __future__ import annotations

import time

import torch

from ..runtime import seed_everything
from .evaluation import Reference, evaluate
from .registry import REGISTRY, Budget


def train_one(name: str, x_train: torch.Tensor, budget: Budget, latent_dim: int, device=None):
    """Build and train the registered model `name`; returns (model, histories, seconds)."""
    entry = REGISTRY[name]
    seed_everything(budget.seed)
    model = entry.build(tuple(x_train.shape[1:]), latent_dim, budget)
    if device is not None:
        model = model.to(device)
    start = time.perf_counter()
    histories = entry.fit(model, x_train, budget, name)
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return model.eval(), histories, time.perf_counter() - start


def run(names, x_train: torch.Tensor, reference: Reference, budget: Budget, latent_dim: int, device=None,
        keep_models: bool = False):
    """{name: metrics} for every name (and {name: model} as well when `keep_models`)."""
    results, models = {}, {}
    for name in names:
        model, histories, seconds = train_one(name, x_train, budget, latent_dim, device)
        steps = sum(len(h["loss"]) for h in histories) or budget.steps
        results[name] = {**evaluate(model, REGISTRY[name], reference),
                         "final_loss": float(sum(histories[-1]["loss"][-20:]) / max(1, len(histories[-1]["loss"][-20:]))),
                         "seconds_per_1k": 1000 * seconds / max(1, steps)}
        if keep_models:
            models[name] = model
    return (results, models) if keep_models else results
