"""The course's training loop: one function, `train`, shared by every notebook.

What it adds to a plain loop, and why:

- a tqdm progress bar (quiet when nobody watches: under papermill, CI, or `COURSE_QUIET=1`);
- a loss history, one value per step for every term the loss returns;
- checkpoints written every `checkpoint_every` steps, with the optimiser, the batch order and
  the random-number state, so rerunning the same cell after a Colab disconnect continues from
  the last checkpoint and ends exactly where an uninterrupted run would have;
- a guard that stops at the first non-finite loss term and says which term, at which step.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite."""


@dataclass
class History:
    """Per-step values of every loss term: `history["kl"]` is a list of floats."""
    terms: dict[str, list[float]] = field(default_factory=dict)

    def append(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.terms.setdefault(name, []).append(value)

    def __getitem__(self, name: str) -> list[float]:
        return self.terms[name]

    def __len__(self) -> int:
        return max((len(v) for v in self.terms.values()), default=0)

    def smoothed(self, name: str, window: int = 50) -> np.ndarray:
        """Running mean, for plotting noisy minibatch losses."""
        values = np.asarray(self.terms[name], dtype=float)
        window = max(1, min(window, len(values)))
        return np.convolve(values, np.ones(window) / window, mode="valid")


class BatchSampler:
    """Shuffled minibatches, epoch after epoch, from its own generator (so its state can be saved)."""

    def __init__(self, n: int, batch_size: int, seed: int):
        if n == 0:
            raise ValueError("cannot train on an empty data set")
        self.n, self.batch_size = n, min(batch_size, n)
        self.generator = torch.Generator().manual_seed(seed)
        self.order, self.position = torch.randperm(n, generator=self.generator), 0

    def next_indices(self) -> torch.Tensor:
        if self.position + self.batch_size > self.n:  # drop the ragged end: every batch has the same size
            self.order, self.position = torch.randperm(self.n, generator=self.generator), 0
        indices = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return indices

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"], state["position"]


def _as_tensors(data) -> tuple[torch.Tensor, ...]:
    """Accept a tensor, a tuple of tensors (e.g. images and attributes) or a data set with `.images`."""
    if isinstance(data, torch.Tensor):
        return (data,)
    if isinstance(data, (tuple, list)):
        return tuple(data)
    if hasattr(data, "images"):
        return (data.images,)
    raise TypeError("train() needs a tensor, a tuple of tensors, or a data set with an `.images` tensor")


def progress_enabled() -> bool:
    """Show progress bars in an interactive terminal or notebook, not in CI or papermill runs."""
    if os.environ.get("COURSE_QUIET", "") not in ("", "0"):
        return False
    try:
        from IPython import get_ipython
        if get_ipython() is not None:
            return True
    except ImportError:
        pass
    return sys.stderr.isatty()


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_atomically(obj, path: Path) -> None:
    """Write to a temporary name, then rename: a kill during the write never leaves a broken checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(model: nn.Module, data, *, steps: int, batch_size: int = 128, lr: float = 1e-3,
          optimizer: torch.optim.Optimizer | None = None,
          loss_fn: Callable[[nn.Module, tuple[torch.Tensor, ...]], dict] | None = None,
          after_step: Callable[[int, dict[str, float]], None] | None = None,
          seed: int = 0, checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 500,
          device: torch.device | str | None = None, desc: str = "training",
          progress: bool | None = None) -> History:
    """Train `model` for `steps` minibatch steps and return the per-step History.

    loss_fn(model, batch) -> dict of scalar tensors with a "loss" entry (the one minimised) and any
    other terms worth logging. The default calls `model.loss(*batch)`.
    after_step(step, terms) runs after each update: the place for schedules such as GECO's
    lambda update. State it changes must live in the model (buffers) to be checkpointed.
    checkpoint: a file path; if the file exists training resumes from it, and it is rewritten
    every `checkpoint_every` steps and at the end.
    """
    tensors = _as_tensors(data)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = loss_fn or (lambda m, batch: m.loss(*batch))
    sampler = BatchSampler(len(tensors[0]), batch_size, seed)
    history, start = History(), 0

    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        state = torch.load(path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        history, start = History(state["history"]), state["step"]
        _set_rng_state(state["rng"])
    else:
        torch.manual_seed(seed)  # the random draws inside the loss (e.g. z ~ q) follow the seed too

    def save(step: int) -> None:
        if path is not None:
            _save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "sampler": sampler.state_dict(), "history": history.terms, "step": step,
                              "rng": _rng_state()}, path)

    show = progress_enabled() if progress is None else progress
    if show and start < steps:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=start, desc=desc, leave=True)
    else:
        bar = None
    for step in range(start + 1, steps + 1):
        indices = sampler.next_indices()  # one draw for all tensors: x and its y stay paired
        batch = tuple(t[indices].to(device) for t in tensors)
        terms = loss_fn(model, batch)
        values = {name: float(value.detach()) if torch.is_tensor(value) else float(value)
                  for name, value in terms.items()}
        bad = [name for name, value in values.items() if not np.isfinite(value)]
        if bad:
            raise NonFiniteLossError(
                f"loss term {bad[0]!r} became {values[bad[0]]} at step {step} "
                f"(all terms: {values}). Try a lower learning rate, check the data range, "
                f"or resume from the last checkpoint.")
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        history.append(values)
        if after_step is not None:
            after_step(step, values)
        if bar is not None:
            bar.update(1)
            if step % 25 == 0 or step == steps:
                bar.set_postfix({k: f"{v:.3g}" for k, v in list(values.items())[:4]})
        if path is not None and (step % checkpoint_every == 0 or step == steps):
            save(step)
    if bar is not None:
        bar.close()
    model.eval()
    return history
