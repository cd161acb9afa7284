"""Display values of directory rows, computed in Python once per row: all strings, so the template only
prints them (template filters and number localisation cost more than the queries of a page)."""

from __future__ import annotations

from dataclasses import dataclass

from delegation.constants import INTEREST_LABELS
from delegation.formatting import format_share, format_tokens, short_address


@dataclass(frozen=True)
class DirectoryRow:
    rank: str
    address: str
    short_address: str
    display_name: str
    url: str
    voting_power: str
    power_text: str
    share_text: str
    delegator_count: str
    participation_text: str
    last_vote_text: str
    interest_labels: tuple[str, ...]


def directory_rows(rows, *, offset: int, total_voting_power: int, url_prefix: str) -> list[DirectoryRow]:
    """`url_prefix` is the delegate page URL without the address (reverse once, not per row)."""
    out = []
    for i, row in enumerate(rows, start=offset + 1):
        power = int(row.voting_power)
        out.append(DirectoryRow(
            rank=str(i),
            address=row.address,
            short_address=short_address(row.address),
            display_name=row.display_name,
            url=f"{url_prefix}{row.address}/",
            voting_power=str(power),
            power_text=format_tokens(power),
            share_text=format_share(power, total_voting_power),
            delegator_count=str(row.delegator_count),
            participation_text="–" if row.participation_bps is None else f"{row.participation_bps / 100:.1f} %",
            last_vote_text=row.last_vote_at.strftime("%Y-%m-%d") if row.last_vote_at else "–",
            interest_labels=tuple(INTEREST_LABELS.get(t, t) for t in row.interests or ()),
        ))
    return out
