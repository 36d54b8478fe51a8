"""好差评: the applicant rates a completed application; bad reviews are rectified (seed 003,
arts. 35-37; DOMAIN.md "Ratings").

Five levels: 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意. One rating per application,
and only once it is COMPLETED; its id is the application's id. A rating of 1 or 2 is a bad
review (差评) and opens a rectification for the department that handled the application
("谁办理、谁负责": the item's lead department), timed by a clock of RECTIFICATION_WORKING_DAYS
working days (5 unless configured) that raises yellow and red cards like every other period:

    VERIFYING ──verify valid──────────────────────────► RECTIFYING ──rectify──► RECTIFIED
        │                                                  ▲   │ (real-name)        │
        └─verify invalid─► INVALIDATION_REQUESTED ─refused─┘   │                    │ revisit
                                   │ approved                  │ (anonymous)        │ satisfied
                                   ▼                           ▼                    ▼
                                INVALID (无效差评)           CLOSED ◄───────────── CLOSED
                                                      (not satisfied: RECTIFYING, a new round)

- The department verifies (调查核实). It may find the review false, mistaken or malicious
  and propose it invalid, but only a rating administrator's review marks it 无效差评; while the
  administrator reviews, the clock is paused (the wait is not the department's).
- Once, and with a reason, the department may extend the rectification (at most the original
  limit); the rater is told why (需向评价人说明理由).
- Rectified: the clock stops and the rater hears the measures. A real-name review is then
  revisited (回访) by the department or the rating administrators before it closes; an
  unsatisfied rater reopens the rectification with a fresh clock.
Ratings of 3-5 are RECORDED and need nothing more. Every change is one conditional write of
the rating together with its audit record (pk `RATING#<id>`), so a repeated or concurrent
request has no second effect.

HTTP (functions/api/chalicelib/routes/ratings.py):
- `POST /applications/{id}/rating` `{"level","comment"?,"anonymous"?}` (the applicant) → 201;
- `GET /ratings?bad=true|false&status=` (departments: their own; supervisors and
  administrators: all), `GET /ratings/{id}`;
- `POST /ratings/{id}/verify` `{"valid","note"}`, `/extend` `{"workingDays","reason"}`,
  `/rectify` `{"measures"}` (the handling department);
- `POST /ratings/{id}/invalidate` `{"approve","note"}` (rating administrators);
- `POST /ratings/{id}/revisit` `{"satisfied","note"}` (the department or administrators).

Access patterns:
- a rating by id: pk=`RATING#<application id>`, sk=`META`; its trail: sk begins `AUDIT#`;
  its rectification clock: sk=`CLOCK#RECTIFICATION` (yiwang.deadlines.clocks);
- bad (or good) ratings of a department, by status: ListIndex gsi1pk=`RATINGS#BAD|GOOD`,
  gsi1sk begins `<department>#<status>#`; all of them (supervisors): gsi1pk alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.applications import drafts
from yiwang.applications.records import ApplicationRecord
from yiwang.calendar.workdays import SHANGHAI
from yiwang.catalogue.items import get_item
from yiwang.deadlines import clocks
from yiwang.people.access import ADMIN, APPLICANT, REVIEWER, SUPERVISOR, Caller
from yiwang.people.notices import Notice
from yiwang.platform import identity, validation
from yiwang.platform.config import settings
from yiwang.platform.errors import Conflict, FieldError, NotFound, Unprocessable, ValidationFailed
from yiwang.platform.observability import MetricUnit, metrics
from yiwang.table.records import AuditRecord, ListIndex, TableMeta, new_audit_for

LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
BAD_AT_MOST = 2
"""Levels 1 and 2 are bad reviews (差评)."""
RECORDED = "RECORDED"
VERIFYING, INVALIDATION_REQUESTED, INVALID = "VERIFYING", "INVALIDATION_REQUESTED", "INVALID"
RECTIFYING, RECTIFIED, CLOSED = "RECTIFYING", "RECTIFIED", "CLOSED"
STATUSES = (RECORDED, VERIFYING, INVALIDATION_REQUESTED, INVALID, RECTIFYING, RECTIFIED, CLOSED)
CLOCK = "RECTIFICATION"
"""The rectification clock's name (and kind) in the rating's partition."""
STEP = "差评整改"
RATED, INVALIDATED = "RATED", "INVALIDATED"
"""Audit events the statistics count (yiwang.stats.aggregates): a rating given, a bad one
ruled invalid."""

_TEXT = {"type": "string", "minLength": 1, "maxLength": 1000}
_RATE = {"type": "object", "required": ["level"], "properties": {
    "level": {"type": "integer", "minimum": 1, "maximum": 5},
    "comment": {"type": "string", "maxLength": 1000},
    "anonymous": {"type": "boolean"}}}
_VERIFY = {"type": "object", "required": ["valid", "note"],
           "properties": {"valid": {"type": "boolean"}, "note": _TEXT}}
_INVALIDATE = {"type": "object", "required": ["approve", "note"],
               "properties": {"approve": {"type": "boolean"}, "note": _TEXT}}
_EXTEND = {"type": "object", "required": ["workingDays", "reason"],
           "properties": {"workingDays": {"type": "integer", "minimum": 1}, "reason": _TEXT}}
_RECTIFY = {"type": "object", "required": ["measures"], "properties": {"measures": _TEXT}}
_REVISIT = {"type": "object", "required": ["satisfied", "note"],
            "properties": {"satisfied": {"type": "boolean"}, "note": _TEXT}}


class RatingRecord(Model):
    """One application's rating, and for a bad review, how its rectification went."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    rating_id = UnicodeAttribute(attr_name="ratingId")
    application_id = UnicodeAttribute(attr_name="applicationId")
    item_code = UnicodeAttribute(attr_name="itemCode")
    department = UnicodeAttribute()
    level = NumberAttribute()
    comment = UnicodeAttribute(null=True)
    anonymous = BooleanAttribute(default=False)
    bad = BooleanAttribute(default=False)
    status = UnicodeAttribute()
    rater_sub = UnicodeAttribute(attr_name="raterSub")
    rater = JSONAttribute(null=True)
    """Name and phone of a real-name rater (the department must reach them); None if anonymous."""
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    verification = JSONAttribute(null=True)
    invalidation = JSONAttribute(null=True)
    extension = JSONAttribute(null=True)
    rectifications = JSONAttribute(null=True)
    revisits = JSONAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_list = ListIndex()

    @staticmethod
    def key(rating_id: str) -> str:
        return f"RATING#{rating_id}"


@dataclass
class Outcome:
    """A rating after a change, and the notices (站内信) the change sends."""

    rating: RatingRecord
    notices: list[Notice] = field(default_factory=list)


def _list_key(bad: bool) -> str:
    return "RATINGS#BAD" if bad else "RATINGS#GOOD"


def _list_sort(department: str, status: str, created_at: datetime) -> str:
    return f"{department}#{status}#{created_at.isoformat()}"


def _connection() -> Connection:
    return RatingRecord._get_connection().connection


def _checked(schema: dict[str, Any], payload: Any) -> dict[str, Any]:
    errors = validation.errors(schema, payload)
    if errors:
        raise ValidationFailed(errors)
    return payload


def is_bad(level: int) -> bool:
    """差评: a rating of 1 (非常不满意) or 2 (不满意)."""
    return level <= BAD_AT_MOST


# ---------------------------------------------------------------------------------------------
# Rating


def rate(caller: Caller, application_id: str, payload: Any,
         now: datetime | None = None) -> Outcome:
    """The applicant rates a COMPLETED application, once (a second rating, or a rating of an
    application not completed, is `Conflict`). A bad review opens its rectification."""
    caller.require(APPLICANT)
    body = _checked(_RATE, payload)
    level, comment = body["level"], (body.get("comment") or "").strip() or None
    if is_bad(level) and not comment:
        raise ValidationFailed([FieldError("comment", "a bad review says what went wrong")])
    record = drafts.load_for(caller, application_id)
    if record.status != "COMPLETED":
        raise Conflict(f"application {application_id} is {record.status}; only a completed "
                       f"application is rated")
    now = now or datetime.now(UTC)
    rating = _new_rating(caller, record, level, comment, bool(body.get("anonymous")), now)
    _save_first(rating, now)
    if not rating.bad:
        return Outcome(rating)
    clocks.start(rating.pk, CLOCK, kind=CLOCK, subject=rating.rating_id,
                 department=rating.department, step=STEP, now=now,
                 working_days=settings().rectification_working_days, cards=True,
                 context={"applicationId": application_id})
    metrics.add_metric(name="BadReviews", unit=MetricUnit.Count, value=1)
    return Outcome(rating, [Notice(
        f"DEPT#{rating.department}", "BAD_REVIEW", f"差评待核实：{LEVELS[level]}",
        f"办件 {application_id} 收到差评（{LEVELS[level]}）：{comment}。请立即联系评价人核实，"
        f"{settings().rectification_working_days} 个工作日内整改反馈。", application_id)])


def _new_rating(caller: Caller, record: ApplicationRecord, level: int, comment: str | None,
                anonymous: bool, now: datetime) -> RatingRecord:
    department = get_item(record.item_code, int(record.item_version)).lead_department
    bad = is_bad(level)
    status = VERIFYING if bad else RECORDED
    applicant = record.applicant or {}
    rater = None if anonymous else {"name": applicant.get("name"), "phone": applicant.get("phone")}
    return RatingRecord(
        RatingRecord.key(record.application_id), "META", rating_id=record.application_id,
        application_id=record.application_id, item_code=record.item_code,
        department=department, level=level, comment=comment, anonymous=anonymous, bad=bad,
        status=status, rater_sub=caller.sub, rater=rater, created_at=now,
        gsi1pk=_list_key(bad), gsi1sk=_list_sort(department, status, now))


def _save_first(rating: RatingRecord, now: datetime) -> None:
    """The rating and its audit record, only if the application is still COMPLETED and has no
    rating yet (two ratings racing: one wins, the other is `Conflict`)."""
    audit = new_audit_for(rating.pk, rating.rater_sub, RATED, None, rating.status, {
        "level": int(rating.level), "applicationId": rating.application_id,
        "department": rating.department, "anonymous": bool(rating.anonymous)})
    try:
        with TransactWrite(connection=_connection()) as transaction:
            transaction.condition_check(ApplicationRecord,
                                        ApplicationRecord.key(rating.application_id), "META",
                                        condition=ApplicationRecord.status == "COMPLETED")
            transaction.save(rating, condition=RatingRecord.pk.does_not_exist())
            transaction.save(audit)
    except TransactWriteError as error:
        raise Conflict(f"application {rating.application_id} has already been rated") from error


# ---------------------------------------------------------------------------------------------
# Reading


def load(rating_id: str) -> RatingRecord:
    """A rating by id, or `NotFound`."""
    try:
        return RatingRecord.get(RatingRecord.key(rating_id), "META", consistent_read=True)
    except RatingRecord.DoesNotExist as missing:
        raise NotFound(f"no rating {rating_id}") from missing


def can_see(caller: Caller, rating: RatingRecord) -> bool:
    """The rater, the handling department, supervisors and rating administrators."""
    if caller.role == APPLICANT:
        return caller.sub == rating.rater_sub
    if caller.role == REVIEWER:
        return caller.dept == rating.department
    return caller.role in {SUPERVISOR, ADMIN}


def load_for(caller: Caller, rating_id: str) -> RatingRecord:
    """The rating, if the caller may see it; otherwise (or if none) `NotFound`."""
    rating = load(rating_id)
    if not can_see(caller, rating):
        raise NotFound(f"no rating {rating_id}")
    return rating


def list_for(caller: Caller, bad: bool | None = None,
             status: str | None = None) -> list[RatingRecord]:
    """Ratings, newest first: a department's own, or (supervisors, administrators) all."""
    caller.require(REVIEWER, SUPERVISOR, ADMIN)
    if status is not None and status not in STATUSES:
        raise ValidationFailed([FieldError("status", f"one of {', '.join(STATUSES)}")])
    found: list[RatingRecord] = []
    for kind in ([bad] if bad is not None else [True, False]):
        if caller.role == REVIEWER:
            prefix = f"{caller.dept}#{status}#" if status else f"{caller.dept}#"
            found += RatingRecord.by_list.query(_list_key(kind),
                                                RatingRecord.gsi1sk.startswith(prefix))
        else:
            found += RatingRecord.by_list.query(
                _list_key(kind), filter_condition=(RatingRecord.status == status)
                if status else None)
    return sorted(found, key=lambda r: r.created_at, reverse=True)


def trail(rating_id: str) -> list[AuditRecord]:
    """The rating's audit trail, oldest first."""
    return list(AuditRecord.query(RatingRecord.key(rating_id),
                                  AuditRecord.sk.startswith("AUDIT#")))


def present(rating: RatingRecord, caller: Caller) -> dict[str, Any]:
    """A rating as the API shows it; the rater is hidden when anonymous, and their phone is
    shown in full only to the rater and the department that must call them."""
    rater = dict(rating.rater) if rating.rater else None
    if rater and rater.get("phone") and not (
            caller.sub == rating.rater_sub or caller.role == REVIEWER):
        rater["phone"] = identity.mask_phone(rater["phone"])
    clock = clocks.get(rating.pk, CLOCK) if rating.bad else None
    return {
        "id": rating.rating_id, "applicationId": rating.application_id,
        "itemCode": rating.item_code, "department": rating.department,
        "level": int(rating.level), "levelName": LEVELS[int(rating.level)],
        "comment": rating.comment, "anonymous": bool(rating.anonymous), "bad": bool(rating.bad),
        "status": rating.status, "createdAt": _local(rating.created_at), "rater": rater,
        "verification": rating.verification, "invalidation": rating.invalidation,
        "extension": rating.extension, "rectifications": rating.rectifications or [],
        "revisits": rating.revisits or [],
        "rectification": clock.to_api() if clock else None,
        "history": [{"at": _local(a.at), "event": a.event, "actor": a.actor,
                     "from": a.from_status, "to": a.to_status} for a in trail(rating.rating_id)],
    }


def summary(rating: RatingRecord) -> dict[str, Any]:
    """A rating as lists show it (no rater, no trail)."""
    return {"id": rating.rating_id, "applicationId": rating.application_id,
            "itemCode": rating.item_code, "department": rating.department,
            "level": int(rating.level), "levelName": LEVELS[int(rating.level)],
            "comment": rating.comment, "anonymous": bool(rating.anonymous),
            "bad": bool(rating.bad), "status": rating.status,
            "createdAt": _local(rating.created_at)}


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).isoformat()


# ---------------------------------------------------------------------------------------------
# Handling a bad review


def _handling(caller: Caller, rating_id: str) -> RatingRecord:
    """The bad review, for its handling department (others: 404, as for any record)."""
    caller.require(REVIEWER)
    rating = load_for(caller, rating_id)
    if not rating.bad:
        raise Conflict(f"rating {rating_id} is not a bad review; nothing to handle")
    return rating


def _move(rating: RatingRecord, to_status: str, actor: str, event: str,
          actions: list[Any], detail: dict[str, Any], now: datetime,
          condition: Any = None) -> RatingRecord:
    """`rating` from its status to `to_status` with `actions`, and the audit record, in one
    conditional write; `Conflict` when someone changed it first."""
    from_status = rating.status
    audit = new_audit_for(rating.pk, actor, event, from_status, to_status,
                          {**detail, "applicationId": rating.application_id})
    guard = RatingRecord.status == from_status
    if condition is not None:
        guard &= condition
    try:
        with TransactWrite(connection=_connection()) as transaction:
            transaction.update(rating, actions=[
                RatingRecord.status.set(to_status),
                RatingRecord.gsi1sk.set(_list_sort(rating.department, to_status,
                                                   rating.created_at)), *actions],
                condition=guard)
            transaction.save(audit)
    except TransactWriteError as error:
        raise Conflict(f"rating {rating.rating_id} changed meanwhile") from error
    return load(rating.rating_id)


def _require_status(rating: RatingRecord, *allowed: str) -> None:
    if rating.status not in allowed:
        raise Conflict(f"rating {rating.rating_id} is {rating.status}, not "
                       f"{' or '.join(allowed)}")


def _entry(caller: Caller, now: datetime, **values: Any) -> dict[str, Any]:
    return {**values, "by": caller.sub, "at": _local(now)}


def verify(caller: Caller, rating_id: str, payload: Any,
           now: datetime | None = None) -> Outcome:
    """调查核实 by the handling department: valid → rectification; not valid (false, mistaken
    or malicious) → proposed invalid, for the rating administrators to review."""
    rating = _handling(caller, rating_id)
    body = _checked(_VERIFY, payload)
    _require_status(rating, VERIFYING)
    now = now or datetime.now(UTC)
    entry = _entry(caller, now, valid=body["valid"], note=body["note"].strip())
    if body["valid"]:
        return Outcome(_move(rating, RECTIFYING, caller.sub, "VERIFIED_VALID",
                             [RatingRecord.verification.set(entry)], {}, now))
    moved = _move(rating, INVALIDATION_REQUESTED, caller.sub, "INVALIDATION_REQUESTED",
                  [RatingRecord.verification.set(entry)], {"note": entry["note"]}, now)
    clocks.pause(rating.pk, CLOCK, now)  # the administrators' review is not the department's time
    return Outcome(moved)


def invalidate(caller: Caller, rating_id: str, payload: Any,
               now: datetime | None = None) -> Outcome:
    """复核 by the rating administrators of a review the department proposed invalid:
    approved → 无效差评 (not counted, the rectification ends); refused → rectification."""
    caller.require(ADMIN)
    body = _checked(_INVALIDATE, payload)
    rating = load(rating_id)
    _require_status(rating, INVALIDATION_REQUESTED)
    now = now or datetime.now(UTC)
    entry = _entry(caller, now, approved=body["approve"], note=body["note"].strip())
    if body["approve"]:
        moved = _move(rating, INVALID, caller.sub, INVALIDATED,
                      [RatingRecord.invalidation.set(entry)],
                      {"level": int(rating.level), "note": entry["note"]}, now)
        clocks.stop(rating.pk, CLOCK, now, reason=INVALID)
        return Outcome(moved)
    moved = _move(rating, RECTIFYING, caller.sub, "INVALIDATION_REFUSED",
                  [RatingRecord.invalidation.set(entry)], {"note": entry["note"]}, now)
    clocks.resume(rating.pk, CLOCK, now)
    return Outcome(moved)


def extend(caller: Caller, rating_id: str, payload: Any,
           now: datetime | None = None) -> Outcome:
    """延期, once, with a reason: the clock runs `workingDays` longer (at most the original
    limit, else `Unprocessable`); the rater is told why."""
    rating = _handling(caller, rating_id)
    body = _checked(_EXTEND, payload)
    _require_status(rating, VERIFYING, RECTIFYING)
    if rating.extension:
        raise Conflict(f"rating {rating_id} has already been extended once")
    limit = settings().rectification_working_days
    if body["workingDays"] > limit:
        raise Unprocessable(f"an extension is at most the original {limit} working days")
    now = now or datetime.now(UTC)
    entry = _entry(caller, now, workingDays=body["workingDays"], reason=body["reason"].strip())
    moved = _move(rating, rating.status, caller.sub, "EXTENDED",
                  [RatingRecord.extension.set(entry)], {"workingDays": body["workingDays"],
                                                        "reason": entry["reason"]},
                  now, condition=RatingRecord.extension.does_not_exist())
    clock = clocks.extend(rating.pk, CLOCK, body["workingDays"], now)
    return Outcome(moved, [Notice(
        rating.rater_sub, "RATING_EXTENDED", "差评整改延期说明",
        f"您对办件 {rating.application_id} 的评价正在整改，整改期限延长 {body['workingDays']} "
        f"个工作日至 {_local(clock.deadline)}。理由：{entry['reason']}", rating.application_id)])


def rectify(caller: Caller, rating_id: str, payload: Any,
            now: datetime | None = None) -> Outcome:
    """整改反馈: the clock stops; a real-name review waits for its revisit, an anonymous one
    closes. The rater hears the measures."""
    rating = _handling(caller, rating_id)
    body = _checked(_RECTIFY, payload)
    _require_status(rating, RECTIFYING)
    now = now or datetime.now(UTC)
    entry = _entry(caller, now, measures=body["measures"].strip())
    to_status = CLOSED if rating.anonymous else RECTIFIED
    moved = _move(rating, to_status, caller.sub, "RECTIFIED", [
        RatingRecord.rectifications.set([*(rating.rectifications or []), entry])],
        {"measures": entry["measures"]}, now)
    clocks.stop(rating.pk, CLOCK, now, reason=RECTIFIED)
    return Outcome(moved, [Notice(
        rating.rater_sub, "RATING_RECTIFIED", "差评整改反馈",
        f"您对办件 {rating.application_id} 的评价已整改：{entry['measures']}",
        rating.application_id)])


def revisit(caller: Caller, rating_id: str, payload: Any,
            now: datetime | None = None) -> Outcome:
    """回访 of a real-name bad review after its rectification, by the handling department or
    the rating administrators: satisfied → CLOSED; not satisfied → rectification again, with a
    fresh clock."""
    caller.require(REVIEWER, ADMIN)
    body = _checked(_REVISIT, payload)
    rating = load_for(caller, rating_id)
    _require_status(rating, RECTIFIED)
    now = now or datetime.now(UTC)
    entry = _entry(caller, now, satisfied=body["satisfied"], note=body["note"].strip())
    to_status = CLOSED if body["satisfied"] else RECTIFYING
    moved = _move(rating, to_status, caller.sub, "REVISITED", [
        RatingRecord.revisits.set([*(rating.revisits or []), entry])],
        {"satisfied": body["satisfied"], "note": entry["note"]}, now)
    if not body["satisfied"]:
        clocks.start(rating.pk, CLOCK, kind=CLOCK, subject=rating.rating_id,
                     department=rating.department, step=STEP, now=now,
                     working_days=settings().rectification_working_days, cards=True,
                     context={"applicationId": rating.application_id})
    return Outcome(moved)


def parse_bad(text: str | None) -> bool | None:
    """`?bad=` as a flag: true/false (1/0), or None when absent."""
    if text is None or text == "":
        return None
    lowered = text.lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ValidationFailed([FieldError("bad", "true or false")])
