"""Every geometry test re-verifies the results it produces.

The autouse fixture below wraps ``enumerate_regions`` and ``plane_partition`` as the test
module imported them, so that every :class:`~polylens.EnumerationResult` and
:class:`~polylens.PlanePartition` a test builds goes through its ``.check()`` (see
:mod:`polylens.geometry.invariants`) before the test sees it.
"""

from __future__ import annotations

import functools

import pytest

_CHECKED = ("enumerate_regions", "plane_partition")


def _checked(func):
    @functools.wraps(func)
    def run(*args, **kwargs):
        result = func(*args, **kwargs)
        result.check()
        return result

    return run


@pytest.fixture(autouse=True)
def _check_every_result(request, monkeypatch):
    for name in _CHECKED:
        func = getattr(request.module, name, None)
        if func is not None:
            monkeypatch.setattr(request.module, name, _checked(func))
