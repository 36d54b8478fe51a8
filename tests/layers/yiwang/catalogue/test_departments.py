"""The department registry (部门) on the deployed table: created, updated with an audit record
in the same transaction, validated, refused on a concurrent change, listed by one Query."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stdnum.cn import uscc

from yiwang.catalogue import departments
from yiwang.platform.errors import Conflict, NotFound, ValidationFailed
from yiwang.table.records import partition_items

ADMIN = "admin-departments"


def credit_code(first_seventeen: str) -> str:
    """A valid 统一社会信用代码: the first 17 characters and their check character."""
    return first_seventeen + uscc.calc_check_digit(first_seventeen)


def fields(**changes: Any) -> dict[str, Any]:
    payload = {"name": "广州市测试局", "creditCode": credit_code("11440100MB2D0099" + "1")}
    payload.update(changes)
    return payload


def trail(code: str) -> list[dict[str, Any]]:
    return [item for item in partition_items(departments.DepartmentRecord.key(code))
            if item["sk"]["S"].startswith("AUDIT#")]


@pytest.fixture
def registry(table: None) -> Any:
    return departments


def test_a_new_department_is_created_active_and_audited(registry: Any) -> None:
    change = registry.put(ADMIN, "T-CREATE", fields(region="440100", level="CITY"))

    assert change.created
    record = registry.get("T-CREATE")
    assert (record.code, record.name, record.credit_code, record.region, record.level,
            record.status, int(record.version)) == (
        "T-CREATE", "广州市测试局", fields()["creditCode"], "440100", "CITY", "ACTIVE", 1)
    assert registry.known("T-CREATE")
    assert registry.issuing_body("T-CREATE") == {
        "code": "T-CREATE", "name": "广州市测试局", "creditCode": fields()["creditCode"]}
    [audit] = trail("T-CREATE")
    assert (audit["event"]["S"], audit["actor"]["S"], audit["toStatus"]["S"]) == (
        "DEPARTMENT_CREATED", ADMIN, "ACTIVE")


def test_a_department_left_unplaced_lies_in_the_default_region(registry: Any) -> None:
    registry.put(ADMIN, "T-BARE", fields())
    record = registry.get("T-BARE")
    assert (record.region, record.level) == ("440100", "CITY")


def test_the_level_is_the_regions_and_an_unknown_region_is_refused(registry: Any) -> None:
    from yiwang.regions.tree import UnknownRegion

    registry.put(ADMIN, "T-COUNTY", fields(region="440106"))
    assert (registry.get("T-COUNTY").region, registry.get("T-COUNTY").level) == (
        "440106", "COUNTY")
    with pytest.raises(UnknownRegion, match="449999"):
        registry.put(ADMIN, "T-NOWHERE", fields(region="449999"))
    with pytest.raises(ValidationFailed) as failed:
        registry.put(ADMIN, "T-COUNTY", fields(region="440106", level="CITY"))
    assert [error.path for error in failed.value.errors] == ["level"]
    assert registry.get("T-COUNTY").level == "COUNTY"


def test_reviewers_belong_to_their_departments_region(registry: Any) -> None:
    from yiwang.platform.errors import Unprocessable

    assert registry.staff_region("TH-SCJG", None) == "440106"
    assert registry.staff_region("TH-SCJG", "440106") == "440106"
    with pytest.raises(Unprocessable, match="440106"):
        registry.staff_region("TH-SCJG", "440104")
    assert registry.staff_region("NO-SUCH", "440104") == "440104"
    assert "TH-SCJG" in {record.code for record in registry.in_region("440106")}
    assert "TH-SCJG" not in {record.code for record in registry.in_region("440100")}


def test_an_update_is_audited_with_what_changed(registry: Any) -> None:
    registry.put(ADMIN, "T-UPDATE", fields())
    change = registry.put(ADMIN, "T-UPDATE", fields(name="广州市测试二局", status="INACTIVE"))

    assert not change.created
    record = registry.get("T-UPDATE")
    assert (record.name, record.status, int(record.version)) == ("广州市测试二局", "INACTIVE", 2)
    assert record.updated_at >= record.created_at
    events = [(a["event"]["S"], a.get("fromStatus", {}).get("S"), a["toStatus"]["S"])
              for a in trail("T-UPDATE")]
    assert events == [("DEPARTMENT_CREATED", None, "ACTIVE"),
                      ("DEPARTMENT_UPDATED", "ACTIVE", "INACTIVE")]
    changed = trail("T-UPDATE")[-1]["detail"]["M"]["changed"]["M"]
    assert set(changed) == {"name", "status"}
    # An inactive department receives nothing and issues nothing.
    assert not registry.known("T-UPDATE")
    with pytest.raises(Conflict):
        registry.issuing_body("T-UPDATE")


def test_an_unchanged_department_is_left_alone(registry: Any) -> None:
    registry.put(ADMIN, "T-SAME", fields())
    change = registry.put(ADMIN, "T-SAME", {**fields(), "code": "T-SAME", "version": 1})
    assert not change.created and int(change.department.version) == 1
    assert len(trail("T-SAME")) == 1


def test_a_stale_version_is_a_conflict(registry: Any) -> None:
    registry.put(ADMIN, "T-STALE", fields())
    registry.put(ADMIN, "T-STALE", fields(name="改名一次"))
    with pytest.raises(Conflict, match="version 2, not 1"):
        registry.put(ADMIN, "T-STALE", fields(name="改名两次", version=1))
    assert registry.get("T-STALE").name == "改名一次"


def test_a_change_racing_another_is_a_conflict_and_writes_nothing(
        registry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    registry.put(ADMIN, "T-RACE", fields())
    read_before = registry.get("T-RACE")
    registry.put("other-admin", "T-RACE", fields(name="先到的修改"))
    monkeypatch.setattr(registry, "_load", lambda code: read_before)

    with pytest.raises(Conflict, match="changed meanwhile"):
        registry.put(ADMIN, "T-RACE", fields(name="后到的修改"))
    monkeypatch.undo()
    assert registry.get("T-RACE").name == "先到的修改"
    assert len(trail("T-RACE")) == 2  # the refused change left no audit record


def test_creating_twice_at_once_is_a_conflict(registry: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    registry.put(ADMIN, "T-TWICE", fields())
    monkeypatch.setattr(registry, "_load", lambda code: None)  # as if read before the first
    with pytest.raises(Conflict, match="created meanwhile"):
        registry.put(ADMIN, "T-TWICE", fields(name="另一个"))


def test_bad_input_lists_every_error(registry: Any) -> None:
    bad = {"name": "", "creditCode": "11440100MB2D00991X", "region": "x" * 65,
           "level": "", "status": "GONE", "code": "T-OTHER", "extra": 1}
    with pytest.raises(ValidationFailed) as failed:
        registry.put(ADMIN, "T-BAD", bad)
    paths = {error.path for error in failed.value.errors}
    assert {"name", "region", "level", "status", "code", "creditCode", "$"} <= paths
    with pytest.raises(ValidationFailed) as failed:
        registry.put(ADMIN, "t bad", fields(name="名" * 101))
    assert {error.path for error in failed.value.errors} == {"code", "name"}
    with pytest.raises(ValidationFailed):
        registry.put(ADMIN, "T-BAD", ["not", "an", "object"])
    with pytest.raises(NotFound):
        registry.get("T-BAD")


def test_the_credit_code_is_kept_in_upper_case(registry: Any) -> None:
    registry.put(ADMIN, "T-LOWER", fields(creditCode=fields()["creditCode"].lower()))
    assert registry.get("T-LOWER").credit_code == fields()["creditCode"]


def test_an_unknown_department_is_not_found(registry: Any) -> None:
    with pytest.raises(NotFound):
        registry.get("T-NOBODY")
    with pytest.raises(NotFound):
        registry.issuing_body("T-NOBODY")
    assert not registry.known("T-NOBODY")


def test_all_lists_the_registry_by_code(registry: Any) -> None:
    registry.put(ADMIN, "T-LIST", fields())
    codes = [d.code for d in registry.all()]
    assert codes == sorted(codes)
    assert {"GZ-GA", "GZ-SCJG", "GZ-ZJ", "GZ-XF", "GZ-ZRZY", "T-LIST"} <= set(codes)


def test_the_sample_departments_are_seeded_before_the_items(cloud: Any, registry: Any) -> None:
    from infra.localcloud import seed

    names = [name for name, _ in seed.LOADERS]
    assert names.index("departments") < names.index("service items")
    outputs = {**cloud.outputs, "Endpoint": cloud.endpoint}
    before = int(registry.get("GZ-SCJG").version)
    sample = json.loads(seed.SAMPLE_FILE.read_text(encoding="utf-8"))["departments"]
    assert seed.load_sample_departments(outputs) == len(sample)  # seeded by the fixture: again
    assert int(registry.get("GZ-SCJG").version) == before
    assert registry.issuing_body("GZ-SCJG") == {
        "code": "GZ-SCJG", "name": "广州市市场监督管理局", "creditCode": "11440100MB2C98765R"}
