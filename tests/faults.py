"""Fault injection in front of moto for the project's own AWS clients (`nimriz_destinations.aws`).

While installed, every client `aws._make_client` makes gets one `before-send` handler that stands in front of
moto's in-process stubber: for each HTTP attempt it either injects a fault (a synthetic AWS error response, or
a connection / read-timeout exception) or hands the request on to moto. Faults are per attempt, so botocore's
own retry logic runs as in production (standard mode; the configured max_attempts=3 counts retries, so a call
makes up to 4 attempts): failing one attempt is invisible to the caller, failing every attempt of a call
surfaces as a `ClientError` (or the exception).

Rules select attempts by service, operation and an optional predicate on the call's parameters (what the code
passed to the client), and decide by count, by call number, or by a seeded probability:

    faults.fail("dynamodb", "GetItem", times=1)                        # the next attempt only: retried, succeeds
    faults.fail("dynamodb", "BatchWriteItem", call=2)                  # every attempt of the 2nd call: it fails
    faults.fail("dynamodb", "Query", where=lambda p: ...)              # every matching attempt, until removed
    faults.fail(AWS_SERVICES, probability=0.05, seed=7, fault=Fault.SERVER_ERROR)   # chaos
    faults.lose_answer("dynamodb", "PutItem", where=lambda p: ...)     # 1st matching call: done, answer lost, retried
    faults.slow("dynamodb", seconds=2.0)                                # every answer comes 2 s late

`lose_answer` is the common production fault the others cannot make: the service carries the call out, its answer
never arrives (a read timeout), and botocore's retry runs and succeeds, so the caller sees one answer for a call the
service executed twice.

Rules are checked in the order they were added; the first one that fails an attempt injects, later rules do
not see that attempt. `injected` and `attempts` count per "service.Operation" what happened, for reports.
Only calls through `nimriz_destinations.aws` are affected; test code's own boto3 clients reach moto directly.
"""

from __future__ import annotations

import functools
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.retries import standard
from moto.core.models import botocore_stubber

from nimriz_destinations import aws

AWS_SERVICES = ("dynamodb", "sqs", "secretsmanager")
# Keys in botocore's per-call context, which all attempts of one call share.
_CALL_KEY = "fault_harness_call"
_DOOMED_KEY = "fault_harness_doomed"  # the `call=` rules that fail every attempt of this call


class Fault(Enum):
    THROTTLE = "throttle"  # HTTP 400 ThrottlingException / ProvisionedThroughputExceededException
    SERVER_ERROR = "server_error"  # HTTP 500 InternalServerError / ServiceUnavailable / InternalServiceError
    READ_TIMEOUT = "read_timeout"  # the request never reached the service
    CONNECTION_ERROR = "connection_error"  # EndpointConnectionError
    # The service executed the request but the client never saw the answer: the ambiguous case.
    TIMEOUT_AFTER_SEND = "timeout_after_send"


# (service, fault) -> (HTTP status, error code as the service sends it)
_ERROR_RESPONSES: dict[tuple[str, Fault], tuple[int, str]] = {
    ("dynamodb", Fault.THROTTLE): (400, "ProvisionedThroughputExceededException"),
    ("dynamodb", Fault.SERVER_ERROR): (500, "InternalServerError"),
    ("sqs", Fault.THROTTLE): (400, "ThrottlingException"),
    ("sqs", Fault.SERVER_ERROR): (500, "AWS.SimpleQueueService.ServiceUnavailable"),
    ("secretsmanager", Fault.THROTTLE): (400, "ThrottlingException"),
    ("secretsmanager", Fault.SERVER_ERROR): (500, "InternalServiceError"),
}


@dataclass(frozen=True, slots=True)
class Call:
    """One API call as the code made it (all its attempts share it)."""

    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass(eq=False)
class Rule:
    services: frozenset[str]
    operations: frozenset[str] | None  # None: every operation
    fault: Fault
    where: Callable[[Mapping[str, Any]], bool] | None
    times: int | None
    call: int | None
    probability: float | None
    rng: random.Random
    first_attempt_only: bool = False  # `call` then names the one call whose first attempt fails
    matching_calls: int = 0
    injected: int = 0

    def matches(self, call: Call) -> bool:
        if call.service not in self.services:
            return False
        if self.operations is not None and call.operation not in self.operations:
            return False
        return self.where is None or bool(self.where(call.params))

    def fails(self, context: dict[str, Any], first_attempt: bool) -> bool:
        """Whether this matching attempt fails; called under the injector's lock."""
        if self.times is not None:
            return self.injected < self.times
        if self.first_attempt_only:
            if not first_attempt:
                return False
            self.matching_calls += 1
            return self.matching_calls == self.call
        if self.call is not None:
            if first_attempt:
                self.matching_calls += 1
                if self.matching_calls == self.call:
                    context.setdefault(_DOOMED_KEY, set()).add(self)
            return self in context.get(_DOOMED_KEY, ())
        if self.probability is not None:
            return self.rng.random() < self.probability
        return True


class FaultInjector:
    def __init__(self, *, retry_backoff: bool = False) -> None:
        # Without backoff, botocore still decides and counts retries (and its retry quota) but does not sleep
        # between attempts, so a test with hundreds of injected faults stays fast.
        self._retry_backoff = retry_backoff
        self._rules: list[Rule] = []
        self._delays: list[tuple[Rule, float]] = []  # (which attempts, seconds each waits before the service sees it)
        self._lock = threading.Lock()
        self._original_make_client: Any = None
        self._original_delay: Any = None
        self.injected: Counter[str] = Counter()  # "service.Operation" -> faulted attempts
        self.attempts: Counter[str] = Counter()  # "service.Operation" -> every attempt seen

    # -- rules ---------------------------------------------------------------------------------------------

    def fail(
        self,
        service: str | Iterable[str],
        operation: str | Iterable[str] | None = None,
        *,
        fault: Fault = Fault.THROTTLE,
        times: int | None = None,
        call: int | None = None,
        probability: float | None = None,
        seed: int = 0,
        where: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Rule:
        """Fail matching attempts: the next `times`, every attempt of matching call number `call` (1-based),
        each with `probability` (seeded), or, with none of them, every matching attempt until removed."""
        if sum(choice is not None for choice in (times, call, probability)) > 1:
            raise ValueError("choose one of times, call, probability")
        services = frozenset([service] if isinstance(service, str) else service)
        unknown = services - set(AWS_SERVICES)
        if unknown:
            raise ValueError(f"unknown services {sorted(unknown)}; expected some of {AWS_SERVICES}")
        operations = None if operation is None else frozenset([operation] if isinstance(operation, str) else operation)
        rule = Rule(services, operations, fault, where, times, call, probability, random.Random(seed))
        with self._lock:
            self._rules.append(rule)
        return rule

    def lose_answer(
        self,
        service: str,
        operation: str | Iterable[str],
        *,
        call: int = 1,
        where: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Rule:
        """One shot: the `call`-th matching call (1-based) reaches the service and takes effect, its answer is lost
        (a read timeout), and botocore's retry of it runs as usual; its later attempts and every other call pass."""
        rule = self.fail(service, operation, fault=Fault.TIMEOUT_AFTER_SEND, call=call, where=where)
        rule.first_attempt_only = True
        return rule

    def slow(
        self,
        service: str | Iterable[str],
        operation: str | Iterable[str] | None = None,
        *,
        seconds: float,
        where: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Rule:
        """Every matching attempt reaches the service `seconds` late (before any fault rule decides on it), until
        removed: a slow answer, not a failure."""
        services = frozenset([service] if isinstance(service, str) else service)
        operations = None if operation is None else frozenset([operation] if isinstance(operation, str) else operation)
        rule = Rule(services, operations, Fault.THROTTLE, where, None, None, None, random.Random(0))
        with self._lock:
            self._delays.append((rule, seconds))
        return rule

    def remove(self, rule: Rule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)
            self._delays = [(delayed, seconds) for delayed, seconds in self._delays if delayed is not rule]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._delays.clear()

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())

    # -- installation --------------------------------------------------------------------------------------

    @contextmanager
    def installed(self) -> Iterator[FaultInjector]:
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

    def install(self) -> None:
        make_client = aws._make_client

        def faulty_client(service: str, **options: Any) -> Any:
            client = make_client(service, **options)
            self._attach(client, service)
            return client

        self._original_make_client = make_client
        aws._make_client = faulty_client
        aws.reset_clients()  # clients made before install would bypass the rules; runtime.reset() makes hooked ones
        if not self._retry_backoff:
            self._original_delay = standard.ExponentialBackoff.delay_amount
            standard.ExponentialBackoff.delay_amount = _no_delay  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        aws._make_client = self._original_make_client
        aws.reset_clients()
        if self._original_delay is not None:
            standard.ExponentialBackoff.delay_amount = self._original_delay  # type: ignore[method-assign]
            self._original_delay = None

    def _attach(self, client: Any, service: str) -> None:
        events = client.meta.events
        service_id = client.meta.service_model.service_id.hyphenize()
        # moto's stubber is a catch-all before-send handler that would execute the request even when a fault
        # answered it; this client's requests reach it only through `_before_send`.
        events.unregister("before-send", botocore_stubber)
        events.register(f"before-parameter-build.{service_id}", functools.partial(_remember_call, service))
        events.register(f"before-send.{service_id}", self._before_send)

    # -- the hook ------------------------------------------------------------------------------------------

    def _before_send(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        context = request.context  # an AWSPreparedRequest: it carries botocore's per-call context
        call: Call = context[_CALL_KEY]
        with self._lock:
            delay = sum(seconds for rule, seconds in self._delays if rule.matches(call))
        if delay:
            time.sleep(delay)
        fault = self._decide(call, context)
        if fault is None:
            return botocore_stubber(event_name=event_name, request=request, **kwargs)
        if fault is Fault.TIMEOUT_AFTER_SEND:
            if botocore_stubber(event_name=event_name, request=request, **kwargs) is None:
                raise RuntimeError("timeout_after_send needs in-process moto (mock_aws)")
            raise ReadTimeoutError(endpoint_url=request.url)
        if fault is Fault.READ_TIMEOUT:
            raise ReadTimeoutError(endpoint_url=request.url)
        if fault is Fault.CONNECTION_ERROR:
            raise EndpointConnectionError(endpoint_url=request.url)
        return _error_response(call.service, fault, request.url)

    def _decide(self, call: Call, context: dict[str, Any]) -> Fault | None:
        name = f"{call.service}.{call.operation}"
        first_attempt = context.get("retries", {}).get("attempt", 1) == 1
        with self._lock:
            self.attempts[name] += 1
            for rule in self._rules:
                if rule.matches(call) and rule.fails(context, first_attempt):
                    rule.injected += 1
                    self.injected[name] += 1
                    return rule.fault
        return None


def _no_delay(_backoff: standard.ExponentialBackoff, _context: Any) -> float:
    return 0.0


def _remember_call(service: str, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    context[_CALL_KEY] = Call(service, model.name, dict(params))


class _Body:
    """The raw-response stand-in botocore reads an error body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _error_response(service: str, fault: Fault, url: str) -> AWSResponse:
    status, code = _ERROR_RESPONSES[(service, fault)]
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["x-amzn-RequestId"] = "fault-injected"
    error_type = code
    if code.startswith("AWS.SimpleQueueService."):
        # SQS answers in JSON with the short type and the legacy query error code in a header.
        error_type = code.rsplit(".", 1)[1]
        headers["x-amzn-query-error"] = f"{code};{'Sender' if status < 500 else 'Receiver'}"
    body = json.dumps({"__type": error_type, "message": f"injected {fault.value}"}).encode()
    return AWSResponse(url, status, headers, _Body(body))
