"""One validator for the arrays the metrics and the interpolation take: a tensor (on any device) or
anything numpy reads, as a numpy array, with an error that names the argument and says what was expected.
"""
from __future__ import annotations

import numpy as np


def as_array(values, name: str, *, shape: str | None = "[N, dims] array", min_rows: int = 0,
             columns: bool = False, dtype=np.float64, finite: bool = True) -> np.ndarray:
    """`values` as a numpy array of `dtype` (None: keep the dtype), checked.

    shape:    the two-dimensional shape expected, in words for the error ("[N, latent_dim] array");
              None accepts any shape
    min_rows: the fewest rows N accepted
    columns:  a one-dimensional array becomes one column, [N] -> [N, 1]
    finite:   NaN or inf is an error
    """
    array = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype)
    if columns and array.ndim == 1:
        array = array[:, None]
    if shape is not None and (array.ndim != 2 or len(array) < min_rows):
        rows = f" with N >= {min_rows}" if min_rows > 1 else ""
        raise ValueError(f"{name} must be an {shape}{rows}, got shape {array.shape}")
    if finite and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf")
    return array
