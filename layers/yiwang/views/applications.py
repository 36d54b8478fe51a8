"""办件的展示: what a caller sees of an application, in its detail view and as a list row.

One place decides it, so the detail (`GET /applications/{id}`, the answer to a new draft or a
collection) and a row of `GET /applications` never differ in what they show of the same
application: the applicant's identifiers and phone are masked alike in both (`applicant`),
and every time is shown as `yiwang.calendar.workdays.local_time` shows times (Asia/Shanghai,
with its offset), the timeline's included.

Presentation reads nothing by itself except where said: the detail is made from a case file
(`yiwang.views.casefile`, one Query), a row from what the list read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from yiwang.applications.lifecycle import audit_of
from yiwang.applications.records import ApplicationRecord, AttachmentRecord
from yiwang.applications.status import Status
from yiwang.applications.uploads import attachments_of
from yiwang.calendar.workdays import local_time
from yiwang.people.access import APPLICANT, REVIEWER, WINDOW, Caller
from yiwang.platform import identity
from yiwang.regions.tree import default_region
from yiwang.table.records import AuditRecord

if TYPE_CHECKING:
    from yiwang.applications.listing import Page
    from yiwang.applications.tasks import TaskRecord
    from yiwang.views.casefile import CaseFile
# The tasks module (and the catalogue and clocks it imports) is imported by the views that show
# tasks, not by an applicant's or a supervisor's list row (the API's first list request).


PERSONAL = "x-personal"
"""The item schema keyword that marks a form field as personal data (`"x-personal": true`):
masked, as the applicant's identifiers are, for whoever does not handle the case."""


def sees_personal_data(caller: Caller) -> bool:
    """Whether the caller sees the applicant's personal data in full, wherever it sits
    (applicant, form, delivery): the applicant and the staff who handle the case (window,
    reviewers); supervisors and administrators, who oversee, see it masked."""
    return caller.role in {APPLICANT, WINDOW, REVIEWER}


def applicant(record: ApplicationRecord, caller: Caller) -> dict[str, Any]:
    """The application's applicant as the caller sees it: identity number, credit code and
    phone in full for the applicant and the staff who handle the case (window, reviewers),
    masked for everyone else (supervisors, administrators)."""
    shown = dict(record.applicant or {})
    if sees_personal_data(caller):
        return shown
    for field in ("idNumber", "creditCode"):
        if shown.get(field):
            shown[field] = identity.mask_identifier(shown[field])
    if shown.get("phone"):
        shown["phone"] = identity.mask_phone(shown["phone"])
    if shown.get("address"):  # filled from the person register at intake
        shown["address"] = identity.mask_personal(shown["address"])
    return shown


def shown_form(record: ApplicationRecord, caller: Caller) -> dict[str, Any] | None:
    """The form as the caller sees it: the fields the item's schema marks personal
    (`"x-personal": true`) masked for those who do not see personal data."""
    if not record.form or sees_personal_data(caller):
        return record.form
    from yiwang.catalogue.items import get_item

    schema = get_item(record.item_code, int(record.item_version)).form_schema
    personal = {name for name, field in (schema.get("properties") or {}).items()
                if isinstance(field, dict) and field.get(PERSONAL) is True}
    return {name: _masked(value) if name in personal else value
            for name, value in record.form.items()}


def shown_delivery(record: ApplicationRecord, caller: Caller) -> dict[str, Any] | None:
    """Where the certificate goes, as the caller sees it: the address (and any phone or name
    in it) masked for those who do not see personal data; the method shown to all."""
    if record.delivery is None or sees_personal_data(caller):
        return record.delivery
    return {name: value if name == "method" else _masked(value)
            for name, value in record.delivery.items()}


def _masked(value: Any) -> Any:
    """A personal value masked, whatever its shape (text, or an object or list of texts)."""
    if isinstance(value, str):
        return identity.mask_personal(value)
    if isinstance(value, dict):
        return {name: _masked(inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [_masked(inner) for inner in value]
    return value


def _head(record: ApplicationRecord, caller: Caller) -> dict[str, Any]:
    """What the detail and a row both show of an application."""
    return {
        "id": record.application_id,
        "itemCode": record.item_code,
        "itemVersion": int(record.item_version) if record.item_version is not None else None,
        "status": record.status,
        "applicant": applicant(record, caller),
        "createdAt": local_time(record.created_at),
        "submittedAt": local_time(record.submitted_at),
        "region": record.region or default_region(),
        # 一件事一次办: the theme case it was made in (`GET /theme-cases/{id}`), so a list
        # leads the applicant to their theme cases.
        **({"themeCaseId": record.theme_case_id} if record.theme_case_id else {}),
    }


def timeline(audit: list[AuditRecord]) -> list[dict[str, Any]]:
    """The audit trail (全程留痕), oldest first, each time in Asia/Shanghai."""
    return [{"at": local_time(a.at), "event": a.event, "actor": a.actor,
             "detail": {"from": a.from_status, "to": a.to_status,
                        **(a.detail.as_dict() if a.detail else {})}}
            for a in audit]


def present(record: ApplicationRecord, caller: Caller,
            attachments: list[AttachmentRecord] | None = None,
            audit: list[AuditRecord] | None = None) -> dict[str, Any]:
    """The application with its form, delivery, attachments and timeline.

    `attachments` and `audit` are the application's, when the caller has them already (a
    case file, a draft just written); otherwise they are read here (one Query each)."""
    if attachments is None:
        attachments = attachments_of(record.application_id)
    if audit is None:
        audit = audit_of(record.application_id)
    return {
        **_head(record, caller),
        "form": shown_form(record, caller),
        "delivery": shown_delivery(record, caller),
        "attachments": [
            {"attachmentId": a.attachment_id, "materialId": a.material_id,
             "fileName": a.file_name, "sizeBytes": int(a.size_bytes), "status": a.status,
             **({"problem": a.problem} if a.problem else {})}
            for a in attachments],
        "timeline": timeline(audit),
        # 人口库、法人库: what the register confirmed at intake, and the fields it filled.
        **({"registerCheck": record.register_check} if record.register_check else {}),
        **({"agent": {"name": record.agent.get("name"),
                      "authorisationId": record.agent.get("authorisationId"),
                      "idNumber": record.agent.get("idNumber") if sees_personal_data(caller)
                      else identity.mask_identifier(str(record.agent.get("idNumber")))}}
           if record.agent else {}),
        **({"assistedBy": record.assisted_by} if record.assisted_by else {}),
    }


def draft(record: ApplicationRecord, audit: AuditRecord, caller: Caller) -> dict[str, Any]:
    """A draft just written, as `present` shows it, without reading it back."""
    return present(record, caller, attachments=[], audit=[audit])


def detail(case: CaseFile, caller: Caller) -> dict[str, Any]:
    """The application's detail view: the record, its tasks per department, its deadlines,
    what is pending (a supplement or a payment), its certificate and delivery; made from the
    case file (one Query), not one read per part."""
    from yiwang.applications import tasks
    from yiwang.fulfilment import certificates, delivery, payments

    record = case.record
    answer = present(record, caller, attachments=case.attachments, audit=case.audit)
    own = case.tasks
    answer["tasks"] = [{"department": t.department, "kind": t.kind, "status": t.status,
                        "decision": t.decision, "opinion": t.opinion,
                        "dueAt": local_time(t.due_at)}
                       for t in own if t.kind != tasks.SUPPLEMENT]
    supplement = [t for t in own if t.kind in {tasks.PRE_REVIEW, tasks.REVIEW}
                  and t.decision == "SUPPLEMENT"]
    if record.status == Status.NEEDS_SUPPLEMENT and supplement:
        latest = max(supplement, key=lambda t: t.decided_at or t.created_at)
        answer["pending"] = {"supplement": {"missing": latest.missing or [],
                                            "notice": latest.opinion}}
    answer["certificate"] = certificates.pointer_view(case.certificate)
    # 免提交: the materials satisfied by a checked certificate or register record, with the
    # content reviewers read in place of the file.
    from yiwang.fulfilment.reuse import references_in

    answer["materialReferences"] = [ref.view() for ref in references_in(case.other)]
    answer["delivery"] = {**(shown_delivery(record, caller) or {}),
                          **delivery.tracking_from(record, case.shipment, case.pickup)}
    order = (payments.payable(case.orders) if record.status == Status.AWAITING_PAYMENT
             else None)
    if order:
        answer["pending"] = {"payment": order}
    answer["deadlines"] = _deadlines(own, tasks.PRE_REVIEW, tasks.REVIEW)
    answer["promise"] = promise_of(case)
    answer["commitments"] = commitments_of(case)
    answer["escalation"] = escalation_of(case)
    return answer


def escalation_of(case: CaseFile) -> dict[str, Any] | None:
    """上报件: both levels, where the case is now, its hops and each level's step clocks
    (`escalation.view`), from the case file; None for every other case."""
    from yiwang.applications import escalation

    if not escalation.is_escalated(case.record):
        return None
    from yiwang.deadlines.clocks import ClockRecord

    found = [ClockRecord.from_raw_data(i) for i in case.other
             if i["sk"]["S"].startswith("CLOCK#")]
    return escalation.view(case.record, found)


def commitments_of(case: CaseFile) -> list[dict[str, Any]]:
    """容缺: the materials committed at acceptance, each with its due time and status
    (OUTSTANDING, FULFILLED, EXPIRED: the case is suspended until it comes), oldest first."""
    from yiwang.applications.commitments import CommitmentRecord

    found = [CommitmentRecord.from_raw_data(i) for i in case.other
             if i["sk"]["S"].startswith(CommitmentRecord.SORT_PREFIX)]
    return [c.to_api() for c in sorted(found, key=lambda c: c.committed_at)]


def promise_of(case: CaseFile, now: datetime | None = None) -> dict[str, Any] | None:
    """承诺时限: promised-by, working days used and left (`promise.summary`), from the case
    file's promise clock; None before acceptance."""
    from yiwang.applications import promise
    from yiwang.deadlines.clocks import ClockRecord

    sort_key = f"CLOCK#{promise.PROMISE_CLOCK}"
    item = next((i for i in case.other if i["sk"]["S"] == sort_key), None)
    clock = ClockRecord.from_raw_data(item) if item else None
    return promise.summary(clock, now or datetime.now(UTC))


def _deadlines(own: list[TaskRecord], pre_review: str, review: str) -> dict[str, Any]:
    """`acceptBy` (受理) and `decideBy` per department (审批), from the tasks' due times."""
    acceptance = [t for t in own if t.kind == pre_review]
    reviews = [t for t in own if t.kind == review]
    return {
        **({"acceptBy": local_time(acceptance[0].due_at)} if acceptance and
           acceptance[0].due_at else {}),
        **({"decideBy": {t.department: local_time(t.due_at) for t in reviews
                         if t.due_at}} if reviews else {}),
    }


def row(record: ApplicationRecord, caller: Caller,
        task: TaskRecord | None = None) -> dict[str, Any]:
    """One row of `GET /applications`: `id`, `itemCode`, `itemVersion`, `status`,
    `applicant` (masked as in the detail), `createdAt`, `submittedAt`, `region`, `themeCaseId`
    (of an application made in a theme case), and in a department's
    list the `deadlines` of the task that listed it (`acceptBy` for the window, `decideBy` of
    the department for reviewers). Made from what the list read; no call."""
    shown = _head(record, caller)
    if task is not None and task.due_at is not None:
        from yiwang.applications.tasks import PRE_REVIEW, REVIEW

        if task.kind == PRE_REVIEW:
            shown["deadlines"] = {"acceptBy": local_time(task.due_at)}
        elif task.kind == REVIEW:
            shown["deadlines"] = {"decideBy": {task.department: local_time(task.due_at)}}
    return shown


def rows(page: Page, caller: Caller) -> list[dict[str, Any]]:
    """The page's rows (`row`), in order."""
    return [row(record, caller, page.listed_by.get(record.application_id))
            for record in page.applications]
