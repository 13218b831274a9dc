"""Real English text available offline: the docstrings of Python's standard library.

:func:`stdlib_docstrings` imports a fixed list of standard-library modules, collects the
``__doc__`` of every module and of its public classes, functions and methods (in sorted
order), keeps the prose (doctest examples, indented blocks, signature lines and
underlines are dropped) and removes duplicates. The result depends only on the Python
version, so a run is reproducible on one interpreter. :meth:`Corpus.split` holds out
whole docstrings (chosen by a hash of their source name), and :func:`split_sentences`
cuts prose into sentences for the experiments.
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
import zlib
from dataclasses import dataclass

from polylens._repr import short_repr

__all__ = ["Corpus", "STDLIB_MODULES", "stdlib_docstrings", "clean_docstring", "split_sentences"]

STDLIB_MODULES: tuple[str, ...] = tuple("""
abc argparse ast asyncio base64 bisect bz2 calendar cmd codecs collections colorsys
compileall concurrent.futures configparser contextlib contextvars copy copyreg csv
dataclasses datetime decimal difflib dis doctest email email.message email.utils enum
filecmp fileinput fnmatch fractions ftplib functools getopt getpass gettext glob graphlib
gzip hashlib heapq hmac html html.parser http http.client http.cookies http.server imaplib
importlib inspect io ipaddress itertools json json.decoder keyword linecache locale logging
logging.handlers lzma mailbox math mimetypes multiprocessing netrc numbers operator optparse
os pathlib pdb pickle pickletools pkgutil platform plistlib poplib pprint profile pstats
py_compile pyclbr pydoc queue quopri random re reprlib runpy sched secrets selectors shelve
shlex shutil signal smtplib socket socketserver sqlite3 ssl stat statistics string
stringprep struct subprocess symtable sys sysconfig tabnanny tarfile tempfile textwrap
threading time timeit token tokenize trace traceback tracemalloc types typing unicodedata
unittest unittest.mock urllib.parse urllib.request uuid warnings wave weakref
xml.dom.minidom xml.etree.ElementTree xml.sax zipfile zipimport zlib zoneinfo
""".split())

_MIN_WORDS = 3  # shorter paragraphs (headings, "Deprecated.") are dropped
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->.*)?$")
_UNDERLINE = re.compile(r"^[-=~^*]{3,}$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'`])")


@short_repr
@dataclass(frozen=True)
class Corpus:
    """Cleaned docstrings, one document each.

    Attributes
    ----------
    documents : tuple of str
        Prose of each docstring: paragraphs joined by ``"\\n"``, lines within a
        paragraph joined by one space.
    sources : tuple of str
        Qualified name of the object each document came from (``"json.dumps"``), the
        first one in collection order when several objects share a docstring.
    """

    documents: tuple[str, ...]
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.documents)

    def split(self, held_out: int = 10) -> tuple["Corpus", "Corpus"]:
        """Split into (train, held-out) by document: a document is held out when the
        CRC-32 of its source name is divisible by ``held_out`` (about one in
        ``held_out``), so the split does not change when modules are added.

        Raises
        ------
        polylens.errors.InvalidParameterError
            If ``held_out`` is not an int >= 2.

        Examples
        --------
        >>> c = Corpus(("a b c", "d e f", "g h i"), ("a", "c", "d"))
        >>> train, test = c.split(held_out=2)
        >>> train.sources, test.sources
        (('a', 'c'), ('d',))
        """
        from polylens._validation import check_int

        check_int(held_out, func="Corpus.split", name="held_out", low=2)
        test = [zlib.crc32(s.encode()) % held_out == 0 for s in self.sources]
        pick = [(d, s) for d, s, t in zip(self.documents, self.sources, test) if not t]
        rest = [(d, s) for d, s, t in zip(self.documents, self.sources, test) if t]
        return _corpus(pick), _corpus(rest)

    def sentences(self, *, min_words: int = 4, max_words: int = 40) -> list[str]:
        """Every sentence of every document with ``min_words`` to ``max_words`` words, in
        order, without duplicates.

        Raises
        ------
        None of its own
        """
        seen: dict[str, None] = {}
        for doc in self.documents:
            for paragraph in doc.split("\n"):
                for s in split_sentences(paragraph):
                    if min_words <= len(s.split()) <= max_words:
                        seen.setdefault(s)
        return list(seen)


def _corpus(pairs) -> Corpus:
    return Corpus(tuple(d for d, _ in pairs), tuple(s for _, s in pairs))


def stdlib_docstrings(modules: tuple[str, ...] | list[str] = STDLIB_MODULES) -> Corpus:
    """Docstrings of standard-library modules and their public objects, cleaned to prose.

    Parameters
    ----------
    modules : sequence of str, default=STDLIB_MODULES
        Modules to import. A module this interpreter lacks (``ssl`` or ``lzma`` in some
        builds) is skipped.

    Returns
    -------
    Corpus
        One document per distinct cleaned docstring with at least one paragraph of
        three words or more, in the order: module, then its public classes and
        functions sorted by name (each class followed by its methods and properties,
        sorted by name).

    Raises
    ------
    TypeError
        If ``modules`` is a string or holds something that is not a module name (a module
        that fails to import is skipped, not raised on).

    Examples
    --------
    >>> c = stdlib_docstrings(["json"])
    >>> c.sources[0], c.documents[0].split(".")[0]
    ('json', 'JSON (JavaScript Object Notation) <https://json')
    """
    if isinstance(modules, str) or not all(isinstance(m, str) for m in modules):
        raise TypeError(f"stdlib_docstrings: `modules` must be a sequence of module names; got {modules!r}")
    seen: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated aliases (typing.io) warn when touched
        for name in modules:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            for source, obj in _documented(name, module):
                doc = getattr(obj, "__doc__", None)
                if isinstance(doc, str):
                    text = clean_docstring(doc)
                    if text:
                        seen.setdefault(text, source)
    return Corpus(tuple(seen), tuple(seen.values()))


def _documented(name: str, module):
    """(qualified name, object) of a module and its public objects defined in it or in its
    submodules (a package re-exports them)."""
    yield name, module
    members = vars(module)
    for key in sorted(members):
        obj = members[key]
        if key.startswith("_") or not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        home = getattr(obj, "__module__", None) or ""
        if home != name and not home.startswith(name + "."):
            continue
        yield f"{name}.{key}", obj
        if inspect.isclass(obj):
            attrs = vars(obj)
            for attr in sorted(attrs):
                value = attrs[attr]
                if not attr.startswith("_") and (inspect.isroutine(value) or isinstance(value, property)):
                    yield f"{name}.{key}.{attr}", value


def clean_docstring(doc: str) -> str:
    """The prose of a docstring.

    Dropped: lines that are indented (after :func:`inspect.cleandoc`), signature lines
    (``name(args) -> result``), a doctest example and the rest of its paragraph (its
    output), and every paragraph with an underlined heading (``Parameters`` over
    ``----------`` and the entries below it). The remaining lines of each paragraph are
    joined with single spaces; paragraphs with fewer than three words are dropped.
    Paragraphs are joined by ``"\\n"``.

    Raises
    ------
    None of its own

    Examples
    --------
    >>> clean_docstring('''sqrt(x)
    ...
    ...     Return the square root of x.
    ...     Example:
    ...
    ...         >>> sqrt(4)
    ...         2.0
    ... ''')
    'Return the square root of x. Example:'
    """
    paragraphs, current, example, heading = [], [], False, False
    for line in inspect.cleandoc(doc).splitlines() + [""]:
        stripped = line.strip()
        if not stripped:
            if current and not heading:
                paragraphs.append(" ".join(current))
            current, example, heading = [], False, False
            continue
        example = example or stripped.startswith(">>>")
        heading = heading or bool(_UNDERLINE.match(stripped))
        if not (example or line[0].isspace() or stripped.startswith("...") or _SIGNATURE.match(stripped)):
            current.append(stripped)
    return "\n".join(p for p in paragraphs if len(p.split()) >= _MIN_WORDS)


def split_sentences(paragraph: str) -> list[str]:
    """Cut a paragraph after ``.``, ``!`` or ``?`` followed by white space and a capital
    letter, a bracket or a quote.

    Raises
    ------
    None of its own

    Examples
    --------
    >>> split_sentences("Return x. The value e.g. is 2! Is it?")
    ['Return x.', 'The value e.g. is 2!', 'Is it?']
    """
    return [s for s in (p.strip() for p in _SENTENCE_END.split(paragraph)) if s]
