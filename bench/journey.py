"""Applications carried to completion over HTTP by simulated people, many at once.

- Applicants (one thread each, from a pool): draft, upload the materials straight to S3 with
  the presigned URL, submit; then wait for their application to settle, pay (the payment
  provider's signed callback), and either receive the courier's signed events or collect the
  certificate at the window; until COMPLETED, or `stuck` after `timeout` seconds.
- Staff (one thread per queue: the window and each department): read their pending tasks and
  decide each (the window accepts, the departments approve), as long as applicants are out.

The mix: every `permit_every`-th application is the construction permit (建设工程规划许可证,
three departments, a fee, courier delivery); the others are simple items this driver publishes
(one per department in `SIMPLE_DEPARTMENTS`: no fee, collected at the window).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from infra.demo import APPLICATION, MATERIALS
from infra.providers import courier, payment

PERMIT_DEPARTMENTS = ["GZ-ZRZY", "GZ-ZJ", "GZ-XF"]
SIMPLE_DEPARTMENTS = ["GZ-GA", "GZ-SCJG", "GZ-ZJ"]
_CHECK = "10X98765432"


def resident_id(n: int) -> str:
    """The `n`-th of distinct valid resident identity numbers (GB 11643: Tianhe district, born
    in 1990, sequence `n`, ISO 7064 MOD 11-2 check character): one applicant per application,
    as a province has, not one applicant's partition taking every write."""
    day = date(1990, 1, 1) + timedelta(days=n // 1000)
    body = f"440106{day:%Y%m%d}{n % 1000:03d}"
    total = sum(int(digit) * pow(2, 17 - i, 11) for i, digit in enumerate(body))
    return body + _CHECK[total % 11]
SETTLED = {"AWAITING_PAYMENT", "DISPATCHED", "READY_FOR_PICKUP", "COMPLETED"}
IDLE_SECONDS = 3.0
"""How long staff with an empty queue, and an applicant whose application has not moved,
wait before looking again (an applicant's wait grows to four times this)."""


class Api:
    """Calls to the API over HTTP, one connection pool per thread."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._local = threading.local()
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def call(self, method: str, path: str, headers: dict[str, str] | None = None,
             body: Any = None, data: str | bytes | None = None, expect: tuple[int, ...] = (
                 200, 201, 202)) -> Any:
        """One request; its JSON answer, or RuntimeError when the status is not expected."""
        answer = self.session().request(method, f"{self.base}{path}", headers=headers,
                                        json=body, data=data, timeout=120)
        with self._lock:
            self.requests[f"{method} {answer.status_code}"] += 1
        if answer.status_code not in expect:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json() if answer.content else None

    def token(self, sub: str, role: str, **claims: str) -> dict[str, str]:
        """The bearer header of a local-stage token (`POST /dev/token`)."""
        answer = self.call("POST", "/dev/token", body={"sub": sub, "role": role, **claims})
        return {"Authorization": f"Bearer {answer['token']}"}


def simple_item(code: str, department: str, name: str = "压测事项（居住登记）") -> dict[str, Any]:
    """A simple promised item of `department`: one optional material, collected at the window
    (the benches' load, and the statistics tests' own item)."""
    return {
        "code": code, "name": name, "category": "公共服务", "kind": "PROMISED",
        "leadDepartment": department, "coDepartments": [], "statutoryDays": 20,
        "promisedDays": 5, "feeFen": 0,
        "formSchema": {"type": "object", "required": ["address"],
                       "properties": {"address": {"type": "string", "minLength": 5}}},
        "materials": [{"id": "residence-proof", "name": "居住证明", "required": False,
                       "formats": ["pdf"], "maxBytes": 10485760}],
        "legalBasis": "《居住证暂行条例》", "applicantKinds": ["PERSON"],
        "deliveryMethods": ["PICKUP"],
    }


def publish_simple_items(api: Api) -> list[str]:
    """Publish one simple item per department of `SIMPLE_DEPARTMENTS`; their codes."""
    admin = api.token("bench-admin", "admin")
    codes = []
    for department in SIMPLE_DEPARTMENTS:
        code = f"LOAD{uuid.uuid4().hex[:8].upper()}-GG-0101"
        api.call("POST", "/items", admin, simple_item(code, department))
        api.call("POST", f"/items/{code}/publish", admin)
        codes.append(code)
    return codes


@dataclass
class Outcome:
    """What happened to one application."""

    kind: str
    application_id: str | None = None
    status: str | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass
class Run:
    """The outcomes of a run and how long it took."""

    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    decisions: int = 0

    @property
    def completed(self) -> int:
        return sum(o.status == "COMPLETED" for o in self.outcomes)

    @property
    def stuck(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "COMPLETED"]


class Staff:
    """One thread per queue deciding every pending task while the run lasts."""

    def __init__(self, api: Api, queues: list[str]) -> None:
        self.api = api
        self.tokens = {"WINDOW": api.token("bench-window", "window")}
        self.tokens |= {q: api.token(f"bench-{q}", "reviewer", dept=q)
                        for q in queues if q != "WINDOW"}
        self.stop = threading.Event()
        self.decided = 0
        self._lock = threading.Lock()
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._work, args=(q,), daemon=True)
                        for q in self.tokens]

    def __enter__(self) -> Staff:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def _work(self, queue: str) -> None:
        headers = self.tokens[queue]
        decision = "ACCEPT" if queue == "WINDOW" else "APPROVE"
        while not self.stop.is_set():
            try:
                tasks = self.api.call("GET", "/tasks?status=PENDING", headers)["tasks"]
                for task in tasks:
                    # 409: decided meanwhile (a repeated read of the queue); not an error.
                    self.api.call("POST", f"/tasks/{task['taskId']}/decision", headers,
                                  {"decision": decision, "opinion": "同意"},
                                  expect=(200, 409))
                    with self._lock:
                        self.decided += 1
            except (RuntimeError, requests.RequestException) as error:
                self.errors.append(f"{queue}: {error}")
                tasks = []
            if not tasks:
                # An idle desk looks again in a few seconds: polling must not take the
                # platform's capacity from the applications it is waiting for.
                self.stop.wait(IDLE_SECONDS)


class Applicant:
    """One applicant's application from draft to COMPLETED."""

    def __init__(self, api: Api, n: int, window: dict[str, str], timeout: float,
                 enrol: Callable[[str, str], None]) -> None:
        self.api, self.window, self.timeout, self.enrol = api, window, timeout, enrol
        self.id_number = resident_id(n)
        self.headers: dict[str, str] = {}

    def apply(self, kind: str, item: str | None) -> Outcome:
        started = time.monotonic()
        outcome = Outcome(kind)
        try:
            self.enrol(self.id_number, APPLICATION["applicant"]["name"])  # in the register
            self.headers = self.api.token(f"bench-citizen-{self.id_number}", "applicant",
                                          idNumber=self.id_number)
            outcome.application_id = self._draft(item)
            outcome.status = self._carry(outcome.application_id, started)
        except (RuntimeError, requests.RequestException) as error:
            outcome.error = str(error)
        outcome.seconds = time.monotonic() - started
        return outcome

    def _draft(self, item: str | None) -> str:
        applicant = {**APPLICATION["applicant"], "idNumber": self.id_number}
        if item is None:
            body, materials = {**APPLICATION, "applicant": applicant}, MATERIALS
        else:
            body = {"itemCode": item, "applicant": applicant,
                    "form": {"address": "广州市天河区华夏路16号"},
                    "delivery": {"method": "PICKUP"}}
            materials = ["residence-proof"]
        draft = self.api.call("POST", "/applications", {
            **self.headers, "Idempotency-Key": uuid.uuid4().hex}, body)
        for material in materials:
            self._upload(draft["id"], material)
        self.api.call("POST", f"/applications/{draft['id']}/submit", self.headers)
        return str(draft["id"])

    def _upload(self, application_id: str, material: str) -> None:
        content = b"%PDF-1.7\n" + material.encode() * 200
        plan = self.api.call("POST", f"/applications/{application_id}/attachments",
                             self.headers, {
                                 "materialId": material, "fileName": f"{material}.pdf",
                                 "contentType": "application/pdf", "sizeBytes": len(content),
                                 "sha256": hashlib.sha256(content).hexdigest()})
        put = self.api.session().put(plan["parts"][0]["url"], data=content,
                                     headers={"Content-Type": "application/pdf"}, timeout=60)
        put.raise_for_status()
        self.api.call("POST", f"/applications/{application_id}/attachments/"
                      f"{plan['attachmentId']}/complete", self.headers,
                      {"parts": [{"partNumber": 1, "etag": put.headers["ETag"]}]})

    def _view(self, application_id: str) -> dict[str, Any]:
        return self.api.call("GET", f"/applications/{application_id}", self.headers)

    def _until(self, application_id: str, statuses: set[str], started: float) -> dict[str, Any]:
        pause = IDLE_SECONDS
        while (view := self._view(application_id))["status"] not in statuses:
            if time.monotonic() - started > self.timeout:
                return view
            time.sleep(pause)
            pause = min(pause * 1.5, 4 * IDLE_SECONDS)
        return view

    def _carry(self, application_id: str, started: float) -> str:
        view = self._until(application_id, SETTLED, started)
        if view["status"] == "AWAITING_PAYMENT":
            order = view["pending"]["payment"]
            body, headers = payment.callback(order["orderId"], order["amountFen"],
                                             secret=payment.LOCAL_SECRET)
            self.api.call("POST", "/webhooks/payment", headers, data=body)
            view = self._until(application_id, {"DISPATCHED", "READY_FOR_PICKUP", "COMPLETED"},
                               started)
        if view["status"] == "DISPATCHED":
            now = datetime.now(UTC)
            for event, hours in (("PICKED_UP", 2), ("DELIVERED", 1)):
                at = (now - timedelta(hours=hours)).isoformat(timespec="seconds")
                body, headers = courier.callback(view["delivery"]["waybillNo"], event, at,
                                                 secret=courier.LOCAL_SECRET)
                self.api.call("POST", "/webhooks/courier", headers, data=body)
        elif view["status"] == "READY_FOR_PICKUP":
            self.api.call("POST", f"/applications/{application_id}/pickup", self.window,
                          {"collectedBy": "张伟"})
        return str(self._until(application_id, {"COMPLETED"}, started)["status"])


def register(outputs: dict[str, str]) -> Callable[[str, str], None]:
    """`enrol(id_number, name)` in the person register of the stack's exchange simulator."""
    from infra.providers import exchange

    secret = exchange.default_credentials().get(outputs["ExchangeAppKey"], exchange.LOCAL_SECRET)
    return lambda id_number, name: exchange.enrol(outputs["ExchangeUrl"], id_number, name,
                                                  outputs["ExchangeAppKey"], secret)


def carry(api: Api, n: int, enrol: Callable[[str, str], None], *, workers: int = 16,
          permit_every: int = 2, timeout: float = 600) -> Run:
    """Submit `n` applications, `workers` applicants at a time (each first `enrol`ed in the
    person register), and carry each to COMPLETED (or until `timeout` seconds after it
    started); staff decide tasks meanwhile."""
    simple = publish_simple_items(api)
    queues = ["WINDOW", *dict.fromkeys(PERMIT_DEPARTMENTS + SIMPLE_DEPARTMENTS)]
    window = api.token("bench-window-pickup", "window")
    plan = [(i, "permit", None) if i % permit_every == 0 else
            (i, "simple", simple[i % len(simple)]) for i in range(n)]
    run = Run()
    started = time.monotonic()

    def one(step: tuple[int, str, str | None]) -> Outcome:
        return Applicant(api, step[0], window, timeout, enrol).apply(step[1], step[2])

    with Staff(api, queues) as staff, ThreadPoolExecutor(workers) as pool:
        run.outcomes = list(pool.map(one, plan))
    run.seconds = time.monotonic() - started
    run.decisions = staff.decided
    return run
