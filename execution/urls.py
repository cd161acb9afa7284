"""/execution/ — the operators' status page and a standalone execution page per proposal (execution.views)."""

from django.urls import path

from execution import views

app_name = "execution"

urlpatterns = [
    path("status", views.status_page, name="status"),
    path("proposals/<int:number>/", views.proposal_page, name="proposal"),
    path("proposals/<int:number>/panel", views.panel_fragment, name="panel"),
]
