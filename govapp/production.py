"""Guard against running in production (DEBUG off) with development defaults."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured


def production_problems(settings: dict[str, Any]) -> list[str]:
    """Name every development default still in place."""
    problems = []
    if settings["SECRET_KEY"] == settings["DEV_SECRET_KEY"] or len(settings["SECRET_KEY"]) < 32:
        problems.append("SECRET_KEY is the development default or shorter than 32 characters")
    dev_keys = {settings["DEV_DEPLOYER_KEY"], settings["DEV_EXECUTOR_KEY"], settings["DEV_RELAYER_KEY"],
                settings["DEV_COUNCIL_RELAY_KEY"]}
    for name in ("DEPLOYER_PRIVATE_KEY", "EXECUTOR_PRIVATE_KEY", "RELAYER_PRIVATE_KEY", "COUNCIL_RELAY_PRIVATE_KEY"):
        if settings[name].lower() in dev_keys:
            problems.append(f"{name} is a public anvil development key")
    if settings["ALLOWED_HOSTS"] == ["*"]:
        problems.append("ALLOWED_HOSTS must name the portal's hosts, not '*'")
    return problems


def check_production_settings(settings: dict[str, Any]) -> None:
    problems = production_problems(settings)
    if problems:
        raise ImproperlyConfigured(
            "Refusing to start with DEBUG off on development defaults: "
            + "; ".join(problems)
            + ". Set them through the environment (see README, Configuration)."
        )
