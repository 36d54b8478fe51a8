"""The application's status table (`yiwang.applications.status`): consistent, and the one
gate every status change goes through."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.data import CITIZEN_ID
from yiwang.applications.status import MOVES, TERMINAL, TRANSITIONS, Status, check_move, sources
from yiwang.platform.errors import Conflict


def test_every_status_has_a_row_and_moves_only_to_statuses() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert all(exits <= set(Status) for exits in TRANSITIONS.values())


def test_every_status_is_reachable_from_draft() -> None:
    assert MOVES.reachable() == set(Status)


def test_terminal_states_have_no_exits_and_every_other_leads_to_one() -> None:
    assert TERMINAL == {Status.NOT_ACCEPTED, Status.REJECTED, Status.COMPLETED, Status.CANCELLED}
    assert all(not TRANSITIONS[status] for status in TERMINAL)
    assert all(MOVES.reachable([status]) & TERMINAL for status in Status)
    assert Status.DRAFT not in {to for exits in TRANSITIONS.values() for to in exits}


def test_the_stored_value_is_the_name() -> None:
    assert all(status == status.name and str(status) == status.name for status in Status)


def test_sources_are_the_statuses_that_may_move_to_a_target() -> None:
    assert sources(Status.CERTIFICATE_ISSUED) == {Status.PAID, Status.IN_REVIEW}
    assert sources(Status.SUBMITTED) == {Status.DRAFT, Status.NEEDS_SUPPLEMENT}
    assert sources(Status.DRAFT) == frozenset()


@pytest.mark.parametrize(("from_", "to"), [
    (Status.COMPLETED, Status.IN_REVIEW), (Status.DRAFT, Status.CERTIFICATE_ISSUED),
    (Status.AWAITING_PAYMENT, Status.CERTIFICATE_ISSUED), ("NOT_A_STATUS", Status.SUBMITTED)])
def test_an_illegal_move_is_a_conflict_naming_both_states(from_: str, to: Status) -> None:
    with pytest.raises(Conflict) as refused:
        check_move(from_, to)
    assert str(refused.value) == f"an application cannot move from {from_} to {to}"


def test_legal_moves_pass() -> None:
    for from_, exits in TRANSITIONS.items():
        for to in exits:
            check_move(from_, to)


def test_the_listing_knows_every_status() -> None:
    from yiwang.applications import listing

    assert listing.STATUSES == {status.value for status in Status}


@pytest.mark.integration
def test_a_transition_the_table_refuses_writes_nothing(table: Any) -> None:
    from tests.support.data import permit_body
    from yiwang.applications import drafts, lifecycle
    from yiwang.applications.records import ApplicationRecord
    from yiwang.people.access import Caller

    citizen = Caller("citizen-status", "applicant", id_number=CITIZEN_ID)
    record = drafts.create_draft(citizen, permit_body())
    trail = len(lifecycle.audit_of(record.application_id))
    with pytest.raises(Conflict, match="cannot move from DRAFT to IN_REVIEW"):
        lifecycle.transition(record.application_id, Status.IN_REVIEW, "system", "REVIEW_STARTED")
    after = ApplicationRecord.load(record.application_id)
    assert after.status == Status.DRAFT and after.version == record.version
    assert len(lifecycle.audit_of(record.application_id)) == trail


def _writing_elsewhere_after_loads(monkeypatch: Any, writes: int, actions: Any) -> list[str]:
    """Make the next `writes` reads of an application be followed at once by another writer's
    update of the record (`actions(id)`), as a concurrent step would; the ids written."""
    from yiwang.applications.records import ApplicationRecord, application_stub

    load, written = ApplicationRecord.load, []

    def load_then_write_elsewhere(application_id: str) -> ApplicationRecord:
        loaded = load(application_id)
        if len(written) < writes:
            written.append(application_id)
            application_stub(application_id).update(actions=actions(application_id),
                                                     add_version_condition=False)
        return loaded

    monkeypatch.setattr(ApplicationRecord, "load", load_then_write_elsewhere)
    return written


@pytest.mark.integration
def test_a_write_elsewhere_on_the_record_meanwhile_does_not_fail_the_move(
        table: Any, monkeypatch: Any) -> None:
    from tests.support.data import permit_body
    from yiwang.applications import drafts, lifecycle
    from yiwang.applications.records import ApplicationRecord
    from yiwang.people.access import Caller

    citizen = Caller("citizen-status", "applicant", id_number=CITIZEN_ID)
    record = drafts.create_draft(citizen, permit_body())
    trail = len(lifecycle.audit_of(record.application_id))
    _writing_elsewhere_after_loads(
        monkeypatch, 1, lambda _: [ApplicationRecord.stored_materials.set(["elsewhere"])])
    lifecycle.transition(record.application_id, Status.SUBMITTED, "system", "SUBMITTED")
    monkeypatch.undo()
    after = ApplicationRecord.load(record.application_id)
    assert after.status == Status.SUBMITTED
    assert after.stored_materials == ["elsewhere"]  # the other write is kept, not overwritten
    assert len(lifecycle.audit_of(record.application_id)) == trail + 1


@pytest.mark.integration
def test_a_move_made_elsewhere_meanwhile_is_a_conflict(table: Any, monkeypatch: Any) -> None:
    from tests.support.data import permit_body
    from yiwang.applications import drafts, lifecycle
    from yiwang.applications.records import ApplicationRecord
    from yiwang.people.access import Caller

    citizen = Caller("citizen-status", "applicant", id_number=CITIZEN_ID)
    record = drafts.create_draft(citizen, permit_body())
    _writing_elsewhere_after_loads(
        monkeypatch, 1, lambda id_: ApplicationRecord.moved_to(Status.CANCELLED, id_))
    with pytest.raises(Conflict, match="changed meanwhile"):
        lifecycle.transition(record.application_id, Status.SUBMITTED, "system", "SUBMITTED")
