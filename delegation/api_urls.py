"""API routes of delegation, included under /api/ (govapp/urls.py): api/delegates/..., api/relay/..."""

from django.urls import path, register_converter

from delegation import api


class AddressConverter:
    regex = "0x[0-9a-fA-F]{40}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AddressConverter, "address")

app_name = "delegation-api"
urlpatterns = [
    path("delegates/", api.DelegateListView.as_view(), name="list"),
    path("delegates/statements/", api.StatementPublishView.as_view(), name="statement-list"),
    path("delegates/statements/template/", api.StatementTemplateView.as_view(), name="statement-template"),
    path("delegates/<address:address>/", api.DelegateDetailView.as_view(), name="detail"),
    path("delegates/<address:address>/statements/", api.StatementListView.as_view(), name="statements"),
    path("delegates/<address:address>/delegators/", api.DelegatorListView.as_view(), name="delegators"),
    path("delegates/<address:address>/votes/", api.VotingRecordView.as_view(), name="votes"),
    path("delegates/<address:address>/power-history/", api.PowerHistoryView.as_view(), name="power-history"),
    path("relay/delegation-template/", api.DelegationTemplateView.as_view(), name="relay-template"),
    path("relay/delegations/", api.RelayListView.as_view(), name="relay-list"),
    path("relay/delegations/<uuid:relay_id>/", api.RelayDetailView.as_view(), name="relay-detail"),
]
