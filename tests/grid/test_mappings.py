"""The mappings' geometry in latent space (the engine tests check it on rendered audio)."""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.errors import LiveEngineError
from liveengine.grid.mappings import CornersMapping, DirectMapping, GridSetting, LibraryMapping, PlaneMapping, mix, slerp, variation
from liveengine.grid.som import fit_som, nearest_items, topographic_error


def test_pads_sit_on_the_view_plane_row_zero_at_the_bottom():
    setting = GridSetting(4, 4)
    xy = setting.view(setting.pad_uv())
    np.testing.assert_allclose(xy[setting.pad_index(0, 0)], [-2, -2])
    np.testing.assert_allclose(xy[setting.pad_index(3, 3)], [2, 2])
    np.testing.assert_allclose(xy[setting.pad_index(3, 0)], [-2, 2])  # top left: high y


def test_zoom_rotation_and_centre_move_the_view():
    base = GridSetting(5, 5)
    zoomed = base.with_param("zoom", 2.0).view(base.pad_uv())
    np.testing.assert_allclose(zoomed, base.view(base.pad_uv()) / 2)
    turned = base.with_param("rotation", 90.0)
    np.testing.assert_allclose(turned.view(np.array([1.0, 0.5])), [0, 2], atol=1e-12)  # the right edge turns to the top
    moved = base.with_param("center_x", 1.5).view(np.array([0.5, 0.5]))
    np.testing.assert_allclose(moved, [1.5, 0])


def test_plane_runs_along_the_axes_through_the_origin():
    mapping = PlaneMapping(4, origin=np.array([1.0, 0, 0, 0]), axes=np.array([[0, 2.0, 0, 0], [0, 0, 0, 0.5]]))
    np.testing.assert_allclose(mapping.to_latent(np.array([[1.0, -2.0]])), [[1, 2, 0, -1]])


def test_direct_needs_a_two_dimensional_latent_space():
    np.testing.assert_allclose(DirectMapping(2).to_latent(np.array([[0.5, -1.0]])), [[0.5, -1.0]])
    with pytest.raises(LiveEngineError, match="2-D latent space.*8 dimensions"):
        DirectMapping(8)


def test_slerp_keeps_the_norm_between_points_of_equal_norm_and_hits_its_ends():
    a, b = np.array([[3.0, 0, 0]]), np.array([[0, 3.0, 0]])
    for t in (0.0, 0.25, 0.5, 1.0):
        assert np.linalg.norm(slerp(a, b, np.array([t]))) == pytest.approx(3.0)
    np.testing.assert_allclose(slerp(a, b, np.array([0.0])), a)
    np.testing.assert_allclose(slerp(a, b, np.array([1.0])), b, atol=1e-12)
    np.testing.assert_allclose(slerp(a, a, np.array([0.3])), a)  # parallel: no division by zero


def test_corners_sit_at_the_corners_and_interpolate_between():
    anchors = np.array([[1.0, 0], [0, 1.0], [-1.0, 0], [0, -1.0]])
    mapping = CornersMapping(anchors, np.zeros(2))
    setting = GridSetting(4, 4)
    points = mapping.to_latent(setting.view(setting.pad_uv()))
    for (row, col), anchor in zip([(0, 0), (0, 3), (3, 0), (3, 3)], anchors):
        np.testing.assert_allclose(points[setting.pad_index(row, col)], anchor, atol=1e-6)
    # Outside the square (zoomed out) the edges hold.
    far = mapping.to_latent(np.array([[-9.0, -9.0]]))
    np.testing.assert_allclose(far[0], anchors[0], atol=1e-6)


def test_library_nodes_interpolate_and_name_their_nearest_sample():
    nodes = np.arange(2 * 2 * 3, dtype=np.float64).reshape(2, 2, 3)
    mapping = LibraryMapping(nodes, (("a.wav", 0.0), ("b.wav", 0.0), ("c.wav", 0.0), ("d.wav", 0.5)))
    np.testing.assert_allclose(mapping.to_latent(np.array([[-2.0, -2.0], [2.0, 2.0]])), [nodes[0, 0], nodes[1, 1]])
    np.testing.assert_allclose(mapping.to_latent(np.array([[0.0, 0.0]]))[0], nodes.mean(axis=(0, 1)))
    assert mapping.nearest_sample(7, 7, 8, 8) == ("d.wav", 0.5)


def test_som_keeps_neighbouring_sounds_on_neighbouring_nodes():
    # Encodings on a curved sheet in 4-D: the fitted map must keep neighbours together.
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, 500), rng.uniform(-1, 1, 500)
    data = np.stack([x, y, x * y, np.sin(2 * x)], axis=1)
    nodes = fit_som(data, 6, 6)
    assert nodes.shape == (6, 6, 4)
    shuffled = rng.permutation(nodes.reshape(36, 4)).reshape(6, 6, 4)
    assert topographic_error(nodes, data) < 0.1 < topographic_error(shuffled, data)
    # Every node's nearest real sound exists, and the map spans the data.
    nearest = nearest_items(nodes, data)
    assert nearest.min() >= 0 and nearest.max() < 500
    assert np.ptp(x[nearest]) > 1.2 and np.ptp(y[nearest]) > 1.2


def test_som_needs_two_sounds():
    with pytest.raises(LiveEngineError, match="at least 2"):
        fit_som(np.zeros((1, 4)), 4, 4)


def test_variation_is_seeded_per_pad_and_count():
    base = np.zeros(8, np.float32)
    first = variation(base, 0.5, seed=3, pad=7, count=0)
    np.testing.assert_array_equal(first, variation(base, 0.5, seed=3, pad=7, count=0))
    assert not np.allclose(first, variation(base, 0.5, seed=3, pad=7, count=1))
    assert not np.allclose(first, variation(base, 0.5, seed=4, pad=7, count=0))
    assert not np.allclose(first, variation(base, 0.5, seed=3, pad=6, count=0))
    assert 0.2 < np.std(np.stack([variation(base, 0.5, 1, 0, k) for k in range(200)])) < 0.8
    np.testing.assert_array_equal(variation(base, 0.0, 3, 7, 5), base)


def test_mix_is_a_weighted_sum_with_negative_weights():
    points = np.array([[1.0, 0], [0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(mix(points, np.array([1.0, 1.0, -1.0])), [0, 0], atol=1e-7)
    np.testing.assert_allclose(mix(points[:2], np.array([0.25, 0.75])), [0.25, 0.75])
