"""好差评: the applicant rates a concluded application; bad reviews are rectified (《运行管理办法》
arts. 35-37, docs/rules.md §6).

Five levels: 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意. One rating per application,
once it has concluded, whatever the outcome (art. 35: 评价对象全覆盖 — completed, 不予许可,
不予受理 or cancelled; a refusal is exactly what people rate); its id is the application's id.
A rating of 1 or 2 is a bad review (差评) and opens a rectification for the department that
handled the application ("谁办理、谁负责": the item's lead department), timed by a clock of
RECTIFICATION_WORKING_DAYS working days (5 unless configured) that raises yellow and red cards
like every other period:

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
  revisited (回访) by the managing office (supervisors, rating administrators: art. 37 (四)
  "管理部门应当安排回访"), never by the department rated, before it closes; an unsatisfied
  rater reopens the rectification with a fresh clock.
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
- `POST /ratings/{id}/revisit` `{"satisfied","note"}` (supervisors or administrators).

The records, and how a caller finds them, are in `yiwang.ratings.records`; the statuses and
their moves in `yiwang.ratings.status`; what a caller sees in `yiwang.views.ratings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pynamodb.transactions import TransactWrite

from yiwang.applications import drafts
from yiwang.applications.records import ApplicationRecord
from yiwang.applications.status import TERMINAL
from yiwang.calendar.workdays import local_time
from yiwang.catalogue.items import get_item
from yiwang.deadlines import clocks
from yiwang.people.access import Caller
from yiwang.people.notices import Notice
from yiwang.performance import ledger
from yiwang.platform import validation
from yiwang.platform.config import settings
from yiwang.platform.errors import Conflict, FieldError, Unprocessable, ValidationFailed
from yiwang.platform.observability import MetricUnit, metrics
from yiwang.ratings.records import LEVELS, RatingRecord, is_bad, load, load_for
from yiwang.ratings.status import RatingStatus, check_move
from yiwang.table.records import connection, new_audit_for
from yiwang.table.writes import write_or_conflict

CLOCK = "RECTIFICATION"
"""The rectification clock's name (and kind) in the rating's partition."""
STEP = "差评整改"
RATEABLE = frozenset(status.value for status in TERMINAL)
"""The concluded applications, each rateable once: 办结, 不予许可, 不予受理, cancelled."""
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
           "properties": {"workingDays": {"type": "integer", "minimum": 1, "maximum": 365},
                          "reason": _TEXT}}
_RECTIFY = {"type": "object", "required": ["measures"], "properties": {"measures": _TEXT}}
_REVISIT = {"type": "object", "required": ["satisfied", "note"],
            "properties": {"satisfied": {"type": "boolean"}, "note": _TEXT}}


@dataclass
class Outcome:
    """A rating after a change, and the notices (站内信) the change sends."""

    rating: RatingRecord
    notices: list[Notice] = field(default_factory=list)


def _checked(schema: dict[str, Any], payload: Any) -> dict[str, Any]:
    errors = validation.errors(schema, payload)
    if errors:
        raise ValidationFailed(errors)
    return payload


# ---------------------------------------------------------------------------------------------
# Rating


def rate(caller: Caller, application_id: str, payload: Any,
         now: datetime | None = None) -> Outcome:
    """The applicant rates a concluded application (`RATEABLE`), once (a second rating, or a
    rating of an application still under way, is `Conflict`). A bad review opens its
    rectification."""
    record = drafts.load_for(caller, application_id, "rateApplication")
    body = _checked(_RATE, payload)
    level, comment = body["level"], (body.get("comment") or "").strip() or None
    if is_bad(level) and not comment:
        raise ValidationFailed([FieldError("comment", "a bad review says what went wrong")])
    if record.status not in RATEABLE:
        raise Conflict(f"application {application_id} is {record.status}; an application is "
                       f"rated once it has concluded")
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
    status = RatingStatus.VERIFYING if bad else RatingStatus.RECORDED
    applicant = record.applicant or {}
    rater = None if anonymous else {"name": applicant.get("name"), "phone": applicant.get("phone")}
    return RatingRecord(
        RatingRecord.key(record.application_id), "META", rating_id=record.application_id,
        application_id=record.application_id, item_code=record.item_code,
        department=department, level=level, comment=comment, anonymous=anonymous, bad=bad,
        status=status, rater_sub=caller.sub, rater=rater, created_at=now, outcome=record.status,
        region=record.region, gsi1pk=RatingRecord.list_key(bad),
        gsi1sk=RatingRecord.list_sort(department, status, now))


def _save_first(rating: RatingRecord, now: datetime) -> None:
    """The rating and its audit record, only if the application is still concluded as read and
    has no rating yet (two ratings racing: one wins, the other is `Conflict`)."""
    audit = new_audit_for(rating.pk, rating.rater_sub, RATED, None, rating.status, {
        "level": int(rating.level), "applicationId": rating.application_id,
        "department": rating.department, "anonymous": bool(rating.anonymous),
        "outcome": rating.outcome})

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.condition_check(ApplicationRecord,
                                        ApplicationRecord.key(rating.application_id), "META",
                                        condition=ApplicationRecord.status == rating.outcome)
            transaction.save(rating, condition=RatingRecord.pk.does_not_exist())
            transaction.save(audit)
            if rating.bad:  # 差评 count in the department's performance score (效能台账)
                transaction.save(ledger.entry(ledger.BAD_REVIEW, rating.rating_id,
                                              rating.department, now,
                                              detail={"level": int(rating.level)}))

    write_or_conflict(write, f"application {rating.application_id} has already been rated")


# ---------------------------------------------------------------------------------------------
# Handling a bad review


def _handling(caller: Caller, rating_id: str, operation_id: str) -> RatingRecord:
    """The bad review, for its handling department (others: 404, as for any record)."""
    rating = load_for(caller, rating_id, operation_id)
    if not rating.bad:
        raise Conflict(f"rating {rating_id} is not a bad review; nothing to handle")
    return rating


def _move(rating: RatingRecord, to_status: str, actor: str, event: str,
          actions: list[Any], detail: dict[str, Any], now: datetime,
          condition: Any = None) -> RatingRecord:
    """`rating` from its status to `to_status` with `actions`, and the audit record, in one
    conditional write; `Conflict` when the move is not allowed (`check_move`; keeping the
    status is no move) or someone changed the rating first."""
    from_status = rating.status
    if to_status != from_status:
        check_move(from_status, to_status)
    audit = new_audit_for(rating.pk, actor, event, from_status, to_status,
                          {**detail, "applicationId": rating.application_id})
    guard = RatingRecord.status == from_status
    if condition is not None:
        guard &= condition

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(rating, actions=[
                RatingRecord.status.set(to_status),
                RatingRecord.gsi1sk.set(RatingRecord.list_sort(rating.department, to_status,
                                                               rating.created_at)), *actions],
                condition=guard)
            transaction.save(audit)

    write_or_conflict(write, f"rating {rating.rating_id} changed meanwhile")
    return load(rating.rating_id)


def _require_status(rating: RatingRecord, *allowed: str) -> None:
    if rating.status not in allowed:
        raise Conflict(f"rating {rating.rating_id} is {rating.status}, not "
                       f"{' or '.join(allowed)}")


def _entry(caller: Caller, now: datetime, **values: Any) -> dict[str, Any]:
    return {**values, "by": caller.sub, "at": local_time(now)}


def verify(caller: Caller, rating_id: str, payload: Any,
           now: datetime | None = None) -> Outcome:
    """调查核实 by the handling department: valid → rectification; not valid (false, mistaken
    or malicious) → proposed invalid, for the rating administrators to review."""
    rating = _handling(caller, rating_id, "verifyRating")
    body = _checked(_VERIFY, payload)
    _require_status(rating, RatingStatus.VERIFYING)
    now = now or datetime.now(UTC)
    entry = _entry(caller, now, valid=body["valid"], note=body["note"].strip())
    if body["valid"]:
        return Outcome(_move(rating, RatingStatus.RECTIFYING, caller.sub, "VERIFIED_VALID",
                             [RatingRecord.verification.set(entry)], {}, now))
    moved = _move(rating, RatingStatus.INVALIDATION_REQUESTED, caller.sub,
                  "INVALIDATION_REQUESTED", [RatingRecord.verification.set(entry)],
                  {"note": entry["note"]}, now)
    clocks.pause(rating.pk, CLOCK, now)  # the administrators' review is not the department's time
    return Outcome(moved)


def invalidate(caller: Caller, rating_id: str, payload: Any,
               now: datetime | None = None) -> Outcome:
    """复核 by the rating administrators of a review the department proposed invalid:
    approved → 无效差评 (not counted, the rectification ends); refused → rectification."""
    rating = load_for(caller, rating_id, "invalidateRating")
    body = _checked(_INVALIDATE, payload)
    _require_status(rating, RatingStatus.INVALIDATION_REQUESTED)
    now = now or datetime.now(UTC)
    entry = _entry(caller, now, approved=body["approve"], note=body["note"].strip())
    if body["approve"]:
        moved = _move(rating, RatingStatus.INVALID, caller.sub, INVALIDATED,
                      [RatingRecord.invalidation.set(entry)],
                      {"level": int(rating.level), "note": entry["note"]}, now)
        clocks.stop(rating.pk, CLOCK, now, reason=RatingStatus.INVALID.value)
        return Outcome(moved)
    moved = _move(rating, RatingStatus.RECTIFYING, caller.sub, "INVALIDATION_REFUSED",
                  [RatingRecord.invalidation.set(entry)], {"note": entry["note"]}, now)
    clocks.resume(rating.pk, CLOCK, now)
    return Outcome(moved)


def extend(caller: Caller, rating_id: str, payload: Any,
           now: datetime | None = None) -> Outcome:
    """延期, once, with a reason: the clock runs `workingDays` longer (at most the original
    limit, else `Unprocessable`); the rater is told why."""
    rating = _handling(caller, rating_id, "extendRating")
    body = _checked(_EXTEND, payload)
    _require_status(rating, RatingStatus.VERIFYING, RatingStatus.RECTIFYING)
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
        f"个工作日至 {local_time(clock.deadline)}。理由：{entry['reason']}",
        rating.application_id)])


def rectify(caller: Caller, rating_id: str, payload: Any,
            now: datetime | None = None) -> Outcome:
    """整改反馈: the clock stops; a real-name review waits for its revisit, an anonymous one
    closes. The rater hears the measures."""
    rating = _handling(caller, rating_id, "rectifyRating")
    body = _checked(_RECTIFY, payload)
    _require_status(rating, RatingStatus.RECTIFYING)
    now = now or datetime.now(UTC)
    entry = _entry(caller, now, measures=body["measures"].strip())
    to_status = RatingStatus.CLOSED if rating.anonymous else RatingStatus.RECTIFIED
    moved = _move(rating, to_status, caller.sub, "RECTIFIED", [
        RatingRecord.rectifications.set([*(rating.rectifications or []), entry])],
        {"measures": entry["measures"]}, now)
    clocks.stop(rating.pk, CLOCK, now, reason=RatingStatus.RECTIFIED.value)
    return Outcome(moved, [Notice(
        rating.rater_sub, "RATING_RECTIFIED", "差评整改反馈",
        f"您对办件 {rating.application_id} 的评价已整改：{entry['measures']}",
        rating.application_id)])


def revisit(caller: Caller, rating_id: str, payload: Any,
            now: datetime | None = None) -> Outcome:
    """回访 of a real-name bad review after its rectification, by the managing office
    (supervisors, rating administrators; art. 37 (四)), not the department rated: satisfied →
    CLOSED; not satisfied → rectification again, with a fresh clock."""
    rating = load_for(caller, rating_id, "revisitRating")
    body = _checked(_REVISIT, payload)
    _require_status(rating, RatingStatus.RECTIFIED)
    now = now or datetime.now(UTC)
    entry = _entry(caller, now, satisfied=body["satisfied"], note=body["note"].strip())
    to_status = RatingStatus.CLOSED if body["satisfied"] else RatingStatus.RECTIFYING
    moved = _move(rating, to_status, caller.sub, "REVISITED", [
        RatingRecord.revisits.set([*(rating.revisits or []), entry])],
        {"satisfied": body["satisfied"], "note": entry["note"]}, now)
    if not body["satisfied"]:
        clocks.start(rating.pk, CLOCK, kind=CLOCK, subject=rating.rating_id,
                     department=rating.department, step=STEP, now=now,
                     working_days=settings().rectification_working_days, cards=True,
                     context={"applicationId": rating.application_id})
    return Outcome(moved)
