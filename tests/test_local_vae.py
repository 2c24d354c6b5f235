"""helpers.local: MAML's inner step, the Local VAE (Algorithm 1) and its neighbourhoods, checked against hand
computations, closed forms, an explicit Hessian-vector product and scikit-learn."""
import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors
from torch.func import functional_call

from helpers.local import LatentKNN, LocalVAE, adapt, knn_indices, meta_loss, meta_loss_loop, noise_neighbourhoods
from helpers.nets import mlp_decoder, mlp_encoder
from helpers.vae import VAE

SHAPE = (1, 4, 4)


def regression_loss(params, X, y):
    """Linear-Gaussian negative log-likelihood (unit noise, constants dropped): 1/2K ||X w - y||^2."""
    return 0.5 * ((X @ params["w"] - y) ** 2).mean()


def regression_tasks(n_tasks=4, k=5, m=6, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    draw = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return draw(d).requires_grad_(), (draw(n_tasks, k, d), draw(n_tasks, k)), (draw(n_tasks, m, d), draw(n_tasks, m))


def tiny_local_vae(alpha, first_order=False, vectorised=True, seed=0, beta=1.0):
    torch.manual_seed(seed)
    model = LocalVAE(mlp_encoder(SHAPE, 6, (8,)), mlp_decoder(3, SHAPE, (8,)), 3, alpha=alpha,
                     first_order=first_order, vectorised=vectorised, beta=beta).double()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(5, *SHAPE, generator=g, dtype=torch.float64)
    return model, x, noise_neighbourhoods(x, 3, 0.1, generator=g)


def meta_gradient(model, x, neighbours, seed=3):
    torch.manual_seed(seed)
    model.zero_grad()
    terms = model.loss(x, neighbours)
    terms["loss"].backward()
    return terms, {name: p.grad.clone() for name, p in model.named_parameters()}


# --- the inner step and the meta-gradient -------------------------------------------------------------
def test_inner_step_is_theta_minus_alpha_times_the_hand_written_gradient():
    w, (Xs, ys), _ = regression_tasks()
    alpha = 0.3
    hand = w - alpha * Xs[0].T @ (Xs[0] @ w - ys[0]) / len(ys[0])     # grad of 1/2K ||Xw - y||^2
    assert torch.allclose(adapt(regression_loss, {"w": w}, (Xs[0], ys[0]), alpha)["w"], hand, atol=1e-12)
    assert adapt(regression_loss, {"w": w}, (Xs[0], ys[0]), 0.0)["w"] is w


def test_local_vae_inner_step_is_the_summed_negative_elbo_or_per_data_dimension():
    model, x, neighbours = tiny_local_vae(alpha=0.3)
    assert model.inner_per_dimension is False                 # the default: eq. 3 summed over pixels
    model.inner_per_dimension = True
    eps = torch.randn(len(neighbours[0]), model.latent_dim, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    params = model.parameters_dict()
    # by hand: L = rec + KL per example (eq. 3) from the plain modules, averaged over the K neighbours, over D = 16 pixels
    mean, log_std = model.encoder(neighbours[0]).chunk(2, dim=-1)
    std = log_std.exp()
    z = mean + std * eps
    logits = model.decoder(z)
    rec = torch.nn.functional.binary_cross_entropy_with_logits(logits, neighbours[0], reduction="none").sum((1, 2, 3))
    kl = 0.5 * (mean ** 2 + std ** 2 - 1 - 2 * torch.log(std)).sum(1)
    hand_loss = (rec + kl).mean() / 16
    grads = torch.autograd.grad(hand_loss, list(params.values()))
    adapted = adapt(model.negative_elbo, params, (neighbours[0], eps), 0.3)
    for (name, p), g in zip(params.items(), grads):
        assert torch.allclose(adapted[name], p - 0.3 * g, atol=1e-12), name
    model.inner_per_dimension = False                      # the summed loss: a step D times as long
    summed = adapt(model.negative_elbo, params, (neighbours[0], eps), 0.3 / 16)
    for name, p in params.items():
        assert torch.allclose(summed[name], adapted[name], atol=1e-12), name


@pytest.mark.parametrize("first_order", [False, True])
def test_meta_gradient_of_the_linear_gaussian_task_has_its_closed_form(first_order):
    w, support, query = regression_tasks()
    alpha, (Xs, ys), (Xq, yq) = 0.3, support, query
    expected = []
    for i in range(len(Xs)):
        hessian = Xs[i].T @ Xs[i] / Xs.shape[1]
        adapted = w - alpha * Xs[i].T @ (Xs[i] @ w - ys[i]) / Xs.shape[1]
        g_query = Xq[i].T @ (Xq[i] @ adapted - yq[i]) / Xq.shape[1]
        expected.append(g_query if first_order else (torch.eye(3, dtype=torch.float64) - alpha * hessian) @ g_query)
    for objective in (meta_loss, meta_loss_loop):
        gradient, = torch.autograd.grad(objective(regression_loss, {"w": w}, support, query, alpha, first_order), w)
        assert torch.allclose(gradient, torch.stack(expected).mean(0).detach(), atol=1e-12)


def test_first_order_drops_exactly_the_hessian_vector_product():
    model, x, neighbours = tiny_local_vae(alpha=0.05)
    params = {k: v.detach().requires_grad_() for k, v in model.parameters_dict().items()}
    eps, eps_nb = model.draw_noise(x[:1], neighbours[:1], torch.Generator().manual_seed(4))
    support, query = (neighbours[0], eps_nb[0]), (x[:1], eps[:1])
    grads = {}
    for first_order in (False, True):
        adapted = adapt(model.negative_elbo, params, support, 0.05, first_order)
        out = model.negative_elbo(adapted, *query)
        grads[first_order] = torch.autograd.grad(out, list(params.values()))
    # g_q = grad of the query loss at theta'; H_s g_q by double backward of the support loss at theta
    adapted = {k: v.detach().requires_grad_() for k, v in adapt(model.negative_elbo, params, support, 0.05).items()}
    g_query = torch.autograd.grad(model.negative_elbo(adapted, *query), list(adapted.values()))
    g_support = torch.autograd.grad(model.negative_elbo(params, *support), list(params.values()), create_graph=True)
    hvp = torch.autograd.grad(g_support, list(params.values()), grad_outputs=g_query)
    for second, first, gq, hv in zip(grads[False], grads[True], g_query, hvp):
        assert torch.allclose(first, gq, atol=1e-10)                       # first order: g_q alone
        assert torch.allclose(second - first, -0.05 * hv, atol=1e-10)     # the dropped term: -alpha H g_q
    assert max(float(h.abs().max()) for h in hvp) > 1e-3                  # and it is not trivially zero


def assert_same_terms_and_gradients(a, b, atol=1e-10):
    """Two (terms, gradients) pairs of `meta_gradient` agree entry by entry."""
    (terms_a, grads_a), (terms_b, grads_b) = a, b
    for key in terms_a:
        assert torch.allclose(terms_a[key], terms_b[key], atol=atol), key
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], atol=atol), name


@pytest.mark.parametrize("first_order", [False, True])
def test_vmap_and_loop_agree_in_value_and_meta_gradient(first_order):
    model, x, neighbours = tiny_local_vae(alpha=0.1, first_order=first_order)
    terms_v, grads_v = meta_gradient(model, x, neighbours)
    model.vectorised = False
    assert_same_terms_and_gradients((terms_v, grads_v), meta_gradient(model, x, neighbours))


def test_alpha_zero_is_the_vanilla_vae_loss_and_gradients():
    model, x, neighbours = tiny_local_vae(alpha=0.0)
    vae = VAE(model.encoder, model.decoder, model.latent_dim, model.likelihood)
    terms, grads = meta_gradient(model, x, neighbours, seed=5)
    torch.manual_seed(5)
    vae.zero_grad()
    reference = vae.loss(x)
    reference["loss"].backward()
    for key in ("loss", "rec", "kl", "elbo"):
        assert torch.allclose(terms[key], reference[key], rtol=1e-12), key
    for name, p in vae.named_parameters():
        assert torch.allclose(grads[name], p.grad, rtol=1e-12, atol=1e-14), name
    # the general path (vmap over neighbourhoods with a zero step) gives the same numbers
    eps, eps_nb = model.draw_noise(x, neighbours, torch.Generator().manual_seed(6))
    params = model.parameters_dict()
    rec_kl = meta_loss(model.negative_elbo, params, (neighbours, eps_nb), (x, eps), 0.0, query_loss=model._query,
                       reduce=False)
    model.alpha = 0.0
    assert torch.allclose(rec_kl.sum(1).mean(), model.loss(x, neighbours, eps, eps_nb)["loss"], rtol=1e-12)


def test_beta_weights_the_kl_of_the_outer_and_inner_objectives():
    model, x, neighbours = tiny_local_vae(alpha=0.1, beta=4.0)
    eps, eps_nb = model.draw_noise(x, neighbours, torch.Generator().manual_seed(7))
    terms = model.loss(x, neighbours, eps, eps_nb)
    assert torch.allclose(terms["loss"], terms["rec"] + 4.0 * terms["kl"])


# --- using a trained model ----------------------------------------------------------------------------
def test_local_codes_and_conditional_samples_use_the_adapted_parameters():
    model, x, neighbours = tiny_local_vae(alpha=0.2)
    codes = model.local_codes(x, neighbours, chunk=2, generator=torch.Generator().manual_seed(8))
    g = torch.Generator().manual_seed(8)
    by_hand = []
    # one point at a time with `adapted` (its own noise draw), against the vmapped code of that point alone
    for i in range(len(x)):
        local = model.adapted(neighbours[i], generator=torch.Generator().manual_seed(100 + i))
        encoder = {k[len("encoder."):]: v for k, v in local.items() if k.startswith("encoder.")}
        by_hand.append(functional_call(model.encoder, encoder, (x[i:i + 1],))[0, :3])
        single = model.local_codes(x[i:i + 1], neighbours[i:i + 1], generator=torch.Generator().manual_seed(100 + i))
        assert torch.allclose(single[0], by_hand[-1], atol=1e-10)
    assert codes.shape == (5, 3) and not torch.allclose(codes, model.encode(x).mean)
    z = torch.randn(4, 3, dtype=torch.float64, generator=g)
    samples = model.conditional_sample(neighbours[0], z, generator=torch.Generator().manual_seed(9))
    local = model.adapted(neighbours[0], generator=torch.Generator().manual_seed(9))
    decoder = {k[len("decoder."):]: v for k, v in local.items() if k.startswith("decoder.")}
    assert torch.allclose(samples, torch.sigmoid(functional_call(model.decoder, decoder, (z,))))
    model.alpha = 0.0                                      # no adaptation: the meta encoder and decoder
    assert torch.allclose(model.local_codes(x, neighbours), model.encode(x).mean)
    assert torch.allclose(model.conditional_sample(neighbours[0], z), torch.sigmoid(model.decoder(z)))


# --- neighbourhoods -------------------------------------------------------------------------------------
def test_noise_neighbourhoods_are_deterministic_under_a_seed_and_have_the_noise_asked_for():
    x = torch.full((3, 1, 8, 8), 0.5)
    a = noise_neighbourhoods(x, 200, 0.05, generator=torch.Generator().manual_seed(0))
    b = noise_neighbourhoods(x, 200, 0.05, generator=torch.Generator().manual_seed(0))
    c = noise_neighbourhoods(x, 200, 0.05, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 200, 1, 8, 8) and torch.equal(a, b) and not torch.equal(a, c)
    assert abs(float(a.mean()) - 0.5) < 1e-3 and abs(float(a.std()) - 0.05) < 1e-3   # 38,400 draws
    edge = noise_neighbourhoods(torch.ones(2, 1, 4, 4), 5, 0.5, generator=torch.Generator().manual_seed(0))
    assert float(edge.max()) == 1.0 and float(edge.min()) >= 0.0                     # clipped to [0, 1]


def test_knn_indices_are_the_true_nearest_codes():
    codes = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    ours = knn_indices(codes, 5, chunk=64)
    distances, theirs = NearestNeighbors(n_neighbors=6).fit(codes.numpy()).kneighbors(codes.numpy())
    assert np.array_equal(theirs[:, 0], np.arange(300))                                 # sklearn counts the point
    assert np.array_equal(np.sort(ours.numpy(), 1), np.sort(theirs[:, 1:], 1))
    assert not (ours == torch.arange(300)[:, None]).any()                               # never the point itself


def test_latent_knn_table_follows_the_encoder():
    model, _, _ = tiny_local_vae(alpha=0.1)
    images = torch.rand(50, *SHAPE, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    knn = LatentKNN(50, 4, every=10)
    knn.rebuild(model, images, batch_size=16)
    codes = model.encode(images).mean.detach().numpy()
    _, theirs = NearestNeighbors(n_neighbors=5).fit(codes).kneighbors(codes)
    assert np.array_equal(np.sort(knn.table.numpy(), 1), np.sort(theirs[:, 1:], 1))
    batch = knn.neighbours(torch.tensor([3, 7]), images)
    assert batch.shape == (2, 4, *SHAPE) and torch.equal(batch[1], images[knn.table[7]])
    assert "table" in knn.state_dict()                                                  # checkpointed with the model


# --- what one inner step does --------------------------------------------------------------------------
def test_inner_step_sizes_match_a_hand_computed_step_and_scale_with_alpha():
    model, x, neighbours = tiny_local_vae(alpha=0.0)
    rows = model.inner_step_sizes(x, neighbours, [1e-3, 1e-2, 1e3], generator=torch.Generator().manual_seed(4))
    # by hand for example 0, with the noise the method draws (examples' eps first, then the neighbourhoods')
    g = torch.Generator().manual_seed(4)
    eps, eps_nb = model.draw_noise(x, neighbours, g)
    params = {k: v.detach() for k, v in model.parameters_dict().items()}
    step = adapt(model.negative_elbo, params, (neighbours[0], eps_nb[0]), 1e-2)
    dec = [k for k in params if k.startswith("decoder.")]
    ratio0 = float(torch.sqrt(sum((step[k] - params[k]).pow(2).sum() for k in dec))
                   / torch.sqrt(sum(params[k].pow(2).sum() for k in dec)))
    every = []
    for i in range(len(x)):
        s = adapt(model.negative_elbo, params, (neighbours[i], eps_nb[i]), 1e-2)
        every.append(float(torch.sqrt(sum((s[k] - params[k]).pow(2).sum() for k in dec))
                           / torch.sqrt(sum(params[k].pow(2).sum() for k in dec))))
    assert abs(rows[1]["decoder"] - np.mean(every)) < 1e-10 and ratio0 == every[0]
    assert abs(rows[1]["decoder"] / rows[0]["decoder"] - 10) < 1e-8          # linear in alpha
    assert abs(rows[1]["encoder"] / rows[0]["encoder"] - 10) < 1e-8
    # the inner objective before the step is the neighbourhoods' negative ELBO at theta
    before = np.mean([float(model.negative_elbo(params, neighbours[i], eps_nb[i])) for i in range(len(x))])
    assert abs(rows[0]["inner_before"] - before) < 1e-9
    # a tiny step lowers it; an enormous one overshoots
    assert not rows[0]["overshoot"] and rows[0]["inner_after"] < rows[0]["inner_before"]
    assert rows[2]["overshoot"] and rows[2]["max_logit_change"] > rows[1]["max_logit_change"] > rows[0]["max_logit_change"] > 0
    # per dimension = summed alpha / D: the same step
    model.inner_per_dimension = True
    per_dim = model.inner_step_sizes(x, neighbours, [1e-2 * 16], generator=torch.Generator().manual_seed(4))[0]
    assert abs(per_dim["decoder"] - rows[1]["decoder"]) < 1e-10 and abs(per_dim["max_logit_change"] - rows[1]["max_logit_change"]) < 1e-9


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("per_dimension", [False, True])
def test_lowrank_path_equals_the_vmap_path_in_value_and_meta_gradient(first_order, per_dimension):
    """W' h = W h - alpha (sum_k delta_k (h_k . h) + sum_k delta_k): the adapted layers without their weights."""
    model, x, neighbours = tiny_local_vae(alpha=0.3, first_order=first_order, beta=2.0)
    model.inner_per_dimension = per_dimension
    terms_v, grads_v = meta_gradient(model, x, neighbours)
    model.lowrank = True
    terms_r, grads_r = meta_gradient(model, x, neighbours)
    assert_same_terms_and_gradients((terms_v, grads_v), (terms_r, grads_r))
    assert abs(float(terms_r["loss"].detach()) - float(meta_gradient(tiny_local_vae(alpha=0.0)[0], x, neighbours)[0]["loss"].detach())) > 1e-6


def test_lowrank_path_refuses_convolutions():
    from helpers.nets import conv_decoder_28, conv_encoder_28
    from helpers.local.lowrank import supports
    model = LocalVAE(conv_encoder_28(1, 4), conv_decoder_28(2, 1), 2, alpha=0.1, lowrank=True)
    assert not supports(model) and supports(tiny_local_vae(0.1)[0])
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="nn.Linear"):
        model.loss(x, noise_neighbourhoods(x, 2, 0.1))
