"""The one predicted-class rule (polylens.models.predict), checked against its definition."""

from __future__ import annotations

import numpy as np
import torch

from polylens.models.predict import predicted_class


def test_argmax_for_several_outputs_and_the_sign_of_a_single_logit_in_numpy_and_torch():
    rng = np.random.default_rng(0)
    many = rng.normal(size=(7, 5))
    one = rng.normal(size=(7, 1))
    expected_many = [int(np.flatnonzero(r == r.max())[0]) for r in many]
    expected_one = [int(v > 0) for v in one[:, 0]]
    assert predicted_class(many).tolist() == expected_many
    assert predicted_class(one).tolist() == expected_one
    assert predicted_class(torch.from_numpy(many)).tolist() == expected_many
    assert predicted_class(torch.from_numpy(one)).tolist() == expected_one
    assert isinstance(predicted_class(torch.from_numpy(many)), torch.Tensor)
    assert predicted_class(one[:, 0]).tolist() == expected_one  # 1-d: binary logits
    assert predicted_class(rng.normal(size=(2, 3, 4))).shape == (2, 3)
