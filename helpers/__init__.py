"""`helpers`: the small package the course notebooks build on.

One layout rule: the shared base sits flat at the top, in the order a learner meets it; every method
family is a subpackage named for its notebook's topic, whose `__init__` docstring cites its papers and
lists what it adds to the base. The course's tooling (the notebook runner, seed sweeps, HTML export,
Colab links, nbgrader) is the sibling package `coursetools`, which `helpers` never imports.

The shared base:

- `runtime`      profiles, devices, seeds, checkpoint folders
- `precision`    where float64 may live (not on a device without it, such as Apple's MPS)
- `nets`         encoder / decoder building blocks (MLP, 28x28/32x32 conv, 64x64 conv)
- `likelihoods`  decoder distributions and the Gaussian KL
- `vae`          the VAE: loss, sampling, importance weights
- `train`        the training loop (progress bar, loss history, NaN guard)
- `checkpoints`  resume an interrupted run exactly; a changed run starts fresh
- `adversary`    the two-player base: an adversary with its own optimiser and step, `frozen`, the
                 alternating loss function (notebooks 01, 03, 04, 05)
- `interpolate`  linear and graph-based latent interpolation
- `receipts`     `record`, the key numbers a notebook's last cell records
- `sweeps`       the 5-seed sweeps of results/seeds/ (shipped in `sweep_tables/`) and `plot_spread`, their figure
- `arrays`       the one validator of the arrays the metrics and interpolation take
- `data/`        every data set of the course, by name
- `metrics/`     likelihood, disentanglement, sample quality (Frechet distance, precision/recall, MMD)
                 and latent geometry, one module per measure

The method families, by notebook:

- 01  `taming/`          constrained optimisation and hierarchical priors: `constraints` (GECO, REWO),
                         `vhp` (the hierarchical prior and VHP-VAE), `vampprior`, `iwae`
- 02  `mixture_priors/`  the factorial mixture prior: `normal_gamma` (Normal-Gamma and Dirichlet
                         exponential-family maths and KLs), `factorial_prior` (gamma step, expected KL, SVI
                         natural-gradient steps, clamping, Student-t sampling, full-batch VB), `vade` (the
                         point-estimate baseline)
- 03  `conditional/`     conditional and subspace VAEs: `cvae` (CVAE, CVAE with information
                         factorisation), `csvae`
- 04  `regularised/`     the regularised-autoencoder family: `autoencoders` (AE, RAE, ex-post GMM), `wae`
                         (WAE-MMD), `adversarial` (AAE, WAE-GAN), `two_stage` (2-stage VAE), `flows`
                         (VAE + IAF), `iop` (VAE-IOP)
- 05  `regularised/`     again: `maskaae` (mask layer, WGAN-GP latent critic), `flexae` (learned prior
                         generator)
- 06  `local/`           the Local VAE: `maml` (the functional inner step, vmapped over neighbourhoods),
                         `local_vae` (the bound, Algorithm 1, conditional generation), `neighbourhoods`
                         (noise sampling, latent kNN)
- 07  `leaderboard/`     every model above on one harness: `registry` (the models, `register`), `fitting`, `adapters`,
                         `evaluation`, `harness`, `table`
"""

__version__ = "0.1.0"
