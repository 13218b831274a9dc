"""Tokenising real sentences, and coarse categories of their tokens.

* :func:`train_tokenizer`: a deterministic WordPiece tokenizer for a corpus (the
  ``tokenizers`` library's own trainers break ties between equally frequent merges
  differently from run to run, so the vocabulary is built here: every character, then
  the most frequent words; a rarer word is spelt with the longest known pieces).
* :func:`encode_sentences`: padded token ids of sentences for a model, with the
  character span of every token, so a token can be shown in its context.
* :func:`token_category`: one of :data:`CATEGORIES` for a token in its sentence.

Needs the optional ``tokenizers`` package (``pip install "polylens[lm]"``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_int

__all__ = [
    "CATEGORIES", "FUNCTION_WORDS", "SPECIAL_TOKENS", "EncodedSentences",
    "train_tokenizer", "encode_sentences", "token_category", "require_tokenizers", "spaced_positions",
]

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]")
CATEGORIES = ("punctuation", "number", "function word", "capitalised word", "code identifier", "other word")
FUNCTION_WORDS = frozenset("""
a an the this that these those some any each every no all both either neither
of to in on at by for from with without into onto over under about above below between among
through during before after since until within against across along around behind beyond
upon via than as
and or but nor so yet if then else when while where whether because although though unless
once
i me my we us our you your he him his she her it its they them their who whom whose which
what
is are was were be been being am do does did done have has had having can could may might
must shall should will would
not also only just very too more most less least such same other another own there here
how why
""".split())

# A word (white-space delimited, in the original text) that looks like code: an
# underscore, camelCase, a dotted name (os.path; not e.g.), a call or an index.
_CODE_WORD = re.compile(r"_|[a-z][A-Z]|[A-Za-z_]\w*\.[A-Za-z_]{2,}|\w\(|\w\[")


def require_tokenizers():
    """Import and return the ``tokenizers`` package, or raise an ImportError saying how to
    install it.

    Raises
    ------
    ImportError
        If ``tokenizers`` is not installed (the message says how to install it).
    """
    try:
        import tokenizers
    except ImportError:
        raise ImportError(
            "the language-model experiments need the `tokenizers` package: pip install \"polylens[lm]\" "
            "(or pip install tokenizers safetensors)"
        ) from None
    return tokenizers


def _pre_tokenizer():
    pre = require_tokenizers().pre_tokenizers
    return pre.Sequence([pre.WhitespaceSplit(), pre.Punctuation(), pre.Digits(individual_digits=True)])


def train_tokenizer(texts, vocab_size: int = 4096):
    """A deterministic WordPiece tokenizer for ``texts``.

    Text is split at white space, around every punctuation character and around every
    digit; the vocabulary is :data:`SPECIAL_TOKENS`, every character of the texts (alone
    and as a word-internal ``"##"`` piece), then the most frequent words (ties broken
    alphabetically) up to ``vocab_size``. Case is kept.

    Parameters
    ----------
    texts : sequence of str
    vocab_size : int, default=4096
        Must leave room for at least one word after the characters.

    Returns
    -------
    tokenizers.Tokenizer

    Raises
    ------
    ImportError
        If the ``tokenizers`` package is not installed.
    ValueError
        If ``texts`` is empty or holds something that is not a string.
    polylens.errors.InvalidParameterError
        If ``vocab_size`` is not an int above the size of the base vocabulary (the special
        tokens and every character of ``texts``, alone and as a ``"##"`` piece).

    Examples
    --------
    >>> tok = train_tokenizer(["the cat sat on the mat,", "the dog"], vocab_size=32)
    >>> tok.encode("the cat, the cog").tokens
    ['the', 'cat', ',', 'the', 'c', '##o', '##g']
    """
    tokenizers = require_tokenizers()
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("train_tokenizer: `texts` must be a non-empty sequence of strings")
    pre = _pre_tokenizer()
    counts = Counter(w for t in texts for w, _ in pre.pre_tokenize_str(t))
    chars = sorted({c for w in counts for c in w})
    base = [*SPECIAL_TOKENS, *chars, *("##" + c for c in chars)]
    # above the special tokens and the characters of `texts`, twice
    vocab_size = check_int(vocab_size, func="train_tokenizer", name="vocab_size", low=len(base) + 1)
    known = set(base)
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if w not in known]
    vocab = {token: i for i, token in enumerate(base + words[: vocab_size - len(base)])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.pre_tokenizer = pre
    return tok


@short_repr
@dataclass(frozen=True)
class EncodedSentences:
    """Sentences as padded token ids, with the tokens to study marked.

    Attributes
    ----------
    sentences : tuple of str
    ids : ndarray of shape (n_sentences, length), int64
        Token ids, padded at the end with the tokenizer's padding id.
    attention_mask : ndarray of shape (n_sentences, length), int64
        1 on real tokens (special tokens included), 0 on padding.
    studied : ndarray of shape (n_sentences, length), bool
        The tokens of the text itself (not special tokens, not padding).
    spans : ndarray of shape (n_sentences, length, 2), int64
        Character span ``[start, end)`` of every token in its sentence.
    """

    sentences: tuple[str, ...]
    ids: np.ndarray
    attention_mask: np.ndarray
    studied: np.ndarray
    spans: np.ndarray

    @property
    def n_tokens(self) -> int:
        """Number of studied tokens."""
        return int(self.studied.sum())

    def where(self) -> np.ndarray:
        """(sentence, position) of every studied token, shape (n_tokens, 2), in reading order.

        Raises
        ------
        None of its own
        """
        return np.argwhere(self.studied)

    def token_ids(self) -> np.ndarray:
        """Id of every studied token, shape (n_tokens,).

        Raises
        ------
        None of its own
        """
        return self.ids[self.studied]

    def categories(self) -> np.ndarray:
        """Category (an index into :data:`CATEGORIES`) of every studied token, shape (n_tokens,).

        Raises
        ------
        None of its own
        """
        return np.array([token_category(self.sentences[s], *self.spans[s, p]) for s, p in self.where()],
                        dtype=np.int64)

    def context(self, token: int, width: int = 30) -> str:
        """Studied token number ``token`` in its sentence: ``"... the [token] of ..."``,
        with up to ``width`` characters either side.

        Raises
        ------
        IndexError
            If ``token`` is not the number of a studied token (``-n_tokens <= token < n_tokens``).
        """
        s, p = self.where()[token]
        text, (start, end) = self.sentences[s], self.spans[s, p]
        left = text[max(0, start - width):start]
        right = text[end:end + width]
        return (("..." if start > width else "") + left + "[" + text[start:end] + "]" + right
                + ("..." if end + width < len(text) else ""))


def encode_sentences(tokenizer, sentences, *, max_tokens: int, prefix: str | None = None) -> EncodedSentences:
    """Token ids of ``sentences``, padded to one length, for a model.

    Parameters
    ----------
    tokenizer : tokenizers.Tokenizer
        Its post-processor, if any, adds special tokens (MiniLM's ``[CLS] ... [SEP]``);
        its own padding and truncation settings are ignored.
    sentences : sequence of str
    max_tokens : int
        Longest encoding kept, special tokens included; longer sentences are dropped (so
        no studied token lacks its right context in a bidirectional model).
    prefix : str, optional
        A special token put before every sentence (``"[BOS]"`` for the trained
        language model); it is not studied.

    Returns
    -------
    EncodedSentences
        The kept sentences, in order; padded to the longest kept encoding.

    Raises
    ------
    ValueError
        ``max_tokens`` is not a positive int, no sentence has a studied token within
        ``max_tokens``, or ``prefix`` is not in the vocabulary.
    """
    check_int(max_tokens, func="encode_sentences", name="max_tokens", low=1)
    tok = _plain_copy(tokenizer)
    pad_id = _pad_id(tok)
    prefix_id = None
    if prefix is not None:
        prefix_id = tok.token_to_id(prefix)
        if prefix_id is None:
            raise ValueError(f"encode_sentences: `prefix` {prefix!r} is not a token of the tokenizer")
    kept, rows = [], []
    for sentence, enc in zip(sentences, tok.encode_batch(list(sentences))):
        ids, spans, special = list(enc.ids), list(enc.offsets), list(enc.special_tokens_mask)
        if prefix_id is not None:
            ids, spans, special = [prefix_id] + ids, [(0, 0)] + spans, [1] + special
        if len(ids) <= max_tokens and not all(special):
            kept.append(sentence)
            rows.append((ids, spans, special))
    if not rows:
        raise ValueError(f"encode_sentences: no sentence of `sentences` has at most `max_tokens`={max_tokens} "
                         f"tokens with at least one that is not a special token")
    length = max(len(ids) for ids, _, _ in rows)
    n = len(rows)
    ids = np.full((n, length), pad_id, dtype=np.int64)
    mask = np.zeros((n, length), dtype=np.int64)
    studied = np.zeros((n, length), dtype=bool)
    spans = np.zeros((n, length, 2), dtype=np.int64)
    for i, (row, span, special) in enumerate(rows):
        k = len(row)
        ids[i, :k], mask[i, :k], spans[i, :k] = row, 1, span
        studied[i, :k] = ~np.array(special, dtype=bool)
    return EncodedSentences(tuple(kept), ids, mask, studied, spans)


def spaced_positions(studied: np.ndarray, *, skip: int, stride: int) -> np.ndarray:
    """The paper's token protocol: of each sentence's studied tokens, leave out the first
    ``skip`` and keep every ``stride``-th of the rest (evenly spaced positions).

    Parameters
    ----------
    studied : ndarray of shape (n_sentences, length), bool
        As :attr:`EncodedSentences.studied`.
    skip : int
        Studied tokens left out at the start of every sentence (>= 0).
    stride : int
        Spacing of the kept tokens (>= 1).

    Returns
    -------
    ndarray of shape (n_sentences, length), bool
        A subset of ``studied``.

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``skip`` is not an int >= 0 or ``stride`` not an int >= 1.

    Examples
    --------
    >>> spaced_positions(np.array([[False, True, True, True, True, True, True]]), skip=1, stride=2).astype(int)
    array([[0, 0, 1, 0, 1, 0, 1]])
    """
    skip = check_int(skip, func="spaced_positions", name="skip", low=0)
    stride = check_int(stride, func="spaced_positions", name="stride", low=1)
    mask = np.asarray(studied, dtype=bool)
    rank = np.cumsum(mask, axis=1) - 1  # the k-th studied token of its sentence has rank k
    return mask & (rank >= skip) & ((rank - skip) % stride == 0)


def _plain_copy(tokenizer):
    """A copy of ``tokenizer`` without padding or truncation."""
    tokenizers = require_tokenizers()
    if not isinstance(tokenizer, tokenizers.Tokenizer):
        raise TypeError(f"`tokenizer` must be a tokenizers.Tokenizer; got {type(tokenizer).__name__}")
    tok = tokenizers.Tokenizer.from_str(tokenizer.to_str())
    tok.no_padding()
    tok.no_truncation()
    return tok


def _pad_id(tok) -> int:
    for name in ("[PAD]", "<pad>"):
        if (i := tok.token_to_id(name)) is not None:
            return int(i)
    raise ValueError("`tokenizer` has no padding token ('[PAD]' or '<pad>')")


def token_category(text: str, start: int, end: int) -> int:
    """Coarse category of the token ``text[start:end]``, an index into :data:`CATEGORIES`.

    Rules, first match wins: *punctuation* (no letter or digit), *number* (digits, no
    letter), *code identifier* (its white-space delimited word contains ``_``, camelCase,
    a dotted name such as ``os.path``, or a call or index), *function word* (the token
    is a whole run of letters and digits and, lower-cased, is in
    :data:`FUNCTION_WORDS`), *capitalised word* (its run of letters and digits starts
    with a capital), else *other word*. Case is read from ``text``, so a
    lower-casing tokenizer's tokens get the categories of the original text.

    Raises
    ------
    None of its own

    Examples
    --------
    >>> s = "The os.path module, e.g. in 3 Files."
    >>> spans = [(0, 3), (4, 6), (6, 7), (12, 18), (20, 21), (25, 27), (28, 29), (30, 35)]
    >>> [s[a:b] for a, b in spans]
    ['The', 'os', '.', 'module', 'e', 'in', '3', 'Files']
    >>> [CATEGORIES[token_category(s, a, b)] for a, b in spans]  # doctest: +NORMALIZE_WHITESPACE
    ['function word', 'code identifier', 'punctuation', 'other word', 'other word', 'function word',
     'number', 'capitalised word']
    """
    surface = text[start:end]
    if not any(c.isalnum() for c in surface):
        return CATEGORIES.index("punctuation")
    if not any(c.isalpha() for c in surface):
        return CATEGORIES.index("number")
    left = text.rfind(" ", 0, start) + 1
    right = text.find(" ", end)
    word = text[left:right if right >= 0 else len(text)]
    if _CODE_WORD.search(word):
        return CATEGORIES.index("code identifier")
    a, b = start, end
    while a > 0 and text[a - 1].isalnum():
        a -= 1
    while b < len(text) and text[b].isalnum():
        b += 1
    run = text[a:b]  # the letters and digits around the token (a word piece of "Mix-in" is "in")
    if surface == run and run.lower() in FUNCTION_WORDS:
        return CATEGORIES.index("function word")
    if run[:1].isupper():
        return CATEGORIES.index("capitalised word")
    return CATEGORIES.index("other word")
