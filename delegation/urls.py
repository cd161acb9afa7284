from django.urls import path

from delegation import views

app_name = "delegation"
urlpatterns = [
    path("", views.directory, name="directory"),
    path("me/", views.my_delegation, name="mine"),
    path("statement/", views.statement_editor, name="statement"),
    path("<str:address>/", views.delegate_detail, name="detail"),
]
