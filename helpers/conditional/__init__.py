"""Conditional and subspace VAEs (notebook 03): attributes y beside the image x.

Sources (cited in full in each module): J. Klys, J. Snell, R. Zemel, "Learning Latent Subspaces in
Variational Autoencoders", NeurIPS 2018, https://arxiv.org/abs/1812.06190, as planned by A. Shafarostov,
M. Pominova, A. Lyzhov, E. Lazareva (project proposal to reimplement it, 2019, unpublished).

What it adds to the shared base (`helpers.vae`, `helpers.train`):

- `cvae`   `ConditionalVAE` (log p(x|y) >= ELBO with the decoder given y) and `InfoFactorisedCVAE` (an adversary
           that removes y from z), the two adversarial penalty forms, and the evaluation functions
           (attribute classifiers on codes, attribute transfer)
- `csvae`  `CSVAE`: the latent space split into Z (nothing about y) and one subspace W_i per attribute, with
           the attribute-conditional prior p(w|y) and the adversary on z
"""
