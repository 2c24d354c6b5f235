"""The course's training loop: one function, `train`, shared by every notebook.

Besides the minibatch step, it keeps a loss history (one value per step for every term the loss
returns), shows a progress bar, moves the data to the device once, checks the data before the first
step and stops at a NaN or infinite loss term, naming it. With `checkpoint=` it resumes an interrupted
run exactly; that part lives in `helpers.checkpoints`.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .precision import on_host, wide_dtype
from .checkpoints import Checkpoint, describe_run, run_config
from .checkpoints import CheckpointError, load_checkpoint  # noqa: F401  (importable from here, as before)
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
    """Shuffled minibatches, epoch after epoch, from its own generator (so its state can be saved).
    The order is drawn on the CPU; `device` is where the indices are handed out (the data's device),
    copied there once per epoch rather than once per batch."""

    def __init__(self, n: int, batch_size: int, seed: int, device: torch.device | str = "cpu"):
        if n == 0:
            raise ValueError("cannot train on an empty data set")
        self.n, self.batch_size, self.device = n, min(batch_size, n), torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)
        self._set_order(torch.randperm(n, generator=self.generator), 0)

    def _set_order(self, order: torch.Tensor, position: int) -> None:
        self.order, self.position = order, position
        self._order_on_device = order.to(self.device)

    def next_indices(self) -> torch.Tensor:
        if self.position + self.batch_size > self.n:  # drop the ragged end: every batch has the same size
            self._set_order(torch.randperm(self.n, generator=self.generator), 0)
        indices = self._order_on_device[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return indices

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"].cpu())
        self._set_order(state["order"].cpu(), state["position"])


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


def widget_frontend() -> bool:
    """True only where a live notebook frontend is known to draw ipywidgets: a kernel started by Jupyter
    Server (JupyterLab, Notebook 7: JPY_SESSION_NAME), by VS Code, or on Colab. papermill and nbconvert start
    kernels without a frontend; a widget they save renders as an empty box, so they get plain text."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        return False
    if shell is None or not hasattr(shell, "kernel"):
        return False
    return bool(os.environ.get("JPY_SESSION_NAME") or os.environ.get("COLAB_RELEASE_TAG")
                or "google.colab" in sys.modules or any(k.startswith("VSCODE_") for k in os.environ))


def progress_style() -> str | None:
    """How `train` shows progress: "widget" (a notebook frontend that draws it), "text" (plain tqdm, which a
    saved notebook keeps as text), or None. COURSE_PROGRESS=widget|text|none overrides the guess."""
    forced = os.environ.get("COURSE_PROGRESS", "").strip().lower()
    if forced in ("widget", "text"):
        return forced
    if forced in ("none", "0", "off") or not progress_enabled():
        return None
    return "widget" if widget_frontend() else "text"


def _as_tensors(data) -> tuple[torch.Tensor, ...]:
    """Accept a tensor, a tuple of tensors (e.g. images and attributes) or a data set with `.images`."""
    if isinstance(data, torch.Tensor):
        return (data,)
    if isinstance(data, (tuple, list)):
        return tuple(data)
    if hasattr(data, "images"):
        return (data.images,)
    raise TypeError("train() needs a tensor, a tuple of tensors, or a data set with an `.images` tensor")


def _check_data(tensors: tuple[torch.Tensor, ...], model: nn.Module) -> None:
    """Once, before the first step: NaN/inf would otherwise surface as a loss error steps later."""
    for i, t in enumerate(tensors):
        if not t.is_floating_point():
            continue
        for start, chunk in zip(range(0, len(t), 4096), t.split(4096)):   # bounded extra memory
            bad = ~torch.isfinite(chunk.reshape(len(chunk), -1)).all(dim=1)
            if bad.any():
                row = start + int(bad.nonzero()[0])
                value = t[row].flatten()[~torch.isfinite(t[row].flatten())][0].item()
                raise ValueError(f"training data tensor {i} (counting from 0) has {value} at row {row}: "
                                 f"remove or repair the rows with NaN or infinite values before training")
    likelihood = getattr(model, "likelihood", None)
    if hasattr(likelihood, "check_data") and tensors[0].is_floating_point():
        likelihood.check_data(tensors[0])   # e.g. a Bernoulli decoder needs x in [0, 1]


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


class _LossLog:
    """The steps' loss terms on their way into the History (and the progress bar). They stay on the device
    and are copied to the host in blocks of `every` steps: a copy per step would make the CPU wait for the
    GPU at every step."""

    def __init__(self, history: History, device: torch.device, every: int, bar):
        self.history, self.device, self.every, self.bar = history, device, every, bar
        self.pending: list[tuple[int, dict]] = []   # (step, terms) not yet copied to the host

    def add(self, step: int, terms: dict) -> None:
        self.pending.append((step, terms))

    def flush(self, force: bool = True) -> None:
        """Copy the pending terms to the host in one transfer (when forced or a block is full), check, log."""
        if not self.pending or (not force and len(self.pending) < self.every):
            return
        names = list(self.pending[0][1])
        wide = wide_dtype(self.device)   # float64 where the device has it; else float64 on the host only
        table = torch.stack([torch.stack([torch.as_tensor(terms[n], dtype=wide, device=self.device)
                                          for n in names]) for _, terms in self.pending]).cpu()
        with on_host():
            table = table.to(torch.float64).numpy()
        for (step, _), row in zip(self.pending, table):
            values = dict(zip(names, row.tolist()))
            bad = [name for name, value in values.items() if not np.isfinite(value)]
            if bad:
                raise NonFiniteLossError(
                    f"loss term {bad[0]!r} became {values[bad[0]]} at step {step} (all terms: {values}; found "
                    f"when steps {self.pending[0][0]}-{self.pending[-1][0]} were checked). Try a lower learning "
                    f"rate, check the data range, or resume from the last checkpoint.")
            self.history.append(values)
        if self.bar is not None:
            self.bar.update(len(self.pending))
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in list(values.items())[:4]})
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        if self.bar is not None:
            self.bar.close()


def _progress_bar(show: bool | None, start: int, steps: int, desc: str):
    style = progress_style() if show is None else (progress_style() or "text") if show else None
    if style is None or start >= steps:
        return None
    if style == "widget":
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm   # plain text: under papermill/nbconvert no empty widget is saved
    return tqdm(total=steps, initial=start, desc=desc, leave=True)


def train(model: nn.Module, data, *, steps: int, batch_size: int = 128, lr: float = 1e-3,
          optimizer: torch.optim.Optimizer | None = None,
          loss_fn: Callable[[nn.Module, tuple[torch.Tensor, ...]], dict] | None = None,
          after_step: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
          seed: int = 0, config: dict | None = None, checkpoint: str | os.PathLike | None = None,
          checkpoint_every: int = 500, device: torch.device | str | None = None, desc: str = "training",
          progress: bool | None = None, log_every: int = 100, on_mismatch: str = "restart") -> History:
    """Train `model` for `steps` minibatch steps (Adam at `lr` unless `optimizer` is given) and return
    the per-step History.

    data: a tensor, a tuple of tensors drawn together (x and its labels), or a data set with `.images`.
    loss_fn(model, batch) -> dict of scalar tensors with a "loss" entry (the one minimised) and any other
        terms worth logging. The default calls `model.loss(*batch)`.
    after_step(step, terms): runs after each update with the step's terms as detached tensors, still on
        the device (float() on one waits for the GPU). The place for schedules such as GECO's beta
        update; state it changes must live in the model (buffers) to be checkpointed.
    seed: the batch order and the random draws inside the loss follow it.
    config: the settings that define this run (the notebook's profile sizes, beta, the method's name):
        plain values, saved in its checkpoints; a rerun with another config starts fresh.
    checkpoint: a file path, or None for no checkpoints. An existing file of the same run is resumed;
        one of another run is renamed <name>.stale-<hash>.pt and training starts fresh (or, with
        on_mismatch="error", raises CheckpointError). Written every `checkpoint_every` steps and at the end.
    device: where to train (default: where the model's parameters are); desc: the progress bar's label;
        progress: show the bar (default: only when someone watches, see `progress_enabled`).
    log_every: the terms are copied to the host, checked for NaN/inf and logged every this many steps.
    """
    tensors = _as_tensors(data)
    _check_data(tensors, model)
    config = run_config(config)   # checked in every profile, not only in those that save it
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = loss_fn or (lambda m, batch: m.loss(*batch))
    # described before any checkpoint is loaded, so it is the run the cell asked for
    saved = None if checkpoint is None else Checkpoint(
        checkpoint, describe_run(model, optimizer, tensors, config, batch_size, seed), on_mismatch)
    tensors = _place_on_device(tensors, device)
    sampler = BatchSampler(len(tensors[0]), batch_size, seed, device=tensors[0].device)
    resumed = saved.resume(model, optimizer, sampler, steps) if saved is not None else None
    if resumed is None:
        torch.manual_seed(seed)   # the random draws inside the loss (e.g. z ~ q) follow the seed too
    terms, start = resumed or ({}, 0)
    history = History(terms)
    log = _LossLog(history, device, log_every, _progress_bar(progress, start, steps, desc))

    # torch.distributions' argument checks would make the CPU wait for the GPU at every step;
    # the NaN/inf check of the logged terms catches what they would.
    with without_distribution_checks():
        for step in range(start + 1, steps + 1):
            indices = sampler.next_indices()   # one draw for all tensors: x and its y stay paired
            batch = tuple(t[indices].to(device, non_blocking=True) for t in tensors)
            terms = loss_fn(model, batch)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            terms = {name: value.detach() if torch.is_tensor(value) else value for name, value in terms.items()}
            log.add(step, terms)
            if after_step is not None:
                after_step(step, terms)
            log.flush(force=step == steps)
            if saved is not None and (step % checkpoint_every == 0 or step == steps):
                log.flush()
                saved.save(step, model, optimizer, sampler, history.terms)
    log.close()
    finish = getattr(getattr(after_step, "__self__", None), "finish_training", None)
    if callable(finish):   # e.g. GECO/REWO: a warning when the final beta sits at its clamp
        finish()
    model.eval()
    return history
