"""The cost of one construction-permit application (建设工程规划许可证), measured on the local
cloud and priced at AWS list prices (us-east-1, on-demand), and the sequential AWS calls each
API request makes.

Counted while the whole lifecycle runs (draft, five uploads, submit, acceptance, three parallel
reviews, fee, certificate, courier delivery, and the notices each step sends the applicant):
Step Functions state transitions (from the execution history), Lambda invocations and their
duration at the template's memory, DynamoDB requests with their consumed capacity (every call
asks for `ReturnConsumedCapacity`), S3 requests by class. API requests are counted per request
on the API's own thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import botocore.client
import requests

# AWS list prices, us-east-1 (USD).
STATE_TRANSITION = 0.025 / 1000
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_GB_SECOND = 0.0000166667
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000
DYNAMODB_READ_UNIT = 0.125 / 1_000_000
S3_PUT_CLASS = 0.005 / 1000
S3_GET_CLASS = 0.0004 / 1000
_S3_PUT = {"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
           "CopyObject", "ListObjectsV2"}
_CAPACITY_OPERATIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query",
                        "TransactWriteItems", "TransactGetItems", "BatchGetItem",
                        "BatchWriteItem"}


class Meter:
    """Counts every AWS call made in this process (API, functions, the ASL interpreter)."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.read_units = 0.0
        self.write_units = 0.0
        self.by_thread: dict[int, int] = defaultdict(int)
        self._original = botocore.client.BaseClient._make_api_call
        self._lock = threading.Lock()
        self._quiet = threading.local()

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Calls made on this thread meanwhile are not counted (a bench's own status polls,
        which a portal would make as often as it likes)."""
        self._quiet.on = True
        try:
            yield
        finally:
            self._quiet.on = False

    def __enter__(self) -> Meter:
        meter = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if getattr(meter._quiet, "on", False):
                return meter._original(client, operation, params)
            service = client.meta.service_model.service_name
            if service == "dynamodb" and operation in _CAPACITY_OPERATIONS:
                params = {**params, "ReturnConsumedCapacity": "TOTAL"}
            answer = meter._original(client, operation, params)
            with meter._lock:
                meter.calls[(service, operation)] += 1
                meter.by_thread[threading.get_ident()] += 1
                consumed = answer.get("ConsumedCapacity") if isinstance(answer, dict) else None
                for entry in consumed if isinstance(consumed, list) else [consumed] * bool(
                        consumed):
                    units = float(entry.get("CapacityUnits", 0))
                    if operation in {"GetItem", "Query", "BatchGetItem", "TransactGetItems"}:
                        meter.read_units += units
                    else:
                        meter.write_units += units
            return answer

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: Any) -> None:
        botocore.client.BaseClient._make_api_call = self._original  # type: ignore[method-assign]

    def on_this_thread(self) -> int:
        return self.by_thread[threading.get_ident()]


def run(cloud: Any, http: Any, tokens: dict[str, dict[str, str]], meter: Meter) -> dict[str, Any]:
    """Play one application through; return what it cost, with per-request call counts."""
    from infra.providers import courier, payment

    per_request: dict[str, list[int]] = defaultdict(list)
    api_seconds: list[float] = []

    def call(method: str, path: str, who: str | None, body: Any = None,
             headers: dict[str, str] | None = None, route: str | None = None) -> Any:
        before = meter.on_this_thread()
        all_headers = {**(tokens[who] if who else {}), **(headers or {})}
        payload = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        began = time.perf_counter()
        answer = getattr(http, method)(path, headers=all_headers, body=payload)
        api_seconds.append(time.perf_counter() - began)
        per_request[route or path].append(meter.on_this_thread() - before)
        assert answer.status_code < 300, (path, answer.status_code, answer.body)
        return json.loads(answer.body) if answer.body else None

    from infra.demo import APPLICATION, MATERIALS

    # As the portal sends it (openapi.yaml): the key's receipt is part of what the request costs.
    draft = call("post", "/applications", "citizen", APPLICATION,
                 {"Idempotency-Key": f"bench-{time.time_ns()}"}, route="POST /applications")
    app_id = draft["id"]
    for material in MATERIALS:
        content = b"%PDF-1.7\n" + material.encode() * 500
        plan = call("post", f"/applications/{app_id}/attachments", "citizen", {
            "materialId": material, "fileName": f"{material}.pdf",
            "contentType": "application/pdf", "sizeBytes": len(content),
            "sha256": hashlib.sha256(content).hexdigest()}, route="POST attachments")
        put = requests.put(plan["parts"][0]["url"], data=content,
                           headers={"Content-Type": "application/pdf"}, timeout=30)
        meter.calls[("s3", "PutObject")] += 1  # the browser's presigned PUT
        call("post", f"/applications/{app_id}/attachments/{plan['attachmentId']}/complete",
             "citizen", {"parts": [{"partNumber": 1, "etag": put.headers["ETag"]}]},
             route="POST attachments/complete")
    call("post", f"/applications/{app_id}/submit", "citizen", route="POST submit")

    def decide(who: str, decision: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            queue = call("get", "/tasks?status=PENDING", who, route="GET /tasks")["tasks"]
            mine = [t for t in queue if t["applicationId"] == app_id]
            if mine:
                call("post", f"/tasks/{mine[0]['taskId']}/decision", who,
                     {"decision": decision, "opinion": "同意"}, route="POST decision")
                return
            time.sleep(0.2)
        raise RuntimeError(f"no task for {who}")

    def view() -> dict[str, Any]:
        return call("get", f"/applications/{app_id}", "citizen",
                    route="GET /applications/{id}")

    def until(status: str) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while (current := view())["status"] != status:
            if time.monotonic() > deadline:
                raise RuntimeError(f"stuck at {current['status']}, waiting for {status}")
            time.sleep(0.3)
        return current

    decide("window", "ACCEPT")
    for department in ("GZ-ZRZY", "GZ-ZJ", "GZ-XF"):
        decide(department, "APPROVE")
    order = until("AWAITING_PAYMENT")["pending"]["payment"]
    body, headers = payment.callback(order["orderId"], order["amountFen"],
                                     secret=payment.LOCAL_SECRET)
    call("post", "/webhooks/payment", None, body, headers, route="POST /webhooks/payment")
    waybill = until("DISPATCHED")["delivery"]["waybillNo"]
    now = datetime.now(UTC)
    for event, hours in (("PICKED_UP", 3), ("IN_TRANSIT", 2), ("DELIVERED", 1)):
        body, headers = courier.callback(waybill, event, (now - timedelta(hours=hours))
                                         .isoformat(timespec="seconds"),
                                         secret=courier.LOCAL_SECRET)
        call("post", "/webhooks/courier", None, body, headers, route="POST /webhooks/courier")
    until("COMPLETED")
    number = view()["certificate"]["number"]
    envelope = call("get", f"/certificates/{number}", "citizen", route="GET /certificates")
    call("post", "/certificates/verify", None, envelope,
         {"Content-Type": "application/json"}, route="POST /certificates/verify")
    notices = _told(call, app_id)
    sfn = cloud.client("stepfunctions")
    arn = cloud.outputs["LifecycleStateMachineArn"].replace(":stateMachine:", ":execution:")
    history = sfn.get_execution_history(executionArn=f"{arn}:{app_id}",
                                        maxResults=1000)["events"]
    transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
    return {"applicationId": app_id, "transitions": transitions, "perRequest": per_request,
            "notices": notices, "apiSeconds": api_seconds}


def _told(call: Any, app_id: str) -> int:
    """Wait until the applicant's notices of every step are filed (the stream's notices
    function works a moment after each step), so their cost is in the count; how many."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = call("get", "/me/notices?limit=100", "citizen", route="GET /me/notices")
        mine = [n for n in page["notices"] if n["applicationId"] == app_id]
        if any(n["kind"] == "APPLICATION_DELIVERED" for n in mine):
            return len(mine)
        time.sleep(0.3)
    raise RuntimeError("the applicant's notices were not filed")


def profile(result: dict[str, Any], meter: Meter, billed: list[tuple[str, int, float]]
            ) -> dict[str, Any]:
    """One application's measured counts, as the capacity model (`bench.capacity`) reads
    them: AWS calls by service and API, API requests, state transitions, Lambda invocations
    and GB-seconds, DynamoDB capacity units."""
    gb_seconds = sum(memory / 1024 * max(seconds, 0.001) for _, memory, seconds in billed)
    calls: dict[str, dict[str, int]] = defaultdict(dict)
    for (service, operation), n in sorted(meter.calls.items()):
        if (service, operation) != ("stepfunctions", "GetExecutionHistory"):  # the bench's own
            calls[service][operation] = n
    return {
        "measured": datetime.now(UTC).date().isoformat(),
        "application": "construction permit: 3 departments, fee, courier delivery",
        "apiRequests": len(result["apiSeconds"]),
        "apiSeconds": round(sum(result["apiSeconds"]), 3),
        "transitions": result["transitions"],
        "lambdaInvocations": len(billed),
        "lambdaGbSeconds": round(gb_seconds, 3),
        "lambdaSeconds": round(sum(max(seconds, 0.001) for _, _, seconds in billed), 3),
        "readUnits": round(meter.read_units, 1),
        "writeUnits": round(meter.write_units, 1),
        "calls": calls,
    }


def price(result: dict[str, Any], meter: Meter, billed: list[tuple[str, int, float]]) -> None:
    """Print the counts and the cost per 1,000 applications."""
    s3_put = sum(n for (service, op), n in meter.calls.items()
                 if service == "s3" and op in _S3_PUT)
    s3_get = sum(n for (service, op), n in meter.calls.items()
                 if service == "s3" and op not in _S3_PUT)
    dynamodb_requests = sum(n for (service, _), n in meter.calls.items() if service == "dynamodb")
    gb_seconds = sum(memory / 1024 * max(seconds, 0.001) for _, memory, seconds in billed)
    costs = {
        "Step Functions": result["transitions"] * STATE_TRANSITION,
        "Lambda": len(billed) * LAMBDA_REQUEST + gb_seconds * LAMBDA_GB_SECOND,
        "DynamoDB": meter.read_units * DYNAMODB_READ_UNIT + meter.write_units * DYNAMODB_WRITE_UNIT,
        "S3": s3_put * S3_PUT_CLASS + s3_get * S3_GET_CLASS,
    }
    print("\none construction-permit application, end to end (3 departments, fee, courier)")
    print(f"  state transitions        {result['transitions']}")
    print(f"  Lambda invocations       {len(billed)}  ({gb_seconds:.2f} GB-s at template memory,"
          f" local timing)")
    print(f"  DynamoDB requests        {dynamodb_requests}  (read units {meter.read_units:.1f}, "
          f"write units {meter.write_units:.1f})")
    print(f"  S3 requests              {s3_put} PUT-class, {s3_get} GET-class")
    print(f"  notices to the applicant {result['notices']} in the inbox (SMS queued beside them;"
          f" the SMS provider's fees are not AWS's)")
    print("  USD per 1,000 applications:")
    for part, cost in costs.items():
        print(f"    {part:22} {cost * 1000:8.4f}")
    print(f"    {'total':22} {sum(costs.values()) * 1000:8.4f}")
    print("\nsequential AWS calls per API request (target <= 3 for portal requests)")
    for route, counts in sorted(result["perRequest"].items()):
        # Webhooks are the providers' calls, not the portal's: shown, not held to the target.
        flag = "" if max(counts) <= 3 else (
            "  (provider callback)" if route.startswith("POST /webhooks/") else "  OVER TARGET")
        print(f"  {route:34} max {max(counts):2}  (over {len(counts)} requests){flag}")


@contextlib.contextmanager
def local_stack(callers: dict[str, dict[str, str]]) -> Iterator[tuple[Any, Any, Any, dict]]:
    """A local cloud started in this process, deployed and seeded, with the API's test client:
    (cloud, http, server, tokens), `tokens` holding each of `callers` signed in (name → claims
    with their role)."""
    import importlib
    import socket
    import tempfile
    import warnings
    from pathlib import Path

    from chalice.test import Client

    from infra.localcloud import deploy
    from infra.localcloud.seed import seed
    from infra.localcloud.server import LocalCloud

    warnings.filterwarnings("ignore")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "yiwang")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Yiwang")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = LocalCloud(port=port)
    server.start()
    outputs_dir = Path(tempfile.mkdtemp(prefix="yiwang-bench-"))
    outputs = deploy.deploy(server.endpoint, simulators=server.simulators.urls,
                            outputs_dir=outputs_dir, progress=lambda _: None)
    env = {**deploy.environment(deploy.read_outputs(outputs_dir), outputs_dir), "STAGE": "local"}
    try:
        with mock.patch.dict(os.environ, env):
            seed({**outputs, "Endpoint": server.endpoint}, progress=lambda _: None)
            from yiwang.platform.config import settings

            settings.cache_clear()
            api = importlib.import_module("app")

            class Cloud:
                def __init__(self) -> None:
                    self.outputs = outputs

                def client(self, service: str) -> Any:
                    return deploy.client(service, server.endpoint)

            with Client(api.app) as client:
                tokens = {}
                for who, claims in callers.items():
                    answer = client.http.post("/dev/token", headers={
                        "Content-Type": "application/json"}, body=json.dumps(
                        {"sub": who, **claims}))
                    tokens[who] = {
                        "Authorization": f"Bearer {json.loads(answer.body)['token']}",
                        "Content-Type": "application/json"}
                yield Cloud(), client.http, server, tokens
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Start a local cloud in this process, seed it, and measure one application;
    `--profile PATH` also writes its counts for the capacity model (`make scale`)."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m bench lifecycle")
    parser.add_argument("--profile", type=Path, help="write the measured counts here (JSON)")
    args = parser.parse_args(argv or [])
    callers = {"citizen": {"role": "applicant", "idNumber": "11010519491231002X"},
               "window": {"role": "window"},
               "GZ-ZRZY": {"role": "reviewer", "dept": "GZ-ZRZY"},
               "GZ-ZJ": {"role": "reviewer", "dept": "GZ-ZJ"},
               "GZ-XF": {"role": "reviewer", "dept": "GZ-XF"}}
    with local_stack(callers) as (cloud, http, server, tokens):
        before = len(server.runtime.billed)
        with Meter() as meter:
            result = run(cloud, http, tokens, meter)
        billed = server.runtime.billed[before:]
        price(result, meter, billed)
        if args.profile:
            measured = profile(result, meter, billed)
            args.profile.write_text(json.dumps(measured, indent=1) + "\n", encoding="utf-8")
            print(f"\nprofile written to {args.profile}")
    return 0
