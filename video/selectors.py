"""Reads about consultation rooms that deserve a name."""

from datetime import date

from django.db.models import QuerySet

from booking.models import Appointment
from booking.selectors import centre_appointments_on
from clinics.models import VisitMode


def video_appointments_on(centre_id: int, day: date) -> QuerySet[Appointment]:
    """The centre's video appointments that day that still take place or took place."""
    return (
        centre_appointments_on(centre_id, day)
        .filter(visit_mode=VisitMode.VIDEO)
        .exclude(status=Appointment.Status.CANCELLED)
    )
