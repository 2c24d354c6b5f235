"""helpers.regularised.maskaae and .flexae: the mask layer, the WGAN-GP critic, MaskAAE and FlexAE.

Numbers checked: the mask's forward pass and gradient on a hand example (eval: mu * z; training: the noise
fill mu * z + (1 - mu) * xi with its own gradient z - xi); masked prior samples = prior samples * mu; the
gradient penalty of a linear critic against (||w|| - 1)^2, and of a quadratic critic against a hand sum;
the critic's step against the models' step, bit for bit, both ways; m_A on a constructed mask; the mask's
schedule; FlexAE's generator samples and what its critic sees. Issue 23: the mask layer at mu = 0 and 1 in both
modes against the closed form; the mask loss's derivative alpha + beta (1 - 2 mu), positive everywhere for the
old beta = 0.1 and with two wells for beta = 2; the binarising term's switch-on step; a mask frozen open.
"""
import copy

import pytest
import torch
from torch import nn

from helpers.regularised import FlexAE, LatentCritic, MaskAAE, MaskLayer, PriorGenerator, adversarial_loss_fn
from helpers.regularised.maskaae import gradient_penalty


def test_mask_forward_and_gradient_by_hand():
    layer = MaskLayer(3).eval()
    with torch.no_grad():
        layer.values.copy_(torch.tensor([1.0, 0.5, 0.0]))
    z = torch.tensor([[1.0, 2.0, 3.0], [-2.0, 4.0, 1.0]])
    out = layer(z)
    assert torch.equal(out, torch.tensor([[1.0, 1.0, 0.0], [-2.0, 2.0, 0.0]]))
    weights = torch.tensor([1.0, -1.0, 2.0])
    (out * weights).sum().backward()
    # d/d mu_j sum_n w_j mu_j z_nj = w_j sum_n z_nj = [1 * -1, -1 * 6, 2 * 4]
    assert torch.equal(layer.values.grad, torch.tensor([-1.0, -6.0, 8.0]))


def test_mask_noise_fill_and_its_gradient():
    layer = MaskLayer(2).train()
    with torch.no_grad():
        layer.values.copy_(torch.tensor([0.25, 1.0]))
    z = torch.tensor([[2.0, 3.0]])
    torch.manual_seed(0)
    out = layer(z)
    torch.manual_seed(0)
    xi = torch.randn_like(z)
    assert torch.allclose(out, torch.tensor([[0.25 * 2.0, 3.0]]) + torch.tensor([[0.75, 0.0]]) * xi)
    out.sum().backward()
    assert torch.allclose(layer.values.grad, (z - xi)[0])          # d/d mu [mu z + (1 - mu) xi] = z - xi


def test_gate_freezes_the_mask_without_changing_its_value():
    layer = MaskLayer(2, noise=False)
    with torch.no_grad():
        layer.values.copy_(torch.tensor([0.3, 0.7]))
    layer.gate.fill_(0.0)
    out = layer(torch.ones(1, 2))
    assert torch.equal(out, torch.tensor([[0.3, 0.7]]))
    out.sum().backward()
    assert torch.equal(layer.values.grad, torch.zeros(2))


def test_binarisation_and_sparsity_closed_forms():
    layer = MaskLayer(4)
    with torch.no_grad():
        layer.values.copy_(torch.tensor([0.0, 1.0, 0.5, 0.2]))
    assert layer.binarisation().item() == pytest.approx(0.25 + 0.16)
    assert layer.sparsity().item() == pytest.approx(1.7)


def test_active_dims_counts_the_open_mask_values():
    model = MaskAAE.for_data((6,), 5, hidden=(8,))
    with torch.no_grad():
        model.mask.values.copy_(torch.tensor([0.9, 0.1, 0.6, 0.5, 0.0]))
    assert model.active_dims() == 2                                # strictly above 1/2
    assert model.active_dims(threshold=0.05) == 4
    assert model.mask.active().tolist() == [True, False, True, False, False]


def test_masked_prior_samples_are_prior_samples_times_the_mask():
    model = MaskAAE.for_data((6,), 4, hidden=(8,)).eval()
    with torch.no_grad():
        model.mask.values.copy_(torch.tensor([1.0, 0.0, 0.4, 0.9]))
    masked = model.sample_prior(50, torch.Generator().manual_seed(3))
    plain = model.prior_noise(50, torch.Generator().manual_seed(3))
    assert torch.equal(masked, plain * model.mask.values.detach())
    assert (masked[:, 1] == 0).all()


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared():
    critic = nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[2.0, -1.0, 2.0]]))        # ||w|| = 3 everywhere
    pos, neg = torch.randn(64, 3), torch.randn(64, 3) + 1
    gp = gradient_penalty(lambda z: critic(z).squeeze(-1), pos, neg)
    assert gp.item() == pytest.approx((3.0 - 1.0) ** 2)


def test_gradient_penalty_of_a_quadratic_critic_by_hand():
    # C(z) = 1/2 ||z||^2: grad = zhat, GP = mean (||zhat|| - 1)^2 at zhat = e pos + (1 - e) neg
    pos, neg = torch.randn(16, 2), torch.randn(16, 2)
    gp = gradient_penalty(lambda z: 0.5 * z.pow(2).sum(-1), pos, neg, generator=torch.Generator().manual_seed(5))
    e = torch.rand(16, 1, generator=torch.Generator().manual_seed(5))
    zhat = e * pos + (1 - e) * neg
    assert gp.item() == pytest.approx((zhat.norm(dim=-1) - 1).pow(2).mean().item(), rel=1e-6)


def test_critic_step_maximises_the_wasserstein_estimate():
    torch.manual_seed(0)
    critic = LatentCritic(2, hidden=(16,), lr=1e-2)
    pos, neg = torch.randn(256, 2) + 2.0, torch.randn(256, 2)
    before = (critic(pos).mean() - critic(neg).mean()).item()
    for _ in range(100):
        critic.step(pos, neg)
    after = (critic(pos).mean() - critic(neg).mean()).item()
    # W_1 between N(m, I) and N(0, I) is ||m|| = 2 sqrt(2); a 1-Lipschitz critic cannot exceed it by much
    assert after > before + 1.0 and after < 2 * 2 ** 0.5 * 1.25


def _split(model):
    critic = {k: v.clone() for k, v in model.critic.state_dict().items() if k != "_extra_state"}
    rest = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("critic.")}
    return critic, rest


@pytest.mark.parametrize("cls", [MaskAAE, FlexAE])
def test_critic_and_model_steps_touch_only_their_own_parameters(cls):
    torch.manual_seed(0)
    model = cls.for_data((6,), 3, likelihood="gaussian", hidden=(8,))
    if cls is MaskAAE:
        model.after_step(model.warmup)                              # the mask trains too
    x = torch.rand(32, 6)
    critic_0, rest_0 = _split(model)
    model.adversary_step(x)                                         # the critic's step
    critic_1, rest_1 = _split(model)
    assert all(torch.equal(rest_0[k], rest_1[k]) for k in rest_0 if "running" not in k and "num_batches" not in k)
    assert any(not torch.equal(critic_0[k], critic_1[k]) for k in critic_0)
    optimizer = torch.optim.Adam(model.main_parameters(), lr=1e-2)
    loss = model.loss(x)["loss"]
    optimizer.zero_grad()
    loss.backward()
    assert all(p.grad is None for p in model.critic.parameters())
    optimizer.step()
    critic_2, rest_2 = _split(model)
    assert all(torch.equal(critic_1[k], critic_2[k]) for k in critic_1)
    assert any(not torch.equal(rest_1[k], rest_2[k]) for k in rest_1)
    if cls is FlexAE:
        assert any(not torch.equal(rest_1[k], rest_2[k]) for k in rest_1 if k.startswith("generator."))


def test_mask_schedule_and_projection():
    model = MaskAAE.for_data((6,), 4, hidden=(8,), warmup=10, ramp=20)
    assert model.mask.gate.item() == 0.0 and model.mask_weight.item() == 0.0
    model.after_step(8)                                             # the next step is the 9th: still frozen
    assert model.mask.gate.item() == 0.0 and model.mask_weight.item() == 0.0
    model.after_step(19)                                            # the 20th step: 10 into the ramp
    assert model.mask.gate.item() == 1.0 and model.mask_weight.item() == pytest.approx(0.5)
    model.after_step(100)
    assert model.mask_weight.item() == 1.0
    with torch.no_grad():
        model.mask.values.copy_(torch.tensor([-0.2, 0.5, 1.3, 1.0]))
    model.after_step(101)
    assert model.mask.values.detach().tolist() == [0.0, 0.5, 1.0, 1.0]


def test_mask_optimizer_gives_the_mask_its_own_rate():
    model = MaskAAE.for_data((6,), 4, hidden=(8,))
    optimizer = model.optimizer(lr=1e-3, mask_lr=2e-2)
    groups = {len(g["params"]): g["lr"] for g in optimizer.param_groups}
    assert optimizer.param_groups[1]["params"][0] is model.mask.values and groups[1] == 2e-2
    n_main = len(model.main_parameters())
    assert sum(len(g["params"]) for g in optimizer.param_groups) == n_main


def test_flexae_generator_samples_have_the_code_dimension():
    model = FlexAE.for_data((10,), 4, hidden=(8,), noise_dim=6)
    assert model.generator.noise_dim == 6
    z = model.sample_prior(7)
    assert z.shape == (7, 4)
    assert model.sample(5, torch.Generator().manual_seed(1)).shape == (5, 10)
    assert torch.equal(model.sample(5, torch.Generator().manual_seed(1)), model.sample(5, torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError):
        PriorGenerator(4, noise_dim=3)


@pytest.mark.parametrize("critic_steps", [1, 3])
def test_flexae_critic_sees_codes_and_generator_samples(critic_steps):
    torch.manual_seed(0)
    model = FlexAE.for_data((10,), 4, hidden=(8,), critic_steps=critic_steps).eval()   # eval: BatchNorm is fixed
    x = torch.rand(9, 10)
    seen = []

    def spy(positive, negative):
        seen.append((positive.clone(), negative.clone()))
        return torch.zeros(())

    model.critic.step = spy
    torch.manual_seed(1)
    model.adversary_step(x)
    torch.manual_seed(1)
    expected = [model.sample_prior(9).detach() for _ in range(critic_steps)]   # fresh samples every step
    assert len(seen) == critic_steps
    for (positive, negative), drawn in zip(seen, expected):
        assert torch.equal(positive, model.encoder(x).detach())
        assert torch.equal(negative, drawn)


def test_maskaae_trains_with_the_shared_loop():
    from helpers.train import train
    torch.manual_seed(0)
    model = MaskAAE.for_data((6,), 3, likelihood="gaussian", hidden=(16,), warmup=5, ramp=5)
    history = train(model, torch.rand(200, 6), steps=20, batch_size=50, loss_fn=adversarial_loss_fn,
                    optimizer=model.optimizer(1e-3, 1e-2), after_step=model.after_step, progress=False)
    assert len(history["loss"]) == 20 and "disc_loss" in history.terms and "active" in history.terms
    assert ((model.mask.values >= 0) & (model.mask.values <= 1)).all()
    reference = copy.deepcopy(model).eval()
    assert reference.sample(4, torch.Generator().manual_seed(0)).shape == (4, 6)


def test_mask_layer_at_zero_and_one_against_the_closed_form():
    """mu_i = 1: the plain product z_i in training and evaluation; mu_i = 0: pure noise xi_i in training (the
    same draw as torch.randn_like under the same seed), exactly 0 in evaluation."""
    layer = MaskLayer(2)
    with torch.no_grad():
        layer.values.copy_(torch.tensor([0.0, 1.0]))
    z = torch.tensor([[2.0, -3.0], [0.5, 4.0]])
    torch.manual_seed(5)
    trained = layer.train()(z)
    torch.manual_seed(5)
    xi = torch.randn_like(z)
    assert torch.equal(trained[:, 0], xi[:, 0])                     # closed: the noise alone
    assert torch.equal(trained[:, 1], z[:, 1])                      # open: the code itself
    evaluated = layer.eval()(z)
    assert torch.equal(evaluated, torch.stack([torch.zeros(2), z[:, 1]], 1))


def _mask_loss_gradient(mu, alpha, beta):
    model = MaskAAE.for_data((6,), len(mu), hidden=(8,), mask_l1=alpha, mask_binary=beta)
    with torch.no_grad():
        model.mask.values.copy_(torch.as_tensor(mu))
    model.mask.gate.fill_(1.0)
    model.mask_weight.fill_(1.0)
    model.binary_weight.fill_(1.0)
    loss = model.mask_weight * model.mask_l1 * model.mask.sparsity() + model.binary_weight * model.mask_binary * model.mask.binarisation()
    (grad,) = torch.autograd.grad(loss, model.mask.values)
    return grad


def test_the_old_weights_never_push_a_mask_value_up_and_the_new_ones_have_two_wells():
    mu = torch.linspace(0, 1, 11)
    old = _mask_loss_gradient(mu, 1.0, 0.1)                         # alpha + beta (1 - 2 mu) in [0.9, 1.1]
    assert torch.allclose(old, 1.0 + 0.1 * (1 - 2 * mu)) and (old > 0.85).all()
    new = _mask_loss_gradient(mu, 1.0, 2.0)                         # zero at mu* = (alpha + beta) / (2 beta) = 3/4
    assert torch.allclose(new, 1.0 + 2.0 * (1 - 2 * mu))
    assert (new[mu < 0.74] > 0).all() and (new[mu > 0.76] < 0).all()
    # projected gradient descent on the mask's loss alone: with beta < alpha everything closes, with
    # beta > alpha a value above mu* opens fully and one below closes
    for beta, expected in ((0.1, [0.0, 0.0]), (2.0, [1.0, 0.0])):
        values = torch.tensor([0.8, 0.7])
        for _ in range(200):
            values = (values - 0.05 * _mask_loss_gradient(values, 1.0, beta)).clamp(0, 1)
        assert values.tolist() == expected


def test_binarising_term_switches_on_at_binary_start_and_a_frozen_mask_stays_open():
    model = MaskAAE.for_data((6,), 4, hidden=(8,), warmup=10, ramp=20)
    assert model.binary_start == 30
    model.after_step(28)                                            # the next step is the 29th
    assert model.binary_weight.item() == 0.0 and model.mask_weight.item() == pytest.approx(19 / 20)
    model.after_step(29)
    assert model.binary_weight.item() == 1.0 and model.mask_weight.item() == 1.0
    assert MaskAAE.for_data((6,), 4, hidden=(8,), warmup=10, ramp=20, binary_start=12).binary_start == 12
    frozen = MaskAAE.for_data((6,), 4, hidden=(8,), warmup=0, ramp=1, learn_mask=False)
    assert frozen.mask.gate.item() == 0.0
    from helpers.train import train
    train(frozen, torch.rand(100, 6), steps=6, batch_size=50, loss_fn=adversarial_loss_fn,
          optimizer=frozen.optimizer(1e-3, 1e-1), after_step=frozen.after_step, progress=False)
    assert frozen.mask.values.detach().tolist() == [1.0] * 4 and frozen.mask.gate.item() == 0.0
    assert frozen.mask_weight.item() == 0.0 and frozen.binary_weight.item() == 0.0


def test_binary_fraction_counts_values_near_zero_or_one():
    layer = MaskLayer(5)
    with torch.no_grad():
        layer.values.copy_(torch.tensor([0.0, 0.04, 0.5, 0.96, 0.9]))
    assert layer.binary_fraction() == pytest.approx(3 / 5)
    assert layer.binary_fraction(tolerance=0.1) == pytest.approx(4 / 5)
