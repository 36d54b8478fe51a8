"""moto's server, in a process of ours, made to run the template for real.

Three things moto does not do out of the box, done here once at start:
- Step Functions execute definitions (moto's ASL interpreter, the one LocalStack uses);
  CloudFormation is made to create state machines in that same backend, and the
  interpreter's service calls are sent back to this server (`MOTO_PORT`);
- Lambda Invoke, from either of moto's Lambda backends, reaches `LocalRuntime` instead of
  Docker (or the "simple" backend that echoes the input);
- asynchronous invocations (`InvocationType=Event`) return at once and run in a thread;
  S3 notifications invoke their functions that way, once per new object, as S3 does;
- metrics: the EMF documents functions print, and Lambda's own AWS/Lambda metrics, are
  recorded in CloudWatch (`record_metrics`), as CloudWatch Logs and Lambda do on AWS;
- DynamoDB stream records reach the functions mapped to the stream after the write, in
  order and in batches, as Lambda's stream poller delivers them (`streams.py`);
- KMS signs a digest as a digest (`MessageType=DIGEST`, `kms.py`).

Each patch goes through `patches.replace`: applied once per process, listed, and checked
against moto's signatures by tests/infra/localcloud/test_patches.py.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import socket
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.localcloud.emf import MetricData
from infra.localcloud.gateway import answer_as_the_gateway_does
from infra.localcloud.heat import record_partition_heat
from infra.localcloud.indexes import query_indexes_by_their_keys
from infra.localcloud.kms import sign_digests_as_kms_does
from infra.localcloud.patches import replace
from infra.localcloud.queues import serialise_queue_operations
from infra.localcloud.runtime import (
    FunctionSpec,
    LocalRuntime,
    keep_environment_under_chalice_test_client,
)
from infra.localcloud.simulators import Simulators
from infra.localcloud.streams import StreamPoller, keep_stream_records

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_PREFIX = "source/"


class PortTakenError(RuntimeError):
    """The port the local cloud should listen on is in use."""


def ensure_port_free(host: str, port: int) -> None:
    """Refuse clearly, before starting anything, when another process holds the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortTakenError(
                f"{host}:{port} is already in use (another local cloud, LocalStack or moto?). "
                f"Stop it, or choose another port (make run PORT=... API_PORT=..., or --port)."
            ) from error


def source_dir_for_key(key: str) -> Path:
    """The repository folder a packaged zip was made from (`source/<folder>/<sha>.zip`)."""
    if not key.startswith(SOURCE_PREFIX):
        raise LookupError(f"code at '{key}' was not packaged from a folder of this repository")
    folder = REPO_ROOT / key[len(SOURCE_PREFIX) :].rsplit("/", 1)[0]
    if not folder.is_dir():
        raise LookupError(f"code at '{key}' names the folder {folder}, which does not exist")
    return folder


def function_spec(fn: Any) -> FunctionSpec:
    """Describe a moto `LambdaFunction` for the runtime."""
    from moto.awslambda.utils import get_backend

    backend = get_backend(fn.account_id, fn.region)
    layer_dirs = tuple(
        source_dir_for_key(backend.layers_versions_by_arn(layer["Arn"]).content["S3Key"])
        for layer in fn.layers
    )
    return FunctionSpec(
        name=fn.function_name,
        arn=fn.function_arn,
        handler=fn.handler,
        code_dir=source_dir_for_key(fn.code.get("S3Key", "")),
        layer_dirs=layer_dirs,
        environment=dict(fn.environment_vars or {}),
        timeout_seconds=float(fn.timeout or 3),
        memory_mb=int(fn.memory_size or 128),
        region=fn.region,
    )


_CURRENT: dict[str, Any] = {}
"""What the patches reach that belongs to the cloud started last in this process (its
runtime, its endpoint): patched once, they follow a second cloud started after the first."""


def route_lambda_to(runtime: LocalRuntime) -> None:
    """Make every Lambda invocation in moto run through `runtime`."""
    from moto.awslambda.models import LambdaBackend, LambdaFunction
    from moto.awslambda_simple.models import LambdaSimpleBackend

    _CURRENT["runtime"] = runtime

    def invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        runtime: LocalRuntime = _CURRENT["runtime"]
        event = json.loads(body) if body else {}
        if request_headers.get("x-amz-invocation-type") == "Event":
            spec = function_spec(fn)
            threading.Thread(target=runtime.invoke, args=(spec, event), daemon=True).start()
            return b""
        try:
            spec = function_spec(fn)
        except LookupError as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(error)}
            ).encode()
        result = runtime.invoke(spec, event)
        if result.failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        # LogType=Tail: the last 4 KB of the invocation's log, as Lambda answers (moto drops
        # the header when the caller did not ask for it).
        response_headers["x-amz-log-result"] = base64.b64encode(
            result.log.encode()[-4096:]).decode()
        return result.payload

    replace(LambdaFunction, "invoke", lambda original: invoke)
    # The "simple" backend echoes the input without calling the function; use the real path.
    replace(LambdaSimpleBackend, "invoke", lambda original: LambdaBackend.invoke)


def keep_function_layers() -> None:
    """Make moto's CloudFormation keep what AWS keeps for functions and layers.

    A layer's `Ref` is its version ARN, and a function created by a stack gets its `Layers`
    (moto drops both).
    """
    from moto.awslambda.models import LambdaFunction, LayerVersion
    from moto.awslambda.utils import get_backend

    replace(LayerVersion, "physical_resource_id", lambda _: property(lambda layer: layer.arn),
            adds=True)

    def create_with_layers(create: Any, cls: Any, resource_name: str, cloudformation_json: Any,
                           account_id: str, region_name: str, **kwargs: Any) -> Any:
        fn = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        layers = cloudformation_json["Properties"].get("Layers")
        if layers:
            backend = get_backend(account_id, region_name)
            backend.update_function_configuration(fn.function_name, None, {"Layers": layers})
        return fn

    replace(LambdaFunction, "create_from_cloudformation_json",
            lambda original: classmethod(functools.partial(create_with_layers,
                                                           original.__func__)))


def bucket_config_calls(bucket: str, props: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The S3 API calls that give a bucket the configuration its template properties declare."""
    calls: list[tuple[str, dict[str, Any]]] = []
    if "CorsConfiguration" in props:
        rules = [{"AllowedMethods": r["AllowedMethods"], "AllowedOrigins": r["AllowedOrigins"],
                  "AllowedHeaders": r.get("AllowedHeaders", []),
                  "ExposeHeaders": r.get("ExposedHeaders", []),
                  **({"MaxAgeSeconds": int(r["MaxAge"])} if "MaxAge" in r else {})}
                 for r in props["CorsConfiguration"]["CorsRules"]]
        calls.append(("put_bucket_cors", {"CORSConfiguration": {"CORSRules": rules}}))
    if "PublicAccessBlockConfiguration" in props:
        calls.append(("put_public_access_block", {
            "PublicAccessBlockConfiguration": props["PublicAccessBlockConfiguration"]}))
    if "VersioningConfiguration" in props:
        calls.append(("put_bucket_versioning", {
            "VersioningConfiguration": {"Status": props["VersioningConfiguration"]["Status"]}}))
    if "LifecycleConfiguration" in props:
        rules = []
        for rule in props["LifecycleConfiguration"]["Rules"]:
            api_rule: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"],
                                        "Filter": {"Prefix": rule.get("Prefix", "")}}
            if "AbortIncompleteMultipartUpload" in rule:
                api_rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(
                    rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
            if "NoncurrentVersionExpiration" in rule:
                api_rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(
                    rule["NoncurrentVersionExpiration"]["NoncurrentDays"])}
            if "ExpirationInDays" in rule:
                api_rule["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
            rules.append(api_rule)
        calls.append(("put_bucket_lifecycle_configuration",
                      {"LifecycleConfiguration": {"Rules": rules}}))
    if "NotificationConfiguration" in props:
        calls.append(("put_bucket_notification_configuration", {
            "NotificationConfiguration": _notification(props["NotificationConfiguration"])}))
    return [(name, {"Bucket": bucket, **arguments}) for name, arguments in calls]


def _notification(cfn: dict[str, Any]) -> dict[str, Any]:
    def filters(entry: dict[str, Any]) -> dict[str, Any]:
        rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        return {"Filter": {"Key": {"FilterRules": rules}}} if rules else {}

    return {
        "LambdaFunctionConfigurations": [
            {"LambdaFunctionArn": c["Function"], "Events": [c["Event"]], **filters(c)}
            for c in cfn.get("LambdaConfigurations", [])],
        "QueueConfigurations": [
            {"QueueArn": c["Queue"], "Events": [c["Event"]], **filters(c)}
            for c in cfn.get("QueueConfigurations", [])],
        "TopicConfigurations": [
            {"TopicArn": c["Topic"], "Events": [c["Event"]], **filters(c)}
            for c in cfn.get("TopicConfigurations", [])],
    }


def configure_stack_buckets(endpoint: str) -> None:
    """Make moto's CloudFormation apply a bucket's CORS, public access block, versioning,
    lifecycle and notifications (it applies only encryption and tags)."""
    import boto3
    from moto.s3.models import FakeBucket

    _CURRENT["endpoint"] = endpoint

    def create_configured(create: Any, cls: Any, resource_name: str, cloudformation_json: Any,
                          account_id: str, region_name: str, **kwargs: Any) -> Any:
        bucket = create(cls, resource_name, cloudformation_json, account_id, region_name,
                        **kwargs)
        s3 = boto3.client("s3", endpoint_url=_CURRENT["endpoint"], region_name=region_name,
                          aws_access_key_id="test", aws_secret_access_key="test")
        for name, arguments in bucket_config_calls(bucket.name,
                                                   cloudformation_json.get("Properties", {})):
            getattr(s3, name)(**arguments)
        return bucket

    replace(FakeBucket, "create_from_cloudformation_json",
            lambda original: classmethod(functools.partial(create_configured,
                                                           original.__func__)))


TABLE_WRITES = threading.RLock()
"""Held by every DynamoDB write (and by the stream poller while it reads a shard)."""


def serialise_table_writes() -> None:
    """Run moto's DynamoDB writes one at a time, as DynamoDB's own item-level atomicity would.

    moto applies concurrent writes without a lock, and a cancelled transaction restores what
    it changed; one lock makes the local table keep every effect under concurrent requests,
    as AWS does. Transactions take it in `cancel_transactions_in_place`.
    """
    from moto.dynamodb.models import DynamoDBBackend

    for name in ("put_item", "update_item", "delete_item", "batch_write_item"):
        replace(DynamoDBBackend, name, _locked)
    cancel_transactions_in_place()


def cancel_transactions_in_place() -> None:
    """Make a cancelled TransactWriteItems put back only the items it names (and drop the
    stream records it added), in the same table object, under the table-writes lock.

    moto deep-copies every named table before each transaction and swaps the copy in when it
    is cancelled: the cost grows with the table, not the transaction (most of the cloud's CPU
    in a busy suite), and readers holding the table (the stream poller) would keep the old
    one. `yiwang_localstack.transactions` does the same steps with a snapshot of the named
    items; the LocalStack DynamoDB provider uses it too.
    """
    from moto.dynamodb.models import DynamoDBBackend

    from infra.localstack_plugins.yiwang_localstack import transactions

    def in_place(original: Any) -> Any:
        @functools.wraps(original)
        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            with TABLE_WRITES:
                transactions.transact_write_items(self, transact_items)

        return transact_write_items

    replace(DynamoDBBackend, "transact_write_items", in_place)


def _locked(write: Any) -> Any:
    @functools.wraps(write)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with TABLE_WRITES:
            return write(self, *args, **kwargs)

    return locked


def create_keys_as_declared() -> None:
    """Make moto's CloudFormation create each key with the template's KeySpec and KeyUsage
    (moto makes every AWS::KMS::Key a symmetric encryption key, which cannot sign)."""
    from moto.kms.models import Key, kms_backends

    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
               region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        policy = properties.get("KeyPolicy")
        key = kms_backends[account_id][region_name].create_key(
            policy=json.dumps(policy) if isinstance(policy, dict) else policy,
            key_usage=properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
            key_spec=properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
            description=properties.get("Description"), tags=properties.get("Tags", []))
        key.key_rotation_status = properties.get("EnableKeyRotation", False)
        key.enabled = properties.get("Enabled", True)
        return key

    replace(Key, "create_from_cloudformation_json", lambda original: classmethod(create))


def notify_as_s3_does() -> None:
    """Deliver S3 event notifications to functions as S3 does.

    S3 invokes a function asynchronously (the S3 request never waits for it; moto calls it
    synchronously, inside the request), and announces a completed multipart upload once, as
    `ObjectCreated:CompleteMultipartUpload` (moto also sends an `ObjectCreated:Put`).
    """
    from moto.awslambda.utils import get_backend
    from moto.s3 import notifications

    def sending_once(send_event: Any) -> Any:
        def send_once(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
            if (event_name == notifications.S3NotificationEvent.OBJECT_CREATED_PUT_EVENT
                    and getattr(key, "multipart", None) is not None):
                return
            send_event(account_id, event_name, bucket, key)

        return send_once

    def invoke_asynchronously(account_id: str, event_body: Any, fn_arn: str,
                              region_name: str) -> None:
        try:
            fn = get_backend(account_id, region_name).get_function(fn_arn)
        except Exception:  # as in S3: a missing function never fails the upload
            return
        fn.invoke(json.dumps(event_body), {"x-amz-invocation-type": "Event"}, {})

    replace(notifications, "send_event", sending_once)
    replace(notifications, "_invoke_awslambda", lambda original: invoke_asynchronously)


def execute_state_machines(port: int) -> None:
    """Run Step Functions definitions, including those CloudFormation creates."""
    from moto.core.config import default_user_config
    from moto.stepfunctions import models as sfn_models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    replace(sfn_models, "stepfunctions_backends", lambda original: stepfunctions_parser_backends)
    # The interpreter calls DynamoDB, Lambda, SNS... through boto3 at localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)


def record_metrics(namespace: str, data: MetricData, account_id: str | None = None,
                   region: str = "us-east-1") -> None:
    """Store PutMetricData entries in moto's CloudWatch, in process.

    Not through the API: on AWS, EMF lines and Lambda's metrics cost no call, so the local
    cloud must not add one either (the bench counts calls).
    """
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    # moto keeps naive UTC timestamps and compares queries against them.
    entries = [{**entry, "Timestamp": entry["Timestamp"].astimezone(UTC).replace(tzinfo=None)}
               if entry.get("Timestamp") else entry for entry in data]
    cloudwatch_backends[account_id or DEFAULT_ACCOUNT_ID][region].put_metric_data(namespace,
                                                                                   entries)


def function_metrics(spec: FunctionSpec, namespace: str, data: MetricData) -> None:
    """`record_metrics` in the account and region of the function that emitted them."""
    record_metrics(namespace, data, spec.arn.split(":")[4], spec.region)


_EXECUTION_METRICS = {"SUCCEEDED": "ExecutionsSucceeded", "FAILED": "ExecutionsFailed",
                      "ABORTED": "ExecutionsAborted", "TIMED_OUT": "ExecutionsTimedOut"}


def report_execution_outcomes() -> None:
    """Make each finished execution count in AWS/States, per state machine, as Step Functions
    does (the dashboard's failures widget and LifecycleFailuresAlarm read ExecutionsFailed)."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    def reflect_and_report(reflect: Any, self: Any) -> None:
        reflect(self)
        execution = self.execution
        name = _EXECUTION_METRICS.get(str(getattr(execution.exec_status, "value",
                                                  execution.exec_status)))
        if name:
            record_metrics("AWS/States", [{
                "MetricName": name, "Values": [1.0], "Unit": "Count",
                "Timestamp": datetime.now(UTC),
                "Dimensions": [{"Name": "StateMachineArn",
                                "Value": execution.state_machine_arn}]}],
                execution.account_id, execution.region_name)

    replace(BaseExecutionWorkerCommunication, "_reflect_execution_status",
            lambda original: functools.wraps(original)(
                lambda self: reflect_and_report(original, self)))


_PROCESS_CLIENTS = (("yiwang.platform.clients", "client"), ("chalicelib.aws", "aws"))
"""The AWS clients the layer and the API keep for the life of their process."""


def forget_process_clients() -> None:
    """Drop the clients the functions keep for the life of the process (`_PROCESS_CLIENTS`).

    On AWS a process serves one stack for its whole life; this process hosts the functions of
    the cloud it starts, and may start a second one (`make bench` starts two) on another port,
    whose functions must not reach the first through a kept client.
    """
    for module_name, function in _PROCESS_CLIENTS:
        module = sys.modules.get(module_name)
        if module is not None:
            getattr(module, function).cache_clear()


def forget_table_connections() -> None:
    """Drop the DynamoDB connection every pynamodb model keeps for the life of the process.

    pynamodb makes a model's connection (and its botocore client, bound to the endpoint of the
    moment) once, and makes a new one only when the table's name changes; a cloud started
    after another in the same process deploys a table of the same name on another port, so
    the kept connections would still call the stopped cloud.
    """
    from pynamodb.models import Model

    pending: list[type] = [Model]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if vars(model).get("_connection") is not None:
            model._connection = None  # type: ignore[attr-defined]


def forget_cloud_state() -> None:
    """Empty moto's in-memory backends (every service, every account and region).

    They belong to the process, not to a server: without this a cloud started after another
    in the same process would find the first one's stack, tables, items and executions.
    """
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


_SERVING: list[LocalCloud] = []
"""The local cloud serving in this process, if any (moto's backends allow one at a time)."""
_SERVED = False
"""Whether a local cloud has served in this process before (its state is still in moto)."""


class LocalCloud:
    """The moto server with the runtime wired in, and the providers' simulators beside it
(`simulators`, their callbacks to the API at `api`); `start()` returns once all listen.

    One at a time per process: moto's backends, its patched classes and `MOTO_PORT` are the
    process's. Another may start after `stop()`, and finds a cloud as fresh as the first.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 4566,
                 api: str = "http://127.0.0.1:8000") -> None:
        self.host = host
        self.port = port
        self.simulators = Simulators(host, api)
        self.runtime = LocalRuntime(endpoint=self.endpoint, metrics=function_metrics)
        self._server: Any = None
        # DynamoDB stream records reach their functions as Lambda's poller delivers them.
        self.streams = StreamPoller(lambda fn, event: self.runtime.invoke(function_spec(fn),
                                                                          event),
                                    TABLE_WRITES, self.endpoint)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        global _SERVED
        if _SERVING:
            raise RuntimeError(f"a local cloud already serves in this process, at "
                               f"{_SERVING[0].endpoint}; stop it first")
        ensure_port_free(self.host, self.port)
        if _SERVED:
            forget_cloud_state()
        forget_table_connections()
        # Functions share this process's botocore with moto's ASL interpreter; X-Ray's boto
        # patching would wrap the interpreter's calls too, and there is no X-Ray here to send
        # segments to. Tracing stays on in the template for AWS.
        os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
        os.environ["AWS_XRAY_SDK_ENABLED"] = "false"
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        # Each patch wraps moto's methods once per process (`patches.replace`); the calls that
        # name this cloud (its port, endpoint and runtime) set them for every cloud.
        report_execution_outcomes()
        keep_function_layers()
        create_keys_as_declared()
        serialise_table_writes()
        query_indexes_by_their_keys()
        record_partition_heat(TABLE_WRITES)
        serialise_queue_operations()
        notify_as_s3_does()
        keep_stream_records()
        sign_digests_as_kms_does()
        keep_environment_under_chalice_test_client()
        answer_as_the_gateway_does()
        execute_state_machines(self.port)
        configure_stack_buckets(self.endpoint)
        route_lambda_to(self.runtime)
        forget_process_clients()
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        _SERVING.append(self)
        _SERVED = True
        self.streams.start()
        self.simulators.start()

    def stop(self) -> None:
        self.simulators.stop()
        self.streams.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self in _SERVING:
            _SERVING.remove(self)
