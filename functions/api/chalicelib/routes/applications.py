"""办件 routes (openapi.yaml, tag applications): drafts, attachments, submission, reading."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import personal_data
from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.requests import header, json_body
from yiwang.platform.config import settings

casefile = lazy("yiwang.views.casefile")
drafts = lazy("yiwang.applications.drafts")
lifecycle = lazy("yiwang.applications.lifecycle")
listing = lazy("yiwang.applications.listing")
uploads = lazy("yiwang.applications.uploads")
views = lazy("yiwang.views.applications")

routes = Blueprint(__name__)


@routes.route("/applications", methods=["POST"], authorizer=bearer)
def create_application() -> Response:
    """A new draft; with `Idempotency-Key`, a repeated request returns the first draft."""
    answer = drafts.create_draft_answer(
        caller(), json_body(routes.current_request), views.draft,
        header(routes.current_request, "Idempotency-Key"))
    return Response(body=answer, status_code=201)


@routes.route("/applications", methods=["GET"], authorizer=bearer)
def list_applications() -> dict:
    """The caller's own (applicants), their department's or queue's (reviewers, window),
    or one status's (supervisors); `?status=&limit=&nextToken=`. Rows are summaries made from
    what the list read (`views.row`); the detail is `GET /applications/{id}`."""
    who = caller()
    why = personal_data.purpose(routes.current_request, who, "application")
    page = listing.list_applications(
        who, listing.parse_request(routes.current_request.query_params))
    answer = {"applications": views.rows(page, who),
              **({"nextToken": page.next_token} if page.next_token else {})}
    personal_data.applications(who, why, page.applications)  # staff: one record per row
    return answer


@routes.route("/applications/{application_id}", methods=["GET"], authorizer=bearer)
def get_application(application_id: str) -> dict:
    """The detail, with the applicant's data; a staff read leaves an access record."""
    who = caller()
    why = personal_data.purpose(routes.current_request, who, "application")
    case = casefile.load_for(who, application_id)
    answer = views.detail(case, who)
    personal_data.applications(who, why, [case.record])
    return answer


@routes.route("/applications/{application_id}/attachments", methods=["POST"],
              authorizer=bearer)
def request_attachment_upload(application_id: str) -> Response:
    """Presigned S3 URLs for one file; the bytes never pass through the API."""
    plan = uploads.request_upload(caller(), application_id,
                                       json_body(routes.current_request), aws("s3"),
                                       settings().require("bucket_name"))
    return Response(status_code=201, body={
        "attachmentId": plan.attachment.attachment_id,
        "partSizeBytes": int(plan.attachment.part_size_bytes),
        "parts": [{"partNumber": n, "url": url} for n, url in plan.part_urls],
        "expiresAt": plan.expires_at.isoformat(),
    })


@routes.route("/applications/{application_id}/attachments/{attachment_id}/complete",
              methods=["POST"], authorizer=bearer)
def complete_attachment_upload(application_id: str, attachment_id: str) -> dict:
    body = json_body(routes.current_request) if routes.current_request.raw_body else {}
    attachment = uploads.complete_upload(caller(), application_id, attachment_id, body,
                                              aws("s3"), settings().require("bucket_name"))
    return {"attachmentId": attachment.attachment_id, "materialId": attachment.material_id,
            "status": attachment.status, **({"problem": attachment.problem}
                                            if attachment.problem else {})}


@routes.route("/applications/{application_id}/submit", methods=["POST"], authorizer=bearer)
def submit_application(application_id: str) -> Response:
    record = lifecycle.submit(caller(), application_id, aws("stepfunctions"),
                                 settings().require("lifecycle_state_machine_arn"))
    return Response(status_code=202, body={"id": record.application_id, "status": record.status})
