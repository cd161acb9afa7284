"""Test-only crash points of the engine.

    crash_point("execute:persisted")

does nothing unless the environment variable GOVAPP_EXECUTION_CRASH_AT names that point (a comma-separated
list may name several); then the process SIGKILLs itself on the spot — no cleanup, no rollback handlers,
exactly like an OOM kill or a power cut. The fault-injection tests (tests/execution/test_faults.py) run a
worker step in a subprocess with it set. Never set it in production.

Points, in the order a transaction goes through them (<purpose> is schedule, execute or cancel):
  <purpose>:signed     the transaction is signed, inside the DB transaction that persists it (not committed)
  <purpose>:persisted  committed (hash, nonce, raw bytes stored), not yet broadcast
  <purpose>:sent       broadcast, the "sent" state not yet recorded
  <purpose>:mined      the receipt was seen, nothing recorded yet
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "GOVAPP_EXECUTION_CRASH_AT"


def crash_point(name: str) -> None:
    wanted = os.environ.get(ENV_VAR)
    if wanted and name in {p.strip() for p in wanted.split(",")}:
        os.kill(os.getpid(), signal.SIGKILL)
