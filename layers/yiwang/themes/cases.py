"""主题办件 (theme cases): one submission of a theme makes linked applications, one per item.

`create` fills each item's form from the merged form (a shared field asked once) and the
item's own extra fields, checks each as its own draft would be checked (an error is reported
at the path the applicant filled: `form.<merged field>` or `itemForms.<item>.<field>`), and
writes every draft and the case in one transaction (with `Idempotency-Key`, a repeated request
gets the first case). `submit` submits every draft: each runs its own lifecycle execution, the
departments of every item reviewing in parallel. The combined status is `view`; the case is
complete when every application in it is concluded (`progress`).

Records, in the single table:
- case: pk=`THEMECASE#<id>`, sk=`META`: the theme, the applicant, the applications (id, item,
  item name), the status the case has reached (DRAFT, SUBMITTED, COMPLETED), the theme steps
  told so far (`steps`); each application carries the case id (`themeCaseId`); listed for
  its applicant on the ListIndex, gsi1pk=`THEMECASES#<identity number or credit code>`,
  gsi1sk=createdAt (`list_cases`);
- audit: pk=`THEMECASE#<id>`, sk=`AUDIT#...`: created, submitted, each theme step;
- the theme's payment order: see `yiwang.themes.payments`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.applications import drafts, lifecycle
from yiwang.applications.records import ApplicationRecord
from yiwang.applications.status import Status
from yiwang.applications.tasks import tasks_of
from yiwang.people import policy
from yiwang.people.access import WINDOW, Caller
from yiwang.platform import validation
from yiwang.platform.errors import Conflict, FieldError, NotFound, ValidationFailed
from yiwang.table.records import AuditRecord, ListIndex, TableMeta, connection, new_audit_for
from yiwang.table.writes import write_if, write_or_conflict
from yiwang.themes.definitions import Theme, get_theme, merged_materials

CREATE_SCOPE = "create-theme-case"
"""Idempotency scope of `POST /themes/{code}/applications`."""
CONCLUDED = frozenset({Status.COMPLETED, Status.REJECTED, Status.NOT_ACCEPTED,
                       Status.CANCELLED})
"""办结: an application in one of these statuses takes no further step."""
REFUSED = frozenset({Status.REJECTED, Status.NOT_ACCEPTED})
DRAFT, SUBMITTED, COMPLETED = "DRAFT", "SUBMITTED", "COMPLETED"
_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["applicant", "form", "delivery"],
    "maxProperties": 8,
    "properties": {
        "applicant": {"type": "object", "maxProperties": 16},
        "form": {"type": "object", "maxProperties": 100},
        "itemForms": {"type": "object", "maxProperties": 10,
                      "additionalProperties": {"type": "object", "maxProperties": 100}},
        "delivery": {"type": "object", "maxProperties": 8,
                     "properties": {"method": {"const": "PICKUP"}}},
        "region": {"type": "string", "maxLength": 12},
    },
    "additionalProperties": False,
}
"""What a theme's submission holds; each item's draft is then checked as `POST /applications`
checks one. Certificates are handed over together at the window (PICKUP, docs/rules.md §18)."""
_FORM_PATH = re.compile(r"^form\.([^.\[]+)(.*)$")


class ThemeCaseRecord(Model):
    """主题办件: one submission of a theme and the applications it made."""

    class Meta(TableMeta):
        pass

    PARTITION_PREFIX = "THEMECASE#"
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    case_id = UnicodeAttribute(attr_name="caseId")
    theme_code = UnicodeAttribute(attr_name="themeCode")
    theme_name = UnicodeAttribute(attr_name="themeName")
    owner_sub = UnicodeAttribute(attr_name="ownerSub")
    applicant_code = UnicodeAttribute(attr_name="applicantCode")
    entered_by = UnicodeAttribute(attr_name="enteredBy", null=True)
    region = UnicodeAttribute(null=True)
    """属地: the accepting region its applications share (region-scoped supervision)."""
    applications = JSONAttribute()
    """[{"applicationId", "itemCode", "itemName"}], in the theme's order of items."""
    status = UnicodeAttribute()
    steps = ListAttribute(of=UnicodeAttribute, default=list)
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    submitted_at = UTCDateTimeAttribute(attr_name="submittedAt", null=True)
    gsi1pk = UnicodeAttribute(null=True)
    """`THEMECASES#<applicant code>`: the applicant's list of theme cases."""
    gsi1sk = UnicodeAttribute(null=True)
    """createdAt: the list is newest first."""
    version = VersionAttribute()

    by_applicant = ListIndex()
    LIST_PREFIX = "THEMECASES#"

    @staticmethod
    def key(case_id: str) -> str:
        return f"{ThemeCaseRecord.PARTITION_PREFIX}{case_id}"

    @classmethod
    def load(cls, case_id: str) -> ThemeCaseRecord:
        try:
            return cls.get(cls.key(case_id), "META", consistent_read=True)
        except cls.DoesNotExist as missing:
            raise NotFound(f"no theme case {case_id}") from missing

    @property
    def application_ids(self) -> list[str]:
        return [entry["applicationId"] for entry in self.applications]


def new_case_id(now: datetime) -> str:
    """主题办件编号: `TH` + date + 8 random digits."""
    return f"TH{now:%Y%m%d}{secrets.randbelow(10**8):08d}"


def audit(case_id: str, actor: str, event: str, detail: dict[str, Any] | None = None,
          at: datetime | None = None) -> AuditRecord:
    """An audit record of the theme case (its trail; theme notices are derived from it)."""
    return new_audit_for(ThemeCaseRecord.key(case_id), actor, event, None, None, detail, at)


# --- who may see a case ------------------------------------------------------------------------


def facts_of(case: ThemeCaseRecord) -> policy.Facts:
    return policy.Facts(owner_subs=frozenset({case.owner_sub}),
                        owner_codes=frozenset({case.applicant_code}),
                        entered_by=case.entered_by, with_staff=case.status != DRAFT,
                        regions=frozenset({case.region}) if case.region else frozenset())


def load_for(caller: Caller, case_id: str, operation_id: str = "getThemeCase"
             ) -> ThemeCaseRecord:
    """The case, if the caller may call `operation_id` on it; otherwise `NotFound` (not theirs,
    as for an unknown id) or `Forbidden` (their role may not at all)."""
    policy.permit(operation_id, caller)
    case = ThemeCaseRecord.load(case_id)
    policy.check(operation_id, caller, facts_of(case), NotFound(f"no theme case {case_id}"))
    return case


# --- one submission ----------------------------------------------------------------------------


def create(caller: Caller, code: str, payload: Any, idempotency_key: str | None = None,
           now: datetime | None = None) -> dict[str, Any]:
    """`POST /themes/{code}/applications`: the theme case and one draft per item, written
    together; answered as `view` shows it (with `Idempotency-Key`, the first answer again)."""
    policy.permit("createThemeCase", caller)
    from yiwang.table.idempotency import Receipt

    receipt = (Receipt(CREATE_SCOPE, idempotency_key, {"theme": code, "body": payload},
                       owner=caller.sub) if idempotency_key else None)
    if receipt is not None and (first := receipt.stored_answer()) is not None:
        return first
    theme = get_theme(code)
    errors = validation.errors(_ENVELOPE, payload)
    if errors:
        raise ValidationFailed(errors)
    now = now or datetime.now(UTC)
    case_id = new_case_id(now)
    drafted = _drafts(caller, theme, payload, now)
    records = [record for record, _, _ in drafted]
    applicant = records[0].applicant or {}
    applicant_code = applicant.get("creditCode") or applicant.get("idNumber") or ""
    case = ThemeCaseRecord(
        ThemeCaseRecord.key(case_id), "META", case_id=case_id, theme_code=theme.code,
        theme_name=theme.name, owner_sub=caller.sub, applicant_code=applicant_code,
        gsi1pk=f"{ThemeCaseRecord.LIST_PREFIX}{applicant_code}", gsi1sk=now.isoformat(),
        entered_by=caller.sub if caller.role == WINDOW else None,
        region=records[0].region,
        applications=[{"applicationId": r.application_id, "itemCode": r.item_code,
                       "itemName": name} for r, name in zip(records,
                                                            [i.name for i in theme.items()],
                                                            strict=True)],
        status=DRAFT, steps=[], created_at=now)
    for record in records:
        record.theme_case_id = case_id
    answer = view_of(case, records, caller)
    created = audit(case_id, caller.sub, "THEME_CASE_CREATED",
                    {"themeCode": theme.code, "applications": case.application_ids}, now)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(case, condition=ThemeCaseRecord.pk.does_not_exist())
            transaction.save(created)
            for record, draft_audit, extra in drafted:
                transaction.save(record, condition=ApplicationRecord.pk.does_not_exist())
                transaction.save(draft_audit)
                for other in extra:
                    transaction.save(other)
            if receipt is not None:
                receipt.write_in(transaction, answer)

    if receipt is None:
        write_or_conflict(write, f"theme case {case_id} exists already")
    elif not write_if(write):
        first = receipt.stored_answer()
        if first is None:
            raise Conflict("a request with this Idempotency-Key is still in progress")
        return first
    return answer


def _drafts(caller: Caller, theme: Theme, payload: dict[str, Any], now: datetime
            ) -> list[tuple[ApplicationRecord, AuditRecord, list[Any]]]:
    """Each item's draft (not written), or `ValidationFailed` with every error of every item
    at the path the applicant filled (each reported once)."""
    own = payload.get("itemForms") or {}
    errors: dict[tuple[str, str], FieldError] = {}
    drafted = []
    unknown = [FieldError(f"itemForms.{code}", "not one of the theme's items")
               for code in own if code not in theme.item_codes]
    for code in theme.item_codes:
        body = {"itemCode": code, "applicant": payload["applicant"],
                "form": theme.form_of(code, payload["form"], own.get(code) or {}),
                "delivery": payload["delivery"],
                **({"region": payload["region"]} if "region" in payload else {})}
        try:
            drafted.append(drafts.new_draft(caller, body, now))
        except ValidationFailed as failed:
            for error in failed.errors:
                path = _repath(theme, code, error.path)
                errors.setdefault((path, error.message), FieldError(path, error.message))
    if errors or unknown:
        raise ValidationFailed(unknown + list(errors.values()))
    return drafted


def _repath(theme: Theme, code: str, path: str) -> str:
    """An item draft's error path as the theme's submission names it."""
    match = _FORM_PATH.match(path)
    if match is None:
        return path
    return theme.source_of(code, match.group(1)) + match.group(2)


def submit(caller: Caller, case_id: str, sfn: Any, state_machine_arn: str,
           now: datetime | None = None) -> ThemeCaseRecord:
    """Submit every application of the case (each starts its own lifecycle execution, once);
    DRAFT → SUBMITTED, audited. Repeating it completes a submission that stopped half-way."""
    case = load_for(caller, case_id, "submitThemeCase")
    if case.status not in {DRAFT, SUBMITTED}:
        raise Conflict(f"theme case {case_id} is {case.status}")
    now = now or datetime.now(UTC)
    if case.status == DRAFT:
        share_materials(case, caller.sub, now)
    for application_id in case.application_ids:
        status = ApplicationRecord.load(application_id).status
        if status in {Status.DRAFT, Status.SUBMITTED}:
            lifecycle.submit(caller, application_id, sfn, state_machine_arn, now)
    if case.status == DRAFT:
        case.status, case.submitted_at = SUBMITTED, now
        moved = audit(case_id, caller.sub, "THEME_SUBMITTED",
                      {"applications": case.application_ids}, now)

        def write() -> None:
            with TransactWrite(connection=connection()) as transaction:
                transaction.save(case)
                transaction.save(moved)

        write_or_conflict(write, f"theme case {case_id} changed meanwhile")
    return case


def share_materials(case: ThemeCaseRecord, actor: str, now: datetime) -> int:
    """每份材料只交一次: a material the theme asks once (`merged_materials`), uploaded to one
    of its applications, is stored for every other application of the case that needs it: an
    attachment of its own pointing at the same checked file (never a second upload or copy),
    the material among its stored materials, and a MATERIAL_SHARED audit record, together.
    Returns how many were shared."""
    from yiwang.applications.records import (
        AttachmentRecord,
        AttachmentStatus,
        application_stub,
        new_audit,
    )
    from yiwang.applications.uploads import attachments_of
    from yiwang.catalogue.items import get_item

    records = {r.item_code: r for r in members(case)}
    items = [get_item(r.item_code, int(r.item_version)) for r in records.values()]
    shared = 0
    for material in merged_materials(items):
        uses = [(records[u["itemCode"]], u["materialId"]) for u in material["items"]]
        source = next(((r, a) for r, m in uses for a in attachments_of(r.application_id)
                       if a.material_id == m and a.status == AttachmentStatus.STORED), None)
        if source is None:
            continue
        origin, attachment = source
        for record, material_id in uses:
            if record.status != Status.DRAFT or material_id in (record.stored_materials or []):
                continue
            copy = AttachmentRecord(
                record.pk, AttachmentRecord.sort_key(attachment.attachment_id),
                attachment_id=attachment.attachment_id, material_id=material_id,
                file_name=attachment.file_name, content_type=attachment.content_type,
                size_bytes=attachment.size_bytes, sha256=attachment.sha256,
                s3_key=attachment.s3_key, part_size_bytes=attachment.part_size_bytes,
                status=AttachmentStatus.STORED, created_at=now)
            told = new_audit(record.application_id, actor, "MATERIAL_SHARED", None, None,
                             {"materialId": material_id, "themeCaseId": case.case_id,
                              "fromApplication": origin.application_id,
                              "attachmentId": attachment.attachment_id}, now)

            def write(copy: AttachmentRecord = copy, told: AuditRecord = told,
                      record: ApplicationRecord = record, material_id: str = material_id
                      ) -> None:
                with TransactWrite(connection=connection()) as transaction:
                    transaction.save(copy, condition=AttachmentRecord.pk.does_not_exist())
                    transaction.update(
                        application_stub(record.application_id),
                        actions=[ApplicationRecord.stored_materials.set(
                            ApplicationRecord.stored_materials.append([material_id]))],
                        condition=(ApplicationRecord.status == Status.DRAFT)
                        & ~ApplicationRecord.stored_materials.contains({"S": material_id}),
                        add_version_condition=False)
                    transaction.save(told)

            shared += write_if(write)
    return shared


# --- the combined status -----------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Where the case's applications are, taken together."""

    status: str
    running: list[ApplicationRecord]
    refused: list[ApplicationRecord]


def standing(case: ThemeCaseRecord, records: list[ApplicationRecord],
             paying: bool = False) -> Standing:
    """The case's overall status: DRAFT until submitted; COMPLETED when every application is
    concluded; READY_FOR_PICKUP when every application still running is there;
    AWAITING_PAYMENT while the theme's one order is to be paid (`paying`); IN_PROGRESS
    otherwise."""
    running = [r for r in records if r.status not in CONCLUDED]
    refused = [r for r in records if r.status in REFUSED]
    if case.status == DRAFT:
        return Standing(DRAFT, running, refused)
    if not running:
        return Standing(COMPLETED, running, refused)
    together = {r.status for r in running}
    if together == {Status.READY_FOR_PICKUP}:
        return Standing(Status.READY_FOR_PICKUP, running, refused)
    if paying:
        return Standing(Status.AWAITING_PAYMENT, running, refused)
    return Standing("IN_PROGRESS", running, refused)


def members(case: ThemeCaseRecord) -> list[ApplicationRecord]:
    """The case's applications, in the theme's order of items, read in one BatchGetItem."""
    keys = [(ApplicationRecord.key(i), ApplicationRecord.SORT_KEY) for i in case.application_ids]
    found = {r.application_id: r for r in ApplicationRecord.batch_get(keys,
                                                                      consistent_read=True)}
    missing = [i for i in case.application_ids if i not in found]
    if missing:
        raise NotFound(f"theme case {case.case_id}: no application {', '.join(missing)}")
    return [found[i] for i in case.application_ids]


def refusal(record: ApplicationRecord) -> dict[str, Any] | None:
    """Why an application was refused (不予受理 or 不予许可): each refusing department's
    opinion, as its decided task recorded it."""
    if record.status not in REFUSED:
        return None
    from yiwang.catalogue import departments

    reasons = []
    for task in tasks_of(record.application_id):
        if task.decision in {"REJECT", "NOT_ACCEPTED"}:
            try:
                name = departments.get(task.department).name
            except NotFound:
                name = task.department
            reasons.append({"department": task.department, "departmentName": name,
                            "decision": task.decision, "opinion": task.opinion})
    return {"status": record.status, "reasons": reasons}


def view_of(case: ThemeCaseRecord, records: list[ApplicationRecord], caller: Caller,
            payment: dict[str, Any] | None = None) -> dict[str, Any]:
    """The case as its applicant reads it: each application's status (a refusal explained
    with the department's opinion), the overall status, the de-duplicated materials with the
    applications each is uploaded to, and the one payment pending."""
    state = standing(case, records, paying=payment is not None)
    names = {entry["applicationId"]: entry["itemName"] for entry in case.applications}
    by_item = {r.item_code: r for r in records}
    from yiwang.catalogue.items import get_item

    items = [get_item(r.item_code, int(r.item_version)) for r in records]
    materials = [{**m, "items": [{**use, "applicationId": by_item[use["itemCode"]].application_id,
                                  "stored": use["materialId"] in
                                  (by_item[use["itemCode"]].stored_materials or [])}
                                 for use in m["items"]]}
                 for m in merged_materials(items)]
    return {
        "id": case.case_id, "themeCode": case.theme_code, "themeName": case.theme_name,
        "status": state.status,
        "applications": [{"id": r.application_id, "itemCode": r.item_code,
                          "itemName": names.get(r.application_id, r.item_code),
                          "status": r.status,
                          **({"refusal": why} if (why := refusal(r)) else {})}
                         for r in records],
        "materials": materials,
        "steps": list(case.steps or []),
        "createdAt": case.created_at.isoformat(),
        **({"submittedAt": case.submitted_at.isoformat()} if case.submitted_at else {}),
        **({"pending": {"payment": payment}} if payment else {}),
    }


def view(caller: Caller, case_id: str) -> dict[str, Any]:
    """`GET /theme-cases/{id}`: the combined status (`view_of`)."""
    case = load_for(caller, case_id)
    from yiwang.themes import payments

    return view_of(case, members(case), caller, payments.pending(case_id))


def list_cases(caller: Caller, params: dict[str, str] | None) -> dict[str, Any]:
    """`GET /theme-cases`: the applicant's own theme cases, newest first, one page (`limit`,
    `nextToken` as `GET /applications` takes them): each case's summary (`row`); the combined
    status is the case's view."""
    policy.permit("listThemeCases", caller)
    from yiwang.applications import listing

    params = params or {}
    request = listing.parse_request({name: params[name] for name in ("limit", "nextToken")
                                     if name in params})
    partitions = [f"{ThemeCaseRecord.LIST_PREFIX}{code}"
                  for code in caller.applicant_codes]
    found, next_token = listing.partitions_page(ThemeCaseRecord.by_applicant, partitions,
                                                request.limit, request.next_token)
    return {"themeCases": [row(case) for case in found],
            **({"nextToken": next_token} if next_token else {})}


def row(case: ThemeCaseRecord) -> dict[str, Any]:
    """A case in its applicant's list, from the case record alone: the theme, the phase it has
    reached (DRAFT, SUBMITTED, COMPLETED), the last theme step told, its applications."""
    steps = list(case.steps or [])
    return {
        "id": case.case_id, "themeCode": case.theme_code, "themeName": case.theme_name,
        "status": case.status,
        **({"lastStep": steps[-1]} if steps else {}),
        "applications": [{"id": entry["applicationId"], "itemCode": entry["itemCode"],
                          "itemName": entry["itemName"]} for entry in case.applications],
        "createdAt": case.created_at.isoformat(),
        **({"submittedAt": case.submitted_at.isoformat()} if case.submitted_at else {}),
    }


# --- certificates handed over together ---------------------------------------------------------


def pickup(caller: Caller, case_id: str, payload: Any, sfn: Any,
           now: datetime | None = None) -> dict[str, Any]:
    """Window staff hand over every certificate of the case at once (`{"collectedBy",
    "note"?}`): only when every application still running is READY_FOR_PICKUP (`Conflict`
    otherwise, nothing handed over); each application is then COMPLETED as its own pickup
    would make it (`delivery.complete_pickup`: audited, its execution resumed)."""
    case = load_for(caller, case_id, "recordThemePickup")
    from yiwang.fulfilment import delivery

    records = members(case)
    state = standing(case, records)
    if state.status != Status.READY_FOR_PICKUP:
        waiting = [f"{r.application_id} {r.status}" for r in state.running
                   if r.status != Status.READY_FOR_PICKUP]
        raise Conflict(f"theme case {case_id} is {state.status}; not ready: "
                       f"{', '.join(waiting) or 'nothing to hand over'}")
    handed = [delivery.complete_pickup(caller, r.application_id, payload, sfn, now)
              for r in state.running]
    return view_of(case, [next((h for h in handed if h.application_id == r.application_id), r)
                          for r in records], caller)
