"""The admin registrations and the OpenAPI schema of the sign-in endpoints."""

from __future__ import annotations

import pytest
from django.urls import include, path, reverse
from drf_spectacular.generators import SchemaGenerator

from accounts.models import User
from accounts.services import issue_sign_in_message


@pytest.fixture
def staff_client(db, client):
    admin = User.objects.create_superuser("0x" + "ab" * 20)
    client.force_login(admin)
    return client


def test_admin_lists_users_and_nonces(staff_client, wallet):
    user = User.objects.create_user(wallet.address, display_name="Alice")
    issued = issue_sign_in_message(wallet.address)
    users = staff_client.get(reverse("admin:accounts_user_changelist"))
    assert users.status_code == 200 and wallet.address in users.content.decode()
    nonces = staff_client.get(reverse("admin:accounts_signinnonce_changelist"))
    assert nonces.status_code == 200 and issued.nonce in nonces.content.decode()
    detail = staff_client.get(reverse("admin:accounts_signinnonce_change", args=[issued.pk]))
    assert detail.status_code == 200 and 'name="nonce"' not in detail.content.decode()

    change = staff_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert 'name="display_name"' in change and 'name="address"' not in change  # identity is read-only


def test_admin_cannot_add_users_or_nonces(staff_client):
    assert staff_client.get(reverse("admin:accounts_user_add")).status_code == 403
    assert staff_client.get(reverse("admin:accounts_signinnonce_add")).status_code == 403


def test_schema_documents_the_sign_in_endpoints():
    schema = SchemaGenerator(patterns=[path("accounts/", include("accounts.urls"))]).get_schema(public=True)
    paths = schema["paths"]
    assert set(paths) == {"/accounts/nonce", "/accounts/login", "/accounts/logout", "/accounts/me"}
    nonce = paths["/accounts/nonce"]["post"]
    assert nonce["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/NonceRequest")
    assert set(nonce["responses"]) >= {"200", "400", "403"}
    login = paths["/accounts/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/LoginRequest")
    assert paths["/accounts/me"]["get"]["responses"]["401"]
    assert set(schema["components"]["schemas"]["NonceResponse"]["properties"]) == {"message", "nonce",
                                                                                   "expires_at"}
