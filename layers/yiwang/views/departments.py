"""How a department of the registry (部门) is shown: `GET /departments...` and `PUT`'s answer."""

from __future__ import annotations

from typing import Any

from yiwang.calendar.workdays import local_time
from yiwang.catalogue.departments import DepartmentRecord


def present(record: DepartmentRecord) -> dict[str, Any]:
    """The department as the API answers it, times in Asia/Shanghai."""
    return {"code": record.code, **record.fields(), "createdAt": local_time(record.created_at),
            "updatedAt": local_time(record.updated_at), "version": int(record.version)}
