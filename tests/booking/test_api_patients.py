import uuid
from datetime import date, time, timedelta

import pyotp
import pytest
from django.test import Client
from django.utils import timezone, translation

from booking.exceptions import PersonDoesNotMatch
from booking.models import Appointment, Patient
from booking.services.patients import normalise_phone
from clinics.models import AuditEvent, HealthCentre, Service, StaffAuthenticator
from tests.factories import (
    PatientFactory,
    SlotFactory,
    UserFactory,
    bangkok,
    booked,
    national_id,
    passcode_texted_to,
)

pytestmark = pytest.mark.django_db


def key() -> str:
    return str(uuid.uuid4())


def post(client: Client, path: str, body: dict, **headers: str):
    return client.post(path, body, content_type="application/json", **headers)


REGISTRATION = {
    "first_name": "มาลี",
    "last_name": "ศรีสุข",
    "date_of_birth": "1990-02-03",
    "sex": "female",
    "phone": "089 999 1234",
    "national_id": "1101700203450",
    "district_code": 1029,
}


def register(client: Client, registration: dict = REGISTRATION):
    """Ask for a passcode for the phone, then register with it."""
    assert (
        post(client, "/api/v1/auth/passcode", {"phone": registration["phone"]}).status_code == 202
    )
    code = passcode_texted_to(normalise_phone(registration["phone"]))
    return post(client, "/api/v1/auth/register", {**registration, "passcode": code})


# --- Sign-in -------------------------------------------------------------------------------------


def test_registering_signs_the_new_account_in(reference_data):
    client = Client()
    response = register(client)

    assert response.status_code == 201
    body = response.json()
    assert body["phone"] == "+66899991234"
    assert body["national_id"] == "1101700203450"  # the patient's own page
    assert body["district_code"] == 1029
    assert client.get("/api/v1/auth/me").json()["username"] == "+66899991234"


def test_registration_errors_name_the_field(reference_data):
    response = register(
        Client(HTTP_ACCEPT_LANGUAGE="en"), {**REGISTRATION, "national_id": "1101700203451"}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "national_id"
    assert "13-digit" in response.json()["message"]

    missing = post(Client(), "/api/v1/auth/register", {"phone": "0812345678"})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} >= {"first_name", "passcode", "sex"}


def test_a_phone_already_registered_is_a_409(reference_data, patient):
    response = register(Client(), {**REGISTRATION, "phone": patient.phone})
    assert response.status_code == 409
    assert response.json()["code"] == "phone_registered"


def test_password_sign_in_accepts_a_local_phone_number_and_refuses_a_wrong_password(
    reference_data,
):
    """Patients sign in with passcodes; an account given a password (e.g. by staff) also
    signs in with it."""
    PatientFactory(account=UserFactory(username="+66899991234"), phone="+66899991234")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")

    wrong = post(client, "/api/v1/auth/sign-in", {"username": "0899991234", "password": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "sign_in_failed"

    right = post(
        client,
        "/api/v1/auth/sign-in",
        {"username": "089-999-1234", "password": "correct horse battery"},
    )
    assert right.status_code == 200
    assert right.json() == {"username": "+66899991234", "is_staff_member": False, "centres": []}
    assert client.post("/api/v1/auth/sign-out").status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401


def test_staff_sign_in_with_their_username_and_authenticator_code(
    reference_data, nurse_at_centre_1
):
    key = pyotp.random_base32()
    StaffAuthenticator.objects.create(user=nurse_at_centre_1, key=key, confirmed_at=timezone.now())
    client = Client()
    body = {"username": "nurse1", "password": "correct horse battery"}

    without_code = post(client, "/api/v1/auth/sign-in", body)
    response = post(client, "/api/v1/auth/sign-in", {**body, "code": pyotp.TOTP(key).now()})

    assert without_code.status_code == 422
    assert without_code.json()["field"] == "code"
    assert response.json() == {"username": "nurse1", "is_staff_member": True, "centres": [1]}


def test_writes_need_the_csrf_token_in_a_browser_session(reference_data, patient):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(patient.account)
    slot = SlotFactory()
    body = {"patient_id": patient.pk, "slot_id": slot.pk}

    refused = post(browser, "/api/v1/me/appointments", body, HTTP_IDEMPOTENCY_KEY=key())
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"

    token = browser.get("/api/v1/auth/csrf").json()["csrf_token"]
    accepted = post(
        browser, "/api/v1/me/appointments", body, HTTP_IDEMPOTENCY_KEY=key(), HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 201


def test_sign_in_needs_the_csrf_token_too(reference_data, patient):
    browser = Client(enforce_csrf_checks=True)
    body = {"username": patient.phone, "password": "correct horse battery"}
    assert post(browser, "/api/v1/auth/sign-in", body).status_code == 403
    token = browser.get("/api/v1/auth/csrf").json()["csrf_token"]
    assert post(browser, "/api/v1/auth/sign-in", body, HTTP_X_CSRFTOKEN=token).status_code == 200


# --- My patients ---------------------------------------------------------------------------------


def test_signing_in_is_needed_for_my_pages(reference_data):
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get("/api/v1/me/patients")
    assert response.status_code == 401
    assert response.json() == {
        "code": "not_signed_in",
        "message": "Please sign in first.",
        "field": None,
        "errors": [],
        "detail": {},
    }


def test_a_guardian_adds_and_lists_dependants(reference_data, patient, client_for):
    client = client_for(patient)
    response = post(
        client,
        "/api/v1/me/patients",
        {
            "relationship": "child",
            "first_name": "น้องมะลิ",
            "last_name": "ใจดี",
            "date_of_birth": "2024-05-01",
            "sex": "female",
            "national_id": national_id(),
        },
    )
    assert response.status_code == 201

    listed = client.get("/api/v1/me/patients").json()
    assert [p["relationship"] for p in listed] == ["self", "child"]
    assert all("national_id" not in p for p in listed)  # lists show the masked ID only
    assert listed[0]["national_id_masked"].startswith("x-xxxx-")


def english(text: object) -> str:
    with translation.override("en"):
        return str(text)


def test_a_dependant_whose_id_is_on_file_gets_the_same_answer_as_a_partner_mismatch(
    reference_data, patient, other_patient, client_for
):
    """Neither answer says whether the ID is registered: both ask to contact a health centre."""
    dependant = post(
        client_for(patient),
        "/api/v1/me/patients",
        {
            "relationship": "parent",
            "first_name": "สมศรี",
            "last_name": "ใจดี",
            "date_of_birth": "1950-05-01",
            "sex": "female",
            "national_id": other_patient.national_id,
        },
    )

    assert dependant.status_code == 409
    body = dependant.json()
    assert body == {
        "code": "contact_health_centre",
        "message": english(PersonDoesNotMatch.default_message),
        "field": None,
        "errors": [],
        "detail": {},
    }


def test_looking_up_national_ids_through_dependants_is_limited_per_account(
    reference_data, patient, client_for, settings
):
    settings.NATIONAL_ID_LOOKUPS_PER_ACCOUNT_PER_HOUR = 3
    client = client_for(patient)
    answers = [
        post(
            client,
            "/api/v1/me/patients",
            {
                "relationship": "other",
                "first_name": "ทดลอง",
                "last_name": "ใจดี",
                "date_of_birth": "1950-05-01",
                "sex": "female",
                "national_id": national_id(),
            },
        )
        for _n in range(4)
    ]

    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    assert int(answers[-1]["Retry-After"]) > 0


def test_a_patient_can_correct_their_details(reference_data, patient, client_for):
    response = client_for(patient).put(
        f"/api/v1/me/patients/{patient.pk}",
        {
            "first_name": "สมชาย",
            "last_name": "ใจเย็น",
            "date_of_birth": "1985-01-15",
            "sex": "male",
            "phone": patient.phone,
            "national_id": patient.national_id,
            "preferred_language": "en",
        },
        content_type="application/json",
    )
    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.last_name == "ใจเย็น"
    assert patient.preferred_language == "en"
    [audited] = AuditEvent.objects.filter(action="patient.changed")
    assert {"last_name", "preferred_language"} <= set(audited.details["fields"])
    assert "ใจเย็น" not in str(audited.details)  # which details changed, never their values
    assert "first_name" not in audited.details["fields"]


def test_another_accounts_patient_is_not_found(reference_data, patient, other_patient, client_for):
    client = client_for(patient)
    assert client.get(f"/api/v1/me/patients/{other_patient.pk}").status_code == 404
    response = client.put(
        f"/api/v1/me/patients/{other_patient.pk}",
        {
            "first_name": "x",
            "last_name": "y",
            "date_of_birth": "1985-01-15",
            "sex": "male",
            "national_id": other_patient.national_id,
        },
        content_type="application/json",
    )
    assert response.status_code == 404
    other_patient.refresh_from_db()
    assert other_patient.first_name != "x"


# --- Booking -------------------------------------------------------------------------------------


def test_booking_answers_201_and_a_retry_200_with_the_same_appointment(
    reference_data, patient, client_for
):
    client = client_for(patient)
    slot = SlotFactory()
    body = {"patient_id": patient.pk, "slot_id": slot.pk}
    idempotency_key = key()

    first = post(client, "/api/v1/me/appointments", body, HTTP_IDEMPOTENCY_KEY=idempotency_key)
    again = post(client, "/api/v1/me/appointments", body, HTTP_IDEMPOTENCY_KEY=idempotency_key)

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    appointment = first.json()
    assert appointment["status"] == "booked"
    assert appointment["centre"]["number"] == 1
    assert appointment["service"]["code"] == "general-checkup"
    assert appointment["start"] == "2026-12-01T10:00:00+07:00"
    assert appointment["cancellable_until"] == "2026-12-01T08:00:00+07:00"
    slot.refresh_from_db()
    assert slot.booked == 1


def test_booking_without_an_idempotency_key_is_a_422(reference_data, patient, client_for):
    response = post(
        client_for(patient),
        "/api/v1/me/appointments",
        {"patient_id": patient.pk, "slot_id": SlotFactory().pk},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"


def test_a_full_slot_is_a_409_slot_full_in_thai_by_default(
    reference_data, patient, other_patient, client_for
):
    slot = SlotFactory(capacity=1)
    booked(other_patient, slot)

    response = post(
        client_for(patient, language="th"),
        "/api/v1/me/appointments",
        {"patient_id": patient.pk, "slot_id": slot.pk},
        HTTP_IDEMPOTENCY_KEY=key(),
    )

    assert response.status_code == 409
    assert response.json()["code"] == "slot_full"
    assert response.json()["message"] == "เวลานี้เพิ่งมีผู้จองเต็มแล้ว กรุณาเลือกเวลาอื่น"
    assert Appointment.objects.filter(patient=patient).count() == 0


def test_booking_for_another_accounts_patient_is_not_found(
    reference_data, patient, other_patient, client_for
):
    response = post(
        client_for(patient),
        "/api/v1/me/appointments",
        {"patient_id": other_patient.pk, "slot_id": SlotFactory().pk},
        HTTP_IDEMPOTENCY_KEY=key(),
    )
    assert response.status_code == 404
    assert not Appointment.objects.exists()


def test_a_guardian_books_for_a_dependant(reference_data, patient, client_for):
    child = PatientFactory(account=patient.account, relationship=Patient.Relationship.CHILD)
    response = post(
        client_for(patient),
        "/api/v1/me/appointments",
        {"patient_id": child.pk, "slot_id": SlotFactory().pk},
        HTTP_IDEMPOTENCY_KEY=key(),
    )
    assert response.status_code == 201
    assert response.json()["patient"]["id"] == child.pk


def test_allocate_books_the_best_slot_near_the_patients_home(reference_data, patient, client_for):
    flu = Service.objects.get(code="vaccine-influenza")
    SlotFactory(service=flu, centre=HealthCentre.objects.get(number=40))
    home = SlotFactory(service=flu, centre=HealthCentre.objects.get(number=9))

    response = post(
        client_for(patient),
        "/api/v1/me/appointments/allocate",
        {"patient_id": patient.pk, "service": "vaccine-influenza"},
        HTTP_IDEMPOTENCY_KEY=key(),
    )

    assert response.status_code == 201
    assert response.json()["slot_id"] == home.pk


def test_allocate_with_nothing_open_is_a_409(reference_data, patient, client_for):
    response = post(
        client_for(patient),
        "/api/v1/me/appointments/allocate",
        {"patient_id": patient.pk, "service": "antenatal"},
        HTTP_IDEMPOTENCY_KEY=key(),
    )
    assert response.status_code == 409
    assert response.json()["code"] == "no_slot_available"


def test_my_appointments_list_in_a_fixed_number_of_queries(
    reference_data, patient, client_for, django_assert_max_num_queries, settings
):
    settings.MAX_ACTIVE_BOOKINGS_PER_PATIENT = 10  # seven appointments, more than the default cap
    for day in range(1, 8):
        booked(patient, SlotFactory(start=bangkok(date(2026, 12, day), time(10, 0))))
    client = client_for(patient)

    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/me/appointments")

    assert len(response.json()) == 7
    assert response.json()[0]["start"] == "2026-12-01T10:00:00+07:00"


def test_reschedule_and_cancel_through_the_api(reference_data, patient, client_for):
    old = SlotFactory()
    new = SlotFactory(start=timezone.now() + timedelta(days=3))
    appointment = booked(patient, old)
    client = client_for(patient)

    moved = post(
        client, f"/api/v1/me/appointments/{appointment.pk}/reschedule", {"slot_id": new.pk}
    )
    assert moved.status_code == 200
    assert moved.json()["slot_id"] == new.pk
    assert moved.json()["sequence"] == 1

    cancelled = post(client, f"/api/v1/me/appointments/{appointment.pk}/cancel", {})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    new.refresh_from_db()
    assert new.booked == 0


def test_another_patients_appointment_cannot_be_read_moved_or_cancelled(
    reference_data, patient, other_patient, client_for
):
    theirs = booked(other_patient, SlotFactory())
    elsewhere = SlotFactory(start=timezone.now() + timedelta(days=3))
    client = client_for(patient)

    assert client.get(f"/api/v1/me/appointments/{theirs.pk}").status_code == 404
    assert (
        post(
            client, f"/api/v1/me/appointments/{theirs.pk}/reschedule", {"slot_id": elsewhere.pk}
        ).status_code
        == 404
    )
    assert post(client, f"/api/v1/me/appointments/{theirs.pk}/cancel", {}).status_code == 404
    assert client.get("/api/v1/me/appointments").json() == []
    theirs.refresh_from_db()
    assert theirs.status == Appointment.Status.BOOKED
    assert theirs.slot_id != elsewhere.pk


def test_cancelling_after_the_cutoff_is_a_409_with_a_clear_message(
    reference_data, patient, client_for, clock
):
    appointment = booked(patient, SlotFactory(start=bangkok(date(2026, 11, 30), time(8, 30))))
    response = post(client_for(patient), f"/api/v1/me/appointments/{appointment.pk}/cancel", {})
    assert response.status_code == 409
    assert response.json()["code"] == "cancellation_closed"
    assert "call the health centre" in response.json()["message"]


@pytest.mark.parametrize("body", ["[null, null]", "[]", '"no"', "5", "null"])
def test_a_body_that_is_not_a_json_object_is_a_422_and_cancels_nothing(
    reference_data, patient, client_for, body
):
    appointment = booked(patient, SlotFactory())
    response = client_for(patient).post(
        f"/api/v1/me/appointments/{appointment.pk}/cancel", body, content_type="application/json"
    )
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["message"]) == (
        "body",
        "Please check body: Send the body as a JSON object, e.g. {}.",
    )
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED


def test_malformed_json_is_a_422_not_a_500(reference_data, patient, client_for):
    response = client_for(patient).post(
        "/api/v1/me/appointments",
        "{not json",
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key(),
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert response.json()["field"] == "body"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/slots?service=general%00checkup", None),
        ("post", "/api/v1/auth/sign-in", '{"username": "nurse\\u0000", "password": "x"}'),
        ("post", "/api/v1/auth/register", '{"first_name": "A\\u0000"}'),
    ],
)
def test_a_nul_character_is_a_422_anywhere_in_the_api(reference_data, method, path, body):
    client = Client()
    if method == "get":
        response = client.get(path)
    else:
        response = client.post(path, body, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


def test_an_invisible_name_is_a_422_naming_the_field(reference_data):
    response = register(
        Client(HTTP_ACCEPT_LANGUAGE="en"), {**REGISTRATION, "last_name": "\u200b\u200c"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "last_name"
    assert "can be seen" in response.json()["message"]


def test_a_slots_alternatives_asked_for_by_many_at_once_are_worked_out_once(monkeypatch):
    """A hot slot's refusals come together: the first works the alternatives out, the rest
    wait for its answer rather than each searching again."""
    import threading

    from booking.api import patients as patients_api

    class Noting(dict):  # the threads that have reached the slot's lock
        reached = 0

        def setdefault(self, key, default=None):  # type: ignore[no-untyped-def]
            Noting.reached += 1
            return super().setdefault(key, default)

    searches, go = [], threading.Event()

    def slow_search(slot_id: int) -> list[object]:
        searches.append(slot_id)
        assert go.wait(timeout=30)
        return []

    monkeypatch.setattr(patients_api, "_making", Noting())
    monkeypatch.setattr(patients_api, "next_best_slots", slow_search)
    answers: list[object] = []
    threads = [
        threading.Thread(target=lambda: answers.append(patients_api.alternatives_to(7)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    while Noting.reached < len(threads) and len(searches) < len(threads):
        go.wait(timeout=0.01)  # every thread at the lock (or, without it, searching)
    go.set()
    for thread in threads:
        thread.join(timeout=30)

    assert answers == [[]] * len(threads)
    assert searches == [7]
