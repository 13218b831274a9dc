"""Codes on a 2-worker Dask cluster: identical to the in-process result for every kind of
input, on disk and in memory, in input order; a worker killed mid-run changes nothing;
a failing chunk is named."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

pytest.importorskip("distributed")

from _faults import FaultyModel, InjectedFault, Killer  # noqa: E402
from _nets import make_mlp  # noqa: E402

from polylens import PolylensError, zoo  # noqa: E402
from polylens.errors import TaskError  # noqa: E402
from polylens.sampling import Codes, codes  # noqa: E402

N, BATCH = 1000, 25
SITES = ["inner.1", "inner.3"]  # the faulty wrapper's branch keeps torch.fx from tracing it


@pytest.fixture(scope="module")
def mlp():
    return make_mlp(6, [13, 11], seed=3)


@pytest.fixture(scope="module")
def data():
    return torch.randn(N, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def reference(mlp, data):
    return codes(mlp, data, batch_size=BATCH, progress=False)


def _input(kind: str, data: torch.Tensor, folder):
    if kind == "tensor":
        return data
    if kind == "array":
        return data.numpy()
    if kind == "npy":
        np.save(folder / "x.npy", data.numpy())
        return str(folder / "x.npy")
    if kind == "files":
        paths = [folder / f"part{i}.npy" for i in range(4)]
        for path, part in zip(paths, np.array_split(data.numpy(), 4)):
            np.save(path, part)
        return paths
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data, torch.zeros(N)), batch_size=BATCH)


@pytest.mark.parametrize("kind", ["tensor", "array", "npy", "files", "loader"])
def test_codes_on_two_workers_equal_in_process_codes_in_memory_and_on_disk(client, mlp, data, reference, kind,
                                                                          tmp_path):
    inputs = _input(kind, data, tmp_path)
    here = codes(mlp, inputs, batch_size=BATCH, progress=False)
    there = codes(mlp, inputs, batch_size=BATCH, progress=False, client=client, batches_per_task=3)
    stored = codes(mlp, inputs, batch_size=BATCH, progress=False, client=client, store=tmp_path / "codes")
    np.testing.assert_array_equal(here.packed, reference.packed)
    np.testing.assert_array_equal(there.packed, reference.packed)
    assert there.layout == stored.layout == reference.layout
    assert isinstance(stored.packed, np.memmap)
    np.testing.assert_array_equal(Codes.load(tmp_path / "codes.npy", mmap=False).packed, reference.packed)


def test_a_cnn_over_an_on_disk_data_set_gives_the_in_process_codes(client, tmp_path):
    torch.manual_seed(0)
    cnn = zoo.digits_cnn().eval()
    images = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    np.save(tmp_path / "images.npy", images.numpy())
    here = codes(cnn, images, batch_size=32, progress=False)
    there = codes(cnn, str(tmp_path / "images.npy"), batch_size=32, progress=False, client=client,
                  store=tmp_path / "cnn")
    np.testing.assert_array_equal(there.packed, here.packed)
    assert there.layout == here.layout


def test_killing_a_worker_mid_run_still_gives_identical_codes(own_client, mlp, data, tmp_path):
    reference = codes(FaultyModel(mlp, data[600]), data, sites=SITES, batch_size=BATCH, progress=False)
    faulty = FaultyModel(mlp, data[600], mode="hold", signal_dir=str(tmp_path))
    workers = set(own_client.run(os.getpid).values())
    with Killer(str(tmp_path)) as killer:
        result = codes(faulty, data, sites=SITES, batch_size=BATCH, progress=False, client=own_client,
                       store=tmp_path / "codes")
    assert killer.pid in workers  # a worker really died during the run
    assert len(list(tmp_path.glob("*.started"))) == 2  # ... and its chunk ran again elsewhere
    np.testing.assert_array_equal(result.packed, reference.packed)
    assert result.layout == reference.layout


def test_a_failing_chunk_is_named_with_its_rows(client, mlp, data, tmp_path):
    faulty = FaultyModel(mlp, data[120], mode="raise")
    with pytest.raises(TaskError, match=r"chunk 2 \(rows 100-149\)") as info:
        codes(faulty, data, sites=SITES, batch_size=BATCH, progress=False, client=client, batches_per_task=2,
              store=tmp_path / "codes")
    assert info.value.where == "chunk 2 (rows 100-149)"
    assert isinstance(info.value.__cause__, InjectedFault)
    with pytest.raises(FileNotFoundError, match="layout"):
        Codes.load(tmp_path / "codes.npy")  # no store that looks complete is left behind
    # in-process the model's own error surfaces, with a note naming the chunk
    with pytest.raises(InjectedFault) as info:
        codes(faulty, data, sites=SITES, batch_size=BATCH, progress=False)
    assert "polylens: raised while working on chunk 4 (rows 100-124)" in info.value.__notes__


def test_a_missing_input_file_is_named(client, mlp, data, tmp_path):
    paths = _input("files", data, tmp_path)
    paths[2] = tmp_path / "missing.npy"
    with pytest.raises(TaskError, match="chunk 2 .*missing.npy.*FileNotFoundError"):
        codes(mlp, paths, batch_size=BATCH, progress=False, client=client)


def test_sites_that_change_between_workers_chunks_are_refused(client, tmp_path):
    seq = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU()).double()
    batches = [torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, 3, dtype=torch.float64)]
    with pytest.raises(PolylensError, match="chunk 1"):
        codes(seq, batches, progress=False, client=client, batches_per_task=1)


def test_a_client_of_another_type_is_refused(mlp, data):
    with pytest.raises(TypeError, match="`client` must be a dask.distributed.Client"):
        codes(mlp, data, progress=False, client="tcp://127.0.0.1:8786")
