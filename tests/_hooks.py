"""A deterministic hook into the search: run an action while the n-th region is expanded."""

from __future__ import annotations

from collections.abc import Callable


def while_expanding(n: int, action: Callable[[], None], setattr_: Callable | None = None) -> None:
    """Call ``action`` once, while the n-th region of the search is expanded: in the wave
    that holds it (before the wave's numbers are computed), or on the one-region route,
    when its facet crossings are computed.

    Wraps the names ``expand_wave`` and ``crossed_codes`` that the expansion module
    calls (internal hooks, the only places where an event can be injected
    deterministically). ``setattr_`` (e.g. a pytest ``monkeypatch.setattr``) installs
    the wrappers; by default they are set on the module for good (a child process).
    """
    import polylens.geometry.expansion as expansion

    wave, crossed = expansion.expand_wave, expansion.crossed_codes
    calls = {"n": 0, "done": False}

    def count(regions: int) -> None:
        calls["n"] += regions
        if calls["n"] >= n and not calls["done"]:
            calls["done"] = True
            action()

    def expand_wave(space, codes, hints):
        count(len(codes))
        return wave(space, codes, hints)

    def crossing(*args, **kwargs):
        count(1)
        return crossed(*args, **kwargs)

    put = setattr_ or setattr
    put(expansion, "expand_wave", expand_wave)
    put(expansion, "crossed_codes", crossing)
