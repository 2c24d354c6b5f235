"""Taming VAEs (notebook 01): constrained optimisation, hierarchical priors and the likelihood table's baselines.

Sources (cited in full in each module): A. Klushyn, N. Chen, R. Kurle, B. Cseke, P. van der Smagt, "Learning
Hierarchical Priors in VAEs", NeurIPS 2019, https://arxiv.org/abs/1905.04982 (VHP, REWO, graph interpolation);
D. J. Rezende, F. Viola, "Taming VAEs", arXiv 2018, https://arxiv.org/abs/1810.00597 (GECO);
J. M. Tomczak, M. Welling, "VAE with a VampPrior", AISTATS 2018, https://arxiv.org/abs/1705.07120;
Y. Burda, R. Grosse, R. Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016,
https://arxiv.org/abs/1509.00519.

What it adds to the shared base (`helpers.vae`, `helpers.train`):

- `constraints`  GECO and REWO: beta as a Lagrange multiplier of  min KL  s.t.  E[C] <= kappa^2
- `vhp`          `HierarchicalPrior` p_Theta(z) = int p_Theta(z|zeta) p(zeta) dzeta and `VHPVAE`, trained with the
                 importance-weighted upper bound F on the KL
- `vampprior`    `VampPriorVAE`: a mixture of the encoder's posteriors at learned pseudo-inputs
- `iwae`         `IWAE`, `TwoLayerIWAE`: the k-sample bound L_k
"""
