"""``polylens report``: run the experiments over seeds and architectures, write figures,
``report.md`` and ``report.json``.

:func:`write_report` trains every digits CNN of :data:`~polylens.experiments.digits.ARCHITECTURES`
from several seeds (:func:`polylens.experiments.digits.run_digits_seeds`; trained models
are cached by configuration), summarises every headline number across seeds
(:mod:`polylens.experiments.record`, :mod:`polylens.experiments.replication`), draws the
figures of the reference model (the first architecture, first seed) and writes
``report.json`` (every number, interval, seed, configuration and version) and
``report.md``: the across-seeds tables (:func:`polylens.experiments.results_text.seeds_markdown`),
then the detail of the reference model, prediction by prediction, where the wording
follows the numbers. Without ``quick`` it adds the language models
(:func:`polylens.experiments.language_report.language_part`), run in a second process
while the digits part runs.
"""

from __future__ import annotations

import platform
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from polylens._validation import check_bool, check_int
from polylens.experiments.boundaries import BoundaryContrast
from polylens.experiments.digits import (
    ARCHITECTURES,
    DigitsConfig,
    DigitsResults,
    InterpolationDensity,
    run_digits,
    run_digits_seeds,
)
from polylens.experiments.figures import save_digits_figures
from polylens.experiments.stats import Estimate, difference_ci

__all__ = ["write_report", "digits_section", "COMMANDS", "DIGITS_SEEDS", "LANGUAGE_SEEDS", "QUICK_SEEDS"]

COMMANDS = {
    "quick report (one digits CNN, two seeds, about a minute)": "polylens report --out DIR --quick",
    "full report (three digits CNNs, five seeds; the language models, three seeds)": "polylens report --out DIR",
    "the digits experiments alone, with their figures": "python examples/polytope_lens_digits.py --out DIR",
}
"""What reproduces the report, by purpose."""

DIGITS_SEEDS = 5
"""Digits models trained per architecture in a full report."""
LANGUAGE_SEEDS = 3
"""ReLU language models trained per size in a full report."""
QUICK_SEEDS = 2
"""Digits models trained in a quick report."""


def write_report(out: Path | str, *, quick: bool = False, seeds: int | None = None, progress: bool = True,
                 config: DigitsConfig | None = None, architectures=None, language_config=None,
                 language_sizes=None, threads: int | None = 1, cache: Path | str | None = None,
                 parallel: bool = True, language: bool = True, workers: int | None = None,
                 command: str | None = None) -> Path:
    """Run the experiments and write ``out/report.md``, ``out/report.json`` and the PNG figures.

    Parameters
    ----------
    out : path
        Folder (created if missing).
    quick : bool, default=False
        One digits CNN (the first architecture) with :meth:`DigitsConfig.quick` and
        :data:`QUICK_SEEDS` seeds, no language models (about a minute on two free cores).
    seeds : int, optional
        Models trained per architecture: default :data:`DIGITS_SEEDS` for the digits CNNs
        and :data:`LANGUAGE_SEEDS` for the ReLU language models (:data:`QUICK_SEEDS` with
        ``quick``); a number given here is used for both.
    progress : bool, default=True
    config : DigitsConfig, optional
        Sizes of the digits experiments (``DigitsConfig.tiny()`` for a smoke test); its
        architecture and seed are replaced per run. Default ``DigitsConfig.replicated()``
        (``DigitsConfig.quick()`` with ``quick``).
    architectures : sequence of str, optional
        Keys of :data:`~polylens.experiments.digits.ARCHITECTURES`; default all of them
        (the first with ``quick``).
    language_config : LanguageConfig, optional
    language_sizes : dict of str to LMConfig, optional
        Default :data:`polylens.experiments.language.LM_SIZES`.
    threads : int or None, default=1
        Torch threads while the experiments run (restored afterwards; None leaves them
        alone). The exact engine runs many small torch operations, which more threads
        only slow down.
    cache : path, optional
        Folder of trained models (digits and language), default ``out / "cache"``.
    parallel : bool, default=True
        Run the language part in a second process while the digits part runs.
    workers : int, optional
        Processes for the digits models: with more than 1, every (architecture, seed)
        run is a job for a pool of that many processes (the widest architectures
        first), each run computed exactly as in this process. Default: the CPUs this
        process may use, less one for the language part when it runs in a second
        process (so 2 for the digits part alone on two cores, 1 beside the language
        part).
    language : bool, default=True
        Without ``quick``: also run the language models (False: the full digits part
        alone, recorded as kind ``"digits"``).
    command : str, optional
        The command line recorded in ``report.json``.

    Returns
    -------
    Path
        The written ``report.md``.

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``quick``, ``parallel`` or ``language`` is not a bool, ``seeds`` not None or a
        positive int, ``workers`` or ``threads`` not a positive int, or ``architectures``
        holds a name that is not a key of ``ARCHITECTURES``; also as the experiments
        (:func:`~polylens.experiments.digits.run_digits_seeds`,
        :func:`~polylens.experiments.language_report.language_part`) for a configuration
        they refuse.
    ImportError
        If scikit-learn or matplotlib (or, for the language part, ``tokenizers``) is not
        installed.
    OSError
        If ``out`` or ``cache`` cannot be created or written.
    """
    from polylens.experiments.record import digits_record, versions, write_record
    from polylens.experiments.results_text import seeds_markdown

    start = time.perf_counter()
    quick = check_bool(quick, func="write_report", name="quick")
    parallel = check_bool(parallel, func="write_report", name="parallel")
    with_language = check_bool(language, func="write_report", name="language") and not quick
    seeds = check_int(seeds, func="write_report", name="seeds", low=1, none_ok=True)
    workers = check_int(workers, func="write_report", name="workers", low=1, none_ok=True)
    n_digits = seeds or (QUICK_SEEDS if quick else DIGITS_SEEDS)
    n_language = seeds or LANGUAGE_SEEDS
    archs = list(architectures) if architectures is not None else list(ARCHITECTURES)[:1 if quick else None]
    for a in archs:
        if a not in ARCHITECTURES:
            from polylens._validation import invalid

            raise invalid("write_report", "architectures", f"keys of ARCHITECTURES {list(ARCHITECTURES)}", a)
    base = config if config is not None else (DigitsConfig.quick() if quick else DigitsConfig.replicated())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cache" if cache is None else Path(cache)
    language_job = None
    with _torch_threads(threads):
        if with_language:
            language_job = _start_language(out, language_config, n_language, language_sizes, cache, progress,
                                           parallel, threads)
        if workers is None:
            workers = max(1, _usable_cpus() - (1 if with_language and parallel else 0))
        runs = _run_digits([replace(base, **ARCHITECTURES[a]) for a in archs], n_digits, cache, progress, workers,
                           threads)
        reference = runs[0][0]
        figures = save_digits_figures(reference, out)
        digits = [digits_record(r) for r in runs]
        language = language_job() if language_job is not None else None
    record = {
        "schema": 1,
        "kind": "quick" if quick else ("full" if with_language else "digits"),
        "command": command or ("polylens report --out DIR" + (" --quick" if quick else "")
                               + (f" --seeds {seeds}" if seeds else "")),
        "threads": torch.get_num_threads() if threads is None else threads,
        "versions": versions(),
        "digits": digits,
        "language": language[1] if language else None,
        "language_missing": language[2] if language else None,
        "figures": _figure_record(reference, figures, out, language),
    }
    parts = [_header(quick, n_digits, archs, with_language), seeds_markdown(record),
             digits_section(reference, figures, out)]
    if language:
        parts.append(language[0])
    record["seconds"] = time.perf_counter() - start
    parts.append(_footer(record["seconds"], threads))
    write_record(record, out / "report.json")
    path = out / "report.md"
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path


def _start_language(out, config, n_seeds, sizes, cache, progress, parallel, threads):
    """Start the language part (in a second process when ``parallel``); return a function
    that waits for it and returns ``(markdown, records, missing)``."""
    from polylens.experiments.language_report import language_part

    kwargs = dict(config=config, seeds=tuple(range(n_seeds)), sizes=sizes, cache=cache, progress=progress)
    if not parallel:
        return lambda: language_part(out, **kwargs)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork where there is one: spawn would re-run a calling script that lacks a __main__ guard
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(method), initializer=_set_threads,
                               initargs=(threads,))
    future = pool.submit(language_part, out, **kwargs)

    def wait():
        try:
            return future.result()
        finally:
            pool.shutdown()
    return wait


def _run_digits(configs: list, n_seeds: int, cache: Path, progress: bool, workers: int,
                threads) -> list[list[DigitsResults]]:
    """Every configuration of ``configs`` over seeds ``0 .. n_seeds - 1``, in that order:
    here, or (with ``workers > 1`` and more than one run) one job per run on a pool of
    ``workers`` processes, the widest architectures first so that the longest runs
    start early. A run's numbers do not depend on where it runs: each seeds its own
    data, model, training and statistics, with ``threads`` torch threads either way."""
    jobs = [(a, s) for a in range(len(configs)) for s in range(n_seeds)]
    if workers <= 1 or len(jobs) <= 1:
        return [run_digits_seeds(c, range(n_seeds), progress=progress, cache=cache) for c in configs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork where there is one: spawn would re-run a calling script that lacks a __main__ guard
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    order = sorted(jobs, key=lambda job: -sum(configs[job[0]].channels))
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context(method),
                             initializer=_set_threads, initargs=(threads,)) as pool:
        futures = {(a, s): pool.submit(run_digits, replace(configs[a], seed=s), progress=progress, cache=cache)
                   for a, s in order}
        return [[futures[(a, s)].result() for s in range(n_seeds)] for a in range(len(configs))]


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform tells it)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _set_threads(n: int | None) -> None:
    if n is not None:
        torch.set_num_threads(n)


def _figure_record(reference: DigitsResults, figures: dict, out: Path, language) -> dict:
    """File names and captions of the figures: the model, its seed and the command that draws them."""
    cfg = reference.config
    who = f"digits CNN {cfg.architecture}, seed {cfg.seed}; drawn by `polylens report`"
    captions = {
        "groupings": f"Class purity of spline-code clusters, activation clusters, neurons and NMF directions ({who})",
        "profile": f"Boundary density around class changes against the permuted baseline ({who})",
        "scaling": f"Activation scaling: prediction and code changes against the factor ({who})",
    }
    files = {k: Path(v).name for k, v in figures.items()}
    if language and language[1]:
        first = next(r for r in language[1] if r["protocol"] == "all")
        import re

        name = "language-" + re.sub(r"[^a-z0-9]+", "-", first["model"].lower()).strip("-") + ".png"
        files["language"] = name
        captions["language"] = (f"Token and category purity per MLP layer, {first['model']}, seed {first['seeds'][0]}"
                                f", every token; drawn by `polylens report`")
    return {"reference": {"architecture": cfg.architecture, "seed": cfg.seed}, "files": files, "captions": captions}


@contextmanager
def _torch_threads(n: int | None):
    """Run the block with ``n`` torch threads, then restore the previous number."""
    if n is None:
        yield
        return
    check_int(n, func="write_report", name="threads", low=1)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _header(quick: bool, n_seeds: int, archs: list, with_language: bool) -> str:
    scope = ("one image classifier only (`--quick`)" if quick
             else "image classifiers and transformer language models" if with_language
             else "image classifiers only (the language part was not run)")
    commands = "\n".join(f"- {purpose}: `{cmd}`" for purpose, cmd in COMMANDS.items())
    return (
        "# The polytope lens, measured\n\n"
        "Three predictions of *Interpreting Neural Networks through the Polytope Lens* (Black, Sharkey et "
        f"al., 2022), tested on {scope}: digits CNNs {', '.join(archs)}, {n_seeds} independently trained models "
        "each. Every interval is a 95% percentile bootstrap; every baseline is computed the same way as the "
        "statistic it is compared with. Where a prediction does not hold, the report says so. Every number is "
        "also in `report.json`.\n\n"
        "Reproduce (CPU only, no downloads; seeds are fixed, but float round-off differs between CPUs, so a "
        "trained model and its numbers differ between machines -- which is why findings are stated across "
        "seeds):\n\n" + commands
    )


def _footer(seconds: float, threads: int | None) -> str:
    n = torch.get_num_threads() if threads is None else threads
    return (f"---\nWritten in {seconds:.0f} s on {platform.machine()} ({n} torch thread(s) for the image "
            f"classifier), Python {platform.python_version()}, torch {torch.__version__}.")


def digits_section(results: DigitsResults, figures: dict[str, Path], out: Path | str) -> str:
    """The Markdown section of the digits experiments.

    Parameters
    ----------
    results : DigitsResults
    figures : dict of str to Path
        From :func:`polylens.experiments.figures.save_digits_figures`.
    out : path
        The folder of ``report.md`` (figures are linked relative to it).

    Returns
    -------
    str

    Raises
    ------
    KeyError
        If ``figures`` lacks a figure of :data:`polylens.experiments.figures.FIGURES`.
    ValueError
        If a figure does not lie inside ``out``.
    """
    cfg, dm = results.config, results.model
    rel = {k: Path(v).resolve().relative_to(Path(out).resolve()).as_posix() for k, v in figures.items()}
    intro = (
        f"## Image classifier in detail: the reference model (CNN {cfg.architecture}, seed {cfg.seed})\n\n"
        f"`polylens.experiments.digits.digits_model` with channels {cfg.channels} "
        f"({'Conv+BatchNorm+ReLU+MaxPool' if cfg.batchnorm else 'Conv+ReLU+MaxPool'} twice, then Linear), "
        f"trained {cfg.epochs} epochs with seed {cfg.seed}: train accuracy {dm.train_accuracy:.3f}, test accuracy "
        f"{dm.test_accuracy:.3f} ({len(dm.y_train)} train / {len(dm.y_test)} test images). Hidden layer for "
        f"paths and scaling: the output of module `{cfg.hidden}` (first max pool, "
        f"{dm.net.split(at=cfg.hidden).input_dim} dimensions). Stage times: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in results.seconds.items()) + "."
    )
    return "\n\n".join([intro, _density_part(results, rel), _scaling_part(results, rel),
                        _groupings_part(results, rel)])


# --------------------------------------------------------------------------- prediction 2
def _density_part(results: DigitsResults, rel: dict) -> str:
    cfg = results.config
    lines = [
        "### Prediction 2: polytope boundaries crowd where the class changes\n",
        f"For {cfg.n_pairs} random pairs of correctly classified test images of different classes, the straight "
        f"path between them (in input space, and between their activations at the hidden layer) is sampled at "
        f"{cfg.steps + 1} points. Density = code changes (Hamming distance between consecutive samples' codes) "
        f"per unit length; the predicted class at every sample marks the class changes. The statistic is the "
        f"density within ±{cfg.window * 100:g}% of the path around a class change over the density elsewhere, "
        f"pooled over paths. Baselines: class changes placed uniformly at random on each path, and each path "
        f"given *another* path's class-change positions, averaged over all the other paths (*permuted*, which "
        f"keeps where on a path class changes tend to fall). The first paths are also crossed exactly "
        f"(`polylens.path_crossings`; in activation space on `net.split(at=...)`), counting units that change at "
        f"each crossing.\n",
        "| space | density from | paths | near / elsewhere | uniform baseline | permuted baseline "
        "| observed / permuted |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for res in results.paths.values():
        for source, c in (("sampled", res.contrast), ("sampled (exact paths)", res.contrast_sampled_subset),
                          ("exact", res.contrast_exact)):
            lines.append(f"| {_space(res)} | {source} | {c.n_paths} | {_ci(c.ratio)} | {_ci(c.uniform)} | "
                         f"{_ci(c.permuted)} | {_ci(c.excess)} |")
    lines.append("")
    for res in results.paths.values():
        middle = np.mean([(1 / 3 <= p <= 2 / 3) for c in res.changes for p in c])
        lines.append(f"- **{_space(res)}**: {_density_verdict(res.contrast)} {_sweep_note(res)} {middle:.0%} of the "
                     f"class changes lie in the middle third of their path ({res.mean_changes:.2f} per path). "
                     f"{_agreement(res)}")
    lines += ["", "Window sweep (sampled density, every pair): near / elsewhere, and observed / permuted.\n",
              "| window | " + " | ".join(f"{_space(r)}: near / elsewhere | {_space(r)}: observed / permuted"
                                       for r in results.paths.values()) + " |",
              "| --- |" + " --- | --- |" * len(results.paths)]
    for w in cfg.windows:
        lines.append(f"| ±{w * 100:g}% | " + " | ".join(f"{_ci(r.by_window[w].ratio)} | {_ci(r.by_window[w].excess)}"
                                                   for r in results.paths.values()) + " |")
    lines.append(f"\n![Density around class changes]({rel['profile']})\n")
    lines.append(f"![Example paths]({rel['paths']})")
    return "\n".join(lines)


def _space(res: InterpolationDensity) -> str:
    return "input" if res.layer is None else f"layer {res.layer} activations"


def _density_verdict(c: BoundaryContrast) -> str:
    near = {"above": "higher than", "below": "lower than", "within": "not distinguishable from"}
    text = (f"density near a class change is {c.ratio.value:.2f} times (95% CI {c.ratio.ci[0]:.2f}–"
            f"{c.ratio.ci[1]:.2f}) the density elsewhere, {near[_side(c.ratio)]} elsewhere; with class changes "
            f"taken from other paths the same ratio is {c.permuted.value:.2f} ({c.permuted.ci[0]:.2f}–"
            f"{c.permuted.ci[1]:.2f}), uniform {c.uniform.value:.2f} ({c.uniform.ci[0]:.2f}–{c.uniform.ci[1]:.2f}).")
    ratio, excess = _side(c.ratio), _side(c.excess)
    if excess == "above":
        return text + (f" Observed / permuted is {_ci(c.excess)}: boundaries crowd around each path's own class "
                       "change — the prediction holds here.")
    if excess == "below":
        return text + (f" Observed / permuted is {_ci(c.excess)}: there are *fewer* boundaries around a path's "
                       "own class change than at the same positions of other paths — the prediction fails here.")
    if ratio == "above" and _side(c.permuted) == "above":
        return text + (f" Observed / permuted is {_ci(c.excess)}, which includes 1: the extra density near class "
                       "changes is what the same positions get on other paths, not a peak at the class change "
                       "itself — the prediction is not supported beyond that positional effect.")
    if ratio == "above":
        return text + (f" Observed / permuted is {_ci(c.excess)}, which includes 1: the data cannot tell a peak at "
                       "each path's own class change from the density at the same positions of other paths — "
                       "the prediction is not established.")
    return text + (f" Observed / permuted is {_ci(c.excess)}: no peak of density at class changes was measured — "
                   "the prediction is not supported here.")


def _sweep_note(res: InterpolationDensity) -> str:
    """Which windows of the sweep give an observed / permuted interval off 1."""
    sides = {w: _side(c.excess) for w, c in res.by_window.items()}
    off = [f"±{w * 100:g}% ({_ci(res.by_window[w].excess)}, {side} 1)"
           for w, side in sides.items() if side != "within"]
    values = [c.excess.value for c in res.by_window.values()]
    span = (f"Across windows of ±{min(sides) * 100:g}% to ±{max(sides) * 100:g}%, observed / permuted is "
            f"{min(values):.2f}–{max(values):.2f}")
    return span + (f"; its interval excludes 1 only at {', '.join(off)}." if off else "; every interval includes 1.")


def _agreement(res: InterpolationDensity) -> str:
    if not len(res.exact):
        return ""
    a = res.agreement
    diff = res.sampled[: len(res.exact)] - res.exact
    ends = int(diff[:, [0, -1]].sum())
    inner = int(np.abs(diff[:, 1:-1]).sum())
    return (f"Exact and sampled agree: on the {len(a)} exactly crossed path(s) (mean {res.exact_crossings.mean():.0f} "
            f"exact crossings, {res.exact.sum(axis=1).mean():.0f} unit changes each) the sampled count is "
            f"{a.mean():.3f} of the exact unit changes (range {a.min():.3f}–{a.max():.3f}); sampled minus exact is "
            f"{ends:+d} in the first and last steps and {inner} in absolute value elsewhere"
            + (" (a path that starts or ends on a boundary, such as a max-pool tie between blank pixels, has "
               "sampled changes there that no crossing has)." if ends else "."))


# --------------------------------------------------------------------------- prediction 3
def _scaling_part(results: DigitsResults, rel: dict) -> str:
    s = results.scaling
    top = s.scales[-1]
    picks = [v for v in (0.0, 0.5, 2.0, top) if np.isclose(s.scales, v).any()]
    rows = [f"| {v:g} | {s.changed[s.at(v)]:.3f} ({s.changed_ci[s.at(v)][0]:.3f}–{s.changed_ci[s.at(v)][1]:.3f}) "
            f"| {s.code_change[s.at(v)]:.3f} |" for v in picks]
    bullets = []
    if s.exact_above.size:
        bullets.append(f"Scaling crosses polytope boundaries: from factor 1 to {top:g} the activation crosses on "
                       f"average {s.exact_above.mean():.0f} exact unit boundaries (first {s.exact_above.size} "
                       f"inputs; sampled on the factor grid: {s.sampled_above.mean():.0f}), and "
                       f"{s.code_change[-1]:.1%} of the {s.n_bits} downstream code bits end up different.")
    finite = np.flatnonzero(np.isfinite(s.density))
    if finite.size >= 2:
        peak, last = finite[np.argmax(s.density[finite])], finite[-1]

        def at(k: int) -> str:
            return (f"{s.density[k]:.2f} ({s.density_ci[k][0]:.2f}–{s.density_ci[k][1]:.2f}) boundaries per unit "
                    f"length between factors {s.scales[k]:g} and {s.scales[k + 1]:g}")

        if peak == last:
            bullets.append(f"The density rises with the factor up to the largest one: {at(last)}.")
        else:
            bullets.append(f"The density peaks at {at(peak)} and falls to {at(last)}: along the ray, boundaries "
                           "are densest close to the origin and sparse far out.")
    up = np.isfinite(s.first_change_up)
    down = np.isfinite(s.first_change_down)
    bullets.append(
        f"The prediction changes somewhere in (1, {top:g}] for {up.mean():.1%} of inputs"
        + (f" (median first factor {np.median(s.first_change_up[up]):g})" if up.any() else "")
        + f", and somewhere in [{s.scales[0]:g}, 1) for {down.mean():.1%}"
        + (f" (median largest such factor {np.median(s.first_change_down[down]):g})." if down.any() else ".")
        + f" So what later layers compute does change along the ray ({s.code_change[-1]:.1%} of the downstream code "
        f"bits at factor {top:g}), while the class changes for " + ("most" if up.mean() > 0.5 else "a minority of")
        + " inputs when the activation is scaled up.")
    return "\n".join([
        "### Prediction 3: a direction is only valid within its region\n",
        f"The activation vectors of {s.first_change_up.size} test images at layer `{s.layer}` are multiplied by "
        f"factors {s.scales[0]:g}–{top:g} (step {np.diff(s.scales).min():g}) and the rest of the network runs on "
        "them. Density = boundaries crossed between consecutive factors per unit length of activation space "
        "(left out next to 0, where every later max-pool window ties).\n",
        "| factor | prediction differs from unscaled (95% CI) | downstream code bits changed |",
        "| --- | --- | --- |",
        *rows,
        "",
        *(f"- {b}" for b in bullets),
        f"\n![Activation scaling]({rel['scaling']})",
    ])


# --------------------------------------------------------------------------- prediction 1
_GROUP_NAMES = {"activations": "k-means clusters of the activations", "neurons": "single neurons' top sets",
                "NMF": "NMF components' top sets"}


def _groupings_part(results: DigitsResults, rel: dict) -> str:
    g, cfg = results.groupings, results.config
    codes = g.score("spline codes", "class")
    diffs = {s.method: difference_ci(codes.purity, s.purity, seed=cfg.seed)
             for s in g.scores if s.labels == "class" and s.method != "spline codes"}
    verdicts = []
    for method, d in diffs.items():
        side = _side(d, 0.0)
        word = {"above": "purer than", "below": "less pure than", "within": "not distinguishable from"}[side]
        verdicts.append(f"spline-code clusters are {word} {_GROUP_NAMES[method]} (difference {d.value:+.3f}, 95% CI "
                        f"{d.ci[0]:+.3f} to {d.ci[1]:+.3f})")
    directions = [m for m in ("neurons", "NMF") if _side(diffs[m], 0.0) == "above"]
    clusters = _side(diffs["activations"], 0.0)
    if len(directions) == 2 and clusters != "below":
        summary = "the prediction holds: polytopes are more monosemantic than directions."
    elif directions:
        summary = (f"the prediction holds only in part: polytopes beat {' and '.join(directions)}"
                   + (", but clustering the raw activations does better still." if clusters == "below" else "."))
    else:
        summary = ("the prediction is not supported here: neither single neurons nor NMF directions are measurably "
                   "less pure than the spline-code clusters.")
    return "\n".join([
        "### Prediction 1: polytopes are monosemantic, directions in general are not\n",
        f"Every digit (train and test, {sum(len(v) for v in (results.model.y_train, results.model.y_test))} "
        f"images) is grouped by layer `{cfg.groups_layer}` (second ReLU) four ways — k-medoids clusters of its "
        f"spline codes (Hamming distance), k-means clusters of its activations, the top-activating images of the "
        f"{cfg.n_groups} most variable neurons, the top-loading images of {cfg.n_groups} NMF components — each "
        f"group cut to the same {g.group_size} members (nearest the centre, or most activating). Purity = "
        "fraction of a group in its most common class; chance = purity of random groups of that size.\n",
        g.to_markdown(),
        "",
        "- " + ";\n- ".join(verdicts) + ".",
        f"- In short, {summary}",
        f"- The paper's protocol, HDBSCAN (scikit-learn, `min_cluster_size={results.hdbscan.min_cluster_size}`) on "
        f"the Hamming distances of the same codes: {results.hdbscan.n_clusters} clusters, "
        f"{results.hdbscan.noise:.0%} of the images left as noise, mean class purity {_ci(results.hdbscan.mean)} "
        f"over clusters ({results.hdbscan.weighted:.2f} weighting clusters by size; random groups of the same "
        f"sizes {results.hdbscan.chance:.2f}).",
        f"\n![Monosemanticity]({rel['groupings']})",
    ])


# --------------------------------------------------------------------------- helpers
def _ci(est: Estimate) -> str:
    return f"{est.value:.2f} ({est.ci[0]:.2f}–{est.ci[1]:.2f})"


def _side(est: Estimate, ref: float = 1.0) -> str:
    """Where the interval lies against ``ref``: "above", "below" or "within"."""
    if est.ci[0] > ref:
        return "above"
    if est.ci[1] < ref:
        return "below"
    return "within"
