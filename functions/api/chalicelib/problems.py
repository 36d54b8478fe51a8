"""RFC 9457 problem answers (`application/problem+json`) with the API's stable codes."""

from __future__ import annotations

import json
from typing import Any

from chalice import Response

PROBLEM_TYPE = "application/problem+json"


def problem(status: int, code: str, title: str, detail: str = "", **extra: Any) -> Response:
    """A problem answer; `code` is the machine code clients branch on."""
    body = {
        "type": f"https://yiwang.gov.cn/problems/{code.lower().replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return Response(
        body=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": PROBLEM_TYPE},
    )
