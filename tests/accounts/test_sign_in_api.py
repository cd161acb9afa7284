"""Wallet sign-in through the HTTP API: real keys, real signatures, CSRF enforced."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from accounts.models import SignInNonce, User
from accounts.siwe import build_message, parse_message

pytestmark = pytest.mark.django_db


def assert_refused(response, code: str, status: int = 400) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].endswith(".")


def stamp(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def nonce_row(issued: dict) -> SignInNonce:
    return SignInNonce.objects.get(nonce=issued["nonce"])


# --- the happy path -----------------------------------------------------------------------


def test_sign_in_round_trip(api, wallet, settings, sign):
    assert api.signed_in_as() is None

    issued = api.nonce(wallet.address.lower())  # wallets report lowercase; the message checksums
    assert set(issued) == {"message", "nonce", "expires_at"}
    fields = parse_message(issued["message"])
    assert fields.address == wallet.address
    assert (fields.domain, fields.uri, fields.chain_id) == (settings.SIWE_DOMAIN, settings.SIWE_URI,
                                                            settings.CHAIN_ID)
    assert fields.statement == settings.SIWE_STATEMENT
    assert fields.nonce == issued["nonce"] and len(issued["nonce"]) >= 16 and issued["nonce"].isalnum()
    assert fields.expiration_time - fields.issued_at == timedelta(seconds=settings.SIWE_NONCE_TTL_SECONDS)
    assert issued["expires_at"] == fields.expiration_time.isoformat().replace("+00:00", "Z")
    assert not User.objects.exists()

    token_before = api.csrf_token
    response = api.login(issued["message"], sign(wallet, issued["message"]))
    assert response.status_code == 200, response.content
    assert response.json() == {"address": wallet.address}

    assert api.signed_in_as() == wallet.address
    assert api.me().json() == {"address": wallet.address, "is_staff": False}
    user = User.objects.get()
    assert user.address == wallet.address and user.last_login is not None
    assert nonce_row(issued).used_at is not None
    assert api.csrf_token != token_before  # login rotates the CSRF token

    response = api.logout()
    assert response.status_code == 204
    assert api.signed_in_as() is None


def test_second_sign_in_reuses_the_user_and_needs_a_fresh_nonce(api, wallet, sign):
    for _ in range(2):
        issued = api.nonce(wallet.address)
        assert api.login(issued["message"], sign(wallet, issued["message"])).status_code == 200
        assert api.logout().status_code == 204
    assert User.objects.count() == 1
    assert SignInNonce.objects.filter(used_at__isnull=False).count() == 2


def test_staff_flag_is_reported(api, wallet, sign):
    User.objects.create_user(wallet.address, is_staff=True)
    issued = api.nonce(wallet.address)
    assert api.login(issued["message"], sign(wallet, issued["message"])).status_code == 200
    assert api.me().json() == {"address": wallet.address, "is_staff": True}


def test_logout_when_signed_out_is_harmless(api):
    assert api.logout().status_code == 204
    assert api.signed_in_as() is None


# --- refusals: each has its own code, signs nobody in and changes nothing ------------------------


def assert_nothing_changed(api, issued: dict | None, users_before: int = 0) -> None:
    assert api.signed_in_as() is None
    assert User.objects.count() == users_before
    if issued is not None:
        assert nonce_row(issued).used_at is None


def test_replayed_message_is_refused(api, new_api, wallet, sign):
    issued = api.nonce(wallet.address)
    signature = sign(wallet, issued["message"])
    assert api.login(issued["message"], signature).status_code == 200
    used_at = nonce_row(issued).used_at

    attacker = new_api()  # someone who captured the message and signature
    assert_refused(attacker.login(issued["message"], signature), "nonce_used")
    assert attacker.signed_in_as() is None

    assert api.logout().status_code == 204  # and the same browser after signing out
    assert_refused(api.login(issued["message"], signature), "nonce_used")
    assert api.signed_in_as() is None
    assert nonce_row(issued).used_at == used_at
    assert User.objects.count() == 1


def test_expired_nonce_is_refused(api, wallet, settings, sign):
    issued = api.nonce(wallet.address)
    back = timedelta(seconds=settings.SIWE_NONCE_TTL_SECONDS + 1)  # as if issued TTL + 1 s ago
    SignInNonce.objects.filter(nonce=issued["nonce"]).update(issued_at=F("issued_at") - back,
                                                             expires_at=F("expires_at") - back)
    assert nonce_row(issued).expires_at < timezone.now()
    assert_refused(api.login(issued["message"], sign(wallet, issued["message"])), "nonce_expired")
    assert_nothing_changed(api, issued)


def issued_elsewhere(api, wallet, settings, **override) -> dict:
    """A message the portal issued under other settings (e.g. before a configuration change)."""
    saved = {name: getattr(settings, name) for name in override}
    for name, value in override.items():
        setattr(settings, name, value)
    try:
        return api.nonce(wallet.address)
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)


def edited(issued: dict, old: str, new: str) -> str:
    assert old in issued["message"], "test bug: nothing to edit"
    return issued["message"].replace(old, new, 1)


@pytest.mark.parametrize("how", ["edited by a phishing site", "issued under other settings"])
@pytest.mark.parametrize(
    ("setting", "line", "other", "code"),
    [
        ("SIWE_DOMAIN", "{} wants you", "gov.evil.example", "wrong_domain"),
        ("SIWE_URI", "URI: {}", "https://gov.evil.example", "wrong_uri"),
        ("CHAIN_ID", "Chain ID: {}", 1, "wrong_chain"),
    ],
)
def test_message_for_another_domain_uri_or_chain_is_refused(api, wallet, settings, how, setting, line,
                                                            other, code, sign):
    if how == "issued under other settings":
        issued = issued_elsewhere(api, wallet, settings, **{setting: other})
        message = issued["message"]
        assert line.format(other) in message
    else:
        issued = api.nonce(wallet.address)
        message = edited(issued, line.format(getattr(settings, setting)), line.format(other))
    assert_refused(api.login(message, sign(wallet, message)), code)  # validly signed by the owner
    assert_nothing_changed(api, issued)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda sig: "",
        lambda sig: "not a signature",
        lambda sig: "0x" + "zz" * 65,
        lambda sig: sig[:-2],  # truncated by a byte
        lambda sig: sig[:-1],  # odd length
        lambda sig: sig[:66],  # just r
        lambda sig: sig + "00",  # an extra byte
        lambda sig: sig[:-2] + "05",  # invalid recovery byte
        lambda sig: "0x" + "00" * 64 + "1b",  # r = s = 0
        lambda sig: "0x" + "ff" * 64 + "1b",  # r, s beyond the curve order
    ],
    ids=["empty", "words", "non-hex", "truncated", "odd-length", "r-only", "too-long", "bad-v", "zero",
         "out-of-range"],
)
def test_bad_signature_is_refused(api, wallet, mangle, sign):
    issued = api.nonce(wallet.address)
    signature = mangle(sign(wallet, issued["message"]))
    assert_refused(api.login(issued["message"], signature), "bad_signature")
    assert_nothing_changed(api, issued)


def test_signature_by_another_key_is_refused(api, wallet, other_wallet, sign):
    issued = api.nonce(wallet.address)
    assert_refused(api.login(issued["message"], sign(other_wallet, issued["message"])), "signer_mismatch")
    assert_nothing_changed(api, issued)


def test_signature_of_another_message_is_refused(api, wallet, sign):
    issued = api.nonce(wallet.address)
    other = api.nonce(wallet.address)
    assert_refused(api.login(issued["message"], sign(wallet, other["message"])), "signer_mismatch")
    assert_nothing_changed(api, issued)
    assert nonce_row(other).used_at is None


@pytest.mark.parametrize(
    "edit",
    [
        lambda m, w, o: m.replace("Sign in to the governance portal.", "Sign in to the portal."),
        lambda m, w, o: m.replace(f"Issued At: {stamp(parse_message(m).issued_at)}",
                                  f"Issued At: {stamp(parse_message(m).issued_at - timedelta(seconds=1))}"),
        lambda m, w, o: m.replace(w.address, o.address),  # take over someone else's nonce
    ],
    ids=["statement", "issued-at", "address"],
)
def test_message_edited_after_issue_is_refused(api, wallet, other_wallet, edit, sign):
    issued = api.nonce(wallet.address)
    message = edit(issued["message"], wallet, other_wallet)
    assert message != issued["message"]
    signer = other_wallet if other_wallet.address in message else wallet
    assert_refused(api.login(message, sign(signer, message)), "message_mismatch")
    assert_nothing_changed(api, issued)


def test_later_expiry_written_into_the_message_is_refused(api, wallet, settings, sign):
    issued = api.nonce(wallet.address)
    fields = parse_message(issued["message"])
    longer = fields.expiration_time + timedelta(days=365)
    message = edited(issued, f"Expiration Time: {issued['expires_at']}",
                     f"Expiration Time: {stamp(longer)}")
    assert_refused(api.login(message, sign(wallet, message)), "message_mismatch")
    assert_nothing_changed(api, issued)


def test_unknown_nonce_is_refused(api, wallet, settings, sign):
    now = timezone.now()
    message = build_message(domain=settings.SIWE_DOMAIN, address=wallet.address, uri=settings.SIWE_URI,
                            chain_id=settings.CHAIN_ID, nonce="NeverIssued0123456789abc", issued_at=now,
                            statement=settings.SIWE_STATEMENT, expiration_time=now + timedelta(minutes=5))
    assert_refused(api.login(message, sign(wallet, message)), "unknown_nonce")
    assert_nothing_changed(api, None)


@pytest.mark.parametrize(
    "mangle",
    [lambda m: "", lambda m: "sign me in", lambda m: m.replace("\n", "\r\n"), lambda m: m + "\n",
     lambda m: m.replace("Version: 1", "Version: 2")],
    ids=["empty", "prose", "crlf", "trailing-newline", "version"],
)
def test_malformed_message_is_refused(api, wallet, mangle, sign):
    issued = api.nonce(wallet.address)
    message = mangle(issued["message"])
    assert_refused(api.login(message, sign(wallet, message)), "malformed_message")
    assert_nothing_changed(api, issued)


def test_disabled_account_is_refused(api, wallet, sign):
    User.objects.create_user(wallet.address, is_active=False)
    issued = api.nonce(wallet.address)
    assert_refused(api.login(issued["message"], sign(wallet, issued["message"])), "account_disabled")
    assert_nothing_changed(api, issued, users_before=1)


@pytest.mark.parametrize(
    "address",
    ["", "hello", "0x1234", "f39fd6e51aad88f6f4ce6ab8827279cfffb92266",  # no 0x
     "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92267",  # mixed case, wrong checksum
     "0x" + "g" * 40, 1234, "0xf39fd6e51aad88f6f4ce6ab8827279cfffb9226600"],
)
def test_nonce_for_an_invalid_address_is_refused(api, address):
    response = api.post("accounts:nonce", {"address": address})
    assert_refused(response, "invalid_address")
    assert not SignInNonce.objects.exists()


@pytest.mark.parametrize("body", [{}, {"address": None}, {"address": ["0x"]}, []])
def test_nonce_request_of_the_wrong_shape_is_refused(api, body):
    assert_refused(api.post("accounts:nonce", body), "validation_error")
    assert not SignInNonce.objects.exists()


def test_login_request_of_the_wrong_shape_is_refused(api, wallet):
    issued = api.nonce(wallet.address)
    assert_refused(api.post("accounts:login", {"message": issued["message"]}), "validation_error")
    assert_nothing_changed(api, issued)


# --- CSRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token-" + "x" * 20])
def test_login_without_a_valid_csrf_token_is_refused(api, wallet, token, sign):
    issued = api.nonce(wallet.address)
    headers = {} if token is None else {"X-CSRFToken": token}
    response = api.client.post(reverse("accounts:login"),
                               {"message": issued["message"], "signature": sign(wallet, issued["message"])},
                               content_type="application/json", headers=headers)
    assert_refused(response, "csrf_failed", 403)
    assert_nothing_changed(api, issued)


def test_nonce_without_csrf_token_is_refused(api, wallet):
    assert_refused(api.post("accounts:nonce", {"address": wallet.address}, csrf=False), "csrf_failed", 403)
    assert not SignInNonce.objects.exists()


def test_logout_without_csrf_token_is_refused(api, wallet, sign):
    issued = api.nonce(wallet.address)
    assert api.login(issued["message"], sign(wallet, issued["message"])).status_code == 200
    assert_refused(api.post("accounts:logout", csrf=False), "csrf_failed", 403)
    assert api.signed_in_as() == wallet.address


def test_pre_login_csrf_token_is_stale_after_sign_in(api, wallet, sign):
    issued = api.nonce(wallet.address)
    stale = api.csrf_token
    assert api.login(issued["message"], sign(wallet, issued["message"])).status_code == 200
    response = api.client.post(reverse("accounts:logout"), {}, content_type="application/json",
                               headers={"X-CSRFToken": stale})
    assert_refused(response, "csrf_failed", 403)
    assert api.signed_in_as() == wallet.address


def test_only_json_bodies_are_read(api, wallet, sign):
    """Bodies a cross-site page can send without a CORS preflight (forms, text/plain) are not read."""
    issued = api.nonce(wallet.address)
    body = {"message": issued["message"], "signature": sign(wallet, issued["message"])}
    as_text = api.client.post(reverse("accounts:login"), json.dumps(body), content_type="text/plain",
                              headers={"X-CSRFToken": api.csrf_token})
    assert_refused(as_text, "unsupported_media_type", 415)
    as_form = api.client.post(reverse("accounts:login"), {**body, "csrfmiddlewaretoken": api.csrf_token})
    assert as_form.status_code in (400, 415), as_form.content  # the form fields are never parsed
    assert as_form.json()["error"]["code"] in ("validation_error", "unsupported_media_type")
    assert_nothing_changed(api, issued)


def test_me_when_signed_out_is_401_and_sets_the_csrf_cookie(db, client):
    response = client.get(reverse("accounts:me"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.cookies["csrftoken"].value
