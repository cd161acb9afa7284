"""Fixtures of the portal-wide tests: a seeded portal (real chain state, indexed; proposals in Draft,
Endorsement and Voting; votes; a delegate statement; a Foundation document; archive entries)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from eth_account import Account
from eth_account.messages import encode_defunct

from accounts.models import User
from archive.models import ArchiveEntry
from archive.services import publish_document
from archive.testing import archive_flushable  # noqa: F401 - autouse: lets flushes empty the archive
from chain.deploy import TOKEN_UNIT
from chain.signing import typed_data_for
from delegation import directory
from delegation import services as delegation_services
from proposals import selectors as proposal_selectors
from proposals import services as proposal_services
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Proposal
from voting import services as voting_services

#: Dev account -> tokens minted; each self-delegates except 7 (delegates to 6) and 9 (never delegates).
HOLDINGS = {3: 100, 4: 300, 5: 200, 6: 400, 7: 50, 9: 70}
DELEGATE_TO = {3: 3, 4: 4, 5: 5, 6: 6, 7: 6}
def _sign_typed(key: str, typed: dict[str, Any]) -> str:
    return Account.sign_typed_data(key, full_message=typed).signature.to_0x_hex()


@dataclass
class Seeded:
    """The seeded objects, and the values of path parameters that name them."""

    chain: Any
    author: User
    staff: User
    draft: Proposal
    grant: Proposal
    voting: Proposal
    path: dict[str, list[Any]] = field(default_factory=dict)
    addresses: list[str] = field(default_factory=list)


def _index_chain() -> None:
    from chain.indexer import follow_once

    result = follow_once(respect_backoff=False)
    assert result["status"] == "ok", result


def seed_state(chain: Any) -> Seeded:
    token = chain.token
    indices = sorted(HOLDINGS)
    chain.send(token.functions.mintBatch([chain.address(i) for i in indices],
                                         [HOLDINGS[i] * TOKEN_UNIT for i in indices]), 0)
    for holder, delegate in DELEGATE_TO.items():
        chain.send(token.functions.delegate(chain.address(delegate)), holder)
    chain.mine(1)
    _index_chain()

    author = User.objects.for_address(chain.address(4))
    staff = User.objects.for_address(chain.address(8))
    staff.is_staff = True
    staff.save()

    def create(title: str, kind: str = ProposalKind.PROCESS, payload: dict | None = None):
        return proposal_services.create_proposal(author, title=title, body="Why and how.\n\n* one", kind=kind,
                                                 payload=payload or {})

    draft = create("A draft")
    grant = create("A treasury grant", ProposalKind.TREASURY_GRANT, {"recipient": "0x" + "12" * 20, "amount": "5"})
    proposal_services.user_transition(grant.number, ProposalStatus.DISCUSSION, author)
    proposal_services.user_transition(grant.number, ProposalStatus.ENDORSEMENT, staff)
    voting = create("To the vote")
    proposal_services.user_transition(voting.number, ProposalStatus.DISCUSSION, author)
    proposal_services.user_transition(voting.number, ProposalStatus.ENDORSEMENT, staff)
    voting.refresh_from_db()
    typed = proposal_selectors.endorsement_template(voting, chain.address(6))
    proposal_services.endorse(voting.number, typed, _sign_typed(chain.key(6), typed))
    voting.refresh_from_db()
    assert voting.status == ProposalStatus.VOTING, voting.status

    vote_ids = []
    for index, support in ((3, 1), (4, 0), (6, 2)):
        vote = typed_data_for("Vote", {"proposalId": voting.number, "voter": chain.address(index), "support": support,
                                       "reason": f"Reason {index}", "timestamp": int(time.time())})
        vote_ids.append(voting_services.cast_vote(vote, _sign_typed(chain.key(index), vote)).vote.id)

    statement = delegation_services.statement_template(chain.address(4), display_name="Fuzzy Delegate",
                                                       statement="I vote carefully.", interests=["governance"],
                                                       links=["https://example.org/fuzzy"])
    delegation_services.publish_statement(statement, _sign_typed(chain.key(4), statement))
    directory.refresh_all()

    document = publish_document(staff, title="Charter", category="policy", date="2026-01-02",
                                text="# The charter\n\nText.")
    sequences = list(ArchiveEntry.objects.order_by("sequence").values_list("sequence", flat=True))
    assert len(sequences) >= 5 and document.pk

    return Seeded(
        chain=chain, author=author, staff=staff, draft=draft, grant=grant, voting=voting,
        path={"number": [draft.number, grant.number, voting.number], "vote_id": vote_ids,
              "address": [chain.address(4), chain.address(6)], "sequence": [sequences[0], sequences[-1]],
              "id": [document.pk]},
        addresses=[chain.address(i) for i in (4, 6, 7, 8)],
    )


def sign_in_cookies(address_key: str) -> dict[str, str]:
    """Session and CSRF cookies of a real wallet sign-in (POST /accounts/nonce, /accounts/login)."""
    client = Client(enforce_csrf_checks=True)
    assert client.get("/accounts/me").status_code == 401
    csrf = client.cookies["csrftoken"].value
    account = Account.from_key(address_key)
    issued = client.post("/accounts/nonce", {"address": account.address}, content_type="application/json",
                         headers={"X-CSRFToken": csrf})
    assert issued.status_code == 200, issued.content
    message = issued.json()["message"]
    signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    response = client.post("/accounts/login", {"message": message, "signature": signature},
                           content_type="application/json", headers={"X-CSRFToken": csrf})
    assert response.status_code == 200, response.content
    return {"sessionid": client.cookies["sessionid"].value, "csrftoken": client.cookies["csrftoken"].value}


def anonymous_cookies() -> dict[str, str]:
    """The CSRF cookie an anonymous browser gets from GET /accounts/me."""
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/me")
    return {"csrftoken": client.cookies["csrftoken"].value}


@pytest.fixture
def seeded(chain_settings: Any, db: Any) -> Seeded:
    """Holders and delegations on the test chain (indexed), proposals, votes, a statement, a document."""
    return seed_state(chain_settings)


@pytest.fixture
def sessions(seeded: Seeded) -> dict[str, dict[str, str]]:
    """Cookies of an anonymous visitor (CSRF token only), of the seeded proposals' author (dev account 4, also a
    delegate) and of the seeded staff user (account 8), each signed in through the wallet sign-in."""
    return {"anonymous": anonymous_cookies(), "author": sign_in_cookies(seeded.chain.key(4)),
            "staff": sign_in_cookies(seeded.chain.key(8))}
