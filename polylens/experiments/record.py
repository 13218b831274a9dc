"""``report.json``: every headline number of the experiments, over seeds, in plain JSON.

:func:`digits_record` and :func:`language_record` turn the per-seed results of one
architecture into a dict of :class:`~polylens.experiments.replication.SeedSummary`
dicts (mean, spread across seeds, two-stage interval, per-seed values and intervals,
in how many seeds a difference holds) plus the configuration; :func:`write_record` and
:func:`read_record` write and read the whole file. The Markdown of the report and the
README's results section are rendered from this record only
(:mod:`polylens.experiments.results_text`), so every number has one source.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict
from pathlib import Path

import numpy as np

from polylens._files import atomic_output
from polylens.experiments.monosemanticity import METHODS
from polylens.experiments.replication import across_seeds
from polylens.experiments.stats import Estimate, difference_ci, mean_ci

__all__ = ["digits_record", "language_record", "write_record", "read_record", "versions", "SCHEMA"]

SCHEMA = 1
"""Version of the layout of ``report.json``."""


def versions() -> dict:
    """Versions of everything that changes the numbers.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    """
    import sklearn
    import torch

    import polylens

    return {"polylens": getattr(polylens, "__version__", "unknown"), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "sklearn": sklearn.__version__,
            "machine": platform.machine(), "processor": platform.processor() or "unknown"}


def _summary(estimates, seeds, ref=None, n_boot: int = 2000) -> dict:
    return across_seeds(estimates, seeds, ref=ref, n_boot=n_boot).to_dict()


def _plain(value):
    """``value`` with tuples as lists and numpy scalars as Python numbers (JSON-ready)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def digits_record(runs: list) -> dict:
    """The record of one digits architecture over seeds.

    Parameters
    ----------
    runs : list of DigitsResults
        One per seed, same configuration apart from the seed.

    Returns
    -------
    dict
        ``architecture``, ``config``, ``seeds``, ``accuracy``, ``prediction1``,
        ``prediction2``, ``prediction3``, ``seconds``.
        ``prediction1`` holds ``nmf_iterations`` (per seed) and ``nmf_not_converged``
        (seeds whose NMF fit stopped at the iteration limit).

    Raises
    ------
    IndexError
        If ``runs`` is empty.
    """
    cfg = runs[0].config
    seeds = [r.config.seed for r in runs]
    nb = cfg.n_boot
    point = lambda v: Estimate(float(v), (float(v), float(v)), 0.95, 1)  # noqa: E731  (a per-seed constant)

    purity = {}
    diffs = {}
    for method in METHODS:
        purity[method] = _summary([mean_ci(r.groupings.score(method, "class").purity, n_boot=nb, seed=r.config.seed)
                                   for r in runs], seeds)
    for method in METHODS[1:]:
        diffs[method] = _summary([difference_ci(r.groupings.score("spline codes", "class").purity,
                                                r.groupings.score(method, "class").purity, n_boot=nb, seed=r.config.seed)
                                  for r in runs], seeds, ref=0.0)
    hdb = [r.hdbscan for r in runs]
    hdbscan = {
        "min_cluster_size": cfg.hdbscan_min_size,
        "purity": _summary([h.mean for h in hdb], seeds),
        "weighted_purity": _summary([point(h.weighted) for h in hdb], seeds),
        "chance": float(np.mean([h.chance for h in hdb])),
        "n_clusters": [h.n_clusters for h in hdb],
        "noise": [h.noise for h in hdb],
        "minus_neurons": _summary([difference_ci(h.purity, r.groupings.score("neurons", "class").purity, n_boot=nb,
                                                 seed=r.config.seed) if h.purity.size else point(np.nan)
                                   for h, r in zip(hdb, runs)], seeds, ref=0.0),
    }
    prediction1 = {
        "layer": cfg.groups_layer, "n_groups": cfg.n_groups,
        "group_size": [r.groupings.group_size for r in runs],
        "nmf_iterations": [r.groupings.nmf_iterations for r in runs],
        "nmf_not_converged": sum(not r.groupings.nmf_converged for r in runs),
        "chance": float(np.mean([r.groupings.score("spline codes", "class").chance for r in runs])),
        "purity": purity, "codes_minus": diffs, "hdbscan": hdbscan,
    }
    prediction2 = {}
    for space in ("input", "hidden"):
        res = [r.paths[space] for r in runs]
        prediction2[space] = {
            "layer": res[0].layer,
            "ratio": _summary([p.contrast.ratio for p in res], seeds, ref=1.0),
            "permuted": _summary([p.contrast.permuted for p in res], seeds, ref=1.0),
            "uniform": _summary([p.contrast.uniform for p in res], seeds, ref=1.0),
            "excess": _summary([p.contrast.excess for p in res], seeds, ref=1.0),
            "excess_by_window": {f"{w:g}": _summary([p.by_window[w].excess for p in res], seeds, ref=1.0)
                                 for w in cfg.windows},
            "excess_exact": _summary([p.contrast_exact.excess for p in res], seeds, ref=1.0),
            "middle_third": float(np.mean([np.mean([(1 / 3 <= x <= 2 / 3) for c in p.changes for x in c])
                                           for p in res])),
            "agreement": [float(p.agreement.mean()) if len(p.exact) else None for p in res],
            "n_paths": [p.contrast.n_paths for p in res],
            "exact_crossings": [float(p.exact_crossings.mean()) if len(p.exact) else None for p in res],
        }
    scal = [r.scaling for r in runs]
    top = float(scal[0].scales[-1])
    prediction3 = {
        "layer": cfg.hidden, "top": top, "n_inputs": int(scal[0].first_change_up.size),
        "changed_top": _summary([s.changed_estimates[-1] for s in scal], seeds, ref=0.0),
        "changed_zero": _summary([s.changed_estimates[0] for s in scal], seeds, ref=0.0),
        "code_change_top": _summary([point(s.code_change[-1]) for s in scal], seeds),
        "exact_above": [float(s.exact_above.mean()) if s.exact_above.size else None for s in scal],
        "peak_density": [float(np.nanmax(s.density)) for s in scal],
        "last_density": [float(s.density[-1]) for s in scal],
    }
    return _plain({
        "architecture": cfg.architecture,
        "config": {k: v for k, v in asdict(cfg).items() if k != "seed"},
        "seeds": seeds,
        "accuracy": {"test": _summary([point(r.model.test_accuracy) for r in runs], seeds),
                     "train": _summary([point(r.model.train_accuracy) for r in runs], seeds)},
        "prediction1": prediction1, "prediction2": prediction2, "prediction3": prediction3,
        "seconds": {k: float(sum(r.seconds[k] for r in runs)) for k in runs[0].seconds},
    })


def language_record(runs: list, *, name: str, protocol: str, config: dict) -> dict:
    """The record of one language model (or size) over seeds, under one token protocol.

    Parameters
    ----------
    runs : list of LanguageResult
        One per seed.
    name : str
    protocol : str
        ``"all"`` (every token) or ``"spaced"`` (the paper's).
    config : dict
        What to record of the configuration.

    Returns
    -------
    dict
        Per layer and label set: purity of every method, spline codes minus each other
        method, HDBSCAN purity; ``nmf_iterations`` (per seed, per layer) and
        ``nmf_not_converged`` (fits that stopped at the iteration limit).

    Raises
    ------
    IndexError
        If ``runs`` is empty.
    KeyError, StopIteration
        If a layer of a run lacks the ``"token"`` or ``"category"`` label set (its grouping
        scores, its HDBSCAN score).
    """
    seeds = [r.seed for r in runs]
    layers = []
    for k in range(len(runs[0].layers)):
        per = {}
        for labels in ("token", "category"):
            comp = [r.layers[k].comparison for r in runs]
            hdb = [next(h for h in r.layers[k].hdbscan if h.labels == labels) for r in runs]
            per[labels] = {
                "purity": {m: _summary([mean_ci(c.score(m, labels).purity, seed=s) for c, s in zip(comp, seeds)], seeds)
                           for m in METHODS},
                "codes_minus": {m: _summary([difference_ci(c.score("spline codes", labels).purity,
                                                           c.score(m, labels).purity, seed=s)
                                             for c, s in zip(comp, seeds)], seeds, ref=0.0) for m in METHODS[1:]},
                "chance": float(np.mean([c.score("spline codes", labels).chance for c in comp])),
                "hdbscan": {"purity": _summary([h.mean for h in hdb], seeds),
                            "chance": float(np.mean([h.chance for h in hdb])),
                            "n_clusters": [h.n_clusters for h in hdb], "noise": [h.noise for h in hdb]},
            }
        layers.append(per)
    return _plain({"model": name, "protocol": protocol, "approximate": runs[0].approximate, "config": config,
                   "seeds": seeds, "n_tokens": [r.n_tokens for r in runs], "layers": layers,
                   "nmf_iterations": [[layer.comparison.nmf_iterations for layer in r.layers] for r in runs],
                   "nmf_not_converged": sum(not layer.comparison.nmf_converged for r in runs for layer in r.layers),
                   "notes": [r.notes for r in runs], "seconds": float(sum(r.seconds for r in runs))})


def write_record(record: dict, path: str | Path) -> Path:
    """Write ``record`` as indented JSON (atomically).

    Raises
    ------
    TypeError
        If ``record`` holds a value JSON cannot encode.
    OSError
        If the folder of ``path`` cannot be created or the file cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(_plain(record), indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return path


def read_record(path: str | Path) -> dict:
    """Read a ``report.json``.

    Raises
    ------
    OSError
        If ``path`` cannot be read (``FileNotFoundError`` when it is missing).
    json.JSONDecodeError
        If the file is not JSON (a ``ValueError``).
    """
    return json.loads(Path(path).read_text(encoding="utf-8"))
