"""Thin adapters for the one model whose protocol methods would not measure the model itself.

The Local VAE (notebook 06) is a VAE at its meta parameters; its generative model and its codes are those of
the parameters adapted to a neighbourhood by one inner step (eqs. 8-10 of its source, `helpers.local`).
`LocalVAERow` keeps the training unchanged and answers the protocol with the adapted parameters:

    encode_mean(x)   posterior mean under phi'_i, adapted on x_i's noise neighbourhood   (LocalVAE.local_codes)
    reconstruct(x)   decoder theta'_i at that code, theta'_i adapted on the same neighbourhood
    sample(n, g)     pick n training images as references, adapt on each one's neighbourhood, decode a prior
                     code with theta' (LocalVAE.conditional_samples: the source's conditional generation)

Every neighbourhood is K noisy copies (std `noise_sigma`) of the example, as in training.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vmap

from ..local import LocalVAE, noise_neighbourhoods
from ..local.maml import adapt
from ..runtime import without_distribution_checks


class LocalVAERow(nn.Module):
    """A trained-as-usual LocalVAE (`self.local`) whose protocol methods use the adapted parameters.

    A wrapper, not a subclass: training calls `loss(x, neighbours)`, which is the LocalVAE's own; only the
    methods the harness reads (encode_mean, reconstruct, sample) answer with adapted weights.
    """

    def __init__(self, local: LocalVAE, k: int = 4, noise_sigma: float = 0.05):
        super().__init__()
        self.local, self.k, self.noise_sigma = local, int(k), float(noise_sigma)
        self.latent_dim = local.latent_dim
        self.register_buffer("references", torch.zeros(0), persistent=False)

    def loss(self, x: torch.Tensor, neighbours: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.local.loss(x, neighbours)

    def set_references(self, images: torch.Tensor, k: int, noise_sigma: float) -> None:
        """The training images that `sample` conditions on, and the neighbourhoods' K and noise."""
        self.references = images.detach().clone()
        self.k, self.noise_sigma = int(k), float(noise_sigma)

    def _neighbourhoods(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        g = None if generator is None else torch.Generator(device=x.device).manual_seed(generator.initial_seed())
        return noise_neighbourhoods(x, self.k, self.noise_sigma, generator=g)

    @torch.no_grad()
    def encode_mean(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.local.local_codes(x, self._neighbourhoods(x, generator))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        local = self.local
        params = {k: v.detach() for k, v in local.parameters_dict().items()}
        neighbourhoods = self._neighbourhoods(x, generator)
        eps = torch.randn(*neighbourhoods.shape[:2], self.latent_dim, device=x.device, dtype=x.dtype)

        def one(nb, e, xi):
            adapted = adapt(local.negative_elbo, params, (nb, e), local.alpha, first_order=True)
            enc = {k[8:]: v for k, v in adapted.items() if k.startswith("encoder.")}
            dec = {k[8:]: v for k, v in adapted.items() if k.startswith("decoder.")}
            code = functional_call(local.encoder, enc, (xi.unsqueeze(0),)).chunk(2, dim=-1)[0]
            return local.likelihood.mean(functional_call(local.decoder, dec, (code,))).squeeze(0)

        out = []
        with without_distribution_checks():
            for s in range(0, len(x), 64):
                out.append(vmap(one)(neighbourhoods[s:s + 64], eps[s:s + 64], x[s:s + 64]).detach())
        return torch.cat(out)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        rows = torch.randint(len(self.references), (n,), generator=g)
        z = torch.randn(n, self.latent_dim, generator=g).to(self.references.device)
        x = self.references[rows.to(self.references.device)]
        return self.local.conditional_samples(self._neighbourhoods(x, g), z)
