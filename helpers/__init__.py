"""`helpers`: the small package the course notebooks build on.

Modules, in the order a learner meets them:

- `runtime`     profile, device and seed handling
- `nets`        encoder / decoder building blocks (MLP, 28x28/32x32 conv, 64x64 conv)
- `likelihoods` decoder distributions and the Gaussian KL
- `vae`         the VAE: loss, sampling, importance weights
- `train`       the training loop (progress bar, checkpoints, NaN guard)
- `data`        every data set of the course, by name
- `metrics`     likelihood, disentanglement, sample-quality and latent-geometry measures
- `interpolate` linear and graph-based latent interpolation
- `course`      receipts and the notebook runner
"""

__version__ = "0.1.0"
