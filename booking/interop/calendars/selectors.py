"""What each calendar holds."""

from datetime import date, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from booking.models import Appointment, Patient, Slot
from clinics.models import Closure, HealthCentre, PublicHoliday, StaffMembership

# A feed keeps the recent past, so a visit does not vanish from the calendar the moment it ends.
FEED_PAST = timedelta(days=30)
# Closures are published a year back and as far ahead as they are known.
CLOSURES_PAST = timedelta(days=365)

_APPOINTMENT_RELATIONS = ("patient", "series", "slot__service", "slot__centre__district")


def appointment_for_calendar(appointment_id: int) -> Appointment:
    return Appointment.objects.select_related(*_APPOINTMENT_RELATIONS).get(pk=appointment_id)


def household_appointments(account: AbstractBaseUser) -> QuerySet[Appointment]:
    """The appointments of everyone on the account, from a month ago on, not cancelled."""
    return (
        Appointment.objects.filter(
            patient__account_id=account.pk,
            slot__start__gte=timezone.now() - FEED_PAST,
        )
        .exclude(status=Appointment.Status.CANCELLED)
        .select_related(*_APPOINTMENT_RELATIONS)
        .order_by("slot__start", "pk")
    )


def household_size(account: AbstractBaseUser) -> int:
    return Patient.objects.filter(account_id=account.pk).count()


def household_language(account: AbstractBaseUser) -> str:
    """The account holder's language for texts, which is the language of their calendar."""
    holder = (
        Patient.objects.filter(account_id=account.pk, relationship=Patient.Relationship.SELF)
        .values_list("preferred_language", flat=True)
        .first()
    )
    return holder or "th"


def works_at_a_centre(user: AbstractBaseUser) -> bool:
    """Whether the user has a staff role anywhere, or is a city administrator: a sessions
    calendar stops being served the day the last role is removed."""
    return (
        bool(getattr(user, "is_superuser", False))
        or StaffMembership.objects.filter(user_id=user.pk).exists()
    )


def clinician_slots(clinician: AbstractBaseUser) -> QuerySet[Slot]:
    """The slots a clinician runs, from a month ago on, that are not closed, each with when an
    appointment in it last changed (`changed_at`: booked, moved in, cancelled)."""
    return (
        Slot.objects.filter(
            clinician_id=clinician.pk,
            closed=False,
            start__gte=timezone.now() - FEED_PAST,
        )
        .annotate(changed_at=Max("appointments__updated_at"))
        .select_related("service", "centre__district")
        .order_by("start", "pk")
    )


def clinician_appointments(clinician: AbstractBaseUser) -> QuerySet[Appointment]:
    """Appointments in a clinician's slots, from a month ago on, not cancelled."""
    return (
        Appointment.objects.filter(
            slot__clinician_id=clinician.pk,
            slot__start__gte=timezone.now() - FEED_PAST,
        )
        .exclude(status=Appointment.Status.CANCELLED)
        .select_related("series", "slot__service")
        .order_by("slot__start", "pk")
    )


def centre_closures(centre: HealthCentre, *, since: date) -> QuerySet[Closure]:
    """The centre's own closures and the city's, ending on or after `since`."""
    return Closure.objects.filter(
        Q(centre__isnull=True) | Q(centre=centre), end_date__gte=since
    ).order_by("start_date", "pk")


def closing_holidays(*, since: date) -> QuerySet[PublicHoliday]:
    return PublicHoliday.objects.filter(date__gte=since, closes_centres=True).order_by("date")


def closures_since() -> date:
    return timezone.localdate() - CLOSURES_PAST
