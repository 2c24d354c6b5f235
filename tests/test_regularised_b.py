"""helpers.regularised (helper B's part): AAE / WAE-GAN, VAE + IAF, VAE-IOP.

Numbers checked: the discriminator's optimum (d* = p / (p + q), value 2 JS - log 4), the two players'
parameter isolation bit for bit, the IAF log-determinant against autograd's Jacobian (and its triangular
structure), the normalisation of the flow posterior, the density-ratio estimator's logistic optimum
log q(z)/p(z), and the implicit-prior sampler.
"""
import math

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from helpers.likelihoods import GaussianLikelihood
from helpers.regularised import (AAE, IAF, VAE_IOP, WAE_GAN, FlowVAE, LatentDiscriminator, adversarial_loss_fn,
                                 discriminator_loss)
from helpers.train import train

LOG4 = math.log(4.0)


def normal_log_pdf(z, mean, std):
    return -0.5 * math.log(2 * math.pi) - math.log(std) - (z - mean) ** 2 / (2 * std**2)


# p = N(0, 1), q = N(1.5, 0.5^2): the log ratio is quadratic, so a linear logit cannot fit it.
P, Q = (0.0, 1.0), (1.5, 0.5)


def js_by_quadrature() -> float:
    z = torch.linspace(-12, 12, 400_001, dtype=torch.float64)
    p, q = normal_log_pdf(z, *P).exp(), normal_log_pdf(z, *Q).exp()
    m = 0.5 * (p + q)
    integrand = 0.5 * p * torch.log(p / m) + 0.5 * q * torch.log(q / m)
    return torch.trapezoid(torch.nan_to_num(integrand), z).item()


def optimal_logit(z):
    return normal_log_pdf(z, *P) - normal_log_pdf(z, *Q)


def test_discriminator_loss_at_its_optimum_is_log4_minus_twice_the_js_divergence():
    js = js_by_quadrature()
    assert 0.1 < js < math.log(2)
    g = torch.Generator().manual_seed(0)
    zp = P[0] + P[1] * torch.randn(1_000_000, generator=g, dtype=torch.float64)
    zq = Q[0] + Q[1] * torch.randn(1_000_000, generator=g, dtype=torch.float64)
    at_optimum = discriminator_loss(optimal_logit(zp), optimal_logit(zq)).item()
    # -V(d*) = log 4 - 2 JS(p || q); Monte Carlo standard error about 1e-3.
    assert at_optimum == pytest.approx(LOG4 - 2 * js, abs=4e-3)
    # d* = sigmoid(l*) is p / (p + q) ...
    z = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    p, q = normal_log_pdf(z, *P).exp(), normal_log_pdf(z, *Q).exp()
    torch.testing.assert_close(torch.sigmoid(optimal_logit(z)), p / (p + q))
    # ... and any other discriminator does worse (the same samples, so no noise in the comparison).
    for other in (lambda z: optimal_logit(z) + 0.5, lambda z: 0.7 * optimal_logit(z), lambda z: 0.0 * z):
        assert discriminator_loss(other(zp), other(zq)).item() > at_optimum + 0.01


def test_a_trained_discriminator_reaches_p_over_p_plus_q_and_the_js_value():
    torch.manual_seed(0)
    disc = LatentDiscriminator(1, hidden=(32, 32), lr=3e-3)
    for _ in range(1000):
        disc.step(P[0] + P[1] * torch.randn(512, 1), Q[0] + Q[1] * torch.randn(512, 1))
    z = torch.linspace(-1.5, 2.5, 41)
    p, q = normal_log_pdf(z, *P).exp(), normal_log_pdf(z, *Q).exp()
    with torch.no_grad():
        d = torch.sigmoid(disc(z[:, None]))
        held_out = discriminator_loss(disc(P[0] + P[1] * torch.randn(200_000, 1)),
                                      disc(Q[0] + Q[1] * torch.randn(200_000, 1))).item()
    assert (d - p / (p + q)).abs().max().item() < 0.05
    assert held_out == pytest.approx(LOG4 - 2 * js_by_quadrature(), abs=0.02)


# --- the two players never touch each other's parameters ------------------------------------------------
def small(cls):
    torch.manual_seed(0)
    return cls.for_data((6,), 2, hidden=(16,))


def is_adversary(name: str) -> bool:
    return name.startswith(("discriminator.", "ratio."))


@pytest.mark.parametrize("cls", [AAE, WAE_GAN, VAE_IOP])
def test_each_players_step_leaves_the_other_players_parameters_bit_identical(cls):
    model = small(cls)
    x = (torch.rand(32, 6, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    names = [n for n, _ in model.named_parameters()]
    assert any(map(is_adversary, names)) and not all(map(is_adversary, names))
    assert {id(p) for p in model.main_parameters()} == {id(p) for n, p in model.named_parameters()
                                                         if not is_adversary(n)}

    # The adversary's step: only its own parameters move; the model's get no gradient at all.
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    disc_loss = model.adversary_step(x)
    assert 0.5 < disc_loss.item() < 2.5            # near log 4 for an untrained discriminator
    for name, p in model.named_parameters():
        if is_adversary(name):
            assert not torch.equal(p, before[name]), name
        else:
            assert torch.equal(p, before[name]) and p.grad is None, name

    # The model's step: its loss puts no gradient into the adversary, whose weights stay bit-identical.
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.main_parameters(), lr=1e-2)
    model.loss(x)["loss"].backward()
    optimizer.step()
    moved = 0
    for name, p in model.named_parameters():
        if is_adversary(name):
            assert p.grad is None and torch.equal(p, before[name]), name
        else:
            moved += not torch.equal(p, before[name])
    assert moved == sum(not is_adversary(n) for n in names)     # and every one of the model's tensors moved


@pytest.mark.parametrize("cls", [AAE, WAE_GAN, VAE_IOP])
def test_train_with_the_adversarial_loss_fn_logs_both_players(cls):
    model = small(cls)
    x = (torch.rand(256, 6, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    history = train(model, x, steps=30, batch_size=64, loss_fn=adversarial_loss_fn, progress=False,
                    optimizer=torch.optim.Adam(model.main_parameters(), lr=1e-3))
    assert len(history["disc_loss"]) == 30 and len(history["rec"]) == 30
    assert all(0 < v < 3 for v in history["disc_loss"])
    samples = model.sample(5)
    assert samples.min() >= 0 and samples.max() <= 1          # Bernoulli means: the data's range


def test_wae_gan_loss_is_the_cost_plus_lambda_times_the_non_saturating_term():
    torch.manual_seed(0)
    model = WAE_GAN.for_data((6,), 2, hidden=(16,), lam=3.0)
    x = torch.rand(8, 6)
    terms = model.loss(x)
    with torch.no_grad():
        z = model.encoder(x)
        logits = model.decoder(z)
        cost = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        adv = -torch.log(torch.sigmoid(model.discriminator(z)))
    torch.testing.assert_close(terms["rec"], cost.mean())
    torch.testing.assert_close(terms["adv"], adv.mean())
    torch.testing.assert_close(terms["loss"], (cost + 3.0 * adv).mean())


# --- inverse autoregressive flow ------------------------------------------------------------------------
def random_flow(dim=4, steps=3, context_dim=3, gate_bias=0.0) -> IAF:
    torch.manual_seed(0)
    flow = IAF(dim, steps, hidden=(16, 16), context_dim=context_dim).double()
    with torch.no_grad():
        for step in flow.steps:                      # far from the identity, so every term matters
            step.out.weight.mul_(3.0)
            step.out.bias[dim:] = gate_bias
    return flow


def test_iaf_log_determinant_equals_log_abs_det_of_the_autograd_jacobian():
    flow = random_flow()
    z, h = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    _, log_det = flow(z, h)
    for b in range(3):
        J = jacobian(lambda v: flow(v[None], h[b:b + 1])[0][0], z[b])
        assert log_det[b].item() == pytest.approx(torch.linalg.slogdet(J).logabsdet.item(), abs=1e-10)
        assert abs(log_det[b].item()) > 1.0           # a real change of volume, not the identity


def test_each_iaf_step_is_triangular_in_its_order_with_positive_diagonal():
    flow = random_flow()
    z, h = torch.randn(4, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    for t, step in enumerate(flow.steps):
        J = jacobian(lambda v: step(v[None], h[None])[0][0], z)
        # Natural order: z_t,i depends on z_{t-1,j} for j <= i only (lower triangular); reversed: upper.
        zero_part, other_part = (torch.triu(J, 1), torch.tril(J, -1)) if t % 2 == 0 else \
                                (torch.tril(J, -1), torch.triu(J, 1))
        assert torch.count_nonzero(zero_part) == 0
        assert torch.count_nonzero(other_part) == 6   # every allowed dependence is there (4 x 3 / 2)
        assert (torch.diagonal(J) > 0).all()           # diagonal sigma in (0, 1): invertible
        assert (torch.diagonal(J) < 1).all()
        _, ld = step(z[None], h[None])
        assert ld.item() == pytest.approx(torch.diagonal(J).log().sum().item(), abs=1e-10)
        z = step(z[None], h[None])[0][0].detach()


def flow_vae(latent_dim=2) -> FlowVAE:
    torch.manual_seed(0)
    model = FlowVAE.for_data((5,), latent_dim, likelihood="gaussian", hidden=(16,), n_flows=2,
                             flow_hidden=(16,), context_dim=3, sigma=0.5)
    with torch.no_grad():
        for step in model.flow.steps:            # sigma near 1/2: log det about -3 nats
            step.out.bias[latent_dim:] = 0.0
    return model


def test_flow_posterior_is_a_normalised_density():
    # E_{z ~ q_K}[r(z) / q_K(z)] = 1 for any normalised r: this fails if the log-det had the wrong sign or scale.
    model = flow_vae()
    x = torch.randn(1, 5)
    with torch.no_grad():
        z, log_q = model.posterior_sample(x, 200_000)
        q0, h = model.encode_with_context(x)
        # r: a Gaussian narrower than q_K, so r / q_K stays bounded and the estimate has a small variance
        r = torch.distributions.Normal(z.mean(0), 0.5 * z.std(0))
        ratio = (r.log_prob(z).sum(-1) - log_q).exp()
        _, log_det = model.flow(q0.sample((1000,)), h.expand(1000, *h.shape))
    assert ratio.mean().item() == pytest.approx(1.0, abs=0.02)   # standard error about 0.003
    assert log_det.mean().item() < -2.0     # the flow really changes volume: a sign error would be off by e^4


def test_flow_vae_elbo_matches_its_importance_weights_and_kl_is_monte_carlo_of_log_q_minus_log_p():
    model = flow_vae()
    x = torch.randn(4, 5)
    torch.manual_seed(1)
    terms = model.loss(x)
    torch.manual_seed(1)
    log_w = model.log_importance_weights(x, 1)[0]
    assert terms["elbo"].item() == pytest.approx(log_w.mean().item(), abs=1e-5)
    assert terms["loss"].item() == pytest.approx(-terms["elbo"].item(), abs=1e-5)
    # by hand: z_K from the same noise, rec from the Gaussian decoder, kl = log q_0 - log det - log N(z_K)
    torch.manual_seed(1)
    q0, h = model.encode_with_context(x)
    z0 = q0.rsample()
    zk, ld = model.flow(z0, h)
    mean = model.decoder(zk)
    rec = (0.5 * ((x - mean) / 0.5) ** 2 + math.log(0.5) + 0.5 * math.log(2 * math.pi)).sum(-1)
    kl = q0.log_prob(z0) - ld + 0.5 * (zk**2).sum(-1) + math.log(2 * math.pi)
    assert terms["rec"].item() == pytest.approx(rec.mean().item(), abs=1e-4)
    assert terms["kl"].item() == pytest.approx(kl.mean().item(), abs=1e-4)


# --- VAE-IOP ---------------------------------------------------------------------------------------------
M, S = torch.tensor([0.8, -0.5]), 0.6      # q(z|x) = N(M, S^2 I) for every x: the aggregate is that Gaussian


def constant_posterior_iop(ratio_hidden=(32, 32), ratio_lr=3e-3) -> VAE_IOP:
    torch.manual_seed(0)
    encoder = nn.Linear(1, 4)
    with torch.no_grad():
        encoder.weight.zero_()
        encoder.bias.copy_(torch.cat([M, torch.full((2,), math.log(S))]))
    return VAE_IOP(encoder, nn.Linear(2, 1), 2, GaussianLikelihood(1.0), ratio_hidden, ratio_lr)


def exact_log_ratio(z):
    """log N(z; M, S^2 I) - log N(z; 0, I)."""
    return (-math.log(S) - (z - M) ** 2 / (2 * S**2) + z**2 / 2).sum(-1)


def test_iop_density_ratio_estimator_recovers_log_q_over_p():
    model = constant_posterior_iop()
    torch.manual_seed(0)
    x = torch.zeros(512, 1)
    for i in range(1200):
        if i == 800:                                 # a smaller final step size: less SGD noise in T
            model.ratio.optimizer.param_groups[0]["lr"] = 3e-4
        model.adversary_step(x)
    z = M + S * torch.randn(5000, 2)                 # where the encoder's codes live
    with torch.no_grad():
        t = model.log_ratio(z)
    exact = exact_log_ratio(z)
    kl = 0.5 * (2 * S**2 + (M**2).sum() - 2 - 4 * math.log(S))   # KL(q || p) = E_q log q/p
    assert (t - exact).abs().mean().item() < 0.06    # about 0.03 over seeds 0-2
    assert t.mean().item() == pytest.approx(kl.item(), abs=0.06)


def test_iop_loss_is_rec_plus_kl_to_the_prior_minus_the_log_ratio():
    model = constant_posterior_iop()
    x = torch.randn(6, 1)
    torch.manual_seed(3)
    terms = model.loss(x)
    torch.manual_seed(3)
    z = torch.distributions.Normal(M.expand(6, 2), torch.full((6, 2), S)).rsample()   # the same noise
    with torch.no_grad():
        t = model.ratio(z)
        rec = 0.5 * (x[:, 0] - model.decoder(z)[:, 0]) ** 2 + 0.5 * math.log(2 * math.pi)
    kl_prior = 0.5 * (2 * S**2 + (M**2).sum() - 2 - 4 * math.log(S))
    assert terms["kl_prior"].item() == pytest.approx(kl_prior.item(), abs=1e-5)
    assert terms["log_ratio"].item() == pytest.approx(t.mean().item(), abs=1e-5)
    assert terms["kl"].item() == pytest.approx((kl_prior - t).mean().item(), abs=1e-5)
    assert terms["rec"].item() == pytest.approx(rec.mean().item(), abs=1e-5)


def test_iop_sampler_draws_from_p_times_exp_t():
    # A linear T(z) = w.z + b makes p(z) exp(T(z)) proportional to N(w, I): resampled codes have mean w.
    model = constant_posterior_iop(ratio_hidden=())
    w = torch.tensor([0.5, -0.3])
    with torch.no_grad():
        model.ratio.net[0].weight.copy_(w[None])
        model.ratio.net[0].bias.fill_(-0.7)
    torch.manual_seed(0)
    z = model.sample_prior(20_000, oversample=50)
    torch.testing.assert_close(z.mean(0), w, atol=0.04, rtol=0)
    torch.testing.assert_close(z.var(0), torch.ones(2), atol=0.06, rtol=0)
