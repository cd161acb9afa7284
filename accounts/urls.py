from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("nonce", views.nonce, name="nonce"),
    path("login", views.login, name="login"),
    path("logout", views.logout, name="logout"),
    path("me", views.me, name="me"),
]
