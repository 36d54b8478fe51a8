"""`make dashboard`: the deployed dashboard's widgets rendered with the metrics CloudWatch holds."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra import dashboard

# A window of its own, two days back (CloudWatch takes data up to two weeks old): the other
# tests' metrics in the shared local cloud are all recent.
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(second=0, microsecond=0)


def legend_row(page: str, label: str) -> tuple[str, str, str]:
    """(total, last, peak) of a legend row."""
    match = re.search(r"</span>" + re.escape(html.escape(label)) +
                      r'</td><td class="n">([^<]*)</td><td class="n">([^<]*)</td>'
                      r'<td class="n">([^<]*)</td>', page)
    assert match, f"no legend row {label!r}"
    return match.group(1), match.group(2), match.group(3)


# --- reading widgets -------------------------------------------------------------------------


def test_rows_follow_cloudwatch_shorthand_and_options() -> None:
    rows = dashboard.parse_rows({"stat": "Sum", "period": 300, "metrics": [
        ["Yiwang", "Paid", "service", "yiwang-api"],
        [".", "PaidFen", ".", ".", {"id": "fen", "visible": False, "stat": "Maximum"}],
        [{"expression": "FILL(q0, 0) + fen", "label": "both"}],
    ]})
    assert rows[1].namespace == "Yiwang" and rows[1].dimensions == (("service", "yiwang-api"),)
    assert (rows[1].id, rows[1].visible, rows[1].stat, rows[1].period) == (
        "fen", False, "Maximum", 300)
    assert rows[2].expression == "FILL(q0, 0) + fen" and rows[2].label == "both"


def test_expressions_sum_ids_and_fill_gaps() -> None:
    a, b = T0, T0 + timedelta(minutes=5)
    results = {"fn": {a: 1.0}, "api": {b: 2.0}}
    assert dashboard.evaluate("FILL(fn, 0) + FILL(api, 0)", results) == {a: 1.0, b: 2.0}
    assert dashboard.evaluate("fn + api", results) == {}  # no timestamp has both
    with pytest.raises(ValueError, match="not rendered locally"):
        dashboard.evaluate("RATE(fn)", results)


# --- against the deployed stack -----------------------------------------------------------


def put(cloud: Any, namespace: str, name: str, dimension: tuple[str, str],
        points: list[tuple[int, float]]) -> None:
    cloud.client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": name, "Value": value, "Unit": "Count",
         "Timestamp": T0 + timedelta(minutes=minutes),
         "Dimensions": [{"Name": dimension[0], "Value": dimension[1]}]}
        for minutes, value in points])


@pytest.fixture(scope="module")
def page(cloud: Any) -> str:
    outputs = cloud.outputs
    put(cloud, "Yiwang", "RedCards", ("service", "yiwang"), [(0, 2), (10, 1)])
    put(cloud, "Yiwang", "Paid", ("service", "yiwang-api"), [(5, 4)])
    put(cloud, "Yiwang", "CalendarDataMissing", ("service", "yiwang"), [(0, 1)])
    put(cloud, "Yiwang", "CalendarDataMissing", ("service", "yiwang-api"), [(5, 2)])
    put(cloud, "Yiwang", "WebhookSignatureFailed", ("service", "yiwang-api"), [(20, 7)])
    put(cloud, "AWS/Lambda", "Errors", ("FunctionName", outputs["PreReviewFunctionName"]),
        [(15, 5)])
    put(cloud, "AWS/States", "ExecutionsFailed",
        ("StateMachineArn", outputs["LifecycleStateMachineArn"]), [(15, 1)])
    return dashboard.render(cloud.client("cloudwatch"), outputs["DashboardName"],
                            T0 - timedelta(minutes=30), T0 + timedelta(minutes=90))


def deployed_widgets(cloud: Any) -> list[dict[str, Any]]:
    body = cloud.client("cloudwatch").get_dashboard(
        DashboardName=cloud.outputs["DashboardName"])["DashboardBody"]
    return json.loads(body)["widgets"]


@pytest.mark.integration
def test_every_widget_is_rendered_with_its_title(cloud: Any, page: str) -> None:
    titles = [w["properties"]["title"] for w in deployed_widgets(cloud)]
    assert len(titles) >= 8
    for title in titles:
        assert f"<h2>{html.escape(title)}</h2>" in page
    assert page.count("<section") == len(titles)


@pytest.mark.integration
def test_the_numbers_are_the_metrics_cloudwatch_holds(cloud: Any, page: str) -> None:
    assert legend_row(page, "RedCards") == ("3", "1", "2")
    assert legend_row(page, "Paid") == ("4", "4", "4")
    assert legend_row(page, "CalendarDataMissing") == ("3", "2", "2")  # functions + API
    assert legend_row(page, "WebhookSignatureFailed") == ("7", "7", "7")
    assert legend_row(page, "applications failed") == ("1", "1", "1")
    # Lambda errors, one line per deployed function, labelled with its real name.
    assert legend_row(page, cloud.outputs["PreReviewFunctionName"]) == ("5", "5", "5")
    assert legend_row(page, cloud.outputs["NotifyFunctionName"]) == ("—", "—", "—")
    assert legend_row(page, "YellowCards") == ("—", "—", "—")
    assert page.count("<svg") >= 5  # the widgets with data are charted
    assert "<script" not in page


@pytest.mark.integration
def test_make_dashboard_writes_the_page_and_prints_its_path(
        cloud: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dashboard.html"
    code = dashboard.main(["--outputs-dir", cloud.outputs["OutputsDir"], "--out", str(out),
                           "--hours", "1"])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    written = out.read_text(encoding="utf-8")
    assert written.startswith("<!DOCTYPE html>")
    assert f"Dashboard {cloud.outputs['DashboardName']}" in written


def test_without_a_deployment_it_says_what_to_do(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert dashboard.main(["--outputs-dir", str(tmp_path)]) == 2
    assert "make run" in capsys.readouterr().err
