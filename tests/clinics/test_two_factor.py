"""Staff sign in with a password and a code from an authenticator app (TOTP): set up on the
first sign-in, each code accepted once, wrong codes limited; the admin site and the API ask
for it too; patients are not asked."""

import time
from datetime import timedelta

import pyotp
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from clinics.exceptions import SecondFactorLocked, WrongSecondFactor
from clinics.models import StaffAuthenticator
from clinics.services import check_second_factor, needs_second_factor

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def sign_in_with_password(client: Client, username: str, next_url: str = "/staff/") -> str:
    response = client.post(
        "/staff/sign-in", {"username": username, "password": PASSWORD, "next": next_url}
    )
    assert response.status_code == 302
    return response.headers["Location"]


def enrolled(user: User, clock) -> pyotp.TOTP:
    key = pyotp.random_base32()
    StaffAuthenticator.objects.create(user=user, key=key, confirmed_at=timezone.now())
    return pyotp.TOTP(key)


def signed_in(client: Client) -> bool:
    return client.get("/api/v1/auth/me").status_code == 200


def test_the_first_sign_in_sets_up_the_authenticator_app(nurse_at_centre_1, clock):
    client = Client()

    step = sign_in_with_password(client, "nurse1", "/staff/centres/1/today")
    page = client.get(step + "?lang=en")
    key = StaffAuthenticator.objects.get(user=nurse_at_centre_1).key
    wrong = client.post(step, {"code": "000000"})
    right = client.post(step, {"code": pyotp.TOTP(key).now()})

    assert step == "/staff/sign-in/authenticator"
    assert "<svg" in page.content.decode()
    assert key[:4] in page.content.decode()
    assert wrong.status_code == 400
    assert right.headers["Location"] == "/staff/centres/1/today"
    assert StaffAuthenticator.objects.get(user=nurse_at_centre_1).confirmed_at is not None
    assert signed_in(client)


def test_the_password_alone_does_not_sign_staff_in(nurse_at_centre_1, clock):
    client = Client()

    sign_in_with_password(client, "nurse1")

    assert not signed_in(client)


def test_a_code_signs_in_once_and_a_reused_one_is_refused(nurse_at_centre_1, clock):
    totp = enrolled(nurse_at_centre_1, clock)
    code = totp.now()
    first, second = Client(), Client()

    assert sign_in_with_password(first, "nurse1") == "/staff/sign-in/code"
    assert first.post("/staff/sign-in/code", {"code": code}).status_code == 302
    sign_in_with_password(second, "nurse1")
    reused = second.post("/staff/sign-in/code?lang=en", {"code": code})

    assert signed_in(first)
    assert reused.status_code == 400
    assert "That code is not right" in reused.content.decode()
    assert not signed_in(second)


def test_a_code_from_the_step_before_is_accepted_for_a_drifting_clock(nurse_at_centre_1, clock):
    totp = enrolled(nurse_at_centre_1, clock)
    earlier = totp.at(time.time() - 30)

    check_second_factor(user=nurse_at_centre_1, code=earlier)


def test_an_old_code_is_refused(nurse_at_centre_1, clock):
    totp = enrolled(nurse_at_centre_1, clock)

    with pytest.raises(WrongSecondFactor):
        check_second_factor(user=nurse_at_centre_1, code=totp.at(time.time() - 90))


def test_five_wrong_codes_lock_the_account_for_fifteen_minutes(nurse_at_centre_1, clock):
    totp = enrolled(nurse_at_centre_1, clock)
    for _ in range(5):
        with pytest.raises(WrongSecondFactor):
            check_second_factor(user=nurse_at_centre_1, code="123456")

    with pytest.raises(SecondFactorLocked):
        check_second_factor(user=nurse_at_centre_1, code=totp.now())


def test_the_code_step_expires_and_the_sign_in_starts_again(nurse_at_centre_1, clock):
    totp = enrolled(nurse_at_centre_1, clock)
    client = Client()
    sign_in_with_password(client, "nurse1")

    clock.shift(timedelta(minutes=6))
    response = client.post("/staff/sign-in/code", {"code": totp.now()})

    assert response.headers["Location"] == "/staff/sign-in"
    assert not signed_in(client)


def test_the_code_page_without_a_password_first_sends_back_to_sign_in(client):
    assert client.get("/staff/sign-in/code").headers["Location"] == "/staff/sign-in"
    assert client.get("/staff/sign-in/authenticator").headers["Location"] == "/staff/sign-in"


def test_someone_with_an_authenticator_is_not_shown_a_new_key(nurse_at_centre_1, clock):
    enrolled(nurse_at_centre_1, clock)
    client = Client()
    sign_in_with_password(client, "nurse1")

    response = client.get("/staff/sign-in/authenticator")

    assert response.headers["Location"] == "/staff/sign-in/code"


def test_the_admin_site_signs_in_through_the_staff_sign_in(client):
    response = client.get("/admin/login/?next=/admin/")

    assert response.headers["Location"] == "/staff/sign-in?next=/admin/"


def test_patients_are_not_asked_for_a_second_factor(patient, city_admin, staff_at_centre_2):
    assert not needs_second_factor(patient.account)
    assert needs_second_factor(city_admin)
    assert needs_second_factor(staff_at_centre_2)


def test_the_api_refuses_a_wrong_code(nurse_at_centre_1, clock):
    enrolled(nurse_at_centre_1, clock)
    client = Client()

    response = client.post(
        "/api/v1/auth/sign-in",
        {"username": "nurse1", "password": PASSWORD, "code": "000000"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 401
    assert response.json()["code"] == "wrong_code"


def test_the_api_tells_staff_without_an_authenticator_where_to_set_it_up(nurse_at_centre_1):
    response = Client().post(
        "/api/v1/auth/sign-in",
        {"username": "nurse1", "password": PASSWORD, "code": "123456"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 403
    assert "/staff/sign-in" in response.json()["message"]


def test_a_city_admin_resets_a_lost_authenticator_without_seeing_its_key(
    client_for, city_admin, nurse_at_centre_1, clock
):
    enrolled(nurse_at_centre_1, clock)
    authenticator = StaffAuthenticator.objects.get(user=nurse_at_centre_1)
    admin = client_for(city_admin)

    listed = admin.get("/admin/clinics/staffauthenticator/")
    deleted = admin.post(
        f"/admin/clinics/staffauthenticator/{authenticator.pk}/delete/", {"post": "yes"}
    )
    client = Client()

    assert authenticator.key not in listed.content.decode()
    assert deleted.status_code == 302
    assert sign_in_with_password(client, "nurse1") == "/staff/sign-in/authenticator"


def api_sign_in(client: Client, code: str):
    return client.post(
        "/api/v1/auth/sign-in",
        {"username": "nurse1", "password": PASSWORD, "code": code},
        content_type="application/json",
    )


def test_the_lock_lifts_after_fifteen_minutes_and_the_api_says_when(nurse_at_centre_1, clock):
    totp = enrolled(nurse_at_centre_1, clock)
    wrong = [api_sign_in(Client(), "000000").status_code for _ in range(5)]

    locked = api_sign_in(Client(), totp.now())
    clock.shift(timedelta(minutes=15))
    lifted = api_sign_in(Client(), totp.now())

    assert wrong == [401] * 5
    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"
    assert lifted.status_code == 200


def test_a_right_code_starts_the_count_of_wrong_ones_again(nurse_at_centre_1, clock):
    totp = enrolled(nurse_at_centre_1, clock)
    for _ in range(2):
        for _ in range(4):
            with pytest.raises(WrongSecondFactor):
                check_second_factor(user=nurse_at_centre_1, code="000000")
        check_second_factor(user=nurse_at_centre_1, code=totp.now())
        clock.shift(timedelta(seconds=30))  # a code works once: the next one is a step later

    assert StaffAuthenticator.objects.get(user=nurse_at_centre_1).locked_until is None
