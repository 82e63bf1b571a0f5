"""docs/operations.md against template.yaml and the code: the alarms its table lists are the stack's, with the
stack's thresholds and periods; the numbers it states are the template's; every metric the code emits is in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from nimriz_destinations import observability
from tests.local.template import ROOT, functions, load_template, resources_of_type
from tests.template.test_template import alarms, composite_alarms, queries, volume_guard

RUNBOOK = ROOT / "docs/operations.md"
CODE = [ROOT / "layers/common/nimriz_destinations", ROOT / "functions"]


def table_after(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first markdown table under `heading`, its header and rule left out."""
    text = RUNBOOK.read_text()
    section = text[text.index(heading) :]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    start = section.splitlines().index(lines[0])
    rows = []
    for line in section.splitlines()[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[2:]


def alarm_rows() -> dict[str, list[str]]:
    """Each alarm the runbook's table names (`<Function>` standing for every function), with its row."""
    named: dict[str, list[str]] = {}
    for row in table_after("## Alarms"):
        for name in re.findall(r"`([\w<>]+)`", row[0]):
            expanded = [name.replace("<Function>", f) for f in functions()] if "<Function>" in name else [name]
            for alarm in expanded:
                assert alarm not in named, f"{alarm} is listed twice"
                named[alarm] = row
    return named


def runbook_text() -> str:
    """The runbook with its line breaks and runs of spaces as single spaces, for finding phrases."""
    return " ".join(RUNBOOK.read_text().split())


def numbers(cell: str) -> list[float]:
    return [float(found.replace(" ", "")) for found in re.findall(r"\d[\d ]*(?:\.\d+)?", cell)]


def periods(alarm: dict[str, Any]) -> tuple[int, int, int]:
    """(datapoints to alarm, evaluation periods, period in seconds) of a single-metric or metric-math alarm."""
    found = {alarm["Period"]} if "Period" in alarm else {
        query["MetricStat"]["Period"] for query in queries(alarm).values() if "MetricStat" in query
    }  # fmt: skip
    (period,) = found
    return alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]), alarm["EvaluationPeriods"], period


class TestAlarmTable:
    def test_the_runbook_table_lists_exactly_the_stacks_alarms_and_composite_alarms(self) -> None:
        assert set(alarm_rows()) == set(alarms()) | set(composite_alarms())

    def test_each_alarm_fires_at_the_threshold_and_over_the_periods_its_row_states(self) -> None:
        for logical_id, row in alarm_rows().items():
            if logical_id in composite_alarms():
                assert row[2] == row[3] == "—", logical_id
                continue
            alarm = alarms()[logical_id]
            stated = numbers(row[2])
            assert stated[0] == alarm["Threshold"], logical_id
            guard = volume_guard(alarm) if "Metrics" in alarm else None
            assert (stated[1:] == [guard[1]]) if guard else (stated[1:] == []), logical_id
            found = re.fullmatch(r"(\d+) of (\d+) × (\d+) min", row[3])
            assert found, (logical_id, row[3])
            datapoints, evaluation_periods, minutes = map(int, found.groups())
            assert (datapoints, evaluation_periods, minutes * 60) == periods(alarm), logical_id


class TestStatedNumbers:
    def test_receives_before_a_dead_letter_queue_are_the_queues_max_receive_counts(self) -> None:
        queues = resources_of_type("AWS::SQS::Queue")
        receives = {
            logical_id: queue["Properties"]["RedrivePolicy"]["maxReceiveCount"]
            for logical_id, queue in queues.items()
            if "RedrivePolicy" in queue["Properties"]
        }
        text = runbook_text()
        stated = {int(n) for n in re.findall(r"(\d+) receives", text)}
        assert stated and stated <= set(receives.values())
        assert f"the {receives['DeliveriesQueue']} receives before the Deliveries DLQ" in text
        assert f"after {receives['LiveEventsQueue']} receives" in text

    def test_retentions_and_the_dispatchers_deadlines_are_the_templates(self) -> None:
        text = runbook_text()
        queues = resources_of_type("AWS::SQS::Queue")
        (days,) = {q["Properties"]["MessageRetentionPeriod"] // 86400 for k, q in queues.items() if k.endswith("DLQ")}
        assert f"messages are kept {days} days" in text and f"Messages leave the DLQ after {days} days" in text
        parameters = load_template()["Parameters"]
        assert f"`LogRetentionDays` (default {parameters['LogRetentionDays']['Default']};" in text
        assert f"`AuditRetentionDays` (parameter, default {parameters['AuditRetentionDays']['Default']})" in text
        dispatcher = functions()["DispatcherFunction"]["Properties"]
        assert f"its {dispatcher['Timeout']} s timeout" in text
        assert f"capped at {dispatcher['Environment']['Variables']['REQUEST_DEADLINE_SECONDS']} s" in text


def emitted_metric_names() -> set[str]:
    """Every metric name the code passes to `add_metric`: literals at the call, or observability's constants (the only
    module allowed to name metrics through a variable, and then only with its `*_METRIC`/`*_METRICS` constants)."""
    names: set[str] = set()
    for root in CODE:
        for path in Path(root).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric"):
                    continue
                (name,) = [keyword.value for keyword in node.keywords if keyword.arg == "name"]
                if isinstance(name, ast.Constant):
                    names.add(str(name.value))
                else:
                    assert path.name == "observability.py", f"{path}: name metrics with a literal"
    for constant, value in vars(observability).items():
        if constant.startswith("_"):
            continue
        if constant.endswith("_METRIC"):
            names.add(value)
        elif constant.endswith("_METRICS") and isinstance(value, tuple):
            names.update(value)
    return names


def test_every_metric_the_code_emits_is_documented_in_the_runbooks_metric_table_and_nothing_else() -> None:
    documented = {name for row in table_after("### Metrics") for name in re.findall(r"`(\w+)`", row[0])}
    emitted = emitted_metric_names()
    assert {"Delivered", "TestSendDelivered", "ApiServerErrors", "LiveEventsParked", "DuplicateSends"} <= emitted
    assert emitted == documented
