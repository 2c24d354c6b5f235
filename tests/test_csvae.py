"""helpers.conditional.csvae: the attribute-conditional prior, its KL, the bound on a linear model, gradient isolation."""
import math

import pytest
import torch
from torch import nn

from helpers.conditional.cvae import adversarial_loss_fn
from helpers.conditional.csvae import CSVAE
from helpers.likelihoods import GaussianLikelihood
from helpers.train import train

M, SD = (0.0, 3.0), (0.1, 1.0)          # p(w_i|y_i=0) = N(0, 0.1^2), p(w_i|y_i=1) = N(3, 1)


def small_csvae(beta4: float = 10.0, w_dim: int = 2) -> CSVAE:
    torch.manual_seed(0)
    return CSVAE.for_data((6,), 3, 2, w_dim=w_dim, likelihood=GaussianLikelihood(0.5), hidden=(16,), features=8,
                          betas=(1.0, 1.0, 1.0, beta4))


def batch(n: int = 32):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(n, 6, generator=gen), (torch.rand(n, 2, generator=gen) > 0.5).float()


def test_prior_has_one_mean_and_spread_per_attribute_value():
    model = small_csvae()
    mean, std = model.prior_w_params(torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
    torch.testing.assert_close(mean, torch.tensor([[0.0, 0.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0]]))
    torch.testing.assert_close(std, torch.tensor([[0.1, 0.1, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]))


def test_kl_w_matches_closed_form_torch_and_monte_carlo():
    model = small_csvae()
    x, y = batch(4)
    q_w = model.encode_w(x, y)
    kl = model.kl_w(q_w, y)
    # Closed form, dimension by dimension: 1/2 [ (s_q^2 + (m_q - m_p)^2) / s_p^2 - 1 + log s_p^2 - log s_q^2 ]
    m_q, s_q = q_w.base_dist.loc.detach(), q_w.base_dist.scale.detach()
    m_p = torch.tensor(M)[y.long()].repeat_interleave(2, -1)
    s_p = torch.tensor(SD)[y.long()].repeat_interleave(2, -1)
    by_hand = 0.5 * ((s_q**2 + (m_q - m_p) ** 2) / s_p**2 - 1 + torch.log(s_p**2) - torch.log(s_q**2)).sum(-1)
    torch.testing.assert_close(kl.detach(), by_hand, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(kl, torch.distributions.kl_divergence(q_w, model.prior_w(y)), atol=1e-4, rtol=1e-5)
    torch.manual_seed(2)
    w = q_w.sample((200_000,))
    mc = (q_w.log_prob(w) - model.prior_w(y).log_prob(w)).mean(0)
    torch.testing.assert_close(mc.detach(), kl.detach(), atol=0.02 * kl.abs().max().item() + 0.02, rtol=0)


def test_kl_w_hand_value():
    # q(w) = N(0, 1) in one 1-D subspace with y = 0: KL(N(0,1) || N(0, 0.1^2)) = 1/2 (100 - 1 + log 0.01).
    model = small_csvae(w_dim=1)
    q_w = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(1, 2), torch.ones(1, 2)), 1)
    kl = model.kl_w(q_w, torch.tensor([[0.0, 1.0]]))
    # second subspace, y = 1: KL(N(0,1) || N(3, 1)) = 9 / 2
    assert kl.item() == pytest.approx(0.5 * (100 - 1 + math.log(0.01)) + 4.5, abs=1e-4)


# A linear CSVAE whose exact posterior factorises as q(z|x) q(w|x,y):
# x1 = a z + noise, x2 = b w + noise (s), z ~ N(0,1), w ~ p(w|y) (one attribute, 1-D subspace).
A, B, S = 1.5, 2.0, 0.5


def linear_csvae() -> tuple[CSVAE, list, list, list]:
    enc_z = nn.Linear(2, 2)
    dec = nn.Linear(2, 2, bias=False)
    model = CSVAE(enc_z, nn.Identity(), 2, dec, z_dim=1, n_attributes=1, w_dim=1,
                  likelihood=GaussianLikelihood(S), prior_means=M, prior_stds=SD)
    with torch.no_grad():
        dec.weight.copy_(torch.diag(torch.tensor([A, B])))
        g_z, v_z = A / (A**2 + S**2), S**2 / (A**2 + S**2)
        enc_z.weight.copy_(torch.tensor([[g_z, 0.0], [0.0, 0.0]]))
        enc_z.bias.copy_(torch.tensor([0.0, 0.5 * math.log(v_z)]))
        # p(w|x2, y) = N((b x2 / s^2 + m_y / sd_y^2) v_w, v_w), 1 / v_w = b^2 / s^2 + 1 / sd_y^2: depends on y.
        # The head is linear in [x1, x2, y], so write the y = 0 / y = 1 cases as intercept + y * difference.
        v = [1.0 / (B**2 / S**2 + 1.0 / sd**2) for sd in SD]
        gain = [B / S**2 * vv for vv in v]
        offset = [m / sd**2 * vv for m, sd, vv in zip(M, SD, v)]
        model.head_w.weight.zero_()
        model.head_w.bias.zero_()
        return model, gain, offset, v


def test_exact_factorised_posterior_gives_constant_importance_weights():
    model, gain, offset, v = linear_csvae()
    x = torch.tensor([[0.4, 0.1], [-1.0, 6.5]])
    y = torch.tensor([[0.0], [1.0]])
    # The exact head is not linear in (x2, y) jointly (the gain depends on y), so check each example with
    # the head set for its own y value.
    for i in range(2):
        yi = int(y[i, 0])
        with torch.no_grad():
            model.head_w.weight.zero_()
            model.head_w.weight[0, 1] = gain[yi]
            model.head_w.bias.copy_(torch.tensor([offset[yi], 0.5 * math.log(v[yi])]))
        torch.manual_seed(i)
        log_w = model.log_importance_weights(x[i:i + 1], y[i:i + 1], 40)
        m, sd = M[yi], SD[yi]
        exact = (-0.5 * (math.log(2 * math.pi * (A**2 + S**2)) + x[i, 0].item() ** 2 / (A**2 + S**2))
                 - 0.5 * (math.log(2 * math.pi * (B**2 * sd**2 + S**2))
                          + (x[i, 1].item() - B * m) ** 2 / (B**2 * sd**2 + S**2)))
        torch.testing.assert_close(log_w, torch.full((40, 1), exact), atol=1e-4, rtol=0)
        assert model.iwae_bound(x[i:i + 1], y[i:i + 1], 5).item() == pytest.approx(exact, abs=1e-4)


def test_transfer_moves_only_the_changed_subspace_to_its_prior_mean():
    model, gain, offset, v = linear_csvae()
    with torch.no_grad():
        model.head_w.weight.zero_()
        model.head_w.bias.copy_(torch.tensor([0.7, 0.0]))          # q(w|x,y) has mean 0.7 for every input
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    y = torch.tensor([[0.0], [1.0]])
    z_mean = A / (A**2 + S**2) * x[:, 0]
    out = model.transfer(x, y, 1 - y)
    torch.testing.assert_close(out[:, 0], A * z_mean)                # Z untouched
    torch.testing.assert_close(out[:, 1], B * torch.tensor([3.0, 0.0]))  # w -> mean of p(w|new y)
    torch.testing.assert_close(model.transfer(x, y, y)[:, 1], torch.full((2,), B * 0.7))


def test_adversary_step_changes_no_encoder_parameter_and_leaves_no_gradient():
    model = small_csvae()
    x, y = batch()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ce = model.adversary_step(x, y)
    assert 0 < ce.item() < 10
    for name, p in model.named_parameters():
        if name.startswith("adversary."):
            assert not torch.equal(p, before[name]), name
        else:
            assert torch.equal(p, before[name]), name
            assert p.grad is None, name


def test_model_loss_puts_no_gradient_into_the_adversary_and_entropy_only_into_encoder_z():
    x, y = batch()
    grads = {}
    for beta4 in (0.0, 10.0):
        model = small_csvae(beta4)
        torch.manual_seed(7)
        terms = model.loss(x, y)
        assert terms["adversary_entropy"].item() <= 2 * math.log(2) + 1e-6
        terms["loss"].backward()
        for name, p in model.named_parameters():
            if name.startswith("adversary."):
                assert p.grad is None, name
        grads[beta4] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    for name, g in grads[0.0].items():
        if name.startswith("encoder_z."):
            continue
        # q(w|x,y), the decoder and the W head never see the adversary
        torch.testing.assert_close(g, grads[10.0][name], atol=1e-6, rtol=1e-5, msg=name)
    assert not torch.allclose(grads[0.0]["encoder_z.1.0.weight"], grads[10.0]["encoder_z.1.0.weight"])


def cluster_data(n: int = 512):
    """x = (3 noise dims, 2 y + noise, 2 noise dims): only the fourth coordinate depends on the attribute."""
    gen = torch.Generator().manual_seed(0)
    y = (torch.rand(n, 1, generator=gen) > 0.5).float()
    x = torch.cat([torch.randn(n, 3, generator=gen), 2.0 * y + 0.3 * torch.randn(n, 1, generator=gen),
                   torch.randn(n, 2, generator=gen)], dim=1)
    return x, y


def train_on_clusters(beta4: float, steps: int = 300):
    x, y = cluster_data()
    torch.manual_seed(0)
    model = CSVAE.for_data((6,), 3, 1, likelihood=GaussianLikelihood(0.3), hidden=(32,), features=16,
                           betas=(1.0, 1.0, 1.0, beta4))
    history = train(model, (x, y), steps=steps, batch_size=64, loss_fn=adversarial_loss_fn,
                    optimizer=torch.optim.Adam(model.main_parameters(), 3e-3), progress=False)
    return model, history, x, y


def test_csvae_trains_with_the_course_loop_and_separates_w():
    model, history, x, y = train_on_clusters(10.0)
    assert "adversary_ce" in history.terms and len(history["adversary_ce"]) == 300
    z, w = model.codes(x, y)
    w_on, w_off = w[y[:, 0] == 1].mean(0), w[y[:, 0] == 0].mean(0)
    assert w_off.abs().max().item() < 0.2                 # y = 0: held at the narrow prior's mean 0...
    assert w_on.min().item() > 0.6                        # ...y = 1: on its way to the broad prior's mean 3
    assert history.smoothed("rec")[-1] < history.smoothed("rec")[0]


def test_transfer_moves_the_attribute_coordinate_and_keeps_the_rest():
    # Flipping y must move x_4 (= 2 y + noise) by about +-2 and leave the noise coordinates alone. This
    # needs the training loop to pair each x with its own y.
    model, _, x, y = train_on_clusters(10.0, steps=400)
    shift = model.transfer(x, y, 1 - y) - model.reconstruct(x, y)
    sign = 1 - 2 * y[:, 0]                                  # +1 for 0 -> 1, -1 for 1 -> 0
    moved = (shift[:, 3] * sign).mean().item()
    assert 1.2 < moved < 2.8, moved
    assert shift[:, [0, 1, 2, 4, 5]].abs().mean().item() < 0.5


class _Zeros(nn.Module):
    """Image features that are all zero, so only the head's y-weights and bias speak."""

    def forward(self, x):
        return torch.zeros(len(x), 4)


def test_w_posterior_starts_exactly_at_the_prior_of_its_label():
    model = CSVAE(nn.Linear(6, 6), _Zeros(), 4, nn.Linear(3 + 2 * 2, 6), z_dim=3, n_attributes=2, w_dim=2)
    y = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    q_w = model.encode_w(torch.zeros(3, 6), y)
    mean, std = model.prior_w_params(y)
    torch.testing.assert_close(q_w.base_dist.loc, mean)
    torch.testing.assert_close(q_w.base_dist.scale, std)
    assert model.kl_w(q_w, y).abs().max().item() < 1e-5
