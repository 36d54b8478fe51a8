"""上报件 (escalated items): a case accepted by a lower level's window and handled by a higher
level's departments.

An item of kind ESCALATED names the levels whose windows accept it (`acceptedAt`) and the level
of its departments (`handledAt`). A draft of one is made only in a region at an accepting
level, and carries its `escalation` from the start: the accepting region (属地, the record's
`region`) and the handled region, `tree.ancestor_at(region, handledAt)`. Then:

- 上报 (`send_up`, the lifecycle's EscalateUp step after the window's acceptance): the hop
  ESCALATED_UP, from the accepting region to the handled region, with the attachments that
  went up (the higher level reads the same stored objects; the hop names them). The lower
  level's forwarding step has its own clock (`FORWARD_CLOCK`, 1 working day from the
  acceptance, inside the promise), stopped by the hop. The promise starts at the acceptance,
  as for every case.
- The higher level's departments review (their review clocks) and issue the certificate.
- 下发 (`send_down`, the ReturnDown step after the certificate, or after a refusal): the hop
  RETURNED_DOWN back to the accepting region with the decision (and the certificate's number);
  the lower level's delivery step then has its own clock (`DELIVERY_CLOCK`), stopped when the
  case is delivered or collected (`delivered`).

Each hop is written in one transaction with its audit record (全程留痕) and the clock it stops.
A hop is recorded once per round (a retried step, or a supplement round that goes up again,
never doubles one).

Access: the escalation is the `escalation` JSON attribute of the application's record
(`APP#<id>`, `META`), read with it: `acceptingRegion`, `handledRegion`, `acceptedAt`,
`handledAt`, `hops` (oldest first). Its clocks are `CLOCK#ESCALATION_UP` and
`CLOCK#DELIVERY_DOWN` under the application (read with the case file).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from yiwang.applications.records import (
    ApplicationRecord,
    AttachmentStatus,
    application_stub,
    new_audit,
)
from yiwang.calendar.workdays import local_time
from yiwang.platform.errors import Conflict, FieldError, ValidationFailed
from yiwang.regions import tree

if TYPE_CHECKING:
    from yiwang.catalogue.items import ItemVersion
    from yiwang.deadlines.clocks import ClockRecord
# The catalogue, the clocks and the transaction are imported by the steps that write hops, not
# by every access check (`drafts.facts_of` asks `window_may_see` and `gone_up`).

UP, DOWN = "ESCALATED_UP", "RETURNED_DOWN"
"""The audited hops: 上报 (up to the handling level) and 下发 (back to the accepting level)."""
FORWARD_CLOCK = "ESCALATION_UP"
FORWARD_WITHIN_DAYS = 1
"""上报: the accepting window sends the case up within 1 working day of accepting it."""
DELIVERY_CLOCK = "DELIVERY_DOWN"
DELIVER_WITHIN_DAYS = 3
"""送达: the accepting level delivers (hands over, or posts) within 3 working days of the
result coming down."""
ACCEPTING, HANDLING = "ACCEPTING", "HANDLING"
"""The two sides of an escalated case: the level that accepts and delivers, the one that
decides."""
_HANDLING_CLOCKS = ("REVIEW#", "CERTIFICATE")
"""The clocks of the handling level's steps (each department's review, 制证)."""


def plan(item: ItemVersion, region: str) -> dict[str, Any] | None:
    """The escalation a new draft of `item` accepted in `region` carries (None unless the item
    is a 上报件); `ValidationFailed` (400) if `region` is not at a level that accepts it."""
    from yiwang.catalogue.items import ESCALATED

    if item.kind != ESCALATED or not item.escalation:
        return None
    accepted_at, handled_at = list(item.escalation["acceptedAt"]), item.escalation["handledAt"]
    level = tree.get(region).level
    if level not in accepted_at:
        raise ValidationFailed([FieldError(
            "region", f"{item.name} is a 上报件 accepted at the {', '.join(accepted_at)} "
                      f"level; {tree.get(region).name} ({region}) is {level}")])
    return {"acceptingRegion": region,
            "handledRegion": tree.ancestor_at(region, handled_at).code,
            "acceptedAt": accepted_at, "handledAt": handled_at, "hops": []}


def is_escalated(record: ApplicationRecord) -> bool:
    """Whether the application is a 上报件 (it carries an escalation)."""
    return bool(record.escalation)


def gone_up(record: ApplicationRecord) -> bool:
    """Whether an escalated case has been sent up (its higher level handles or handled it)."""
    return any(hop.get("event") == UP for hop in (record.escalation or {}).get("hops", []))


def regions_of(record: ApplicationRecord) -> frozenset[str]:
    """The regions the case lies in: where it was accepted (属地, the default region for a
    record made before regions) and, once sent up, the region whose departments handle it."""
    regions = {record.region or tree.default_region()}
    if gone_up(record):
        regions.add(record.escalation["handledRegion"])
    return frozenset(regions)


def window_may_see(record: ApplicationRecord, window_region: str | None) -> bool:
    """Whether a window (sitting in `window_region`; none: the default region) serves the
    case: every case but a 上报件, which is the accepting region's window's (or a window of a
    region above it) throughout, and no other window's."""
    if not is_escalated(record):
        return True
    return window_serves(record.escalation["acceptingRegion"], window_region)


def window_serves(accepting_region: str | None, window_region: str | None) -> bool:
    """Whether a window sitting in `window_region` (none: the default region) serves a case
    accepted in `accepting_region` (None: any case but a 上报件, which every window serves):
    the accepting region's own window, or one of a region above it."""
    if accepting_region is None:
        return True
    return tree.within(accepting_region, window_region or tree.default_region())


def where(record: ApplicationRecord) -> str:
    """Which side holds the case now: ACCEPTING until it goes up, after it comes down, and
    while a supplement asked for above is with the applicant and the accepting window (it then
    goes up again); HANDLING in between."""
    from yiwang.applications.status import Status

    if record.status in {Status.NEEDS_SUPPLEMENT, Status.SUBMITTED}:
        return ACCEPTING
    hops = (record.escalation or {}).get("hops", [])
    return HANDLING if hops and hops[-1].get("event") == UP else ACCEPTING


def _has_hop(record: ApplicationRecord, event: str, round_: int) -> bool:
    return any(hop.get("event") == event and int(hop.get("round", 0)) == round_
               for hop in (record.escalation or {}).get("hops", []))


def _round_of(record: ApplicationRecord) -> int:
    """The round of the latest hop up (a supplement round goes up again)."""
    ups = [int(hop.get("round", 1)) for hop in (record.escalation or {}).get("hops", [])
           if hop.get("event") == UP]
    return max(ups) if ups else 1


def send_up(application_id: str, round_: int, now: datetime | None = None) -> dict[str, Any]:
    """上报: the accepted case goes up with its stored materials (hop ESCALATED_UP, audited;
    the forwarding clock stops). Once per round; a case that is not escalated is left alone."""
    from yiwang.applications import promise, tasks  # the acceptance; the promise it starts
    from yiwang.applications.uploads import attachments_of
    from yiwang.deadlines import clocks

    now = now or datetime.now(UTC)
    record = ApplicationRecord.load(application_id)
    if not is_escalated(record):
        return {"escalated": False}
    if _has_hop(record, UP, round_):
        return _answer(record)
    accepted = tasks.load_task(tasks.task_id(application_id, tasks.PRE_REVIEW, round_,
                                             tasks.WINDOW_QUEUE))
    accepted_at = accepted.decided_at or now
    tasks.start_promise(application_id, round_, now)
    clock = clocks.start(
        record.pk, FORWARD_CLOCK, kind=FORWARD_CLOCK, subject=application_id,
        department=tasks.WINDOW_QUEUE, step="上报", now=accepted_at,
        working_days=promise.within(application_id, FORWARD_WITHIN_DAYS, accepted_at),
        context={"region": record.escalation["acceptingRegion"], "side": ACCEPTING})
    went_up = [{"attachmentId": a.attachment_id, "materialId": a.material_id,
                "sha256": a.sha256}
               for a in attachments_of(application_id) if a.status == AttachmentStatus.STORED]
    hop = {"event": UP, "round": round_, "from": record.escalation["acceptingRegion"],
           "to": record.escalation["handledRegion"], "at": now.isoformat(),
           "attachments": went_up}
    _write_hop(record, hop, now, stop=clock)
    return _answer(ApplicationRecord.load(application_id))


def send_down(application_id: str, certificate_number: str | None = None,
              now: datetime | None = None) -> dict[str, Any]:
    """下发: the higher level's result (the certificate `certificate_number`, or the refusal)
    comes back to the accepting region (hop RETURNED_DOWN, audited); after a certificate the
    accepting level's delivery clock starts. Once per round."""
    from yiwang.applications.status import Status
    from yiwang.deadlines import clocks

    now = now or datetime.now(UTC)
    record = ApplicationRecord.load(application_id)
    if not is_escalated(record):
        return {"escalated": False}
    round_ = _round_of(record)
    if _has_hop(record, DOWN, round_):
        return _answer(record)
    refused = record.status == Status.REJECTED
    hop = {"event": DOWN, "round": round_, "from": record.escalation["handledRegion"],
           "to": record.escalation["acceptingRegion"], "at": now.isoformat(),
           "outcome": "REJECTED" if refused else "APPROVED",
           **({"certificateNumber": certificate_number} if certificate_number else {})}
    _write_hop(record, hop, now)
    if not refused:
        clocks.start(record.pk, DELIVERY_CLOCK, kind=DELIVERY_CLOCK, subject=application_id,
                     department="WINDOW", step="送达", now=now,
                     working_days=DELIVER_WITHIN_DAYS,
                     context={"region": record.escalation["acceptingRegion"],
                              "side": ACCEPTING})
    return _answer(ApplicationRecord.load(application_id))


def delivered(record: ApplicationRecord, now: datetime) -> None:
    """The accepting level delivered an escalated case (handed over or received by post): its
    delivery clock stops. Nothing for any other case."""
    if is_escalated(record):
        from yiwang.deadlines import clocks

        clocks.stop(record.pk, DELIVERY_CLOCK, now, reason="DELIVERED")


def _write_hop(record: ApplicationRecord, hop: dict[str, Any], now: datetime,
               stop: ClockRecord | None = None) -> None:
    """The hop added to the escalation, its audit record and the clock it ends, in one
    transaction, conditional on the escalation as read (a concurrent hop: `Conflict`)."""
    from pynamodb.transactions import TransactWrite

    from yiwang.deadlines import clocks
    from yiwang.table.records import connection
    from yiwang.table.writes import write_if

    escalation = {**record.escalation, "hops": [*record.escalation.get("hops", []), hop]}
    detail = {"fromRegion": hop["from"], "toRegion": hop["to"], "round": hop["round"],
              "fromRegionName": tree.get(hop["from"]).name,
              "toRegionName": tree.get(hop["to"]).name,
              **({"attachments": [a["attachmentId"] for a in hop["attachments"]]}
                 if "attachments" in hop else {}),
              **({key: hop[key] for key in ("outcome", "certificateNumber") if key in hop})}

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(
                application_stub(record.application_id),
                actions=[ApplicationRecord.escalation.set(escalation)],
                condition=ApplicationRecord.escalation == record.escalation,
                add_version_condition=False)
            transaction.save(new_audit(record.application_id, "system", hop["event"], None,
                                       None, detail, now))
            clocks.stop_in(transaction, stop, now, reason=hop["event"])

    if not write_if(write):
        raise Conflict(f"the escalation of application {record.application_id} changed "
                       "meanwhile")


def _answer(record: ApplicationRecord) -> dict[str, Any]:
    """What the lifecycle's step gets back: small (no materials, no free text)."""
    return {"escalated": True, "at": where(record),
            "hops": len(record.escalation.get("hops", []))}


def _region(code: str) -> dict[str, Any]:
    region = tree.get(code)
    return {"code": region.code, "name": region.name, "level": region.level}


def side_of(clock_name: str) -> str | None:
    """Which level's step a clock of an escalated case times (None: the whole promise)."""
    if clock_name.startswith(_HANDLING_CLOCKS):
        return HANDLING
    if clock_name == "PROMISE":
        return None
    return ACCEPTING


def view(record: ApplicationRecord, clock_items: list[ClockRecord]
         ) -> dict[str, Any] | None:
    """The `escalation` block of the application view: both levels, where the case is now,
    each hop (with the materials that went up), and each level's step clocks."""
    if not is_escalated(record):
        return None
    escalation = record.escalation
    now_at = where(record)
    regions = {ACCEPTING: escalation["acceptingRegion"], HANDLING: escalation["handledRegion"]}
    return {
        "accepting": {**_region(regions[ACCEPTING]), "levels": escalation["acceptedAt"]},
        "handling": {**_region(regions[HANDLING]), "level": escalation["handledAt"]},
        "now": {"side": now_at, **_region(regions[now_at])},
        "hops": [{"event": hop["event"], "round": hop["round"], "from": hop["from"],
                  "to": hop["to"], "at": local_time(datetime.fromisoformat(hop["at"])),
                  **({"attachments": hop["attachments"]} if "attachments" in hop else {}),
                  **{key: hop[key] for key in ("outcome", "certificateNumber") if key in hop}}
                 for hop in escalation.get("hops", [])],
        "clocks": [{**clock.to_api(), "side": side,
                    "region": regions[side], "stoppedAt": local_time(clock.stopped_at)}
                   for clock in sorted(clock_items, key=lambda c: c.started_at)
                   if (side := side_of(clock.name)) is not None],
    }
