"""A department of a test's own, in the handler mode the test sets (经办人模式), with the item it
leads and its staff, for the handler tests and the authorization matrix."""

from __future__ import annotations

import json
import uuid
from typing import Any

from stdnum.cn import uscc

from bench.journey import simple_item
from tests.support.data import CITIZEN_ID
from tests.support.journeys import ItemFlow


class Department:
    """A department of its own (so its handler mode is this test's), the item it leads, and
    its staff: handlers `a` and `b`, and the head."""

    def __init__(self, http: Any, token: Any, mode: str, **setting: Any) -> None:
        self.http, self.token = http, token
        self.code = f"GZ-H{uuid.uuid4().hex[:8].upper()}"
        admin = token("admin-handlers", "admin")
        first = "11440100MB2H" + uuid.uuid4().hex[:5].upper()
        body = {"name": f"经办人测试局{self.code}", "creditCode": first
                + uscc.calc_check_digit(first), "handlerMode": mode, **setting}
        put = http.put(f"/departments/{self.code}", headers=admin,
                       body=json.dumps(body, ensure_ascii=False))
        assert put.status_code == 201, put.body
        self.item = f"HDL{uuid.uuid4().hex[:8].upper()}-GG-0101"
        created = http.post("/items", headers=admin, body=json.dumps(
            simple_item(self.item, self.code, name="经办人测试事项"), ensure_ascii=False))
        assert created.status_code == 201, created.body
        assert http.post(f"/items/{self.item}/publish", headers=admin).status_code == 200
        self.subs = {name: f"{name}-{self.code}" for name in ("a", "b", "head")}
        self.staff = {name: self.reviewer(sub, "HEAD" if name == "head" else "HANDLER")
                      for name, sub in self.subs.items()}

    def reviewer(self, sub: str, position: str) -> dict[str, str]:
        return self.token(sub, "reviewer", dept=self.code, position=position)

    def in_review(self, cloud: Any) -> ItemFlow:
        """An application of the item, accepted by the window: its review task is open."""
        flow = ItemFlow(self.http, self.token, cloud, f"h-{uuid.uuid4().hex[:6]}", {
            "itemCode": self.item,
            "applicant": {"kind": "PERSON", "name": "张伟", "idNumber": CITIZEN_ID,
                          "phone": "13812345678"},
            "form": {"address": "广州市天河区华夏路16号"}, "delivery": {"method": "PICKUP"}},
            [self.code])
        flow.submit()
        assert flow.decide(flow.window, "ACCEPT", "材料齐全，予以受理").status_code == 200
        return flow

    def tasks(self, who: str, query: str = "") -> list[dict[str, Any]]:
        answer = self.http.get(f"/tasks?status=PENDING{query}", headers=self.staff[who])
        assert answer.status_code == 200, answer.body
        return json.loads(answer.body)["tasks"]

    def task_of(self, who: str, flow: ItemFlow) -> dict[str, Any] | None:
        return next((t for t in self.tasks(who) if t["applicationId"] == flow.id), None)

    def post(self, who: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.http.post(path, headers=self.staff[who],
                              body=json.dumps(body or {}, ensure_ascii=False))

    def decide(self, who: str, task_id: str) -> Any:
        return self.post(who, f"/tasks/{task_id}/decision",
                         {"decision": "APPROVE", "opinion": "同意"})
