"""Wall time of every notebook's quick profile, with its slowest cells and a reference workload.

    python benchmarks/quick_budget.py                          # every notebook alone, twice
    python benchmarks/quick_budget.py --only 01 05 --repeats 3
    python benchmarks/quick_budget.py --pairs                  # also two at a time, as `make course` runs them
    python benchmarks/quick_budget.py --out results/benchmarks # write quick_budget.md there

The quick profile's budget is 3 minutes per notebook on any 2-core CPU, i.e. at most 90 s alone on a
machine like the one that wrote the table: machines of one kind differ by 2-3x on this work. So the
table also times a fixed reference workload (1,000 Adam steps of the course's MNIST-size MLP VAE on
one thread) in the same run, before and after the notebooks: divide two machines' notebook times by
their reference times to compare them. Cell durations come from papermill's metadata of the executed
notebook. No test reads these numbers (a timed test fails on a slow machine; README.md, "Commands").
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coursetools import runner  # noqa: E402
from coursetools.notebooks import select_notebooks  # noqa: E402
from helpers.vae import VAE  # noqa: E402

REFERENCE_STEPS = 1_000


def reference_workload(steps: int = REFERENCE_STEPS) -> float:
    """Seconds for `steps` Adam steps of an MLP VAE (784-200-200-50, batch 100) on one CPU thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = VAE.for_data((784,), 50, hidden=(200, 200))
        data = torch.rand(10_000, 784).bernoulli()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        order = torch.randint(0, len(data), (steps, 100))
        start = time.perf_counter()
        for indices in order:
            loss = model.loss(data[indices])["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)


def publish(text: str, out: str | None, name: str) -> None:
    """Print a benchmark's Markdown table, and write it to `out/name` when `out` is given."""
    print(text)
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / name).write_text(text)


def cell_times(executed: Path) -> list[tuple[float, int, str]]:
    """(seconds, cell index, first line) of every code cell of an executed notebook, slowest first."""
    nb = nbformat.read(executed, as_version=4)
    rows = []
    for i, cell in enumerate(nb.cells):
        duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if cell.cell_type == "code" and duration is not None:
            first = next((line for line in cell.source.splitlines() if line.strip() and not line.startswith("#")),
                         cell.source.splitlines()[0] if cell.source else "")
            rows.append((float(duration), i, first.strip()[:60]))
    return sorted(rows, reverse=True)


def run_alone(notebooks: list[Path], repeats: int, out: Path) -> dict[str, dict]:
    """Each notebook `repeats` times, one at a time: wall seconds and the cells of the fastest run."""
    results = {}
    for path in notebooks:
        seconds, cells = [], None
        for repeat in range(repeats):
            row = runner.run_notebook(path, out / f"alone{repeat}", "quick", html=False,
                                      threads=runner.threads_per_notebook(1))
            if row["status"] != "ok":
                raise SystemExit(f"{path.stem} failed: {row['error']}")
            if not seconds or row["seconds"] < min(seconds):
                cells = cell_times(Path(row["executed"]))
            seconds.append(row["seconds"])
            print(f"  {path.stem} alone, run {repeat + 1}: {row['seconds']:.0f} s", flush=True)
        results[path.stem] = {"seconds": seconds, "cells": cells}
    return results


def run_pairs(notebooks: list[Path], out: Path) -> dict[str, float]:
    """Every notebook once, two at a time (the way `make course` runs them on two cores)."""
    rows = runner.run_many([(str(nb), str(out / "pairs"), "quick", None, False) for nb in notebooks], 2)
    return {row["notebook"]: row["seconds"] for row in rows}


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}"


def report(alone: dict, pairs: dict | None, reference: list[float], repeats: int) -> str:
    ref = min(reference)
    lines = [
        "# Quick profile: wall time per notebook",
        "",
        f"Written by `python benchmarks/quick_budget.py{' --pairs' if pairs else ''} --repeats {repeats} "
        f"--out results/benchmarks` on {machine()}, {time.strftime('%Y-%m-%d')}.",
        "",
        f"Reference workload ({REFERENCE_STEPS:,} Adam steps of an MNIST-size MLP VAE, one thread): "
        f"{ref:.1f} s (runs: {', '.join(f'{r:.1f}' for r in reference)}). To compare another machine, divide "
        "its times by its own reference time.",
        "",
        f"Budget: 90 s alone here (3 minutes on a machine twice as slow). Alone, a notebook gets "
        f"{runner.threads_per_notebook(1)} CPU thread(s), as when a learner runs it; two at a time, one each, as "
        "`make course` and the tests (two pytest workers) run them.",
        "",
        "| notebook | alone min (s) | alone median (s) | / reference | two at a time (s) | slowest cells (s) |",
        "|---|---|---|---|---|---|",
    ]
    for stem, row in alone.items():
        slow = "; ".join(f"#{i} `{text}` {sec:.0f}" for sec, i, text in row["cells"][:3])
        pair = f"{pairs[stem]:.0f}" if pairs and stem in pairs else "-"
        lines.append(f"| {stem} | {min(row['seconds']):.0f} | {statistics.median(row['seconds']):.0f} | "
                     f"{min(row['seconds']) / ref:.1f} | {pair} | {slow} |")
    total = sum(min(row["seconds"]) for row in alone.values())
    lines += ["", f"Sum of the minima: {total:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="notebook numbers or names (default: all)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each notebook alone")
    parser.add_argument("--pairs", action="store_true", help="also run them two at a time")
    parser.add_argument("--out", default=None, help="folder for quick_budget.md (default: print only)")
    args = parser.parse_args(argv)
    notebooks = select_notebooks(args.only)
    reference = [reference_workload()]
    print(f"reference workload: {reference[0]:.1f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="quick-budget-") as tmp:
        alone = run_alone(notebooks, args.repeats, Path(tmp))
        pairs = run_pairs(notebooks, Path(tmp)) if args.pairs else None
    reference.append(reference_workload())
    text = report(alone, pairs, reference, args.repeats)
    publish(text, args.out, "quick_budget.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
