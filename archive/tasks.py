"""Celery tasks of the archive. Beat: "archive-anchor-head" runs anchor_head periodically."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="archive.tasks.anchor_head", ignore_result=False)
def anchor_head() -> dict[str, Any] | None:
    """Publish the archive head to ArchiveAnchor if it moved since the last anchor (else skip)."""
    from archive.anchoring import anchor_head as publish

    anchor = publish()
    if anchor is None:
        return None
    return {"sequence": anchor.sequence, "head_hash": anchor.head_hash, "tx_hash": anchor.tx_hash,
            "block_number": anchor.block_number}
