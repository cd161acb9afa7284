"""REST API of the Foundation archive (in the OpenAPI schema via drf-spectacular)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from archive import selectors
from archive.filters import ArchiveEntryFilter
from archive.models import ArchiveEntry, Document
from archive.services import max_document_bytes, publish_document
from archive.verify import format_time
from govapp.errors import DomainError, NotFoundError


class EntrySerializer(serializers.ModelSerializer):
    time = serializers.SerializerMethodField()
    kind_label = serializers.CharField(read_only=True)
    payload = serializers.JSONField()
    signed = serializers.JSONField(allow_null=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = ArchiveEntry
        fields = ["sequence", "kind", "kind_label", "time", "proposal_ref", "address", "payload", "signed",
                  "prev_hash", "hash", "url"]
        read_only_fields = fields

    def get_time(self, entry: ArchiveEntry) -> str:
        return format_time(entry.created_at)

    def get_url(self, entry: ArchiveEntry) -> str:
        return reverse("archive:entry_detail", args=[entry.sequence])


class EntryPagination(CursorPagination):
    """Cursor pages (constant cost however long the archive), newest first."""

    ordering = "-sequence"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


@extend_schema(tags=["archive"], summary="Archive entries, newest first (filters and full-text search)")
class EntryListView(generics.ListAPIView):
    queryset = ArchiveEntry.objects.all()
    serializer_class = EntrySerializer
    filterset_class = ArchiveEntryFilter
    pagination_class = EntryPagination


@extend_schema(tags=["archive"], summary="One archive entry")
class EntryDetailView(generics.RetrieveAPIView):
    queryset = ArchiveEntry.objects.all()
    serializer_class = EntrySerializer
    lookup_field = "sequence"

    def get_object(self) -> ArchiveEntry:
        entry = self.get_queryset().filter(sequence=self.kwargs["sequence"]).first()
        if entry is None:
            raise NotFoundError(f"No archive entry {self.kwargs['sequence']}.", code="not_found")
        return entry


class HeadSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    hash = serializers.CharField()
    time = serializers.CharField(allow_null=True)
    anchor = inline_serializer("ArchiveAnchorInfo", allow_null=True, fields={
        "sequence": serializers.IntegerField(), "head_hash": serializers.CharField(),
        "tx_hash": serializers.CharField(), "block_number": serializers.IntegerField(),
        "chain_id": serializers.IntegerField(), "contract_address": serializers.CharField(),
    })


@extend_schema(tags=["archive"], summary="The archive head (latest sequence and hash) and its latest anchor",
               responses=HeadSerializer)
class HeadView(APIView):
    def get(self, request: Request) -> Response:
        head = selectors.head()
        anchor = selectors.latest_anchor()
        return Response({
            "sequence": head.sequence,
            "hash": head.hash,
            "time": format_time(head.time) if head.time else None,
            "anchor": None if anchor is None else {
                "sequence": anchor.sequence, "head_hash": anchor.head_hash, "tx_hash": anchor.tx_hash,
                "block_number": anchor.block_number, "chain_id": anchor.chain_id,
                "contract_address": anchor.contract_address,
            },
        })


class DocumentSerializer(serializers.ModelSerializer):
    entry_sequence = serializers.IntegerField(source="entry_id", read_only=True)
    publisher = serializers.CharField(source="published_by.address", read_only=True)
    content_url = serializers.SerializerMethodField()
    text = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                 help_text="Markdown content (or upload `file`)")
    file = serializers.FileField(write_only=True, required=False, help_text="The document file (or give `text`)")

    class Meta:
        model = Document
        fields = ["id", "title", "category", "date", "content_type", "filename", "size", "sha256",
                  "publisher", "published_at", "entry_sequence", "content_url", "text", "file"]
        read_only_fields = ["id", "content_type", "filename", "size", "sha256", "publisher", "published_at",
                            "entry_sequence", "content_url"]

    def get_content_url(self, document: Document) -> str:
        return reverse("archive:document_content", args=[document.pk])

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("text")) == bool(attrs.get("file")):
            raise serializers.ValidationError({"content": "Give either `text` or `file`, not both."})
        return attrs


@extend_schema_view(
    get=extend_schema(tags=["archive"], summary="Foundation documents, newest first"),
    post=extend_schema(tags=["archive"], summary="Publish a Foundation document (staff only)"),
)
class DocumentListCreateView(generics.ListCreateAPIView):
    serializer_class = DocumentSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return selectors.documents().select_related("published_by")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request.user
        if not user.is_authenticated or not user.is_staff:  # before parsing: say 403, not 400
            raise DomainError("Only Foundation staff can publish documents.", code="archive_staff_only",
                              status=403)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data.get("file")
        if upload is not None and upload.size > max_document_bytes():
            raise DomainError(f"The document is larger than {max_document_bytes()} bytes.",
                              code="archive_document_too_large", status=413)
        document = publish_document(
            user, title=data["title"], category=data["category"], date=data["date"],
            text=data.get("text") or None, content=upload.read() if upload else None,
            filename=upload.name if upload else "", content_type=upload.content_type if upload else "",
        )
        return Response(self.get_serializer(document).data, status=201)


@extend_schema(tags=["archive"], summary="One Foundation document (metadata; content at content_url)")
class DocumentDetailView(generics.RetrieveAPIView):
    serializer_class = DocumentSerializer

    def get_queryset(self):
        return selectors.documents().select_related("published_by")

    def get_object(self) -> Document:
        document = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if document is None:
            raise NotFoundError(f"No document {self.kwargs['pk']}.", code="not_found")
        return document

