"""Every "design §N" cited in the repository resolves to a numbered heading of docs/design.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "design.md"
# Generated, cached or installed trees: nothing there is ours to cite from.
SKIPPED_PARTS = {".git", ".venv", ".aws-sam", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "artifacts"}
CITED_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".toml", ".html", ".js"}
CITATION = re.compile(r"design §(\d+(?:\.\d+)?)", re.IGNORECASE)
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", re.MULTILINE)


def citations() -> dict[str, list[str]]:
    """Section number -> the places (`path:line`) citing it."""
    found: dict[str, list[str]] = {}
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if path.suffix not in CITED_SUFFIXES or SKIPPED_PARTS & set(relative.parts) or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            for section in CITATION.findall(line):
                found.setdefault(section, []).append(f"{relative}:{number}")
    return found


def test_every_cited_design_section_is_a_heading_of_the_design_document() -> None:
    headings = set(HEADING.findall(DESIGN.read_text(encoding="utf-8")))
    cited = citations()
    assert cited, "no design citations found: the scan is broken"
    unresolved = {section: places for section, places in cited.items() if section not in headings}
    assert unresolved == {}


def test_the_design_documents_sections_are_numbered_in_order() -> None:
    numbers = [heading for heading in HEADING.findall(DESIGN.read_text(encoding="utf-8")) if "." not in heading]
    assert numbers == [str(index) for index in range(1, len(numbers) + 1)]
