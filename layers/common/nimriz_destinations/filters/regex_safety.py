"""Regular expressions that cannot backtrack for long: the one place that reads `re`'s private parser.

The check walks the parse tree the regex engine itself builds (`re._parser`), so it judges exactly what will
run. Refused: backreferences and conditionals; a repeated group containing a variable repeat or an alternation
(`(a+)+`, `(a|ab)*`: exponential); and patterns whose estimated worst case on MATCH_INPUT_LIMIT characters
exceeds MAX_PATTERN_COST (each repeat multiplies the cost by its number of choices, and an unanchored search
multiplies it by the number of start positions).
"""

import re
import re._constants as sre
import re._parser as sre_parser
from collections.abc import Sequence
from typing import Any

MAX_PATTERN_LENGTH = 200
# Patterns are only ever run on this many characters of a value; the cost model assumes it.
MATCH_INPUT_LIMIT = 1024
# Worst-case backtracking steps a pattern may take on MATCH_INPUT_LIMIT characters: a few quadratic passes
# (milliseconds). One unbounded repeat fits, or two when the pattern starts with `^`; `\w+\d+x` unanchored
# (cubic: over a second on 1024 digits) does not.
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
    cost = _sequence_cost(parsed)
    return cost if _anchored_at_start(parsed) else cost * MATCH_INPUT_LIMIT


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
    cost = 1
    for op, av in items:
        cost = min(cost * _node_cost(op, av), _COST_CEILING)
    return cost


def _anchored_at_start(parsed: Any) -> bool:
    # re.search tries only position 0 for \A, and for ^ unless MULTILINE lets ^ match after every newline.
    if len(parsed) == 0 or parsed[0][0] is not sre.AT:
        return False
    anchor = parsed[0][1]
    multiline = parsed.state.flags & re.MULTILINE
    return anchor is sre.AT_BEGINNING_STRING or (anchor is sre.AT_BEGINNING and not multiline)
