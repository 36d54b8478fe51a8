"""The template's dashboard and alarms (docs/architecture.md, observability): every widget draws
metrics
the code really emits, under the dimensions it emits them with, for resources the template
really has; the alarms notify operators through NoticesTopic."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.localcloud.packaging import load_template
from infra.localcloud.server import REPO_ROOT
from infra.package import api_wiring

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTION_SERVICE = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"][
    "POWERTOOLS_SERVICE_NAME"]
API_SERVICE = api_wiring()["APIHandler"]["Properties"]["Environment"]["Variables"][
    "POWERTOOLS_SERVICE_NAME"]
_REFERENCE = re.compile(r"\$\{([A-Za-z0-9:.]+)\}")

# Metrics whose name the code builds (f-strings over a known set of values): the name, and a
# fragment of the code that builds it.
BUILT_NAMES = {
    "PreReviewPassed": 'f"PreReview{result.outcome.title()}"',
    "PreReviewDefects": 'f"PreReview{result.outcome.title()}"',
}


def code_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8")
                     for folder in ("layers/yiwang", "functions")
                     for p in sorted((REPO_ROOT / folder).rglob("*.py")))


def dashboard_body() -> tuple[dict[str, Any], set[str]]:
    """The body as JSON (each `${...}` replaced by its name) and the names it references."""
    text = RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(text, str)
    return json.loads(_REFERENCE.sub(r"\1", text)), set(_REFERENCE.findall(text))


def widgets() -> dict[str, dict[str, Any]]:
    return {w["properties"]["title"]: w["properties"] for w in dashboard_body()[0]["widgets"]}


def metric_rows(properties: dict[str, Any]) -> list[list[str]]:
    return [[p for p in row if not isinstance(p, dict)] for row in properties["metrics"]
            if not (len(row) == 1 and isinstance(row[0], dict))]


def test_the_dashboard_has_a_widget_for_each_part_operators_watch() -> None:
    assert set(widgets()) == {
        "Applications through the lifecycle", "Supervision: due clocks, yellow and red cards",
        "Payments", "Fees paid (fen)", "Deliveries", "Complaints and bad reviews",
        "Calendar data missing, refused webhooks", "Lambda errors by function",
        "Step Functions executions failed"}
    dashboard = RESOURCES["OperationsDashboard"]
    assert dashboard["Type"] == "AWS::CloudWatch::Dashboard"
    assert dashboard["Properties"]["DashboardName"] == {"Fn::Sub": "yiwang-${Stage}"}


def test_the_body_references_only_real_resources() -> None:
    _, references = dashboard_body()
    pseudo = {r for r in references if r.startswith("AWS::")}
    assert pseudo == {"AWS::Region"}
    assert references - pseudo <= set(RESOURCES)


def test_lambda_errors_cover_every_function_of_the_template() -> None:
    rows = metric_rows(widgets()["Lambda errors by function"])
    functions = {name for name, r in RESOURCES.items()
                 if r["Type"] == "AWS::Serverless::Function"}
    assert {tuple(r[:3]) for r in rows} == {("AWS/Lambda", "Errors", "FunctionName")}
    assert sorted(r[3] for r in rows) == sorted(functions)


def test_failed_executions_cover_every_state_machine_of_the_template() -> None:
    rows = metric_rows(widgets()["Step Functions executions failed"])
    machines = {name for name, r in RESOURCES.items()
                if r["Type"] == "AWS::Serverless::StateMachine"}
    assert {(r[0], r[2]) for r in rows} == {("AWS/States", "StateMachineArn")}
    assert {r[3] for r in rows if r[1] == "ExecutionsFailed"} == machines


def drawn_yiwang_metrics() -> set[str]:
    return {r[1] for props in widgets().values() for r in metric_rows(props) if r[0] == "Yiwang"}


def test_every_yiwang_metric_drawn_is_emitted_by_the_code() -> None:
    code = code_text()
    drawn = drawn_yiwang_metrics()
    literal = {name for name in drawn if f'"{name}"' in code}
    built = {name for name, fragment in BUILT_NAMES.items() if fragment in code}
    assert drawn - literal - built == set()
    assert {"Accepted", "Approved", "Rejected", "Paid", "Delivered", "RedCards", "YellowCards",
            "ClocksDue", "PaymentsExpired", "AutoAccepted", "ComplaintsOpened",
            "ComplaintsClosed", "BadReviews", "CalendarDataMissing",
            "WebhookSignatureFailed"} <= drawn


def test_each_yiwang_line_sums_the_functions_and_the_api() -> None:
    # Domain code runs in the functions (service `yiwang`) and in the API (`yiwang-api`): a line
    # drawn for one service only would miss what the other counts.
    for title, props in widgets().items():
        rows = props["metrics"]
        hidden = {row[-1]["id"]: (row[1], row[3]) for row in rows if row[0] == "Yiwang"}
        for row in rows:
            if row[0] == "Yiwang":
                assert row[2] == "service" and row[-1]["visible"] is False, (title, row)
        for row in rows:
            if len(row) == 1 and "expression" in row[0]:
                expression, name = row[0]["expression"], row[0]["label"]
                ids = re.findall(r"FILL\((\w+), 0\)", expression)
                assert expression == " + ".join(f"FILL({i}, 0)" for i in ids), expression
                assert sorted(hidden[i] for i in ids) == [(name, FUNCTION_SERVICE),
                                                          (name, API_SERVICE)]
        labels = [row[0]["label"] for row in rows if len(row) == 1]
        assert sorted(labels) == sorted({name for name, _ in hidden.values()})


@pytest.mark.parametrize(("alarm", "metric"), [
    ("LifecycleFailuresAlarm", "ExecutionsFailed"),
    ("RedCardsAlarm", "RedCards"),
    ("CalendarDataMissingAlarm", "CalendarDataMissing"),
    ("WebhookSignatureFailedAlarm", "WebhookSignatureFailed"),
    ("SmsFailedAlarm", "SmsFailed"),
])
def test_alarms_notify_operators(alarm: str, metric: str) -> None:
    resource = RESOURCES[alarm]
    props = resource["Properties"]
    assert resource["Type"] == "AWS::CloudWatch::Alarm"
    assert props["AlarmActions"] == [{"Ref": "NoticesTopic"}]
    named = props.get("MetricName") or {
        m["MetricStat"]["Metric"]["MetricName"] for m in props["Metrics"] if "MetricStat" in m}
    assert named in (metric, {metric})
    assert props["TreatMissingData"] == "notBreaching"


def test_red_cards_and_missing_calendar_data_alarm_on_the_first_one() -> None:
    red = RESOURCES["RedCardsAlarm"]["Properties"]
    assert (red["Threshold"], red["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert red["Dimensions"] == [{"Name": "service", "Value": FUNCTION_SERVICE}]
    missing = RESOURCES["CalendarDataMissingAlarm"]["Properties"]
    assert (missing["Threshold"], missing["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    services = {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]
                for m in missing["Metrics"] if "MetricStat" in m}
    assert services == {FUNCTION_SERVICE, API_SERVICE}
    [returned] = [m for m in missing["Metrics"] if m.get("ReturnData")]
    assert returned["Expression"] == "FILL(functions, 0) + FILL(api, 0)"


def test_refused_webhooks_alarm_over_a_configurable_threshold() -> None:
    props = RESOURCES["WebhookSignatureFailedAlarm"]["Properties"]
    assert props["Threshold"] == {"Ref": "WebhookFailureAlarmThreshold"}
    assert props["Dimensions"] == [{"Name": "service", "Value": API_SERVICE}]
    assert TEMPLATE["Parameters"]["WebhookFailureAlarmThreshold"]["Default"] >= 1


def test_cloudwatch_may_use_the_key_that_encrypts_the_alarms_topic() -> None:
    topic_key = RESOURCES["NoticesTopic"]["Properties"]["KmsMasterKeyId"]
    assert topic_key == {"Ref": "DataKey"}
    statements = RESOURCES["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    granted = [s for s in statements
               if "cloudwatch.amazonaws.com" in s["Principal"].get("Service", [])]
    assert granted and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(granted[0]["Action"])


def test_the_dashboard_name_is_an_output() -> None:
    assert TEMPLATE["Outputs"]["DashboardName"] == {"Value": {"Ref": "OperationsDashboard"}}
