"""授权代办 routes (openapi.yaml, tag agency): a principal authorises an agent, lists and
revokes their authorisations; the letter (授权委托书) goes straight to S3, presigned."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.requests import json_body
from yiwang.platform.config import settings

agency = lazy("yiwang.people.agency")

routes = Blueprint(__name__)
LETTER_URL_SECONDS = 3600


@routes.route("/me/agents", methods=["POST"], authorizer=bearer)
def authorise_agent() -> Response:
    """A new authorisation; the answer carries the presigned PUT for the letter (PDF)."""
    record = agency.create(caller(), json_body(routes.current_request))
    url = aws("s3").generate_presigned_url(
        "put_object", ExpiresIn=LETTER_URL_SECONDS,
        Params={"Bucket": settings().require("bucket_name"), "Key": record.letter_key,
                "ContentType": "application/pdf"})
    return Response(status_code=201, body={**record.view(), "letterUploadUrl": url})


@routes.route("/me/agents", methods=["GET"], authorizer=bearer)
def list_agents() -> dict:
    """The caller's authorisations, newest first, each with its standing."""
    return {"authorisations": [r.view() for r in agency.of_principal(caller())]}


@routes.route("/me/agents/{authorisation_id}/revoke", methods=["POST"], authorizer=bearer)
def revoke_agent(authorisation_id: str) -> dict:
    """End an authorisation at once; the agent's next step is refused."""
    return agency.revoke(caller(), authorisation_id).view()
