"""Seed sweeps inside the package: the 5-seed spread of every receipt number, for the notebooks' figures.

`python -m coursetools seeds` writes each notebook's sweep to `results/seeds/<notebook>_<profile>.csv` and
the same file to `helpers/sweep_tables/`, which ships with the package: on Colab a notebook runs from a
`pip install` with no repository beside it, and its figures still draw the spread over seeds.

    from helpers import sweeps
    table = sweeps.load("04_regularised_autoencoders")           # one row per receipt key
    sweeps.plot_spread(ax, "04_regularised_autoencoders", {"fd_gen_vae": "VAE", "fd_gen_wae": "WAE"},
                       run={"fd_gen_vae": 12.3, "fd_gen_wae": 9.8})
    sweeps.sweep_url("04_regularised_autoencoders")              # the committed file, on GitHub
"""
from __future__ import annotations

import csv
from importlib import resources

TABLES = "sweep_tables"


def available() -> list[str]:
    """Names (`<notebook>_<profile>`) of the sweeps shipped with the package."""
    folder = resources.files("helpers") / TABLES
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".csv"))


def load(notebook: str, profile: str = "quick") -> dict[str, dict]:
    """The sweep of `notebook` (its file stem, e.g. "04_regularised_autoencoders"): per receipt key its
    n, mean, sd, min, max and `values`, a dict seed -> value."""
    name = f"{notebook}_{profile}"
    path = resources.files("helpers") / TABLES / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no seed sweep {name!r} in the package (have: {', '.join(available())}); "
                                f"run `python -m coursetools seeds --only {notebook[:2]}`")
    table = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            values = {int(k[5:]): float(v) for k, v in row.items() if k.startswith("seed_") and v != ""}
            table[row["key"]] = {"n": int(row["n"]), **{k: float(row[k]) for k in ("mean", "sd", "min", "max")},
                                 "values": values}
    return table


def repository_url() -> str:
    """The course repository, from the installed package's metadata (pyproject.toml's [project.urls])."""
    from importlib.metadata import metadata
    for entry in metadata("structured-latents-course").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip()
    raise RuntimeError("the installed package names no Repository URL")


def sweep_url(notebook: str, profile: str = "quick", revision: str | None = None) -> str:
    """The absolute address of the committed sweep table (results/seeds/) at `revision` (default: the
    tag or commit the package was installed from, `runtime.course_revision`, else main)."""
    from .runtime import course_revision
    return f"{repository_url()}/blob/{revision or course_revision() or 'main'}/results/seeds/{notebook}_{profile}.md"


def long_form(notebook: str, keys: dict[str, str] | list[str], profile: str = "quick"):
    """The per-seed values of `keys` as a pandas DataFrame with columns label, seed, value (for seaborn);
    `keys` maps receipt key -> label (a list uses the keys as labels)."""
    import pandas as pd
    keys = dict(keys) if isinstance(keys, dict) else {k: k for k in keys}
    table = load(notebook, profile)
    missing = [k for k in keys if k not in table]
    if missing:
        raise KeyError(f"{notebook}'s sweep has no {missing}; re-run its seed sweep")
    rows = [{"label": label, "seed": seed, "value": value}
            for key, label in keys.items() for seed, value in table[key]["values"].items()]
    return pd.DataFrame(rows)


def plot_spread(ax, notebook: str, keys: dict[str, str] | list[str], run: dict[str, float] | None = None,
                profile: str = "quick", orient: str = "v", color: str = "C0"):
    """Bars of the seed-sweep mean of each key with its min–max over the seeds (seaborn, errorbar="pi" at
    100 %), every seed as a dot, and this run's own value (`run`, key -> value) as a red cross."""
    import seaborn as sns
    keys = dict(keys) if isinstance(keys, dict) else {k: k for k in keys}
    frame = long_form(notebook, keys, profile)
    n_seeds = frame["seed"].nunique()
    value_axis, label_axis = ("y", "x") if orient == "v" else ("x", "y")
    common = {label_axis: "label", value_axis: "value", "data": frame, "ax": ax, "orient": orient}
    sns.barplot(**common, errorbar=("pi", 100), color=color, alpha=0.45, capsize=0.2,
                label=f"mean, min–max of {n_seeds} seeds")
    sns.stripplot(**common, color="k", size=3, jitter=0.15)
    if run:
        positions = {label: i for i, label in enumerate(keys.values())}
        points = [(positions[keys[k]], float(v)) for k, v in run.items() if k in keys]
        xs, ys = zip(*points) if points else ((), ())
        if orient == "v":
            ax.scatter(xs, ys, marker="x", color="red", s=60, zorder=5, label="this run")
        else:
            ax.scatter(ys, xs, marker="x", color="red", s=60, zorder=5, label="this run")
    ax.set(**{f"{label_axis}label": ""})
    ax.legend(fontsize="small")
    return ax
