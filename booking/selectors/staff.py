"""What staff read: a centre's day and week, an appointment or slot they may act on, and the
text messages about an appointment or a patient."""

from datetime import date

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.models import Appointment, Patient, Slot
from booking.selectors.households import AnyUser
from booking.selectors.slots import day_bounds
from clinics.exceptions import NotFound
from clinics.permissions import StaffAction, centres_where, require_staff
from notifications.models import Message


def centre_appointments_on(centre_id: int, day: date) -> QuerySet[Appointment]:
    """A centre's appointments on one Bangkok day, in time order: the day's queue."""
    start, end = day_bounds(day)
    return (
        Appointment.objects.filter(
            slot__centre_id=centre_id, slot__start__gte=start, slot__start__lt=end
        )
        .select_related("patient", "slot__service", "slot__centre__district")
        .order_by("slot__start", "pk")
    )


def centre_slots_between(centre_id: int, first: date, last: date) -> QuerySet[Slot]:
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    return (
        Slot.objects.filter(centre_id=centre_id, start__gte=start, start__lt=end)
        .select_related("service")
        .order_by("start", "service__code", "pk")
    )


def appointment_for_staff(user: AnyUser, appointment_id: int, action: StaffAction) -> Appointment:
    """An appointment the staff member may act on; Forbidden at another centre."""
    appointment = (
        Appointment.objects.select_related("patient", "slot__service", "slot__centre__district")
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None:
        raise NotFound(_("We could not find that appointment."))
    require_staff(user, action, appointment.slot.centre_id)
    return appointment


def slot_for_staff(user: AnyUser, slot_id: int, action: StaffAction) -> Slot:
    slot = Slot.objects.select_related("service").filter(pk=slot_id).first()
    if slot is None:
        raise NotFound(_("That time slot does not exist."))
    require_staff(user, action, slot.centre_id)
    return slot


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
    """The text messages about an appointment, newest first."""
    return Message.objects.filter(appointment=appointment).order_by("-created_at", "-pk")


def stranded_appointments(centre_id: int) -> QuerySet[Appointment]:
    """The centre's booked appointments still to come in slots that closed under them (a
    closure, a drive called off), soonest first: for staff to move or cancel."""
    return (
        Appointment.objects.filter(
            slot__centre_id=centre_id,
            slot__closed=True,
            slot__start__gt=timezone.now(),
            status=Appointment.Status.BOOKED,
        )
        .select_related("patient", "slot__service")
        .order_by("slot__start", "pk")
    )
