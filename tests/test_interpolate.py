"""helpers.interpolate: graph paths follow the data, straight lines do not; exact answers on simple shapes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers.interpolate import (decode_path, graph_path, knn_graph, linear_path, path_length,
                                 resample_path, smoothness, step_sizes)


@pytest.fixture(scope="module")
def circle():
    angles = np.random.default_rng(0).uniform(0, 2 * np.pi, 2000)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_graph_path_on_circle_follows_the_circle_not_the_chord(circle):
    end_angle = 0.9 * np.pi
    start, end = np.array([1.0, 0.0]), np.array([np.cos(end_angle), np.sin(end_angle)])
    path = graph_path(circle, start, end, k=8)
    np.testing.assert_allclose(np.linalg.norm(path.points, axis=1), 1.0, atol=1e-12)  # every node on the circle
    dense = resample_path(path.points, 400)
    assert np.abs(np.linalg.norm(dense, axis=1) - 1).max() < 0.01                  # and every point between
    assert path.length == pytest.approx(end_angle, rel=0.01)                         # the arc, not the chord
    assert path.indices[0] == -1 and path.indices[-1] == -1 and (path.indices[1:-1] >= 0).all()
    chord = linear_path(start, end, 50)
    assert np.linalg.norm(chord, axis=1).min() < 0.2                                  # the line cuts inside
    assert path_length(chord) == pytest.approx(2 * np.sin(end_angle / 2))


def test_graph_path_between_indices_on_a_line_walks_it_in_order():
    order = np.random.default_rng(1).permutation(20)
    points = np.zeros((20, 2))
    points[order, 0] = np.arange(20.0)                          # point order[i] sits at x = i
    path = graph_path(points, order[0], order[-1], k=3)
    assert path.indices[0] == order[0] and path.indices[-1] == order[-1]
    assert (np.diff(path.points[:, 0]) > 0).all()               # never turns back
    np.testing.assert_array_equal(path.points, points[path.indices])
    assert path.length == pytest.approx(19.0)                   # on a line every shortest path has length 19


def test_knn_graph_is_symmetric_with_euclidean_weights():
    points = np.random.default_rng(2).standard_normal((100, 3))
    graph = knn_graph(points, k=5)
    assert (graph != graph.T).nnz == 0
    rows, cols = graph.nonzero()
    np.testing.assert_allclose(graph[rows, cols].A1, np.linalg.norm(points[rows] - points[cols], axis=1))
    assert (np.diff(graph.indptr) >= 5).all()                   # every node keeps its own k neighbours


def test_graph_path_reports_disconnected_graph():
    points = np.concatenate([np.zeros((5, 2)) + np.arange(5)[:, None] * 0.1, np.full((5, 2), 100.0) + np.arange(5)[:, None] * 0.1])
    with pytest.raises(ValueError, match="different components"):
        graph_path(points, 0, 9, k=2)


def test_resample_path_equal_arc_length():
    corner = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]])   # an L of length 4
    np.testing.assert_allclose(resample_path(corner, 5), [[0, 0], [1, 0], [2, 0], [2, 1], [2, 2]])
    np.testing.assert_allclose(linear_path([0, 0], [4, 2], 3), [[0, 0], [2, 1], [4, 2]])


def test_smoothness_known_answers():
    even = np.linspace(0, 1, 11)[:, None] * np.ones((1, 16))    # every frame changes by the same amount
    assert smoothness(even) == pytest.approx(1.0)
    frames = np.cumsum(np.array([0, 1, 1, 1, 1, 6.0]))[:, None, None] * np.ones((1, 4, 4))
    np.testing.assert_allclose(step_sizes(frames), 4 * np.array([1, 1, 1, 1, 6.0]))
    assert smoothness(frames) == pytest.approx(6 / 2)           # largest step 6, mean step 2
    assert smoothness(np.zeros((5, 3))) == 1.0


def test_decode_path_with_network_and_distribution():
    torch.manual_seed(0)
    decoder = nn.Linear(2, 3)
    codes = linear_path([0, 0], [1, 2], 4)
    with torch.no_grad():
        expected = decoder(torch.tensor(codes, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(decode_path(decoder, codes), expected, rtol=1e-6)
    as_distribution = lambda z: torch.distributions.Normal(decoder(z), 1.0)  # noqa: E731
    np.testing.assert_allclose(decode_path(as_distribution, codes, batch_size=3), expected, rtol=1e-6)
