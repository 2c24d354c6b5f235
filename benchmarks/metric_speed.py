"""Seconds of the course's heavier helpers at the sizes the notebooks and the papers use.

    python benchmarks/metric_speed.py                          # print the table
    python benchmarks/metric_speed.py --out results/benchmarks # also write metric_speed_cpu.md

These were timed tests once (`seconds < 20`, `seconds < 60`); a timed test fails on a machine that is
only slower (machines of one kind differ by 2-3x), so the timings live here and the tests check the
numbers. Each row is the best of `--repeats` runs on one thread; the reference workload of
benchmarks/quick_budget.py is timed too, so two machines compare as ratios.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.quick_budget import machine, publish, reference_workload  # noqa: E402
from helpers.data import shapes, sprites  # noqa: E402
from helpers.metrics import dci, nll  # noqa: E402
from helpers.vae import VAE  # noqa: E402


def render(module):
    factors = module.sample_factors(10_000, seed=0)
    if hasattr(module, "_region_weights"):
        module._region_weights.cache_clear()  # the cold start: ray-casting the geometry included
    return lambda: module.render(factors, 64)


def nll_digits():
    from sklearn.datasets import load_digits
    torch.manual_seed(0)
    x = torch.tensor(load_digits().data / 16.0 > 0.5, dtype=torch.float32)[:1000]
    model = VAE.for_data((64,), 8, hidden=(128,))
    return lambda: nll(model, x, n_samples=5000)


def dci_codes():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, k, 10000) for k in (3, 6, 10, 8, 8)], axis=1)
    codes = np.concatenate([factors + 0.1 * rng.standard_normal(factors.shape), rng.standard_normal((10000, 5))], 1)
    return lambda: dci(codes, factors)


CASES = {
    "render 10,000 sprites at 64x64": lambda: render(sprites),
    "render 10,000 shapes at 64x64 (cold start)": lambda: render(shapes),
    "IS-NLL, 5,000 samples x 1,000 digits (MLP VAE)": nll_digits,
    "DCI, 10,000 codes x 10 dims, 5 factors": dci_codes,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    reference = reference_workload()
    lines = [f"Helpers at scale, best of {args.repeats}, one thread, on {machine()}.", "",
             f"Reference workload (benchmarks/quick_budget.py): {reference:.1f} s.", "",
             "| what | seconds | / reference |", "|---|---|---|"]
    for name, make in CASES.items():
        best = float("inf")
        for _ in range(args.repeats):
            fn = make()
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        lines.append(f"| {name} | {best:.2f} | {best / reference:.2f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    publish(text, args.out, "metric_speed_cpu.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
