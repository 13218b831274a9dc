"""Load a model file as a :class:`~polylens.models.pwlnet.PWLNet`.

Two formats: ``torch.export.save`` programs (``.pt2``; recommended — loading one runs no
code from the file) and pickled modules saved with ``torch.save(module)`` (any other
suffix; loading one RUNS CODE FROM THE FILE, so only load files you trust).
"""

from __future__ import annotations

import os
from pathlib import Path

from polylens.models.pwlnet import PWLNet

__all__ = ["load_model"]


def load_model(path: str | os.PathLike, example_input=None) -> PWLNet:
    """Read a model file and convert it.

    Parameters
    ----------
    path : path
        ``.pt2`` (``torch.export.save``) or a pickled ``nn.Module`` (``torch.save``).
    example_input : torch.Tensor, optional
        One input batch, needed to trace a pickled model that is not a plain MLP.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file holds something other than a module (e.g. a ``state_dict``).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    if path.suffix == ".pt2":
        return PWLNet.from_torch(torch.export.load(path), example_input)
    obj = torch.load(path, weights_only=False, map_location="cpu")
    if isinstance(obj, torch.export.ExportedProgram) or isinstance(obj, torch.nn.Module):
        return PWLNet.from_torch(obj, example_input)
    kind = "a state_dict" if isinstance(obj, dict) else f"a {type(obj).__name__}"
    raise ValueError(
        f"model file {str(path)!r} holds {kind}, not a module: save the module itself "
        "(torch.save(module)) or, better, a torch.export program (torch.export.save(..., 'model.pt2'))"
    )
