"""The execution engine's settings, read in one place.

Everything has a development default; settings.py may override any of them (same names), and the
environment variables of the same names are read when settings.py does not define them:

  EXECUTOR_PRIVATE_KEY          (settings) the workers' key holding EXECUTOR_ROLE: schedules and executes.
  COUNCIL_RELAY_PRIVATE_KEY     a key holding GUARDIAN_ROLE that submits the council's veto (cancel)
                                once SECURITY_COUNCIL_THRESHOLD members signed. Default: anvil account 7
                                (a dev guardian). See README "Execution" for the trust assumption.
  GOVERNANCE["SECURITY_COUNCIL"], ["SECURITY_COUNCIL_THRESHOLD"], ["EXECUTION_CONFIRMATIONS"]
  EXECUTION_MAX_ATTEMPTS        consecutive transient failures (RPC down, refused broadcast, ...) before an
                                execution that has NO transaction in flight is marked Failed (default 8).
  EXECUTION_BACKOFF_SECONDS     first retry delay; doubles per failure (default 5).
  EXECUTION_BACKOFF_MAX_SECONDS cap of the retry delay (default 300).
  EXECUTION_POLL_SECONDS        how soon a transaction in flight is looked at again (default 3).
  EXECUTION_RECEIPT_WAIT_SECONDS how long a worker waits in place for the receipt of a transaction it finds in
                                the node's pool before handing back to Celery (default 2): a chain that mines
                                at once (anvil, fast L2s) goes on without a poll round.
  EXECUTION_MAX_COUNTDOWN       longest Celery countdown the engine ever asks for (default 600 s; must stay
                                below the Redis visibility timeout, see execution.checks).
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from eth_account import Account
from eth_utils import to_checksum_address

#: Anvil account 7 of the public "test test ... junk" mnemonic: a guardian on the dev chain. Never in production.
DEV_COUNCIL_RELAY_KEY = settings.DEV_COUNCIL_RELAY_KEY

_DEFAULTS: dict[str, Any] = {
    "EXECUTION_MAX_ATTEMPTS": 8,
    "EXECUTION_BACKOFF_SECONDS": 5.0,
    "EXECUTION_BACKOFF_MAX_SECONDS": 300.0,
    "EXECUTION_POLL_SECONDS": 3.0,
    "EXECUTION_RECEIPT_WAIT_SECONDS": 2.0,
    "EXECUTION_MAX_COUNTDOWN": 600,
}


def _setting(name: str) -> Any:
    if hasattr(settings, name):
        return getattr(settings, name)
    raw = os.environ.get(name)
    default = _DEFAULTS[name]
    if raw is None or raw == "":
        return default
    return type(default)(raw)


def max_attempts() -> int:
    return int(_setting("EXECUTION_MAX_ATTEMPTS"))


def backoff_seconds(failures: int) -> float:
    """Delay before retry number `failures` (1, 2, ...): exponential, capped."""
    base = float(_setting("EXECUTION_BACKOFF_SECONDS"))
    return min(base * 2 ** max(failures - 1, 0), float(_setting("EXECUTION_BACKOFF_MAX_SECONDS")))


def poll_seconds() -> float:
    return float(_setting("EXECUTION_POLL_SECONDS"))


def receipt_wait_seconds() -> float:
    return float(_setting("EXECUTION_RECEIPT_WAIT_SECONDS"))


def max_countdown() -> int:
    return int(_setting("EXECUTION_MAX_COUNTDOWN"))


def executor_key() -> str:
    return settings.EXECUTOR_PRIVATE_KEY


def council_relay_key() -> str:
    return settings.COUNCIL_RELAY_PRIVATE_KEY


def address_of(key: str) -> str:
    return Account.from_key(key).address


def confirmations() -> int:
    return max(1, int(settings.GOVERNANCE.get("EXECUTION_CONFIRMATIONS", 1)))


def council() -> list[str]:
    """The configured security council (checksummed, in configuration order, no duplicates)."""
    seen: list[str] = []
    for member in settings.GOVERNANCE.get("SECURITY_COUNCIL", []):
        address = to_checksum_address(member)
        if address not in seen:
            seen.append(address)
    return seen


def council_threshold() -> int:
    return int(settings.GOVERNANCE.get("SECURITY_COUNCIL_THRESHOLD", 1))
