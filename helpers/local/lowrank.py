"""The Local VAE's inner step for MLPs without materialising the adapted weights (eqs. 8-10, Algorithm 1).

Source of the method: "Localized Generations with Deep Neural Networks for Multi-Scale Structured Datasets",
anonymous ICLR 2020 submission, https://openreview.net/group?id=ICLR.cc/2020/Conference.

The vmapped path (`helpers.local.maml.meta_loss`) writes a full copy of every adapted weight for each of the B
neighbourhoods of a minibatch: B x (out x in) numbers per linear layer, which is most of its cost on a CPU. For a
linear layer o = W h + b the inner gradient over a neighbourhood of K examples is a sum of K outer products,

    grad_W = sum_k delta_k h_k^T,      grad_b = sum_k delta_k,      delta_k = dL/do_k,  h_k = the layer's input,

so the adapted layer applied to the query's input h_q never needs W' = W - alpha grad_W:

    W' h_q + b' = (W h_q + b) - alpha * ( sum_k delta_k (h_k . h_q) + sum_k delta_k )

a rank-K correction from K dot products. One forward pass of all B x K neighbours with the shared weights and one
backward pass to the layers' outputs give every delta_k; the adapted forward of the B queries is then a batched
matrix product plus the correction. The outer backward pass differentiates through delta_k and h_k (second order),
or treats them as constants (`first_order`, Finn et al.'s approximation: the whole inner gradient detached).

Works for encoders and decoders built from `nn.Linear` layers and parameter-free modules (activations, Flatten,
reshapes): `helpers.nets.mlp_encoder` / `mlp_decoder`. `supports(model)` says whether a model qualifies; the
numbers equal the vmapped path's to round-off (tests/test_local_vae.py).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..likelihoods import gaussian_kl


def _leaves(net: nn.Module) -> list[nn.Module]:
    """The modules a Sequential (nested) applies in order."""
    if isinstance(net, nn.Sequential):
        return [leaf for child in net for leaf in _leaves(child)]
    return [net]


def supports(model) -> bool:
    """True if the encoder and decoder are Sequentials of nn.Linear and parameter-free modules, and the likelihood
    has no parameters of its own (the layers this path knows how to adapt)."""
    for net in (model.encoder, model.decoder):
        if not isinstance(net, nn.Sequential):
            return False
        for leaf in _leaves(net):
            if not isinstance(leaf, nn.Linear) and any(True for _ in leaf.parameters()):
                return False
    return not any(True for _ in model.likelihood.parameters())


def _run(net: nn.Module, inputs: torch.Tensor, linear) -> torch.Tensor:
    """Apply `net`, calling linear(index, layer, h) for its i-th nn.Linear instead of the layer itself."""
    i, out = 0, inputs
    for leaf in _leaves(net):
        if isinstance(leaf, nn.Linear):
            out = linear(i, leaf, out)
            i += 1
        else:
            out = leaf(out)
    return out


def _rec_kl(model, x: torch.Tensor, eps: torch.Tensor, encode, decode) -> torch.Tensor:
    """eq. 3's (rec, kl) per example, as `LocalVAE.forward`, with the given encoder and decoder functions."""
    mean, log_std = encode(x).chunk(2, dim=-1)
    std = log_std.clamp(-12.0, 6.0).exp()
    z = mean + std * eps
    rec = -model.likelihood(decode(z)).log_prob(x)
    return torch.stack([rec, gaussian_kl(mean, std)], dim=-1)


def lowrank_rec_kl(model, x: torch.Tensor, neighbours: torch.Tensor, eps: torch.Tensor, eps_neighbours: torch.Tensor,
                   alpha: float, first_order: bool = False) -> torch.Tensor:
    """[B, 2]: (rec, kl) of each x_i at the parameters adapted on its neighbourhood (eq. 8 after eqs. 9-10), the same
    numbers as the vmapped `LocalVAE.loss` path, computed with the rank-K form above.

    x [B, ...], neighbours [B, K, ...], eps [B, L], eps_neighbours [B, K, L]."""
    B, K = neighbours.shape[:2]
    records = {"encoder": [], "decoder": []}

    def recording(part):
        def linear(i, layer, h):
            o = F.linear(h, layer.weight, layer.bias)
            records[part].append((h, o))
            return o
        return linear

    # the inner objective of every neighbourhood at the shared (meta) parameters, all B x K examples in one pass
    flat = neighbours.reshape(B * K, *neighbours.shape[2:])
    rec_kl = _rec_kl(model, flat, eps_neighbours.reshape(B * K, -1),
                     lambda v: _run(model.encoder, v, recording("encoder")),
                     lambda v: _run(model.decoder, v, recording("decoder")))
    per_example = rec_kl[:, 0] + model.beta * rec_kl[:, 1]
    scale = K * (flat[0].numel() if model.inner_per_dimension else 1)
    inner = per_example.sum() / scale            # the sum over tasks of each task's 1/K sum (/D): tasks do not interact
    layers = records["encoder"] + records["decoder"]
    deltas = torch.autograd.grad(inner, [o for _, o in layers], create_graph=not first_order)

    corrections = {}
    for part in ("encoder", "decoder"):
        start = 0 if part == "encoder" else len(records["encoder"])
        for i, (h, _) in enumerate(records[part]):
            d = deltas[start + i]
            if first_order:
                h, d = h.detach(), d.detach()
            corrections[part, i] = (h.reshape(B, K, -1), d.reshape(B, K, -1))

    def adapted(part):
        def linear(i, layer, h_query):                 # h_query [B, in]: W h + b - alpha (sum_k d_k (h_k . h) + sum_k d_k)
            h, d = corrections[part, i]
            dots = torch.einsum("bki,bi->bk", h, h_query)
            step = torch.einsum("bk,bko->bo", dots, d) + (d.sum(1) if layer.bias is not None else 0)
            return F.linear(h_query, layer.weight, layer.bias) - alpha * step
        return linear

    return _rec_kl(model, x, eps, lambda v: _run(model.encoder, v, adapted("encoder")),
                   lambda v: _run(model.decoder, v, adapted("decoder")))
