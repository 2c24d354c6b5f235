"""The course's training loop: one function, `train`, shared by every notebook.

What it adds to a plain loop, and why:

- a tqdm progress bar (quiet when nobody watches: under papermill, CI, or `COURSE_QUIET=1`);
- a loss history, one value per step for every term the loss returns, copied from the device in
  blocks of `log_every` steps (a per-step copy would make the CPU wait for the GPU every step);
- the data set moved to the device once when it fits, so a step never waits on a host copy;
- checkpoints written every `checkpoint_every` steps, with the optimiser, the batch order and
  the random-number state, so rerunning the same cell after a Colab disconnect continues from
  the last checkpoint and ends exactly where an uninterrupted run would have;
- a guard that stops at a non-finite loss term and says which term, at which step (checked with
  each block of `log_every` steps).
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

from .runtime import without_distribution_checks


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


def _place_on_device(tensors: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """Move the whole data set to the device when it fits (a quarter of the free GPU memory), so that a
    step indexes device memory instead of copying a batch from the host. Larger sets stay where they are
    and each batch is copied over."""
    if device.type == "cpu" or all(t.device == device for t in tensors):
        return tensors
    size = sum(t.numel() * t.element_size() for t in tensors)
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 0
    if device.type == "cuda" and size > free // 4:
        return tensors
    return tuple(t.to(device) for t in tensors)


def train(model: nn.Module, data, *, steps: int, batch_size: int = 128, lr: float = 1e-3,
          optimizer: torch.optim.Optimizer | None = None,
          loss_fn: Callable[[nn.Module, tuple[torch.Tensor, ...]], dict] | None = None,
          after_step: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
          seed: int = 0, checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 500,
          device: torch.device | str | None = None, desc: str = "training",
          progress: bool | None = None, log_every: int = 100) -> History:
    """Train `model` for `steps` minibatch steps and return the per-step History.

    loss_fn(model, batch) -> dict of scalar tensors with a "loss" entry (the one minimised) and any
    other terms worth logging. The default calls `model.loss(*batch)`.
    after_step(step, terms) runs after each update with the step's terms as detached 0-d tensors
    (still on the device: calling float() on one waits for the GPU). The place for schedules such as
    GECO's beta update. State it changes must live in the model (buffers) to be checkpointed.
    checkpoint: a file path; if the file exists training resumes from it, and it is rewritten
    every `checkpoint_every` steps and at the end.
    log_every: the loss terms are copied to the host (and checked for NaN/inf) once every this many
    steps, not every step: on a GPU each copy would stall the queue of kernels.
    """
    tensors = _as_tensors(data)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    tensors = _place_on_device(tensors, device)
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

    show = progress_enabled() if progress is None else progress
    if show and start < steps:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=start, desc=desc, leave=True)
    else:
        bar = None
    pending: list[tuple[int, dict]] = []   # (step, terms) not yet copied to the host

    def flush() -> None:
        """Copy the pending steps' terms to the host in one transfer, check them, log them."""
        if not pending:
            return
        names = list(pending[0][1])
        table = torch.stack([torch.stack([torch.as_tensor(terms[n], dtype=torch.float64, device=device)
                                          for n in names]) for _, terms in pending]).cpu().numpy()
        for (step, _), row in zip(pending, table):
            values = dict(zip(names, row.tolist()))
            bad = [name for name, value in values.items() if not np.isfinite(value)]
            if bad:
                raise NonFiniteLossError(
                    f"loss term {bad[0]!r} became {values[bad[0]]} at step {step} (all terms: {values}; "
                    f"found when steps {pending[0][0]}-{pending[-1][0]} were checked). Try a lower learning "
                    f"rate, check the data range, or resume from the last checkpoint.")
            history.append(values)
        if bar is not None:
            bar.update(len(pending))
            bar.set_postfix({k: f"{v:.3g}" for k, v in list(values.items())[:4]})
        pending.clear()

    def save(step: int) -> None:
        flush()
        _save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "sampler": sampler.state_dict(), "history": history.terms, "step": step,
                          "rng": _rng_state()}, path)

    # torch.distributions' argument checks would make the CPU wait for the GPU at every step;
    # the NaN/inf guard in flush() catches what they would.
    with without_distribution_checks():
        order, order_on_device = None, None
        for step in range(start + 1, steps + 1):
            position = sampler.position if sampler.position + sampler.batch_size <= sampler.n else 0
            indices = sampler.next_indices()  # one draw for all tensors: x and its y stay paired
            if tensors[0].device != indices.device:
                if sampler.order is not order:  # a new epoch: copy its order to the device once
                    order, order_on_device = sampler.order, sampler.order.to(device)
                indices = order_on_device[position:position + sampler.batch_size]
            batch = tuple(t[indices].to(device, non_blocking=True) for t in tensors)
            terms = loss_fn(model, batch)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            logged = {name: value.detach() if torch.is_tensor(value) else value for name, value in terms.items()}
            pending.append((step, logged))
            if after_step is not None:
                after_step(step, logged)
            if len(pending) >= log_every or step == steps:
                flush()
            if path is not None and (step % checkpoint_every == 0 or step == steps):
                save(step)
    flush()
    if bar is not None:
        bar.close()
    model.eval()
    return history
