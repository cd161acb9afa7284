"""Standalone verifier of a Foundation archive export (JSON Lines); also the archive's rules.

Run it on an export, with nothing of the portal but this package (no Django)::

    python -m archive.verify export.jsonl
    python -m archive.verify export.jsonl --anchor-rpc http://127.0.0.1:8545 --anchor-address 0x...

It needs only the standard library and eth-account / eth-utils (coincurve, when installed, makes
signature recovery fast). It must never import Django: ``archive/__init__.py`` and
``archive/kinds.py`` stay import-light, and this file imports nothing else of the project.

Exit status: 0 when everything checks out; 1 naming the first bad entry ("entry 42: ..."), or
the trailer / anchor problem; 2 when the file or the chain cannot be read.

The format (``FORMAT``), one JSON object per line, in sequence order:

* entry lines ``{"entry":<body>,"hash":"<64 hex>"}`` where ``<body>`` is the canonical JSON of
  ``{"address","kind","payload","prev_hash","proposal_ref","sequence","signed","time"}`` and
  ``hash = sha256(<body> as UTF-8)``. The first entry has sequence 1 and
  ``prev_hash = GENESIS_HASH`` (64 zeros); every next one has sequence + 1 and the previous hash.
* the LAST line is the trailer ``{"archive_head":{"hash":H,"sequence":S},"entries":N,"format":F}``
  naming the head the export ends at (an empty archive: sequence 0, GENESIS_HASH).

Canonical JSON is ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
encoded as UTF-8, over objects with string keys, strings, integers, booleans and null only:
floats are refused (``canonical_json`` raises), so a value has exactly one encoding.

What is checked, entry by entry, stopping at the first problem:

1. the sequence is the previous + 1 (no gap, no duplicate, no reordering);
2. the stored hash is the SHA-256 of the body bytes, and ``prev_hash`` is the previous hash;
3. the time has the canonical form and never goes backwards; the kind is known; the payload
   has the fields of its kind (``archive.kinds.REQUIRED_FIELDS``) in the right form;
4. signed artifacts (``signed = {"typed_data", "signature", "signer"}``): the EIP-712 signature
   over the stored typed data recovers the stated signer (low-s, EIP-2), and the signer is the
   payload's actor; a contract wallet's signature (``"scheme": "eip1271"``) was checked on chain by
   the portal and is only checked for form here (the report counts them);
5. every final tally equals the totals recomputed from the vote entries before it (the later
   vote of a voter on a proposal replaces the earlier: ``VoteTally``, shared with the portal);
6. the trailer names the last entry; with ``--anchor-rpc``/``--anchor-address`` every head
   anchored on chain (``ArchiveAnchor.Anchored`` events) is in the export with the same hash,
   and the export reaches the latest anchor.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import json.scanner
import multiprocessing
import os
import re
import sys
import time as _time
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, BinaryIO

from archive import kinds as K

FORMAT = "govapp-archive-jsonl/1"
GENESIS_HASH = "0" * 64
#: The fields of an entry body, i.e. everything the entry hash covers (prev_hash included).
BODY_FIELDS = frozenset({"address", "kind", "payload", "prev_hash", "proposal_ref", "sequence", "signed", "time"})
SIGNED_FIELDS = frozenset({"typed_data", "signature", "signer"})
SCHEME_EOA = "eoa"
SCHEME_EIP1271 = "eip1271"
#: secp256k1 group order: signatures with s > N/2 are malleable copies and are refused (EIP-2).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
TYPED_DATA_FIELDS = frozenset({"domain", "types", "primaryType", "message"})

_ENTRY_PREFIX = b'{"entry":'
_HASH_MARK = b',"hash":"'
_ENTRY_SUFFIX_LEN = len(_HASH_MARK) + 64 + 2  # ,"hash":"<64 hex>"}
_TRAILER_PREFIX = b'{"archive_head":'

_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_TIME_MATCH = _TIME_RE.fullmatch
_DECIMAL_RE = re.compile(r"0|[1-9][0-9]*")
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_SIGNATURE_RE = re.compile(r"0x[0-9a-fA-F]{130}")


# --------------------------------------------------------------------------- canonical form
class CanonicalError(ValueError):
    """A value that has no canonical JSON form (a float, a non-string key, ...)."""


_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _check_canonical(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise CanonicalError(f"{path}: NUL characters are not allowed in strings")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CanonicalError(f"{path}: string is not valid Unicode ({exc.reason})") from None
        return
    if isinstance(value, float):
        raise CanonicalError(f"{path}: floats are not allowed (use an integer or a decimal string)")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"{path}: object keys must be strings, got {type(key).__name__}")
            _check_canonical(key, f"{path}.<key>")
            _check_canonical(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_canonical(item, f"{path}[{index}]")
        return
    raise CanonicalError(f"{path}: {type(value).__name__} is not a JSON value")


def canonical_json(value: Any, *, path: str = "$") -> str:
    """The canonical JSON text of `value` (sorted keys, no spaces, UTF-8 text, no floats)."""
    _check_canonical(value, path)
    return _dumps(value)


def dumps_body(body: Mapping[str, Any]) -> str:
    """Serialize an entry body as stored (same encoder as canonical_json, without the checks).

    Export uses this so that a tampered database row (say, a float written by hand) still
    exports and the verifier, not the exporter, reports it.
    """
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def format_time(moment: datetime) -> str:
    """The canonical time of an entry: UTC, microseconds, 'Z' (2025-01-31T12:00:00.000000Z)."""
    if moment.tzinfo is None:
        raise ValueError("entry time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_body(*, sequence: int, kind: str, time: str, proposal_ref: str, address: str,
               payload: Any, signed: Any, prev_hash: str) -> dict[str, Any]:
    """The body of an entry: every field the entry hash covers."""
    return {
        "address": address,
        "kind": kind,
        "payload": payload,
        "prev_hash": prev_hash,
        "proposal_ref": proposal_ref,
        "sequence": sequence,
        "signed": signed,
        "time": time,
    }


def hash_body_text(body_text: str) -> str:
    """The entry hash: SHA-256 (hex) of the body's canonical JSON encoded as UTF-8."""
    return hashlib.sha256(body_text.encode("utf-8")).hexdigest()


def export_line(body_text: str, entry_hash: str) -> str:
    """One entry line of the export (without the newline)."""
    return f'{{"entry":{body_text},"hash":"{entry_hash}"}}'


def trailer_line(sequence: int, head_hash: str, count: int) -> str:
    """The last line of an export: the head it ends at."""
    return _dumps({"archive_head": {"hash": head_hash, "sequence": sequence}, "entries": count,
                   "format": FORMAT})


# --------------------------------------------------------------------------- the tally rule
class VoteTally:
    """Totals of one proposal's votes. THE recompute rule, used by the portal and the verifier.

    Feed vote payloads in sequence order with add(); the later vote of a voter (address,
    case-insensitive) replaces the earlier one. totals() gives {"for", "against", "abstain"}
    as decimal strings.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, int]] = {}

    def add(self, vote: Mapping[str, Any]) -> None:
        self._last[str(vote["voter"]).lower()] = (vote["support"], int(vote["weight"]))

    def totals(self) -> dict[str, str]:
        sums = dict.fromkeys(K.SUPPORT_VALUES, 0)
        for support, weight in self._last.values():
            sums[support] += weight
        return {support: str(total) for support, total in sums.items()}

    @property
    def voters(self) -> int:
        return len(self._last)


def tally_votes(votes: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Totals per support (decimal strings) of vote payloads given in sequence order."""
    tally = VoteTally()
    for vote in votes:
        tally.add(vote)
    return tally.totals()


# --------------------------------------------------------------------------- keccak / EIP-712
def _keccak_implementation():
    """The fastest keccak-256 at hand: pycryptodome's C core called directly (a reused per-thread
    state, 3x faster than its Python wrapper), else its wrapper, else eth-utils; self-tested."""
    from eth_utils import keccak as eth_keccak

    def by_eth_utils(data: bytes) -> bytes:
        return bytes(eth_keccak(data))

    try:
        from Crypto.Hash import keccak as wrapper
    except ImportError:  # pragma: no cover - installed with eth-account
        return by_eth_utils

    def by_wrapper(data: bytes) -> bytes:
        return wrapper.new(digest_bits=256, data=data).digest()

    try:
        import threading

        from Crypto.Hash.keccak import _raw_keccak_lib as lib
        from Crypto.Util._raw_api import VoidPointer, c_size_t, c_ubyte, create_string_buffer

        local = threading.local()
        size, padding = c_size_t(32), c_ubyte(0x01)
        absorb, digest, reset = lib.keccak_absorb, lib.keccak_digest, lib.keccak_reset

        def by_core(data: bytes) -> bytes:
            try:
                state, out = local.state, local.out
            except AttributeError:
                pointer = VoidPointer()
                if lib.keccak_init(pointer.address_of(), c_size_t(64), c_ubyte(24)):
                    raise RuntimeError("keccak_init failed") from None
                state, out = local.state, local.out = pointer.get(), create_string_buffer(32)
                local.pointer = pointer
            reset(state)
            absorb(state, data, c_size_t(len(data)))
            digest(state, out, size, padding)
            return out.raw

        for sample in (b"", b"abc", bytes(range(256)) * 3):
            if by_core(sample) != by_wrapper(sample) or by_core(sample) != by_eth_utils(sample):
                return by_wrapper
        return by_core
    except Exception:  # noqa: BLE001 - any surprise in pycryptodome's internals: use its public API
        return by_wrapper


keccak256 = _keccak_implementation()

try:
    import coincurve as _coincurve
except ImportError:  # pragma: no cover - falls back to eth-keys
    _coincurve = None

_ZERO32 = bytes(32)
_EMPTY_ARRAY_HASH = keccak256(b"")
_DOMAIN_FIELD_TYPES = (("name", "string"), ("version", "string"), ("chainId", "uint256"),
                       ("verifyingContract", "address"), ("salt", "bytes32"))
_ATOMIC_INT_RE = re.compile(r"(u?)int(\d{1,3})")
_ATOMIC_BYTES_RE = re.compile(r"bytes(\d{1,2})")
_INT_TEXT_RE = re.compile(r"-?[0-9]+")
_HEX_BYTES_RE = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_HEX_INT_RE = re.compile(r"0x[0-9a-fA-F]+")


class _Unsupported(Exception):
    """The fast EIP-712 encoder does not handle this value; the reference encoder decides."""


@lru_cache(maxsize=65536)
def _address_bytes(value: str) -> bytes:
    """20 bytes of an address string with a valid EIP-55 checksum (or all one case)."""
    if not _ADDRESS_RE.fullmatch(value):
        raise _Unsupported
    digits = value[2:]
    if not (digits.islower() or digits.isupper() or digits.isdigit()):
        lower = digits.lower()
        nibbles = keccak256(lower.encode("ascii")).hex()
        expected = "".join(c.upper() if c.isalpha() and int(nibbles[i], 16) >= 8 else c
                           for i, c in enumerate(lower))
        if expected != digits:
            raise _Unsupported
    return bytes.fromhex(digits)


@lru_cache(maxsize=512)
def _int_type(type_: str) -> tuple[int, bool] | None:
    """(bits, unsigned) of uint<N>/int<N> (N a multiple of 8 up to 256), else None."""
    match = _ATOMIC_INT_RE.fullmatch(type_)
    if not match:
        return None
    bits = int(match.group(2))
    if bits % 8 or not 8 <= bits <= 256:
        raise _Unsupported
    return bits, bool(match.group(1))


@lru_cache(maxsize=8192)
def _keccak_text(value: str) -> bytes:
    return keccak256(value.encode("utf-8"))


@lru_cache(maxsize=65536)
def _address_of_point(point: bytes) -> str:
    return "0x" + keccak256(point)[-20:].hex()


class _Encoder:
    """EIP-712 hashStruct for one `types` table, with the type hashes cached."""

    def __init__(self, types: Mapping[str, Any]) -> None:
        self.types = types
        self._type_hash: dict[str, bytes] = {}
        for name, fields in types.items():
            if not isinstance(name, str) or not isinstance(fields, list):
                raise _Unsupported
            for f in fields:
                if not isinstance(f, dict) or not isinstance(f.get("name"), str) \
                        or not isinstance(f.get("type"), str):
                    raise _Unsupported

    def _deps(self, name: str, found: set[str]) -> None:
        core = name.split("[", 1)[0]
        if core in found or core not in self.types:
            return
        found.add(core)
        for f in self.types[core]:
            self._deps(f["type"], found)

    def type_hash(self, name: str) -> bytes:
        cached = self._type_hash.get(name)
        if cached is None:
            deps: set[str] = set()
            self._deps(name, deps)
            deps.discard(name)
            text = "".join(
                t + "(" + ",".join(f["type"] + " " + f["name"] for f in self.types[t]) + ")"
                for t in [name, *sorted(deps)]
            )
            cached = self._type_hash[name] = keccak256(text.encode("utf-8"))
        return cached

    def hash_struct(self, name: str, data: Any) -> bytes:
        if not isinstance(data, dict):
            raise _Unsupported
        parts = [self.type_hash(name)]
        for f in self.types[name]:
            parts.append(self.encode_field(f["type"], data.get(f["name"])))
        return keccak256(b"".join(parts))

    def encode_field(self, type_: str, value: Any) -> bytes:  # noqa: C901 - one branch per ABI type
        if type_ in self.types:
            return _ZERO32 if value is None else self.hash_struct(type_, value)
        if type_.endswith("]"):
            if not isinstance(value, list):
                raise _Unsupported
            if not value:
                return _EMPTY_ARRAY_HASH
            parent = type_[: type_.rindex("[")]
            return keccak256(b"".join(self.encode_field(parent, item) for item in value))
        if type_ == "string":
            if value is None:
                return _ZERO32
            if not isinstance(value, str):
                raise _Unsupported
            return _keccak_text(value)
        if type_ == "bytes":
            if value is None:
                return _ZERO32
            if not isinstance(value, str) or not _HEX_BYTES_RE.fullmatch(value):
                raise _Unsupported
            return keccak256(bytes.fromhex(value[2:]))
        if value is None:
            raise _Unsupported
        if type_ == "address":
            if not isinstance(value, str):
                raise _Unsupported
            return bytes(12) + _address_bytes(value)
        if type_ == "bool":
            if not isinstance(value, bool | int | str):
                raise _Unsupported
            truth = not (not value or value in ("False", "false", "0"))
            return (1 if truth else 0).to_bytes(32, "big")
        int_type = _int_type(type_)
        if int_type is not None:
            bits, unsigned = int_type
            if type(value) is not int:
                if isinstance(value, str):
                    if _HEX_INT_RE.fullmatch(value):
                        value = int(value, 16)
                    elif _INT_TEXT_RE.fullmatch(value):
                        value = int(value)
                    else:
                        raise _Unsupported
                else:
                    raise _Unsupported  # bool, float, ...
            if unsigned:
                if not 0 <= value < 1 << bits:
                    raise _Unsupported
                return value.to_bytes(32, "big")
            if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
                raise _Unsupported
            return value.to_bytes(32, "big", signed=True)
        match = _ATOMIC_BYTES_RE.fullmatch(type_)
        if match:
            size = int(match.group(1))
            if not 1 <= size <= 32 or not isinstance(value, str) or not _HEX_BYTES_RE.fullmatch(value):
                raise _Unsupported
            raw = bytes.fromhex(value[2:])
            if len(raw) > size:
                raise _Unsupported
            return raw.ljust(32, b"\x00")
        raise _Unsupported


@lru_cache(maxsize=256)
def _encoder_for(types_key: tuple) -> tuple[_Encoder, str]:
    """(encoder of the message types, derived primary type) for a `types` table given as a key."""
    types = {name: [{"name": n, "type": t} for n, t in fields] for name, fields in types_key
             if name != "EIP712Domain"}
    encoder = _Encoder(types)
    referenced = {f["type"].split("[", 1)[0] for name, fields in types.items() for f in fields
                  if f["type"].split("[", 1)[0] != name}
    roots = [name for name in types if name not in referenced]
    if len(roots) != 1:
        raise _Unsupported
    return encoder, roots[0]


@lru_cache(maxsize=256)
def _domain_separator(domain_items: tuple[tuple[str, Any], ...]) -> bytes:
    domain = dict(domain_items)
    if any(key not in dict(_DOMAIN_FIELD_TYPES) for key in domain):
        raise _Unsupported
    fields = [{"name": n, "type": t} for n, t in _DOMAIN_FIELD_TYPES if n in domain]
    return _Encoder({"EIP712Domain": fields}).hash_struct("EIP712Domain", domain)


def _fast_digest(typed_data: Mapping[str, Any]) -> bytes:
    types = typed_data["types"]
    domain = typed_data["domain"]
    if not isinstance(types, dict) or not isinstance(domain, dict):
        raise _Unsupported
    domain_type = types.get("EIP712Domain")
    if domain_type is not None and (
            not isinstance(domain_type, list)
            or {f.get("name") for f in domain_type if isinstance(f, dict)} != set(domain)):
        raise _Unsupported
    try:
        domain_items = tuple(sorted(domain.items()))
        types_key = tuple((name, tuple((f["name"], f["type"]) for f in fields)) for name, fields in types.items())
        hash(domain_items)
        hash(types_key)
    except (TypeError, KeyError, AttributeError):
        raise _Unsupported from None
    encoder, primary = _encoder_for(types_key)
    if typed_data["primaryType"] != primary:
        raise _Unsupported
    struct_hash = encoder.hash_struct(primary, typed_data["message"])
    return keccak256(b"\x19\x01" + _domain_separator(domain_items) + struct_hash)


def _reference_digest(typed_data: Mapping[str, Any]) -> bytes:
    """eth-account's EIP-712 digest (slow, but the reference for inputs the fast path declines)."""
    from eth_account.messages import _hash_eip191_message, encode_typed_data

    return bytes(_hash_eip191_message(encode_typed_data(full_message=dict(typed_data))))


def typed_data_digest(typed_data: Mapping[str, Any]) -> bytes:
    """The 32-byte EIP-712 digest that was signed (keccak(0x1901 ‖ domainSeparator ‖ hashStruct))."""
    try:
        return _fast_digest(typed_data)
    except _Unsupported:
        return _reference_digest(typed_data)


def recover_signer(digest: bytes, signature: str) -> str:
    """Lower-case 0x address that produced the 65-byte hex signature (r ‖ s ‖ v) over `digest`."""
    raw = bytes.fromhex(signature[2:])
    if int.from_bytes(raw[32:64], "big") > SECP256K1_N // 2:
        raise ValueError("s is in the upper half of the curve order (a malleable signature, EIP-2)")
    v = raw[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1):
        raise ValueError(f"bad recovery id v={raw[64]}")
    if _coincurve is not None:
        public = _coincurve.PublicKey.from_signature_and_message(raw[:64] + bytes([v]), digest, hasher=None)
        point = public.format(compressed=False)[1:]
    else:  # pragma: no cover
        from eth_keys import keys

        point = keys.Signature(raw[:64] + bytes([v])).recover_public_key_from_msg_hash(digest).to_bytes()
    return _address_of_point(point)


def signed_problem(signed: Any, *, check_signature: bool = True) -> str | None:
    """Why a signed artifact is malformed or its signature does not recover its signer (or None).

    ``signed = {"typed_data", "signature", "signer"}`` plus, for a contract wallet (EIP-1271),
    ``"scheme": "eip1271"``: such a signature is whatever bytes the wallet accepts, checked by the
    portal on chain when it was received; offline it can only be checked for form.
    """
    if not isinstance(signed, dict):
        return "signed must be an object {typed_data, signature, signer}"
    keys = set(signed)
    if not keys >= SIGNED_FIELDS or not keys <= SIGNED_FIELDS | {"scheme"}:
        return f"signed must have the fields {sorted(SIGNED_FIELDS)} (and optionally scheme), has {sorted(signed)}"
    scheme = signed.get("scheme", SCHEME_EOA)
    if scheme not in (SCHEME_EOA, SCHEME_EIP1271):
        return f"signed.scheme must be {SCHEME_EOA} or {SCHEME_EIP1271}"
    typed_data, signature, signer = signed["typed_data"], signed["signature"], signed["signer"]
    if not isinstance(typed_data, dict) or not set(typed_data) >= TYPED_DATA_FIELDS:
        return "signed.typed_data must be the full EIP-712 JSON (domain, types, primaryType, message)"
    if not isinstance(typed_data["message"], dict) or not isinstance(typed_data["primaryType"], str):
        return "signed.typed_data has a malformed message or primaryType"
    if scheme == SCHEME_EOA and (not isinstance(signature, str) or not _SIGNATURE_RE.fullmatch(signature)):
        return "signed.signature must be a 0x-prefixed 65-byte hex string"
    if scheme == SCHEME_EIP1271 and (not isinstance(signature, str) or not _HEX_BYTES_RE.fullmatch(signature)):
        return "signed.signature must be 0x-prefixed hex"
    if not isinstance(signer, str) or not _ADDRESS_RE.fullmatch(signer):
        return "signed.signer must be an address"
    if not check_signature:
        return None
    try:
        digest = typed_data_digest(typed_data)
    except Exception as exc:  # noqa: BLE001 - any encoding failure means "not valid typed data"
        return f"signed.typed_data is not valid EIP-712 data ({type(exc).__name__}: {exc})"
    if scheme == SCHEME_EIP1271:
        return None
    try:
        recovered = recover_signer(digest, signature)
    except Exception as exc:  # noqa: BLE001 - an unrecoverable signature is a bad signature
        return f"signature does not recover ({exc})"
    if recovered != signer.lower():
        return f"signature recovers {recovered}, not the stated signer {signer}"
    return None


# --------------------------------------------------------------------------- per-entry rules
_GOVERNOR_SUPPORT = {0: "against", 1: "for", 2: "abstain"}


def _is_decimal(value: Any) -> bool:
    return isinstance(value, str) and _DECIMAL_RE.fullmatch(value) is not None


_REQUIRED_SETS = {kind: frozenset(fields) for kind, fields in K.REQUIRED_FIELDS.items()}
_ADDRESS_FIELDS = K.ADDRESS_FIELDS


def payload_problem(kind: str, payload: Any, signed: Any) -> str | None:
    """Why a payload does not fit its kind (or None). Signatures are checked by signed_problem."""
    required = _REQUIRED_SETS.get(kind) if type(kind) is str else None
    if required is None:
        return f"unknown kind {kind!r}"
    if type(payload) is not dict:
        return "payload must be a JSON object"
    if not required <= payload.keys():
        missing = [name for name in K.REQUIRED_FIELDS[kind] if name not in payload]
        return f"payload of {kind} lacks {', '.join(missing)}"
    for name in _ADDRESS_FIELDS.intersection(payload):
        value = payload[name]
        if not isinstance(value, str) or not _ADDRESS_RE.fullmatch(value):
            return f"payload.{name} must be an address"
    if "proposal" in payload and (not isinstance(payload["proposal"], str) or not payload["proposal"]):
        return "payload.proposal must be a non-empty string (the proposal reference)"
    if kind in K.VOTE_KINDS:
        if payload["support"] not in K.SUPPORT_VALUES:
            return f"payload.support must be one of {', '.join(K.SUPPORT_VALUES)}"
        if not _is_decimal(payload["weight"]):
            return "payload.weight must be a non-negative integer as a decimal string"
    elif kind == K.TALLY_FINAL:
        totals = payload["totals"]
        if not isinstance(totals, dict) or set(totals) != set(K.SUPPORT_VALUES) \
                or not all(_is_decimal(v) for v in totals.values()):
            return "payload.totals must map for, against and abstain to decimal strings"
    elif kind == K.COUNCIL_MEMBERSHIP_CHANGED:
        if payload["change"] not in K.MEMBERSHIP_CHANGES:
            return f"payload.change must be one of {', '.join(K.MEMBERSHIP_CHANGES)}"
    elif kind == K.DOCUMENT_PUBLISHED:
        if not isinstance(payload["content_sha256"], str) or not _HEX64_RE.fullmatch(payload["content_sha256"]):
            return "payload.content_sha256 must be 64 lower-case hex digits"
        if isinstance(payload["size"], bool) or not isinstance(payload["size"], int) or payload["size"] < 0:
            return "payload.size must be a non-negative integer"
    if kind in K.SIGNED_KINDS:
        if signed is None:
            return f"{kind} must carry its signed artifact (typed_data, signature, signer)"
        if isinstance(signed, dict) and isinstance(signed.get("signer"), str):
            actor = payload[K.SIGNER_FIELD[kind]]
            if signed["signer"].lower() != actor.lower():
                return f"signed.signer {signed['signer']} is not payload.{K.SIGNER_FIELD[kind]} {actor}"
        if kind in K.VOTE_KINDS and isinstance(signed, dict) and isinstance(signed.get("typed_data"), dict):
            return _vote_binding_problem(payload, signed["typed_data"].get("message"))
    return None


def _vote_binding_problem(payload: Mapping[str, Any], message: Any) -> str | None:
    """A signed vote message that names the voter or the support must agree with the payload."""
    if not isinstance(message, dict):
        return None
    if "voter" in message and str(message["voter"]).lower() != payload["voter"].lower():
        return "the signed message's voter differs from payload.voter"
    if "support" in message:
        signed_support = message["support"]
        if isinstance(signed_support, int) and not isinstance(signed_support, bool):
            signed_support = _GOVERNOR_SUPPORT.get(signed_support)
        elif isinstance(signed_support, str) and signed_support.isdigit():
            signed_support = _GOVERNOR_SUPPORT.get(int(signed_support))
        if signed_support != payload["support"]:
            return f"the signed message's support {message['support']!r} differs from payload.support"
    return None


# --------------------------------------------------------------------------- the verifier
class VerificationFailed(Exception):
    """The first problem found; `sequence` names the entry (None for trailer/anchor problems)."""

    def __init__(self, message: str, *, sequence: int | None = None, line: int | None = None) -> None:
        self.sequence = sequence
        self.line = line
        self.problem = message
        prefix = f"entry {sequence}" if sequence is not None else "export"
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"{prefix}{where}: {message}")


@dataclass
class Report:
    entries: int = 0
    head_sequence: int = 0
    head_hash: str = GENESIS_HASH
    signatures: int = 0
    contract_signatures: int = 0
    tallies: int = 0
    anchors: int = 0
    seconds: float = 0.0
    kinds: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        rate = self.entries / self.seconds if self.seconds else 0.0
        return (f"OK: {self.entries} entries, head sequence {self.head_sequence} hash {self.head_hash}; "
                f"{self.signatures} signatures verified ({self.contract_signatures} contract-wallet signatures "
                f"not checkable offline); {self.tallies} tallies recomputed; "
                f"{self.anchors} on-chain anchors matched; {self.seconds:.2f}s ({rate:,.0f} entries/s)")


_scan_once = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner, without decode()'s wrapping
_sha256 = hashlib.sha256


def _parse_json(text: str) -> Any:
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        raise ValueError("no JSON value") from None
    if end != len(text):
        raise ValueError(f"extra data at character {end}")
    return value


def inspect_line(raw: bytes, check_signatures: bool = True) -> tuple | None:
    """The checks of one export line that need no other line (run in parallel by verify_lines).

    Returns None for an empty line, ("T", trailer) for the trailer, ("B", problem) for a line that
    is not a readable entry, or ("E", sequence, prev_hash, hash, time, kind, payload-if-vote-or-tally,
    hash problem, content problem, signature kind) where signature kind is 0 none, 1 EOA, 2 EIP-1271.
    """
    raw = raw.rstrip(b"\r\n")
    if not raw:
        return None
    if raw.startswith(_TRAILER_PREFIX):
        try:
            return ("T", json.loads(raw))
        except ValueError as exc:
            return ("X", f"unreadable trailer line ({exc})")
    if not raw.startswith(_ENTRY_PREFIX) or not raw.endswith(b'"}') \
            or raw[-_ENTRY_SUFFIX_LEN:-_ENTRY_SUFFIX_LEN + len(_HASH_MARK)] != _HASH_MARK:
        return ("B", "line is not an entry line {\"entry\":...,\"hash\":...}")
    body_bytes = raw[len(_ENTRY_PREFIX):-_ENTRY_SUFFIX_LEN]
    stored_hash = raw[-66:-2].decode("ascii", "replace")
    try:
        body = _parse_json(body_bytes.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        return ("B", f"the entry body is not JSON ({exc})")
    if type(body) is not dict or body.keys() != BODY_FIELDS:
        found = sorted(body) if isinstance(body, dict) else type(body).__name__
        return ("B", f"the entry body must have exactly {sorted(BODY_FIELDS)}, has {found}")
    computed = _sha256(body_bytes).hexdigest()
    kind, payload, signed = body["kind"], body["payload"], body["signed"]
    if computed != stored_hash:
        return ("E", body["sequence"], body["prev_hash"], stored_hash, body["time"], kind, None,
                f"hash mismatch: stored {stored_hash}, computed {computed} (the entry was altered)", None, 0)
    # the content: fields of the body, the payload rules of its kind, the signed artifact
    ref = body["proposal_ref"]
    signature_kind, counted = 0, None
    if type(ref) is not str or type(body["address"]) is not str:
        content = "proposal_ref and address must be strings"
    else:
        content = payload_problem(kind, payload, signed)
        if content is None:
            if "proposal" in payload and payload["proposal"] != ref:
                content = "proposal_ref differs from payload.proposal"
            elif signed is not None:
                content = signed_problem(signed, check_signature=check_signatures)
                if content is None:
                    signature_kind = 2 if signed.get("scheme") == SCHEME_EIP1271 else 1
            if content is None and kind in _TALLIED_KINDS:
                counted = payload
    return ("E", body["sequence"], body["prev_hash"], stored_hash, body["time"], kind, counted, None, content,
            signature_kind)


_TALLIED_KINDS = K.VOTE_KINDS | {K.TALLY_FINAL}


class Verifier:
    """Checks an export line by line in constant memory (except one tally per open proposal).

    ``anchors`` maps anchored sequences to head hashes (see read_anchors); the export must
    contain each of them and reach the highest. feed() takes raw lines; apply() takes what
    inspect_line() made of them (possibly in another process), in line order.
    """

    def __init__(self, *, check_signatures: bool = True, anchors: Mapping[int, str] | None = None) -> None:
        self.check_signatures = check_signatures
        self.anchors = dict(anchors or {})
        self.report = Report()
        self._prev_hash = GENESIS_HASH
        self._prev_time = ""
        self._tallies: dict[str, VoteTally] = {}
        self._closed: set[str] = set()
        self._trailer: dict[str, Any] | None = None
        self._line = 0
        self._deferred: list[tuple] | None = None

    def feed(self, raw: bytes) -> None:
        """Check one line of the export (bytes, with or without the newline)."""
        self.apply(inspect_line(raw, self.check_signatures))

    def apply(self, item: tuple | None) -> None:
        """Apply what inspect_line() found for the next line (the sequential checks)."""
        self._line += 1
        if item is None:
            return
        if item[0] != "E" or self._trailer is not None:
            self._apply_other(item)
            return
        _, sequence, prev_hash, stored_hash, entry_time, kind, counted, hash_problem, content_problem, signature = item
        report = self.report
        # One test for the common case; _first_problem() says what is wrong, in the order of the checks.
        if (sequence != report.head_sequence + 1 or type(sequence) is not int or hash_problem is not None
                or prev_hash != self._prev_hash or type(entry_time) is not str or entry_time < self._prev_time
                or content_problem is not None or not _TIME_MATCH(entry_time)):
            raise self._first_problem(item)
        if signature:
            if signature == 2:
                report.contract_signatures += 1
            elif self.check_signatures:
                report.signatures += 1
        if counted is not None:
            if self._deferred is not None:  # a worker's chunk: the main process keeps the tallies
                self._deferred.append((kind, counted, sequence, self._line))
            else:
                self._tally(kind, counted, sequence, self._line)
        if self.anchors:
            anchored = self.anchors.get(sequence)
            if anchored is not None:
                if anchored != stored_hash:
                    raise VerificationFailed(f"hash {stored_hash} differs from the on-chain anchor {anchored}",
                                             sequence=sequence, line=self._line)
                report.anchors += 1
        self._prev_hash = stored_hash
        self._prev_time = entry_time
        report.entries += 1
        report.head_sequence = sequence
        report.head_hash = stored_hash
        report.kinds[kind] += 1

    def _apply_other(self, item: tuple) -> None:
        line = self._line
        if self._trailer is not None:
            raise VerificationFailed("data after the archive_head trailer line", line=line)
        tag = item[0]
        if tag == "T":
            self._trailer = item[1]
            return
        if tag == "X":
            raise VerificationFailed(item[1], line=line)
        raise VerificationFailed(item[1], sequence=self.report.head_sequence + 1, line=line)  # "B"

    def _first_problem(self, item: tuple) -> VerificationFailed:
        _, sequence, prev_hash, _, entry_time, _, _, hash_problem, content_problem, _ = item
        line = self._line
        expected = self.report.head_sequence + 1
        if sequence != expected or type(sequence) is not int:
            if type(sequence) is int and sequence > expected:
                return VerificationFailed(f"missing: the next line has sequence {sequence}",
                                          sequence=expected, line=line)
            return VerificationFailed(f"out of order: sequence {sequence!r} where {expected} was expected",
                                      sequence=expected, line=line)
        if hash_problem:
            return VerificationFailed(hash_problem, sequence=sequence, line=line)
        if prev_hash != self._prev_hash:
            return VerificationFailed(f"broken link: prev_hash {prev_hash} is not the previous "
                                      f"entry's hash {self._prev_hash}", sequence=sequence, line=line)
        if type(entry_time) is not str or not _TIME_MATCH(entry_time):
            return VerificationFailed(f"time {entry_time!r} is not canonical", sequence=sequence, line=line)
        if entry_time < self._prev_time:
            return VerificationFailed(f"time goes backwards ({entry_time} < {self._prev_time})",
                                      sequence=sequence, line=line)
        return VerificationFailed(content_problem, sequence=sequence, line=line)

    def apply_chunk(self, lines: list[bytes], summary: tuple | None) -> None:
        """Take over what a worker verified of `lines` (see _verify_chunk), or, if the worker found a
        problem or the chunk does not continue this state, check the lines here, one by one: the
        first problem is then named exactly as a serial run names it."""
        if summary is None:
            self._feed_all(lines)
            return
        count, nonempty, start, end, deferred = summary
        report = self.report
        if nonempty and self._trailer is not None:
            self._feed_all(lines)
            return
        if start is not None and (start[0] != report.head_sequence + 1 or start[1] != self._prev_hash
                                  or start[2] < self._prev_time):
            self._feed_all(lines)
            return
        base = self._line
        for kind, payload, sequence, offset in deferred:
            self._tally(kind, payload, sequence, base + offset)
        self._line += count
        entries, head_sequence, head_hash, prev_time, signatures, contract, anchors, kinds, trailer = end
        if entries:
            report.entries += entries
            report.head_sequence, report.head_hash = head_sequence, head_hash
            self._prev_hash, self._prev_time = head_hash, prev_time
            report.signatures += signatures
            report.contract_signatures += contract
            report.anchors += anchors
            report.kinds.update(kinds)
        if trailer is not None:
            self._trailer = trailer

    def _feed_all(self, lines: list[bytes]) -> None:
        for raw in lines:
            self.feed(raw)

    def _tally(self, kind: str, payload: Mapping[str, Any], sequence: int, line: int) -> None:
        ref = payload["proposal"]
        if ref in self._closed:
            raise VerificationFailed(f"{kind} after the final tally of proposal {ref}",
                                     sequence=sequence, line=line)
        tally = self._tallies.get(ref)
        if tally is None:
            tally = self._tallies[ref] = VoteTally()
        if kind in K.VOTE_KINDS:
            tally.add(payload)
            return
        recomputed = tally.totals()
        if recomputed != payload["totals"]:
            raise VerificationFailed(f"wrong tally for proposal {ref}: recorded {payload['totals']}, "
                                     f"recomputed from the votes {recomputed}", sequence=sequence, line=line)
        self.report.tallies += 1
        self._closed.add(ref)
        del self._tallies[ref]

    def finish(self) -> Report:
        """Check the trailer and the anchors once every line was fed; returns the report."""
        report = self.report
        if self._trailer is None:
            raise VerificationFailed("no archive_head trailer line: the export is truncated")
        trailer = self._trailer
        head = trailer.get("archive_head") if isinstance(trailer, dict) else None
        if trailer.get("format") != FORMAT:
            raise VerificationFailed(f"unknown format {trailer.get('format')!r} (expected {FORMAT})")
        if not isinstance(head, dict) or head.get("sequence") != report.head_sequence \
                or head.get("hash") != report.head_hash or trailer.get("entries") != report.entries:
            raise VerificationFailed(
                f"the trailer names head {head} over {trailer.get('entries')} entries, but the export ends at "
                f"sequence {report.head_sequence} hash {report.head_hash} after {report.entries} entries")
        if self.anchors:
            highest = max(self.anchors)
            if highest > report.head_sequence:
                raise VerificationFailed(
                    f"the export ends at sequence {report.head_sequence}, but sequence {highest} is anchored "
                    "on chain: the export is stale or truncated")
        return report


def _chunks(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for raw in lines:
        chunk.append(raw)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def default_jobs() -> int:
    """Worker processes for verify_lines: one per CPU (at most 8)."""
    return max(1, min(os.cpu_count() or 1, 8))


_WORKER: dict[str, Any] = {}


def _init_worker(check_signatures: bool, anchors: Mapping[int, str] | None) -> None:
    _WORKER.update(check_signatures=check_signatures, anchors=anchors)


def _verify_chunk(lines: list[bytes]) -> tuple | None:
    """In a worker: verify a chunk as if its first entry continued a valid chain.

    Returns None if any problem shows up (the main process then names it by checking the chunk
    itself), else (lines, any non-empty line, (first sequence, its prev_hash, its time) or None,
    end state, the vote/tally payloads to count in order).
    """
    check_signatures = _WORKER["check_signatures"]
    verifier = Verifier(check_signatures=check_signatures, anchors=_WORKER["anchors"])
    verifier._deferred = []
    start, nonempty = None, False
    try:
        for raw in lines:
            item = inspect_line(raw, check_signatures)
            if item is not None:
                if not nonempty and item[0] == "E" and type(item[1]) is int and type(item[4]) is str:
                    start = (item[1], item[2], item[4])
                    verifier.report.head_sequence = item[1] - 1
                    verifier._prev_hash, verifier._prev_time = item[2], item[4]
                nonempty = True
            verifier.apply(item)
    except VerificationFailed:
        return None
    report = verifier.report
    end = (report.entries, report.head_sequence, report.head_hash, verifier._prev_time, report.signatures,
           report.contract_signatures, report.anchors, report.kinds, verifier._trailer)
    return (len(lines), nonempty, start, end, verifier._deferred)


def verify_lines(lines: Iterable[bytes], *, check_signatures: bool = True,
                 anchors: Mapping[int, str] | None = None, jobs: int = 1, chunk_size: int = 2000) -> Report:
    """Verify an export given as lines of bytes; raises VerificationFailed at the first problem.

    With jobs > 1, worker processes verify chunks of chunk_size lines each (JSON, SHA-256, links,
    payload rules, signatures, anchors) while this process joins the chunks in order (chunk
    boundaries, tallies) — and checks a chunk line by line itself when a worker found a problem in
    it, so the first problem is named exactly as in a serial run. At most 4 chunks per worker are
    in flight: memory stays bounded.
    """
    started = _time.perf_counter()
    verifier = Verifier(check_signatures=check_signatures, anchors=anchors)
    if jobs <= 1:
        apply, inspect = verifier.apply, inspect_line
        for raw in lines:
            apply(inspect(raw, check_signatures))
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        with context.Pool(jobs, initializer=_init_worker, initargs=(check_signatures, anchors)) as pool:
            pending: deque = deque()
            for chunk in _chunks(lines, chunk_size):
                pending.append((chunk, pool.apply_async(_verify_chunk, (chunk,))))
                if len(pending) >= 4 * jobs:
                    chunk, result = pending.popleft()
                    verifier.apply_chunk(chunk, result.get())
            while pending:
                chunk, result = pending.popleft()
                verifier.apply_chunk(chunk, result.get())
    report = verifier.finish()
    report.seconds = _time.perf_counter() - started
    return report


def verify_file(stream: BinaryIO, **kwargs: Any) -> Report:
    """Verify an export read from a binary stream (a buffered file iterates by line, fast)."""
    return verify_lines(stream, **kwargs)


# --------------------------------------------------------------------------- on-chain anchors
#: keccak("Anchored(uint256,bytes32,uint256)") and the selector of latest().
ANCHORED_TOPIC = "0x" + keccak256(b"Anchored(uint256,bytes32,uint256)").hex()
LATEST_SELECTOR = "0x" + keccak256(b"latest()")[:4].hex()


class AnchorError(RuntimeError):
    """The chain could not be read, or holds no usable anchor."""


def _rpc(url: str, method: str, params: list[Any], timeout: float = 10.0) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    if not url.startswith(("http://", "https://")):
        raise AnchorError(f"--anchor-rpc must be an http(s) URL, got {url!r}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            reply = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AnchorError(f"{method} on {url} failed: {exc}") from exc
    if reply.get("error"):
        raise AnchorError(f"{method} on {url} failed: {reply['error']}")
    return reply.get("result")


def read_anchors(rpc_url: str, address: str, *, from_block: int = 0) -> tuple[dict[int, str], int, str]:
    """All anchored heads of the ArchiveAnchor at `address`: ({sequence: hash}, latest seq, latest hash).

    Raw JSON-RPC (eth_getCode, eth_call latest(), eth_getLogs Anchored): no web3 needed.
    """
    if not _ADDRESS_RE.fullmatch(address):
        raise AnchorError(f"--anchor-address {address!r} is not an address")
    if _rpc(rpc_url, "eth_getCode", [address, "latest"]) in (None, "0x", "0x0"):
        raise AnchorError(f"no contract at {address}")
    latest = _rpc(rpc_url, "eth_call", [{"to": address, "data": LATEST_SELECTOR}, "latest"])
    raw = bytes.fromhex(latest[2:])
    if len(raw) != 96:
        raise AnchorError(f"latest() at {address} returned {len(raw)} bytes: not an ArchiveAnchor")
    latest_sequence = int.from_bytes(raw[:32], "big")
    latest_hash = raw[32:64].hex()
    count = int.from_bytes(raw[64:], "big")
    if count == 0:
        raise AnchorError(f"the ArchiveAnchor at {address} has no anchor yet")
    logs = _rpc(rpc_url, "eth_getLogs", [{"address": address, "fromBlock": hex(from_block),
                                          "toBlock": "latest", "topics": [ANCHORED_TOPIC]}])
    anchors: dict[int, str] = {}
    for log in logs or []:
        sequence = int(log["topics"][1], 16)
        anchors[sequence] = bytes.fromhex(log["data"][2:])[:32].hex()
    if anchors.get(latest_sequence) != latest_hash:
        raise AnchorError("the Anchored events do not include the contract's latest anchor "
                          f"(sequence {latest_sequence}); is --anchor-from-block too high?")
    return anchors, latest_sequence, latest_hash


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m archive.verify",
        description="Verify a Foundation archive export (JSON Lines): hash chain, signatures, tallies, anchors.")
    parser.add_argument("export", help="the export file (archive_export / GET /archive/export.jsonl); - for stdin")
    parser.add_argument("--no-signatures", action="store_true",
                        help="skip re-verifying EIP-712 signatures (hash chain, tallies and anchors only)")
    parser.add_argument("--jobs", type=int, default=default_jobs(),
                        help="worker processes for the per-entry checks (default: one per CPU; 1 = serial)")
    parser.add_argument("--anchor-rpc", help="JSON-RPC URL of the chain holding the ArchiveAnchor contract")
    parser.add_argument("--anchor-address", help="address of the ArchiveAnchor contract")
    parser.add_argument("--anchor-from-block", type=int, default=0, help="first block to scan for Anchored events")
    args = parser.parse_args(argv)
    if bool(args.anchor_rpc) != bool(args.anchor_address):
        parser.error("--anchor-rpc and --anchor-address go together")

    anchors: dict[int, str] | None = None
    if args.anchor_rpc:
        try:
            anchors, latest_sequence, latest_hash = read_anchors(
                args.anchor_rpc, args.anchor_address, from_block=args.anchor_from_block)
        except AnchorError as exc:
            print(f"FAIL: anchor: {exc}", file=sys.stderr)
            return 2
        print(f"chain: {len(anchors)} anchors, latest sequence {latest_sequence} hash {latest_hash}")
    try:
        if args.export == "-":
            report = verify_file(sys.stdin.buffer, check_signatures=not args.no_signatures, anchors=anchors,
                                 jobs=args.jobs)
        else:
            with open(args.export, "rb", buffering=1 << 20) as stream:
                report = verify_file(stream, check_signatures=not args.no_signatures, anchors=anchors,
                                     jobs=args.jobs)
    except OSError as exc:
        print(f"FAIL: cannot read {args.export}: {exc}", file=sys.stderr)
        return 2
    except VerificationFailed as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
