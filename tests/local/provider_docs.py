"""docs/default-mappings.md: every provider's default mapping (`base: "default"`) in one table, generated from
each adapter's `default_mapping_doc`. `make docs` writes it; a test fails when it drifts from the code."""

from __future__ import annotations

import argparse

from nimriz_destinations.providers import DESTINATION_TYPES, get_provider

from .template import ROOT

OUTPUT = ROOT / "docs" / "default-mappings.md"

HEADER = """# Default mappings

What `property_mapping.base: "default"` sends for each destination type, before the action's overrides apply.
Privacy rules run first in every case: in `strict` mode `visitor.visitor_hash`, `context.city` and
`context.region` are gone before any mapping sees the event, and raw IP / User-Agent never exist.
Generated from the adapters (`make docs`); do not edit by hand.

| destination type | field sent | comes from |
|---|---|---|
"""


def render() -> str:
    rows = []
    for destination_type in DESTINATION_TYPES:
        provider = get_provider(destination_type)
        if not provider.delivers:
            rows.append(f"| `{destination_type}` | (nothing) | delivers nothing server-side |")
            continue
        for field, source in provider.default_mapping_doc:
            rows.append(f"| `{destination_type}` | {_cell(field)} | {_cell(source)} |")
    return HEADER + "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true")
    if parser.parse_args().write:
        OUTPUT.write_text(render())
        print(f"wrote {OUTPUT.relative_to(ROOT)}")
    else:
        print(render(), end="")


if __name__ == "__main__":
    main()
