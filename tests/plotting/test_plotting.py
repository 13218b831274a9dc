"""Pictures read back as pixels: the colour at sampled points is the model's prediction."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from polylens import PWLNet, path_crossings, plane_partition  # noqa: E402
from polylens.errors import InvalidParameterError  # noqa: E402
from polylens.plotting import class_colors, class_parts, plot_path_density, plot_plane  # noqa: E402

torch.set_num_threads(1)


def _quick_start_mlp(n_out: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2, 16), torch.nn.ReLU(),
        torch.nn.Linear(16, 16), torch.nn.ReLU(),
        torch.nn.Linear(16, n_out),
    ).double()


def _predict(model, points: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = model(torch.as_tensor(points, dtype=torch.float64)).numpy()
    return (out[:, 0] > 0).astype(int) if out.shape[1] == 1 else out.argmax(axis=1)


def _rendered(ax) -> np.ndarray:
    fig = ax.figure
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float) / 255


def _pixels(ax, points: np.ndarray) -> np.ndarray:
    """Pixel (row, column) of plane points in the rendered canvas."""
    xy = ax.transData.transform(points)
    height = ax.figure.canvas.get_width_height()[1]
    return np.stack([height - xy[:, 1], xy[:, 0]], axis=1)


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of every point (n, 2) to every segment (m, 2)-(m, 2), shape (n,) minimum."""
    ab = b - a
    t = np.clip(np.einsum("nmk,mk->nm", p[:, None, :] - a[None], ab) / np.maximum((ab * ab).sum(1), 1e-300), 0, 1)
    closest = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(p[:, None, :] - closest, axis=2).min(axis=1)


@pytest.mark.parametrize("n_out", [1, 3])
def test_class_colours_at_sampled_pixels_match_the_models_prediction(n_out):
    model = _quick_start_mlp(n_out)
    part = plane_partition(PWLNet.from_torch(model), domain=(-1, 1))
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    plot_plane(part, ax=ax, color_by="class")
    ax.get_legend().remove()  # the legend covers a corner; its own test is below
    image = _rendered(ax)
    points = np.random.default_rng(1).uniform(-0.98, 0.98, (1500, 2))
    # Skip points within 4 pixels of a drawn line (region outlines, the decision boundary).
    edges = np.concatenate([np.stack([p, np.roll(p, -1, axis=0)], 1) for p in part.polygons]
                           + [part.decision_boundary])
    px = _pixels(ax, points)
    edges_px = _pixels(ax, edges.reshape(-1, 2)).reshape(-1, 2, 2)
    far = _segment_distance(px, edges_px[:, 0], edges_px[:, 1]) > 4
    assert far.sum() > 300
    rows, cols = np.round(px[far]).astype(int).T
    drawn = image[rows, cols]
    expected = class_colors(_predict(model, points[far]))[:, :3]
    np.testing.assert_allclose(drawn, expected, atol=0.02)
    plt.close(fig)


def test_points_on_the_far_side_of_the_boundary_are_drawn_in_their_own_class():
    # In the Quick-start MLP these two points are class 0, inside a region whose centroid
    # is class 1: colouring whole regions painted them in class 1's colour.
    model = _quick_start_mlp(3)
    part = plane_partition(PWLNet.from_torch(model), domain=(-1, 1))
    points = np.array([[-0.95, -0.8], [-0.8, -0.9]])
    pieces, classes = class_parts(part)
    from matplotlib.path import Path
    owner = [next(c for poly, c in zip(pieces, classes) if Path(poly).contains_point(p)) for p in points]
    np.testing.assert_array_equal(owner, _predict(model, points))


def test_class_parts_tile_every_region_exactly():
    model = _quick_start_mlp(3)
    part = plane_partition(PWLNet.from_torch(model), domain=(-1, 1))
    pieces, classes = class_parts(part)
    from polylens.geometry.polygons import polygon_area
    assert sum(polygon_area(p) for p in pieces) == pytest.approx(4.0, rel=1e-9)
    assert len(pieces) > part.n_regions  # some regions straddle the decision boundary
    centres = np.array([p.mean(axis=0) for p in pieces])
    np.testing.assert_array_equal(classes, _predict(model, centres))


def test_class_pictures_have_a_legend_and_share_colours_with_the_path_figure():
    model = _quick_start_mlp(3)
    net = PWLNet.from_torch(model)
    part = plane_partition(net, domain=(-1, 1))
    fig, (ax1, ax2) = plt.subplots(1, 2)
    plot_plane(part, ax=ax1, color_by="class")
    path = path_crossings(net, [[-1, -1], [1, 1]])
    plot_path_density(path, ax=ax2)
    plane_legend = {t.get_text(): tuple(h.get_facecolor()) for t, h in
                    zip(ax1.get_legend().get_texts(), ax1.get_legend().legend_handles)}
    path_legend = {t.get_text(): tuple(h.get_facecolor()) for t, h in
                   zip(ax2.get_legend().get_texts(), ax2.get_legend().legend_handles) if t.get_text().startswith("class")}
    assert set(plane_legend) == {f"class {c}" for c in np.unique(class_parts(part)[1])}
    assert path_legend and all(plane_legend[name] == color for name, color in path_legend.items() if name in plane_legend)
    plt.close(fig)


def test_plot_plane_names_a_bad_argument():
    part = plane_partition(PWLNet.from_torch(_quick_start_mlp(1)), domain=(-1, 1))
    with pytest.raises(InvalidParameterError, match="plot_plane: `color_by`"):
        plot_plane(part, color_by="colour")
    with pytest.raises(InvalidParameterError, match="plot_plane: `color_by`"):
        plot_plane(part, color_by=np.zeros(3))
    with pytest.raises(InvalidParameterError, match="plot_plane: `part`"):
        plot_plane("part")
