"""helpers.metrics against known answers: closed forms, constructed codes, exact special cases."""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal

from helpers.metrics import (ClassifierFeatures, InceptionFeatures, active_dims, activity, dci,
                             dci_from_importance, fid, frechet_distance, frechet_distance_gaussians,
                             iwae_bound, mig, nac, nll, prd, prd_f_beta, prd_from_histograms,
                             precision_recall, sap)


@contextmanager
def torch_threads(n: int):
    """Run torch ops on `n` threads. The test machine's 2 cores are shared by several jobs; there two
    OpenMP threads per process spin against each other and small ops get several times slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    with torch_threads(1):
        yield


# --- likelihood ----------------------------------------------------------------------------------
class LinearGaussianLVM(nn.Module):
    """p(z) = N(0, I), p(x|z) = N(Wz + b, sigma^2 I); so p(x) = N(b, W W^T + sigma^2 I) exactly.

    The proposal is the exact posterior q(z|x) = N(M^-1 W^T (x - b) / sigma^2, M^-1), M = I + W^T W / sigma^2,
    with its covariance multiplied by `broaden` (1: every importance weight equals p(x)).
    """

    def __init__(self, x_dim=5, z_dim=2, sigma=0.5, broaden=1.0, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("W", torch.randn(x_dim, z_dim, generator=g, dtype=torch.float64))
        self.register_buffer("b", torch.randn(x_dim, generator=g, dtype=torch.float64))
        self.sigma, self.broaden, self.z_dim = sigma, broaden, z_dim
        self.calls = []                                   # chunk sizes requested, to check the chunking

    def exact_log_marginal(self, x):
        cov = self.W @ self.W.T + self.sigma ** 2 * torch.eye(len(self.b), dtype=torch.float64)
        return MultivariateNormal(self.b, cov).log_prob(x)

    def proposal(self, x):
        precision = torch.eye(self.z_dim, dtype=torch.float64) + self.W.T @ self.W / self.sigma ** 2
        cov = torch.linalg.inv(precision)
        mean = (x - self.b) @ self.W @ cov / self.sigma ** 2
        return MultivariateNormal(mean, self.broaden * cov)

    def log_importance_weights(self, x, n_samples):
        self.calls.append(n_samples)
        q = self.proposal(x)
        z = q.sample((n_samples,))                                          # [S, B, z]
        prior = Independent(Normal(torch.zeros(self.z_dim, dtype=torch.float64), 1.0), 1)
        likelihood = Independent(Normal(z @ self.W.T + self.b, self.sigma), 1)
        return likelihood.log_prob(x) + prior.log_prob(z) - q.log_prob(z)


def sample_x(model, n, seed=1):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, model.z_dim, generator=g, dtype=torch.float64)
    return z @ model.W.T + model.b + model.sigma * torch.randn(n, len(model.b), generator=g, dtype=torch.float64)


def test_nll_with_exact_posterior_equals_marginal_likelihood():
    model = LinearGaussianLVM()
    x = sample_x(model, 50)
    mean, per_example = nll(model, x, n_samples=20, return_per_example=True)
    exact = -model.exact_log_marginal(x)
    np.testing.assert_allclose(per_example, exact.numpy(), rtol=0, atol=1e-9)
    assert mean == pytest.approx(float(exact.mean()), abs=1e-9)


def test_nll_with_broadened_proposal_within_monte_carlo_error():
    torch.manual_seed(0)
    model = LinearGaussianLVM(broaden=3.0)
    x = sample_x(model, 100)
    exact = float(-model.exact_log_marginal(x).mean())
    estimate, per_example = nll(model, x, n_samples=5000, return_per_example=True)
    elbo_gap = float(-iwae_bound(model, x, 1).mean()) - exact
    assert elbo_gap > 0.2                                  # the proposal is far from exact ...
    assert abs(estimate - exact) < 0.02                    # ... yet 5000 samples recover log p(x)
    assert model.calls.count(100) == 50                    # 5000 samples drawn in chunks of 100


def test_iwae_bound_tightens_with_k_towards_log_likelihood():
    torch.manual_seed(0)
    model = LinearGaussianLVM(broaden=3.0)
    x = sample_x(model, 400)
    exact = float(model.exact_log_marginal(x).mean())
    bounds = [float(iwae_bound(model, x, k).mean()) for k in (1, 10, 1000)]
    assert bounds[0] < bounds[1] < bounds[2] <= exact + 0.01
    assert exact - bounds[2] < 0.02


class ScriptedWeights(nn.Module):
    """Returns the rows of a fixed [S, B] log-weight matrix in order, however the caller chunks them."""

    def __init__(self, log_w):
        super().__init__()
        self.log_w, self.next_row = log_w, 0
        self.scale = nn.Parameter(torch.ones(()))

    def log_importance_weights(self, x, n_samples):
        rows = self.log_w[self.next_row:self.next_row + n_samples, :len(x)]
        self.next_row += n_samples
        return rows


def test_nll_chunked_logsumexp_equals_one_pass():
    log_w = 30 * torch.randn(1000, 4, dtype=torch.float64)          # wide range: a naive mean of exp overflows
    expected = -(torch.logsumexp(log_w, 0) - math.log(1000))
    for chunk in (1000, 333, 7):
        model = ScriptedWeights(log_w)
        _, per_example = nll(model, torch.zeros(4, 3), n_samples=1000, chunk_size=chunk, return_per_example=True)
        np.testing.assert_allclose(per_example, expected.numpy(), rtol=1e-12)


def test_nll_accepts_tensor_dataset_loader_and_restores_mode():
    model = LinearGaussianLVM()
    x = sample_x(model, 30)

    class WithImages(torch.utils.data.Dataset):
        images = x
        def __len__(self): return len(x)
        def __getitem__(self, i): return x[i]

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(30)), batch_size=7)
    model.train()
    values = [nll(model, data, n_samples=5, batch_size=8) for data in (x, x.numpy(), WithImages(), loader)]
    assert model.training                                   # the caller's mode is restored
    np.testing.assert_allclose(values, float(-model.exact_log_marginal(x).mean()), atol=1e-9)


def test_nll_rejects_wrong_weight_shape():
    class Wrong(nn.Module):
        def log_importance_weights(self, x, n_samples):
            return torch.zeros(len(x), n_samples)
    with pytest.raises(ValueError, match="n_samples, batch"):
        nll(Wrong(), torch.zeros(3, 2), n_samples=5)


class TinyMLPVAE(nn.Module):
    """A small MLP VAE with a Bernoulli decoder, written here so the test does not depend on helpers.vae."""

    def __init__(self, x_dim=64, z_dim=8, hidden=128):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(nn.Linear(x_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * z_dim))
        self.decoder = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, x_dim))

    def posterior(self, x):
        mean, log_std = self.encoder(x).chunk(2, -1)
        return Independent(Normal(mean, log_std.clamp(-8, 4).exp()), 1)

    def log_importance_weights(self, x, n_samples):
        q = self.posterior(x)
        z = q.rsample((n_samples,))                                         # [S, B, z]
        prior = Independent(Normal(torch.zeros_like(z), torch.ones_like(z)), 1)
        likelihood = Independent(Bernoulli(logits=self.decoder(z), validate_args=False), 1)
        return likelihood.log_prob(x.expand(n_samples, *x.shape)) + prior.log_prob(z) - q.log_prob(z)


def test_nll_of_a_trained_vae_is_tighter_than_its_elbo_and_beats_coin_flips():
    """The importance-sampled NLL at scale (its speed is measured in benchmarks/metric_speed.py)."""
    from sklearn.datasets import load_digits
    torch.manual_seed(0)
    x = torch.tensor(load_digits().data / 16.0 > 0.5, dtype=torch.float32)   # binarised: a true likelihood
    test = x[:500]
    model = TinyMLPVAE()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(10):                                                      # a briefly trained model
        for batch in torch.randperm(len(x)).split(128):
            loss = -model.log_importance_weights(x[batch], 1).mean()        # the negative ELBO
            optimiser.zero_grad(); loss.backward(); optimiser.step()
    value = nll(model, test, n_samples=1000)
    with torch.no_grad():
        negative_elbo = float(-iwae_bound(model, test, 1).mean())
    assert value < negative_elbo                          # the 1000-sample bound is tighter than the ELBO
    assert 0 < value < 64 * math.log(2)                   # better than coin flips per pixel


# --- disentanglement ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def factors():
    rng = np.random.default_rng(0)
    return np.stack([rng.integers(0, k, 2000) for k in (5, 4, 6)], axis=1)


def test_dci_mig_sap_of_identity_code_is_near_perfect(factors):
    codes = factors + 0.01 * np.random.default_rng(1).standard_normal(factors.shape)
    scores = dci(codes, factors)
    assert scores["disentanglement"] >= 0.9 and scores["completeness"] >= 0.9
    assert scores["informativeness"] >= 0.9
    np.testing.assert_allclose(scores["importance_matrix"], np.eye(3), atol=0.02)
    assert mig(codes, factors)["mig"] >= 0.9
    assert sap(codes, factors)["sap"] >= 0.6              # best code 1.0, the others at chance (<= 0.3)


def test_dci_mig_sap_of_noise_code_are_low(factors):
    codes = np.random.default_rng(2).standard_normal(factors.shape)
    scores = dci(codes, factors)
    assert scores["disentanglement"] <= 0.2 and scores["completeness"] <= 0.2
    chance = np.mean([1 / 5, 1 / 4, 1 / 6])
    assert abs(scores["informativeness"] - chance) < 0.06
    assert mig(codes, factors)["mig"] <= 0.2
    assert sap(codes, factors)["sap"] <= 0.2


def test_duplicated_factor_lowers_completeness_and_zeroes_its_mig(factors):
    identity = dci(factors.astype(float), factors)
    codes = np.concatenate([factors[:, :1], factors], axis=1).astype(float)   # factor 0 in two codes
    scores = dci(codes, factors)
    assert scores["completeness_per_factor"][0] < 0.8
    assert scores["completeness"] < identity["completeness"] - 0.05
    assert scores["disentanglement"] >= 0.9               # each code still serves one factor only
    gaps = mig(codes, factors)["mig_per_factor"]
    assert gaps[0] <= 0.1 and gaps[1] >= 0.9 and gaps[2] >= 0.9


def test_dci_from_importance_closed_form():
    # codes 0 and 1 each serve one factor; code 2 serves both equally.
    R = np.array([[0.6, 0.0], [0.0, 0.6], [0.4, 0.4]])
    scores = dci_from_importance(R)
    rho = np.array([0.3, 0.3, 0.4])                       # row sums / total
    expected_d = rho @ np.array([1.0, 1.0, 0.0])           # 1 - H_2(1, 0) = 1; 1 - H_2(.5, .5) = 0
    h3 = -(0.6 * np.log(0.6) + 0.4 * np.log(0.4)) / np.log(3)
    assert scores["disentanglement"] == pytest.approx(expected_d)
    np.testing.assert_allclose(scores["completeness_per_factor"], [1 - h3, 1 - h3])
    assert scores["completeness"] == pytest.approx(1 - h3)
    assert dci_from_importance(np.eye(4))["disentanglement"] == pytest.approx(1.0)
    assert dci_from_importance(np.full((4, 4), 0.25))["completeness"] == pytest.approx(0.0, abs=1e-12)


def test_mig_binary_factor_closed_form():
    rng = np.random.default_rng(3)
    factor = rng.integers(0, 2, 4000)
    half_informative = np.where(rng.random(4000) < 0.5, factor, rng.integers(0, 2, 4000))
    codes = np.stack([factor, half_informative, rng.standard_normal(4000)], 1).astype(float)
    result = mig(codes, factor)
    # The top code carries all of H(v) = log 2, so the gap is 1 - I(z_1; v) / log 2.
    p_agree = 0.75                                         # z_1 = v half the time, else a fair coin
    mi = math.log(2) + p_agree * math.log(p_agree) + (1 - p_agree) * math.log(1 - p_agree)
    assert result["mig"] == pytest.approx(1 - mi / math.log(2), abs=0.03)


# --- Fréchet distance -------------------------------------------------------------------------------
def random_cov(d, seed):
    a = np.random.default_rng(seed).standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_closed_form_special_cases():
    # Commuting (diagonal) covariances: d^2 = |mu1 - mu2|^2 + sum_i (s1_i - s2_i)^2.
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([0.5, 2.0, 1.5])
    mu1, mu2 = np.zeros(3), np.array([1.0, -2.0, 0.0])
    expected = 5.0 + np.sum((s1 - s2) ** 2)
    assert frechet_distance_gaussians(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2)) == pytest.approx(expected)
    # General case against scipy's matrix square root of the (non-symmetric) product.
    c1, c2 = random_cov(5, 0), random_cov(5, 1)
    reference = np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)
    assert frechet_distance_gaussians(np.zeros(5), c1, np.zeros(5), c2) == pytest.approx(reference, rel=1e-8)


def test_frechet_distance_of_gaussian_samples_matches_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(4), rng.standard_normal(4)
    c1, c2 = random_cov(4, 2), random_cov(4, 3)
    closed = frechet_distance_gaussians(mu1, c1, mu2, c2)
    a = rng.multivariate_normal(mu1, c1, size=20000)
    b = rng.multivariate_normal(mu2, c2, size=20000)
    assert frechet_distance(a, b) == pytest.approx(closed, rel=0.05, abs=0.02)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


@pytest.fixture(scope="module")
def digit_features(tmp_path_factory):
    import os
    old = os.environ.get("COURSE_DATA_DIR")
    os.environ["COURSE_DATA_DIR"] = str(tmp_path_factory.mktemp("course-data"))
    try:
        yield ClassifierFeatures("digits")
    finally:
        if old is None:
            del os.environ["COURSE_DATA_DIR"]
        else:
            os.environ["COURSE_DATA_DIR"] = old


def test_classifier_features_give_fd_digits(digit_features):
    from helpers import data
    train, test = data.load("digits", split="train"), data.load("digits", split="test")
    assert digit_features.test_accuracy > 0.9                # held-out digits: the features know the classes
    real = fid(test, train.images[:297], features=digit_features)
    noise = fid(test, torch.rand(297, 1, 8, 8, generator=torch.Generator().manual_seed(0)), features=digit_features)
    assert real.name == "FD-digits" and "FID" not in str(real)
    assert 0 < real.value < 0.1 * noise.value               # train vs test digits are close, noise is far
    assert fid(test, test, features=digit_features).value == pytest.approx(0, abs=1e-6)
    as_bytes = (test.images * 255).round().to(torch.uint8)   # byte storage is rescaled to [0, 1]
    np.testing.assert_allclose(digit_features(as_bytes), digit_features(as_bytes.float() / 255), rtol=1e-6)
    # A second extractor loads the cached weights instead of training, and gives the same features.
    assert digit_features.cache_path.exists()
    again = ClassifierFeatures("digits")
    np.testing.assert_allclose(again(test.images[:50]), digit_features(test.images[:50]), rtol=1e-6)
    assert again.test_accuracy == digit_features.test_accuracy


def test_inception_features_explain_how_to_get_them():
    try:
        import pytorch_fid  # noqa: F401
        pytest.skip("pytorch-fid is installed: the FID path is available")
    except ImportError:
        pass
    try:
        import torchvision  # noqa: F401
        pytest.skip("torchvision is installed: the FID path is available")
    except ImportError:
        pass
    with pytest.raises(ImportError, match="FD-digits"):
        InceptionFeatures()


# --- precision / recall ------------------------------------------------------------------------------
def two_clusters(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.standard_normal((n, 3)) + 50.0


def test_precision_recall_known_answers():
    a, b = two_clusters()
    assert tuple(precision_recall(a, a)) == (1.0, 1.0)
    assert tuple(precision_recall(a, b)) == (0.0, 0.0)
    # The model reproduces one of two modes exactly: all its samples are real, half the data is missed.
    real = np.concatenate([a, b])
    assert tuple(precision_recall(real, a)) == (1.0, 0.5)


def test_prd_from_histograms_closed_form():
    precision, recall = prd_from_histograms([0.5, 0.5], [1.0, 0.0])     # the model drops one of two modes
    assert precision.max() == pytest.approx(1.0) and recall.max() == pytest.approx(0.5)
    # Best point of the curve is (precision 1, recall 1/2): F_beta = (1 + b^2) * 0.5 / (b^2 + 0.5).
    assert prd_f_beta(precision, recall, 8) == pytest.approx(65 * 0.5 / (64 + 0.5), rel=1e-4)  # angle grid
    assert prd_f_beta(precision, recall, 1 / 8) == pytest.approx((1 + 1 / 64) * 0.5 / (1 / 64 + 0.5), rel=1e-4)
    same_p, same_r = prd_from_histograms([0.2, 0.3, 0.5], [0.2, 0.3, 0.5])
    assert prd_f_beta(same_p, same_r, 8) == pytest.approx(1.0, abs=1e-6)


def test_prd_on_features_known_answers():
    a, b = two_clusters(300)
    real = np.concatenate([a, b])
    same = prd(a, a, num_runs=3)
    assert same["f_8"] > 0.99 and same["f_1_8"] > 0.99
    far = prd(a, b, num_runs=3)
    assert far["f_8"] < 0.01 and far["f_1_8"] < 0.01
    dropped = prd(real, a, num_runs=3)                      # exact copy of one mode: P = 1, R = 1/2
    assert dropped["f_1_8"] == pytest.approx((1 + 1 / 64) * 0.5 / (1 / 64 + 0.5), abs=0.01)
    assert dropped["f_8"] == pytest.approx(65 * 0.5 / 64.5, abs=0.01)


# --- latent geometry ------------------------------------------------------------------------------------
def test_nac_known_answers():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5000, 8))
    assert nac(z) < 0.03                                     # E|r| ~ sqrt(2 / (pi N)) = 0.011
    assert nac(np.concatenate([z[:, :4], z[:, :4]], 1)) == pytest.approx(1 / 7, abs=0.02)  # 1 partner of 7
    assert nac(np.repeat(z[:, :1], 5, axis=1)) == pytest.approx(1.0)
    equicorrelated = rng.multivariate_normal(np.zeros(6), 0.5 * np.eye(6) + 0.5, size=5000)
    assert nac(equicorrelated) == pytest.approx(0.5, abs=0.03)
    padded = np.concatenate([z[:, :4], np.zeros((5000, 2))], 1)        # two masked-out dimensions
    assert nac(padded, active=np.array([1, 1, 1, 1, 0, 0], bool)) == pytest.approx(nac(z[:, :4]))
    with pytest.raises(ValueError, match="constant"):
        nac(padded)


def test_active_dims_for_masks_and_codes():
    np.testing.assert_array_equal(active_dims(np.array([0.9, 0.01, 0.7, 0.2])), [True, False, True, False])
    rng = np.random.default_rng(0)
    means = rng.standard_normal((1000, 5)) * np.array([1.0, 0.01, 0.5, 0.001, 0.2])
    np.testing.assert_allclose(activity(means), [1.0, 1e-4, 0.25, 1e-6, 0.04], rtol=0.1)
    np.testing.assert_array_equal(active_dims(means), [True, False, True, False, True])
    assert active_dims(means, threshold=0.1).sum() == 2


def test_dci_finds_the_informative_half_of_the_codes():
    """5 codes that carry the factors, 5 of noise (DCI on 10,000 codes is timed in benchmarks/metric_speed.py)."""
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, k, 3000) for k in (3, 6, 10, 8, 8)], axis=1)
    codes = np.concatenate([factors + 0.1 * rng.standard_normal(factors.shape),
                            rng.standard_normal((3000, 5))], axis=1)            # 10 codes, 5 of them noise
    scores = dci(codes, factors)
    assert scores["disentanglement"] > 0.9 and scores["completeness"] > 0.9