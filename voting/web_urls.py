"""/votes/ — the vote pages (voting.views)."""

from django.urls import path

from voting import views

app_name = "voting"

urlpatterns = [
    path("proposals/<int:number>/", views.vote_page, name="page"),
    path("proposals/<int:number>/results", views.results_fragment, name="results-fragment"),
]
