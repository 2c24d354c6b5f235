"""Fréchet distance between feature distributions, and the FID built on it (Heusel et al. 2017).

FID: M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler, S. Hochreiter, "GANs Trained by a Two
Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017, https://arxiv.org/abs/1706.08500

Fit a Gaussian to the features of each image set; the Fréchet (2-Wasserstein) distance between
N(mu_1, S_1) and N(mu_2, S_2) has the closed form (D. C. Dowson, B. V. Landau, "The Fréchet distance
between multivariate normal distributions", Journal of Multivariate Analysis 12(3), 1982)

    d^2 = ||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}).

The number depends entirely on the feature extractor, so the name says which one was used:

- `InceptionFeatures`  the 2048-d pool features of ImageNet Inception-v3: this, and only this, is the
                       FID that papers report (optional: needs `pytorch-fid` or `torchvision` weights).
- `ClassifierFeatures` the penultimate layer of a small classifier trained here on a labelled course
                       data set; reported as "FD-<dataset>" (e.g. "FD-digits"), never as FID, because
                       its scale is unrelated to published FIDs.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..arrays import as_array


# --- the distance -------------------------------------------------------------------------------
def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix via its eigendecomposition."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance_gaussians(mu_1, cov_1, mu_2, cov_2) -> float:
    """d^2 = ||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}) for two Gaussians.

    tr (S_1 S_2)^{1/2} = tr (S_1^{1/2} S_2 S_1^{1/2})^{1/2}: the two matrices are similar, and the
    second is symmetric PSD, so its root comes from real eigenvalues (no complex round-off as with
    scipy.linalg.sqrtm of the non-symmetric product).
    """
    mu_1, mu_2 = np.atleast_1d(np.asarray(mu_1, np.float64)), np.atleast_1d(np.asarray(mu_2, np.float64))
    cov_1, cov_2 = np.atleast_2d(np.asarray(cov_1, np.float64)), np.atleast_2d(np.asarray(cov_2, np.float64))
    if mu_1.shape != mu_2.shape or cov_1.shape != cov_2.shape or cov_1.shape != (len(mu_1), len(mu_1)):
        raise ValueError(f"mismatched Gaussians: means {mu_1.shape}, {mu_2.shape}; covariances "
                         f"{cov_1.shape}, {cov_2.shape}")
    root_1 = _psd_sqrt(cov_1)
    middle = root_1 @ cov_2 @ root_1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    distance = np.sum((mu_1 - mu_2) ** 2) + np.trace(cov_1) + np.trace(cov_2) - 2.0 * trace_sqrt
    return float(max(distance, 0.0))                          # round-off can dip a hair below 0


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet distance between Gaussians fitted (mean, covariance) to two [N, dims] feature sets."""
    feats_a, feats_b = as_array(feats_a, "feats_a", min_rows=2), as_array(feats_b, "feats_b", min_rows=2)
    if feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"feature sets differ in width: {feats_a.shape[1]} vs {feats_b.shape[1]}")
    return frechet_distance_gaussians(feats_a.mean(0), np.cov(feats_a, rowvar=False),
                                      feats_b.mean(0), np.cov(feats_b, rowvar=False))


@dataclass(frozen=True)
class FrechetScore:
    """A Fréchet distance together with the name it must be reported under ("FID", "FD-digits", ...)."""

    name: str
    value: float
    n_a: int
    n_b: int

    def __float__(self) -> float:
        return self.value

    def __str__(self) -> str:
        return f"{self.name} = {self.value:.3f} ({self.n_a} vs {self.n_b} images)"


def fid(images_a, images_b, features="inception", batch_size: int = 250) -> FrechetScore:
    """Fréchet distance of two image sets in the feature space of `features`.

    `features` is "inception" (the real FID), a data set name such as "digits" (a `ClassifierFeatures`
    for it, reported as "FD-digits"), or any callable images -> [N, dims] features with a `.name`.
    """
    if isinstance(features, str):
        features = InceptionFeatures() if features.lower() in ("inception", "fid") else ClassifierFeatures(features)
    name = getattr(features, "name", "FD")
    feats_a = _extract(features, images_a, batch_size)
    feats_b = _extract(features, images_b, batch_size)
    return FrechetScore(name, frechet_distance(feats_a, feats_b), len(feats_a), len(feats_b))


def _extract(features, images, batch_size: int) -> np.ndarray:
    images = _stored_images(images)
    return np.concatenate([np.asarray(features(_as_image_tensor(images[i:i + batch_size])))
                           for i in range(0, len(images), batch_size)])


def _stored_images(images):
    """The image array itself: a course Dataset's `.images`, else the argument (converted lazily per batch)."""
    return images.images if hasattr(images, "images") else images


def _as_image_tensor(images) -> torch.Tensor:
    """Float tensor in [0, 1] from a tensor or array ([N, H, W], [N, C, H, W] or flattened [N, D]);
    uint8 pixels (0-255, as large data sets are stored) are scaled to [0, 1]."""
    images = _stored_images(images)
    images = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    images = images.detach().cpu()
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


# --- feature extractor 1: a small classifier trained on a course data set --------------------------
def cache_dir() -> Path:
    """Where trained feature extractors are kept: the `cache/` folder of the course data folder
    (`COURSE_DATA_DIR`, else the repository's data/; see `helpers.data.cache_dir`)."""
    from helpers.data import cache_dir as data_dir
    path = Path(data_dir()) / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


class FeatureClassifier(nn.Module):
    """MLP on flattened images; `features` is the last hidden layer, `forward` the class logits."""

    def __init__(self, input_dim: int, n_classes: int, hidden: tuple[int, ...] = (128, 64)):
        super().__init__()
        layers, width = [nn.Flatten()], input_dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ClassifierFeatures:
    """Penultimate-layer features of a small classifier trained on a labelled data set, cached on disk.

    The distance it gives is called "FD-<dataset>": a Fréchet distance in a feature space where the
    data set's classes separate, meaningful for comparing models on that data set only.

    By default the classifier is trained on the "train" split of `helpers.data.load(dataset,
    **load_options)` (any set with labels: digits, mnist, fashion-mnist, ...) and its accuracy is
    measured on the "test" split; pass `images=` and `labels=` to train on your own labelled images
    instead (a fifth is then held out). The weights are cached under `cache_dir()` by data set name,
    options and a hash of the data, so every later call loads instead of training.
    """

    def __init__(self, dataset: str = "digits", images=None, labels=None, hidden: tuple[int, ...] = (128, 64),
                 steps: int = 1000, seed: int = 0, cache: bool = True, **load_options):
        if (images is None) != (labels is None):
            raise ValueError("pass both images= and labels=, or neither (to load the data set by name)")
        if images is None:
            train_images, train_labels, test_images, test_labels = _labelled_splits(dataset, load_options)
        else:
            images, labels = _as_image_tensor(images), torch.as_tensor(np.asarray(labels)).long().reshape(-1)
            if len(images) != len(labels):
                raise ValueError(f"{len(images)} images but {len(labels)} labels")
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
            test, train = order[:len(images) // 5], order[len(images) // 5:]
            train_images, train_labels, test_images, test_labels = images[train], labels[train], images[test], labels[test]
        self.dataset, self.name = dataset, f"FD-{dataset}"
        self.input_shape = tuple(train_images.shape[1:])
        n_classes = int(max(train_labels.max(), test_labels.max())) + 1
        with torch.random.fork_rng():                            # seed the initial weights, not the caller's RNG
            torch.manual_seed(seed)
            self.model = FeatureClassifier(int(np.prod(self.input_shape)), n_classes, tuple(hidden))
        digest = hashlib.sha1(train_images.numpy().tobytes() + train_labels.numpy().tobytes()).hexdigest()[:10]
        options = "".join(f"-{key}{value}" for key, value in sorted(load_options.items()))
        self.cache_path = cache_dir() / (f"fd-classifier-{dataset}{options}-h{'x'.join(map(str, hidden))}"
                                         f"-t{steps}-s{seed}-{digest}.pt")
        if cache and self.cache_path.exists():
            saved = torch.load(self.cache_path, map_location="cpu")
            self.model.load_state_dict(saved["state_dict"])
            self.test_accuracy = float(saved["test_accuracy"])
        else:
            self._train(train_images, train_labels, steps, seed)
            self.test_accuracy = self.accuracy(test_images, test_labels)
            if cache:
                torch.save({"state_dict": self.model.state_dict(), "test_accuracy": self.test_accuracy},
                           self.cache_path)
        self.model.eval()

    def _train(self, images: torch.Tensor, labels: torch.Tensor, steps: int, seed: int) -> None:
        """Adam on the cross-entropy, `steps` minibatches of 64."""
        generator = torch.Generator().manual_seed(seed)
        optimiser = torch.optim.Adam(self.model.parameters(), lr=1e-3, weight_decay=1e-4)
        self.model.train()
        done = 0
        while done < steps:
            for batch in torch.randperm(len(images), generator=generator).split(64):
                loss = nn.functional.cross_entropy(self.model(images[batch]), labels[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                done += 1
                if done == steps:
                    break
        self.model.eval()

    def accuracy(self, images, labels) -> float:
        """Share of `images` classified as `labels` (a check that the features know the classes)."""
        with torch.no_grad():
            logits = self.model(_as_image_tensor(images).reshape(-1, *self.input_shape))
        return float((logits.argmax(1) == torch.as_tensor(labels).reshape(-1)).float().mean())

    def __call__(self, images) -> np.ndarray:
        images = _as_image_tensor(images)
        if int(np.prod(images.shape[1:])) != int(np.prod(self.input_shape)):
            raise ValueError(f"{self.name} expects images shaped {self.input_shape} (values in [0, 1]), "
                             f"got {tuple(images.shape[1:])}")
        with torch.no_grad():
            return self.model.features(images.reshape(len(images), *self.input_shape)).numpy()


def _labelled_splits(dataset: str, load_options: dict):
    """(train images, train labels, test images, test labels) of a named course data set with labels."""
    from helpers import data
    train, test = (data.load(dataset, split=split, **load_options) for split in ("train", "test"))
    if train.labels is None:
        raise ValueError(f"{dataset!r} has no class labels to train a feature classifier on: pass images= "
                         "and labels= (e.g. a discrete factor as the label), or use 'digits' or 'mnist'")
    return (_as_image_tensor(train.images), train.labels.long(), _as_image_tensor(test.images), test.labels.long())


# --- feature extractor 2: Inception-v3, the real FID ---------------------------------------------
class InceptionFeatures:
    """2048-d pool3 features of ImageNet Inception-v3 (Szegedy et al. 2016), as FID prescribes.

    Inception-v3: C. Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
    CVPR 2016, https://arxiv.org/abs/1512.00567.

    Uses `pytorch_fid`'s port of the original TensorFlow FID network when installed (numbers
    comparable with papers), else torchvision's Inception-v3 (close, not identical). Images are
    [N, C, H, W] or [N, H, W] in [0, 1]; grey images are repeated to RGB and resized to 299 x 299.
    """

    name = "FID"

    def __init__(self, device: str | torch.device | None = None):
        self.device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            from pytorch_fid.inception import InceptionV3
            self.model, self.backend = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]), "pytorch_fid"
        except ImportError:
            try:
                from torchvision.models import Inception_V3_Weights, inception_v3
            except ImportError:
                raise ImportError(
                    "FID needs Inception-v3 weights: `pip install pytorch-fid` (the reference FID network) or "
                    "`pip install torchvision`. Without them, use ClassifierFeatures('digits') and report the "
                    "number as 'FD-digits', not as FID.") from None
            self.model = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1)
            self.model.fc = nn.Identity()                           # keep the 2048-d pooled features
            self.backend = "torchvision"
        self.model.eval().to(self.device)

    def __call__(self, images) -> np.ndarray:
        images = _as_image_tensor(images)
        if images.dim() == 3:
            images = images.unsqueeze(1)
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"InceptionFeatures needs [N, 1 or 3, H, W] or [N, H, W] images, got {tuple(images.shape)}")
        images = images.expand(-1, 3, -1, -1).to(self.device)
        with torch.no_grad():
            if self.backend == "pytorch_fid":                    # resizes and rescales [0, 1] -> [-1, 1] itself
                return self.model(images)[0].flatten(1).cpu().numpy()
            images = nn.functional.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
            mean = torch.tensor([0.485, 0.456, 0.406], device=self.device).view(1, 3, 1, 1)
            std = torch.tensor([0.229, 0.224, 0.225], device=self.device).view(1, 3, 1, 1)
            return self.model((images - mean) / std).cpu().numpy()
