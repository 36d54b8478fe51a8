"""The access policy: for every operation of the API (openapi.yaml's operationIds), who may
call it and which relation to the resource they need. One table, consulted by the API before a
view runs (`permit`: the caller's role) and by the domain once the resource is read (`check`:
the caller's relation to it); the generated authorization test reads the same table.

Two answers, never mixed up:
- `Forbidden` (403) when the caller's role may not call the operation at all, whatever the
  resource (an applicant accepting a complaint) — decided before anything is read, so an
  unknown id answers the same;
- `NotFound` (404) when the role may call it but the caller has no relation to this resource
  (another citizen's complaint, another department's task) — the same answer as for an id that
  does not exist, so the answer never tells that a record exists.

A role that may call an operation with no relation at all (`NONE`) is answered 404 for every
resource: it may ask, but nothing of that kind is its to see.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from yiwang.people.access import ADMIN, APPLICANT, REVIEWER, ROLES, SUPERVISOR, WINDOW, Caller
from yiwang.platform.errors import Forbidden, NotFound

ANONYMOUS = "anonymous"
"""A caller without a bearer token."""
PROVIDER_WEBHOOK = "provider-webhook"
"""A payment, courier or SMS provider, authenticated by the HMAC signature of its callback."""


class Relation(StrEnum):
    """What the caller must be to the resource."""

    ANY = "any"
    """No resource, or any of its kind (a collection, a public read, a role's own queue)."""
    OWNER = "owner"
    """The person it is about: the applicant, complainant, rater or certificate holder."""
    ENTERED = "entered"
    """The window staff who entered it on the person's behalf."""
    HANDLING = "handling"
    """A reviewer of a department that handles it (once it has reached the department); of a
    task with handlers (经办人模式), its handler, or any handler while it waits to be claimed."""
    HEADING = "heading"
    """The head (科室负责人) of a department that handles it: oversees and reassigns (转交)."""
    STAFF = "staff"
    """Staff of a role that oversees every case of the kind, once it has reached the staff
    (window queue, supervisors, administrators)."""
    REGION = "region"
    """A supervisor whose region (their token's `region`, else the platform's default region)
    is one the resource lies in, or above it (行政区划: a county's supervisor sees the county and
    everything below it, a city's every county of the city)."""


NONE: frozenset[Relation] = frozenset()
"""May call the operation, but no resource of the kind is theirs (always 404)."""


@dataclass(frozen=True)
class Rule:
    """Who may call one operation: a role → the relations any of which lets them."""

    method: str
    path: str
    access: dict[str, frozenset[Relation]] = field(default_factory=dict)
    public: bool = False
    """No token needed: anyone, signed in or not, may call it."""
    webhook: bool = False
    """Authenticated by the provider's signature, not by a bearer token."""

    def roles(self) -> frozenset[str]:
        """The roles that may call the operation (whatever the resource)."""
        return frozenset(self.access)


@dataclass(frozen=True)
class Facts:
    """What the policy needs to know of one resource to decide a caller's relation to it."""

    owner_subs: frozenset[str] = frozenset()
    """The subjects (token `sub`) of the people it is about."""
    owner_codes: frozenset[str] = frozenset()
    """Their identity numbers or credit codes (an application entered at the window is the
    applicant's by their identity number)."""
    entered_by: str | None = None
    """The window staff who entered it on someone's behalf."""
    departments: frozenset[str] = frozenset()
    """The departments handling it now (none for an application not yet submitted)."""
    with_staff: bool = True
    """Whether it has reached the staff at all (an application: once submitted)."""
    handlers: frozenset[str] | None = None
    """A task of a department whose tasks have handlers (经办人模式): its handler, or none
    while it waits to be claimed. None: the whole department handles it."""
    regions: frozenset[str] = frozenset()
    """The regions it lies in (an application: its accepting region, and for an escalated one
    the higher level's as well: a set, so each level's supervisors see it). None named: the
    default region, as for records made before regions."""


def _roles(*roles: str, relations: Iterable[Relation] = (Relation.ANY,)
           ) -> dict[str, frozenset[Relation]]:
    return {role: frozenset(relations) for role in roles}


_ALL = tuple(sorted(ROLES))
_OWN = frozenset({Relation.OWNER})
_HANDLING = frozenset({Relation.HANDLING})
_STAFF = frozenset({Relation.STAFF})
_ENTERED = frozenset({Relation.ENTERED})
_HEADING = frozenset({Relation.HEADING})
_REGION = frozenset({Relation.REGION})

_READ_APPLICATION = {APPLICANT: _OWN, WINDOW: _ENTERED | _STAFF, REVIEWER: _HANDLING,
                     SUPERVISOR: _REGION, ADMIN: _STAFF}
"""An application: its applicant; the window staff who entered it, and the window queue once
submitted; its departments' reviewers once submitted; administrators once submitted;
supervisors, who watch over every stage, all of their region's (all of them but the applicant
and the handling staff see personal data masked). No other staff reads a draft."""
_APPLICANT_ACTS = {APPLICANT: _OWN, WINDOW: _ENTERED}
"""What only the applicant (or the window staff who entered the application) does."""
_COMPLAINT_DEPARTMENT = {REVIEWER: _HANDLING}
_ITEM_GOVERNANCE = {ADMIN: frozenset({Relation.ANY}), REVIEWER: _HANDLING}
"""A service item's versions and trail: the reform office, and its lead department."""
_SUPERVISORS = {SUPERVISOR: _REGION}
"""What only supervisors do to a resource: those of a region it lies in."""

POLICY: dict[str, Rule] = {
    "getHealth": Rule("GET", "/health", public=True),
    "devToken": Rule("POST", "/dev/token", public=True),
    "getMe": Rule("GET", "/me", _roles(*_ALL)),
    "getMyRegisterRecord": Rule("GET", "/me/register", _roles(APPLICANT)),
    "prefillForm": Rule("GET", "/items/{code}/prefill", _roles(APPLICANT)),
    "listItems": Rule("GET", "/items", public=True),
    # 事项管理: the reform office (审改部门, administrators) and the item's department (reviewers
    # of its lead department; a new item's lead must be their own) draft; the department
    # submits; the office publishes, returns and changes the standing (暂停、恢复、终止).
    "createItem": Rule("POST", "/items", _roles(ADMIN, REVIEWER)),
    "getItem": Rule("GET", "/items/{code}", public=True),
    "draftItemVersion": Rule("PUT", "/items/{code}", _ITEM_GOVERNANCE),
    "publishItem": Rule("POST", "/items/{code}/publish", _roles(ADMIN)),
    # The office's review queue; a department's own items in progress.
    "listItemReviews": Rule("GET", "/item-reviews", _roles(ADMIN, REVIEWER)),
    "getItemVersion": Rule("GET", "/items/{code}/versions/{version}", _ITEM_GOVERNANCE),
    "submitItemVersion": Rule("POST", "/items/{code}/versions/{version}/submit",
                              {REVIEWER: _HANDLING}),
    "publishItemVersion": Rule("POST", "/items/{code}/versions/{version}/publish",
                               _roles(ADMIN)),
    "returnItemVersion": Rule("POST", "/items/{code}/versions/{version}/return",
                              _roles(ADMIN)),
    "changeItemStanding": Rule("POST", "/items/{code}/standing", _roles(ADMIN)),
    "itemAudit": Rule("GET", "/items/{code}/audit", _ITEM_GOVERNANCE),
    "listDepartments": Rule("GET", "/departments", _roles(*_ALL)),
    "getDepartment": Rule("GET", "/departments/{code}", _roles(*_ALL)),
    "putDepartment": Rule("PUT", "/departments/{code}", _roles(ADMIN)),
    # 行政区划: the region tree, its service centres and departments, for every signed-in role.
    "listRegions": Rule("GET", "/regions", _roles(*_ALL)),
    "getRegion": Rule("GET", "/regions/{code}", _roles(*_ALL)),
    "createApplication": Rule("POST", "/applications", _roles(APPLICANT, WINDOW)),
    "listApplications": Rule("GET", "/applications", _roles(*_ALL)),
    "getApplication": Rule("GET", "/applications/{id}", _READ_APPLICATION),
    "requestAttachmentUpload": Rule("POST", "/applications/{id}/attachments", _APPLICANT_ACTS),
    "completeAttachmentUpload": Rule(
        "POST", "/applications/{id}/attachments/{attachmentId}/complete", _APPLICANT_ACTS),
    "submitApplication": Rule("POST", "/applications/{id}/submit", _APPLICANT_ACTS),
    # The window takes a supplement in at the counter for any application in its queue.
    "supplementApplication": Rule("POST", "/applications/{id}/supplement",
                                  {APPLICANT: _OWN, WINDOW: _ENTERED | _STAFF}),
    "waiveFee": Rule("POST", "/applications/{id}/fee-waiver", {ADMIN: _STAFF}),
    "recordPickup": Rule("POST", "/applications/{id}/pickup", {WINDOW: _STAFF}),
    "trackDelivery": Rule("GET", "/applications/{id}/delivery", _READ_APPLICATION),
    "rateApplication": Rule("POST", "/applications/{id}/rating", {APPLICANT: _OWN}),
    "listTasks": Rule("GET", "/tasks", _roles(WINDOW, REVIEWER)),
    # Pre-review tasks are the window's queue; review tasks their department's, or their
    # handler's (经办人模式: a head oversees and reassigns, and never decides in their place).
    "decideTask": Rule("POST", "/tasks/{taskId}/decision",
                       {WINDOW: _STAFF, REVIEWER: _HANDLING}),
    "claimTask": Rule("POST", "/tasks/{taskId}/claim", {REVIEWER: _HANDLING}),
    "reassignTask": Rule("POST", "/tasks/{taskId}/reassign", {REVIEWER: _HEADING}),
    # The holder; the issuing department; the window that hands it over; supervisors of its
    # case's region (the holder's identifiers masked).
    "getCertificate": Rule("GET", "/certificates/{number}",
                           {APPLICANT: _OWN, REVIEWER: _HANDLING, WINDOW: _STAFF,
                            SUPERVISOR: _REGION}),
    "verifyCertificate": Rule("POST", "/certificates/verify", public=True),
    # 证照库: the holder's own; a case's holder's for the staff who handle the case; the
    # standing decided by the issuing department's reviewers.
    "listMyCertificates": Rule("GET", "/me/certificates", _roles(APPLICANT)),
    "listCaseHolderCertificates": Rule("GET", "/applications/{id}/holder-certificates",
                                       {WINDOW: _ENTERED | _STAFF, REVIEWER: _HANDLING}),
    "changeCertificateStanding": Rule("POST", "/certificates/{number}/standing",
                                      {REVIEWER: _HANDLING}),
    # 免提交: what the library and register offer for a draft's materials, and choosing one.
    "listMaterialOffers": Rule("GET", "/applications/{id}/material-offers", _APPLICANT_ACTS),
    "referenceMaterial": Rule("POST", "/applications/{id}/material-references",
                              _APPLICANT_ACTS),
    # 授权代办: a principal's own authorisations.
    "authoriseAgent": Rule("POST", "/me/agents", _roles(APPLICANT)),
    "listAgents": Rule("GET", "/me/agents", _roles(APPLICANT)),
    "revokeAgent": Rule("POST", "/me/agents/{authorisationId}/revoke", _roles(APPLICANT)),
    # 一件事一次办: themes are public reads, defined by administrators; a theme case is read
    # as its applications are (its applicant, the window that entered it, and overseers once
    # submitted) and handed over by the window at once.
    "listThemes": Rule("GET", "/themes", public=True),
    "createTheme": Rule("POST", "/themes", _roles(ADMIN)),
    "getTheme": Rule("GET", "/themes/{code}", public=True),
    "putTheme": Rule("PUT", "/themes/{code}", _roles(ADMIN)),
    "createThemeCase": Rule("POST", "/themes/{code}/applications", _roles(APPLICANT, WINDOW)),
    "listThemeCases": Rule("GET", "/theme-cases", _roles(APPLICANT)),
    "getThemeCase": Rule("GET", "/theme-cases/{id}",
                         {APPLICANT: _OWN, WINDOW: _ENTERED | _STAFF,
                          SUPERVISOR: _REGION, ADMIN: _STAFF}),
    "submitThemeCase": Rule("POST", "/theme-cases/{id}/submit", _APPLICANT_ACTS),
    "recordThemePickup": Rule("POST", "/theme-cases/{id}/pickup", {WINDOW: _STAFF}),
    "dueDate": Rule("GET", "/calendar/due", public=True),
    "getCalendarYear": Rule("GET", "/calendar/{year}", public=True),
    "putCalendarYear": Rule("PUT", "/calendar/{year}", _roles(ADMIN)),
    "paymentWebhook": Rule("POST", "/webhooks/payment", webhook=True),
    "courierWebhook": Rule("POST", "/webhooks/courier", webhook=True),
    "registerComplaint": Rule("POST", "/complaints", _roles(*_ALL)),
    "listComplaints": Rule("GET", "/complaints", _roles(REVIEWER, SUPERVISOR)),
    # Anyone signed in may ask for a complaint; only the complainant (or the window staff who
    # took it down), the handling department and supervisors are shown one.
    "getComplaint": Rule("GET", "/complaints/{id}",
                         {APPLICANT: _OWN, WINDOW: _ENTERED, REVIEWER: _HANDLING,
                          SUPERVISOR: _REGION, ADMIN: NONE}),
    "acceptComplaint": Rule("POST", "/complaints/{id}/accept", _COMPLAINT_DEPARTMENT),
    "returnComplaint": Rule("POST", "/complaints/{id}/return", _COMPLAINT_DEPARTMENT),
    "extendComplaint": Rule("POST", "/complaints/{id}/extend", _COMPLAINT_DEPARTMENT),
    "resolveComplaint": Rule("POST", "/complaints/{id}/resolve", _COMPLAINT_DEPARTMENT),
    "routeComplaint": Rule("POST", "/complaints/{id}/route", _SUPERVISORS),
    "gradeComplaint": Rule("POST", "/complaints/{id}/urgency", _SUPERVISORS),
    "rejectComplaint": Rule("POST", "/complaints/{id}/reject", _SUPERVISORS),
    "mergeComplaint": Rule("POST", "/complaints/{id}/merge", _SUPERVISORS),
    # Phone and visit complainants are revisited by the window staff who took them down.
    "revisitComplaint": Rule("POST", "/complaints/{id}/revisit",
                             {APPLICANT: _OWN, WINDOW: _ENTERED}),
    # 无效投诉建议 (art. 32 (六)) is the handling department's finding; a supervisor decides
    # the department's one extension request (art. 32 (五)) and concludes an escalated one.
    "invalidateComplaint": Rule("POST", "/complaints/{id}/invalid", _COMPLAINT_DEPARTMENT),
    "decideComplaintExtension": Rule("POST", "/complaints/{id}/extension", _SUPERVISORS),
    "concludeComplaint": Rule("POST", "/complaints/{id}/conclude", _SUPERVISORS),
    "supervisionCards": Rule("GET", "/supervision/cards", _roles(SUPERVISOR, ADMIN)),
    "accessLog": Rule("GET", "/supervision/access-log", _roles(SUPERVISOR, ADMIN)),
    # 督办: supervisors urge; the urged department reads and replies.
    "createUrging": Rule("POST", "/supervision/urgings", _roles(SUPERVISOR)),
    "listUrgings": Rule("GET", "/supervision/urgings", _roles(REVIEWER, SUPERVISOR)),
    "getUrging": Rule("GET", "/supervision/urgings/{id}",
                      {REVIEWER: _HANDLING, SUPERVISOR: _REGION}),
    "replyUrging": Rule("POST", "/supervision/urgings/{id}/reply", {REVIEWER: _HANDLING}),
    # 效能: every department's scores for supervisors and administrators, a department's own
    # for its reviewers, who appeal its findings; supervisors decide the appeals.
    "performanceScores": Rule("GET", "/supervision/scores",
                              _roles(REVIEWER, SUPERVISOR, ADMIN)),
    # (The finding is named in the body: the domain checks it is the caller's department's.)
    "appealScore": Rule("POST", "/supervision/scores/appeals", _roles(REVIEWER)),
    "decideScoreAppeal": Rule("POST", "/supervision/scores/appeals/{id}/decision",
                              _SUPERVISORS),
    "applicationStats": Rule("GET", "/stats/applications",
                             _roles(WINDOW, REVIEWER, SUPERVISOR, ADMIN)),
    "listRatings": Rule("GET", "/ratings", _roles(REVIEWER, SUPERVISOR, ADMIN)),
    "getRating": Rule("GET", "/ratings/{id}",
                      {APPLICANT: _OWN, REVIEWER: _HANDLING, SUPERVISOR: _REGION,
                       ADMIN: _STAFF}),
    "verifyRating": Rule("POST", "/ratings/{id}/verify", {REVIEWER: _HANDLING}),
    "invalidateRating": Rule("POST", "/ratings/{id}/invalidate", {ADMIN: _STAFF}),
    "rectifyRating": Rule("POST", "/ratings/{id}/rectify", {REVIEWER: _HANDLING}),
    "extendRating": Rule("POST", "/ratings/{id}/extend", {REVIEWER: _HANDLING}),
    # 回访 is the managing office's (art. 37 (四)), never the rated department's.
    "revisitRating": Rule("POST", "/ratings/{id}/revisit",
                          {SUPERVISOR: _REGION, ADMIN: _STAFF}),
    # 告知: everyone reads and marks their own notices (a notice not theirs is 404).
    "listMyNotices": Rule("GET", "/me/notices", _roles(*_ALL)),
    "markNoticesRead": Rule("POST", "/me/notices/read", _roles(*_ALL)),
    "markNoticeRead": Rule("POST", "/me/notices/{noticeId}/read", _roles(*_ALL)),
    "listFailedSms": Rule("GET", "/sms/failed", _roles(SUPERVISOR, ADMIN)),
    "smsWebhook": Rule("POST", "/webhooks/sms", webhook=True),
}


def rule(operation_id: str) -> Rule:
    """The operation's rule; a `KeyError` for an operation the policy does not know (every
    operation must have one: an unknown one is a programming error, never allowed)."""
    return POLICY[operation_id]


def operation_at(method: str, path: str) -> str | None:
    """The operationId of the route `method path`, if any; the path is a template whose
    parameters may be named differently from openapi.yaml's (`{application_id}`, `{id}`)."""
    return _BY_ROUTE.get((method.upper(), _template(path)))


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


_BY_ROUTE = {(r.method, _template(r.path)): operation for operation, r in POLICY.items()}


def permit(operation_id: str, caller: Caller) -> Caller:
    """The caller, if their role may call the operation at all; otherwise `Forbidden`."""
    if caller.role not in rule(operation_id).access:
        raise Forbidden(f"role '{caller.role}' may not {operation_id}")
    return caller


def relations(caller: Caller, facts: Facts) -> frozenset[Relation]:
    """Every relation the caller has to the resource `facts` describe."""
    held = {Relation.ANY}
    codes = set(caller.applicant_codes)
    if caller.sub in facts.owner_subs or codes & facts.owner_codes:
        held.add(Relation.OWNER)
    if caller.role == WINDOW and facts.entered_by == caller.sub:
        held.add(Relation.ENTERED)
    if facts.with_staff and caller.role == REVIEWER and caller.dept in facts.departments:
        held |= _reviewer_relations(caller, facts.handlers)
    if facts.with_staff and caller.is_staff:
        held.add(Relation.STAFF)
    if caller.role == SUPERVISOR and in_scope(caller, facts.regions or {None}):
        held.add(Relation.REGION)
    return frozenset(held)


def _reviewer_relations(caller: Caller, handlers: frozenset[str] | None
                        ) -> set[Relation]:
    """A reviewer of a department that handles it: the department handles it as one, or (经办人
    模式) its handler does — anyone but the head while nobody has it yet — and the head heads."""
    held = {Relation.HEADING} if caller.is_head else set()
    if handlers is None or caller.sub in handlers or not (handlers or caller.is_head):
        held.add(Relation.HANDLING)
    return held
def scope_of(caller: Caller) -> str | None:
    """The region a caller oversees (辖区): a supervisor's token region, else the platform's
    default region (never everything); None (the whole platform) for anyone else."""
    if caller.role != SUPERVISOR:
        return None
    from yiwang.regions import tree

    return caller.region or tree.default_region()


def in_scope(caller: Caller, regions: Iterable[str | None]) -> bool:
    """Whether any of `regions` (None: a record made before regions, in the default region)
    lies in the caller's scope (`scope_of`; always, for a caller with no region scope)."""
    scope = scope_of(caller)
    if scope is None:
        return True
    from yiwang.regions import tree

    return any(tree.within(region or tree.default_region(), scope) for region in regions)


def allows(operation_id: str, caller: Caller, facts: Facts) -> bool:
    """Whether the caller may call the operation on the resource `facts` describe."""
    needed = rule(operation_id).access.get(caller.role)
    return needed is not None and bool(needed & relations(caller, facts))


def check(operation_id: str, caller: Caller, facts: Facts, missing: NotFound) -> Caller:
    """The caller, if they may call the operation on this resource. `Forbidden` if their role
    may not call it at all; `missing` (what an unknown id raises) if it is not theirs."""
    permit(operation_id, caller)
    if not allows(operation_id, caller, facts):
        raise missing
    return caller
