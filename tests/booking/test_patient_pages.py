"""The patient's pages through Django's test client: finding a time (nearest first, the best
one a tap away), signing in with a texted passcode, the household's appointments and
vaccination record, and moving or cancelling one appointment."""

from datetime import date, time, timedelta

import pytest
from django.test import Client

from booking.links import appointment_link_token
from booking.models import Appointment, RiskGroup, Slot
from booking.services.passcodes import send_sign_in_code
from clinics.models import AuditEvent, HealthCentre, Service
from tests.factories import (
    PatientFactory,
    SlotFactory,
    bangkok,
    booked,
    national_id,
    passcode_texted_to,
    released_drive,
    walked_in,
)

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 1)


@pytest.fixture
def flu_slots(reference_data):
    flu = Service.objects.get(code="vaccine-influenza")
    far = SlotFactory(
        service=flu, centre=HealthCentre.objects.get(number=40), start=bangkok(TUESDAY, time(9))
    )
    near = SlotFactory(
        service=flu, centre=HealthCentre.objects.get(number=3), start=bangkok(TUESDAY, time(10))
    )
    return far, near


def test_the_find_page_is_thai_with_buddhist_era_dates(flu_slots):
    response = Client().get("/?service=vaccine-influenza")

    page = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="th">' in page
    assert "2569" in page  # 2026 in the Buddhist Era


def test_results_put_the_home_district_first_and_offer_its_earliest_time(flu_slots):
    far, near = flu_slots
    home = HealthCentre.objects.get(number=3).district_id

    response = Client().get(f"/?service=vaccine-influenza&district={home}&lang=en")

    page = response.content.decode()
    assert page.index(f"/book/slots/{near.pk}") < page.index(f"/book/slots/{far.pk}")
    best = page.index("The best time for you")
    assert page.index(f'href="/book/slots/{near.pk}"', best) < page.index("centre-3")
    assert "in your district" in page


def test_near_me_sorts_by_distance_and_shows_it(flu_slots):
    far, near = flu_slots
    centre = HealthCentre.objects.get(number=40)

    response = Client().get(
        f"/?service=vaccine-influenza&lat={centre.latitude}&lon={centre.longitude}&lang=en"
    )

    page = response.content.decode()
    assert page.index(f"/book/slots/{far.pk}") < page.index(f"/book/slots/{near.pk}")
    assert "0.0 km away" in page


def test_drive_times_say_who_they_are_for_and_can_be_left_to_those_one_may_book(
    flu_slots, client_for, patient, city_admin, clock
):
    drive = released_drive(city_admin, name_en="Flu for mothers", risk_groups=[RiskGroup.PREGNANT])
    clock.move_to(drive.release_at)
    in_drive = Slot.objects.filter(drive=drive).earliest("start")
    client = client_for(patient)
    search = f"/?service=vaccine-influenza&lang=en&from={in_drive.start.date()}"

    everything = client.get(search).content.decode()
    mine = client.get(search + "&mine=1").content.decode()
    patient.risk_groups = [RiskGroup.PREGNANT]
    patient.save(update_fields=["risk_groups"])
    now_mine = client.get(search + "&mine=1").content.decode()

    assert "Times in vaccination drives, and who they are for" in everything
    assert "Flu for mothers</strong>: In one of these groups: Pregnant" in everything
    assert f'href="/book/slots/{in_drive.pk}"' in everything
    assert f'href="/book/slots/{in_drive.pk}"' not in mine
    assert f'href="/book/slots/{flu_slots[1].pk}"' in mine  # not a drive's: anyone may book
    assert f'href="/book/slots/{in_drive.pk}"' in now_mine


def test_the_find_page_reads_a_bounded_number_of_queries(flu_slots, django_assert_max_num_queries):
    for hour in range(8, 16):
        SlotFactory(service=flu_slots[0].service, start=bangkok(TUESDAY, time(hour)))

    with django_assert_max_num_queries(8):
        Client().get("/?service=vaccine-influenza&lang=en")


def test_a_busy_centre_does_not_crowd_the_others_out(flu_slots):
    """Centre 3 has more open times than any page would read; the centres after it still
    show, each with its first few times."""
    far, near = flu_slots
    busy = HealthCentre.objects.get(number=3)
    first = bangkok(TUESDAY, time(7))
    Slot.objects.bulk_create(
        Slot(
            centre=busy,
            service=near.service,
            start=first + timedelta(minutes=15 * n),
            end=first + timedelta(minutes=15 * (n + 1)),
            capacity=1,
        )
        for n in range(1, 600)
    )

    page = Client().get(f"/?service=vaccine-influenza&district={busy.district_id}&lang=en")

    text = page.content.decode()
    assert 'id="centre-3"' in text
    assert 'id="centre-40"' in text
    assert f"/book/slots/{far.pk}" in text
    section = text[text.index('id="centre-3"') : text.index('id="centre-40"')]
    assert section.count("/book/slots/") == 6


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("service=no-such-service", ""),
        ("service=vaccine-influenza&from=2026-12-10&to=2026-12-01", "The last day is before"),
        ("service=vaccine-influenza&from=tomorrow", "Give the dates as on a calendar"),
        ("service=vaccine-influenza&from=2026-12-01&to=2027-12-01", "at most 120 days"),
    ],
)
def test_bad_search_input_is_a_400_with_a_message(reference_data, query, message):
    response = Client().get(f"/?{query}&lang=en")

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert message in response.content.decode()


def test_no_open_times_says_what_to_try(reference_data):
    response = Client().get("/?service=vaccine-influenza&lang=en")

    assert "Try later dates" in response.content.decode()


def test_sign_in_with_a_texted_passcode_goes_on_to_my_appointments(patient):
    client = Client()
    client.post("/sign-in?lang=en", {"action": "send_code", "phone": patient.phone})
    code = passcode_texted_to(patient.phone)

    response = client.post("/sign-in", {"action": "sign_in", "code": code, "next": "/me/"})

    assert response.headers["Location"] == "/me/"
    assert client.get("/me/").status_code == 200


def test_a_visitor_is_sent_to_sign_in_first(client):
    assert client.get("/me/").headers["Location"] == "/sign-in?next=/me/"


def test_my_appointments_lists_whats_coming_and_the_vaccination_record(client_for, patient, clock):
    visit = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9))))
    flu = Service.objects.get(code="vaccine-influenza")
    jab = booked(patient, SlotFactory(service=flu, start=bangkok(TUESDAY, time(11))))

    page = client_for(patient).get("/me/?lang=en").content.decode()

    assert f"/me/appointments/{visit.pk}" in page
    assert f"/me/appointments/{jab.pk}" in page
    assert "Vaccination record" in page
    assert "Tue 1 Dec 2026" in page


def test_another_households_appointment_is_not_found(client_for, patient, other_patient, clock):
    theirs = booked(other_patient, SlotFactory(start=bangkok(TUESDAY, time(9))))

    response = client_for(patient).get(f"/me/appointments/{theirs.pk}?lang=en")

    assert response.status_code == 404


def test_the_page_after_booking_says_what_happens_next(client_for, patient, clock):
    visit = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9))))

    page = client_for(patient).get(f"/me/appointments/{visit.pk}?booked=1&lang=en")

    text = page.content.decode()
    assert "You are booked" in text
    assert "What happens next" in text
    assert "/calendar.ics" in text


def test_moving_and_cancelling_from_the_appointment_page(client_for, patient, clock):
    visit = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9))))
    later = SlotFactory(
        centre=visit.slot.centre, service=visit.slot.service, start=bangkok(TUESDAY, time(14))
    )
    client = client_for(patient)
    path = f"/me/appointments/{visit.pk}"

    assert f'value="{later.pk}"' in client.get(path).content.decode()
    moved = client.post(
        path + "?lang=en", {"action": "reschedule", "slot_id": later.pk}, follow=True
    )
    visit.refresh_from_db()
    assert "Your appointment has moved" in moved.content.decode()
    assert visit.slot_id == later.pk

    client.post(path, {"action": "cancel"})
    visit.refresh_from_db()
    assert visit.status == Appointment.Status.CANCELLED


def test_cancelling_asks_again_first_and_the_first_step_changes_nothing(client_for, patient, clock):
    visit = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9))))
    client = client_for(patient)
    path = f"/me/appointments/{visit.pk}?lang=en"

    page = client.get(path).content.decode()
    asked = client.get(path + "&cancel=1").content.decode()
    visit.refresh_from_db()

    assert 'name="cancel" value="1"' in page
    assert 'name="action" value="cancel"' not in page  # no one-tap cancel
    assert visit.status == Appointment.Status.BOOKED
    assert "Cancel this appointment?" in asked
    assert "Tue 1 Dec 2026, 09:00" in asked
    assert 'name="action" value="cancel"' in asked
    assert "No, keep it" in asked
    client.post(path, {"action": "cancel"})
    visit.refresh_from_db()
    assert visit.status == Appointment.Status.CANCELLED


def test_moving_offers_other_days_here_and_the_nearest_other_centres(client_for, patient, clock):
    visit = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(8))))
    here = visit.slot.centre
    same_day = [
        SlotFactory(centre=here, service=visit.slot.service, start=bangkok(TUESDAY, time(9 + n)))
        for n in range(5)
    ]
    next_day = SlotFactory(
        centre=here, service=visit.slot.service, start=bangkok(TUESDAY + timedelta(days=1), time(9))
    )
    elsewhere = HealthCentre.objects.exclude(pk=here.pk).order_by("number").first()
    nearby = SlotFactory(
        centre=elsewhere, service=visit.slot.service, start=bangkok(TUESDAY, time(9))
    )
    client = client_for(patient)
    path = f"/me/appointments/{visit.pk}?lang=en"

    page = client.get(path).content.decode()
    moved = client.post(path, {"action": "reschedule", "slot_id": nearby.pk}, follow=True)
    visit.refresh_from_db()

    offered_here = page.split("Move to another time here")[1].split("Or at a centre nearby")[0]
    assert sum(f'value="{slot.pk}"' in offered_here for slot in same_day) == 3  # 3 a day
    assert f'value="{next_day.pk}"' in offered_here  # and other days
    offered_nearby = page.split("Or at a centre nearby")[1]
    assert f'value="{nearby.pk}"' in offered_nearby
    assert elsewhere.name_in("en") in offered_nearby
    assert "Your appointment has moved" in moved.content.decode()
    assert visit.slot_id == nearby.pk


def test_a_bad_new_time_is_said_plainly_and_changes_nothing(client_for, patient, clock):
    visit = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9))))

    page = client_for(patient, "en").post(
        f"/me/appointments/{visit.pk}?lang=en",
        {"action": "reschedule", "slot_id": "x"},
        follow=True,
    )

    visit.refresh_from_db()
    assert "Choose a new time first" in page.content.decode()
    assert visit.status == Appointment.Status.BOOKED


def test_the_booking_page_lets_a_signed_in_parent_book_for_their_child(client_for, reference_data):
    parent = PatientFactory()
    child = PatientFactory(account=parent.account, relationship="child", first_name="Nong")
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    client = client_for(parent)

    response = client.post(
        f"/book/slots/{slot.pk}",
        {"action": "book", "patient_id": child.pk, "idempotency_key": "a" * 32},
    )

    appointment = Appointment.objects.get(slot=slot)
    assert appointment.patient == child
    assert response.headers["Location"] == f"/me/appointments/{appointment.pk}?booked=1"


def test_a_parent_adds_their_child_and_can_book_for_them(client_for, patient, clock):
    client = client_for(patient)

    response = client.post(
        "/me/?lang=en",
        {
            "first_name": "Nong",
            "last_name": patient.last_name,
            "date_of_birth": "2020-05-01",
            "sex": "female",
            "national_id": national_id(),
            "passport_number": "",
            "relationship": "child",
        },
        follow=True,
    )

    child = patient.account.patients.get(first_name="Nong")
    assert child.relationship == "child"
    assert "Nong is added" in response.content.decode()
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    assert f'value="{child.pk}"' in client.get(f"/book/slots/{slot.pk}").content.decode()


def test_a_parent_adds_their_child_while_booking_and_comes_back_to_the_same_time(
    client_for, patient, clock
):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    client = client_for(patient)
    booking_page = client.get(f"/book/slots/{slot.pk}?lang=en").content.decode()
    form = client.get(f"/me/?back={slot.pk}&lang=en").content.decode()

    back = client.post(
        "/me/?lang=en",
        {
            "back": str(slot.pk),
            "first_name": "Nong",
            "last_name": patient.last_name,
            "date_of_birth": "2020-05-01",
            "sex": "female",
            "national_id": national_id(),
            "passport_number": "",
            "relationship": "child",
        },
    )
    odd = client.post("/me/?lang=en", {"back": "/elsewhere", "first_name": ""})

    child = patient.account.patients.get(first_name="Nong")
    assert f'href="/me/?back={slot.pk}&amp;lang=en#dependant-form"' in booking_page
    assert f'name="back" value="{slot.pk}"' in form
    assert back.status_code == 303
    assert back["Location"] == f"/book/slots/{slot.pk}?lang=en&for={child.pk}"
    # The person just added is the one chosen (not the account holder, listed first).
    chosen = client.get(back["Location"]).content.decode()
    assert f'value="{child.pk}" required checked>' in chosen
    assert f'value="{patient.pk}" required>' in chosen
    assert odd.status_code == 400  # a refused form stays; an odd "back" is ignored


def test_a_parent_proves_their_childs_phone_on_the_page(client_for, patient, clock):
    client = client_for(patient)
    added = client.post(
        "/me/?lang=en",
        {
            "first_name": "Nong",
            "last_name": patient.last_name,
            "date_of_birth": "2010-05-01",
            "sex": "female",
            "phone": "089 999 0000",
            "national_id": national_id(),
            "passport_number": "",
            "relationship": "child",
        },
        follow=True,
    ).content.decode()
    child = patient.account.patients.get(first_name="Nong")
    assert "We have texted a passcode to +66899990000" in added
    assert 'value="prove_phone"' in added
    assert child.phone_verified_at is None

    proved = client.post(
        "/me/?lang=en",
        {"action": "prove_phone", "patient_id": child.pk, "code": passcode_texted_to(child.phone)},
        follow=True,
    ).content.decode()

    child.refresh_from_db()
    assert child.phone_verified_at is not None
    assert "texts now go to +66899990000" in proved
    assert 'value="prove_phone"' not in proved


def test_a_patient_changes_their_sign_in_phone_on_the_page(client_for, patient, clock):
    client, elsewhere = client_for(patient), client_for(patient)
    asked = client.post(
        "/me/?lang=en", {"action": "new_sign_in_phone", "phone": "086 555 0000"}, follow=True
    ).content.decode()
    assert "We have texted a passcode to +66865550000" in asked
    assert 'value="confirm_sign_in_phone"' in asked
    patient.account.refresh_from_db()
    assert patient.account.username == patient.phone

    done = client.post(
        "/me/?lang=en",
        {"action": "confirm_sign_in_phone", "code": passcode_texted_to("+66865550000")},
        follow=True,
    ).content.decode()

    patient.account.refresh_from_db()
    assert patient.account.username == "+66865550000"
    assert "You now sign in with +66865550000" in done
    assert elsewhere.get("/me/").status_code == 302


def test_a_wrong_code_leaves_the_sign_in_phone_as_it_was(client_for, patient, clock):
    client = client_for(patient)
    client.post("/me/?lang=en", {"action": "new_sign_in_phone", "phone": "086 555 0000"})
    right = passcode_texted_to("+66865550000")

    page = client.post(
        "/me/?lang=en",
        {"action": "confirm_sign_in_phone", "code": "111111" if right != "111111" else "222222"},
        follow=True,
    ).content.decode()

    assert "passcode is wrong" in page
    patient.account.refresh_from_db()
    assert patient.account.username == patient.phone


def test_adding_someone_with_a_missing_name_writes_nothing(client_for, patient, clock):
    response = client_for(patient).post(
        "/me/?lang=en",
        {
            "first_name": "",
            "last_name": "x",
            "date_of_birth": "2020-05-01",
            "sex": "female",
            "relationship": "child",
        },
    )

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert patient.account.patients.count() == 1


def test_a_patient_downloads_their_households_data(client_for, patient, other_patient, clock):
    visit = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9))))
    booked(other_patient, SlotFactory(start=bangkok(TUESDAY, time(10))))
    walked_in(patient)
    walked_in(other_patient)

    response = client_for(patient).get("/me/data.json")

    data = response.json()
    assert "attachment" in response.headers["Content-Disposition"]
    assert [person["id"] for person in data["people"]] == [patient.pk]
    assert [appointment["id"] for appointment in data["appointments"]] == [visit.pk]
    assert data["people"][0]["national_id"] == patient.national_id
    assert any(message["kind"] == "confirmation" for message in data["text_messages"])
    assert [walk_in["queue_number"] for walk_in in data["walk_ins"]] == ["A-001"]
    assert data["walk_ins"][0]["person_id"] == patient.pk


def test_the_data_download_never_holds_a_strangers_texts_to_a_number_written_on_a_dependant(
    client_for, patient, other_patient, clock
):
    PatientFactory(account=patient.account, relationship="child", phone=other_patient.phone)
    theirs = booked(other_patient, SlotFactory(start=bangkok(TUESDAY, time(10))))
    send_sign_in_code(phone=other_patient.phone, address=None, language="th")

    data = client_for(patient).get("/me/data.json").json()

    assert other_patient.phone not in {message["to"] for message in data["text_messages"]}
    assert f"/a/{appointment_link_token(theirs.pk)}" not in str(data)


def test_the_data_download_holds_the_households_texts_wherever_they_went(
    client_for, patient, clock
):
    child = PatientFactory(
        account=patient.account,
        relationship="child",
        phone="+66899990000",
        phone_verified_at=bangkok(TUESDAY, time(0)),
    )
    visit = booked(child, SlotFactory(start=bangkok(TUESDAY, time(10))))
    send_sign_in_code(phone=patient.phone, address=None, language="th")

    data = client_for(patient).get("/me/data.json").json()

    kinds = {(message["to"], message["kind"]) for message in data["text_messages"]}
    assert ("+66899990000", "confirmation") in kinds
    assert all(message["kind"] != "passcode" for message in data["text_messages"])
    assert visit.pk in [appointment["id"] for appointment in data["appointments"]]


def test_the_data_download_needs_signing_in(client):
    assert client.get("/me/data.json").headers["Location"] == "/sign-in?next=/me/data.json"


def test_my_appointments_has_one_heading_and_a_plain_title(client_for, patient, clock):
    page = client_for(patient).get("/me/?lang=en").content.decode()

    title = page[page.index("<title>") : page.index("</title>")]
    assert "<" not in title[len("<title>") :]
    assert page.count("<h1") == 1
    assert page.count('id="data-heading"') == 1


def test_a_holder_declares_risk_groups_and_a_home_district_on_their_own_page(
    client_for, patient, other_patient, clock
):
    client = client_for(patient)
    page = client.get("/me/?lang=en").content.decode()
    details = {
        "action": "health_details",
        "patient_id": str(patient.pk),
        "risk_groups": ["pregnant", "chronic_disease"],
        "district": "1029",
    }

    unconfirmed = client.post("/me/?lang=en", details, follow=True).content.decode()
    patient.refresh_from_db()
    assert patient.risk_groups == []
    assert "Tick the box to confirm" in unconfirmed

    saved = client.post("/me/?lang=en", {**details, "confirm": "yes"}, follow=True)
    age_group = client.post(
        "/me/?lang=en",
        {**details, "confirm": "yes", "risk_groups": ["aged_65_plus"]},
        follow=True,
    )
    theirs = client.post(
        "/me/?lang=en", {**details, "confirm": "yes", "patient_id": str(other_patient.pk)}
    )
    patient.refresh_from_db()
    other_patient.refresh_from_db()

    assert f'id="person-{patient.pk}"' in page
    assert "Details for vaccination drives" in page
    assert "details for vaccination drives are saved." in saved.content.decode()
    assert sorted(patient.risk_groups) == ["chronic_disease", "pregnant"]
    assert patient.district_id == 1029
    assert 'role="alert"' in age_group.content.decode()  # follows from age: not declared
    assert theirs.status_code == 303
    assert other_patient.risk_groups == []
    [changed] = AuditEvent.objects.filter(action="patient.changed", target_id=patient.pk)
    assert sorted(changed.details["fields"]) == ["district", "risk_groups"]


def test_a_search_that_finds_nothing_offers_the_waitlist_which_the_household_page_lists(
    client_for, patient, clock
):
    from booking.models import WaitlistEntry

    client = client_for(patient)
    search = "/?service=vaccine-hpv&from=2026-12-01&to=2026-12-20&lang=en"

    empty = client.get(search).content.decode()
    anonymous = Client().get(search).content.decode()
    joined = client.post(
        "/me/?lang=en",
        {
            "action": "join_waitlist",
            "patient_id": str(patient.pk),
            "service": "vaccine-hpv",
            "district": "",
            "from": "2026-12-01",
            "to": "2026-12-20",
        },
        follow=True,
    ).content.decode()
    entry = WaitlistEntry.objects.get(patient=patient)
    left = client.post(
        "/me/?lang=en", {"action": "leave_waitlist", "entry_id": str(entry.pk)}, follow=True
    ).content.decode()
    entry.refresh_from_db()

    assert 'name="action" value="join_waitlist"' in empty
    assert "Sign in to wait for a place" in anonymous
    assert "is on the waitlist for" in joined
    assert "Waiting for a place" in joined
    assert f'name="entry_id" value="{entry.pk}"' in joined
    assert "You have left the waitlist" in left
    assert entry.status not in (WaitlistEntry.Status.WAITING, WaitlistEntry.Status.OFFERED)


def test_odd_ids_and_district_codes_posted_by_a_page_are_refused_not_a_server_error(
    client_for, patient, clock
):
    client = client_for(patient)
    home = patient.district_id

    odd_district = client.post(
        "/me/?lang=en",
        {"action": "health_details", "patient_id": str(patient.pk), "district": "²",
         "confirm": "yes"},
        follow=True,
    )  # fmt: skip
    odd_person = client.post(
        "/me/?lang=en",
        {"action": "join_waitlist", "patient_id": "\u0661", "service": "x"},
        follow=True,
    )
    odd_entry = client.post(
        "/me/?lang=en", {"action": "leave_waitlist", "entry_id": "²"}, follow=True
    )
    patient.refresh_from_db()

    assert odd_district.status_code == odd_person.status_code == odd_entry.status_code == 200
    assert "There is no Bangkok district with that code." in odd_district.content.decode()
    assert "Choose who the details are for." in odd_person.content.decode()
    assert "We could not find that waitlist place" in odd_entry.content.decode()
    assert patient.district_id == home
