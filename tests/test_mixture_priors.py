"""helpers.mixture_priors: the factorial mixture prior's exponential-family maths, its local and global
steps, and its agreement with scikit-learn's variational-Bayes GMM (numbers, not shapes)."""
import math

import numpy as np
import pytest
import torch
from scipy.special import digamma

from helpers.mixture_priors import FactorialMixturePrior, MixturePriorVAE, VaDE
from helpers.mixture_priors import normal_gamma as ng
from helpers.nets import mlp_decoder, mlp_encoder

D64 = torch.float64


def _ng_params(shape=(3,), seed=0):
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(shape, generator=g, dtype=D64)
    s = 0.5 + 2 * torch.rand(shape, generator=g, dtype=D64)
    a = 1.5 + 3 * torch.rand(shape, generator=g, dtype=D64)
    b = 0.5 + 2 * torch.rand(shape, generator=g, dtype=D64)
    return m, s, a, b


def test_natural_and_mean_parameters_round_trip():
    m, s, a, b = _ng_params((4, 5))
    back = ng.mean_from_natural(ng.natural_from_mean(m, s, a, b))
    for x, y in zip((m, s, a, b), back):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)


def test_expected_statistics_match_monte_carlo():
    torch.manual_seed(0)
    m, s, a, b = _ng_params((3,))
    mu, alpha = ng.sample(m, s, a, b, (400_000,))
    mc = torch.stack([alpha.log(), alpha, alpha * mu, alpha * mu ** 2], -1).mean(0)
    torch.testing.assert_close(mc, ng.expected_statistics(m, s, a, b), rtol=0.02, atol=0.01)


def test_log_prob_is_the_exponential_family_form():
    """log NG = eta . t - A(eta): differences of log densities equal differences of eta . t."""
    m, s, a, b = _ng_params((1,))
    eta = ng.natural_from_mean(m, s, a, b)[0]
    points = [(torch.tensor(0.3, dtype=D64), torch.tensor(1.7, dtype=D64)),
              (torch.tensor(-1.1, dtype=D64), torch.tensor(0.4, dtype=D64))]
    lp = [ng.log_prob(mu, al, m[0], s[0], a[0], b[0]) for mu, al in points]
    dots = [eta @ torch.stack([al.log(), al, al * mu, al * mu ** 2]) for mu, al in points]
    assert abs(float((lp[0] - lp[1]) - (dots[0] - dots[1]))) < 1e-10


def test_normal_gamma_kl_matches_monte_carlo():
    torch.manual_seed(1)
    q, p = _ng_params((2,), seed=2), _ng_params((2,), seed=3)
    exact = ng.kl(*q, *p)
    mu, alpha = ng.sample(*q, (400_000,))
    mc = (ng.log_prob(mu, alpha, *q) - ng.log_prob(mu, alpha, *p)).mean(0)
    torch.testing.assert_close(mc, exact, rtol=0.03, atol=0.01)
    assert float(ng.kl(*q, *q).abs().max()) < 1e-12


def test_dirichlet_kl_and_expected_log_match_monte_carlo():
    torch.manual_seed(2)
    c, c0 = torch.tensor([2.0, 5.0, 0.7], dtype=D64), torch.tensor([1.0, 1.0, 1.0], dtype=D64)
    pi = torch.distributions.Dirichlet(c).sample((400_000,))
    log_q, log_p = torch.distributions.Dirichlet(c).log_prob(pi), torch.distributions.Dirichlet(c0).log_prob(pi)
    assert abs(float((log_q - log_p).mean() - ng.dirichlet_kl(c, c0))) < 0.02
    torch.testing.assert_close(pi.log().mean(0), ng.dirichlet_expected_log(c), rtol=0.01, atol=0.01)


def test_expected_kl_eq6_matches_monte_carlo_over_q_mu_alpha():
    """E_{q(mu, alpha)} KL(N(mu_q, var_q) || N(mu, 1/alpha)) and eq. (6) against draws of (mu, alpha) and z."""
    torch.manual_seed(3)
    m, s, a, b = _ng_params((4,), seed=4)
    mu_q, var_q = torch.tensor([0.2, -1.0, 0.5, 2.0], dtype=D64), torch.tensor([0.3, 0.1, 1.2, 0.5], dtype=D64)
    mu, alpha = ng.sample(m, s, a, b, (400_000,))
    kl_each = 0.5 * (alpha * (var_q + (mu_q - mu) ** 2) - 1 - torch.log(alpha * var_q))
    torch.testing.assert_close(kl_each.mean(0), ng.expected_kl_gaussian(mu_q, var_q, m, s, a, b), rtol=0.02, atol=0.01)
    z = mu_q + var_q.sqrt() * torch.randn_like(mu)
    log_n = 0.5 * (alpha.log() - math.log(2 * math.pi) - alpha * (z - mu) ** 2)
    torch.testing.assert_close(log_n.mean(0), ng.expected_log_normal(mu_q, var_q, m, s, a, b), rtol=0.02, atol=0.02)


def _prior_with_state(seed=0, n_components=(3, 2), block_dim=2, n_data=100):
    g = torch.Generator().manual_seed(seed)
    prior = FactorialMixturePrior(n_components, block_dim, n_data)
    for i, k in enumerate(n_components):
        m = torch.randn(k, block_dim, generator=g, dtype=D64)
        s = 1 + torch.rand(k, block_dim, generator=g, dtype=D64)
        a = 2 + torch.rand(k, block_dim, generator=g, dtype=D64)
        b = 1 + torch.rand(k, block_dim, generator=g, dtype=D64)
        prior.natural(i).copy_(ng.natural_from_mean(m, s, a, b))
        prior.counts(i).copy_(1 + 5 * torch.rand(k, generator=g, dtype=D64))
    return prior


def test_gamma_is_the_normalised_exp_of_the_closed_form():
    prior = _prior_with_state()
    mu, var = torch.randn(5, 4, dtype=D64), 0.1 + torch.rand(5, 4, dtype=D64)
    gammas = prior.responsibilities(mu, var)
    for i in range(2):
        m, s, a, b = (p.numpy() for p in prior.mean_params(i))
        c = prior.counts(i).numpy()
        mu_i, var_i = mu[:, 2 * i:2 * i + 2].numpy()[:, None], var[:, 2 * i:2 * i + 2].numpy()[:, None]
        by_hand = 0.5 * (digamma(a) - np.log(b) - np.log(2 * np.pi) - 1 / s - a / b * ((mu_i - m) ** 2 + var_i)).sum(-1)
        by_hand = by_hand + digamma(c) - digamma(c.sum())
        expected = np.exp(by_hand) / np.exp(by_hand).sum(-1, keepdims=True)
        np.testing.assert_allclose(gammas[i].numpy(), expected, rtol=1e-10)
        assert np.allclose(gammas[i].sum(-1).numpy(), 1.0)


def test_gamma_maximises_the_local_elbo():
    """gamma of eq. (5) beats any other q(r): the local bound sum gamma (logit) - gamma log gamma is maximal."""
    prior = _prior_with_state(1)
    mu, var = torch.randn(1, 4, dtype=D64), torch.full((1, 4), 0.2, dtype=D64)
    logits = prior.assignment_logits(mu, var)[0][0]
    local = lambda g: float((g * logits).sum() - torch.xlogy(g, g).sum())  # noqa: E731
    best = local(torch.softmax(logits, -1))
    for _ in range(50):
        assert local(torch.softmax(torch.randn(3, dtype=D64) * 3, -1)) <= best + 1e-12
    assert abs(best - float(torch.logsumexp(logits, -1))) < 1e-10


def test_full_batch_step_of_length_one_is_the_coordinate_ascent_update():
    prior = _prior_with_state(2, n_components=(3,), block_dim=2, n_data=40)
    x, var = torch.randn(40, 2, dtype=D64), 0.05 * torch.rand(40, 2, dtype=D64)
    gamma = prior.responsibilities(x, var)
    prior.natural_step(x, var, gamma, rho=1.0, scale=1.0)
    g = gamma[0]
    n_k = g.sum(0)[:, None]
    mean = g.T @ x / n_k
    spread = (g.T @ (x ** 2 + var)) / n_k - mean ** 2                 # S_k, with the codes' variances
    s0, m0, a0, b0 = 1.0, 0.0, 0.01, 0.01
    s_vb, m_vb = s0 + n_k, (s0 * m0 + n_k * mean) / (s0 + n_k)
    a_vb = a0 + n_k / 2
    b_vb = b0 + 0.5 * (n_k * spread + s0 * n_k * (mean - m0) ** 2 / (s0 + n_k))
    m, s, a, b = prior.mean_params(0)
    for got, want in ((m, m_vb), (s, s_vb.expand_as(s)), (a, a_vb.expand_as(a)), (b, b_vb)):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(prior.counts(0), 1.0 + n_k[:, 0])


def test_elbo_never_decreases_over_full_batch_coordinate_steps():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-3.0, 0.0], [3.0, 1.0], [0.0, 4.0]], dtype=D64)
    codes = torch.cat([centres[k] + 0.7 * torch.randn(100, 2, generator=g, dtype=D64) for k in range(3)])
    codes = torch.cat([codes, torch.randn(300, 2, generator=g, dtype=D64)], 1)   # factor 2: one blob
    prior = FactorialMixturePrior((4, 3), 2, n_data=len(codes))
    history = prior.initialise(codes, torch.full_like(codes, 0.01), iterations=60, generator=g)
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[:-1])), "the ELBO decreased"
    assert history[-1] > history[0]


def _known_mixture(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    weights = np.array([0.5, 0.3, 0.2])
    means = np.array([[-4.0, 0.0], [3.0, 2.0], [0.0, -5.0]])
    stds = np.array([[1.0, 0.5], [0.6, 1.2], [0.8, 0.8]])
    k = rng.choice(3, n, p=weights)
    return means[k] + stds[k] * rng.standard_normal((n, 2)), k


def test_full_batch_vb_agrees_with_sklearn_bayesian_gaussian_mixture():
    """Our VB on fixed codes against BayesianGaussianMixture(diag, dirichlet_distribution).

    Hyperparameter mapping (sklearn -> ours), for diagonal precisions alpha_d ~ Gamma(a0, rate b0):
      weight_concentration_prior = c0,   mean_prior = m0,   mean_precision_prior = s0,
      degrees_of_freedom_prior = 2 a0,   covariance_prior = 2 b0 (per dimension);
    and sklearn's outputs: weights_ = c / sum c,  means_ = m,  precisions_ = 1/covariances_ = a / b.
    sklearn needs degrees_of_freedom_prior > D - 1, so a0 = 1 here (not the paper's 0.01), and its diagonal
    case takes E log|Lambda| from the Wishart, sum_j psi((nu - j)/2) instead of D psi(nu/2): a difference of
    order 1/nu_k per component, which moves the responsibilities by ~1e-6 on this well-separated data.
    """
    from sklearn.mixture import BayesianGaussianMixture
    x, _ = _known_mixture()
    c0, m0, s0, a0, b0 = 1.0, 0.0, 1.0, 1.0, 0.5
    sk = BayesianGaussianMixture(n_components=3, covariance_type="diag",
                                 weight_concentration_prior_type="dirichlet_distribution",
                                 weight_concentration_prior=c0, mean_prior=[m0, m0], mean_precision_prior=s0,
                                 degrees_of_freedom_prior=2 * a0, covariance_prior=[2 * b0, 2 * b0],
                                 reg_covar=0.0, tol=1e-12, max_iter=1000, random_state=0).fit(x)
    prior = FactorialMixturePrior((3,), 2, n_data=len(x), m0=m0, s0=s0, a0=a0, b0=b0, c0=c0)
    codes = torch.as_tensor(x)
    prior.initialise(codes, iterations=500, generator=torch.Generator().manual_seed(0))
    order = [int(torch.cdist(torch.as_tensor(sk.means_), prior.expected_means(0))[j].argmin()) for j in range(3)]
    assert sorted(order) == [0, 1, 2]
    ours = {"weights": prior.expected_weights(0)[order].numpy(), "means": prior.expected_means(0)[order].numpy(),
            "precisions": prior.expected_precisions(0)[order].numpy()}
    theirs = {"weights": sk.weights_, "means": sk.means_, "precisions": sk.precisions_}
    for key in ours:
        error = np.max(np.abs(ours[key] - theirs[key]) / np.maximum(1.0, np.abs(theirs[key])))
        assert error < 1e-4, f"{key}: relative error {error:.2e}"


def test_svi_steps_converge_to_the_full_batch_solution():
    """Minibatch SVI (eq. 7 with rho_t -> 0) ends near the VB fixed point from the same start."""
    x, _ = _known_mixture(1, 1200)
    codes = torch.as_tensor(x)
    full = FactorialMixturePrior((3,), 2, n_data=len(x), a0=1.0, b0=0.5)
    full.initialise(codes, iterations=300, generator=torch.Generator().manual_seed(0))
    svi = FactorialMixturePrior((3,), 2, n_data=len(x), a0=1.0, b0=0.5, delay=1.0, forgetting=0.7)
    svi.initialise(codes, iterations=1, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    for _ in range(3000):
        rows = torch.randint(len(x), (100,), generator=g)
        svi.svi_step(codes[rows], torch.zeros(100, 2, dtype=D64))
    order = [int(torch.cdist(full.expected_means(0), svi.expected_means(0))[j].argmin()) for j in range(3)]
    torch.testing.assert_close(svi.expected_means(0)[order], full.expected_means(0), atol=0.1, rtol=0.0)
    torch.testing.assert_close(svi.expected_weights(0)[order], full.expected_weights(0), atol=0.03, rtol=0.0)


def test_clamped_points_keep_their_assignments():
    prior = _prior_with_state(3, n_components=(2, 3), block_dim=2, n_data=50)
    mu, var = torch.randn(6, 4, dtype=D64), torch.full((6, 4), 0.1, dtype=D64)
    labels = torch.tensor([[0], [1], [-1], [1], [-1], [0]])
    free, clamped = prior.responsibilities(mu, var), prior.responsibilities(mu, var, labels)
    for row, y in enumerate(labels[:, 0].tolist()):
        if y >= 0:
            assert clamped[0][row].tolist() == [1.0 - y, float(y)]
        else:
            torch.testing.assert_close(clamped[0][row], free[0][row])
    torch.testing.assert_close(clamped[1], free[1])          # unsupervised factor untouched
    # the SVI step counts a labelled point only in its own component
    prior2 = FactorialMixturePrior((2, 3), 2, n_data=4, delay=0.0, forgetting=1.0)   # rho_1 = 1
    prior2.svi_step(mu[:4], var[:4], torch.tensor([[1], [1], [1], [0]]))
    torch.testing.assert_close(prior2.counts(0), torch.tensor([1.0 + 1, 1.0 + 3], dtype=D64))


def test_student_t_sampling_has_the_predictive_variance():
    torch.manual_seed(4)
    prior = FactorialMixturePrior((2,), 3, n_data=10)
    m = torch.tensor([[0.0, 1.0, -2.0], [5.0, 5.0, 5.0]], dtype=D64)
    s = torch.tensor([[2.0, 1.0, 4.0], [1.0, 1.0, 1.0]], dtype=D64)
    a = torch.tensor([[4.0, 6.0, 5.0], [5.0, 5.0, 5.0]], dtype=D64)
    b = torch.tensor([[2.0, 1.0, 3.0], [1.0, 1.0, 1.0]], dtype=D64)
    prior.natural(0).copy_(ng.natural_from_mean(m, s, a, b))
    z, k = prior.sample(200_000, clamp=torch.zeros(200_000, 1, dtype=torch.long))
    assert bool((k == 0).all())
    variance = (s[0] + 1) / s[0] * b[0] / (a[0] - 1)
    torch.testing.assert_close(z.double().var(0), variance, rtol=0.04, atol=0.0)
    torch.testing.assert_close(z.double().mean(0), m[0], atol=0.02, rtol=0.0)
    # and by ancestral sampling through (mu, alpha): the same marginal
    mu, alpha = ng.sample(m[0], s[0], a[0], b[0], (200_000,))
    z2 = mu + torch.randn_like(mu) / alpha.sqrt()
    torch.testing.assert_close(z2.var(0), variance, rtol=0.04, atol=0.0)


def _tiny_vae(n_data=64, seed=0):
    torch.manual_seed(seed)
    prior = FactorialMixturePrior((3, 2), 2, n_data=n_data, delay=10.0, n_supervised=1)
    return MixturePriorVAE(mlp_encoder((10,), 8, (16,)), mlp_decoder(4, (10,), (16,)), prior, supervision_weight=1.0)


def test_svi_state_survives_a_checkpoint_round_trip(tmp_path):
    from helpers.train import train
    x = (torch.rand(64, 10) > 0.5).float()
    y = torch.randint(0, 2, (64, 1))
    y[::2] = -1
    whole = _tiny_vae()
    train(whole, (x, y), steps=12, batch_size=16, seed=0, after_step=whole.after_step, progress=False)
    path = tmp_path / "ckpt.pt"
    first = _tiny_vae()
    train(first, (x, y), steps=6, batch_size=16, seed=0, after_step=first.after_step, progress=False, checkpoint=path)
    resumed = _tiny_vae(seed=123)                          # other weights: everything must come from the file
    train(resumed, (x, y), steps=12, batch_size=16, seed=0, after_step=resumed.after_step, progress=False,
          checkpoint=path)
    assert float(resumed.mixture.svi_steps) == 12
    for name, buffer in whole.mixture.named_buffers():
        torch.testing.assert_close(dict(resumed.mixture.named_buffers())[name], buffer, rtol=1e-6, atol=1e-8)
    moved = whole.mixture.natural(0) - _tiny_vae().mixture.natural(0)
    assert float(moved.abs().max()) > 0, "the SVI steps did not change lambda"


def test_mixture_vae_loss_is_the_negative_elbo_and_vade_runs():
    vae = _tiny_vae()
    x = (torch.rand(32, 10) > 0.5).float()
    torch.manual_seed(0)
    terms = {name: value.detach() for name, value in vae.loss(x).items()}
    global_kl = float(vae.mixture.global_kl()) / vae.mixture.n_data
    assert abs(float(terms["loss"]) + float(terms["elbo"])) < 1e-4 * (1 + abs(float(terms["elbo"])))
    assert abs(float(terms["rec"] + terms["kl_z"] + terms["kl_r"]) + global_kl + float(terms["elbo"])) < 1e-3
    assert float(terms["kl_r"]) >= 0 and float(terms["kl_z"]) > 0
    vade = VaDE(mlp_encoder((10,), 8, (16,)), mlp_decoder(4, (10,), (16,)), 4, 3)
    vade.init_from_codes(torch.randn(200, 4))
    out = vade.loss(x)
    assert torch.isfinite(out["loss"]) and abs(float((out["loss"] + out["elbo"]).detach())) < 1e-5
    out["loss"].backward()
    assert vade.means.grad is not None and float(vade.means.grad.abs().sum()) > 0


@pytest.mark.parametrize("labels", [None, torch.tensor([[1], [-1], [0], [-1]])])
def test_gamma_needs_no_gradient_for_unlabelled_factors(labels):
    """Envelope theorem: with gamma at its optimum, d(kl_z + kl_r)/d mu is the same with gamma held fixed."""
    prior = _prior_with_state(5, n_components=(2, 3), block_dim=2)
    mu = torch.randn(4, 4, dtype=D64, requires_grad=True)
    var = torch.full((4, 4), 0.3, dtype=D64)
    gam = [g.detach() for g in prior.responsibilities(mu, var, labels)]
    (prior.kl_z(mu, var, gam) + prior.kl_r(gam)).sum().backward()
    fixed = mu.grad.clone()
    mu.grad = None
    live = prior.responsibilities(mu, var, labels)
    (prior.kl_z(mu, var, live) + prior.kl_r(live)).sum().backward()
    torch.testing.assert_close(mu.grad, fixed, rtol=1e-8, atol=1e-10)
