"""The leaderboard from a run or from the committed 5-seed sweep (`helpers.sweeps`).

Receipt keys: the notebook records each model's metrics under `<slug>.<metric>` (`record(slug, metrics)`),
and for each ranking metric a 0/1 key `first.<metric>.<slug>`: 1 when the model ranked first in that run.
The sweep's mean of a `first` key times its n is then the number of seeds the model ranked first in.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .evaluation import DIRECTION


def slug(name: str) -> str:
    """A receipt-key name for a model: "VHP + REWO" -> "vhp_rewo", "β-VAE" -> "beta_vae"."""
    text = name.replace("β", "beta").replace("+", " ").lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def winners(results: dict[str, dict], metric: str) -> list[str]:
    """The models that rank first on `metric` in one run (ties all count); [] for a non-ranking metric."""
    sign = DIRECTION.get(metric, 0)
    scored = {n: r[metric] for n, r in results.items() if metric in r and np.isfinite(r[metric])}
    if sign == 0 or not scored:
        return []
    best = max(sign * v for v in scored.values())
    return [n for n, v in scored.items() if sign * v == best]


def first_flags(results: dict[str, dict], metrics: list[str]) -> dict[str, int]:
    """{"<metric>.<slug>": 1 if first else 0} for every model that has the metric."""
    flags = {}
    for metric in metrics:
        top = set(winners(results, metric))
        for name, row in results.items():
            if metric in row:
                flags[f"{metric}.{slug(name)}"] = int(name in top)
    return flags


def from_results(results: dict[str, dict], metrics: list[str]) -> pd.DataFrame:
    """One run: a model x metric DataFrame ("—" where a metric does not apply)."""
    return pd.DataFrame({m: {n: r.get(m, np.nan) for n, r in results.items()} for m in metrics})


def from_sweep(sweep: dict[str, dict], names: list[str], metrics: list[str], digits: int = 3) -> pd.DataFrame:
    """The committed sweep: "mean ± sd" per model and metric ("—" where the model has no such key)."""
    rows = {}
    for name in names:
        row = {}
        for metric in metrics:
            entry = sweep.get(f"{slug(name)}.{metric}")
            row[metric] = "—" if entry is None else f"{entry['mean']:.{digits}g} ± {entry['sd']:.2g}"
        rows[name] = row
    return pd.DataFrame(rows).T[metrics]


def first_counts(sweep: dict[str, dict], names: list[str], metrics: list[str]) -> pd.DataFrame:
    """How many seeds of the sweep each model ranked first in, per metric (from the `first.*` keys)."""
    table = {}
    for metric in metrics:
        table[metric] = {name: int(round(sweep[f"first.{metric}.{slug(name)}"]["mean"]
                                         * sweep[f"first.{metric}.{slug(name)}"]["n"]))
                         if f"first.{metric}.{slug(name)}" in sweep else 0 for name in names}
    return pd.DataFrame(table).loc[names]
