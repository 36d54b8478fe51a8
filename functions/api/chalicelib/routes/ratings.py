"""好差评 routes (openapi.yaml: rating, ratings): the applicant's rating and the handling of bad
reviews (差评). The rules are in `yiwang.ratings.reviews`, the statuses in
`yiwang.ratings.status`.

- `POST /applications/{id}/rating` `{"level":1-5,"comment"?,"anonymous"?}` → 201 the rating;
  once per COMPLETED application (a second, or one not completed: 409);
- `GET /ratings?bad=true|false&status=` → `{"ratings":[...]}` (a department's reviewers: their
  own; supervisors and administrators: all), `GET /ratings/{id}` (also the rater);
- the handling department: `POST /ratings/{id}/verify` `{"valid","note"}`,
  `/extend` `{"workingDays","reason"}` (once; at most the original limit, else 422),
  `/rectify` `{"measures"}`;
- rating administrators: `POST /ratings/{id}/invalidate` `{"approve","note"}` (无效差评 only
  this way, after the department proposed it);
- the department or administrators: `POST /ratings/{id}/revisit` `{"satisfied","note"}`.
Every answer but the list is the rating as `yiwang.views.ratings.present` shows it.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.requests import json_body
from yiwang.platform.config import settings

notices = lazy("yiwang.people.notices")
ratings = lazy("yiwang.ratings.reviews")
records = lazy("yiwang.ratings.records")
views = lazy("yiwang.views.ratings")

routes = Blueprint(__name__)


def _answer(outcome: ratings.Outcome, status_code: int = 200) -> Response:
    """Send the change's notices (站内信), then answer the rating."""
    topic = settings().notices_topic_arn
    for notice in outcome.notices if topic else []:
        notices.publish(aws("sns"), topic, notice)
    return Response(body=views.present(outcome.rating, caller()), status_code=status_code)


@routes.route("/applications/{application_id}/rating", methods=["POST"], authorizer=bearer)
def rate(application_id: str) -> Response:
    return _answer(ratings.rate(caller(), application_id, json_body(routes.current_request)),
                   201)


@routes.route("/ratings", methods=["GET"], authorizer=bearer)
def list_ratings() -> dict[str, Any]:
    """`?bad=true|false` (absent: both) `&status=`: newest first."""
    params = routes.current_request.query_params or {}
    found = records.list_for(caller(), records.parse_bad(params.get("bad")),
                             params.get("status") or None)
    return {"ratings": [views.summary(r) for r in found]}


@routes.route("/ratings/{rating_id}", methods=["GET"], authorizer=bearer)
def get_rating(rating_id: str) -> dict[str, Any]:
    who = caller()
    return views.present(records.load_for(who, rating_id), who)


@routes.route("/ratings/{rating_id}/verify", methods=["POST"], authorizer=bearer)
def verify(rating_id: str) -> Response:
    return _answer(ratings.verify(caller(), rating_id, json_body(routes.current_request)))


@routes.route("/ratings/{rating_id}/invalidate", methods=["POST"], authorizer=bearer)
def invalidate(rating_id: str) -> Response:
    return _answer(ratings.invalidate(caller(), rating_id, json_body(routes.current_request)))


@routes.route("/ratings/{rating_id}/extend", methods=["POST"], authorizer=bearer)
def extend(rating_id: str) -> Response:
    return _answer(ratings.extend(caller(), rating_id, json_body(routes.current_request)))


@routes.route("/ratings/{rating_id}/rectify", methods=["POST"], authorizer=bearer)
def rectify(rating_id: str) -> Response:
    return _answer(ratings.rectify(caller(), rating_id, json_body(routes.current_request)))


@routes.route("/ratings/{rating_id}/revisit", methods=["POST"], authorizer=bearer)
def revisit(rating_id: str) -> Response:
    return _answer(ratings.revisit(caller(), rating_id, json_body(routes.current_request)))
