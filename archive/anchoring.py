"""Publish the archive head to the ArchiveAnchor contract (called by archive.tasks.anchor_head).

Once a head (sequence, hash) is anchored on chain, no one (not even the Foundation) can rewrite
the archive up to it unnoticed: `python -m archive.verify export.jsonl --anchor-rpc ... --anchor-address ...`
checks every anchored head against the export.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from archive import selectors
from archive.models import Anchor, ArchiveEntry
from govapp.errors import DomainError

log = logging.getLogger(__name__)


class AnchorMismatch(DomainError):
    code = "archive_anchor_mismatch"
    status = 409


def anchor_head(*, w3: Any = None, contract: Any = None, key: str | None = None) -> Anchor | None:
    """Anchor the current head unless it is already anchored; returns the new Anchor or None (skipped).

    Defaults: the portal's web3 (CHAIN_RPC_URL), the deployed ArchiveAnchor, settings.DEPLOYER_PRIVATE_KEY
    (the anchor's owner on the dev chain). Refuses (AnchorMismatch) if the chain's latest anchor names a
    hash that our archive does not have at that sequence: the archive or the contract is not the one
    anchored before, and an operator must look.
    """
    from chain.client import get_contract, get_web3
    from chain.tx import TransactionReverted, send_tx

    head = selectors.head()
    if head.sequence == 0:
        return None
    w3 = w3 or get_web3()
    contract = contract or get_contract("ArchiveAnchor", w3)
    address = contract.address
    if Anchor.objects.filter(contract_address=address, sequence__gte=head.sequence).exists():
        return None
    latest_sequence, latest_hash, count = contract.functions.latest().call()
    if count:
        ours = ArchiveEntry.objects.filter(sequence=latest_sequence).values_list("hash", flat=True).first()
        if ours != bytes(latest_hash).hex():
            raise AnchorMismatch(
                f"The chain anchors sequence {latest_sequence} as {bytes(latest_hash).hex()}, but the archive has "
                f"{ours or 'no such entry'}: refusing to anchor over it.")
        if latest_sequence >= head.sequence:
            return None
    try:
        receipt = send_tx(w3, contract.functions.anchor(head.sequence, bytes.fromhex(head.hash)),
                          key or settings.DEPLOYER_PRIVATE_KEY)
    except TransactionReverted as exc:
        if exc.error_name == "SequenceNotIncreasing":  # another worker anchored meanwhile
            log.info("archive head %s already anchored by someone else", head.sequence)
            return None
        raise
    anchor = Anchor.objects.create(
        sequence=head.sequence, head_hash=head.hash, chain_id=w3.eth.chain_id, contract_address=address,
        tx_hash=receipt["transactionHash"].to_0x_hex(), block_number=receipt["blockNumber"])
    log.info("anchored archive head %s (%s) in %s", head.sequence, head.hash, anchor.tx_hash)
    return anchor
