"""Faults injected into Dask runs (imported by the tests and by the workers): a model and
a net that stop at one chosen input or region, or raise there.

A process that reaches the trigger first writes ``<pid>.started`` into a signal folder
and waits there until the test writes ``release`` (or kills the process); any later
arrival only writes its file and goes on.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch

from polylens import PWLNet

HOLD_LIMIT = 60.0  # seconds a process waits at the trigger at most


class InjectedFault(RuntimeError):
    """The error a faulty model or net raises at its trigger."""


def hold_here(signal_dir: str) -> None:
    """Signal this process's arrival; the first arrival waits for release or a kill."""
    folder = Path(signal_dir)
    first = not any(folder.glob("*.started"))
    (folder / f"{os.getpid()}.started").write_text("")
    deadline = time.monotonic() + HOLD_LIMIT
    while first and not (folder / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def wait_for_arrival(signal_dir: str, timeout: float = HOLD_LIMIT) -> int | None:
    """The pid of the first process to reach the trigger (waits for it); None if the
    test wrote ``stop`` first."""
    folder = Path(signal_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (folder / "stop").exists():
        started = sorted(folder.glob("*.started"), key=lambda p: p.stat().st_mtime)
        if started:
            return int(started[0].name.split(".")[0])
        time.sleep(0.01)
    return None


class Killer:
    """While in ``with``: SIGKILL the first process that reaches the trigger (from a
    thread); ``pid`` is the process killed (None: none arrived)."""

    def __init__(self, signal_dir: str):
        self.signal_dir = signal_dir
        self.pid: int | None = None
        self._thread = threading.Thread(target=self._kill, daemon=True)

    def _kill(self) -> None:
        pid = wait_for_arrival(self.signal_dir)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            self.pid = pid

    def __enter__(self) -> "Killer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        (Path(self.signal_dir) / "stop").write_text("")
        self._thread.join()


class FaultyModel(torch.nn.Module):
    """``inner``, with a fault at any batch holding the row ``trigger``.

    ``mode`` is ``"hold"`` (signal and wait, see :func:`hold_here`), ``"raise"``
    (raise :class:`InjectedFault`) or ``None`` (no fault: the reference model).
    """

    def __init__(self, inner: torch.nn.Module, trigger: torch.Tensor, mode: str | None = None,
                 signal_dir: str | None = None):
        super().__init__()
        self.inner = inner
        self.trigger = trigger
        self.mode, self.signal_dir = mode, signal_dir

    def forward(self, x):
        if self.mode is not None and bool((x == self.trigger).all(dim=1).any()):
            if self.mode == "raise":
                raise InjectedFault("injected failure at the trigger row")
            hold_here(self.signal_dir)
        return self.inner(x)


class FaultyNet(PWLNet):
    """``net``, with a fault (see :class:`FaultyModel`) when the region of the code
    ``trigger`` is built (alone or in a wave)."""

    def __init__(self, net: PWLNet, trigger: np.ndarray, mode: str, signal_dir: str | None = None):
        super().__init__(net.program)
        self.trigger = np.asarray(trigger, dtype=np.int8).tobytes()
        self.mode, self.signal_dir = mode, signal_dir

    def frozen_forms(self, code, basis):
        if any(row.tobytes() == self.trigger for row in np.atleast_2d(code)):
            if self.mode == "raise":
                raise InjectedFault("injected failure at the trigger region")
            hold_here(self.signal_dir)
        return super().frozen_forms(code, basis)
