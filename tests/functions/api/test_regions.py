"""行政区划 over HTTP on the local cloud: the region tree and its service centres read by every
signed-in caller; departments placed in it; staff signed in with their region; and
region-scoped supervision — a county's supervisor sees the cases, complaints, cards, urgings
and statistics of the county and below and nothing of the next county (404, left out of
lists), a city's supervisor sees both, and statistics by region roll up the tree."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.support.aws import timeout_check
from tests.support.data import CITIZEN_ID, DEPARTMENTS, permit_body
from tests.support.journeys import ItemFlow
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

PROVINCE, CITY, TIANHE, YUEXIU, SHENZHEN = "440000", "440100", "440106", "440104", "440300"
LEAD = DEPARTMENTS[0]
SECOND = timedelta(seconds=1)


def body(answer: Any) -> Any:
    return json.loads(answer.body)


@pytest.fixture
def cases(http: Any, token: Any, cloud: Any, request: Any) -> dict[str, ItemFlow]:
    """A submitted construction-permit application accepted in 天河区 and one in 越秀区."""
    flows = {}
    for region in (TIANHE, YUEXIU):
        flow = ItemFlow(http, token, cloud, f"{region}-{request.node.name[-16:]}",
                        permit_body(region=region), DEPARTMENTS)
        flow.submit()
        flow.task(flow.window)  # in the window's queue: submitted, waiting to be accepted
        flows[region] = flow
    return flows


def listed(http: Any, headers: dict[str, str], status: str, wanted: set[str]
           ) -> list[dict[str, Any]]:
    """The rows of `GET /applications?status=` page after page, until `wanted` are all seen."""
    rows: list[dict[str, Any]] = []
    token = ""
    while True:
        page = http.get(f"/applications?status={status}&limit=100{token}", headers=headers)
        assert page.status_code == 200, page.body
        rows += body(page)["applications"]
        following = body(page).get("nextToken")
        if not following or wanted <= {row["id"] for row in rows}:
            return rows
        token = f"&nextToken={following}"


def test_a_county_supervisor_sees_their_county_and_nothing_of_the_next(
        http: Any, token: Any, cloud: Any, cases: dict[str, ItemFlow]) -> None:
    tianhe, yuexiu = cases[TIANHE], cases[YUEXIU]
    county = token("sup-tianhe", "supervisor", region=TIANHE)
    city = token("sup-guangzhou", "supervisor", region=CITY)
    unplaced = token("sup-unplaced", "supervisor")  # the default region: 广州市
    elsewhere = token("sup-shenzhen", "supervisor", region=SHENZHEN)

    # The cases: a case of the next county answers as one that does not exist.
    assert body(http.get(f"/applications/{tianhe.id}", headers=county))["region"] == TIANHE
    assert http.get(f"/applications/{yuexiu.id}", headers=county).status_code == 404
    assert http.get(f"/applications/{yuexiu.id}/delivery", headers=county).status_code == 404
    for headers in (city, unplaced):
        for flow in (tianhe, yuexiu):
            assert http.get(f"/applications/{flow.id}", headers=headers).status_code == 200
    assert http.get(f"/applications/{tianhe.id}", headers=elsewhere).status_code == 404
    status = tianhe.view()["status"]
    both = {tianhe.id, yuexiu.id}
    rows = listed(http, county, status, both)
    assert tianhe.id in {row["id"] for row in rows}
    assert yuexiu.id not in {row["id"] for row in rows}
    assert all(row["region"].startswith(TIANHE) for row in rows)
    assert both <= {row["id"] for row in listed(http, city, status, both)}

    # Complaints about each case lie in the case's region.
    complaints = {}
    for region, flow in cases.items():
        made = http.post("/complaints", headers=flow.citizen, body=json.dumps({
            "category": "COMPLAINT", "channel": "WEB", "subject": "审批太慢",
            "content": "规划审批拖延", "contact": "13800138000", "applicationId": flow.id},
            ensure_ascii=False))
        assert made.status_code == 201, made.body
        complaints[region] = body(made)["id"]
    assert http.get(f"/complaints/{complaints[TIANHE]}", headers=county).status_code == 200
    assert http.get(f"/complaints/{complaints[YUEXIU]}", headers=county).status_code == 404
    graded = http.post(f"/complaints/{complaints[YUEXIU]}/urgency", headers=county,
                       body=json.dumps({"urgency": "URGENT"}))
    assert graded.status_code == 404, graded.body  # nor may they act on it
    theirs = {c["id"] for c in body(http.get(f"/complaints?department={LEAD}",
                                             headers=county))["complaints"]}
    assert complaints[TIANHE] in theirs and complaints[YUEXIU] not in theirs
    everyone = {c["id"] for c in body(http.get(f"/complaints?department={LEAD}",
                                               headers=city))["complaints"]}
    assert set(complaints.values()) <= everyone

    # Cards on the cases' late acceptance.
    from yiwang.deadlines import clocks

    late = max(clocks.get(f"APP#{flow.id}", "ACCEPTANCE").yellow_at for flow in cases.values())
    assert {f"{id_}:ACCEPTANCE" for id_ in both} <= set(
        timeout_check(cloud, late + SECOND)["yellow"])

    def carded(headers: dict[str, str]) -> set[str]:
        answer = http.get("/supervision/cards?level=YELLOW", headers=headers)
        assert answer.status_code == 200, answer.body
        return {card["subject"] for card in body(answer)["cards"]} & both

    assert carded(county) == {tianhe.id}
    assert carded(city) == both

    # Urgings: about their own county's cases only.
    def urge(headers: dict[str, str], flow: ItemFlow) -> Any:
        return http.post("/supervision/urgings", headers=headers, body=json.dumps({
            "target": "APPLICATION", "id": flow.id, "reason": "请说明办理情况",
            "workingDays": 3}, ensure_ascii=False))

    assert urge(county, yuexiu).status_code == 422
    assert urge(county, tianhe).status_code == 201
    urged = urge(city, yuexiu)
    assert urged.status_code == 201, urged.body
    urging = body(urged)["id"]
    assert http.get(f"/supervision/urgings/{urging}", headers=county).status_code == 404
    assert http.get(f"/supervision/urgings/{urging}", headers=city).status_code == 200
    listed_urgings = body(http.get(f"/supervision/urgings?department={LEAD}",
                                   headers=county))["urgings"]
    assert urging not in {u["id"] for u in listed_urgings}
    assert yuexiu.id not in {u["targetId"] for u in listed_urgings}

    # Access records: the reads of their region's cases only (the city's supervisor read both).
    def read_cases(headers: dict[str, str]) -> set[str]:
        answer = http.get(f"/supervision/access-log?subject={CITIZEN_ID}&limit=100",
                          headers=headers)
        assert answer.status_code == 200, answer.body
        return {record.get("caseId") for record in body(answer)["records"]} & both

    assert read_cases(county) == {tianhe.id}
    assert read_cases(city) == both


def test_statistics_group_by_region_and_roll_up(http: Any, token: Any,
                                                cases: dict[str, ItemFlow]) -> None:
    county = token("sup-stats-tianhe", "supervisor", region=TIANHE)
    city = token("sup-stats-guangzhou", "supervisor", region=CITY)
    admin = token("admin-stats", "admin")

    def table(headers: dict[str, str], query: str = "") -> dict[str, Any]:
        answer = http.get(f"/stats/applications?groupBy=region{query}", headers=headers)
        assert answer.status_code == 200, answer.body
        return body(answer)

    def rows(found: dict[str, Any]) -> dict[str, int]:
        return {row["group"]: row["count"] for row in found["groups"]}

    # Counted by the stream (the stats function): wait until both cases are.
    eventually(lambda: rows(table(county)).get(TIANHE, 0) >= 1
               and rows(table(city)).get(YUEXIU, 0) >= 1, what="both cases counted")
    mine, whole = table(county), table(city)
    assert mine["region"] == TIANHE and set(rows(mine)) <= {
        TIANHE, "440106001", "440106001001", "440106005", "440106005002"}
    assert YUEXIU not in rows(mine)
    assert mine["total"]["count"] == rows(mine)[TIANHE]
    by_region = rows(whole)
    assert list(by_region)[0] == CITY  # the tree's order: the city, then below it
    assert by_region[CITY] == whole["total"]["count"]
    assert by_region[CITY] >= by_region[TIANHE] + by_region[YUEXIU]
    assert {row["group"]: row["label"] for row in whole["groups"]}[TIANHE] == "天河区"
    assert table(city, f"&region={TIANHE}")["total"] == mine["total"]
    assert http.get(f"/stats/applications?groupBy=region&region={YUEXIU}",
                    headers=county).status_code == 404
    assert http.get(f"/stats/applications?groupBy=region&region={SHENZHEN}",
                    headers=city).status_code == 404
    everywhere = table(admin)
    assert list(rows(everywhere))[0] == PROVINCE
    assert rows(everywhere)[PROVINCE] == everywhere["total"]["count"] >= by_region[CITY]


def test_every_signed_in_caller_reads_the_region_tree(http: Any, token: Any) -> None:
    citizen = token("regions-reader", "applicant", idNumber=CITIZEN_ID)
    whole = http.get("/regions", headers=citizen)
    assert whole.status_code == 200, whole.body
    tree = body(whole)
    assert tree["default"] == CITY and tree["levelNames"]["COUNTY"] == "区"
    assert tree["regions"][0] == {"code": PROVINCE, "name": "广东省", "level": "PROVINCE",
                                  "levelName": "省", "parent": None}
    under = [r["code"] for r in body(http.get(f"/regions?under={TIANHE}",
                                              headers=citizen))["regions"]]
    assert under[0] == TIANHE and all(code.startswith(TIANHE) for code in under)
    assert "440106001001" in under and YUEXIU not in under

    one = body(http.get(f"/regions/{TIANHE}", headers=token("r-window", "window")))
    assert (one["name"], one["level"], one["parent"]) == ("天河区", "COUNTY", CITY)
    assert [a["code"] for a in one["ancestors"]] == [CITY, PROVINCE]
    assert [c["code"] for c in one["children"]] == ["440106001", "440106005"]
    assert [c["name"] for c in one["centres"]] == ["天河区政务服务中心"]
    assert "TH-SCJG" in {d["code"] for d in one["departments"]}
    assert "GZ-ZRZY" in {d["code"] for d in body(http.get(
        f"/regions/{CITY}", headers=citizen))["departments"]}
    assert http.get("/regions/999999", headers=citizen).status_code == 404
    assert http.get("/regions?under=999999", headers=citizen).status_code == 404
    assert http.get("/regions").status_code == 401


def test_departments_are_placed_in_the_tree(http: Any, token: Any) -> None:
    from stdnum.cn import uscc

    admin = token("regions-admin", "admin")
    credit = "11440106MB2E7654" + "1"
    credit += uscc.calc_check_digit(credit)
    county = http.put("/departments/TH-TEST", headers=admin, body=json.dumps(
        {"name": "天河区测试局", "creditCode": credit, "region": TIANHE}, ensure_ascii=False))
    assert county.status_code in (200, 201), county.body
    assert {k: body(county)[k] for k in ("region", "level", "regionName")} == {
        "region": TIANHE, "level": "COUNTY", "regionName": "天河区"}
    unknown = http.put("/departments/TH-TEST", headers=admin, body=json.dumps(
        {"name": "天河区测试局", "creditCode": credit, "region": "449999"}, ensure_ascii=False))
    assert (unknown.status_code, body(unknown)["code"]) == (422, "UNKNOWN_REGION")
    wrong = http.put("/departments/TH-TEST", headers=admin, body=json.dumps(
        {"name": "天河区测试局", "creditCode": credit, "region": TIANHE, "level": "CITY"},
        ensure_ascii=False))
    assert wrong.status_code == 400, wrong.body
    assert body(http.get("/departments/TH-SCJG", headers=admin))["level"] == "COUNTY"


def test_staff_sign_in_with_their_region(http: Any) -> None:
    def sign_in(**claims: str) -> Any:
        return http.post("/dev/token", headers={"Content-Type": "application/json"},
                         body=json.dumps(claims))

    def me(answer: Any) -> dict[str, Any]:
        assert answer.status_code == 200, answer.body
        return body(http.get("/me", headers={
            "Authorization": f"Bearer {body(answer)['token']}"}))

    assert me(sign_in(sub="r-th", role="reviewer", dept="TH-SCJG"))["region"] == TIANHE
    assert me(sign_in(sub="r-th", role="reviewer", dept="TH-SCJG",
                      region=TIANHE))["region"] == TIANHE
    assert sign_in(sub="r-th", role="reviewer", dept="TH-SCJG",
                   region=YUEXIU).status_code == 422
    assert me(sign_in(sub="w-sq", role="window", region="440106001001"))["region"] == \
        "440106001001"
    assert (sign_in(sub="w-x", role="window", region="449999").status_code,
            body(sign_in(sub="w-x", role="window", region="449999"))["code"]) == (
        422, "UNKNOWN_REGION")


def test_ratings_and_certificates_lie_in_their_applications_region(
        http: Any, token: Any, cloud: Any) -> None:
    from tests.support.journeys import complete

    rated, certificates = {}, {}
    for region in (TIANHE, YUEXIU):
        flow = ItemFlow(http, token, cloud, f"rate-{region}", permit_body(region=region),
                        DEPARTMENTS)
        certificates[region] = complete(flow)["certificate"]["number"]
        answer = http.post(f"/applications/{flow.id}/rating", headers=flow.citizen,
                           body=json.dumps({"level": 1, "comment": "太慢"}, ensure_ascii=False))
        assert answer.status_code == 201, answer.body
        rated[region] = body(answer)["id"]
    county = token("sup-ratings-tianhe", "supervisor", region=TIANHE)
    assert http.get(f"/certificates/{certificates[TIANHE]}", headers=county).status_code == 200
    assert http.get(f"/certificates/{certificates[YUEXIU]}", headers=county).status_code == 404
    assert http.get(f"/ratings/{rated[TIANHE]}", headers=county).status_code == 200
    assert http.get(f"/ratings/{rated[YUEXIU]}", headers=county).status_code == 404
    revisit = http.post(f"/ratings/{rated[YUEXIU]}/revisit", headers=county,
                        body=json.dumps({}))
    assert revisit.status_code == 404, revisit.body
    theirs = {r["id"] for r in body(http.get("/ratings?bad=true", headers=county))["ratings"]}
    assert rated[TIANHE] in theirs and rated[YUEXIU] not in theirs
    city = token("sup-ratings-guangzhou", "supervisor", region=CITY)
    everyone = {r["id"] for r in body(http.get("/ratings?bad=true", headers=city))["ratings"]}
    assert set(rated.values()) <= everyone
