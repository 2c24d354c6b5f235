"""The hierarchical prior and the bound F (helpers.taming.vhp) on linear-Gaussian models, where log p(z) is known.

With p(zeta) = N(0, I) and p(z|zeta) = N(A zeta + b, s^2 I), the marginal p(z) = N(b, A A^T + s^2 I),
and the posterior p(zeta|z) = N(Sigma A^T (z - b) / s^2, Sigma), Sigma = (I + A^T A / s^2)^-1 (diagonal
when A's columns are orthogonal). A linear-Gaussian decoder p(x|z) = N(W z + c, sigma^2 I) on top makes
p(x) Gaussian as well, so the NLL estimator can be checked against the truth.
"""
import math

import pytest
import torch
from torch import nn
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from helpers.likelihoods import GaussianLikelihood
from helpers.taming.vhp import HierarchicalPrior, VHPVAE, frozen

A = torch.tensor([[2.0, 0.0], [0.0, 0.5]])       # orthogonal columns: the exact posterior is diagonal
B = torch.tensor([1.0, -1.0])
S = 0.3


def linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


def gaussian_net(mean_weight, mean_bias, log_std):
    """A linear layer whose output is (mean = W u + b, log std = constant)."""
    d = mean_weight.shape[0]
    weight = torch.cat([mean_weight, torch.zeros(d, mean_weight.shape[1])])
    return linear(weight, torch.cat([mean_bias, torch.full((d,), float(log_std))]))


def exact_posterior_net(shift: float = 0.0, widen: float = 1.0):
    """q_Phi(zeta|z) = p(zeta|z) for the linear-Gaussian prior; or, with a shift and widening, a poorer proposal."""
    sigma = torch.linalg.inv(torch.eye(2) + A.T @ A / S ** 2)
    gain = sigma @ A.T / S ** 2
    weight = torch.cat([gain, torch.zeros(2, 2)])
    bias = torch.cat([-gain @ B + shift, 0.5 * torch.log(torch.diagonal(sigma)) + math.log(widen)])
    return linear(weight, bias)


def linear_prior(inference=None):
    conditional = gaussian_net(A, B, math.log(S))
    # default proposal: the exact posterior shifted by 0.3 and three times as wide (heavier tails than the
    # target, so the importance weights stay bounded)
    inference = inference if inference is not None else exact_posterior_net(shift=0.3, widen=3.0)
    return HierarchicalPrior(2, 2, conditional=conditional, inference=inference)


def marginal():
    return MultivariateNormal(B, A @ A.T + S ** 2 * torch.eye(2))


@torch.no_grad()
def test_bound_is_exact_with_the_true_posterior():
    prior = linear_prior(exact_posterior_net())
    z = torch.randn(50, 2) * 2
    assert torch.allclose(prior.log_prob_bound(z, 1), marginal().log_prob(z), atol=1e-4)


@torch.no_grad()
def test_bound_is_below_log_pz_and_tightens_with_k():
    torch.manual_seed(0)
    prior = linear_prior()                                  # a deliberately poor proposal q_Phi(zeta|z)
    z = torch.tensor([[1.5, -0.8], [-2.0, -1.2], [1.0, -1.0]])
    truth = marginal().log_prob(z)
    means = [prior.log_prob_bound(z.expand(8_000, 3, 2), k).mean(0) for k in (1, 4, 16, 64)]
    for looser, tighter in zip(means, means[1:]):
        assert torch.all(tighter > looser)
    assert torch.all(means[-1] <= truth + 0.01)
    assert torch.all(truth - means[0] > 0.1)                # the gap is real at K = 1
    # the weights themselves are unbiased: log of their mean over many draws -> log p(z)
    log_w = prior.log_weights(z, 100_000)
    assert torch.allclose(torch.logsumexp(log_w, 0) - math.log(100_000), truth, atol=0.03)


@torch.no_grad()
def test_kl_bound_F_is_above_the_true_kl_and_decreases_in_k():
    torch.manual_seed(1)
    model = VHPVAE(nn.Identity(), nn.Identity(), 2, linear_prior())
    q = Independent(Normal(torch.tensor([0.5, -0.5]), torch.tensor([0.4, 0.2])), 1)
    true_kl = kl_divergence(MultivariateNormal(q.mean, torch.diag(q.variance)), marginal())
    z = q.sample((10_000,))
    f = [model.kl_bound(q, z, k).mean() for k in (1, 4, 16, 64)]
    for looser, tighter in zip(f, f[1:]):
        assert tighter < looser
    assert f[-1] >= true_kl - 0.01
    assert f[0] - true_kl > 0.1


@torch.no_grad()
def test_nll_estimate_matches_the_closed_form_and_is_a_lower_bound():
    torch.manual_seed(2)
    W, c, sigma = torch.tensor([[1.0, 0.5], [-0.3, 1.0], [0.2, 0.2]]), torch.tensor([0.1, 0.0, -0.2]), 0.5
    encoder = gaussian_net(0.4 * torch.ones(2, 3), B, math.log(0.5))   # a rough q(z|x); IS stays consistent
    model = VHPVAE(encoder, linear(W, c), 2, linear_prior(exact_posterior_net()), GaussianLikelihood(sigma),
                   n_prior_samples_eval=4)
    p_z = marginal()
    p_x = MultivariateNormal(W @ B + c, W @ p_z.covariance_matrix @ W.T + sigma ** 2 * torch.eye(3))
    x = torch.tensor([[1.0, -1.0, 0.0], [2.0, 0.0, 0.5]])
    log_w = model.log_importance_weights(x, 100_000)
    assert log_w.shape == (100_000, 2)
    estimate = torch.logsumexp(log_w, 0) - math.log(100_000)
    assert torch.allclose(estimate, p_x.log_prob(x), atol=0.03)
    assert torch.all(log_w.mean(0) < p_x.log_prob(x))      # one sample: the ELBO, strictly below


def test_frozen_prior_gets_no_gradient():
    torch.manual_seed(3)
    model = VHPVAE.for_data((6,), latent_dim=2, hidden=(8,), prior_hidden=(8,), n_prior_samples=3)
    x = (torch.rand(5, 6) > 0.5).float()
    model.loss(x, beta=0.5, train_prior=False)["loss"].backward()
    assert all(p.grad is None for p in model.hierarchical_prior.parameters())
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.hierarchical_prior.parameters())   # restored afterwards
    model.loss(x, beta=0.5, train_prior=True)["loss"].backward()
    assert all(p.grad is not None for p in model.hierarchical_prior.parameters())


@torch.no_grad()
def test_loss_terms_are_consistent():
    torch.manual_seed(4)
    model = VHPVAE.for_data((6,), latent_dim=2, hidden=(8,), prior_hidden=(8,))
    x = (torch.rand(7, 6) > 0.5).float()
    torch.manual_seed(5)
    t1 = model.loss(x, beta=1.0)
    torch.manual_seed(5)
    t2 = model.loss(x, beta=0.25)
    assert float(t1["rec"]) == pytest.approx(float(t2["rec"])) and float(t1["kl"]) == pytest.approx(float(t2["kl"]))
    assert float(t2["loss"]) == pytest.approx(float(t2["rec"] + 0.25 * t2["kl"]), rel=1e-5)
    assert float(t1["elbo"]) == pytest.approx(-float(t1["loss"]), rel=1e-5)


def test_chunked_log_prob_bound_equals_unchunked():
    prior = linear_prior(exact_posterior_net())
    z = torch.randn(4, 30, 2)
    full = prior.log_prob_bound(z, 1)
    prior.max_rows = 7
    assert torch.allclose(prior.log_prob_bound(z, 1), full, atol=1e-5)
    assert prior.log_prob_bound(z, 5).shape == (4, 30)


def test_prior_sampling_and_misuse():
    prior = linear_prior()
    torch.manual_seed(6)
    z = prior.sample(40_000)
    assert torch.allclose(z.mean(0), B, atol=0.05)
    assert torch.allclose(torch.cov(z.T), marginal().covariance_matrix, atol=0.08)
    model = VHPVAE(nn.Identity(), nn.Identity(), 2, prior)
    assert not hasattr(model, "prior")    # no closed form: sample_prior and log_prior instead
    with frozen(prior):
        assert not any(p.requires_grad for p in prior.parameters())


@torch.no_grad()
def test_standardisation_is_an_affine_change_of_variables():
    # with shift m and scale s the prior is the law of m + s * z0, z0 ~ the unstandardised prior
    prior = linear_prior(exact_posterior_net())
    prior.shift.copy_(torch.tensor([3.0, -2.0]))
    prior.scale.copy_(torch.tensor([2.0, 0.5]))
    z0 = torch.randn(20, 2) * 2
    z = prior.shift + prior.scale * z0
    expected = marginal().log_prob(z0) - torch.log(prior.scale).sum()
    assert torch.allclose(prior.log_prob_bound(z, 1), expected, atol=1e-4)


@torch.no_grad()
def test_track_codes_sets_then_averages_the_aggregated_posterior_moments():
    prior = HierarchicalPrior(2, momentum=0.9)
    means = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    stds = torch.tensor([[1.0, 0.5], [1.0, 0.5]])
    q = Independent(Normal(means, stds), 1)
    prior.track_codes(q)                                   # first call: the batch's own moments
    assert torch.allclose(prior.shift, torch.tensor([1.0, 2.0]))
    assert torch.allclose(prior.scale, torch.sqrt(torch.tensor([1.0 + 1.0, 1.0 + 0.25])))
    q2 = Independent(Normal(means + 10.0, stds), 1)
    prior.track_codes(q2)                                  # then a moving average with weight 0.1
    assert torch.allclose(prior.shift, torch.tensor([2.0, 3.0]))


def test_default_prior_starts_narrow():
    prior = HierarchicalPrior(3, 4, hidden=(8,), init_std=0.1)
    assert torch.allclose(prior.conditional[-1].bias[3:], torch.full((3,), math.log(0.1)))
    with torch.no_grad():
        prior.conditional[-1].weight.zero_()
        assert torch.allclose(prior.p_z_given_zeta(torch.randn(5, 4)).stddev, torch.full((5, 3), 0.1))


def test_vhp_tracks_codes_only_while_the_prior_trains():
    torch.manual_seed(7)
    model = VHPVAE.for_data((6,), latent_dim=2, hidden=(8,), prior_hidden=(8,), n_prior_samples=3)
    x = (torch.rand(16, 6) > 0.5).float()
    model.loss(x, train_prior=False)
    assert not bool(model.hierarchical_prior.tracking)
    model.loss(x, train_prior=True)
    assert bool(model.hierarchical_prior.tracking)
    with torch.no_grad():
        q = model.encode(x)
    assert torch.allclose(model.hierarchical_prior.shift, q.mean.mean(0), atol=1e-5)
