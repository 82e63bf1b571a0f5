"""Regular expressions that cannot backtrack for long: the one place that reads `re`'s private parser.

The check walks the parse tree the regex engine itself builds (`re._parser`), so it judges exactly what will
run. Refused: backreferences and conditionals; a repeated group containing a variable repeat or an alternation
(`(a+)+`, `(a|ab)*`: exponential); and patterns whose estimated worst case on MATCH_INPUT_LIMIT characters
exceeds MAX_PATTERN_COST (each repeat multiplies the cost by its number of choices, and an unanchored search
multiplies it by the number of start positions; except a final repeat, which nothing after it can make give
characters back, a repeat followed by a literal it cannot match, `[a-z]+-`, whose every give-back fails at once,
and a literal prefix, which can occur only so often).

That bound only keeps a pattern from exploding. What it may cost within it is for the filter cost budget
(`cost.py`), which prices each `backtracking_cost` step by the character tests it makes (`step_profile`).
"""

from __future__ import annotations

import contextvars
import re
import re._constants as sre
import re._parser as sre_parser
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_PATTERN_LENGTH = 200
# Patterns are only ever run on this many characters of a value; the cost model assumes it.
MATCH_INPUT_LIMIT = 1024
# Worst-case backtracking steps a pattern may take on MATCH_INPUT_LIMIT characters: a few quadratic passes.
# One unbounded repeat fits, or two when the pattern starts with `^`; `\w+\d+x` unanchored (cubic: over a
# second on 1024 digits) does not. Quadratic is still far too slow for fan-out (measured: from 3 ms for `.*2026`
# to 0.9 s for `(?i).*\w{60}Q` on 1,024 characters), so saving a filter also holds it to the cost budget
# (`cost.py`); this limit stays what it was, so every filter stored under it still compiles.
MAX_PATTERN_COST = 4 * MATCH_INPUT_LIMIT * MATCH_INPUT_LIMIT

_REPEATS = frozenset({sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT})
_COST_CEILING = MAX_PATTERN_COST * MATCH_INPUT_LIMIT  # keeps the arithmetic small once a pattern is over


def compile_safe_pattern(pattern: str) -> re.Pattern[str]:
    """Compile `pattern`, or raise ValueError saying why it is invalid or could backtrack for too long."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"regular expression is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        compiled = re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    if backtracking_cost(pattern) > MAX_PATTERN_COST:
        raise ValueError(
            "regular expression could backtrack for too long: use at most one unbounded repeat "
            "(*, +, {n,}), or two when the pattern starts with ^, and no leading .*"
        )
    return compiled


def backtracking_cost(pattern: str) -> int:
    """Estimated worst-case steps of `re.search(pattern)` on MATCH_INPUT_LIMIT characters (capped).

    Raises ValueError for what the estimate cannot bound: invalid patterns, backreferences, conditionals and
    repeated groups that contain a choice.
    """
    try:
        parsed = sre_parser.parse(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    token = _folds_case.set(_ignores_case(parsed))
    try:
        return _search_cost(parsed)
    finally:
        _folds_case.reset(token)


def _search_cost(parsed: Any) -> int:
    items = list(parsed)
    if items and items[-1][0] in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        # Nothing follows a final repeat, so nothing after it can fail and make it give characters back: once it
        # has its minimum the match is found. Its choices are tried once, not once per attempt of what precedes.
        final = _node_cost(*items[-1])
        return max(_attempts_cost(parsed, items[:-1]), final)
    return _attempts_cost(parsed, items)


def _attempts_cost(parsed: Any, items: list[Any]) -> int:
    """The cost of trying `items` at every start position the search tries."""
    if _anchored_at_start(parsed):
        return _sequence_cost(items)
    every_start = min(MATCH_INPUT_LIMIT * _sequence_cost(items), _COST_CEILING)
    prefix = _literal_prefix(items)
    if _folds_case.get() or len(prefix) < 2:
        return every_start
    # A literal prefix fails at once where it does not occur, and occurs at most once every `period` characters
    # (two occurrences closer than that would give it a shorter period): only there is the rest tried.
    occurrences = -(-MATCH_INPUT_LIMIT // _period(prefix))
    return min(every_start, MATCH_INPUT_LIMIT + occurrences * _sequence_cost(items[len(prefix) :]))


def _literal_prefix(items: list[Any]) -> str:
    prefix = []
    for op, av in items:
        if op is not sre.LITERAL:
            break
        prefix.append(chr(av))
    return "".join(prefix)


def _period(text: str) -> int:
    """The smallest p such that text[i] == text[i + p] for every i."""
    return next(p for p in range(1, len(text) + 1) if text[p:] == text[: len(text) - p])


def _children(op: Any, av: Any) -> Sequence[Any]:
    if op in _REPEATS:
        return (av[2],)
    if op is sre.BRANCH:
        return av[1]
    if op is sre.SUBPATTERN:
        return (av[3],)
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return (av[1],)
    if op is sre.ATOMIC_GROUP:
        return (av,)
    return ()


def _has_choice(items: Any) -> bool:
    for op, av in items:
        if op is sre.BRANCH or (op in _REPEATS and av[1] > av[0]):
            return True
        if any(_has_choice(child) for child in _children(op, av)):
            return True
    return False


def _node_cost(op: Any, av: Any) -> int:
    if op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
        raise ValueError("backreferences and conditional groups are not supported in regular expressions")
    if op in _REPEATS:
        low, high, body = av
        if high > 1 and _has_choice(body):
            raise ValueError(
                "a repeated group must not contain a repeat or an alternation, e.g. (a+)+ or (a|ab)*: "
                "it can backtrack exponentially"
            )
        if op is sre.POSSESSIVE_REPEAT:  # never gives characters back
            return _sequence_cost(body)
        choices = min(high, MATCH_INPUT_LIMIT) - min(low, MATCH_INPUT_LIMIT) + 1
        return choices * _sequence_cost(body)
    if op is sre.BRANCH:
        return sum(_sequence_cost(branch) for branch in av[1])
    children = _children(op, av)
    return _sequence_cost(children[0]) if children else 1


def _sequence_cost(items: Any) -> int:
    # From the end: a node's choices multiply the cost of what follows it, unless nothing it gives back can
    # start what follows: then each choice costs one failed test and what follows is tried once.
    cost = 1
    following = None
    for op, av in reversed(list(items)):
        node = _node_cost(op, av)
        in_vain = _gives_back_in_vain(op, av, following)
        cost = min(min(node * cost, node + cost) if in_vain else node * cost, _COST_CEILING)
        following = (op, av)
    return cost


# Whether the pattern being costed compares case-insensitively somewhere (then no test is surely disjoint).
_folds_case: contextvars.ContextVar[bool] = contextvars.ContextVar("regex_folds_case", default=False)


def _gives_back_in_vain(op: Any, av: Any, following: tuple[Any, Any] | None) -> bool:
    """A repeat of one character test followed by a literal character that test cannot match (`[a-z]+-`): every
    character it gives back fails the literal at once, so backtracking into it never retries what follows."""
    if op not in (sre.MAX_REPEAT, sre.MIN_REPEAT) or following is None or following[0] is not sre.LITERAL:
        return False
    if _folds_case.get():
        return False
    body = list(av[2])
    if len(body) != 1:
        return False
    test_op, test_av = body[0]
    return _never_matches(test_op, test_av, chr(following[1]))


_CATEGORY_TESTS = {
    # What `re` tests for str patterns (Modules/_sre: Py_UNICODE_ISDECIMAL, ISSPACE, ISALNUM or "_").
    sre.CATEGORY_DIGIT: str.isdecimal,
    sre.CATEGORY_SPACE: str.isspace,
    sre.CATEGORY_WORD: lambda character: character.isalnum() or character == "_",
}
_NEGATED_CATEGORIES = {
    sre.CATEGORY_NOT_DIGIT: sre.CATEGORY_DIGIT,
    sre.CATEGORY_NOT_SPACE: sre.CATEGORY_SPACE,
    sre.CATEGORY_NOT_WORD: sre.CATEGORY_WORD,
}


def _never_matches(op: Any, av: Any, character: str) -> bool:
    """Whether the character test (op, av) surely fails on `character` (case-sensitively); False when unsure."""
    if op is sre.LITERAL:
        return chr(av) != character
    if op is sre.NOT_LITERAL:
        return chr(av) == character
    if op is sre.IN and av and av[0][0] is not sre.NEGATE:
        return all(_item_never_matches(item_op, item_av, character) for item_op, item_av in av)
    return False


def _item_never_matches(op: Any, av: Any, character: str) -> bool:
    if op is sre.LITERAL:
        return chr(av) != character
    if op is sre.RANGE:
        return not av[0] <= ord(character) <= av[1]
    if op is sre.CATEGORY and av in _NEGATED_CATEGORIES:
        return bool(_CATEGORY_TESTS[_NEGATED_CATEGORIES[av]](character))
    if op is sre.CATEGORY and av in _CATEGORY_TESTS:
        return not _CATEGORY_TESTS[av](character)
    return False


def _ignores_case(parsed: Any) -> bool:
    def scoped(items: Any) -> bool:
        return any(
            (op is sre.SUBPATTERN and av[1] & re.IGNORECASE) or any(scoped(child) for child in _children(op, av))
            for op, av in items
        )

    return bool(parsed.state.flags & re.IGNORECASE) or scoped(parsed)


def _anchored_at_start(parsed: Any) -> bool:
    # re.search tries only position 0 for \A, and for ^ unless MULTILINE lets ^ match after every newline.
    if len(parsed) == 0 or parsed[0][0] is not sre.AT:
        return False
    anchor = parsed[0][1]
    multiline = parsed.state.flags & re.MULTILINE
    return anchor is sre.AT_BEGINNING_STRING or (anchor is sre.AT_BEGINNING and not multiline)


@dataclass(frozen=True, slots=True)
class StepProfile:
    """What one backtracking step of a pattern tests at most, by kind of test: what sets a step's cost."""

    plain: int  # literal characters, `.`, anchors
    sets: int  # classes such as `[a-z0-9_]` (no categories)
    categories: int  # `\w`, `\d`, `\s` and classes holding them: Unicode lookups
    ignore_case: bool  # some part is case-insensitive: every comparison folds case

    def __add__(self, other: StepProfile) -> StepProfile:
        return StepProfile(
            self.plain + other.plain,
            self.sets + other.sets,
            self.categories + other.categories,
            self.ignore_case or other.ignore_case,
        )

    def times(self, count: int) -> StepProfile:
        return StepProfile(self.plain * count, self.sets * count, self.categories * count, self.ignore_case)

    def widest(self, other: StepProfile) -> StepProfile:
        """What a step through either of two alternatives tests at most."""
        return StepProfile(
            max(self.plain, other.plain),
            max(self.sets, other.sets),
            max(self.categories, other.categories),
            self.ignore_case or other.ignore_case,
        )


_NO_TESTS = StepProfile(0, 0, 0, ignore_case=False)
_CHARACTER_TESTS = frozenset({sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN, sre.AT})


def step_profile(pattern: str) -> StepProfile:
    """The character tests along the longest path through the pattern (a repeat's body once, a fixed count
    `x{n}` n times, the widest alternative): at most what one backtracking step tests. Call on a pattern that
    `compile_safe_pattern` accepted."""
    parsed = sre_parser.parse(pattern)
    return _sequence_profile(parsed) + StepProfile(0, 0, 0, _ignores_case(parsed))


def _sequence_profile(items: Any) -> StepProfile:
    profile = _NO_TESTS
    for op, av in items:
        profile += _node_profile(op, av)
    return profile


def _node_profile(op: Any, av: Any) -> StepProfile:
    if op is sre.IN:
        categories = any(item_op is sre.CATEGORY for item_op, _ in av)
        return StepProfile(0, int(not categories), int(categories), ignore_case=False)
    if op in _CHARACTER_TESTS:
        return StepProfile(1, 0, 0, ignore_case=False)
    if op in _REPEATS:
        low, high, body = av
        return _sequence_profile(body).times(min(low, MATCH_INPUT_LIMIT) if low == high else 1)
    if op is sre.BRANCH:
        profile = _NO_TESTS
        for branch in av[1]:
            profile = profile.widest(_sequence_profile(branch))
        return profile
    children = _children(op, av)
    return _sequence_profile(children[0]) if children else _NO_TESTS
