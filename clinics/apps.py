from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClinicsConfig(AppConfig):
    name = "clinics"
    verbose_name = _("Health centres and schedules")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from clinics.audit import register_sqlite_function
        from clinics.models import District, HealthCentre, Service, ServiceDose
        from clinics.selectors import forget_centre_order, forget_reference_data

        connection_created.connect(register_sqlite_function)
        for model in (HealthCentre, District):
            post_save.connect(forget_centre_order, sender=model)
            post_delete.connect(forget_centre_order, sender=model)
        m2m_changed.connect(forget_centre_order, sender=HealthCentre.services.through)
        # Centres and districts too: the booking function's caller keeps them (selectors.
        # centre_by_number) for the texts and the answer, and the slot search its districts.
        for reference in (Service, ServiceDose, HealthCentre, District):
            post_save.connect(forget_reference_data, sender=reference)
            post_delete.connect(forget_reference_data, sender=reference)
