"""Human steps of the lifecycle: 受理 (pre-review decision), 并联审批 (one review task per
department) and 补正 (the applicant's supplement). Each is a task record holding the waiting
execution's task token; deciding it is one conditional write (PENDING → DECIDED), so a second
decision is a conflict and never a second effect, and then the execution resumes.

Access patterns:
- a task by id (decide): pk=`APP#<application id>`, sk=`TASK#<task id>`; the task id
  `<application id>.<kind>.<round>.<department>` names its application, so one read finds it;
- a department's pending tasks ("my tasks" screen): ListIndex gsi1pk=`DEPT#<department>`,
  gsi1sk=`<status>#<created>`;
- an application's tasks (its detail view): pk=`APP#<id>`, sk begins `TASK#`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.models import Model

from yiwang import applications, calendar_store
from yiwang.access import APPLICANT, REVIEWER, WINDOW, Caller
from yiwang.catalogue import get_item
from yiwang.errors import Conflict, FieldError, NotFound, ValidationFailed
from yiwang.records import ApplicationRecord, ListIndex, TableMeta, new_audit
from yiwang.workdays import SHANGHAI

PRE_REVIEW, REVIEW, SUPPLEMENT = "PRE_REVIEW", "REVIEW", "SUPPLEMENT"
WINDOW_QUEUE = "WINDOW"
"""Pre-review tasks go to the window (综合窗口), not to a department."""
ACCEPT_WITHIN_DAYS = 5
"""Administrative Licensing Law art. 32: accept or refuse within 5 working days."""
DECISIONS = {
    PRE_REVIEW: {"ACCEPT", "SUPPLEMENT", "NOT_ACCEPTED"},
    REVIEW: {"APPROVE", "REJECT", "SUPPLEMENT"},
    SUPPLEMENT: {"SUPPLIED"},
}


class TaskRecord(Model):
    """One human step waiting for a decision."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    task_id = UnicodeAttribute(attr_name="taskId")
    application_id = UnicodeAttribute(attr_name="applicationId")
    kind = UnicodeAttribute()
    department = UnicodeAttribute()
    round = NumberAttribute()
    status = UnicodeAttribute()
    task_token = UnicodeAttribute(attr_name="taskToken")
    created_at = Time(attr_name="createdAt")
    due_at = Time(attr_name="dueAt", null=True)
    decision = UnicodeAttribute(null=True)
    opinion = UnicodeAttribute(null=True)
    missing = JSONAttribute(null=True)
    decided_by = UnicodeAttribute(attr_name="decidedBy", null=True)
    decided_at = Time(attr_name="decidedAt", null=True)
    context = JSONAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_department = ListIndex()

    def to_api(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id, "applicationId": self.application_id, "kind": self.kind,
            "department": self.department, "status": self.status,
            "createdAt": self.created_at.isoformat(),
            "dueAt": local_time(self.due_at),
            "decision": self.decision, "opinion": self.opinion,
            **({"missing": self.missing} if self.missing else {}),
            **({"context": self.context} if self.context else {}),
        }


def local_time(moment: datetime | None) -> str | None:
    """A stored (UTC) time as portals show it: Asia/Shanghai, with its offset."""
    return moment.astimezone(SHANGHAI).isoformat() if moment else None


def task_id(application_id: str, kind: str, round_: int, department: str) -> str:
    return f"{application_id}.{kind}.{round_}.{department}"


def open_task(application_id: str, kind: str, department: str, round_: int, task_token: str,
              context: dict[str, Any] | None = None, now: datetime | None = None) -> TaskRecord:
    """Open (once) the task the execution waits on; a retried step keeps the first task but
    takes the newest token, so the decision always reaches the waiting execution."""
    now = now or datetime.now(UTC)
    identifier = task_id(application_id, kind, round_, department)
    record = ApplicationRecord.load(application_id)
    due_at = _due_at(record, kind, now)
    task = TaskRecord(
        ApplicationRecord.key(application_id), f"TASK#{identifier}", task_id=identifier,
        application_id=application_id, kind=kind, department=department, round=round_,
        status="PENDING", task_token=task_token, created_at=now, due_at=due_at,
        context=context, gsi1pk=f"DEPT#{department}", gsi1sk=f"PENDING#{now.isoformat()}",
    )
    try:
        task.save(condition=TaskRecord.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        task = TaskRecord.get(task.pk, task.sk)
        if task.status == "PENDING":
            task.update(actions=[TaskRecord.task_token.set(task_token)])
        return task
    if kind == REVIEW:
        applications.transition(application_id, "IN_REVIEW", "system", "REVIEW_STARTED",
                                allowed_from={"ACCEPTED"})
    return task


def _due_at(record: ApplicationRecord, kind: str, now: datetime) -> datetime | None:
    if kind == PRE_REVIEW:
        start = record.submitted_at or now
        return calendar_store.due(start, ACCEPT_WITHIN_DAYS).due
    if kind == REVIEW:
        item = get_item(record.item_code, int(record.item_version))
        return calendar_store.due(now, max(1, item.promised_days)).due if item.promised_days \
            else now
    return None


def load_task(identifier: str) -> TaskRecord:
    application_id = identifier.split(".", 1)[0]
    try:
        return TaskRecord.get(ApplicationRecord.key(application_id), f"TASK#{identifier}")
    except TaskRecord.DoesNotExist as missing:
        raise NotFound(f"no task {identifier}") from missing


def _may_decide(caller: Caller, task: TaskRecord) -> bool:
    if task.kind == PRE_REVIEW:
        return caller.role == WINDOW
    if task.kind == REVIEW:
        return caller.role == REVIEWER and caller.dept == task.department
    return False


def decide(caller: Caller, identifier: str, payload: Any, sfn: Any,
           now: datetime | None = None) -> TaskRecord:
    """Record a decision once and resume the execution; another department's task is 404."""
    task = load_task(identifier)
    if not _may_decide(caller, task):
        raise NotFound(f"no task {identifier}")
    decision, opinion, missing = _decision_of(task.kind, payload)
    now = now or datetime.now(UTC)
    try:
        task.update(actions=[
            TaskRecord.status.set("DECIDED"), TaskRecord.decision.set(decision),
            TaskRecord.opinion.set(opinion), TaskRecord.missing.set(missing),
            TaskRecord.decided_by.set(caller.sub), TaskRecord.decided_at.set(now),
            TaskRecord.gsi1sk.set(f"DECIDED#{now.isoformat()}"),
        ], condition=TaskRecord.status == "PENDING")
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(f"task {identifier} has already been decided") from error
        raise
    _apply(task, caller, decision, opinion, missing)
    sfn.send_task_success(taskToken=task.task_token, output=json.dumps({
        "taskId": task.task_id, "department": task.department, "decision": decision,
        "opinion": opinion, "missing": missing or []}, ensure_ascii=False))
    return task


def _decision_of(kind: str, payload: Any) -> tuple[str, str, list[Any] | None]:
    if not isinstance(payload, dict):
        raise ValidationFailed([FieldError("$", "a JSON object with decision and opinion")])
    errors = []
    decision = payload.get("decision")
    if decision not in DECISIONS[kind]:
        errors.append(FieldError("decision", f"one of {', '.join(sorted(DECISIONS[kind]))}"))
    opinion = payload.get("opinion")
    if not isinstance(opinion, str) or not opinion.strip():
        errors.append(FieldError("opinion", "a reason is required (办理意见)"))
    missing = payload.get("missing")
    if decision == "SUPPLEMENT" and (not isinstance(missing, list) or not missing):
        errors.append(FieldError("missing", "list every missing or defective material at once"
                                            " (一次性告知)"))
    if errors:
        raise ValidationFailed(errors)
    return decision, opinion.strip(), missing if decision == "SUPPLEMENT" else None


def _apply(task: TaskRecord, caller: Caller, decision: str, opinion: str,
           missing: list[Any] | None) -> None:
    """The status change a decision makes by itself (pre-review decides for the window)."""
    detail = {"taskId": task.task_id, "department": task.department, "decision": decision,
              "opinion": opinion}
    if task.kind == PRE_REVIEW:
        to = {"ACCEPT": "ACCEPTED", "SUPPLEMENT": "NEEDS_SUPPLEMENT",
              "NOT_ACCEPTED": "NOT_ACCEPTED"}[decision]
        applications.transition(task.application_id, to, caller.sub, f"PRE_REVIEW_{decision}",
                                allowed_from={"SUBMITTED"},
                                detail={**detail, **({"missing": missing} if missing else {})})
    else:
        new_audit(task.application_id, caller.sub, f"REVIEW_{decision}", None, None,
                  detail).save()


def pending_for(caller: Caller) -> list[TaskRecord]:
    """The caller's department's pending tasks (window staff: the window's), oldest first."""
    caller.require(WINDOW, REVIEWER)
    queue = WINDOW_QUEUE if caller.role == WINDOW else caller.dept
    return list(TaskRecord.by_department.query(f"DEPT#{queue}",
                                               TaskRecord.gsi1sk.startswith("PENDING#")))


def tasks_of(application_id: str) -> list[TaskRecord]:
    return list(TaskRecord.query(ApplicationRecord.key(application_id),
                                 TaskRecord.sk.startswith("TASK#")))


def review_outcome(application_id: str, decisions: list[dict[str, Any]]) -> dict[str, Any]:
    """After every department decided: any REJECT rejects; else any SUPPLEMENT sends it back
    to the applicant; else approved (并联审批: all must approve)."""
    kinds = {d["decision"] for d in decisions}
    record = ApplicationRecord.load(application_id)
    item = get_item(record.item_code, int(record.item_version))
    if "REJECT" in kinds:
        applications.transition(application_id, "REJECTED", "system", "REJECTED",
                                allowed_from={"IN_REVIEW"},
                                detail={"departments": [d["department"] for d in decisions
                                                        if d["decision"] == "REJECT"]})
        outcome = "REJECTED"
    elif "SUPPLEMENT" in kinds:
        missing = [m for d in decisions for m in d.get("missing") or []]
        applications.transition(application_id, "NEEDS_SUPPLEMENT", "system",
                                "REVIEW_SUPPLEMENT", allowed_from={"IN_REVIEW"},
                                detail={"missing": missing})
        outcome = "SUPPLEMENT"
    else:
        new_audit(application_id, "system", "APPROVED", "IN_REVIEW", "IN_REVIEW",
                  {"departments": [d["department"] for d in decisions]}).save()
        outcome = "APPROVED"
    return {"outcome": outcome, "feeFen": item.fee_fen,
            "delivery": (record.delivery or {}).get("method", "PICKUP")}


def supplement(caller: Caller, application_id: str, payload: Any, sfn: Any) -> TaskRecord:
    """The applicant has supplied what was missing: back to pre-review (the clock resumes)."""
    caller.require(APPLICANT, WINDOW)
    record = applications.load_for(caller, application_id)
    if record.status != "NEEDS_SUPPLEMENT":
        raise Conflict(f"application {application_id} is {record.status}, nothing to supply")
    if isinstance(payload, dict) and isinstance(payload.get("form"), dict):
        item = get_item(record.item_code, int(record.item_version))
        applications.validate_draft(item, {"itemCode": record.item_code,
                                           "applicant": record.applicant,
                                           "form": payload["form"],
                                           "delivery": record.delivery})
    open_supplements = [t for t in tasks_of(application_id)
                        if t.kind == SUPPLEMENT and t.status == "PENDING"]
    if not open_supplements:
        raise Conflict("the application is not waiting for a supplement yet")
    task = open_supplements[-1]
    updates = {"form": payload["form"]} if isinstance(payload, dict) and isinstance(
        payload.get("form"), dict) else {}
    applications.transition(application_id, "SUBMITTED", caller.sub, "SUPPLEMENTED",
                            allowed_from={"NEEDS_SUPPLEMENT"}, updates=updates)
    return decide_supplement(task, caller, sfn)


def decide_supplement(task: TaskRecord, caller: Caller, sfn: Any) -> TaskRecord:
    now = datetime.now(UTC)
    try:
        task.update(actions=[TaskRecord.status.set("DECIDED"),
                             TaskRecord.decision.set("SUPPLIED"),
                             TaskRecord.decided_by.set(caller.sub),
                             TaskRecord.decided_at.set(now),
                             TaskRecord.gsi1sk.set(f"DECIDED#{now.isoformat()}")],
                    condition=TaskRecord.status == "PENDING")
    except UpdateError as error:
        raise Conflict("the supplement was already received") from error
    sfn.send_task_success(taskToken=task.task_token, output=json.dumps({"supplied": True}))
    return task
