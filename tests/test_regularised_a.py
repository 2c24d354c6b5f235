"""MMD, the ex-post GMM, RAE, WAE-MMD and the two-stage VAE against known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from torch import nn
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from helpers.likelihoods import GaussianLikelihood
from helpers.metrics import gaussian_rbf_mmd, mmd
from helpers.metrics.mmd import kernel_matrix
from helpers.regularised import RAE, WAE_MMD, Autoencoder, ExPostGMM, TwoStageVAE, decoder_gradient_penalty
from helpers.regularised.two_stage import stage2_loss_fn

SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The test machine's cores are shared; one thread per process is faster there for these small ops."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def repeated_mmd(draw, repeats: int, kernel: str = "imq") -> np.ndarray:
    """MMD_u^2 on `repeats` independent pairs of samples from draw(generator) -> (x, y)."""
    g = torch.Generator().manual_seed(0)
    return np.array([float(mmd(*draw(g), kernel=kernel)) for _ in range(repeats)])


def within_standard_errors(values: np.ndarray, target: float, k: float = 4.0, extra_se: float = 0.0) -> bool:
    se = math.sqrt(values.var(ddof=1) / len(values) + extra_se ** 2)
    return abs(values.mean() - target) < k * se


# --- MMD ---------------------------------------------------------------------------------------------
def test_mmd_small_case_by_hand():
    # d = 1, one scale s = 1: C = 2. x = {0, 1}, y = {0, 2}.
    # IMQ: k(0,1) = 2/3, k(0,2) = 1/3, k(1,2) = 2/3, k(a,a) = 1 (the diagonal, left out)
    #   xx: 2/3; yy: 1/3; xy: (1 + 1/3 + 2/3 + 2/3) / 4 = 2/3  ->  2/3 + 1/3 - 4/3 = -1/3
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]])
    assert float(mmd(x, y, "imq", scales=(1,))) == pytest.approx(-1 / 3, abs=1e-12)
    # RBF: exp(-1/2), exp(-2); xy: (1 + e^-2 + 2 e^-1/2) / 4  ->  e^-2 / 2 - 1/2
    assert float(mmd(x, y, "rbf", scales=(1,))) == pytest.approx(math.exp(-2) / 2 - 0.5, abs=1e-12)
    # more scales add their kernels: C = 2 d s = 4 for s = 2 (IMQ: k(0,1) = 4/5, k(0,2) = 1/2, k(1,2) = 4/5)
    two_scales = -1 / 3 + (4 / 5 + 1 / 2 - 2 * (1 + 1 / 2 + 4 / 5 + 4 / 5) / 4)
    assert float(mmd(x, y, "imq", scales=(1, 2))) == pytest.approx(two_scales, abs=1e-12)
    assert mmd(x.float(), y.float()).dtype == torch.float64


def test_mmd_is_zero_in_expectation_for_identical_distributions():
    def same(g):
        return tuple(torch.randn(50, 4, generator=g, dtype=torch.float64) for _ in range(2))

    values = repeated_mmd(same, 300)
    assert within_standard_errors(values, 0.0)
    assert (values < 0).mean() > 0.2                       # unbiased: negative about as often as positive
    # the biased V-statistic (diagonal kept) is positive by (k(0) - E k(x, x')) * (1/n + 1/m): clearly above 0
    g = torch.Generator().manual_seed(1)
    v_stats = []
    for _ in range(50):
        x, y = same(g)
        v_stats.append(float(kernel_matrix(x, x).mean() + kernel_matrix(y, y).mean() - 2 * kernel_matrix(x, y).mean()))
    assert np.mean(v_stats) > 10 * values.std() / math.sqrt(len(values))


@pytest.mark.parametrize("shift, std_y", [(0.0, 1.0), (0.7, 1.0), (0.0, 1.5), (1.0, 0.6)])
def test_mmd_rbf_matches_the_gaussian_closed_form(shift, std_y):
    d, mean_y = 3, torch.tensor([shift, 0.0, 0.0], dtype=torch.float64)
    exact = gaussian_rbf_mmd(torch.zeros(d), 1.0, mean_y, std_y)

    def draw(g):
        return (torch.randn(100, d, generator=g, dtype=torch.float64),
                mean_y + std_y * torch.randn(100, d, generator=g, dtype=torch.float64))

    values = repeated_mmd(draw, 200, kernel="rbf")
    assert within_standard_errors(values, exact)
    if exact > 0:
        assert values.std() / math.sqrt(len(values)) < 0.1 * exact    # the check has the power to see a 40% error


def test_the_closed_form_matches_a_million_pairs():
    """E k(a, b) of the closed form against the mean of k over 10^6 independent pairs (RBF)."""
    g = torch.Generator().manual_seed(2)
    d, n, std_x, std_y = 3, 10 ** 6, 1.0, 1.5
    mean_y = torch.tensor([0.8, -0.3, 0.0], dtype=torch.float64)
    x, x2 = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(2))
    y, y2 = (mean_y + std_y * torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(2))

    def k(a, b):
        d2 = (a - b).pow(2).sum(-1)
        return sum(torch.exp(-d2 / (2 * d * s)) for s in SCALES)

    per_pair = k(x, x2) + k(y, y2) - 2 * k(x, y)
    se = float(per_pair.std()) / math.sqrt(n)
    assert abs(float(per_pair.mean()) - gaussian_rbf_mmd(torch.zeros(d), std_x, mean_y, std_y)) < 4 * se


def test_mmd_imq_matches_a_million_sample_estimate():
    """IMQ has no closed form here: the population MMD^2 from 10^6 independent pairs, against the average
    of 200 U-statistics (n = m = 100), within four combined standard errors."""
    g = torch.Generator().manual_seed(3)
    d, n = 4, 10 ** 6
    mean_y, std_y = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64), 1.2

    def draw_y(count, gen):
        return mean_y + std_y * torch.randn(count, d, generator=gen, dtype=torch.float64)

    def k(a, b):
        d2 = (a - b).pow(2).sum(-1)
        return sum(2 * d * s / (2 * d * s + d2) for s in SCALES)

    x, x2 = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(2))
    y, y2 = draw_y(n, g), draw_y(n, g)
    per_pair = k(x, x2) + k(y, y2) - 2 * k(x, y)
    population, se_population = float(per_pair.mean()), float(per_pair.std()) / math.sqrt(n)

    values = repeated_mmd(lambda gen: (torch.randn(100, d, generator=gen, dtype=torch.float64), draw_y(100, gen)), 200)
    assert within_standard_errors(values, population, extra_se=se_population)
    assert values.std() / math.sqrt(len(values)) < 0.1 * population


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_grows_with_a_mean_shift(kernel):
    g = torch.Generator().manual_seed(4)
    x, y0 = (torch.randn(400, 2, generator=g, dtype=torch.float64) for _ in range(2))
    shifts = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    values = [float(mmd(x, y0 + torch.tensor([s, 0.0], dtype=torch.float64), kernel)) for s in shifts]
    assert all(a < b for a, b in zip(values, values[1:])), values
    closed = [gaussian_rbf_mmd([0.0, 0.0], 1.0, [s, 0.0], 1.0) for s in shifts]
    assert all(a < b for a, b in zip(closed, closed[1:]))


def test_mmd_is_differentiable():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    for kernel in ("imq", "rbf"):
        assert torch.autograd.gradcheck(lambda a, b: mmd(a, b, kernel), (x, y))


# --- ex-post GMM ---------------------------------------------------------------------------------------
WEIGHTS = np.array([0.5, 0.3, 0.2])
MEANS = np.array([[-4.0, 0.0], [4.0, 0.0], [0.0, 5.0]])
COVS = np.array([[[1.0, 0.0], [0.0, 0.5]], [[0.5, 0.3], [0.3, 0.5]], [[0.3, 0.0], [0.0, 0.3]]])


def mixture_codes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    component = rng.choice(3, size=n, p=WEIGHTS)
    return np.stack([rng.multivariate_normal(MEANS[c], COVS[c]) for c in component])


def true_log_density(z: np.ndarray) -> np.ndarray:
    densities = [w * multivariate_normal(m, c).pdf(z) for w, m, c in zip(WEIGHTS, MEANS, COVS)]
    return np.log(np.sum(densities, axis=0))


def test_expost_gmm_recovers_a_known_mixture():
    gmm = ExPostGMM(n_components=3, seed=0).fit(torch.as_tensor(mixture_codes(6000, seed=0)))
    order = [int(np.argmin(((gmm.means - m) ** 2).sum(1))) for m in MEANS]     # match components by mean
    assert sorted(order) == [0, 1, 2]
    assert np.abs(gmm.weights[order] - WEIGHTS).max() < 0.03
    assert np.abs(gmm.means[order] - MEANS).max() < 0.1
    assert np.abs(gmm.covariances()[order] - COVS).max() < 0.15
    held_out = mixture_codes(1000, seed=1)
    assert np.abs(gmm.log_prob(held_out).numpy() - true_log_density(held_out)).mean() < 0.05

    # the sampler draws from the fitted mixture: its mean and component shares
    samples = gmm.sample(40000, seed=3).numpy().astype(np.float64)
    assert np.abs(samples.mean(0) - gmm.weights @ gmm.means).max() < 4 * samples.std(0).max() / math.sqrt(len(samples))
    nearest = np.argmin(((samples[:, None, :] - MEANS[None]) ** 2).sum(-1), axis=1)   # well separated: ~0.1% wrong
    assert np.abs(np.bincount(nearest, minlength=3) / len(samples) - gmm.weights[order]).max() < 0.012


def test_expost_gmm_samples_fresh_draws_unless_seeded():
    gmm = ExPostGMM(n_components=3, seed=0).fit(mixture_codes(600, seed=0))
    assert not torch.equal(gmm.sample(10), gmm.sample(10))
    assert torch.equal(gmm.sample(10, seed=7), gmm.sample(10, seed=7))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_expost_covariances_match_sklearns_density(covariance_type):
    """The [K, d, d] matrices the sampler uses give the same log-density as scikit-learn's own parameters."""
    gmm = ExPostGMM(n_components=3, covariance_type=covariance_type, seed=0).fit(mixture_codes(900, seed=0))
    z = torch.as_tensor(mixture_codes(200, seed=1))
    mixture = MixtureSameFamily(Categorical(torch.as_tensor(gmm.weights)),
                                MultivariateNormal(torch.as_tensor(gmm.means),
                                                   torch.as_tensor(np.ascontiguousarray(gmm.covariances()))))
    assert torch.allclose(mixture.log_prob(z), gmm.log_prob(z), atol=1e-8)


# --- autoencoders, RAE, WAE ----------------------------------------------------------------------------
def test_autoencoder_samples_through_its_expost_mixture():
    torch.manual_seed(0)
    model = Autoencoder.for_data((6,), 2, hidden=(8,))
    with pytest.raises(RuntimeError, match="fit_expost"):
        model.sample(3)
    codes = model.encode_mean(torch.rand(200, 6)).detach()
    model.fit_expost(codes, n_components=2)
    expected = torch.sigmoid(model.decoder(model.expost.sample(4, seed=1)))
    assert torch.allclose(model.sample(4, torch.Generator().manual_seed(1)), expected)


@torch.no_grad()
def test_rae_loss_by_hand():
    """Gaussian c with sigma: rec = ||x - D(z)||^2 / (2 sigma^2) + d/2 log(2 pi sigma^2); L_Z = 1/2 ||z||^2."""
    torch.manual_seed(0)
    sigma, beta = 0.5, 0.3
    model = RAE.for_data((6,), 2, likelihood="gaussian", hidden=(8,), likelihood_options={"sigma": sigma},
                         beta_z=beta)
    x = torch.rand(5, 6)
    z = model.encoder(x)
    rec = ((x - model.decoder(z)) ** 2).sum(1) / (2 * sigma ** 2) + 3 * math.log(2 * math.pi * sigma ** 2)
    terms = model.loss(x)
    assert float(terms["rec"]) == pytest.approx(float(rec.mean()), rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(float(rec.mean() + beta * 0.5 * (z ** 2).sum(1).mean()), rel=1e-5)


def test_rae_weight_decay_reaches_the_decoder_only():
    torch.manual_seed(0)
    lr, reg_weight = 0.01, 0.05
    model = RAE.for_data((6,), 2, likelihood="gaussian", hidden=(8,), reg_weight=reg_weight)
    groups = model.param_groups()
    decoder_ids = {id(p) for p in model.decoder.parameters()}
    assert {id(p) for p in groups[0]["params"]} == decoder_ids and groups[0]["weight_decay"] == 2 * reg_weight
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.parameters()} - decoder_ids
    assert groups[1]["weight_decay"] == 0.0

    optimizer = model.optimizer(lr)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)                 # no loss gradient: only the weight decay can move anything
    optimizer.step()
    for name, p in model.named_parameters():
        if name.startswith("decoder."):
            # Adam's first step with gradient g = w * theta: theta - lr * g / (|g| + eps)
            g = 2 * reg_weight * before[name]
            assert torch.allclose(p.detach(), before[name] - lr * g / (g.abs() + 1e-8), atol=1e-6), name
            assert (p.detach() != before[name]).any(), name
        else:
            assert torch.equal(p.detach(), before[name]), name


def test_gradient_penalty_estimates_the_squared_jacobian_norm():
    torch.manual_seed(0)
    decoder = nn.Linear(3, 5)                        # D(z) = W z + b: the Jacobian is W everywhere
    penalty = decoder_gradient_penalty(decoder, torch.randn(20000, 3, requires_grad=True)).detach()
    exact = float(decoder.weight.detach().pow(2).sum())
    assert abs(float(penalty.mean()) - exact) < 4 * float(penalty.std()) / math.sqrt(len(penalty))

    model = RAE.for_data((6,), 2, likelihood="gaussian", hidden=(8,), decoder_reg="gp", reg_weight=0.1, beta_z=0.5)
    terms = {name: value.detach() for name, value in model.loss(torch.rand(5, 6)).items()}   # gp needs autograd on
    expected = terms["rec"] + 0.5 * terms["z_norm"] + 0.1 * terms["reg"]
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-6) and float(terms["reg"]) > 0
    assert model.param_groups()[0]["weight_decay"] == 0.0


@torch.no_grad()
def test_wae_mmd_loss_is_reconstruction_plus_lambda_mmd_to_prior_draws():
    torch.manual_seed(0)
    model = WAE_MMD.for_data((6,), 3, hidden=(8,), lam=7.0)
    x = torch.rand(16, 6)
    torch.manual_seed(1)
    terms = model.loss(x)
    torch.manual_seed(1)
    prior = torch.randn(16, 3)
    z = model.encoder(x)
    rec = -model.likelihood(model.decoder(z)).log_prob(x).mean()
    expected = rec + 7.0 * mmd(z, prior)
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-6)
    assert float(terms["mmd"]) == pytest.approx(float(mmd(z, prior)), rel=1e-6)


# --- two-stage VAE --------------------------------------------------------------------------------------
def test_learned_gamma_gaussian_likelihood_by_hand():
    """-log N(x; m, gamma I) = d/2 log(2 pi gamma) + ||x - m||^2 / (2 gamma), minimised at gamma = MSE."""
    g = torch.Generator().manual_seed(6)
    x, mean = torch.rand(4, 10, generator=g, dtype=torch.float64), torch.rand(4, 10, generator=g, dtype=torch.float64)
    likelihood = GaussianLikelihood(sigma=0.3, learn_sigma=True).double()
    gamma = 0.09
    by_hand = 5 * math.log(2 * math.pi * gamma) + ((x - mean) ** 2).sum(1) / (2 * gamma)
    assert torch.allclose(-likelihood(mean).log_prob(x), by_hand, atol=1e-10)

    mse = float(((x - mean) ** 2).mean())
    for offset, sign in [(0.0, 0), (-0.5, -1), (0.5, 1)]:    # d/d log sigma of the loss: 0 at gamma = MSE
        with torch.no_grad():
            likelihood.log_sigma.fill_(0.5 * math.log(mse) + offset)
        likelihood.log_sigma.grad = None
        (-likelihood(mean).log_prob(x).mean()).backward()
        grad = float(likelihood.log_sigma.grad)
        # d/d log sigma [d log sigma + ||r||^2 / (2 sigma^2)] = d - ||r||^2 / sigma^2 = d (1 - MSE / gamma)
        assert grad == pytest.approx(10 * (1 - mse / math.exp(2 * float(likelihood.log_sigma.detach()))), abs=1e-9)
        assert (grad == pytest.approx(0, abs=1e-9)) if sign == 0 else np.sign(grad) == sign

    model = TwoStageVAE.for_data((6,), 2, hidden=(8,), stage2_hidden=(8,), sigma=0.3)
    learned = {id(p) for p in model.parameters()}
    assert id(model.stage1.likelihood.log_sigma) in learned and id(model.stage2.likelihood.log_sigma) in learned
    assert float(model.gamma) == pytest.approx(0.09, rel=1e-5) and float(model.gamma2) == pytest.approx(0.09, rel=1e-5)


def test_two_stage_second_stage_trains_on_fresh_posterior_samples():
    torch.manual_seed(0)
    model = TwoStageVAE.for_data((6,), 2, hidden=(8,), stage2_hidden=(8,))
    x = torch.rand(3, 6)
    first, second = model.stage2_codes(x), model.stage2_codes(x)
    assert (first != second).all()                                    # a fresh eps on every call

    q = model.stage1.encode(x)
    draws = torch.stack([model.stage2_codes(x) for _ in range(4000)]).double()   # [calls, batch, latent]
    mean, std = q.mean.detach().double(), q.stddev.detach().double()
    assert ((draws.mean(0) - mean).abs() < 4 * std / math.sqrt(len(draws))).all()
    assert ((draws.std(0) / std - 1).abs() < 0.05).all()               # sd of the sd estimate: ~1.1%

    torch.manual_seed(9)
    terms = stage2_loss_fn(model, (x,))
    torch.manual_seed(9)
    expected = model.stage2.loss(model.stage2_codes(x))               # the same draws, in the same order
    assert terms["loss"].item() == pytest.approx(expected["loss"].item(), rel=1e-6)
    terms["loss"].backward()
    assert all(p.grad is None for p in model.stage1.parameters())      # stage 1 stays fixed
    assert all(p.grad is not None for p in model.stage2.parameters())


def test_two_stage_sampler_chains_both_decoders():
    torch.manual_seed(0)
    model = TwoStageVAE.for_data((6,), 2, hidden=(8,), stage2_hidden=(8,))
    torch.manual_seed(3)
    samples = model.sample(5)
    torch.manual_seed(3)
    u = model.stage2.prior().sample((5,))
    expected = model.stage1.decoder(model.stage2.decoder(u))          # Gaussian decoders: the mean is D(.)
    assert torch.allclose(samples, expected)
