from django.urls import path

from proposals import views

app_name = "proposals"
urlpatterns = [
    path("", views.proposal_list, name="list"),
    path("new/", views.proposal_create, name="create"),
    path("<int:number>/", views.proposal_detail, name="detail"),
    path("<int:number>/edit/", views.proposal_edit, name="edit"),
    path("<int:number>/transition/", views.proposal_transition, name="transition"),
    path("<int:number>/revisions/", views.proposal_revisions, name="revisions"),
]
