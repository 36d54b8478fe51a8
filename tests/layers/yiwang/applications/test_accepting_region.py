"""属地受理: where a new application is accepted."""

from __future__ import annotations

import pytest

from yiwang.applications.drafts import accepting_region
from yiwang.people.access import APPLICANT, WINDOW, Caller
from yiwang.platform.errors import ValidationFailed


def test_window_staff_accept_in_their_own_region_whatever_the_body_says() -> None:
    window = Caller(sub="w1", role=WINDOW, region="440106001001")
    assert accepting_region(window, "440104") == "440106001001"


def test_an_applicant_names_the_centre_region_or_is_served_at_the_default() -> None:
    citizen = Caller(sub="c1", role=APPLICANT)
    assert accepting_region(citizen, "440104") == "440104"
    assert accepting_region(citizen, None) == "440100"


def test_an_unknown_region_is_refused_at_its_field() -> None:
    with pytest.raises(ValidationFailed) as refused:
        accepting_region(Caller(sub="c1", role=APPLICANT), "999999")
    assert [e.path for e in refused.value.errors] == ["region"]
