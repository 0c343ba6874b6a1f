from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from booking.models import Appointment, Patient
from booking.selectors import AnyUser
from clinics.exceptions import NotFound
from clinics.permissions import StaffAction, centres_where
from notifications.models import Message


def messages_about_patient(user: AnyUser, patient_id: int) -> QuerySet[Message]:
    """A patient's text messages that a staff member may read: those about appointments at
    their centres, and those about no appointment. NotFound for a patient they do not see."""
    centres = centres_where(user, StaffAction.VIEW_APPOINTMENTS)
    seen = Appointment.objects.filter(patient_id=patient_id)
    if centres is not None:
        seen = seen.filter(slot__centre_id__in=centres)
    if not Patient.objects.filter(pk=patient_id).exists() or not seen.exists():
        raise NotFound(_("We could not find that patient among your centres' appointments."))
    messages = Message.objects.filter(patient_id=patient_id)
    if centres is not None:
        messages = messages.filter(
            Q(appointment__isnull=True) | Q(appointment__slot__centre_id__in=centres)
        )
    return messages.order_by("-created_at", "-pk")


def centres_seeing(user: AnyUser, patient_id: int) -> list[int]:
    """The centres through which a member of staff sees the patient: where the patient has
    appointments and the staff member may view them."""
    centres = centres_where(user, StaffAction.VIEW_APPOINTMENTS)
    seen = Appointment.objects.filter(patient_id=patient_id)
    if centres is not None:
        seen = seen.filter(slot__centre_id__in=centres)
    return sorted(set(seen.values_list("slot__centre_id", flat=True)))


def messages_about_appointment(appointment: Appointment) -> QuerySet[Message]:
    return Message.objects.filter(appointment=appointment).order_by("-created_at", "-pk")
