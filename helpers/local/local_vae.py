"""The Local VAE: a VAE whose encoder and decoder take one MAML step on each example's neighbourhood.

Source: "Localized Generations with Deep Neural Networks for Multi-Scale Structured Datasets", anonymous
ICLR 2020 submission, OpenReview, https://openreview.net/group?id=ICLR.cc/2020/Conference (eqs. 5-10,
Algorithm 1). Built on D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014,
https://arxiv.org/abs/1312.6114, and on MAML in the maximum-likelihood form of E. Grant, C. Finn,
S. Levine, T. Darrell, T. Griffiths, "Recasting Gradient-Based Meta-Learning as Hierarchical Bayes",
ICLR 2018, https://arxiv.org/abs/1801.08930 (see `helpers.local.maml`).

Every example x_i has its own decoder and encoder parameters theta_N(x_i), phi_N(x_i), with the meta
parameters (theta, phi) as their prior (eqs. 5-7). The integral over them is replaced by the one-step
maximum-likelihood estimate on x_i's neighbourhood N(x_i) = {x_1..x_K} (eqs. 9-10):

    (theta', phi')_i = (theta, phi) - alpha grad 1/K sum_{x in N(x_i)} L(theta, phi; x) / D     L = the negative ELBO (eq. 3)

D is the number of data dimensions (pixels x channels). The paper writes L without saying how its code scales
it, so the scale of alpha is a reading, not a fact. Two conventions, both here:

- summed (`inner_per_dimension=False`, the default): L is the negative ELBO of one image summed over its D
  numbers, as eq. 3 writes it and as disentanglement_lib (Locatello et al., whose settings the paper says it
  follows) reduces its Bernoulli loss. Under it the paper's grid {1e-3, ..., 10} goes from no effect to divergence.
- per dimension (`inner_per_dimension=True`): L / D, the "mean" reduction of deep-learning losses. Its alpha
  is the summed alpha times D (768 at 16x16x3, 12,288 at 64x64x3); at 16x16x3 and initialisation alpha = 1
  moves the output logits by about 0.1 at most (notebook 06, section 6).

`inner_step_sizes` measures what a given alpha does to the weights and outputs, so a notebook can show both
scales side by side. The outer objective (eq. 8) stays the summed negative ELBO either way, so alpha = 0 is
the vanilla VAE exactly.

and the bound becomes the VAE's at the adapted parameters (eq. 8):

    L_g(theta'_i, phi'_i; x_i) = -E_q(z|x_i, phi'_i)[log p(x_i|z, theta'_i)] + KL(q(z|x_i, phi'_i) || p(z)).

Algorithm 1 minimises 1/|B| sum_i L_g over minibatches B with respect to the meta parameters, differentiating
through the inner step (second order; `first_order=True` drops its Hessian term). alpha = 0 makes every
local parameter equal the meta parameter: the vanilla VAE, exactly.

The inner steps of a minibatch are one `torch.func.vmap` over its neighbourhoods (`vectorised=False` runs
the Python loop over them instead, the reference; `lowrank=True`, for MLPs, applies each adapted linear layer as
W h - alpha (rank-K correction) without materialising it: `helpers.local.lowrank`). The reparameterisation noise
is drawn before the vmap, so all three give the same numbers.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vmap

from ..likelihoods import gaussian_kl
from ..runtime import without_distribution_checks
from ..vae import VAE
from .lowrank import lowrank_rec_kl, supports
from .maml import Params, adapt, meta_loss, meta_loss_loop


class LocalVAE(VAE):
    """A VAE trained with Algorithm 1. alpha: the inner step size; beta: weight of the KL (1 = the ELBO)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, likelihood: nn.Module | None = None,
                 alpha: float = 1.0, first_order: bool = False, vectorised: bool = True, beta: float = 1.0,
                 inner_per_dimension: bool = False, lowrank: bool = False):
        super().__init__(encoder, decoder, latent_dim, likelihood)
        self.lowrank = bool(lowrank)         # MLPs: the rank-K form of helpers.local.lowrank instead of vmap
        self.alpha, self.first_order, self.vectorised, self.beta = float(alpha), bool(first_order), bool(vectorised), float(beta)
        self.inner_per_dimension = bool(inner_per_dimension)

    @classmethod
    def for_data(cls, data_shape, latent_dim, likelihood="bernoulli", hidden=(256, 256), alpha: float = 1.0,
                 first_order: bool = False, vectorised: bool = True, beta: float = 1.0, inner_per_dimension: bool = False,
                 **likelihood_options):
        vae = VAE.for_data(data_shape, latent_dim, likelihood, hidden, **likelihood_options)
        return cls(vae.encoder, vae.decoder, latent_dim, vae.likelihood, alpha, first_order, vectorised, beta,
                   inner_per_dimension)

    # --- eq. 3 as a function of the parameters -----------------------------------------------------
    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Per example [..., 2]: (rec, kl) of eq. 3 with z = mu + sigma * eps (the noise given, not drawn)."""
        mean, log_std = self.encoder(x).chunk(2, dim=-1)
        std = log_std.clamp(-12.0, 6.0).exp()             # the clamp of helpers.likelihoods.diagonal_gaussian
        z = mean + std * eps                                # reparameterisation
        rec = -self.likelihood(self.decoder(z)).log_prob(x)
        kl = gaussian_kl(mean, std)                         # KL(N(mu, sigma^2) || N(0, I)), closed form
        return torch.stack([rec, kl], dim=-1)

    def parameters_dict(self) -> Params:
        return dict(self.named_parameters())

    def negative_elbo(self, params: Params, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """1/K sum_x L(theta, phi; x) / D at the given parameters: the inner objective of eqs. 9-10.

        x [K, *data_shape]; D = prod(data_shape) when `inner_per_dimension`, else 1 (the summed default)."""
        rec_kl = functional_call(self, params, (x, eps))
        per_example = rec_kl[..., 0] + self.beta * rec_kl[..., 1]
        return per_example.mean() / (x[0].numel() if self.inner_per_dimension else 1)

    def _query(self, params: Params, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """(rec, kl) of one example x at (adapted) parameters: eq. 8's two terms."""
        return functional_call(self, params, (x.unsqueeze(0), eps.unsqueeze(0))).squeeze(0)

    def draw_noise(self, x: torch.Tensor, neighbours: torch.Tensor, generator: torch.Generator | None = None):
        """eps for the examples [B, L] and for their neighbourhoods [B, K, L] (drawn in that order)."""
        options = {"device": x.device, "dtype": x.dtype}
        eps = torch.empty(len(x), self.latent_dim, **options).normal_(generator=generator)
        eps_neighbours = torch.empty(*neighbours.shape[:2], self.latent_dim, **options).normal_(generator=generator)
        return eps, eps_neighbours

    # --- Algorithm 1 ---------------------------------------------------------------------------------
    def loss(self, x: torch.Tensor, neighbours: torch.Tensor, eps: torch.Tensor | None = None,
             eps_neighbours: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """1/|B| sum_i L_g(theta'_i, phi'_i; x_i) for x [B, ...] and its neighbourhoods [B, K, ...].

        Lines 3-8 of Algorithm 1 for one minibatch: the inner steps (eqs. 9-10) of all B neighbourhoods at
        once (vmap), then eq. 8 at each example's adapted parameters. Returns loss, rec, kl, elbo (means).
        """
        if eps is None or eps_neighbours is None:
            eps, eps_neighbours = self.draw_noise(x, neighbours)
        params = self.parameters_dict()
        with without_distribution_checks():         # their checks branch on values, which vmap cannot do
            if self.alpha == 0:                     # every local parameter is the meta parameter: eq. 3
                rec_kl = functional_call(self, params, (x, eps))
            elif self.lowrank:                      # the same numbers without the B copies of the adapted weights
                if not supports(self):
                    raise ValueError("lowrank=True needs encoder and decoder built from nn.Linear layers "
                                     "(helpers.nets.mlp_encoder / mlp_decoder); use the vmap path for convolutions")
                rec_kl = lowrank_rec_kl(self, x, neighbours, eps, eps_neighbours, self.alpha, self.first_order)
            else:
                objective = meta_loss if self.vectorised else meta_loss_loop
                rec_kl = objective(self.negative_elbo, params, (neighbours, eps_neighbours), (x, eps), self.alpha,
                                   self.first_order, query_loss=self._query, reduce=False)
        rec, kl = rec_kl[:, 0], rec_kl[:, 1]
        return {"loss": (rec + self.beta * kl).mean(), "rec": rec.mean(), "kl": kl.mean(), "elbo": -(rec + kl).mean()}

    # --- using a trained model: local parameters, codes and conditional generation --------------------
    def adapted(self, neighbourhood: torch.Tensor, generator: torch.Generator | None = None) -> Params:
        """theta', phi' for one neighbourhood [K, ...] (eqs. 9-10), detached: for evaluation only."""
        eps = torch.empty(len(neighbourhood), self.latent_dim, device=neighbourhood.device,
                          dtype=neighbourhood.dtype).normal_(generator=generator)
        with without_distribution_checks():
            params = {k: v.detach() for k, v in self.parameters_dict().items()}
            return {k: v.detach() for k, v in adapt(self.negative_elbo, params, (neighbourhood, eps),
                                                    self.alpha, first_order=True).items()}

    def conditional_sample(self, neighbourhood: torch.Tensor, z: torch.Tensor,
                           generator: torch.Generator | None = None) -> torch.Tensor:
        """Figures 2-3: adapt to one neighbourhood, then decode the codes z [n, L] with theta' (means of p(x|z))."""
        local = self.adapted(neighbourhood, generator)
        decoder = {k[len("decoder."):]: v for k, v in local.items() if k.startswith("decoder.")}
        with torch.no_grad():
            return self.likelihood.mean(functional_call(self.decoder, decoder, (z,)))

    def _map_adapted(self, part: str, apply, plain, inputs: torch.Tensor, neighbourhoods: torch.Tensor, chunk: int,
                     generator: torch.Generator | None) -> torch.Tensor:
        """apply(net_params_i, inputs[i]) with the `part` ("encoder" or "decoder") adapted on neighbourhoods[i],
        vmapped in chunks; `plain(inputs chunk)` where alpha = 0 (no adaptation). Noise draws are the same either way."""
        params = {k: v.detach() for k, v in self.parameters_dict().items()}
        prefix = part + "."

        def one(nb, e, item):
            local = adapt(self.negative_elbo, params, (nb, e), self.alpha, first_order=True)
            return apply({k[len(prefix):]: v for k, v in local.items() if k.startswith(prefix)}, item)

        out = []
        with without_distribution_checks():
            for start in range(0, len(inputs), chunk):
                nb, items = neighbourhoods[start:start + chunk], inputs[start:start + chunk]
                eps = torch.empty(*nb.shape[:2], self.latent_dim, device=inputs.device,
                                  dtype=inputs.dtype).normal_(generator=generator)
                out.append((plain(items) if self.alpha == 0 else vmap(one)(nb, eps, items)).detach())
        return torch.cat(out)

    def conditional_samples(self, neighbourhoods: torch.Tensor, z: torch.Tensor, chunk: int = 64,
                            generator: torch.Generator | None = None) -> torch.Tensor:
        """One sample per neighbourhood: decode z[i] with theta' adapted on neighbourhoods[i] ([N, K, ...], z [N, L]).
        The Local VAE's generative model: pick a reference's neighbourhood, adapt, decode a prior code."""
        def decode(decoder, zi):
            return self.likelihood.mean(functional_call(self.decoder, decoder, (zi.unsqueeze(0),))).squeeze(0)

        return self._map_adapted("decoder", decode, lambda zs: self.likelihood.mean(self.decoder(zs)),
                                 z, neighbourhoods, chunk, generator)

    def local_codes(self, x: torch.Tensor, neighbours: torch.Tensor, chunk: int = 64,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Posterior means of q(z | x_i, phi'_i) with phi'_i adapted on x_i's neighbourhood: the codes the
        Local VAE's own bound (eq. 8) uses for x_i. x [N, ...], neighbours [N, K, ...]; vmapped in chunks."""
        def code(encoder, xi):
            return functional_call(self.encoder, encoder, (xi.unsqueeze(0),)).squeeze(0).chunk(2, dim=-1)[0]

        return self._map_adapted("encoder", code, lambda xs: self.encoder(xs).chunk(2, dim=-1)[0],
                                 x, neighbours, chunk, generator)

    # --- what one inner step does, for a grid of alphas ------------------------------------------------
    @torch.no_grad()
    def inner_step_sizes(self, x: torch.Tensor, neighbours: torch.Tensor, alphas, generator: torch.Generator | None = None
                         ) -> list[dict]:
        """For each alpha (in this model's convention), the size of the inner step (eqs. 9-10) at the current
        meta parameters, averaged over the examples x [B, ...] with neighbourhoods [B, K, ...]:

        - `encoder`, `decoder`: ||delta theta|| / ||theta|| over all of the encoder's (decoder's) weights;
          `layers`: the same ratio per parameter tensor (name -> ratio);
        - `max_logit_change`: the largest change of an output logit of decoder(posterior mean of x_i),
          over pixels and examples;
        - `inner_before`, `inner_after`: the inner objective (the neighbourhood's loss) at theta and theta';
        - `query_before`, `query_after`: eq. 8 for x_i at theta and theta' (the same noise), mean over B;
        - `overshoot`: the step makes the neighbourhood's own loss worse (inner_after > inner_before), the
          sign that gradient descent at this alpha diverges; `finite`: every number stayed finite.
        The gradient is computed once per neighbourhood (it does not depend on alpha); alpha only scales it."""
        params = {k: v.detach() for k, v in self.parameters_dict().items()}
        eps, eps_nb = self.draw_noise(x, neighbours, generator)
        with without_distribution_checks():
            grads = vmap(lambda nb, e: torch.func.grad(self.negative_elbo)(params, nb, e))(neighbours, eps_nb)

            def losses(p):
                inner = vmap(lambda q, nb, e: self.negative_elbo(q, nb, e), in_dims=(0, 0, 0))(p, neighbours, eps_nb)
                query = vmap(self._query, in_dims=(0, 0, 0))(p, x, eps)
                mean = vmap(lambda q, xi: functional_call(self.encoder, {k[8:]: v for k, v in q.items()
                                                                         if k.startswith("encoder.")},
                                                          (xi.unsqueeze(0),)).chunk(2, dim=-1)[0])(p, x)
                logits = vmap(lambda q, m: functional_call(self.decoder, {k[8:]: v for k, v in q.items()
                                                                          if k.startswith("decoder.")}, (m,)))(p, mean)
                return inner, query[:, 0] + self.beta * query[:, 1], logits

            batched = {k: v.expand(len(x), *v.shape) for k, v in params.items()}
            inner0, query0, logits0 = losses(batched)
            rows = []
            for alpha in alphas:
                adapted = {k: batched[k] - float(alpha) * grads[k] for k in params}
                inner1, query1, logits1 = losses(adapted)

                def ratio(names):
                    step = torch.sqrt(sum((float(alpha) * grads[k]).pow(2).flatten(1).sum(1) for k in names))
                    size = torch.sqrt(sum(params[k].pow(2).sum() for k in names))
                    return float((step / size).mean())

                enc = [k for k in params if k.startswith("encoder.")]
                dec = [k for k in params if k.startswith("decoder.")]
                values = [inner1, query1, logits1]
                rows.append({"alpha": float(alpha), "encoder": ratio(enc), "decoder": ratio(dec),
                             "layers": {k: ratio([k]) for k in params},
                             "max_logit_change": float((logits1 - logits0).abs().max()),
                             "inner_before": float(inner0.mean()), "inner_after": float(inner1.mean()),
                             "query_before": float(query0.mean()), "query_after": float(query1.mean()),
                             "overshoot": bool(inner1.mean() > inner0.mean()),
                             "finite": bool(all(torch.isfinite(v).all() for v in values))})
        return rows
