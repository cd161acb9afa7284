from django.urls import path

from archive import api

app_name = "archive-api"
urlpatterns = [
    path("entries/", api.EntryListView.as_view(), name="entries"),
    path("entries/<int:sequence>/", api.EntryDetailView.as_view(), name="entry"),
    path("head/", api.HeadView.as_view(), name="head"),
    path("documents/", api.DocumentListCreateView.as_view(), name="documents"),
    path("documents/<int:pk>/", api.DocumentDetailView.as_view(), name="document"),
]
