from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BookingConfig(AppConfig):
    name = "booking"
    verbose_name = _("Patients and appointments")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from booking.models import Appointment
        from booking.signed_in import connect_signals
        from booking.vaccination.waiting_room import note_appointment_saved

        # A drive's places-left counter and its line move when bookings in it commit.
        post_save.connect(note_appointment_saved, sender=Appointment)
        # The lean route's cached accounts are read afresh after a change to them.
        connect_signals()
