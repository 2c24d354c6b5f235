"""Measures the notebooks compare methods with; each a pure function, tested against known answers.

- likelihood        `nll`, `iwae_bound`                         importance-sampled log p(x)   (Burda et al. 2016)
- disentanglement   `dci`, `mig`, `sap`                          codes vs ground-truth factors (Eastwood & Williams
                                                                 2018; Chen et al. 2018; Kumar et al. 2018)
- frechet           `frechet_distance`, `fid`, feature extractors sample quality          (Heusel et al. 2017)
- precision_recall  `precision_recall`, `prd`                    fidelity vs coverage          (Kynkäänniemi et al.
                                                                 2019; Sajjadi et al. 2018)
- latent            `nac`, `active_dims` (the course's one         latent-space geometry         (MaskAAE; Burda et al.)
                    criterion: A_u > ACTIVITY_THRESHOLD = 0.01)
- mmd               `mmd`, `gaussian_rbf_mmd`                    kernel two-sample distance    (Gretton et al. 2012;
                                                                 Tolstikhin et al. 2018)

Each module's docstring cites its sources in full, with links.
"""
from .disentanglement import dci, dci_from_importance, importance_matrix, mig, mutual_information_matrix, sap
from .frechet import (ClassifierFeatures, FrechetScore, InceptionFeatures, fid, frechet_distance,
                      frechet_distance_gaussians)
from .latent import ACTIVITY_THRESHOLD, MASK_THRESHOLD, active_dims, activity, correlation_matrix, nac
from .likelihood import iwae_bound, nll
from .mmd import gaussian_rbf_mmd, mmd
from .precision_recall import (PrecisionRecall, plot_prd, prd, prd_f_beta, prd_from_histograms,
                               precision_recall)

__all__ = [
    "nll", "iwae_bound",
    "dci", "dci_from_importance", "importance_matrix", "mig", "mutual_information_matrix", "sap",
    "frechet_distance", "frechet_distance_gaussians", "fid", "FrechetScore", "ClassifierFeatures",
    "InceptionFeatures",
    "precision_recall", "PrecisionRecall", "prd", "prd_from_histograms", "prd_f_beta", "plot_prd",
    "nac", "active_dims", "activity", "correlation_matrix", "ACTIVITY_THRESHOLD", "MASK_THRESHOLD",
    "mmd", "gaussian_rbf_mmd",
]
