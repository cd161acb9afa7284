"""Public pages of the Foundation archive, the export, and the staff document form."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import markdown
import nh3
from django import forms
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from archive import selectors
from archive.filters import ArchiveEntryFilter
from archive.models import ArchiveEntry, Document, DocumentCategory
from archive.services import export_lines, max_document_bytes, publish_document
from archive.verify import FORMAT
from govapp.errors import DomainError, PermissionDeniedError

PAGE_SIZE = 50


def _error(request: HttpRequest, error: DomainError) -> HttpResponse:
    return render(request, "archive/error.html", {"error": error}, status=error.status)


def _positive_int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise DomainError("Page markers must be entry sequence numbers.", code="archive_invalid_filter")
    return int(value)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@require_safe
def timeline(request: HttpRequest) -> HttpResponse:
    """All entries newest first, filtered and searched, 50 a page (keyset pages: ?before= / ?after=)."""
    filterset = ArchiveEntryFilter(request.GET, queryset=ArchiveEntry.objects.all())
    context: dict[str, Any] = {"filter": filterset, "entries": [], "head": selectors.head()}
    if not filterset.is_valid():
        return render(request, "archive/timeline.html", context, status=400)
    try:
        before = _positive_int(request.GET.get("before"))
        after = _positive_int(request.GET.get("after"))
    except DomainError as error:
        return _error(request, error)
    queryset = filterset.qs
    if after is not None:
        page = list(queryset.filter(sequence__gt=after).order_by("sequence")[: PAGE_SIZE + 1])
        has_newer = len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE][::-1]
        has_older = bool(page) and queryset.filter(sequence__lt=page[-1].sequence).exists()
    else:
        scoped = queryset.filter(sequence__lt=before) if before is not None else queryset
        page = list(scoped.order_by("-sequence")[: PAGE_SIZE + 1])
        has_older = len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE]
        has_newer = before is not None and bool(page) and queryset.filter(sequence__gt=page[0].sequence).exists()
    params = {k: v for k, v in request.GET.items() if k not in ("before", "after") and v}
    context.update(
        entries=page,
        older_url=f"?{urlencode({**params, 'before': page[-1].sequence})}" if has_older else None,
        newer_url=f"?{urlencode({**params, 'after': page[0].sequence})}" if has_newer else None,
        filtered=bool(params),
        proposal=params.get("proposal", ""),
    )
    return render(request, "archive/timeline.html", context)


@require_safe
def entry_detail(request: HttpRequest, sequence: int) -> HttpResponse:
    entry = get_object_or_404(ArchiveEntry, sequence=sequence)
    previous, following = selectors.neighbours(entry)
    document = Document.objects.filter(entry=entry).defer("content").first()
    return render(request, "archive/entry_detail.html", {
        "entry": entry, "previous": previous, "next": following, "document": document,
        "payload_json": _pretty(entry.payload),
        "signed_json": _pretty(entry.signed) if entry.signed is not None else "",
        "body_json": _pretty(entry.body()),
        "trail_url": selectors.proposal_trail_url(entry.proposal_ref) if entry.proposal_ref else None,
    })


@require_safe
def export_jsonl(request: HttpRequest) -> StreamingHttpResponse:
    """The whole archive as JSON Lines (the last line is the head trailer), streamed."""
    response = StreamingHttpResponse(export_lines(), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="govapp-archive.jsonl"'
    response["X-Archive-Format"] = FORMAT
    response["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- documents
class DocumentForm(forms.Form):
    title = forms.CharField(max_length=200)
    category = forms.ChoiceField(choices=DocumentCategory.choices)
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 14}),
                           help_text="Markdown. Leave empty to upload a file instead.")
    file = forms.FileField(required=False, help_text="A report, audit or minutes file (PDF, ...).")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if bool(data.get("text")) == bool(data.get("file")):
            raise forms.ValidationError("Give either the text of the document or a file, not both.",
                                        code="archive_invalid_document")
        upload = data.get("file")
        if upload is not None and upload.size > max_document_bytes():
            self.add_error("file", f"The file is larger than {max_document_bytes()} bytes.")
        return data


def _require_staff(request: HttpRequest) -> None:
    if not request.user.is_authenticated or not request.user.is_staff:
        raise PermissionDeniedError("Only Foundation staff can publish documents.", code="archive_staff_only")


@require_http_methods(["GET", "HEAD", "POST"])
def document_new(request: HttpRequest) -> HttpResponse:
    """Staff publish a document (CSRF-protected form). Everyone else gets 403."""
    try:
        _require_staff(request)
    except DomainError as error:
        return _error(request, error)
    if request.method in ("GET", "HEAD"):
        return render(request, "archive/document_form.html", {"form": DocumentForm()})
    form = DocumentForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "archive/document_form.html", {"form": form}, status=400)
    data = form.cleaned_data
    upload = data.get("file")
    try:
        document = publish_document(
            request.user, title=data["title"], category=data["category"], date=data["date"],
            text=data.get("text") or None,
            content=upload.read() if upload else None,
            filename=upload.name if upload else "",
            content_type=upload.content_type if upload else "",
        )
    except DomainError as error:
        if error.status == 403:
            return _error(request, error)
        form.add_error(None, f"{error.message} ({error.code})")
        return render(request, "archive/document_form.html", {"form": form}, status=error.status)
    return redirect("archive:document_detail", pk=document.pk)


@require_safe
def document_list(request: HttpRequest) -> HttpResponse:
    return render(request, "archive/document_list.html", {
        "documents": selectors.documents()[:200],
        "can_publish": request.user.is_authenticated and request.user.is_staff,
    })


@require_safe
def document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    document = get_object_or_404(Document.objects.select_related("entry", "published_by"), pk=pk)
    html = ""
    if document.content_type.startswith("text/markdown"):
        html = nh3.clean(markdown.markdown(document.text(), extensions=["extra"]))
    return render(request, "archive/document_detail.html", {"document": document, "html": html})


@require_safe
def document_content(request: HttpRequest, pk: int) -> HttpResponse:
    """The exact published bytes (their SHA-256 is in the archive entry), as a download."""
    document = Document.objects.filter(pk=pk).first()
    if document is None:
        raise Http404
    response = HttpResponse(bytes(document.content), content_type=document.content_type)
    name = re.sub(r"[^A-Za-z0-9._ -]", "_", document.filename) or f"document-{document.pk}.md"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Content-Security-Policy"] = "sandbox"
    response["X-Content-SHA256"] = document.sha256
    return response
