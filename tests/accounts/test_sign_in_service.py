"""accounts.services directly: issuing, expiry, retries, concurrency, purging."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import SignInNonce, User
from accounts.services import (
    SignInError,
    issue_sign_in_message,
    purge_expired_nonces,
    verify_sign_in,
)
from accounts.siwe import parse_message


@pytest.mark.django_db
def test_issued_message_matches_settings_and_row(wallet, settings):
    settings.SIWE_NONCE_TTL_SECONDS = 5
    issued = issue_sign_in_message(wallet.address.lower())
    fields = parse_message(issued.message)
    assert issued.address == fields.address == wallet.address
    assert issued.nonce == fields.nonce
    assert issued.chain_id == fields.chain_id == settings.CHAIN_ID
    assert issued.issued_at == fields.issued_at and issued.expires_at == fields.expiration_time
    assert issued.expires_at - issued.issued_at == timedelta(seconds=5)
    assert issued.used_at is None
    assert fields.to_text() == issued.message


@pytest.mark.django_db
def test_nonces_are_long_random_and_unique(wallet):
    nonces = [issue_sign_in_message(wallet.address).nonce for _ in range(50)]
    assert len(set(nonces)) == 50
    assert all(len(n) >= 16 and n.isalnum() and n.isascii() for n in nonces)
    with pytest.raises(IntegrityError), transaction.atomic():
        row = SignInNonce.objects.first()
        SignInNonce.objects.create(nonce=row.nonce, message=row.message, address=row.address,
                                   chain_id=row.chain_id, issued_at=row.issued_at, expires_at=row.expires_at)


@pytest.mark.django_db
def test_expiry_boundary(wallet, sign):
    issued = issue_sign_in_message(wallet.address)
    signature = sign(wallet, issued.message)
    with pytest.raises(SignInError) as refused:
        verify_sign_in(issued.message, signature, now=issued.expires_at)
    assert refused.value.code == "nonce_expired"
    assert SignInNonce.objects.get(pk=issued.pk).used_at is None
    user = verify_sign_in(issued.message, signature, now=issued.expires_at - timedelta(seconds=1))
    assert user.address == wallet.address


@pytest.mark.django_db
def test_failed_attempts_do_not_consume_the_nonce(wallet, other_wallet, sign):
    """The documented policy: only a successful sign-in uses the message up."""
    issued = issue_sign_in_message(wallet.address)
    for signature, code in [("0x1234", "bad_signature"), (sign(other_wallet, issued.message), "signer_mismatch")]:
        with pytest.raises(SignInError) as refused:
            verify_sign_in(issued.message, signature)
        assert refused.value.code == code
        assert refused.value.status == 400
        assert SignInNonce.objects.get(pk=issued.pk).used_at is None
    assert not User.objects.exists()

    assert verify_sign_in(issued.message, sign(wallet, issued.message)).address == wallet.address
    assert SignInNonce.objects.get(pk=issued.pk).used_at is not None


@pytest.mark.django_db
def test_recovery_byte_zero_or_one_is_accepted(wallet, sign):
    """Some hardware wallets return v as 0/1 instead of 27/28."""
    issued = issue_sign_in_message(wallet.address)
    signature = sign(wallet, issued.message)
    v = int(signature[-2:], 16)
    assert v in (27, 28)
    assert verify_sign_in(issued.message, signature[:-2] + f"{v - 27:02x}").address == wallet.address


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="concurrent transactions waiting on a row lock (SELECT ... FOR UPDATE): PostgreSQL; "
                           "SQLite locks the whole database and has no row locks")
@pytest.mark.django_db(transaction=True)
def test_concurrent_attempts_with_one_message_let_exactly_one_through(wallet, sign):
    """The second attempt must wait on the nonce row lock, then see the nonce used."""
    User.objects.create_user(wallet.address)  # so only the nonce row can make them wait
    issued = issue_sign_in_message(wallet.address)
    signature = sign(wallet, issued.message)
    first_verified, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def first() -> None:
        try:
            with transaction.atomic():  # keep the first sign-in uncommitted for a while
                results["first"] = verify_sign_in(issued.message, signature).address
                first_verified.set()
                release.wait(timeout=10)
        except Exception as exc:  # reported by the assertions below
            results["first"] = repr(exc)
        finally:
            first_verified.set()
            connection.close()

    def second() -> None:
        first_verified.wait(timeout=10)
        try:
            results["second"] = verify_sign_in(issued.message, signature).address
        except SignInError as exc:
            results["second"] = exc.code
        except Exception as exc:
            results["second"] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    threads[1].join(timeout=1.0)
    still_waiting = threads[1].is_alive()
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert results == {"first": wallet.address, "second": "nonce_used"}
    assert still_waiting, "the second attempt did not wait for the first one's row lock"
    assert SignInNonce.objects.get(pk=issued.pk).used_at is not None


@pytest.mark.django_db
def test_purge_deletes_only_long_expired_nonces(wallet, sign):
    now = timezone.now()
    old_used = issue_sign_in_message(wallet.address, now=now - timedelta(days=3))
    old_signature = sign(wallet, old_used.message)
    verify_sign_in(old_used.message, old_signature, now=old_used.issued_at + timedelta(seconds=1))
    old_unused = issue_sign_in_message(wallet.address, now=now - timedelta(days=2))
    recent_expired = issue_sign_in_message(wallet.address, now=now - timedelta(hours=1))
    fresh = issue_sign_in_message(wallet.address)

    assert purge_expired_nonces() == 2
    remaining = set(SignInNonce.objects.values_list("pk", flat=True))
    assert remaining == {recent_expired.pk, fresh.pk}
    assert old_unused.pk not in remaining
    # A purged message is still refused (now as unknown), so purging never re-opens a replay.
    with pytest.raises(SignInError) as refused:
        verify_sign_in(old_used.message, old_signature, now=old_used.issued_at + timedelta(seconds=2))
    assert refused.value.code == "unknown_nonce"


@pytest.mark.django_db
def test_purge_command(wallet, capsys):
    issue_sign_in_message(wallet.address, now=timezone.now() - timedelta(hours=3))
    issue_sign_in_message(wallet.address)
    call_command("purge_sign_in_nonces", "--grace-hours", "1")
    assert "deleted 1 expired sign-in nonce(s)" in capsys.readouterr().out
    assert SignInNonce.objects.count() == 1
