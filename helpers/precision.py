"""Where float64 may live. Apple's MPS has no float64 ("Cannot convert a MPS Tensor to float64 dtype"), so the
course keeps float64 off such a device by construction:

- `wide_dtype(device)`: the dtype for sums and state that want more than float32 (GECO/REWO's beta, the
  factorial prior's natural parameters, MMD, importance-sampling sums): float64 where the device has it
  (CPU, CUDA: the numbers are as before), float32 on a device without it.
- `Float64State`: a module mixin whose float64 buffers become float32 when the module moves to such a device.
- `on_host()`: marks host-side bookkeeping (one copy per evaluation or log flush) that may use float64 anywhere.

`DEVICES_WITHOUT_FLOAT64` is what the tests widen to "cpu" to play a device without float64 (see
tests/test_float64_free.py); nothing else should change it.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import torch

DEVICES_WITHOUT_FLOAT64: set[str] = {"mps"}
_host = threading.local()


def has_float64(device) -> bool:
    return torch.device(device).type not in DEVICES_WITHOUT_FLOAT64


def wide_dtype(device) -> torch.dtype:
    """float64 where the device has it, else float32."""
    return torch.float64 if has_float64(device) else torch.float32


@contextmanager
def on_host():
    """Host-side float64 bookkeeping (tensors already copied to the CPU)."""
    _host.depth = getattr(_host, "depth", 0) + 1
    try:
        yield
    finally:
        _host.depth -= 1


def in_host_section() -> bool:
    return getattr(_host, "depth", 0) > 0


class Float64State:
    """Mixin for an nn.Module with float64 buffers: moved to a device without float64 they become float32."""

    def _apply(self, fn, recurse=True):
        if not has_float64(fn(torch.zeros(())).device):
            for module in self.modules():
                for name, buf in module._buffers.items():
                    if buf is not None and buf.dtype == torch.float64:
                        with on_host():
                            module._buffers[name] = buf.float()
        return super()._apply(fn, recurse)
