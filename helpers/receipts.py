"""Receipts: the key numbers a notebook records in its last cell.

    from helpers.receipts import record
    record("nll_vae", 91.3)

`record` prints the number and, when the runner (`python -m coursetools run`) set `$COURSE_RECEIPT`,
writes every number recorded so far to that JSON file: the runner collects them into `receipts.json`,
and the notebook tests check them against the expected ranges in `tests/expected_receipts/`.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

RECEIPT_ENV = "COURSE_RECEIPT"

_receipt: dict[str, object] = {}



def _plain(value):
    """Numbers as plain floats/ints (no tensors, no NumPy scalars), so receipts are valid JSON."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or isinstance(value, (int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return float(value)


def flatten(name: str, value) -> dict[str, object]:
    """A dictionary entry as scalar keys `name.key` (nested dictionaries as `name.key.subkey`), so that every
    number of a receipt is one key: the seed sweeps (results/seeds/) and the expected ranges hold only those."""
    if isinstance(value, dict):
        flat = {}
        for key, item in value.items():
            flat.update(flatten(f"{name}.{key}", item))
        return flat
    return {name: _plain(value)}


def record(name: str, value) -> None:
    """Record one key number of this notebook (a dictionary: one key per entry, `name.key`); written to
    `$COURSE_RECEIPT` when the runner set it."""
    entries = flatten(name, value)
    _receipt.update(entries)
    path = os.environ.get(RECEIPT_ENV)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(_receipt, indent=2, sort_keys=True))
    for key, item in entries.items():
        print(f"receipt: {key} = {item}")


def receipt() -> dict:
    """The numbers recorded so far in this process."""
    return dict(_receipt)
