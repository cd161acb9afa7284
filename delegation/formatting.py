"""Number formatting for pages: token amounts (18 decimals), shares and addresses."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

TOKEN_DECIMALS = 18


def format_tokens(value: Any, places: int = 2) -> str:
    """Base units to whole tokens with thousands separators: 1234500000000000000000 -> '1,234.50'."""
    if value is None or value == "":
        return "0"
    amount = Decimal(str(value)) / (Decimal(10) ** TOKEN_DECIMALS)
    quantum = Decimal(1) if places == 0 else Decimal(1).scaleb(-places)
    amount = amount.quantize(quantum, rounding=ROUND_DOWN)
    return f"{amount:,.{places}f}"


def format_share(numerator: Any, denominator: Any) -> str:
    """'12.34 %' of numerator / denominator ('–' when there is no total)."""
    total = Decimal(str(denominator or 0))
    if total <= 0:
        return "–"
    share = Decimal(str(numerator or 0)) * 100 / total
    return f"{share.quantize(Decimal('0.01'), rounding=ROUND_DOWN)} %"


def short_address(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}" if address and len(address) == 42 else address or ""
