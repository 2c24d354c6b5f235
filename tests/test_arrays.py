"""helpers.arrays.as_array, the one validator of the metrics' and the interpolation's inputs: each caller's
error names its argument and the shape it expected, as before the copies were merged."""
import numpy as np
import pytest
import torch

from helpers import interpolate
from helpers.arrays import as_array
from helpers.metrics import disentanglement, frechet, latent, precision_recall  # the last, a function


def test_tensors_and_lists_become_float64_arrays():
    out = as_array(torch.ones(3, 2), "x")
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (3, 2)
    assert as_array(np.array([[1, 2]]), "x", dtype=None).dtype.kind == "i"
    assert as_array(np.arange(4), "x", columns=True).shape == (4, 1)
    assert as_array(np.ones((2, 3, 4)), "x", shape=None).shape == (2, 3, 4)


@pytest.mark.parametrize("call, message", [
    (lambda: interpolate.knn_graph(np.ones(5)), r"codes must be an \[N, latent_dim\] array, got shape \(5,\)"),
    (lambda: interpolate.path_length(np.ones(3)), r"points must be an \[N, latent_dim\] array, got shape \(3,\)"),
    (lambda: interpolate.knn_graph(np.full((4, 2), np.nan)), "codes contains NaN or inf"),
    (lambda: frechet.frechet_distance(np.ones((1, 2)), np.ones((3, 2))),
     r"feats_a must be an \[N, dims\] array with N >= 2, got shape \(1, 2\)"),
    (lambda: frechet.frechet_distance(np.ones((3, 2)), np.full((3, 2), np.inf)), "feats_b contains NaN or inf"),
    (lambda: precision_recall(np.ones(4), np.ones((4, 2))),
     r"real_feats must be an \[N, dims\] feature array, got shape \(4,\)"),
    (lambda: precision_recall(np.ones((4, 2)), np.full((4, 2), np.nan)), "fake_feats contains NaN"),
    (lambda: latent.activity(np.full((4, 2), np.nan)), "posterior_means contains NaN or inf"),
    (lambda: disentanglement.discretize(np.ones((2, 2, 2))), r"values must be an \[N, dims\] array, got shape"),
])
def test_each_caller_names_its_argument_and_the_shape(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_disentanglement_keeps_the_dtype_and_makes_columns():
    assert disentanglement.factors_as_classes(np.array([0, 1, 1, 0])).shape == (4, 1)
