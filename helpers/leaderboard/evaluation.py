"""The one evaluation: every model, the same test set, feature network, sample count and seeds.

`Reference` holds what is computed once per run for the real data: the feature network's features of the
test images (for FD, precision/recall and PRD) and the ground-truth factors. `evaluate(model, entry, ref)`
then reads the model only through the model protocol and returns one flat dict of scalars:

    rec_mse      mean squared error of reconstruct(x) per pixel                       (lower is better)
    fd           Fréchet distance between features of sample(n) and of n test images  (lower)
    precision    fraction of samples inside the k-NN balls of the real features       (higher)
    recall       fraction of real features inside the k-NN balls of the samples       (higher)
    prd_f8, prd_f1_8  PRD's F_8 (recall-like) and F_1/8 (precision-like)              (higher)
    nll          importance-sampled -log p(x), nats, only where `entry.likelihood`    (lower)
    active_dims  dimensions with activity A_u = Var_x E[z_u|x] > 0.01 (helpers.metrics.active_dims)
    dci_d, dci_c, dci_i   DCI disentanglement, completeness, informativeness          (higher)
    mig, sap     mutual information gap, separated attribute predictability           (higher)

Sources: Heusel et al., NeurIPS 2017 (FD); Kynkäänniemi et al., NeurIPS 2019 (precision/recall); Sajjadi
et al., NeurIPS 2018 (PRD); Burda et al., ICLR 2016 (IS-NLL, activity); Eastwood & Williams, ICLR 2018
(DCI); Chen et al., NeurIPS 2018 (MIG); Kumar et al., ICLR 2018 (SAP). Full references in
`helpers.metrics`' module docstrings.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import metrics
from ..runtime import seed_everything

# every evaluation this session ran, by model name: {"model_class": ..., metric: value, ...}. Numbers typed in
# by hand are not here, so a test can tell a model the harness evaluated from a hand-filled row.
LEDGER: dict[str, dict] = {}

# the direction of every metric: +1 higher is better, -1 lower is better, 0 not a ranking
DIRECTION = {"rec_mse": -1, "fd": -1, "precision": 1, "recall": 1, "prd_f8": 1, "prd_f1_8": 1, "nll": -1,
             "active_dims": 0, "dci_d": 1, "dci_c": 1, "dci_i": 1, "mig": 1, "sap": 1}


@dataclass
class Reference:
    """The real side of every comparison, computed once: test images, their factors and features."""

    images: torch.Tensor          # [N, ...] test images in [0, 1]
    factors: np.ndarray | None    # [N, n_factors] ground-truth factors (integers); None: no DCI, MIG, SAP
    features: object              # a feature network: images -> [N, F] numpy (helpers.metrics.ClassifierFeatures)
    real_features: np.ndarray     # features(images), computed once
    nll_images: torch.Tensor | None = None   # the subset the IS-NLL is estimated on
    nll_samples: int = 100
    dci_trees: int = 20
    knn_k: int = 3
    prd_clusters: int = 20
    seed: int = 0

    @classmethod
    def build(cls, images, factors, features, n_nll: int, **options) -> "Reference":
        images = images.float()
        factors = None if factors is None else np.asarray(factors)
        return cls(images, factors, features, features(images), images[:n_nll], **options)


@torch.no_grad()
def batched(function, x: torch.Tensor, device, size: int = 500) -> torch.Tensor:
    """function applied to slices of x on `device`; the results concatenated on the CPU."""
    return torch.cat([function(x[i:i + size].to(device)).float().cpu() for i in range(0, len(x), size)])


def evaluate(model, entry, ref: Reference) -> dict[str, float]:
    """Every column of the leaderboard for one trained model (see the module docstring)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = ref.images
    out = {"rec_mse": float(((batched(model.reconstruct, x, device).clamp(0, 1) - x) ** 2).mean())}
    generator = torch.Generator().manual_seed(ref.seed)
    with torch.no_grad():
        samples = model.sample(len(x), generator=generator).float().cpu().clamp(0, 1)
    fake = ref.features(samples)
    out["fd"] = float(metrics.frechet_distance(ref.real_features, fake))
    pr = metrics.precision_recall(ref.real_features, fake, k=ref.knn_k)
    out["precision"], out["recall"] = float(pr.precision), float(pr.recall)
    curve = metrics.prd(ref.real_features, fake, num_clusters=ref.prd_clusters, num_runs=5, seed=ref.seed)
    out["prd_f8"], out["prd_f1_8"] = float(curve["f_8"]), float(curve["f_1_8"])
    if entry.likelihood and ref.nll_images is not None:
        seed_everything(ref.seed)
        out["nll"] = float(metrics.nll(model, ref.nll_images.to(device), n_samples=ref.nll_samples, batch_size=100))
    codes = batched(model.encode_mean, x, device).numpy().astype(np.float64)   # host-side: float64 is fine here
    out["active_dims"] = int(metrics.active_dims(codes).sum())
    if ref.factors is not None:
        out.update(_disentanglement(codes, ref))
    LEDGER[entry.name] = {"model_class": type(model).__name__, **out}
    model.train(was_training)
    return out


def _disentanglement(codes: np.ndarray, ref: Reference) -> dict[str, float]:
    out = {}
    scores = metrics.dci(codes, ref.factors, n_estimators=ref.dci_trees, seed=ref.seed, n_jobs=1)
    out["dci_d"], out["dci_c"], out["dci_i"] = (float(scores[k]) for k in ("disentanglement", "completeness",
                                                                             "informativeness"))
    out["mig"] = float(metrics.mig(codes, ref.factors)["mig"])
    out["sap"] = float(metrics.sap(codes, ref.factors, seed=ref.seed)["sap"])
    return out
