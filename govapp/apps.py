from django.apps import AppConfig


class GovappConfig(AppConfig):
    name = "govapp"
    verbose_name = "Governance portal"
