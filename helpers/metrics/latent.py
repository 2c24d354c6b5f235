"""Geometry of a learned latent space: how many dimensions are used, and how correlated they are.

- `active_dims`  which latent dimensions carry information: mask values above a threshold (MaskAAE:
                 A. K. Mondal et al., "MaskAAE: Latent space optimization for adversarial
                 auto-encoders", UAI 2020, https://arxiv.org/abs/1912.04564) or, for a probabilistic
                 encoder, Burda et al.'s (2016) activity statistic A_u = Cov_x(E_{q(z|x)}[z_u]) above
                 0.01 (Y. Burda, R. Grosse, R. Salakhutdinov, "Importance Weighted Autoencoders",
                 ICLR 2016, https://arxiv.org/abs/1509.00519). A_u > ACTIVITY_THRESHOLD (0.01) is the
                 course's one criterion for an "active" dimension of a probabilistic encoder: notebooks
                 count active dimensions with `active_dims`, never with a second rule (a KL cut-off, say).
- `nac`          normalised absolute (off-diagonal) correlation of the codes, Table 2 of Prathosh A.P.,
                 "The landscape of Regularized Auto-Encoders for generative modeling" (lecture slides
                 on MaskAAE and FlexAE, IIT Delhi; no public link): how far the aggregate posterior is
                 from the factorised prior N(0, I) in its second moments (0 for independent
                 dimensions, 1 for copies of one dimension).
"""
from __future__ import annotations

import numpy as np

from ..arrays import as_array

ACTIVITY_THRESHOLD = 0.01   # Burda et al. (2016): dimension u is active when A_u = Var_x(E_q[z_u]) > 0.01
MASK_THRESHOLD = 0.5        # a mask layer's value above 1/2 keeps its dimension (MaskAAE's m_A)


def activity(posterior_means) -> np.ndarray:
    """Burda et al. (2016), sec. 5.2: A_u = Cov_x(E_{q(z|x)}[z_u]), the variance over the data of each
    code dimension's posterior mean. A dimension whose mean ignores x (A_u ~ 0) is inactive: its
    posterior has collapsed to the prior."""
    means = as_array(posterior_means, "posterior_means", shape=None)
    if means.ndim != 2 or len(means) < 2:
        raise ValueError(f"posterior_means must be [N >= 2, latent_dim], got shape {means.shape}")
    return means.var(axis=0, ddof=1)


def active_dims(values, threshold: float | None = None) -> np.ndarray:
    """Boolean mask of the active latent dimensions; `.sum()` counts them (m_A in the MaskAAE tables).

    - `values` 1-d: a mask layer's values (MaskAAE); active where value > threshold (default
      MASK_THRESHOLD = 0.5).
    - `values` 2-d [N, latent_dim]: posterior means over a data set; active where Burda et al.'s
      activity A_u > threshold (default ACTIVITY_THRESHOLD = 0.01, their choice and the course's one
      criterion for a probabilistic encoder).
    """
    values = as_array(values, "values", shape=None)
    if values.ndim == 1:
        return values > (MASK_THRESHOLD if threshold is None else threshold)
    if values.ndim == 2:
        return activity(values) > (ACTIVITY_THRESHOLD if threshold is None else threshold)
    raise ValueError(f"active_dims needs a 1-d mask or [N, latent_dim] posterior means, got shape {values.shape}")


def correlation_matrix(codes) -> np.ndarray:
    """Pearson correlation of the code dimensions [D, D] (dimensions with zero variance are an error)."""
    codes = as_array(codes, "codes", shape=None)
    if codes.ndim != 2 or len(codes) < 3:
        raise ValueError(f"codes must be [N >= 3, latent_dim], got shape {codes.shape}")
    std = codes.std(axis=0)
    if (std == 0).any():
        raise ValueError(f"code dimensions {np.flatnonzero(std == 0).tolist()} are constant; drop them "
                         "first, e.g. nac(codes, active=active_dims(mask))")
    return np.corrcoef(codes, rowvar=False)


def nac(codes, active=None) -> float:
    """Normalised absolute correlation (Table 2 of Prathosh A.P.'s slides; MaskAAE, Mondal et al. 2020).

    NAC = 1 / (m (m - 1)) sum_{i != j} |rho_ij|,   rho_ij = Cov(z_i, z_j) / (sigma_i sigma_j)

    the mean absolute off-diagonal entry of the correlation ("normalised covariance") matrix of
    the m codes used. `active` (a boolean mask, e.g. from `active_dims`) restricts it to the
    unmasked dimensions, as the table does (its m_A columns). Independent codes give ~0 (plus
    sampling noise of order 1/sqrt(N)); duplicated dimensions push it towards 1.
    """
    codes = as_array(codes, "codes", shape=None)
    if active is not None:
        active = np.asarray(active, dtype=bool)
        if codes.ndim != 2 or active.shape != (codes.shape[1],):
            raise ValueError(f"active must be a boolean mask over the {codes.shape[-1]} code dimensions")
        codes = codes[:, active]
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError("NAC needs at least two (active) code dimensions")
    correlation = np.abs(correlation_matrix(codes))
    m = correlation.shape[0]
    return float((correlation.sum() - np.trace(correlation)) / (m * (m - 1)))
