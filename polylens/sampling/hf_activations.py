"""Hugging Face ``transformers`` activation modules as sites, recognised without importing it.

``transformers`` builds its MLP nonlinearities from its own classes
(``transformers.activations``: ``ACT2FN["gelu_new"]`` is a ``NewGELUActivation``, ...),
not from ``torch.nn``'s, so :func:`polylens.sampling.find_sites` looks them up here by
module and class name (also for subclasses). Every one is coded by its pre-activation
against the boundaries listed in :data:`HF_ACTIVATIONS`:

* smooth GELU/SiLU variants (``GELUActivation``, ``NewGELUActivation``,
  ``FastGELUActivation``, ``QuickGELUActivation``, ``GELUTanh`` (``PytorchGELUTanh`` in
  older releases), ``AccurateGELUActivation``, ``ClippedGELUActivation``,
  ``SiLUActivation``, ``MishActivation``, BLOOM's ``BloomGelu``) and ``XIELUActivation``:
  the sign of the pre-activation, marked approximate (the clip of
  ``ClippedGELUActivation`` at its ``max`` is not a coded boundary);
* ``ReLUSquaredActivation`` (``relu(z) ** 2``): the sign of the pre-activation, which
  is its piece exactly; still marked approximate, because the model is not affine on a
  piece (the pieces are not linear regions).

Not sites: ``LinearActivation`` (the identity), ``LaplaceActivation`` and
``SqrtSoftplusActivation`` (bounded/monotone attention and router scores, like
``nn.Sigmoid``, which is no site either). The ``torch.nn`` classes transformers also uses
(``nn.ReLU``, ``nn.SiLU``, ``nn.ReLU6``, ...) are torch's own and found as such.
"""

from __future__ import annotations

import torch.nn as nn

__all__ = ["HF_ACTIVATIONS", "hf_activation", "is_transformers_model"]

_SIGN = ((0.0,), True)

HF_ACTIVATIONS: dict[tuple[str, str], tuple[tuple[float, ...], bool]] = {
    **{("transformers.activations", name): _SIGN for name in (
        "GELUActivation", "NewGELUActivation", "FastGELUActivation", "QuickGELUActivation", "GELUTanh",
        "PytorchGELUTanh", "AccurateGELUActivation", "ClippedGELUActivation", "SiLUActivation",
        "MishActivation", "XIELUActivation", "ReLUSquaredActivation",
    )},
    ("transformers.models.bloom.modeling_bloom", "BloomGelu"): _SIGN,
}
"""(class module, class name) -> (boundaries of the pre-activation, approximate)."""


def hf_activation(module: nn.Module) -> tuple[tuple[float, ...], bool] | None:
    """The boundaries and approximate flag of a ``transformers`` activation module (its
    class or a base class is in :data:`HF_ACTIVATIONS`), else None.

    Raises
    ------
    None of its own

    Examples
    --------
    >>> import torch.nn as nn
    >>> class NewGELUActivation(nn.Module):  # stands in for transformers' class
    ...     pass
    >>> NewGELUActivation.__module__ = "transformers.activations"
    >>> hf_activation(NewGELUActivation()), hf_activation(nn.Linear(2, 2))
    (((0.0,), True), None)
    """
    for cls in type(module).__mro__:
        rule = HF_ACTIVATIONS.get((cls.__module__, cls.__name__))
        if rule is not None:
            return rule
    return None


def is_transformers_model(model: nn.Module) -> bool:
    """Whether ``model``'s class comes from ``transformers`` (a ``PreTrainedModel``): its
    nonlinearities are activation modules by the library's convention (``ACT2FN``).

    Raises
    ------
    None of its own
    """
    return any(cls.__module__.split(".")[0] == "transformers" for cls in type(model).__mro__)
