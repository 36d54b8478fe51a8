"""办件草稿: a new application (draft), its validation, and who may see an application.

The applicant (or window staff on their behalf) drafts an application against the published
version of an item; the form is checked against that version's JSON Schema and the identity
number against its check character. Who may see or act on an application is the access
policy's (`yiwang.people.policy`): `can_see`, `check`, `load_for`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pynamodb.transactions import TransactWrite

from yiwang.applications.records import ApplicationRecord, new_audit
from yiwang.applications.status import Status
from yiwang.people import policy
from yiwang.people.access import APPLICANT, REVIEWER, WINDOW, Caller
from yiwang.platform import identity, validation
from yiwang.platform.errors import (
    ApplicationNotFound,
    Conflict,
    FieldError,
    ValidationFailed,
)
from yiwang.table.records import AuditRecord, connection
from yiwang.table.writes import write_if, write_or_conflict

if TYPE_CHECKING:
    from yiwang.catalogue.items import ItemVersion
    from yiwang.table.idempotency import Receipt
# The catalogue and the idempotency receipts are imported where they are used: most functions
# import this module (through `lifecycle`) for `load_for`, and need neither at their cold start
# (the catalogue is one of the layer's largest modules to compile; make bench).

Presenter = Callable[[ApplicationRecord, AuditRecord, Caller], dict[str, Any]]
"""How a new draft is shown (the presentation lives above this module, in `yiwang.views`)."""
READ = "getApplication"
"""The operation whose rule says who may read an application."""
CREATE_SCOPE = "create-application"
"""Idempotency scope of `POST /applications` (receipts keyed by caller and Idempotency-Key)."""

_PHONE = re.compile(r"^(\+?86)?1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")

MAX_ADDRESS = 500
"""A delivery address (as one string, or each part of a structured one), in characters."""
_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["itemCode", "applicant", "form", "delivery"],
    "maxProperties": 16,
    "properties": {
        "itemCode": {"type": "string", "minLength": 1, "maxLength": 64},
        # 属地: the region whose service centre accepts it (a window's own region wins).
        "region": {"type": "string", "maxLength": 12},
        "applicant": {
            "type": "object", "required": ["kind", "name", "phone"], "maxProperties": 16,
            "properties": {
                "kind": {"enum": ["PERSON", "LEGAL"]},
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "idNumber": {"type": "string", "maxLength": 32},
                "creditCode": {"type": "string", "maxLength": 32},
                "phone": {"type": "string", "maxLength": 32},
            },
            "additionalProperties": {"type": ["string", "null"], "maxLength": 200},
        },
        # The item's form schema says what a form holds; `validation.FORM_BOUNDS` bound it.
        "form": {"type": "object"},
        "delivery": {
            "type": "object", "required": ["method"], "maxProperties": 8,
            "properties": {"method": {"enum": ["PICKUP", "COURIER"]},
                           "address": {"type": ["string", "object"], "maxLength": MAX_ADDRESS,
                                       "maxProperties": 16,
                                       "additionalProperties": {
                                           "type": ["string", "null"],
                                           "maxLength": MAX_ADDRESS}}},
            "additionalProperties": {"type": ["string", "null"], "maxLength": 200},
        },
    },
}


def new_application_id(now: datetime) -> str:
    """办件编号: `YW` + date (Asia/Shanghai not needed for uniqueness) + 8 random digits."""
    return f"YW{now:%Y%m%d}{secrets.randbelow(10**8):08d}"


def _applicant_code(applicant: dict[str, Any]) -> str:
    return applicant.get("idNumber") or applicant.get("creditCode") or ""


def validate_draft(item: ItemVersion, payload: Any) -> dict[str, Any]:
    """The draft as stored (identifiers normalised), or `ValidationFailed` with every error."""
    errors = validation.errors(_ENVELOPE, payload)
    if errors:
        raise ValidationFailed(errors)
    applicant = dict(payload["applicant"])
    if applicant["kind"] not in item.applicant_kinds:
        errors.append(FieldError("applicant.kind", f"{item.name} is not for {applicant['kind']}"))
    field, check = (("idNumber", identity.validate_resident_id) if applicant["kind"] == "PERSON"
                    else ("creditCode", identity.validate_credit_code))
    try:
        applicant[field] = check(applicant.get(field) or "")
    except identity.InvalidIdentifier as error:
        errors.append(FieldError(f"applicant.{field}", str(error)))
    if not _PHONE.match(applicant["phone"]):
        errors.append(FieldError("applicant.phone", "not a mainland China phone number"))
    # Bounds first: an item's form schema may leave strings unbounded (validation.Bounds).
    errors.extend(validation.bound_errors(payload["form"], validation.FORM_BOUNDS, "form")
                  or validation.errors(item.form_schema, payload["form"], "form", formats=True))
    delivery = payload["delivery"]
    if delivery["method"] not in item.delivery_methods:
        errors.append(FieldError("delivery.method", f"{item.name} is not delivered by "
                                                    f"{delivery['method']}"))
    if delivery["method"] == "COURIER" and not delivery.get("address"):
        errors.append(FieldError("delivery.address", "a courier delivery needs an address"))
    if errors:
        raise ValidationFailed(errors)
    return {"applicant": applicant, "form": payload["form"], "delivery": delivery}


def accepting_region(caller: Caller, asked: Any) -> str:
    """属地受理: the region where the case is accepted. Window staff accept in their own
    region; an applicant online names the service centre's region, or is served at the
    platform's default region. An unknown region is refused (422)."""
    from yiwang.regions import tree

    if caller.role == WINDOW and tree.known(caller.region):
        return str(caller.region)
    if asked is None:
        return tree.default_region()
    if not tree.known(asked):
        raise ValidationFailed([FieldError("region", f"no region {asked}")])
    return str(asked)


def create_draft(caller: Caller, payload: Any, now: datetime | None = None) -> ApplicationRecord:
    """A new application in status DRAFT, with its audit record."""
    record, audit, access = _new_draft(caller, payload, now)
    _write_draft(record, audit, access=access)
    return record


def new_draft(caller: Caller, payload: Any, now: datetime | None = None
              ) -> tuple[ApplicationRecord, AuditRecord, list[Any]]:
    """A draft not written yet: the record, its audit record and what must be written with
    them (register lookups' access records, a principal's notice), for a caller that writes
    several drafts in one transaction of its own (a theme's: `yiwang.themes.cases`)."""
    return _new_draft(caller, payload, now)


def create_draft_answer(caller: Caller, payload: Any, present: Presenter,
                        idempotency_key: str | None = None,
                        now: datetime | None = None) -> dict[str, Any]:
    """`POST /applications`: a new draft, answered as `present` shows it (the draft, its audit
    record and the caller: `yiwang.views.applications.draft`), without reading back
    what was just written. With an `Idempotency-Key` the answer is kept in a receipt written in
    the draft's own transaction, so a repeated request gets the first answer (one GetItem) and
    never a second draft; the same key with another body is a `Conflict`."""
    from yiwang.table.idempotency import Receipt

    receipt = (Receipt(CREATE_SCOPE, idempotency_key, payload, owner=caller.sub)
               if idempotency_key else None)
    if receipt is not None and (first := receipt.stored_answer()) is not None:
        return first
    record, audit, access = _new_draft(caller, payload, now)
    answer = present(record, audit, caller)
    if receipt is None:
        write_or_conflict(lambda: _write_draft(record, audit, access=access),
                          f"application {record.application_id} exists already")
        return answer
    if not write_if(lambda: _write_draft(record, audit, receipt, answer, access)):
        first = receipt.stored_answer()  # a concurrent request with this key was first
        if first is None:
            raise Conflict("a request with this Idempotency-Key is still in progress")
        return first
    return answer


def _new_draft(caller: Caller, payload: Any, now: datetime | None
               ) -> tuple[ApplicationRecord, AuditRecord, list[Any]]:
    caller.require(APPLICANT, WINDOW)
    if not isinstance(payload, dict):
        raise ValidationFailed([FieldError("$", "the body must be a JSON object")])
    from yiwang.catalogue.governance import open_item

    # A suspended or abolished item (暂停、终止) takes no new application (422).
    item = open_item(str(payload.get("itemCode", "")), now)
    draft = validate_draft(item, payload)
    region = accepting_region(caller, payload.get("region"))
    from yiwang.applications import escalation  # 上报件: accepted here, handled above

    escalated = escalation.plan(item, region)
    code = _applicant_code(draft["applicant"])
    agent, principal_sub = None, None
    if caller.role == APPLICANT and code not in {caller.id_number, caller.credit_code}:
        # 授权代办: applying in someone else's name needs their authorisation, in force, for
        # this item (else a 403 saying so); the application then carries both parties.
        from yiwang.people import agency

        given = payload.get("agent") if isinstance(payload.get("agent"), dict) else {}
        authority = agency.authorise(caller, code, item.code, given.get("authorisationId"))
        agent = {"sub": caller.sub, "idNumber": caller.id_number,
                 "name": authority.agent_name, "authorisationId": authority.authorisation_id}
        principal_sub = authority.principal_sub
    now = now or datetime.now(UTC)
    application_id = new_application_id(now)
    # 人口库、法人库: the applicant checked against their register (a refusal stops intake
    # here); the register's fields fill what the applicant left out. With the exchange down
    # intake goes on unchecked: the materials are then all uploaded.
    from yiwang.people import registers  # the exchange's client: intake's alone

    check = registers.check_applicant(caller, draft["applicant"], application_id)
    draft["applicant"] = {**check.prefill(), **draft["applicant"]}
    # 一次填报: form fields the item takes from the register, filled; a correction the item
    # does not allow refused.
    from yiwang.applications import prefill

    draft["form"], filled, errors = prefill.enforce(item.form_schema, draft["form"],
                                                    check.fields())
    if errors:
        for lookup in check.access:  # the lookup happened: recorded though intake stops
            lookup.save()
        raise ValidationFailed(errors)
    record = ApplicationRecord(
        ApplicationRecord.key(application_id), "META",
        application_id=application_id, status=Status.DRAFT, item_code=item.code,
        item_version=item.version, owner_sub=caller.sub, created_at=now,
        required_materials=[m.id for m in item.materials if m.required and not m.later_allowed
                            and m.applies_to(draft["applicant"]["kind"])],
        stored_materials=[], gsi1pk=f"APPLICANT#{code}", gsi1sk=now.isoformat(),
        register_check={**check.summary(), **({"formFilled": filled} if filled else {})},
        agent=agent, region=region, escalation=escalated,
        assisted_by=caller.sub if caller.role == WINDOW else None, **draft,
    )
    # Who entered it for whom: an agent under an authorisation (代办), or window staff for a
    # walk-in applicant (帮办).
    audit = new_audit(application_id, caller.sub, "DRAFT_CREATED", None, Status.DRAFT,
                      {"itemCode": item.code, "itemVersion": item.version, "region": region,
                       "registerCheck": check.status.value, "registerSource": check.source,
                       **({"formFilledFrom": filled} if filled else {}),
                       **({"agentAuthorisation": agent["authorisationId"]} if agent else {}),
                       **({"assistedBy": caller.sub} if caller.role == WINDOW else {})})
    extra: list[Any] = list(check.access)
    if principal_sub:  # the principal is told, in the draft's own transaction (站内信)
        extra.append(_principal_notice(principal_sub, record, item.name))
    return record, audit, extra


def _principal_notice(principal_sub: str, record: ApplicationRecord, item_name: str) -> Any:
    """The principal's inbox entry: an agent applied in their name."""
    from yiwang.people.notices import InboxRecord, Notice

    agent = record.agent or {}
    notice = Notice(principal_sub, "AGENT_APPLIED", "代办申请",
                    f"{agent.get('name')} 受您委托（{agent.get('authorisationId')}）申请了"
                    f"{item_name}，办件编号 {record.application_id}。", record.application_id)
    return InboxRecord(f"INBOX#{notice.recipient}", f"NOTICE#{notice.at}#{notice.notice_id}",
                       notice_id=notice.notice_id, kind=notice.kind, title=notice.title,
                       body=notice.body, application_id=notice.application_id,
                       at=datetime.fromisoformat(notice.at))


def _write_draft(record: ApplicationRecord, audit: AuditRecord, receipt: Receipt | None = None,
                 answer: dict[str, Any] | None = None,
                 access: list[Any] | None = None) -> None:
    """The draft, its audit record, its register lookups' access records and the principal's
    notice of an agent's draft (and the receipt), in one transaction: a lookup is never
    recorded for a draft that was not written, nor the other way round."""
    with TransactWrite(connection=connection()) as transaction:
        transaction.save(record, condition=ApplicationRecord.pk.does_not_exist())
        transaction.save(audit)
        for lookup in access or ():
            transaction.save(lookup)
        if receipt is not None:
            receipt.write_in(transaction, answer or {})


def facts_of(record: ApplicationRecord, caller: Caller,
             item: ItemVersion | None = None) -> policy.Facts:
    """What the access policy needs of an application (`yiwang.people.policy`): its applicant
    (by subject and identifier), who entered it, and, once submitted, its departments (read
    from the item only for a reviewer, the one role that needs them).

    上报件: its departments (the higher level's) handle it once it has gone up; it reaches
    the windows of its accepting region only (`escalation.window_may_see`)."""
    from yiwang.applications import escalation

    submitted = record.status != Status.DRAFT
    departments: frozenset[str] = frozenset()
    with_staff = submitted and (caller.role != WINDOW
                                or escalation.window_may_see(record, caller.region))
    if submitted and caller.role == REVIEWER and (not escalation.is_escalated(record)
                                                  or escalation.gone_up(record)):
        if item is None:
            from yiwang.catalogue.items import get_item

            item = get_item(record.item_code, int(record.item_version))
        departments = frozenset(item.departments)
    code = _applicant_code(record.applicant or {})
    return policy.Facts(owner_subs=frozenset({record.owner_sub}),
                        owner_codes=frozenset({code} if code else ()),
                        entered_by=record.owner_sub, departments=departments,
                        with_staff=with_staff, regions=escalation.regions_of(record))


def can_see(caller: Caller, record: ApplicationRecord, item: ItemVersion | None = None) -> bool:
    """Whether the caller may read the application (`getApplication` in the access policy):
    its applicant; once submitted, its departments' reviewers and the staff who oversee
    applications; a draft only its applicant and the window staff who entered it."""
    return policy.allows(READ, caller, facts_of(record, caller, item))


def check(operation_id: str, caller: Caller, record: ApplicationRecord) -> ApplicationRecord:
    """The application, if the caller may call `operation_id` on it; otherwise `Forbidden`
    (their role may not at all) or `ApplicationNotFound` (not theirs: as for an unknown id)."""
    policy.check(operation_id, caller, facts_of(record, caller),
                 ApplicationNotFound(f"no application {record.application_id}"))
    if record.agent and operation_id not in {READ, "submitApplication"}:
        # (Submitting checks it inside its own transaction: `agency.in_force_check`.)
        # 授权代办: every step the agent takes needs the authority still in force.
        from yiwang.people import agency

        agency.require_authority(record.agent, caller)
    return record


def load_for(caller: Caller, application_id: str, operation_id: str = "getApplication"
             ) -> ApplicationRecord:
    """The application, if the caller may call `operation_id` on it (by default: read it);
    otherwise (or if none) `ApplicationNotFound`, or `Forbidden` for a role that may not."""
    policy.permit(operation_id, caller)
    return check(operation_id, caller, ApplicationRecord.load(application_id))
