"""Writes of delegation: publishing signed statements and accepting gasless delegations for the relayer.

    typed = statement_template(address, display_name=..., statement=..., interests=[...], links=[...])
    statement = publish_statement(typed_data_signed_by_wallet, signature)      # DelegateStatement

    typed = delegation_template(holder, delegatee)                            # the token's Delegation
    relay = request_relay(holder, typed_data_signed_by_holder, signature)     # RelayedDelegation (requested)

Every refusal is a DomainError (4xx) with its own code and writes nothing; see the docstrings.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from eth_utils import is_address, to_checksum_address

from chain.signing import SignatureError, typed_data_for, verify_signed
from delegation import constants as C
from delegation import content
from delegation import token as T
from delegation.models import DelegateStatement, RelayedDelegation, RelayStatus
from govapp.errors import ConflictError, DomainError, NotFoundError

log = logging.getLogger(__name__)


def checksum(address: Any, field: str = "address") -> str:
    if not isinstance(address, str) or not is_address(address):
        raise DomainError(f"{field} is not an address.", code="invalid_address")
    return to_checksum_address(address)


# --- Statements ---------------------------------------------------------------------------------

def statement_template(delegate: str, *, display_name: Any, statement: Any, interests: list[str],
                       links: list[str], timestamp: int | None = None) -> dict[str, Any]:
    """The DelegateStatement typed data for the wallet to sign, after checking every content rule."""
    address = checksum(delegate, "delegate")
    if not isinstance(interests, list) or not all(isinstance(v, str) for v in interests):
        raise content.StatementError("interests must be a list of tag slugs.", code="invalid_interests")
    if not isinstance(links, list) or not all(isinstance(v, str) for v in links):
        raise content.StatementError("links must be a list of URLs.", code="invalid_links")
    cleaned = content.clean_content(display_name, statement, interests, links)
    message = {
        "delegate": address,
        "displayName": cleaned.display_name,
        "statement": cleaned.statement,
        "interests": cleaned.interests_string,
        "links": cleaned.links_string,
        "timestamp": int(time.time()) if timestamp is None else int(timestamp),
    }
    return typed_data_for("DelegateStatement", message)


def publish_statement(typed_data: Any, signature: Any) -> DelegateStatement:
    """Verify a signed DelegateStatement and keep it as the delegate's next version (and archive it).

    Error codes — signature (400, chain.signing): malformed_typed_data, wrong_primary_type,
    wrong_types, wrong_chain, wrong_domain, wrong_contract, invalid_address, bad_signature,
    high_s_signature, signer_mismatch; content (400, delegation.content): display_name_required,
    invalid_display_name, display_name_too_long, statement_required, statement_too_long,
    invalid_interests, unknown_interest, duplicate_interest, invalid_links, too_many_links,
    invalid_link, duplicate_link; time (400): statement_expired, timestamp_in_future;
    409: duplicate_statement, stale_statement (older than the current version).
    """
    from archive import kinds
    from archive.services import record
    from delegation import directory

    verified = verify_signed("DelegateStatement", typed_data, signature, "delegate")
    message = verified.typed_data["message"]
    cleaned = content.clean_content(
        message["displayName"], message["statement"],
        content.decode_list(message["interests"], "interests"), content.decode_list(message["links"], "links"))
    timestamp = int(message["timestamp"])
    now = int(time.time())
    if timestamp > now + C.STATEMENT_MAX_FUTURE_SECONDS:
        raise DomainError("The statement's timestamp is in the future; check your clock.", code="timestamp_in_future")
    if timestamp < now - C.STATEMENT_MAX_AGE_SECONDS:
        raise DomainError("The signed statement is too old; sign it again.", code="statement_expired")
    delegate = verified.signer
    html = content.render_markdown(cleaned.statement)
    try:
        with transaction.atomic():
            latest = (DelegateStatement.objects.select_for_update().filter(delegate=delegate)
                      .order_by("-version").first())
            if DelegateStatement.objects.filter(digest=verified.digest).exists():
                raise ConflictError("This signed statement is already published.", code="duplicate_statement")
            if latest is not None and timestamp <= latest.signed_timestamp:
                raise ConflictError("A newer statement of this delegate is already published.",
                                    code="stale_statement")
            version = latest.version + 1 if latest else 1
            entry = record(
                kinds.DELEGATE_STATEMENT,
                {"delegate": delegate, "version": version, "display_name": cleaned.display_name,
                 "interests": cleaned.interests, "links": cleaned.links, "timestamp": timestamp,
                 "statement_sha256": hashlib.sha256(cleaned.statement.encode()).hexdigest(),
                 "digest": verified.digest},
                address=delegate,
                signed=verified.archive_artifact(),
            )
            statement = DelegateStatement(
                delegate=delegate, version=version, display_name=cleaned.display_name,
                statement=cleaned.statement, statement_html=html, interests=cleaned.interests,
                links=cleaned.links, signed_timestamp=timestamp, typed_data=verified.typed_data,
                signature=verified.signature, digest=verified.digest, contract_wallet=verified.contract_wallet,
                archive_sequence=entry.sequence)
            statement.save()
            directory.record_statement(statement)
    except IntegrityError as exc:  # a concurrent publication of the same delegate won the version number
        raise ConflictError("Another statement of this delegate was published at the same time; retry.",
                            code="stale_statement") from exc
    return statement


# --- Gasless delegation -------------------------------------------------------------------------

def delegation_template(holder: Any, delegatee: Any) -> dict[str, Any]:
    """The token's Delegation typed data for `holder` → `delegatee`: current nonce, expiry in an hour."""
    return T.delegation_template(checksum(holder, "holder"), checksum(delegatee, "delegatee"))


def request_relay(holder: Any, typed_data: Any, signature: Any) -> RelayedDelegation:
    """Check a signed delegateBySig against the chain and queue it for the relayer (nothing is sent here).

    Checks, in order, each failure its own code: invalid_address; the typed data is the token's
    Delegation on this chain (malformed_typed_data, wrong_primary_type, wrong_types, wrong_chain,
    wrong_domain, wrong_contract); the signature recovers to the holder (bad_signature,
    high_s_signature, signer_mismatch); the expiry is after the latest block (signature_expired);
    the nonce is the holder's current token nonce (409 wrong_nonce); the holder has tokens
    (no_balance); no other live relay of this nonce (409 relay_pending). 503 chain_unavailable.
    """
    holder = checksum(holder, "holder")
    delegatee, nonce, expiry = T.check_delegation_typed_data(typed_data)
    signer = T.recover_holder(typed_data, signature)
    if signer != holder:
        raise SignatureError(f"The signature is by {signer}, not by the holder {holder}.", code="signer_mismatch")
    if expiry <= T.chain_now():
        raise DomainError("The signature has expired; sign a fresh one.", code="signature_expired")
    current = T.nonce_of(holder)
    if nonce != current:
        raise DomainError(f"The signature is for nonce {nonce}; the holder's token nonce is {current}. "
                          "Fetch a fresh template and sign again.", code="wrong_nonce", status=409)
    if T.balance_of(holder) == 0:
        raise DomainError("This address holds no tokens: there is nothing to delegate.", code="no_balance")
    token_address = T.token_contract().address
    try:
        with transaction.atomic():
            relay = RelayedDelegation.objects.create(
                chain_id=settings.CHAIN_ID, token_address=token_address, holder=holder, delegatee=delegatee,
                token_nonce=nonce, expiry=expiry, typed_data=dict(typed_data), signature=signature.lower(),
                status=RelayStatus.REQUESTED)
    except IntegrityError as exc:
        raise ConflictError("This signature is already being relayed.", code="relay_pending") from exc
    transaction.on_commit(lambda: enqueue_relay(relay.pk))
    return relay


def enqueue_relay(relay_id) -> None:
    """Hand a relay to the Celery worker (the periodic sweep retries if the broker is down)."""
    from delegation import tasks

    try:
        tasks.relay_delegation.delay(str(relay_id))
    except Exception:  # noqa: BLE001 - the request stays `requested`; sweep_relays picks it up
        log.exception("could not enqueue relay %s", relay_id)


def relay_status(relay_id: Any, *, refresh: bool = True) -> RelayedDelegation:
    """A relay by id; a submitted one is first checked against the chain (its receipt), when `refresh`."""
    from delegation import relayer

    try:
        relay = RelayedDelegation.objects.get(pk=relay_id)
    except (RelayedDelegation.DoesNotExist, ValueError, ValidationError) as exc:  # unknown or malformed id
        raise NotFoundError("No such relay.", code="relay_not_found") from exc
    if refresh and relay.status == RelayStatus.SUBMITTED:
        try:
            relay = relayer.track(relay.pk)
        except Exception:  # noqa: BLE001 - the status as stored; the tracker task retries
            log.warning("tracking relay %s failed", relay.pk, exc_info=True)
    return relay
