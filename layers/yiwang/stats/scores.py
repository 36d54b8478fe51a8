"""效能打分: a monthly performance score per department and per staff member (岗位), from what
the electronic supervision found in the month (000 效能管理: "自动对各部门、各岗位的办事效能进行
打分"; 投诉结果认定 "应纳入部门、个人绩效考核").

Each department and each staff member starts the month at `base` points and loses a weight per
finding; the weights are configuration (`data/performance_weights.json`, validated when first
read). The findings of month M (Asia/Shanghai):

- YELLOW_CARD / RED_CARD: a card raised in M on any clock (application steps, complaints,
  bad reviews' rectification, urgings), read from the cards' index by the time raised;
- OVERDUE_STEP: a task (受理 pre-review, 审批 review) decided in M after its deadline, read from
  each department's task list by the time decided; the staff member is the one who decided;
- UPHELD_COMPLAINT: a complaint resolved in M as upheld (投诉属实), with the staff member the
  department named (效能台账, `yiwang.performance.ledger`);
- BAD_REVIEW: a bad review (差评) given in M, unless ruled invalid (无效差评) since.

A card or a bad review of an application is also the staff member's who decided the
application's step in that department. An appeal (申诉) a supervisor upheld removes its
finding from the score (`yiwang.stats.appeals`); the finding stays listed, marked.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from yiwang.applications.tasks import WINDOW_QUEUE, TaskRecord, TaskStatus
from yiwang.calendar.workdays import SHANGHAI
from yiwang.catalogue import departments
from yiwang.deadlines import clocks
from yiwang.people import policy
from yiwang.people.access import ADMIN, REVIEWER, SUPERVISOR, Caller
from yiwang.performance import ledger
from yiwang.platform import validation
from yiwang.platform.errors import FieldError, ValidationFailed
from yiwang.ratings.records import RatingRecord
from yiwang.ratings.status import RatingStatus

YELLOW_CARD, RED_CARD, OVERDUE_STEP = "YELLOW_CARD", "RED_CARD", "OVERDUE_STEP"
KINDS = (YELLOW_CARD, RED_CARD, OVERDUE_STEP, ledger.UPHELD_COMPLAINT, ledger.BAD_REVIEW)
COLUMNS = ("level", "department", "staff", "yellowCards", "redCards", "overdueSteps",
           "upheldComplaints", "badReviews", "appealsUpheld", "deductions", "score")
"""The download's columns, in order (one row per department, then one per staff member)."""
_COUNT_COLUMNS = dict(zip(KINDS, COLUMNS[3:8], strict=True))
_WEIGHTS_FILE = Path(__file__).parents[1] / "data" / "performance_weights.json"
_WEIGHTS_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["base", "floor", "weights"],
    "properties": {
        "description": {"type": "string"},
        "base": {"type": "number", "minimum": 0, "maximum": 1000},
        "floor": {"type": "number", "minimum": 0},
        "weights": {"type": "object", "required": list(KINDS), "additionalProperties": False,
                    "properties": {kind: {"type": "number", "minimum": 0, "maximum": 100}
                                   for kind in KINDS}},
    },
    "additionalProperties": False,
}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Weights:
    """What a month starts at, the least it can fall to, and each finding's weight."""

    base: float
    floor: float
    weights: dict[str, float]


def parse_weights(document: Any) -> Weights:
    """Weights from their document, or `ValueError` naming every problem (a misconfiguration
    must stop the scores, never score with half the weights)."""
    errors = validation.errors(_WEIGHTS_SCHEMA, document)
    if not errors and document["floor"] > document["base"]:
        errors = [FieldError("floor", "at most the base")]
    if errors:
        raise ValueError("performance weights: " + "; ".join(
            f"{e.path}: {e.message}" for e in errors))
    return Weights(document["base"], document["floor"], dict(document["weights"]))


@functools.cache
def weights() -> Weights:
    """The configured weights (`data/performance_weights.json`), read and validated once."""
    return parse_weights(json.loads(_WEIGHTS_FILE.read_text(encoding="utf-8")))


@dataclass
class Finding:
    """One finding of the month against a department (and a staff member, if known)."""

    item_id: str
    kind: str
    department: str
    subject: str
    at: datetime
    staff: str | None = None
    appeal: str | None = None
    """The status of an appeal against it, if any (UPHELD: not counted)."""

    @property
    def counted(self) -> bool:
        return self.appeal != "UPHELD"

    def to_api(self) -> dict[str, Any]:
        return {"id": self.item_id, "kind": self.kind, "department": self.department,
                "staff": self.staff, "subject": self.subject,
                "at": self.at.astimezone(SHANGHAI).isoformat(), "appeal": self.appeal,
                "counted": self.counted}


@dataclass
class Tally:
    """A department's or a staff member's month."""

    department: str
    staff: str | None = None
    counts: Counter[str] = field(default_factory=Counter)
    appeals_upheld: int = 0
    deductions: float = 0

    def add(self, finding: Finding, weight: float) -> None:
        if not finding.counted:
            self.appeals_upheld += 1
            return
        self.counts[finding.kind] += 1
        self.deductions += weight

    def row(self, scale: Weights) -> dict[str, Any]:
        score = max(scale.floor, scale.base - self.deductions)
        return {"level": "STAFF" if self.staff else "DEPARTMENT",
                "department": self.department, "staff": self.staff,
                **{column: self.counts[kind] for kind, column in _COUNT_COLUMNS.items()},
                "appealsUpheld": self.appeals_upheld, "deductions": _number(self.deductions),
                "score": _number(score)}


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


# ---------------------------------------------------------------------------------------------
# The month


def parse_month(text: str | None, now: datetime | None = None) -> str:
    """`YYYY-MM` (2000-01 to 2100-12); the current month (Asia/Shanghai) when absent."""
    if not text:
        return ledger.month_of(now or datetime.now(SHANGHAI))
    found = _MONTH.match(text)
    if not found or not 2000 <= int(found.group(1)) <= 2100:
        raise ValidationFailed([FieldError("month", "a month as YYYY-MM, 2000-01 to 2100-12")])
    return text


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first moment and the next month's, in Asia/Shanghai."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=SHANGHAI)
    following = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, following


# ---------------------------------------------------------------------------------------------
# The findings


def findings(month: str) -> list[Finding]:
    """Every finding of the month (appeals not yet applied), oldest first."""
    start, end = month_bounds(month)
    found = [*_cards(start, end), *_overdue_steps(start, end), *_ledger(month)]
    return sorted(found, key=lambda f: (f.at, f.item_id))


def _cards(start: datetime, end: datetime) -> list[Finding]:
    """Cards raised in [start, end), open or closed since (the card index's sort key is the
    time raised, in UTC)."""
    found = []
    for level, kind in ((clocks.YELLOW, YELLOW_CARD), (clocks.RED, RED_CARD)):
        for partition in (f"CARDS#{level}", f"CARDS#{level}#CLOSED"):
            for card in clocks.CardRecord.by_level.query(
                    partition, clocks.CardRecord.gsi1sk.between(_utc(start), _utc(end))):
                if not start <= card.raised_at < end:
                    continue
                found.append(Finding(f"{kind}#{card.pk}#{card.clock}", kind, card.department,
                                     card.subject, card.raised_at,
                                     _decider(card.pk, card.department)))
    return found


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _overdue_steps(start: datetime, end: datetime) -> list[Finding]:
    """Tasks decided in [start, end) after their deadline, from each department's task list
    (sort key `DECIDED#<time decided>`; a day's margin each side, then the exact time)."""
    found = []
    low, high = _utc(start - timedelta(days=1)), _utc(end + timedelta(days=1))
    codes = sorted({WINDOW_QUEUE, *(d.code for d in departments.all())})
    for code in codes:
        for task in TaskRecord.by_department.query(
                f"DEPT#{code}", TaskRecord.gsi1sk.between(f"{TaskStatus.DECIDED}#{low}",
                                                          f"{TaskStatus.DECIDED}#{high}")):
            decided = task.decided_at
            if decided is None or task.due_at is None or not start <= decided < end:
                continue
            if decided > task.due_at:
                found.append(Finding(f"{OVERDUE_STEP}#{task.task_id}", OVERDUE_STEP,
                                     task.department, task.application_id, decided,
                                     task.decided_by))
    return found


def _ledger(month: str) -> list[Finding]:
    """The month's upheld complaints and bad reviews; a bad review ruled invalid since is no
    finding (its rating is read again, in one batch)."""
    entries = ledger.entries(month)
    reviews = [e for e in entries if e.kind == ledger.BAD_REVIEW]
    invalid = {rating.rating_id for rating in RatingRecord.batch_get(
        [(RatingRecord.key(e.subject), "META") for e in reviews])
        if rating.status == RatingStatus.INVALID} if reviews else set()
    found = []
    for entry in entries:
        if entry.kind == ledger.BAD_REVIEW and entry.subject in invalid:
            continue
        staff = entry.staff
        if staff is None and entry.kind == ledger.BAD_REVIEW:
            staff = _decider(f"APP#{entry.subject}", entry.department)
        found.append(Finding(entry.item_id, entry.kind, entry.department, entry.subject,
                             entry.at, staff))
    return found


def _decider(subject_key: str, department: str) -> str | None:
    """Who decided an application's step in `department` (谁办理、谁负责): the last decided
    task of the application in that department; None for other subjects or no decision."""
    if not subject_key.startswith("APP#"):
        return None
    decided = [task for task in TaskRecord.query(
        subject_key, TaskRecord.sk.startswith(TaskRecord.SORT_PREFIX))
        if task.department == department and task.decided_by and task.decided_at]
    return max(decided, key=lambda task: task.decided_at).decided_by if decided else None


# ---------------------------------------------------------------------------------------------
# The scores


def scoreboard(caller: Caller, month: str, appeals: dict[str, str],
               scale: Weights | None = None) -> dict[str, Any]:
    """`GET /supervision/scores`: the month's scores, departments then staff members, with
    their findings. Administrators see every department, supervisors those of their region
    and below it; a department's reviewers their own. `appeals` maps a finding's id to its
    appeal's status."""
    caller.require(REVIEWER, SUPERVISOR, ADMIN)
    scale = scale or weights()
    found = findings(month)
    for finding in found:
        finding.appeal = appeals.get(finding.item_id)
    if caller.role == REVIEWER:
        found = [f for f in found if f.department == caller.dept]
        codes = {caller.dept or ""}
    else:
        registry = departments.all()
        codes = {d.code for d in registry} | {f.department for f in found}
        if policy.scope_of(caller) is not None:
            # A supervisor's region: the departments placed in it or below it.
            placed = {d.code: departments.region_of(d) for d in registry}
            codes = {code for code in codes if policy.in_scope(caller, [placed.get(code)])}
            found = [f for f in found if f.department in codes]
    board = tally(found, codes, scale)
    return {"month": month, "base": _number(scale.base), "floor": _number(scale.floor),
            "weights": scale.weights, **board,
            "findings": [f.to_api() for f in found]}


def tally(found: list[Finding], codes: set[str], scale: Weights) -> dict[str, Any]:
    """Each department's and each staff member's row (every department in `codes`, even
    without findings; the lowest score first, then by code)."""
    units = {code: Tally(code) for code in codes}
    people: dict[tuple[str, str], Tally] = {}
    for finding in found:
        weight = scale.weights[finding.kind]
        units.setdefault(finding.department, Tally(finding.department)).add(finding, weight)
        if finding.staff:
            key = (finding.department, finding.staff)
            people.setdefault(key, Tally(*key)).add(finding, weight)

    def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(rows, key=lambda r: (r["score"], r["department"], r["staff"] or ""))

    return {"departments": ordered([unit.row(scale) for unit in units.values()]),
            "staff": ordered([person.row(scale) for person in people.values()])}


def rows(board: dict[str, Any]) -> list[list[Any]]:
    """The download's rows: departments, then staff members, in `COLUMNS` order."""
    return [[entry[column] for column in COLUMNS]
            for entry in [*board["departments"], *board["staff"]]]
