"""Two players, one pattern: a model and an adversary (discriminator, critic) that each take their own step.

Every adversarial method of the course is a two-player game on one minibatch at a time:

    adversary:  min_psi  L_adv(psi; codes)                 its own optimiser, on codes it cannot move
    model:      min_phi  L(phi; x) + lambda * A(r_psi(z))  the adversary read with its weights as constants

- CVAE-info and CSVAE (notebook 03): r_psi(z) predicts the attributes y from the code (`AttributeAdversary`);
- AAE, WAE-GAN and VAE-IOP (notebook 04): a logistic discriminator between prior samples and codes
  (`LatentDiscriminator`);
- MaskAAE and FlexAE (notebook 05): a WGAN-GP critic (`LatentCritic`).

Notebook 01's REWO holds the hierarchical prior of VHP fixed in its first phase with the same `frozen`.

`Adversary` is the base every one of them shares, and `adversarial_loss_fn` the one alternating loss
function that `helpers.train.train` calls: the adversary steps, then the model's loss is returned against
the updated, frozen adversary, and `train` steps the model's optimiser on it. Pass
`optimizer=torch.optim.Adam(model.main_parameters(), lr)` to `train`, so its optimiser never holds the
adversary's weights.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def frozen(module: nn.Module):
    """Build the graph with `module`'s parameters treated as constants (no gradient reaches them).

    Autograd records at forward time which tensors need gradients, so parameters frozen during the
    forward pass get no .grad in the later backward pass, and their optimiser leaves them untouched.
    Gradients still flow through the module's *inputs*. The one freezing technique of the course.
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class Adversary(nn.Module):
    """The second player: a network `net` with its own Adam optimiser. Subclasses define `loss(*inputs)`.

    The two players touch disjoint parameters and each update sees only its own objective:
    - `step(*inputs)` detaches its inputs, so the adversary's update cannot move (or put a gradient into)
      whoever made them, and leaves no gradient behind for anyone else's step;
    - `frozen(z)` evaluates the adversary with its weights as constants (`frozen` above), so the model's
      loss cannot put a gradient into it; gradients still flow through z, as they must.
    The optimiser's state is part of this module's `state_dict` (`get_extra_state`), so a checkpoint
    written by `helpers.train.train` resumes both players exactly.
    """

    def __init__(self, net: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999)):
        super().__init__()
        self.net = net
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr, betas=betas)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def frozen(self, z: torch.Tensor) -> torch.Tensor:
        """The adversary's output with its weights treated as constants (the model's view of it)."""
        with frozen(self):
            return self(z)

    def step(self, *inputs: torch.Tensor) -> torch.Tensor:
        """One step of the adversary's own optimiser on `self.loss` of detached inputs; returns that loss."""
        loss = self.loss(*(t.detach() for t in inputs))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)   # leave no gradient behind for anyone else's step
        return loss.detach()

    def get_extra_state(self):
        return {"optimizer": self.optimizer.state_dict()}

    def set_extra_state(self, state) -> None:
        self.optimizer.load_state_dict(state["optimizer"])


def adversarial_loss_fn(model: nn.Module, batch: tuple[torch.Tensor, ...], name: str | None = None
                        ) -> dict[str, torch.Tensor]:
    """`loss_fn` for `helpers.train.train`: the adversary's step, then the model's loss against it.

    batch = (x,) or (x, y): both players read the same minibatch. The adversary's loss is logged under
    `name`, by default the model's `adversary_loss_name` ("disc_loss", "adversary_ce"), so the NaN guard
    watches it too.
    """
    adversary_loss = model.adversary_step(*batch)     # 1. min_psi L_adv on detached codes, its own optimiser
    terms = model.loss(*batch)                        # 2. the model's loss against the updated, frozen adversary
    terms[name or model.adversary_loss_name] = adversary_loss
    return terms
