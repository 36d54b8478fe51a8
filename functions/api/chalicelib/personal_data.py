"""Staff reads of personal data leave an access record (个人信息访问留痕,
`yiwang.people.access_log`): the routes that answer an application's, a certificate's or a
complaint's personal data to staff ask `purpose` before reading (a bad `X-Access-Purpose` is a
400 before anything is read) and `record` once the answer is built, before it is returned: a
read that cannot be recorded is not answered. Applicants' reads leave no record and cost no
call."""

from __future__ import annotations

from typing import Any

from chalice.app import Request

from chalicelib.lazy import lazy
from chalicelib.requests import header
from yiwang.people.access import Caller

access_log = lazy("yiwang.people.access_log")


def purpose(request: Request, who: Caller, kind: str) -> Any:
    """Why staff read a `kind` (`application`, `certificate`, `complaint`): the stated
    `X-Access-Purpose` or their role's default; None for applicants (nothing is recorded)."""
    if not who.is_staff:
        return None
    return access_log.purpose_of(who, access_log.Resource(kind),
                                 header(request, access_log.PURPOSE_HEADER))


def applicant_code(applicant: dict[str, Any] | None) -> str | None:
    """The identity number or credit code an application's applicant was recorded with."""
    applicant = applicant or {}
    return applicant.get("idNumber") or applicant.get("creditCode") or None


def record(who: Caller, why: Any, reads: list[tuple[str, str, str]]) -> None:
    """Record staff reads: each `(subject key, kind, resource id)`; one call for a detail, one
    batch for a page. Nothing for applicants (`why` is None)."""
    if why is None or not reads:
        return
    access_log.record_reads(who, why, [
        access_log.Read(subject, access_log.Resource(kind), resource_id)
        for subject, kind, resource_id in reads])


def applications(who: Caller, why: Any, records: list[Any]) -> None:
    """Record staff reads of applications (`ApplicationRecord`s): whose is the applicant's."""
    if why is None:
        return
    record(who, why, [(access_log.applicant_subject(code), "application", r.application_id)
                      for r in records if (code := applicant_code(r.applicant))])
