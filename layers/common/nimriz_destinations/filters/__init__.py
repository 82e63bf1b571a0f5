"""Action `event_filter` (design §6): save-time validation models and a compiled evaluator.

Semantics, decided here and relied on by the fan-out:

* An event passes when every non-empty `include` list contains its value (`tag_ids`: the link has any listed
  tag), no non-empty `exclude` list contains it, `exclude.bot_traffic` does not reject it (`bot_flag: true`),
  and every condition holds (an `any` group holds when one of its items does). Checks run in that order and
  the verdict names the first rule that rejected the event (`include.event_types`, `exclude.bot_traffic`,
  `conditions[2]`, ...); a failing condition inside an `any` group is reported as its top-level item.
* Operational notices (`destination.failing`, `destination.disabled`, `destination.recovered`) are opt-in: an
  empty `include.event_types` matches every event except them, and the verdict names `include.event_types`.
* Absent and null are the same (design §4). A missing value fails every `include` list and passes every
  `exclude` list. A condition on a missing field is false for every operator except `not_exists`, including
  `neq`, `not_in` and `not_contains`: "country is not FR" does not match events without a country.
* A value of the wrong JSON type (a malformed event) behaves like a missing one: evaluation never raises.
* String comparisons are case-sensitive. `contains` on the list field `link.tag_ids` is list membership.
* `gt`/`gte`/`lt`/`lte` apply to the number field `conversion.value` and to `occurred_at`, whose condition
  value is an RFC 3339 timestamp (any offset, at most millisecond precision) compared chronologically.
* `matches` is `re.search` (unanchored unless the pattern anchors itself) over the first MATCH_INPUT_LIMIT
  characters of the value; patterns that could backtrack for long are refused at save time.
* Limits: MAX_CONDITIONS leaf conditions in all, `any` groups nested at most MAX_GROUP_DEPTH deep,
  MAX_LIST_ITEMS per list; at save, an evaluation budget per filter and per workspace (`cost`).

Modules: `models` (the schema), `operators` (which operators fit which field, their values),
`regex_safety` (refusing patterns that could backtrack for long), `evaluate` (the compiled evaluator),
`cost` (a filter's worst-case evaluation time, and the budgets).
"""

from .evaluate import CompiledFilter, FilterVerdict, compile_filter
from .models import EventFilter
from .regex_safety import MATCH_INPUT_LIMIT

__all__ = ["MATCH_INPUT_LIMIT", "CompiledFilter", "EventFilter", "FilterVerdict", "compile_filter"]
