"""The predicted class of a network's outputs: one rule for the whole package.

A network with several outputs predicts the arg-max; a network with one output is a
binary classifier whose logit predicts class 1 when it is positive.
"""

from __future__ import annotations

__all__ = ["predicted_class"]


def predicted_class(outputs):
    """Predicted class of every row of ``outputs``.

    Parameters
    ----------
    outputs : ndarray or torch.Tensor of shape (..., n_outputs)
        Logits (or scores). ``n_outputs == 1`` is a binary logit; a 0-d or 1-d input is
        read as binary logits (one per entry), as
        :func:`polylens.sampling.density.predictions` does.

    Returns
    -------
    ndarray or torch.Tensor of shape outputs.shape[:-1], int64
        The same kind as ``outputs``: the arg-max over the last axis, or
        ``outputs[..., 0] > 0`` for a single output.

    Raises
    ------
    None of its own
        An ``outputs`` that is neither a tensor nor array-like fails in numpy's
        ``asarray``.

    Examples
    --------
    >>> import numpy as np
    >>> predicted_class(np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]])).tolist()
    [1, 0]
    >>> predicted_class(np.array([[-0.5], [0.5]])).tolist()
    [0, 1]
    """
    if hasattr(outputs, "detach"):  # a torch tensor, kept a tensor
        if outputs.ndim < 2:
            return (outputs > 0).long()
        return (outputs[..., 0] > 0).long() if outputs.shape[-1] == 1 else outputs.argmax(-1)
    import numpy as np

    outputs = np.asarray(outputs)
    if outputs.ndim < 2:
        return (outputs > 0).astype(np.int64)
    if outputs.shape[-1] == 1:
        return (outputs[..., 0] > 0).astype(np.int64)
    return np.argmax(outputs, axis=-1).astype(np.int64)
