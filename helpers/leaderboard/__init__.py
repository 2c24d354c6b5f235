"""Notebook 07: every generative model of the course on one harness (a leaderboard).

- `registry`    `Entry`, `Budget`, `REGISTRY` (the course's models of notebooks 00-06, built from their own
                classes) and `register(name, build, fit, likelihood)`, the few lines that add a model
- `fitting`     one adapter per way of training (plain, beta, schedule, adversarial, mask, ex-post GMM, two
                stages, mixture SVI, local neighbourhoods), each a call of the course's `helpers.train.train`
- `evaluation`  `Reference` (real features and factors, computed once) and `evaluate`, the one evaluation
- `adapters`    `LocalVAERow`: the Local VAE answers the protocol with its adapted weights
- `harness`     `train_one` and `run`: same data, latent size, optimiser, step budget and seed for every row
- `table`       receipt-key names, first-place flags, the leaderboard from a run or from the 5-seed sweep

Sources: C. Chadebec, L. J. Vincent, S. Allassonnière, "Pythae: Unifying Generative Autoencoders in Python -- A
Benchmarking Use Case", NeurIPS 2022 Datasets and Benchmarks, https://arxiv.org/abs/2206.08309 (one interface
for many autoencoders, and the published figures the gpu profile prints); F. Locatello et al., "Challenging
Common Assumptions in the Unsupervised Learning of Disentangled Representations", ICML 2019,
https://arxiv.org/abs/1811.12359 (one protocol, many models, several seeds); the metrics' own papers are cited
in `helpers.metrics` and each model's in its notebook's subpackage.
"""
from . import adapters, evaluation, fitting, harness, registry, table
from .evaluation import DIRECTION, Reference, evaluate
from .harness import run, train_one
from .registry import REGISTRY, Budget, Entry, names, register
from .table import first_counts, first_flags, from_results, from_sweep, slug, winners

__all__ = ["evaluation", "fitting", "harness", "registry", "table", "DIRECTION", "Reference", "evaluate", "run",
           "train_one", "REGISTRY", "Budget", "Entry", "names", "register", "first_counts", "first_flags",
           "from_results", "from_sweep", "slug", "winners"]
