"""The trained ReLU language model of the experiments: stdlib docstrings in, a cached model out.

:func:`docstring_lm` builds the corpus (:func:`polylens.experiments.corpus.stdlib_docstrings`),
holds out one docstring in ten, trains a tokenizer and a :class:`ReLULM` on the rest,
measures the held-out loss, and saves everything in a cache folder named after a hash
of every input (configs, module list, corpus text, Python version); a later call with
the same inputs loads it instead of training.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from polylens._repr import short_repr
from polylens.experiments.corpus import STDLIB_MODULES, Corpus, stdlib_docstrings
from polylens.experiments.lm import LMConfig, ReLULM, TrainConfig, TrainLog, evaluate_lm, load_lm, save_lm, train_lm
from polylens.experiments.tokens import train_tokenizer

__all__ = ["TrainedLM", "docstring_lm", "token_stream"]

HELD_OUT = 10  # one docstring in HELD_OUT is held out (Corpus.split)


@short_repr
@dataclass(frozen=True)
class TrainedLM:
    """A trained :class:`ReLULM` with its data.

    Attributes
    ----------
    model : ReLULM
        In eval mode.
    tokenizer : tokenizers.Tokenizer
    log : TrainLog
        Training wall time, losses and held-out loss (nats per token).
    train : Corpus
        The docstrings it was trained on.
    held_out : Corpus
        The docstrings held out of training (split by document).
    folder : Path or None
        Where it is cached.
    loaded : bool
        True when it came from the cache (``log.seconds`` is then the original run's).
    """

    model: ReLULM
    tokenizer: object
    log: TrainLog
    train: Corpus
    held_out: Corpus
    folder: Path | None
    loaded: bool


def token_stream(tokenizer, documents) -> np.ndarray:
    """Token ids of ``documents``, each preceded by ``[BOS]``, concatenated; shape (n_tokens,).

    Raises
    ------
    ValueError
        If ``tokenizer`` has no ``[BOS]`` token.
    """
    bos = tokenizer.token_to_id("[BOS]")
    if bos is None:
        raise ValueError("token_stream: `tokenizer` has no '[BOS]' token (use polylens.experiments.tokens.train_tokenizer)")
    ids = []
    for enc in tokenizer.encode_batch(list(documents)):
        ids.append(bos)
        ids.extend(enc.ids)
    return np.array(ids, dtype=np.int64)


def docstring_lm(cache: str | Path | None, lm: LMConfig = LMConfig(), train: TrainConfig = TrainConfig(), *,
                 modules=STDLIB_MODULES, progress: bool = True) -> TrainedLM:
    """Train (or load from ``cache``) a ReLU language model on stdlib docstrings.

    Parameters
    ----------
    cache : path or None
        Folder of cached models (created); ``None`` trains without saving.
    lm : LMConfig, default=LMConfig()
        ``vocab_size`` is the tokenizer's requested size; the model gets the size the
        tokenizer reached (smaller on a small corpus).
    train : TrainConfig, default=TrainConfig()
    modules : sequence of str, default=STDLIB_MODULES
        Where the docstrings come from.
    progress : bool, default=True

    Returns
    -------
    TrainedLM

    Raises
    ------
    TypeError
        If ``modules`` is not a sequence of module names.
    ValueError
        If ``modules`` give fewer than ten docstrings, or the training or held-out text has
        fewer than ``lm.context + 1`` tokens (:func:`~polylens.experiments.lm.train_lm`,
        :func:`~polylens.experiments.lm.evaluate_lm`).
    polylens.errors.InvalidParameterError
        If ``lm.vocab_size`` leaves no room for a word after the characters of the corpus
        (:func:`~polylens.experiments.tokens.train_tokenizer`).
    ImportError
        If the ``tokenizers`` package is not installed.
    FileNotFoundError
        If a cached folder has ``log.json`` but lacks ``model.pt`` or ``tokenizer.json``
        (:func:`~polylens.experiments.lm.load_lm`).
    OSError
        If the ``cache`` folder cannot be created or written.
    """
    corpus = stdlib_docstrings(modules)
    if len(corpus) < HELD_OUT:
        raise ValueError(f"docstring_lm: `modules` give {len(corpus)} docstrings; need at least {HELD_OUT}")
    train_docs, held_out = corpus.split(HELD_OUT)
    folder = None if cache is None else Path(cache) / f"relu-lm-{_key(lm, train, corpus)}"
    if folder is not None and (folder / "log.json").exists():
        model, tokenizer, log = load_lm(folder)
        return TrainedLM(model, tokenizer, log, train_docs, held_out, folder, True)
    tokenizer = train_tokenizer(train_docs.documents, lm.vocab_size)
    config = replace(lm, vocab_size=tokenizer.get_vocab_size())
    model, log = train_lm(token_stream(tokenizer, train_docs.documents), config, train, progress=progress)
    log.eval_loss = evaluate_lm(model, token_stream(tokenizer, held_out.documents))
    if folder is not None:
        save_lm(folder, model, tokenizer, log)
    return TrainedLM(model, tokenizer, log, train_docs, held_out, folder, False)


_RECIPE = 2
"""Version of the training procedure in the cache key: raised whenever :func:`train_lm`
changes what a configuration trains (so an older cached model is not taken for it)."""


def _key(lm: LMConfig, train: TrainConfig, corpus: Corpus) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"lm": asdict(lm), "train": asdict(train), "python": sys.version, "recipe": _RECIPE},
                        sort_keys=True).encode())
    for doc, source in zip(corpus.documents, corpus.sources):
        h.update(source.encode() + b"\0" + doc.encode() + b"\0")
    return h.hexdigest()[:16]
