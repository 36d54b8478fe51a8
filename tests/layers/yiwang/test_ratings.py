"""好差评 on the deployed table: one rating per completed application, and a bad review's
rectification with its clock, moved through time by the `now` each step is given.

The applications are records written straight to the table as COMPLETED (no workflow runs for
them), submitted and rated in August 2026, so their clocks and statistics are their own.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.data import CITIZEN_ID, OTHER_ID, PERMIT
from tests.support.environment import environment
from yiwang.calendar.workdays import SHANGHAI

pytestmark = pytest.mark.integration

RATED = datetime(2026, 8, 3, 10, 0, tzinfo=SHANGHAI)  # a Monday
SECOND = timedelta(seconds=1)


def person(sub: str, role: str, **claims: str) -> Any:
    from yiwang.people.access import Caller

    return Caller(sub, role, **claims)


CITIZEN = person("citizen-ratings", "applicant", id_number=CITIZEN_ID)
PLANNING = person("reviewer-zrzy", "reviewer", dept="GZ-ZRZY")
FIRE = person("reviewer-xf", "reviewer", dept="GZ-XF")
ADMIN = person("admin-ratings", "admin")
SUPERVISOR = person("supervisor-ratings", "supervisor")


def completed(status: str = "COMPLETED") -> str:
    """An application of the construction permit, in `status`, owned by CITIZEN."""
    from yiwang.applications.records import ApplicationRecord
    from yiwang.catalogue.items import get_item

    identifier = f"YWRATE{uuid.uuid4().hex[:12].upper()}"
    submitted = RATED - timedelta(days=20)
    ApplicationRecord(
        ApplicationRecord.key(identifier), "META", application_id=identifier, status=status,
        item_code=PERMIT, item_version=get_item(PERMIT).version, owner_sub=CITIZEN.sub,
        applicant={"kind": "PERSON", "name": "张伟", "idNumber": CITIZEN_ID,
                   "phone": "13812345678"},
        submitted_at=submitted, created_at=submitted, gsi1pk=f"APPLICANT#{CITIZEN_ID}",
        gsi1sk=submitted.isoformat()).save()
    return identifier


def bad_review(anonymous: bool = False, at: datetime = RATED) -> Any:
    from yiwang.ratings import reviews

    return reviews.rate(CITIZEN, completed(), {"level": 1, "comment": "窗口推诿，多次往返",
                                               "anonymous": anonymous}, now=at)


def clock_of(rating_id: str) -> Any:
    from yiwang.deadlines import clocks
    from yiwang.ratings import reviews

    return clocks.get(f"RATING#{rating_id}", reviews.CLOCK)


def test_a_good_rating_is_recorded_once(table: None) -> None:
    from yiwang.platform.errors import Conflict, ValidationFailed
    from yiwang.ratings import records, reviews
    from yiwang.views import ratings as views

    identifier = completed()
    outcome = reviews.rate(CITIZEN, identifier, {"level": 5, "comment": "很快"}, now=RATED)
    assert (outcome.rating.status, outcome.rating.bad, outcome.notices) == (
        "RECORDED", False, [])
    assert clock_of(identifier) is None
    with pytest.raises(Conflict):
        reviews.rate(CITIZEN, identifier, {"level": 4}, now=RATED)
    with pytest.raises(ValidationFailed):
        reviews.rate(CITIZEN, completed(), {"level": 6})
    with pytest.raises(ValidationFailed):  # a bad review says what went wrong
        reviews.rate(CITIZEN, completed(), {"level": 2})
    shown = views.present(records.load_for(CITIZEN, identifier), CITIZEN)
    assert (shown["level"], shown["levelName"], shown["department"]) == (5, "非常满意", "GZ-ZRZY")


def test_only_a_concluded_application_of_ones_own_is_rated(table: None) -> None:
    from yiwang.platform.errors import Conflict, Forbidden, NotFound
    from yiwang.ratings import reviews

    for under_way in ("SUBMITTED", "IN_REVIEW", "AWAITING_PAYMENT", "DISPATCHED"):
        with pytest.raises(Conflict):
            reviews.rate(CITIZEN, completed(under_way), {"level": 5})
    with pytest.raises(NotFound):
        reviews.rate(person("someone-else", "applicant", id_number=OTHER_ID),
                     completed(), {"level": 5})
    with pytest.raises(Forbidden):
        reviews.rate(PLANNING, completed(), {"level": 5})


def test_a_bad_review_opens_a_rectification_with_a_five_working_day_clock(table: None) -> None:
    from yiwang.calendar import calendar_store
    from yiwang.deadlines import clocks

    outcome = bad_review()
    rating = outcome.rating
    assert (rating.status, rating.bad, rating.department) == ("VERIFYING", True, "GZ-ZRZY")
    clock = clock_of(rating.rating_id)
    assert (clock.status, clock.department, clock.step, int(clock.limit_days)) == (
        "RUNNING", "GZ-ZRZY", "差评整改", 5)
    assert clock.deadline == calendar_store.due(RATED, 5).due == datetime(
        2026, 8, 10, 23, 59, 59, tzinfo=SHANGHAI)
    [notice] = outcome.notices
    assert notice.recipient == "DEPT#GZ-ZRZY" and notice.kind == "BAD_REVIEW"
    # The sweep cards it like every other period: yellow with one working day left, red after.
    subject = f"{rating.rating_id}:RECTIFICATION"
    assert subject in clocks.sweep(clock.yellow_at + SECOND, {}).yellow
    assert subject in clocks.sweep(clock.deadline + SECOND, {}).red


def test_the_rectification_period_comes_from_the_environment(table: None) -> None:
    with environment({"RECTIFICATION_WORKING_DAYS": "15"}):
        rating = bad_review().rating
    assert int(clock_of(rating.rating_id).limit_days) == 15


def test_only_the_administrators_mark_a_review_invalid(table: None) -> None:
    from yiwang.platform.errors import Conflict, Forbidden, NotFound
    from yiwang.ratings import records, reviews

    rating = bad_review().rating
    identifier = rating.rating_id
    with pytest.raises(NotFound):  # another department's review is not theirs to see
        reviews.verify(FIRE, identifier, {"valid": False, "note": "x"})
    with pytest.raises(Conflict):  # nothing proposed yet
        reviews.invalidate(ADMIN, identifier, {"approve": True, "note": "复核"})
    later = RATED + timedelta(days=1)
    proposed = reviews.verify(PLANNING, identifier, {"valid": False, "note": "经核实系误评"},
                              now=later).rating
    assert proposed.status == "INVALIDATION_REQUESTED"
    assert clock_of(identifier).status == "PAUSED"  # the review is not the department's time
    with pytest.raises(Forbidden):
        reviews.invalidate(PLANNING, identifier, {"approve": True, "note": "我们说无效"})
    ruled = reviews.invalidate(ADMIN, identifier, {"approve": True, "note": "复核属实"},
                               now=later).rating
    assert ruled.status == "INVALID"
    assert ruled.invalidation["approved"] is True
    assert clock_of(identifier).status == "STOPPED"
    with pytest.raises(Conflict):
        reviews.invalidate(ADMIN, identifier, {"approve": False, "note": "again"})
    events = [a.event for a in records.trail(identifier)]
    assert events == ["RATED", "INVALIDATION_REQUESTED", "INVALIDATED"]


def test_refused_invalidation_extension_rectification_and_revisits(table: None) -> None:
    from yiwang.calendar import calendar_store
    from yiwang.platform.errors import Conflict, Forbidden, Unprocessable
    from yiwang.ratings import reviews

    identifier = bad_review().rating.rating_id
    day = RATED + timedelta(hours=2)
    reviews.verify(PLANNING, identifier, {"valid": False, "note": "认为是恶意差评"}, now=day)
    refused = reviews.invalidate(ADMIN, identifier, {"approve": False, "note": "诉求合理"},
                                 now=day).rating
    assert refused.status == "RECTIFYING"
    assert clock_of(identifier).status == "RUNNING"

    before = clock_of(identifier).deadline
    with pytest.raises(Unprocessable):  # at most the original 5 working days
        reviews.extend(PLANNING, identifier, {"workingDays": 6, "reason": "情况复杂"}, now=day)
    extended = reviews.extend(PLANNING, identifier,
                              {"workingDays": 3, "reason": "需协调住建部门"}, now=day)
    assert clock_of(identifier).deadline == calendar_store.due(before, 3).due
    [told] = extended.notices
    assert told.recipient == CITIZEN.sub and "需协调住建部门" in told.body
    with pytest.raises(Conflict):  # once
        reviews.extend(PLANNING, identifier, {"workingDays": 1, "reason": "再延"}, now=day)

    rectified = reviews.rectify(PLANNING, identifier, {"measures": "窗口一次性告知整改"},
                                now=day).rating
    assert rectified.status == "RECTIFIED"  # real-name: revisited before it closes
    assert clock_of(identifier).status == "STOPPED"
    again = reviews.revisit(ADMIN, identifier, {"satisfied": False, "note": "仍不满意"},
                            now=day).rating
    assert again.status == "RECTIFYING"
    assert clock_of(identifier).status == "RUNNING"  # a fresh round
    reviews.rectify(PLANNING, identifier, {"measures": "专人跟进"}, now=day)
    with pytest.raises(Forbidden):  # the managing office revisits, not the rated department
        reviews.revisit(PLANNING, identifier, {"satisfied": True, "note": "满意"}, now=day)
    closed = reviews.revisit(SUPERVISOR, identifier, {"satisfied": True, "note": "满意"},
                             now=day).rating
    assert closed.status == "CLOSED"
    assert [r["satisfied"] for r in closed.revisits] == [False, True]
    assert len(closed.rectifications) == 2


def test_an_anonymous_review_closes_when_rectified_and_hides_the_rater(table: None) -> None:
    from yiwang.platform.errors import Conflict
    from yiwang.ratings import records, reviews
    from yiwang.views import ratings as views

    identifier = bad_review(anonymous=True).rating.rating_id
    seen = views.present(records.load_for(PLANNING, identifier), PLANNING)
    assert seen["rater"] is None and seen["anonymous"] is True
    reviews.verify(PLANNING, identifier, {"valid": True, "note": "属实"})
    assert reviews.rectify(PLANNING, identifier, {"measures": "已整改"}).rating.status == "CLOSED"
    with pytest.raises(Conflict):
        reviews.revisit(ADMIN, identifier, {"satisfied": True, "note": "回访"})


def test_lists_show_a_department_its_own_and_supervisors_all(table: None) -> None:
    from yiwang.platform.errors import Forbidden
    from yiwang.ratings import records, reviews
    from yiwang.views import ratings as views

    mine = bad_review().rating.rating_id
    theirs = reviews.rate(CITIZEN, completed(), {"level": 3}).rating.rating_id
    verifying = [r.rating_id for r in records.list_for(PLANNING, True, "VERIFYING")]
    assert mine in verifying and theirs not in verifying
    assert mine not in [r.rating_id for r in records.list_for(FIRE, True)]
    everyone = [r.rating_id for r in records.list_for(SUPERVISOR)]
    assert {mine, theirs} <= set(everyone)
    assert theirs in [r.rating_id for r in records.list_for(SUPERVISOR, False, "RECORDED")]
    with pytest.raises(Forbidden):
        records.list_for(CITIZEN)
    shown = views.present(records.load_for(SUPERVISOR, mine), SUPERVISOR)
    assert shown["rater"]["phone"] != "13812345678"  # masked for supervisors
    assert views.present(records.load_for(PLANNING, mine), PLANNING)["rater"]["phone"] == \
        "13812345678"  # the department must call the rater


@pytest.mark.parametrize("outcome", ["REJECTED", "NOT_ACCEPTED", "CANCELLED", "COMPLETED"])
def test_every_concluded_application_is_rated_once(table: None, outcome: str) -> None:
    from yiwang.platform.errors import Conflict
    from yiwang.ratings import reviews
    from yiwang.views import ratings as views

    identifier = completed(outcome)
    rating = reviews.rate(CITIZEN, identifier, {"level": 2, "comment": "不予许可理由不清"},
                          now=RATED).rating
    assert (rating.outcome, rating.status, rating.bad) == (outcome, "VERIFYING", True)
    assert views.present(rating, CITIZEN)["outcome"] == outcome
    with pytest.raises(Conflict):
        reviews.rate(CITIZEN, identifier, {"level": 5}, now=RATED)
