"""Templates are plain substitution: they never raise at render time, never evaluate anything, stay bounded."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nimriz_destinations.event_fields import EVENT_FIELDS, STRICT_PRIVACY_FIELDS
from nimriz_destinations.mapping import MAX_RENDERED_LENGTH, PropertyMapping, compile_mapping

PATHS = sorted(EVENT_FIELDS)
# Text that looks like code or like more template syntax, to show it is never evaluated nor re-rendered.
TRICKY = ["{{id}}", "{{ type }}", "{%raw%}", "${id}", "{}", "}", "{"]
PLAIN_TRICKY = ["__import__('os').system('id')", "$id", "%s", "\\", '"', "\u00e9\u4e2d"]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(TRICKY + PLAIN_TRICKY),
    st.text(min_size=1, max_size=3).map(lambda text: text * 900),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def events(draw: st.DrawFn, privacy_mode: str = "standard") -> dict[str, Any]:
    event: dict[str, Any] = {"privacy_mode": privacy_mode}
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=12, unique=True)):
        if path == "privacy_mode":
            continue
        parent, _, key = path.rpartition(".")
        target = event.setdefault(parent, {}) if parent else event
        if isinstance(target, dict):
            target[key] = draw(json_values)
    return event


placeholders = st.builds(
    lambda path, left, right: "{{" + left + path + right + "}}",
    st.sampled_from(PATHS),
    st.sampled_from(["", " ", "  "]),
    st.sampled_from(["", " "]),
)
brace_free_text = st.text(
    st.characters(blacklist_characters="{}", blacklist_categories=["Cs"]), max_size=20
) | st.sampled_from(PLAIN_TRICKY)
valid_templates = st.lists(st.one_of(placeholders, brace_free_text), min_size=1, max_size=8).map("".join)
any_templates = st.lists(
    st.one_of(placeholders, st.text(max_size=20), st.sampled_from(["{{", "}}", "{{{", "{{}}", "{{id|x}}"])), max_size=8
).map("".join)


def render(template: str, event: dict[str, Any]) -> Any:
    mapping = PropertyMapping.model_validate(
        {"base": "none", "overrides": [{"type": "template", "to": "out", "template": template}]}
    )
    return compile_mapping(mapping).apply(event, lambda _event: {})["out"]


def lookup(event: dict[str, Any], path: str) -> Any:
    node: Any = event
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def reference_render(template: str, event: dict[str, Any]) -> Any:
    """Split on the braces by hand and substitute; only valid templates (literal text without braces) come here."""
    pieces: list[str | tuple[str]] = []
    rest = template
    while "{{" in rest:
        before, _, rest = rest.partition("{{")
        path, _, rest = rest.partition("}}")
        pieces += [before, (path.strip(),)] if before else [(path.strip(),)]
    if rest:
        pieces.append(rest)
    if len(pieces) == 1 and isinstance(pieces[0], tuple):
        value = lookup(event, pieces[0][0])
        if value is None:
            return ""
        if isinstance(value, str):
            return value[:MAX_RENDERED_LENGTH]
        return value if len(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) <= MAX_RENDERED_LENGTH else ""
    text = ""
    for piece in pieces:
        if isinstance(piece, str):
            text += piece
            continue
        value = lookup(event, piece[0])
        if value is not None:
            text += value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text[:MAX_RENDERED_LENGTH]


@settings(max_examples=300, deadline=None)
@given(template=any_templates, event=events())
def test_any_template_is_either_refused_at_save_or_renders_bounded_output(template: str, event: dict[str, Any]) -> None:
    try:
        output = render(template, event)
    except ValidationError:
        return
    shown = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, separators=(",", ":"))
    assert len(shown) <= MAX_RENDERED_LENGTH


@settings(max_examples=300, deadline=None)
@given(template=valid_templates, event=events())
def test_rendering_is_plain_substitution(template: str, event: dict[str, Any]) -> None:
    assert render(template, event) == reference_render(template, event)


@settings(max_examples=200, deadline=None)
@given(path=st.sampled_from(PATHS), value=json_values, event=events())
def test_a_lone_placeholder_keeps_the_value_and_its_type_unless_too_long_to_cut(
    path: str, value: Any, event: dict[str, Any]
) -> None:
    parent, _, key = path.rpartition(".")
    (event.setdefault(parent, {}) if parent else event)[key] = value
    output = render("{{ " + path + " }}", event)
    if value is None:
        assert output == ""
    elif isinstance(value, str):
        assert output == value[:MAX_RENDERED_LENGTH]
    elif len(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) > MAX_RENDERED_LENGTH:
        assert output == ""  # too long to cut: as if missing
    else:
        assert output == value
        assert type(output) is type(value)


@settings(max_examples=200, deadline=None)
@given(template=valid_templates, event=events(privacy_mode="strict"))
def test_strict_events_never_render_strict_fields(template: str, event: dict[str, Any]) -> None:
    for path in STRICT_PRIVACY_FIELDS:
        parent, key = path.split(".")
        event.setdefault(parent, {})[key] = "SECRET-" + path
    output = render(template, event)
    assert "SECRET-" not in json.dumps(output)
