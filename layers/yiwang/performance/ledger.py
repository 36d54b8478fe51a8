"""效能台账: the monthly ledger of findings that count against a department's (and a staff
member's) performance score, written by the step that makes the finding in the same
transaction as its change: an upheld complaint (投诉属实, by `yiwang.complaints.handling.resolve`),
a bad review (差评, by `yiwang.ratings.reviews.rate`).

Cards and late decisions are not copied here: they are read where they already are, by the
month they happened in (`yiwang.stats.scores`).

Access pattern: a month's entries: pk=`LEDGER#<YYYY-MM>` (Asia/Shanghai), sk=`<kind>#<subject>`
(one entry per finding and month: a retried step writes the same entry again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.models import Model

from yiwang.calendar.workdays import SHANGHAI
from yiwang.table.records import TableMeta

UPHELD_COMPLAINT, BAD_REVIEW = "UPHELD_COMPLAINT", "BAD_REVIEW"
KINDS = (UPHELD_COMPLAINT, BAD_REVIEW)


class LedgerEntry(Model):
    """One finding of one month against a department (and, where known, a staff member)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    subject = UnicodeAttribute()
    department = UnicodeAttribute()
    staff = UnicodeAttribute(null=True)
    at = Time()
    detail = JSONAttribute(null=True)

    @property
    def item_id(self) -> str:
        """The finding's id in a score: `<kind>#<subject>`."""
        return self.sk


def month_of(moment: datetime) -> str:
    """`YYYY-MM` of `moment` in Asia/Shanghai (the month a finding counts in)."""
    return f"{moment.astimezone(SHANGHAI):%Y-%m}"


def entry(kind: str, subject: str, department: str, at: datetime, staff: str | None = None,
          detail: dict[str, Any] | None = None) -> LedgerEntry:
    """A ledger entry to save in the finding step's own transaction."""
    if kind not in KINDS:
        raise ValueError(f"no ledger kind {kind}")
    return LedgerEntry(f"LEDGER#{month_of(at)}", f"{kind}#{subject}", kind=kind,
                       subject=subject, department=department, staff=staff, at=at,
                       detail=detail)


def entries(month: str) -> list[LedgerEntry]:
    """The month's entries (`YYYY-MM`)."""
    return list(LedgerEntry.query(f"LEDGER#{month}", consistent_read=True))
