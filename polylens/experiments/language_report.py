"""Markdown and figures of the language-model experiments.

:func:`language_markdown` draws the figures and renders the whole section;
:func:`result_markdown` renders one :class:`polylens.experiments.language.LanguageResult`
(model facts, a purity table per layer with 95% CIs and chance, a verdict per label set,
the largest spline-code clusters with tokens in context); :func:`plot_language` draws
mean purity per layer and method with CI error bars and chance; :func:`verdict` counts
the layers where spline-code clusters were purer than each other method (by the 95%
bootstrap interval of the difference in mean purity, as in the digits section).
:func:`language_part` runs every model over seeds and token protocols
(:func:`polylens.experiments.language.run_language_seeds`) and returns the section with
its ``report.json`` records; :func:`language_section` is its Markdown alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from polylens._repr import short_repr
from polylens.experiments.monosemanticity import METHODS
from polylens.experiments.stats import difference_ci

if TYPE_CHECKING:
    from polylens.experiments.language import LanguageResult

__all__ = ["language_markdown", "result_markdown", "summary_markdown", "plot_language", "verdict", "Verdict",
           "figure_name", "language_part", "language_section"]

_LABELS = ("token", "category")
_DPI = 130


@short_repr
@dataclass(frozen=True)
class Verdict:
    """How spline-code clusters compared with one other method, layer by layer.

    Attributes
    ----------
    method : str
    labels : str
    higher : ndarray of shape (n_layers,), bool
        The spline-code clusters' mean purity was higher.
    above : ndarray of shape (n_layers,), bool
        The 95% CI of the difference in mean purity (spline codes minus the other
        method; :func:`polylens.experiments.stats.difference_ci`) lay wholly above 0.
    below : ndarray of shape (n_layers,), bool
        That interval lay wholly below 0.
    """

    method: str
    labels: str
    higher: np.ndarray
    above: np.ndarray
    below: np.ndarray

    @property
    def n_layers(self) -> int:
        return int(self.higher.size)


def verdict(result: "LanguageResult", labels: str) -> dict[str, Verdict]:
    """Spline codes against every other method (keys: the other methods) under the label set ``labels``.

    Raises
    ------
    KeyError
        If a layer has no score under ``labels``.
    """
    out = {}
    for method in METHODS[1:]:
        diffs = [difference_ci(layer.comparison.score("spline codes", labels).purity,
                               layer.comparison.score(method, labels).purity) for layer in result.layers]
        out[method] = Verdict(method, labels,
                              np.array([d.value > 0 for d in diffs], dtype=bool),
                              np.array([d.ci[0] > 0 for d in diffs], dtype=bool),
                              np.array([d.ci[1] < 0 for d in diffs], dtype=bool))
    return out


def figure_name(result: "LanguageResult") -> str:
    """File name of a model's figure: ``language-<model slug>.png``.

    Raises
    ------
    None of its own
    """
    return "language-" + re.sub(r"[^a-z0-9]+", "-", result.model.lower()).strip("-") + ".png"


def plot_language(result: "LanguageResult", file: str | Path) -> Path:
    """Mean purity (95% CI) of every method per layer, one panel per label set, with chance.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    OSError
        If ``file`` cannot be written.
    KeyError
        If a layer lacks the ``"token"`` or ``"category"`` scores.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    file = Path(file)
    layers = result.layers
    fig, axes = plt.subplots(1, len(_LABELS), figsize=(5.5 * len(_LABELS), 3.6), squeeze=False)
    width = 0.8 / len(METHODS)
    x = np.arange(len(layers))
    for ax, labels in zip(axes[0], _LABELS):
        for k, method in enumerate(METHODS):
            scores = [layer.comparison.score(method, labels) for layer in layers]
            means = np.array([s.mean for s in scores])
            err = np.array([[s.mean - s.ci[0] for s in scores], [s.ci[1] - s.mean for s in scores]])
            ax.bar(x + (k - (len(METHODS) - 1) / 2) * width, means, width, yerr=err, capsize=2, color=f"C{k}",
                   label=method)
        chance = [layer.comparison.score(METHODS[0], labels).chance for layer in layers]
        ax.hlines(chance, x - 0.45, x + 0.45, color="k", lw=1, ls="--", label="random groups")
        ax.set_xticks(x, [str(layer.layer) for layer in layers])
        ax.set_xlabel("MLP layer")
        ax.set_ylim(0, 1.22)  # room above the bars for the legend
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_ylabel(f"{labels} purity (mean over groups)")
        ax.legend(fontsize=7, loc="upper center", ncol=len(METHODS) + 1, columnspacing=1.0, handlelength=1.5)
    kind = "approximate (GELU sign) codes" if result.approximate else "exact ReLU codes"
    fig.suptitle(f"{result.model}: spline-code clusters against directions ({kind}, "
                 f"{result.n_tokens} tokens)", fontsize=10)
    fig.tight_layout()
    fig.savefig(file, dpi=_DPI)
    plt.close(fig)
    return file


def _table(result: "LanguageResult") -> str:
    lines = ["| layer | method | token purity (95% CI) | category purity (95% CI) |", "| --- | --- | --- | --- |"]
    for layer in result.layers:
        comp = layer.comparison
        for method in METHODS:
            cells = []
            for labels in _LABELS:
                s = comp.score(method, labels)
                cells.append(f"{s.mean:.3f} ({s.ci[0]:.3f}–{s.ci[1]:.3f})")
            lines.append(f"| {layer.layer} | {method} | " + " | ".join(cells) + " |")
        chance = [f"{comp.score(METHODS[0], labels).chance:.3f}" for labels in _LABELS]
        lines.append(f"| {layer.layer} | *chance* ({len(comp.groups[METHODS[0]])} groups of {comp.group_size}) | "
                     + " | ".join(chance) + " |")
    return "\n".join(lines)


def _verdict_text(result: "LanguageResult") -> str:
    lines = []
    for labels in _LABELS:
        parts = [f"{v.method} in {v.higher.sum()}/{v.n_layers} layers (95% CI of the difference above 0 in "
                 f"{v.above.sum()}, below 0 in {v.below.sum()})" for v in verdict(result, labels).values()]
        lines.append(f"- *{labels} purity*: spline-code clusters had a higher mean than " + "; than ".join(parts) + ".")
    return "\n".join(lines)


def _clusters_text(result: "LanguageResult") -> str:
    blocks = []
    for layer in result.layers:
        rows = []
        for c in layer.clusters:
            tokens = ", ".join(f"{t!r} {n}" for t, n in c.top_tokens)
            rows.append(f"cluster of {c.size} tokens; {c.category} {c.category_share:.0%}; top tokens: {tokens}")
            rows.extend(f"    {ctx}" for ctx in c.contexts)
        blocks.append(f"Layer {layer.layer} (`{layer.site}`):\n\n```\n" + "\n".join(rows) + "\n```")
    return "\n\n".join(blocks)


def result_markdown(result: "LanguageResult", figure: str | None = None) -> str:
    """Markdown of one model's result: facts, figure, table, verdict, largest clusters.

    Parameters
    ----------
    result : LanguageResult
    figure : str, optional
        Relative path of its figure (from :func:`plot_language`).

    Raises
    ------
    KeyError
        If a layer lacks the ``"token"`` or ``"category"`` scores.
    """
    kind = ("approximate: GELU units coded by the sign of their pre-activation" if result.approximate
            else "exact: ReLU units")
    facts = [f"- {key}: {value}" for key, value in result.notes.items()]
    facts.append(f"- studied: {result.n_tokens} tokens of {result.n_sentences} held-out docstring sentences; "
                 f"codes {kind}; {result.seconds:.0f} s for codes and comparisons")
    parts = [f"### {result.model}", "\n".join(facts)]
    if figure:
        parts.append(f"![Purity by method and layer, {result.model}]({figure})")
    parts += [_table(result), _verdict_text(result),
              "The largest spline-code clusters (k-medoids, Hamming distance) of each layer, with the tokens "
              "nearest their medoid in context:", _clusters_text(result)]
    return "\n\n".join(parts)


def summary_markdown(results: list["LanguageResult"], missing: str | None = None) -> str:
    """The section's heading, method and overall verdict over every model.

    Parameters
    ----------
    results : list of LanguageResult
    missing : str, optional
        A line on a model that was not run.

    Raises
    ------
    KeyError
        If a layer lacks the ``"token"`` or ``"category"`` scores.
    """
    method = (
        "Prediction 1 (polytopes, not directions, are the monosemantic units) on transformer language "
        "models. For every token of held-out docstring sentences of Python's standard library, the "
        "spline code of each MLP layer (one bit per unit: pre-activation > 0) and the layer's activations "
        "were collected with `polylens.sampling.codes`. Per layer, four groupings of the tokens, matched in "
        "size, were scored by *purity* (share of a group's most common label) under two label sets: token "
        "identity and a coarse token category (punctuation, number, function word, capitalised word, code "
        "identifier, other word): k-medoids clusters of the codes (Hamming distance), k-means clusters of "
        "the activations, the top tokens of the most variable single neurons, and the top tokens of NMF "
        "directions. Intervals are 95% bootstrap CIs over groups (a difference between two methods "
        "resamples each method's groups on its own); chance is the purity of random groups of the same size."
    )
    lines = []
    for result in results:
        for labels in _LABELS:
            vs = verdict(result, labels)
            n = len(result.layers)
            both = int((vs["neurons"].above & vs["NMF"].above).sum())
            lower = int((vs["neurons"].below | vs["NMF"].below).sum())
            act = vs["activations"]
            lines.append(
                f"- {result.model}, {labels} purity: spline-code clusters were purer than both direction methods "
                f"(single neurons and NMF), the 95% CI of each difference above 0, in {both}/{n} layers (neurons alone "
                f"{vs['neurons'].above.sum()}/{n}, NMF alone {vs['NMF'].above.sum()}/{n}), and less pure than one "
                f"of them (CI below 0) in {lower}/{n}. Against k-means clusters of the raw activations "
                f"(clusters, but not polytopes): higher mean in {act.higher.sum()}/{n} layers, CI of the difference "
                f"above 0 in {act.above.sum()}, below 0 in {act.below.sum()}."
            )
    parts = ["## Language models", method, "What came out:\n\n" + "\n".join(lines)]
    if missing:
        parts.append(missing)
    return "\n\n".join(parts)


def language_markdown(results: list["LanguageResult"], out: str | Path, missing: str | None = None) -> str:
    """Draw every model's figure into ``out`` (created) and return the whole section's Markdown.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    OSError
        If ``out`` cannot be created or a figure cannot be written.
    KeyError
        If a layer lacks the ``"token"`` or ``"category"`` scores.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts = [summary_markdown(results, missing)]
    for result in results:
        figure = plot_language(result, out / figure_name(result))
        parts.append(result_markdown(result, figure.name))
    return "\n\n".join(parts)


def language_part(out: str | Path, *, config=None, seeds=(0, 1, 2), sizes=None, cache: str | Path | None = None,
                  progress: bool = True) -> tuple[str, list[dict], str | None]:
    """The language part of ``polylens report``: every model over seeds and protocols.

    Parameters
    ----------
    out : path
        Folder for the figures (created).
    config : LanguageConfig, optional
        Default ``LanguageConfig()``.
    seeds : sequence of int, default=(0, 1, 2)
        Training seeds of the ReLU models.
    sizes : dict of str to LMConfig, optional
        Default :data:`polylens.experiments.language.LM_SIZES`.
    cache : path, optional
        Where the trained ReLU models are cached; default ``out / "cache"``.
    progress : bool, default=True

    Returns
    -------
    markdown : str
        The section: the detail (table, verdict, clusters, figure) of every model's first
        seed under the ``"all"`` protocol. The across-seeds numbers are in the records.
    records : list of dict
        One :func:`polylens.experiments.record.language_record` per model and protocol.
    missing : str or None
        Why MiniLM was not run, or None.

    Raises
    ------
    TypeError, ValueError, polylens.errors.InvalidParameterError, ImportError, OSError
        As :func:`polylens.experiments.language.run_language_seeds` (a bad ``seeds``, training
        or loading the models, the experiments) and :func:`language_markdown` (matplotlib
        missing, ``out`` not writable).
    """
    from polylens.experiments.language import LanguageConfig, run_language_seeds
    from polylens.experiments.record import language_record

    out = Path(out)
    config = LanguageConfig() if config is None else config
    runs, missing = run_language_seeds(config, out / "cache" if cache is None else cache, seeds=seeds, sizes=sizes,
                                       progress=progress)
    keep = ("n_tokens", "max_words", "n_groups", "skip", "stride", "hdbscan_min_size")
    records = []
    for (name, protocol), results in runs.items():
        shape = {k: getattr(config, k) for k in keep}
        records.append(language_record(results, name=name, protocol=protocol, config=shape))
    firsts = [results[0] for (name, protocol), results in runs.items() if protocol == "all"]
    return language_markdown(firsts, out, missing), records, missing


def language_section(out: str | Path, progress: bool = True, *, quick_config: bool = False,
                     cache: str | Path | None = None) -> str:
    """The language-model Markdown of one seed per model (see :func:`language_part`).

    Parameters
    ----------
    out : path
        Folder for the figures (created).
    progress : bool, default=True
    quick_config : bool, default=False
        :meth:`LanguageConfig.tiny` (one tiny ReLU size, seed 0) instead of the full
        configuration: a smoke test in seconds; the numbers mean little.
    cache : path, optional
        Where the trained ReLU models are cached; default ``out / "cache"``.

    Returns
    -------
    str

    Raises
    ------
    TypeError, ValueError, polylens.errors.InvalidParameterError, ImportError, OSError
        As :func:`language_part`.
    """
    from polylens.experiments.language import LanguageConfig

    if quick_config:
        config = LanguageConfig.tiny()
        return language_part(out, config=config, seeds=(0,), sizes={"ReLU LM (tiny)": config.lm}, cache=cache,
                             progress=progress)[0]
    return language_part(out, seeds=(0,), cache=cache, progress=progress)[0]
