"""Importance-sampled log-likelihood of a latent-variable model (Burda, Grosse & Salakhutdinov 2016).

Source: Y. Burda, R. Grosse, R. Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016,
https://arxiv.org/abs/1509.00519

For any proposal q(z|x) that covers the posterior,

    p(x) = E_{z ~ q(z|x)} [ p(x, z) / q(z|x) ],

so with S samples and log-weights  log w_s = log p(x, z_s) - log q(z_s|x),

    log p(x) ~= log (1/S) sum_s w_s = logsumexp_s(log w_s) - log S.            (IWAE bound L_S)

E[L_S] <= log p(x) for every S (Jensen), L_1 is the ELBO, and L_S -> log p(x) as S grows; the
papers report -L_5000 as "the" test NLL (e.g. Table 1 of Klushyn et al., "Learning Hierarchical
Priors in VAEs", NeurIPS 2019, https://arxiv.org/abs/1905.04982: 5,000 samples).

Every model in the course provides `model.log_importance_weights(x, n_samples)`, the
[n_samples, batch] matrix of log w_s. This module only sums them up, carefully: in log space, with no
constant dropped, and in chunks so that 5,000 samples of a large batch never sit in memory at once.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..precision import wide_dtype

from ..runtime import without_distribution_checks


def _model_device_dtype(model) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's first floating parameter or buffer (CPU / default otherwise)."""
    tensors = list(model.parameters()) + list(model.buffers()) if isinstance(model, torch.nn.Module) else []
    for tensor in tensors:
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def _log_weights(model, x: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Call the model's `log_importance_weights` and check the [n_samples, batch] contract."""
    if not hasattr(model, "log_importance_weights"):
        raise TypeError(f"{type(model).__name__} has no `log_importance_weights(x, n_samples)`; a model must "
                        "return the [n_samples, batch] tensor of log p(x, z_s) - log q(z_s|x), z_s ~ q(z|x)")
    log_w = model.log_importance_weights(x, n_samples)
    if tuple(log_w.shape) != (n_samples, x.shape[0]):
        raise ValueError(f"log_importance_weights returned shape {tuple(log_w.shape)}, expected "
                         f"[n_samples, batch] = [{n_samples}, {x.shape[0]}]")
    return log_w


def _chunked_log_mean_exp(model, x: torch.Tensor, n_samples: int, chunk_size: int) -> torch.Tensor:
    """log (1/S) sum_s w_s for one batch, drawing the S samples chunk by chunk.

    logsumexp over all S samples = logsumexp over the chunks' own logsumexps, so chunking changes
    the memory needed (chunk_size x batch x model size), not the estimate.
    """
    chunk_lse = []
    for start in range(0, n_samples, chunk_size):
        size = min(chunk_size, n_samples - start)
        log_w = _log_weights(model, x, size)
        log_w = log_w.to(wide_dtype(log_w.device))   # float64 where the device has it: sums of 5000 terms stay exact
        chunk_lse.append(torch.logsumexp(log_w, dim=0))
    return torch.logsumexp(torch.stack(chunk_lse), dim=0) - math.log(n_samples)   # L_S = lse - log S


def _batches(data, batch_size: int):
    """Yield tensors of examples from a Tensor / array, a Dataset (with `.images` or indexable) or a DataLoader."""
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, torch.Tensor):
        for start in range(0, len(data), batch_size):
            yield data[start:start + batch_size]
        return
    if hasattr(data, "images"):                               # a course Dataset: images as one tensor
        for x in _batches(torch.as_tensor(data.images), batch_size):
            yield x.float() / 255.0 if x.dtype == torch.uint8 else x   # pixels stored as bytes
        return
    if not isinstance(data, torch.utils.data.DataLoader):
        if not isinstance(data, torch.utils.data.Dataset):
            raise TypeError(f"nll needs a Tensor, an array, a Dataset or a DataLoader, got {type(data).__name__}")
        data = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    for item in data:                                         # a loader yields x, (x, y, ...) or {"x": ...}
        if isinstance(item, dict):
            item = item.get("x", item.get("images"))
        elif isinstance(item, (tuple, list)):
            item = item[0]
        yield torch.as_tensor(item)


def iwae_bound(model, x: torch.Tensor, k: int, chunk_size: int = 100) -> torch.Tensor:
    """Burda et al. (2016), eq. 8: L_k(x) = log (1/k) sum_{s<=k} w_s, one value per example of the batch.

    A stochastic lower bound on log p(x) in expectation; k = 1 gives the ELBO. Gradients flow if the
    caller has them enabled (use it as a training objective); `nll` wraps it for evaluation.
    """
    if k < 1:
        raise ValueError(f"k must be a positive number of importance samples, got {k}")
    device, dtype = _model_device_dtype(model)
    x = torch.as_tensor(x).to(device=device, dtype=dtype)
    return _chunked_log_mean_exp(model, x, k, chunk_size).to(dtype)


def nll(model, data, n_samples: int = 5000, batch_size: int = 100, chunk_size: int = 100,
        return_per_example: bool = False):
    """Importance-sampled negative log-likelihood -log p(x) in nats per example (Burda et al. 2016).

    -L_S(x) = -(logsumexp_s log w_s - log S) with S = `n_samples` draws from the model's own q(z|x),
    averaged over the examples of `data` (a Tensor, a Dataset with `.images`, or a DataLoader).

    The model is put in eval mode for the estimate (dropout / batch-norm off) and left in the mode
    it had; no gradients are kept. Memory is bounded by `batch_size` x `chunk_size` samples at a time.
    Returns the mean as a float, or (mean, per-example numpy array) with `return_per_example=True`.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    device, dtype = _model_device_dtype(model)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    per_example = []
    try:
        with torch.no_grad(), without_distribution_checks():
            for x in _batches(data, batch_size):
                x = x.to(device=device, dtype=dtype, non_blocking=True)
                log_px = _chunked_log_mean_exp(model, x, n_samples, chunk_size)
                per_example.append(-log_px)   # stays on the device: one copy to the host at the end
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    if not per_example:
        raise ValueError("nll got no examples: `data` is empty")
    per_example = torch.cat(per_example).cpu().numpy()
    mean = float(per_example.mean())
    return (mean, per_example) if return_per_example else mean
