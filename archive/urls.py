from django.urls import path

from archive import views

app_name = "archive"
urlpatterns = [
    path("", views.timeline, name="timeline"),
    path("entries/<int:sequence>/", views.entry_detail, name="entry_detail"),
    path("export.jsonl", views.export_jsonl, name="export"),
    path("documents/", views.document_list, name="document_list"),
    path("documents/new/", views.document_new, name="document_new"),
    path("documents/<int:pk>/", views.document_detail, name="document_detail"),
    path("documents/<int:pk>/content", views.document_content, name="document_content"),
]
