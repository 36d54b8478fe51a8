"""授权代办: a principal (a person, or a company through its staff) authorises an agent (a
person, by identity number) to apply for them — for every item or listed ones, until an expiry,
with the authorisation letter (授权委托书) uploaded beside it — and may revoke it at any time.

An agent's application carries both parties (the applicant is the principal; `agent` names the
agent and the authorisation); the principal finds it in their own list. The authority is checked
when the agent drafts, and again at every step the agent takes on the application
(`require_authority`): an expired or revoked authorisation, or an item outside its scope, stops
the step with `AuthorityEnded` / `OutsideAuthority` (403 problems with their own codes).

Records: pk=`AGENCY#<id>`, sk=`META`; ListIndex gsi1pk=`PRINCIPAL#<principal code>` (the
principal's authorisations, newest first). Each change is audited in its partition.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import ListAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.people.access import APPLICANT, Caller
from yiwang.platform import identity
from yiwang.platform.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from yiwang.table.records import ListIndex, TableMeta, connection, new_audit_for
from yiwang.table.writes import write_if

ACTIVE = "ACTIVE"
REVOKED = "REVOKED"
ALL_ITEMS = "ALL"
MAX_ITEMS = 50


class AuthorityEnded(Forbidden):
    """The agent's authorisation is revoked or expired: no further step in the principal's
    name."""

    code = "AGENT_AUTHORITY_ENDED"
    title = "The agent's authorisation has ended"


class OutsideAuthority(Forbidden):
    """No authorisation lets this agent apply for this principal (for this item)."""

    code = "AGENT_NOT_AUTHORISED"
    title = "The agent is not authorised for this"


class Authorisation(Model):
    """授权委托: one principal's authority given to one agent."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    authorisation_id = UnicodeAttribute(attr_name="authorisationId")
    principal_code = UnicodeAttribute(attr_name="principalCode")
    principal_name = UnicodeAttribute(attr_name="principalName")
    principal_sub = UnicodeAttribute(attr_name="principalSub")
    agent_id_number = UnicodeAttribute(attr_name="agentIdNumber")
    agent_name = UnicodeAttribute(attr_name="agentName")
    scope = ListAttribute(of=UnicodeAttribute)
    """`["ALL"]`, or the item codes the agent may apply for."""
    expires_at = UTCDateTimeAttribute(attr_name="expiresAt")
    letter_key = UnicodeAttribute(attr_name="letterKey")
    """The authorisation letter's S3 key (uploaded by the principal, presigned)."""
    status = UnicodeAttribute(default=ACTIVE)
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    revoked_at = UTCDateTimeAttribute(attr_name="revokedAt", null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_principal = ListIndex()

    @staticmethod
    def key(authorisation_id: str) -> str:
        return f"AGENCY#{authorisation_id}"

    def view(self, now: datetime | None = None) -> dict[str, Any]:
        """The authorisation as its principal sees it."""
        return {"id": self.authorisation_id, "principal": {"code": self.principal_code,
                                                           "name": self.principal_name},
                "agent": {"idNumber": self.agent_id_number, "name": self.agent_name},
                "scope": list(self.scope), "expiresAt": self.expires_at.isoformat(),
                "status": standing(self, now), "createdAt": self.created_at.isoformat(),
                "letterKey": self.letter_key}


def standing(record: Authorisation, now: datetime | None = None) -> str:
    """ACTIVE, REVOKED, or EXPIRED (past `expiresAt`, computed)."""
    if record.status != ACTIVE:
        return record.status
    return "EXPIRED" if record.expires_at <= (now or datetime.now(UTC)) else ACTIVE


def _principal(caller: Caller) -> str:
    caller.require(APPLICANT)
    code = caller.credit_code or caller.id_number
    if not code:
        raise Forbidden("your account carries no identity number or credit code")
    return code


def create(caller: Caller, payload: Any, now: datetime | None = None) -> Authorisation:
    """`POST /me/agents` `{"agent": {"idNumber", "name"}, "principalName", "scope",
    "expiresAt"}`: a new authorisation by the caller (the principal), audited. The letter is
    uploaded to `letter_key` (the route presigns the PUT)."""
    code = _principal(caller)
    now = now or datetime.now(UTC)
    agent, scope, expires, name = _parse(payload, now)
    if agent["idNumber"] == code:
        raise ValidationFailed([FieldError("agent.idNumber", "you cannot authorise yourself")])
    authorisation_id = f"SQ{now:%Y%m%d}{secrets.token_hex(6).upper()}"
    record = Authorisation(
        Authorisation.key(authorisation_id), "META", authorisation_id=authorisation_id,
        principal_code=code, principal_name=name, principal_sub=caller.sub,
        agent_id_number=agent["idNumber"], agent_name=agent["name"], scope=scope,
        expires_at=expires, letter_key=f"agency/{authorisation_id}/letter.pdf",
        created_at=now, gsi1pk=f"PRINCIPAL#{code}", gsi1sk=now.isoformat())
    audit = new_audit_for(record.pk, caller.sub, "AGENT_AUTHORISED", None, ACTIVE,
                          {"agent": identity.mask_identifier(agent["idNumber"]),
                           "scope": scope, "expiresAt": expires.isoformat()}, now)
    with TransactWrite(connection=connection()) as transaction:
        transaction.save(record, condition=Authorisation.pk.does_not_exist())
        transaction.save(audit)
    return record


def _parse(payload: Any, now: datetime) -> tuple[dict[str, str], list[str], datetime, str]:
    errors: list[FieldError] = []
    if not isinstance(payload, dict):
        raise ValidationFailed([FieldError("$", "the body must be a JSON object")])
    agent = payload.get("agent") if isinstance(payload.get("agent"), dict) else {}
    try:
        id_number = identity.validate_resident_id(str(agent.get("idNumber") or ""))
    except identity.InvalidIdentifier as error:
        errors.append(FieldError("agent.idNumber", str(error)))
        id_number = ""
    name = agent.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        errors.append(FieldError("agent.name", "the agent's name, 1 to 100 characters"))
    principal = payload.get("principalName")
    if not isinstance(principal, str) or not 1 <= len(principal) <= 100:
        errors.append(FieldError("principalName", "your name, 1 to 100 characters"))
    scope = payload.get("scope")
    if not (isinstance(scope, list) and 1 <= len(scope) <= MAX_ITEMS
            and all(isinstance(s, str) and 1 <= len(s) <= 64 for s in scope)):
        errors.append(FieldError("scope", f'["{ALL_ITEMS}"] or up to {MAX_ITEMS} item codes'))
    try:
        expires = datetime.fromisoformat(str(payload.get("expiresAt")))
        if expires.tzinfo is None:
            raise ValueError("no offset")
        if expires <= now:
            errors.append(FieldError("expiresAt", "must be in the future"))
    except ValueError:
        errors.append(FieldError("expiresAt", "an ISO 8601 time with its offset"))
        expires = now
    if errors:
        raise ValidationFailed(errors)
    return ({"idNumber": id_number, "name": str(name)}, list(dict.fromkeys(scope)),
            expires.astimezone(UTC), str(principal))


def load(authorisation_id: str) -> Authorisation:
    """The authorisation; `NotFound` if none."""
    try:
        return Authorisation.get(Authorisation.key(authorisation_id), "META",
                                 consistent_read=True)
    except Authorisation.DoesNotExist as missing:
        raise NotFound(f"no authorisation {authorisation_id}") from missing


def of_principal(caller: Caller) -> list[Authorisation]:
    """`GET /me/agents`: the caller's authorisations, newest first (one Query)."""
    code = _principal(caller)
    return list(Authorisation.by_principal.query(f"PRINCIPAL#{code}", scan_index_forward=False))


def revoke(caller: Caller, authorisation_id: str, now: datetime | None = None) -> Authorisation:
    """`POST /me/agents/{id}/revoke`: the principal ends the authority at once, audited."""
    code = _principal(caller)
    record = load(authorisation_id)
    if record.principal_code != code:
        raise NotFound(f"no authorisation {authorisation_id}")
    if record.status != ACTIVE:
        raise Conflict(f"authorisation {authorisation_id} is {record.status} already")
    now = now or datetime.now(UTC)
    audit = new_audit_for(record.pk, caller.sub, "AGENT_REVOKED", ACTIVE, REVOKED, None, now)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(record, actions=[Authorisation.status.set(REVOKED),
                                                Authorisation.revoked_at.set(now)],
                               condition=Authorisation.status == ACTIVE)
            transaction.save(audit)

    if not write_if(write):
        raise Conflict(f"authorisation {authorisation_id} changed meanwhile")
    record.status, record.revoked_at = REVOKED, now
    return record


def authorise(caller: Caller, principal_code: str, item_code: str, authorisation_id: Any,
              now: datetime | None = None) -> Authorisation:
    """The authorisation that lets `caller` (the agent) apply for `principal_code` for
    `item_code`; else `OutsideAuthority` or `AuthorityEnded`."""
    if not isinstance(authorisation_id, str) or not authorisation_id:
        raise OutsideAuthority("applying for someone else needs their authorisation "
                               "(agent.authorisationId)")
    try:
        record = load(authorisation_id)
    except NotFound:
        raise OutsideAuthority(f"no authorisation {authorisation_id} for you") from None
    if record.agent_id_number != caller.id_number or record.principal_code != principal_code:
        raise OutsideAuthority(f"authorisation {authorisation_id} is not for you and this "
                               "applicant")
    _in_force(record, now)
    if ALL_ITEMS not in record.scope and item_code not in record.scope:
        raise OutsideAuthority(f"authorisation {authorisation_id} does not cover {item_code}")
    return record


def _in_force(record: Authorisation, now: datetime | None) -> None:
    state = standing(record, now)
    if state != ACTIVE:
        raise AuthorityEnded(f"authorisation {record.authorisation_id} is {state.lower()}")


def require_authority(agent: dict[str, Any], caller: Caller,
                      now: datetime | None = None) -> None:
    """Before an agent's step on an application: their authorisation is still in force
    (`AuthorityEnded` otherwise). Steps by anyone else are not the agent's and pass."""
    if caller.sub != agent.get("sub"):
        return
    _in_force(load(str(agent["authorisationId"])), now)


SUBMIT = "submitApplication"
"""The agent's step whose authority is checked inside its own transaction (`in_force_check`),
not by a read before it: submitting stays within three sequential calls."""


def in_force_check(transaction: Any, agent: dict[str, Any] | None, caller: Caller,
                   now: datetime) -> bool:
    """Add to `transaction` the condition that the agent's authorisation is in force, when
    `caller` is the agent; whether one was added."""
    if not agent or caller.sub != agent.get("sub"):
        return False
    transaction.condition_check(
        Authorisation, Authorisation.key(str(agent["authorisationId"])), "META",
        condition=(Authorisation.status == ACTIVE) & (Authorisation.expires_at > now))
    return True


def why_refused(agent: dict[str, Any], caller: Caller, now: datetime) -> None:
    """After a transaction with `in_force_check` failed: `AuthorityEnded` if that was why."""
    require_authority(agent, caller, now)
