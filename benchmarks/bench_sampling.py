#!/usr/bin/env python
"""Benchmarks of ``polylens.sampling``: codes throughput, pairwise Hamming, sampled vs exact.

Sections (each prints a Markdown table to stdout; progress goes to stderr):

* ``throughput`` -- :func:`polylens.sampling.codes` next to a plain forward pass of the
  same model on the same batches (MLP 784-1024x3-10 and the VGG-style CNN
  conv64-conv64-pool-conv128-conv128-pool-fc on 3x32x32, float32, random weights and
  inputs). Target: at most 25% overhead. Also with the on-disk store.
* ``hamming`` -- :func:`polylens.sampling.pairwise_hamming` on 4096 random codes of 3072
  bits. Target: at least 10 million pairs/s on one CPU thread.
* ``density`` -- sampled vs exact boundary crossings along straight paths between test
  digits, against steps per path, for an MLP and a CNN trained on scikit-learn's digits
  (:func:`polylens.sampling.validate_density`), and sampled vs exact regions in a random
  2-D disc (:func:`polylens.sampling.validate_local_complexity`). Exact counts come from
  ``polylens.path_crossings`` and ``polylens.enumerate_regions``.

Usage::

    python benchmarks/bench_sampling.py                 # everything (about 2-3 minutes)
    python benchmarks/bench_sampling.py --only hamming  # one section
    python benchmarks/bench_sampling.py --device cuda   # throughput and Hamming on a GPU

Timings are the best of ``--repeat`` interleaved rounds (wall clock, and process CPU
time, which a shared host disturbs less), single-threaded on the CPU
(``torch.set_num_threads(1)``; numpy's BLAS limited to one thread as well). Codes are
collected in memory unless the column says otherwise; every run includes finding the
sites (a ``torch.fx`` trace of the model).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from _common import interleaved_best, log, markdown_table  # noqa: E402

import polylens  # noqa: E402
from polylens import zoo  # noqa: E402
from polylens.sampling import codes, pairwise_hamming, validate_density, validate_local_complexity  # noqa: E402

torch.set_num_threads(1)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# --------------------------------------------------------------------------- throughput
def mlp_784() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                         nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)).eval()


def throughput(device: torch.device, repeat: int) -> str:
    cases = [
        ("MLP 784-1024x3-10", mlp_784(), (784,), 256, 8192, None),
        ("VGG-style CNN 3x32x32", zoo.vgg_style_cnn(), (3, 32, 32), 64, 256, None),
        ("VGG-style CNN, ReLU sites only", zoo.vgg_style_cnn(), (3, 32, 32), 64, 256, ["1", "3", "6", "8"]),
    ]
    rows = []
    for name, model, shape, batch, n, sites in cases:
        log(f"throughput: {name}")
        model = model.to(device)
        x = torch.randn(n, *shape, generator=torch.Generator().manual_seed(1)).to(device)
        batches = x.split(batch)

        def plain():
            with torch.no_grad():
                for b in batches:
                    model(b)
            sync(device)

        def sampled():
            codes(model, x, batch_size=batch, sites=sites, progress=False)
            sync(device)

        with tempfile.TemporaryDirectory() as tmp:
            def stored():
                codes(model, x, batch_size=batch, sites=sites, store=Path(tmp) / "codes", overwrite=True,
                      progress=False)
                sync(device)

            plain(), sampled()  # warm-up
            t_plain, t_codes, t_store = interleaved_best([plain, sampled, stored], repeat)
            cpu_plain, cpu_codes = interleaved_best([plain, sampled], repeat, clock=time.process_time)
            bits = codes(model, x[:2], sites=sites, progress=False).n_bits
        rows.append((name, batch, n, bits, f"{n / t_plain:,.0f}", f"{n / t_codes:,.0f}",
                     f"{t_codes / t_plain - 1:+.1%}", f"{cpu_codes / cpu_plain - 1:+.1%}",
                     f"{t_store / t_plain - 1:+.1%}"))
    return markdown_table(("model", "batch", "samples", "bits/sample", "forward samples/s", "codes samples/s",
                     "overhead (wall)", "overhead (CPU time)", "overhead with .npy store (wall)"), rows)


# --------------------------------------------------------------------------- hamming
def hamming_bench(device: torch.device, repeat: int) -> str:
    n, n_bits = 4096, 3072
    packed = np.random.default_rng(0).integers(0, 256, (n, n_bits // 8), dtype=np.uint8)
    rows = []
    for label, kwargs in [("numpy XOR + bitwise_count (CPU)", {}),
                          (f"torch matmul ({device})", {"device": device})]:
        log(f"hamming: {label}")
        pairwise_hamming(packed[:64], **kwargs)  # warm-up
        t, = interleaved_best([lambda: pairwise_hamming(packed, **kwargs)], repeat)
        rows.append((label, n, n_bits, f"{t:.3f}", f"{n * (n - 1) / 2 / t / 1e6:.1f}", f"{n * n / t / 1e6:.1f}"))
    naive = np.unpackbits(packed[5] ^ packed[77]).sum()
    assert pairwise_hamming(packed[:100])[5, 77] == naive
    return markdown_table(("method", "codes", "bits", "seconds", "M distinct pairs/s", "M matrix entries/s"), rows)


# --------------------------------------------------------------------------- density
def density(quick: bool) -> str:
    X_train, y_train, X_test, y_test = zoo.digits_data(seed=0)
    mlp = zoo.mlp([64, 64, 64, 10], seed=0)
    acc_mlp = zoo.train_classifier(nn.Sequential(nn.Flatten(), mlp), X_train, y_train, epochs=30)
    cnn = zoo.digits_cnn(seed=0)
    acc_cnn = zoo.train_classifier(cnn, X_train, y_train, epochs=30)
    rng = np.random.default_rng(0)
    n_paths = 4 if quick else 10
    pairs = []
    while len(pairs) < n_paths:
        i, j = rng.choice(len(y_test), 2, replace=False)
        if y_test[i] != y_test[j]:
            pairs.append((i, j))
    steps = (1, 4, 16, 64, 256, 1024, 4096, 16384)
    out = [f"Exact crossings from polylens.path_crossings; models in float64; {n_paths} straight paths between "
           f"test digits of different classes (train accuracy: MLP {acc_mlp:.3f}, CNN {acc_cnn:.3f}), each "
           "endpoint moved by Gaussian noise of scale 1e-6: the digit images themselves lie on max-pool tie "
           "boundaries (flat background patches give equal values in a window), where a sampled code is a "
           "boundary code. *Sampled changes*: steps whose two codes differ (never above the exact crossings); "
           "*sampled Hamming*: Hamming distances summed over the steps (one per max-pool arg-max change), "
           "against the exact *unit changes* summed over the crossings (where a ReLU feeding an all-zero "
           "max-pool window turns on, one crossing changes two units)."]
    jitter = 1e-6 * torch.randn(X_test.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    X_jit = X_test.double() + jitter
    for name, model, X in [("digits MLP 64-64-64-10", mlp.double(), X_jit.reshape(len(X_jit), -1)),
                           ("digits CNN (conv-BN-ReLU-maxpool x2, fc)", cnn.double(), X_jit)]:
        log(f"density: {name}")
        results = [validate_density(model, torch.stack([X[i], X[j]]), steps=steps) for i, j in pairs]
        exact = np.array([r.exact for r in results])
        units = np.array([r.exact_flips for r in results])
        sampled = np.array([r.sampled for r in results])  # (n_paths, n_steps)
        flips = np.array([r.sampled_flips for r in results])
        rel = (exact[:, None] - sampled) / np.maximum(exact[:, None], 1)
        rel_flips = (units[:, None] - flips) / np.maximum(units[:, None], 1)
        rows = [(s, f"{exact.mean():.1f}", f"{sampled[:, k].mean():.1f}", f"{rel[:, k].mean():.2%}",
                 f"{rel[:, k].max():.2%}", f"{units.mean():.1f}", f"{flips[:, k].mean():.1f}",
                 f"{rel_flips[:, k].mean():.2%}", int(sum(r.violations[k] for r in results)))
                for k, s in enumerate(steps)]
        out.append(f"\n**{name}**\n")
        out.append(markdown_table(("steps/path", "exact crossings", "sampled changes", "mean rel. error",
                             "max rel. error", "exact unit changes", "sampled Hamming", "mean rel. error",
                             "violations"), rows))
    log("density: local complexity")
    lc = validate_local_complexity(mlp, X_test[0].reshape(-1).double(), radius=1.0, k=2, seed=0,
                                   n_samples=(10, 100, 1000, 10000, 100000))
    out.append("\n**digits MLP: regions in a random 2-D disc of radius 1 around a test digit**\n")
    out.append(lc.table() + f"\n\nSampled codes that are no exact region's: {lc.outside}.")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("throughput", "hamming", "density"))
    parser.add_argument("--device", default="cpu", help="torch device for throughput and Hamming (default cpu)")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds; the best is kept")
    parser.add_argument("--quick", action="store_true", help="fewer paths in the density tables")
    args = parser.parse_args()
    device = torch.device(args.device)
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"polylens {polylens.__version__}, torch {torch.__version__}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, 1 thread; device {device}; GPU: {gpu}\n")
    if args.only in (None, "throughput"):
        print("## Codes throughput\n\n" + throughput(device, args.repeat) + "\n")
    if args.only in (None, "hamming"):
        print("## Pairwise Hamming\n\n" + hamming_bench(device, args.repeat) + "\n")
    if args.only in (None, "density"):
        print("## Sampled vs exact\n\n" + density(args.quick) + "\n")


if __name__ == "__main__":
    main()
