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
HEAD = "HEAD"
"""科室负责人: the head of a department, who oversees its tasks and reassigns them (转交)."""
HANDLER = "HANDLER"
"""经办人: staff who handle the tasks given to them (every reviewer who is not a head)."""
POSITIONS = frozenset({HEAD, HANDLER})


@dataclass(frozen=True)
class Caller:
    """The verified claims of the caller's bearer token."""

    sub: str
    role: str
    dept: str | None = None
    region: str | None = None
    id_number: str | None = None
    credit_code: str | None = None
    position: str | None = None
    """HEAD or HANDLER (the token's `position`); none is a handler."""

    @property
    def is_head(self) -> bool:
        """Whether the caller heads their department (科室负责人)."""
        return self.position == HEAD

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    @property
    def applicant_codes(self) -> list[str]:
        """The identifiers the token carries (identity number, credit code): the applications,
        theme cases and notices in their name."""
        return [code for code in (self.id_number, self.credit_code) if code]

    def require(self, *roles: str) -> Caller:
        """This caller, if their role is one of `roles`; otherwise `Forbidden`."""
        if self.role not in roles:
            raise Forbidden(f"role '{self.role}' may not do this")
        return self
