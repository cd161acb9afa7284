"""Wallet sign-in (EIP-4361 / Sign-In with Ethereum): issue a message, verify a signed one.

Flow: `issue_sign_in_message(address)` stores a single-use nonce with the exact message text;
the wallet signs that text with `personal_sign` (EIP-191); `verify_sign_in(message, signature)`
checks it and returns the signed-in user.

Failure policy: every refusal raises a `SignInError` (a DomainError, HTTP 400, with its own code)
and changes nothing. In particular a failed attempt does NOT consume the nonce: an attempt can
only succeed with a valid signature by the address the nonce was issued for, so letting the
rightful wallet retry costs nothing, whereas burning the nonce on failure would let anyone who saw
a nonce cancel someone else's sign-in. Only a successful sign-in marks the nonce used, under a row
lock, so a replay — sequential or concurrent — fails with `nonce_used`.
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_keys.exceptions import ValidationError as EthKeysValidationError
from eth_utils import is_checksum_address, to_checksum_address
from eth_utils.exceptions import ValidationError as EthUtilsValidationError

from accounts import siwe
from accounts.models import SignInNonce, User
from govapp.errors import DomainError

NONCE_LENGTH = 24  # 62**24 ≈ 2**143 possibilities
_NONCE_ALPHABET = string.ascii_letters + string.digits
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_SIGNATURE_RE = re.compile(r"(?:0x)?([0-9a-fA-F]{130})")
# Expired nonces are kept this long (for the admin and for support questions) before purging.
PURGE_GRACE = timedelta(days=1)


class SignInError(DomainError):
    """A refused sign-in. Always 400; `code` says which check failed."""

    code = "sign_in_failed"
    status = 400


# code -> the human sentence answered with it.
ERRORS: dict[str, str] = {
    "invalid_address": "That is not a valid Ethereum address (0x followed by 40 hex digits, "
    "with a correct EIP-55 checksum if mixed-case).",
    "malformed_message": "The sign-in message is not a well-formed EIP-4361 message.",
    "unknown_nonce": "This sign-in message was not issued by the portal. Request a new one.",
    "nonce_used": "This sign-in message has already been used. Request a new one.",
    "nonce_expired": "This sign-in message has expired. Request a new one.",
    "message_mismatch": "The sign-in message differs from the one the portal issued.",
    "wrong_domain": "The sign-in message is for a different site.",
    "wrong_uri": "The sign-in message is for a different address (URI) of the portal.",
    "wrong_chain": "The sign-in message is for a different chain.",
    "bad_signature": "The signature is not a valid 65-byte Ethereum signature.",
    "signer_mismatch": "The message was not signed by the address it names.",
    "account_disabled": "This account is disabled.",
}


def _fail(code: str, detail: str | None = None) -> SignInError:
    """The SignInError for `code`, its sentence optionally followed by a detail sentence."""
    message = ERRORS[code]
    if detail:
        detail = detail[:1].upper() + detail[1:]
        message = f"{message} {detail}" + ("" if detail.endswith(".") else ".")
    return SignInError(message, code=code)


def normalize_address(address: object) -> str:
    """The EIP-55 checksummed form of a 0x-prefixed address; `invalid_address` otherwise.

    All-lowercase and all-uppercase hex are accepted (wallets report lowercase); mixed case must
    carry a valid checksum, since a wrong one usually means a typo.
    """
    if not isinstance(address, str):
        raise _fail("invalid_address")
    address = address.strip()
    if not _ADDRESS_RE.fullmatch(address):
        raise _fail("invalid_address")
    digits = address[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(address):
        raise _fail("invalid_address", "Its mixed-case checksum is wrong.")
    return to_checksum_address(address)


def _new_nonce() -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(NONCE_LENGTH))


def issue_sign_in_message(address: str, *, now: datetime | None = None) -> SignInNonce:
    """Store and return a fresh single-use EIP-4361 message for `address`."""
    checksummed = normalize_address(address)
    # Whole seconds: the stored datetimes then equal the timestamps written in the text.
    issued_at = (now or timezone.now()).replace(microsecond=0)
    expires_at = issued_at + timedelta(seconds=settings.SIWE_NONCE_TTL_SECONDS)
    nonce = _new_nonce()
    text = siwe.build_message(
        domain=settings.SIWE_DOMAIN,
        address=checksummed,
        statement=settings.SIWE_STATEMENT,
        uri=settings.SIWE_URI,
        chain_id=settings.CHAIN_ID,
        nonce=nonce,
        issued_at=issued_at,
        expiration_time=expires_at,
    )
    return SignInNonce.objects.create(
        nonce=nonce,
        message=text,
        address=checksummed,
        chain_id=settings.CHAIN_ID,
        issued_at=issued_at,
        expires_at=expires_at,
    )


def _parse_signature(signature: object) -> bytes:
    """65 bytes r || s || v with v in {0, 1, 27, 28}; `bad_signature` otherwise."""
    if not isinstance(signature, str):
        raise _fail("bad_signature")
    match = _SIGNATURE_RE.fullmatch(signature.strip())
    if match is None:
        raise _fail("bad_signature")
    raw = bytes.fromhex(match.group(1))
    if raw[64] not in (0, 1, 27, 28):
        raise _fail("bad_signature", "Its recovery byte (v) must be 27 or 28.")
    return raw


def recover_signer(message: str, signature: str) -> str:
    """The checksummed address whose key produced this EIP-191 personal_sign signature."""
    raw = _parse_signature(signature)
    try:
        return Account.recover_message(encode_defunct(text=message), signature=raw)
    except (BadSignature, EthKeysValidationError, EthUtilsValidationError, ValueError) as exc:
        raise _fail("bad_signature") from exc


def verify_sign_in(message: str, signature: str, *, now: datetime | None = None) -> User:
    """Check a signed EIP-4361 message and return its user (created on first sign-in).

    Checks, in order: well-formed message; domain, URI and chain id are this portal's; the nonce
    was issued, is unused, unexpired, and its stored text equals `message` exactly; the
    signature is well-formed and recovers to the message's address; the account is active. Only
    then is the nonce marked used. Raises SignInError (nothing changed) on the first failure.
    """
    if not isinstance(message, str):
        raise _fail("malformed_message")
    try:
        parsed = siwe.parse_message(message)
    except siwe.SiweParseError as exc:
        raise _fail("malformed_message", str(exc)[:300]) from exc

    if parsed.domain != settings.SIWE_DOMAIN or parsed.scheme is not None:
        raise _fail("wrong_domain", f"Expected {settings.SIWE_DOMAIN}.")
    if parsed.uri != settings.SIWE_URI:
        raise _fail("wrong_uri", f"Expected {settings.SIWE_URI}.")
    if parsed.chain_id != settings.CHAIN_ID:
        raise _fail("wrong_chain", f"Expected chain {settings.CHAIN_ID}.")

    with transaction.atomic():
        # The row lock serialises concurrent attempts with one nonce: the second waits for the
        # first to commit, then sees used_at set.
        record = SignInNonce.objects.select_for_update().filter(nonce=parsed.nonce).first()
        if record is None:
            raise _fail("unknown_nonce")
        if record.used_at is not None:
            raise _fail("nonce_used")
        current = now or timezone.now()
        deadlines = [record.expires_at]
        if parsed.expiration_time is not None:
            deadlines.append(parsed.expiration_time)
        if current >= min(deadlines):
            raise _fail("nonce_expired")
        if parsed.not_before is not None and current < parsed.not_before:
            raise _fail("nonce_expired", "It is not valid yet.")
        if not secrets.compare_digest(message.encode(), record.message.encode()):
            raise _fail("message_mismatch")

        signer = recover_signer(message, signature)
        if signer != parsed.address:
            raise _fail("signer_mismatch")

        user = User.objects.for_address(parsed.address)
        if not user.is_active:
            raise _fail("account_disabled")
        record.used_at = current
        record.save(update_fields=["used_at"])
    return user


def purge_expired_nonces(*, now: datetime | None = None, grace: timedelta = PURGE_GRACE) -> int:
    """Delete nonces that expired more than `grace` ago (used or not); returns how many.

    Safe for replay protection: a purged nonce's message then fails as `unknown_nonce`.
    """
    cutoff = (now or timezone.now()) - grace
    deleted, _ = SignInNonce.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
