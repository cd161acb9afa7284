"""EIP-4361 (Sign-In with Ethereum) messages: build the exact text, and parse it back strictly.

A plain module (no Django) so it can be used and tested on its own. It implements the message
grammar of https://eips.ethereum.org/EIPS/eip-4361 without the `siwe` package:

    [scheme "://"] domain " wants you to sign in with your Ethereum account:" LF
    address LF
    LF
    [statement LF]
    LF
    "URI: " uri LF
    "Version: 1" LF
    "Chain ID: " chain-id LF
    "Nonce: " nonce LF
    "Issued At: " date-time
    [LF "Expiration Time: " date-time]
    [LF "Not Before: " date-time]
    [LF "Request ID: " request-id]
    [LF "Resources:" *(LF "- " uri)]

Lines are separated by a single LF; there is no trailing newline. Parsing is strict: fields in
this order only, exact labels, an EIP-55 checksummed address, Version 1, a decimal chain id with no
leading zero, an alphanumeric nonce of at least 8 characters and RFC 3339 timestamps with an
explicit offset. Anything else raises `SiweParseError`.

Timestamps are rendered as UTC with whole seconds ("2025-01-31T12:00:00Z"), so
`parse_message(text).to_text() == text` holds for every message `build_message` produces. A
message from another generator that writes, say, "+02:00" or fractional seconds parses, but
re-renders in that canonical form: compare stored texts, not re-rendered ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eth_utils import is_checksum_address

__all__ = [
    "MAX_MESSAGE_LENGTH",
    "SiweMessage",
    "SiweParseError",
    "build_message",
    "format_timestamp",
    "parse_message",
]

# Far above any message we issue (~450 characters); refuse to parse anything longer.
MAX_MESSAGE_LENGTH = 4096

_HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"

# RFC 3986 pieces, restricted to printable ASCII.
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_AUTHORITY_RE = re.compile(
    rf"(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|%[0-9A-Fa-f]{{2}})*@)?"  # userinfo@
    rf"(?:\[[0-9A-Fa-f:.]+\]|(?:[{_UNRESERVED}{_SUB_DELIMS}]|%[0-9A-Fa-f]{{2}})+)"  # host
    r"(?::[0-9]+)?"  # :port
)
# An absolute URI: scheme ":" then any visible ASCII except the characters RFC 3986 never allows.
_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:[!#-;=?-\[\]_a-z~]*")
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
# statement = *( reserved / unreserved / " " ): printable ASCII letters, digits, space and marks.
_STATEMENT_RE = re.compile(rf"[{_UNRESERVED}{_SUB_DELIMS}:/?#\[\]@ ]+")
_CHAIN_ID_RE = re.compile(r"[1-9][0-9]*")
_NONCE_RE = re.compile(r"[A-Za-z0-9]{8,}")
_REQUEST_ID_RE = re.compile(rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|%[0-9A-Fa-f]{{2}})*")
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


class SiweParseError(ValueError):
    """The text is not a well-formed EIP-4361 message (or a field is out of the grammar)."""


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with whole seconds: 2025-01-31T12:00:00Z. Requires an aware datetime."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_timestamp(label: str, text: str) -> datetime:
    if not _DATETIME_RE.fullmatch(text):
        raise SiweParseError(f"{label} is not an RFC 3339 date-time with an offset: {text!r}")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:  # e.g. month 13
        raise SiweParseError(f"{label} is not a valid date-time: {text!r}") from exc


@dataclass(frozen=True)
class SiweMessage:
    """The fields of an EIP-4361 message. `to_text()` renders the exact text that gets signed."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    statement: str | None = None
    version: str = "1"
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)
    scheme: str | None = None

    def __post_init__(self) -> None:
        # Validate on construction so a message that would not parse back can never be built.
        if self.scheme is not None and not _SCHEME_RE.fullmatch(self.scheme):
            raise ValueError(f"invalid scheme: {self.scheme!r}")
        if not isinstance(self.domain, str) or not _AUTHORITY_RE.fullmatch(self.domain):
            raise ValueError(f"invalid domain (an RFC 3986 authority): {self.domain!r}")
        if not isinstance(self.address, str) or not _ADDRESS_RE.fullmatch(self.address):
            raise ValueError(f"invalid address: {self.address!r}")
        if not is_checksum_address(self.address):
            raise ValueError(f"address is not EIP-55 checksummed: {self.address!r}")
        if self.statement is not None and not _STATEMENT_RE.fullmatch(self.statement):
            raise ValueError(f"invalid statement (one line of printable ASCII): {self.statement!r}")
        if not isinstance(self.uri, str) or not _URI_RE.fullmatch(self.uri):
            raise ValueError(f"invalid URI: {self.uri!r}")
        if self.version != "1":
            raise ValueError(f"unsupported version: {self.version!r}")
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int) or self.chain_id < 1:
            raise ValueError(f"invalid chain id: {self.chain_id!r}")
        if not isinstance(self.nonce, str) or not _NONCE_RE.fullmatch(self.nonce):
            raise ValueError(f"invalid nonce (8 or more letters and digits): {self.nonce!r}")
        for name in ("issued_at", "expiration_time", "not_before"):
            value = getattr(self, name)
            if value is None and name != "issued_at":
                continue
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"{name} must be a timezone-aware datetime")
        if self.request_id is not None and not _REQUEST_ID_RE.fullmatch(self.request_id):
            raise ValueError(f"invalid request id: {self.request_id!r}")
        if not isinstance(self.resources, tuple):
            raise ValueError("resources must be a tuple of URIs")
        for uri in self.resources:
            if not isinstance(uri, str) or not _URI_RE.fullmatch(uri):
                raise ValueError(f"invalid resource URI: {uri!r}")

    def to_text(self) -> str:
        prefix = f"{self.scheme}://" if self.scheme else ""
        lines = [f"{prefix}{self.domain}{_HEADER_SUFFIX}", self.address, ""]
        if self.statement is not None:
            lines += [self.statement, ""]
        else:
            lines += [""]
        lines += [
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {format_timestamp(self.issued_at)}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {format_timestamp(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {format_timestamp(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {uri}" for uri in self.resources]
        return "\n".join(lines)


def build_message(
    *,
    domain: str,
    address: str,
    uri: str,
    chain_id: int,
    nonce: str,
    issued_at: datetime,
    statement: str | None = None,
    expiration_time: datetime | None = None,
    not_before: datetime | None = None,
    request_id: str | None = None,
    resources: tuple[str, ...] = (),
) -> str:
    """The exact EIP-4361 text for these fields (ValueError if a field is outside the grammar)."""
    return SiweMessage(
        domain=domain,
        address=address,
        uri=uri,
        chain_id=chain_id,
        nonce=nonce,
        issued_at=issued_at,
        statement=statement,
        expiration_time=expiration_time,
        not_before=not_before,
        request_id=request_id,
        resources=tuple(resources),
    ).to_text()


class _Lines:
    """A cursor over the message lines that demands each one in turn."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.lines)

    def peek(self) -> str | None:
        return None if self.at_end() else self.lines[self.pos]

    def take(self, what: str) -> str:
        if self.at_end():
            raise SiweParseError(f"message ends early: expected {what}")
        line = self.lines[self.pos]
        self.pos += 1
        return line

    def field(self, label: str) -> str:
        line = self.take(f"the {label!r} line")
        prefix = f"{label}: "
        if not line.startswith(prefix):
            raise SiweParseError(f"line {self.pos} must start with {prefix!r}: {line[:80]!r}")
        return line[len(prefix) :]

    def optional_field(self, label: str) -> str | None:
        line = self.peek()
        if line is not None and line.startswith(f"{label}: "):
            return self.field(label)
        return None


def parse_message(text: str) -> SiweMessage:
    """Parse EIP-4361 text into its fields; SiweParseError on anything malformed."""
    if not isinstance(text, str):
        raise SiweParseError("the message must be text")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise SiweParseError(f"the message is longer than {MAX_MESSAGE_LENGTH} characters")
    if not text.isascii() or any(ch < " " and ch != "\n" for ch in text) or "\x7f" in text:
        raise SiweParseError("the message may only hold printable ASCII and LF line breaks")
    cursor = _Lines(text.split("\n"))

    header = cursor.take("the header line")
    if not header.endswith(_HEADER_SUFFIX):
        raise SiweParseError(f"the first line must end with {_HEADER_SUFFIX!r}")
    origin = header[: -len(_HEADER_SUFFIX)]
    scheme: str | None = None
    if "://" in origin:
        scheme, origin = origin.split("://", 1)
        if not _SCHEME_RE.fullmatch(scheme):
            raise SiweParseError(f"invalid scheme: {scheme!r}")
    if not _AUTHORITY_RE.fullmatch(origin):
        raise SiweParseError(f"invalid domain: {origin!r}")

    address = cursor.take("the address line")
    if not _ADDRESS_RE.fullmatch(address):
        raise SiweParseError(f"invalid address line: {address[:80]!r}")
    if not is_checksum_address(address):
        raise SiweParseError(f"the address is not EIP-55 checksummed: {address!r}")

    if cursor.take("an empty line") != "":
        raise SiweParseError("the address must be followed by an empty line")
    statement: str | None = None
    line = cursor.take("a statement or an empty line")
    if line != "":
        if not _STATEMENT_RE.fullmatch(line):
            raise SiweParseError(f"invalid statement: {line[:80]!r}")
        statement = line
        if cursor.take("an empty line") != "":
            raise SiweParseError("the statement must be followed by an empty line")

    uri = cursor.field("URI")
    if not _URI_RE.fullmatch(uri):
        raise SiweParseError(f"invalid URI: {uri[:80]!r}")
    version = cursor.field("Version")
    if version != "1":
        raise SiweParseError(f"unsupported version: {version[:20]!r}")
    chain_text = cursor.field("Chain ID")
    if not _CHAIN_ID_RE.fullmatch(chain_text) or len(chain_text) > 78:  # < 2**256
        raise SiweParseError(f"invalid chain id: {chain_text[:80]!r}")
    nonce = cursor.field("Nonce")
    if not _NONCE_RE.fullmatch(nonce):
        raise SiweParseError(f"invalid nonce: {nonce[:80]!r}")
    issued_at = _parse_timestamp("Issued At", cursor.field("Issued At"))

    expiration_time = not_before = None
    if (value := cursor.optional_field("Expiration Time")) is not None:
        expiration_time = _parse_timestamp("Expiration Time", value)
    if (value := cursor.optional_field("Not Before")) is not None:
        not_before = _parse_timestamp("Not Before", value)
    request_id = cursor.optional_field("Request ID")
    if request_id is not None and not _REQUEST_ID_RE.fullmatch(request_id):
        raise SiweParseError(f"invalid request id: {request_id[:80]!r}")
    resources: list[str] = []
    if cursor.peek() == "Resources:":
        cursor.take("Resources:")
        if cursor.at_end():
            raise SiweParseError("'Resources:' must list at least one URI")
        while not cursor.at_end():
            item = cursor.take("a resource")
            if not item.startswith("- ") or not _URI_RE.fullmatch(item[2:]):
                raise SiweParseError(f"invalid resource line: {item[:80]!r}")
            resources.append(item[2:])
    if not cursor.at_end():
        raise SiweParseError(f"unexpected line {cursor.pos + 1}: {cursor.peek()[:80]!r}")

    try:
        return SiweMessage(
            scheme=scheme,
            domain=origin,
            address=address,
            statement=statement,
            uri=uri,
            version=version,
            chain_id=int(chain_text),
            nonce=nonce,
            issued_at=issued_at,
            expiration_time=expiration_time,
            not_before=not_before,
            request_id=request_id,
            resources=tuple(resources),
        )
    except ValueError as exc:  # a field the grammar above let through but the model refuses
        raise SiweParseError(str(exc)) from exc
