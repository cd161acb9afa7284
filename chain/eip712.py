"""EIP-712 typed data of the portal: the one definition of every signed message, and fast verification.

Plain Python (no Django): the archive's standalone verifier uses it too.

Every signature the portal accepts (endorsement, technical review, vote, veto, delegate statement)
is typed data under one domain that binds the portal's name and version, the chain id and a
verifying contract (the deployment's UpgradeExecutor), so it cannot be replayed on another chain,
another deployment or another portal; the message binds the proposal (id and, where it matters,
the revision hash).

Hashing is done here with precomputed type hashes (the messages are flat structs of atomic types)
and recovery with coincurve, about 6x faster than eth-account's generic path; tests check both agree.
Where chain/native/_fastvote is built (`make deps`), keccak256, checksum_address and recover_address_bytes
are its C functions (the same libraries called without ctypes/cffi in between; see _native_module).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from typing import Any

import coincurve
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address


def _keccak_functions() -> tuple[Any, Any]:
    """(keccak256, the plain pycryptodome form), used where the native module is not built. keccak256 calls
    pycryptodome's C core through ctypes with a per-thread state that is reset, not re-created (about 1.2 us
    a hash instead of 3.3 us through Crypto.Hash.keccak's objects); the plain form is the fallback and the
    reference of the tests."""
    try:
        from Crypto.Hash import keccak as module
    except ImportError:  # pragma: no cover - pycryptodome comes with eth-account
        from eth_utils import keccak as eth_keccak

        def slow(data: bytes) -> bytes:
            return bytes(eth_keccak(data))

        return slow, slow

    def plain(data: bytes) -> bytes:
        return module.new(digest_bits=256, data=data).digest()

    try:
        import ctypes
        import threading

        lib = ctypes.CDLL(module._raw_keccak_lib._name)
        init, reset, absorb, squeeze = lib.keccak_init, lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest
        init.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_ubyte]
        reset.argtypes = [ctypes.c_void_p]
        absorb.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        squeeze.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_ubyte]
        for function in (init, reset, absorb, squeeze):
            function.restype = ctypes.c_int
        local = threading.local()

        def state() -> tuple[Any, Any]:
            pointer = ctypes.c_void_p()
            if init(ctypes.byref(pointer), 64, 24):  # capacity 512 bits (Keccak-256), 24 rounds
                raise RuntimeError("keccak_init failed")
            local.state = (pointer.value, ctypes.create_string_buffer(32))  # one per thread, kept
            return local.state

        def fast(data: bytes) -> bytes:
            try:
                pointer, out = local.state
            except AttributeError:
                pointer, out = state()
            if type(data) is not bytes:
                data = bytes(data)
            reset(pointer)
            absorb(pointer, data, len(data))
            if squeeze(pointer, out, 32, 1):  # padding 0x01: Keccak, not SHA-3
                raise RuntimeError("keccak_digest failed")
            return out.raw

        if fast(b"") != plain(b"") or fast(b"abc" * 100) != plain(b"abc" * 100):  # pragma: no cover
            return plain, plain
        return fast, plain
    except (OSError, AttributeError, RuntimeError):  # pragma: no cover - another pycryptodome layout
        return plain, plain


keccak256, keccak256_reference = _keccak_functions()


def keccak(primitive: bytes | None = None, *, text: str | None = None) -> bytes:
    return keccak256(text.encode("utf-8") if text is not None else bytes(primitive or b""))


# --------------------------------------------------------------------------- addresses (EIP-55)
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_UPPER_FLAG = str.maketrans("0123456789abcdef", "\0" * 8 + "\x20" * 8)  # hash nibble >= 8: upper-case
_LETTER_FLAG = str.maketrans("0123456789abcdef", "\0" * 10 + "\x20" * 6)  # only letters have a case


def to_checksum(address: str) -> str:
    """EIP-55 form of a 0x + 40 hex digit address in any case (not validated: see checksum_address). One
    keccak, and the case flips done as one big-integer subtraction instead of a loop over the digits."""
    lower = address[2:].lower()
    raw = lower.encode("ascii")
    flags = keccak256(raw).hex()[:40].translate(_UPPER_FLAG).encode("latin-1")
    letters = lower.translate(_LETTER_FLAG).encode("latin-1")
    mask = int.from_bytes(flags, "big") & int.from_bytes(letters, "big")
    return "0x" + (int.from_bytes(raw, "big") - mask).to_bytes(40, "big").decode("ascii")


def checksum_address(value: Any) -> str | None:
    """The EIP-55 form of `value` when it is 0x + 40 hex digits in one case or with a valid mixed-case
    checksum, else None. Stricter than eth_utils.is_address (which ignores the case): callers fall back to
    their reference path for what this declines."""
    if type(value) is not str or len(value) != 42 or value[:2] != "0x" or not _HEX40.fullmatch(value, 2):
        return None
    checksummed = to_checksum(value)
    digits = value[2:]
    if checksummed == value or digits.islower() or digits.isupper() or digits.isdigit():
        return checksummed
    return None


DOMAIN_NAME = "govapp"
DOMAIN_VERSION = "1"

#: secp256k1 group order; signatures with s > N/2 are malleable copies and are refused (EIP-2).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

EIP712_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

#: Every primary type the portal signs. Support in votes: 0 = Against, 1 = For, 2 = Abstain
#: (OpenZeppelin Governor's numbering). Timestamps are unix seconds.
TYPES: dict[str, list[dict[str, str]]] = {
    "Endorsement": [
        {"name": "proposalId", "type": "uint256"},
        {"name": "revisionHash", "type": "bytes32"},
        {"name": "endorser", "type": "address"},
        {"name": "timestamp", "type": "uint64"},
    ],
    "TechnicalReview": [
        {"name": "proposalId", "type": "uint256"},
        {"name": "revisionHash", "type": "bytes32"},
        {"name": "reviewer", "type": "address"},
        {"name": "approve", "type": "bool"},
        {"name": "comment", "type": "string"},
        {"name": "timestamp", "type": "uint64"},
    ],
    "Vote": [
        {"name": "proposalId", "type": "uint256"},
        {"name": "voter", "type": "address"},
        {"name": "support", "type": "uint8"},
        {"name": "reason", "type": "string"},
        {"name": "timestamp", "type": "uint64"},
    ],
    "Veto": [
        {"name": "proposalId", "type": "uint256"},
        {"name": "member", "type": "address"},
        {"name": "reason", "type": "string"},
        {"name": "timestamp", "type": "uint64"},
    ],
    "DelegateStatement": [
        {"name": "delegate", "type": "address"},
        {"name": "displayName", "type": "string"},
        {"name": "statement", "type": "string"},
        {"name": "interests", "type": "string"},
        {"name": "links", "type": "string"},
        {"name": "timestamp", "type": "uint64"},
    ],
}


class TypedDataError(ValueError):
    """Malformed typed data or signature. `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def encode_type(primary_type: str, fields: list[dict[str, str]]) -> str:
    return f"{primary_type}(" + ",".join(f"{f['type']} {f['name']}" for f in fields) + ")"


@lru_cache(maxsize=64)
def _type_hash(primary_type: str, fields_key: tuple[tuple[str, str], ...]) -> bytes:
    fields = [{"name": n, "type": t} for n, t in fields_key]
    return keccak(text=encode_type(primary_type, fields))


def _fields_key(fields: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((f["name"], f["type"]) for f in fields)


def _encode_value(kind: str, value: Any) -> tuple[str, Any]:
    """(abi type, value) of one atomic field as EIP-712 encodeData wants it."""
    if kind == "string":
        if not isinstance(value, str):
            raise TypedDataError("invalid_field", f"expected a string, got {type(value).__name__}")
        try:
            return "bytes32", keccak(text=value)
        except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): no UTF-8 form, nothing was signed
            raise TypedDataError("invalid_field", "the string is not valid Unicode (a lone surrogate)") from None
    if kind == "bytes":
        return "bytes32", keccak(_to_bytes(value))
    if kind == "address":
        if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x"):
            raise TypedDataError("invalid_field", f"{value!r} is not an address")
        return "address", value.lower()
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypedDataError("invalid_field", f"{value!r} is not a boolean")
        return "bool", value
    if kind.startswith("uint") or kind.startswith("int"):
        number = _to_int(value)
        bits = int(kind[4:] if kind.startswith("uint") else kind[3:] or 256)
        if kind.startswith("uint") and not 0 <= number < 2**bits:
            raise TypedDataError("invalid_field", f"{value!r} does not fit {kind}")
        return kind, number
    if kind.startswith("bytes"):
        raw = _to_bytes(value)
        size = int(kind[5:])
        if len(raw) != size:
            raise TypedDataError("invalid_field", f"{kind} needs {size} bytes, got {len(raw)}")
        return kind, raw
    raise TypedDataError("unsupported_type", f"type {kind!r} is not supported by the fast encoder")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypedDataError("invalid_field", "a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.startswith("0x") else int(value, 10)
        except ValueError:
            pass
    raise TypedDataError("invalid_field", f"{value!r} is not an integer")


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise TypedDataError("invalid_field", f"{value!r} is not 0x-prefixed hex bytes")


def hash_struct(primary_type: str, fields: list[dict[str, str]], message: Mapping[str, Any]) -> bytes:
    names = {f["name"] for f in fields}
    extra = set(message) - names
    missing = names - set(message)
    if extra or missing:
        raise TypedDataError("invalid_message", f"{primary_type} fields differ: missing {sorted(missing)}, "
                                                f"unexpected {sorted(extra)}")
    abi_types = ["bytes32"]
    values: list[Any] = [_type_hash(primary_type, _fields_key(fields))]
    for field in fields:
        abi_type, value = _encode_value(field["type"], message[field["name"]])
        abi_types.append(abi_type)
        values.append(value)
    return keccak(abi_encode(abi_types, values))


# --------------------------------------------------------------------------- precompiled encoders
#: hashStruct of a well-typed message and the EIP-55 form of its address fields, or None when the
#: message is not the plain case (then hash_struct, the reference, decides).
StructHasher = Callable[[Any], "tuple[bytes, tuple[str, ...]] | None"]

_ZERO12 = bytes(12)
_TRUE32 = (1).to_bytes(32, "big")
_FALSE32 = bytes(32)


def _field_source(index: int, name: str, kind: str) -> list[str]:
    """Lines computing part `p{index}` of the encoding of one field (strict: exact Python types only)."""
    get = f"v = m[{name!r}]"
    if kind == "string":
        return [get, "if type(v) is not str: return None", "try:", "    e = v.encode('utf-8')",
                "except UnicodeEncodeError:", "    return None", f"p{index} = _k(e)"]
    if kind == "address":
        return [get, "c = _ca(v)", "if c is None: return None", "a.append(c)",
                f"p{index} = _Z12 + bytes.fromhex(v[2:])"]
    if kind == "bool":
        return [get, "if type(v) is not bool: return None", f"p{index} = _T32 if v else _F32"]
    if kind.startswith("uint") and kind[4:].isdigit() and 8 <= int(kind[4:]) <= 256 and int(kind[4:]) % 8 == 0:
        return [get, f"if type(v) is not int or v < 0 or v >= {1 << int(kind[4:])}: return None",
                f"p{index} = v.to_bytes(32, 'big')"]
    if kind.startswith("bytes") and kind[5:].isdigit() and 1 <= int(kind[5:]) <= 32:
        size = int(kind[5:])
        return [get, f"if type(v) is not str or len(v) != {2 + 2 * size} or v[:2] != '0x': return None",
                "try:", "    r = bytes.fromhex(v[2:])", "except ValueError:", "    return None",
                f"if len(r) != {size}: return None", f"p{index} = r + bytes({32 - size})"]
    raise TypedDataError("unsupported_type", f"type {kind!r} has no precompiled encoder")


@cache
def struct_hasher(primary_type: str) -> StructHasher:
    """A function generated from TYPES[primary_type] (the one definition) computing hashStruct of a message
    in one pass: the fields' encodings concatenated after the cached type hash, one keccak. It accepts only
    the plain case — a dict with exactly the type's fields, ints for uintN in range, str for strings, a
    one-case or valid EIP-55 address, bool, 0x-hex bytesN — and returns None for anything else, which
    hash_struct (the reference, with its conversions and error codes) then handles. Tests compare the two."""
    fields = TYPES[primary_type]
    lines = ["def hasher(m):", "    if type(m) is not dict or m.keys() != KEYS: return None", "    a = []"]
    for i, f in enumerate(fields):
        lines += ["    " + line for line in _field_source(i, f["name"], f["type"])]
    parts = ", ".join(f"p{i}" for i in range(len(fields)))
    lines.append(f"    return _k(b''.join((TYPE_HASH, {parts}))), tuple(a)")
    namespace: dict[str, Any] = {
        "KEYS": frozenset(f["name"] for f in fields), "_k": keccak256, "_ca": checksum_address,
        "_Z12": _ZERO12, "_T32": _TRUE32, "_F32": _FALSE32,
        "TYPE_HASH": _type_hash(primary_type, _fields_key(fields)),
    }
    exec(compile("\n".join(lines), f"<eip712 hasher {primary_type}>", "exec"), namespace)  # noqa: S102 - our source
    return namespace["hasher"]


def _coincurve_address_bytes(message_digest: bytes, rsv: bytes) -> bytes | None:
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(rsv, message_digest, hasher=None)
    except Exception:  # noqa: BLE001 - coincurve raises plain Exception for unrecoverable signatures
        return None
    return keccak256(public_key.format(compressed=False)[1:])[-20:]


def _address_recoverer() -> Callable[[bytes, bytes], bytes | None]:
    """libsecp256k1 (coincurve's build) called directly with per-thread buffers: parse, recover, serialize —
    the same three calls coincurve makes, without its per-call allocations and objects."""
    try:
        import threading

        from coincurve._libsecp256k1 import ffi, lib
        from coincurve.context import GLOBAL_CONTEXT
        from coincurve.flags import EC_UNCOMPRESSED
    except ImportError:  # pragma: no cover - another coincurve layout
        return _coincurve_address_bytes
    ctx = GLOBAL_CONTEXT.ctx
    parse, recover_key = lib.secp256k1_ecdsa_recoverable_signature_parse_compact, lib.secp256k1_ecdsa_recover
    serialize = lib.secp256k1_ec_pubkey_serialize
    local = threading.local()

    def buffers() -> tuple[Any, ...]:
        out = ffi.new("unsigned char[65]")
        local.buffers = (ffi.new("secp256k1_ecdsa_recoverable_signature *"), ffi.new("secp256k1_pubkey *"), out,
                         ffi.new("size_t *"), ffi.buffer(out, 65))
        return local.buffers

    def address_bytes(message_digest: bytes, rsv: bytes) -> bytes | None:
        try:
            signature, public_key, out, out_length, view = local.buffers
        except AttributeError:
            signature, public_key, out, out_length, view = buffers()
        if len(rsv) != 65 or rsv[64] > 3 or len(message_digest) != 32:
            return None
        if not parse(ctx, signature, rsv[:64], rsv[64]) or not recover_key(ctx, public_key, signature, message_digest):
            return None
        out_length[0] = 65
        serialize(ctx, out, out_length, public_key, EC_UNCOMPRESSED)
        return keccak256(view[1:65])[-20:]

    return address_bytes


#: recover_address_bytes(digest, r ‖ s ‖ recid) -> the signer's 20 address bytes, or None when nothing
#: recovers. No range checks of r and s (low-s): the caller makes them.
recover_address_bytes = _address_recoverer()


# --------------------------------------------------------------------------- the C fast path
def _native_module() -> Any | None:
    """chain/native/_fastvote (built by `make deps`: chain/native/build.py) wired to the libraries loaded here,
    or None when it is not built or any of its functions differs from the Python one it replaces. It makes no
    crypto of its own: keccak256 calls pycryptodome's C core and recover_address libsecp256k1 (coincurve's
    build), handed over as function addresses; what it saves is the ctypes/cffi calls and the Python between
    them (one C call for parse, recover, serialize and keccak of an address)."""
    try:
        import ctypes

        from coincurve._libsecp256k1 import ffi, lib
        from coincurve.context import GLOBAL_CONTEXT
        from coincurve.flags import EC_UNCOMPRESSED
        from Crypto.Hash import keccak as keccak_module

        from chain.native import _fastvote
    except ImportError:
        return None
    try:
        raw = ctypes.CDLL(keccak_module._raw_keccak_lib._name)  # already loaded: the same handle, never unloaded

        def c_address(function: Any) -> int:
            return ctypes.cast(function, ctypes.c_void_p).value

        def cffi_address(pointer: Any) -> int:
            return int(ffi.cast("uintptr_t", pointer))

        _fastvote.setup(c_address(raw.keccak_init), c_address(raw.keccak_reset), c_address(raw.keccak_absorb),
                        c_address(raw.keccak_digest),
                        cffi_address(lib.secp256k1_ecdsa_recoverable_signature_parse_compact),
                        cffi_address(lib.secp256k1_ecdsa_recover), cffi_address(lib.secp256k1_ec_pubkey_serialize),
                        cffi_address(GLOBAL_CONTEXT.ctx), EC_UNCOMPRESSED)  # GLOBAL_CONTEXT lives as long as coincurve
        if _native_differs(_fastvote):
            import warnings

            warnings.warn("chain/native/_fastvote differs from the Python path; not used (rebuild: make deps)",
                          RuntimeWarning, stacklevel=2)
            return None
    except (OSError, AttributeError, TypeError, ValueError, RuntimeError):  # pragma: no cover - another layout
        return None
    return _fastvote


def _native_differs(native: Any) -> bool:
    """Whether the native functions give anything else than the references on a few inputs (a stale or
    miscompiled build): keccak at the edges of its 136-byte block, EIP-55 in every accepted and refused
    form, the recovery of a real signature and of garbage."""
    data = bytes(range(256)) * 4
    for size in (0, 1, 31, 32, 64, 135, 136, 137, 271, 272, 1000):
        if native.keccak256(data[:size]) != keccak256_reference(data[:size]):
            return True
    if native.keccak256(bytearray(b"abc")) != keccak256_reference(b"abc"):
        return True
    address = "0x" + keccak256_reference(b"address")[-20:].hex()
    mixed = to_checksum(address)
    for value in (address, address.upper().replace("0X", "0x"), mixed, mixed.swapcase().replace("0X", "0x"),
                  "0x" + "0" * 40, "0x" + "g" * 40, address[:-1], address + "0", "0X" + address[2:], None, 1):
        if native.checksum_address(value) != checksum_address(value):
            return True
    key = coincurve.PrivateKey(keccak256_reference(b"self-check key"))
    message_digest = keccak256_reference(b"self-check message")
    signature = key.sign_recoverable(message_digest, hasher=None)
    other_recid = signature[:64] + bytes([1 - signature[64]])  # recovers another key
    for rsv in (signature, other_recid, bytes(65), signature[:64] + b"\x04", signature[:64]):
        if native.recover_address(message_digest, rsv) != _coincurve_address_bytes(message_digest, rsv):
            return True
    signer = keccak256_reference(key.public_key.format(compressed=False)[1:])[-20:]
    return native.recover_address(message_digest, signature) != signer


#: the Python (ctypes/cffi) forms: what is used without the native module, and kept for its tests
keccak256_python, checksum_address_python = keccak256, checksum_address
recover_address_bytes_python = recover_address_bytes

#: the native module in use (tests check it is when it is built), or None: then the Python functions stay.
NATIVE = _native_module()
if NATIVE is not None:
    keccak256 = NATIVE.keccak256
    checksum_address = NATIVE.checksum_address
    recover_address_bytes = NATIVE.recover_address


def domain(chain_id: int, verifying_contract: str, *, name: str = DOMAIN_NAME,
           version: str = DOMAIN_VERSION) -> dict[str, Any]:
    return {"name": name, "version": version, "chainId": int(chain_id),
            "verifyingContract": to_checksum_address(verifying_contract)}


def build(primary_type: str, message: Mapping[str, Any], domain_data: Mapping[str, Any]) -> dict[str, Any]:
    """The full typed data, as `eth_signTypedData_v4` takes it and as the archive keeps it."""
    if primary_type not in TYPES:
        raise TypedDataError("unknown_type", f"{primary_type!r} is not a portal message type")
    return {  # copies: callers may mutate what they get without touching the definitions
        "types": {"EIP712Domain": [dict(f) for f in EIP712_DOMAIN_FIELDS],
                  primary_type: [dict(f) for f in TYPES[primary_type]]},
        "primaryType": primary_type,
        "domain": dict(domain_data),
        "message": dict(message),
    }


def digest(typed_data: Mapping[str, Any]) -> bytes:
    """The EIP-712 digest keccak(0x1901 ‖ domainSeparator ‖ hashStruct(message)) of flat typed data."""
    try:
        types = typed_data["types"]
        primary_type = typed_data["primaryType"]
        domain_fields = types["EIP712Domain"]
        fields = types[primary_type]
        domain_data = typed_data["domain"]
        message = typed_data["message"]
    except (KeyError, TypeError) as exc:
        raise TypedDataError("malformed_typed_data", f"typed data lacks {exc}") from exc
    if not isinstance(message, Mapping) or not isinstance(domain_data, Mapping):
        raise TypedDataError("malformed_typed_data", "domain and message must be objects")
    separator = hash_struct("EIP712Domain", domain_fields, domain_data)
    return keccak(b"\x19\x01" + separator + hash_struct(primary_type, fields, message))


def split_signature(signature: str | bytes) -> tuple[int, int, int]:
    """(r, s, v) of a 65-byte signature; v normalised to 27/28."""
    try:
        raw = _to_bytes(signature) if isinstance(signature, str) else bytes(signature)
    except TypedDataError as exc:
        raise TypedDataError("bad_signature", "the signature is not hex") from exc
    if len(raw) != 65:
        raise TypedDataError("bad_signature", f"a signature has 65 bytes, this one {len(raw)}")
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v < 27:
        v += 27
    if v not in (27, 28) or not (0 < r < SECP256K1_N) or not (0 < s < SECP256K1_N):
        raise TypedDataError("bad_signature", "the signature's r, s or v is out of range")
    return r, s, v


def recover(message_digest: bytes, signature: str | bytes) -> str:
    """The checksummed address that signed `message_digest`. Refuses high-s (malleable) signatures."""
    r, s, v = split_signature(signature)
    if s > SECP256K1_N // 2:
        raise TypedDataError("high_s_signature", "the signature's s value is in the upper half (EIP-2)")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v - 27]), message_digest, hasher=None)
    except Exception as exc:  # coincurve raises plain Exception for unrecoverable signatures
        raise TypedDataError("bad_signature", "no public key recovers from this signature") from exc
    return to_checksum_address(keccak(public_key.format(compressed=False)[1:])[-20:])


def recover_typed(typed_data: Mapping[str, Any], signature: str | bytes) -> str:
    return recover(digest(typed_data), signature)
