"""The waitlist: who is offered a freed place, holding it, claiming, passing it on."""

from datetime import date, time, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from booking.exceptions import OfferClosed, OnWaitlistAlready
from booking.links import offer_link_token
from booking.models import Appointment, Patient, Slot, WaitlistEntry, WaitlistOffer
from booking.services.appointments import cancel_appointment
from booking.vaccination.drives import create_drive, release_drive
from booking.waitlist.services import (
    claim_offer,
    decline_offer,
    join_waitlist,
    leave_waitlist,
    offer_free_places,
    refill_figures,
)
from clinics.models import District, HealthCentre
from notifications.models import Message
from tests.factories import (
    PatientFactory,
    SlotFactory,
    bangkok,
    booked,
    drive_fields,
    stock_up,
    vaccine,
)

pytestmark = pytest.mark.django_db

Entry = WaitlistEntry.Status


def today() -> date:
    return timezone.localdate()


def wait(patient: Patient, *, service: str = "general-checkup", **options: object) -> WaitlistEntry:
    values: dict[str, object] = {
        "centres": [],
        "district": None,
        "date_from": today(),
        "date_to": today() + timedelta(days=14),
    }
    values.update(options)
    return join_waitlist(
        patient=patient,
        service=vaccine(service),
        joined_by=patient.account,
        **values,  # type: ignore[arg-type]
    )


@pytest.fixture
def full_slot(patient: Patient) -> Slot:
    """Tomorrow 10:00 at centre 1, its one place booked by `patient`."""
    slot = SlotFactory(capacity=1)
    booked(patient, slot)
    return slot


def open_offer(entry: WaitlistEntry) -> WaitlistOffer:
    return WaitlistOffer.objects.get(entry=entry, status=WaitlistOffer.Status.OPEN)


def test_a_freed_place_is_held_for_the_first_in_a_risk_group_then_the_earliest_to_join(
    patient: Patient, full_slot: Slot, clock: time_machine.Traveller
) -> None:
    first = wait(PatientFactory())
    clock.shift(timedelta(minutes=5))
    at_risk = wait(PatientFactory(risk_groups=["chronic_disease"]))
    cancel_appointment(appointment=Appointment.objects.get(slot=full_slot))

    run = offer_free_places()

    assert run.offered == 1
    offer = open_offer(at_risk)
    assert offer.slot_id == full_slot.pk
    full_slot.refresh_from_db()
    assert full_slot.booked == 1  # held: nobody else can take it
    at_risk.refresh_from_db()
    first.refresh_from_db()
    assert (at_risk.status, first.status) == (Entry.OFFERED, Entry.WAITING)
    text = Message.objects.get(kind=Message.Kind.WAITLIST_OFFER)
    assert text.recipient == at_risk.patient.phone
    assert f"/w/{offer_link_token(offer.pk)}" in text.body
    # Offered at 07:00, in quiet hours: held for the claim window from 08:00.
    assert offer.expires_at == bangkok(today(), time(9, 0))


def test_claiming_books_the_held_place_without_letting_anyone_in_between(
    patient: Patient, full_slot: Slot, other_patient: Patient
) -> None:
    entry = wait(other_patient)
    cancel_appointment(appointment=Appointment.objects.get(slot=full_slot))
    offer_free_places()
    offer = open_offer(entry)

    booking = claim_offer(
        offer=offer, booked_by=other_patient.account, channel=Appointment.Channel.WEB
    )

    assert booking.appointment.slot_id == full_slot.pk
    assert booking.appointment.patient_id == other_patient.pk
    full_slot.refresh_from_db()
    assert full_slot.booked == 1
    offer.refresh_from_db()
    entry.refresh_from_db()
    assert (offer.status, entry.status) == (WaitlistOffer.Status.CLAIMED, Entry.BOOKED)
    assert offer.appointment_id == booking.appointment.pk
    # Claiming twice (a double tap) gives the same appointment.
    again = claim_offer(
        offer=offer, booked_by=other_patient.account, channel=Appointment.Channel.WEB
    )
    assert again.appointment.pk == booking.appointment.pk
    assert not again.created


def test_an_offer_not_claimed_in_time_passes_to_the_next_person(
    patient: Patient, full_slot: Slot, clock: time_machine.Traveller
) -> None:
    first = wait(PatientFactory())
    clock.shift(timedelta(minutes=1))
    second = wait(PatientFactory())
    cancel_appointment(appointment=Appointment.objects.get(slot=full_slot))
    offer_free_places()
    lapsed = open_offer(first)

    clock.move_to(lapsed.expires_at + timedelta(seconds=1))
    run = offer_free_places()

    assert (run.expired, run.offered) == (1, 1)
    lapsed.refresh_from_db()
    assert lapsed.status == WaitlistOffer.Status.EXPIRED
    assert open_offer(second).slot_id == full_slot.pk
    with pytest.raises(OfferClosed):
        claim_offer(offer=lapsed, booked_by=first.patient.account, channel=Appointment.Channel.WEB)
    first.refresh_from_db()
    assert first.status == Entry.WAITING  # one lapse: still waiting


def test_a_lapsed_time_is_not_offered_again_and_two_lapses_end_the_wait(
    patient: Patient, full_slot: Slot, clock: time_machine.Traveller
) -> None:
    later = SlotFactory(capacity=1, start=full_slot.start + timedelta(hours=2))
    booked(patient, later)
    entry = wait(PatientFactory())
    cancel_appointment(appointment=Appointment.objects.get(slot=full_slot))
    cancel_appointment(appointment=Appointment.objects.get(slot=later))
    offer_free_places()
    assert open_offer(entry).slot_id == full_slot.pk

    clock.move_to(open_offer(entry).expires_at + timedelta(seconds=1))
    offer_free_places()
    assert open_offer(entry).slot_id == later.pk
    clock.move_to(open_offer(entry).expires_at + timedelta(seconds=1))
    offer_free_places()

    entry.refresh_from_db()
    assert entry.status == Entry.ENDED
    for slot in (full_slot, later):
        slot.refresh_from_db()
        assert slot.booked == 0


def test_declining_passes_the_place_on_and_keeps_waiting(
    patient: Patient, full_slot: Slot, clock: time_machine.Traveller
) -> None:
    first = wait(PatientFactory())
    clock.shift(timedelta(minutes=1))
    second = wait(PatientFactory())
    cancel_appointment(appointment=Appointment.objects.get(slot=full_slot))
    offer_free_places()

    decline_offer(offer=open_offer(first))
    offer_free_places()

    first.refresh_from_db()
    assert first.status == Entry.WAITING
    assert open_offer(second).slot_id == full_slot.pk


def test_leaving_gives_a_held_place_back_at_once(
    patient: Patient, full_slot: Slot, other_patient: Patient
) -> None:
    entry = wait(other_patient)
    cancel_appointment(appointment=Appointment.objects.get(slot=full_slot))
    offer_free_places()

    leave_waitlist(entry=entry)

    full_slot.refresh_from_db()
    assert full_slot.booked == 0
    assert WaitlistOffer.objects.get().status == WaitlistOffer.Status.WITHDRAWN


def test_places_go_only_to_people_waiting_for_that_centre_district_and_day(
    patient: Patient, full_slot: Slot, clock: time_machine.Traveller
) -> None:
    wrong_centre = wait(PatientFactory(), centres=[HealthCentre.objects.get(number=2)])
    wrong_district = wait(PatientFactory(), district=District.objects.get(code=1002))
    wrong_days = wait(PatientFactory(), date_from=today() + timedelta(days=3))
    other_service = wait(PatientFactory(), service="antenatal")
    right = wait(PatientFactory(), district=District.objects.get(code=1001))
    cancel_appointment(appointment=Appointment.objects.get(slot=full_slot))

    offer_free_places()

    assert open_offer(right).slot_id == full_slot.pk
    for entry in (wrong_centre, wrong_district, wrong_days, other_service):
        entry.refresh_from_db()
        assert entry.status == Entry.WAITING


def test_places_a_drive_opens_go_to_eligible_people_on_the_waitlist(
    city_admin: User, clock: time_machine.Traveller
) -> None:
    for number in (1, 2):
        stock_up(number, vaccine("vaccine-influenza"), 100)
    too_young = wait(PatientFactory(), service="vaccine-influenza")
    older = wait(PatientFactory(date_of_birth=date(1950, 3, 1)), service="vaccine-influenza")
    drive = create_drive(fields=drive_fields(min_age_months=780), created_by=city_admin)
    release_drive(drive=drive)

    assert offer_free_places().offered == 0  # not released yet
    clock.move_to(drive.release_at)
    offer_free_places()

    assert Slot.objects.get(pk=open_offer(older).slot_id).drive_id == drive.pk
    too_young.refresh_from_db()
    assert too_young.status == Entry.WAITING


def test_joining_twice_for_one_service_is_refused(other_patient: Patient) -> None:
    wait(other_patient)

    with pytest.raises(OnWaitlistAlready):
        wait(other_patient)


def test_refill_figures_count_freed_places_filled_from_the_waitlist(
    patient: Patient, full_slot: Slot, other_patient: Patient
) -> None:
    entry = wait(other_patient)
    cancel_appointment(appointment=Appointment.objects.get(slot=full_slot))
    offer_free_places()
    claim_offer(
        offer=open_offer(entry), booked_by=other_patient.account, channel=Appointment.Channel.API
    )

    figures = refill_figures(service=None, since=timezone.now() - timedelta(days=1))

    assert (figures.places_freed, figures.offers, figures.claimed) == (1, 1, 1)
    assert figures.refill_rate == 1.0


def test_the_offer_page_books_the_place_and_opens_the_appointment(
    patient: Patient, full_slot: Slot, other_patient: Patient
) -> None:
    entry = wait(other_patient)
    cancel_appointment(appointment=Appointment.objects.get(slot=full_slot))
    offer_free_places()
    page = f"/w/{offer_link_token(open_offer(entry).pk)}"
    browser = Client()

    shown = browser.get(page)
    assert shown.status_code == 200
    assert "จองเวลานี้" in shown.content.decode() or "Book this time" in shown.content.decode()
    claimed = browser.post(page, {"action": "claim"})

    assert claimed.status_code == 302
    assert claimed["Location"].startswith("/a/")
    assert Appointment.objects.get(slot=full_slot, patient=other_patient).channel == "web"
    assert Client().get(page.replace("/w/", "/w/x")).status_code == 404


def test_waitlist_endpoints_join_list_claim_and_report_a_closed_offer(
    patient: Patient, full_slot: Slot, other_patient: Patient, client_for, clock
) -> None:
    client = client_for(other_patient)
    joined = client.post(
        "/api/v1/me/waitlist",
        {
            "patient_id": other_patient.pk,
            "service": "general-checkup",
            "centres": [1],
            "date_from": today().isoformat(),
            "date_to": (today() + timedelta(days=7)).isoformat(),
        },
        content_type="application/json",
    )
    assert joined.status_code == 201, joined.json()
    assert joined.json()["centres"] == [1]
    assert joined.json()["open_offer"] is None
    cancel_appointment(appointment=Appointment.objects.get(slot=full_slot))
    offer_free_places()
    listed = client.get("/api/v1/me/waitlist").json()
    offer_id = listed[0]["open_offer"]["id"]

    clock.move_to(WaitlistOffer.objects.get(pk=offer_id).expires_at + timedelta(minutes=1))
    late = client.post(f"/api/v1/me/waitlist/offers/{offer_id}/claim")

    assert late.status_code == 410
    assert late.json()["code"] == "offer_closed"
    assert (
        client_for(patient).post(f"/api/v1/me/waitlist/offers/{offer_id}/claim").status_code == 404
    )
