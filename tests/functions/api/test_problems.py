"""Domain errors as problem answers (no cloud needed)."""

from __future__ import annotations

import json

from chalicelib.problems import PROBLEM_TYPE, from_error
from yiwang.platform.errors import Conflict, Unavailable


def test_busy_records_answer_503_with_retry_after() -> None:
    answer = from_error(Unavailable("the records are busy; nothing was changed", retry_after=2))
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "2"
    assert answer.headers["Content-Type"] == PROBLEM_TYPE
    assert json.loads(answer.body)["code"] == "UNAVAILABLE"


def test_a_failed_condition_answers_409_with_its_reason() -> None:
    answer = from_error(Conflict("task T1 was decided already"))
    assert answer.status_code == 409
    assert json.loads(answer.body)["detail"] == "task T1 was decided already"
    assert "Retry-After" not in answer.headers
