import itertools
import re
from datetime import date, datetime, time, timedelta

import factory
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone
from stdnum.th import pin
from time_machine import travel

from booking.models import Appointment, Patient, Slot, VaccinationDrive, VaccineLot, WalkIn
from booking.services.appointments import Booking, book_slot, check_in, complete_appointment
from booking.services.walk_ins import add_walk_in
from booking.vaccination.drives import DriveFields, create_drive, release_drive
from booking.vaccination.stock import receive_lot
from clinics.models import HealthCentre, ScheduleTemplate, Service

_id_numbers = itertools.count(10_000_000_001)


def national_id() -> str:
    """A fresh, valid 13-digit Thai national ID."""
    first12 = f"1{next(_id_numbers):011d}"
    return first12 + pin.calc_check_digit(first12)


def person_of(patient: Patient, **changes: object) -> dict[str, object]:
    """A patient's details as an app sends them (the API's PersonIn), with `changes`."""
    return {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
        "phone": patient.phone,
        "national_id": patient.national_id,
        **changes,
    }


def bangkok(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=timezone.get_default_timezone())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery")


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    account = factory.SubFactory(UserFactory)
    relationship = Patient.Relationship.SELF
    first_name = "สมชาย"
    last_name = factory.Sequence(lambda n: f"ใจดี{n}")
    date_of_birth = date(1985, 1, 15)
    sex = Patient.Sex.MALE
    phone = factory.Sequence(lambda n: f"+6681{n:07d}")
    national_id = factory.LazyFunction(national_id)
    district_id = 1001


class ScheduleTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScheduleTemplate

    centre = factory.LazyFunction(lambda: HealthCentre.objects.get(number=1))
    service = factory.LazyFunction(lambda: Service.objects.get(code="general-checkup"))
    weekdays = "12345"
    start_time = time(8, 30)
    end_time = time(12, 0)
    slot_minutes = 15
    capacity = 4
    valid_from = factory.LazyFunction(timezone.localdate)


class SlotFactory(factory.django.DjangoModelFactory):
    """A slot tomorrow at 10:00 Bangkok time at centre 1, unless told otherwise."""

    class Meta:
        model = Slot

    centre = factory.LazyFunction(lambda: HealthCentre.objects.get(number=1))
    service = factory.LazyFunction(lambda: Service.objects.get(code="general-checkup"))
    start = factory.LazyFunction(
        lambda: bangkok(timezone.localdate() + timedelta(days=1), time(10, 0))
    )
    end = factory.LazyAttribute(lambda slot: slot.start + timedelta(minutes=15))
    capacity = 5


def book(
    patient: Patient,
    slot: Slot,
    key: str = "",
    *,
    booked_by: object = None,
    channel: Appointment.Channel = Appointment.Channel.API,
    **options: object,
) -> Booking:
    """Book through the engine, as the patient's account over the API would (another account
    with `booked_by`), with idempotency key `key`."""
    return book_slot(
        patient=patient,
        slot_id=slot.pk,
        booked_by=booked_by or patient.account,  # type: ignore[arg-type]
        channel=channel,
        idempotency_key=key,
        **options,  # type: ignore[arg-type]
    )


def booked(
    patient: Patient,
    slot: Slot,
    *,
    channel: Appointment.Channel = Appointment.Channel.API,
    **options: object,
) -> Appointment:
    """The appointment `book` makes."""
    return book(patient, slot, channel=channel, **options).appointment  # type: ignore[arg-type]


def book_through_api(
    client: Client, patient_id: int, slot_id: int, key: str, **headers: str
) -> HttpResponse:
    """POST /api/v1/me/appointments for one person and slot with an idempotency key, as the
    patient pages' scripts and partner apps send it; `headers` as Django's test client takes
    them (HTTP_ACCEPT_LANGUAGE="en")."""
    return client.post(  # type: ignore[return-value]
        "/api/v1/me/appointments",
        {"patient_id": patient_id, "slot_id": slot_id},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
        **headers,  # type: ignore[arg-type]
    )


def passcode_texted_to(phone: str) -> str:
    """The six-digit code in the latest passcode text to the phone, read from the outbox."""
    from notifications.models import Message

    body = Message.objects.filter(recipient=phone, kind=Message.Kind.PASSCODE).latest("pk").body
    found = re.search(r"\b\d{6}\b", body)
    assert found is not None, body
    return found.group()


def vaccine(code: str = "vaccine-hepatitis-b") -> Service:
    return Service.objects.get(code=code)


def stock_up(centre_number: int, service: Service, doses: int, *, lot: str = "LOT-1") -> VaccineLot:
    """Doses of the vaccine delivered to the centre, expiring in a year."""
    return receive_lot(
        centre=HealthCentre.objects.get(number=centre_number),
        service=service,
        lot_number=lot,
        expires_on=timezone.localdate() + timedelta(days=365),
        doses=doses,
    )


def drive_fields(**overrides: object) -> DriveFields:
    """An influenza drive at centres 1 and 2 from Tuesday to Friday (days with no holiday in
    the test week), 09:00-10:00 in 15-minute slots of 2 places, opening for booking at 10:00
    today, unless told otherwise."""
    today = timezone.localdate()
    values: dict[str, object] = {
        "name_th": "ฉีดวัคซีนไข้หวัดใหญ่",
        "name_en": "Flu vaccination drive",
        "service": vaccine("vaccine-influenza"),
        "centres": list(HealthCentre.objects.filter(number__in=[1, 2])),
        "first_day": today + timedelta(days=1),
        "last_day": today + timedelta(days=4),
        "weekdays": "1234567",
        "sessions": [(time(9, 0), time(10, 0))],
        "slot_minutes": 15,
        "capacity_per_slot": 2,
        "release_at": bangkok(today, time(10, 0)),
    }
    values.update(overrides)
    return DriveFields(**values)  # type: ignore[arg-type]


def released_drive(created_by: object, **overrides: object) -> VaccinationDrive:
    """drive_fields' flu drive (with `overrides`) at centres 1 and 2, stocked with 100 doses
    each and released: it opens for booking at 10:00 today."""
    for number in (1, 2):
        stock_up(number, vaccine("vaccine-influenza"), 100)
    drive = create_drive(fields=drive_fields(**overrides), created_by=created_by)  # type: ignore[arg-type]
    release_drive(drive=drive)
    drive.refresh_from_db()
    return drive


def walked_in(
    patient: Patient,
    *,
    centre: int = 1,
    service: str = "general-checkup",
    by: object = None,
) -> WalkIn:
    """The person added to today's queue at the centre, as the desk adds them."""
    return add_walk_in(
        centre_id=centre,
        patient=patient,
        service=Service.objects.get(code=service),
        by=by or UserFactory(is_staff=True),  # type: ignore[arg-type]
    )


def given_dose(
    patient: Patient,
    day: date,
    *,
    centre: int = 1,
    code: str = "vaccine-hepatitis-b",
    at: time = time(10),
    **options: object,
) -> Appointment:
    """A dose of the vaccine booked (through the engine, with `options` as `book` takes them)
    for `at` (10:00) on `day` at the centre, and given there five minutes later from the
    centre's stock (stock it first); the clock is back where it was afterwards."""
    start = bangkok(day, at)
    slot: Slot = SlotFactory(  # type: ignore[assignment]
        centre=HealthCentre.objects.get(number=centre),
        service=Service.objects.get(code=code),
        start=start,
        capacity=5,
    )
    dose = booked(patient, slot, **options)  # type: ignore[arg-type]
    with travel(start + timedelta(minutes=5), tick=False):
        check_in(appointment=dose)
        return complete_appointment(appointment=dose)
