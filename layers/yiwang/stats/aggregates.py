"""办件统计: `GET /stats/applications`, served from aggregates kept up to date as events happen.

What is counted. The applications SUBMITTED in the period (`from`..`to`, dates in
Asia/Shanghai), each once, in the group it belongs to: its department (the item's lead
department, 谁办理谁负责), its item, or its current status, so every grouping of a period adds up
to the same total. Per group:
- `count`: applications; `completed`: of those, COMPLETED;
- `averageWorkingDays`: the working days each completed case used of its promise (承诺时限,
  from acceptance to decision, the applicant's supplement and payment time not counted; the
  working calendar: holidays and 调休), over the completed ones; `onTimeRate`: the share of
  completed ones decided within their promise (`_completion`);
- `ratings`, `averageRating` (1-5), `satisfiedRate` (share of 4-5, 满意率), `badReviews`
  (1-2; a review ruled 无效差评 is taken out of all four);
- `yellowCards`, `redCards`: cards raised on the applications' clocks and on their bad
  reviews' rectification clocks.

How. Nothing here reads applications. Every state change writes an audit record; the table's
stream brings each new audit record to the stats function (functions/stats_aggregate), which
`apply`s it: a transition moves the application between status cells (-1 from, +1 to), a
completion adds its working days, a card or a rating adds to its counters. A cell is one
aggregate record per (submission day, department, item, status), updated only with atomic ADD,
so concurrent events never read-modify-write a total; any grouping is a sum of cells.

Exactly once. Stream records can be delivered more than once (retries) and those of different
partitions (an application's trail, its clocks' trail, its rating's trail) in any order. Each
application has a small state record (its cell coordinates, current status, cards so far, and
the audit records already applied); one transaction updates it (conditioned on its revision and
on the audit record not being applied yet) together with the cells' ADDs, so a redelivered
record changes nothing and a card that arrives after a transition still lands where the
application is.

Access patterns:
- cells of a month, by day range (the statistics): pk=`STATS#APPLICATIONS#<yyyy-mm>#<shard>`,
  sk between `<from>#` and `<to>#~` (sk `<day>#<department>#<item>#<status>`), on each of the
  `STATS_SHARDS` shards (and the unsharded `STATS#APPLICATIONS#<yyyy-mm>` of cells written
  before the shards). An application's events all go to one shard (from its id), so a busy
  department's day is 64 items in 64 partitions, not one item every event of the month adds
  to; a reader sums the shards' cells as it sums any grouping's;
- an application's statistics state (the stats function): pk=`APP#<id>`, sk=`STATS`.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.applications.records import ApplicationRecord
from yiwang.calendar import calendar_store
from yiwang.calendar.workdays import SHANGHAI
from yiwang.catalogue.items import get_item
from yiwang.people import policy
from yiwang.people.access import ADMIN, REVIEWER, SUPERVISOR, WINDOW, Caller
from yiwang.platform.errors import FieldError, NotFound, ValidationFailed
from yiwang.platform.observability import logger
from yiwang.platform.validation import date_range_error, in_date_range
from yiwang.regions import tree
from yiwang.stats import downloads
from yiwang.table.records import AuditRecord, TableMeta, connection
from yiwang.table.shards import all_shards, sharded
from yiwang.table.writes import write_if

STATUS_NAMES = {
    "SUBMITTED": "已提交", "NEEDS_SUPPLEMENT": "待补正", "NOT_ACCEPTED": "不予受理",
    "ACCEPTED": "已受理", "IN_REVIEW": "审批中", "REJECTED": "不予许可",
    "AWAITING_PAYMENT": "待缴费", "PAID": "已缴费", "CERTIFICATE_ISSUED": "已出证",
    "DISPATCHED": "已寄出", "READY_FOR_PICKUP": "待领取", "DELIVERED": "已送达",
    "COMPLETED": "已办结", "CANCELLED": "已撤销",
}
"""The statuses an application is counted in once submitted (openapi.yaml), with their names."""
COMPLETED = "COMPLETED"
GROUPINGS = ("department", "item", "status", "region")
MAX_DAYS = 366
STATS_SHARDS = 64
"""Shards of a month's cells. Every counted event is a transactional ADD (two write units) on
its cell: some 13 events an application, 40,000 write units a second at a province's peak,
which 64 partitions take at about 600 each (`make scale`); a statistics page reads 64 Queries
a month."""
"""The longest period one request may ask for (cells read grow with it)."""
DEFAULT_DAYS = 30
CLOCKS_TRAIL = "#CLOCKS"
"""Clock and card audit records live beside their subject (`<subject key>#CLOCKS`)."""
COUNTERS = ("count", "completed", "workingDays", "onTime", "ratings", "ratingSum", "satisfied",
            "bad", "yellow", "red")
COLUMNS = ("group", "label", "count", "completed", "averageWorkingDays", "onTimeRate",
           "ratings", "averageRating", "satisfiedRate", "badReviews", "yellowCards", "redCards")
"""The table's columns, in order: JSON keys, CSV header and spreadsheet header alike."""
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


class StatsCell(Model):
    """统计单元: the counters of one (submission day, department, item, status)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    day = UnicodeAttribute()
    department = UnicodeAttribute()
    item_code = UnicodeAttribute(attr_name="itemCode")
    status = UnicodeAttribute()
    region = UnicodeAttribute(null=True)
    """The applications' accepting region (属地); null on cells written before regions (the
    default region's)."""
    count = NumberAttribute(default=0)
    completed = NumberAttribute(default=0)
    working_days = NumberAttribute(attr_name="workingDays", default=0)
    on_time = NumberAttribute(attr_name="onTime", default=0)
    ratings = NumberAttribute(default=0)
    rating_sum = NumberAttribute(attr_name="ratingSum", default=0)
    satisfied = NumberAttribute(default=0)
    bad = NumberAttribute(default=0)
    yellow = NumberAttribute(default=0)
    red = NumberAttribute(default=0)

    @staticmethod
    def key(day: str, department: str, item_code: str, status: str,
            application_key: str, region: str | None = None) -> tuple[str, str]:
        """The cell's key in the shard of the application (`APP#<id>`) whose event it counts;
        a region's cells end in `#<region>` (cells written before regions do not)."""
        return (sharded(StatsCell.month_partition(day), application_key, STATS_SHARDS),
                f"{day}#{department}#{item_code}#{status}" + (f"#{region}" if region else ""))

    @staticmethod
    def month_partition(day: str) -> str:
        """The month's partition before sharding; its shards are `<this>#00`..`#63`."""
        return f"STATS#APPLICATIONS#{day[:7]}"

    def counters(self) -> dict[str, int]:
        return {name: int(getattr(self, _ATTRIBUTE[name]) or 0) for name in COUNTERS}


_ATTRIBUTE = {"count": "count", "completed": "completed", "workingDays": "working_days",
              "onTime": "on_time", "ratings": "ratings", "ratingSum": "rating_sum",
              "satisfied": "satisfied", "bad": "bad", "yellow": "yellow", "red": "red"}


class StatsState(Model):
    """What the statistics know of one application: where it is counted, and what is applied."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="STATS")
    day = UnicodeAttribute()
    department = UnicodeAttribute()
    item_code = UnicodeAttribute(attr_name="itemCode")
    region = UnicodeAttribute(null=True)
    """Where it is counted (its accepting region); null on states made before regions."""
    submitted_at = UTCDateTimeAttribute(attr_name="submittedAt")
    status = UnicodeAttribute(null=True)
    """The status it is counted in; None until its first transition after submission."""
    yellow = NumberAttribute(default=0)
    red = NumberAttribute(default=0)
    applied = UnicodeSetAttribute(null=True)
    revision = NumberAttribute(default=0)


# ---------------------------------------------------------------------------------------------
# Events: what an audit record means to the statistics


@dataclass(frozen=True)
class Event:
    """One audit record, as the statistics see it."""

    key: str
    application_id: str
    at: datetime
    to_status: str | None = None
    card: str | None = None
    rating: int = 0
    """A rating's level: positive when given, negative when ruled invalid."""


def event_of(audit: AuditRecord) -> Event | None:
    """The statistics' reading of an audit record, or None when it changes nothing counted."""
    key = f"{audit.pk}|{audit.sk}"
    if audit.event in ("YELLOW_CARD", "RED_CARD"):
        subject = audit.pk.removesuffix(CLOCKS_TRAIL)
        prefix, _, identifier = subject.partition("#")
        if prefix in ("APP", "RATING"):  # a rating's id is its application's id
            return Event(key, identifier, audit.at, card=audit.event.removesuffix("_CARD"))
        return None
    prefix, _, identifier = audit.pk.partition("#")
    if prefix == "APP" and "#" not in identifier and audit.to_status in STATUS_NAMES \
            and audit.to_status != audit.from_status:
        return Event(key, identifier, audit.at, to_status=audit.to_status)
    if prefix == "RATING" and "#" not in identifier and audit.event in ("RATED", "INVALIDATED"):
        level = int((audit.detail.as_dict() if audit.detail else {}).get("level") or 0)
        if level:
            return Event(key, identifier, audit.at,
                         rating=level if audit.event == "RATED" else -level)
    return None


@dataclass(frozen=True)
class Counted:
    """Where an application is counted now: its status (None: not yet) and its cards."""

    status: str | None
    yellow: int = 0
    red: int = 0


@dataclass
class Change:
    """An event's effect: the application's new status and cards, and each cell's deltas
    (keyed by status; day, department and item are the application's)."""

    status: str | None
    yellow: int = 0
    red: int = 0
    cells: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, status: str, **deltas: int) -> None:
        cell = self.cells.setdefault(status, {})
        for name, delta in deltas.items():
            if delta:
                cell[name] = cell.get(name, 0) + delta


def change_of(counted: Counted, event: Event, working_days: int = 0,
              on_time: bool = True) -> Change:
    """What `event` does to an application counted as `counted` (pure: no reads, no writes).

    `working_days` and `on_time` describe a completion (the caller works them out only then).
    """
    change = Change(counted.status)
    if event.to_status and event.to_status != counted.status:
        if counted.status is not None:
            change.add(counted.status, count=-1, yellow=-counted.yellow, red=-counted.red)
        change.add(event.to_status, count=1, yellow=counted.yellow, red=counted.red)
        if event.to_status == COMPLETED:
            change.add(COMPLETED, completed=1, workingDays=working_days, onTime=int(on_time))
        change.status = event.to_status
    elif event.card:
        yellow, red = int(event.card == "YELLOW"), int(event.card == "RED")
        change.yellow, change.red = yellow, red
        if counted.status is not None:  # else it joins the first status the application takes
            change.add(counted.status, yellow=yellow, red=red)
    elif event.rating:
        # Only a completed application is rated, so a rating counts where completions do.
        level, sign = abs(event.rating), (1 if event.rating > 0 else -1)
        change.add(COMPLETED, ratings=sign, ratingSum=sign * level,
                   satisfied=sign * int(level >= 4), bad=sign * int(level <= 2))
    return change


# ---------------------------------------------------------------------------------------------
# Applying stream records (the stats function)


MAX_ATTEMPTS = 8


def apply_stream_record(record: dict[str, Any]) -> bool:
    """Apply one DynamoDB stream record (an INSERT of an audit record); True if it counted.
    Safe to repeat: an audit record already applied changes nothing."""
    image = (record.get("dynamodb") or {}).get("NewImage")
    if record.get("eventName") != "INSERT" or not image or \
            not str(image.get("sk", {}).get("S", "")).startswith("AUDIT#"):
        return False
    event = event_of(AuditRecord.from_raw_data(image))
    return apply(event) if event else False


def apply(event: Event) -> bool:
    """Apply one event exactly once; False when it was applied before or cannot be placed."""
    for attempt in range(MAX_ATTEMPTS):
        state = _state(event.application_id)
        if state is None:
            logger.warning("statistics: no submitted application", extra={
                "applicationId": event.application_id, "audit": event.key})
            return False
        if event.key in (state.applied or set()):
            return False
        if write_if(functools.partial(_write, state, event)):
            return True
        # The state changed first (another partition's record for the same application, or
        # this very record delivered again): read it again, and count the event once. A busy
        # store was retried by the write policy; every other failure propagates.
        logger.info("statistics: retrying", extra={"audit": event.key, "attempt": attempt})
        time.sleep(random.uniform(0, 0.05 * 2 ** attempt))
    raise RuntimeError(f"statistics: could not apply {event.key} after {MAX_ATTEMPTS} attempts")


def _state(application_id: str) -> StatsState | None:
    """The application's statistics state; a new (unsaved, revision 0) one from its record."""
    key = ApplicationRecord.key(application_id)
    try:
        return StatsState.get(key, "STATS", consistent_read=True)
    except StatsState.DoesNotExist:
        pass
    try:
        record = ApplicationRecord.load(application_id)
        version = int(record.item_version) if record.item_version is not None else None
        department = get_item(record.item_code, version).lead_department
    except NotFound:
        return None
    started = record.submitted_at or record.created_at
    return StatsState(key, "STATS", day=started.astimezone(SHANGHAI).date().isoformat(),
                      department=department, item_code=record.item_code,
                      region=record.region or tree.default_region(), submitted_at=started,
                      status=None, yellow=0, red=0, revision=0)


def _completion(state: StatsState, event: Event) -> tuple[int, bool]:
    """Working days and whether the case was on time, measured against its promise (承诺时限,
    `yiwang.applications.promise`): the working days the administration used of it (the
    applicant's own time not counted) and whether it was decided by the promised day. A case
    without a promise clock (accepted before there was one) counts from submission to
    completion, on time when no step earned a red card."""
    if event.to_status != COMPLETED or state.status == COMPLETED:
        return 0, True
    from yiwang.applications import promise
    from yiwang.deadlines.clocks import RED, CardRecord

    clock = promise.get(state.pk.removeprefix(ApplicationRecord.PARTITION_PREFIX))
    if clock is not None:
        return max(0, promise.days_used(clock, event.at)), promise.kept(clock)

    days = calendar_store.working_calendar().working_days_between(
        state.submitted_at, max(event.at, state.submitted_at))
    late = any(card.level == RED for card in CardRecord.query(
        state.pk, CardRecord.sk.startswith("CARD#")))
    return days, not late


def _write(state: StatsState, event: Event) -> None:
    working_days, on_time = _completion(state, event)
    counted = Counted(state.status, int(state.yellow or 0), int(state.red or 0))
    change = change_of(counted, event, working_days, on_time)
    revision = int(state.revision or 0)
    guard = (StatsState.pk.does_not_exist() if revision == 0 else
             (StatsState.revision == revision) & ~StatsState.applied.contains(event.key))
    actions = [StatsState.day.set(state.day), StatsState.department.set(state.department),
               StatsState.item_code.set(state.item_code),
               *([StatsState.region.set(state.region)] if state.region else []),
               StatsState.submitted_at.set(state.submitted_at),
               StatsState.status.set(change.status), StatsState.revision.set(revision + 1),
               StatsState.applied.add({event.key})]
    if change.yellow:
        actions.append(StatsState.yellow.add(change.yellow))
    if change.red:
        actions.append(StatsState.red.add(change.red))
    with TransactWrite(connection=connection()) as transaction:
        transaction.update(state, actions=actions, condition=guard)
        for status, deltas in change.cells.items():
            if deltas:
                _add_to_cell(transaction, state, status, deltas)


def _add_to_cell(transaction: TransactWrite, state: StatsState, status: str,
                 deltas: dict[str, int]) -> None:
    pk, sk = StatsCell.key(state.day, state.department, state.item_code, status, state.pk,
                           state.region)
    cell = StatsCell(pk, sk)
    actions = [StatsCell.day.set(state.day), StatsCell.department.set(state.department),
               StatsCell.item_code.set(state.item_code), StatsCell.status.set(status)]
    if state.region:
        actions.append(StatsCell.region.set(state.region))
    actions += [getattr(StatsCell, _ATTRIBUTE[name]).add(delta) for name, delta in deltas.items()]
    transaction.update(cell, actions=actions)


# ---------------------------------------------------------------------------------------------
# Reading: the table of GET /stats/applications


@dataclass(frozen=True)
class Query:
    """A request for statistics: grouping, period (inclusive dates) and optional filters."""

    group_by: str
    start: date
    end: date
    department: str | None = None
    item_code: str | None = None
    region: str | None = None
    """Only this region and the regions below it (None: everywhere)."""


def query_of(caller: Caller, params: dict[str, str], today: date | None = None) -> Query:
    """The query a caller may make from `?groupBy=&from=&to=&department=&item=&region=`:
    staff and supervisors; a department's reviewers see their own department only, a
    supervisor their own region (or, named, one below it; any other is `NotFound`)."""
    caller.require(WINDOW, REVIEWER, SUPERVISOR, ADMIN)
    errors: list[FieldError] = []
    group_by = params.get("groupBy") or "department"
    if group_by not in GROUPINGS:
        errors.append(FieldError("groupBy", f"one of {', '.join(GROUPINGS)}"))
    today = today or datetime.now(SHANGHAI).date()
    end = _date(params.get("to"), "to", errors) or today
    start = _date(params.get("from"), "from", errors) or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        errors.append(FieldError("from", "the period starts after it ends"))
    elif (end - start).days + 1 > MAX_DAYS:
        errors.append(FieldError("to", f"a period is at most {MAX_DAYS} days"))
    if errors:
        raise ValidationFailed(errors)
    department = params.get("department") or None
    if caller.role == REVIEWER:
        department = caller.dept
    return Query(group_by, start, end, department, params.get("item") or None,
                 _region(caller, params.get("region") or None))


def _region(caller: Caller, named: str | None) -> str | None:
    """The region a query covers: the one named, within the caller's scope (a supervisor's
    region, `policy.scope_of`); an unknown one, or one outside the scope, is `NotFound`."""
    scope = policy.scope_of(caller)
    if named is None:
        return scope
    if not tree.known(named) or not policy.in_scope(caller, [named]):
        raise NotFound(f"no region {named}")
    return named


def _date(text: str | None, name: str, errors: list[FieldError]) -> date | None:
    """A date, or the Asia/Shanghai date of a time with an offset."""
    if not text:
        return None
    try:
        moment = (datetime.combine(date.fromisoformat(text), datetime.min.time(), SHANGHAI)
                  if len(text) == 10 else datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        errors.append(FieldError(name, "a date (YYYY-MM-DD) or a time with its offset"))
        return None
    if moment.tzinfo is None:
        errors.append(FieldError(name, "a time needs its offset (e.g. +08:00)"))
        return None
    if not in_date_range(moment.date()):  # before converting: year 1 or 9999 overflows
        errors.append(date_range_error(name))
        return None
    return moment.astimezone(SHANGHAI).date()


def cells(query: Query) -> Iterator[StatsCell]:
    """The cells of the period (one Query per month it touches and shard), filtered."""
    month = query.start.replace(day=1)
    while month <= query.end:
        unsharded = StatsCell.month_partition(f"{month:%Y-%m}")
        for pk in [*all_shards(unsharded, STATS_SHARDS), unsharded]:
            for cell in StatsCell.query(pk, StatsCell.sk.between(f"{query.start}#",
                                                                 f"{query.end}#\uffff")):
                if query.department and cell.department != query.department:
                    continue
                if query.item_code and cell.item_code != query.item_code:
                    continue
                if query.region and not tree.within(region_of(cell), query.region):
                    continue
                yield cell
        month = (month + timedelta(days=32)).replace(day=1)


def region_of(cell: StatsCell) -> str:
    """The cell's region; the default region for a cell written before regions."""
    return cell.region or tree.default_region()


def summary(query: Query) -> dict[str, Any]:
    """The statistics table: one row per group (sorted; by region, in the tree's order, each
    region's figures including those of the regions below it), and the total."""
    sums: dict[str, dict[str, int]] = {}
    for cell in cells(query):
        group = {"department": cell.department, "item": cell.item_code,
                 "status": cell.status, "region": region_of(cell)}[query.group_by]
        _add(sums.setdefault(group, dict.fromkeys(COUNTERS, 0)), cell.counters())
    total = dict.fromkeys(COUNTERS, 0)
    for counters in sums.values():
        _add(total, counters)
    groups = (rolled_up(sums, query.region) if query.group_by == "region"
              else sorted(sums.items()))
    rows = [row(group, _label(query.group_by, group), counters)
            for group, counters in groups if any(counters.values())]
    return {"groupBy": query.group_by, "from": query.start.isoformat(),
            "to": query.end.isoformat(), "department": query.department,
            "item": query.item_code, "region": query.region, "basis": "SUBMITTED",
            "groups": rows, "total": row("TOTAL", "合计", total)}


def _add(totals: dict[str, int], counters: dict[str, int]) -> None:
    for name, value in counters.items():
        totals[name] += value


def rolled_up(sums: dict[str, dict[str, int]], top: str | None
              ) -> list[tuple[str, dict[str, int]]]:
    """Counts kept under each accepting region, rolled up the tree (汇总): every region from
    `top` (the tree's root when None) down that has counts, in the tree's order, with its own
    counts and those of every region below it. Each region's counts are added to it and to
    each region above it up to `top` (a few levels), never region by region over the tree."""
    root = top or next(code for code, region in tree.tree().regions.items()
                       if region.parent is None)
    rolled: dict[str, dict[str, int]] = {}
    for code, own in sums.items():
        if not tree.within(code, root):
            continue
        for region in [tree.get(code), *tree.ancestors(code)]:
            _add(rolled.setdefault(region.code, dict.fromkeys(COUNTERS, 0)), own)
            if region.code == root:
                break
    return [(region.code, rolled[region.code]) for region in tree.descendants(root)
            if region.code in rolled]


def row(group: str, label: str | None, counters: dict[str, int]) -> dict[str, Any]:
    """One row of the table from summed counters (rates are None when nothing to divide)."""
    completed, ratings = counters["completed"], counters["ratings"]
    return {
        "group": group, "label": label, "count": counters["count"], "completed": completed,
        "averageWorkingDays": _ratio(counters["workingDays"], completed, 2),
        "onTimeRate": _ratio(counters["onTime"], completed, 4),
        "ratings": ratings, "averageRating": _ratio(counters["ratingSum"], ratings, 2),
        "satisfiedRate": _ratio(counters["satisfied"], ratings, 4),
        "badReviews": counters["bad"], "yellowCards": counters["yellow"],
        "redCards": counters["red"],
    }


def _ratio(numerator: int, denominator: int, digits: int) -> float | None:
    return round(numerator / denominator, digits) if denominator else None


def _label(group_by: str, group: str) -> str | None:
    if group_by == "region":
        return tree.get(group).name if tree.known(group) else None
    if group_by == "status":
        return STATUS_NAMES.get(group)
    if group_by == "item":
        try:
            return get_item(group).name
        except NotFound:
            return None
    return None


# ---------------------------------------------------------------------------------------------
# Downloads: the same table as CSV and as a spreadsheet


def _table_rows(table: dict[str, Any]) -> Iterable[list[Any]]:
    for entry in [*table["groups"], table["total"]]:
        yield [entry[column] for column in COLUMNS]


def to_csv(table: dict[str, Any]) -> bytes:
    """The table as CSV (UTF-8 with a byte-order mark, so spreadsheet programs read Chinese)."""
    return downloads.to_csv(COLUMNS, _table_rows(table))


def to_xlsx(table: dict[str, Any]) -> bytes:
    """The table as an .xlsx workbook: one sheet, the header on the first row, numbers as
    numbers (rates shown as percentages), the period in the sheet's name."""
    return downloads.to_xlsx(COLUMNS, _table_rows(table), f"{table['from']}~{table['to']}",
                             percent=[c for c in COLUMNS if c.endswith("Rate")],
                             widths=[(0, 1, 28), (2, len(COLUMNS) - 1, 14)])


def filename(table: dict[str, Any], extension: str) -> str:
    """The download's file name: `applications-<groupBy>-<from>-<to>.<extension>`."""
    return f"applications-{table['groupBy']}-{table['from']}-{table['to']}.{extension}"
