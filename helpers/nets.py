"""Encoder and decoder building blocks.

Three families, chosen by the shape of the data:

- vectors (and small images, flattened): multilayer perceptrons;
- 28x28 / 32x32 images: two stride-2 convolutions, as in most MNIST VAEs;
- 64x64 images: the architecture of Table 3 in "Localized Generations with Deep Neural Networks for
  Multi-Scale Structured Datasets" (anonymous ICLR 2020 submission, OpenReview,
  https://openreview.net/group?id=ICLR.cc/2020/Conference), itself the one of F. Locatello et al.,
  "Challenging Common Assumptions in the Unsupervised Learning of Disentangled Representations"
  (ICML 2019, https://arxiv.org/abs/1811.12359): four 4x4 stride-2 convolutions 32-32-64-64,
  FC 256; the decoder mirrors it.

An encoder maps x to `out_features` numbers (for a Gaussian posterior: 2 x latent_dim, the
mean and log standard deviation); a decoder maps z to the parameters of p(x|z), shaped like x.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers of the given widths with `activation` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class Reshape(nn.Module):
    """View a batch as `shape` (per example); `nn.Unflatten` for any number of trailing dims."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


def mlp_encoder(data_shape: tuple[int, ...], out_features: int, hidden: tuple[int, ...] = (256, 256)) -> nn.Module:
    """Flatten x (any shape) and map it through an MLP."""
    return nn.Sequential(nn.Flatten(), mlp([math.prod(data_shape), *hidden, out_features]))


def mlp_decoder(latent_dim: int, data_shape: tuple[int, ...], hidden: tuple[int, ...] = (256, 256)) -> nn.Module:
    """An MLP from z to one parameter per data dimension, reshaped like x."""
    return nn.Sequential(mlp([latent_dim, *hidden, math.prod(data_shape)]), Reshape(*data_shape))


def conv_encoder_28(channels: int, out_features: int, size: int = 28) -> nn.Module:
    """28x28 or 32x32 images: 4x4 stride-2 convs 32-64 (size/4 left), FC 256, FC out."""
    side = size // 4
    return nn.Sequential(
        nn.Conv2d(channels, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * side * side, 256), nn.ReLU(),
        nn.Linear(256, out_features),
    )


def conv_decoder_28(latent_dim: int, channels: int, size: int = 28) -> nn.Module:
    """Mirror of `conv_encoder_28`: FC 256, FC 64*(size/4)^2, two 4x4 stride-2 transposed convs."""
    side = size // 4
    return nn.Sequential(
        nn.Linear(latent_dim, 256), nn.ReLU(),
        nn.Linear(256, 64 * side * side), nn.ReLU(), Reshape(64, side, side),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(32, channels, 4, stride=2, padding=1),
    )


def conv_encoder_64(channels: int, out_features: int) -> nn.Module:
    """Table 3 of the Localized Generations ICLR 2020 submission (Locatello et al. 2019's architecture):
    4x4 stride-2 convs 32, 32, 64, 64 (64 -> 4 pixels), FC 256, FC out."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.ReLU(),
        nn.Linear(256, out_features),
    )


def conv_decoder_64(latent_dim: int, channels: int) -> nn.Module:
    """Table 3 decoder: FC 256, FC 4x4x64, 4x4 stride-2 upconvs 64, 32, 32, channels."""
    return nn.Sequential(
        nn.Linear(latent_dim, 256), nn.ReLU(),
        nn.Linear(256, 64 * 4 * 4), nn.ReLU(), Reshape(64, 4, 4),
        nn.ConvTranspose2d(64, 64, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(32, channels, 4, stride=2, padding=1),
    )


def encoder_for(data_shape: tuple[int, ...], out_features: int, hidden: tuple[int, ...] = (256, 256)) -> nn.Module:
    """The course's default encoder for data of this shape (C,H,W images or D-vectors)."""
    data_shape = tuple(data_shape)
    if len(data_shape) == 3 and data_shape[1] == data_shape[2] and data_shape[1] in (28, 32):
        return conv_encoder_28(data_shape[0], out_features, data_shape[1])
    if len(data_shape) == 3 and data_shape[1:] == (64, 64):
        return conv_encoder_64(data_shape[0], out_features)
    return mlp_encoder(data_shape, out_features, hidden)


def decoder_for(latent_dim: int, data_shape: tuple[int, ...], hidden: tuple[int, ...] = (256, 256)) -> nn.Module:
    """The decoder matching `encoder_for`: z -> one parameter per data dimension, shaped like x."""
    data_shape = tuple(data_shape)
    if len(data_shape) == 3 and data_shape[1] == data_shape[2] and data_shape[1] in (28, 32):
        return conv_decoder_28(latent_dim, data_shape[0], data_shape[1])
    if len(data_shape) == 3 and data_shape[1:] == (64, 64):
        return conv_decoder_64(latent_dim, data_shape[0])
    return mlp_decoder(latent_dim, data_shape, hidden)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
