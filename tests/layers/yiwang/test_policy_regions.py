"""Region-scoped supervision in the access policy (`yiwang.people.policy`, relation `region`):
a supervisor oversees their region and every region below it and nothing else; one without a
region the default region, never everything; an escalated case lies in both levels' regions;
administrators and the other relations are not scoped by region."""

from __future__ import annotations

from yiwang.people import policy
from yiwang.people.access import ADMIN, REVIEWER, SUPERVISOR, Caller

TIANHE, YUEXIU, CITY, SHENZHEN = "440106", "440104", "440100", "440300"
VILLAGE = "440106001001"  # 沙河社区, in 天河区


def supervisor(region: str | None) -> Caller:
    return Caller(f"sup-{region}", SUPERVISOR, region=region)


def case(*regions: str) -> policy.Facts:
    return policy.Facts(owner_subs=frozenset({"citizen"}), departments=frozenset({"GZ-ZRZY"}),
                        regions=frozenset(regions))


def test_a_county_supervisor_oversees_the_county_and_below_and_nothing_else() -> None:
    county = supervisor(TIANHE)
    assert policy.allows("getApplication", county, case(TIANHE))
    assert policy.allows("getApplication", county, case(VILLAGE))
    assert not policy.allows("getApplication", county, case(YUEXIU))
    assert not policy.allows("getApplication", county, case(CITY))  # above it: not theirs
    for operation in ("getComplaint", "gradeComplaint", "getRating", "getUrging"):
        assert policy.allows(operation, county, case(TIANHE)), operation
        assert not policy.allows(operation, county, case(YUEXIU)), operation


def test_a_city_supervisor_oversees_every_county_of_the_city() -> None:
    city = supervisor(CITY)
    for region in (CITY, TIANHE, YUEXIU, VILLAGE):
        assert policy.allows("getApplication", city, case(region)), region
    assert not policy.allows("getApplication", city, case(SHENZHEN))


def test_a_supervisor_without_a_region_oversees_the_default_region_only() -> None:
    unplaced = supervisor(None)
    assert policy.scope_of(unplaced) == CITY
    assert policy.allows("getApplication", unplaced, case(YUEXIU))
    assert not policy.allows("getApplication", unplaced, case(SHENZHEN))
    # A record made before regions lies in the default region.
    assert policy.allows("getApplication", unplaced, case())
    assert not policy.allows("getApplication", supervisor(SHENZHEN), case())


def test_an_escalated_case_lies_in_both_levels_regions() -> None:
    escalated = case(VILLAGE, SHENZHEN)  # accepted in a village, handled above it elsewhere
    assert policy.allows("getApplication", supervisor(TIANHE), escalated)
    assert policy.allows("getApplication", supervisor(SHENZHEN), escalated)
    assert not policy.allows("getApplication", supervisor(YUEXIU), escalated)


def test_an_unknown_region_oversees_nothing() -> None:
    assert not policy.allows("getApplication", supervisor("999999"), case(TIANHE))
    assert not policy.in_scope(supervisor("999999"), [TIANHE, None])


def test_administrators_and_reviewers_are_not_scoped_by_region() -> None:
    admin = Caller("admin", ADMIN, region=SHENZHEN)
    assert policy.scope_of(admin) is None
    assert policy.allows("getApplication", admin, case(TIANHE))
    reviewer = Caller("planning", REVIEWER, dept="GZ-ZRZY", region=SHENZHEN)
    assert policy.allows("getApplication", reviewer, case(TIANHE))  # handling it
