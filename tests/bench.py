"""`make bench`: the delivery pipeline's speed goals, measured on this machine.

(a) `us_per_event_action`: filter + mapping cost per event per action, workspace of 50 actions with mixed filters
    (target <= 4 us): each match is prepared as the dispatcher prepares it (`delivery_item`: privacy rules, mapping,
    size check);
(b) dispatcher throughput to a local sink next to a plain httpx loop sending the same requests (target >= 0.8);
(c) DynamoDB and Secrets Manager calls per event in steady state (target: 0 config/credential reads per event; the
    per-batch destination check is one BatchGetItem per batch; the delivery log costs 2 calls per event: the lease
    and the recording transaction);
(d) redaction of an answer's excerpt as the dispatcher records it, 20 header secrets of 4,096 characters against a
    64 KB answer of one repeated character, secrets never seen before (target: worst case <= 50 ms).
(e) `filter_worst_ms_per_event`: every filter of the worst workspace the save-time budgets accept (design §6), on
    one event whose values are 1,024 characters crafted to be slow (target <= 5 ms);
(f) `engine_vs_segment_ratio`: filter + mapping per event over Segment's own engines doing the same work on the same
    event (tests/segment_comparison; needs node and Segment's bench, shared/bench/segment, else skipped), target
    <= 0.5 with the output identical;
(g) `import_ratio_max`: each handler module's import over a bare `import boto3`, tracing on (target <= 1.2).
The last line is one JSON object with the figures.

`make bench BENCH_ACTION=action.json BENCH_EVENT=event.json` measures one action (API action format:
`event_filter` + `property_mapping`, optional `destination_type`) on one canonical event instead; its last line
is `{"us_per_event": <median>, "output": <mapped payload or null>}`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
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

DEFAULT_DESTINATION_FOR = {"send_event": "segment", "send_conversion": "meta", "send_webhook": "generic_http"}


def _median_us(run: Any, count: int, repeats: int = 7) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - started) / count / 1000)
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
    events = [
        sample_event(kind, workspace_id="ws", organization_id="org")
        for kind in ("link.clicked", "link.qr_scanned", "conversion.sale", "card.viewed")
    ]

    def run() -> None:
        for event in events:
            private = apply_privacy(event)
            for provider, event_filter, mapping in compiled:
                if event_filter.evaluate(private).passed:
                    delivery_item(provider, mapping, event, delivery_id="bench", reason="live", attempt=1)

    rounds = 50

    def many() -> None:
        for _ in range(rounds):
            run()

    return _median_us(many, count=rounds * len(events) * len(compiled))


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


# -- (f) filter + mapping next to Segment's own engines ------------------------------------------------------------

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
    from nimriz_destinations.delivery.sender import MAX_RESPONSE_BYTES
    from nimriz_destinations.delivery.sending import response_excerpt
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


# -- (g) handler imports ------------------------------------------------------------------------------------------

_TIMED_IMPORT = (
    "import importlib, time\n"
    "started = time.process_time()\n"
    "importlib.import_module({module!r})\n"
    "print(time.process_time() - started)\n"
)


def _import_seconds(module: str, code_folder: Path) -> float:
    """One import of `module` in a fresh interpreter set up as Lambda sets one up: the layer and the function's code
    on the path, tracing on (`LAMBDA_TASK_ROOT` is what Powertools takes for Lambda)."""
    from tests.local.template import ROOT

    environment = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/common"), str(code_folder)]),
        "LAMBDA_TASK_ROOT": str(code_folder),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "nimriz-destinations",
    }
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
    """Batches as the template's event source mapping delivers them (its BatchSize)."""
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import httpx
    from moto import mock_aws

    from nimriz_destinations import aws, runtime
    from nimriz_destinations.audit import SYSTEM
    from nimriz_destinations.jobs import DeliveryJob, ReceivedJob
    from nimriz_destinations.models import DestinationCreate
    from nimriz_destinations.providers.base import DeliveryItem
    from nimriz_destinations.storage.counters import COUNTER_PREFIX
    from nimriz_destinations.storage.records import Workspace
    from tests.local.atomic_moto import make_moto_atomic
    from tests.local.pollers import event_sources
    from tests.local.template import create_stack

    make_moto_atomic()
    with mock_aws(), _sink_process() as sink_url:
        stack = create_stack(stage="local")
        os.environ.update(stack.all_function_environments())
        runtime.reset()
        workspace = Workspace("ws_bench", "org_bench")
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

        def count_counter_updates(params: dict[str, Any], **_: Any) -> None:
            if params["Key"]["SK"]["S"].startswith(COUNTER_PREFIX):
                calls["counters.UpdateItem"] += 1

        aws.dynamodb().meta.events.register("provide-client-params.dynamodb.UpdateItem", count_counter_updates)

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
        health_calls = len(batches)  # one destination per batch: one health update each
        counter_calls = calls["counters.UpdateItem"]
        log_calls = calls["dynamodb.UpdateItem"] + calls["dynamodb.TransactWriteItems"] - health_calls - counter_calls
        return {
            "dispatcher_events_per_second": round(jobs_count / dispatcher_seconds, 1),
            "plain_httpx_events_per_second": round(jobs_count / plain_seconds, 1),
            "dispatcher_to_plain_ratio": round(plain_seconds / dispatcher_seconds, 3),
            "config_and_secret_reads_per_event": round(reads / jobs_count, 4),
            "destination_checks_per_batch": round(calls["dynamodb.BatchGetItem"] / len(batches), 4),
            "delivery_log_calls_per_event": round(log_calls / jobs_count, 4),
            "metrics_counter_calls_per_event": round(counter_calls / jobs_count, 4),
            "aws_calls_per_event": {k: round(v / jobs_count, 4) for k, v in sorted(calls.items())},
        }


@contextmanager
def _sink_process() -> Iterator[str]:
    """The receiving end in its own process, as a provider would be: it must not share our interpreter lock."""
    code = (
        "import sys, time; from tests.sinks.server import Sink, SinkResponse\n"
        "with Sink(lambda request: SinkResponse(200, {'ok': True})) as sink:\n"
        "    print(sink.url, flush=True); sys.stdin.read()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


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
        print(f"(f) filter + mapping next to Segment's engines: skipped, {segment['segment_comparison_skipped']}")
    else:
        print(
            f"(f) filter + mapping next to Segment's engines: {segment['engine_us_per_event']} vs "
            f"{segment['segment_us_per_event']} us per event, ratio {segment['engine_vs_segment_ratio']} "
            f"(target <= 0.5), output identical: {segment['engine_output_identical']}"
        )
    worst_filters_ms = bench_worst_filters()
    print(f"(e) the worst workspace the filter budgets accept: {worst_filters_ms:.2f} ms per event (target <= 5)")
    dispatch = bench_dispatcher()
    print(
        f"(b) dispatcher {dispatch['dispatcher_events_per_second']}/s vs plain httpx "
        f"{dispatch['plain_httpx_events_per_second']}/s: ratio {dispatch['dispatcher_to_plain_ratio']} (target >= 0.8)"
    )
    print(
        f"(c) config/credential reads per event: {dispatch['config_and_secret_reads_per_event']} (target 0); "
        f"destination checks per batch: {dispatch['destination_checks_per_batch']} (target 1); "
        f"delivery-log calls per event: {dispatch['delivery_log_calls_per_event']} (target 2: lease + record); "
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
    imports = bench_import_ratio()
    print(
        f"(g) handler import over a bare import boto3 ({imports['boto3_import_ms']} ms CPU): worst "
        f"{imports['import_ratio_max']} (target <= 1.2); per handler: {imports['import_ratios']}"
    )
    summary = {
        "us_per_event_action": round(filter_mapping_us, 3),
        **segment,
        "filter_worst_ms_per_event": round(worst_filters_ms, 3),
        **dispatch,
        **redaction,
        **imports,
        "targets_met": {
            "a": filter_mapping_us <= 4,
            "b": dispatch["dispatcher_to_plain_ratio"] >= 0.8,
            "c": dispatch["config_and_secret_reads_per_event"] == 0
            and dispatch["destination_checks_per_batch"] == 1
            and dispatch["delivery_log_calls_per_event"] == 2,
            "d": redaction["redaction_worst_ms"] <= 50,
            "e": worst_filters_ms <= 5,
            "f": None
            if segment["engine_vs_segment_ratio"] is None
            else segment["engine_vs_segment_ratio"] <= 0.5 and segment["engine_output_identical"],
            "g": imports["import_ratio_max"] <= 1.2,
        },
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
