"""/api/execution/ — the execution API (execution.api)."""

from django.urls import path

from execution import api

app_name = "execution-api"

urlpatterns = [
    path("", api.ExecutionListView.as_view(), name="list"),
    path("<int:number>", api.ExecutionStatusView.as_view(), name="status"),
    path("<int:number>/veto-template", api.VetoTemplateView.as_view(), name="veto-template"),
    path("<int:number>/veto", api.VetoView.as_view(), name="veto"),
]
