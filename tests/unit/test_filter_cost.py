"""The filter cost model (design §6): what each check is priced at, where a filter passes a budget, and that
ordinary configurations fit the budgets with room to spare."""

from __future__ import annotations

from typing import Any

import pytest

from nimriz_destinations.filters import EventFilter
from nimriz_destinations.filters.cost import (
    ACTION_NS,
    CHECK_NS,
    FILTER_BUDGET_NS,
    WORKSPACE_BUDGET_NS,
    filter_cost,
    milliseconds,
    regex_ns,
)
from nimriz_destinations.filters.regex_safety import MATCH_INPUT_LIMIT
from tests.bench import mixed_actions


def cost_of(event_filter: dict[str, Any]) -> int:
    return filter_cost(EventFilter.model_validate(event_filter)).nanoseconds


def condition(operator: str, value: Any, field: str = "utm.campaign") -> dict[str, Any]:
    return {"conditions": [{"field": field, "operator": operator, "value": value}]}


def test_an_empty_filter_costs_the_action_alone_and_each_check_adds_to_it() -> None:
    assert cost_of({}) == ACTION_NS
    assert cost_of({"exclude": {"bot_traffic": True}}) == ACTION_NS + CHECK_NS
    assert cost_of(condition("exists", None)) == ACTION_NS + CHECK_NS


def test_checks_are_listed_in_evaluation_order_with_every_any_alternative() -> None:
    event_filter = EventFilter.model_validate(
        {
            "include": {"countries": ["US"]},
            "exclude": {"bot_traffic": True},
            "conditions": [
                {"field": "utm.source", "operator": "exists"},
                {
                    "any": [
                        {"field": "utm.medium", "operator": "exists"},
                        {"any": [{"field": "type", "operator": "exists"}]},
                    ]
                },
            ],
        }
    )
    assert [check.path for check in filter_cost(event_filter).checks] == [
        "include.countries",
        "exclude.bot_traffic",
        "conditions[0]",
        "conditions[1].any[0]",
        "conditions[1].any[1].any[0]",
    ]


def test_contains_is_priced_for_comparing_the_whole_needle_at_every_offset() -> None:
    # Worst case of CPython's search on a short haystack: (n - m + 1) * m comparisons, largest at m = n / 2.
    short, half, whole = (cost_of(condition("contains", "x" * m)) for m in (4, MATCH_INPUT_LIMIT // 2, 1000))
    assert short < whole < half
    assert cost_of(condition("not_contains", "x" * 512)) == half


def test_a_list_field_is_priced_for_a_kilobyte_of_items_and_numbers_for_a_comparison() -> None:
    tags = cost_of(condition("contains", "tag_a", field="link.tag_ids"))
    country = cost_of({"include": {"countries": ["US", "FR"]}})
    assert tags > 10 * country
    assert cost_of(condition("gt", 10, field="conversion.value")) == ACTION_NS + CHECK_NS


@pytest.mark.parametrize(
    ("cheap", "dear"),
    [
        (r"^spring_\d+$", r"spring_\d+$"),  # anchored: one start position instead of 1,024
        (r"campaign.{0,20}2026", r"campaign.*2026"),  # a bounded repeat backtracks over fewer choices
        (r"^utm_[a-z]+", r"(?i)^utm_[a-z]+"),  # case folding slows every comparison
        (r"^[a-z]+-[0-9]+$", r"^[a-z]+[0-9]+x$"),  # `-` stops `[a-z]+` where backtracking cannot help
        (r"\d{4}", r"\w{4}\d{4}"),  # more tests per step
    ],
)
def test_a_pattern_costs_its_backtracking_steps_times_what_each_step_tests(cheap: str, dear: str) -> None:
    assert regex_ns(cheap) < regex_ns(dear)


def test_patterns_that_backtrack_quadratically_are_over_a_filter_s_budget_and_ordinary_ones_well_within() -> None:
    for quadratic in (r"campaign.*2026", r"\w+@example\.com", r"(?i)[a-z]+?[a-z]{0,3}00"):
        assert regex_ns(quadratic) > FILTER_BUDGET_NS, quadratic
    ordinary = [
        r"^spring_\d+$",
        "instagram|facebook|tiktok",
        "(?i)black.?friday",
        r"\.pdf$",
        r"utm_\w+",
        "campaign.{0,20}2026",
    ]
    for pattern in ordinary:
        assert regex_ns(pattern) < FILTER_BUDGET_NS / 2, pattern


def test_the_path_named_is_the_check_at_which_the_running_total_passes_the_budget() -> None:
    needle = "x" * 512  # about a sixth of the budget each
    cost = filter_cost(
        EventFilter.model_validate({"conditions": [{"any": [condition("contains", needle)["conditions"][0]] * 10}]})
    )
    assert cost.where_over(FILTER_BUDGET_NS) == "conditions[0].any[5]"
    assert cost.where_over(10 * FILTER_BUDGET_NS) is None
    assert cost.where_over(FILTER_BUDGET_NS, already_ns=FILTER_BUDGET_NS) == ""


def test_a_busy_workspace_of_fifty_mixed_actions_uses_a_fraction_of_the_budgets() -> None:
    costs = [cost_of(action["event_filter"]) for _, action in mixed_actions()]
    assert max(costs) < FILTER_BUDGET_NS / 5
    assert sum(costs) < WORKSPACE_BUDGET_NS / 2


def test_milliseconds_round_up_so_a_cost_shown_at_the_budget_is_never_over_it() -> None:
    assert milliseconds(FILTER_BUDGET_NS) == "1 ms"
    assert milliseconds(1_000_001) == "1.01 ms"
    assert milliseconds(5_000_000) == "5 ms"
