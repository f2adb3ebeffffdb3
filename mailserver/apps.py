from django.apps import AppConfig


class MailServerConfig(AppConfig):
    name = "mailserver"
    verbose_name = "Mail server"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mailserver import checks, conf  # noqa: F401  (registers checks and receivers)
        from mailserver.bounces import providers

        providers.connect()  # issue 5: Anymail / django-ses bounce signals, when installed
