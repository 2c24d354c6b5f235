"""Seed sweeps: each notebook run once per seed, the spread of every receipt number written to results/seeds/.

`python -m coursetools seeds --only 00 --seeds 0 1 2 3 4 [--jobs J]` runs the notebook once per seed
(papermill's SEED) through the runner, then writes `results/seeds/<notebook>_<profile>.csv` and `.md`: per
numeric receipt entry its mean, sd (n - 1), min, max and each seed's value (`summarise_seeds`,
`write_seed_summary`), and copies the .csv to helpers/sweep_tables/ so that the installed package carries it. The notebooks' "how much of this is noise" paragraphs quote these files.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .notebooks import NOTEBOOK_DIR, REPO_ROOT, checked_notebooks
from .runner import default_jobs, run_many

# The package's copy of every sweep table (helpers/sweeps.py reads it; it ships in the wheel).
PACKAGE_TABLES = REPO_ROOT / "helpers" / "sweep_tables"


def summarise_seeds(rows: list[dict]) -> list[dict]:
    """Per numeric receipt entry: mean, sd (n - 1), min, max over the seeds, and every seed's value."""
    import statistics
    keys = []
    for row in rows:
        keys += [k for k, v in row["numbers"].items() if isinstance(v, (int, float)) and k not in keys]
    summary = []
    for key in keys:
        values = {row["seed"]: float(row["numbers"][key]) for row in rows
                  if isinstance(row["numbers"].get(key), (int, float))}
        numbers = list(values.values())
        summary.append({"key": key, "n": len(numbers), "mean": statistics.fmean(numbers),
                        "sd": statistics.stdev(numbers) if len(numbers) > 1 else 0.0,
                        "min": min(numbers), "max": max(numbers), "values": values})
    return summary


def write_seed_summary(summary: list[dict], seeds: list[int], stem: Path, title: str) -> None:
    """`stem`.csv and `stem`.md: one row per receipt entry, its spread and each seed's value."""
    import csv
    stem.parent.mkdir(parents=True, exist_ok=True)
    header = ["key", "n", "mean", "sd", "min", "max", *[f"seed_{s}" for s in seeds]]
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for r in summary:
            writer.writerow([r["key"], r["n"], *(f"{r[k]:.6g}" for k in ("mean", "sd", "min", "max")),
                             *(f"{r['values'][s]:.6g}" if s in r["values"] else "" for s in seeds)])
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in summary:
        cells = [r["key"], str(r["n"]), *(f"{r[k]:.4g}" for k in ("mean", "sd", "min", "max")),
                 *(f"{r['values'][s]:.4g}" if s in r["values"] else "" for s in seeds)]
        lines.append("| " + " | ".join(cells) + " |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


def seeds(only: list[str] | None, seed_list: list[int], profile: str | None = "quick", jobs: int | None = None,
          out: str | Path = "build/seeds", results: str | Path = REPO_ROOT / "results",
          folder: str | Path = NOTEBOOK_DIR) -> int:
    """Run each selected notebook once per seed (papermill SEED) and write the receipts' spread to
    results/seeds/<notebook>_<profile>.csv and .md."""
    profile, notebooks = checked_notebooks(profile, only, folder)
    if notebooks is None:
        return profile
    jobs = jobs or default_jobs()
    print(f"running {len(notebooks)} notebook(s) x {len(seed_list)} seeds, profile {profile}, {jobs} at a time ...",
          flush=True)
    job_list = [(str(nb), str(out), profile, s, False) for nb in notebooks for s in seed_list]
    rows = run_many(job_list, jobs)
    failed = [r for r in rows if r["status"] != "ok"]
    for nb in notebooks:
        mine = [r for r in rows if r["notebook"] == nb.stem and r["status"] == "ok"]
        if not mine:
            continue
        stem = Path(results) / "seeds" / f"{nb.stem}_{profile}"
        title = (f"{nb.stem}: {profile} profile over seeds {', '.join(map(str, seed_list))} "
                 f"(`python -m coursetools seeds --only {nb.stem.split('_')[0]} --seeds {' '.join(map(str, seed_list))}`)")
        write_seed_summary(summarise_seeds(mine), [r["seed"] for r in mine], stem, title)
        if Path(results).resolve() == (REPO_ROOT / "results").resolve():
            shutil.copyfile(stem.with_suffix(".csv"), PACKAGE_TABLES / f"{stem.name}.csv")
        print(f"wrote {stem}.csv and .md (and the package's copy in helpers/{PACKAGE_TABLES.name}/)")
    return 1 if failed else 0
