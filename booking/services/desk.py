"""Booking at a health centre's desk, for people who cannot or may not book online: an older
person with no smartphone, someone whose phone staff stopped from booking online
(services.safeguards lets channel "staff" through). Staff find the person or register them
after seeing their ID card, then book any open time at their centre or the best time across
centres, through the same engine as every other booking. Every step is in the audit trail.

Who booked: an appointment made here is `booked_by` the member of staff, with channel "staff".
Nothing reads booked_by to decide who may see or change an appointment (that follows the
patient's account) or where its texts go (services.notices.recipient_for), so the person and
their household manage it as any other; booked_by says who made it, and scopes the
idempotency key to that member of staff, so a double submit at the desk books once.

Registering a phone that already signs in to an account is refused unless staff say which
household to add the person to (`household`): a phone number mistyped at the desk would
otherwise put a stranger's record into someone else's household, where its holder could read
and cancel it. Staff ask, search by the phone, and add the person only when the person and the
account holder agree (the usual case: a parent on a son's or daughter's phone)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import AlreadyRegistered, BookingClosed, PersonOnFile, PhoneHasAccount
from booking.models import Appointment, Patient, Slot
from booking.selectors import SlotOrder, SlotSearch
from booking.selectors.desk import PersonQuery, people_matching
from booking.services.appointments import Booking, allocate_slot, book_slot
from booking.services.identity import mark_verified
from booking.services.patients import (
    PersonDetails,
    add_dependant,
    register_account,
    register_account_without_phone,
    validated_person,
)
from clinics import audit
from clinics.exceptions import NotFound
from clinics.models import District, Service

# Keys of desk bookings are kept apart from the same member of staff's own bookings online.
KEY_PREFIX = "desk:"
# "The best time" looks this far ahead, as "book the best for me" does by default.
BEST_TIME_WEEKS = 4


def search_people(*, centre_id: int, by: User, query: PersonQuery) -> list[Patient]:
    """Find people for the desk; who looked up whom, and how, goes in the audit trail (a
    search that finds nobody too: it still told whether the person is on file)."""
    people = people_matching(query)
    audit.record(
        "desk.people_searched",
        target_type="patient",
        centre_id=centre_id,
        patients=[person.pk for person in people],
        details={"by": str(query.by), "found": len(people)},
        actor=by,
    )
    return people


@transaction.atomic
def register_at_desk(
    *,
    centre_id: int,
    by: User,
    person: PersonDetails,
    household: Patient.Relationship | None = None,
) -> Patient:
    """Register a person whose ID card staff saw, their identity marked verified by the desk.

    With a phone no account uses: an account of that phone that signs in with passcodes, the
    person its holder. With a phone that has an account: PhoneHasAccount, unless `household`
    says how the person is related to its holder (then they join that household). Without a
    phone: an account that cannot sign in (see patients.DESK_ACCOUNT_PREFIX). PersonOnFile
    (with the record's id) when the national ID, or the passport with the date of birth, is
    on file already. Locks the new patient row (mark_verified)."""
    details = validated_person(person)
    _refuse_if_on_file(details)
    try:
        with transaction.atomic():
            patient, how = _open_record(details, household)
    except AlreadyRegistered:
        # Someone registered the same ID or phone at the same moment: say which.
        _refuse_if_on_file(details)
        raise
    patient = mark_verified(patient, by=Patient.IdentityCheck.DESK, centre_id=centre_id)
    audit.record(
        "patient.registered_at_desk",
        patient,
        centre_id=centre_id,
        patients=[patient.pk],
        details={"household": how},
        actor=by,
    )
    return patient


def _refuse_if_on_file(details: PersonDetails) -> None:
    if details.national_id:
        found = Patient.objects.filter(national_id=details.national_id)
    else:
        found = Patient.objects.filter(
            passport_number=details.passport_number, date_of_birth=details.date_of_birth
        )
    on_file = found.order_by("pk").values_list("pk", flat=True).first()
    if on_file is not None:
        raise PersonOnFile(patient_id=on_file)


def _open_record(
    details: PersonDetails, household: Patient.Relationship | None
) -> tuple[Patient, str]:
    """The new record, and how it was kept: "no_phone", "own" (a new phone's account) or
    "joined" (added to the household of the phone's account)."""
    if not details.phone:
        return register_account_without_phone(person=details), "no_phone"
    account = get_user_model().objects.filter(username=details.phone).first()
    if account is None:
        return register_account(password=None, person=details), "own"
    if household is None or household == Patient.Relationship.SELF:
        holder = Patient.objects.filter(
            account=account, relationship=Patient.Relationship.SELF
        ).first()
        raise PhoneHasAccount(
            account_holder_id=holder.pk if holder is not None else None, field="phone"
        )
    return add_dependant(account=account, relationship=household, person=details), "joined"


@transaction.atomic
def book_at_desk(
    *, centre_id: int, by: User, patient: Patient, slot_id: int, idempotency_key: str
) -> Booking:
    """Book the person into an open time at the desk's own centre, through the engine
    (channel "staff": a phone stopped from booking online does not stop it; the online
    cut-off does not apply, a time that is over does). The same key again returns the same
    appointment. Locks the patient row, then the slot's (see book_slot)."""
    slot = Slot.objects.filter(pk=slot_id).only("centre_id", "end").first()
    if slot is None or slot.centre_id != centre_id:
        raise NotFound(_("That time is not at this health centre."), field="slot_id")
    if slot.end <= timezone.now():
        raise BookingClosed(_("This time is over. Please choose a later time."), field="slot_id")
    booking = book_slot(
        patient=patient,
        slot_id=slot_id,
        booked_by=by,
        channel=Appointment.Channel.STAFF,
        idempotency_key=f"{KEY_PREFIX}{idempotency_key}",
        enforce_cutoff=False,
    )
    _record_desk_booking(booking, centre_id=centre_id, by=by, how="slot")
    return booking


@transaction.atomic
def book_best_at_desk(
    *,
    centre_id: int,
    by: User,
    patient: Patient,
    service: Service,
    district: District | None,
    idempotency_key: str,
) -> Booking:
    """Book the person the best open time of the service across centres in the next four
    weeks: nearest to `district`, else to the person's home district, else to this centre.
    NoSlotAvailable when none is open. The same key again returns the same appointment."""
    near = district or patient.district
    if near is None:
        near = District.objects.filter(centres__number=centre_id).first()
    today = timezone.localdate()
    booking = allocate_slot(
        patient=patient,
        search=SlotSearch(
            service=service,
            date_from=today,
            date_to=today + timedelta(weeks=BEST_TIME_WEEKS),
            district=near,
            order=SlotOrder.NEAREST,
        ),
        booked_by=by,
        channel=Appointment.Channel.STAFF,
        idempotency_key=f"{KEY_PREFIX}{idempotency_key}",
    )
    _record_desk_booking(booking, centre_id=centre_id, by=by, how="best")
    return booking


def _record_desk_booking(booking: Booking, *, centre_id: int, by: User, how: str) -> None:
    """The engine records the booking at the slot's centre; this says which desk made it."""
    if not booking.created:
        return
    appointment = booking.appointment
    audit.record(
        "desk.booked",
        appointment,
        centre_id=centre_id,
        patients=[appointment.patient_id],
        details={"how": how, "slot": appointment.slot_id},
        actor=by,
    )
