from django.apps import AppConfig


class GovappConfig(AppConfig):
    name = "govapp"
    verbose_name = "Governance portal"

    def ready(self) -> None:
        from govapp import ratelimit  # noqa: F401 - registers the RATE_LIMITS system check
