"""What a partner reads: the appointments it booked."""

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from booking.models import Appointment
from clinics.exceptions import NotFound


def partner_appointments(partner_id: int) -> QuerySet[Appointment]:
    """The appointments a partner booked, in time order."""
    return (
        Appointment.objects.filter(partner_id=partner_id)
        .select_related("patient", "slot__centre__district", "slot__service")
        .order_by("slot__start", "pk")
    )


def partner_appointment(partner_id: int, appointment_id: int) -> Appointment:
    """One appointment the partner booked; anyone else's is simply not found."""
    appointment = partner_appointments(partner_id).filter(pk=appointment_id).first()
    if appointment is None:
        raise NotFound(_("This partner booked no appointment with that number."))
    return appointment
