"""Health of the parts the portal runs on: database, Celery broker, chain (and the indexer's lag)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection


def _timed(check) -> dict[str, Any]:  # noqa: ANN001 - a zero-argument callable
    started = time.perf_counter()
    try:
        detail = check() or {}
        result = {"ok": True, **detail}
    except Exception as exc:  # a health probe reports every failure instead of raising
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def check_broker() -> dict[str, Any]:
    from govapp.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return {"transport": conn.transport_cls if isinstance(conn.transport_cls, str) else str(conn.transport_cls)}


def check_chain() -> dict[str, Any]:
    from chain.client import get_web3

    w3 = get_web3()
    chain_id = w3.eth.chain_id
    if chain_id != settings.CHAIN_ID:
        raise RuntimeError(f"node reports chain id {chain_id}, CHAIN_ID is {settings.CHAIN_ID}")
    return {"chain_id": chain_id, "block_number": w3.eth.block_number}


def indexer_status() -> dict[str, Any] | None:
    """The indexer's head and lag, once the indexer exists (chain.selectors.indexer_status)."""
    try:
        from chain.selectors import indexer_status as status
    except ImportError:
        return None
    return status()


def report() -> dict[str, Any]:
    checks = {
        "database": _timed(check_database),
        "broker": _timed(check_broker),
        "chain": _timed(check_chain),
    }
    indexer = indexer_status()
    if indexer is not None:
        checks["indexer"] = indexer
    return {"ok": all(c["ok"] for c in checks.values() if "ok" in c), "checks": checks}
