"""The evaluation cost of an `event_filter`: its worst case per event, in nanoseconds, and the budgets (design §6).

Fan-out evaluates every action's filter on every event of the action's workspace, inside batches it shares with
other workspaces, so what a filter may cost is bounded when it is saved. Each check is priced for its worst case
on values of MATCH_INPUT_LIMIT characters (a list field: as many items): what it does to the value (a hash, a
comparison, a substring search, a regular expression's backtracking steps) times what that costs, plus the fixed
cost of reaching the value. A filter costs its action's fixed cost plus all its checks, every alternative of an
`any` group included (in the worst case all of them fail). FILTER_BUDGET_NS bounds one filter;
WORKSPACE_BUDGET_NS bounds all of a workspace's actions, disabled ones included (enabling one changes no filter).

Calibration: each constant is the worst time per unit measured on the reference machine (the project's 2-core
development host, Python 3.12, under its usual shared load; minimum of repeated runs, so that a spike does not
set it) with inputs crafted to be slow for that operation: 1,024 characters that pass every test but the last,
needles that match up to their last character at every offset, lists whose items all differ. `make bench`
measures a workspace at its budget built the same way (`filter_worst_ms_per_event`), the check that the
estimate stays honest. Other machines differ by a constant factor: fan-out's time share (design §2) holds at
run time whatever the estimate says.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..event_fields import EVENT_FIELDS, FieldType
from .models import LIST_RULE_PATHS, AnyGroup, Condition, EventFilter, ExcludeRules, IncludeRules
from .operators import LIST_VALUED, PRESENCE
from .regex_safety import MATCH_INPUT_LIMIT, backtracking_cost, step_profile

FILTER_BUDGET_NS = 1_000_000
WORKSPACE_BUDGET_NS = 5_000_000

# Measured as described above, in nanoseconds.
ACTION_NS = 400  # evaluating an action at all: the call and its operational-notice check (measured 376)
CHECK_NS = 1_000  # reaching a value and testing its type, before looking at it (measured 932)
CHARACTER_NS = 0.25  # one character compared by eq, starts_with or a list hit's equality check (0.17)
HASH_CHARACTER_NS = 0.5  # one character hashed for a list lookup (0.44; counted at every lookup, though cached)
SEARCH_COMPARISON_NS = 0.65  # one character comparison of contains' search, (n - m + 1) m at worst (0.28-0.62)
LIST_ITEM_NS = 25.0  # one item of a list field, hashed (include/exclude: 20) or compared (contains: 13)
# A regular expression: each backtracking step (`backtracking_cost`) costs REGEX_STEP_NS plus its character
# tests (`step_profile`), each by kind, case-insensitive ones REGEX_IGNORE_CASE_FACTOR times slower. Fitted as an
# upper bound of 750 patterns on crafted 1,024-character inputs (every shape below regex_safety's limit: repeats
# before and after literals and classes, lazy repeats, lookarounds, alternations, long literal runs), the
# tightest being `.*[\w.]Q` (48 ms measured), `a+?Q` (16 ms) and `[^x]{0,50}[^x]{40}Q` (11 ms).
REGEX_STEP_NS = 4.0
REGEX_PLAIN_TEST_NS = 6.0
REGEX_SET_TEST_NS = 10.0
REGEX_CATEGORY_TEST_NS = 30.0
REGEX_IGNORE_CASE_FACTOR = 3.0


@dataclass(frozen=True, slots=True)
class CheckCost:
    """One rule or leaf condition, by its path in the filter (`conditions[0].any[3]`), and its worst case."""

    path: str
    nanoseconds: int


@dataclass(frozen=True, slots=True)
class FilterCost:
    checks: tuple[CheckCost, ...]

    @property
    def nanoseconds(self) -> int:
        return ACTION_NS + sum(check.nanoseconds for check in self.checks)

    def where_over(self, budget_ns: int, *, already_ns: int = 0) -> str | None:
        """The path of the check at which `already_ns` plus this filter's running total first exceeds the budget
        (`""`: the action's fixed cost alone does); None when the whole filter fits."""
        total = already_ns + ACTION_NS
        if total > budget_ns:
            return ""
        for check in self.checks:
            total += check.nanoseconds
            if total > budget_ns:
                return check.path
        return None


def filter_cost(event_filter: EventFilter) -> FilterCost:
    return FilterCost(tuple(_check_costs(event_filter)))


def milliseconds(nanoseconds: int) -> str:
    """`1.25 ms`, for messages: rounded up, so a cost shown at the budget is never over it."""
    return f"{math.ceil(nanoseconds / 10_000) / 100:g} ms"


def _check_costs(event_filter: EventFilter) -> Iterator[CheckCost]:
    # The same rules, in the same order, as evaluate._checks compiles.
    for name in IncludeRules.model_fields:
        if getattr(event_filter.include, name):
            yield CheckCost(f"include.{name}", _list_rule_ns(LIST_RULE_PATHS[name]))
    for name in ExcludeRules.model_fields:
        if name != "bot_traffic" and getattr(event_filter.exclude, name):
            yield CheckCost(f"exclude.{name}", _list_rule_ns(LIST_RULE_PATHS[name]))
    if event_filter.exclude.bot_traffic:
        yield CheckCost("exclude.bot_traffic", CHECK_NS)
    yield from _item_costs(event_filter.conditions, "conditions")


def _item_costs(items: Sequence[Condition | AnyGroup], where: str) -> Iterator[CheckCost]:
    for index, item in enumerate(items):
        path = f"{where}[{index}]"
        if isinstance(item, AnyGroup):
            yield from _item_costs(item.any, f"{path}.any")
        else:
            yield CheckCost(path, _condition_ns(item))


def _list_rule_ns(path: str) -> int:
    """include/exclude: a set lookup of the event's value, or of each item of a list field."""
    if EVENT_FIELDS[path] is FieldType.STRING_LIST:
        return math.ceil(CHECK_NS + MATCH_INPUT_LIMIT * LIST_ITEM_NS)
    return math.ceil(CHECK_NS + MATCH_INPUT_LIMIT * HASH_CHARACTER_NS)


def _condition_ns(condition: Condition) -> int:
    op, value = condition.operator, condition.value
    kind = EVENT_FIELDS[condition.field]
    if op in PRESENCE or kind in (FieldType.NUMBER, FieldType.BOOLEAN) or not isinstance(value, str | list):
        return CHECK_NS  # presence, numbers, booleans, timestamps: constant time
    if op == "matches":
        assert isinstance(value, str)  # guaranteed by Condition validation
        return CHECK_NS + regex_ns(value)
    if kind is FieldType.STRING_LIST:  # contains / not_contains: list membership, comparing every item
        return math.ceil(CHECK_NS + MATCH_INPUT_LIMIT * LIST_ITEM_NS + MATCH_INPUT_LIMIT * CHARACTER_NS)
    if op in LIST_VALUED:  # a set lookup: hash the value, compare it with the one item of equal hash
        longest = max(len(item) for item in value if isinstance(item, str)) if value else 0
        return math.ceil(CHECK_NS + MATCH_INPUT_LIMIT * HASH_CHARACTER_NS + longest * CHARACTER_NS)
    assert isinstance(value, str)
    needle = min(len(value), MATCH_INPUT_LIMIT)
    if op in ("contains", "not_contains"):
        # CPython's search on short haystacks compares up to the whole needle at each offset in the worst case.
        return math.ceil(CHECK_NS + (MATCH_INPUT_LIMIT - needle + 1) * needle * SEARCH_COMPARISON_NS)
    return math.ceil(CHECK_NS + needle * CHARACTER_NS)  # eq, neq, starts_with, ends_with


@lru_cache(maxsize=4096)
def regex_ns(pattern: str) -> int:
    """Worst case of one `matches` pattern on MATCH_INPUT_LIMIT characters (call on a pattern that compiled)."""
    tests = step_profile(pattern)
    per_step = (
        tests.plain * REGEX_PLAIN_TEST_NS + tests.sets * REGEX_SET_TEST_NS + tests.categories * REGEX_CATEGORY_TEST_NS
    ) * (REGEX_IGNORE_CASE_FACTOR if tests.ignore_case else 1.0)
    return math.ceil(backtracking_cost(pattern) * (REGEX_STEP_NS + per_step))
