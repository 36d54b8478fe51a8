"""The access policy (`yiwang.people.policy`): a role that may not call an operation is
refused before anything is read; a resource that is not the caller's is answered as one that
does not exist; the relations follow from the resource's facts."""

from __future__ import annotations

import pytest

from yiwang.people import policy
from yiwang.people.access import ADMIN, APPLICANT, REVIEWER, SUPERVISOR, WINDOW, Caller
from yiwang.platform.errors import Forbidden, NotFound
from yiwang.platform.identity import mask_personal

CITIZEN = Caller("citizen", APPLICANT, id_number="11010519491231002X")
STRANGER = Caller("stranger", APPLICANT, id_number="110101199003071233")
PLANNING = Caller("planning", REVIEWER, dept="GZ-ZRZY")
POLICE = Caller("police", REVIEWER, dept="GZ-GA")
DRAFT = policy.Facts(owner_subs=frozenset({"citizen"}), entered_by="citizen",
                     with_staff=False)
SUBMITTED = policy.Facts(owner_subs=frozenset({"citizen"}), entered_by="citizen",
                         departments=frozenset({"GZ-ZRZY"}))


def test_a_role_that_may_not_call_an_operation_is_forbidden_whatever_the_resource() -> None:
    with pytest.raises(Forbidden):
        policy.permit("acceptComplaint", CITIZEN)
    with pytest.raises(Forbidden):
        policy.check("acceptComplaint", CITIZEN, SUBMITTED, NotFound("no complaint"))


def test_a_resource_not_the_callers_raises_what_an_unknown_id_raises() -> None:
    missing = NotFound("no complaint C1")
    with pytest.raises(NotFound) as refused:
        policy.check("acceptComplaint", POLICE, SUBMITTED, missing)
    assert refused.value is missing
    assert policy.check("acceptComplaint", PLANNING, SUBMITTED, missing) is PLANNING


def test_a_draft_is_its_applicants_and_the_supervisors_only() -> None:
    window = Caller("window", WINDOW)
    assert policy.allows("getApplication", CITIZEN, DRAFT)
    assert policy.allows("getApplication", Caller("sup", SUPERVISOR), DRAFT)
    for who in (STRANGER, window, PLANNING, Caller("admin", ADMIN)):
        assert not policy.allows("getApplication", who, DRAFT), who
    for who in (window, PLANNING, Caller("admin", ADMIN)):
        assert policy.allows("getApplication", who, SUBMITTED), who
    assert not policy.allows("getApplication", POLICE, SUBMITTED)


def test_an_applicant_is_the_owner_by_subject_or_by_identity_number() -> None:
    entered = policy.Facts(owner_codes=frozenset({"11010519491231002X"}), entered_by="window-1")
    assert policy.Relation.OWNER in policy.relations(Caller("other-sub", APPLICANT,
                                                            id_number="11010519491231002X"),
                                                     entered)
    assert policy.allows("completeAttachmentUpload", Caller("window-1", WINDOW), entered)
    assert not policy.allows("completeAttachmentUpload", Caller("window-2", WINDOW), entered)


def test_every_route_has_one_row() -> None:
    routes = [(rule.method, rule.path) for rule in policy.POLICY.values()]
    assert len(routes) == len(set(routes))
    assert policy.operation_at("get", "/applications/{application_id}") == "getApplication"
    assert policy.operation_at("GET", "/nowhere") is None


@pytest.mark.parametrize(("value", "masked"), [
    ("11010519491231002X", "1101**********002X"), ("13812345678", "138****5678"),
    ("张伟", "张*"), ("广州市天河区", "广*****")])
def test_personal_values_are_masked_by_their_kind(value: str, masked: str) -> None:
    assert mask_personal(value) == masked
