"""Signing in with a passcode texted to the phone."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from booking.models import SignInCode
from booking.services.passcodes import send_sign_in_code
from notifications.models import Message
from tests.factories import passcode_texted_to
from tests.races import race

pytestmark = pytest.mark.django_db

PHONE = "+66810000001"  # the `patient` fixture's account


def ask(client: Client, phone: str = "081 000 0001", **extra: str):
    return client.post(
        "/api/v1/auth/passcode", {"phone": phone}, content_type="application/json", **extra
    )


def sign_in(client: Client, code: str, phone: str = "0810000001"):
    return client.post(
        "/api/v1/auth/passcode/sign-in",
        {"phone": phone, "code": code},
        content_type="application/json",
    )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_texted_passcode_signs_the_patient_in_once(patient, clock):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")

    asked = ask(client)
    code = passcode_texted_to(PHONE)
    first = sign_in(client, code)
    again = sign_in(Client(), code)

    assert asked.status_code == 202
    assert asked.json()["phone"] == PHONE
    assert first.status_code == 200
    assert first.json()["username"] == PHONE
    assert client.get("/api/v1/auth/me").status_code == 200
    assert again.status_code == 401
    assert again.json()["code"] == "passcode_wrong"


def test_the_answer_does_not_tell_whether_a_number_is_registered(patient, clock):
    registered = ask(Client(), PHONE).json()
    unknown = ask(Client(), "+66899999999").json()

    assert registered.keys() == unknown.keys()
    assert registered["expires_at"] == unknown["expires_at"]
    assert Message.objects.filter(kind=Message.Kind.PASSCODE).count() == 2


def test_only_a_keyed_hash_of_the_code_is_stored(patient, clock):
    ask(Client())
    code = passcode_texted_to(PHONE)

    stored = SignInCode.objects.get()
    assert code not in stored.code_hash
    assert len(stored.code_hash) == 64


def test_a_passcode_expires_after_five_minutes(patient, clock):
    ask(Client())
    code = passcode_texted_to(PHONE)
    clock.shift(timedelta(minutes=5, seconds=1))

    assert sign_in(Client(), code).status_code == 401


def test_five_wrong_tries_spend_the_code(patient, clock):
    ask(Client())
    code = passcode_texted_to(PHONE)

    tries = [sign_in(Client(), wrong(code)).status_code for _ in range(5)]

    assert tries == [401] * 5
    assert sign_in(Client(), code).status_code == 401


def test_a_new_code_replaces_the_last_one(patient, clock):
    ask(Client())
    old = passcode_texted_to(PHONE)
    clock.shift(timedelta(seconds=61))
    ask(Client())
    new = passcode_texted_to(PHONE)

    assert old == new or sign_in(Client(), old).status_code == 401
    assert sign_in(Client(), new).status_code == 200


def test_asking_again_within_a_minute_is_a_429_with_retry_after(patient, clock):
    ask(Client())
    clock.shift(timedelta(seconds=20))

    response = ask(Client(HTTP_ACCEPT_LANGUAGE="en"))

    assert response.status_code == 429
    assert response.json()["code"] == "too_many_requests"
    assert response["Retry-After"] == "40"
    assert SignInCode.objects.count() == 1


def test_a_phone_gets_at_most_five_codes_an_hour(patient, clock):
    answers = []
    for _ in range(6):
        answers.append(ask(Client()).status_code)
        clock.shift(timedelta(seconds=61))

    assert answers == [202] * 5 + [429]
    clock.shift(timedelta(hours=1))
    assert ask(Client()).status_code == 202


def test_a_limit_of_0_is_no_limit(patient, clock, settings):
    settings.SIGN_IN_CODES_PER_PHONE_PER_HOUR = 0
    settings.SIGN_IN_CODES_PER_ADDRESS_PER_HOUR = 0
    answers = []
    for _ in range(7):
        answers.append(ask(Client()).status_code)
        clock.shift(timedelta(seconds=61))

    assert answers == [202] * 7


def test_one_address_cannot_ask_for_codes_for_many_phones(reference_data, clock, settings):
    settings.SIGN_IN_CODES_PER_ADDRESS_PER_HOUR = 3
    answers = [
        ask(Client(REMOTE_ADDR="203.0.113.9"), f"+6681000010{n}").status_code for n in range(4)
    ]
    elsewhere = ask(Client(REMOTE_ADDR="203.0.113.10"), "+66810000109").status_code

    assert answers == [202, 202, 202, 429]
    assert elsewhere == 202


def test_a_new_number_learns_it_has_no_account_only_with_its_code(reference_data, clock):
    ask(Client(), "+66899999999")
    code = passcode_texted_to("+66899999999")

    guessed = sign_in(Client(), wrong(code), "+66899999999")
    proven = sign_in(Client(), code, "+66899999999")

    assert guessed.status_code == 401
    assert proven.status_code == 404
    assert proven.json()["code"] == "not_registered"
    assert SignInCode.objects.get().used_at is None  # still good for registering


def test_an_invalid_number_is_a_422_naming_the_field(reference_data, clock):
    response = ask(Client(HTTP_ACCEPT_LANGUAGE="en"), "12345")

    assert response.status_code == 422
    assert response.json()["field"] == "phone"
    assert not SignInCode.objects.exists()


def test_asking_for_a_code_needs_the_csrf_token_in_a_browser(patient, clock):
    browser = Client(enforce_csrf_checks=True)

    refused = ask(browser)
    token = browser.get("/api/v1/auth/csrf").json()["csrf_token"]
    accepted = ask(browser, HTTP_X_CSRFTOKEN=token)

    assert refused.status_code == 403
    assert accepted.status_code == 202


def test_the_code_goes_out_at_once_even_at_night(patient, clock):
    clock.move_to(timezone.now().replace(hour=16))  # 23:00 in Bangkok

    ask(Client())

    message = Message.objects.get(kind=Message.Kind.PASSCODE)
    assert message.due_at == timezone.now()
    assert message.patient is None  # a code is about a phone, not a patient record


@pytest.mark.django_db(transaction=True)
def test_parallel_requests_for_one_phone_make_one_code(reference_data):
    """Eight requests at once, each on its own connection: the limits hold."""

    def request() -> None:
        send_sign_in_code(phone=PHONE, address="203.0.113.7", language="th")

    outcomes = race([request] * 8)

    assert outcomes == {"ok": 1, "too_many_requests": 7}
    assert SignInCode.objects.filter(phone=PHONE).count() == 1


# --- Against toll fraud: Thai mobile numbers only, ceilings per number block and in all ---------


@pytest.mark.parametrize(
    ("phone", "says"),
    [
        ("+12025550123", "only to a Thai mobile number"),  # the United States
        ("+8613800138000", "only to a Thai mobile number"),  # a Chinese mobile
        ("+881612345678", "only to a Thai mobile number"),  # a satellite phone
        ("+449012345678", "only to a Thai mobile number"),  # a UK premium-rate line
        ("02 123 4567", "not a mobile phone"),  # a Bangkok landline
        ("1800 123 456", "not a mobile phone"),  # a Thai freephone number
    ],
)
def test_passcodes_go_only_to_thai_mobile_numbers(reference_data, clock, phone, says):
    response = ask(Client(HTTP_ACCEPT_LANGUAGE="en"), phone)

    assert response.status_code == 422
    assert response.json()["field"] == "phone"
    assert says in response.json()["message"]
    assert "081 234 5678" in response.json()["message"]
    assert not SignInCode.objects.exists()
    assert not Message.objects.exists()


def test_the_refusal_of_a_landline_is_in_thai(reference_data, clock):
    response = ask(Client(HTTP_ACCEPT_LANGUAGE="th"), "02 123 4567")

    assert response.status_code == 422
    assert "โทรศัพท์มือถือ" in response.json()["message"]


def test_sign_in_countries_let_in_the_mobile_numbers_of_other_countries(
    reference_data, clock, settings
):
    settings.SIGN_IN_COUNTRIES = ["TH", "LA"]

    lao_mobile = ask(Client(), "+8562023123456")
    chinese_mobile = ask(Client(HTTP_ACCEPT_LANGUAGE="en"), "+8613800138000")

    assert lao_mobile.status_code == 202
    assert chinese_mobile.status_code == 422
    assert "TH, LA" in chinese_mobile.json()["message"]


def test_the_sign_in_page_refuses_a_landline_too(reference_data, clock):
    client = Client()

    client.post("/sign-in?lang=en", {"action": "send_code", "phone": "02 123 4567"})
    page = client.get("/sign-in?lang=en").content.decode()

    assert "not a mobile phone" in page
    assert not SignInCode.objects.exists()


def test_a_block_of_ten_thousand_numbers_gets_at_most_its_hourly_ceiling(
    reference_data, clock, settings
):
    settings.SIGN_IN_CODES_PER_PREFIX_PER_HOUR = 3
    answers = []
    for n in range(4):  # +66 81 234 0000 to 0003, each from an address of its own
        answers.append(ask(Client(REMOTE_ADDR=f"203.0.113.{n}"), f"+6681234000{n}"))
        clock.shift(timedelta(minutes=1))
    other_block = ask(Client(REMOTE_ADDR="203.0.113.9"), "+66812350000")

    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
    assert answers[-1]["Retry-After"] == str(57 * 60)  # when the first code leaves the hour
    assert other_block.status_code == 202


def test_all_passcodes_together_stop_at_the_hourly_ceiling(reference_data, clock, settings):
    settings.SIGN_IN_CODES_PER_HOUR = 3
    phones = ["+66811110000", "+66822220000", "+66833330000", "+66844440000"]

    answers = [ask(Client(REMOTE_ADDR=f"203.0.113.{n}"), p) for n, p in enumerate(phones)]
    clock.shift(timedelta(hours=1))
    later = ask(Client(), phones[-1])

    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
    assert answers[-1]["Retry-After"] == "3600"
    assert answers[-1].json()["code"] == "too_many_requests"
    assert later.status_code == 202
