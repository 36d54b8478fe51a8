"""Domain errors. A class name is the error name that state machines' Retry/Catch match
(Lambda reports the exception's class name as `errorType`), so names are part of the contract;
`code` is the stable machine code the API puts in its problem answers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One validation failure: where (a JSON path such as `form.applicant.name`) and why."""

    path: str
    message: str


class DomainError(Exception):
    """Base of every rule the platform refuses to break."""

    code = "DOMAIN_ERROR"
    title = "The request breaks a rule of the platform"


class NotFound(DomainError):
    """No such record, or one the caller may not see (the two are never told apart)."""

    code = "NOT_FOUND"
    title = "Not found"


class ApplicationNotFound(NotFound):
    """No application has this id (or the caller may not see it)."""


class Forbidden(DomainError):
    """The caller's role may not do this."""

    code = "FORBIDDEN"
    title = "Not allowed for your role"


class Unauthenticated(DomainError):
    """No valid bearer token."""

    code = "UNAUTHENTICATED"
    title = "Sign in first"


class Conflict(DomainError):
    """The record changed or was already decided; nothing was changed."""

    code = "CONFLICT"
    title = "Conflict with the current state"


class ValidationFailed(DomainError):
    """Input that does not satisfy the contract or the item's schema; every error is listed."""

    code = "VALIDATION_FAILED"
    title = "The request is not valid"

    def __init__(self, errors: list[FieldError], detail: str = "") -> None:
        self.errors = errors
        super().__init__(detail or f"{len(errors)} validation error(s)")


class FieldsUnprocessable(ValidationFailed):
    """Well-formed input that breaks a rule at named paths (a theme's field mapping that does
    not fit an item's form schema): 422, every error listed with its path."""

    code = "FIELDS_UNPROCESSABLE"
    title = "The request breaks a rule"


class PayloadTooLarge(DomainError):
    """The request body is larger than the API reads; nothing was read or changed."""

    code = "PAYLOAD_TOO_LARGE"
    title = "The request body is too large"


class Unprocessable(DomainError):
    """Well-formed, but not allowed by a rule (e.g. an extension longer than the limit)."""

    code = "UNPROCESSABLE"
    title = "The request cannot be carried out"


class Unavailable(DomainError):
    """The store or an engine is busy (throttled, a concurrent transaction); nothing was
    changed, and the same request may succeed after `retry_after` seconds."""

    code = "UNAVAILABLE"
    title = "Busy, try again shortly"

    def __init__(self, detail: str = "", retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(detail or "the platform is busy")
