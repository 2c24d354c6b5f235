"""helpers.adversary: the one two-player base, its freezing technique and the one alternating loss function."""
import pytest
import torch

from helpers.adversary import Adversary, adversarial_loss_fn, frozen
from helpers.conditional.csvae import CSVAE
from helpers.conditional.cvae import InfoFactorisedCVAE
from helpers.regularised import AAE, VAE_IOP, WAE_GAN, FlexAE, MaskAAE

D, L, K = 6, 2, 2
MODELS = {   # name -> (builder, the attribute holding the second player, the batch)
    "InfoFactorisedCVAE": (lambda: InfoFactorisedCVAE.for_data((D,), L, K, hidden=(8,), features=8), "adversary",
                           "xy"),
    "CSVAE": (lambda: CSVAE.for_data((D,), L, K, hidden=(8,), features=8), "adversary", "xy"),
    "AAE": (lambda: AAE.for_data((D,), L, hidden=(8,)), "discriminator", "x"),
    "WAE_GAN": (lambda: WAE_GAN.for_data((D,), L, hidden=(8,)), "discriminator", "x"),
    "VAE_IOP": (lambda: VAE_IOP.for_data((D,), L, hidden=(8,)), "ratio", "x"),
    "MaskAAE": (lambda: MaskAAE.for_data((D,), L, hidden=(8,)), "critic", "x"),
    "FlexAE": (lambda: FlexAE.for_data((D,), L, hidden=(8,), critic_steps=2), "critic", "x"),
}


def _batch(kind):
    torch.manual_seed(0)
    x = torch.rand(16, D)
    return (x, (torch.rand(16, K) > 0.5).float()) if kind == "xy" else (x,)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_second_player_is_an_adversary_and_one_loss_fn_alternates_them(name):
    build, attribute, kind = MODELS[name]
    model = build()
    player = getattr(model, attribute)
    assert isinstance(player, Adversary)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    terms = adversarial_loss_fn(model, _batch(kind))
    assert model.adversary_loss_name in terms and "loss" in terms
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all(n.startswith(attribute + ".") for n in moved)     # only the adversary stepped
    assert all(p.grad is None for p in model.parameters())                  # and left no gradient behind
    terms["loss"].backward()
    assert all(p.grad is None for p in player.parameters())                 # the model's loss cannot reach it
    assert "custom" in adversarial_loss_fn(model, _batch(kind), name="custom")


def test_frozen_restores_the_flags_and_blocks_only_the_weights():
    net = torch.nn.Linear(3, 1)
    net.bias.requires_grad_(False)
    z = torch.randn(4, 3, requires_grad=True)
    with frozen(net):
        assert not any(p.requires_grad for p in net.parameters())
        out = net(z).sum()
    assert net.weight.requires_grad and not net.bias.requires_grad        # flags restored as they were
    out.backward()
    assert net.weight.grad is None and z.grad is not None


def test_the_optimiser_state_travels_in_the_state_dict():
    model = AAE.for_data((D,), L, hidden=(8,))
    adversarial_loss_fn(model, _batch("x"))
    copy = AAE.for_data((D,), L, hidden=(8,))
    copy.load_state_dict(model.state_dict())
    saved, loaded = model.discriminator.optimizer.state_dict(), copy.discriminator.optimizer.state_dict()
    assert saved["state"] and all(torch.equal(saved["state"][k]["exp_avg"], loaded["state"][k]["exp_avg"])
                                  for k in saved["state"])
