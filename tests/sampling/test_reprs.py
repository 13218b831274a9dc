"""Every sampling result prints as one short line, arrays by their shape."""

from __future__ import annotations

import numpy as np
import torch
from _nets import make_mlp

from polylens.sampling import (
    cluster_codes,
    codes,
    find_sites,
    local_complexity,
    path_density,
    scale_activations,
    site_stats,
    validate_density,
    validate_local_complexity,
)


def test_every_sampling_result_has_a_one_line_repr():
    model = make_mlp(2, [4, 3], out=1, seed=0)
    x = torch.randn(12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c = codes(model, x, progress=False)
    results = [
        c, c.layout, c.layout.sites[0], find_sites(model), find_sites(model).sites[0],
        path_density(model, [[-1.0, -1.0], [1.0, 1.0]], steps=8),
        scale_activations(model, x[:2], "1", [0.5, 1.0]),
        local_complexity(model, x[0], radius=0.5, n_samples=20),
        site_stats(c),
        cluster_codes(c, "kmedoids", n_clusters=2),
        cluster_codes(c, "kmedoids", n_clusters=2).clusters[0],
        validate_density(model, [[-1.0, -1.0], [1.0, 1.0]], steps=(1, 8)),
        validate_local_complexity(model, x[0], radius=0.5, n_samples=(10, 20)),
    ]
    for res in results:
        text = repr(res)
        assert "\n" not in text and len(text) < 400, text
        assert text.startswith(type(res).__name__ + "("), text
        assert "array([" not in text, text  # arrays appear as their shape
    assert repr(c) == f"Codes(packed=<array (12, {c.n_bytes}) uint8>, layout=<CodeLayout>)"
    assert isinstance(results[5].codes.packed, np.ndarray)  # the arrays are still attributes
