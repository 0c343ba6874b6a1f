"""The acceptance journey of the booking engine, in a real browser: a new user opens the API
docs, finds open slots across centres, gets a passcode texted, registers with it and books
one, all through Swagger UI."""

import json

import pytest
from playwright.sync_api import Page

from booking.models import Appointment
from clinics.models import HealthCentre, Service
from tests.conftest import READY_CEILING_MS
from tests.factories import SlotFactory, passcode_texted_to

pytestmark = pytest.mark.django_db(transaction=True)


def try_it_out(page: Page, operation: str, *, body: dict | None = None, **params: str) -> dict:
    """Open an operation in Swagger UI, fill it in, press Execute and return the JSON shown."""
    block = page.locator(f".opblock[id$='_{operation}']")
    block.locator(".opblock-summary").first.click()
    block.get_by_role("button", name="Try it out").click()
    if body is not None:
        block.locator("textarea.body-param__text").fill(json.dumps(body, ensure_ascii=False))
    for name, value in params.items():
        block.locator(f"tr[data-param-name='{name}'] input").fill(value)
    block.get_by_role("button", name="Execute").click()
    shown = block.locator(".live-responses-table .response .microlight").first
    shown.wait_for(timeout=READY_CEILING_MS)
    status = block.locator(".live-responses-table .response .response-col_status").first
    return {"status": int(status.inner_text().strip()), "body": json.loads(shown.inner_text())}


def test_a_new_user_finds_a_slot_and_books_it_through_the_api_docs(
    reference_data, live_server, in_chromium
):
    flu = Service.objects.get(code="vaccine-influenza")
    SlotFactory(service=flu, centre=HealthCentre.objects.get(number=40))
    near_home = SlotFactory(service=flu, centre=HealthCentre.objects.get(number=3))

    def find_and_ask_for_a_code(page: Page) -> dict[str, dict]:
        page.goto(f"{live_server.url}/api/docs")
        page.wait_for_selector(".opblock")
        found = try_it_out(page, "search_slots", service="vaccine-influenza", district="1029")
        asked = try_it_out(page, "send_passcode", body={"phone": "089 111 2222"})
        return {"found": found, "asked": asked}

    first = in_chromium(find_and_ask_for_a_code)
    code = passcode_texted_to("+66891112222")  # what the patient reads on their phone

    def journey(page: Page) -> dict[str, dict]:
        page.goto(f"{live_server.url}/api/docs")
        page.wait_for_selector(".opblock")
        registered = try_it_out(
            page,
            "register",
            body={
                "first_name": "ทดสอบ",
                "last_name": "ผ่านเบราว์เซอร์",
                "date_of_birth": "1970-01-01",
                "sex": "female",
                "phone": "089 111 2222",
                "national_id": "3100900123455",
                "passcode": code,
                "district_code": 1029,
            },
        )
        # Signing in rotated the CSRF token: the docs page must send the new one to book.
        booked = try_it_out(
            page,
            "book",
            body={
                "patient_id": registered["body"]["id"],
                "slot_id": first["found"]["body"]["items"][0]["id"],
            },
            **{"Idempotency-Key": "booked-through-the-docs"},
        )
        return {"registered": registered, "booked": booked}

    seen = {**first, **in_chromium(journey)}

    assert seen["found"]["status"] == 200
    assert seen["found"]["body"]["count"] == 2
    assert seen["found"]["body"]["items"][0]["id"] == near_home.pk  # centre 3 is in Bang Sue
    assert seen["asked"]["status"] == 202
    assert seen["registered"]["status"] == 201
    assert seen["booked"]["status"] == 201, seen["booked"]
    appointment = Appointment.objects.get()
    assert appointment.slot == near_home
    assert appointment.patient.phone == "+66891112222"
