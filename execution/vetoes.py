"""The security council's veto: signed EIP-712 `Veto` messages, archived one by one, enacted at the threshold.

    typed = veto_template(number, member, reason)          # what the member's wallet signs
    veto = submit_veto(number, typed_data, signature)      # verified, stored, archived (VETO_SIGNATURE)

A veto counts when its signer is a CURRENT member of GOVERNANCE["SECURITY_COUNCIL"]; once
SECURITY_COUNCIL_THRESHOLD members signed, the engine no longer executes the proposal and the council relay
(COUNCIL_RELAY_PRIVATE_KEY, holding GUARDIAN_ROLE) submits UpgradeExecutor.cancel(id, reason) with the
digest of the counted signatures in the reason (execution.identifiers.veto_bundle_digest).

Trust assumption (also in the README): the executor contract does not check the signatures — it trusts
whoever holds GUARDIAN_ROLE. The relay key can therefore cancel without signatures; what the portal
guarantees is that it only does so at the threshold and that every cancel it sends is auditable: the
signatures are in the archive and their digest is in the on-chain reason. The relay cannot schedule or
execute (no EXECUTOR_ROLE): the worst a stolen relay key does is veto (liveness, not safety). Members
keep their own GUARDIAN_ROLE and may cancel directly; the engine adopts such a cancel from the chain.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from eth_utils import is_address, to_checksum_address

from archive import kinds
from archive.models import ArchiveEntry
from archive.services import record
from chain.signing import archive_artifact, typed_data_for, verify_signed
from execution import conf
from execution.models import VETO_OPEN_STATES, Execution, VetoSignature
from govapp.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from proposals.models import Proposal


def _execution_of(number: int | str, *, lock: bool = False) -> Execution:
    try:
        proposal = Proposal.objects.get(number=int(number))
    except (Proposal.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(f"There is no proposal {number}.", code="proposal_not_found") from None
    queryset = Execution.objects.select_for_update() if lock else Execution.objects
    execution = queryset.filter(proposal=proposal).first()
    if execution is None:
        raise ConflictError(f"Proposal {number} is not queued for execution; there is nothing to veto.",
                            code="not_queued")
    return execution


def counted(execution: Execution) -> list[VetoSignature]:
    """The vetoes that count: by current council members, oldest first."""
    members = set(conf.council())
    return [v for v in execution.vetoes.order_by("created_at", "id") if v.member in members]


def threshold_reached(execution: Execution) -> bool:
    return len(counted(execution)) >= conf.council_threshold()


def veto_template(number: int | str, member: Any, reason: str = "", *, timestamp: int | None = None) -> dict[str, Any]:
    """The typed data a council member signs (eth_signTypedData_v4) to veto proposal `number`."""
    if not isinstance(member, str) or not is_address(member.strip()):
        raise DomainError("Give the member address (0x + 40 hex digits).", code="invalid_address",
                          details={"field": "member"})
    _execution_of(number)
    message = {"proposalId": int(number), "member": to_checksum_address(member.strip()), "reason": str(reason or ""),
               "timestamp": int(time.time()) if timestamp is None else int(timestamp)}
    return typed_data_for("Veto", message)


def _message_int(message: dict[str, Any], field: str) -> int:
    value = message.get(field)
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise DomainError(f"message.{field} is not an integer.", code="invalid_message") from None


def submit_veto(number: int | str, typed_data: Any, signature: Any, *, now: datetime | None = None) -> VetoSignature:
    """Accept a council member's signed Veto of proposal `number` (during the timelock).

    Refusals (DomainError, nothing stored): bad_signature & co (chain.signing), not_council_member (403),
    wrong_proposal, reason_required, reason_too_long, timestamp_in_future, timestamp_too_old,
    proposal_not_found (404), not_queued / veto_closed / already_vetoed (409).
    """
    verified = verify_signed("Veto", typed_data, signature, "member")
    message = verified.typed_data["message"]
    member = verified.signer
    if member not in conf.council():
        raise PermissionDeniedError(f"{member} is not a member of the security council.", code="not_council_member")
    if _message_int(message, "proposalId") != int(number):
        raise DomainError(f"The veto is signed for proposal {message.get('proposalId')}, not {number}.",
                          code="wrong_proposal")
    reason = message.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise DomainError("A veto needs its reasons.", code="reason_required")
    if len(reason) > settings.GOVERNANCE["VOTE_REASON_MAX_CHARS"]:
        raise DomainError("The reason is too long.", code="reason_too_long")
    now = now or timezone.now()
    timestamp = _message_int(message, "timestamp")
    if timestamp > now.timestamp() + settings.GOVERNANCE["VOTE_TIMESTAMP_FUTURE_SECONDS"]:
        raise DomainError("The signature's timestamp is in the future.", code="timestamp_in_future")
    if timestamp < now.timestamp() - settings.GOVERNANCE["VOTE_TIMESTAMP_PAST_SECONDS"]:
        raise DomainError("The signature is too old; sign again.", code="timestamp_too_old")
    with transaction.atomic():
        execution = _execution_of(number, lock=True)  # locks: execution row, then the archive's (in record)
        sync_council_membership()
        if execution.state not in VETO_OPEN_STATES:
            raise ConflictError(f"The execution is {execution.get_state_display()}: the veto window is closed.",
                                code="veto_closed", details={"state": execution.state})
        if VetoSignature.objects.filter(execution=execution, member=member).exists() \
                or VetoSignature.objects.filter(digest=verified.digest).exists():
            raise ConflictError("This member already vetoed this proposal.", code="already_vetoed")
        signed = archive_artifact(verified.typed_data, verified.signature, member,
                                  contract_wallet=verified.contract_wallet)
        entry = record(kinds.VETO_SIGNATURE, {
            "proposal": execution.proposal.ref, "member": member, "reason": reason, "onchain_id": execution.onchain_id,
            "digest": verified.digest, "threshold": conf.council_threshold(),
        }, proposal_ref=execution.proposal.ref, signed=signed)
        try:
            with transaction.atomic():
                veto = VetoSignature.objects.create(
                    execution=execution, member=member, reason=reason, signed_timestamp=timestamp,
                    digest=verified.digest, typed_data=verified.typed_data, signature=verified.signature,
                    contract_wallet=verified.contract_wallet, archive_sequence=entry.sequence)
        except IntegrityError:
            raise ConflictError("This member already vetoed this proposal.", code="already_vetoed") from None
        if threshold_reached(execution):
            Execution.objects.filter(pk=execution.pk).update(next_attempt_at=now)
            transaction.on_commit(lambda: _kick(execution.pk))
    return veto


def _kick(execution_id: int) -> None:
    """Ask a worker to enact the veto now (the beat sweep would do it shortly anyway)."""
    from execution.tasks import advance_execution

    try:
        advance_execution.delay(execution_id)
    except Exception:  # noqa: BLE001 - a broker hiccup must not fail the request; the sweep catches up
        import logging

        logging.getLogger(__name__).warning("could not enqueue the veto of execution %s", execution_id)


# --------------------------------------------------------------------------- council membership


def archived_council() -> list[str]:
    """The council as the archive knows it: COUNCIL_MEMBERSHIP_CHANGED entries replayed in order."""
    members: list[str] = []
    for payload in (ArchiveEntry.objects.filter(kind=kinds.COUNCIL_MEMBERSHIP_CHANGED).order_by("sequence")
                    .values_list("payload", flat=True)):
        address = to_checksum_address(payload["member"])
        if payload["change"] == "added" and address not in members:
            members.append(address)
        elif payload["change"] == "removed" and address in members:
            members.remove(address)
    return members


def sync_council_membership() -> list[tuple[str, str]]:
    """Archive every difference between the configured council and the archived one (added / removed)."""
    configured = conf.council()
    changes: list[tuple[str, str]] = []
    with transaction.atomic():
        archived = archived_council()
        for member in configured:
            if member not in archived:
                changes.append((member, "added"))
        for member in archived:
            if member not in configured:
                changes.append((member, "removed"))
        for member, change in changes:
            record(kinds.COUNCIL_MEMBERSHIP_CHANGED, {
                "member": member, "change": change, "threshold": conf.council_threshold(),
                "council_size": len(configured), "source": "settings.GOVERNANCE[SECURITY_COUNCIL]"})
    return changes
