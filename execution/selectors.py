"""Reads of the execution engine: the per-proposal status (API and panel) and the operators' status page."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count

from execution import conf
from execution.models import (
    LIVE_TX_STATES,
    TERMINAL_STATES,
    VETO_OPEN_STATES,
    ChainTransaction,
    Execution,
    ExecutionState,
    SenderNonce,
)
from govapp.errors import NotFoundError
from proposals.lifecycle import EXECUTABLE_KINDS
from proposals.models import Proposal


def proposal_by_number(number: int | str) -> Proposal:
    try:
        return Proposal.objects.get(number=int(number))
    except (Proposal.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(f"There is no proposal {number}.", code="proposal_not_found") from None


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _eta_iso(eta: int | None) -> str | None:
    return datetime.datetime.fromtimestamp(eta, tz=datetime.UTC).isoformat() if eta else None


def transaction_row(tx: ChainTransaction) -> dict[str, Any]:
    return {
        "purpose": tx.purpose, "attempt": tx.attempt, "tx_hash": tx.tx_hash, "sender": tx.sender, "nonce": tx.nonce,
        "state": tx.state, "state_label": tx.get_state_display(), "external": tx.external,
        "block_number": tx.block_number, "confirmations": tx.confirmations,
        "required_confirmations": conf.confirmations(), "broadcasts": tx.broadcasts, "error_code": tx.error_code,
        "error": tx.error, "created_at": _iso(tx.created_at), "sent_at": _iso(tx.sent_at),
        "mined_at": _iso(tx.mined_at), "confirmed_at": _iso(tx.confirmed_at),
    }


def veto_view(execution: Execution | None) -> dict[str, Any]:
    from execution import vetoes

    members = conf.council()
    rows = list(execution.vetoes.order_by("created_at", "id")) if execution else []
    counted = {v.pk for v in vetoes.counted(execution)} if execution else set()
    return {
        "members": members,
        "threshold": conf.council_threshold(),
        "count": len(counted),
        "open": bool(execution and execution.state in VETO_OPEN_STATES),
        "threshold_reached": len(counted) >= conf.council_threshold(),
        "digest": execution.veto_digest if execution else "",
        "signatures": [{"member": v.member, "reason": v.reason, "digest": v.digest, "counted": v.pk in counted,
                        "signed_timestamp": v.signed_timestamp, "created_at": _iso(v.created_at),
                        "archive_sequence": v.archive_sequence} for v in rows],
    }


def execution_status(proposal: Proposal) -> dict[str, Any]:
    """Everything about the execution of `proposal` (JSON-ready): state, ETA, transactions, vetoes, read-back."""
    execution = Execution.objects.filter(proposal=proposal).first()
    body: dict[str, Any] = {
        "proposal": proposal.number, "proposal_status": proposal.status,
        "executable": proposal.kind in EXECUTABLE_KINDS,
        "required_confirmations": conf.confirmations(),
    }
    if execution is None:
        body.update(state=None, state_label="Not queued", veto=veto_view(None), transactions=[])
        return body
    body.update({
        "state": execution.state,
        "state_label": execution.get_state_display(),
        "onchain_id": execution.onchain_id,
        "tally_digest": execution.tally_digest,
        "tally": execution.tally,
        "operation_hash": execution.operation_hash,
        "actions": execution.actions,
        "eta": execution.eta,
        "eta_iso": _eta_iso(execution.eta),
        "requested": execution.requested,
        "readback": execution.readback,
        "readback_block": execution.readback_block,
        "readback_matches": execution.readback_matches,
        "failure": ({"code": execution.failure_code, "reason": execution.failure_reason}
                    if execution.state == ExecutionState.FAILED else None),
        "retry": {"attempts": execution.attempts, "last_error": execution.last_error,
                  "last_error_at": _iso(execution.last_error_at), "next_attempt_at": _iso(execution.next_attempt_at)},
        "veto": veto_view(execution),
        "transactions": [transaction_row(tx) for tx in execution.transactions.order_by("created_at", "id")],
        "created_at": _iso(execution.created_at),
        "finished_at": _iso(execution.finished_at),
    })
    return body


def comparison_rows(execution: Execution) -> list[dict[str, Any]]:
    """(what, requested, read back, equal) rows for the panel."""
    requested = execution.requested or {}
    readback = execution.readback or {}
    rows = []
    for name, wanted in requested.items():
        if isinstance(wanted, dict):
            got_map = readback.get(name) or {}
            for key, value in wanted.items():
                got = got_map.get(key) if isinstance(got_map, dict) else None
                rows.append({"name": key, "requested": value, "readback": got, "equal": got == value})
        else:
            got = readback.get(name)
            rows.append({"name": name, "requested": wanted, "readback": got, "equal": got == wanted})
    return rows


# --------------------------------------------------------------------------- operators' status page


def queue_depths() -> dict[str, Any]:
    """LLEN of each Celery queue when the broker is Redis (the queue is a Redis list named after it)."""
    from govapp.celery import QUEUE_NAMES

    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return {"broker": url.split(":", 1)[0], "available": False, "queues": {},
                "note": "queue depths are read from Redis only"}
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        depths = {name: int(client.llen(name)) for name in QUEUE_NAMES}
    except redis.RedisError as exc:
        return {"broker": "redis", "available": False, "queues": {}, "note": f"Redis did not answer: {exc}"}
    return {"broker": "redis", "available": True, "queues": depths, "note": ""}


def indexer() -> dict[str, Any] | None:
    try:
        from chain.selectors import indexer_status
    except ImportError:  # pragma: no cover - the chain index is optional for this page
        return None
    return indexer_status()


def signer_keys() -> list[dict[str, Any]]:
    """The engine's sending keys: role, nonce book, node's nonce, balance, on-chain role (best effort RPC)."""
    from execution.engine import engine_web3

    rows = [{"role": "executor (EXECUTOR_ROLE)", "address": conf.address_of(conf.executor_key()),
             "contract_role": "EXECUTOR_ROLE"},
            {"role": "council relay (GUARDIAN_ROLE)", "address": conf.address_of(conf.council_relay_key()),
             "contract_role": "GUARDIAN_ROLE"}]
    books = {b.address: b.next_nonce for b in SenderNonce.objects.all()}
    try:
        from chain.client import get_deployment

        w3 = engine_web3()
        executor = get_deployment().executor(w3)
    except Exception:  # noqa: BLE001 - the page shows what it can
        w3 = executor = None
    for row in rows:
        row["book_next_nonce"] = books.get(row["address"])
        row["in_flight"] = ChainTransaction.objects.filter(sender=row["address"], state__in=LIVE_TX_STATES).count()
        if w3 is None:
            continue
        try:
            row["pending_nonce"] = w3.eth.get_transaction_count(row["address"], "pending")
            row["balance_wei"] = str(w3.eth.get_balance(row["address"]))
            role = getattr(executor.functions, row["contract_role"])().call()
            row["has_role"] = bool(executor.functions.hasRole(role, row["address"]).call())
        except Exception as exc:  # noqa: BLE001
            row["rpc_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return rows


def operator_status() -> dict[str, Any]:
    states = dict(Execution.objects.order_by().values_list("state").annotate(n=Count("id")))
    return {
        "queues": queue_depths(),
        "indexer": indexer(),
        "executions_by_state": {s.value: states.get(s.value, 0) for s in ExecutionState},
        "active": list(Execution.objects.exclude(state__in=TERMINAL_STATES).select_related("proposal")
                       .order_by("next_attempt_at", "pk")),
        "pending_transactions": list(ChainTransaction.objects.filter(state__in=LIVE_TX_STATES)
                                     .select_related("execution__proposal").order_by("created_at")),
        "recent_failures": list(Execution.objects.filter(state=ExecutionState.FAILED).select_related("proposal")
                                .order_by("-finished_at")[:10]),
        "keys": signer_keys(),
        "council": {"members": conf.council(), "threshold": conf.council_threshold()},
        "confirmations": conf.confirmations(),
    }
