"""The docstring corpus, the tokenizer and token categories."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from polylens.experiments.corpus import Corpus, clean_docstring, split_sentences, stdlib_docstrings  # noqa: E402
from polylens.experiments.tokens import CATEGORIES, encode_sentences, token_category, train_tokenizer  # noqa: E402

SMALL = ("json", "textwrap", "fnmatch", "heapq")


def test_the_corpus_is_real_prose_and_the_same_on_every_call():
    a, b = stdlib_docstrings(SMALL), stdlib_docstrings(SMALL)
    assert a == b
    assert len(a) > 20 and a.sources[0] == "json"
    assert len(set(a.documents)) == len(a)
    for doc in a.documents:
        for paragraph in doc.split("\n"):
            assert len(paragraph.split()) >= 3 and ">>>" not in paragraph
    assert "Find the n smallest elements in a dataset." in " ".join(a.documents)


def test_a_module_this_interpreter_lacks_is_skipped_and_names_must_be_strings():
    assert stdlib_docstrings(["fnmatch", "no_such_module_here"]) == stdlib_docstrings(["fnmatch"])
    with pytest.raises(TypeError, match="`modules`"):
        stdlib_docstrings("json")


def test_cleaning_keeps_prose_and_drops_examples_signatures_and_underlines():
    doc = """
        parse(text) -> dict

        Parse the text into a mapping,
        one key per line.

        Parameters
        ----------
        text : str
            The input.

        >>> parse("a")
        {'a': 1}
        See also.
        """
    assert clean_docstring(doc) == "Parse the text into a mapping, one key per line."


def test_the_split_holds_out_whole_docstrings_by_source_name():
    corpus = stdlib_docstrings(SMALL)
    train, test = corpus.split(5)
    assert set(train.sources).isdisjoint(test.sources)
    assert sorted(train.sources + test.sources) == sorted(corpus.sources)
    assert 0 < len(test) < len(train)
    bigger = stdlib_docstrings((*SMALL, "bisect")).split(5)[1]
    assert set(test.sources) <= set(bigger.sources)  # adding modules keeps the held-out documents held out
    with pytest.raises(ValueError, match="held_out"):
        corpus.split(1)


def test_sentences_are_cut_at_sentence_ends_and_filtered_by_length():
    assert split_sentences("One two. Three (four)! Five") == ["One two.", "Three (four)!", "Five"]
    corpus = Corpus(("Short one. This sentence has five words.\nThis sentence has five words.",), ("x",))
    assert corpus.sentences(min_words=3, max_words=5) == ["This sentence has five words."]


def test_the_tokenizer_is_deterministic_and_spells_rare_words_with_known_pieces():
    docs = stdlib_docstrings(SMALL).documents
    a, b = train_tokenizer(docs, 500), train_tokenizer(docs, 500)
    assert a.to_str() == b.to_str() and a.get_vocab_size() == 500
    enc = a.encode("Return the heapified zebra_case.")
    assert "[UNK]" not in enc.tokens
    assert enc.tokens[:2] == ["Return", "the"] and "##a" in enc.tokens  # 'zebra' is spelt in pieces
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(docs, 10)


def test_encoded_sentences_mark_text_tokens_pad_and_keep_spans():
    tok = train_tokenizer(["the cat sat on the mat.", "a dog ran."], 64)
    enc = encode_sentences(tok, ["the cat sat.", "a dog ran on the mat and the cat sat on it."], max_tokens=8,
                           prefix="[BOS]")
    assert enc.sentences == ("the cat sat.",)  # the long sentence does not fit
    assert enc.ids.shape == (1, 5) and enc.ids[0, 0] == tok.token_to_id("[BOS]")
    assert enc.studied.tolist() == [[False, True, True, True, True]]
    assert [enc.sentences[0][a:b] for a, b in enc.spans[0, 1:]] == ["the", "cat", "sat", "."]
    assert enc.context(1) == "the [cat] sat."
    two = encode_sentences(tok, ["the cat.", "a dog ran on it."], max_tokens=10)
    assert two.attention_mask.tolist() == [[1, 1, 1, 0, 0, 0], [1] * 6]
    assert two.n_tokens == 9 and two.token_ids().tolist() == two.ids[two.studied].tolist()
    with pytest.raises(ValueError, match="prefix"):
        encode_sentences(tok, ["the cat."], max_tokens=8, prefix="[CLS]")
    with pytest.raises(ValueError, match="max_tokens"):
        encode_sentences(tok, ["the cat sat."], max_tokens=2)
    with pytest.raises(ValueError, match="`max_tokens` must be an int >= 1"):
        encode_sentences(tok, ["the cat sat."], max_tokens=0)


@pytest.mark.parametrize("text, token, category", [
    ("Call it, then stop.", ",", "punctuation"),
    ("It took 42 seconds.", "42", "number"),
    ("Read the file_name first.", "file", "code identifier"),
    ("Use os.path here.", "path", "code identifier"),
    ("A TextWrapper wraps.", "Text", "code identifier"),
    ("Call len(x) now.", "len", "code identifier"),
    ("Read the file.", "the", "function word"),
    ("The file.", "The", "function word"),
    ("Mix-in classes.", "in", "function word"),
    ("Ask Python first.", "Python", "capitalised word"),
    ("Read the file.", "file", "other word"),
    ("Read these.", "the", "other word"),  # a piece of a longer word is not a function word
    ("e.g. this.", "e", "other word"),  # an abbreviation is not a dotted name
])
def test_token_categories_follow_the_documented_rules(text, token, category):
    start = text.index(token)
    assert CATEGORIES[token_category(text, start, start + len(token))] == category


def test_categories_of_a_lower_casing_tokenizer_come_from_the_original_text():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "the", "python", "file", "."])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    enc = encode_sentences(tok, ["The Python file."], max_tokens=8)
    assert [CATEGORIES[c] for c in enc.categories()] == ["function word", "capitalised word", "other word",
                                                         "punctuation"]
    assert np.array_equal(enc.token_ids(), [2, 3, 4, 5])
