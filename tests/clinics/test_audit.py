"""The audit trail: who read which patients' records and who changed what, recorded with the
change itself; nobody can change or delete it; centre admins read their centre's."""

import contextlib
import re
import uuid
from datetime import date, time, timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import DatabaseError, connection, transaction
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from booking.links import appointment_link_token, offer_link_token
from booking.models import Appointment, Slot, VaccineLot, WaitlistOffer
from booking.services.appointments import cancel_appointment
from booking.services.slots import set_slot_capacity
from booking.vaccination.drives import create_drive, release_drive
from booking.vaccination.stock import withdraw_lot
from booking.waitlist.services import join_waitlist, offer_free_places
from clinics import audit
from clinics.models import AuditEvent
from tests.booking.test_api_staff import SCHEDULE
from tests.factories import SlotFactory, bangkok, booked, drive_fields, stock_up, vaccine

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)  # the clock fixture's day


@pytest.fixture
def visit(patient, clock):
    return booked(patient, SlotFactory(start=bangkok(MONDAY, time(9))))


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- Nobody can change it ------------------------------------------------------------------------


def test_the_database_refuses_to_change_or_delete_an_event(reference_data):
    event = audit.record("slot.capacity_set", centre_id=1, details={"capacity": 3})

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="nothing.happened")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM clinics_auditevent")

    event.refresh_from_db()
    assert event.action == "slot.capacity_set"


# --- Changes -------------------------------------------------------------------------------------


def test_a_patients_booking_is_recorded_with_who_and_from_where(patient, client_for, clock):
    slot = SlotFactory()

    response = client_for(patient).post(
        "/api/v1/me/appointments",
        {"patient_id": patient.pk, "slot_id": slot.pk},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        REMOTE_ADDR="203.0.113.7",
    )

    assert response.status_code == 201
    [event] = events("appointment.booked")
    assert event.actor == patient.account
    assert event.actor_kind == AuditEvent.Actor.PATIENT
    assert event.actor_name == patient.account.username
    assert event.centre_id == 1
    assert event.patients == [patient.pk]
    assert event.target_type == "appointment"
    assert event.target_id == response.json()["id"]
    assert event.address == "203.0.113.7"
    assert event.via == "POST /api/v1/me/appointments"
    assert event.details["slot"] == slot.pk


def test_staff_steps_are_recorded_as_staff(client_for, nurse_at_centre_1, visit):
    client = client_for(nurse_at_centre_1)

    client.post(f"/staff/centres/1/today/appointments/{visit.pk}/check-in")
    client.post(f"/staff/centres/1/today/appointments/{visit.pk}/start")

    checked_in, started = events("appointment.checked_in") + events("appointment.in_consultation")
    assert checked_in.actor == nurse_at_centre_1
    assert checked_in.actor_kind == AuditEvent.Actor.STAFF
    assert checked_in.details["previous"] == "booked"
    assert started.details["previous"] == "checked_in"
    assert started.via == f"POST /staff/centres/1/today/appointments/{visit.pk}/start"


def test_background_work_is_recorded_as_the_system(visit):
    cancel_appointment(appointment=visit, reason="Centre flooded", enforce_cutoff=False)

    [event] = events("appointment.cancelled")
    assert event.actor is None
    assert event.actor_kind == AuditEvent.Actor.SYSTEM
    assert event.details["reason"] == "Centre flooded"


def _as_saved(event: AuditEvent) -> dict[str, object]:
    return {
        field.attname: getattr(event, field.attname)
        for field in AuditEvent._meta.concrete_fields
        if field.attname not in ("id", "at")
    }


@pytest.mark.parametrize("who", ["patient", "link", "partner", "anonymous", "system", "unasked"])
def test_the_fields_a_writer_is_given_are_what_record_writes(who, patient):
    """event_fields, which the booking function's caller writes itself, and what record saves
    are the same event, for every kind of actor."""
    request = RequestFactory().post("/api/v1/me/appointments", REMOTE_ADDR="192.0.2.7")
    request.user = patient.account
    actor = None
    if who == "link":
        request.audit_link_patient_id = patient.pk
    elif who == "partner":
        request.user = AnonymousUser()
        request.partner_key = SimpleNamespace(partner="Bangkok super-app", prefix="bkk1")
    elif who == "anonymous":
        request.user = AnonymousUser()
    elif who == "unasked":
        actor = User.objects.get(pk=patient.account_id)  # not known yet to be no staff
    details = {"status": "booked"}
    with contextlib.ExitStack() as stack:
        if who != "system":
            stack.enter_context(audit.serving(request))
        fields = audit.event_fields(
            "appointment.booked",
            target_type="appointment",
            target_id=42,
            centre_id=1,
            patients=[patient.pk, patient.pk],
            details=details,
            actor=actor,
            ask_if_staff=who != "unasked",
        )
        saved = audit.record(
            "appointment.booked",
            target_type="appointment",
            centre_id=1,
            patients=[patient.pk],
            details=details,
            actor=actor,
        )

    saved.refresh_from_db()
    expected_kind = {
        "patient": AuditEvent.Actor.PATIENT,
        "link": AuditEvent.Actor.LINK,
        "partner": AuditEvent.Actor.PARTNER,
        "anonymous": AuditEvent.Actor.ANONYMOUS,
        "system": AuditEvent.Actor.SYSTEM,
        "unasked": "",  # the writer settles it: record asks, and the account is a patient's
    }[who]
    assert fields["actor_kind"] == expected_kind
    if who == "unasked":
        fields["actor_kind"] = AuditEvent.Actor.PATIENT
    assert _as_saved(AuditEvent(**fields)) == {**_as_saved(saved), "target_id": 42}
    assert abs(fields["at"] - saved.at) < timedelta(seconds=5)
    assert fields["patients"] == [patient.pk]
    if who == "partner":
        assert fields["details"] == {"status": "booked", "partner_key": "bkk1"}
        assert details == {"status": "booked"}  # the caller's own left alone
    if who == "system":
        assert (fields["address"], fields["via"]) == (None, "command")
    else:
        assert (fields["address"], fields["via"]) == ("192.0.2.7", "POST /api/v1/me/appointments")


# --- Through a link in a text message ------------------------------------------------------------


def test_acting_through_the_links_api_is_recorded_as_the_links_holder(visit):
    token = appointment_link_token(visit.pk)
    later = SlotFactory(start=bangkok(MONDAY, time(15)))
    client = Client()

    client.post(f"/api/v1/links/{token}/confirm", REMOTE_ADDR="203.0.113.8")
    client.post(
        f"/api/v1/links/{token}/reschedule", {"slot_id": later.pk}, content_type="application/json"
    )
    client.post(f"/api/v1/links/{token}/cancel")

    confirmed, moved, cancelled = (
        events("appointment.confirmed")
        + events("appointment.moved")
        + events("appointment.cancelled")
    )
    for event in (confirmed, moved, cancelled):
        assert event.actor_kind == AuditEvent.Actor.LINK
        assert event.link_patient_id == visit.patient_id
        assert event.actor is None
        assert token not in event.via
        assert token.split("-")[1] not in str(event.details)
    assert confirmed.address == "203.0.113.8"
    assert confirmed.via == "POST /api/v1/links/…/confirm"
    assert moved.via == "POST /api/v1/links/…/reschedule"
    assert cancelled.via == "POST /api/v1/links/…/cancel"


def test_acting_through_the_link_page_is_recorded_as_the_links_holder(visit, client_for):
    token = appointment_link_token(visit.pk)
    later = SlotFactory(start=bangkok(MONDAY, time(15)))

    Client().post(f"/a/{token}", {"action": "confirm"})
    Client().post(f"/a/{token}", {"action": "reschedule", "slot_id": str(later.pk)})
    # Signed in on the same phone: the link is still what allows it, and the account is noted.
    client_for(visit.patient).post(f"/a/{token}?lang=en", {"action": "cancel"})

    confirmed, moved, cancelled = (
        events("appointment.confirmed")
        + events("appointment.moved")
        + events("appointment.cancelled")
    )
    assert {event.actor_kind for event in (confirmed, moved, cancelled)} == {"link"}
    assert {event.link_patient_id for event in (confirmed, moved, cancelled)} == {visit.patient_id}
    assert {event.via for event in (confirmed, moved, cancelled)} == {"POST /a/…"}
    assert (confirmed.actor, confirmed.actor_name) == (None, "")
    assert cancelled.actor == visit.patient.account


def test_claiming_a_waitlist_offer_through_its_link_is_recorded_as_the_links_holder(
    patient, other_patient, clock
):
    full = SlotFactory(capacity=1, start=bangkok(MONDAY + timedelta(days=1), time(10)))
    booked(patient, full)
    entry = join_waitlist(
        patient=other_patient,
        service=vaccine("general-checkup"),
        joined_by=other_patient.account,
        centres=[],
        district=None,
        date_from=MONDAY,
        date_to=MONDAY + timedelta(days=14),
    )
    cancel_appointment(appointment=Appointment.objects.get(slot=full))
    offer_free_places()
    offer = WaitlistOffer.objects.get(entry=entry, status=WaitlistOffer.Status.OPEN)
    token = offer_link_token(offer.pk)

    Client().post(f"/w/{token}", {"action": "claim"})

    [claimed] = [
        event for event in events("appointment.booked") if event.patients == [other_patient.pk]
    ]
    assert claimed.actor_kind == AuditEvent.Actor.LINK
    assert claimed.link_patient_id == other_patient.pk
    assert claimed.via == "POST /w/…"


def token_routes() -> list[str]:
    """Every address pattern that carries a token, from the URL configuration itself."""
    found: list[str] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif "token>" in str(pattern.pattern):
                found.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "")
    return found


def test_the_trail_never_keeps_a_token_from_any_address_that_carries_one(reference_data):
    token = "1-abcdefghijklmnop"
    routes = token_routes()

    vias = {}
    for route in routes:
        path = "/" + re.sub(r"<(?:\w+:)?token>", token, route)
        request = RequestFactory().post(path)
        request.resolver_match = resolve(path)
        with audit.serving(request):
            vias[route] = audit.record("test.acted", centre_id=None).via

    for route, via in vias.items():
        assert token not in via, route
        assert via == "POST /" + re.sub(r"<(?:\w+:)?token>", "…", route)
    assert vias["a/<str:token>/calendar.ics"] == "POST /a/…/calendar.ics"
    assert {"a/<str:token>", "c/<str:token>.ics", "w/<str:token>", "v/<str:token>"} <= set(routes)
    assert "calendars/<str:token>.ics" in routes
    assert "api/v1/links/<token>/cancel" in routes


def test_the_trail_shows_the_links_holder_in_words(client_for, admin_at_centre_1, visit):
    Client().post(f"/api/v1/links/{appointment_link_token(visit.pk)}/confirm")
    client = client_for(admin_at_centre_1)

    english = client.get("/staff/centres/1/audit?lang=en").content.decode()
    thai = client.get("/staff/centres/1/audit?lang=th").content.decode()
    listed = client.get("/api/v1/staff/centres/1/audit", HTTP_ACCEPT_LANGUAGE="en").json()

    assert f"Holder of the link for patient #{visit.patient_id}" in english
    assert f"ผู้ถือลิงก์ของผู้รับบริการ #{visit.patient_id}" in thai
    assert "POST /api/v1/links/…/confirm" in english
    assert "Anonymous" not in english
    [confirmed] = [item for item in listed["items"] if item["action"] == "appointment.confirmed"]
    assert confirmed["actor_kind"] == "link"
    assert confirmed["link_patient_id"] == visit.patient_id
    assert confirmed["actor"] == f"Holder of the link for patient #{visit.patient_id}"


@pytest.mark.usefixtures("orm_engine")
def test_a_change_that_fails_after_its_event_takes_the_event_with_it(patient, clock, monkeypatch):
    def fail(appointment: Appointment) -> None:
        raise RuntimeError("the outbox is gone")

    monkeypatch.setattr("booking.services.appointments.booking.notify_booked", fail)

    with pytest.raises(RuntimeError), transaction.atomic():
        booked(patient, SlotFactory())

    assert not Appointment.objects.exists()
    assert not events("appointment.booked")


def test_schedules_and_closures_are_recorded(client_for, scheduler_at_centre_1, clock):
    client = client_for(scheduler_at_centre_1)

    created = client.post(
        "/api/v1/staff/centres/1/schedules", SCHEDULE, content_type="application/json"
    )
    closed = client.post(
        "/api/v1/staff/centres/1/closures",
        {"start_date": "2026-12-02", "end_date": "2026-12-02", "reason_th": "น้ำท่วม"},
        content_type="application/json",
    )

    assert created.status_code == 201, created.content
    assert closed.status_code == 201, closed.content
    [added] = events("schedule.created")
    assert added.actor == scheduler_at_centre_1
    assert added.details["hours"] == "09:00-12:00"
    assert added.details["weekdays"] == "135"
    [closure] = events("closure.added")
    assert closure.details == {
        "first_day": "2026-12-02",
        "last_day": "2026-12-02",
        "reason": "น้ำท่วม",
    }


def test_slots_drives_and_stock_are_recorded_at_each_centre(reference_data, clock, city_admin):
    flu = vaccine("vaccine-influenza")
    lot = stock_up(1, flu, 200)
    stock_up(2, flu, 200)
    drive = create_drive(fields=drive_fields(), created_by=city_admin)
    release_drive(drive=drive)
    slot = Slot.objects.filter(centre_id=1).first()
    assert slot is not None
    set_slot_capacity(slot=slot, capacity=1)
    withdraw_lot(lot=VaccineLot.objects.get(pk=lot.pk), reason="Cold chain broken")

    assert [event.centre_id for event in events("drive.created")] == [1, 2]
    assert {event.centre_id for event in events("drive.released")} == {1, 2}
    assert [event.details["lot"] for event in events("stock.received")] == ["LOT-1", "LOT-1"]
    [capacity] = events("slot.capacity_set")
    assert (capacity.target_id, capacity.details) == (slot.pk, {"capacity": 1})
    [withdrawn] = events("stock.withdrawn")
    assert withdrawn.centre_id == 1
    assert withdrawn.details["reason"] == "Cold chain broken"


# --- Reads ---------------------------------------------------------------------------------------


def test_opening_the_queue_records_whose_records_were_shown(client_for, nurse_at_centre_1, visit):
    client = client_for(nurse_at_centre_1)

    client.get("/staff/centres/1/today", REMOTE_ADDR="10.1.2.3")
    client.get("/staff/centres/1/today")  # the same again, moments later: once is enough
    client.get("/staff/centres/1/today?day=2026-12-01")  # nobody booked: nothing shown

    [event] = events("queue.viewed")
    assert event.actor == nurse_at_centre_1
    assert event.patients == [visit.patient_id]
    assert event.details == {"day": "2026-11-30"}
    assert event.address == "10.1.2.3"


def test_with_no_window_every_read_is_recorded(client_for, nurse_at_centre_1, visit, settings):
    settings.AUDIT_REPEATED_READ_SECONDS = 0
    client = client_for(nurse_at_centre_1)

    client.get("/api/v1/staff/centres/1/appointments")
    client.get("/api/v1/staff/centres/1/appointments")

    assert len(events("queue.viewed")) == 2


def test_opening_a_patient_in_the_admin_is_a_read(client_for, admin_at_centre_1, visit):
    client = client_for(admin_at_centre_1)

    listing = client.get("/admin/booking/patient/")
    opened = client.get(f"/admin/booking/patient/{visit.patient_id}/change/")

    assert listing.status_code == opened.status_code == 200
    [listed] = events("admin.patient_list_viewed")
    assert listed.patients == [visit.patient_id]
    assert listed.centre_id == 1
    [viewed] = events("admin.patient_viewed")
    assert viewed.target_id == visit.patient_id


# --- Who reads it --------------------------------------------------------------------------------


def test_a_centre_admin_reads_their_centres_trail(client_for, admin_at_centre_1, visit):
    cancel_appointment(appointment=visit, reason="Moved away", enforce_cutoff=False)
    audit.record("closure.added", centre_id=2)  # another centre's: not shown here

    page = client_for(admin_at_centre_1).get("/staff/centres/1/audit?lang=en").content.decode()

    assert "Appointment booked" in page
    assert "Appointment cancelled" in page
    assert "reason: Moved away" in page
    assert f"#{visit.patient_id}" in page
    assert "Closure added" not in page
    assert 'href="/staff/centres/1/audit"' in page  # in the menu


def test_the_trail_filters_reads_from_changes(client_for, admin_at_centre_1, visit):
    client = client_for(admin_at_centre_1)
    client.get("/staff/centres/1/today")

    reads = client.get("/staff/centres/1/audit?lang=en&kind=reads").content.decode()
    changes = client.get("/staff/centres/1/audit?lang=en&kind=changes").content.decode()

    assert "Viewed the day&#x27;s appointments" in reads
    assert "Appointment booked" not in reads
    assert "Appointment booked" in changes
    assert "Viewed the day" not in changes


@pytest.mark.parametrize("who", ["nurse_at_centre_1", "scheduler_at_centre_1", "staff_at_centre_2"])
def test_other_staff_cannot_read_the_trail(client_for, who, request, visit):
    client = client_for(request.getfixturevalue(who))

    response = client.get("/staff/centres/1/audit")

    assert response.status_code == 403
    assert (
        'href="/staff/centres/1/audit"' not in client.get("/staff/centres/1/week").content.decode()
    )


def test_only_city_admins_read_the_whole_city(client_for, city_admin, admin_at_centre_1, visit):
    audit.record("closure.added", centre_id=None, details={"reason": "Flood"})

    page = client_for(city_admin).get("/staff/audit?lang=en").content.decode()

    assert "Every centre" in page
    assert "Closure added" in page
    assert "Health Centre 1" in page
    assert client_for(admin_at_centre_1).get("/staff/audit").status_code == 403
    assert client_for(None).get("/staff/audit").status_code == 302


def test_the_trail_is_not_in_a_patients_reach(client_for, patient, visit):
    assert client_for(patient).get("/staff/centres/1/audit").status_code == 403
    assert not AuditEvent.objects.filter(actor=patient.account, action__endswith="viewed")


def test_city_admins_read_the_trail_in_the_admin_and_cannot_delete_from_it(
    client_for, city_admin, admin_at_centre_1, visit
):
    client = client_for(city_admin)

    listing = client.get("/admin/clinics/auditevent/")
    event = AuditEvent.objects.get(action="appointment.booked")
    delete = client.post(f"/admin/clinics/auditevent/{event.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200
    assert "delete_selected" not in listing.content.decode()
    assert delete.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert client_for(admin_at_centre_1).get("/admin/clinics/auditevent/").status_code == 403


def test_centre_admins_read_the_trail_as_json(
    client_for, admin_at_centre_1, nurse_at_centre_1, visit
):
    client_for(nurse_at_centre_1).get("/staff/centres/1/today", REMOTE_ADDR="10.1.2.3")
    client = client_for(admin_at_centre_1)

    everything = client.get("/api/v1/staff/centres/1/audit").json()
    reads = client.get("/api/v1/staff/centres/1/audit", {"kind": "reads", "who": "nurse"}).json()
    one = client.get("/api/v1/staff/centres/1/audit", {"page_size": 1}).json()

    assert [item["action"] for item in everything["items"]] == [
        "queue.viewed",
        "appointment.booked",
    ]
    assert everything["count"] == 2
    [read] = reads["items"]
    assert read["actor_name"] == "nurse1"
    assert read["actor_kind"] == "staff"
    assert read["centre"] == 1
    assert read["patients"] == [visit.patient_id]
    assert read["address"] == "10.1.2.3"
    assert read["at"].endswith("+07:00")
    assert (len(one["items"]), one["count"]) == (1, 2)


def test_the_json_trail_is_for_centre_admins_only(
    client_for, nurse_at_centre_1, staff_at_centre_2, patient, visit
):
    path = "/api/v1/staff/centres/1/audit"

    assert client_for(None).get(path).status_code == 401
    assert client_for(patient).get(path).status_code == 403
    assert client_for(nurse_at_centre_1).get(path).status_code == 403
    assert client_for(staff_at_centre_2).get(path).status_code == 403
    assert client_for(staff_at_centre_2).get("/api/v1/staff/centres/2/audit").status_code == 200


def test_bad_filters_are_a_clear_error(client_for, admin_at_centre_1):
    client = client_for(admin_at_centre_1)

    backwards = client.get(
        "/api/v1/staff/centres/1/audit", {"since": "2026-11-30", "until": "2026-11-01"}
    )
    unknown = client.get("/api/v1/staff/centres/1/audit", {"kind": "everything"})

    assert backwards.status_code == 422
    assert backwards.json()["field"] == "until"
    assert "before the first day" in backwards.json()["message"]
    assert unknown.status_code == 422


def test_every_admin_list_of_patients_records_is_a_read(client_for, city_admin, visit):
    client = client_for(city_admin)

    for path in ("notifications/message", "booking/vaccinationseries", "booking/waitlistentry"):
        assert client.get(f"/admin/{path}/").status_code == 200
    page = client.get("/staff/audit?lang=en&kind=reads").content.decode()

    [listed] = events("admin.message_list_viewed")
    assert listed.patients == [visit.patient_id]
    assert listed.centre_id == 1
    assert "Listed in the admin: text message" in page
    assert not events("admin.vaccinationseries_list_viewed")  # nobody's course was shown
