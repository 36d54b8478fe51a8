"""预审: the automatic checks run on a submitted application before staff decide."""

from __future__ import annotations

from dataclasses import dataclass

from yiwang.applications.records import ApplicationRecord


@dataclass(frozen=True)
class CheckResult:
    """`PASSED`, or `DEFECTS` with every defect listed at once (一次性告知)."""

    outcome: str
    defects: list[dict[str, str]]


def automatic_checks(application: ApplicationRecord) -> CheckResult:
    """Every required material must be uploaded and stored."""
    stored = set(application.stored_materials or [])
    defects = [
        {"materialId": material, "problem": "MISSING"}
        for material in application.required_materials or []
        if material not in stored
    ]
    return CheckResult("DEFECTS" if defects else "PASSED", defects)
