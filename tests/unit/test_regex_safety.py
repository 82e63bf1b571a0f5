"""The regex-safety module on its own: which patterns it compiles, which it refuses, and its cost estimate."""

import re

import pytest

from nimriz_destinations.filters.regex_safety import (
    MATCH_INPUT_LIMIT,
    MAX_PATTERN_COST,
    MAX_PATTERN_LENGTH,
    backtracking_cost,
    compile_safe_pattern,
    step_profile,
)


@pytest.mark.parametrize(
    "pattern",
    [
        r"^spring_\d+$",
        r"\Autm_\w+_\d+",
        r"instagram|facebook|tiktok",
        r"(ab)+c",
        r"a++b+c",
        r"(?>a+)b",
        r"^\w+\d+x",
        r"(?i)^promo",
        r"campaign.*2026",
        "x" * MAX_PATTERN_LENGTH,
    ],
)
def test_safe_patterns_compile_to_the_same_regex_as_re(pattern: str) -> None:
    compiled = compile_safe_pattern(pattern)
    assert compiled.pattern == pattern
    assert compiled.flags == re.compile(pattern).flags


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(a+)+$", "a repeated group must not contain a repeat or an alternation"),
        ("(a|ab)*c", "a repeated group must not contain a repeat or an alternation"),
        ("(?:x+y?){2,5}", "a repeated group must not contain a repeat"),
        (r"(\w+)-\1", "backreferences"),
        ("(?P<p>a)(?(p)b|c)", "conditional groups"),
        (r"\w+\d+x", "could backtrack for too long"),
        (r"(?m)^\w+\d+x", "could backtrack for too long"),
        ("a?" * 30 + "b", "could backtrack for too long"),
        ("x" * (MAX_PATTERN_LENGTH + 1), f"longer than {MAX_PATTERN_LENGTH} characters"),
        ("(unclosed", "invalid regular expression: missing ), unterminated subpattern"),
        ("a{99999999999}", "invalid regular expression"),
    ],
)
def test_unsafe_or_invalid_patterns_are_refused_with_the_reason(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        compile_safe_pattern(pattern)


def test_a_literal_costs_one_step_per_start_position_unless_anchored() -> None:
    assert backtracking_cost("abc") == MATCH_INPUT_LIMIT
    assert backtracking_cost("^abc") == 1
    assert backtracking_cost(r"\Aabc") == 1


def test_multiline_caret_is_not_an_anchor() -> None:
    assert backtracking_cost("(?m)^abc") == MATCH_INPUT_LIMIT


def test_each_unbounded_repeat_multiplies_the_cost_by_the_input_length() -> None:
    assert backtracking_cost(r"^\w+") == MATCH_INPUT_LIMIT
    assert backtracking_cost(r"^\w+\w+x") == MATCH_INPUT_LIMIT * MATCH_INPUT_LIMIT


def test_a_final_repeat_is_tried_once_not_once_per_attempt_of_what_precedes_it() -> None:
    # Nothing after it can fail, so it never gives characters back: `utm_\w+` is linear, not quadratic.
    assert backtracking_cost(r"^\w+\d+") == MATCH_INPUT_LIMIT
    assert backtracking_cost(r"utm_\w+") == MATCH_INPUT_LIMIT
    assert backtracking_cost(r"\w+$") == MATCH_INPUT_LIMIT * MATCH_INPUT_LIMIT


def test_a_literal_prefix_is_tried_further_only_where_it_occurs_at_most_once_per_its_period() -> None:
    # "campaign" cannot occur twice within 8 characters; "aaa" can occur at every position.
    assert backtracking_cost("campaign.*2026") == MATCH_INPUT_LIMIT + MATCH_INPUT_LIMIT // 8 * (MATCH_INPUT_LIMIT + 1)
    assert backtracking_cost("abab.*x") == MATCH_INPUT_LIMIT + MATCH_INPUT_LIMIT // 2 * (MATCH_INPUT_LIMIT + 1)
    assert backtracking_cost("aaa.*x") == MATCH_INPUT_LIMIT * (MATCH_INPUT_LIMIT + 1)
    assert backtracking_cost("(?i)campaign.*2026") == MATCH_INPUT_LIMIT * (MATCH_INPUT_LIMIT + 1)


def test_a_bounded_repeat_costs_its_number_of_choices() -> None:
    assert backtracking_cost(r"^\d{2,5}") == 4
    assert backtracking_cost(r"^\d{4}") == 1


def test_alternatives_add_up_and_possessive_repeats_do_not_multiply() -> None:
    assert backtracking_cost("^(?:ab|cd|ef)") == 3
    assert backtracking_cost(r"^\w++") == 1


def test_the_bound_admits_one_unbounded_repeat_or_two_when_anchored_and_no_more() -> None:
    assert backtracking_cost(r"\w+") <= MAX_PATTERN_COST
    assert backtracking_cost(r"^\w+\d+x") <= MAX_PATTERN_COST
    assert backtracking_cost(r"\w+\d+x") > MAX_PATTERN_COST
    assert backtracking_cost(r"^\w+\d+\s+x") > MAX_PATTERN_COST


def test_the_cost_of_a_hopeless_pattern_is_capped_not_astronomical() -> None:
    assert backtracking_cost(r"^\w+" * 20) <= MAX_PATTERN_COST * MATCH_INPUT_LIMIT


def test_a_repeat_before_a_literal_it_cannot_match_does_not_multiply_what_follows() -> None:
    # Every character `[a-z]+` gives back fails `-` at once, so it never retries `[0-9]+$`: linear, not quadratic.
    assert backtracking_cost(r"^[a-z]+-[0-9]+$") == 2 * MATCH_INPUT_LIMIT
    assert backtracking_cost(r"^\d+\.\d+$") == 2 * MATCH_INPUT_LIMIT
    # `_` is a word character: `\w+` gives back characters that can start what follows.
    assert backtracking_cost(r"^\w+_\d+$") == MATCH_INPUT_LIMIT * MATCH_INPUT_LIMIT
    # Case-insensitively, a test may match the literal's other case: no shortcut.
    assert backtracking_cost(r"(?i)^[a-z]+-[0-9]+$") == MATCH_INPUT_LIMIT * MATCH_INPUT_LIMIT


def test_refinements_only_ever_lower_the_estimate() -> None:
    # `\d{0,3}x` sums to 5 where the product is 4: the smaller one is kept, so no pattern is refused that was not.
    assert backtracking_cost(r"\d+\d{0,3}x") == 4 * MATCH_INPUT_LIMIT * MATCH_INPUT_LIMIT


def test_a_step_profile_counts_the_tests_on_the_longest_path_by_kind() -> None:
    profile = step_profile(r"^spring_\d{4}[a-z]?(?:ab|cde)$")
    assert (profile.plain, profile.sets, profile.categories, profile.ignore_case) == (12, 1, 4, False)
    assert step_profile(r"(?i:promo)\d").ignore_case
    assert step_profile(r"[\w.]+").categories == 1
