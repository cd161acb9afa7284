from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from govapp import views

handler404 = "govapp.api.not_found"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("votes/", include("voting.web_urls")),
    path("api/votes/", include("voting.urls")),
    path("archive/", include("archive.urls")),
    path("api/archive/", include("archive.api_urls")),
    path("delegates/", include("delegation.urls")),
    path("api/", include("delegation.api_urls")),
    path("proposals/", include("proposals.urls")),
    path("api/proposals/", include("proposals.api_urls")),
    path("execution/", include("execution.urls")),
    path("api/execution/", include("execution.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("chain.urls")),
    path("api/docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
