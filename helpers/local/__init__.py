"""Local structure (notebook 06): MAML's inner step vectorised over tasks, the Local VAE, neighbourhoods.

- maml            `adapt`, `meta_loss` (vmap over tasks), `meta_loss_loop` (the reference loop)   eq. 4
- local_vae       `LocalVAE`: Algorithm 1, its bound (eqs. 8-10), local codes, conditional generation
- neighbourhoods  `noise_neighbourhoods`, `knn_indices`, `LatentKNN`                              Sec. 3.1
- lowrank         `lowrank_rec_kl`: the inner step of MLPs as a rank-K correction, no weight copies  eqs. 8-10

Sources (cited in full in each module): the anonymous ICLR 2020 submission "Localized Generations with Deep
Neural Networks for Multi-Scale Structured Datasets" (https://openreview.net/group?id=ICLR.cc/2020/Conference);
Finn, Abbeel & Levine, ICML 2017 (https://arxiv.org/abs/1703.03400); Grant et al., ICLR 2018
(https://arxiv.org/abs/1801.08930); Roweis & Saul, Science 2000 (https://doi.org/10.1126/science.290.5500.2323).
"""
from .local_vae import LocalVAE
from .maml import adapt, meta_loss, meta_loss_loop, task_loss
from .lowrank import lowrank_rec_kl
from .neighbourhoods import LatentKNN, knn_indices, noise_neighbourhoods

__all__ = ["LocalVAE", "adapt", "meta_loss", "meta_loss_loop", "task_loss", "LatentKNN", "knn_indices",
           "noise_neighbourhoods", "lowrank_rec_kl"]
