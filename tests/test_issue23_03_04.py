"""Issue 23 for notebooks 03 and 04: free bits for VAE + IAF, the RAE with Ghosh et al.'s loss."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from helpers.likelihoods import GaussianLikelihood
from helpers.regularised import RAE, Autoencoder, FlowVAE

L, D, CONTEXT = 4, 3, 2
MEANS = torch.tensor([0.0, 0.5, 2.0, 0.1])
LOG_STDS = torch.tensor([0.0, -0.2, -1.0, 0.05])


def closed_form_kl_per_dim() -> torch.Tensor:
    """KL(N(m, s^2) || N(0, 1)) per dimension = (s^2 + m^2 - 1) / 2 - log s."""
    return 0.5 * (torch.exp(2 * LOG_STDS) + MEANS**2 - 1) - LOG_STDS


def identity_flow_vae(free_bits: float) -> FlowVAE:
    """q_0 = N(MEANS, exp(LOG_STDS)^2) for every x, and IAF steps that are the identity (m = 0, sigma = sigmoid(40)),
    so that q_K = q_0 and each dimension's KL has the closed form above."""
    encoder = nn.Linear(D, 2 * L + CONTEXT)
    model = FlowVAE(encoder, nn.Linear(L, D), L, GaussianLikelihood(sigma=0.5), n_flows=2, flow_hidden=(8,),
                    context_dim=CONTEXT, free_bits=free_bits)
    with torch.no_grad():
        encoder.weight.zero_()
        encoder.bias.copy_(torch.cat([MEANS, LOG_STDS, torch.zeros(CONTEXT)]))
        for step in model.flow.steps:
            step.out.weight.zero_()
            step.out.bias[:L] = 0.0
            step.out.bias[L:] = 40.0
    return model


def test_free_bits_kl_is_the_sum_of_clamped_minibatch_means():
    kl_dims = torch.tensor([[0.2, 3.0, -0.5], [0.4, 1.0, 0.1]])          # minibatch means 0.3, 2.0, -0.2
    assert FlowVAE.free_bits_kl(kl_dims, 0.5).item() == pytest.approx(0.5 + 2.0 + 0.5)
    assert FlowVAE.free_bits_kl(kl_dims, 0.0).item() == pytest.approx(0.3 + 2.0 + 0.0)


@pytest.mark.parametrize("free_bits", [0.25, 1.0])
def test_free_bits_objective_matches_its_closed_form(free_bits):
    # Kingma et al.'s eq. 15 with one group per dimension: sum_i max(lambda, KL_i), KL_i in closed form here.
    model = identity_flow_vae(free_bits)
    x = torch.randn(1, D).expand(200_000, D)
    torch.manual_seed(0)
    terms = model.loss(x)
    kl = closed_form_kl_per_dim()
    expected = torch.clamp(kl, min=free_bits).sum().item()
    # the Monte-Carlo mean of each dimension's log-ratio: standard error < 0.005 with 200,000 draws
    assert terms["kl_free_bits"].item() == pytest.approx(expected, abs=0.02)
    assert terms["kl"].item() == pytest.approx(kl.sum().item(), abs=0.02)       # the plain KL is still logged
    assert terms["loss"].item() == pytest.approx(terms["rec"].item() + terms["kl_free_bits"].item(), rel=1e-6)
    # the clamp is active for some dimensions and not others, so the test tells max() from a plain sum
    assert (kl < free_bits).any() and (kl > free_bits).any()


def test_free_bits_give_no_kl_gradient_to_dimensions_below_lambda():
    free_bits = 0.5
    model = identity_flow_vae(free_bits)
    kl = closed_form_kl_per_dim()
    x = torch.randn(1, D).expand(20_000, D)
    torch.manual_seed(0)
    model.loss(x)["kl_free_bits"].backward()
    grad_mean = model.encoder.bias.grad[:L]
    below, above = kl < free_bits - 0.1, kl > free_bits + 0.1
    assert torch.all(grad_mean[below] == 0)
    # above lambda the gradient is that of the KL: d/dm [(s^2 + m^2 - 1)/2 - log s] = m
    assert torch.allclose(grad_mean[above], MEANS[above], atol=0.05)


def test_free_bits_zero_is_the_plain_elbo_and_kl_dims_sum_to_the_log_ratio():
    torch.manual_seed(0)
    model = FlowVAE.for_data((5,), 3, likelihood="gaussian", hidden=(16,), flow_hidden=(16,), context_dim=2, sigma=0.5)
    x = torch.randn(6, 5)
    torch.manual_seed(1)
    terms = model.loss(x)
    assert "kl_free_bits" not in terms
    assert terms["loss"].item() == pytest.approx(terms["rec"].item() + terms["kl"].item(), rel=1e-6)
    torch.manual_seed(1)
    q0, h = model.encode_with_context(x)
    z0 = q0.rsample()
    z, log_det = model.flow(z0, h)
    z_dims, log_det_dims = model.flow(z0, h, per_dim=True)
    assert torch.allclose(z, z_dims) and torch.allclose(log_det, log_det_dims.sum(-1), atol=1e-6)
    kl = q0.log_prob(z0) - log_det - model.prior().log_prob(z)
    assert torch.allclose(model.kl_per_dim(q0, z0, z, log_det_dims).sum(-1), kl, atol=1e-5)


def test_squared_cost_is_the_sum_of_squared_errors_of_the_decoded_mean():
    torch.manual_seed(0)
    model = Autoencoder.for_data((6,), 2, hidden=(8,), cost="squared")
    x = torch.rand(5, 6)
    z = model.encoder(x)
    expected = (x - torch.sigmoid(model.decoder(z))).pow(2).sum(-1)
    assert torch.allclose(model.reconstruction(x, z), expected, atol=1e-6)
    with pytest.raises(ValueError):
        Autoencoder.for_data((6,), 2, hidden=(8,), cost="l1")


def test_rae_paper_weights_reproduce_ghosh_et_al_loss_times_the_pixel_count():
    # Their per-example loss: mean_pixels (x - x_hat)^2 + 1e-4 mean_dims z^2, and 1e-7 ||theta_D||^2 (as weight decay).
    pixels, latent = 784, 16
    torch.manual_seed(0)
    model = RAE.for_data((pixels,), latent, hidden=(8,), **RAE.paper_weights(pixels, latent))
    x = torch.rand(7, pixels)
    z = model.encoder(x)
    theirs = ((x - torch.sigmoid(model.decoder(z))).pow(2).mean(-1) + 1e-4 * z.pow(2).mean(-1)).mean()
    assert model.loss(x)["loss"].item() == pytest.approx(pixels * theirs.item(), rel=1e-5)
    decoder_group = model.param_groups()[0]
    assert decoder_group["weight_decay"] == pytest.approx(2 * 1e-7 * pixels)   # Adam's w = 2 * reg_weight
    assert math.isclose(RAE.paper_weights(64, 8)["beta_z"], 1.6e-3) and math.isclose(RAE.paper_weights(64, 8)["reg_weight"], 6.4e-6)
