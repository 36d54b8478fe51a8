"""投诉建议 classification and routing (《运行管理办法》 art. 29-33), pure rules: the time limits in
working days, where a complaint goes (the routing rules, kept as data), which departments
exist, and what makes a complaint private."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from yiwang.platform import identity

CATEGORY_LIMITS = {"CONSULT": 3, "COMPLAINT": 7, "SUGGESTION": 7}
"""我要咨询 3, 我要投诉 7, 我要建议 7 working days."""
URGENCY_LIMITS = {"URGENT": 3, "GENERAL_URGENT": 5, "NORMAL": 15}
"""紧急 3, 一般紧急 5, 普通 15 working days: a grading may shorten the category's limit, never
lengthen it (a 3-day consultation graded 普通 still has 3 days)."""
CHANNELS = ("WEB", "PHONE", "VISIT")
STAFF_CHANNELS = frozenset({"PHONE", "VISIT"})
"""Telephone and visit complaints are taken down by window staff."""
REASON_CODES = {
    "NOT_ONLINE_SERVICE": "不涉及网上政务服务",
    "HARMFUL_CONTENT": "危害国家安全、破坏民族团结、煽动非法集会、扰乱社会秩序、宣扬封建迷信",
    "NO_TARGET_OR_REQUEST": "没有明确被投诉人或者投诉请求，缺少具体内容",
    "ALREADY_IN_PROGRESS": "已经受理或者正在处理解决",
    "CLOSED_NO_NEW_EVIDENCE": "已经办结，无新证明材料对同一事项重复投诉",
    "ABUSE": "无理纠缠、侮辱谩骂，宣泄个人情绪",
    "OTHER_PROCEDURE": "涉及仲裁、信访、纪检监察、行政复议、法律诉讼、信息公开等",
    "UNLAWFUL": "其他违反国家法律法规和有关规定",
}
"""不予受理 reasons, 《运行管理办法》 art. 31 (一)-(八)."""
RETURN_WITHIN_DAYS = 1
"""Art. 33: a department returns what is not its business within 1 working day, or it is
deemed accepted."""

_ROUTING_FILE = Path(__file__).parents[1] / "data" / "complaint_routing.json"
_SECRET_WORDS = ("国家秘密", "商业秘密", "个人隐私", "隐私", "保密", "不公开")
"""Content that touches secrets (art. 29) is private even when the complainant did not ask."""


def limit_days(category: str, urgency: str | None = None) -> int:
    """办理时限 in working days (art. 32): the category's, or the urgency's once graded if that
    is shorter. Both limits bind the department, so the stricter one holds."""
    limit = CATEGORY_LIMITS[category]
    return min(limit, URGENCY_LIMITS[urgency]) if urgency else limit


@functools.cache
def routing_rules() -> dict[str, Any]:
    """The routing rules kept as data (`data/complaint_routing.json`)."""
    return json.loads(_ROUTING_FILE.read_text(encoding="utf-8"))


def may_receive(code: str) -> bool:
    """Whether a complaint may be routed to `code`: one of the routing rules' own departments,
    or an active department of the registry (one consistent read: a department registered a
    moment ago is known at once, which a read of the registry's list index may not yet show)."""
    rules = routing_rules()
    if code in {*rules.get("departments", {}), rules["default"],
                *(rule["department"] for rule in rules["rules"])}:
        return True
    from yiwang.catalogue import departments

    return departments.known(code)


def route_by_rules(text: str) -> str:
    """The department of the first rule whose keywords `text` contains, else the default."""
    rules = routing_rules()
    for rule in rules["rules"]:
        if any(word in text for word in rule["keywords"]):
            return rule["department"]
    return rules["default"]


def is_default(department: str) -> bool:
    """Whether `department` is the routing rules' default (the coordinating office)."""
    return department == routing_rules()["default"]


def touches_secrets(*texts: str) -> bool:
    """Whether the text names secrets or carries personal identifiers (identity numbers,
    credit codes, mobile numbers), which makes a complaint private (art. 29)."""
    return any(word in text for text in texts for word in _SECRET_WORDS) or any(
        identity.redact(text) != text for text in texts)
