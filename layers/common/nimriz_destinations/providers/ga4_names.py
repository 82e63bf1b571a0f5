"""GA4's naming rules, checked at save on the names a mapping's overrides produce (GA4 and GTM server-side).

GA4 answers 2xx to whatever it receives and drops events and parameters whose names break its rules, so a name only
a mapping can make is refused when the mapping is saved (422 naming the override and the rule), not found missing
in reports. From Google's "Event naming rules" (https://support.google.com/analytics/answer/13316687): "Event names
must start with a letter. Use only letters, numbers, and underscores. Don't use spaces." and "Don't use reserved
prefixes and event names"; parameter and user property names follow the same character rule and must not start
with `_`, `firebase_`, `ga_`, `google_` (parameters also `gtag.`). A server container's GA4 tag forwards to GA4,
so the same rules hold for GTM server-side.

Only what an override writes whatever the event holds is checked: a static name, a template's literal text, and the
keys of the paths overrides write under `params` and `user_properties`. A name copied from the event is not known
before it is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..mapping import PropertyMapping
from ..mapping.models import IncludeOverride, RenameOverride, StaticOverride, TemplateOverride
from ..mapping.templates import parse_template

RULES_URL = "https://support.google.com/analytics/answer/13316687"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9_]*")

# Reserved web event names (Event naming rules, "Reserved event names", web).
RESERVED_EVENT_NAMES = frozenset(
    {
        "ad_impression", "app_remove", "app_store_refund", "app_store_subscription_cancel",
        "app_store_subscription_renew", "click", "error", "file_download", "first_open", "first_visit", "form_start",
        "form_submit", "in_app_purchase", "page_view", "scroll", "session_start", "user_engagement", "view_complete",
        "video_progress", "video_start", "view_search_results",
    }
)  # fmt: skip
RESERVED_EVENT_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_PARAM_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_USER_PROPERTY_NAMES = frozenset(
    {"first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id", "first_open_after_install"}
)
RESERVED_USER_PROPERTY_PREFIXES = ("_", "firebase_", "ga_", "google_")

_KINDS: dict[str, tuple[str, frozenset[str], tuple[str, ...]]] = {
    "name": ("event name", RESERVED_EVENT_NAMES, RESERVED_EVENT_PREFIXES),
    "params": ("event parameter name", frozenset(), RESERVED_PARAM_PREFIXES),
    "user_properties": ("user property name", RESERVED_USER_PROPERTY_NAMES, RESERVED_USER_PROPERTY_PREFIXES),
}


def name_problems(mapping: PropertyMapping) -> list[tuple[str, str]]:
    """(path under `property_mapping`, why) for each name the overrides produce that GA4 would drop."""
    problems = []
    for index, override in enumerate(mapping.overrides):
        for where, kind, name in _produced_names(override):
            if (problem := _problem(kind, name)) is not None:
                problems.append((f"overrides[{index}].{where}", problem))
    return problems


def _produced_names(override: Any) -> Iterator[tuple[str, str, str]]:
    """(field of the override, kind of name, the name) for every name it writes whatever the event holds."""
    if not isinstance(override, RenameOverride | IncludeOverride | StaticOverride | TemplateOverride):
        return
    to = override.to if override.to is not None else override.field  # include without `to`: the field's own path
    segments = to.split(".")
    if segments[0] in ("params", "user_properties"):
        if len(segments) > 1:
            yield "to", segments[0], segments[1]
        elif isinstance(override, StaticOverride) and isinstance(override.value, dict):
            yield from (("value", segments[0], str(key)) for key in override.value)
    elif to == "name":
        if isinstance(override, StaticOverride) and isinstance(override.value, str):
            yield "value", "name", override.value
        elif isinstance(override, TemplateOverride):
            yield from _template_names(override.template)


def _template_names(template: str) -> Iterator[tuple[str, str, str]]:
    """A template's literal text stands in every event name it renders: its characters, and a leading literal's
    first character, must fit the rule (placeholders are checked only once rendered, by GA4)."""
    parts = parse_template(template)
    literal = "".join(part for part in parts if isinstance(part, str))
    if not _NAME_CHARACTERS.fullmatch(literal):
        yield "template", "name", literal
    elif parts and isinstance(parts[0], str) and not parts[0][:1].isalpha():
        yield "template", "name", parts[0]


def _problem(kind: str, name: str) -> str | None:
    label, reserved, prefixes = _KINDS[kind]
    if not _NAME.fullmatch(name):
        return (
            f"the GA4 {label} {name!r} breaks GA4's naming rule: letters, digits and underscores only, starting with a "
            f"letter ({RULES_URL}); GA4 would drop it without an error"
        )
    if name in reserved:
        return f"{name!r} is a reserved GA4 {label} ({RULES_URL}); GA4 would drop it without an error"
    if prefix := next((prefix for prefix in prefixes if name.startswith(prefix)), None):
        return (
            f"the GA4 {label} {name!r} starts with the reserved prefix {prefix!r} ({RULES_URL}); GA4 would drop it "
            "without an error"
        )
    return None
