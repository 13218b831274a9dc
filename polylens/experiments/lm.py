"""A small decoder-only transformer language model with ReLU MLPs, and its training loop.

:class:`ReLULM` is a pre-LayerNorm GPT-style model (learned positions, causal
multi-head attention, ``Linear -> nn.ReLU -> Linear`` MLPs, tied input and output
embeddings). Every MLP nonlinearity is an ``nn.ReLU`` module, so
:func:`polylens.sampling.codes` gives exact sign codes of the MLP units (the rest of the
model -- attention, LayerNorm -- is not piecewise linear; the codes are those of the MLP
units for the inputs the rest of the model hands them).

:func:`train_lm` trains it on a stream of token ids (random windows, AdamW, linear
warm-up and cosine decay, fixed seed); :func:`save_lm` and :func:`load_lm` keep a
trained model, its tokenizer and its training log in a folder.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from polylens._repr import short_repr
from polylens._validation import check_int, check_number

__all__ = ["LMConfig", "TrainConfig", "TrainLog", "ReLULM", "train_lm", "evaluate_lm", "save_lm", "load_lm"]


@short_repr
@dataclass(frozen=True)
class LMConfig:
    """Shape of a :class:`ReLULM`.

    Attributes
    ----------
    vocab_size : int, default=4096
    d_model : int, default=128
    n_layers : int, default=4
    n_heads : int, default=4
        Must divide ``d_model``.
    d_mlp : int, default=512
        Units of each MLP (the coded units: ``n_layers * d_mlp`` in all).
    context : int, default=64
        Longest input (learned positions).
    dropout : float, default=0.1
        Dropout on the attention weights and on the outputs of attention and MLP
        blocks, in training only (the corpus is small).
    """

    vocab_size: int = 4096
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_mlp: int = 512
    context: int = 64
    dropout: float = 0.1

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_mlp", "context"):
            check_int(getattr(self, name), func="LMConfig", name=name, low=1)
        if not 0 <= check_number(self.dropout, func="LMConfig", name="dropout", low=0.0) < 1:
            raise ValueError(f"LMConfig: `dropout` must be in [0, 1); got {self.dropout!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"LMConfig: `n_heads`={self.n_heads} must divide `d_model`={self.d_model}")


@short_repr
@dataclass(frozen=True)
class TrainConfig:
    """How :func:`train_lm` trains.

    Attributes
    ----------
    steps : int, default=1000
    batch_size : int, default=32
        Windows of ``context + 1`` tokens per step.
    lr : float, default=3e-3
        Peak learning rate (linear warm-up over ``warmup`` steps, cosine decay to 10%).
    warmup : int, default=100
    weight_decay : float, default=0.1
        AdamW decay of the weight matrices (not of biases, LayerNorm or positions).
    seed : int, default=0
        Initialisation and batch order.
    """

    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.1
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            check_int(getattr(self, name), func="TrainConfig", name=name, low=1)
        check_int(self.warmup, func="TrainConfig", name="warmup", low=0)
        check_int(self.seed, func="TrainConfig", name="seed", low=0)
        check_number(self.lr, func="TrainConfig", name="lr", low=0.0, low_open=True)


@short_repr
@dataclass
class TrainLog:
    """What a training run did.

    Attributes
    ----------
    steps : int
    seconds : float
        Wall time of the training loop.
    train_loss : list of float
        Mean cross-entropy (nats per token) of every ``log_every`` steps.
    eval_loss : float or None
        Cross-entropy on held-out tokens after training (see :func:`evaluate_lm`).
    n_train_tokens : int
    config : dict
        The :class:`LMConfig` and :class:`TrainConfig` as dicts.
    """

    steps: int
    seconds: float
    train_loss: list = field(default_factory=list)
    eval_loss: float | None = None
    n_train_tokens: int = 0
    config: dict = field(default_factory=dict)


class _Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(n, t, d))


class MLP(nn.Module):
    """``Linear -> nn.ReLU -> Linear``; the ReLU module ``act`` is the coded site."""

    def __init__(self, d_model: int, d_mlp: int):
        super().__init__()
        self.fc_in = nn.Linear(d_model, d_mlp)
        self.act = nn.ReLU()
        self.fc_out = nn.Linear(d_mlp, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.act(self.fc_in(x)))


class _Block(nn.Module):
    def __init__(self, config: LMConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model)
        self.attn = _Attention(config.d_model, config.n_heads, config.dropout)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.mlp = MLP(config.d_model, config.d_mlp)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.mlp(self.ln2(x)))


class ReLULM(nn.Module):
    """Decoder-only transformer language model with ReLU MLPs.

    Parameters
    ----------
    config : LMConfig

    Examples
    --------
    >>> model = ReLULM(LMConfig(vocab_size=50, d_model=16, n_layers=2, n_heads=2, d_mlp=32, context=8))
    >>> model(torch.zeros(3, 5, dtype=torch.long)).shape
    torch.Size([3, 5, 50])
    >>> model.mlp_sites
    ['blocks.0.mlp.act', 'blocks.1.mlp.act']
    """

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.context, config.d_model)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.apply(_init)

    @property
    def mlp_sites(self) -> list[str]:
        """Module names of the MLP ReLUs, layer by layer (``sites=`` of :func:`polylens.sampling.codes`)."""
        return [f"blocks.{i}.mlp.act" for i in range(len(self.blocks))]

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits.

        Parameters
        ----------
        input_ids : LongTensor of shape (n, t)
            ``t <= config.context``.

        Returns
        -------
        Tensor of shape (n, t, vocab_size)

        Raises
        ------
        ValueError
            If ``input_ids`` has more than ``config.context`` positions.
        IndexError
            From the embedding, if an id is outside ``[0, vocab_size)``.
        """
        t = input_ids.shape[1]
        if t > self.config.context:
            raise ValueError(f"ReLULM: `input_ids` has {t} positions; the model takes at most {self.config.context}")
        x = self.tok_emb(input_ids) + self.pos_emb(torch.arange(t, device=input_ids.device))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.tok_emb.weight.T


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def train_lm(tokens: np.ndarray, config: LMConfig, train: TrainConfig = TrainConfig(), *,
             progress: bool = True, log_every: int = 50) -> tuple[ReLULM, TrainLog]:
    """Train a :class:`ReLULM` on a token stream.

    Every step takes ``batch_size`` windows of ``context + 1`` tokens at random offsets
    (seeded) and minimises the next-token cross-entropy.

    Parameters
    ----------
    tokens : ndarray of shape (n_tokens,), int
        Token ids; documents separated by a start token.
    config : LMConfig
    train : TrainConfig, default=TrainConfig()
    progress : bool, default=True
        Show a progress bar with the running loss.
    log_every : int, default=50
        Steps per entry of :attr:`TrainLog.train_loss`.

    Returns
    -------
    model : ReLULM
        In eval mode, on the CPU.
    log : TrainLog

    Raises
    ------
    ValueError
        If ``tokens`` is not a 1-D array of integer ids, holds an id outside
        ``[0, config.vocab_size)``, or has fewer than ``context + 1`` ids.

    Examples
    --------
    >>> tokens = np.tile(np.arange(10), 50)
    >>> cfg = LMConfig(vocab_size=10, d_model=16, n_layers=1, n_heads=2, d_mlp=32, context=8)
    >>> train = TrainConfig(steps=60, warmup=5, lr=1e-2)
    >>> model, log = train_lm(tokens, cfg, train, progress=False, log_every=20)
    >>> log.train_loss[0] > 1.0 > 0.2 > log.train_loss[-1]  # the sequence is learnt
    True
    """
    tokens = _check_tokens(tokens, config)
    if len(tokens) < config.context + 1:
        raise ValueError(f"train_lm: `tokens` has {len(tokens)} ids; need at least context + 1 = {config.context + 1}")
    torch.manual_seed(train.seed)
    model = ReLULM(config)
    decay = [p for n, p in model.named_parameters() if p.ndim == 2 and "pos_emb" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim == 2 and "pos_emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": train.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=train.lr, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: _lr_factor(step, train))
    data = torch.from_numpy(tokens)
    gen = torch.Generator().manual_seed(train.seed)
    window = torch.arange(config.context + 1)
    log = TrainLog(steps=train.steps, seconds=0.0, n_train_tokens=len(tokens),
                   config={"model": asdict(config), "train": asdict(train)})
    start, running = time.perf_counter(), []
    model.train()
    with tqdm(range(train.steps), desc="train LM", disable=not progress) as bar:
        for step in bar:
            offsets = torch.randint(0, len(data) - config.context, (train.batch_size, 1), generator=gen)
            batch = data[offsets + window]
            logits = model(batch[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, config.vocab_size), batch[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            running.append(loss.item())
            if len(running) == log_every or step == train.steps - 1:
                log.train_loss.append(float(np.mean(running)))
                bar.set_postfix(loss=f"{log.train_loss[-1]:.3f}")
                running = []
    log.seconds = time.perf_counter() - start
    return model.eval(), log


def _lr_factor(step: int, train: TrainConfig) -> float:
    if step < train.warmup:
        return (step + 1) / train.warmup
    progress = (step - train.warmup) / max(1, train.steps - train.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _check_tokens(tokens, config: LMConfig) -> np.ndarray:
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"`tokens` must be a 1-D array of token ids; got {tokens.dtype} of shape {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= config.vocab_size):
        raise ValueError(f"`tokens` holds ids outside [0, {config.vocab_size}) (the config's vocab_size)")
    return tokens.astype(np.int64)


@torch.no_grad()
def evaluate_lm(model: ReLULM, tokens: np.ndarray, batch_size: int = 64) -> float:
    """Mean next-token cross-entropy (nats per token) over consecutive windows of
    ``context + 1`` tokens of ``tokens`` (the tail that fills no window is left out).

    Raises
    ------
    ValueError
        If ``tokens`` is not a 1-D array of integer ids, holds an id outside
        ``[0, vocab_size)``, or has fewer than ``context + 1`` ids.
    """
    config = model.config
    tokens = _check_tokens(tokens, config)
    n = (len(tokens) - 1) // config.context
    if n < 1:
        raise ValueError(f"evaluate_lm: `tokens` has {len(tokens)} ids; need at least context + 1 = {config.context + 1}")
    windows = torch.from_numpy(tokens[: n * config.context + 1])
    idx = torch.arange(n)[:, None] * config.context + torch.arange(config.context + 1)
    total = 0.0
    for i in range(0, n, batch_size):
        batch = windows[idx[i:i + batch_size]]
        logits = model(batch[:, :-1])
        total += float(F.cross_entropy(logits.reshape(-1, config.vocab_size), batch[:, 1:].reshape(-1),
                                       reduction="sum"))
    return total / (n * config.context)


def save_lm(folder: str | Path, model: ReLULM, tokenizer, log: TrainLog) -> Path:
    """Write ``model.pt`` (the state dict), ``tokenizer.json`` and ``log.json`` into
    ``folder`` (created); returns the folder.

    Raises
    ------
    None of its own
        An ``OSError`` from creating ``folder`` or writing its files passes through.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "model.pt")
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "log.json").write_text(json.dumps(asdict(log), indent=1))
    return folder


def load_lm(folder: str | Path):
    """Read what :func:`save_lm` wrote.

    Returns
    -------
    model : ReLULM
        In eval mode.
    tokenizer : tokenizers.Tokenizer
    log : TrainLog

    Raises
    ------
    FileNotFoundError
        A file is missing from ``folder``.
    """
    from polylens.experiments.tokens import require_tokenizers

    folder = Path(folder)
    for name in ("model.pt", "tokenizer.json", "log.json"):
        if not (folder / name).exists():
            raise FileNotFoundError(f"load_lm: {folder / name} is missing (train and save a model with save_lm)")
    log = TrainLog(**json.loads((folder / "log.json").read_text()))
    model = ReLULM(LMConfig(**log.config["model"]))
    model.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    tokenizer = require_tokenizers().Tokenizer.from_file(str(folder / "tokenizer.json"))
    return model.eval(), tokenizer, log
