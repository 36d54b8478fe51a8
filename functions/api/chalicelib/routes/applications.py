"""办件 routes (API.md "Applications"): drafts, attachments, submission, reading."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.requests import header, json_body
from yiwang.people.access import Caller
from yiwang.platform.config import settings

applications = lazy("yiwang.applications.intake")
casefile = lazy("yiwang.views.casefile")
certificates = lazy("yiwang.fulfilment.certificates")
delivery = lazy("yiwang.fulfilment.delivery")
listing = lazy("yiwang.applications.listing")
payments = lazy("yiwang.fulfilment.payments")
tasks = lazy("yiwang.applications.tasks")

routes = Blueprint(__name__)


def view(case: casefile.CaseFile, who: Caller) -> dict:
    """The Application of API.md: the record, its tasks per department, what is pending;
    built from the case file (one Query), not one read per part."""
    record = case.record
    answer = applications.present(record, who, attachments=case.attachments, audit=case.audit)
    own = case.tasks
    answer["tasks"] = [{"department": t.department, "kind": t.kind, "status": t.status,
                        "decision": t.decision, "opinion": t.opinion,
                        "dueAt": tasks.local_time(t.due_at)}
                       for t in own if t.kind != tasks.SUPPLEMENT]
    supplement = [t for t in own if t.kind == tasks.PRE_REVIEW and t.decision == "SUPPLEMENT"
                  or t.kind == tasks.REVIEW and t.decision == "SUPPLEMENT"]
    if record.status == "NEEDS_SUPPLEMENT" and supplement:
        latest = max(supplement, key=lambda t: t.decided_at or t.created_at)
        answer["pending"] = {"supplement": {"missing": latest.missing or [],
                                            "notice": latest.opinion}}
    answer["certificate"] = certificates.pointer_view(case.certificate)
    answer["delivery"] = {**(record.delivery or {}),
                          **delivery.tracking_from(record, case.shipment, case.pickup)}
    order = payments.payable(case.orders) if record.status == "AWAITING_PAYMENT" else None
    if order:
        answer["pending"] = {"payment": order}
    acceptance = [t for t in own if t.kind == tasks.PRE_REVIEW]
    reviews = [t for t in own if t.kind == tasks.REVIEW]
    answer["deadlines"] = {
        **({"acceptBy": tasks.local_time(acceptance[0].due_at)} if acceptance and
           acceptance[0].due_at else {}),
        **({"decideBy": {t.department: tasks.local_time(t.due_at) for t in reviews
                         if t.due_at}} if reviews else {}),
    }
    return answer


@routes.route("/applications", methods=["POST"], authorizer=bearer)
def create_application() -> Response:
    """A new draft; with `Idempotency-Key`, a repeated request returns the first draft."""
    answer = applications.create_draft_answer(
        caller(), json_body(routes.current_request),
        header(routes.current_request, "Idempotency-Key"))
    return Response(body=answer, status_code=201)


@routes.route("/applications", methods=["GET"], authorizer=bearer)
def list_applications() -> dict:
    """The caller's own (applicants), their department's or queue's (reviewers, window),
    or one status's (supervisors); `?status=&limit=&nextToken=`. Rows are summaries made from
    what the list read (`listing.summary`); the detail is `GET /applications/{id}`."""
    who = caller()
    page = listing.list_applications(
        who, listing.parse_request(routes.current_request.query_params))
    return {"applications": listing.summaries(page, who),
            **({"nextToken": page.next_token} if page.next_token else {})}


@routes.route("/applications/{application_id}", methods=["GET"], authorizer=bearer)
def get_application(application_id: str) -> dict:
    who = caller()
    return view(casefile.load_for(who, application_id), who)


@routes.route("/applications/{application_id}/attachments", methods=["POST"],
              authorizer=bearer)
def request_attachment_upload(application_id: str) -> Response:
    """Presigned S3 URLs for one file; the bytes never pass through the API."""
    plan = applications.request_upload(caller(), application_id,
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
    attachment = applications.complete_upload(caller(), application_id, attachment_id, body,
                                              aws("s3"), settings().require("bucket_name"))
    return {"attachmentId": attachment.attachment_id, "materialId": attachment.material_id,
            "status": attachment.status, **({"problem": attachment.problem}
                                            if attachment.problem else {})}


@routes.route("/applications/{application_id}/submit", methods=["POST"], authorizer=bearer)
def submit_application(application_id: str) -> Response:
    record = applications.submit(caller(), application_id, aws("stepfunctions"),
                                 settings().require("lifecycle_state_machine_arn"))
    return Response(status_code=202, body={"id": record.application_id, "status": record.status})
