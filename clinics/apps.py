from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClinicsConfig(AppConfig):
    name = "clinics"
    verbose_name = _("Health centres and schedules")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from clinics.audit import register_sqlite_function

        connection_created.connect(register_sqlite_function)
