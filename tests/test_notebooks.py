"""The book's structure: every notebook under book/ is committed without outputs, is listed in
_toc.yml, and every toc entry exists. (nbmake, enabled in pyproject.toml, executes each notebook;
this file checks what execution cannot.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(p for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def toc_files() -> list[str]:
    """Every `file:` entry of _toc.yml (root, parts, chapters, sections), without extension."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", []))
    walk(toc.get("chapters", []))
    return found


def resolve(entry: str) -> list[Path]:
    """The files a toc entry may refer to (Jupyter Book accepts the name without extension)."""
    stem = ROOT / entry
    return [p for p in (stem.with_suffix(".ipynb"), stem.with_suffix(".md")) if p.exists()] + (
        [stem] if stem.suffix and stem.exists() else []
    )


def test_book_has_chapters():
    """The book holds at least one notebook (so the checks below check something)."""
    assert NOTEBOOKS, "no notebooks found under book/"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(nb: Path):
    """Notebooks are committed without outputs or execution counts (they are executed at build)."""
    data = json.loads(nb.read_text())
    for i, cell in enumerate(data["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{nb.name}: cell {i} has outputs; clear them"
            assert cell.get("execution_count") is None, f"{nb.name}: cell {i} has a count"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_in_toc(nb: Path):
    """Every notebook under book/ is a chapter of the book (listed in _toc.yml)."""
    entries = {str((ROOT / e).with_suffix("")) for e in toc_files()}
    assert str(nb.with_suffix("")) in entries, f"{nb.relative_to(ROOT)} is not in _toc.yml"


def test_every_toc_entry_exists():
    """Every file named in _toc.yml exists, as exactly one of .ipynb or .md."""
    for entry in toc_files():
        matches = resolve(entry)
        assert len(matches) == 1, f"_toc.yml entry {entry!r} matches {matches or 'no file'}"
