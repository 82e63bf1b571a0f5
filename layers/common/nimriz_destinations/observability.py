"""Powertools singletons: create once per execution environment, never per request."""

from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()


def _tracer() -> Tracer | None:
    try:
        # Tracer's dependency (the `tracer` extra). The layer does not carry it, because it would bring its own
        # botocore (see docs/operations.md, "Tracing"): where it is missing, handlers run untraced instead of
        # failing to import.
        import aws_xray_sdk  # noqa: F401
    except ModuleNotFoundError:
        return None
    # AWS calls only: X-Ray's httpx/httplib patches record request URLs, and some providers carry credentials
    # in theirs (GA4's api_secret).
    return Tracer(patch_modules=["botocore"])


tracer = _tracer()


def trace_handler[Handler: Callable[..., Any]](handler: Handler) -> Handler:
    """A Lambda handler in its own X-Ray subsegment (with the cold start annotated). Neither the response nor an
    error is recorded in the trace: a create response reveals a generated signing secret once."""
    if tracer is None:
        return handler
    return cast(Handler, tracer.capture_lambda_handler(handler, capture_response=False, capture_error=False))
