"""Every write action of the portal, as data: how to make the request as each role, what must happen.

An action is one (URL name, HTTP method) of the URL resolver that changes state, or could: each web
form post and each POST/PUT/PATCH/DELETE of the REST API. The matrix (ACTIONS × ROLES) says, for
every role, the status and (for a refusal) the error code; an allowed request must also make its
state change (`effect`), a refused one must change nothing (tests/security/test_authorization_matrix.py).

Authority:
    session    the signed-in user (Django session) is the actor
    signature  an EIP-712 / EIP-191 signature is the authority: the role is the SIGNER, the request
               carries no session
    open       anyone (sign-in itself, a non-mutating template builder)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from proposals.lifecycle import ProposalStatus as S

from .conftest import ROLES, World, sign_typed, vote_typed


@dataclass(frozen=True)
class Outcome:
    status: int
    code: str | None = None  # the error code of a refusal

    @property
    def allowed(self) -> bool:
        return self.status < 400 and self.code is None


def ok(status: int) -> Outcome:
    return Outcome(status)


def no(status: int, code: str) -> Outcome:
    return Outcome(status, code)


def only(allowed_roles: dict[str, Outcome], refused: Outcome, anonymous: Outcome | None = None
         ) -> dict[str, Outcome]:
    """The full row: `allowed_roles` as given, every other role refused (anonymous may differ)."""
    row = {role: allowed_roles.get(role, refused) for role in ROLES}
    if anonymous is not None and "anonymous" not in allowed_roles:
        row["anonymous"] = anonymous
    return row


def everyone(outcome: Outcome) -> dict[str, Outcome]:
    return {role: outcome for role in ROLES}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Any = None
    format: str = "json"  # json | form


@dataclass(frozen=True)
class Action:
    name: str
    route: str  # URL name (namespace:name)
    method: str
    authority: str  # session | signature | open
    web: bool  # an HTML form post (else the JSON API)
    expect: dict[str, Outcome]
    request: Callable[[World, str], Request]
    #: The state change an allowed request makes: effect(before, after, world, client) asserts it.
    effect: Callable[..., None]
    #: Where the error object of a refusal is in the JSON reply (batch votes answer 200 per item).
    error_of: Callable[[Any], Any] = field(default=lambda body: body.get("error"))


def send(client: Any, req: Request) -> Any:
    """Make `req` with a Django test client."""
    call = getattr(client, req.method.lower())
    if req.format == "form":
        return call(req.path, req.body or {})
    return call(req.path, json.dumps(req.body if req.body is not None else {}), content_type="application/json")


# --------------------------------------------------------------------------- effects


def grows(**deltas: int) -> Callable[..., None]:
    def check(before: dict[str, Any], after: dict[str, Any], world: World, client: Any) -> None:
        for name, delta in deltas.items():
            assert after[name] - before[name] == delta, f"{name}: {before[name]} -> {after[name]}, expected +{delta}"
    return check


def moves(proposal: str, target: str) -> Callable[..., None]:
    def check(before: dict[str, Any], after: dict[str, Any], world: World, client: Any) -> None:
        from proposals.models import Proposal

        assert Proposal.objects.get(number=world.number(proposal)).status == target
        assert after["StatusChange"] == before["StatusChange"] + 1
    return check


def unchanged(before: dict[str, Any], after: dict[str, Any], world: World, client: Any) -> None:
    assert after == before


def signed_out(before: dict[str, Any], after: dict[str, Any], world: World, client: Any) -> None:
    assert after == before
    assert "_auth_user_id" not in client.session


def signed_in(before: dict[str, Any], after: dict[str, Any], world: World, client: Any) -> None:
    assert after["nonces_used"] == before["nonces_used"] + 1
    assert client.session.get("_auth_user_id") is not None


# --------------------------------------------------------------------------- requests


def _url(name: str, *args: Any) -> str:
    from django.urls import reverse

    return reverse(name, args=args)


def _proposal(world: World, name: str) -> Any:
    from proposals.models import Proposal

    return Proposal.objects.get(number=world.number(name))


def create_api(world: World, role: str) -> Request:
    return Request("POST", _url("proposals-api:list"),
                   {"title": "A new proposal", "body": "Body.", "kind": "informational", "payload": {}})


def create_web(world: World, role: str) -> Request:
    return Request("POST", _url("proposals:create"), {"kind": "informational", "title": "A new proposal",
                                                        "body": "Body."}, "form")


def edit_api(world: World, role: str) -> Request:
    return Request("PATCH", _url("proposals-api:detail", world.number("draft")), {"body": "Edited body."})


def edit_web(world: World, role: str) -> Request:
    return Request("POST", _url("proposals:edit", world.number("draft")),
                   {"kind": "process", "title": "The draft proposal", "body": "Edited body.", "note": "edit"}, "form")


def transition(proposal: str, target: str, web: bool) -> Callable[[World, str], Request]:
    def build(world: World, role: str) -> Request:
        if web:
            return Request("POST", _url("proposals:transition", world.number(proposal)), {"to": target}, "form")
        return Request("POST", _url("proposals-api:transition", world.number(proposal)), {"to": target})
    return build


def document_api(world: World, role: str) -> Request:
    return Request("POST", _url("archive-api:documents"),
                   {"title": "Minutes", "category": "minutes", "date": "2026-11-24", "text": "# Minutes"})


def document_web(world: World, role: str) -> Request:
    return Request("POST", _url("archive:document_new"),
                   {"title": "Minutes", "category": "minutes", "date": "2026-11-24", "text": "# Minutes"}, "form")


def nonce(world: World, role: str) -> Request:
    return Request("POST", _url("accounts:nonce"), {"address": world.address(role)})


def login_body(world: World, role: str, signer: str | None = None) -> dict[str, Any]:
    """A sign-in message issued for `role`'s address, signed by `signer` (default: the role itself)."""
    from accounts import services

    issued = services.issue_sign_in_message(world.address(role))
    signature = Account.sign_message(encode_defunct(text=issued.message), world.keys[signer or role])
    return {"message": issued.message, "signature": signature.signature.to_0x_hex()}


def login(world: World, role: str) -> Request:
    return Request("POST", _url("accounts:login"), login_body(world, role))


def logout(world: World, role: str) -> Request:
    return Request("POST", _url("accounts:logout"))


def endorsement_body(world: World, role: str, signer: str | None = None) -> dict[str, Any]:
    from proposals import selectors

    typed = selectors.endorsement_template(_proposal(world, "endorsement"), world.address(role))
    return {"typed_data": typed, "signature": sign_typed(world.keys[signer or role], typed)}


def endorse(world: World, role: str) -> Request:
    return Request("POST", _url("proposals-api:endorsements", world.number("endorsement")),
                   endorsement_body(world, role))


def review_body(world: World, role: str, signer: str | None = None) -> dict[str, Any]:
    from proposals import selectors

    typed = selectors.review_template(_proposal(world, "review"), world.address(role), True, "Checked the hashes.")
    return {"typed_data": typed, "signature": sign_typed(world.keys[signer or role], typed)}


def review(world: World, role: str) -> Request:
    return Request("POST", _url("proposals-api:reviews", world.number("review")), review_body(world, role))


def vote_body(world: World, role: str, signer: str | None = None) -> dict[str, Any]:
    typed = vote_typed(world, signer or role, voter_role=role)
    return {"typed_data": typed, "signature": sign_typed(world.keys[signer or role], typed)}


def vote(world: World, role: str) -> Request:
    return Request("POST", _url("voting-api:cast"), vote_body(world, role))


def vote_for_proposal(world: World, role: str) -> Request:
    return Request("POST", _url("voting-api:cast-for-proposal", world.number("voting")), vote_body(world, role))


def vote_batch(world: World, role: str) -> Request:
    return Request("POST", _url("voting-api:batch"), {"votes": [vote_body(world, role)]})


def snapshot_body(world: World, role: str, signer: str | None = None) -> dict[str, Any]:
    """What snapshot.js Client712.vote POSTs (see tests/voting/test_snapshot.py)."""
    from voting import services

    types = {"Vote": [{"name": "from", "type": "string"}, {"name": "space", "type": "string"},
                      {"name": "timestamp", "type": "uint64"}, {"name": "proposal", "type": "string"},
                      {"name": "choice", "type": "uint32"}, {"name": "reason", "type": "string"},
                      {"name": "app", "type": "string"}, {"name": "metadata", "type": "string"}]}
    domain = {"name": "snapshot", "version": "0.1.4"}
    message = {"from": world.address(role), "space": services.snapshot_space(), "timestamp": int(time.time()) + 1,
               "proposal": str(world.number("voting")), "choice": 1, "reason": "", "app": "snapshot",
               "metadata": "{}"}
    sig = Account.sign_typed_data(world.keys[signer or role], domain, types, message).signature.to_0x_hex()
    return {"address": world.address(role), "sig": sig, "data": {"domain": domain, "types": types,
                                                                  "message": message}}


def vote_snapshot(world: World, role: str) -> Request:
    return Request("POST", _url("voting-api:snapshot"), snapshot_body(world, role))


def veto_body(world: World, role: str, signer: str | None = None) -> dict[str, Any]:
    from execution import vetoes

    typed = vetoes.veto_template(world.number("queued"), world.address(role), "The upgrade is unsafe.")
    return {"typed_data": typed, "signature": sign_typed(world.keys[signer or role], typed)}


def veto(world: World, role: str) -> Request:
    return Request("POST", _url("execution-api:veto", world.number("queued")), veto_body(world, role))


def statement_body(world: World, role: str, signer: str | None = None) -> dict[str, Any]:
    from delegation import services

    typed = services.statement_template(world.address(role), display_name=f"The {role}",
                                        statement="I read every proposal.", interests=[], links=[])
    return {"typed_data": typed, "signature": sign_typed(world.keys[signer or role], typed)}


def statement(world: World, role: str) -> Request:
    return Request("POST", _url("delegation-api:statement-list"), statement_body(world, role))


def statement_template(world: World, role: str) -> Request:
    return Request("POST", _url("delegation-api:statement-template"),
                   {"delegate": world.address(role), "display_name": "Me", "statement": "Hello.", "interests": [],
                    "links": []})


def relay_body(world: World, role: str, signer: str | None = None) -> dict[str, Any]:
    from delegation import services

    typed = services.delegation_template(world.address(role), world.address("core_dev"))
    return {"holder": world.address(role), "typed_data": typed,
            "signature": sign_typed(world.keys[signer or role], typed)}


def relay(world: World, role: str) -> Request:
    return Request("POST", _url("delegation-api:relay-list"), relay_body(world, role))


# --------------------------------------------------------------------------- the matrix

def _signed_in(status: int) -> dict[str, Outcome]:
    return {role: ok(status) for role in ROLES if role != "anonymous"}


def _transitions() -> list[Action]:
    """The lifecycle's user transitions (API and web form), and system/core-developer edges no session may take."""
    rows = [
        # name, proposal, target, who may (role -> outcome)
        ("open discussion (author)", "draft", S.DISCUSSION, "author"),
        ("withdraw (author)", "draft", S.WITHDRAWN, "author"),
        ("start endorsement (staff)", "discussion", S.ENDORSEMENT, "staff"),
        ("open voting (system only)", "endorsement", S.VOTING, None),
        ("send back to discussion (signed review only)", "review", S.DISCUSSION, None),
    ]
    actions = []
    for label, proposal, target, role in rows:
        for web in (False, True):
            allowed = {role: ok(302 if web else 200)} if role else {}
            actions.append(Action(
                name=f"{'web' if web else 'api'}: transition {proposal} → {target}: {label}",
                route="proposals:transition" if web else "proposals-api:transition", method="POST",
                authority="session", web=web,
                expect=only(allowed, no(403, "transition_not_permitted"), anonymous=no(401, "not_authenticated")),
                request=transition(proposal, target, web), effect=moves(proposal, target)))
    return actions


ACTIONS: list[Action] = [
    # ---- proposals (session)
    Action("api: submit a proposal", "proposals-api:list", "POST", "session", False,
           {"anonymous": no(401, "not_authenticated"), **_signed_in(201)}, create_api, grows(Proposal=1, Revision=1)),
    Action("web: submit a proposal", "proposals:create", "POST", "session", True,
           {"anonymous": no(403, "not_authenticated"), **_signed_in(302)}, create_web, grows(Proposal=1, Revision=1)),
    Action("api: edit a proposal", "proposals-api:detail", "PATCH", "session", False,
           only({"author": ok(200)}, no(403, "not_author"), anonymous=no(401, "not_authenticated")),
           edit_api, grows(Revision=1)),
    Action("web: edit a proposal", "proposals:edit", "POST", "session", True,
           only({"author": ok(302)}, no(403, "not_author"), anonymous=no(403, "not_authenticated")),
           edit_web, grows(Revision=1)),
    *_transitions(),
    # ---- proposals (signed)
    Action("api: endorse (signed Endorsement)", "proposals-api:endorsements", "POST", "signature", False,
           only({"holder": ok(201)}, no(403, "no_voting_power")), endorse, grows(Endorsement=1)),
    Action("api: technical review (signed TechnicalReview)", "proposals-api:reviews", "POST", "signature", False,
           only({"core_dev": ok(201)}, no(403, "not_core_developer")), review, grows(TechnicalReview=1)),
    # ---- voting (signed)
    Action("api: vote (signed Vote)", "voting-api:cast", "POST", "signature", False,
           only({"holder": ok(201)}, no(403, "zero_voting_power")), vote, grows(Vote=1)),
    Action("api: vote on this proposal (signed Vote)", "voting-api:cast-for-proposal", "POST", "signature", False,
           only({"holder": ok(201)}, no(403, "zero_voting_power")), vote_for_proposal, grows(Vote=1)),
    Action("api: vote, Snapshot envelope", "voting-api:snapshot", "POST", "signature", False,
           only({"holder": ok(200)}, no(403, "zero_voting_power")), vote_snapshot, grows(Vote=1)),
    # The batch answers 200 with one result per vote: a refused vote is {ok: false, error}.
    Action("api: batch of votes", "voting-api:batch", "POST", "signature", False,
           only({"holder": ok(200)}, no(200, "zero_voting_power")), vote_batch, grows(Vote=1),
           error_of=lambda body: None if body["results"][0]["ok"] else body["results"][0]["error"]),
    # ---- execution (signed)
    Action("api: council veto (signed Veto)", "execution-api:veto", "POST", "signature", False,
           only({"council": ok(201)}, no(403, "not_council_member")), veto, grows(VetoSignature=1)),
    # ---- delegation (signed: an address speaks for itself)
    Action("api: publish a delegate statement (signed)", "delegation-api:statement-list", "POST", "signature", False,
           everyone(ok(201)), statement, grows(DelegateStatement=1)),
    Action("api: relay a signed delegateBySig", "delegation-api:relay-list", "POST", "signature", False,
           only({"holder": ok(202)}, no(400, "no_balance")), relay, grows(RelayedDelegation=1)),
    Action("api: build a statement to sign (no state)", "delegation-api:statement-template", "POST", "open", False,
           everyone(ok(200)), statement_template, unchanged),
    # ---- archive (session, staff)
    Action("api: publish a Foundation document", "archive-api:documents", "POST", "session", False,
           only({"staff": ok(201)}, no(403, "archive_staff_only")), document_api, grows(Document=1)),
    Action("web: publish a Foundation document", "archive:document_new", "POST", "session", True,
           only({"staff": ok(302)}, no(403, "archive_staff_only")), document_web, grows(Document=1)),
    # ---- accounts (open: sign-in is how a session gets its role)
    Action("api: sign-in nonce", "accounts:nonce", "POST", "open", False, everyone(ok(200)), nonce,
           grows(SignInNonce=1)),
    Action("api: sign in (signed EIP-4361)", "accounts:login", "POST", "signature", False, everyone(ok(200)), login,
           signed_in),
    Action("api: sign out", "accounts:logout", "POST", "open", False, everyone(ok(204)), logout, signed_out),
]

#: Signed actions: body builders taking (world, named role, signer role), and the role they allow.
SIGNED_BODIES: dict[str, tuple[Callable[..., dict[str, Any]], str, Callable[[World], str], str]] = {
    # name: (body(world, role, signer), allowed role, path(world), refusal code for a wrong signer)
    "endorse": (endorsement_body, "holder", lambda w: _url("proposals-api:endorsements", w.number("endorsement")),
                "signer_mismatch"),
    "review": (review_body, "core_dev", lambda w: _url("proposals-api:reviews", w.number("review")),
               "signer_mismatch"),
    "vote": (vote_body, "holder", lambda w: _url("voting-api:cast"), "signer_mismatch"),
    "vote-for-proposal": (vote_body, "holder", lambda w: _url("voting-api:cast-for-proposal", w.number("voting")),
                          "signer_mismatch"),
    "snapshot": (snapshot_body, "holder", lambda w: _url("voting-api:snapshot"), "signer_mismatch"),
    "veto": (veto_body, "council", lambda w: _url("execution-api:veto", w.number("queued")), "signer_mismatch"),
    "statement": (statement_body, "staff", lambda w: _url("delegation-api:statement-list"), "signer_mismatch"),
    "relay": (relay_body, "holder", lambda w: _url("delegation-api:relay-list"), "signer_mismatch"),
    "login": (login_body, "staff", lambda w: _url("accounts:login"), "signer_mismatch"),
}

#: Plain (non-DRF) pages that only read: each refuses every write method with 405 (require_safe: GET and HEAD only).
#: Any other view that answers a write method must be a row of the matrix (the route check).
READ_PAGES: dict[str, str] = {
    "home": "home page",
    "healthz": "health report",
    "voting:page": "vote page (the vote itself is a signed API call)",
    "voting:results-fragment": "results fragment",
    "delegation:directory": "delegate directory",
    "delegation:mine": "my delegation page (delegating is a wallet transaction)",
    "delegation:statement": "statement editor (publishing is the signed API call)",
    "delegation:detail": "delegate page",
    "execution:status": "operators' status page (staff read)",
    "execution:proposal": "execution page (the veto is the signed API call)",
    "execution:panel": "execution panel fragment",
}
