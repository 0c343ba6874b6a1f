"""What every page shares: the language (Thai unless chosen, remembered in a cookie, never
applied to the API), the Content-Security-Policy, and staff signing in and out."""

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db


def test_a_page_is_thai_by_default_even_for_an_english_browser(client):
    response = client.get("/staff/sign-in", HTTP_ACCEPT_LANGUAGE="en")

    assert '<html lang="th">' in response.content.decode()
    assert 'href="/staff/sign-in?lang=en"' in response.content.decode()


def test_choosing_english_is_remembered_for_the_next_page(client):
    chosen = client.get("/staff/sign-in?lang=en")
    later = client.get("/staff/sign-in")

    assert chosen.cookies["page_language"].value == "en"
    assert chosen.cookies["page_language"]["httponly"]
    assert '<html lang="en">' in later.content.decode()
    assert "Staff sign-in" in later.content.decode()


def test_an_unknown_language_is_ignored(client):
    response = client.get("/staff/sign-in?lang=fr")

    assert '<html lang="th">' in response.content.decode()
    assert "page_language" not in response.cookies


def test_the_api_keeps_the_language_the_client_asks_for(client):
    client.get("/staff/sign-in?lang=th")

    response = client.get("/api/v1/services/no-such-service", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 404
    assert response.headers["Content-Language"] == "en"


def test_every_page_carries_a_policy_without_inline_script(client):
    response = client.get("/staff/sign-in")

    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "<script>" not in response.content.decode()


def test_staff_sign_in_goes_on_to_the_page_asked_for_but_never_off_site(client):
    User.objects.create_user(username="nurse9", password="a-long-password-2569")

    wrong = client.post("/staff/sign-in", {"username": "nurse9", "password": "no"})
    right = client.post(
        "/staff/sign-in",
        {"username": "nurse9", "password": "a-long-password-2569", "next": "https://evil.example/"},
    )

    assert wrong.status_code == 400
    assert right.status_code == 302
    assert right.headers["Location"] == "/staff/"


def test_staff_home_lists_the_centres_of_someone_on_the_staff_of_two(
    client_for, nurse_at_centre_1, reference_data
):
    from clinics.models import HealthCentre, StaffMembership
    from clinics.services import grant_membership

    grant_membership(
        user=nurse_at_centre_1,
        centre=HealthCentre.objects.get(number=2),
        role=StaffMembership.Role.NURSE,
    )

    response = client_for(nurse_at_centre_1).get("/staff/?lang=en")

    page = response.content.decode()
    assert "/staff/centres/1/today" in page
    assert "/staff/centres/2/today" in page
    assert "/staff/centres/3/today" not in page


def test_staff_home_goes_straight_to_the_only_centre(client_for, nurse_at_centre_1):
    response = client_for(nurse_at_centre_1).get("/staff/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/centres/1/today"


def test_staff_home_sends_a_visitor_to_sign_in(client):
    response = client.get("/staff/")

    assert response.headers["Location"] == "/staff/sign-in?next=/staff/"


def test_signing_out_takes_a_post(client_for, nurse_at_centre_1):
    client = client_for(nurse_at_centre_1)

    assert client.get("/staff/sign-out").status_code == 405
    assert client.post("/staff/sign-out").headers["Location"] == "/staff/sign-in"
    assert client.get("/staff/").status_code == 302
