"""The registry of governed parameters of the core contract (StarknetCoreState.setParameter).

A parameter-change proposal may only name a parameter listed here, with a value of its type and
within its bounds. On chain a parameter is keyed by `chain.deploy.bytes32_name(name)` (the UTF-8
bytes of the name, right-padded to 32 bytes) and holds a uint256.

Value types:
  integer   a plain non-negative integer in `unit`
  bps       basis points (10 000 = 100 %)
  seconds   a duration in seconds
  tokens    a token amount, written in whole tokens (up to 18 decimals); stored on chain in base units
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from chain.deploy import TOKEN_UNIT


@dataclass(frozen=True)
class Parameter:
    name: str
    description: str
    type: str  # integer | bps | seconds | tokens
    minimum: int  # in on-chain units (base units for tokens)
    maximum: int
    unit: str = ""

    def display(self, onchain_value: int) -> str:
        """A reader's rendering of an on-chain value of this parameter."""
        if self.type == "tokens":
            return f"{format_tokens(onchain_value)} tokens"
        if self.type == "bps":
            return f"{onchain_value:,} bps ({Decimal(onchain_value) / 100:f} %)"
        if self.type == "seconds":
            return f"{onchain_value:,} s ({_duration(onchain_value)})"
        return f"{onchain_value:,} {self.unit}".strip()

    def bounds_text(self) -> str:
        return f"{self.display(self.minimum)} … {self.display(self.maximum)}"


def format_tokens(base_units: int) -> str:
    whole, fraction = divmod(int(base_units), TOKEN_UNIT)
    text = f"{whole:,}"
    if fraction:
        text += "." + f"{fraction:018d}".rstrip("0")
    return text


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n} {u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")) if n]
    return " ".join(parts) or "0 s"


DAY = 86400

PARAMETERS: dict[str, Parameter] = {p.name: p for p in (
    Parameter("fee.min_gas_price", "Minimum L2 gas price", "integer", 1, 10**13, unit="wei"),
    Parameter("fee.max_gas_price", "Maximum L2 gas price", "integer", 10**6, 10**15, unit="wei"),
    Parameter("fee.l1_data_gas_multiplier_bps", "Multiplier applied to the L1 data-gas cost", "bps",
              5_000, 50_000),
    Parameter("fee.l2_gas_per_byte", "L2 gas charged per byte of state diff", "integer", 1, 10_000, unit="gas"),
    Parameter("staking.min_stake", "Minimum stake of a validator", "tokens", 1 * TOKEN_UNIT,
              10_000_000 * TOKEN_UNIT),
    Parameter("staking.unbonding_period_seconds", "Delay before unstaked tokens can be withdrawn", "seconds",
              1 * DAY, 90 * DAY),
    Parameter("staking.reward_rate_bps", "Yearly staking reward rate", "bps", 0, 2_000),
)}
