"""Profiles, devices, seeds and checkpoint folders: the things every notebook sets up first.

Three profiles (README.md, "Profiles"):

- ``quick``: embedded data sets, CPU-sized models; at most 3 minutes per notebook on a 2-core CPU.
- ``gpu``: the papers' data sets and architectures with step counts cut so that a notebook finishes in
  at most 20 minutes on a free Colab GPU (T4). The default whenever a GPU is present.
- ``paper``: the papers' full settings (hours; opt-in; checkpointed and resumable).

``SMOKE`` keeps a profile's data sets, architectures and code paths but caps every size (steps,
sample counts, data sizes) so that a run takes seconds: CI runs the ``gpu`` and ``paper`` paths that
way on the CPU. Each notebook states its caps next to its profile table.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

#: The run profiles of the course, cheapest first.
PROFILES = ("quick", "gpu", "paper")
_TRUE = {"1", "true", "yes", "on"}


def resolve_profile(profile: str | None = None) -> str:
    """The profile to run: the argument, else `COURSE_PROFILE`, else quick on a CPU and gpu on a GPU."""
    if profile is None or profile == "":
        profile = os.environ.get("COURSE_PROFILE") or ("gpu" if torch.cuda.is_available() else "quick")
    profile = str(profile).strip().lower()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)} "
                         "(set it with PROFILE=... or the COURSE_PROFILE environment variable)")
    return profile


def resolve_smoke(smoke: bool | str | None = None) -> bool:
    """Whether this is a smoke run: the argument, else the environment variable `COURSE_SMOKE`."""
    if smoke is None or smoke == "":
        smoke = os.environ.get("COURSE_SMOKE", "")
    if isinstance(smoke, str):
        return smoke.strip().lower() in _TRUE
    return bool(smoke)


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA if there is one, else Apple's MPS, else the CPU; `prefer` (or `COURSE_DEVICE`) overrides."""
    prefer = prefer or os.environ.get("COURSE_DEVICE")
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


#: At most this many CPU threads per notebook: measured to pay on 2 cores, more not measured (use_cpu_threads).
MAX_CPU_THREADS = 2


def use_cpu_threads(device: torch.device | None = None) -> int:
    """Set how many threads torch uses on the CPU, and return it.

    `OMP_NUM_THREADS` when it is set: the course runner (`make course`, the seed sweeps, the tests) sets
    it to the cores divided by the notebooks it runs side by side, so that two notebooks on two cores get
    one thread each; two threads each would fight over the cores, and small operations that wait for a
    busy core were measured up to 10x slower. Otherwise (a notebook opened by hand) all cores up to two:
    alone on a 2-core machine a small conv net trained 1.5-1.9x faster on two threads than on one, notebook
    06 (vmapped meta-steps) went from 87 s to 55-62 s, and the MLP notebooks were no slower
    (benchmarks/quick_budget.py); more threads were not measured. On a GPU
    this only affects the host side.
    """
    if device is not None and torch.device(device).type != "cpu":
        return torch.get_num_threads()
    setting = os.environ.get("OMP_NUM_THREADS", "").strip()
    threads = int(setting) if setting.isdigit() and int(setting) > 0 else min(MAX_CPU_THREADS, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    return threads


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a torch.Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cap(value, limit):
    """A size cut down for a smoke run: min(value, limit); None ("all of it") becomes the limit.

    Lists and tuples are cut to their first `limit` entries when `limit` is an int and the value holds
    strings (e.g. the data sets of a table); anything else keeps its value.
    """
    if value is None:
        return limit
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and isinstance(limit, (int, float)):
        return type(value)(min(value, limit))
    if isinstance(value, (list, tuple)) and isinstance(limit, int) and all(isinstance(v, str) for v in value):
        return type(value)(value[:limit])
    return limit if limit is not None else value


def pick_profile_values(table: dict, profile: str, smoke: bool = False, caps: dict | None = None) -> dict:
    """Select one column of a notebook's profile table, capped by `caps` in a smoke run.

    table: {name: {"quick": a, "gpu": b, "paper": c}}  ->  {name: value}.
    caps:  {name: limit}, applied only when `smoke` is true (see `cap`).
    """
    profile = resolve_profile(profile)
    missing = [name for name, values in table.items() if profile not in values]
    if missing:
        raise KeyError(f"the profile table has no {profile!r} column for {', '.join(missing)}")
    values = {name: column[profile] for name, column in table.items()}
    unknown = sorted(set(caps or {}) - set(values))
    if unknown:
        raise KeyError(f"smoke caps name sizes the table does not have: {', '.join(unknown)}")
    if smoke:
        values.update({name: cap(values[name], limit) for name, limit in (caps or {}).items()})
    return values


def checkpoint_dir(notebook: str, profile: str, smoke: bool = False) -> Path | None:
    """Where a notebook's training runs checkpoint: None in quick (runs take seconds), else
    `$COURSE_CHECKPOINT_DIR/<notebook>-<profile>[-smoke]` (default folder: checkpoints/ beside the
    notebook). One folder per profile, so a gpu run never resumes from a paper run's files."""
    if profile == "quick":
        return None
    root = Path(os.environ.get("COURSE_CHECKPOINT_DIR") or "checkpoints")
    return root / f"{notebook}-{profile}{'-smoke' if smoke else ''}"


def describe(profile: str, device: torch.device, smoke: bool = False) -> str:
    """One line of versions for a notebook's setup cell, so a receipt says what it ran on."""
    import platform
    return (f"profile={profile}{' (SMOKE: sizes capped)' if smoke else ''} device={device} "
            f"python={platform.python_version()} torch={torch.__version__} numpy={np.__version__}")


def use_course_style() -> None:
    """The course's one figure style (seaborn's), set once in each notebook's setup cell."""
    import seaborn as sns
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind",
                  rc={"figure.dpi": 100, "axes.titlesize": 11, "axes.labelsize": 10, "image.cmap": "viridis"})


class without_distribution_checks:
    """Turn off torch.distributions' argument checks inside a training or evaluation loop.

    Each check (e.g. "is every scale > 0?") is a comparison whose answer Python needs at once: on a
    GPU that makes the CPU wait for the GPU, at every distribution built in every step. The loops of
    the course have their own guard instead: `train` stops at the first non-finite loss term.
    """

    def __enter__(self):
        from torch.distributions import Distribution
        self._before = Distribution._validate_args
        Distribution.set_default_validate_args(False)
        return self

    def __exit__(self, *exc):
        from torch.distributions import Distribution
        Distribution.set_default_validate_args(self._before)
        return False
