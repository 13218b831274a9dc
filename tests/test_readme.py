"""The README's Quick-start Python blocks run as written, in order, in one namespace."""

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    """The Python blocks of the Quick start (later sections show snippets that need a
    cluster or a user's own files)."""
    text = README.read_text()
    section = text[text.index("## Quick start"):text.index("\n## ", text.index("## Quick start") + 1)]
    return re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)


def test_the_readme_has_python_blocks():
    assert len(_python_blocks()) >= 2


@pytest.mark.slow
def test_every_quick_start_block_of_the_readme_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks that write files write them here
    torch.set_num_threads(1)
    namespace: dict = {"__name__": "readme"}
    for i, block in enumerate(_python_blocks()):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as err:  # name the block that failed
            raise AssertionError(f"README python block {i + 1} failed: {type(err).__name__}: {err}\n{block}") from err
