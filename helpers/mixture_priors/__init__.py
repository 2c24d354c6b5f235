"""Mixture priors for VAEs: the method family of notebook 02.

Source: U. Paquet, S. K. Ghaisas, O. Tieleman, "A Factorial Mixture Prior for Compositional Deep Generative
Models", arXiv 2018, https://arxiv.org/abs/1812.07480; with M. J. Johnson et al., "Composing graphical models
with neural networks for structured representations and fast inference", NeurIPS 2016,
https://arxiv.org/abs/1603.06277 (the GMM-SVAE, I = 1), Z. Jiang et al., "Variational Deep Embedding", IJCAI 2017,
https://arxiv.org/abs/1611.05148 (VaDE), and M. D. Hoffman et al., "Stochastic Variational Inference", JMLR 2013,
https://jmlr.org/papers/v14/hoffman13a.html.

- `normal_gamma`     Normal-Gamma / Dirichlet maps, expectations, KLs, eq. (6), the Student-t predictive (10)
- `factorial_prior`  `FactorialMixturePrior` (natural parameters in buffers, gamma step, KL terms, SVI step,
                     clamping, sampling, full-batch VB on fixed codes) and `MixturePriorVAE`
- `vade`             `VaDE`, the point-estimate baseline (I = 1, xi learned by gradient)
"""
from . import normal_gamma
from .factorial_prior import FactorialMixturePrior, MixturePriorVAE
from .vade import VaDE

__all__ = ["normal_gamma", "FactorialMixturePrior", "MixturePriorVAE", "VaDE"]
