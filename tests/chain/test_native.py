"""chain/native/_fastvote (the C fast path of chain.eip712, built by `make deps`) against its references:
keccak256 against pycryptodome, recover_address against coincurve, checksum_address against eth_utils and
the Python form; that it is built and in use wherever a C compiler is; that bad input gives None or
TypeError, never a crash."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import coincurve
import pytest
from eth_utils import is_checksum_address, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import eip712

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / "chain" / "native" / ("_fastvote" + sysconfig.get_config_var("EXT_SUFFIX"))


def test_built_and_in_use_where_there_is_a_compiler():
    from voting import signatures

    if shutil.which("gcc") is None and not BUILT.exists():  # no compiler: the ctypes/cffi path, still correct
        assert eip712.NATIVE is None and eip712.keccak256 is eip712.keccak256_python
        return
    assert BUILT.exists(), "chain/native/_fastvote is not built: `make deps` (chain/native/build.py) builds it"
    native = eip712.NATIVE
    assert native is not None, "chain/native/_fastvote is built but not in use (a failed self-check warns)"
    assert eip712.keccak256 is native.keccak256
    assert eip712.recover_address_bytes is native.recover_address
    assert eip712.checksum_address is native.checksum_address
    assert signatures.keccak256 is native.keccak256  # the vote fast path took the native functions
    assert signatures.recover_address_bytes is native.recover_address


def test_build_is_idempotent():
    """`make deps` runs the build every time: once built, it does nothing and says so in one line."""
    for _ in range(2):  # the first run builds only if the source changed since the last build
        result = subprocess.run([sys.executable, str(ROOT / "chain" / "native" / "build.py")], capture_output=True,
                                text=True, check=True)
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and ("up to date" in lines[0] or "no C compiler" in lines[0]), result.stdout


def test_unset_module_raises_instead_of_crashing():
    """Before chain.eip712 hands over the library addresses the functions refuse (no null call)."""
    code = ("from chain.native import _fastvote\n"
            "for call in (lambda: _fastvote.keccak256(b''), lambda: _fastvote.recover_address(bytes(32), bytes(65)),\n"
            "             lambda: _fastvote.checksum_address('0x' + '0' * 40)):\n"
            "    try:\n        call()\n    except RuntimeError:\n        pass\n"
            "    else:\n        raise SystemExit('no RuntimeError')\n")
    if eip712.NATIVE is None:
        return
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


native = pytest.mark.skipif(eip712.NATIVE is None, reason="no native module (no C compiler): the test above")

EDGES = st.sampled_from([0, 1, 31, 32, 33, 64, 65, 135, 136, 137, 271, 272, 273, 1000]).flatmap(
    lambda n: st.binary(min_size=n, max_size=n))


@native
@settings(max_examples=300, deadline=None)
@given(data=st.one_of(EDGES, st.binary(max_size=1100)))
def test_keccak_equals_pycryptodome(data):
    expected = eip712.keccak256_reference(data)
    assert eip712.NATIVE.keccak256(data) == expected
    assert eip712.NATIVE.keccak256(bytearray(data)) == expected
    assert eip712.NATIVE.keccak256(memoryview(data)) == expected
    assert eip712.keccak256_python(data) == expected  # the fallback stays right too


@native
def test_keccak_refuses_what_is_not_bytes():
    assert eip712.NATIVE.keccak256(memoryview(b"abcdef")[::2]) == eip712.keccak256_reference(b"ace")
    for value in ("abc", 5, None, 1.5, object()):
        with pytest.raises(TypeError):
            eip712.NATIVE.keccak256(value)


@native
@settings(max_examples=150, deadline=None)
@given(secret=st.integers(1, eip712.SECP256K1_N - 1), digest=st.binary(min_size=32, max_size=32),
       noise=st.binary(min_size=65, max_size=65))
def test_recover_address_equals_coincurve(secret, digest, noise):
    recover = eip712.NATIVE.recover_address
    key = coincurve.PrivateKey(secret.to_bytes(32, "big"))
    signature = key.sign_recoverable(digest, hasher=None)
    signer = eip712.keccak256_reference(key.public_key.format(compressed=False)[1:])[-20:]
    assert recover(digest, signature) == signer
    assert recover(bytearray(digest), memoryview(signature)) == signer
    assert eip712.recover_address_bytes_python(digest, signature) == signer
    other = signature[:64] + bytes([1 - signature[64]])  # the other recovery id: another key, or nothing
    for rsv in (other, noise[:64] + bytes([noise[64] % 4]), noise[:32] + bytes(32) + b"\x00"):
        assert recover(digest, rsv) == eip712._coincurve_address_bytes(digest, rsv)
    for rsv in (signature[:64] + bytes([noise[64] | 4]), signature[:64], signature + b"\x00", b""):
        assert recover(digest, rsv) is None  # recid > 3 or wrong length
    for wrong in (digest[:31], digest + b"\x00", b""):
        assert recover(wrong, signature) is None


@native
def test_recover_address_garbage():
    recover = eip712.NATIVE.recover_address
    digest = bytes(range(32))
    n = eip712.SECP256K1_N.to_bytes(32, "big")
    for rsv in (bytes(65), n + n + b"\x00", b"\xff" * 64 + b"\x01", bytes(31) + b"\x01" + n + b"\x00"):
        assert recover(digest, rsv) is None  # r or s zero or >= N: nothing recovers
    for args in ((None, bytes(65)), (digest, "00" * 65), (1, 2), (digest, None)):
        with pytest.raises(TypeError):
            recover(*args)
    for args in ((), (digest,), (digest, bytes(65), 0)):
        with pytest.raises(TypeError):
            recover(*args)


ADDRESS = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


@native
@settings(max_examples=300, deadline=None)
@given(address=ADDRESS, flips=st.lists(st.booleans(), min_size=40, max_size=40), text=st.text(max_size=44))
def test_checksum_equals_eth_utils_and_the_python_form(address, flips, text):
    checksum = eip712.NATIVE.checksum_address
    expected = to_checksum_address(address)
    random_case = "0x" + "".join(c.upper() if flip else c for c, flip in zip(address[2:], flips, strict=True))
    for form in (address, "0x" + address[2:].upper(), expected, random_case):
        valid = form[2:].islower() or form[2:].isupper() or form[2:].isdigit() or is_checksum_address(form)
        assert checksum(form) == (expected if valid else None), form
        assert checksum(form) == eip712.checksum_address_python(form)
    for form in (address[2:], "0X" + address[2:], address[:-1], address + "0", address[:-1] + "g", " " + address[1:],
                 address[:-1] + "\u0660", None, 1, address.encode()):
        assert checksum(form) is None
        assert eip712.checksum_address_python(form) is None
    for form in (text, "0x" + text, "0x" + text[:40].rjust(40, "a")):
        assert checksum(form) == eip712.checksum_address_python(form)
