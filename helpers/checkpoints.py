"""Checkpoints of `helpers.train.train`: rerun a cell after a disconnect and training continues.

What a checkpoint file guarantees:

- **Resume is exact.** The file holds the model, the optimiser, the batch order and every random-number
  state (torch, numpy, CUDA), so a run killed at any point and rerun ends bit for bit where an
  uninterrupted run would have.
- **A changed run never resumes.** Each file records what defines its run: the `config` dict the notebook
  passes (its profile's sizes and the run's own settings such as beta) plus structural facts read from
  the objects themselves (model class and scalar attributes, parameter names and shapes, optimiser class
  and settings, batch size, seed, a digest of the data). If any of them differs, the old file is renamed
  `<name>.stale-<hash>.pt` (nothing is lost) and training starts fresh, with one printed line naming the
  setting. Code is not compared: a setting a loss function uses belongs in `config`.
- **A file is written whole or not at all** (written to a temporary name, then renamed).
- **Loading runs no code** (`torch.load(..., weights_only=True)`), and a damaged, truncated or foreign
  file raises a `CheckpointError` that names it and says what to do.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

_REQUIRED = {"model", "optimizer", "sampler", "history", "step", "rng", "run"}
_SCALAR = (bool, int, float, str, type(None))
_TODO = "Delete it (or move it away) to start fresh, or pass another checkpoint= path."


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: damaged, foreign, or (with on_mismatch="error") stale."""


def checkpoint_file(name: str, folder: str | os.PathLike | None) -> Path | None:
    """The checkpoint file of the run `name` in a notebook's checkpoint folder, or None (no checkpoints)
    when the folder is None, as `helpers.runtime.checkpoint_dir` returns in the quick profile."""
    return None if folder is None else Path(folder) / f"{name}.pt"


# --- what defines a run ---------------------------------------------------------------------------
def run_config(config: dict | None, prefix: str = "config.") -> dict:
    """The run's config as a flat dict of plain values ({"hidden": (8, 8)} -> {"config.hidden": [8, 8]}),
    so it compares key by key and loads with weights_only=True. Anything else is refused now, in any
    profile, rather than when a gpu run first saves it."""
    out = {}
    for key, value in (config or {}).items():
        if isinstance(value, dict):
            out.update(run_config(value, f"{prefix}{key}."))
        elif isinstance(value, _SCALAR):
            out[prefix + str(key)] = value
        elif isinstance(value, (tuple, list)) and all(isinstance(v, _SCALAR) for v in value):
            out[prefix + str(key)] = list(value)
        elif isinstance(value, (tuple, list)) and all(isinstance(v, (tuple, list)) for v in value):
            out[prefix + str(key)] = [list(v) for v in value]   # e.g. a list of (beta, steps) pairs
        else:
            raise TypeError(f"train(config=...): {prefix}{key} is a {type(value).__name__}; a run's config "
                            f"holds numbers, strings, None and lists or dicts of them")
    return out


def _plain(value):
    """A setting worth recording as it is (a number, a string, or a tuple/list of them), else None."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    return None


def _settings(items: dict, prefix: str, out: dict) -> None:
    """The public plain settings among `items`: a module's attributes (a model's latent_dim, a schedule's
    kappa2), an optimiser's param-group settings (lr, betas, weight_decay)."""
    for name, value in items.items():
        if not name.startswith("_") and name not in ("training", "params") and _plain(value) is not None:
            out[prefix + name] = _plain(value)


def _data_digest(tensors: tuple[torch.Tensor, ...], out: dict) -> None:
    """Shape, dtype and a hash of each data tensor: all of it when small (16 MiB), else 1024 rows spread
    evenly through it, so a big data set costs milliseconds (and a change its sample misses goes unseen)."""
    for i, t in enumerate(tensors):
        out[f"data[{i}].shape"], out[f"data[{i}].dtype"] = list(t.shape), str(t.dtype)
        if t.numel() * t.element_size() > 16 * 2**20:
            t = t[torch.linspace(0, len(t) - 1, 1024).long().to(t.device)]
        raw = t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()
        out[f"data[{i}].sha256"] = hashlib.sha256(raw).hexdigest()[:16]


def describe_run(model: nn.Module, optimizer: torch.optim.Optimizer, tensors: tuple[torch.Tensor, ...],
                 config: dict, batch_size: int, seed: int) -> dict:
    """What defines a run, as a flat dict of plain values saved in its checkpoints: the flattened
    `config` (see `run_config`) plus facts read from the objects. `steps` is left out, so a longer run
    continues a shorter one; so are the logging and checkpoint intervals, which change no number."""
    out = dict(config)
    out["model"] = f"{type(model).__module__}.{type(model).__qualname__}"
    for name, module in model.named_modules():
        _settings(vars(module), f"model.{name}." if name else "model.", out)
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        out[f"model.{name}.shape"] = list(tensor.shape)
        if tensor.dim() == 0:   # a scalar's starting value is a setting (GECO's beta_init, a fixed sigma)
            out[f"model.{name}"] = tensor.item()
    out["optimizer"] = type(optimizer).__qualname__
    for i, group in enumerate(optimizer.param_groups):
        where = "optimizer." if i == 0 else f"optimizer[{i}]."
        out[where + "n_params"] = len(group["params"])
        _settings(group, where, out)
    out["batch_size"], out["seed"] = batch_size, seed
    _data_digest(tensors, out)
    return out


def _first_difference(old: dict, new: dict) -> tuple[str, int]:
    """'was written with config.beta=1.0, now config.beta=4.0' for the first changed entry, and how many."""
    changed = [key for key in [*new, *(k for k in old if k not in new)]
               if not (old.get(key) == new.get(key) or repr(old.get(key)) == repr(new.get(key)))]
    if not changed:
        return "", 0
    key = changed[0]
    before = f"{key}={old[key]!r}" if key in old else f"no {key}"
    after = f"{key}={new[key]!r}" if key in new else f"no {key}"
    return f"was written with {before}, now {after}", len(changed)


# --- random-number state --------------------------------------------------------------------------
def _rng_state() -> dict:
    # numpy's state holds an ndarray, which weights_only=True refuses to load: keep it as a tensor.
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    saved = state["numpy"]
    np.random.set_state(("MT19937", saved["keys"].cpu().numpy().astype(np.uint32), saved["position"],
                         saved["has_gauss"], saved["cached_gaussian"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# --- files ----------------------------------------------------------------------------------------
def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by `train`, with `weights_only=True`: tensors and plain containers only,
    so loading a file someone shared cannot run code. Raises CheckpointError for anything else."""
    path = Path(path)
    if not zipfile.is_zipfile(path):   # torch.save writes a zip archive; a cut-off one has no directory
        raise CheckpointError(f"checkpoint {path} is truncated or is not a PyTorch checkpoint. {_TODO}")
    try:
        # on the CPU: the sampler's batch order must stay there; load_state_dict moves the rest to the model
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        if "Weights only load failed" in str(error):
            raise CheckpointError(
                f"checkpoint {path} holds Python objects, not only tensors, so it was not written by "
                f"helpers.train.train and is not loaded (unpickling it could run code). {_TODO}") from None
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"checkpoint {path} is damaged ({reason}). {_TODO}") from None
    if not isinstance(state, dict) or not _REQUIRED <= state.keys():
        raise CheckpointError(f"checkpoint {path} is not a training checkpoint written by helpers.train.train "
                              f"(it needs the entries {sorted(_REQUIRED)}). {_TODO}")
    return state


def _save_atomically(obj, path: Path) -> None:
    """Write to a temporary name, then rename: a kill during the write never leaves a broken checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _file_hash(path: Path) -> str:
    """Six hex digits of the file's sha256: distinct stale files get distinct names."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:6]


class Checkpoint:
    """One run's checkpoint file: `resume` it (or set it aside), `save` it every so many steps."""

    def __init__(self, path: str | os.PathLike, run: dict, on_mismatch: str = "restart"):
        if on_mismatch not in ("restart", "error"):
            raise ValueError(f"on_mismatch must be 'restart' or 'error', got {on_mismatch!r}")
        self.path, self.run, self.on_mismatch = Path(path), run, on_mismatch

    def resume(self, model: nn.Module, optimizer: torch.optim.Optimizer, sampler, steps: int):
        """Load the saved run into model, optimizer, sampler and the random-number generators and return
        (history terms, step); or None to start fresh (no file, or a file of another run, set aside)."""
        state = self._matching_state(steps)
        if state is None:
            return None
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(f"checkpoint {self.path} matches this run's settings but does not fit the model "
                                  f"({str(error).splitlines()[0]}). {_TODO}") from None
        sampler.load_state_dict(state["sampler"])
        _set_rng_state(state["rng"])
        return state["history"], state["step"]

    def save(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, sampler, history: dict) -> None:
        _save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "sampler": sampler.state_dict(), "history": history, "step": step,
                          "rng": _rng_state(), "run": self.run}, self.path)

    def _matching_state(self, steps: int) -> dict | None:
        if not self.path.exists():
            return None
        state = load_checkpoint(self.path)
        if state["step"] > steps:
            reason = f"is at step {state['step']}, beyond steps={steps}"
        else:
            reason, n_changed = _first_difference(state["run"], self.run)
            if not reason:
                return state
            if n_changed > 1:
                reason += f" (and {n_changed - 1} more differences)"
        if self.on_mismatch == "error":
            raise CheckpointError(f"checkpoint {self.path} {reason}. Delete it, pass another checkpoint= path, or "
                                  f"use on_mismatch='restart' to keep it aside and start fresh.")
        stale = self.path.with_name(f"{self.path.stem}.stale-{_file_hash(self.path)}{self.path.suffix}")
        os.replace(self.path, stale)
        print(f"checkpoint {self.path.name} {reason}: starting fresh; the old file is kept as {stale.name}")
        return None
