"""helpers.conditional.cvae: CVAE bound on a linear-Gaussian model, the adversary's two forms, gradient isolation."""
import math

import pytest
import torch
from torch import nn

from helpers.conditional.cvae import (ConditionalVAE, InfoFactorisedCVAE, adversarial_loss_fn, adversary_penalty,
                                 attribute_cross_entropy, binary_entropy, chance_accuracy, leakage_accuracy,
                                 transfer_accuracy)
from helpers.likelihoods import GaussianLikelihood
from helpers.train import train

# A 1-D linear-Gaussian CVAE: p(z) = N(0, 1), p(x|z,y) = N(a z + b y, s^2), so p(x|y) = N(b y, a^2 + s^2)
# and the exact posterior is p(z|x,y) = N(a (x - b y) / (a^2 + s^2), s^2 / (a^2 + s^2)).
A, B, S = 1.5, 2.0, 0.5


def linear_cvae(exact: bool = True) -> ConditionalVAE:
    decoder = nn.Linear(2, 1, bias=False)                       # [z, y] -> a z + b y
    model = ConditionalVAE(nn.Identity(), 1, decoder, latent_dim=1, n_attributes=1,
                           likelihood=GaussianLikelihood(sigma=S))
    with torch.no_grad():
        decoder.weight.copy_(torch.tensor([[A, B]]))
        gain, var = A / (A**2 + S**2), S**2 / (A**2 + S**2)
        if not exact:                                           # a deliberately wrong posterior
            gain, var = 0.2, 1.0
        model.head.weight.copy_(torch.tensor([[gain, -gain * B], [0.0, 0.0]]))  # [x, y] -> (mean, log std)
        model.head.bias.copy_(torch.tensor([0.0, 0.5 * math.log(var)]))
    return model


def log_normal(x, mean, var):
    return -0.5 * (math.log(2 * math.pi * var) + (x - mean) ** 2 / var)


X, Y = torch.tensor([[0.7], [-1.2], [3.1]]), torch.tensor([[1.0], [0.0], [1.0]])
LOG_PX_Y = torch.tensor([log_normal(x, B * y, A**2 + S**2) for x, y in zip(X[:, 0].tolist(), Y[:, 0].tolist())])


def test_cvae_loss_matches_hand_computation():
    model = linear_cvae(exact=False)
    torch.manual_seed(3)
    terms = model.loss(X, Y)
    # By hand: q(z|x,y) = N(0.2 (x - b y), 1); same noise draw; rec = -log N(x; a z + b y, s^2); KL to N(0, 1).
    mean = 0.2 * (X[:, 0] - B * Y[:, 0])
    torch.manual_seed(3)
    z = torch.distributions.Normal(mean.unsqueeze(-1), torch.ones(3, 1)).rsample()[:, 0]
    rec = torch.tensor([-log_normal(x, A * zz + B * y, S**2)
                        for x, zz, y in zip(X[:, 0].tolist(), z.tolist(), Y[:, 0].tolist())])
    kl = 0.5 * (1.0 + mean**2 - 1.0 - 0.0)                      # KL(N(m, 1) || N(0, 1)) = m^2 / 2
    assert terms["rec"].item() == pytest.approx(rec.mean().item(), abs=1e-4)
    assert terms["kl"].item() == pytest.approx(kl.mean().item(), abs=1e-5)
    assert terms["loss"].item() == pytest.approx((rec + kl).mean().item(), abs=1e-4)


def test_exact_posterior_makes_every_importance_weight_equal_log_p_x_given_y():
    model = linear_cvae(exact=True)
    torch.manual_seed(0)
    log_w = model.log_importance_weights(X, Y, 50)
    assert log_w.shape == (50, 3)
    # With q = p(z|x,y), w = p(x,z|y) / p(z|x,y) = p(x|y) for every z: zero variance.
    torch.testing.assert_close(log_w, LOG_PX_Y.expand(50, 3), atol=1e-4, rtol=0)
    torch.testing.assert_close(model.iwae_bound(X, Y, 7), LOG_PX_Y, atol=1e-4, rtol=0)


def test_elbo_is_tight_for_the_exact_posterior_and_loose_otherwise():
    torch.manual_seed(1)
    xs, ys = X.repeat(20_000, 1), Y.repeat(20_000, 1)
    exact = linear_cvae(True).loss(xs, ys)["elbo"].item()
    wrong = linear_cvae(False).loss(xs, ys)["elbo"].item()
    assert exact == pytest.approx(LOG_PX_Y.mean().item(), abs=0.02)   # Monte Carlo error ~ 0.005
    assert wrong < exact - 0.1


def test_binary_entropy_value_maximum_and_gradient():
    logits = torch.tensor([[0.0, 2.0, -3.0]], requires_grad=True)
    p = torch.sigmoid(logits.detach())
    expected = -(p * p.log() + (1 - p) * (1 - p).log()).sum()
    h = binary_entropy(logits)
    assert h.item() == pytest.approx(expected.item(), abs=1e-6)
    assert binary_entropy(torch.zeros(1, 4)).item() == pytest.approx(4 * math.log(2), abs=1e-6)
    h.sum().backward()
    # dH/dl = -l p (1 - p)
    torch.testing.assert_close(logits.grad, -logits.detach() * p * (1 - p), atol=1e-6, rtol=0)
    assert torch.isfinite(binary_entropy(torch.tensor([[80.0, -80.0]]))).all()


def test_cross_entropy_form_is_unbounded_and_entropy_form_is_bounded():
    y = torch.ones(1, 2)
    confident_wrong = torch.tensor([[-50.0, -50.0]])             # adversary sure that y = 0
    assert attribute_cross_entropy(confident_wrong, y).item() == pytest.approx(100.0, rel=1e-4)
    # The encoder minimises the penalty: the cross-entropy form rewards a confidently wrong adversary without end...
    assert adversary_penalty(confident_wrong, y, "cross-entropy").item() < -99
    # ...the entropy form is minimised, at -k log 2, only by an adversary that says 1/2.
    assert adversary_penalty(torch.zeros(1, 2), y, "entropy").item() == pytest.approx(-2 * math.log(2), abs=1e-6)
    assert adversary_penalty(confident_wrong, y, "entropy").item() > -1e-6
    with pytest.raises(ValueError, match="penalty"):
        adversary_penalty(confident_wrong, y, "hinge")


def small_info_cvae(weight: float = 10.0) -> InfoFactorisedCVAE:
    torch.manual_seed(0)
    return InfoFactorisedCVAE.for_data((5,), 2, 2, likelihood=GaussianLikelihood(0.5), hidden=(16,), features=8,
                                       adversary_weight=weight)


def batch(n: int = 32):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(n, 5, generator=gen), (torch.rand(n, 2, generator=gen) > 0.5).float()


def test_adversary_step_changes_no_encoder_parameter_and_leaves_no_gradient():
    model = small_info_cvae()
    x, y = batch()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.adversary_step(x, y)
    for name, p in model.named_parameters():
        if name.startswith("adversary."):
            assert not torch.equal(p, before[name]), name                # the adversary moved
        else:
            assert torch.equal(p, before[name]), name                    # encoder, decoder, head: bit-identical
            assert p.grad is None, name


def test_encoder_loss_puts_no_gradient_into_the_adversary():
    model = small_info_cvae()
    x, y = batch()
    model.loss(x, y)["loss"].backward()
    for name, p in model.named_parameters():
        if name.startswith("adversary."):
            assert p.grad is None, name
        else:
            assert p.grad is not None, name
    assert any(p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_penalty_reaches_the_encoder_only_through_z():
    x, y = batch()
    grads = {}
    for weight in (0.0, 10.0):
        model = small_info_cvae(weight)
        torch.manual_seed(5)
        model.loss(x, y)["loss"].backward()
        grads[weight] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    for name in grads[0.0]:
        if name.startswith("decoder."):            # the decoder does not see the adversary: same gradient
            torch.testing.assert_close(grads[0.0][name], grads[10.0][name], atol=1e-6, rtol=1e-5)
    assert not torch.allclose(grads[0.0]["head.weight"], grads[10.0]["head.weight"])


def test_training_with_checkpoint_resumes_both_optimisers_exactly(tmp_path):
    x, y = batch(64)

    def run(steps, path):
        model = small_info_cvae()
        optimizer = torch.optim.Adam(model.main_parameters(), lr=1e-2)
        train(model, (x, y), steps=steps, batch_size=16, optimizer=optimizer, loss_fn=adversarial_loss_fn,
              checkpoint=path, checkpoint_every=3, progress=False)
        return model

    straight = run(6, tmp_path / "a.pt")
    run(3, tmp_path / "b.pt")                      # interrupted after 3 steps...
    resumed = run(6, tmp_path / "b.pt")            # ...and continued from the checkpoint
    for (name, p), q in zip(straight.named_parameters(), resumed.parameters()):
        torch.testing.assert_close(p, q, atol=0, rtol=0, msg=name)
    assert straight.adversary.optimizer.state_dict()["state"][0]["step"].item() == 6


def test_cvae_rejects_wrong_attribute_shapes():
    model = small_info_cvae()
    with pytest.raises(ValueError, match="attributes"):
        model.loss(torch.zeros(4, 5), torch.zeros(4))
    cvae = ConditionalVAE.for_data((5,), 2, 2, hidden=(8,), features=8)
    with pytest.raises(ValueError, match="pass the attributes"):
        cvae.encode(torch.zeros(4, 5))


def test_changing_y_before_decoding_changes_the_attribute_coordinate():
    # x = (noise, 2 y + noise, noise): a trained CVAE's decoder must have learned that y adds about 2 to x_2.
    gen = torch.Generator().manual_seed(0)
    y = (torch.rand(512, 1, generator=gen) > 0.5).float()
    x = torch.cat([torch.randn(512, 2, generator=gen), 2.0 * y + 0.3 * torch.randn(512, 1, generator=gen),
                   torch.randn(512, 2, generator=gen)], dim=1)
    for model in (ConditionalVAE.for_data((5,), 2, 1, likelihood=GaussianLikelihood(0.3), hidden=(32,), features=16),
                  InfoFactorisedCVAE.for_data((5,), 2, 1, likelihood=GaussianLikelihood(0.3), hidden=(32,),
                                              features=16)):
        torch.manual_seed(0)
        adversarial = isinstance(model, InfoFactorisedCVAE)
        train(model, (x, y), steps=400, batch_size=64, optimizer=torch.optim.Adam(model.main_parameters(), 3e-3),
              loss_fn=adversarial_loss_fn if adversarial else None, progress=False)
        shift = model.transfer(x, y, 1 - y) - model.reconstruct(x, y)
        moved = (shift[:, 2] * (1 - 2 * y[:, 0])).mean().item()
        assert 1.2 < moved < 2.8, (type(model).__name__, moved)


def test_leakage_accuracy_on_constructed_codes():
    gen = torch.Generator().manual_seed(0)
    y = (torch.rand(1200, 2, generator=gen) > 0.5).float()
    noise = torch.randn(1200, 3, generator=gen)
    # attribute 0 sits in the codes (noisy, linearly), attribute 1 only through a non-linear sign pattern
    codes = torch.stack([y[:, 0] + 0.1 * noise[:, 0], noise[:, 1], noise[:, 2].abs() * (2 * y[:, 1] - 1)], 1)
    leak = leakage_accuracy(codes[:1000], y[:1000], codes[1000:], y[1000:])
    assert leak[0] > 0.97 and leak[1] > 0.97
    clean = leakage_accuracy(noise[:1000], y[:1000], noise[1000:], y[1000:])
    assert (abs(clean - 0.5) < 0.1).all()                     # independent codes: chance
    assert chance_accuracy(torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 0.0], [1.0, 1.0]])).tolist() == [0.75, 0.75]


class _Echo(nn.Module):
    """A fake model whose 'images' are the attributes it was asked for (or, if stubborn, the old ones)."""

    def __init__(self, stubborn: bool):
        super().__init__()
        self.stubborn = stubborn

    def transfer(self, x, y, y_new):
        return y if self.stubborn else y_new


def test_transfer_accuracy_counts_flips_and_kept_attributes():
    y = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    classifier = lambda images: 10 * (images - 0.5)          # noqa: E731  reads the attributes back exactly
    flipped, kept = transfer_accuracy(_Echo(False), classifier, torch.zeros(3, 1), y)
    assert flipped.tolist() == [1.0, 1.0, 1.0] and kept.tolist() == [1.0, 1.0, 1.0]
    flipped, kept = transfer_accuracy(_Echo(True), classifier, torch.zeros(3, 1), y)
    assert flipped.tolist() == [0.0, 0.0, 0.0] and kept.tolist() == [1.0, 1.0, 1.0]
