"""Metrics in the local cloud: what functions print as EMF reaches CloudWatch, as on AWS, and each
invocation adds Lambda's own AWS/Lambda metrics."""

from __future__ import annotations

import dataclasses
import io
import json
import textwrap
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud import emf
from infra.localcloud.runtime import FunctionSpec, LocalRuntime
from tests.support.polling import eventually

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def emf_line(metrics: dict[str, Any], dimensions: dict[str, str],
             namespace: str = "Yiwang", timestamp: datetime = T0) -> str:
    return json.dumps({
        "_aws": {"Timestamp": int(timestamp.timestamp() * 1000), "CloudWatchMetrics": [{
            "Namespace": namespace, "Dimensions": [list(dimensions)],
            "Metrics": [{"Name": name, "Unit": "Count"} for name in metrics]}]},
        **dimensions, **metrics})


# --- EMF → PutMetricData -------------------------------------------------------------------


def test_an_emf_document_becomes_metric_data() -> None:
    line = emf_line({"Paid": [1.0, 1.0], "PaidFen": 1200}, {"service": "yiwang"})
    [(namespace, data)] = emf.metric_data(next(emf.documents([line])))
    assert namespace == "Yiwang"
    assert data == [
        {"MetricName": "Paid", "Values": [1.0, 1.0], "Unit": "Count", "Timestamp": T0,
         "Dimensions": [{"Name": "service", "Value": "yiwang"}]},
        {"MetricName": "PaidFen", "Values": [1200.0], "Unit": "Count", "Timestamp": T0,
         "Dimensions": [{"Name": "service", "Value": "yiwang"}]},
    ]


def test_each_dimension_set_is_its_own_metric() -> None:
    document = json.loads(emf_line({"ColdStart": 1}, {"function_name": "f", "service": "s"}))
    document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [["function_name"], []]
    [(_, data)] = emf.metric_data(document)
    assert [d["Dimensions"] for d in data] == [[{"Name": "function_name", "Value": "f"}], []]


def test_only_emf_lines_are_documents() -> None:
    lines = ['{"level":"INFO","message":"notice filed"}', "plain text", '{"_aws": broken',
             emf_line({"A": 1}, {})]
    assert [list(d) for d in emf.documents(lines)] == [["_aws", "A"]]


def test_a_process_output_is_relayed_and_its_emf_lines_published() -> None:
    published: list[tuple[str, list[dict[str, Any]]]] = []
    output = "Serving on http://127.0.0.1:8000\n" + emf_line({"Paid": [1.0]}, {"service": "api"})
    echo = io.StringIO()
    emf.relay(io.BytesIO((output + "\n").encode()), lambda ns, d: published.append((ns, d)),
              echo)
    assert echo.getvalue() == output + "\n"
    assert [(ns, [d["MetricName"] for d in data]) for ns, data in published] == [
        ("Yiwang", ["Paid"])]


# --- the runtime captures each invocation's output -------------------------------------------


def make_function(tmp_path: Path, source: str, name: str) -> FunctionSpec:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "app.py").write_text(textwrap.dedent(source))
    return FunctionSpec(name=name, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
                        handler="app.handler", code_dir=folder)


class Recorder:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.lock = threading.Lock()

    def __call__(self, spec: FunctionSpec, namespace: str, data: list[dict[str, Any]]) -> None:
        with self.lock:
            self.published.append((spec.name, namespace, data))

    def of(self, namespace: str) -> list[tuple[str, str, list[float]]]:
        return [(fn, d["MetricName"], d["Values"]) for fn, ns, data in self.published
                if ns == namespace for d in data]


EMITTER = """
    import json, time

    def handler(event, context):
        time.sleep(event.get("sleep", 0))  # overlap with the other invocations
        print("a log line")
        print(json.dumps({"_aws": {"Timestamp": 1795399200000, "CloudWatchMetrics": [{
            "Namespace": "Yiwang", "Dimensions": [["service"]],
            "Metrics": [{"Name": event["metric"], "Unit": "Count"}]}]},
            "service": "yiwang", event["metric"]: [1.0]}))
        if event.get("fail"):
            raise RuntimeError("after flushing")
        return {}
"""


def test_concurrent_invocations_publish_their_own_metrics_once(tmp_path: Path) -> None:
    recorder = Recorder()
    runtime = LocalRuntime(endpoint="http://127.0.0.1:1", metrics=recorder)
    specs = [make_function(tmp_path, EMITTER, f"emitter{i}") for i in range(4)]
    threads = [threading.Thread(target=runtime.invoke,
                                args=(spec, {"metric": f"M{i}", "sleep": 0.2}))
               for i, spec in enumerate(specs)]
    for thread in threads:
        thread.start()
    print(emf_line({"Outside": 1}, {}))  # printed outside any invocation: no function's
    for thread in threads:
        thread.join()
    assert sorted(recorder.of("Yiwang")) == [(f"emitter{i}", f"M{i}", [1.0]) for i in range(4)]


SHARED_METRICS = """
    from aws_lambda_powertools import Metrics

    metrics = Metrics(namespace="Yiwang", service="yiwang")
"""

POWERTOOLS_EMITTER = """
    import time

    from shared_metrics import metrics

    @metrics.log_metrics
    def handler(event, context):
        metrics.add_metric(name=event["metric"], unit="Count", value=1)
        time.sleep(event["sleep"])  # the others add theirs meanwhile
        return {}
"""


def test_functions_sharing_a_layers_metrics_object_flush_only_their_own(
        tmp_path: Path) -> None:
    # On Lambda each function has a process (and a Powertools buffer) of its own; here they
    # share the layer's `metrics`, so the first to finish must not flush the others' metrics.
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "shared_metrics.py").write_text(textwrap.dedent(SHARED_METRICS))
    recorder = Recorder()
    runtime = LocalRuntime(endpoint="http://127.0.0.1:1", metrics=recorder)
    specs = [dataclasses.replace(make_function(tmp_path, POWERTOOLS_EMITTER, f"shared{i}"),
                                 layer_dirs=(layer,)) for i in range(3)]
    threads = [threading.Thread(target=runtime.invoke,
                                args=(spec, {"metric": f"S{i}", "sleep": 0.3 - 0.1 * i}))
               for i, spec in enumerate(specs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(recorder.of("Yiwang")) == [(f"shared{i}", f"S{i}", [1.0]) for i in range(3)]


def test_a_failed_invocation_still_publishes_and_counts_an_error(tmp_path: Path) -> None:
    recorder = Recorder()
    runtime = LocalRuntime(endpoint="http://127.0.0.1:1", metrics=recorder)
    spec = make_function(tmp_path, EMITTER, "failing")
    assert runtime.invoke(spec, {"metric": "Flushed", "fail": True}).failed
    assert recorder.of("Yiwang") == [("failing", "Flushed", [1.0])]
    lambda_metrics = {name: values for _, name, values in recorder.of("AWS/Lambda")}
    assert lambda_metrics["Invocations"] == [1.0] and lambda_metrics["Errors"] == [1.0]
    runtime.invoke(spec, {"metric": "Flushed"})
    assert [v for _, name, v in recorder.of("AWS/Lambda") if name == "Errors"] == [[1.0], [0.0]]


def test_what_this_context_prints_leaves_out_other_threads() -> None:
    from infra.localcloud.runtime import printed_in_this_context

    with printed_in_this_context() as printed:
        print("the request's own line")
        other = threading.Thread(target=print, args=("a function's line elsewhere",))
        other.start()
        other.join()
    assert printed == ["the request's own line"]


# --- in the local cloud ------------------------------------------------------------------


def summed(cloud: Any, namespace: str, name: str, dimensions: list[dict[str, str]]) -> float:
    now = datetime.now(UTC)
    points = cloud.client("cloudwatch").get_metric_statistics(
        Namespace=namespace, MetricName=name, Dimensions=dimensions, Statistics=["Sum"],
        StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5), Period=86400,
    )["Datapoints"]
    return sum(p["Sum"] for p in points)


@pytest.mark.integration
def test_a_deployed_functions_metric_reaches_cloudwatch(cloud: Any) -> None:
    function = cloud.outputs["NotifyFunctionName"]
    filed = [{"Name": "service", "Value": "yiwang"}]
    invoked = [{"Name": "FunctionName", "Value": function}]
    before = (summed(cloud, "Yiwang", "NoticesFiled", filed),
              summed(cloud, "AWS/Lambda", "Invocations", invoked))
    notice = {"recipient": "citizen-metrics", "kind": "URGE", "title": "催办", "body": "请办理",
              "application_id": "SQ1", "notice_id": uuid.uuid4().hex,
              "at": "2026-11-23T10:00:00+08:00"}
    event = {"Records": [{"messageId": "m1", "body": json.dumps({"Message": json.dumps(notice)}),
                          "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                          "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                          "awsRegion": "us-east-1", "receiptHandle": "r", "md5OfBody": ""}]}
    answer = cloud.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event))
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert summed(cloud, "Yiwang", "NoticesFiled", filed) == before[0] + 1
    assert summed(cloud, "AWS/Lambda", "Invocations", invoked) == before[1] + 1
    listed = cloud.client("cloudwatch").list_metrics(Namespace="Yiwang",
                                                     MetricName="NoticesFiled")["Metrics"]
    assert {"Name": "service", "Value": "yiwang"} in listed[0]["Dimensions"]


@pytest.mark.integration
def test_a_failed_execution_counts_in_aws_states(cloud: Any) -> None:
    machine = [{"Name": "StateMachineArn", "Value": cloud.outputs["LifecycleStateMachineArn"]}]
    before = summed(cloud, "AWS/States", "ExecutionsFailed", machine)
    sfn = cloud.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine[0]["Value"],
                                    name=f"metrics-{uuid.uuid4().hex[:12]}",
                                    input=json.dumps({"applicationId": "NO-SUCH"}))
    # The metric is recorded just after the status is set: poll the metric, not the status.
    eventually(lambda: summed(cloud, "AWS/States", "ExecutionsFailed", machine) != before,
               interval=0.05, what="ExecutionsFailed to count the execution")
    assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "FAILED"
    assert summed(cloud, "AWS/States", "ExecutionsFailed", machine) == before + 1
