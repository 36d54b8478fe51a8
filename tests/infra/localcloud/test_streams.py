"""DynamoDB stream records reach their functions as Lambda's poller delivers them: after the
write, in order, filtered by the mapping's criteria, never for a write that was rolled back,
and retried from the first record a function reports as failed."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from infra.localcloud.runtime import Invocation
from infra.localcloud.streams import StreamPoller, _Batch, matches, passes_filters
from tests.support.polling import eventually

AUDITS_ONLY = {"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": [
    {"prefix": "AUDIT#"}]}}}}


def record(event_name: str, sk: str) -> dict[str, Any]:
    return {"eventName": event_name, "dynamodb": {"Keys": {"pk": {"S": "APP#1"},
                                                           "sk": {"S": sk}}}}


def test_the_templates_filter_lets_only_new_audit_records_through() -> None:
    assert matches(AUDITS_ONLY, record("INSERT", "AUDIT#2026-11-23T02:00:00#ab"))
    assert not matches(AUDITS_ONLY, record("MODIFY", "AUDIT#2026-11-23T02:00:00#ab"))
    assert not matches(AUDITS_ONLY, record("INSERT", "META"))
    criteria = {"Filters": [{"Pattern": json.dumps(AUDITS_ONLY)}]}
    assert passes_filters(criteria, record("INSERT", "AUDIT#x"))
    assert passes_filters(None, record("REMOVE", "META"))  # no filters: everything


def test_an_unknown_filter_rule_is_refused_not_ignored() -> None:
    with pytest.raises(NotImplementedError):
        matches({"eventName": [{"anything-but": ["REMOVE"]}]}, record("INSERT", "META"))


def test_a_reported_failure_checkpoints_before_the_first_failed_record() -> None:
    mapping = SimpleNamespace(function_response_types=["ReportBatchItemFailures"])
    batch = _Batch(first=100, after=105)
    partial = Invocation(json.dumps({"batchItemFailures": [{"itemIdentifier": "103"},
                                                           {"itemIdentifier": "102"}]}).encode())
    assert StreamPoller._first_failure(mapping, batch, partial) == 102
    assert StreamPoller._first_failure(mapping, batch, Invocation(b'{"batchItemFailures":[]}')) \
        is None
    assert StreamPoller._first_failure(mapping, batch, Invocation(b"{}", "Boom")) == 100
    without = SimpleNamespace(function_response_types=None)
    assert StreamPoller._first_failure(without, batch, partial) is None


def test_stream_records_reach_the_mapped_function_in_order(cloud: Any) -> None:
    from infra.localcloud.packaging import upload_code
    from infra.localcloud.server import REPO_ROOT

    ddb, s3, lambda_ = cloud.client("dynamodb"), cloud.client("s3"), cloud.client("lambda")
    suffix = uuid.uuid4().hex[:8]
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk",
                                                          "KeyType": "RANGE"}]
    attributes = [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")]
    source = ddb.create_table(TableName=f"source-{suffix}", KeySchema=keys,
                              AttributeDefinitions=attributes, BillingMode="PAY_PER_REQUEST",
                              StreamSpecification={"StreamEnabled": True,
                                                   "StreamViewType": "NEW_IMAGE"})
    seen = f"seen-{suffix}"
    ddb.create_table(TableName=seen, KeySchema=keys, AttributeDefinitions=attributes,
                     BillingMode="PAY_PER_REQUEST")
    code = upload_code(REPO_ROOT / "tests/infra/localcloud/fixtures/record_event",
                       lambda k, b: s3.put_object(Bucket="yiwang-deployment", Key=k, Body=b))
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = cloud.client("iam").create_role(RoleName=f"stream-{suffix}",
                                           AssumeRolePolicyDocument=json.dumps(trust))
    function = lambda_.create_function(
        FunctionName=f"stream-{suffix}", Runtime="python3.12", Role=role["Role"]["Arn"],
        Handler="app.handler", Code={"S3Bucket": "yiwang-deployment", "S3Key": code},
        Environment={"Variables": {"TABLE_NAME": seen}})
    lambda_.create_event_source_mapping(
        EventSourceArn=source["TableDescription"]["LatestStreamArn"],
        FunctionName=function["FunctionArn"], StartingPosition="TRIM_HORIZON", BatchSize=10,
        FilterCriteria={"Filters": [{"Pattern": json.dumps(AUDITS_ONLY)}]})

    table = f"source-{suffix}"
    for n in range(3):
        ddb.put_item(TableName=table, Item={"pk": {"S": "APP#1"}, "sk": {"S": f"AUDIT#{n}"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "APP#1"}, "sk": {"S": "META"}})
    ddb.update_item(TableName=table, Key={"pk": {"S": "APP#1"}, "sk": {"S": "AUDIT#0"}},
                    UpdateExpression="SET seen = :yes", ExpressionAttributeValues={
                        ":yes": {"BOOL": True}})  # a MODIFY: filtered out
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "APP#1"},
                                                  "sk": {"S": "AUDIT#rolled-back"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "APP#1"}, "sk": {"S": "META"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}}])
    ddb.put_item(TableName=table, Item={"pk": {"S": "APP#1"}, "sk": {"S": "AUDIT#3"}})

    def delivered() -> list[str]:
        items = ddb.query(TableName=seen, KeyConditionExpression="pk = :pk",
                          ExpressionAttributeValues={":pk": {"S": "TEST#events"}})["Items"]
        events = [json.loads(i["event"]["S"]) for i in items]
        records = sorted((r for e in events for r in e["Records"]),
                         key=lambda r: int(r["dynamodb"]["SequenceNumber"]))
        return [r["dynamodb"]["NewImage"]["sk"]["S"] for r in records]

    assert eventually(lambda: len(delivered()) >= 4)
    time.sleep(0.5)  # nothing else comes
    assert delivered() == ["AUDIT#0", "AUDIT#1", "AUDIT#2", "AUDIT#3"]
