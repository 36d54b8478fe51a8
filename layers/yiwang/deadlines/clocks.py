"""Clocks (电子监察): every running period is a record indexed by the time it next needs looking at.

A clock times one step that someone owes: the window's acceptance (受理), one department's
review (审批), a payment window, a complaint's return window and handling (投诉办理), a bad
review's rectification (差评整改). While it runs it sits in the sparse DueIndex under the time
of its next event: first the yellow-card time, then the deadline. The timeout check reads only
the clocks that are due, raises a card (yellow when at most 20% of the working days or at most
1 working day remains, red when overdue; each at most once per clock), urges the department and
the supervisors, and runs the clock's automatic rule (deemed accepted, order expired...). A
stopped or paused clock leaves the index, so the sweep's reads never grow with the open clocks.

Access patterns:
- the clocks due at `now` (timeout check): DueIndex duePartition=`CLOCK#<shard>`, dueAt <= now,
  on every shard (`DUE_PARTITIONS`; the shard, 00 to 15, from the clock's own key, so every
  clock start, pause, card and stop spreads over 16 index partitions instead of one);
- a subject's clocks (its detail, stopping/pausing them): pk=`<subject key>`, sk begins
  `CLOCK#` (subject key `APP#<id>`, `COMPLAINT#<id>`, `RATING#<id>`...);
- open cards of a level (supervision screen): ListIndex gsi1pk=`CARDS#<level>`,
  gsi1sk=raisedAt; a card leaves it (gsi1pk `CARDS#<level>#CLOSED`) when its clock stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.calendar import calendar_store
from yiwang.calendar.workdays import SHANGHAI
from yiwang.people.notices import Notice
from yiwang.platform.observability import logger
from yiwang.table.records import AuditRecord, ListIndex, TableMeta, connection, new_audit_for
from yiwang.table.shards import all_shards, sharded
from yiwang.table.writes import write_if

DUE_PARTITION = "CLOCK"
DUE_PARTITIONS = [*all_shards(DUE_PARTITION), DUE_PARTITION]
"""Every DueIndex partition the timeout check reads: the shards, then the unsharded `CLOCK` of
clocks written before the index was sharded (empty once they have moved on)."""
RUNNING, PAUSED, STOPPED, EXPIRED = "RUNNING", "PAUSED", "STOPPED", "EXPIRED"
YELLOW, RED = "YELLOW", "RED"
TRAIL_SUFFIX = "#CLOCKS"
SUPERVISORS = "SUPERVISION"
"""Inbox of the supervisors (电子监察室): every urge notice is copied there."""


class DueIndex(GlobalSecondaryIndex["ClockRecord"]):
    class Meta:
        index_name = "DueIndex"
        projection = AllProjection()

    due_partition = UnicodeAttribute(hash_key=True, attr_name="duePartition")
    due_at = UnicodeAttribute(range_key=True, attr_name="dueAt")


class ClockRecord(Model):
    """One running period: whose step it times, its limit and deadline, its cards."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    subject = UnicodeAttribute()
    department = UnicodeAttribute()
    step = UnicodeAttribute()
    status = UnicodeAttribute()
    started_at = UTCDateTimeAttribute(attr_name="startedAt")
    limit_days = NumberAttribute(attr_name="limitDays", null=True)
    deadline = UTCDateTimeAttribute()
    yellow_at = UTCDateTimeAttribute(attr_name="yellowAt", null=True)
    remaining_days = NumberAttribute(attr_name="remainingDays", null=True)
    cards = BooleanAttribute(default=True)
    action = UnicodeAttribute(null=True)
    context = JSONAttribute(null=True)
    yellow_raised_at = UTCDateTimeAttribute(attr_name="yellowRaisedAt", null=True)
    red_raised_at = UTCDateTimeAttribute(attr_name="redRaisedAt", null=True)
    stopped_at = UTCDateTimeAttribute(attr_name="stoppedAt", null=True)
    due_partition = UnicodeAttribute(attr_name="duePartition", null=True)
    due_at = UnicodeAttribute(attr_name="dueAt", null=True)
    holds = UnicodeSetAttribute(null=True)
    """Why a held clock is paused (`hold`): it runs again when the last reason is released."""
    by_due = DueIndex()

    @property
    def name(self) -> str:
        return self.sk.removeprefix("CLOCK#")

    def to_api(self) -> dict[str, Any]:
        return {
            "clock": self.name, "kind": self.kind, "subject": self.subject,
            "department": self.department, "step": self.step, "status": self.status,
            "startedAt": _local(self.started_at), "deadline": _local(self.deadline),
            "limitDays": _int(self.limit_days),
            "cards": [level for level, at in ((YELLOW, self.yellow_raised_at),
                                              (RED, self.red_raised_at)) if at],
        }


class CardRecord(Model):
    """黄牌/红牌: one card raised on one clock, visible to supervisors while the step is late."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    level = UnicodeAttribute()
    clock = UnicodeAttribute()
    kind = UnicodeAttribute()
    subject = UnicodeAttribute()
    department = UnicodeAttribute()
    step = UnicodeAttribute()
    deadline = UTCDateTimeAttribute()
    raised_at = UTCDateTimeAttribute(attr_name="raisedAt")
    closed_at = UTCDateTimeAttribute(attr_name="closedAt", null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_level = ListIndex()

    def to_api(self) -> dict[str, Any]:
        return {"level": self.level, "kind": self.kind, "subject": self.subject,
                "department": self.department, "step": self.step,
                "deadline": _local(self.deadline), "raisedAt": _local(self.raised_at),
                "open": self.closed_at is None}


def due_partition(subject_key: str, name: str) -> str:
    """The DueIndex shard of a subject's clock: `CLOCK#07`, always the same for that clock."""
    return sharded(DUE_PARTITION, f"{subject_key}#{name}")


def _due_partition_of(clock: ClockRecord) -> str:
    return due_partition(clock.pk, clock.name)


def _local(moment: datetime | None) -> str | None:
    return moment.astimezone(SHANGHAI).isoformat() if moment else None


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _index_key(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def warning_days(limit_days: int) -> int:
    """Working days left when the yellow card is due: at most 20% of the limit, or at most 1
    working day (whichever leaves more warning)."""
    return max(1, limit_days // 5)


def _yellow_at(start: datetime, limit_days: int) -> datetime:
    elapsed = limit_days - warning_days(limit_days)
    return calendar_store.due(start, elapsed).due if elapsed >= 1 else start


def _next_due(clock: ClockRecord) -> datetime:
    if clock.cards and clock.yellow_at and not clock.yellow_raised_at \
            and clock.yellow_at < clock.deadline:
        return clock.yellow_at
    return clock.deadline


# ---------------------------------------------------------------------------------------------
# Starting, stopping, pausing, extending


def start(subject_key: str, name: str, *, kind: str, subject: str, department: str, step: str,
          now: datetime, working_days: int | None = None, deadline: datetime | None = None,
          cards: bool = True, action: str | None = None,
          context: dict[str, Any] | None = None) -> ClockRecord:
    """Start a clock of `working_days` from `now` (or with an absolute `deadline`).

    Idempotent: a running clock of that name is returned as it is (a retried step); a paused
    one resumes with the days it had left; a stopped one starts afresh (a new round).
    """
    existing = _get(subject_key, name)
    if existing and existing.status == RUNNING:
        return existing
    if existing and existing.status == PAUSED:
        return resume(subject_key, name, now, context=context)
    if deadline is None:
        if working_days is None:
            raise ValueError("a clock needs working_days or a deadline")
        deadline = calendar_store.due(now, working_days).due
    clock = ClockRecord(
        subject_key, f"CLOCK#{name}", kind=kind, subject=subject, department=department,
        step=step, status=RUNNING, started_at=now, limit_days=working_days, deadline=deadline,
        yellow_at=_yellow_at(now, working_days) if cards and working_days else None,
        cards=cards, action=action, context=context,
        due_partition=due_partition(subject_key, name))
    clock.due_at = _index_key(_next_due(clock))
    condition = ClockRecord.pk.does_not_exist()
    if existing:
        condition = ClockRecord.status == existing.status
    if not write_if(lambda: clock.save(condition=condition)):
        return _get(subject_key, name) or clock  # a concurrent start won; same clock
    _audit(subject_key, "CLOCK_STARTED", None, RUNNING,
                  {"clock": name, "deadline": deadline.isoformat()})
    return clock


def stop(subject_key: str, name: str, now: datetime, reason: str = "DONE") -> ClockRecord | None:
    """Stop a running or paused clock (the step is done); its open cards close. Two calls:
    the read, then `stop_in`'s writes in one transaction."""
    clock = _get(subject_key, name)
    if clock is None or clock.status in (STOPPED, EXPIRED):
        return clock
    if not _transact(lambda transaction: stop_in(transaction, clock, now, reason)):
        return _get(subject_key, name)  # someone else moved it meanwhile
    clock.status, clock.stopped_at = STOPPED, now
    return clock


def stop_all(subject_key: str, now: datetime, reason: str = "DONE") -> None:
    """Stop every clock of a subject (it was cancelled, withdrawn or closed)."""
    for clock in clocks_of(subject_key):
        if clock.status in (RUNNING, PAUSED):
            stop(subject_key, clock.name, now, reason)


def stop_in(transaction: TransactWrite, clock: ClockRecord | None, now: datetime,
            reason: str = "DONE") -> None:
    """Add stopping `clock` (read with the step's own record) to the step's transaction, so
    the step and its clock change together in one call: the clock's status is the condition,
    its open cards close, the clock's trail records it. Nothing for a clock not running."""
    if clock is None or clock.status not in (RUNNING, PAUSED):
        return
    transaction.update(clock, actions=[
        ClockRecord.status.set(STOPPED), ClockRecord.stopped_at.set(now),
        ClockRecord.due_partition.remove(), ClockRecord.due_at.remove()],
        condition=ClockRecord.status == clock.status)
    for level, raised in ((YELLOW, clock.yellow_raised_at), (RED, clock.red_raised_at)):
        if raised:  # unconditional: a card the sweep failed to write must not block the step
            transaction.update(CardRecord(clock.pk, f"CARD#{clock.name}#{level}"), actions=[
                CardRecord.closed_at.set(now), CardRecord.gsi1pk.set(f"CARDS#{level}#CLOSED")])
    transaction.save(_audit_record(clock.pk, "CLOCK_STOPPED", clock.status, STOPPED,
                                   {"clock": clock.name, "reason": reason}))


def pause_in(transaction: TransactWrite, clock: ClockRecord | None,
             now: datetime) -> int | None:
    """Add pausing a running `clock` to the step's transaction (see `pause`); returns the
    working days it keeps."""
    if clock is None or clock.status != RUNNING:
        return None
    left = _days_left(clock, now)
    transaction.update(clock, actions=[
        ClockRecord.status.set(PAUSED), ClockRecord.remaining_days.set(left),
        ClockRecord.due_partition.remove(), ClockRecord.due_at.remove()],
        condition=ClockRecord.status == RUNNING)
    transaction.save(_audit_record(clock.pk, "CLOCK_PAUSED", RUNNING, PAUSED,
                                   {"clock": clock.name, "remainingDays": left}))
    return left


def _days_left(clock: ClockRecord, now: datetime) -> int:
    return calendar_store.working_calendar().working_days_between(now, clock.deadline) \
        if clock.deadline > now else 0


def pause(subject_key: str, name: str, now: datetime) -> ClockRecord | None:
    """Pause a running clock (the applicant is supplementing): it keeps the working days left
    and leaves the index until it resumes. Two calls, as `stop`."""
    clock = _get(subject_key, name)
    if clock is None or clock.status != RUNNING:
        return clock
    kept: list[int | None] = []
    if _transact(lambda transaction: kept.append(pause_in(transaction, clock, now))):
        clock.status, clock.remaining_days = PAUSED, kept[0]
    return clock


def _transact(writes: Callable[[TransactWrite], None]) -> bool:
    """Run `writes` in one transaction; False when a condition no longer held (someone moved
    the clock first). A busy store is retried, then `Unavailable` (`yiwang.table.writes`)."""
    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            writes(transaction)

    return write_if(write)


def resume(subject_key: str, name: str, now: datetime,
           context: dict[str, Any] | None = None,
           condition: Any = None) -> ClockRecord | None:
    """Resume a paused clock with the working days it had left (at least one); `condition`,
    if given, must also hold (`release`: no other reason holds the clock)."""
    clock = _get(subject_key, name)
    if clock is None or clock.status != PAUSED:
        return clock
    left = max(1, _int(clock.remaining_days) or 0)
    clock.deadline = calendar_store.due(now, left).due
    if clock.yellow_at and not clock.yellow_raised_at:
        clock.yellow_at = _yellow_at(now, left) if left > warning_days(
            _int(clock.limit_days) or left) else now
    actions = [ClockRecord.status.set(RUNNING), ClockRecord.deadline.set(clock.deadline),
               ClockRecord.yellow_at.set(clock.yellow_at), ClockRecord.remaining_days.remove(),
               ClockRecord.due_partition.set(_due_partition_of(clock)),
               ClockRecord.due_at.set(_index_key(_next_due(clock)))]
    if context is not None:
        actions.append(ClockRecord.context.set(context))
    guard = ClockRecord.status == PAUSED
    if condition is not None:
        guard = guard & condition
    if _update(clock, actions, guard):
        _audit(subject_key, "CLOCK_RESUMED", PAUSED, RUNNING,
                      {"clock": name, "deadline": clock.deadline.isoformat()})
    return _get(subject_key, name)


HOLD_ATTEMPTS = 4
"""How often `hold` and `release` read again when someone moved the clock meanwhile."""


def hold(subject_key: str, name: str, reason: str, now: datetime) -> ClockRecord | None:
    """Pause a clock for `reason`, one of several that may overlap (the applicant supplementing,
    a payment awaited, a 容缺 material outstanding): the first reason pauses it as `pause` does,
    keeping the working days left; it runs again only when `release` has taken every reason
    away. Idempotent per reason; nothing for a clock that does not exist or has stopped."""
    for _ in range(HOLD_ATTEMPTS):
        clock = _get(subject_key, name)
        if clock is None or clock.status not in (RUNNING, PAUSED) \
                or reason in (clock.holds or set()):
            return clock
        if clock.status == PAUSED:
            if _update(clock, [ClockRecord.holds.add({reason})], ClockRecord.status == PAUSED):
                return clock
            continue
        left = _days_left(clock, now)

        def writes(transaction: TransactWrite, clock: ClockRecord = clock,
                   left: int = left) -> None:
            transaction.update(clock, actions=[
                ClockRecord.status.set(PAUSED), ClockRecord.remaining_days.set(left),
                ClockRecord.holds.add({reason}),
                ClockRecord.due_partition.remove(), ClockRecord.due_at.remove()],
                condition=ClockRecord.status == RUNNING)
            transaction.save(_audit_record(clock.pk, "CLOCK_PAUSED", RUNNING, PAUSED, {
                "clock": clock.name, "remainingDays": left, "reason": reason}))

        if _transact(writes):
            return _get(subject_key, name)
    raise ValueError(f"clock {name} of {subject_key} kept changing while being held")


def release(subject_key: str, name: str, reason: str, now: datetime) -> ClockRecord | None:
    """Take `reason` off a held clock (see `hold`); the last reason gone, it resumes with the
    working days it had left. Idempotent: a reason not holding the clock changes nothing."""
    clock = _get(subject_key, name)
    if clock is None or reason not in (clock.holds or set()):
        return clock
    _update(clock, [ClockRecord.holds.delete({reason})], ClockRecord.holds.contains(reason))
    clock = _get(subject_key, name)
    if clock is None or clock.status != PAUSED or clock.holds:
        return clock
    # Conditional on no reason holding it: a `hold` that came in meanwhile keeps it paused.
    return resume(subject_key, name, now, condition=ClockRecord.holds.does_not_exist())


def extend(subject_key: str, name: str, working_days: int, now: datetime) -> ClockRecord:
    """Move a running clock's deadline `working_days` later (an approved extension, 延期).
    A card already raised stays raised; the red card can still come at the new deadline."""
    clock = _get(subject_key, name)
    if clock is None or clock.status != RUNNING:
        raise ValueError(f"clock {name} of {subject_key} is not running")
    old = clock.deadline
    clock.deadline = calendar_store.due(old, working_days).due
    actions = [ClockRecord.deadline.set(clock.deadline),
               ClockRecord.due_at.set(_index_key(_next_due(clock)))]
    if clock.red_raised_at is None:
        actions.append(ClockRecord.due_partition.set(_due_partition_of(clock)))
    if not _update(clock, actions, ClockRecord.deadline == old):
        raise ValueError(f"clock {name} of {subject_key} changed meanwhile")
    _audit(subject_key, "CLOCK_EXTENDED", RUNNING, RUNNING,
                  {"clock": name, "deadline": clock.deadline.isoformat(),
                   "workingDays": working_days})
    return clock


def clocks_of(subject_key: str) -> list[ClockRecord]:
    """A subject's clocks (running, paused and stopped)."""
    return list(ClockRecord.query(subject_key, ClockRecord.sk.startswith("CLOCK#")))


def get(subject_key: str, name: str) -> ClockRecord | None:
    """One clock of a subject, or None."""
    return _get(subject_key, name)


def _get(subject_key: str, name: str) -> ClockRecord | None:
    try:
        return ClockRecord.get(subject_key, f"CLOCK#{name}", consistent_read=True)
    except ClockRecord.DoesNotExist:
        return None


def _update(record: Model, actions: list[Any], condition: Any) -> bool:
    """One conditional update; False when the condition no longer held (someone was first)."""
    return write_if(lambda: record.update(actions=actions, condition=condition))


def _audit(subject_key: str, event: str, from_status: str | None, to_status: str | None,
           detail: dict[str, Any]) -> None:
    _audit_record(subject_key, event, from_status, to_status, detail).save()


def _audit_record(subject_key: str, event: str, from_status: str | None,
                  to_status: str | None, detail: dict[str, Any]) -> AuditRecord:
    """全程留痕 for clocks: kept beside the subject (`<subject key>#CLOCKS`), not in its own
    trail, so an application's timeline shows what happened to it, not its timers."""
    return new_audit_for(f"{subject_key}{TRAIL_SUFFIX}", "system", event, from_status,
                         to_status, detail)


def trail(subject_key: str) -> list[AuditRecord]:
    """The audit trail of a subject's clocks and cards, oldest first."""
    return list(AuditRecord.query(f"{subject_key}{TRAIL_SUFFIX}",
                                  AuditRecord.sk.startswith("AUDIT#")))


def _close_cards(clock: ClockRecord, now: datetime) -> None:
    for level, raised in ((YELLOW, clock.yellow_raised_at), (RED, clock.red_raised_at)):
        if raised:
            card = CardRecord(clock.pk, f"CARD#{clock.name}#{level}")
            _update(card, [CardRecord.closed_at.set(now),
                           CardRecord.gsi1pk.set(f"CARDS#{level}#CLOSED")],
                    CardRecord.closed_at.does_not_exist())


# ---------------------------------------------------------------------------------------------
# The timeout check


def due_clocks(now: datetime, partitions: list[str] | None = None) -> Iterator[ClockRecord]:
    """The running clocks whose next event is due at `now` (a timezone-aware time), shard
    after shard (of `partitions`, every one by default)."""
    for partition in partitions or DUE_PARTITIONS:
        yield from ClockRecord.by_due.query(partition, ClockRecord.due_at <= _index_key(now))


Action = Callable[[ClockRecord, datetime], "list[Notice] | None"]
"""An automatic rule run when a clock's deadline passes (e.g. deem the complaint accepted);
it may answer the notices to send (e.g. telling the applicant the order expired)."""


@dataclass
class SweepReport:
    """What one timeout check did."""

    due: int = 0
    yellow: list[str] = field(default_factory=list)
    red: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    cursor: dict[str, Any] | None = None
    """Where a bounded sweep of one shard stopped (its batch was full): the next batch's start."""

    def to_dict(self) -> dict[str, Any]:
        return {"due": self.due, "yellow": self.yellow, "red": self.red,
                "actions": self.actions, "failed": self.failed,
                "notices": len(self.notices), "cursor": self.cursor}


def sweep(now: datetime, actions: Mapping[str, Action]) -> SweepReport:
    """Look at every due clock once: raise the card it has earned, run its automatic rule at
    the deadline. Safe to run twice or concurrently: each card and each rule is claimed with a
    conditional write on the clock before it happens. Returns the urge notices to send."""
    report = SweepReport()
    for clock in due_clocks(now):
        _look_at(clock, now, actions, report)
    return report


def sweep_batch(now: datetime, actions: Mapping[str, Action], partition: str, limit: int,
                cursor: dict[str, Any] | None = None) -> SweepReport:
    """`sweep` over one DueIndex shard, at most `limit` clocks from `cursor` (the previous
    batch's `cursor`): a batch fits one invocation however many clocks are due. The report's
    `cursor` is set when the batch was full (more may be due), None when the shard is done."""
    report = SweepReport()
    query = ClockRecord.by_due.query(partition, ClockRecord.due_at <= _index_key(now),
                                     limit=limit, last_evaluated_key=cursor)
    for clock in query:
        _look_at(clock, now, actions, report)
    if report.due >= limit:
        report.cursor = query.last_evaluated_key
    return report


def _look_at(clock: ClockRecord, now: datetime, actions: Mapping[str, Action],
             report: SweepReport) -> None:
    report.due += 1
    if now >= clock.deadline:
        _overdue(clock, now, actions, report)
    elif clock.cards and not clock.yellow_raised_at:
        _yellow(clock, now, report)


def _yellow(clock: ClockRecord, now: datetime, report: SweepReport) -> None:
    claimed = _update(clock, [ClockRecord.yellow_raised_at.set(now),
                              ClockRecord.due_at.set(_index_key(clock.deadline))],
                      ClockRecord.yellow_raised_at.does_not_exist()
                      & (ClockRecord.status == RUNNING))
    if claimed:
        _raise_card(clock, YELLOW, now, report)


def _overdue(clock: ClockRecord, now: datetime, actions: Mapping[str, Action],
             report: SweepReport) -> None:
    rule = actions.get(clock.action) if clock.action else None
    if clock.action and rule is None:
        # A rule this sweep does not know (an older deployment?): leave the clock due, so a
        # sweep that knows it acts, rather than drop the deadline silently.
        report.failed.append(f"{clock.action}:{clock.subject}")
        return
    red = clock.cards and not clock.red_raised_at
    due_at = clock.due_at  # the update below refreshes `clock` with what it wrote
    done = [ClockRecord.due_partition.remove(), ClockRecord.due_at.remove()]
    if rule:
        done += [ClockRecord.status.set(EXPIRED), ClockRecord.stopped_at.set(now)]
    if red:
        done.append(ClockRecord.red_raised_at.set(now))
    claimed = _update(clock, done, (ClockRecord.due_at == due_at)
                      & (ClockRecord.status == RUNNING))
    if not claimed:
        return
    if red:
        _raise_card(clock, RED, now, report)
    if rule:
        try:
            report.notices.extend(rule(clock, now) or [])
        except Exception:  # noqa: BLE001 - one failed rule must not stop the sweep
            # Put the clock back in the index, so the next sweep tries the rule again.
            _update(clock, [ClockRecord.status.set(RUNNING), ClockRecord.stopped_at.remove(),
                            ClockRecord.due_partition.set(_due_partition_of(clock)),
                            ClockRecord.due_at.set(due_at)],
                    ClockRecord.status == EXPIRED)
            report.failed.append(f"{clock.action}:{clock.subject}")
            logger.exception("automatic rule failed", extra={"clock": clock.name,
                                                             "subject": clock.subject})
            return
        report.actions.append(f"{clock.action}:{clock.subject}")
        _close_cards(clock, now)  # the rule finished the step: it is no longer late
        _audit(clock.pk, "CLOCK_EXPIRED", RUNNING, EXPIRED,
                      {"clock": clock.name, "action": clock.action})


def _raise_card(clock: ClockRecord, level: str, now: datetime, report: SweepReport) -> None:
    card = CardRecord(clock.pk, f"CARD#{clock.name}#{level}", level=level, clock=clock.name,
                      kind=clock.kind, subject=clock.subject, department=clock.department,
                      step=clock.step, deadline=clock.deadline, raised_at=now,
                      gsi1pk=f"CARDS#{level}", gsi1sk=_index_key(now))
    if not write_if(lambda: card.save(condition=CardRecord.pk.does_not_exist())):
        return  # raised before (a repeated sweep)
    _audit(clock.pk, f"{level}_CARD", None, None,
                  {"clock": clock.name, "department": clock.department,
                   "deadline": clock.deadline.isoformat()})
    (report.yellow if level == YELLOW else report.red).append(f"{clock.subject}:{clock.name}")
    report.notices.extend(urge_notices(clock, level))


def urge_notices(clock: ClockRecord, level: str) -> list[Notice]:
    """催办: the department that owes the step and the supervisors hear of the card."""
    word = "黄牌预警" if level == YELLOW else "红牌督办"
    late = "即将到期" if level == YELLOW else "已超期"
    title = f"{word}：{clock.step}{late}"
    body = (f"{clock.subject} 的{clock.step}（{clock.department}）{late}，"
            f"办理时限 {_local(clock.deadline)}。")
    application = clock.subject if clock.pk.startswith("APP#") else None
    return [Notice(recipient, f"URGE_{level}", title, body, application)
            for recipient in (f"DEPT#{clock.department}", SUPERVISORS)]


def open_cards(level: str | None = None) -> list[CardRecord]:
    """The open cards (of one level, or both), oldest first."""
    levels = [level] if level else [YELLOW, RED]
    return [card for each in levels
            for card in CardRecord.by_level.query(f"CARDS#{each}")]
