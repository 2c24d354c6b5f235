"""`helpers`: the small package the course notebooks build on.

Modules, in the order a learner meets them:

- `runtime`     profile, device and seed handling
- `nets`        encoder / decoder building blocks (MLP, 28x28/32x32 conv, 64x64 conv)
- `likelihoods` decoder distributions and the Gaussian KL
- `vae`         the VAE: loss, sampling, importance weights
- `train`       the training loop (progress bar, checkpoints, NaN guard)
- `data`        every data set of the course, by name
- `metrics`     likelihood, disentanglement, sample-quality (Frechet distance, precision/recall, MMD)
                and latent-geometry measures
- `interpolate` linear and graph-based latent interpolation
- `course`      receipts, the notebook runner and seed sweeps

Methods, one module per paper's method, by notebook:

- 01  `constraints` (GECO, REWO), `vhp` (hierarchical prior), `vampprior`, `iwae`
- 03  `conditional` (CVAE, CVAE with information factorisation), `csvae`
- 04  `regularised/` the regularised-autoencoder family: `autoencoders` (AE, RAE, ex-post GMM), `wae`
      (WAE-MMD), `adversarial` (AAE, WAE-GAN), `two_stage` (2-stage VAE), `flows` (VAE + IAF), `iop` (VAE-IOP)
"""

__version__ = "0.1.0"
