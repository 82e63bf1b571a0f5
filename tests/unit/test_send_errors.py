"""Every exception the HTTP client raises on the send path has an outcome: retried or permanent, never unknown."""

from __future__ import annotations

import httpx
import pytest

from nimriz_destinations.delivery.sender import classify_send_error
from nimriz_destinations.providers.base import Verdict

RETRIED_AS_TIMEOUT = [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout]
RETRIED_AS_NETWORK_ERROR = [
    httpx.ConnectError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.CloseError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
]
PERMANENT_INVALID_REQUEST = [httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.InvalidURL]


@pytest.mark.parametrize("error", RETRIED_AS_TIMEOUT, ids=lambda error: error.__name__)
def test_timeouts_are_retried(error: type[Exception]) -> None:
    outcome = classify_send_error(error("secret-in-the-text"))
    assert outcome is not None and outcome.verdict is Verdict.RETRY and outcome.error_class == "timeout"


@pytest.mark.parametrize("error", RETRIED_AS_NETWORK_ERROR, ids=lambda error: error.__name__)
def test_network_failures_are_retried(error: type[Exception]) -> None:
    outcome = classify_send_error(error("secret-in-the-text"))
    assert outcome is not None and outcome.verdict is Verdict.RETRY and outcome.error_class == "network_error"


@pytest.mark.parametrize(
    "error",
    [
        *(error("secret-in-the-text") for error in PERMANENT_INVALID_REQUEST),
        UnicodeEncodeError("ascii", "secret-in-the-text é", 19, 20, "ordinal not in range(128)"),
        UnicodeError("encoding with 'idna' codec failed (UnicodeError: label empty or too long)"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_request_the_client_cannot_send_is_a_permanent_invalid_request(error: Exception) -> None:
    outcome = classify_send_error(error)
    assert outcome is not None and outcome.verdict is Verdict.PERMANENT and outcome.error_class == "invalid_request"


@pytest.mark.parametrize("error", [*RETRIED_AS_TIMEOUT, *RETRIED_AS_NETWORK_ERROR, *PERMANENT_INVALID_REQUEST])
def test_outcome_messages_never_quote_the_exception_text(error: type[Exception]) -> None:
    # The text may carry a header value, i.e. a secret; the class name is enough to act on.
    outcome = classify_send_error(error("secret-in-the-text"))
    assert outcome is not None and "secret" not in (outcome.message or "") and error.__name__ in (outcome.message or "")


def test_other_exceptions_are_not_send_errors() -> None:
    assert classify_send_error(RuntimeError("a bug")) is None
    assert classify_send_error(KeyError("a bug")) is None
