"""What a caller sees of a rating (好差评): the detail with its rectification and trail, and a
list row."""

from __future__ import annotations

from typing import Any

from yiwang.calendar.workdays import local_time
from yiwang.deadlines import clocks
from yiwang.people.access import REVIEWER, Caller
from yiwang.platform import identity
from yiwang.ratings.records import LEVELS, RatingRecord, trail
from yiwang.ratings.reviews import CLOCK


def present(rating: RatingRecord, caller: Caller) -> dict[str, Any]:
    """A rating as the API shows it; the rater is hidden when anonymous, and their phone is
    shown in full only to the rater and the department that must call them."""
    rater = dict(rating.rater) if rating.rater else None
    if rater and rater.get("phone") and not (
            caller.sub == rating.rater_sub or caller.role == REVIEWER):
        rater["phone"] = identity.mask_phone(rater["phone"])
    clock = clocks.get(rating.pk, CLOCK) if rating.bad else None
    # An anonymous rater stays anonymous to the staff: their subject is no actor of the trail.
    hidden = rating.rater_sub if rating.anonymous and caller.sub != rating.rater_sub else None
    return {
        "id": rating.rating_id, "applicationId": rating.application_id,
        "itemCode": rating.item_code, "department": rating.department,
        "outcome": rating.outcome,
        "level": int(rating.level), "levelName": LEVELS[int(rating.level)],
        "comment": rating.comment, "anonymous": bool(rating.anonymous), "bad": bool(rating.bad),
        "status": rating.status, "createdAt": local_time(rating.created_at), "rater": rater,
        "verification": rating.verification, "invalidation": rating.invalidation,
        "extension": rating.extension, "rectifications": rating.rectifications or [],
        "revisits": rating.revisits or [],
        "rectification": clock.to_api() if clock else None,
        "history": [{"at": local_time(a.at), "event": a.event,
                     "actor": None if hidden and a.actor == hidden else a.actor,
                     "from": a.from_status, "to": a.to_status} for a in trail(rating.rating_id)],
    }


def summary(rating: RatingRecord) -> dict[str, Any]:
    """A rating as lists show it (no rater, no trail)."""
    return {"id": rating.rating_id, "applicationId": rating.application_id,
            "itemCode": rating.item_code, "department": rating.department,
            "level": int(rating.level), "levelName": LEVELS[int(rating.level)],
            "comment": rating.comment, "anonymous": bool(rating.anonymous),
            "bad": bool(rating.bad), "status": rating.status,
            "createdAt": local_time(rating.created_at)}
