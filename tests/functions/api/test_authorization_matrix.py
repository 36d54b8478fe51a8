"""The authorization matrix, generated: every operation of openapi.yaml × eleven kinds of
caller, against one set of resources (a draft and a completed application, an attachment, a
task, a task claimed by one handler of a department whose tasks have handlers (经办人模式), a
certificate, an anonymous bad review, a private complaint, a service item; all in the default
region 广州市, so a supervisor of 深圳市 oversees none of them). The expected answer of each cell
is the access policy's (`yiwang.people.policy`), never written here by hand: 401 without a
token (or a provider's signature), 403 for a role that may not call the operation at all, 404
for a resource that is not the caller's (the same answer as for an id that does not exist), 2xx
otherwise. Reads allowed are also checked for masking; mutations are only called where they
must be refused, so no state is consumed and one set of resources serves every cell."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.data import (
    CITIZEN_ID,
    DEPARTMENTS,
    OTHER_ID,
    PERMIT,
    RESTAURANT,
    theme_case_body,
)
from tests.support.handlers import Department
from tests.support.journeys import Flow, complete
from tests.support.polling import eventually
from yiwang.people import policy
from yiwang.people.access import (
    ADMIN,
    APPLICANT,
    HANDLER,
    HEAD,
    REVIEWER,
    ROLES,
    SUPERVISOR,
    WINDOW,
    Caller,
)

pytestmark = pytest.mark.integration

OPENAPI = Path(__file__).resolve().parents[3] / "openapi.yaml"
HANDLING = DEPARTMENTS[0]  # 规划 leads the construction permit; the complaint is routed there
UNRELATED = "GZ-GA"  # 公安: no part in the permit nor in the complaint
ELSEWHERE = "440300"  # 深圳市: the resources lie in 广州市 (the default region)
HERE = frozenset({"440100"})
OVERSEERS = {SUPERVISOR, ADMIN}
"""Roles that oversee without handling: they see personal data masked."""
UNKNOWN = {"application": "YW2026010100000000", "draft": "YW2026010100000000",
           "complaint": "TS2026000000000000", "rating": "YW2026010100000000",
           "certificate": "YW-NO-SUCH-CERTIFICATE", "task": "YW2026010100000000.REVIEW.1.GZ-GA",
           "handled task": "YW2026010100000000.REVIEW.1.GZ-GA",
           "attachment": "0" * 32, "urging": "DB2026010100000000",
           "appeal": "SS0000000000000000", "item": "NO-SUCH-ITEM-0001",
           "theme case": "TH2026010100000000"}

# The resource each operation's path names (the expected answers come from the policy).
RESOURCE = {
    "getApplication": ("draft", "application"), "trackDelivery": ("draft", "application"),
    "requestAttachmentUpload": ("draft",), "completeAttachmentUpload": ("attachment",),
    "submitApplication": ("draft",), "supplementApplication": ("application",),
    "waiveFee": ("application",), "recordPickup": ("application",),
    "rateApplication": ("application",),
    **{op: ("task", "handled task") for op in ("decideTask", "claimTask", "reassignTask")},
    "getCertificate": ("certificate",), "getRating": ("rating",),
    "listCaseHolderCertificates": ("draft", "application"),
    "changeCertificateStanding": ("certificate",),
    "listMaterialOffers": ("draft",), "referenceMaterial": ("draft",),
    **{op: ("complaint",) for op in policy.POLICY if "Complaint" in op
       and op not in {"registerComplaint", "listComplaints"}},
    **{op: ("rating",) for op in ("verifyRating", "invalidateRating", "rectifyRating",
                                  "extendRating", "revisitRating")},
    "getUrging": ("urging",), "replyUrging": ("urging",), "decideScoreAppeal": ("appeal",),
    **{op: ("item",) for op in ("draftItemVersion", "getItemVersion", "submitItemVersion",
                                "publishItemVersion", "returnItemVersion",
                                "changeItemStanding", "itemAudit")},
    **{op: ("theme case",) for op in ("getThemeCase", "submitThemeCase", "recordThemePickup")},
}
FIXED = {"/items/{code}": f"/items/{PERMIT}", "/departments/{code}": f"/departments/{HANDLING}",
         "/regions/{code}": "/regions/440106", "{year}": "2026", "{version}": "1",
         "/themes/{code}": "/themes/KB-CANYIN"}
QUERY = {"listApplications": "?status=COMPLETED", "listComplaints": f"?department={HANDLING}",
         "dueDate": "?from=2026-03-02T09:00:00%2B08:00&workingDays=3",
         "accessLog": f"?subject={CITIZEN_ID}", "listUrgings": f"?department={HANDLING}"}


@dataclass(frozen=True)
class Who:
    """One kind of caller: how they sign in and who they are to the policy."""

    name: str
    caller: Caller | None
    headers: dict[str, str]


@dataclass(frozen=True)
class Resource:
    """A resource the test made, its id(s) in a path, and its facts for the policy."""

    ids: dict[str, str]
    facts: policy.Facts


def operations() -> dict[str, tuple[str, str]]:
    """openapi.yaml's operations: operationId → (method, path)."""
    spec = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    return {operation["operationId"]: (method.upper(), path)
            for path, item in spec["paths"].items() for method, operation in item.items()
            if isinstance(operation, dict) and "operationId" in operation}


def test_every_operation_has_one_policy_row_at_its_route() -> None:
    documented = operations()
    assert set(documented) == set(policy.POLICY), (
        f"without a policy row: {sorted(set(documented) - set(policy.POLICY))}; "
        f"not in openapi.yaml: {sorted(set(policy.POLICY) - set(documented))}")
    spec = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    for operation, (method, path) in documented.items():
        rule = policy.rule(operation)
        assert (rule.method, rule.path) == (method, path)
        answers = spec["paths"][path][method.lower()]["responses"]
        if not (rule.public or rule.webhook) and ROLES - rule.roles():
            assert "403" in answers, f"{operation} refuses roles (403) but does not say so"


def expected(operation: str, who: Who, facts: policy.Facts) -> int:
    """The status class the policy gives this caller for this operation on this resource."""
    rule = policy.rule(operation)
    if rule.public:
        return 200
    if rule.webhook or who.caller is None:
        return 401
    if who.caller.role not in rule.access:
        return 403
    return 200 if policy.allows(operation, who.caller, facts) else 404


@pytest.fixture
def world(http: Any, token: Any, cloud: Any) -> dict[str, Any]:
    """The callers and the resources, made once for every cell."""
    own = Department(http, token, "OWN_TASKS")
    reviewed = own.in_review(cloud)
    handled = eventually(lambda: own.task_of("a", reviewed))["taskId"]
    assert own.post("a", f"/tasks/{handled}/claim").status_code == 200
    flow = Flow(http, token, cloud, "matrix")
    sub_a = flow.citizen_sub
    people = [
        Who("anonymous", None, {"Content-Type": "application/json"}),
        Who("applicant A", Caller(sub_a, APPLICANT, id_number=CITIZEN_ID), flow.citizen),
        Who("applicant B", Caller("matrix-b", APPLICANT, id_number=OTHER_ID),
            token("matrix-b", APPLICANT, idNumber=OTHER_ID)),
        Who("window", Caller("matrix-window", WINDOW), token("matrix-window", WINDOW)),
        Who("reviewer (handling)", Caller("matrix-rh", REVIEWER, dept=HANDLING),
            token("matrix-rh", REVIEWER, dept=HANDLING)),
        Who("reviewer (unrelated)", Caller("matrix-ru", REVIEWER, dept=UNRELATED),
            token("matrix-ru", REVIEWER, dept=UNRELATED)),
        Who("head (经办人模式)", Caller(own.subs["head"], REVIEWER, dept=own.code,
                                    position=HEAD), own.staff["head"]),
        Who("handler (a colleague's task)", Caller(own.subs["b"], REVIEWER, dept=own.code,
                                                   position=HANDLER), own.staff["b"]),
        Who("supervisor", Caller("matrix-sup", SUPERVISOR), token("matrix-sup", SUPERVISOR)),
        Who("supervisor (another region)", Caller("matrix-sup-sz", SUPERVISOR, region=ELSEWHERE),
            token("matrix-sup-sz", SUPERVISOR, region=ELSEWHERE)),
        Who("admin", Caller("matrix-admin", ADMIN), token("matrix-admin", ADMIN)),
    ]
    completed = complete(flow)
    draft = json.loads(http.post("/applications", headers=flow.citizen,
                                 body=json.dumps(_draft_body())).body)["id"]
    attachment = json.loads(http.post(
        f"/applications/{draft}/attachments", headers=flow.citizen, body=json.dumps({
            "materialId": "site-plan", "fileName": "p.pdf", "contentType": "application/pdf",
            "sizeBytes": 100, "sha256": "0" * 64})).body)["attachmentId"]
    rated = http.post(f"/applications/{flow.id}/rating", headers=flow.citizen, body=json.dumps(
        {"level": 1, "comment": "窗口态度差", "anonymous": True}, ensure_ascii=False))
    assert rated.status_code == 201, rated.body
    complaint = http.post("/complaints", headers=flow.citizen, body=json.dumps({
        "category": "COMPLAINT", "channel": "WEB", "subject": "审批太慢", "private": True,
        "content": "规划审批拖延", "contact": "13800138000", "department": HANDLING},
        ensure_ascii=False))
    assert complaint.status_code == 201, complaint.body
    urging = http.post("/supervision/urgings", headers=token("matrix-sup", SUPERVISOR),
                       body=json.dumps({"target": "APPLICATION", "id": flow.id,
                                        "department": HANDLING, "reason": "请说明办理情况",
                                        "workingDays": 3}, ensure_ascii=False))
    assert urging.status_code == 201, urging.body
    from yiwang.stats.scores import parse_month

    appeal = http.post("/supervision/scores/appeals", headers=token(
        "matrix-rh", REVIEWER, dept=HANDLING), body=json.dumps(
        {"month": parse_month(None), "itemId": f"BAD_REVIEW#{flow.id}", "reason": "误评"},
        ensure_ascii=False))
    assert appeal.status_code == 201, appeal.body
    # 一件事一次办: a company's theme case, a draft (its applicant is neither A nor B).
    theme_case = http.post("/themes/KB-CANYIN/applications", headers=token(
        "matrix-company", APPLICANT, creditCode=RESTAURANT), body=json.dumps(
        theme_case_body(), ensure_ascii=False))
    assert theme_case.status_code == 201, theme_case.body
    mine = {"owner_subs": frozenset({sub_a}), "owner_codes": frozenset({CITIZEN_ID})}
    submitted = policy.Facts(**mine, entered_by=sub_a, departments=frozenset(DEPARTMENTS),
                             regions=HERE)
    resources = {
        "application": Resource({"{id}": flow.id}, submitted),
        "draft": Resource({"{id}": draft}, policy.Facts(**mine, entered_by=sub_a,
                                                        with_staff=False, regions=HERE)),
        "attachment": Resource({"{id}": draft, "{attachmentId}": attachment},
                               policy.Facts(**mine, entered_by=sub_a, with_staff=False,
                                            regions=HERE)),
        "task": Resource({"{taskId}": f"{flow.id}.REVIEW.1.{HANDLING}"},
                         policy.Facts(departments=frozenset({HANDLING}))),
        "handled task": Resource({"{taskId}": handled}, policy.Facts(
            departments=frozenset({own.code}), handlers=frozenset({own.subs["a"]}))),
        "certificate": Resource({"{number}": completed["certificate"]["number"]},
                                policy.Facts(owner_codes=frozenset({CITIZEN_ID}),
                                             departments=frozenset(DEPARTMENTS),
                                             regions=HERE)),
        "rating": Resource({"{id}": flow.id}, policy.Facts(
            owner_subs=frozenset({sub_a}), departments=frozenset({HANDLING}), regions=HERE)),
        "complaint": Resource({"{id}": json.loads(complaint.body)["id"]}, policy.Facts(
            owner_subs=frozenset({sub_a}), entered_by=sub_a,
            departments=frozenset({HANDLING}), regions=HERE)),
        "urging": Resource({"{id}": json.loads(urging.body)["id"]},
                           policy.Facts(departments=frozenset({HANDLING}), regions=HERE)),
        "appeal": Resource({"{id}": json.loads(appeal.body)["id"]},
                           policy.Facts(departments=frozenset({HANDLING}))),
        # The permit's item: its lead department (规划) governs it with the reform office.
        "item": Resource({"{code}": PERMIT}, policy.Facts(departments=frozenset({HANDLING}))),
        "theme case": Resource({"{id}": json.loads(theme_case.body)["id"]}, policy.Facts(
            owner_subs=frozenset({"matrix-company"}), owner_codes=frozenset({RESTAURANT}),
            with_staff=False, regions=HERE)),
    }
    return {"people": people, "resources": resources, "sub_a": sub_a}


def _draft_body() -> dict[str, Any]:
    from tests.support.data import permit_body

    return permit_body()


def _path(template: str, ids: dict[str, str], unknown: str | None = None) -> str:
    path = template
    for name, value in {**FIXED, **ids}.items():
        path = path.replace(name, value)
    if unknown is not None:
        path = path.replace(ids.get("{id}") or ids.get("{taskId}") or ids.get("{code}")
                            or ids["{number}"], unknown)
    return path


def _call(http: Any, method: str, path: str, who: Who) -> Any:
    if method == "GET":
        return http.get(path, headers=who.headers)
    return getattr(http, method.lower())(path, headers=who.headers, body="{}")


def test_every_caller_gets_what_the_policy_says(http: Any, world: dict[str, Any]) -> None:
    wrong: list[str] = []
    cells = 0
    for operation, (method, template) in operations().items():
        kinds = RESOURCE.get(operation, (None,))
        assert kinds != (None,) or not any(p in template for p in ("{id}", "{taskId}",
                                                                   "{number}")), operation
        for kind in kinds:
            resource = world["resources"][kind] if kind else Resource({}, policy.Facts())
            path = _path(template, resource.ids) + QUERY.get(operation, "")
            for who in world["people"]:
                cells += 1
                want = expected(operation, who, resource.facts)
                if want == 200 and method != "GET":
                    continue  # allowed mutations would consume the shared resources
                answer = _call(http, method, path, who)
                got = answer.status_code
                if not ((got // 100 == 2) if want == 200 else got == want):
                    wrong.append(f"{operation} {kind} as {who.name}: {got}, policy says {want}"
                                 f" ({answer.body[:120]!r})")
                    continue
                if want in {403, 404} and kind:
                    unknown = _call(http, method, _path(template, resource.ids, UNKNOWN[kind]),
                                    who)
                    if unknown.status_code != got:
                        wrong.append(f"{operation} {kind} as {who.name}: {got} but an unknown "
                                     f"id answers {unknown.status_code}")
                if want == 200 and method == "GET":
                    wrong += [f"{operation} {kind} as {who.name}: {leak}"
                              for leak in _leaks(operation, json.loads(answer.body) if
                                                 answer.body else {}, who, world["sub_a"])]
    print(f"authorization matrix: {len(operations())} operations x {len(world['people'])} "
          f"callers, {cells} cells")
    assert not wrong, "\n".join(wrong)


def _leaks(operation: str, body: Any, who: Who, sub_a: str) -> list[str]:
    """What a caller allowed to read sees that they should not (personal data unmasked for
    those who oversee, an anonymous rater's subject for staff)."""
    role = who.caller.role if who.caller else None
    leaks = []
    if operation == "getApplication" and role in OVERSEERS:
        shown = [body["applicant"]["idNumber"], body["applicant"]["phone"],
                 body["form"].get("phone"), body["form"].get("contactName"),
                 body["delivery"].get("address")]
        leaks += [f"personal data unmasked: {value}" for value in shown
                  if value and "*" not in value]
    if operation == "getApplication" and role not in OVERSEERS:
        if "*" in body["applicant"]["idNumber"]:
            leaks.append("masked for someone handling the case")
    if operation == "getCertificate":
        holder = body["document"]["holder"]["code"]
        if role in OVERSEERS and (holder == CITIZEN_ID or "signature" in body):
            leaks.append(f"holder's identity number unmasked: {holder}")
        if role not in OVERSEERS and holder != CITIZEN_ID:
            leaks.append("the holder or their handlers see a masked certificate")
    if operation == "getRating" and role != APPLICANT:
        actors = {entry.get("actor") for entry in body["history"]}
        if sub_a in actors or body["rater"] is not None:
            leaks.append("an anonymous rater is shown to staff")
    return leaks
