"""System checks of the execution engine: no dev guardian key in production, a sane council, countdowns
shorter than the broker's visibility timeout."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from execution import conf


@checks.register(checks.Tags.security)
def execution_settings_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    if not settings.DEBUG and conf.council_relay_key().lower() == conf.DEV_COUNCIL_RELAY_KEY:
        problems.append(checks.Error(
            "COUNCIL_RELAY_PRIVATE_KEY is the public anvil development key.",
            hint="Set COUNCIL_RELAY_PRIVATE_KEY to the key holding GUARDIAN_ROLE that relays council vetoes.",
            id="execution.E001"))
    members = conf.council()
    threshold = conf.council_threshold()
    if members and not 1 <= threshold <= len(members):
        problems.append(checks.Error(
            f"SECURITY_COUNCIL_THRESHOLD is {threshold} for a council of {len(members)}.",
            hint="Choose a threshold between 1 and the number of members.", id="execution.E002"))
    visibility = (getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}).get("visibility_timeout")
    if visibility is not None and conf.max_countdown() >= int(visibility):
        problems.append(checks.Error(
            f"EXECUTION_MAX_COUNTDOWN ({conf.max_countdown()} s) is not shorter than the broker's visibility "
            f"timeout ({visibility} s): a waiting execution task would be delivered twice.",
            id="execution.E003"))
    return problems
