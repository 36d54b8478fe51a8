"""The notice catalogue (data/notices.json) and the SMS rules that need no table."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from yiwang.calendar.workdays import SHANGHAI
from yiwang.messaging.catalogue import MissingVariable, catalogue, parse, subject_of
from yiwang.messaging.sms import next_allowed, quiet
from yiwang.platform.config import ConfigurationError

DOCUMENT = {
    "templates": {"HELLO": {"title": "办件 {applicationId}", "body": "{itemName} 已受理",
                            "sms": "SMS_HELLO", "variables": ["applicationId", "itemName"]}},
    "events": [{"subject": "application", "event": "PRE_REVIEW_ACCEPT", "toStatus": "ACCEPTED",
                "template": "HELLO", "channels": ["inbox", "sms"]}],
}


def test_the_platform_catalogue_loads_and_covers_every_step() -> None:
    rules = catalogue().rules
    named = {(rule.subject, rule.event) for rule in rules}
    for step in ("PRE_REVIEW_SUPPLEMENT", "REVIEW_SUPPLEMENT", "PRE_REVIEW_ACCEPT",
                 "PRE_REVIEW_NOT_ACCEPTED", "REVIEW_REJECT", "REJECTED", "PAYMENT_ORDERED",
                 "PAYMENT_EXPIRED", "CERTIFICATE_ISSUED", "DISPATCHED", "DELIVERED",
                 "READY_FOR_PICKUP", "COLLECTED"):
        assert ("application", step) in named, step
    for step in ("REGISTERED", "ACCEPTED", "NOT_ACCEPTED", "RESOLVED", "REVISITED"):
        assert ("complaint", step) in named, step
    assert ("rating", "RECTIFIED") in named


def test_a_rule_matches_its_event_and_only_the_status_it_names() -> None:
    rules = parse(DOCUMENT)
    assert [r.template.code for r in rules.rules_for("application", "PRE_REVIEW_ACCEPT",
                                                     "ACCEPTED")] == ["HELLO"]
    assert rules.rules_for("application", "PRE_REVIEW_ACCEPT", None) == []
    assert rules.rules_for("complaint", "PRE_REVIEW_ACCEPT", "ACCEPTED") == []


@pytest.mark.parametrize("change, problem", [
    (lambda d: d["events"][0].update(template="NOPE"), "no template NOPE"),
    (lambda d: d["templates"]["HELLO"].update(body="{secret}"), "undeclared secret"),
    (lambda d: d["templates"]["HELLO"].pop("sms"), "has no SMS code"),
    (lambda d: d["events"][0].update(channels=["fax"]), "events.0.channels.0"),
])
def test_a_bad_catalogue_is_refused_at_load(change, problem) -> None:  # noqa: ANN001
    document = copy.deepcopy(DOCUMENT)
    change(document)
    with pytest.raises(ConfigurationError, match=problem):
        parse(document)


def test_a_template_is_never_rendered_with_a_variable_missing() -> None:
    template = parse(DOCUMENT).templates["HELLO"]
    rendered = template.render({"applicationId": "A1", "itemName": "许可"})
    assert rendered == ("办件 A1", "许可 已受理")
    with pytest.raises(MissingVariable, match="itemName"):
        template.render({"applicationId": "A1"})


def test_subjects_are_told_apart_by_their_partition() -> None:
    assert subject_of("APP#YW1") == ("application", "YW1")
    assert subject_of("COMPLAINT#TS1") == ("complaint", "TS1")
    assert subject_of("RATING#YW1") == ("rating", "YW1")
    assert subject_of("THEMECASE#TH1") == ("theme", "TH1")
    assert subject_of("ITEM#X") == ("item", "X")  # its lead department is told of its review
    assert subject_of("DEPT#GZ-GA") is None


def beijing(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def test_quiet_hours_hold_messages_until_eight_beijing_time() -> None:
    assert not quiet(beijing(8)) and not quiet(beijing(21, 59))
    assert quiet(beijing(22)) and quiet(beijing(3)) and quiet(beijing(7, 59))
    assert next_allowed(beijing(23, 30)) == beijing(8, day=3)
    assert next_allowed(beijing(2)) == beijing(8)
    assert next_allowed(beijing(12)) == beijing(12)
    assert next_allowed(datetime(2026, 12, 2, 15, 0, tzinfo=UTC)) == beijing(8, day=3)
