"""Log lines never carry a full identity number, credit code or mobile number."""

from __future__ import annotations

import importlib
import io
import json
import os
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from tests.support.data import CITIZEN_ID, CREDIT_CODE

# The Powertools settings every function gets (infra/template.yaml, Globals). The module's
# Logger and Metrics read them once, at import, and the local cloud runs functions in this same
# process with the module shared: imported here without them, the functions' metrics would
# have no namespace.
FUNCTION_ENV = {
    "POWERTOOLS_SERVICE_NAME": "yiwang",
    "POWERTOOLS_METRICS_NAMESPACE": "Yiwang",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


@pytest.fixture
def logger() -> Any:
    """The functions' logger, configured as in Lambda."""
    with mock.patch.dict(os.environ, FUNCTION_ENV):
        return importlib.import_module("yiwang.platform.observability").logger


@pytest.fixture
def lines(logger: Any) -> Iterator[io.StringIO]:
    """What the functions' logger writes, captured from its own handler."""
    buffer = io.StringIO()
    handler: Any = logger.registered_handler
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def logged(buffer: io.StringIO) -> tuple[str, dict[str, Any]]:
    text = buffer.getvalue()
    return text, json.loads(text.splitlines()[-1])


def test_an_id_number_in_the_message_comes_out_masked(logger: Any, lines: io.StringIO) -> None:
    logger.info("intake refused for %s, phone 13812345678", CITIZEN_ID)
    text, line = logged(lines)
    assert CITIZEN_ID not in text and "13812345678" not in text
    assert line["message"] == "intake refused for 1101**********002X, phone 138****5678"


def test_extra_values_and_appended_keys_come_out_masked(logger: Any, lines: io.StringIO) -> None:
    logger.append_keys(applicantIdNumber=CITIZEN_ID)
    try:
        logger.info("application received", extra={
            "form": {"applicant": {"creditCode": CREDIT_CODE, "name": "张三"}},
            "numbers": [int(CITIZEN_ID[:17] + "0")],
        })
    finally:
        logger.remove_keys(["applicantIdNumber"])
    text, line = logged(lines)
    assert CITIZEN_ID not in text and CREDIT_CODE not in text
    assert line["applicantIdNumber"] == "1101**********002X"
    assert line["form"] == {"applicant": {"creditCode": "9135**********0Y43", "name": "张三"}}
    assert line["numbers"] == ["1101**********0020"]


def test_an_exception_text_comes_out_masked(logger: Any, lines: io.StringIO) -> None:
    try:
        raise KeyError(f"no applicant {CITIZEN_ID}")
    except KeyError:
        logger.exception("lookup failed")
    text, line = logged(lines)
    assert CITIZEN_ID not in text
    assert "1101**********002X" in line["exception"]


def test_ordinary_values_are_left_alone(logger: Any, lines: io.StringIO) -> None:
    logger.info("timeout check", extra={"due": 3, "applicationId": "app-01J9Z3", "ok": True})
    _, line = logged(lines)
    assert (line["due"], line["applicationId"], line["ok"]) == (3, "app-01J9Z3", True)
