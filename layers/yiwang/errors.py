"""Domain errors. A class name is the error name that state machines' Retry/Catch match
(Lambda reports the exception's class name as `errorType`), so names are part of the contract."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule the platform refuses to break; `code` is the API's machine code."""

    code = "DOMAIN_ERROR"


class ApplicationNotFound(DomainError):
    """No application has this id (or the caller may not see it)."""

    code = "NOT_FOUND"
