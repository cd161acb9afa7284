"""The veto API (every refusal with its code, nothing stored), the status API, the panel, the operators' page,
the council's membership in the archive, the beat tasks and the system checks."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import pytest
import redis
from django.core import checks
from eth_account import Account

from accounts.models import User
from archive import kinds
from archive.models import ArchiveEntry
from execution import engine, tasks, vetoes
from execution.checks import execution_settings_check
from execution.models import Execution, ExecutionState, VetoSignature
from govapp.celery import QUEUE_NAMES
from proposals.lifecycle import ProposalKind

from .conftest import pass_delay, passed_proposal, sign_typed

pytestmark = pytest.mark.django_db
E = ExecutionState


@contextlib.contextmanager
def nothing_stored() -> Iterator[None]:
    before = (VetoSignature.objects.count(), ArchiveEntry.objects.count())
    yield
    assert (VetoSignature.objects.count(), ArchiveEntry.objects.count()) == before


@pytest.fixture
def queued(chain_settings, council):
    proposal = passed_proposal(ProposalKind.OS_UPGRADE)
    execution = engine.advance(engine.create_execution(proposal).pk)
    assert execution.state == E.QUEUED
    return chain_settings, proposal, execution


def _template(client, number: int, member: str, reason: str = "Not audited."):
    reply = client.get(f"/api/execution/{number}/veto-template", {"member": member, "reason": reason})
    assert reply.status_code == 200, reply.json()
    return reply.json()


def _post(client, number: int, typed: dict, signature: str):
    return client.post(f"/api/execution/{number}/veto", {"typed_data": typed, "signature": signature},
                       content_type="application/json")


def test_the_veto_template_is_the_portals_veto_type(queued, client):
    chain, proposal, _ = queued
    typed = _template(client, proposal.number, chain.address(7).lower())
    assert typed["primaryType"] == "Veto"
    assert [f["name"] for f in typed["types"]["Veto"]] == ["proposalId", "member", "reason", "timestamp"]
    assert typed["domain"]["verifyingContract"] == chain.deployment.executor_address
    assert typed["message"]["proposalId"] == proposal.number and typed["message"]["member"] == chain.address(7)


@pytest.mark.parametrize("case, status, code", [
    ("not_member", 403, "not_council_member"),
    ("wrong_signer", 400, "signer_mismatch"),
    ("wrong_proposal", 400, "wrong_proposal"),
    ("no_reason", 400, "reason_required"),
    ("tampered_types", 400, "wrong_types"),
    ("future", 400, "timestamp_in_future"),
    ("unknown_proposal", 404, "proposal_not_found"),
])
def test_veto_refusals(queued, client, case, status, code):
    chain, proposal, _ = queued
    number, member, key = proposal.number, chain.address(7), chain.key(7)
    typed = _template(client, number, member)
    if case == "not_member":
        typed = _template(client, number, chain.address(4))
        key = chain.key(4)
    elif case == "wrong_signer":
        key = chain.key(8)
    elif case == "wrong_proposal":
        typed["message"]["proposalId"] = number + 1
    elif case == "no_reason":
        typed["message"]["reason"] = "   "
    elif case == "tampered_types":
        typed["types"]["Veto"][2]["name"] = "why"
        typed["message"]["why"] = typed["message"].pop("reason")
    elif case == "future":
        typed["message"]["timestamp"] += 3600
    elif case == "unknown_proposal":
        number = number + 100
        typed["message"]["proposalId"] = number
    with nothing_stored():
        reply = _post(client, number, typed, sign_typed(key, typed))
    assert reply.status_code == status, reply.json()
    assert reply.json()["error"]["code"] == code


def test_a_veto_is_archived_verbatim_and_counted_once(queued, client):
    chain, proposal, execution = queued
    typed = _template(client, proposal.number, chain.address(7))
    signature = sign_typed(chain.key(7), typed)
    reply = _post(client, proposal.number, typed, signature)
    assert reply.status_code == 201
    body = reply.json()
    assert body["count"] == 1 and body["threshold"] == 2 and body["threshold_reached"] is False
    entry = ArchiveEntry.objects.get(sequence=body["archive_sequence"])
    assert entry.kind == kinds.VETO_SIGNATURE and entry.signed["typed_data"] == typed
    assert entry.signed["signature"] == signature.lower() and entry.payload["member"] == chain.address(7)
    with nothing_stored():
        again = _post(client, proposal.number, typed, signature)
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_vetoed"
        fresh = _template(client, proposal.number, chain.address(7), "Again.")
        assert _post(client, proposal.number, fresh, sign_typed(chain.key(7), fresh)).json()["error"]["code"] \
            == "already_vetoed"


def test_a_member_removed_from_the_council_no_longer_counts_and_membership_is_archived(queued, settings):
    chain, proposal, execution = queued
    for index in (7, 8):
        typed = vetoes.veto_template(proposal.number, chain.address(index), "No.")
        vetoes.submit_veto(proposal.number, typed, sign_typed(chain.key(index), typed))
    assert vetoes.threshold_reached(execution)
    governance = copy.deepcopy(settings.GOVERNANCE)
    governance["SECURITY_COUNCIL"] = [chain.address(7), chain.address(9)]
    settings.GOVERNANCE = governance
    assert not vetoes.threshold_reached(execution)
    assert vetoes.sync_council_membership() == [(chain.address(8), "removed")]
    assert vetoes.archived_council() == [chain.address(7), chain.address(9)]
    assert vetoes.sync_council_membership() == []
    changes = ArchiveEntry.objects.filter(kind=kinds.COUNCIL_MEMBERSHIP_CHANGED).order_by("sequence")
    assert [(e.payload["member"], e.payload["change"]) for e in changes][-1] == (chain.address(8), "removed")


def test_no_veto_before_queueing_nor_after_execution(chain_settings, council, client):
    chain = chain_settings
    proposal = passed_proposal(ProposalKind.PARAMETER_CHANGE)
    reply = client.get(f"/api/execution/{proposal.number}/veto-template", {"member": chain.address(7)})
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "not_queued"
    execution = engine.advance(engine.create_execution(proposal).pk)
    typed = _template(client, proposal.number, chain.address(7))
    pass_delay(chain)
    assert engine.advance(execution.pk).state == E.EXECUTED
    with nothing_stored():
        reply = _post(client, proposal.number, typed, sign_typed(chain.key(7), typed))
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "veto_closed"


def test_status_api_panel_and_list(queued, client):
    chain, proposal, execution = queued
    status = client.get(f"/api/execution/{proposal.number}").json()
    assert status["state"] == "queued" and status["eta"] == execution.eta and status["eta_iso"]
    assert status["onchain_id"] == execution.onchain_id and status["tally_digest"] == execution.tally_digest
    assert status["transactions"][0]["purpose"] == "schedule" and status["transactions"][0]["state"] == "confirmed"
    assert status["veto"]["threshold"] == 2 and status["veto"]["members"] == [chain.address(i) for i in (7, 8, 9)]
    page = client.get(f"/execution/proposals/{proposal.number}/").content.decode()
    assert 'id="execution-state" data-state="queued"' in page and 'id="execution-countdown"' in page
    assert execution.onchain_id in page and "js/execution.js" in page
    pass_delay(chain)
    engine.advance(execution.pk)
    page = client.get(f"/execution/proposals/{proposal.number}/panel").content.decode()
    assert 'data-state="executed"' in page and 'data-name="program_hash" data-equal="true"' in page
    listing = client.get("/api/execution/", {"state": "executed"}).json()
    assert listing["results"][0]["proposal"] == proposal.number
    assert client.get("/api/execution/", {"state": "nope"}).json()["error"]["code"] == "invalid_state"
    assert client.get("/api/execution/99999").status_code == 404
    schema = client.get("/api/schema/").content.decode()
    assert "/api/execution/{number}/veto" in schema


def test_a_failure_is_visible_in_the_api_and_the_panel(chain_settings, council, client):
    chain = chain_settings
    proposal = passed_proposal(ProposalKind.TREASURY_GRANT)  # the executor holds no tokens: the transfer reverts
    execution = engine.advance(engine.create_execution(proposal).pk)
    pass_delay(chain)
    assert engine.advance(execution.pk).state == E.FAILED
    status = client.get(f"/api/execution/{proposal.number}").json()
    assert status["failure"]["code"] == "ActionFailed" and "ERC20InsufficientBalance" in status["failure"]["reason"]
    page = client.get(f"/execution/proposals/{proposal.number}/").content.decode()
    assert 'id="execution-failure" data-code="ActionFailed"' in page


def test_transient_errors_back_off_and_are_shown(chain_settings, council, settings, client):
    proposal = passed_proposal(ProposalKind.OS_UPGRADE)
    execution = engine.create_execution(proposal)
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"  # nothing listens there
    execution = engine.advance(execution.pk)
    assert execution.state == E.PENDING and execution.attempts == 1 and "rpc_unavailable" in execution.last_error
    assert execution.next_attempt_at is not None
    assert engine.due_executions(now=execution.next_attempt_at) == [execution.pk]
    page = client.get(f"/execution/proposals/{proposal.number}/").content.decode()
    assert 'id="execution-retry"' in page
    settings.EXECUTION_MAX_ATTEMPTS = 2
    execution = engine.advance(execution.pk)
    assert execution.state == E.FAILED and execution.failure_code == "rpc_unavailable"
    assert "Gave up after 2 attempts" in execution.failure_reason
    assert ArchiveEntry.objects.filter(kind=kinds.EXECUTION_FAILED, proposal_ref=proposal.ref).exists()


def test_operator_status_page_is_staff_only_and_shows_queue_depths(chain_settings, council, client, settings):
    proposal = passed_proposal(ProposalKind.OS_UPGRADE)
    engine.create_execution(proposal)
    assert client.get("/execution/status").status_code == 403
    user = User.objects.for_address(Account.create().address)
    client.force_login(user)
    assert client.get("/execution/status").status_code == 403
    user.is_staff = True
    user.save()
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for name in QUEUE_NAMES:
        broker.delete(name)
    broker.rpush("execution", "x", "y", "z")
    try:
        page = client.get("/execution/status").content.decode()
    finally:
        broker.delete("execution")
    assert '<tr data-queue="execution"><td>execution</td><td>3</td></tr>' in page
    assert 'id="indexer-status"' in page or "chain index" in page
    assert f'data-proposal="{proposal.number}"' in page  # waiting to be scheduled
    assert chain_settings.address(1) in page and chain_settings.address(7) in page  # executor and relay keys


def test_beat_tasks_queue_passed_proposals_and_sweep(chain_settings, council):
    proposal = passed_proposal(ProposalKind.PARAMETER_CHANGE)
    created = tasks.queue_passed.apply().get()
    execution = Execution.objects.get(proposal=proposal)
    assert created == [execution.pk]
    execution.refresh_from_db()
    assert execution.state == E.QUEUED
    assert tasks.queue_passed.apply().get() == []
    pass_delay(chain_settings)
    Execution.objects.filter(pk=execution.pk).update(next_attempt_at=None)
    result = tasks.sweep.apply().get()
    assert result["states"] == {execution.pk: "executed"}


def test_system_checks(settings):
    settings.DEBUG = True  # pytest-django runs with DEBUG off; the dev relay key is fine in development
    assert execution_settings_check() == []
    governance = copy.deepcopy(settings.GOVERNANCE)
    governance["SECURITY_COUNCIL_THRESHOLD"] = len(governance["SECURITY_COUNCIL"]) + 1
    settings.GOVERNANCE = governance
    settings.EXECUTION_MAX_COUNTDOWN = 10**9
    settings.DEBUG = False
    ids = {m.id for m in execution_settings_check()}
    assert ids == {"execution.E001", "execution.E002", "execution.E003"}
    assert all(m.level == checks.ERROR for m in execution_settings_check())


def test_the_panel_is_one_line_in_any_template(queued, rf):
    """What the proposal page needs: {% load execution_tags %}{% execution_panel proposal %}."""
    from django.contrib.auth.models import AnonymousUser
    from django.template import engines

    _, proposal, execution = queued
    request = rf.get("/")
    request.user = AnonymousUser()
    html = engines["django"].from_string("{% load execution_tags %}{% execution_panel proposal %}").render(
        {"proposal": proposal}, request)
    assert 'id="execution-panel"' in html and execution.onchain_id in html and "js/execution.js" in html

