"""Rules of the delegate directory, defined once: interest tags, limits, the statement encoding.

Statement encoding (the portal's `DelegateStatement` EIP-712 type, chain.eip712, has string fields
for the lists): ``interests`` and ``links`` are **compact JSON arrays of strings**, e.g.
``["defi","governance"]`` and ``["https://example.org/me"]`` (`json.dumps(values, separators=(",", ":"))`,
non-ASCII kept as is). The portal builds the typed data (``POST /api/delegates/statements/template``),
so wallets sign exactly this form; on publication the strings are parsed back and every rule below
is checked again against the signed values.
"""

from __future__ import annotations

#: The StarkNet delegate platform's interest tags: (slug, label), in display order.
INTERESTS: tuple[tuple[str, str], ...] = (
    ("cairo_dev", "Cairo dev"),
    ("daos", "DAOs"),
    ("governance", "Governance"),
    ("identity", "Identity"),
    ("infrastructure", "Infrastructure"),
    ("legal", "Legal"),
    ("professional_delegate", "Professional delegate"),
    ("security", "Security"),
    ("starknet_community", "Starknet community"),
    ("web3_community", "Web3 community"),
    ("web3_developer", "Web3 developer"),
    ("nft", "NFT"),
    ("gaming", "Gaming"),
    ("defi", "DeFi"),
    ("build", "Build"),
)
INTEREST_SLUGS: frozenset[str] = frozenset(slug for slug, _ in INTERESTS)
INTEREST_LABELS: dict[str, str] = dict(INTERESTS)

DISPLAY_NAME_MAX_CHARS = 80
STATEMENT_MAX_CHARS = 10_000
LINKS_MAX = 10
LINK_MAX_CHARS = 500
LINK_SCHEMES = ("http", "https")

#: A signed statement is accepted for this long after its timestamp (it is built and signed at once)...
STATEMENT_MAX_AGE_SECONDS = 24 * 3600
#: ...and may be at most this far in the future (clock skew).
STATEMENT_MAX_FUTURE_SECONDS = 300

#: Gasless delegation: how long the typed data the portal hands out stays valid (token `expiry`).
RELAY_EXPIRY_SECONDS = 3600
#: How often the relay tracker looks for a receipt, and for how long.
RELAY_TRACK_INTERVAL_SECONDS = 2
RELAY_TRACK_MAX_TRIES = 300

#: Directory pages.
DIRECTORY_PAGE_SIZE = 25
DIRECTORY_MAX_PAGE_SIZE = 100
DELEGATORS_PAGE_SIZE = 50
SORTS: dict[str, tuple[str, ...]] = {
    # sort key -> ORDER BY, each backed by an index of delegation.Delegate (ties broken by address)
    "power": ("-voting_power", "address"),
    "delegators": ("-delegator_count", "address"),
    "name": ("name_key", "address"),
}
DEFAULT_SORT = "power"

#: 4-byte selector of GovernanceToken.delegate(address) = keccak("delegate(address)")[:4] (tests check it).
DELEGATE_SELECTOR = "0x5c19a95c"
