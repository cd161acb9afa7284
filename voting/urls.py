"""/api/votes/ — the voting API (voting.api)."""

from django.urls import path, re_path

from voting import api

app_name = "voting-api"

urlpatterns = [
    path("", api.CastVoteView.as_view(), name="cast"),
    path("batch", api.BatchVoteView.as_view(), name="batch"),
    path("snapshot", api.SnapshotVoteView.as_view(), name="snapshot"),
    re_path(r"^(?P<vote_id>0x[0-9a-fA-F]{64})$", api.VoteDetailView.as_view(), name="detail"),
    path("proposals/<int:number>/", api.CastProposalVoteView.as_view(), name="cast-for-proposal"),
    path("proposals/<int:number>/template", api.TemplateView.as_view(), name="template"),
    path("proposals/<int:number>/results", api.ResultsView.as_view(), name="results"),
    path("proposals/<int:number>/power", api.PowerView.as_view(), name="power"),
    path("proposals/<int:number>/votes", api.VoteListView.as_view(), name="list"),
    path("proposals/<int:number>/votes.csv", api.VoteCsvView.as_view(), name="csv"),
]
