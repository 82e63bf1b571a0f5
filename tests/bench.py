"""`make bench`: the delivery pipeline's speed goals, measured on this machine.

(a) `us_per_event_action`: filter + mapping cost per event per action, workspace of 50 actions with mixed filters
    (target <= 4 us): each match is prepared as the dispatcher prepares it (`delivery_item`: privacy rules, mapping,
    size check);
(b) dispatcher throughput to a local sink next to a plain httpx loop sending the same requests, AWS (the local
    stack's moto server) in a process of its own as the sink is (target >= 0.8);
(c) DynamoDB and Secrets Manager calls per event in steady state (target: 0 config/credential reads per event; the
    per-batch destination check is one BatchGetItem per batch, and so is the read of the jobs' delivery records; the
    delivery log costs 1 write per delivered event: its record);
(d) redaction of an answer's excerpt as the dispatcher records it, 20 header secrets of 4,096 characters against a
    64 KB answer of one repeated character, secrets never seen before (target: worst case <= 50 ms).
(e) `filter_worst_ms_per_event`: every filter of the worst workspace the save-time budgets accept (design §6), on
    one event whose values are 1,024 characters crafted to be slow (target <= 5 ms).
(f) `cost_per_million_events_usd`: events through fan-out and the dispatcher (in-process on moto) to two actions,
    the endpoint failing 2 % of requests; every AWS call metered and priced by docs/cost.md (target <= 2.50), with
    `aws_calls_per_delivery`.
(g) `batch_to_plain_ratio`: Segment events per second through the dispatcher (batched) vs a plain loop sending one
    per request, to an endpoint answering in PROVIDER_LATENCY_SECONDS (target >= 5).
(h) the local stack (`make dev`) delivering 1,000 live events to a webhook failing 30 % of the time:
    `local_stack_drain_seconds` until each is accepted or dead-lettered (target <= 60), first attempts per second
    (target >= 200), `POST /_local/events` with 50 events (median, target <= 100 ms);
(i) `engine_vs_segment_ratio`: filter + mapping per event over Segment's own engines doing the same work on the same
    event (tests/segment_comparison; needs node and Segment's bench, shared/bench/segment, else skipped), target
    <= 0.5 with the output identical;
(j) `import_ratio_max`: each handler module's import over a bare `import boto3`, tracing on (target <= 1.2).
The last line is one JSON object with the figures.

`make bench BENCH_ACTION=action.json BENCH_EVENT=event.json` measures one action (API action format:
`event_filter` + `property_mapping`, optional `destination_type`) on one canonical event instead; its last line
is `{"us_per_event": <median>, "output": <mapped payload or null>}`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import math
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tests.local  # noqa: F401  (puts the layer on sys.path, as Lambda's /opt/python)
from nimriz_destinations.delivery.prepare import delivery_item
from nimriz_destinations.filters import MATCH_INPUT_LIMIT, EventFilter, compile_filter
from nimriz_destinations.filters.cost import ACTION_NS, FILTER_BUDGET_NS, WORKSPACE_BUDGET_NS, filter_cost
from nimriz_destinations.filters.models import MAX_CONDITIONS
from nimriz_destinations.mapping import PropertyMapping, apply_privacy, compile_mapping
from nimriz_destinations.providers import get_provider
from nimriz_destinations.sample_events import sample_event
from tests.sinks.server import Sink, SinkRequest, SinkResponse

DEFAULT_DESTINATION_FOR = {"send_event": "segment", "send_conversion": "meta", "send_webhook": "generic_http"}


def _median_us(run: Any, count: int, repeats: int = 7) -> float:
    """Median microseconds per item over `repeats` runs of `count` items, the garbage collector off while timing (as
    `timeit` does: a collection's pause lands on whichever run it happens in)."""
    samples = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter_ns()
            run()
            samples.append((time.perf_counter_ns() - started) / count / 1000)
        finally:
            gc.enable()
    return statistics.median(samples)


# -- (a) filter + mapping ------------------------------------------------------------------------------------------


def mixed_actions() -> list[tuple[str, dict[str, Any]]]:
    """50 actions like a busy workspace: every filter key and operator family, every override type."""
    filters = [
        {"include": {"event_types": ["link.clicked", "link.qr_scanned"]}, "exclude": {"bot_traffic": True}},
        {
            "include": {"countries": ["US", "CA", "GB"]},
            "conditions": [{"field": "utm.source", "operator": "eq", "value": "newsletter"}],
        },
        {
            "exclude": {"tag_ids": ["tag_internal"]},
            "conditions": [{"field": "link.short_code", "operator": "starts_with", "value": "spring"}],
        },
        {
            "conditions": [
                {
                    "any": [
                        {"field": "context.device_category", "operator": "in", "value": ["mobile", "tablet"]},
                        {"field": "context.referrer_host", "operator": "ends_with", "value": ".google.com"},
                    ]
                }
            ]
        },
        {
            "conditions": [
                {
                    "field": "link.destination_url_capped",
                    "operator": "matches",
                    "value": "^https://shop\\.[a-z]+\\.com/",
                }
            ]
        },
        {"include": {"touch_types": ["qr_scan"]}},
        {
            "include": {"event_types": ["conversion.sale", "conversion.lead"]},
            "conditions": [{"field": "conversion.value", "operator": "gt", "value": 10}],
        },
        {},
    ]
    mappings = [
        {"base": "default", "overrides": []},
        {
            "base": "default",
            "overrides": [
                {"type": "static", "to": "properties.source", "value": "nimriz"},
                {
                    "type": "template",
                    "to": "properties.campaign_code",
                    "template": "{{link.short_code}}-{{context.country}}",
                },
            ],
        },
        {
            "base": "default",
            "overrides": [
                {"type": "rename", "from": "properties.country", "to": "properties.geo_country"},
                {"type": "exclude", "field": "properties.referrer_host"},
            ],
        },
        {
            "base": "none",
            "overrides": [
                {"type": "include", "field": "link.short_url", "to": "url"},
                {"type": "include", "field": "utm.campaign", "to": "campaign"},
                {"type": "template", "to": "label", "template": "{{link.domain_name}}/{{link.short_code}}"},
            ],
        },
    ]
    types = ["segment", "ga4", "amplitude", "posthog", "mixpanel", "generic_http", "meta", "tiktok"]
    actions = []
    for index in range(50):
        destination_type = types[index % len(types)]
        actions.append(
            (
                destination_type,
                {"event_filter": filters[index % len(filters)], "property_mapping": mappings[index % len(mappings)]},
            )
        )
    return actions


def bench_filter_and_mapping() -> float:
    compiled = [
        (
            get_provider(t),
            compile_filter(EventFilter.model_validate(a["event_filter"])),
            compile_mapping(PropertyMapping.model_validate(a["property_mapping"])),
        )
        for t, a in mixed_actions()
    ]
    kinds = ("link.clicked", "link.qr_scanned", "conversion.sale", "card.viewed")
    rounds, repeats = 50, 7
    # Every event is new to the process (its own id, time and visitor), as live events are: what the adapters
    # remember per visitor or per event time is reused only among one event's actions, never across rounds.
    started = datetime(2026, 11, 28, tzinfo=UTC)
    fresh = iter(
        [
            {**event, "visitor": {**event["visitor"], "visitor_hash": uuid.uuid4().hex}}
            for number in range(repeats * rounds * len(kinds))
            for event in [
                sample_event(
                    kinds[number % len(kinds)],
                    workspace_id="ws",
                    organization_id="org",
                    now=started + timedelta(milliseconds=number),
                )
            ]
        ]
    )

    def many() -> None:
        for _ in range(rounds * len(kinds)):
            event = next(fresh)
            private = apply_privacy(event)
            for provider, event_filter, mapping in compiled:
                if event_filter.evaluate(private).passed:
                    delivery_item(provider, mapping, event, delivery_id="bench", reason="live", attempt=1)

    return _median_us(many, count=rounds * len(kinds) * len(compiled), repeats=repeats)


def bench_one(action_path: Path, event_path: Path) -> dict[str, Any]:
    action = json.loads(action_path.read_text())
    event = json.loads(event_path.read_text())
    destination_type = action.get("destination_type") or DEFAULT_DESTINATION_FOR.get(
        action.get("action_type", ""), "segment"
    )
    provider = get_provider(destination_type)
    event_filter = compile_filter(EventFilter.model_validate(action.get("event_filter") or {}))
    mapping = compile_mapping(PropertyMapping.model_validate(action.get("property_mapping") or {}))

    def once() -> dict[str, Any] | None:
        private = apply_privacy(event)
        return (
            mapping.apply_to_private(private, provider.default_payload)
            if event_filter.evaluate(private).passed
            else None
        )

    rounds = 20_000

    def many() -> None:
        for _ in range(rounds):
            once()

    return {"us_per_event": round(_median_us(many, count=rounds), 3), "output": once()}


# -- (i) filter + mapping next to Segment's own engines ------------------------------------------------------------

SEGMENT_COMPARISON = Path(__file__).parent / "segment_comparison"
SEGMENT_BENCH_ITERATIONS = "50000"  # per repetition of Segment's bench (its default, 200,000, takes a minute here)


def _segment_bench_folder() -> Path | None:
    """Segment's bench: SEGMENT_BENCH_DIR, else `shared/bench/segment` beside the repository or a folder above it."""
    configured = os.environ.get("SEGMENT_BENCH_DIR")
    candidates = (
        [Path(configured)] if configured else [p / "shared/bench/segment" for p in Path(__file__).resolve().parents[1:]]
    )
    return next((folder for folder in candidates if (folder / "run_segment_bench.sh").is_file()), None)


def bench_engine_vs_segment() -> dict[str, Any]:
    """Our filter + mapping per event (`bench_one` on tests/segment_comparison: privacy rules, filter, mapping) over
    Segment's (`c_filter_then_transform`: destination-subscriptions' filter, then mapping-kit's transform) on the
    same event, both timed in this run; and whether our payload is the output Segment's bench checks its own
    against. Skipped, saying why, without node or Segment's bench folder."""
    folder, node = _segment_bench_folder(), shutil.which("node")
    if folder is None or node is None:
        missing = "node" if node is None else "Segment's bench (shared/bench/segment, or set SEGMENT_BENCH_DIR)"
        return {"engine_vs_segment_ratio": None, "segment_comparison_skipped": f"{missing} not found"}
    event_path = SEGMENT_COMPARISON / "event.json"
    if json.loads((folder / "canonical_event.json").read_text()) != json.loads(event_path.read_text()):
        return {
            "engine_vs_segment_ratio": None,
            "segment_comparison_skipped": f"{folder} times another event than {event_path}",
        }
    ours = bench_one(SEGMENT_COMPARISON / "action.json", event_path)
    environment = {"SEGBENCH_N": SEGMENT_BENCH_ITERATIONS, **os.environ}
    run = subprocess.run(
        [str(folder / "run_segment_bench.sh")], env=environment, capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        reason = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return {"engine_vs_segment_ratio": None, "segment_comparison_skipped": f"Segment's bench failed: {reason}"}
    segment = json.loads(run.stdout.strip().splitlines()[-1])
    segment_us = segment["median_us"]["c_filter_then_transform"]
    expected = json.loads((folder / "expected_mapped_event.json").read_text())
    return {
        "engine_vs_segment_ratio": round(ours["us_per_event"] / segment_us, 3),
        "engine_us_per_event": ours["us_per_event"],
        "segment_us_per_event": segment_us,
        "engine_output_identical": segment["verified"] is True and ours["output"] == expected,
    }


# -- (d) redaction ----------------------------------------------------------------------------------------------------


def bench_redaction(repeats: int = 5) -> dict[str, float]:
    """Milliseconds `response_excerpt` (what the dispatcher records of an answer) takes on a 64 KB answer of one
    repeated character for a destination with 20 header secrets of about 4,096 characters: that character alone (every
    position of the answer starts a match; lengths 4,077 to 4,096 keep them distinct), and random text. Cold: secrets
    never seen (each run uses another character), so their automaton is made; warm: the same secrets again. Medians."""
    from nimriz_destinations.delivery.answer_body import MAX_RESPONSE_BYTES
    from nimriz_destinations.delivery.group_sender import response_excerpt
    from nimriz_destinations.providers.base import ProviderResponse

    generator = random.Random(16)
    secret_sets = {
        "repeated": lambda character: tuple(character * (4096 - n) for n in range(20)),
        "random": lambda _: tuple(
            "".join(generator.choices(string.ascii_letters + string.digits, k=4096)) for _ in range(20)
        ),
    }
    figures: dict[str, float] = {}
    for name, secrets_of in secret_sets.items():
        cold: list[float] = []
        warm: list[float] = []
        for character in string.ascii_lowercase[:repeats]:
            answer = ProviderResponse(200, {}, character.encode() * MAX_RESPONSE_BYTES)
            secrets = secrets_of(character)
            for samples in (cold, warm):
                started = time.perf_counter()
                response_excerpt(answer, secrets)
                samples.append((time.perf_counter() - started) * 1000)
        figures[f"redaction_{name}_cold_ms"] = round(statistics.median(cold), 2)
        figures[f"redaction_{name}_warm_ms"] = round(statistics.median(warm), 2)
    figures["redaction_worst_ms"] = max(figures[f"redaction_{name}_cold_ms"] for name in secret_sets)
    return figures


# -- (e) the worst workspace the filter budgets accept ---------------------------------------------------------------


def slowest_conditions() -> list[dict[str, Any]]:
    """Conditions slow on `slow_event()`'s values, each priced near what the cost model allows; all fail on it."""

    def matches(pattern: str) -> dict[str, Any]:
        return {"field": "utm.campaign", "operator": "matches", "value": pattern}

    return [
        # Regular expressions of every kind of test, backtracking at every start position (the tightest shapes of
        # the calibration: a variable repeat followed by a run of tests that pass until the last).
        matches("[^x]{0,3}" + "[^x]" * 30 + "Q"),
        matches(r"\w{0,2}" + r"\w" * 8 + "Q"),
        matches("(?i)a{0,2}" + "a" * 12 + "Q"),
        matches("[a-z]{0,3}?" + "[a-z]" * 20 + "Q"),
        # Substring searches comparing the whole needle at every offset, and list membership over 1,024 items.
        {"field": "utm.source", "operator": "contains", "value": "a" * 511 + "z"},
        {"field": "utm.content", "operator": "contains", "value": "b" * 300 + "a"},
        {"field": "link.tag_ids", "operator": "contains", "value": "tag_missing"},
        {"field": "utm.medium", "operator": "in", "value": [f"{index:04d}" + "m" * 995 for index in range(500)]},
    ]


def slow_event() -> dict[str, Any]:
    event = sample_event("link.clicked", workspace_id="ws", organization_id="org")
    event["utm"] = {
        "campaign": "a" * MATCH_INPUT_LIMIT,
        "source": "a" * MATCH_INPUT_LIMIT,
        "content": "b" * MATCH_INPUT_LIMIT,
        "medium": "m" * MATCH_INPUT_LIMIT,
    }
    event["link"]["tag_ids"] = [f"tag_{index:05d}" for index in range(MATCH_INPUT_LIMIT)]
    return event


def worst_workspace() -> list[EventFilter]:
    """Filters of nested `any` groups of `slowest_conditions()`, each filled to its budget, as many as the
    workspace's budget takes: the configuration the save-time checks accept that is slowest to evaluate."""
    candidates = slowest_conditions()
    filters: list[EventFilter] = []
    spent = 0
    while True:
        rotated = candidates[len(filters) % len(candidates) :] + candidates[: len(filters) % len(candidates)]
        leaves: list[dict[str, Any]] = []
        for condition in rotated * MAX_CONDITIONS:
            if len(leaves) == MAX_CONDITIONS:
                break
            trial = EventFilter.model_validate({"conditions": [{"any": [{"any": [*leaves, condition]}]}]})
            if filter_cost(trial).nanoseconds <= FILTER_BUDGET_NS:
                leaves.append(condition)
        event_filter = EventFilter.model_validate({"conditions": [{"any": [{"any": leaves}]}]})
        cost = filter_cost(event_filter).nanoseconds
        if spent + cost > WORKSPACE_BUDGET_NS:
            break
        filters.append(event_filter)
        spent += cost
    # What is left of the workspace's budget: actions with empty filters, the cheapest there are.
    return filters + [EventFilter()] * ((WORKSPACE_BUDGET_NS - spent) // ACTION_NS)


def bench_worst_filters() -> float:
    compiled = [compile_filter(event_filter) for event_filter in worst_workspace()]
    event = slow_event()

    def run() -> None:
        for event_filter in compiled:
            event_filter.evaluate(event)

    return _median_us(run, count=1) / 1000


# -- (j) handler imports ------------------------------------------------------------------------------------------

_TIMED_IMPORT = (
    "import importlib, time\n"
    "started = time.process_time()\n"
    "importlib.import_module({module!r})\n"
    "print(time.process_time() - started)\n"
)


def _import_seconds(module: str, code_folder: Path) -> float:
    """One import of `module` in a fresh interpreter set up as Lambda sets one up (`tests/lambda_process.py`)."""
    from tests.lambda_process import lambda_environment

    environment = lambda_environment(code_folder)
    command = [sys.executable, "-c", _TIMED_IMPORT.format(module=module)]
    done = subprocess.run(command, env=environment, cwd=code_folder, capture_output=True, text=True, check=True)
    return float(done.stdout)


def bench_import_ratio(samples: int = 5) -> dict[str, Any]:
    """Median import time of each template function's handler module over the median of a bare `import boto3` (what
    the Lambda runtime itself loads), each sample in a fresh interpreter. Rounds take every module in turn, so a
    change of load on the machine weighs on all of them alike; a first round only writes the bytecode caches."""
    from tests.local.template import ROOT, functions

    handlers = {}
    for properties in (resource["Properties"] for resource in functions().values()):
        module = properties["Handler"].rpartition(".")[0]
        handlers[module] = ROOT / properties["CodeUri"]
    seconds: dict[str, list[float]] = {module: [] for module in ["boto3", *handlers]}
    for round_number in range(samples + 1):
        for module, folder in [("boto3", ROOT), *handlers.items()]:
            sample = _import_seconds(module, folder)
            if round_number:
                seconds[module].append(sample)
    boto3_seconds = statistics.median(seconds.pop("boto3"))
    ratios = {module: round(statistics.median(samples) / boto3_seconds, 2) for module, samples in seconds.items()}
    return {
        "import_ratio_max": max(ratios.values()),
        "import_ratios": dict(sorted(ratios.items(), key=lambda item: -item[1])),
        "boto3_import_ms": round(boto3_seconds * 1000, 1),
    }


# -- (b) and (c): the dispatcher on moto with a local sink ----------------------------------------------------------


def bench_dispatcher(jobs_count: int = 400) -> dict[str, Any]:
    """Batches as the template's event source mapping delivers them (its BatchSize). AWS is the local stack's moto
    server, in a process of its own as the sink is: only the dispatcher runs in this one."""
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import httpx

    from nimriz_destinations import aws, runtime
    from nimriz_destinations.audit import SYSTEM
    from nimriz_destinations.jobs import DeliveryJob, ReceivedJob
    from nimriz_destinations.models.destinations import DestinationCreate
    from nimriz_destinations.providers.base import DeliveryItem
    from nimriz_destinations.storage.counters import COUNTER_PREFIX
    from nimriz_destinations.storage.deliveries import SUMMARY_PREFIX
    from nimriz_destinations.storage.records import Workspace
    from tests.local.aws_server import aws_server_process
    from tests.local.pollers import event_sources
    from tests.local.template import create_stack

    with aws_server_process() as aws_url, _sink_process() as sink_url:
        os.environ["AWS_ENDPOINT_URL"] = aws_url
        stack = create_stack(stage="local")
        os.environ.update(stack.all_function_environments())
        runtime.reset()
        workspace = Workspace("ws_bench", "org_b")
        body = {
            "name": "bench",
            "type": "generic_http",
            "credentials": {"url": f"{sink_url}/hook", "signing_secret": "whsec_bench_0123456789"},
            "actions": [{"name": "all", "action_type": "send_webhook"}],
        }
        create_request = DestinationCreate.model_validate(body)
        destination = runtime.destination_service().create(workspace, create_request, actor=SYSTEM).record
        action_id = destination.actions[0].id

        def jobs(count: int) -> list[ReceivedJob]:
            made = []
            for _ in range(count):
                event = sample_event("link.clicked", workspace_id="ws_bench", organization_id="org_bench")
                job = DeliveryJob(
                    delivery_id=str(uuid.uuid4()),
                    workspace_id="ws_bench",
                    organization_id="org_bench",
                    destination_id=destination.id,
                    action_id=action_id,
                    reason="live",
                    event=event,
                    queued_at="2026-11-28T00:00:00.000Z",
                    queued="once",  # as fan-out queues a job in its first send
                )
                made.append(ReceivedJob(str(uuid.uuid4()), "receipt", 1, job))
            return made

        dispatcher = runtime.dispatcher()

        def dispatch(batch: list[ReceivedJob]) -> set[str]:
            return dispatcher.dispatch(batch, deadline=time.monotonic() + 60)

        dispatch(jobs(10))  # warm: caches, connections

        calls: Counter[str] = Counter()

        def count(event_name: str, **_: Any) -> None:
            service, operation = event_name.split(".")[-2:]
            calls[f"{service}.{operation}"] += 1

        for aws_client in (aws.dynamodb(), aws.secretsmanager()):
            aws_client.meta.events.register("before-call.*.*", count)

        def count_writes_by_item(params: dict[str, Any], **_: Any) -> None:
            sort_key = (params.get("Key") or params.get("Item") or {}).get("SK", {}).get("S", "")
            if sort_key.startswith(COUNTER_PREFIX):
                calls["counters.UpdateItem"] += 1
            elif sort_key.startswith(SUMMARY_PREFIX):
                calls["delivery_log.writes"] += 1

        def count_log_transactions(params: dict[str, Any], **_: Any) -> None:
            calls["delivery_log.writes"] += 1  # the record and its dead letter: one call

        def count_record_reads(params: dict[str, Any], **_: Any) -> None:
            keys = [key for table in params["RequestItems"].values() for key in table["Keys"]]
            if keys and keys[0]["SK"]["S"].startswith("DLV#"):
                calls["delivery_records.BatchGetItem"] += 1

        for operation in ("PutItem", "UpdateItem"):
            aws.dynamodb().meta.events.register(f"provide-client-params.dynamodb.{operation}", count_writes_by_item)
        aws.dynamodb().meta.events.register("provide-client-params.dynamodb.TransactWriteItems", count_log_transactions)
        aws.dynamodb().meta.events.register("provide-client-params.dynamodb.BatchGetItem", count_record_reads)

        batch_size = next(s.batch_size for s in event_sources(stack) if s.function == "DispatcherFunction")
        batches = [jobs(batch_size) for _ in range(jobs_count // batch_size)]
        started = time.perf_counter()
        retried = sum(len(dispatch(batch)) for batch in batches)
        dispatcher_seconds = time.perf_counter() - started
        assert retried == 0, "every job must be delivered"

        # The same requests, built once by the same adapter, sent by a plain httpx loop.
        provider = get_provider("generic_http")
        credentials = runtime.destination_service().credentials_of(destination)
        requests = []
        for batch in batches:
            for received in batch:
                item = DeliveryItem(
                    received.job.delivery_id,
                    received.job.event,
                    provider.default_payload(received.job.event),
                    "live",
                    1,
                )
                requests += provider.build_requests([item], credentials, now=time.time()).requests
        with httpx.Client() as client:
            started = time.perf_counter()
            for request in requests:
                client.request(request.method, request.url, headers=dict(request.headers), content=request.body)
            plain_seconds = time.perf_counter() - started

        reads = sum(
            v for k, v in calls.items() if k in ("dynamodb.GetItem", "dynamodb.Query", "secretsmanager.GetSecretValue")
        )
        counter_calls = calls["counters.UpdateItem"]
        log_calls = calls["delivery_log.writes"]
        return {
            "dispatcher_events_per_second": round(jobs_count / dispatcher_seconds, 1),
            "plain_httpx_events_per_second": round(jobs_count / plain_seconds, 1),
            "dispatcher_to_plain_ratio": round(plain_seconds / dispatcher_seconds, 3),
            "config_and_secret_reads_per_event": round(reads / jobs_count, 4),
            "destination_checks_per_batch": round(
                (calls["dynamodb.BatchGetItem"] - calls["delivery_records.BatchGetItem"]) / len(batches), 4
            ),
            "delivery_record_reads_per_batch": round(calls["delivery_records.BatchGetItem"] / len(batches), 4),
            "delivery_log_calls_per_event": round(log_calls / jobs_count, 4),
            "metrics_counter_calls_per_event": round(counter_calls / jobs_count, 4),
            "aws_calls_per_event": {k: round(v / jobs_count, 4) for k, v in sorted(calls.items())},
        }


@contextmanager
def _sink_process(*, latency_seconds: float = 0.0, failure_rate: float = 0.0) -> Iterator[str]:
    """The receiving end in its own process, as a provider would be: it must not share our interpreter lock. It
    answers each request after `latency_seconds`, 500 for `failure_rate` of them (seeded), else 200."""
    code = (
        "import random, sys, time; from tests.sinks.server import Sink, SinkResponse\n"
        f"latency, failure_rate, chance = {latency_seconds!r}, {failure_rate!r}, random.Random(17)\n"
        "def answer(request):\n"
        "    time.sleep(latency)\n"
        "    failed = chance.random() < failure_rate\n"
        "    return SinkResponse(500, {'error': 'failed'}) if failed else SinkResponse(200, {'ok': True})\n"
        "with Sink(answer) as sink:\n"
        "    print(sink.url, flush=True); sys.stdin.read()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- (f) cost and (g) batching: the whole pipeline on moto, metered, to a sink answering like a provider -----------

COST_EVENTS = 500
COST_FAILURE_RATE = 0.02  # of the provider's answers: 500, retried
BATCH_EVENTS = 200
PLAIN_REQUESTS = 50  # the plain loop's rate is steady: measured on this many requests
WARM_EVENTS = 20
# Every request to a provider is answered after this long (docs/cost.md, "Assumptions"): the dispatcher's Lambda
# time is mostly waiting for providers, and what batching saves is requests.
PROVIDER_LATENCY_SECONDS = 0.1
# What a call takes in the region (network and service), instead of in-process moto's ~1 ms (docs/cost.md).
AWS_LATENCY_SECONDS = {"dynamodb": 0.005, "sqs": 0.01, "secretsmanager": 0.02}
COST_DOC = Path(__file__).resolve().parents[1] / "docs" / "cost.md"


def read_prices(document: Path = COST_DOC) -> dict[str, float]:
    """The price table of docs/cost.md: rows whose first cell is a `name`, their third cell the USD price."""
    prices = {}
    for line in document.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and cells[0].endswith("`"):
            prices[cells[0].strip("`")] = float(cells[2].replace(",", ""))
    return prices


def memory_gb(function: str) -> float:
    from tests.local.template import functions, load_template

    default = load_template().get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    return int(functions()[function]["Properties"].get("MemorySize", default)) / 1024


@dataclass
class _PipelineRun:
    pipeline: Any  # tests.pipeline.Pipeline
    destinations: list[Any]  # DestinationRecord, in the order of the bodies
    meter: Any  # tests.aws_usage.AwsMeter
    invocations: list[tuple[str, float]]  # (function, seconds) of every invocation
    sink_url: str

    def events(self, count: int) -> list[dict[str, Any]]:
        return [
            sample_event("link.clicked", workspace_id="ws_bench", organization_id="org_bench") for _ in range(count)
        ]

    def deliver(self, count: int) -> None:
        """`count` events through the pipeline, metered from a clean slate; fan-out runs first, as with a backlog at
        volume, so the dispatcher gets full batches."""
        self.meter.reset()
        self.invocations.clear()
        self.pipeline.publish(*self.events(count))
        while self.pipeline.poll("FanOutFunction"):
            pass
        self.pipeline.run(timeout=600)


@contextmanager
def _pipeline_to_sink(
    destination_bodies: Any, *, latency_seconds: float, failure_rate: float = 0.0
) -> Iterator[_PipelineRun]:
    """moto (corrected as the tests run it: `create_stack`), the resources of template.yaml, a sink process
    answering after `latency_seconds` (Segment's traffic goes there too), the destinations
    `destination_bodies(sink_url)` of workspace ws_bench, every AWS call metered (tests/aws_usage.py, with
    AWS_LATENCY_SECONDS) and every invocation the pollers make timed; warmed with WARM_EVENTS events."""
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from unittest import mock

    from moto import mock_aws

    from nimriz_destinations import runtime
    from nimriz_destinations.audit import SYSTEM
    from nimriz_destinations.models.destinations import DestinationCreate
    from nimriz_destinations.storage.records import Workspace
    from tests.aws_usage import AwsMeter
    from tests.local import pollers
    from tests.local.template import create_stack
    from tests.pipeline import Pipeline

    invocations: list[tuple[str, float]] = []
    invoke = pollers.invoke

    def timed_invoke(function: str, event: dict[str, Any], **options: Any) -> Any:
        started = time.perf_counter()
        try:
            return invoke(function, event, **options)
        finally:
            invocations.append((function, time.perf_counter() - started))

    with mock_aws(), _sink_process(latency_seconds=latency_seconds, failure_rate=failure_rate) as sink_url:
        stack = create_stack(stage="local")
        os.environ.update(stack.all_function_environments())
        os.environ.update({"NIMRIZ_EGRESS_OVERRIDES": json.dumps({"segment": sink_url}), "RETRY_BASE_SECONDS": "1"})
        runtime.reset()
        workspace = Workspace("ws_bench", "org_b")
        service = runtime.destination_service()
        destinations = [
            service.create(workspace, DestinationCreate.model_validate(body), actor=SYSTEM).record
            for body in destination_bodies(sink_url)
        ]
        meter = AwsMeter(latency=AWS_LATENCY_SECONDS)
        with meter.installed(), mock.patch.object(pollers, "invoke", timed_invoke):
            runtime.reset()  # the project's clients again, metered
            run = _PipelineRun(Pipeline(stack), destinations, meter, invocations, sink_url)
            run.deliver(WARM_EVENTS)  # configs, credentials, connections: as in steady state
            yield run
        runtime.reset()


def _segment_body(sink_url: str) -> dict[str, Any]:
    return {
        "name": "segment",
        "type": "segment",
        "credentials": {"write_key": "bench-write-key"},
        "actions": [{"name": "all", "action_type": "send_event"}],
    }


def _webhook_body(sink_url: str) -> dict[str, Any]:
    return {
        "name": "webhook",
        "type": "generic_http",
        "credentials": {"url": f"{sink_url}/hook", "signing_secret": "whsec_bench_0123456789abcdef"},
        "actions": [{"name": "all", "action_type": "send_webhook"}],
    }


def bench_cost(events_count: int = COST_EVENTS) -> dict[str, Any]:
    """Events through fan-out and the dispatcher to a webhook and a Segment destination (two matching actions per
    event) whose endpoint fails 2 % of requests; every AWS call metered and priced by docs/cost.md's table, Lambda by
    the GB-seconds of each invocation as measured here."""
    from nimriz_destinations.storage.deliveries import LOG_SHARDS, log_shard_pks

    prices = read_prices()

    def webhook_and_segment(sink_url: str) -> list[dict[str, Any]]:
        return [_webhook_body(sink_url), _segment_body(sink_url)]

    latency, failures = PROVIDER_LATENCY_SECONDS, COST_FAILURE_RATE
    with _pipeline_to_sink(webhook_and_segment, latency_seconds=latency, failure_rate=failures) as run:
        run.deliver(events_count)
        log_pks = [pk for d in run.destinations for pk in log_shard_pks(d.workspace_id, d.id)]
        stored = run.meter.stored_bytes(run.pipeline.stack.tables["DestinationsTable"], log_pks)
    deliveries = 2 * events_count
    # Not per event: the pipeline driver's own questions, and the pollers' empty receives (a fixed cost, docs/cost.md).
    idle = {"sqs.GetQueueAttributes"}
    calls = [
        c for c in run.meter.calls if c.name not in idle and not (c.operation == "ReceiveMessage" and not c.messages)
    ]
    by_operation = Counter(c.name for c in calls)
    stored_per_delivery = stored / (2 * (events_count + WARM_EVENTS))  # the warm-up's deliveries are stored too
    gb_seconds_by_function: defaultdict[str, float] = defaultdict(float)
    for function, seconds in run.invocations:
        gb_seconds_by_function[function] += memory_gb(function) * math.ceil(seconds * 1000) / 1000
    gb_seconds = sum(gb_seconds_by_function.values())
    costs = {
        "lambda_gb_seconds": gb_seconds * prices["lambda_gb_second_arm64"],
        "lambda_requests": len(run.invocations) * prices["lambda_request"],
        "sqs_requests": sum(c.requests for c in calls if c.service == "sqs") * prices["sqs_request"],
        "dynamodb_writes": sum(c.write_units for c in calls) * prices["dynamodb_write_unit"],
        "dynamodb_reads": sum(c.read_units for c in calls) * prices["dynamodb_read_unit"],
        "secrets_manager_calls": by_operation["secretsmanager.GetSecretValue"] * prices["secrets_manager_api_call"],
        "api_gateway_requests": 0.0,  # no event passes through API Gateway: only the workspace API does
    }
    # Units per partition: each destination's log shards together (its deliveries spread evenly over them: hashed
    # ids), every other partition alone.
    shard_owner = {pk: d.name for d in run.destinations for pk in log_shard_pks(d.workspace_id, d.id)}
    partition_units: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    write_units_by_call: defaultdict[str, float] = defaultdict(float)  # "<operation> on <partition>" -> units
    for call in calls:
        for pk, (read, write) in call.partitions.items():
            if pk in shard_owner:
                group = f"log shards of {shard_owner[pk]}"
            elif pk.startswith("index "):  # an index's entries, over all of its partitions
                group = " ".join(pk.split(" ")[:2])
            else:
                group = pk
            partition_units[group][0] += read
            partition_units[group][1] += write
            write_units_by_call[f"{call.operation} on {group}"] += write
    log_write_units = partition_units["log shards of webhook"][1] / events_count  # per webhook delivery
    dispatched = [seconds for function, seconds in run.invocations if function == "DispatcherFunction"]
    return {
        "cost_per_million_events_usd": round(sum(costs.values()) / events_count * 1e6, 3),
        "cost_usd_per_million_events_by_item": {
            name: round(usd / events_count * 1e6, 4) for name, usd in costs.items()
        },
        "aws_calls_per_delivery": round(len(calls) / deliveries, 3),
        "aws_calls_per_delivery_by_operation": {k: round(v / deliveries, 3) for k, v in sorted(by_operation.items())},
        "dynamodb_write_units_per_delivery": round(sum(c.write_units for c in calls) / deliveries, 3),
        "dynamodb_write_units_per_delivery_by_call": {
            name: round(units / deliveries, 3)
            for name, units in sorted(write_units_by_call.items(), key=lambda item: -item[1])
            if units
        },
        "dynamodb_read_units_per_delivery": round(sum(c.read_units for c in calls) / deliveries, 3),
        "lambda_gb_seconds_per_delivery": round(gb_seconds / deliveries, 5),
        "lambda_gb_seconds_per_delivery_by_function": {
            function: round(value / deliveries, 5) for function, value in sorted(gb_seconds_by_function.items())
        },
        # Not a call, so not in the figure: the log is kept DELIVERY_LOG_DAYS (30), a month's events for a month.
        "log_storage_bytes_per_delivery": round(stored_per_delivery),
        "log_storage_usd_per_million_events": round(
            2 * stored_per_delivery * 1e6 / 2**30 * prices["dynamodb_storage_gb_month"], 3
        ),
        "dispatcher_seconds_per_invocation": round(statistics.mean(dispatched), 3) if dispatched else None,
        "invocations": dict(Counter(function for function, _ in run.invocations)),
        "log_write_units_per_delivery": round(log_write_units, 3),
        "log_shard_write_units_per_second_at_2000": round(2000 * log_write_units / LOG_SHARDS, 1),
        # (read, write) units per delivery: at 2,000 deliveries a second, 2,000 times these per second.
        "partition_units_per_delivery": {
            pk: (round(read / deliveries, 4), round(write / deliveries, 4))
            for pk, (read, write) in sorted(partition_units.items())
        },
    }


def bench_batching(events_count: int = BATCH_EVENTS) -> dict[str, Any]:
    """Events through the pipeline to a Segment destination (the dispatcher sends each batch's events in one
    request), against a plain httpx loop sending the same events one per request, both to a sink answering after
    PROVIDER_LATENCY_SECONDS: events per second of dispatcher time and of the loop."""
    import httpx

    from nimriz_destinations import runtime
    from nimriz_destinations.delivery.sender import override_url
    from nimriz_destinations.providers.base import DeliveryItem

    with _pipeline_to_sink(lambda sink_url: [_segment_body(sink_url)], latency_seconds=PROVIDER_LATENCY_SECONDS) as run:
        run.deliver(events_count)
        dispatcher_seconds = sum(seconds for function, seconds in run.invocations if function == "DispatcherFunction")
        provider = get_provider("segment")
        credentials = runtime.destination_service().credentials_of(run.destinations[0])
        requests = []
        for event in run.events(PLAIN_REQUESTS):
            item = DeliveryItem(str(uuid.uuid4()), event, provider.default_payload(event), "live", 1)
            requests += provider.build_requests([item], credentials, now=time.time()).requests
        with httpx.Client() as client:
            started = time.perf_counter()
            for request in requests:
                url = override_url(request.url, run.sink_url)
                client.request(request.method, url, headers=dict(request.headers), content=request.body)
            plain_seconds = time.perf_counter() - started
    batched_rate = events_count / dispatcher_seconds
    plain_rate = len(requests) / plain_seconds
    return {
        "batched_segment_events_per_second": round(batched_rate, 1),
        "plain_one_per_request_events_per_second": round(plain_rate, 1),
        "batch_to_plain_ratio": round(batched_rate / plain_rate, 2),
    }


# -- (h) the local stack: 1,000 events, 30 % failures ------------------------------------------------------------------


class FlakyReceiver:
    """A webhook endpoint failing `failure_share` of the requests (seeded) that notes, per event, whether it was
    accepted or failed its last attempt, and when each first attempt arrived."""

    def __init__(self, failure_share: float, max_attempts: int, seed: int = 42) -> None:
        self._failure_share = failure_share
        self._max_attempts = max_attempts
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.first_attempts: list[float] = []  # time.monotonic()
        self.finished: dict[str, str] = {}  # event id -> "accepted" | "gave_up"
        self.requests = 0

    def __call__(self, request: SinkRequest) -> SinkResponse:
        attempt = int(request.header("X-Nim-Delivery-Attempt") or 0)
        with self._lock:
            self.requests += 1
            if attempt == 1:
                self.first_attempts.append(time.monotonic())
            failed = self._rng.random() < self._failure_share
            if not failed:
                self.finished[request.header("X-Nim-Event-Id") or "?"] = "accepted"
            elif attempt >= self._max_attempts:
                self.finished[request.header("X-Nim-Event-Id") or "?"] = "gave_up"
        return SinkResponse(500, {"error": "flaky"}) if failed else SinkResponse(200, {"ok": True})


def bench_local_stack(events: int = 1000, failure_share: float = 0.3, posted_per_call: int = 50) -> dict[str, Any]:
    """`make dev`'s stack (its own processes: the service with pollers as the event source mappings, moto) delivering
    `events` live events to a webhook failing `failure_share` of the time, with the stack's local retry schedule: how
    long until each event was accepted or given up on (drained), first attempts per second, and how long
    POST /_local/events takes with `posted_per_call` events. The receiver runs here: this process only waits."""
    import httpx

    from nimriz_destinations.delivery.retry import MAX_ATTEMPTS
    from tests.local.stack import stack_process

    dev_key = "nim_dev_bench_key"
    receiver = FlakyReceiver(failure_share, MAX_ATTEMPTS)
    with (
        tempfile.TemporaryDirectory() as scratch,
        Sink(receiver) as sink,
        stack_process({"NIMRIZ_DEV_API_KEY": dev_key}, Path(scratch) / "stack.log") as stack,
        httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {dev_key}"}, timeout=30) as api,
    ):
        body = {
            "name": "bench",
            "type": "generic_http",
            "credentials": {"url": f"{sink.url}/hook", "signing_secret": "whsec_bench_0123456789"},
            "actions": [{"name": "all", "action_type": "send_webhook"}],
        }
        created = api.post("/api/integrations/destinations", json=body)
        assert created.status_code == 201, created.text
        posted = [sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev") for _ in range(events)]
        post_ms = []
        started = time.monotonic()
        for start in range(0, events, posted_per_call):
            sent = time.perf_counter()
            answer = api.post("/_local/events", json=posted[start : start + posted_per_call])
            post_ms.append((time.perf_counter() - sent) * 1000)
            assert answer.status_code == 202, answer.text
        while len(receiver.finished) < events:
            assert time.monotonic() - started < 900, f"not drained: {len(receiver.finished)} of {events}"
            time.sleep(0.2)
        drained = time.monotonic() - started
        logged = _delivery_statuses(api, created.json()["destination"]["id"])
    outcomes = Counter(receiver.finished.values())
    assert len(logged) == events and Counter(logged.values()) == Counter(
        delivered=outcomes["accepted"], dead_lettered=outcomes["gave_up"]
    ), f"the delivery log must agree with what the receiver saw: {Counter(logged.values())}, {outcomes}"
    return {
        "local_stack_drain_seconds": round(drained, 1),
        "local_stack_first_attempts_per_second": round(events / (max(receiver.first_attempts) - started), 1),
        "local_stack_requests": receiver.requests,
        "local_events_post_ms": round(statistics.median(post_ms), 1),
        "local_events_post_max_ms": round(max(post_ms), 1),
    }


def _delivery_statuses(api: Any, destination_id: str) -> dict[str, str]:
    """Event id -> the status the stack's delivery log shows."""
    statuses: dict[str, str] = {}
    cursor = None
    while True:
        page = api.get(
            f"/api/integrations/destinations/{destination_id}/deliveries",
            params={"limit": 100, **({"cursor": cursor} if cursor else {})},
        ).json()
        statuses.update({summary["event_id"]: summary["status"] for summary in page["deliveries"]})
        cursor = page["next_cursor"]
        if not cursor:
            return statuses


def _quietly(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`measure()` with the in-process functions' metric lines (EMF, printed as Lambda would) kept off the report."""
    with contextlib.redirect_stdout(io.StringIO()):
        return measure()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--action", type=Path)
    parser.add_argument("--event", type=Path)
    args = parser.parse_args()
    if args.action or args.event:
        if not (args.action and args.event):
            parser.error("BENCH_ACTION and BENCH_EVENT go together")
        print(json.dumps(bench_one(args.action, args.event)))
        return 0
    filter_mapping_us = bench_filter_and_mapping()
    print(f"(a) filter + mapping: {filter_mapping_us:.2f} us per event per action (50 mixed actions; target <= 4)")
    segment = bench_engine_vs_segment()
    if segment["engine_vs_segment_ratio"] is None:
        print(f"(i) filter + mapping next to Segment's engines: skipped, {segment['segment_comparison_skipped']}")
    else:
        print(
            f"(i) filter + mapping next to Segment's engines: {segment['engine_us_per_event']} vs "
            f"{segment['segment_us_per_event']} us per event, ratio {segment['engine_vs_segment_ratio']} "
            f"(target <= 0.5), output identical: {segment['engine_output_identical']}"
        )
    worst_filters_ms = bench_worst_filters()
    print(f"(e) the worst workspace the filter budgets accept: {worst_filters_ms:.2f} ms per event (target <= 5)")
    dispatch = _quietly(bench_dispatcher)
    print(
        f"(b) dispatcher {dispatch['dispatcher_events_per_second']}/s vs plain httpx "
        f"{dispatch['plain_httpx_events_per_second']}/s: ratio {dispatch['dispatcher_to_plain_ratio']} (target >= 0.8)"
    )
    print(
        f"(c) config/credential reads per event: {dispatch['config_and_secret_reads_per_event']} (target 0); "
        f"destination checks per batch: {dispatch['destination_checks_per_batch']} (target 1); "
        f"delivery-record reads per batch: {dispatch['delivery_record_reads_per_batch']} (target 1); "
        f"delivery-log calls per event: {dispatch['delivery_log_calls_per_event']} (target 1: the record); "
        f"metrics counter calls per event: {dispatch['metrics_counter_calls_per_event']} (one per action per batch); "
        f"all AWS calls per event: {dispatch['aws_calls_per_event']}"
    )
    redaction = bench_redaction()
    print(
        "(d) redaction of a 64 KB answer's excerpt, 20 secrets x 4,096 characters: worst "
        f"{redaction['redaction_worst_ms']} ms cold (target <= 50); repeated character "
        f"{redaction['redaction_repeated_cold_ms']} ms cold, "
        f"{redaction['redaction_repeated_warm_ms']} ms warm; random {redaction['redaction_random_cold_ms']} ms cold, "
        f"{redaction['redaction_random_warm_ms']} ms warm"
    )
    cost = _quietly(bench_cost)
    print(
        f"(f) cost per million events (two matching actions, 2 % failures): ${cost['cost_per_million_events_usd']} "
        f"(target <= 2.50), by item {cost['cost_usd_per_million_events_by_item']}; AWS calls per delivery "
        f"{cost['aws_calls_per_delivery']}: {cost['aws_calls_per_delivery_by_operation']}; DynamoDB write units per "
        f"delivery {cost['dynamodb_write_units_per_delivery']}: {cost['dynamodb_write_units_per_delivery_by_call']}"
    )
    batching = _quietly(bench_batching)
    print(
        f"(g) Segment batches {batching['batched_segment_events_per_second']} events/s vs one per request "
        f"{batching['plain_one_per_request_events_per_second']}/s: ratio {batching['batch_to_plain_ratio']} "
        f"(target >= 5; provider answering in {PROVIDER_LATENCY_SECONDS * 1000:.0f} ms)"
    )
    local = bench_local_stack()
    print(
        f"(h) local stack, 1,000 events at 30 % failures: drained in {local['local_stack_drain_seconds']} s "
        f"(target <= 60), first attempts {local['local_stack_first_attempts_per_second']}/s (target >= 200), "
        f"POST /_local/events of 50 events {local['local_events_post_ms']} ms median (target <= 100), "
        f"{local['local_events_post_max_ms']} ms at most"
    )
    imports = bench_import_ratio()
    print(
        f"(j) handler import over a bare import boto3 ({imports['boto3_import_ms']} ms CPU): worst "
        f"{imports['import_ratio_max']} (target <= 1.2); per handler: {imports['import_ratios']}"
    )
    summary = {
        "us_per_event_action": round(filter_mapping_us, 3),
        **segment,
        "filter_worst_ms_per_event": round(worst_filters_ms, 3),
        **dispatch,
        **redaction,
        **cost,
        **batching,
        **local,
        **imports,
        "targets_met": {
            "a": filter_mapping_us <= 4,
            "b": dispatch["dispatcher_to_plain_ratio"] >= 0.8,
            "c": dispatch["config_and_secret_reads_per_event"] == 0
            and dispatch["destination_checks_per_batch"] == 1
            and dispatch["delivery_record_reads_per_batch"] == 1
            and dispatch["delivery_log_calls_per_event"] == 1,
            "d": redaction["redaction_worst_ms"] <= 50,
            "e": worst_filters_ms <= 5,
            "f": cost["cost_per_million_events_usd"] <= 2.5,
            "g": batching["batch_to_plain_ratio"] >= 5,
            "h": local["local_stack_drain_seconds"] <= 60
            and local["local_stack_first_attempts_per_second"] >= 200
            and local["local_events_post_ms"] <= 100,
            "i": None
            if segment["engine_vs_segment_ratio"] is None
            else segment["engine_vs_segment_ratio"] <= 0.5 and segment["engine_output_identical"],
            "j": imports["import_ratio_max"] <= 1.2,
        },
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
