"""The polytope-lens experiments on real data, as reusable functions.

* :mod:`polylens.experiments.monosemanticity` -- groupings of a layer's inputs (spline
  codes, activations, neurons, NMF) scored by label purity.
* :mod:`polylens.experiments.boundaries` -- boundary density near class changes along
  paths, against shuffled-position baselines.
* :mod:`polylens.experiments.stats` -- bootstrap confidence intervals.
* :mod:`polylens.experiments.replication` -- seeds as the unit of replication: a
  two-stage bootstrap over independently trained models.
* :mod:`polylens.experiments.record` -- ``report.json``: every headline number over
  seeds; :mod:`polylens.experiments.results_text` renders it (report and README).
* :mod:`polylens.experiments.digits` -- the image-classifier experiments on
  scikit-learn's digits (density along interpolations, activation scaling,
  monosemanticity); :mod:`polylens.experiments.figures` draws them.
* :mod:`polylens.experiments.language` -- the language-model experiments.
* :mod:`polylens.experiments.report` -- ``polylens report``: every experiment over seeds
  and architectures, figures, ``report.md`` and ``report.json``.

Nothing is imported here: each module loads its heavy dependencies on use.
"""
