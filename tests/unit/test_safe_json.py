"""The bounded JSON parser: what it refuses (with a reason that never quotes the input) and what it keeps exact."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nimriz_destinations.safe_json import MAX_DEPTH, MAX_INTEGER_DIGITS, InvalidJson, loads


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def refusal(document: str | bytes) -> str:
    with pytest.raises(InvalidJson) as raised:
        loads(document)
    return raised.value.reason


class TestDepth:
    def test_nesting_at_the_limit_parses(self) -> None:
        value = loads('{"a":' * (MAX_DEPTH - 1) + "[1]" + "}" * (MAX_DEPTH - 1))
        for _ in range(MAX_DEPTH - 1):
            value = value["a"]
        assert value == [1]

    def test_one_level_past_the_limit_is_refused_naming_the_limit(self) -> None:
        assert str(MAX_DEPTH) in refusal(nested(MAX_DEPTH + 1))

    def test_nesting_past_the_recursion_limit_is_refused_not_a_recursion_error(self) -> None:
        refusal(nested(1500))
        refusal("[" * 100_000)

    def test_brackets_inside_strings_do_not_count(self) -> None:
        text = json.dumps({"text": "[" * 200 + "{" * 200, "escaped": '\\"[[[[' * 50})
        assert loads(text)["text"].startswith("[[[")

    def test_an_escaped_quote_does_not_end_the_string_for_the_depth_count(self) -> None:
        deep_after_quote = '["\\"' + "[" * 40 + '", ' + nested(MAX_DEPTH - 1) + "]"
        assert loads(deep_after_quote)[0] == '"' + "[" * 40

    def test_unterminated_string_with_many_escaped_quotes_is_refused(self) -> None:
        refusal('"' + '\\"' * 100_000)


class TestNumbers:
    def test_integer_at_the_digit_limit_is_exact(self) -> None:
        digits = "9" * MAX_INTEGER_DIGITS
        assert loads(f"[{digits}, -{digits}]") == [int(digits), -int(digits)]

    @pytest.mark.parametrize("literal", ["1" * (MAX_INTEGER_DIGITS + 1), "-" + "1" * 4301, "1" * 4301])
    def test_longer_integers_are_refused_naming_the_limit(self, literal: str) -> None:
        assert str(MAX_INTEGER_DIGITS) in refusal(literal)

    @pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", '{"v": NaN}'])
    def test_nan_and_infinity_are_refused(self, literal: str) -> None:
        assert "not a JSON value" in refusal(literal)

    @pytest.mark.parametrize("literal", ["1e999", "-1e999", "1" * 400 + ".0", '{"v": [2E+400]}'])
    def test_floats_that_overflow_to_infinity_are_refused(self, literal: str) -> None:
        assert "too large" in refusal(literal)

    def test_ordinary_floats_and_underflow_parse(self) -> None:
        assert loads("[1.5, -2e-3, 1e-999]") == [1.5, -0.002, 0.0]


class TestText:
    def test_invalid_utf8_bytes_are_refused(self) -> None:
        assert "UTF-8" in refusal(b'{"name": "caf\xe9"}')

    def test_utf8_bytes_parse(self) -> None:
        assert loads('{"name": "café 中"}'.encode()) == {"name": "café 中"}

    def test_utf16_bytes_are_not_guessed(self) -> None:
        refusal('{"a": 1}'.encode("utf-16"))

    @pytest.mark.parametrize("escape", ["\\ud800", "\\uDFFF", "\\ud83d x", "\\ude00\\ud83d"])
    def test_unpaired_surrogate_escapes_are_refused(self, escape: str) -> None:
        assert "surrogate" in refusal(f'{{"name": "{escape}"}}')

    def test_unpaired_surrogate_escape_in_a_key_is_refused(self) -> None:
        assert "surrogate" in refusal('{"\\udc00": 1}')

    def test_a_surrogate_pair_and_an_escaped_backslash_before_u_parse(self) -> None:
        assert loads('["\\ud83d\\ude00", "\\\\ud800"]') == ["\U0001f600", "\\ud800"]

    def test_a_raw_surrogate_in_text_is_refused(self) -> None:
        assert "UTF-8" in refusal('{"name": "\ud800"}')


class TestMalformed:
    @pytest.mark.parametrize("document", ["", "{oops", "[1,]", "\ufeff{}", '{"a": 1} trailing', "'single'"])
    def test_malformed_json_is_refused(self, document: str) -> None:
        assert refusal(document).startswith("malformed JSON")

    def test_the_reason_never_quotes_the_input(self) -> None:
        secret = "sk_live_do_not_echo_me"
        for document in (f'{{"{secret}": }}', f'["{secret}", NaN]', f'{{"{secret}": "\\ud800"}}', secret):
            assert secret not in refusal(document)

    def test_invalid_json_is_a_value_error(self) -> None:
        assert issubclass(InvalidJson, ValueError)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, derandomize=True)
@given(json_values, st.booleans())
def test_every_json_value_within_the_limits_round_trips(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)


@settings(max_examples=300, derandomize=True)
@given(
    st.binary(max_size=300) | st.text(max_size=300) | st.text(alphabet='[]{}"\\:,0123456789eE.-+ tfnul', max_size=300)
)
def test_arbitrary_input_either_parses_or_raises_invalid_json(document: str | bytes) -> None:
    # Any other exception (RecursionError, UnicodeError, a bare ValueError from int()) fails the test.
    with contextlib.suppress(InvalidJson):
        loads(document)
