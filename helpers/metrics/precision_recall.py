"""Precision and recall of generative models: two ways to split "sample quality" into two numbers.

- `precision_recall`  Kynkäänniemi et al. (2019), "Improved precision and recall metric for assessing
                      generative models", NeurIPS 2019, https://arxiv.org/abs/1904.06991:
                      k-nearest-neighbour balls around each set approximate its support (manifold);
                      precision = share of generated samples inside the real manifold, recall =
                      share of real samples inside the generated manifold.
- `prd`               Sajjadi et al. (2018), "Assessing generative models via precision and recall",
                      NeurIPS 2018, https://arxiv.org/abs/1806.00035 (ref. [21] of Table 4 in Prathosh
                      A.P.'s lecture slides "The landscape of Regularized Auto-Encoders for generative
                      modeling", IIT Delhi, no public link): cluster both sets jointly, compare the
                      cluster histograms, and trace the whole precision-recall curve; summarised by
                      F_8 (recall-like) and F_1/8 (precision-like).

Both work on features (e.g. from `helpers.metrics.ClassifierFeatures` or Inception), not raw pixels.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.cluster import MiniBatchKMeans
from sklearn.neighbors import NearestNeighbors

from ..arrays import as_array

FEATURES = "[N, dims] feature array"


# --- Kynkäänniemi et al. 2019 ---------------------------------------------------------------------
class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """NND_k(phi): distance from each point to its k-th nearest neighbour within the same set."""
    if len(features) <= k:
        raise ValueError(f"need more than k={k} samples to form k-NN balls, got {len(features)}")
    # k + 1 neighbours because each point is its own nearest neighbour at distance 0.
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    return distances[:, k]


def fraction_inside(queries: np.ndarray, support: np.ndarray, radii: np.ndarray,
                    chunk_size: int = 1024) -> float:
    """Share of `queries` that fall inside at least one ball B(support_j, radii_j).

    f(phi, Phi) = 1 if there is phi' in Phi with ||phi - phi'|| <= NND_k(phi')   (Kynkäänniemi eq. 1)
    Distances are computed `chunk_size` queries at a time, so memory stays chunk_size x len(support).
    """
    inside = np.zeros(len(queries), dtype=bool)
    for start in range(0, len(queries), chunk_size):
        distances = cdist(queries[start:start + chunk_size], support)
        inside[start:start + chunk_size] = (distances <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real_feats, fake_feats, k: int = 3, chunk_size: int = 1024) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019), k = 3 as in the paper.

    precision = 1/|fake| sum_{fake} f(fake, real)    generated samples that look real
    recall    = 1/|real| sum_{real} f(real, fake)    real samples the model can produce
    Returns a (precision, recall) named tuple.
    """
    real, fake = as_array(real_feats, "real_feats", shape=FEATURES), as_array(fake_feats, "fake_feats", shape=FEATURES)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sets differ in width: {real.shape[1]} vs {fake.shape[1]}")
    precision = fraction_inside(fake, real, knn_radii(real, k), chunk_size)
    recall = fraction_inside(real, fake, knn_radii(fake, k), chunk_size)
    return PrecisionRecall(precision, recall)


# --- Sajjadi et al. 2018 --------------------------------------------------------------------------
def prd_from_histograms(reference_hist, eval_hist, num_angles: int = 1001, epsilon: float = 1e-10):
    """The PRD curve of a model distribution Q (`eval_hist`) against a reference P (`reference_hist`).

    For slopes lambda = tan(theta), theta in (0, pi/2)   (Sajjadi et al., Theorem 2):
        alpha(lambda) = sum_w min(lambda P(w), Q(w))      precision
        beta(lambda)  = sum_w min(P(w), Q(w) / lambda)    recall  (= alpha / lambda)
    Returns (precision [num_angles], recall [num_angles]).
    """
    reference, model = np.asarray(reference_hist, np.float64), np.asarray(eval_hist, np.float64)
    if reference.shape != model.shape or reference.ndim != 1:
        raise ValueError(f"histograms must be 1-d and of equal length, got {reference.shape} and {model.shape}")
    if (reference < 0).any() or (model < 0).any():
        raise ValueError("histograms must be non-negative")
    reference, model = reference / reference.sum(), model / model.sum()
    slopes = np.tan(np.linspace(epsilon, np.pi / 2 - epsilon, num_angles))
    precision = np.minimum(reference[None, :] * slopes[:, None], model[None, :]).sum(axis=1)
    recall = precision / slopes
    return np.clip(precision, 0.0, 1.0), np.clip(recall, 0.0, 1.0)   # clip float round-off


def prd_f_beta(precision, recall, beta: float = 8.0) -> float:
    """max over the curve of F_beta = (1 + beta^2) p r / (beta^2 p + r)  (Sajjadi et al., sec. 4).

    beta = 8 weighs recall (does the model cover the data?), beta = 1/8 weighs precision
    (are its samples realistic?).
    """
    precision, recall = np.asarray(precision), np.asarray(recall)
    denominator = beta ** 2 * precision + recall
    scores = np.where(denominator > 0, (1 + beta ** 2) * precision * recall / np.where(denominator > 0, denominator, 1), 0.0)
    return float(scores.max())


def prd(real_feats, fake_feats, num_clusters: int = 20, num_angles: int = 1001, num_runs: int = 10,
        seed: int = 0) -> dict:
    """Sajjadi et al. (2018): the PRD curve from k-means histograms, averaged over `num_runs` clusterings.

    Each run clusters the union of both sets into `num_clusters` clusters (mini-batch k-means) and
    compares the two sets' cluster histograms with `prd_from_histograms`. Use sets of equal size
    (the paper's recommendation). Returns {"precision", "recall" (curves), "f_8", "f_1_8"}.
    """
    real, fake = as_array(real_feats, "real_feats", shape=FEATURES), as_array(fake_feats, "fake_feats", shape=FEATURES)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sets differ in width: {real.shape[1]} vs {fake.shape[1]}")
    union = np.concatenate([real, fake])
    curves = []
    for run in range(num_runs):
        kmeans = MiniBatchKMeans(n_clusters=num_clusters, n_init=10, random_state=seed + run)
        assignment = kmeans.fit_predict(union)
        real_hist = np.bincount(assignment[:len(real)], minlength=num_clusters)
        fake_hist = np.bincount(assignment[len(real):], minlength=num_clusters)
        curves.append(prd_from_histograms(real_hist, fake_hist, num_angles))
    precision, recall = np.mean(curves, axis=0)
    return {"precision": precision, "recall": recall,
            "f_8": prd_f_beta(precision, recall, 8.0), "f_1_8": prd_f_beta(precision, recall, 1 / 8)}


def plot_prd(curves: dict, ax=None):
    """Plot PRD curves {label: prd(...) result} in the unit square, with (F_8, F_1/8) in the legend."""
    import matplotlib.pyplot as plt
    ax = ax if ax is not None else plt.subplots(figsize=(4, 4))[1]
    for label, curve in curves.items():
        ax.plot(curve["recall"], curve["precision"],
                label=f"{label} (F8={curve['f_8']:.2f}, F1/8={curve['f_1_8']:.2f})")
    ax.set(xlim=(0, 1), ylim=(0, 1.05), xlabel="recall", ylabel="precision", aspect="equal")
    ax.legend(fontsize="small")
    return ax
