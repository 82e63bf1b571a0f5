"""Action `property_mapping` (design §7): save-time validation models, privacy rules and a compiled mapper.

Semantics, decided here and relied on by the dispatcher:

* `apply` runs `apply_privacy` first and hands only the privacy-filtered event to the provider's default
  mapping and to every override, so no mapping can re-introduce a removed field (design §4).
* `base: "default"` starts from the provider's default payload, which the adapter makes anew for each event and
  shares no object with it or with anything else (`Provider.default_payload`), so overrides edit it in place;
  `base: "none"` starts from `{}`. Overrides then apply in list order.
* Output paths (`from`, `to`, `exclude.field`) are dotted paths into the payload: segments of 1-64 characters
  from `[A-Za-z0-9_$-]` (`$` for keys such as Mixpanel's `$insert_id`), at most 8 deep. Setting a path creates
  missing objects and replaces a non-object in the way; `rename` and `exclude` of a missing path do nothing.
* `include` copies a canonical field (catalogue paths only); `to` defaults to the same dotted path, so
  `utm.source` lands at `utm.source`. A missing or null field sets nothing.
* `static` sets a copy of its JSON value (at most MAX_STATIC_JSON_LENGTH characters serialised, MAX_STATIC_DEPTH
  levels of nesting).
* `template` renders `{{path}}` placeholders (catalogue paths, optional spaces inside the braces) and nothing
  else: no expressions, no filters, no escapes. Single braces are literal; a `{{` without `}}` or a stray
  `}}` is an error. Missing or null values render as "", strings as themselves and other values as compact
  JSON (`true`, `12.5`, `["a","b"]`); values are inserted verbatim, never re-rendered. Output is cut at
  MAX_RENDERED_LENGTH characters. A template that is exactly one placeholder keeps the value's JSON type
  (a number stays a number, a list a list), and still renders "" when the value is missing; a string value is cut
  at MAX_RENDERED_LENGTH characters too, and a number, list or object whose compact JSON is longer, which cannot
  be cut, renders "" as a missing value does.
* What an action's overrides write whatever the event holds (output paths, static values as compact JSON,
  template text outside placeholders) is at most MAX_FIXED_OUTPUT_BYTES (16 KB) in total, checked at save. The
  mapped payload as a whole is bounded where items are prepared (`delivery.prepare`, 64 KB).

Modules: `models` (the schema), `payload` (output paths and JSON edits), `privacy` (fields removed before
mapping), `templates` (`{{path}}` parsing and rendering), `compile` (the compiled mapper).
"""

from .compile import CompiledMapping, compile_mapping
from .models import PropertyMapping
from .payload import json_size
from .privacy import apply_privacy
from .templates import MAX_RENDERED_LENGTH

__all__ = [
    "MAX_RENDERED_LENGTH",
    "CompiledMapping",
    "PropertyMapping",
    "apply_privacy",
    "compile_mapping",
    "json_size",
]
