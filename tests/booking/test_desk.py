"""The desk's services and reads: finding a person, registering them after seeing their ID
card, booking them a time here or the best time anywhere, each in the audit trail."""

from datetime import date, time, timedelta

import pytest
from django.contrib.auth.models import User

from booking.exceptions import (
    BookingBlocked,
    BookingClosed,
    IdempotencyKeyReused,
    NoSlotAvailable,
    PersonOnFile,
    PhoneHasAccount,
)
from booking.models import Appointment, Patient
from booking.selectors.desk import (
    MOST_PEOPLE_FOUND,
    SearchBy,
    coming_appointments_of,
    open_times_at,
    people_matching,
    person_query,
)
from booking.services.desk import (
    book_at_desk,
    book_best_at_desk,
    register_at_desk,
    search_people,
)
from booking.services.patients import DESK_ACCOUNT_PREFIX, PersonDetails
from booking.services.safeguards import block_booking
from clinics.exceptions import InvalidInput, NotFound
from clinics.models import AuditEvent, HealthCentre, Service
from notifications.models import Message
from tests.factories import PatientFactory, SlotFactory, bangkok, booked, national_id

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)  # the clock fixture's day
TUESDAY = MONDAY + timedelta(days=1)


def person(**changes: object) -> PersonDetails:
    details = {
        "first_name": "บุญมี",
        "last_name": "มีสุข",
        "date_of_birth": date(1948, 3, 9),
        "sex": Patient.Sex.FEMALE,
        "national_id": national_id(),
        **changes,
    }
    return PersonDetails(**details)  # type: ignore[arg-type]


# --- Finding a person ----------------------------------------------------------------------------


def test_a_query_takes_a_national_id_with_dashes_and_checks_its_digit(reference_data):
    number = national_id()
    dashed = f"{number[0]}-{number[1:5]}-{number[5:10]}-{number[10:12]}-{number[12]}"

    assert person_query(national_id=dashed).national_id == number
    with pytest.raises(InvalidInput) as refused:
        person_query(national_id=number[:-1] + str((int(number[-1]) + 1) % 10))
    assert refused.value.detail["field"] == "national_id"


def test_a_name_needs_a_date_of_birth_and_an_empty_query_says_what_to_enter(reference_data):
    with pytest.raises(InvalidInput) as no_birth_date:
        person_query(name="บุญมี")
    with pytest.raises(InvalidInput) as nothing:
        person_query()

    assert no_birth_date.value.detail["field"] == "date_of_birth"
    assert nothing.value.detail["field"] == "national_id"
    assert person_query(phone="081 234 5678").phone == "+66812345678"


def test_finding_by_national_id_is_exact(patient, other_patient):
    found = people_matching(person_query(national_id=patient.national_id))

    assert found == [patient]


def test_finding_by_phone_finds_the_household_and_people_whose_own_phone_it_is(patient):
    child = PatientFactory(
        account=patient.account, relationship=Patient.Relationship.CHILD, phone=""
    )
    grandmother_elsewhere = PatientFactory(phone=patient.phone)
    PatientFactory()  # someone else

    found = people_matching(person_query(phone="081 000 0001"))

    assert set(found) == {patient, child, grandmother_elsewhere}


def test_finding_by_name_needs_each_word_and_the_birth_date(reference_data):
    wanted = PatientFactory(first_name="บุญมี", last_name="มีสุข", date_of_birth=date(1948, 3, 9))
    PatientFactory(first_name="บุญมี", last_name="มีสุข", date_of_birth=date(1950, 1, 1))
    PatientFactory(first_name="บุญมี", last_name="ใจดี", date_of_birth=date(1948, 3, 9))

    found = people_matching(person_query(name="บุญมี  มีสุข", date_of_birth=date(1948, 3, 9)))

    assert found == [wanted]


def test_a_name_search_finds_no_more_than_a_page(reference_data):
    for _ in range(MOST_PEOPLE_FOUND + 3):
        PatientFactory(first_name="Ann", date_of_birth=date(1990, 1, 1))

    found = people_matching(person_query(name="ann", date_of_birth=date(1990, 1, 1)))

    assert len(found) == MOST_PEOPLE_FOUND


def test_every_search_is_in_the_audit_trail_even_one_that_finds_nobody(patient, nurse_at_centre_1):
    search_people(
        centre_id=1, by=nurse_at_centre_1, query=person_query(national_id=patient.national_id)
    )
    search_people(centre_id=1, by=nurse_at_centre_1, query=person_query(national_id=national_id()))

    found, nobody = AuditEvent.objects.filter(action="desk.people_searched").order_by("pk")
    assert (found.actor, found.centre_id, found.patients) == (nurse_at_centre_1, 1, [patient.pk])
    assert found.details == {"by": SearchBy.NATIONAL_ID, "found": 1}
    assert patient.national_id not in str(found.details)
    assert (nobody.patients, nobody.details["found"]) == ([], 0)


# --- Registering at the desk ---------------------------------------------------------------------


def test_a_person_without_a_phone_gets_an_account_that_cannot_sign_in(
    reference_data, nurse_at_centre_1
):
    registered = register_at_desk(centre_id=1, by=nurse_at_centre_1, person=person())

    account = registered.account
    assert account.username.startswith(DESK_ACCOUNT_PREFIX)
    assert not account.has_usable_password()
    assert registered.relationship == Patient.Relationship.SELF
    assert registered.phone == ""
    assert registered.identity_verified_by == Patient.IdentityCheck.DESK
    event = AuditEvent.objects.get(action="patient.registered_at_desk")
    assert (event.actor, event.centre_id, event.patients) == (nurse_at_centre_1, 1, [registered.pk])
    assert event.details == {"household": "no_phone"}
    assert AuditEvent.objects.filter(action="patient.identity_verified", centre_id=1).exists()


def test_a_person_with_a_new_phone_gets_an_account_of_that_phone(reference_data, nurse_at_centre_1):
    registered = register_at_desk(
        centre_id=1, by=nurse_at_centre_1, person=person(phone="089 555 1234")
    )

    assert registered.account.username == "+66895551234"
    assert registered.phone == "+66895551234"
    assert registered.identity_verified


def test_a_phone_with_an_account_is_refused_unless_the_household_is_chosen(
    patient, nurse_at_centre_1
):
    with pytest.raises(PhoneHasAccount) as refused:
        register_at_desk(centre_id=1, by=nurse_at_centre_1, person=person(phone=patient.phone))
    assert refused.value.detail == {"account_holder_id": patient.pk, "field": "phone"}
    assert Patient.objects.count() == 1

    mother = register_at_desk(
        centre_id=1,
        by=nurse_at_centre_1,
        person=person(phone=patient.phone),
        household=Patient.Relationship.PARENT,
    )

    assert mother.account == patient.account
    assert mother.relationship == Patient.Relationship.PARENT
    assert mother.identity_verified
    assert AuditEvent.objects.get(action="patient.registered_at_desk").details == {
        "household": "joined"
    }


def test_a_national_id_on_file_is_refused_pointing_to_the_record(patient, nurse_at_centre_1):
    with pytest.raises(PersonOnFile) as refused:
        register_at_desk(
            centre_id=1, by=nurse_at_centre_1, person=person(national_id=patient.national_id)
        )

    assert refused.value.detail == {"patient_id": patient.pk}
    assert User.objects.filter(username__startswith=DESK_ACCOUNT_PREFIX).count() == 0


def test_a_passport_on_file_with_the_same_birth_date_is_refused(reference_data, nurse_at_centre_1):
    first = register_at_desk(
        centre_id=1, by=nurse_at_centre_1, person=person(national_id="", passport_number="ab123")
    )

    with pytest.raises(PersonOnFile) as refused:
        register_at_desk(
            centre_id=1,
            by=nurse_at_centre_1,
            person=person(national_id="", passport_number="AB123"),
        )

    assert refused.value.detail == {"patient_id": first.pk}


def test_bad_details_register_nobody(reference_data, nurse_at_centre_1):
    with pytest.raises(InvalidInput) as refused:
        register_at_desk(centre_id=1, by=nurse_at_centre_1, person=person(national_id="123"))

    assert refused.value.detail["field"] == "national_id"
    assert Patient.objects.count() == 0
    assert not AuditEvent.objects.filter(action="patient.registered_at_desk").exists()


# --- Booking at the desk -------------------------------------------------------------------------


@pytest.fixture
def slot(daytime):
    return SlotFactory(start=bangkok(TUESDAY, time(9)))


def test_booking_a_time_here_is_the_staffs_booking_and_texts_the_person(
    engine, patient, nurse_at_centre_1, slot
):
    booking = book_at_desk(
        centre_id=1, by=nurse_at_centre_1, patient=patient, slot_id=slot.pk, idempotency_key="k1"
    )

    appointment = booking.appointment
    assert booking.created
    assert (appointment.channel, appointment.booked_by) == (
        Appointment.Channel.STAFF,
        nurse_at_centre_1,
    )
    assert Message.objects.filter(
        appointment=appointment, kind=Message.Kind.CONFIRMATION, recipient=patient.phone
    ).exists()
    desk = AuditEvent.objects.get(action="desk.booked")
    assert (desk.actor, desk.centre_id, desk.target_id) == (nurse_at_centre_1, 1, appointment.pk)
    assert desk.details == {"how": "slot", "slot": slot.pk}


def test_a_double_submit_books_once(engine, patient, nurse_at_centre_1, slot):
    first = book_at_desk(
        centre_id=1, by=nurse_at_centre_1, patient=patient, slot_id=slot.pk, idempotency_key="k1"
    )
    again = book_at_desk(
        centre_id=1, by=nurse_at_centre_1, patient=patient, slot_id=slot.pk, idempotency_key="k1"
    )

    assert not again.created
    assert again.appointment.pk == first.appointment.pk
    assert Appointment.objects.count() == 1
    assert AuditEvent.objects.filter(action="desk.booked").count() == 1


def test_the_same_key_for_another_person_is_refused(
    engine, patient, other_patient, nurse_at_centre_1, slot
):
    book_at_desk(
        centre_id=1, by=nurse_at_centre_1, patient=patient, slot_id=slot.pk, idempotency_key="k1"
    )

    with pytest.raises(IdempotencyKeyReused):
        book_at_desk(
            centre_id=1,
            by=nurse_at_centre_1,
            patient=other_patient,
            slot_id=slot.pk,
            idempotency_key="k1",
        )


def test_a_phone_stopped_from_booking_online_is_booked_at_the_desk(
    engine, patient, nurse_at_centre_1, slot
):
    block_booking(account=patient.account, reason="Many people", by=nurse_at_centre_1, centre_id=1)
    with pytest.raises(BookingBlocked):
        booked(patient, SlotFactory(start=bangkok(TUESDAY, time(11))))

    booking = book_at_desk(
        centre_id=1, by=nurse_at_centre_1, patient=patient, slot_id=slot.pk, idempotency_key="k1"
    )

    assert booking.appointment.status == Appointment.Status.BOOKED


def test_a_person_without_a_phone_is_booked_and_nobody_is_texted(engine, nurse_at_centre_1, slot):
    registered = register_at_desk(centre_id=1, by=nurse_at_centre_1, person=person())

    booking = book_at_desk(
        centre_id=1, by=nurse_at_centre_1, patient=registered, slot_id=slot.pk, idempotency_key="k"
    )

    assert booking.appointment.patient == registered
    assert not Message.objects.exists()


def test_a_time_at_another_centre_is_not_booked_here(engine, patient, nurse_at_centre_1, daytime):
    elsewhere = SlotFactory(centre=HealthCentre.objects.get(number=2))

    with pytest.raises(NotFound):
        book_at_desk(
            centre_id=1,
            by=nurse_at_centre_1,
            patient=patient,
            slot_id=elsewhere.pk,
            idempotency_key="k1",
        )
    assert not Appointment.objects.exists()


def test_the_online_cut_off_does_not_apply_at_the_desk_but_a_time_that_is_over_does(
    engine, patient, nurse_at_centre_1, daytime
):
    soon = SlotFactory(start=bangkok(MONDAY, time(10, 5)))
    over = SlotFactory(start=bangkok(MONDAY, time(9)))

    booking = book_at_desk(
        centre_id=1, by=nurse_at_centre_1, patient=patient, slot_id=soon.pk, idempotency_key="a"
    )
    with pytest.raises(BookingClosed):
        book_at_desk(
            centre_id=1, by=nurse_at_centre_1, patient=patient, slot_id=over.pk, idempotency_key="b"
        )

    assert booking.created


def test_the_best_time_is_booked_across_centres_near_the_person(
    engine, patient, nurse_at_centre_1, daytime
):
    elsewhere = SlotFactory(
        centre=HealthCentre.objects.get(number=2), start=bangkok(TUESDAY, time(9))
    )
    checkup = Service.objects.get(code="general-checkup")

    booking = book_best_at_desk(
        centre_id=1,
        by=nurse_at_centre_1,
        patient=patient,
        service=checkup,
        district=None,
        idempotency_key="best",
    )
    again = book_best_at_desk(
        centre_id=1,
        by=nurse_at_centre_1,
        patient=patient,
        service=checkup,
        district=None,
        idempotency_key="best",
    )

    assert booking.appointment.slot_id == elsewhere.pk
    assert booking.appointment.channel == Appointment.Channel.STAFF
    assert again.appointment.pk == booking.appointment.pk
    desk = AuditEvent.objects.get(action="desk.booked")
    assert (desk.centre_id, desk.details["how"]) == (1, "best")


def test_no_open_time_anywhere_says_so(engine, patient, nurse_at_centre_1, daytime):
    with pytest.raises(NoSlotAvailable):
        book_best_at_desk(
            centre_id=1,
            by=nurse_at_centre_1,
            patient=patient,
            service=Service.objects.get(code="general-checkup"),
            district=None,
            idempotency_key="best",
        )


# --- Reads for the person page --------------------------------------------------------------------


def test_open_times_here_leave_out_full_closed_over_and_other_centres(centre_1, daytime):
    open_now = SlotFactory(start=bangkok(MONDAY, time(10, 5)))
    SlotFactory(start=bangkok(MONDAY, time(9)))  # over
    SlotFactory(start=bangkok(MONDAY, time(11)), capacity=1, booked=1)  # full
    SlotFactory(start=bangkok(MONDAY, time(12)), closed=True)
    SlotFactory(start=bangkok(MONDAY, time(13)), centre=HealthCentre.objects.get(number=2))
    SlotFactory(start=bangkok(TUESDAY, time(9)))  # another day

    assert list(open_times_at(centre_1, MONDAY)) == [open_now]


def test_coming_appointments_are_at_any_centre_and_not_cancelled_or_over(patient, daytime):
    here = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9))))
    there = booked(
        patient,
        SlotFactory(centre=HealthCentre.objects.get(number=2), start=bangkok(TUESDAY, time(11))),
    )
    gone = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(13))))
    gone.status = Appointment.Status.CANCELLED
    gone.save()

    assert list(coming_appointments_of(patient)) == [here, there]
