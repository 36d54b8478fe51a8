"""Who is calling, and what their role lets them do (openapi.yaml, tag identity).

Roles: applicant (a natural or legal person), window staff (窗口), department reviewer (bound to
a department and region), supervisor (reads everything, decides nothing), administrator
(catalogue, calendar, rating review).
"""

from __future__ import annotations

from dataclasses import dataclass

from yiwang.platform.errors import Forbidden

APPLICANT = "applicant"
WINDOW = "window"
REVIEWER = "reviewer"
SUPERVISOR = "supervisor"
ADMIN = "admin"
ROLES = frozenset({APPLICANT, WINDOW, REVIEWER, SUPERVISOR, ADMIN})
STAFF = frozenset({WINDOW, REVIEWER, SUPERVISOR, ADMIN})


@dataclass(frozen=True)
class Caller:
    """The verified claims of the caller's bearer token."""

    sub: str
    role: str
    dept: str | None = None
    region: str | None = None
    id_number: str | None = None
    credit_code: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    def require(self, *roles: str) -> Caller:
        """This caller, if their role is one of `roles`; otherwise `Forbidden`."""
        if self.role not in roles:
            raise Forbidden(f"role '{self.role}' may not do this")
        return self
