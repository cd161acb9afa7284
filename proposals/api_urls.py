"""API routes of proposals, included under /api/proposals/ (govapp/urls.py)."""

from django.urls import path

from proposals import api

app_name = "proposals-api"
urlpatterns = [
    path("", api.ProposalListView.as_view(), name="list"),
    path("parameters/", api.ParameterListView.as_view(), name="parameters"),
    path("lifecycle/", api.LifecycleView.as_view(), name="lifecycle"),
    path("<int:number>/", api.ProposalDetailView.as_view(), name="detail"),
    path("<int:number>/revisions/", api.RevisionListView.as_view(), name="revisions"),
    path("<int:number>/diff/", api.RevisionDiffView.as_view(), name="diff"),
    path("<int:number>/endorsements/", api.EndorsementListView.as_view(), name="endorsements"),
    path("<int:number>/endorsement-template/", api.EndorsementTemplateView.as_view(), name="endorsement-template"),
    path("<int:number>/reviews/", api.ReviewListView.as_view(), name="reviews"),
    path("<int:number>/review-template/", api.ReviewTemplateView.as_view(), name="review-template"),
    path("<int:number>/transition/", api.TransitionView.as_view(), name="transition"),
]
