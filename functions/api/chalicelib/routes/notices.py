"""告知 routes (openapi.yaml, tag notices): the caller's notices (`GET /me/notices`, mark read),
the SMS provider's signed delivery receipts (`POST /webhooks/sms`) and the failed SMS that
operators must follow up (`GET /sms/failed`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.lazy import lazy
from chalicelib.problems import problem
from chalicelib.requests import header, json_body
from yiwang.platform.config import ConfigurationError, settings
from yiwang.platform.errors import FieldError, ValidationFailed

inbox = lazy("yiwang.people.inbox")
sms = lazy("yiwang.messaging.sms")
sms_provider = lazy("yiwang.messaging.sms_provider")
signatures = lazy("yiwang.platform.signatures")

routes = Blueprint(__name__)
MAX_MARKED = 100


@routes.route("/me/notices", methods=["GET"], authorizer=bearer)
def my_notices() -> dict[str, Any]:
    """One page of the caller's notices, newest first, and their unread count."""
    params = routes.current_request.query_params or {}
    unread = params.get("unread")
    if unread not in (None, "", "true", "false"):
        raise ValidationFailed([FieldError("unread", "true or false")])
    page = inbox.page(caller(), params.get("limit"), params.get("nextToken"),
                      unread_only=unread == "true")
    return {"notices": [inbox.as_json(record) for record in page.notices],
            "unread": page.unread, "nextToken": page.next_token}


@routes.route("/me/notices/read", methods=["POST"], authorizer=bearer)
def mark_read() -> dict[str, Any]:
    """`{"noticeIds": [...]}` (at most 100) marked read."""
    body = json_body(routes.current_request)
    ids = body.get("noticeIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_MARKED or \
            not all(isinstance(i, str) and 0 < len(i) <= 160 for i in ids):
        raise ValidationFailed([FieldError("noticeIds",
                                           f"1 to {MAX_MARKED} notice ids (strings)")])
    return _marked(ids)


@routes.route("/me/notices/{notice_id}/read", methods=["POST"], authorizer=bearer)
def mark_one_read(notice_id: str) -> dict[str, Any]:
    return _marked([notice_id])


def _marked(ids: list[str]) -> dict[str, Any]:
    who = caller()
    marked = inbox.mark_read(who, ids)
    return {"marked": marked, "unread": inbox.unread_count(inbox.inboxes_of(who))}


@routes.route("/sms/failed", methods=["GET"], authorizer=bearer)
def failed_sms() -> dict[str, Any]:
    """Messages that could not be sent (`limit`, 1-100): a supervisor's region's, or all of
    them for administrators; the numbers masked."""
    params = routes.current_request.query_params or {}
    try:
        limit = int(params.get("limit") or 50)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise ValidationFailed([FieldError("limit", "an integer from 1 to 100")])
    return {"messages": [record.to_api() for record in sms.failed(limit, caller())]}


@routes.route("/webhooks/sms", methods=["POST"])
def sms_webhook() -> Response | dict[str, Any]:
    """A delivery receipt, signed; verified on the raw bytes before the body is parsed. A
    forged or stale receipt is 401 and changes nothing; a repeated one is 200."""
    request = routes.current_request
    try:
        secret = sms_provider.sms_secret(settings())
    except ConfigurationError as error:
        return problem(503, "MISCONFIGURED", "The API is not configured", str(error))
    signatures.verify(secret, header(request, signatures.TIMESTAMP_HEADER), request.raw_body,
                      header(request, signatures.SIGNATURE_HEADER), datetime.now(UTC))
    record = sms.receipt(json_body(request), datetime.now(UTC))
    return {"noticeId": record.notice_id, "status": record.status}
