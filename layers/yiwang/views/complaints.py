"""What a caller sees of a complaint (投诉建议): the receipt of a registration, the complaint
with its history, and what is withheld from whom (art. 29: private content and contacts)."""

from __future__ import annotations

from typing import Any

from yiwang.calendar.workdays import local_time
from yiwang.complaints.records import ComplaintRecord, facts_of
from yiwang.people import policy
from yiwang.people.access import Caller
from yiwang.table.records import AuditRecord

_CLOCK_EVENTS = ("CLOCK_", "YELLOW_CARD", "RED_CARD")


def receipt(record: ComplaintRecord) -> dict[str, Any]:
    """What registering answers (`201`): the id, status, department and deadline."""
    return {"id": record.complaint_id, "status": record.status,
            "department": record.department, "dueAt": local_time(record.due_at)}


def handles(caller: Caller, record: ComplaintRecord) -> bool:
    """Who sees everything, private content and contact included (art. 29): whoever may read
    the complaint at all (`getComplaint` in the access policy: the complainant, the window
    staff who took it down, the handling department, supervisors)."""
    return policy.allows("getComplaint", caller, facts_of(record))


def present(record: ComplaintRecord, caller: Caller) -> dict[str, Any]:
    """The complaint as the API shows it (openapi.yaml). Only those who handle it are shown a
    complaint (`yiwang.complaints.records.load_for`); should anyone else be, the content of a
    private complaint and anyone's contact are withheld."""
    full = handles(caller, record)
    content = full or not record.private
    answer: dict[str, Any] = {
        "id": record.complaint_id, "category": record.category, "urgency": record.urgency,
        "status": record.status, "department": record.department,
        "createdAt": local_time(record.created_at), "dueAt": local_time(record.due_at),
        "extended": bool(record.extended), "channel": record.channel,
        "limitDays": int(record.limit_days), "returnBy": local_time(record.return_by),
        "private": bool(record.private), "applicationId": record.application_id,
        "subject": record.subject if content else None,
        "content": record.content if content else None,
        "contact": record.contact if full else None,
        "withheld": [] if full else ["contact"] if content else [
            "subject", "content", "contact", "resolution", "revisit", "invalidation",
            "conclusion", "history.detail"],
        "history": history(record, content, full),
    }
    if record.merged_into:
        answer["mergedInto"] = record.merged_into
    if record.merged_ids:
        answer["mergedIds"] = list(record.merged_ids)
    if record.rejection:
        answer["rejection"] = {**record.rejection, **({} if content else {"detail": None})}
    if record.resolution:
        answer["resolution"] = record.resolution if content else None
    if record.revisit:
        answer["revisit"] = record.revisit if content else None
    if record.extension:
        answer["extension"] = record.extension if full else {
            "status": record.extension.get("status"),
            "workingDays": record.extension.get("workingDays")}
    if record.reopened:
        answer["reopened"] = int(record.reopened)
    if record.invalidation:
        answer["invalidation"] = record.invalidation if content else None
    if record.conclusion:
        answer["conclusion"] = record.conclusion if content else None
    return answer


def history(record: ComplaintRecord, detail: bool, actor: bool) -> list[dict[str, Any]]:
    """The complaint's own events, oldest first (the clocks' records stay with supervision);
    with each event's detail and actor only for those who may see them."""
    trail = AuditRecord.query(record.pk, AuditRecord.sk.startswith("AUDIT#"))
    return [{"at": local_time(a.at), "event": a.event, "from": a.from_status, "to": a.to_status,
             **({"actor": a.actor} if actor else {}),
             **({"detail": a.detail.as_dict()} if detail and a.detail else {})}
            for a in trail if not a.event.startswith(_CLOCK_EVENTS)]
