"""The local cloud runs the real template: state machines execute, functions run, errors keep
their types, schedules fire."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.localcloud.scheduler import Scheduler
from infra.localcloud.server import PortTakenError, ensure_port_free
from tests.support.data import PERMIT
from tests.support.polling import eventually

pytestmark = pytest.mark.integration



def put_application(
    cloud: Any, application_id: str, required: list[str], stored: list[str]
) -> None:
    cloud.client("dynamodb").put_item(TableName=cloud.outputs["TableName"], Item={
        "pk": {"S": f"APP#{application_id}"}, "sk": {"S": "META"},
        "applicationId": {"S": application_id}, "status": {"S": "SUBMITTED"},
        "itemCode": {"S": PERMIT}, "itemVersion": {"N": "1"}, "ownerSub": {"S": "citizen-1"},
        "requiredMaterials": {"L": [{"S": m} for m in required]},
        "storedMaterials": {"L": [{"S": m} for m in stored]},
        "createdAt": {"S": "2026-11-23T02:00:00.000000+0000"},
        "submittedAt": {"S": "2026-11-23T02:00:00.000000+0000"},
        # A list partition of its own: this raw record has no applicant, and must not show up in
        # the sample citizen's list that the API tests read.
        "gsi1pk": {"S": f"APPLICANT#{application_id}"}, "gsi1sk": {"S": "2026-11-23T02:00"},
        "version": {"N": "1"},
    })


def start(cloud: Any, payload: dict[str, Any]) -> str:
    return cloud.client("stepfunctions").start_execution(
        stateMachineArn=cloud.outputs["LifecycleStateMachineArn"],
        name=f"test-{uuid.uuid4().hex[:12]}", input=json.dumps(payload))["executionArn"]


def history_until(cloud: Any, execution_arn: str, done: Any) -> tuple[dict, list[dict]]:
    """Poll until `done(description, history)` or the execution ends."""
    sfn = cloud.client("stepfunctions")

    def seen() -> tuple[dict, list[dict]] | None:
        described = sfn.describe_execution(executionArn=execution_arn)
        history = sfn.get_execution_history(executionArn=execution_arn)["events"]
        if described["status"] != "RUNNING" or done(described, history):
            return described, history
        return None

    return eventually(seen, interval=0.05, what=f"{execution_arn} to get on")


def waiting_at(name: str) -> Any:
    def done(_: dict, history: list[dict]) -> bool:
        entered = [e["stateEnteredEventDetails"]["name"] for e in history
                   if e["type"].endswith("StateEntered")]
        return bool(entered) and entered[-1] == name and history[-1]["type"] in {
            "TaskSubmitted", "TaskStarted"} and any(e["type"] == "TaskSubmitted"
                                                     for e in history[-3:])
    return done


def test_lifecycle_runs_dynamodb_and_function_steps_then_waits_for_the_window(
        cloud: Any, seeded: None) -> None:
    put_application(cloud, "A-100", required=["site-plan", "fire-design"], stored=["site-plan"])
    execution, history = history_until(cloud, start(cloud, {"applicationId": "A-100"}),
                                       waiting_at("AwaitAcceptance"))
    assert execution["status"] == "RUNNING"
    entered = [e["stateEnteredEventDetails"]["name"] for e in history
               if e["type"].endswith("StateEntered")]
    assert entered == ["LoadApplication", "ApplicationExists", "FirstRound", "PreReview",
                       "AwaitAcceptance"]
    scheduled = [e["taskScheduledEventDetails"] for e in history if e["type"] == "TaskScheduled"]
    assert [s["resourceType"] + ":" + s["resource"] for s in scheduled] == [
        "dynamodb:getItem", "lambda:invoke", "lambda:invoke.waitForTaskToken"]
    task = cloud.client("dynamodb").get_item(TableName=cloud.outputs["TableName"], Key={
        "pk": {"S": "APP#A-100"}, "sk": {"S": "TASK#A-100.PRE_REVIEW.1.WINDOW"}})["Item"]
    checks = json.loads(task["context"]["S"])["checks"]
    assert checks["outcome"] == "DEFECTS"
    assert checks["defects"] == [{"materialId": "fire-design", "problem": "MISSING"}]
    assert checks["departments"] == ["GZ-ZRZY", "GZ-ZJ", "GZ-XF"]


def test_unknown_application_fails_the_execution(cloud: Any) -> None:
    execution, history = history_until(cloud, start(cloud, {"applicationId": "NO-SUCH"}),
                                       lambda *_: False)
    assert execution["status"] == "FAILED"
    assert history[-1]["executionFailedEventDetails"]["error"] == "ApplicationNotFound"


def test_function_error_type_reaches_the_caller(cloud: Any) -> None:
    answer = cloud.client("lambda").invoke(
        FunctionName=cloud.outputs["PreReviewFunctionName"],
        Payload=json.dumps({"applicationId": "NO-SUCH"}).encode())
    assert answer["FunctionError"] == "Unhandled"
    body = json.loads(answer["Payload"].read())
    assert body["errorType"] == "ApplicationNotFound"
    assert "NO-SUCH" in body["errorMessage"]


def test_catch_routes_a_function_error_by_its_type(cloud: Any) -> None:
    # The Lambda task's Catch on ApplicationNotFound: the record vanishes between steps.
    sfn = cloud.client("stepfunctions")
    definition = {
        "StartAt": "PreReview",
        "States": {
            "PreReview": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": cloud.outputs["PreReviewFunctionName"],
                               "Payload.$": "$"},
                "Catch": [{"ErrorEquals": ["ApplicationNotFound"], "Next": "Missing"}],
                "End": True,
            },
            "Missing": {"Type": "Pass", "Result": {"caught": True}, "End": True},
        },
    }
    machine = sfn.create_state_machine(
        name=f"catch-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/test")
    started = sfn.start_execution(stateMachineArn=machine["stateMachineArn"],
                                  input=json.dumps({"applicationId": "GONE"}))
    described = eventually(lambda: (d := sfn.describe_execution(
        executionArn=started["executionArn"]))["status"] != "RUNNING" and d,
        interval=0.05, what="the execution to end")
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"caught": True}


def test_schedule_rule_fires_the_timeout_check(cloud: Any) -> None:
    now = [datetime(2026, 11, 23, 2, 0, tzinfo=UTC)]
    scheduler = Scheduler(cloud.client, clock=lambda: now[0])

    def timeout_rules(fired: list[str]) -> list[str]:
        # Other schedules (the SMS sweep, every minute) fire on their own times.
        return [arn for arn in fired if "TimeoutCheck" in arn]

    assert timeout_rules(scheduler.tick()) == []  # first sight: it is due 5 minutes later
    now[0] += timedelta(minutes=4)
    assert timeout_rules(scheduler.tick()) == []
    before = len(cloud.server.runtime.invocations)
    now[0] += timedelta(minutes=1, seconds=1)
    fired = timeout_rules(scheduler.tick())
    assert len(fired) == 1
    # The schedule starts the fanned-out check: a plan, then a batch per DueIndex shard.
    assert [target for rule, target, _ in scheduler.fired if rule == fired[0]][-1] == (
        cloud.outputs["TimeoutCheckStateMachineArn"])
    sweep = cloud.outputs["TimeoutCheckFunctionName"]

    def swept() -> list[Any]:  # other functions (the stream's, notices) may run meanwhile
        return [i for i in cloud.server.runtime.invocations[before:] if i[0] == sweep]

    from yiwang.deadlines.clocks import DUE_PARTITIONS

    eventually(lambda: len(swept()) >= 1 + len(DUE_PARTITIONS), interval=0.05,
               what="the timeout check to run")
    assert {error_type for _, error_type in swept()} == {None}
    # The sweep (at a late 2026 "now") must be over before other tests start their clocks.
    sfn = cloud.client("stepfunctions")
    eventually(lambda: not sfn.list_executions(
        stateMachineArn=cloud.outputs["TimeoutCheckStateMachineArn"],
        statusFilter="RUNNING")["executions"], what="the timeout check to end")


def test_a_taken_port_is_refused(cloud: Any) -> None:
    port = int(cloud.endpoint.rsplit(":", 1)[1])
    with pytest.raises(PortTakenError, match=f"127.0.0.1:{port} is already in use"):
        ensure_port_free("127.0.0.1", port)


def test_attachments_bucket_is_configured_as_the_template_declares(cloud: Any) -> None:
    s3 = cloud.client("s3")
    bucket = cloud.outputs["BucketName"]
    cors = s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]
    assert set(cors["AllowedMethods"]) == {"PUT", "GET", "HEAD"}
    assert cors["ExposeHeaders"] == ["ETag"]  # browsers need it to complete multipart uploads
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1}
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"


def test_notice_reaches_the_inbox_through_sns_sqs_and_the_notify_function(cloud: Any) -> None:
    notice = {"recipient": "citizen-7", "kind": "SUPPLEMENT", "title": "补正告知",
              "body": "请补充上传：建设工程设计方案图纸", "application_id": "SQ1",
              "notice_id": uuid.uuid4().hex, "at": "2026-11-23T10:00:00+08:00"}
    sns = cloud.client("sns")
    for _ in range(2):  # delivered twice, filed once
        sns.publish(TopicArn=cloud.outputs["NoticesTopicArn"], Message=json.dumps(notice))
    ddb = cloud.client("dynamodb")

    def inbox() -> list[dict]:
        return ddb.query(TableName=cloud.outputs["TableName"],
                         KeyConditionExpression="pk = :pk AND begins_with(sk, :notice)",
                         ExpressionAttributeValues={":pk": {"S": "INBOX#citizen-7"},
                                                    ":notice": {"S": "NOTICE#"}})["Items"]

    items = eventually(inbox)
    time.sleep(0.5)
    items = inbox()
    assert len(items) == 1
    unread = ddb.get_item(TableName=cloud.outputs["TableName"],
                          Key={"pk": {"S": "INBOX#citizen-7"}, "sk": {"S": "UNREAD"}})["Item"]
    assert unread["unread"] == {"N": "1"}  # counted once too
    assert items[0]["title"] == {"S": "补正告知"}
    assert items[0]["noticeId"] == {"S": notice["notice_id"]}
    assert (cloud.outputs["NotifyFunctionName"], None) in cloud.server.runtime.invocations


def test_s3_notification_reaches_its_function(cloud: Any, tmp_path: Any) -> None:
    from infra.localcloud.packaging import upload_code
    from infra.localcloud.server import REPO_ROOT

    s3, lambda_ = cloud.client("s3"), cloud.client("lambda")
    folder = REPO_ROOT / "tests/infra/localcloud/fixtures/record_event"
    key = upload_code(folder, lambda k, b: s3.put_object(Bucket="yiwang-deployment", Key=k,
                                                         Body=b))
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = cloud.client("iam").create_role(RoleName=f"record-{uuid.uuid4().hex[:8]}",
                                           AssumeRolePolicyDocument=json.dumps(trust))
    fn = lambda_.create_function(
        FunctionName=f"record-{uuid.uuid4().hex[:8]}", Runtime="python3.12",
        Role=role["Role"]["Arn"], Handler="app.handler",
        Code={"S3Bucket": "yiwang-deployment", "S3Key": key},
        Environment={"Variables": {"TABLE_NAME": cloud.outputs["TableName"]}})
    bucket = f"uploads-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": fn["FunctionArn"],
                                          "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_object(Bucket=bucket, Key="drawings/总平面图.pdf", Body=b"%PDF-1.7")
    ddb = cloud.client("dynamodb")
    items = eventually(lambda: ddb.query(
        TableName=cloud.outputs["TableName"], KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "TEST#events"}})["Items"])
    event = json.loads(items[0]["event"]["S"])
    record = event["Records"][0]
    assert record["eventName"].startswith("ObjectCreated")
    assert record["s3"]["bucket"]["name"] == bucket


def test_concurrent_writes_keep_every_effect(cloud: Any) -> None:
    # A cancelled transaction must not undo writes that other requests made meanwhile.
    import threading

    ddb = cloud.client("dynamodb")
    table = cloud.outputs["TableName"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "RACE"}, "sk": {"S": "guard"}})

    def write(n: int) -> None:
        ddb.put_item(TableName=table, Item={"pk": {"S": "RACE"}, "sk": {"S": f"item-{n}"}})

    def cancelled(n: int) -> None:
        try:
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "RACE"},
                                                      "sk": {"S": f"never-{n}"}}}},
                {"ConditionCheck": {"TableName": table,
                                    "Key": {"pk": {"S": "RACE"}, "sk": {"S": "guard"}},
                                    "ConditionExpression": "attribute_not_exists(pk)"}}])
        except ddb.exceptions.TransactionCanceledException:
            pass

    threads = [threading.Thread(target=f, args=(n,)) for n in range(200)
               for f in (write, cancelled)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = {i["sk"]["S"] for i in ddb.query(
        TableName=table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "RACE"}})["Items"]}
    assert {f"item-{n}" for n in range(200)} <= keys
    assert not [k for k in keys if k.startswith("never-")]
