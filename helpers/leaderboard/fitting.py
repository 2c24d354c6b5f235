"""How each kind of model trains: thin adapters around the course's one loop, `helpers.train.train`.

Every function has the signature `fit(model, x_train, budget, tag) -> list[History]` and spends exactly
`budget.steps` minibatch steps of `budget.batch_size` with Adam at `budget.lr` on the main player, as the
notebook that introduced the model does (the notebook in each docstring). What differs between them is
only what that notebook adds around the loop: a second player, a schedule for beta, a fit after training.
"""
from __future__ import annotations

import torch

from ..checkpoints import checkpoint_file
from ..train import train


def _options(budget, tag: str, **overrides) -> dict:
    options = dict(steps=budget.steps, batch_size=budget.batch_size, seed=budget.seed, desc=tag,
                   config={**budget.config, "model": tag}, checkpoint=checkpoint_file(_safe(tag), budget.checkpoints))
    options.update(overrides)
    return options


def _safe(tag: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in tag)


def fit_plain(model, x, budget, tag, beta: float | None = None):
    """model.loss(x) (00, 01, 04): loss = rec + beta KL for the VAE family, the model's own loss otherwise."""
    loss_fn = (lambda m, b: m.loss(b[0])) if beta is None else (lambda m, b: m.loss(b[0], beta))
    options = _options(budget, tag)
    if beta is not None:
        options["config"] = {**options["config"], "beta": beta}
    return [train(model, x, loss_fn=loss_fn, lr=budget.lr, **options)]


def fit_schedule(model, x, budget, tag):
    """GECO or REWO (01): the schedule (a submodule, so checkpoints keep beta) sets beta after every step."""
    return [train(model, x, loss_fn=model.schedule.loss_fn, after_step=model.schedule.after_step, lr=budget.lr,
                  **_options(budget, tag))]


def fit_adversarial(model, x, budget, tag):
    """AAE, FlexAE (04, 05): the second player steps inside the loss with its own optimiser."""
    from ..adversary import adversarial_loss_fn
    return [train(model, x, loss_fn=lambda m, b: adversarial_loss_fn(m, (b[0],)),
                  optimizer=torch.optim.Adam(model.main_parameters(), lr=budget.lr), **_options(budget, tag))]


def fit_maskaae(model, x, budget, tag):
    """MaskAAE (05): the critic inside the loss; the mask's schedule and projection after every step."""
    from ..adversary import adversarial_loss_fn
    return [train(model, x, loss_fn=lambda m, b: adversarial_loss_fn(m, (b[0],)),
                  optimizer=model.optimizer(budget.lr, mask_lr=10 * budget.lr), after_step=model.after_step,
                  **_options(budget, tag))]


@torch.no_grad()
def _codes(model, x, size: int = 1000) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.cat([model.encode_mean(x[i:i + size].to(device)).cpu() for i in range(0, len(x), size)])


def fit_expost(model, x, budget, tag):
    """AE + GMM, RAE + GMM (04): train, then fit a Gaussian mixture to the training codes (the sampler).
    The RAE's optimiser puts weight decay on the decoder only (RAE-L2)."""
    optimizer = model.optimizer(budget.lr) if hasattr(model, "optimizer") else None
    history = train(model, x, loss_fn=lambda m, b: m.loss(b[0]), lr=budget.lr, optimizer=optimizer,
                    **_options(budget, tag))
    model.fit_expost(_codes(model.eval(), x), n_components=budget.option("gmm_components", 10), seed=budget.seed)
    return [history]


def fit_two_stage(model, x, budget, tag):
    """2-stage VAE (04): stage 1 on the data, then stage 2 on stage 1's codes, each `budget.steps` steps."""
    from ..regularised import stage2_loss_fn
    first = train(model, x, loss_fn=lambda m, b: m.loss(b[0]),
                  optimizer=torch.optim.Adam(model.stage1.parameters(), lr=budget.lr),
                  **_options(budget, tag + "-stage1"))
    second = train(model, x, loss_fn=lambda m, b: stage2_loss_fn(m, (b[0],)),
                   optimizer=torch.optim.Adam(model.stage2.parameters(), lr=budget.lr),
                   **_options(budget, tag + "-stage2"))
    return [first, second]


def fit_mixture(model, x, budget, tag):
    """The factorial mixture prior (02): half the steps pre-train with N(0, I) (a plain VAE on the same
    networks), the mixture starts from the codes, then the other half trains jointly with an SVI step on
    the mixture after every gradient step (`model.after_step`)."""
    from ..vae import VAE
    base = VAE(model.encoder, model.decoder, model.latent_dim, model.likelihood)   # shares the networks
    first = budget.steps // 2
    pre = train(base, x, loss_fn=lambda m, b: m.loss(b[0]), lr=budget.lr,
                **_options(budget, tag + "-pretrain", steps=first))
    mu, var = [], []
    with torch.no_grad():
        device = next(model.parameters()).device
        for i in range(0, len(x), 1000):
            q = model.encode(x[i:i + 1000].to(device))
            mu.append(q.mean)
            var.append(q.variance)
    model.mixture.initialise(torch.cat(mu), torch.cat(var), iterations=budget.option("init_iterations", 10),
                             generator=torch.Generator().manual_seed(budget.seed))
    joint = train(model, x, loss_fn=lambda m, b: m.loss(b[0]), after_step=model.after_step, lr=budget.lr,
                  **_options(budget, tag + "-joint", steps=budget.steps - first))
    return [pre, joint]


def fit_local(model, x, budget, tag):
    """The Local VAE (06): Algorithm 1 with synthetic noise neighbourhoods of K copies of each example."""
    from ..local import noise_neighbourhoods
    k, sigma = budget.option("local_k", 4), budget.option("noise_sigma", 0.05)
    if hasattr(model, "set_references"):   # LocalVAERow samples conditionally on training images
        model.set_references(x[:budget.option("references", 1000)].to(next(model.parameters()).device), k, sigma)
    return [train(model, x, loss_fn=lambda m, b: m.loss(b[0], noise_neighbourhoods(b[0], k, sigma)), lr=budget.lr,
                  **_options(budget, tag))]
