"""House-style checks over the whole package.

Two conventions are checked on every module of ``polylens``:

* **Raises sections.** In every public module (no leading underscore in any part of its
  name), every public function (a function named in its module's
  ``__all__`` and defined there) and every public method of a public class (a method
  whose name has no leading underscore, defined in a class named in ``__all__``;
  properties are attributes and are not checked) has a numpy-style ``Raises`` section.
  The section is required everywhere, not only where the function can raise: a function
  that raises nothing of its own says so in its section (for instance ``None of its
  own.``), so that a reader can tell "raises nothing" from "undocumented".
* **One-line reprs.** Every dataclass defined in the package, public or internal (result
  types, chunk types, configs), has the one-line ``repr`` of
  :func:`polylens._repr.short_repr` rather than the generated one, which prints arrays
  in full.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re

import pytest

import polylens

_RAISES = re.compile(r"^\s*Raises\s*\n\s*-{6,}\s*$", re.M)


def _module_names() -> list[str]:
    names = ["polylens"]
    names += [m.name for m in pkgutil.walk_packages(polylens.__path__, "polylens.")]
    return sorted(names)


MODULES = _module_names()
PUBLIC_MODULES = [name for name in MODULES if not any(part.startswith("_") for part in name.split("."))]


def _public_callables(module) -> list[tuple[str, object]]:
    """``(qualified name, function)`` for each public function and method of ``module``."""
    found = []
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name, None)
        if getattr(obj, "__module__", None) != module.__name__:
            continue  # a re-export: checked in the module that defines it
        if inspect.isfunction(obj):
            found.append((name, obj))
        elif inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr, value in vars(obj).items():
                function = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
                if not attr.startswith("_") and inspect.isfunction(function):
                    found.append((f"{name}.{attr}", function))
    return found


def _dataclasses(module) -> list[type]:
    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_function_and_method_documents_what_it_raises(module_name):
    module = importlib.import_module(module_name)
    missing = [name for name, function in _public_callables(module)
               if not _RAISES.search(inspect.getdoc(function) or "")]
    assert not missing, f"{module_name}: no Raises section in {', '.join(missing)}"


@pytest.mark.parametrize("module_name", MODULES)
def test_every_dataclass_has_a_one_line_repr(module_name):
    module = importlib.import_module(module_name)
    default = [cls.__name__ for cls in _dataclasses(module)
               if cls.__repr__.__qualname__ != "short_repr.<locals>.__repr__"]
    assert not default, f"{module_name}: dataclasses without @short_repr: {', '.join(default)}"


def test_the_repr_check_tells_a_short_repr_from_the_generated_one():
    from polylens._repr import short_repr

    @dataclasses.dataclass
    class Plain:
        x: int

    Short = short_repr(dataclasses.dataclass(type("Short", (), {"__annotations__": {"x": int}})))
    assert Plain.__repr__.__qualname__ != "short_repr.<locals>.__repr__"
    assert Short.__repr__.__qualname__ == "short_repr.<locals>.__repr__"
    assert repr(Short(3)) == "Short(x=3)"
