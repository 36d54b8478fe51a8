"""Notices derived from the audit trail (告知): every audited state change that the catalogue
(`yiwang.messaging.catalogue`) names is told to the people it concerns, on the channels the
catalogue gives.

Why the audit trail. Every state change already leaves an audit record, written in the same
transaction as the change; the table's stream brings each new one here (functions/notices).
So no step has to remember to notify, and a step that is retried writes nothing new, hence
sends nothing new. The stream itself delivers at least once: each notice's id is derived from
the audit record's key, the template and the recipient (`notice_id`), its time is the audit
record's, and the inbox and the SMS outbox both file on that id only once.

Who is told:
- an application's applicant (inbox `APPLICANT#<identity number or credit code>`, the phone the
  application gives) and, when the application names one, the agent (代理人: `agentIdNumber`,
  `agentPhone` in the applicant's block; none is fine);
- a complaint's complainant (the subject who filed it online; the contact's mobile number);
- a rating's rater (the subject who rated; the phone of a real-name rater);
- a theme case's applicant;
- a service item's lead department (its inbox `DEPT#<code>`, which its reviewers read): the
  reform office's publication or return of its version, and each change of its standing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from yiwang.applications.records import ApplicationRecord
from yiwang.calendar.workdays import SHANGHAI
from yiwang.catalogue.items import get_item
from yiwang.complaints.records import ComplaintRecord
from yiwang.fulfilment.payments import PaymentOrderRecord
from yiwang.messaging.catalogue import (
    INBOX,
    SMS,
    MissingVariable,
    Rule,
    catalogue,
    subject_of,
)
from yiwang.people.notices import Notice
from yiwang.platform.errors import NotFound
from yiwang.platform.observability import MetricUnit, logger, metrics
from yiwang.ratings import records as ratings
from yiwang.table.records import AuditRecord

_MOBILE = re.compile(r"1[3-9]\d{9}")


@dataclass(frozen=True)
class Recipient:
    """One person a notice goes to: their inbox (None: no account to file it for, e.g. a
    phone complaint) and their mobile number (None: no SMS)."""

    inbox: str | None
    phone: str | None
    role: str


@dataclass
class Subject:
    """What a notice's templates may say of the record the audit record belongs to, and who
    it concerns."""

    values: dict[str, Any]
    recipients: list[Recipient]
    application_id: str | None = None
    region: str | None = None
    """属地: the region the record lies in (an SMS that fails is its supervisors' to follow)."""


@dataclass(frozen=True)
class Delivery:
    """One notice on one channel to one recipient."""

    notice: Notice
    channel: str
    phone: str | None = None
    sms_template: str | None = None
    sms_variables: dict[str, str] = field(default_factory=dict)
    region: str | None = None


def notice_id(audit: AuditRecord, template: str, recipient: Recipient) -> str:
    """The notice's id: the same audit record, template and recipient give the same id, so a
    redelivered stream record files nothing twice."""
    who = recipient.inbox or f"PHONE#{recipient.phone}"
    digest = hashlib.sha256(f"{audit.pk}|{audit.sk}|{template}|{who}".encode()).hexdigest()
    return digest[:32]


def deliveries_for(audit: AuditRecord) -> list[Delivery]:
    """Every notice the audit record sends (none if the catalogue names none of its event)."""
    found = subject_of(audit.pk)
    if found is None:
        return []
    kind, record_id = found
    rules = catalogue().rules_for(kind, audit.event, audit.to_status)
    if not rules:
        return []
    detail = audit.detail.as_dict() if audit.detail else {}
    subject = _LOADERS[kind](record_id, detail)
    if subject is None:
        logger.warning("notices: the record is gone", extra={"pk": audit.pk})
        return []
    return [delivery for rule in rules for delivery in _render(audit, rule, subject, detail)]


def _render(audit: AuditRecord, rule: Rule, subject: Subject,
            detail: dict[str, Any]) -> list[Delivery]:
    values = {**_flat(detail), **subject.values}
    try:
        title, body = rule.template.render(values)
    except MissingVariable as missing:
        # A catalogue line that does not fit its event: told to operators, never half-sent,
        # and the stream goes on (a retry would not make the variable appear).
        logger.error("notice not sent", extra={"audit": audit.sk, "error": str(missing)})
        metrics.add_metric(name="NoticeTemplateIncomplete", unit=MetricUnit.Count, value=1)
        return []
    deliveries = []
    for recipient in subject.recipients:
        notice = Notice(recipient.inbox or f"PHONE#{recipient.phone}", rule.template.code,
                        title, body, subject.application_id,
                        notice_id=notice_id(audit, rule.template.code, recipient),
                        at=audit.at.isoformat())
        if INBOX in rule.channels and recipient.inbox:
            deliveries.append(Delivery(notice, INBOX))
        if SMS in rule.channels and recipient.phone:
            deliveries.append(Delivery(notice, SMS, recipient.phone, rule.template.sms,
                                       rule.template.sms_variables(values), subject.region))
    return deliveries


def _flat(detail: dict[str, Any]) -> dict[str, Any]:
    """The audit detail's plain values (a template names them as they are recorded)."""
    return {name: value for name, value in detail.items()
            if isinstance(value, str | int | float) and not isinstance(value, bool)}


def _local(moment: datetime | None) -> str | None:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else None


def _department_name(code: Any) -> str:
    """A department as the applicant reads it: its name in the registry, else its code."""
    from yiwang.catalogue import departments

    try:
        return departments.get(str(code)).name
    except NotFound:
        return str(code)


def _mobile(text: Any) -> str | None:
    match = _MOBILE.search(str(text or ""))
    return match.group(0) if match else None


# --- the records notices are about ----------------------------------------------------------


def _application(application_id: str, detail: dict[str, Any]) -> Subject | None:
    try:
        record = ApplicationRecord.load(application_id)
    except NotFound:  # gone (or never was): nobody to tell
        return None
    item = get_item(record.item_code, int(record.item_version))
    recipients = _applicant_recipients(record)
    if record.theme_case_id and detail.get("missing") is None:
        # 一件事一次办: the theme tells its steps once for all its applications (`_theme`);
        # only what the applicant must do for one application (补正) is told of it alone.
        recipients = []
    values: dict[str, Any] = {"applicationId": application_id, "itemName": item.name}
    if detail.get("department"):
        values["department"] = _department_name(detail["department"])
    names = {material.id: material.name for material in item.materials}
    if isinstance(detail.get("missing"), list):
        values["missingList"] = "；".join(_missing(entry, names) for entry in detail["missing"])
    if isinstance(detail.get("commitments"), list):  # 容缺受理: what is owed, and by when
        values["commitmentList"] = "；".join(
            f"{entry.get('materialName') or entry.get('materialId')}（{entry.get('dueBy')} 前补交）"
            for entry in detail["commitments"] if isinstance(entry, dict))
    if "amountFen" in detail:
        values["amountYuan"] = f"{int(detail['amountFen']) / 100:.2f}"
    if detail.get("orderId"):
        values["expiresAt"] = _order_expiry(application_id, str(detail["orderId"]))
    return Subject(values, recipients, application_id, record.region)


def _applicant_recipients(record: ApplicationRecord) -> list[Recipient]:
    """An application's applicant and, when it names one, their agent."""
    applicant = record.applicant or {}
    code = applicant.get("idNumber") or applicant.get("creditCode")
    recipients = [Recipient(f"APPLICANT#{code}" if code else record.owner_sub,
                            _mobile(applicant.get("phone")), "applicant")]
    agent_code, agent_phone = applicant.get("agentIdNumber"), _mobile(applicant.get("agentPhone"))
    if agent_code or agent_phone:
        recipients.append(Recipient(f"APPLICANT#{agent_code}" if agent_code else None,
                                    agent_phone, "agent"))
    return recipients


def _theme(case_id: str, detail: dict[str, Any]) -> Subject | None:
    """A theme case's step (一件事一次办): told to the applicant of its applications."""
    from yiwang.themes.cases import ThemeCaseRecord

    try:
        case = ThemeCaseRecord.load(case_id)
        first = ApplicationRecord.load(case.application_ids[0])
    except NotFound:
        return None
    values: dict[str, Any] = {"caseId": case_id, "themeName": case.theme_name,
                              "count": len(case.applications)}
    if "amountFen" in detail:
        values["amountYuan"] = f"{int(detail['amountFen']) / 100:.2f}"
    if detail.get("orderId"):
        from yiwang.themes.payments import order_of

        order = order_of(case_id, str(detail["orderId"]))
        values["expiresAt"] = _local(order.expires_at) if order else None
    return Subject(values, _applicant_recipients(first), first.application_id, case.region)


def _missing(entry: Any, names: dict[str, str]) -> str:
    """One missing material as the applicant reads it: its name, and why (一次性告知)."""
    if not isinstance(entry, dict):
        return names.get(str(entry), str(entry))
    material = str(entry.get("materialId") or entry.get("material") or entry.get("name") or "")
    why = [str(value) for key, value in entry.items()
           if key not in {"materialId", "material", "name"} and value]
    return names.get(material, material) + (f"（{'，'.join(why)}）" if why else "")


def _order_expiry(application_id: str, order_id: str) -> str | None:
    try:
        order = PaymentOrderRecord.get(ApplicationRecord.key(application_id),
                                       PaymentOrderRecord.sort_key(order_id))
    except PaymentOrderRecord.DoesNotExist:
        return None
    return _local(order.expires_at)


def _complaint(complaint_id: str, detail: dict[str, Any]) -> Subject | None:
    try:
        record = ComplaintRecord.load(complaint_id)
    except NotFound:
        return None
    contact = record.contact
    phone = _mobile(contact.get("phone") if isinstance(contact, dict) else contact)
    recipients = [Recipient(record.owner_sub, phone, "complainant")]
    values = {"complaintId": complaint_id, "subject": record.subject,
              "department": _department_name(record.department), "dueAt": _local(record.due_at)}
    return Subject(values, recipients, record.application_id, record.region)


def _rating(rating_id: str, detail: dict[str, Any]) -> Subject | None:
    try:
        record = ratings.load(rating_id)
    except NotFound:
        return None
    phone = None if record.anonymous else _mobile((record.rater or {}).get("phone"))
    values = {"applicationId": record.application_id,
              "department": _department_name(record.department)}
    return Subject(values, [Recipient(record.rater_sub, phone, "rater")], record.application_id,
                   record.region)


def _item(code: str, detail: dict[str, Any]) -> Subject | None:
    """A service item's review or standing (审改): told to its lead department, with the
    reform office's reasons when it returns a version."""
    from yiwang.catalogue.items import head_record

    try:
        head = head_record(code)
    except NotFound:
        return None
    values: dict[str, Any] = {"itemCode": code, "itemName": head.name}
    reasons = detail.get("reasons")
    if isinstance(reasons, list):
        values["reasons"] = "；".join(str(reason) for reason in reasons)
    return Subject(values, [Recipient(f"DEPT#{head.lead_department}", None, "department")])


_LOADERS = {"application": _application, "complaint": _complaint, "rating": _rating,
            "theme": _theme, "item": _item}
