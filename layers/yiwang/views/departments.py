"""How a department of the registry (部门) is shown: `GET /departments...` and `PUT`'s answer."""

from __future__ import annotations

from typing import Any

from yiwang.calendar.workdays import local_time
from yiwang.catalogue.departments import DepartmentRecord, region_of
from yiwang.regions import tree


def present(record: DepartmentRecord) -> dict[str, Any]:
    """The department as the API answers it, times in Asia/Shanghai; its region (the default
    region for one not placed yet) with the region's name and level."""
    region = tree.get(region_of(record)) if tree.known(region_of(record)) else None
    return {"code": record.code, **record.fields(),
            "region": region_of(record), "level": region.level if region else record.level,
            "regionName": region.name if region else None,
            "createdAt": local_time(record.created_at),
            "updatedAt": local_time(record.updated_at), "version": int(record.version)}
