"""The steps of a theme case (`yiwang.themes.progress.steps_reached`), read from where its
applications are: each step is reached once its applications together reach it, and a step the
case has already moved past (the stream delivering late) is still reached."""

from __future__ import annotations

from yiwang.applications.records import ApplicationRecord
from yiwang.applications.status import Status
from yiwang.themes.cases import SUBMITTED, ThemeCaseRecord
from yiwang.themes.progress import ACCEPTED, DONE, READY, REFUSED_PREFIX, steps_reached


def _case(statuses: list[str]) -> tuple[ThemeCaseRecord, list[ApplicationRecord]]:
    ids = [f"YW{n}" for n in range(len(statuses))]
    case = ThemeCaseRecord(case_id="TC1", status=SUBMITTED,
                           applications=[{"applicationId": i, "itemName": f"事项{i}"}
                                         for i in ids])
    return case, [ApplicationRecord(application_id=i, status=s) for i, s in zip(ids, statuses,
                                                                             strict=True)]


def _steps(statuses: list[str]) -> list[str]:
    return [step.split("#")[0] for step, _ in steps_reached(*_case(statuses))]


def test_accepted_once_every_application_is_decided_at_the_window() -> None:
    assert _steps([Status.ACCEPTED, Status.SUBMITTED]) == []
    assert _steps([Status.ACCEPTED, Status.NOT_ACCEPTED]) == [ACCEPTED, REFUSED_PREFIX]


def test_ready_when_every_running_application_waits_at_the_window() -> None:
    assert _steps([Status.READY_FOR_PICKUP, Status.ACCEPTED]) == [ACCEPTED]
    assert _steps([Status.READY_FOR_PICKUP, Status.REJECTED]) == [
        ACCEPTED, REFUSED_PREFIX, READY]


def test_a_case_picked_up_before_the_stream_told_of_it_has_passed_ready() -> None:
    assert _steps([Status.COMPLETED, Status.REJECTED]) == [ACCEPTED, REFUSED_PREFIX, READY, DONE]


def test_a_case_refused_throughout_was_never_ready() -> None:
    assert _steps([Status.REJECTED, Status.NOT_ACCEPTED]) == [
        REFUSED_PREFIX, REFUSED_PREFIX, DONE]
