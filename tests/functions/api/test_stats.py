"""`GET /stats/applications` over HTTP on the local cloud: applications of an item of this
test's own (公安 GZ-GA, no fee, collected at the window) go through the lifecycle and are
rated; the statistics, kept by the stats function from the table's stream, count exactly
them, by department, item and status, as JSON, CSV and a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime
from typing import Any

import pytest

from bench.journey import simple_item
from tests.support.data import CITIZEN_ID
from tests.support.journeys import ItemFlow, complete
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

DEPARTMENT = "GZ-GA"


def item_document(code: str) -> dict[str, Any]:
    return simple_item(code, DEPARTMENT, name="统计测试事项（居住登记）")


def draft(code: str) -> dict[str, Any]:
    return {"itemCode": code,
            "applicant": {"kind": "PERSON", "name": "张伟", "idNumber": CITIZEN_ID,
                          "phone": "13812345678"},
            "form": {"address": "广州市天河区华夏路16号"}, "delivery": {"method": "PICKUP"}}


@pytest.fixture
def item(http: Any, token: Any) -> str:
    """A published item that only this test applies for."""
    admin = token("admin-stats", "admin")
    code = f"STATS{uuid.uuid4().hex[:8].upper()}-GG-0101"
    created = http.post("/items", headers=admin, body=json.dumps(item_document(code),
                                                                 ensure_ascii=False))
    assert created.status_code == 201, created.body
    assert http.post(f"/items/{code}/publish", headers=admin).status_code == 200
    return code


def working_days(view: dict[str, Any]) -> int:
    """Submission → completion of an application, counted as the platform counts them."""
    from yiwang.calendar.calendar_store import working_calendar

    done = next(e["at"] for e in view["timeline"] if e["detail"]["to"] == "COMPLETED")
    return working_calendar().working_days_between(
        datetime.fromisoformat(view["submittedAt"]), datetime.fromisoformat(done))


def stats(http: Any, headers: dict[str, str], query: str) -> Any:
    answer = http.get(f"/stats/applications?{query}", headers=headers)
    assert answer.status_code == 200, answer.body
    return answer


def rows(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["group"]: g for g in table["groups"]}


def test_statistics_count_the_applications_of_the_period(http: Any, token: Any, cloud: Any,
                                                         item: str) -> None:
    flows = [ItemFlow(http, token, cloud, f"stats-{n}", draft(item), [DEPARTMENT])
             for n in range(3)]
    happy, unhappy, refused = flows
    completed = [complete(happy), complete(unhappy)]
    refused.submit()
    assert refused.decide(refused.window, "NOT_ACCEPTED", "不属于本机关职权范围").status_code == 200
    for flow, level in ((happy, 5), (unhappy, 2)):
        rated = http.post(f"/applications/{flow.id}/rating", headers=flow.citizen,
                          body=json.dumps({"level": level, "comment": "评价"}))
        assert rated.status_code == 201, rated.body

    days = [working_days(view) for view in completed]
    expected = {"group": DEPARTMENT, "count": 3, "completed": 2,
                "averageWorkingDays": round(sum(days) / 2, 2), "onTimeRate": 1.0,
                "ratings": 2, "averageRating": 3.5, "satisfiedRate": 0.5, "badReviews": 1,
                "yellowCards": 0, "redCards": 0}
    supervisor = token("supervisor-stats", "supervisor")

    def by_department() -> dict[str, Any] | None:
        table = json.loads(stats(http, supervisor, f"groupBy=department&item={item}").body)
        found = rows(table).get(DEPARTMENT)
        return found if found and {k: found[k] for k in expected} == expected else None

    eventually(by_department, timeout=30)  # the stream is applied moments after each write
    by_item = rows(json.loads(stats(http, supervisor, f"groupBy=item&item={item}").body))
    assert by_item[item]["label"] == "统计测试事项（居住登记）"
    assert {k: by_item[item][k] for k in expected if k != "group"} == {
        k: v for k, v in expected.items() if k != "group"}
    by_status = json.loads(stats(http, supervisor, f"groupBy=status&item={item}").body)
    assert {s: g["count"] for s, g in rows(by_status).items()} == {"COMPLETED": 2,
                                                                    "NOT_ACCEPTED": 1}
    assert rows(by_status)["COMPLETED"]["averageRating"] == 3.5
    assert by_status["total"]["count"] == 3
    today = by_status["to"]
    assert by_status["from"] <= today

    # A department's reviewers see their own department only; applicants see nothing.
    planning = token("reviewer-stats-zrzy", "reviewer", dept="GZ-ZRZY")
    assert json.loads(stats(http, planning, f"groupBy=status&item={item}").body)[
        "groups"] == []
    police = token("reviewer-stats-ga", "reviewer", dept=DEPARTMENT)
    assert json.loads(stats(http, police, f"groupBy=status&item={item}").body)["total"][
        "count"] == 3
    assert http.get("/stats/applications", headers=happy.citizen).status_code == 403
    assert http.get("/stats/applications?groupBy=colour", headers=supervisor).status_code == 400
    assert http.get("/stats/applications?format=pdf", headers=supervisor).status_code == 400

    # The downloads carry the same table.
    query = f"groupBy=department&item={item}&from={today}&to={today}"
    download = stats(http, supervisor, f"{query}&format=csv")
    assert download.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in download.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(download.body.decode("utf-8-sig"))))
    line = next(r for r in table if r["group"] == DEPARTMENT)
    assert {k: line[k] for k in expected} == {k: str(v) for k, v in expected.items()}
    assert table[-1]["group"] == "TOTAL" and table[-1]["count"] == "3"

    from openpyxl import load_workbook

    sheet = stats(http, {**supervisor, "Accept": "application/vnd.openxmlformats-"
                                                 "officedocument.spreadsheetml.sheet"},
                  f"{query}&format=xlsx")
    values = list(load_workbook(io.BytesIO(sheet.body)).active.iter_rows(values_only=True))
    header, first = values[0], dict(zip(values[0], values[1], strict=True))
    assert header[0] == "group" and first["group"] == DEPARTMENT
    assert {k: first[k] for k in expected} == expected
