"""Guard against running in production (DEBUG off) with development defaults."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

HSTS_SECONDS = 365 * 86400  # one year once DEBUG is off


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


def transport_security(env: Any, *, debug: bool) -> dict[str, Any]:
    """Secure cookies and HSTS: on by default with DEBUG off (the portal is served over HTTPS), each
    overridable from the environment. Django's SecurityMiddleware sends HSTS on HTTPS responses only."""
    production = not debug
    return {
        "SESSION_COOKIE_SECURE": env.bool("SESSION_COOKIE_SECURE", default=production),
        "CSRF_COOKIE_SECURE": env.bool("CSRF_COOKIE_SECURE", default=production),
        "SECURE_HSTS_SECONDS": env.int("SECURE_HSTS_SECONDS", default=HSTS_SECONDS if production else 0),
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=production),
        "SECURE_HSTS_PRELOAD": env.bool("SECURE_HSTS_PRELOAD", default=False),
        "SECURE_SSL_REDIRECT": env.bool("SECURE_SSL_REDIRECT", default=False),
        # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
        "SECURE_PROXY_SSL_HEADER": (("HTTP_X_FORWARDED_PROTO", "https")
                                    if env.bool("SECURE_PROXY_SSL_HEADER", default=False) else None),
    }


def check_production_settings(settings: dict[str, Any]) -> None:
    problems = production_problems(settings)
    if problems:
        raise ImproperlyConfigured(
            "Refusing to start with DEBUG off on development defaults: "
            + "; ".join(problems)
            + ". Set them through the environment (see README, Configuration)."
        )
