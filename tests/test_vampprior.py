"""The VampPrior (helpers.taming.vampprior): the mixture prior, its KL estimate and its importance weights."""
import math

import torch
from torch import nn
from torch.distributions import kl_divergence

from helpers.likelihoods import GaussianLikelihood
from helpers.taming.vampprior import VampPriorVAE


def small_model(k=3, latent=2, dim=4, seed=0):
    torch.manual_seed(seed)
    return VampPriorVAE.for_data((dim,), latent, n_pseudo_inputs=k, hidden=(8,))


@torch.no_grad()
def test_prior_is_the_uniform_mixture_of_posteriors_at_the_pseudo_inputs():
    model = small_model(k=5)
    z = torch.randn(11, 2)
    components = model.encode(model.pseudo_inputs)
    by_hand = torch.logsumexp(torch.stack([
        torch.distributions.Independent(torch.distributions.Normal(components.mean[k], components.stddev[k]), 1)
        .log_prob(z) for k in range(5)]), 0) - math.log(5)
    assert torch.allclose(model.prior().log_prob(z), by_hand, atol=1e-5)
    assert torch.allclose(model.log_prior(z), by_hand, atol=1e-5)
    assert torch.allclose(model.log_prior(z, max_numbers=10), by_hand, atol=1e-5)   # chunked


@torch.no_grad()
def test_one_pseudo_input_gives_the_closed_form_kl():
    model = small_model(k=1)
    x = torch.rand(3, 4)
    q, p_components = model.encode(x), model.encode(model.pseudo_inputs)
    exact = torch.stack([kl_divergence(
        torch.distributions.Independent(torch.distributions.Normal(q.mean[i], q.stddev[i]), 1),
        torch.distributions.Independent(torch.distributions.Normal(p_components.mean[0], p_components.stddev[0]), 1))
        for i in range(3)])
    torch.manual_seed(1)
    x_rep = x.repeat(20_000, 1)
    kl = model.loss(x_rep)["kl"]                           # batch mean of the one-sample estimates
    assert abs(float(kl) - float(exact.mean())) < 0.02 * max(1.0, float(exact.mean()))


def test_pseudo_inputs_stay_in_the_data_range_and_learn():
    model = small_model(k=4)
    with torch.no_grad():
        model.raw_pseudo_inputs[0, 0] = 3.0
        model.raw_pseudo_inputs[1, 1] = -2.0
    u = model.pseudo_inputs.detach()
    assert float(u.min()) >= 0.0 and float(u.max()) <= 1.0
    x = (torch.rand(16, 4) > 0.5).float()
    model.loss(x)["loss"].backward()
    assert model.raw_pseudo_inputs.grad is not None and model.raw_pseudo_inputs.grad.abs().sum() > 0


@torch.no_grad()
def test_importance_weights_estimate_the_closed_form_likelihood():
    # linear-Gaussian decoder and one pseudo-input whose posterior is N(m, s^2): p(x) is Gaussian
    torch.manual_seed(2)
    encoder = nn.Linear(3, 4)
    decoder = nn.Linear(2, 3)
    model = VampPriorVAE(encoder, decoder, 2, (3,), n_pseudo_inputs=1, likelihood=GaussianLikelihood(0.5))
    prior = model.prior().component_distribution
    mean, cov = prior.mean[0], torch.diag(prior.variance[0])
    W, c = decoder.weight, decoder.bias
    p_x = torch.distributions.MultivariateNormal(W @ mean + c, W @ cov @ W.T + 0.25 * torch.eye(3))
    x = torch.randn(2, 3) * 0.3
    log_w = model.log_importance_weights(x, 100_000)
    assert log_w.shape == (100_000, 2)
    estimate = torch.logsumexp(log_w, 0) - math.log(100_000)
    assert torch.allclose(estimate, p_x.log_prob(x), atol=0.05)
