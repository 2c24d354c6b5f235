"""`helpers`: the small package the course notebooks build on.

Modules, in the order a learner meets them:

- `runtime`     profile, device and seed handling
- `nets`        encoder / decoder building blocks (MLP, 28x28/32x32 conv, 64x64 conv)
- `likelihoods` decoder distributions and the Gaussian KL
- `vae`         the VAE: loss, sampling, importance weights
- `train`       the training loop (loss history, progress bar, NaN guard)
- `checkpoints` resume an interrupted run exactly; a changed run starts fresh
- `data`        every data set of the course, by name
- `metrics`     likelihood, disentanglement, sample-quality (Frechet distance, precision/recall, MMD)
                and latent-geometry measures
- `interpolate` linear and graph-based latent interpolation
- `course`      receipts, the notebook runner and seed sweeps
- `assignments` the exercises as nbgrader cells: release, check and autograde (docs/instructors.md)

Methods, one module per paper's method, by notebook:

- 01  `constraints` (GECO, REWO), `vhp` (hierarchical prior), `vampprior`, `iwae`
- 02  `mixture_priors/` the factorial mixture prior: `normal_gamma` (Normal-Gamma and Dirichlet
      exponential-family maths and KLs), `factorial_prior` (gamma step, expected KL, SVI natural-gradient
      steps, clamping, Student-t sampling, full-batch VB), `vade` (the point-estimate baseline)
- 03  `conditional` (CVAE, CVAE with information factorisation), `csvae`
- 04  `regularised/` the regularised-autoencoder family: `autoencoders` (AE, RAE, ex-post GMM), `wae`
      (WAE-MMD), `adversarial` (AAE, WAE-GAN), `two_stage` (2-stage VAE), `flows` (VAE + IAF), `iop` (VAE-IOP)
- 05  `regularised/` again: `maskaae` (mask layer, WGAN-GP latent critic), `flexae` (learned prior generator)
- 06  `local/` the Local VAE: `maml` (the functional inner step, vmapped over neighbourhoods), `local_vae`
      (the bound, Algorithm 1, conditional generation), `neighbourhoods` (noise sampling, latent kNN)
"""

__version__ = "0.1.0"
