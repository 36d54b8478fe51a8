"""The service-item catalogue on the deployed table: sample items, reads, versions, races,
validation and the audit trail."""

from __future__ import annotations

import copy
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from tests.support.data import (
    DISABILITY_CARD,
    DRIVING_LICENCE,
    FOOD_LICENCE,
    PLANNING_PERMIT,
    PROPERTY_CERTIFICATE,
    RESIDENCE_ENDORSEMENT,
)
from tests.support.environment import environment
from yiwang.platform.errors import Conflict, NotFound, ValidationFailed

SAMPLE_CODES = {PLANNING_PERMIT, FOOD_LICENCE, RESIDENCE_ENDORSEMENT, DRIVING_LICENCE,
                PROPERTY_CERTIFICATE, DISABILITY_CARD}
GIB = 1024**3


@pytest.fixture(scope="module")
def catalogue(cloud: Any, cloud_env: dict[str, str]) -> Iterator[Any]:
    """`yiwang.catalogue.items` bound to the deployed table, with the sample items loaded."""
    from infra.localcloud import seed

    with environment(cloud_env):
        from yiwang.catalogue import items as module

        assert module.ItemHeadRecord.Meta.table_name == cloud_env["TABLE_NAME"], (
            "yiwang.records was first imported for another table (see the report on import order)")
        seed.load_sample_items({**cloud.outputs, "Endpoint": cloud.endpoint})
        yield module


def new_code() -> str:
    return f"TEST{uuid.uuid4().hex[:10].upper()}-XK-0001"


def item_payload(code: str, **changes: Any) -> dict[str, Any]:
    """A small valid item in a department of its own, so it never mixes with the samples."""
    payload = {
        "code": code,
        "name": "户外广告设施设置审批",
        "category": "行政许可",
        "kind": "PROMISED",
        "leadDepartment": "TEST-CGJ",
        "coDepartments": ["TEST-ZJ"],
        "statutoryDays": 20,
        "promisedDays": 10,
        "feeFen": 0,
        "formSchema": {
            "type": "object", "required": ["applicantName"],
            "properties": {"applicantName": {"type": "string", "title": "申请人名称"}},
        },
        "materials": [
            {"id": "design", "name": "设置效果图", "required": True, "formats": ["pdf", "jpg"],
             "maxBytes": 20 * 1024 * 1024},
        ],
        "legalBasis": "《城市市容和环境卫生管理条例》第十一条",
        "applicantKinds": ["PERSON", "LEGAL"],
        "deliveryMethods": ["PICKUP"],
    }
    payload.update(changes)
    return payload


# --- sample items ---------------------------------------------------------------------------


def test_seed_loads_the_sample_items_once(cloud: Any, catalogue: Any) -> None:
    from infra.localcloud import seed

    assert ("service items", seed.load_sample_items) in seed.LOADERS
    outputs = {**cloud.outputs, "Endpoint": cloud.endpoint}
    with mock.patch.dict(os.environ):  # the loader sets this process's environment
        count = len(catalogue.sample_items())  # every item of the sample file
        assert seed.load_sample_items(outputs) == count  # loaded by the fixture: a second run
        assert seed.load_sample_items(outputs) == count

    listed = [i.code for i in catalogue.list_items() if i.code in SAMPLE_CODES]
    assert sorted(listed) == sorted(SAMPLE_CODES)  # each once
    for code in SAMPLE_CODES:
        assert catalogue.get_item(code).version == 1
        published = [a for a in catalogue.audit_trail(code) if a.event == "ITEM_PUBLISHED"]
        assert len(published) == 1


def test_a_changed_sample_item_becomes_a_new_version(catalogue: Any) -> None:
    code = new_code()
    payload = item_payload(code)
    assert catalogue.ensure_published(payload, "seed") is True
    assert catalogue.ensure_published(payload, "seed") is False
    assert catalogue.ensure_published({**payload, "promisedDays": 5}, "seed") is True
    assert catalogue.get_item(code).version == 2
    assert catalogue.get_item(code).promised_days == 5


def test_sample_items_cover_the_cases_the_platform_needs(catalogue: Any) -> None:
    planning = catalogue.get_item(PLANNING_PERMIT)
    assert planning.name == "建设工程规划许可证核发"
    assert planning.status == "PUBLISHED"
    assert planning.departments == ("GZ-ZRZY", "GZ-ZJ", "GZ-XF")
    assert planning.fee_fen == 50000
    drawings = [m for m in planning.materials if "dwg" in m.formats]
    assert len(drawings) >= 2
    assert all(set(m.formats) == {"pdf", "dwg", "dxf"} and m.max_bytes == 2 * GIB
               for m in drawings)
    assert any(m.later_allowed for m in planning.materials)  # 容缺后补

    instant = catalogue.get_item(RESIDENCE_ENDORSEMENT)
    assert (instant.kind, instant.fee_fen, instant.promised_days) == ("INSTANT", 0, 0)

    food = catalogue.get_item(FOOD_LICENCE)
    assert food.applicant_kinds == ("LEGAL",)
    assert "creditCode" in food.form_schema["required"]

    assert "COURIER" in catalogue.get_item(DRIVING_LICENCE).delivery_methods
    certificate = catalogue.get_item(PROPERTY_CERTIFICATE)
    assert (certificate.kind, certificate.departments) == ("PROMISED", ("GZ-ZRZY",))
    assert certificate.fee_fen > 0

    escalated = catalogue.get_item(DISABILITY_CARD)  # 上报件: accepted below, handled above
    assert (escalated.kind, escalated.departments) == ("ESCALATED", ("GZ-CL", "GZ-WJ"))
    assert escalated.escalation == {"acceptedAt": ["TOWNSHIP", "VILLAGE"], "handledAt": "CITY"}


def test_sample_forms_accept_a_real_application_and_refuse_a_bad_one(catalogue: Any) -> None:
    from jsonschema import Draft202012Validator, FormatChecker

    validator = Draft202012Validator(catalogue.get_item(FOOD_LICENCE).form_schema,
                                     format_checker=FormatChecker())
    form = {
        "operatorName": "广州市越秀区老西关餐饮有限公司", "creditCode": "91440104MA5D12345K",
        "legalRepresentative": "陈明", "residence": "广州市越秀区中山五路100号",
        "businessPremises": "广州市越秀区中山五路100号首层", "businessFormat": "餐饮服务经营者",
        "businessItems": ["热食类食品制售", "自制饮品制售"], "foodSafetyManager": "李华",
        "phone": "13800138000",
    }
    assert list(validator.iter_errors(form)) == []
    bad = {**form, "creditCode": "91440104MA5D1234OK", "businessItems": []}
    assert {e.absolute_path[0] for e in validator.iter_errors(bad)} == {
        "creditCode", "businessItems"}


# --- reads ----------------------------------------------------------------------------------


def test_list_filters_by_department_lead_or_co(catalogue: Any) -> None:
    fire = {i.code for i in catalogue.list_items(department="GZ-XF")}
    assert PLANNING_PERMIT in fire  # a co-department
    assert FOOD_LICENCE not in fire
    planning = {i.code for i in catalogue.list_items(department="GZ-ZRZY")}
    assert {PLANNING_PERMIT, PROPERTY_CERTIFICATE} <= planning
    assert {i.lead_department for i in catalogue.list_items(department="GZ-SCJG")} == {"GZ-SCJG"}
    assert catalogue.list_items(department="NO-SUCH-DEPT") == []


def test_list_searches_code_and_name(catalogue: Any) -> None:
    assert [i.code for i in catalogue.list_items(q="食品经营")] == [FOOD_LICENCE]
    assert [i.code for i in catalogue.list_items(q="mb2d00127w-xk")] == [PLANNING_PERMIT]
    both = catalogue.list_items(department="GZ-GA", q="驾驶证")
    assert [i.code for i in both] == [DRIVING_LICENCE]
    codes = [i.code for i in catalogue.list_items()]
    assert codes == sorted(codes)


def test_summary_and_api_shapes(catalogue: Any) -> None:
    item = catalogue.get_item(PLANNING_PERMIT)
    assert item.summary() == {
        "code": PLANNING_PERMIT, "name": "建设工程规划许可证核发", "category": "行政许可",
        "kind": "PROMISED", "leadDepartment": "GZ-ZRZY", "feeFen": 50000, "promisedDays": 15,
        "version": 1, "standing": "ACTIVE"}
    document = item.to_api()
    assert set(document) == {
        "code", "name", "category", "kind", "leadDepartment", "coDepartments", "statutoryDays",
        "promisedDays", "feeFen", "formSchema", "materials", "version", "status", "legalBasis",
        "applicantKinds", "deliveryMethods"}
    assert set(document["materials"][0]) == {
        "id", "name", "required", "formats", "maxBytes", "laterAllowed"}


def test_unknown_items_are_not_found(catalogue: Any) -> None:
    with pytest.raises(NotFound):
        catalogue.get_item("NO-SUCH-ITEM")
    with pytest.raises(NotFound):
        catalogue.get_item(PLANNING_PERMIT, 99)
    with pytest.raises(NotFound):
        catalogue.publish("NO-SUCH-ITEM", "admin-1")
    with pytest.raises(NotFound):
        catalogue.new_draft_version("NO-SUCH-ITEM", item_payload("NO-SUCH-ITEM"), "admin-1")


# --- versions -------------------------------------------------------------------------------


def test_a_draft_is_not_public_until_published(catalogue: Any) -> None:
    code = new_code()
    draft = catalogue.create_draft(item_payload(code), "admin-1")
    assert (draft.version, draft.status) == (1, "DRAFT")
    with pytest.raises(NotFound):
        catalogue.get_item(code)
    with pytest.raises(NotFound):
        catalogue.get_item(code, 1)
    assert code not in {i.code for i in catalogue.list_items()}

    published = catalogue.publish(code, "admin-2")
    assert (published.version, published.status) == (1, "PUBLISHED")
    assert catalogue.get_item(code) == published
    assert code in {i.code for i in catalogue.list_items(department="TEST-ZJ")}


def test_new_version_is_invisible_until_published_and_earlier_stays_readable(
        catalogue: Any) -> None:
    code = new_code()
    catalogue.create_draft(item_payload(code), "admin-1")
    catalogue.publish(code, "admin-1")

    draft = catalogue.new_draft_version(
        code, item_payload(code, name="户外广告设施设置审批（含招牌）", feeFen=2000), "admin-1")
    assert (draft.version, draft.status, draft.fee_fen) == (2, "DRAFT", 2000)
    current = catalogue.get_item(code)
    assert (current.version, current.fee_fen) == (1, 0)
    with pytest.raises(NotFound):
        catalogue.get_item(code, 2)
    listed = next(i for i in catalogue.list_items() if i.code == code)
    assert listed.version == 1 and listed.name == "户外广告设施设置审批"
    assert catalogue.latest_version(code) == draft

    catalogue.publish(code, "admin-1")
    current = catalogue.get_item(code)
    assert (current.version, current.name, current.fee_fen) == (
        2, "户外广告设施设置审批（含招牌）", 2000)
    earlier = catalogue.get_item(code, 1)
    assert (earlier.version, earlier.status, earlier.name, earlier.fee_fen) == (
        1, "PUBLISHED", "户外广告设施设置审批", 0)
    listed = next(i for i in catalogue.list_items() if i.code == code)
    assert listed.version == 2


def test_publishing_without_a_draft_is_a_conflict(catalogue: Any) -> None:
    code = new_code()
    catalogue.create_draft(item_payload(code), "admin-1")
    catalogue.publish(code, "admin-1")
    with pytest.raises(Conflict, match="no draft"):
        catalogue.publish(code, "admin-1")


def test_an_existing_code_cannot_be_created_again(catalogue: Any) -> None:
    code = new_code()
    catalogue.create_draft(item_payload(code), "admin-1")
    with pytest.raises(Conflict, match="already exists"):
        catalogue.create_draft(item_payload(code, name="另一个事项"), "admin-2")
    assert catalogue.latest_version(code).name == "户外广告设施设置审批"
    with pytest.raises(Conflict):
        catalogue.create_draft(item_payload(PLANNING_PERMIT), "admin-2")


def test_a_draft_version_keeps_its_code(catalogue: Any) -> None:
    code = new_code()
    catalogue.create_draft(item_payload(code), "admin-1")
    with pytest.raises(ValidationFailed) as refused:
        catalogue.new_draft_version(code, item_payload(new_code()), "admin-1")
    assert [e.path for e in refused.value.errors] == ["code"]
    without_code = item_payload(code)
    del without_code["code"]
    assert catalogue.new_draft_version(code, without_code, "admin-1").version == 2


def at_once(monkeypatch: pytest.MonkeyPatch, catalogue: Any, first: Any, second: Any) -> list[
        Any]:
    """Two administrators acting at once: both finish reading before either writes (each
    acts on the same state), then the writes reach the table one after the other, as DynamoDB
    serialises transactions on the same items. Returns each outcome, result or exception.

    The order is imposed here because the local engine does not serialise them: moto runs
    concurrent TransactWriteItems unlocked, and a cancelled one restores a snapshot of the
    whole table, erasing what the other wrote meanwhile (see the report).
    """
    everyone_has_read = threading.Barrier(2, timeout=10)
    first_written = threading.Event()
    transaction = catalogue._transaction

    def in_turn(writes: Any, conflict: str) -> None:
        everyone_has_read.wait()
        is_first = threading.current_thread().name == "first"
        if not is_first:
            first_written.wait(10)
        try:
            transaction(writes, conflict)
        finally:
            if is_first:
                first_written.set()

    monkeypatch.setattr(catalogue, "_transaction", in_turn)
    outcomes: dict[str, Any] = {}

    def run(name: str, action: Any) -> None:
        try:
            outcomes[name] = action()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[name] = error

    threads = [threading.Thread(target=run, args=(name, action), name=name)
               for name, action in (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return [outcomes["first"], outcomes["second"]]


def test_two_admins_publishing_at_once_make_exactly_one_version(
        monkeypatch: pytest.MonkeyPatch, catalogue: Any) -> None:
    code = new_code()
    catalogue.create_draft(item_payload(code), "admin-1")
    catalogue.publish(code, "admin-1")
    catalogue.new_draft_version(code, item_payload(code, promisedDays=8), "admin-1")

    won, lost = at_once(monkeypatch, catalogue, lambda: catalogue.publish(code, "admin-1"),
                        lambda: catalogue.publish(code, "admin-2"))
    assert (won.version, won.status) == (2, "PUBLISHED")
    assert isinstance(lost, Conflict)
    assert catalogue.get_item(code).version == 2
    assert catalogue.latest_version(code).version == 2
    published = [a for a in catalogue.audit_trail(code) if a.event == "ITEM_PUBLISHED"]
    assert [(a.actor, a.detail.as_dict()["version"]) for a in published] == [
        ("admin-1", 1), ("admin-1", 2)]


def test_publishing_and_returning_one_submission_at_once_one_wins(
        monkeypatch: pytest.MonkeyPatch, catalogue: Any) -> None:
    code = new_code()
    catalogue.create_draft(item_payload(code), "reviewer-1", catalogue.DEPARTMENT)
    catalogue.submit(code, 1, "reviewer-1")

    won, lost = at_once(monkeypatch, catalogue, lambda: catalogue.publish(code, "admin-1", 1),
                        lambda: catalogue.return_version(code, 1, "admin-2", ["改"]))
    assert (won.version, won.status) == (1, "PUBLISHED")
    assert isinstance(lost, Conflict)
    assert catalogue.version_record(code, 1).status == "PUBLISHED"
    assert [a.event for a in catalogue.audit_trail(code)] == [
        "ITEM_DRAFT_CREATED", "ITEM_SUBMITTED", "ITEM_PUBLISHED"]


def test_two_admins_drafting_at_once_never_share_a_version(
        monkeypatch: pytest.MonkeyPatch, catalogue: Any) -> None:
    code = new_code()
    catalogue.create_draft(item_payload(code), "admin-1")
    won, lost = at_once(
        monkeypatch, catalogue,
        lambda: catalogue.new_draft_version(code, item_payload(code, feeFen=100), "admin-1"),
        lambda: catalogue.new_draft_version(code, item_payload(code, feeFen=200), "admin-2"))
    assert (won.version, won.fee_fen) == (2, 100)
    assert isinstance(lost, Conflict)
    latest = catalogue.latest_version(code)
    assert (latest.version, latest.fee_fen) == (2, 100)
    drafted = [a for a in catalogue.audit_trail(code) if a.event == "ITEM_VERSION_DRAFTED"]
    assert [a.actor for a in drafted] == ["admin-1"]


def test_two_admins_creating_one_code_at_once_one_wins(
        monkeypatch: pytest.MonkeyPatch, catalogue: Any) -> None:
    code = new_code()
    won, lost = at_once(
        monkeypatch, catalogue,
        lambda: catalogue.create_draft(item_payload(code, name="甲"), "admin-1"),
        lambda: catalogue.create_draft(item_payload(code, name="乙"), "admin-2"))
    assert won.name == "甲"
    assert isinstance(lost, Conflict)
    assert catalogue.latest_version(code).name == "甲"
    assert [a.actor for a in catalogue.audit_trail(code)] == ["admin-1"]


# --- validation -----------------------------------------------------------------------------


def test_an_invalid_item_lists_every_problem_with_its_path(catalogue: Any) -> None:
    payload = item_payload(new_code(), category="行政审批", kind="URGENT", feeFen=-1,
                           coDepartments=["TEST-CGJ"], applicantKinds=[])
    del payload["name"]
    payload["formSchema"] = {"type": "object",
                             "properties": {"a": {"type": "text"}, "b": {"pattern": "("}}}
    payload["materials"] = [
        {"id": "plan", "name": "平面图", "required": True, "formats": ["pdf", "exe"],
         "maxBytes": 0},
        {"id": "plan", "name": "立面图", "required": False, "formats": ["dwg"],
         "maxBytes": 2 * GIB, "laterAllowed": True},
        {"id": "photo", "name": "照片", "required": True, "formats": ["jpg"]},
    ]
    with pytest.raises(ValidationFailed) as refused:
        catalogue.validate_item_payload(payload)
    paths = {e.path for e in refused.value.errors}
    assert paths == {
        "name", "category", "kind", "feeFen", "applicantKinds", "coDepartments.0",
        "formSchema.properties.a.type", "formSchema.properties.b.pattern",
        "materials.0.formats.1", "materials.0.maxBytes", "materials.1.id",
        "materials.1.laterAllowed", "materials.2.maxBytes",
    }
    assert all(e.message for e in refused.value.errors)
    with pytest.raises(ValidationFailed):
        catalogue.create_draft(payload, "admin-1")
    with pytest.raises(NotFound):
        catalogue.latest_version(payload["code"])


def test_promised_days_may_not_exceed_statutory_days(catalogue: Any) -> None:
    code = new_code()
    with pytest.raises(ValidationFailed) as refused:
        catalogue.create_draft(item_payload(code, statutoryDays=20, promisedDays=25), "admin-1")
    assert [e.path for e in refused.value.errors] == ["promisedDays"]
    assert "20" in refused.value.errors[0].message
    with pytest.raises(NotFound):
        catalogue.latest_version(code)
    catalogue.create_draft(item_payload(code, statutoryDays=20, promisedDays=20), "admin-1")


def test_an_instant_item_has_no_promised_period() -> None:
    from yiwang.catalogue import items as catalogue

    with pytest.raises(ValidationFailed) as refused:
        catalogue.validate_item_payload(item_payload(new_code(), kind="INSTANT",
                                                     coDepartments=[]))
    assert [e.path for e in refused.value.errors] == ["promisedDays"]
    catalogue.validate_item_payload(item_payload(new_code(), kind="INSTANT", promisedDays=0,
                                                 coDepartments=[]))


def test_form_schema_must_be_a_self_contained_object_schema() -> None:
    from yiwang.catalogue import items as catalogue

    payload = item_payload(new_code(), formSchema={
        "type": "array", "items": {"$ref": "https://example.com/remote.json"}})
    with pytest.raises(ValidationFailed) as refused:
        catalogue.validate_item_payload(payload)
    assert {e.path for e in refused.value.errors} == {"formSchema.type", "formSchema.items.$ref"}


def test_an_escalated_item_names_levels_below_the_one_that_handles_it() -> None:
    from yiwang.catalogue import items as catalogue

    escalation = {"acceptedAt": ["TOWNSHIP", "VILLAGE"], "handledAt": "CITY"}
    item = catalogue.ItemVersion.from_document(
        item_payload(new_code(), kind="ESCALATED", escalation=escalation), 1, "DRAFT")
    catalogue.validate_item_payload(item.document())  # kept through a round trip
    assert item.escalation == escalation
    refusals = {
        "escalation": item_payload(new_code(), kind="ESCALATED"),  # 上报件 without levels
        "escalation ": item_payload(new_code(), escalation=escalation),  # on a 承诺件
        "escalation.acceptedAt": item_payload(new_code(), kind="ESCALATED", escalation={
            "acceptedAt": ["VILLAGE", "CITY"], "handledAt": "CITY"}),  # not below
        "escalation.handledAt": item_payload(new_code(), kind="ESCALATED", escalation={
            "acceptedAt": ["VILLAGE"], "handledAt": "STATE"}),
    }
    for path, payload in refusals.items():
        with pytest.raises(ValidationFailed) as refused:
            catalogue.validate_item_payload(payload)
        assert path.strip() in {e.path for e in refused.value.errors}, path


def test_the_answer_of_a_read_can_be_sent_back_as_the_next_draft(catalogue: Any) -> None:
    answer = copy.deepcopy(catalogue.get_item(FOOD_LICENCE).to_api())
    catalogue.validate_item_payload(answer)  # version and status are read-only, not refused
    with pytest.raises(ValidationFailed) as refused:
        catalogue.validate_item_payload({**answer, "surprise": 1})
    assert [e.path for e in refused.value.errors] == ["$"]


# --- audit ----------------------------------------------------------------------------------


def test_every_change_of_an_item_is_audited(catalogue: Any) -> None:
    code = new_code()
    catalogue.create_draft(item_payload(code), "admin-1")
    catalogue.publish(code, "admin-2")
    catalogue.new_draft_version(code, item_payload(code, feeFen=500), "admin-1")
    catalogue.publish(code, "admin-2")
    with pytest.raises(Conflict):
        catalogue.publish(code, "admin-2")  # refused: nothing recorded

    trail = catalogue.audit_trail(code)
    assert [(a.event, a.actor, a.from_status, a.to_status, a.detail.as_dict()) for a in trail] == [
        ("ITEM_DRAFT_CREATED", "admin-1", None, "DRAFT", {"version": 1}),
        ("ITEM_PUBLISHED", "admin-2", "DRAFT", "PUBLISHED",
         {"version": 1, "previousVersion": None}),
        ("ITEM_VERSION_DRAFTED", "admin-1", None, "DRAFT", {"version": 2}),
        ("ITEM_PUBLISHED", "admin-2", "DRAFT", "PUBLISHED",
         {"version": 2, "previousVersion": 1}),
    ]
    assert [a.at for a in trail] == sorted(a.at for a in trail)
    assert all(a.pk == f"ITEM#{code}" and a.sk.startswith("AUDIT#") for a in trail)
