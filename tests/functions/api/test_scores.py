"""效能 over HTTP on the local cloud: `GET /supervision/scores` as JSON, CSV (by `format`) and
XLSX (by `Accept`), for supervisors (every department) and a department (its own); a bad review
given over HTTP is a finding the department appeals and a supervisor upholds."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tests.support.journeys import Flow, complete

pytestmark = pytest.mark.integration

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_scores_as_json_csv_and_xlsx_and_an_upheld_appeal(http: Any, token: Any,
                                                          cloud: Any) -> None:
    from openpyxl import load_workbook

    from yiwang.stats.scores import COLUMNS, parse_month

    flow = Flow(http, token, cloud, "scores")
    complete(flow)
    rated = http.post(f"/applications/{flow.id}/rating", headers=flow.citizen,
                      body=json.dumps({"level": 1, "comment": "多次往返"}, ensure_ascii=False))
    assert rated.status_code == 201, rated.body
    department = json.loads(rated.body)["department"]
    supervisor = token("supervisor-scores", "supervisor")
    reviewer = token("reviewer-scores", "reviewer", dept=department)
    month = parse_month(None)

    assert http.get("/supervision/scores", headers=flow.citizen).status_code == 403
    assert http.get("/supervision/scores?month=2026-13", headers=supervisor).status_code == 400
    assert http.get("/supervision/scores?format=pdf", headers=supervisor).status_code == 400
    answer = http.get(f"/supervision/scores?month={month}", headers=supervisor)
    assert answer.status_code == 200, answer.body
    board = json.loads(answer.body)
    item = f"BAD_REVIEW#{flow.id}"
    assert item in [f["id"] for f in board["findings"]]
    before = next(r for r in board["departments"] if r["department"] == department)
    assert before["badReviews"] >= 1
    own = json.loads(http.get("/supervision/scores", headers=reviewer).body)
    assert {r["department"] for r in own["departments"]} == {department}

    download = http.get(f"/supervision/scores?month={month}&format=csv", headers=supervisor)
    assert download.headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(download.body.decode("utf-8-sig"))))
    assert tuple(table[0]) == COLUMNS
    assert len(table) == len(board["departments"]) + len(board["staff"])
    sheet = http.get(f"/supervision/scores?month={month}", headers={**supervisor,
                                                                    "Accept": XLSX})
    values = list(load_workbook(io.BytesIO(sheet.body)).active.iter_rows(values_only=True))
    assert values[0] == COLUMNS and len(values) == len(table) + 1

    appealed = http.post("/supervision/scores/appeals", headers=reviewer, body=json.dumps(
        {"month": month, "itemId": item, "reason": "评价人误评"}, ensure_ascii=False))
    assert appealed.status_code == 201, appealed.body
    appeal_id = json.loads(appealed.body)["id"]
    assert http.post("/supervision/scores/appeals", headers=reviewer, body=json.dumps(
        {"month": month, "itemId": item, "reason": "再次申诉"}, ensure_ascii=False)
                     ).status_code == 409
    assert http.post(f"/supervision/scores/appeals/{appeal_id}/decision", headers=reviewer,
                     body=json.dumps({"uphold": True})).status_code == 403
    upheld = http.post(f"/supervision/scores/appeals/{appeal_id}/decision",
                       headers=supervisor, body=json.dumps({"uphold": True}))
    assert json.loads(upheld.body)["status"] == "UPHELD", upheld.body
    after = json.loads(http.get(f"/supervision/scores?month={month}", headers=supervisor).body)
    row = next(r for r in after["departments"] if r["department"] == department)
    assert (row["badReviews"], row["appealsUpheld"]) == (before["badReviews"] - 1,
                                                        before["appealsUpheld"] + 1)
    assert row["score"] > before["score"]
