"""The same measurements over a sequence of checkpoints of one model.

:func:`training_measurements` takes the checkpoints of a training run (modules, or
state dicts with a template module) and measures each one exactly in a bounded domain:
regions, mean Chebyshev radius, degree statistics, diameter, and for 2-D and 3-D
classifiers the components of every class's decision region and the Betti numbers of
the decision boundary; with data, the regions that hold data and the local complexity
around it (distinct codes among samples in a small ball around each point, the
sampling estimate of :func:`polylens.local_complexity`). The result is a table
(:meth:`TrainingTable.to_markdown`) and a figure (:meth:`TrainingTable.plot`).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_array, check_int, check_number, invalid

__all__ = ["training_measurements", "TrainingTable", "COLUMNS"]

#: Columns of a :class:`TrainingTable`, in order.
COLUMNS = ("epoch", "regions", "mean_radius", "mean_degree", "max_degree", "diameter", "boundary_regions",
           "class_components", "boundary_b0", "boundary_b1", "data_regions", "local_complexity", "seconds")


@short_repr
@dataclass(frozen=True)
class TrainingTable:
    """One row of measurements per checkpoint.

    Attributes
    ----------
    columns : tuple of str
        See :data:`COLUMNS`. ``class_components`` is the total over classes;
        ``boundary_regions`` the regions of the class-refined partition that touch the
        decision boundary; entries that do not apply are NaN.
    values : ndarray of shape (n_checkpoints, n_columns)
    per_class_components : list of dict
        Class -> components, per checkpoint.
    """

    columns: tuple
    values: np.ndarray
    per_class_components: list

    def column(self, name: str) -> np.ndarray:
        """The values of column ``name``, one per checkpoint, shape (n_checkpoints,).

        Raises
        ------
        InvalidParameterError
            If ``name`` is not one of :attr:`columns`.
        """
        if name not in self.columns:
            raise invalid("TrainingTable.column", "name", f"one of {list(self.columns)}", name)
        return self.values[:, self.columns.index(name)]

    def to_markdown(self) -> str:
        """A Markdown table (integers without decimals, NaN as an en dash).

        Raises
        ------
        None
            Nothing of its own (its inputs are checked by the functions that make them).
        """
        head = "| " + " | ".join(self.columns) + " |\n|" + "---|" * len(self.columns) + "\n"
        rows = []
        for row in self.values:
            cells = []
            for name, v in zip(self.columns, row):
                if not np.isfinite(v):
                    cells.append("–")
                elif name in ("mean_radius", "mean_degree", "local_complexity", "seconds"):
                    cells.append(f"{v:.3g}")
                else:
                    cells.append(str(int(v)))
            rows.append("| " + " | ".join(cells) + " |")
        return head + "\n".join(rows) + "\n"

    def plot(self, columns=("regions", "mean_degree", "class_components", "boundary_b1", "local_complexity"),
             ax=None):
        """Each column against the epoch, one panel per column; returns the figure.

        Raises
        ------
        InvalidParameterError
            If a name in ``columns`` is not a column of the table (from :meth:`column`).
        """
        import matplotlib.pyplot as plt

        columns = [c for c in columns if np.any(np.isfinite(self.column(c)))]
        if ax is None:
            fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3))
        else:
            axes, fig = np.atleast_1d(ax), np.atleast_1d(ax)[0].figure
        epoch = self.column("epoch")
        for a, name in zip(np.atleast_1d(axes), columns):
            a.plot(epoch, self.column(name), marker="o")
            a.set_xlabel("epoch")
            a.set_title(name.replace("_", " "))
        fig.tight_layout()
        return fig


def training_measurements(checkpoints, domain, *, model=None, epochs=None, data=None, labels=None,
                          radius: float = 0.05, n_samples: int = 64, max_points: int = 50,
                          max_regions: int | None = None) -> TrainingTable:
    """Measure every checkpoint of a training run exactly.

    Parameters
    ----------
    checkpoints : sequence of torch.nn.Module or of state dicts
    domain : Box, Polyhedron or (lo, hi)
        A bounded domain of the input space.
    model : torch.nn.Module, optional
        Template that state dicts are loaded into (a copy; the model is not touched).
    epochs : sequence of float, optional
        Epoch of each checkpoint (default 0, 1, 2, ...).
    data : array-like of shape (n, input_dim), optional
    labels : array-like of shape (n,), optional
    radius : float, default=0.05
        Ball radius of the local complexity.
    n_samples : int, default=64
        Samples per ball.
    max_points : int, default=50
        Data points the local complexity is averaged over (the first ones).
    max_regions : int, optional
        Budget per enumeration (a partial one fills the row with what it found and NaN
        topology).

    Returns
    -------
    TrainingTable

    Raises
    ------
    InvalidParameterError
        If ``domain`` is unbounded, ``checkpoints`` is empty, or another argument is
        invalid.
    """
    import torch

    from polylens.geometry.domain import as_domain
    from polylens.geometry.enumeration import enumerate_regions
    from polylens.models.pwlnet import PWLNet
    from polylens.sampling.density import local_complexity
    from polylens.studies.statistics import data_regions, graph_statistics
    from polylens.studies.topology import decision_topology

    func = "training_measurements"
    domain = as_domain(domain, func=func)
    if domain is None:
        raise invalid(func, "domain", "a bounded domain (a Box, a Polyhedron or a (lo, hi) pair)", None)
    radius = check_number(radius, func=func, name="radius", low=0.0, low_open=True)
    n_samples = check_int(n_samples, func=func, name="n_samples", low=1)
    max_points = check_int(max_points, func=func, name="max_points", low=1)
    max_regions = check_int(max_regions, func=func, name="max_regions", low=1, none_ok=True)
    checkpoints = list(checkpoints)
    if not checkpoints:
        raise invalid(func, "checkpoints", "a non-empty sequence", checkpoints)
    epochs = np.arange(len(checkpoints), dtype=float) if epochs is None else check_array(
        epochs, func=func, name="epochs", shape=(len(checkpoints),))
    if data is not None:
        data = check_array(data, func=func, name="data", ndim=2)
    rows, per_class = [], []
    for epoch, ckpt in zip(epochs, checkpoints):
        start = time.perf_counter()
        module = _module(ckpt, model, func)
        net = PWLNet.from_torch(module)
        res = enumerate_regions(net, domain, max_regions=max_regions, progress=False)
        stats = graph_statistics(res)
        row = dict.fromkeys(COLUMNS, np.nan)
        row.update(epoch=epoch, regions=res.n_regions, mean_radius=float(np.mean(res.radii)),
                   mean_degree=stats.mean_degree, max_degree=int(stats.degrees.max(initial=0)),
                   diameter=stats.diameter if stats.diameter >= 0 else np.nan)
        comps = {}
        if res.complete and net.input_dim in (2, 3):
            topo = decision_topology(net, domain, progress=False)
            comps = topo.class_components
            betti = topo.decision_boundary_betti
            touched = np.unique(topo.boundary_edges)
            row.update(class_components=sum(comps.values()), boundary_b0=betti[0], boundary_b1=betti[1],
                       boundary_regions=touched.size)
        if data is not None:
            row["data_regions"] = data_regions(res, data, labels).n_data_regions
            counts = [local_complexity(module, torch.as_tensor(x, dtype=torch.float32), radius=radius,
                                       n_samples=n_samples, seed=i, progress=False).n_distinct
                      for i, x in enumerate(data[:max_points])]
            row["local_complexity"] = float(np.mean(counts))
        row["seconds"] = time.perf_counter() - start
        rows.append([row[c] for c in COLUMNS])
        per_class.append(comps)
    return TrainingTable(COLUMNS, np.array(rows, dtype=np.float64), per_class)


def _module(ckpt, model, func: str):
    import torch

    if isinstance(ckpt, torch.nn.Module):
        return ckpt.eval()
    if isinstance(ckpt, dict):
        if model is None:
            raise invalid(func, "model", "a template module when checkpoints are state dicts", None)
        module = copy.deepcopy(model)
        module.load_state_dict(ckpt)
        return module.eval()
    raise invalid(func, "checkpoints", "modules or state dicts", type(ckpt).__name__)
