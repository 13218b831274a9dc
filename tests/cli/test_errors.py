"""Every error of the command line: the exit status, a message that names the flag or file
and says what to do, no traceback, and with ``--json`` one JSON error object.

Most cases run ``main()`` in-process (it returns the exit status; an exception escaping it
would fail the test), and a few run the real command as a subprocess: usage errors, a
model-file error, ``--debug`` and Ctrl-C / SIGTERM during an enumeration.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _nets import make_mlp

from polylens.cli import _plural, main

ROOT = Path(__file__).resolve().parents[2]


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _run(argv, **kw):
    return subprocess.run([sys.executable, "-m", "polylens.cli", *argv], capture_output=True, text=True,
                          env=_env(), timeout=300, **kw)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Model files of every kind, good and bad, and input files."""
    d = tmp_path_factory.mktemp("cli")
    mlp = make_mlp(2, [6, 5], out=2, seed=1, dtype=torch.float32).eval()
    torch.export.save(torch.export.export(mlp, (torch.zeros(1, 2),)), d / "mlp.pt2")
    torch.save(mlp, d / "mlp.pt")
    torch.save(mlp.state_dict(), d / "weights.pt")
    torch.save(torch.zeros(3), d / "tensor.pt")
    with open(d / "plain.pkl", "wb") as f:
        pickle.dump({"a": 1}, f)
    (d / "text.pt").write_text("not a model\n")
    (d / "empty.pt").write_bytes(b"")
    (d / "folder.pt").mkdir()
    (d / "truncated.pt").write_bytes((d / "mlp.pt").read_bytes()[:200])
    from polylens import zoo

    cnn = zoo.digits_cnn(channels=(2, 4)).eval()
    torch.save(cnn, d / "cnn.pt")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(3, 1, 8, 8))
    for i in range(3):
        np.save(d / f"x{i}.npy", x[i])               # the model's input shape
        np.save(d / f"batch{i}.npy", x[i][None])     # a batch of one
        np.save(d / f"flat{i}.npy", x[i].reshape(-1))
    np.save(d / "short.npy", x[0].reshape(-1)[:50])
    np.save(d / "nan.npy", np.full((1, 8, 8), np.nan))
    np.save(d / "words.npy", np.array(["a", "b"]))
    np.save(d / "p2.npy", np.array([0.1, 0.2]))
    np.save(d / "q2.npy", np.array([[0.9, -0.4]]))
    return d


def _check(code, capsys, want_code, *words, json_mode=False):
    out, err = capsys.readouterr()
    assert code == want_code, (out, err)
    assert "Traceback" not in out + err
    if json_mode:
        lines = out.strip().splitlines()
        assert len(lines) == 1, lines
        obj = json.loads(lines[0])
        assert set(obj) == {"error", "kind"} and obj["error"] and obj["kind"]
        text = obj["error"]
    else:
        text = err
    for w in words:
        assert w in text, (w, text)
    return text


# (argv template, words the message must hold); {d} is the folder of the files
MODEL_CASES = [
    (["enumerate", "{d}/nope.pt2"], ["no such file", "nope.pt2"]),
    (["enumerate", "{d}/folder.pt"], ["directory", "folder.pt"]),
    (["enumerate", "{d}/empty.pt"], ["empty", "empty.pt"]),
    (["enumerate", "{d}/text.pt"], ["not a model file", "text.pt", "torch.export"]),
    (["enumerate", "{d}/plain.pkl"], ["plain Python pickle", "plain.pkl"]),
    (["enumerate", "{d}/truncated.pt"], ["truncated or corrupt", "truncated.pt"]),
    (["enumerate", "{d}/weights.pt"], ["state_dict", "load_state_dict"]),
    (["enumerate", "{d}/tensor.pt"], ["Tensor", "not a module"]),
    (["enumerate", "{d}/mlp.pt"], ["runs code", "--trust-pickle", "mlp.pt"]),
    (["slice", "{d}/mlp.pt"], ["runs code", "--trust-pickle"]),
    (["path", "{d}/mlp.pt", "--from", "{d}/p2.npy", "--to", "{d}/q2.npy"], ["--trust-pickle"]),
    # shapes of inputs and of --input-shape
    (["slice", "{d}/cnn.pt", "--trust-pickle", "--through", "{d}/x0.npy", "{d}/x1.npy", "{d}/short.npy"],
     ["--through", "different shapes"]),
    (["slice", "{d}/cnn.pt", "--trust-pickle", "--input-shape", "1,8,8", "--through", "{d}/flat0.npy",
      "{d}/flat1.npy", "{d}/flat2.npy", "--box", "0", "0.01", "--out", "{d}/fig.gif"], ["--out", ".png"]),
    (["slice", "{d}/cnn.pt", "--trust-pickle", "--input-shape", "3,8,8", "--through", "{d}/flat0.npy",
      "{d}/flat1.npy", "{d}/flat2.npy"], ["--input-shape", "(3, 8, 8)"]),
    (["slice", "{d}/cnn.pt", "--trust-pickle", "--through", "{d}/flat0.npy", "{d}/flat1.npy", "{d}/flat2.npy"],
     ["--input-shape C,H,W"]),
    (["path", "{d}/cnn.pt", "--trust-pickle", "--input-shape", "1,8,8", "--from", "{d}/short.npy",
      "--to", "{d}/short.npy"], ["--from/--to", "short.npy", "(1, 8, 8)", "64 numbers"]),
    (["path", "{d}/cnn.pt", "--trust-pickle", "--from", "{d}/nan.npy", "--to", "{d}/x0.npy"], ["NaN", "nan.npy"]),
    (["path", "{d}/cnn.pt", "--trust-pickle", "--from", "{d}/words.npy", "--to", "{d}/x0.npy"],
     ["words.npy", "not real numbers"]),
    (["path", "{d}/cnn.pt", "--trust-pickle", "--from", "{d}/missing.npy", "--to", "{d}/x0.npy"],
     ["--from/--to", "missing.npy"]),
    (["slice", "{d}/mlp.pt2", "--through", "{d}/p2.npy", "{d}/q2.npy", "{d}/x0.npy"], ["different shapes"]),
    (["slice", "{d}/cnn.pt", "--trust-pickle", "--input-shape", "1,8,8"], ["--through A.npy B.npy C.npy", "64"]),
    # output paths, checked before any work
    (["enumerate", "{d}/mlp.pt2", "--out", "{d}/no/such/g.graphml"], ["--out", "does not exist"]),
    (["enumerate", "{d}/mlp.pt2", "--out", "{d}/folder.pt"], ["--out", "directory"]),
    (["enumerate", "{d}/mlp.pt2", "--out", "{d}/mlp.pt2", "--overwrite"], ["--out", "one of the inputs"]),
    (["enumerate", "{d}/mlp.pt2", "--out", "{d}/text.pt"], ["--out", "exists already", "--overwrite"]),
    (["enumerate", "{d}/mlp.pt2", "--checkpoint", "{d}/no/such/run.npz"], ["--checkpoint", "does not exist"]),
    (["enumerate", "{d}/mlp.pt2", "--checkpoint", "{d}/text.pt"], ["--checkpoint", "not a checkpoint", "delete"]),
    (["enumerate", "{d}/mlp.pt2", "--checkpoint", "{d}/empty.pt"], ["--checkpoint", "empty"]),
    (["enumerate", "{d}/mlp.pt2", "--checkpoint", "{d}/truncated.pt"], ["--checkpoint", "truncated or corrupt"]),
    (["enumerate", "{d}/mlp.pt2", "--checkpoint", "{d}/folder.pt"], ["--checkpoint", "directory"]),
    (["slice", "{d}/mlp.pt2", "--out", "{d}/text.pt"], ["--out", "exists already"]),
    (["report", "--out", "{d}/text.pt"], ["--out", "names the file"]),
    (["report", "--out", "{d}/no/such/rep"], ["--out", "does not exist"]),
    (["demo", "--out", "{d}/text.pt"], ["--out", "names the file"]),
]


@pytest.mark.parametrize("argv,words", MODEL_CASES, ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _) in
                                                          enumerate(MODEL_CASES)])
def test_error_names_the_flag_or_file(files, argv, words, capsys):
    argv = [a.format(d=files) for a in argv]
    _check(main(argv), capsys, 2, *words)
    if argv[0] in ("enumerate", "slice", "path"):
        text = _check(main([*argv, "--json"]), capsys, 2, json_mode=True)
        for w in words:
            assert w in text


def test_report_refuses_an_earlier_report_unless_asked(tmp_path, capsys):
    (tmp_path / "report.md").write_text("earlier\n")
    _check(main(["report", "--out", str(tmp_path), "--quick"]), capsys, 2, "report.md", "--overwrite")
    assert (tmp_path / "report.md").read_text() == "earlier\n"


def test_an_api_error_is_worded_with_the_flags():
    from polylens.cli import _in_flags

    assert _in_flags("plane_partition: `u` and `v` are needed for a net with 3 inputs") == \
        "`--through` is needed for a net with 3 inputs"
    assert _in_flags("PathCrossings.density: `n_windows` must be a positive int; got 0") == \
        "`--windows` must be a positive int; got 0"
    assert "--solver" in _in_flags("get_backend: `solver` must be one of ['highs']; got 'x'")
    assert _in_flags("check: `--out` ('a') exists already; pass overwrite=True to replace it") == \
        "`--out` ('a') exists already; pass --overwrite to replace it"


# ----------------------------------------------------------------------------- successes the checks must allow


def test_through_files_of_one_input_a_batch_of_one_or_flat_give_one_plane(files, capsys):
    regions = {}
    for stem in ("x", "batch", "flat"):
        extra = ["--input-shape", "1,8,8"] if stem == "flat" else []
        argv = ["slice", str(files / "cnn.pt"), "--trust-pickle", *extra, "--through",
                *(str(files / f"{stem}{i}.npy") for i in range(3)), "--box", "0", "0.2", "--json"]
        assert main(argv) == 0
        regions[stem] = json.loads(capsys.readouterr().out)["regions"]
    assert regions["x"] == regions["batch"] == regions["flat"] >= 1


def test_enumerate_out_says_where_and_overwrite_replaces_atomically(files, tmp_path, capsys):
    out = tmp_path / "g.graphml"
    out.write_text("old")
    assert main(["enumerate", str(files / "mlp.pt2"), "--box", "-1", "1", "--out", str(out), "--no-progress"]) == 2
    assert out.read_text() == "old"
    capsys.readouterr()
    assert main(["enumerate", str(files / "mlp.pt2"), "--box", "-1", "1", "--out", str(out), "--overwrite",
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert f"region graph written to {out}" in text
    assert out.read_text().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.graphml"]  # no temporary file left


def test_counts_are_pluralised():
    assert _plural(1, "LP") == "1 LP" and _plural(0, "LP") == "0 LPs" and _plural(2, "region") == "2 regions"
    assert _plural(1, "boundary", "boundaries") == "1 boundary" and _plural(3, "boundary", "boundaries") == \
        "3 boundaries"


def test_report_help_shows_a_plain_percent(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = capsys.readouterr().out
    assert "95%" in out and "%%" not in out


# ----------------------------------------------------------------------------- as subprocesses


def test_usage_errors_in_a_subprocess(files):
    bad_solver = _run(["enumerate", str(files / "mlp.pt2"), "--solver", "gurobi"])
    assert bad_solver.returncode == 2 and "Traceback" not in bad_solver.stderr
    assert "--solver" in bad_solver.stderr and "highs" in bad_solver.stderr and "cvxpy" in bad_solver.stderr
    as_json = _run(["path", str(files / "mlp.pt2"), "--from", "a.npy", "--to", "b.npy", "--windows", "0", "--json"])
    assert as_json.returncode == 2 and "Traceback" not in as_json.stdout + as_json.stderr
    obj = json.loads(as_json.stdout)
    assert obj["kind"] == "UsageError" and "--windows" in obj["error"]


@pytest.mark.slow
def test_model_file_error_in_a_subprocess_and_debug_shows_the_traceback(files):
    plain = _run(["enumerate", str(files / "mlp.pt"), "--json"])
    assert plain.returncode == 2 and "Traceback" not in plain.stdout + plain.stderr
    obj = json.loads(plain.stdout)
    assert obj["kind"] == "InvalidParameterError" and "--trust-pickle" in obj["error"]
    debug = _run(["enumerate", str(files / "mlp.pt"), "--debug"])
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "InvalidParameterError" in debug.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_enumeration_exits_non_zero_and_keeps_its_checkpoint(tmp_path, sig, status):
    torch.manual_seed(0)
    model = make_mlp(2, [128, 128, 128], out=1, seed=0, dtype=torch.float32)  # a search of many seconds
    path = tmp_path / "big.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 2),)), path)
    ckpt = tmp_path / "run.npz"
    # A shell without job control starts background jobs with SIGINT ignored, and a child
    # inherits that: restore the default, so that this test sees what Ctrl-C does.
    proc = subprocess.Popen([sys.executable, "-m", "polylens.cli", "enumerate", str(path), "--box", "-5", "5",
                             "--checkpoint", str(ckpt)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""
    while not re.search(r"regions: [1-9]\d*region", seen):  # the search has found regions
        char = proc.stderr.read(1)
        assert char, seen
        seen += char
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == status, (out, err)
    assert "Traceback" not in out + err
    assert "PARTIAL (interrupted" in out
    assert str(ckpt) in err and "resume" in err
    assert ckpt.stat().st_size > 0
