"""Compiled filters and mappings are generated Python (design §6, §7): one function each, in which nothing a tenant
wrote (values, patterns, template text, paths) can become code."""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nimriz_destinations import codegen
from nimriz_destinations.event_fields import EVENT_FIELDS
from nimriz_destinations.filters import EventFilter, compile_filter
from nimriz_destinations.mapping import PropertyMapping, compile_mapping
from nimriz_destinations.mapping.models import IncludeOverride, RenameOverride, StaticOverride, TemplateOverride
from nimriz_destinations.sample_events import sample_event

# Text that would be code, or would end a string literal, if it were ever pasted into source.
HOSTILE = [
    "'); __import__('os').system('touch /tmp/pwned') #",
    '"""; raise SystemExit("escaped") ; """',
    "'''\nimport os\n'''",
    "\\', _k0, '\\",
    "{payload}\n    return None",
    "\x00\u2028\udc80 {{ }} %s {0}",
]
# Names generated code may use besides its own locals (`_v<n>`) and constants (`_k<n>`).
ALLOWED_NAMES = {"event", "visible", "default_payload", "payload", "type", "isinstance", "dict", "str", "int", "float"}
ALLOWED_NAMES |= {"list", "None", "True"}


@pytest.fixture
def generated_sources(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The source text of every function generated while the test runs."""
    sources: list[str] = []
    compile_source = codegen._compiled.__wrapped__

    def recording(source: str) -> Any:
        sources.append(source)
        return compile_source(source)

    monkeypatch.setattr(codegen, "_compiled", recording)
    yield sources


def string_literals_and_names(source: str) -> tuple[set[str], set[str]]:
    tree = ast.parse(source)
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return literals, names


def assert_only_our_names(names: set[str]) -> None:
    ours = {name for name in names if name[:2] in ("_v", "_k") and name[2:].isdigit()}
    assert names - ours <= ALLOWED_NAMES


def test_hostile_filter_values_and_patterns_never_become_source(generated_sources: list[str]) -> None:
    event = sample_event("link.clicked", workspace_id="ws_1", organization_id="org_1")
    for hostile in HOSTILE:
        event["utm"]["source"] = event["utm"]["campaign"] = hostile
        conditions: list[dict[str, Any]] = [
            {"field": "utm.source", "operator": "eq", "value": hostile},
            {"field": "utm.source", "operator": "in", "value": [hostile, "x"]},
            {"field": "utm.campaign", "operator": "starts_with", "value": hostile[:5]},
            {"field": "utm.campaign", "operator": "contains", "value": hostile[3:9]},
            {
                "any": [
                    {"field": "utm.medium", "operator": "eq", "value": hostile},
                    {"field": "utm.source", "operator": "exists"},
                ]
            },
        ]
        passing = compile_filter(EventFilter.model_validate({"conditions": conditions}))
        assert passing.evaluate(event).passed
        differing = compile_filter(
            EventFilter.model_validate({"conditions": [{**conditions[0], "value": hostile + "'"}]})
        )
        assert differing.evaluate(event).rejected_by == "conditions[0]"
    # Patterns with quotes, a newline and backslashes: the pattern object is a constant, its text is nowhere.
    pattern = '^\'\\)"""\\n\\\\'
    matching = compile_filter(
        EventFilter.model_validate({"conditions": [{"field": "utm.term", "operator": "matches", "value": pattern}]})
    )
    event["utm"]["term"] = '\')"""\n\\ and more'
    assert matching.evaluate(event).passed

    for source in generated_sources:
        literals, names = string_literals_and_names(source)
        assert literals <= {key for path in EVENT_FIELDS for key in path.split(".")}  # catalogue keys only
        assert_only_our_names(names)
        for hostile in [*HOSTILE, pattern]:
            assert hostile not in source and hostile[3:9] not in source


def test_hostile_template_text_static_values_and_output_paths_never_become_source(
    generated_sources: list[str],
) -> None:
    # Output paths are refused at save unless they are made of [A-Za-z0-9_$-]; built here without that check, to
    # show they would still only ever be data.
    hostile_key = HOSTILE[0].replace(".", "")  # a dot would separate two keys
    overrides: list[Any] = [
        TemplateOverride(type="template", to="label", template=HOSTILE[1] + "{{utm.source}}" + HOSTILE[2]),
        StaticOverride(type="static", to="static", value={HOSTILE[3]: [HOSTILE[4]]}),
        IncludeOverride.model_construct(type="include", field="utm.source", to=f"nested.{hostile_key}"),
        RenameOverride.model_construct(type="rename", from_="static", to=HOSTILE[5]),
    ]
    mapping = compile_mapping(PropertyMapping(base="none", overrides=overrides))
    event = sample_event("link.clicked", workspace_id="ws_1", organization_id="org_1")
    event["utm"]["source"] = HOSTILE[2]

    assert mapping.apply(event, lambda _event: {}) == {
        "label": HOSTILE[1] + HOSTILE[2] + HOSTILE[2],
        "nested": {hostile_key: HOSTILE[2]},
        HOSTILE[5]: {HOSTILE[3]: [HOSTILE[4]]},
    }
    (source,) = generated_sources
    literals, names = string_literals_and_names(source)
    assert literals == {"utm", "source", "label", "static", "nested", hostile_key, HOSTILE[5]}  # keys, as data
    assert_only_our_names(names)
    for template_text in HOSTILE[1:5]:
        assert template_text not in source


def python_calls_made(function: Callable[..., Any], *arguments: Any) -> list[str]:
    """The Python functions (not the built-in ones) that run during the call, the function itself first."""
    calls: list[str] = []

    def profile(frame: Any, event: str, _argument: Any) -> None:
        if event == "call":
            calls.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        function(*arguments)
    finally:
        sys.setprofile(None)
    return calls


def test_a_compiled_filter_evaluates_its_checks_inline() -> None:
    event_filter = EventFilter.model_validate(
        {
            "include": {"event_types": ["link.clicked"], "countries": ["US"]},
            "exclude": {"bot_traffic": True},
            "conditions": [
                {"field": "link.short_code", "operator": "starts_with", "value": "spring"},
                {
                    "any": [
                        {"field": "context.device_category", "operator": "eq", "value": "tv"},
                        {"field": "utm.source", "operator": "exists"},
                    ]
                },
                {"field": "link.destination_url_capped", "operator": "matches", "value": "^https://"},
            ],
        }
    )
    event = sample_event("link.clicked", workspace_id="ws_1", organization_id="org_1")
    event["link"]["short_code"] = "spring-sale"
    compiled = compile_filter(event_filter)

    assert compiled.evaluate(event).passed
    assert python_calls_made(compiled.evaluate, event) == ["evaluate"]


def test_a_compiled_mapping_applies_its_overrides_inline() -> None:
    mapping = PropertyMapping.model_validate(
        {
            "base": "none",
            "overrides": [
                {"type": "include", "field": "link.short_url", "to": "properties.url"},
                {"type": "static", "to": "properties.source", "value": "nimriz"},
                {"type": "template", "to": "label", "template": "{{link.domain_name}}/{{link.short_code}}"},
                {"type": "rename", "from": "properties.url", "to": "url"},
                {"type": "exclude", "field": "properties.source"},
            ],
        }
    )
    event = sample_event("link.clicked", workspace_id="ws_1", organization_id="org_1")
    compiled = compile_mapping(mapping)

    payload = compiled.apply_to_private(event, dict)
    assert payload == {
        "properties": {},
        "label": f"{event['link']['domain_name']}/{event['link']['short_code']}",
        "url": event["link"]["short_url"],
    }
    assert python_calls_made(compiled.apply_to_private, event, dict) == ["apply_to_private"]
