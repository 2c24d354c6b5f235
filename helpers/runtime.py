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

import json
import os
import random
import re
import shutil
import sys
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


def checkpoint_dir(notebook: str, profile: str, smoke: bool = False, drive: bool | None = None) -> Path | None:
    """Where a notebook's training runs checkpoint: None in quick (runs take seconds), else
    `$COURSE_CHECKPOINT_DIR/<notebook>-<profile>[-smoke]` (default folder: checkpoints/ beside the
    notebook). One folder per profile, so a gpu run never resumes from a paper run's files.

    On Colab the folder beside the notebook is deleted with the runtime, so there `drive` (the notebook's
    `CHECKPOINT_TO_DRIVE`; None: on for paper, off for gpu) puts it on Google Drive (`checkpoints_on_drive`).
    Off Colab `drive` changes nothing."""
    if profile == "quick":
        return None
    checkpoints_on_drive(profile, drive)
    root = Path(os.environ.get("COURSE_CHECKPOINT_DIR") or "checkpoints")
    return root / f"{notebook}-{profile}{'-smoke' if smoke else ''}"


# --- Colab: checkpoints on Google Drive --------------------------------------------------------------
#: Where Colab mounts Google Drive, and the course's folder in it (MyDrive/<DRIVE_FOLDER>/checkpoints).
DRIVE_MOUNT = "/content/drive"
DRIVE_FOLDER = "structured-latents-course"
_drive_root: Path | None = None   # set once Drive is mounted and COURSE_CHECKPOINT_DIR points into it


def on_colab() -> bool:
    """Whether this runs in a Colab kernel (it imports google.colab before any cell runs)."""
    return "google.colab" in sys.modules


def folder_size(folder: str | os.PathLike) -> tuple[int, int]:
    """(files, bytes) under `folder` (0, 0 when it does not exist)."""
    files = [p for p in Path(folder).rglob("*") if p.is_file()] if Path(folder).exists() else []
    return len(files), sum(p.stat().st_size for p in files)


def checkpoints_on_drive(profile: str, enabled: bool | None = None) -> Path | None:
    """On Colab, for the gpu and paper profiles, keep checkpoints on Google Drive: a recycled runtime deletes
    /content, and with it the checkpoints that exist for exactly that disconnect.

    `enabled` (the notebook's `CHECKPOINT_TO_DRIVE`): None is on for paper (hours of training) and off for
    gpu (20 minutes; mounting asks for a sign-in). When on: mount Drive at `DRIVE_MOUNT`, set
    `COURSE_CHECKPOINT_DIR` to `MyDrive/<DRIVE_FOLDER>/checkpoints`, print where the files go, how much space
    the course's checkpoints there take and how much Drive has free; return that folder. A
    `COURSE_CHECKPOINT_DIR` the learner set is kept. Off Colab, in quick, or when off: nothing changes, None.
    """
    global _drive_root
    if profile == "quick" or not on_colab():
        return None
    enabled = (profile == "paper") if enabled is None else bool(enabled)
    here = os.environ.get("COURSE_CHECKPOINT_DIR")
    if not enabled:
        if _drive_root is None and not here:
            print(f"checkpoints: in {Path('checkpoints').resolve()}, deleted with this Colab runtime; set "
                  "CHECKPOINT_TO_DRIVE = True in the parameters cell to keep them on Google Drive")
        return None
    if _drive_root is not None and here == str(_drive_root):
        return _drive_root   # mounted by an earlier call
    if here:
        print(f"checkpoints: in COURSE_CHECKPOINT_DIR={here} (set before the notebook; Drive not mounted by it)")
        return None
    from google.colab import drive
    drive.mount(DRIVE_MOUNT)
    root = Path(DRIVE_MOUNT) / "MyDrive" / DRIVE_FOLDER / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    os.environ["COURSE_CHECKPOINT_DIR"] = str(root)
    _drive_root = root
    files, size = folder_size(root)
    free = shutil.disk_usage(root).free
    print(f"checkpoints: on Google Drive, {root}/<notebook>-{profile}/ (kept when the runtime is recycled; "
          f"rerun the notebook to resume). The course's checkpoints there now: {files} file(s), "
          f"{size / 1e6:.1f} MB; Drive has {free / 1e9:.1f} GB free. Each run's file holds its model and "
          f"optimiser state (a few MB for the quick-sized nets, up to a few hundred MB for paper's); "
          f"delete {root} to free the space.")
    return root


# --- the installed revision ---------------------------------------------------------------------------
DISTRIBUTION = "structured-latents-course"
_PINNED = re.compile(r"^(?:[0-9a-f]{7,40}|v?\d+(?:\.\d+)*(?:[-.+][0-9A-Za-z.]+)?)$")


def is_pinned(revision: str | None) -> bool:
    """A commit (7-40 hex digits) or a version tag (v0.2, 2026.1): one fixed tree. A branch name such as
    "main" is not: it moves."""
    return bool(revision) and bool(_PINNED.match(str(revision)))


def installed_revision() -> dict:
    """How the course package was installed, from its PEP 610 record (direct_url.json): `how` is "vcs"
    (pip install git+URL@REV: `requested` and `commit` say which), "editable" or "checkout" (a repository
    on sys.path: the notebook and helpers are one tree), "archive" (a wheel or sdist file) or "index"."""
    from importlib.metadata import PackageNotFoundError, distribution
    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError:
        return {"how": "checkout"}
    if str(getattr(dist, "_path", "")).endswith(".egg-info") or \
            Path(dist.locate_file("helpers")).resolve() != Path(__file__).resolve().parent:
        return {"how": "checkout"}   # a repository's own metadata, or an install shadowed by a checkout
    text = dist.read_text("direct_url.json")
    if not text:
        return {"how": "index"}
    info = json.loads(text)
    if "vcs_info" in info:
        vcs = info["vcs_info"]
        return {"how": "vcs", "url": info.get("url", ""), "commit": vcs.get("commit_id"),
                "requested": vcs.get("requested_revision")}
    if info.get("dir_info", {}).get("editable"):
        return {"how": "editable", "url": info.get("url", "")}
    return {"how": "archive", "url": info.get("url", "")}


def course_revision() -> str | None:
    """The fixed revision the installed package came from (a tag or commit), or None when it is not known
    (a checkout, an editable or a wheel install): links to results at that revision match the code."""
    info = installed_revision()
    if info["how"] != "vcs":
        return None
    return info["requested"] if is_pinned(info.get("requested")) else info.get("commit")


def check_revision(stamp: str, url: str | None = None) -> str:
    """The setup cell's check that the installed helpers are the revision the notebook was written against
    (`COURSE_REVISION`, written by `python -m coursetools stamp`). Returns "match", "unpinned" (the notebook
    names a branch and follows it; the install step warned), "mismatch" (printed with the command that fixes it),
    "checkout" (the notebook and helpers come from one repository: nothing to check) or "unknown"."""
    info = installed_revision()
    if info["how"] in ("checkout", "editable"):
        return "checkout"
    if info["how"] != "vcs":
        if on_colab():
            print(f"note: the course package was installed from {info.get('url') or 'a package index'}, so its "
                  f"revision is unknown; this notebook was written against {stamp}", file=sys.stderr)
        return "unknown"
    commit, requested = info.get("commit") or "", info.get("requested") or ""
    source = (url or info.get("url") or "").removeprefix("git+")
    if stamp in (commit, requested) or (len(stamp) >= 7 and commit.startswith(stamp)):
        # a branch stamp: `python -m coursetools.colab requirements` has already said it is not pinned
        return "match" if is_pinned(stamp) else "unpinned"
    print(f"warning: the installed course package is revision {requested or commit[:12]} (commit {commit[:12]}), but "
          f"this notebook was written against {stamp}, so a helper may differ from what the notebook expects. "
          f"To fix it, run\n    !pip install --quiet --no-deps --force-reinstall \"git+{source}@{stamp}\"\n"
          f"then restart the session (Colab: Runtime > Restart session) and run the notebook from the top.",
          file=sys.stderr)
    return "mismatch"


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
