"""好差评 records: one application's rating, how a caller finds it, and its trail.

Access patterns:
- a rating by id: pk=`RATING#<application id>`, sk=`META`; its trail: sk begins `AUDIT#`;
  its rectification clock: sk=`CLOCK#RECTIFICATION` (yiwang.deadlines.clocks);
- bad (or good) ratings of a department, by status: ListIndex gsi1pk=`RATINGS#BAD|GOOD`,
  gsi1sk begins `<department>#<status>#`; all of them (supervisors): gsi1pk alone.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model

from yiwang.people import policy
from yiwang.people.access import ADMIN, REVIEWER, SUPERVISOR, Caller
from yiwang.platform.errors import FieldError, NotFound, ValidationFailed
from yiwang.ratings.status import RatingStatus
from yiwang.table.records import AuditRecord, ListIndex, TableMeta

LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
BAD_AT_MOST = 2
"""Levels 1 and 2 are bad reviews (差评)."""
STATUSES = tuple(RatingStatus)


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
    region = UnicodeAttribute(null=True)
    """Its application's region (属地); null on ratings made before regions (the default)."""
    level = NumberAttribute()
    outcome = UnicodeAttribute(null=True)
    """How the application concluded when rated (COMPLETED, REJECTED, NOT_ACCEPTED,
    CANCELLED)."""
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
        """The rating's partition key (its id is its application's id)."""
        return f"RATING#{rating_id}"

    @staticmethod
    def list_key(bad: bool) -> str:
        """The list a rating is in: bad reviews or the others."""
        return "RATINGS#BAD" if bad else "RATINGS#GOOD"

    @staticmethod
    def list_sort(department: str, status: str, created_at: datetime) -> str:
        """The rating's place in its list: by department, then status, then time."""
        return f"{department}#{status}#{created_at.isoformat()}"


def is_bad(level: int) -> bool:
    """差评: a rating of 1 (非常不满意) or 2 (不满意)."""
    return level <= BAD_AT_MOST


def load(rating_id: str) -> RatingRecord:
    """A rating by id, or `NotFound`."""
    try:
        return RatingRecord.get(RatingRecord.key(rating_id), "META", consistent_read=True)
    except RatingRecord.DoesNotExist as missing:
        raise NotFound(f"no rating {rating_id}") from missing


def facts_of(rating: RatingRecord) -> policy.Facts:
    """What the access policy needs of a rating: its rater, the department rated, its
    region."""
    return policy.Facts(owner_subs=frozenset({rating.rater_sub}),
                        departments=frozenset({rating.department}),
                        regions=frozenset({region_of(rating)}))


def region_of(rating: RatingRecord) -> str:
    """The rating's region; the default region for one made before regions."""
    from yiwang.regions import tree

    return rating.region or tree.default_region()


def can_see(caller: Caller, rating: RatingRecord) -> bool:
    """The rater, the handling department, supervisors and rating administrators
    (`getRating` in the access policy)."""
    return policy.allows("getRating", caller, facts_of(rating))


def load_for(caller: Caller, rating_id: str, operation_id: str = "getRating") -> RatingRecord:
    """The rating, if the caller may call `operation_id` on it (by default: read it);
    `Forbidden` if their role may not at all, `NotFound` if it is not theirs or there is
    none."""
    policy.permit(operation_id, caller)
    rating = load(rating_id)
    policy.check(operation_id, caller, facts_of(rating), NotFound(f"no rating {rating_id}"))
    return rating


def list_for(caller: Caller, bad: bool | None = None,
             status: str | None = None) -> list[RatingRecord]:
    """Ratings, newest first: a department's own, or all (administrators) or their region's
    (supervisors: filtered within the Query)."""
    caller.require(REVIEWER, SUPERVISOR, ADMIN)
    if status is not None and status not in STATUSES:
        raise ValidationFailed([FieldError("status", f"one of {', '.join(STATUSES)}")])
    found: list[RatingRecord] = []
    for kind in ([bad] if bad is not None else [True, False]):
        if caller.role == REVIEWER:
            prefix = f"{caller.dept}#{status}#" if status else f"{caller.dept}#"
            found += RatingRecord.by_list.query(RatingRecord.list_key(kind),
                                                RatingRecord.gsi1sk.startswith(prefix))
        else:
            found += RatingRecord.by_list.query(
                RatingRecord.list_key(kind), filter_condition=(RatingRecord.status == status)
                if status else None)
    found = [r for r in found if policy.in_scope(caller, [region_of(r)])]
    return sorted(found, key=lambda r: r.created_at, reverse=True)


def trail(rating_id: str) -> list[AuditRecord]:
    """The rating's audit trail, oldest first."""
    return list(AuditRecord.query(RatingRecord.key(rating_id),
                                  AuditRecord.sk.startswith("AUDIT#")))


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
