"""容缺受理: accepting an application with a secondary material missing, on the applicant's
written commitment to supply it within a set number of working days.

Only a material the item marks 容缺 (`laterAllowed`, required) may be missing at acceptance.
The window accepts (`ACCEPT` with `commitments`: which material, how many working days); the
acceptance, the commitments and the application's list of outstanding materials are one
transaction (audited ACCEPTED_WITH_COMMITMENT). While a material is outstanding:
- the applicant may upload it to that material (the upload route allows it after acceptance),
  and its storing fulfils the commitment (COMMITMENT_FULFILLED);
- no department can approve and no certificate can be issued: both writes are conditional on
  the application having no outstanding material, so neither races a commitment;
- where the item says so (`laterPausesPromise`), the promise (承诺时限) does not count.
Each commitment has a clock (no cards: the applicant owes it, not a department) whose rule,
when the time runs out, suspends the case (中止): COMMITMENT_EXPIRED is audited, the applicant
gets a supplement notice (补正告知) naming the material, the promise and the departments'
review clocks are held. Supplying the material late resumes them (CASE_RESUMED).

Records: pk=`APP#<id>`, sk=`COMMIT#<material id>` (read with the case file).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.applications import promise
from yiwang.applications.records import ApplicationRecord, application_stub, new_audit
from yiwang.applications.status import TERMINAL
from yiwang.calendar import calendar_store
from yiwang.calendar.workdays import local_time
from yiwang.catalogue.items import get_item
from yiwang.deadlines import clocks
from yiwang.people.notices import Notice
from yiwang.platform import validation
from yiwang.platform.errors import Conflict, FieldError, ValidationFailed
from yiwang.platform.observability import MetricUnit, metrics
from yiwang.table.records import TableMeta, connection
from yiwang.table.writes import write_if

OUTSTANDING, FULFILLED, EXPIRED = "OUTSTANDING", "FULFILLED", "EXPIRED"
"""A commitment is OUTSTANDING until the material is stored (FULFILLED); EXPIRED when its time
ran out first (the case is suspended until the material comes: then FULFILLED, late)."""
EXPIRE_COMMITMENT = "EXPIRE_COMMITMENT"
"""The commitment clock's automatic rule (`expire`)."""
CLOCK_KIND = "COMMITMENT"
MAX_DAYS = 60
"""The longest a commitment may run (working days)."""
_COMMITMENTS: dict[str, Any] = {
    "type": "object",
    "properties": {"commitments": {
        "type": "array", "minItems": 1, "maxItems": 20,
        "items": {"type": "object", "required": ["materialId", "workingDays"],
                  "additionalProperties": False,
                  "properties": {
                      "materialId": {"type": "string", "minLength": 1, "maxLength": 64},
                      "workingDays": {"type": "integer", "minimum": 1,
                                      "maximum": MAX_DAYS}}}}},
}


class CommitmentRecord(Model):
    """容缺承诺: one material the applicant committed to supply after acceptance."""

    class Meta(TableMeta):
        pass

    SORT_PREFIX = "COMMIT#"
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    application_id = UnicodeAttribute(attr_name="applicationId")
    material_id = UnicodeAttribute(attr_name="materialId")
    material_name = UnicodeAttribute(attr_name="materialName")
    working_days = NumberAttribute(attr_name="workingDays")
    status = UnicodeAttribute()
    committed_at = Time(attr_name="committedAt")
    committed_by = UnicodeAttribute(attr_name="committedBy")
    due = Time(attr_name="dueBy")
    fulfilled_at = Time(attr_name="fulfilledAt", null=True)
    expired_at = Time(attr_name="expiredAt", null=True)

    @staticmethod
    def sort_key(material_id: str) -> str:
        return f"{CommitmentRecord.SORT_PREFIX}{material_id}"

    def to_api(self) -> dict[str, Any]:
        return {"materialId": self.material_id, "materialName": self.material_name,
                "workingDays": int(self.working_days), "status": self.status,
                "committedAt": local_time(self.committed_at), "dueBy": local_time(self.due),
                **({"fulfilledAt": local_time(self.fulfilled_at)} if self.fulfilled_at else {}),
                **({"expiredAt": local_time(self.expired_at)} if self.expired_at else {})}


def clock_name(material_id: str) -> str:
    return f"{CLOCK_KIND}#{material_id}"


def asked(payload: Any) -> list[dict[str, Any]]:
    """The `commitments` of a decision's body, checked for shape (none: an empty list)."""
    if not isinstance(payload, dict) or payload.get("commitments") is None:
        return []
    errors = validation.errors(_COMMITMENTS, {"commitments": payload["commitments"]})
    ids = [c.get("materialId") for c in payload["commitments"] if isinstance(c, dict)] \
        if isinstance(payload["commitments"], list) else []
    if not errors and len(set(ids)) != len(ids):
        errors.append(FieldError("commitments", "one commitment per material"))
    if errors:
        raise ValidationFailed(errors)
    return payload["commitments"]


def plan(application_id: str, wanted: list[dict[str, Any]], actor: str,
         now: datetime) -> list[CommitmentRecord]:
    """The commitments to write with an acceptance: each names a 容缺 material of the item
    (required, `laterAllowed`) that is not stored yet, with the working days it has."""
    record = ApplicationRecord.load(application_id)
    item = get_item(record.item_code, int(record.item_version))
    later = {m.id: m for m in item.materials if m.required and m.later_allowed}
    stored = set(record.stored_materials or [])
    errors, planned = [], []
    for index, entry in enumerate(wanted):
        material = later.get(entry["materialId"])
        if material is None:
            errors.append(FieldError(f"commitments.{index}.materialId",
                                     "not a 容缺 material of this item"))
        elif material.id in stored:
            errors.append(FieldError(f"commitments.{index}.materialId",
                                     "already supplied; nothing to commit"))
        else:
            days = int(entry["workingDays"])
            planned.append(CommitmentRecord(
                ApplicationRecord.key(application_id), CommitmentRecord.sort_key(material.id),
                application_id=application_id, material_id=material.id,
                material_name=material.name, working_days=days, status=OUTSTANDING,
                committed_at=now, committed_by=actor,
                due=calendar_store.due(now, days).due))
    if errors:
        raise ValidationFailed(errors)
    return planned


def save_in(transaction: TransactWrite, planned: list[CommitmentRecord], actor: str) -> None:
    """Add the commitments and their audit record (ACCEPTED_WITH_COMMITMENT) to the
    acceptance's transaction (the acceptance sets the outstanding materials itself)."""
    for commitment in planned:
        transaction.save(commitment, condition=CommitmentRecord.pk.does_not_exist())
    first = planned[0]
    transaction.save(new_audit(first.application_id, actor, "ACCEPTED_WITH_COMMITMENT", None,
                               None, {"commitments": [c.to_api() for c in planned]},
                               at=first.committed_at))


def of(application_id: str) -> list[CommitmentRecord]:
    """An application's commitments (any status)."""
    return list(CommitmentRecord.query(ApplicationRecord.key(application_id),
                                       CommitmentRecord.sk.startswith(
                                           CommitmentRecord.SORT_PREFIX),
                                       consistent_read=True))


def _get(application_id: str, material_id: str) -> CommitmentRecord | None:
    try:
        return CommitmentRecord.get(ApplicationRecord.key(application_id),
                                    CommitmentRecord.sort_key(material_id),
                                    consistent_read=True)
    except CommitmentRecord.DoesNotExist:
        return None


def start_clocks(application_id: str) -> None:
    """Each outstanding commitment's clock (from when it was made; once), and, where the item
    says so, the promise held while the material is outstanding. Run by the workflow after
    the acceptance (a retried step starts nothing twice)."""
    outstanding = [c for c in of(application_id) if c.status == OUTSTANDING]
    if not outstanding:
        return
    key = ApplicationRecord.key(application_id)
    record = ApplicationRecord.load(application_id)
    pauses = get_item(record.item_code, int(record.item_version)).later_pauses_promise
    for commitment in outstanding:
        clocks.start(key, clock_name(commitment.material_id), kind=CLOCK_KIND,
                     subject=application_id, department="APPLICANT", step="容缺补交",
                     now=commitment.committed_at, deadline=commitment.due, cards=False,
                     action=EXPIRE_COMMITMENT,
                     context={"materialId": commitment.material_id})
        if pauses:
            reason = f"{promise.LATER_MATERIAL}#{commitment.material_id}"
            promise.hold(application_id, reason, commitment.committed_at)
            if (_get(application_id, commitment.material_id) or commitment).status \
                    == FULFILLED:  # supplied in the meantime: do not hold it any longer
                promise.release(application_id, reason, commitment.committed_at)


FULFIL_ATTEMPTS = 3
"""How often `fulfil` reads again when the commitment moved meanwhile (it expired)."""


def fulfil(application_id: str, material_id: str, actor: str, now: datetime) -> bool:
    """The committed material is stored: the commitment FULFILLED and the material no longer
    outstanding (one transaction, audited COMMITMENT_FULFILLED), its clock stopped, and a case
    its expiry suspended resumed (CASE_RESUMED). False when there was nothing outstanding.
    A commitment that expired while this ran is read again and fulfilled late."""
    for _ in range(FULFIL_ATTEMPTS):
        done = _fulfil_once(application_id, material_id, actor, now)
        if done is not None:
            return done
    raise Conflict(f"the commitment for {material_id} kept changing; upload it again")


def _fulfil_once(application_id: str, material_id: str, actor: str,
                 now: datetime) -> bool | None:
    """One attempt of `fulfil`; None when the commitment changed under it."""
    every = of(application_id)
    commitment = next((c for c in every if c.material_id == material_id), None)
    if commitment is None or commitment.status == FULFILLED:
        return False
    was = commitment.status
    late = was == EXPIRED
    # The last suspension lifted: the case resumes (recorded right after the fulfilment).
    resumes = late and not any(c.status == EXPIRED for c in every if c is not commitment)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(commitment, actions=[
                CommitmentRecord.status.set(FULFILLED), CommitmentRecord.fulfilled_at.set(now)],
                condition=CommitmentRecord.status == was)
            transaction.update(application_stub(application_id), actions=[
                ApplicationRecord.outstanding_materials.delete({material_id})],
                condition=ApplicationRecord.pk.exists(), add_version_condition=False)
            transaction.save(new_audit(application_id, actor, "COMMITMENT_FULFILLED", None,
                                       None, {"materialId": material_id, "late": late,
                                              "dueBy": local_time(commitment.due)}, at=now))
            if resumes:
                transaction.save(new_audit(application_id, actor, "CASE_RESUMED", None, None,
                                           {"materialId": material_id},
                                           at=now + timedelta(microseconds=1)))

    if not write_if(write):
        return None  # expired (or fulfilled) meanwhile: read it again
    key = ApplicationRecord.key(application_id)
    clocks.stop(key, clock_name(material_id), now, reason=FULFILLED)
    promise.release(application_id, f"{promise.LATER_MATERIAL}#{material_id}", now)
    if late:
        _resume_case(application_id, material_id, now)
    metrics.add_metric(name="CommitmentsFulfilled", unit=MetricUnit.Count, value=1)
    return True


def _suspension(material_id: str) -> str:
    return f"{promise.SUSPENDED}#{material_id}"


def _review_clocks(application_id: str) -> list[clocks.ClockRecord]:
    return [c for c in clocks.clocks_of(ApplicationRecord.key(application_id))
            if c.kind == "REVIEW"]


def _resume_case(application_id: str, material_id: str, now: datetime) -> None:
    """The late material came: the promise and the departments' clocks count again (unless
    another expired commitment still holds them)."""
    reason = _suspension(material_id)
    promise.release(application_id, reason, now)
    for clock in _review_clocks(application_id):
        if reason in (clock.holds or set()):
            clocks.release(clock.pk, clock.name, reason, now)


def expire(clock: clocks.ClockRecord, now: datetime, sfn: Any) -> list[Notice]:
    """The commitment's time ran out with the material not supplied (the timeout check's
    rule): the commitment EXPIRED and the case suspended (中止) until it comes, audited
    COMMITMENT_EXPIRED with the supplement it asks for; the applicant gets a supplement notice
    (补正告知). Nothing for a case that has ended or a material supplied at the last moment."""
    application_id, material_id = clock.subject, clock.context["materialId"]
    record = ApplicationRecord.load(application_id)
    commitment = _get(application_id, material_id)
    if commitment is None or commitment.status != OUTSTANDING or record.status in TERMINAL:
        return []
    missing = [{"materialId": material_id, "name": commitment.material_name,
                "problem": "COMMITMENT_EXPIRED"}]

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(commitment, actions=[
                CommitmentRecord.status.set(EXPIRED), CommitmentRecord.expired_at.set(now)],
                condition=CommitmentRecord.status == OUTSTANDING)
            transaction.save(new_audit(application_id, "system", "COMMITMENT_EXPIRED", None,
                                       None, {"materialId": material_id, "suspended": True,
                                              "dueBy": local_time(commitment.due),
                                              "missing": missing}, at=now))

    if not write_if(write):
        return []  # supplied meanwhile
    reason = _suspension(material_id)
    promise.hold(application_id, reason, now)
    for review in _review_clocks(application_id):
        # Only a running review: one paused for its own supplement stays as it is.
        if review.status == clocks.RUNNING:
            clocks.hold(review.pk, review.name, reason, now)
    if (_get(application_id, material_id) or commitment).status == FULFILLED:
        # Supplied while the case was being suspended: its resumption may have come first.
        _resume_case(application_id, material_id, now)
    metrics.add_metric(name="CommitmentsExpired", unit=MetricUnit.Count, value=1)
    return [Notice(record.owner_sub, "SUPPLEMENT_NOTICE", "容缺承诺已到期，办件中止，请补交材料",
                   f"办件 {application_id} 受理时承诺于 {local_time(commitment.due)} 前补交的"
                   f"「{commitment.material_name}」尚未收到，办件自 {local_time(now)} 起中止；"
                   "请上传该材料，收到后继续办理。", application_id)]


def outstanding_of(application_id: str) -> list[str]:
    """The materials still outstanding (for a refusal's message)."""
    return sorted(ApplicationRecord.load(application_id).outstanding_materials or [])
