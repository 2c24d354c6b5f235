"""Disentanglement metrics: pure functions of (codes, factors) with known ground-truth factors.

- `dci`  Eastwood & Williams (2018), "A framework for the quantitative evaluation of disentangled
         representations", ICLR 2018, https://openreview.net/forum?id=By-7dz-AZ: Disentanglement,
         Completeness, Informativeness from an importance matrix.
- `mig`  Chen et al. (2018), "Isolating sources of disentanglement in VAEs", NeurIPS 2018,
         https://arxiv.org/abs/1802.04942: Mutual Information Gap.
- `sap`  Kumar, Sattigeri & Balakrishnan (2018), "Variational inference of disentangled latent
         concepts from unlabeled observations", ICLR 2018, https://arxiv.org/abs/1711.00848:
         Separated Attribute Predictability.

`codes` is an [N, D] array (e.g. posterior means), `factors` an [N, K] array of ground-truth factors.
Factors are treated as discrete classes; a factor with more than `max_classes` distinct values (a
continuous one) is first cut into `n_bins` equal-width bins, as disentanglement_lib does.
"""
from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import mutual_info_score
from sklearn.tree import DecisionTreeClassifier

from ..arrays import as_array

AS_COLUMNS = dict(dtype=None, columns=True, finite=False)  # codes and factors as given; [N] -> [N, 1]


def discretize(values: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Cut each column into `n_bins` equal-width bins, returning integer bin labels [N, dims]."""
    values = as_array(values, "values", **AS_COLUMNS)
    labels = np.zeros(values.shape, dtype=np.int64)
    for j, column in enumerate(values.T):
        edges = np.histogram_bin_edges(column, bins=n_bins)
        labels[:, j] = np.digitize(column, edges[1:-1])      # inner edges: labels 0 .. n_bins-1
    return labels


def factors_as_classes(factors, max_classes: int = 20, n_bins: int = 20) -> np.ndarray:
    """Integer class labels per factor: discrete factors relabelled 0..C-1, continuous ones binned."""
    factors = as_array(factors, "factors", **AS_COLUMNS)
    classes = np.zeros(factors.shape, dtype=np.int64)
    for j, column in enumerate(factors.T):
        values, labels = np.unique(column, return_inverse=True)
        if len(values) > max_classes:
            labels = discretize(column, n_bins)[:, 0]
        classes[:, j] = labels.reshape(-1)
    return classes


def _check_pair(codes, factors) -> tuple[np.ndarray, np.ndarray]:
    codes = as_array(codes, "codes", **AS_COLUMNS).astype(np.float64)
    factors = as_array(factors, "factors", **AS_COLUMNS)
    if len(codes) != len(factors):
        raise ValueError(f"codes and factors must describe the same examples: {len(codes)} codes vs "
                         f"{len(factors)} factor rows")
    if not np.isfinite(codes).all():
        raise ValueError("codes contain NaN or inf; check the encoder before scoring it")
    return codes, factors


def _entropy(p: np.ndarray, axis: int, base: int) -> np.ndarray:
    """Entropy of the distributions along `axis`, in units of log(base) so that it lies in [0, 1]."""
    if base < 2:                                              # one outcome only: nothing to be uncertain about
        return np.zeros(np.delete(p.shape, axis))
    p_log_p = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -p_log_p.sum(axis=axis) / np.log(base)


# --- DCI ----------------------------------------------------------------------------------------
def dci_from_importance(importance: np.ndarray) -> dict:
    """Disentanglement and completeness of an importance matrix R [D codes, K factors] (Eastwood & Williams).

    P_ij = R_ij / sum_k R_ik            how code i's importance splits over the factors
    D_i  = 1 - H_K(P_i.)                code i is disentangled if it matters for one factor only
    rho_i = sum_j R_ij / sum_ij R_ij    codes that matter little count little
    D    = sum_i rho_i D_i
    P~_ij = R_ij / sum_k R_kj           how factor j's importance splits over the codes
    C_j  = 1 - H_D(P~_.j)               factor j is completely captured if one code carries it
    C    = sum_j w_j C_j, w_j = sum_i R_ij / sum_ij R_ij  (the plain mean when every column sums to 1,
                                                         as scikit-learn's feature importances do)
    H_K is the entropy with logarithm base K, so D_i and C_j lie in [0, 1].
    """
    importance = np.clip(np.asarray(importance, dtype=np.float64), 0.0, None)  # trees can give -0.0
    if importance.ndim != 2:
        raise ValueError(f"the importance matrix must be [codes, factors], got shape {importance.shape}")
    n_codes, n_factors = importance.shape
    total = importance.sum()
    if total <= 0:
        raise ValueError("the importance matrix is all zeros: no code predicts any factor")
    row_sums, col_sums = importance.sum(axis=1), importance.sum(axis=0)
    p_code = importance / np.where(row_sums > 0, row_sums, 1.0)[:, None]
    p_factor = importance / np.where(col_sums > 0, col_sums, 1.0)[None, :]
    d_per_code = np.where(row_sums > 0, 1.0 - _entropy(p_code, axis=1, base=n_factors), 0.0)
    c_per_factor = np.where(col_sums > 0, 1.0 - _entropy(p_factor, axis=0, base=n_codes), 0.0)
    rho = row_sums / total
    factor_weight = col_sums / total
    return {
        "disentanglement": float(np.sum(rho * d_per_code)),
        "completeness": float(np.sum(factor_weight * c_per_factor)),
        "disentanglement_per_code": d_per_code,
        "completeness_per_factor": c_per_factor,
        "code_weight": rho,
    }


def _fit_factor(codes_train, labels_train, codes_test, labels_test, n_estimators, subsample, seed):
    """One gradient-boosted classifier predicting one factor from all codes (Eastwood & Williams, sec. 4)."""
    if len(np.unique(labels_train)) < 2:                     # a constant factor: nothing to predict
        return np.zeros(codes_train.shape[1]), 1.0, 1.0
    model = GradientBoostingClassifier(n_estimators=n_estimators, subsample=subsample, random_state=seed)
    model.fit(codes_train, labels_train)
    return (model.feature_importances_, model.score(codes_train, labels_train),
            model.score(codes_test, labels_test))


def importance_matrix(codes, factors, n_estimators: int = 50, subsample: float = 0.5,
                      test_fraction: float = 0.2, seed: int = 0, n_jobs: int = -1,
                      max_classes: int = 20, n_bins: int = 20) -> dict:
    """R [D, K]: R_ij = importance of code i for predicting factor j, plus train/test accuracies.

    One `GradientBoostingClassifier` per factor; R_.j is its `feature_importances_` (the mean
    impurity decrease of the splits on each code, normalised to sum to 1). Fits run in parallel
    threads over the factors (the tree builder releases the GIL).
    """
    codes, factors = _check_pair(codes, factors)
    labels = factors_as_classes(factors, max_classes, n_bins)
    order = np.random.default_rng(seed).permutation(len(codes))
    n_test = int(round(test_fraction * len(codes)))
    if n_test < 1 or n_test >= len(codes):
        raise ValueError(f"test_fraction={test_fraction} leaves no train or no test examples "
                         f"out of {len(codes)}")
    test, train = order[:n_test], order[n_test:]
    fits = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_fit_factor)(codes[train], labels[train, j], codes[test], labels[test, j],
                             n_estimators, subsample, seed)
        for j in range(labels.shape[1]))
    return {
        "importance_matrix": np.stack([fit[0] for fit in fits], axis=1),
        "train_accuracy": np.array([fit[1] for fit in fits]),
        "test_accuracy": np.array([fit[2] for fit in fits]),
    }


def dci(codes, factors, n_estimators: int = 50, subsample: float = 0.5, test_fraction: float = 0.2,
        seed: int = 0, n_jobs: int = -1, max_classes: int = 20, n_bins: int = 20) -> dict:
    """Eastwood & Williams (2018): {"disentanglement", "completeness", "informativeness", ...}.

    Informativeness is the held-out accuracy of the per-factor classifiers, averaged over factors
    (Eastwood & Williams report the prediction error; accuracy = 1 - error, higher is better).
    The dict also holds "importance_matrix" [D, K] and the per-code / per-factor scores.

    Defaults (50 trees, each on a random half of the training set) keep 10,000 codes under a minute
    on a laptop CPU; `n_estimators=100, subsample=1.0` is scikit-learn's default, the setting used
    by the Local VAE paper ("Localized Generations with Deep Neural Networks for Multi-Scale
    Structured Datasets", anonymous ICLR 2020 submission,
    https://openreview.net/group?id=ICLR.cc/2020/Conference) for its Table 1.
    """
    fitted = importance_matrix(codes, factors, n_estimators, subsample, test_fraction, seed, n_jobs,
                               max_classes, n_bins)
    scores = dci_from_importance(fitted["importance_matrix"])
    return {
        "disentanglement": scores["disentanglement"],
        "completeness": scores["completeness"],
        "informativeness": float(fitted["test_accuracy"].mean()),
        "informativeness_train": float(fitted["train_accuracy"].mean()),
        "informativeness_per_factor": fitted["test_accuracy"],
        "importance_matrix": fitted["importance_matrix"],
        "disentanglement_per_code": scores["disentanglement_per_code"],
        "completeness_per_factor": scores["completeness_per_factor"],
    }


# --- MIG ----------------------------------------------------------------------------------------
def mutual_information_matrix(codes, factors, n_bins: int = 20, max_classes: int = 20) -> np.ndarray:
    """I(z_i; v_k) in nats [D, K], with each code cut into `n_bins` equal-width bins (plug-in estimate)."""
    codes, factors = _check_pair(codes, factors)
    binned, labels = discretize(codes, n_bins), factors_as_classes(factors, max_classes, n_bins)
    return np.array([[mutual_info_score(labels[:, k], binned[:, i]) for k in range(labels.shape[1])]
                     for i in range(binned.shape[1])])


def mig(codes, factors, n_bins: int = 20, max_classes: int = 20) -> dict:
    """Chen et al. (2018), eq. 6: MIG = 1/K sum_k (I(z_{j(k)}; v_k) - max_{j != j(k)} I(z_j; v_k)) / H(v_k).

    j(k) is the code with the most information about factor v_k. The gap is normalised by the
    factor's entropy, so each per-factor term lies in [0, 1]: 1 when exactly one code determines
    the factor and no other code knows anything about it, 0 when two codes know equally much.
    Returns {"mig", "mig_per_factor" [K], "mutual_information" [D, K]}.
    """
    codes, factors = _check_pair(codes, factors)
    if codes.shape[1] < 2:
        raise ValueError("MIG needs at least two code dimensions (it is a gap between the top two)")
    information = mutual_information_matrix(codes, factors, n_bins, max_classes)
    labels = factors_as_classes(factors, max_classes, n_bins)
    entropy = np.array([mutual_info_score(column, column) for column in labels.T])   # H(v) = I(v; v)
    top_two = np.sort(information, axis=0)[::-1][:2]
    gap = np.where(entropy > 0, (top_two[0] - top_two[1]) / np.where(entropy > 0, entropy, 1.0), 0.0)
    return {"mig": float(gap.mean()), "mig_per_factor": gap, "mutual_information": information}


# --- SAP ----------------------------------------------------------------------------------------
def sap(codes, factors, test_fraction: float = 0.2, seed: int = 0, max_classes: int = 20,
        n_bins: int = 20) -> dict:
    """Kumar et al. (2018): SAP = 1/K sum_k (S_{(1)k} - S_{(2)k}), the gap between the best two codes.

    S_ik is the held-out accuracy of predicting factor k from code i alone with a threshold
    classifier (here a one-dimensional decision tree with as many leaves as the factor has classes).
    Returns {"sap", "sap_per_factor" [K], "score_matrix" [D, K]}.
    """
    codes, factors = _check_pair(codes, factors)
    if codes.shape[1] < 2:
        raise ValueError("SAP needs at least two code dimensions (it is a gap between the top two)")
    labels = factors_as_classes(factors, max_classes, n_bins)
    order = np.random.default_rng(seed).permutation(len(codes))
    n_test = int(round(test_fraction * len(codes)))
    test, train = order[:n_test], order[n_test:]
    scores = np.zeros((codes.shape[1], labels.shape[1]))
    for k in range(labels.shape[1]):
        n_classes = len(np.unique(labels[:, k]))
        for i in range(codes.shape[1]):
            tree = DecisionTreeClassifier(max_leaf_nodes=max(n_classes, 2), random_state=seed)
            tree.fit(codes[train, i:i + 1], labels[train, k])
            scores[i, k] = tree.score(codes[test, i:i + 1], labels[test, k])
    top_two = np.sort(scores, axis=0)[::-1][:2]
    gap = top_two[0] - top_two[1]
    return {"sap": float(gap.mean()), "sap_per_factor": gap, "score_matrix": scores}
