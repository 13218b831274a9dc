"""Sampled codes: equal to the exact adapter's, bit-packed losslessly, hooks cleaned up,
streamed to disk and back, and clear errors for bad sites and inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from _models import TwoBranch, conv1d_net, small_cnn
from _nets import make_mlp

from polylens import InvalidParameterError, PolylensError, PolylensWarning, PWLNet
from polylens.sampling import CodeLayout, Codes, codes, find_sites, pack_bits
from polylens.sampling.bits import pack, pack_tensor

torch.set_num_threads(1)


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# ----------------------------------------------------------------------------- exact codes


@pytest.mark.parametrize("leaky", [None, 0.1])
def test_mlp_codes_equal_exact_adapter_codes_bit_for_bit(leaky):
    model = make_mlp(5, [7, 9, 4], out=3, seed=1, leaky=leaky)
    x = torch.randn(300, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c = codes(model, x, batch_size=64, progress=False)
    exact = PWLNet.from_torch(model).codes(x)
    assert c.unpack().shape == exact.shape == (300, 20)
    np.testing.assert_array_equal(c.unpack(), exact.astype(bool))
    assert c.layout.names == ["1", "3", "5"] and not c.approximate


def test_nested_sequential_with_flatten_and_dropout_codes_equal_exact_codes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Dropout(0.5)),
                          nn.Linear(5, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1)).double()
    model.train()  # codes run in eval mode: Dropout must not randomise them
    x = torch.randn(50, 2, 3, dtype=torch.float64)
    c = codes(model, x, progress=False)
    np.testing.assert_array_equal(c.unpack(), PWLNet.from_torch(model, input_shape=(2, 3)).codes(x).astype(bool))
    assert model.training and all(m.training for m in model.modules())


@pytest.mark.parametrize("make, shape", [(small_cnn, (1, 6, 6)), (conv1d_net, (1, 12)), (TwoBranch, (4,))])
def test_traced_models_codes_equal_exact_pieces(make, shape):
    model = make().double().eval()
    x = torch.randn(40, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    c = codes(model, x, batch_size=16, progress=False)
    net = PWLNet.from_torch(model, x[:1])
    assert [s.n_units for s in c.layout.sites] == list(net.layer_sizes)
    np.testing.assert_array_equal(c.pieces(), net.codes(x))


def test_multi_piece_units_use_thermometer_bits_and_max_pool_one_hot_bits():
    model = small_cnn()
    c = codes(model, torch.randn(3, 1, 6, 6, dtype=torch.float64), progress=False)
    kinds = {s.kind: s for s in c.layout.sites}
    relu6, pool = kinds["ReLU6"], c.layout.sites[1]
    assert (relu6.bits_per_unit, relu6.thresholds, relu6.encoding) == (2, (0.0, 6.0), "thermometer")
    assert (pool.kind, pool.bits_per_unit, pool.encoding, pool.shape) == ("MaxPool2d", 4, "one-hot", (3, 3, 3))
    bits = c.unpack()[:, pool.bit_offset:pool.bit_offset + pool.n_bits].reshape(3, pool.n_units, 4)
    assert np.all(bits.sum(axis=2) == 1)
    t = relu6
    therm = c.unpack()[:, t.bit_offset:t.bit_offset + t.n_bits].reshape(3, t.n_units, 2)
    assert not np.any(therm[:, :, 1] & ~therm[:, :, 0])  # z > 6 implies z > 0


def test_functional_sites_and_repeated_module_calls_are_separate_sites():
    model = TwoBranch().double()
    plan = find_sites(model)
    assert [s.kind for s in plan.sites] == ["ReLU", "relu()", "clamp()", "abs()"]
    c = codes(model, torch.randn(8, 4, dtype=torch.float64), progress=False)
    assert c.layout.names == ["relu()", "act", "act#1", "clamp()", "abs_1()"]  # fx node names + "()"
    assert c.layout.site("clamp()").thresholds == (0.1,)


# ----------------------------------------------------------------------------- packing


def test_pack_and_unpack_round_trip_for_odd_site_sizes():
    rng = np.random.default_rng(0)
    layout = CodeLayout.build([
        ("a", "ReLU", (3,), 1, (0.0,), False, "thermometer"),
        ("b", "Hardtanh", (2, 5), 2, (-1.0, 1.0), False, "thermometer"),
        ("c", "ReLU", (9,), 1, (0.0,), False, "thermometer"),
    ])
    bits = rng.random((17, layout.n_bits)) > 0.5
    packed = pack_bits(bits, layout)
    assert packed.shape == (17, 1 + 3 + 2) and layout.n_bits == 32
    np.testing.assert_array_equal(Codes(packed, layout).unpack(), bits)
    assert [s.byte_offset for s in layout.sites] == [0, 1, 4]


def test_bit_order_is_little_endian_within_each_sites_bytes():
    layout = CodeLayout.build([("a", "ReLU", (10,), 1, (0.0,), False, "thermometer")])
    bits = np.zeros((1, 10), bool)
    bits[0, [0, 9]] = True
    np.testing.assert_array_equal(pack_bits(bits, layout), [[1, 2]])


def test_torch_packing_path_matches_numpy_packbits():
    bits = torch.rand(7, 21, generator=torch.Generator().manual_seed(0)) > 0.5
    expected = np.packbits(bits.numpy(), axis=1, bitorder="little")
    np.testing.assert_array_equal(pack_tensor(bits), expected)  # the GPU path, run on the CPU
    np.testing.assert_array_equal(pack(bits), expected)
    np.testing.assert_array_equal(pack(bits.numpy()), expected)


def test_bfloat16_models_take_the_torch_path_and_match_pieces_of_their_activations():
    model = small_cnn().to(torch.bfloat16)  # numpy has no bfloat16: comparisons run in torch
    x = torch.randn(6, 1, 6, 6, generator=torch.Generator().manual_seed(5)).to(torch.bfloat16)
    seen = {}
    handles = [model[i].register_forward_hook(lambda m, a, o, i=i: seen.__setitem__(i, a[0].float()))
               for i in (2, 3, 5, 6)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    pieces = codes(model, x, progress=False).pieces()
    windows1 = F.unfold(seen[3], 2, stride=2).reshape(6, 3, 4, 9)  # (n, C, kernel, windows)
    windows2 = F.unfold(seen[6], 2, stride=1).reshape(6, 4, 4, 4)
    expected = np.concatenate([
        (seen[2] > 0).reshape(6, -1).numpy(),
        windows1.argmax(dim=2).reshape(6, -1).numpy(),  # torch.argmax returns the first maximum
        ((seen[5] > 0).int() + (seen[5] > 6).int()).reshape(6, -1).numpy(),
        windows2.argmax(dim=2).reshape(6, -1).numpy(),
    ], axis=1)
    np.testing.assert_array_equal(pieces, expected)


def test_codes_slicing_select_and_pieces():
    model = make_mlp(3, [4, 5], seed=2)
    c = codes(model, torch.randn(6, 3, dtype=torch.float64), progress=False)
    assert len(c[2]) == 1 and len(c[1:4]) == 3 and len(c[-1]) == 1
    sub = c.select(["3"])
    np.testing.assert_array_equal(sub.unpack(), c.unpack()[:, 4:])
    np.testing.assert_array_equal(c.pieces(), c.unpack().astype(np.int8))


# ----------------------------------------------------------------------------- hooks


def test_hooks_are_removed_and_modes_restored_when_the_forward_pass_fails():
    class Boom(nn.Module):
        def forward(self, x):
            if isinstance(x, torch.Tensor):  # not while torch.fx traces with proxies
                raise RuntimeError("boom")
            return x

    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), Boom()).double()
    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        codes(model, torch.randn(4, 2, dtype=torch.float64), progress=False)
    assert _hooks(model) == 0
    assert all(m.training for m in model.modules())


def test_hooks_are_removed_after_success_and_after_a_bad_batch():
    model = make_mlp(2, [3], seed=0)
    codes(model, torch.randn(4, 2, dtype=torch.float64), progress=False)
    assert _hooks(model) == 0
    with pytest.raises(RuntimeError):
        codes(model, torch.randn(4, 3, dtype=torch.float64), progress=False)
    assert _hooks(model) == 0


# ----------------------------------------------------------------------------- smooth / named sites


def test_gelu_model_codes_are_pre_activation_signs_marked_approximate():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.GELU(), nn.Linear(5, 4), nn.SiLU(), nn.Linear(4, 1)).double()
    x = torch.randn(20, 3, dtype=torch.float64)
    c = codes(model, x, progress=False)
    assert c.approximate and c.layout.names == ["1", "3"]
    z1 = model[0](x)
    z2 = model[2](model[1](z1))
    np.testing.assert_array_equal(c.unpack(), torch.cat([z1 > 0, z2 > 0], dim=1).numpy())


def test_user_glob_patterns_name_modules_and_composite_modules_code_output_signs():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(4, 4)
            self.act = nn.GELU()

        def forward(self, x):
            return self.act(self.dense(x))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.layer = nn.ModuleList([Block(), Block()])

        def forward(self, x):
            for block in self.layer:
                x = block(x)
            return x

    model = Encoder().double()
    x = torch.randn(5, 4, dtype=torch.float64)
    c = codes(model, x, sites="layer.*", progress=False)
    assert "layer.0" in c.layout.names and c.layout.site("layer.0").kind == "output"
    c2 = codes(model, x, sites=["layer.*.act"], progress=False)
    assert c2.layout.names == ["layer.0.act", "layer.1.act"] and c2.approximate
    np.testing.assert_array_equal(c.select(["layer.0"]).unpack(), c2.select(["layer.0.act"]).unpack())


def test_a_site_pattern_that_matches_nothing_is_named_in_the_error():
    model = make_mlp(2, [3], seed=0)
    with pytest.raises(ValueError, match=r"'encoder\.layer\.\*' in `sites` matches no module"):
        codes(model, torch.randn(2, 2, dtype=torch.float64), sites="encoder.layer.*", progress=False)


def test_a_model_without_activations_asks_for_sites():
    with pytest.raises(PolylensError, match="no activation site"):
        find_sites(nn.Linear(2, 2))


def test_untraceable_model_warns_that_functional_activations_are_missed():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.act = nn.Linear(2, 3), nn.ReLU()

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                return F.relu(self.act(self.lin(x)))
            return self.act(self.lin(x))

    with pytest.warns(PolylensWarning, match="could not trace"):
        plan = find_sites(Branchy())
    assert [s.name for s in plan.sites] == ["act"]


def test_sequence_sites_keep_token_positions_and_reject_other_lengths():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)).double()
    x = torch.randn(3, 5, 4, dtype=torch.float64)  # (batch, tokens, features)
    c = codes(model, x, progress=False)
    site = c.layout.site("1")
    assert site.shape == (5, 6) and site.positions == 5
    np.testing.assert_array_equal(c.layout.token_positions(), np.repeat(np.arange(5), 6))
    batches = [x, torch.randn(3, 7, 4, dtype=torch.float64)]
    with pytest.raises(PolylensError, match=r"chunk 1 .*differ from the first chunk's: got \('1', \(7, 6\)\)"):
        codes(model, batches, progress=False)


def test_activations_without_a_leading_batch_axis_are_rejected_with_the_site_name():
    class SeqFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.act = nn.Linear(3, 3), nn.ReLU()

        def forward(self, x):
            return self.act(self.lin(x).transpose(0, 1))

    with pytest.raises(PolylensError, match="site 'act'.*batch axis"):
        codes(SeqFirst().double(), torch.randn(2, 5, 3, dtype=torch.float64), progress=False)


# ----------------------------------------------------------------------------- inputs and store


def test_dataloader_tuples_mappings_and_tensors_give_the_same_codes():
    model = make_mlp(3, [8], seed=5)
    x = torch.randn(40, 3, dtype=torch.float64)
    ref = codes(model, x, batch_size=7, progress=False).packed
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(40)), batch_size=9)
    np.testing.assert_array_equal(codes(model, loader, progress=False).packed, ref)
    np.testing.assert_array_equal(codes(model, (b for b in x.split(6)), progress=False).packed, ref)

    class Kw(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids):
            return self.inner(input_ids)

    batches = [{"input_ids": b} for b in x.split(11)]
    np.testing.assert_array_equal(codes(Kw(model), batches, progress=False).packed, ref)
    np.testing.assert_array_equal(codes(model, x.numpy(), progress=False).packed, ref)


def test_float32_inputs_run_on_a_float64_model_and_bad_arguments_are_named():
    model = make_mlp(3, [4], seed=0)
    codes(model, torch.randn(2, 3), progress=False)
    with pytest.raises(ValueError, match="`batch_size`"):
        codes(model, torch.randn(2, 3), batch_size=0, progress=False)
    with pytest.raises(ValueError, match="`inputs` holds no samples"):
        codes(model, torch.randn(0, 3), progress=False)
    with pytest.raises(TypeError, match="`inputs`"):
        codes(model, "data.csv", progress=False)
    with pytest.raises(ValueError, match="`device`"):
        codes(model, torch.randn(2, 3), device="meta", progress=False)


def test_store_on_disk_reads_back_identical_and_memory_mapped(tmp_path):
    model = make_mlp(6, [13, 11], seed=3)
    x = torch.randn(257, 6, dtype=torch.float64)
    in_memory = codes(model, x, batch_size=50, progress=False)
    stored = codes(model, x, batch_size=50, store=tmp_path / "codes", progress=False)
    assert isinstance(stored.packed, np.memmap)
    np.testing.assert_array_equal(stored.packed, in_memory.packed)
    assert stored.layout == in_memory.layout
    again = Codes.load(tmp_path / "codes.npy", mmap=False)
    np.testing.assert_array_equal(again.packed, in_memory.packed)
    assert np.load(tmp_path / "codes.npy").shape == (257, in_memory.n_bytes)
    in_memory.save(tmp_path / "copy")
    np.testing.assert_array_equal(Codes.load(tmp_path / "copy").packed, in_memory.packed)


def _failing(n_good: int = 1):
    def batches():
        for _ in range(n_good):
            yield torch.randn(4, 2, dtype=torch.float64)
        raise KeyboardInterrupt
    return batches()


def test_a_failed_stream_leaves_no_store_and_no_temporary_file(tmp_path):
    model = make_mlp(2, [3], seed=0)
    with pytest.raises(KeyboardInterrupt):
        codes(model, _failing(), store=tmp_path / "partial", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_store_is_refused_unless_overwrite_and_survives_a_failing_run(tmp_path):
    model = make_mlp(2, [3], seed=0)
    x = torch.randn(10, 2, dtype=torch.float64)
    first = codes(model, x, store=tmp_path / "c", progress=False)
    kept = np.array(first.packed)
    for store in (tmp_path / "c", tmp_path / "c.npy"):
        with pytest.raises(InvalidParameterError, match=r"codes: `store`.*exists already.*overwrite=True"):
            codes(model, x[:3], store=store, progress=False)
    (tmp_path / "lonely.layout.json").write_text("{}")  # a layout file alone also counts as a store
    with pytest.raises(InvalidParameterError, match="exists already"):
        codes(model, x, store=tmp_path / "lonely", progress=False)
    with pytest.raises(KeyboardInterrupt):
        codes(model, _failing(2), store=tmp_path / "c", overwrite=True, progress=False)
    np.testing.assert_array_equal(Codes.load(tmp_path / "c.npy").packed, kept)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.layout.json", "c.npy", "lonely.layout.json"]
    replaced = codes(model, x[:3], store=tmp_path / "c", overwrite=True, progress=False)
    assert len(Codes.load(tmp_path / "c.npy")) == len(replaced) == 3
    with pytest.raises(InvalidParameterError, match="Codes.save: `path`.*exists already"):
        Codes(kept, first.layout).save(tmp_path / "c")
    with pytest.raises(InvalidParameterError, match="one of the inputs"):
        replaced.save(tmp_path / "c", overwrite=True)  # a memory-mapped store saved over itself


def test_a_store_never_replaces_its_input_file(tmp_path):
    model = make_mlp(2, [3], seed=0)
    data = np.random.default_rng(0).normal(size=(20, 2))
    np.save(tmp_path / "data.npy", data)
    for store in (tmp_path / "data.npy", tmp_path / "data", str(tmp_path / "data")):
        with pytest.raises(InvalidParameterError, match="one of the inputs"):
            codes(model, tmp_path / "data.npy", store=store, overwrite=True, progress=False)
        with pytest.raises(InvalidParameterError, match="one of the inputs"):
            codes(model, [tmp_path / "data.npy"], store=store, overwrite=True, progress=False)
    np.testing.assert_array_equal(np.load(tmp_path / "data.npy"), data)


def test_a_bad_store_path_is_refused_before_any_forward_pass(tmp_path):
    model = make_mlp(2, [3], seed=0)
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    x = torch.randn(5, 2, dtype=torch.float64)
    with pytest.raises(InvalidParameterError, match="does not exist"):
        codes(model, x, store=tmp_path / "missing" / "c", progress=False)
    (tmp_path / "folder.npy").mkdir()
    with pytest.raises(InvalidParameterError, match="directory"):
        codes(model, x, store=tmp_path / "folder", progress=False)
    assert calls == []


def test_nan_non_numeric_and_integer_inputs_are_refused_by_name():
    model = make_mlp(2, [3], seed=0)
    x = torch.randn(6, 2, dtype=torch.float64)
    x[4, 1] = float("nan")
    with pytest.raises(InvalidParameterError, match="`inputs` holds 1 NaN or infinite"):
        codes(model, x, progress=False)
    with pytest.raises(InvalidParameterError, match="NaN or infinite"):
        codes(model, np.full((3, 2), np.inf), progress=False)
    with pytest.raises(InvalidParameterError, match="must hold numbers"):
        codes(model, np.array([["a", "b"]]), progress=False)
    with pytest.raises(InvalidParameterError, match=r"dtype torch.int64.*x.float\(\)"):
        codes(model, torch.ones(3, 2, dtype=torch.int64), progress=False)
    embed = nn.Sequential(nn.Embedding(5, 3), nn.ReLU())  # integer token ids stay accepted
    assert codes(embed, torch.tensor([[1, 2], [3, 4]]), progress=False).packed.shape == (2, 1)


@pytest.mark.parametrize("pool", [
    nn.MaxPool2d(2), nn.MaxPool2d(3, stride=2, padding=1), nn.MaxPool2d(2, stride=1, dilation=2),
    nn.MaxPool2d((2, 3), stride=(2, 2), ceil_mode=True),
])
def test_max_pool_pieces_are_the_window_arg_max_for_padding_dilation_and_ceil_mode(pool):
    z = torch.randn(4, 2, 7, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c = codes(nn.Sequential(pool, nn.Flatten()), z, progress=False)
    out = pool(z)
    kh, kw = pool.kernel_size if isinstance(pool.kernel_size, tuple) else (pool.kernel_size,) * 2
    p = pool.padding if isinstance(pool.padding, int) else pool.padding[0]
    padded = F.pad(z, (p, p + kw, p, p + kh), value=float("-inf"))
    windows = F.unfold(padded, (kh, kw), dilation=pool.dilation, stride=pool.stride)  # (n, C*K, L)
    sh = pool.stride if isinstance(pool.stride, int) else pool.stride[0]
    rows = (padded.shape[2] - pool.dilation * (kh - 1) - 1) // sh + 1
    windows = windows.reshape(4, 2, kh * kw, rows, -1)[:, :, :, :out.shape[2], :out.shape[3]]
    np.testing.assert_array_equal(windows.max(dim=2).values, out)
    expected = windows.argmax(dim=2).reshape(4, -1).numpy()
    assert c.layout.sites[0].shape == tuple(out.shape[1:])
    np.testing.assert_array_equal(c.pieces(), expected)


def test_a_chunk_task_gets_its_own_layout_whatever_chunk_ran_before_it():
    from polylens.sampling import chunks
    from polylens.sampling.collect import CodesJob, code_chunk

    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU()).double()
    short, long = torch.randn(3, 5, 4, dtype=torch.float64), torch.randn(3, 7, 4, dtype=torch.float64)
    with CodesJob(model, None, None, 8) as job:  # a worker may run chunk 1 before chunk 0
        late = code_chunk(job, chunks.ArrayChunk(1, 3, long))
        early = code_chunk(job, chunks.ArrayChunk(0, 0, short))
        again = code_chunk(job, chunks.ArrayChunk(2, 6, short))
    assert late.layout.site("1").shape == (7, 6) and early.layout.site("1").shape == (5, 6)
    assert again.layout is early.layout  # an unchanged layout is reused, not rebuilt
    np.testing.assert_array_equal(early.packed, codes(model, short, progress=False).packed)
