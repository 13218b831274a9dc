"""Load a model file as a :class:`~polylens.models.pwlnet.PWLNet`, safely by default.

Two formats:

- ``torch.export.save`` programs (``.pt2``; recommended): loading one runs no code from
  the file.
- modules saved with ``torch.save(module)``: a full pickle. Unpickling it RUNS CODE FROM
  THE FILE, so it is refused unless the caller passes ``trust_pickle=True`` (command
  line: ``--trust-pickle``). Files that hold only tensors (a ``state_dict``) are read
  with ``torch.load(weights_only=True)``, which runs no code, and refused with advice:
  they hold no module to convert.

The format is recognised from the file's contents, not its name. A model that is traced
(anything but a plain MLP) needs the shape of one input: from ``example_input``, from
``input_shape``, or (for a ``.pt2`` program) from the program itself.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from polylens._validation import check_bool, check_input_file, check_int, invalid
from polylens.errors import InvalidParameterError
from polylens.models.pwlnet import PWLNet

__all__ = ["load_model", "parse_shape"]

_EXPORT_ADVICE = ("save the model as a torch.export program instead: "
                  "torch.export.save(torch.export.export(model, (x,)), 'model.pt2')")


def load_model(path: str | os.PathLike, example_input=None, *, input_shape=None,
               trust_pickle: bool = False) -> PWLNet:
    """Read a model file and convert it.

    Parameters
    ----------
    path : path
        A ``torch.export.save`` program (``.pt2``) or a module saved with ``torch.save``.
    example_input : torch.Tensor of shape (1, *input_shape), optional
        One input batch, to trace a model that is not a plain MLP.
    input_shape : tuple of int, optional
        The shape of one input (e.g. ``(1, 8, 8)``), where the file does not carry one
        and no ``example_input`` is given: the model is traced on zeros of that shape.
    trust_pickle : bool, default=False
        Unpickle a ``torch.save(module)`` file. This runs code from the file: only pass
        it for files you trust.

    Raises
    ------
    InvalidParameterError
        A missing, empty or unreadable file, a directory, a full pickle without
        ``trust_pickle=True``, a file that holds something other than a module (a
        ``state_dict``, a tensor, a plain pickle), or a model that does not run on
        ``input_shape``.
    UnsupportedLayerError
        For a layer the exact engine does not model.
    """
    import torch

    try:
        path = check_input_file(path, func="load_model", name="path")
    except InvalidParameterError as err:
        raise InvalidParameterError(f"{err}; give a model file: a torch.export program (.pt2) or a module "
                                    "saved with torch.save") from None
    trust_pickle = check_bool(trust_pickle, func="load_model", name="trust_pickle")
    if input_shape is not None:
        input_shape = parse_shape(input_shape, func="load_model", name="input_shape")
        if example_input is None:
            example_input = torch.zeros((1, *input_shape))
    kind = _file_kind(path)
    if kind == "export":
        module = _load_export(path)
    elif kind == "torch.save":
        module = _load_pickle(path, trust_pickle)
    elif kind == "pickle":
        raise InvalidParameterError(
            f"load_model: the model file {str(path)!r} is a plain Python pickle (pickle.dump), not a torch.save "
            f"or torch.export file; {_EXPORT_ADVICE}")
    else:
        raise InvalidParameterError(
            f"load_model: {str(path)!r} is not a model file (neither a torch.export program nor a torch.save "
            f"file; truncated or corrupt?); {_EXPORT_ADVICE}")
    try:
        return PWLNet.from_torch(module, example_input)
    except RuntimeError as err:
        if example_input is None:
            raise
        shape = tuple(example_input.shape[1:])
        raise InvalidParameterError(
            f"load_model: the model in {str(path)!r} does not run on an input of shape {shape} "
            f"({str(err).splitlines()[0]}); give the shape of one input the model takes with `input_shape`"
        ) from None


def parse_shape(value, *, func: str, name: str) -> tuple[int, ...]:
    """A shape of one input: a ``"C,H,W"`` string or a sequence of positive ints.

    Raises
    ------
    InvalidParameterError
        If ``value`` is not such a string or sequence, is empty, or holds an entry that is
        not a positive int (the message names ``func`` and ``name``).
    """
    if isinstance(value, str):
        try:
            value = tuple(int(v) for v in value.replace("x", ",").split(","))
        except ValueError:
            raise invalid(func, name, "positive ints separated by commas, like 1,8,8", value) from None
    try:
        shape = tuple(value)
    except TypeError:
        raise invalid(func, name, "a sequence of positive ints", value) from None
    if not shape:
        raise invalid(func, name, "a non-empty sequence of positive ints", value)
    return tuple(check_int(v, func=func, name=name, low=1) for v in shape)


def _file_kind(path: Path) -> str:
    """``"export"``, ``"torch.save"``, ``"pickle"`` or ``"unknown"``, from the contents."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "unknown"
        if any(n == "archive_format" or n.endswith("/archive_format") for n in names):
            return "export"
        if any(n.endswith("data.pkl") for n in names):
            return "torch.save"
        return "unknown"
    with open(path, "rb") as f:
        head = f.read(2)
    # protocol 2+ pickles start with PROTO; torch's legacy (non-zip) format is a pickle too
    return "pickle" if head[:1] == b"\x80" else "unknown"


def _load_export(path: Path):
    import torch

    try:
        with open(path, "rb") as f:
            return torch.export.load(f)
    except Exception as err:  # torch raises RuntimeError, KeyError, ... for a damaged archive
        raise InvalidParameterError(
            f"load_model: cannot read the torch.export program {str(path)!r} ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'damaged archive'}); save it again with torch.export.save"
        ) from None


def _load_pickle(path: Path, trust_pickle: bool):
    import pickle

    import torch

    try:
        obj = torch.load(path, weights_only=not trust_pickle, map_location="cpu")
    except pickle.UnpicklingError:
        if trust_pickle:
            raise
        raise InvalidParameterError(
            f"load_model: the model file {str(path)!r} is a full pickle (a module saved with torch.save); "
            "unpickling it runs code from the file, so it is refused by default. Only if you trust the file, "
            f"pass trust_pickle=True; or {_EXPORT_ADVICE}") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise InvalidParameterError(
            f"load_model: cannot read the torch.save file {str(path)!r} ({str(err).splitlines()[0]}; "
            "truncated or corrupt?)") from None
    if isinstance(obj, (torch.export.ExportedProgram, torch.nn.Module)):
        return obj
    if isinstance(obj, dict):
        raise InvalidParameterError(
            f"load_model: the model file {str(path)!r} holds a state_dict (weights without the module); load it "
            f"into the module (model.load_state_dict(...)) and {_EXPORT_ADVICE}")
    raise InvalidParameterError(
        f"load_model: the model file {str(path)!r} holds a {type(obj).__name__}, not a module; {_EXPORT_ADVICE}")
