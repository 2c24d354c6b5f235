"""IWAE baselines (helpers.taming.iwae): L_k below log p(x), increasing in k, on linear-Gaussian models."""
import math

import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal

from helpers.taming.iwae import IWAE, TwoLayerIWAE, iwae_objective
from helpers.likelihoods import GaussianLikelihood


def test_iwae_objective_is_log_mean_exp():
    log_w = torch.log(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert torch.allclose(iwae_objective(log_w), torch.log(torch.tensor([2.0, 3.0])))


@torch.no_grad()
def test_one_layer_bound_increases_with_k_towards_log_px():
    torch.manual_seed(0)
    W, c, sigma = torch.tensor([[1.0, 0.5], [-0.3, 1.0], [0.2, 0.2]]), torch.tensor([0.1, 0.0, -0.2]), 0.5
    decoder = nn.Linear(2, 3)
    decoder.weight.copy_(W)
    decoder.bias.copy_(c)
    model = IWAE(nn.Linear(3, 4), decoder, 2, GaussianLikelihood(sigma), k=5)
    p_x = MultivariateNormal(c, W @ W.T + sigma ** 2 * torch.eye(3))
    x = torch.tensor([[1.0, -1.0, 0.0]])
    bounds = [float(iwae_objective(model.log_importance_weights(x.expand(4000, 3), k)).mean()) for k in (1, 5, 50)]
    assert bounds[0] < bounds[1] < bounds[2] <= float(p_x.log_prob(x)) + 0.01
    terms = model.loss(x.expand(4000, 3))
    assert float(terms["iwae"]) == pytest.approx(bounds[1], abs=0.05)
    with pytest.raises(ValueError):
        model.loss(x, beta=0.5)


@torch.no_grad()
def test_two_layer_weights_estimate_the_closed_form_likelihood():
    torch.manual_seed(1)
    model = TwoLayerIWAE.for_data((3,), latent_dims=(2, 2), k=5, likelihood="gaussian", hidden=(8,),
                                  hidden2=(8,), sigma=0.5)
    # make the generative side linear-Gaussian: p(z1|z2) = N(A z2 + b, 0.3^2), p(x|z1) = N(W z1 + c, 0.5^2)
    A, b = torch.tensor([[1.0, 0.2], [0.0, 0.7]]), torch.tensor([0.5, -0.5])
    W, c = torch.tensor([[1.0, 0.5], [-0.3, 1.0], [0.2, 0.2]]), torch.tensor([0.1, 0.0, -0.2])
    model.decoder2 = nn.Linear(2, 4)
    model.decoder2.weight.copy_(torch.cat([A, torch.zeros(2, 2)]))
    model.decoder2.bias.copy_(torch.cat([b, torch.full((2,), math.log(0.3))]))
    model.decoder = nn.Linear(2, 3)
    model.decoder.weight.copy_(W)
    model.decoder.bias.copy_(c)
    cov_z1 = A @ A.T + 0.09 * torch.eye(2)
    p_x = MultivariateNormal(W @ b + c, W @ cov_z1 @ W.T + 0.25 * torch.eye(3))
    x = torch.tensor([[0.5, -0.5, 0.0], [1.0, 0.0, 0.3]])
    log_w = model.log_importance_weights(x, 200_000)
    assert log_w.shape == (200_000, 2)
    assert torch.allclose(iwae_objective(log_w), p_x.log_prob(x), atol=0.05)
    z1 = model.sample_prior(50_000)
    assert torch.allclose(z1.mean(0), b, atol=0.03)
    assert torch.allclose(torch.cov(z1.T), cov_z1, atol=0.05)
