"""System check: the SIWE settings must make a valid EIP-4361 message, or nobody can sign in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from accounts import siwe


@register()
def check_siwe_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    now = datetime.now(UTC)
    errors = []
    if getattr(settings, "SIWE_NONCE_TTL_SECONDS", 0) <= 0:
        errors.append(Error("SIWE_NONCE_TTL_SECONDS must be a positive number of seconds.", id="accounts.E002"))
    try:
        siwe.build_message(
            domain=settings.SIWE_DOMAIN,
            address="0x0000000000000000000000000000000000000000",
            statement=settings.SIWE_STATEMENT,
            uri=settings.SIWE_URI,
            chain_id=settings.CHAIN_ID,
            nonce="CheckNonce0",
            issued_at=now,
            expiration_time=now + timedelta(seconds=600),
        )
    except ValueError as exc:
        errors.append(Error(
            f"The sign-in settings do not make a valid EIP-4361 message: {exc}",
            hint="SIWE_DOMAIN is host[:port] (no scheme), SIWE_URI an absolute URI, SIWE_STATEMENT "
                 "one line of printable ASCII, CHAIN_ID a positive integer.",
            id="accounts.E001",
        ))
    return errors
