from django.urls import path

from chain import api

app_name = "chain"
urlpatterns = [
    path("voting-power", api.voting_power, name="voting-power"),
    path("accounts/<str:address>/history", api.account_history, name="account-history"),
    path("indexer/status", api.indexer_status, name="indexer-status"),
]
