"""Foundation documents: staff publish (form with CSRF, and API); the content hash goes into the record."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from archive.models import ArchiveEntry, Document
from archive.testing import export_bytes, verify_bytes

pytestmark = pytest.mark.django_db


def _csrf_client(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/archive/documents/new/")
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    return client, token


def test_staff_publish_markdown_through_the_form(staff_user):
    client, token = _csrf_client(staff_user)
    text = "# Board minutes\r\n\r\nWe met. <script>alert(1)</script>"
    response = client.post("/archive/documents/new/", {
        "csrfmiddlewaretoken": token, "title": "Board minutes, March", "category": "minutes",
        "date": "2025-03-14", "text": text})
    assert response.status_code == 302
    document = Document.objects.get()
    assert response["Location"] == f"/archive/documents/{document.pk}/"
    stored = text.replace("\r\n", "\n").encode()
    assert bytes(document.content) == stored
    assert document.sha256 == hashlib.sha256(stored).hexdigest()
    entry = document.entry
    assert entry.kind == "document.published" and entry.address == staff_user.address
    assert entry.payload == {"title": "Board minutes, March", "category": "minutes", "date": "2025-03-14",
                             "content_sha256": document.sha256, "content_type": "text/markdown; charset=utf-8",
                             "filename": "", "size": len(stored), "publisher": staff_user.address}
    page = client.get(f"/archive/documents/{document.pk}/")
    assert page.status_code == 200 and b"<h1>Board minutes</h1>" in page.content
    assert b"<script>alert(1)</script>" not in page.content  # sanitized markdown
    download = client.get(f"/archive/documents/{document.pk}/content")
    assert download.content == stored and download["X-Content-SHA256"] == document.sha256
    assert download["Content-Disposition"].startswith("attachment")
    assert verify_bytes(export_bytes()).entries == 1


def test_the_form_needs_its_csrf_token(staff_user):
    client, _ = _csrf_client(staff_user)
    response = client.post("/archive/documents/new/", {"title": "t", "category": "report", "date": "2025-01-01",
                                                        "text": "x"})
    assert response.status_code == 403
    assert not Document.objects.exists() and not ArchiveEntry.objects.exists()


def test_staff_publish_a_file_through_the_api(staff_user):
    api = APIClient()
    api.force_authenticate(staff_user)
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40
    response = api.post("/api/archive/documents/", {
        "title": "Security audit of UpgradeExecutor", "category": "audit", "date": "2025-05-02",
        "file": SimpleUploadedFile("audit v1.pdf", pdf, content_type="application/pdf")}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sha256"] == hashlib.sha256(pdf).hexdigest() and body["size"] == len(pdf)
    assert body["publisher"] == staff_user.address and body["filename"] == "audit v1.pdf"
    entry = ArchiveEntry.objects.get(sequence=body["entry_sequence"])
    assert entry.payload["content_sha256"] == body["sha256"]
    assert api.get(body["content_url"]).content == pdf
    listing = APIClient().get("/api/archive/documents/").json()
    assert listing["results"][0]["id"] == body["id"] and "text" not in listing["results"][0]
    assert APIClient().get(f"/api/archive/documents/{body['id']}/").json()["sha256"] == body["sha256"]

    response = api.post("/api/archive/documents/", {"title": "Q2 report", "category": "report",
                                                    "date": "2025-07-01", "text": "## Q2"}, format="json")
    assert response.status_code == 201 and response.json()["content_type"].startswith("text/markdown")


def test_non_staff_are_refused_with_a_code(plain_user):
    api = APIClient()
    payload = {"title": "Fake minutes", "category": "minutes", "date": "2025-01-01", "text": "x"}
    for client in (api, None):
        if client is None:
            api.force_authenticate(plain_user)
            client = api
        response = client.post("/api/archive/documents/", payload, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "archive_staff_only"
    web = Client()
    assert web.get("/archive/documents/new/").status_code == 403
    web.force_login(plain_user)
    response = web.post("/archive/documents/new/", payload)
    assert response.status_code == 403 and b"archive_staff_only" in response.content
    assert not Document.objects.exists() and not ArchiveEntry.objects.exists()


@pytest.mark.parametrize(("payload", "code", "status"), [
    ({"category": "minutes", "date": "2025-01-01", "text": "x"}, "validation_error", 400),
    ({"title": "t", "category": "gossip", "date": "2025-01-01", "text": "x"}, "validation_error", 400),
    ({"title": "t", "category": "report", "date": "01/02/2025", "text": "x"}, "validation_error", 400),
    ({"title": "t", "category": "report", "date": "2025-01-01"}, "validation_error", 400),
    ({"title": "t", "category": "report", "date": "2025-01-01", "text": "x",
      "file": b"also a file"}, "validation_error", 400),
    ({"title": "   ", "category": "report", "date": "2025-01-01", "text": "x"}, "validation_error", 400),
    ({"title": "t", "category": "report", "date": "2025-01-01", "file": b"x" * 2048}, "archive_document_too_large",
     413),
])
def test_bad_input_is_refused_and_nothing_is_written(staff_user, settings, payload, code, status):
    settings.ARCHIVE_DOCUMENT_MAX_BYTES = 1024
    api = APIClient()
    api.force_authenticate(staff_user)
    data = dict(payload)
    if "file" in data:
        data["file"] = SimpleUploadedFile("f.bin", data["file"], content_type="application/octet-stream")
    response = api.post("/api/archive/documents/", data, format="multipart")
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not Document.objects.exists() and not ArchiveEntry.objects.exists()


def test_service_refusals_carry_codes(staff_user, plain_user):
    from archive.services import publish_document
    from govapp.errors import DomainError

    with pytest.raises(DomainError) as info:
        publish_document(plain_user, title="t", category="report", date="2025-01-01", text="x")
    assert (info.value.code, info.value.status) == ("archive_staff_only", 403)
    with pytest.raises(DomainError) as info:
        publish_document(staff_user, title="", category="nope", date="yesterday", text=None)
    assert info.value.code == "archive_invalid_document"
    assert set(info.value.details) == {"title", "category", "date", "content"}
    assert not ArchiveEntry.objects.exists()


def test_the_form_shows_errors_with_400(staff_user):
    client, token = _csrf_client(staff_user)
    response = client.post("/archive/documents/new/", {"csrfmiddlewaretoken": token, "title": "t",
                                                        "category": "report", "date": "2025-01-01"})
    assert response.status_code == 400 and b"not both" in response.content
    assert not ArchiveEntry.objects.exists()
