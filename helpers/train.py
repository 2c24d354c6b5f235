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
  each block of `log_every` steps);
- a fingerprint of what produced each checkpoint (model, training settings, loss function, data), so a
  cell rerun with a changed setting starts fresh instead of silently continuing the old run;
- checkpoints read with `weights_only=True` (a checkpoint someone shares cannot run code on your
  machine), and a clear `CheckpointError` for a damaged or foreign file;
- a check of the data before the first step: NaN/inf values, or values the decoder's likelihood
  cannot score, are reported with the tensor and row instead of failing deep inside the model.
"""
from __future__ import annotations

import dis
import functools
import hashlib
import os
import sys
import types
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .runtime import without_distribution_checks


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite."""


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: damaged, foreign, or (with on_mismatch="error") stale."""


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
        self.generator.set_state(state["generator"].cpu())
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


# --- what produced a checkpoint -------------------------------------------------------------------
_SCALAR = (bool, int, float, str)


def _plain(value):
    """A setting worth recording as it is (a number, a string, or a tuple/list of them), else None."""
    if isinstance(value, _SCALAR):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, _SCALAR) for v in value):
        return list(value)
    return None


def _settings(obj, prefix: str, out: dict) -> None:
    """The scalar attributes of `obj` (e.g. a model's latent_dim, a schedule's kappa2)."""
    for name, value in vars(obj).items():
        if not name.startswith("_") and name != "training" and _plain(value) is not None:
            out[prefix + name] = _plain(value)


def _describe_callable(fn, prefix: str, out: dict, depth: int = 0) -> None:
    """Name a function and the scalar values it carries with it: a closure's cells (beta in
    `vae_loss(beta)`), its defaults, the module-level constants it reads (BETA in a notebook), a bound
    method's object's settings, a partial's arguments. Code inside the function cannot be compared."""
    if isinstance(fn, functools.partial):
        for i, arg in enumerate(fn.args):
            if _plain(arg) is not None:
                out[f"{prefix}.args[{i}]"] = _plain(arg)
        for name, arg in fn.keywords.items():
            if _plain(arg) is not None:
                out[f"{prefix}.{name}"] = _plain(arg)
        fn = fn.func
    function = getattr(fn, "__func__", fn)   # a bound method's plain function
    out[prefix] = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', type(fn).__qualname__)}"
    owner = getattr(fn, "__self__", None)
    if isinstance(fn, types.MethodType) and hasattr(owner, "__dict__"):   # e.g. schedule.loss_fn: GECO's, not REWO's
        out[prefix] = f"{type(owner).__module__}.{type(owner).__qualname__}.{function.__name__}"
        _settings(owner, f"{prefix}.self.", out)
    code = getattr(function, "__code__", None)
    if code is None:
        return
    values = {}
    for instruction in dis.get_instructions(code):   # the global names it reads (not attribute names)
        if instruction.opname == "LOAD_GLOBAL" and instruction.argval in function.__globals__:
            values[instruction.argval] = function.__globals__[instruction.argval]
    positional = code.co_varnames[:code.co_argcount]
    values.update(zip(positional[len(positional) - len(function.__defaults__ or ()):], function.__defaults__ or ()))
    values.update(function.__kwdefaults__ or {})
    for name, cell in zip(code.co_freevars, function.__closure__ or ()):
        try:
            values[name] = cell.cell_contents
        except ValueError:                           # a cell not filled yet
            pass
    for name, value in values.items():
        if _plain(value) is not None:
            out[f"{prefix}.{name}"] = _plain(value)
        elif depth < 2 and isinstance(value, (types.FunctionType, types.MethodType, functools.partial)):
            _describe_callable(value, f"{prefix}.{name}", out, depth + 1)   # e.g. dynamic(loss_fn) wraps one


def _data_digest(tensors: tuple[torch.Tensor, ...], out: dict) -> None:
    """Shape, dtype and a hash of each data tensor: all of it when small (16 MiB), else 1024 rows spread
    evenly through it, so a big data set costs milliseconds."""
    for i, t in enumerate(tensors):
        out[f"data[{i}].shape"], out[f"data[{i}].dtype"] = list(t.shape), str(t.dtype)
        if t.numel() * t.element_size() > 16 * 2**20:
            t = t[torch.linspace(0, len(t) - 1, 1024).long().to(t.device)]
        raw = t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()
        out[f"data[{i}].sha256"] = hashlib.sha256(raw).hexdigest()[:16]


def _fingerprint(model: nn.Module, tensors, optimizer: torch.optim.Optimizer, loss_fn, batch_size: int,
                 seed: int) -> dict:
    """What produced a run, as a flat dict of plain values saved in every checkpoint. A rerun whose
    fingerprint differs does not resume. `steps` is left out, so a longer run continues a shorter one;
    so are log_every, checkpoint_every, progress and after_step, which do not change the numbers
    (schedules that do keep their state in the model's buffers).
    It cannot see: an edit inside a function's body, values that are not plain numbers or strings (a
    tensor or a dict captured by the loss function), the device and library versions, and for a data set
    over 16 MiB a change in rows its 1024-row sample misses. Delete the checkpoint after such a change."""
    out = {"model": f"{type(model).__module__}.{type(model).__qualname__}"}
    for name, module in model.named_modules():
        _settings(module, f"model.{name}." if name else "model.", out)
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        out[f"model.{name}.shape"] = list(tensor.shape)
        if tensor.dim() == 0:   # a scalar's starting value is a setting (GECO's beta_init, a fixed sigma)
            out[f"model.{name}"] = tensor.item()
    out["batch_size"], out["seed"] = batch_size, seed
    out["optimizer"] = type(optimizer).__qualname__
    for i, group in enumerate(optimizer.param_groups):
        where = "optimizer." if i == 0 else f"optimizer[{i}]."
        out[where + "n_params"] = len(group["params"])
        for key, value in group.items():
            if key != "params" and _plain(value) is not None:
                out[where + key] = _plain(value)
    _describe_callable(loss_fn, "loss_fn", out)
    _data_digest(tensors, out)
    return out


def _first_difference(old: dict, new: dict) -> tuple[str, int]:
    """'beta=1.0, now beta=4.0'-style description of the first changed entry, and how many changed."""
    changed = [key for key in [*new, *(k for k in old if k not in new)]
               if not (old.get(key) == new.get(key) or repr(old.get(key)) == repr(new.get(key)))]
    if not changed:
        return "", 0
    key = changed[0]
    before = f"{key}={old[key]!r}" if key in old else f"no {key}"
    after = f"{key}={new[key]!r}" if key in new else f"no {key}"
    return f"was written with {before}, now {after}", len(changed)


# --- reading checkpoints --------------------------------------------------------------------------
_REQUIRED = {"model", "optimizer", "sampler", "history", "step", "rng"}


def _written_before_fingerprints(path: Path) -> bool:
    """A checkpoint from the course's older format: its only non-tensor objects were numpy's RNG state."""
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path) if zipfile.is_zipfile(path) else []
    except Exception:
        return False
    return bool(unsafe) and all(name.startswith("numpy.") for name in unsafe)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by `train`, with `weights_only=True`: tensors and plain containers only,
    so loading a file someone shared cannot run code. Raises CheckpointError for anything else."""
    path = Path(path)
    todo = "Delete it (or move it away) to start fresh, or pass another checkpoint= path."
    if not zipfile.is_zipfile(path):   # torch.save writes a zip archive; a cut-off one has no directory
        raise CheckpointError(f"checkpoint {path} is truncated or is not a PyTorch checkpoint. {todo}")
    try:
        # on the CPU: the sampler's batch order must stay there; load_state_dict moves the rest to the model
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        if "Weights only load failed" in str(error):
            raise CheckpointError(
                f"checkpoint {path} holds Python objects, not only tensors, so it was not written by "
                f"helpers.train.train and is not loaded (unpickling it could run code). {todo}") from None
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"checkpoint {path} is damaged ({reason}). {todo}") from None
    if not isinstance(state, dict) or not _REQUIRED <= state.keys():
        raise CheckpointError(f"checkpoint {path} is not a training checkpoint written by helpers.train.train "
                              f"(it needs the entries {sorted(_REQUIRED)}). {todo}")
    return state


def _file_hash(path: Path) -> str:
    """Six hex digits of the file's sha256: distinct stale files get distinct names."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:6]


def _resume_state(path: Path, fingerprint: dict, steps: int, on_mismatch: str) -> dict | None:
    """The checkpoint to resume from, or None to start fresh (no file, or one from other settings,
    which is renamed <name>.stale-<hash>.pt so nothing is lost)."""
    if not path.exists():
        return None
    if _written_before_fingerprints(path):
        reason = "was written before checkpoints recorded their settings"
    else:
        state = load_checkpoint(path)
        if "fingerprint" not in state:
            reason = "was written before checkpoints recorded their settings"
        elif state["step"] > steps:
            reason = f"is at step {state['step']}, beyond steps={steps}"
        else:
            reason, n_changed = _first_difference(state["fingerprint"], fingerprint)
            if n_changed > 1:
                reason += f" (and {n_changed - 1} more differences)"
            if not reason:
                return state
    if on_mismatch == "error":
        raise CheckpointError(f"checkpoint {path} {reason}. Delete it, pass another checkpoint= path, or use "
                              f"on_mismatch='restart' to keep it aside and start fresh.")
    stale = path.with_name(f"{path.stem}.stale-{_file_hash(path)}{path.suffix}")
    os.replace(path, stale)
    print(f"checkpoint {path.name} {reason}: starting fresh; the old file is kept as {stale.name}")
    return None


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
          progress: bool | None = None, log_every: int = 100, on_mismatch: str = "restart") -> History:
    """Train `model` for `steps` minibatch steps and return the per-step History.

    loss_fn(model, batch) -> dict of scalar tensors with a "loss" entry (the one minimised) and any
    other terms worth logging. The default calls `model.loss(*batch)`.
    after_step(step, terms) runs after each update with the step's terms as detached 0-d tensors
    (still on the device: calling float() on one waits for the GPU). The place for schedules such as
    GECO's beta update. State it changes must live in the model (buffers) to be checkpointed.
    checkpoint: a file path; if the file exists and was written by a run with the same settings (see
    `_fingerprint`) training resumes from it, and it is rewritten every `checkpoint_every` steps and
    at the end. A file from other settings is renamed <name>.stale-<hash>.pt and training starts
    fresh (on_mismatch="restart", the default), or it raises CheckpointError (on_mismatch="error").
    log_every: the loss terms are copied to the host (and checked for NaN/inf) once every this many
    steps, not every step: on a GPU each copy would stall the queue of kernels.
    """
    if on_mismatch not in ("restart", "error"):
        raise ValueError(f"on_mismatch must be 'restart' or 'error', got {on_mismatch!r}")
    tensors = _as_tensors(data)
    _check_data(tensors, model)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = loss_fn or (lambda m, batch: m.loss(*batch))
    path = Path(checkpoint) if checkpoint is not None else None
    # taken before any checkpoint is loaded, so it describes the run as the cell asked for it
    fingerprint = _fingerprint(model, tensors, optimizer, loss_fn, batch_size, seed) if path is not None else None
    tensors = _place_on_device(tensors, device)
    sampler = BatchSampler(len(tensors[0]), batch_size, seed)
    history, start = History(), 0

    state = _resume_state(path, fingerprint, steps, on_mismatch) if path is not None else None
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(f"checkpoint {path} matches this run's settings but does not fit the model "
                                  f"({str(error).splitlines()[0]}). Delete it or pass another checkpoint= path.") from None
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
                          "rng": _rng_state(), "fingerprint": fingerprint}, path)

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
