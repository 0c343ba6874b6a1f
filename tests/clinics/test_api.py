"""The centres in the JSON API: the public reading shows a centre's facts, and its admins read
and correct them (typed, audited, a 4xx naming each field that is wrong)."""

import pytest

from clinics.models import AuditEvent, HealthCentre

pytestmark = pytest.mark.django_db

HOURS = [{"day": day, "opens": "08:00", "closes": "16:00"} for day in (1, 2, 3, 4, 5)]


def patch(client, path: str, body: object):
    return client.patch(path, body, content_type="application/json")


def test_a_centre_admin_reads_the_centre_s_facts(client_for, admin_at_centre_1, centre_1):
    HealthCentre.objects.filter(number=1).update(
        address_th="10 ถนนจักรเพชร", postcode="10200", phone="+6621234567", opening_hours=HOURS
    )

    response = client_for(admin_at_centre_1).get("/api/v1/staff/centres/1")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["number"], body["address_th"], body["postcode"]) == (1, "10 ถนนจักรเพชร", "10200")
    assert (body["phone"], body["phone_as_written"]) == ("+6621234567", "02 123 4567")
    assert body["opening_hours"] == HOURS


def test_a_centre_admin_changes_some_facts_and_the_rest_stay(
    client_for, admin_at_centre_1, centre_1
):
    HealthCentre.objects.filter(number=1).update(address_en="10 Chakkraphet Road")

    response = patch(
        client_for(admin_at_centre_1),
        "/api/v1/staff/centres/1",
        {"phone": "02-123-4567", "opening_hours": HOURS[:1]},
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["phone"], body["opening_hours"]) == ("+6621234567", HOURS[:1])
    assert body["address_en"] == "10 Chakkraphet Road"
    centre_1.refresh_from_db()
    assert centre_1.phone == "+6621234567"
    event = AuditEvent.objects.get(action="centre.facts_changed")
    assert (event.centre_id, event.actor_id) == (1, admin_at_centre_1.pk)
    assert set(event.details["changed"]) == {"phone", "opening_hours"}


def test_an_empty_fact_is_removed(client_for, admin_at_centre_1, centre_1):
    HealthCentre.objects.filter(number=1).update(phone="+6621234567", opening_hours=HOURS)

    body = patch(
        client_for(admin_at_centre_1), "/api/v1/staff/centres/1", {"phone": "", "opening_hours": []}
    ).json()

    assert (body["phone"], body["opening_hours"]) == ("", [])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"postcode": "102"}, "postcode"),
        ({"address_en": "a\tb"}, "address_en"),
        ({"opening_hours": [{"day": 1, "opens": "16:00", "closes": "08:00"}]}, "opening_hours"),
        ({"opening_hours": [HOURS[0], HOURS[0]]}, "opening_hours"),
        (
            {"opening_hours": [{"day": 8, "opens": "08:00", "closes": "16:00"}]},
            "opening_hours.0.day",
        ),
        (
            {"opening_hours": [{"day": 1, "opens": "8 am", "closes": "16:00"}]},
            "opening_hours.0.opens",
        ),
        ({"postcode": 10200}, "postcode"),
    ],
)
def test_a_fact_that_breaks_a_rule_gets_a_4xx_naming_it_and_nothing_is_written(
    client_for, admin_at_centre_1, centre_1, change, field
):
    response = patch(client_for(admin_at_centre_1), "/api/v1/staff/centres/1", change)

    assert 400 <= response.status_code < 500
    body = response.json()
    assert body["field"] == field
    assert body["message"]
    centre_1.refresh_from_db()
    assert (centre_1.phone, centre_1.opening_hours, centre_1.address_en) == ("", [], "")
    assert not AuditEvent.objects.filter(action="centre.facts_changed").exists()


def test_a_body_that_is_no_object_is_refused(client_for, admin_at_centre_1, centre_1):
    response = patch(client_for(admin_at_centre_1), "/api/v1/staff/centres/1", [1, 2])

    assert response.status_code == 422


@pytest.mark.parametrize("who", ["scheduler_at_centre_1", "staff_at_centre_2"])
def test_only_the_centre_s_admins_read_or_change_its_facts(client_for, request, who, centre_1):
    client = client_for(request.getfixturevalue(who))

    read = client.get("/api/v1/staff/centres/1")
    changed = patch(client, "/api/v1/staff/centres/1", {"phone": "021234567"})

    assert (read.status_code, changed.status_code) == (403, 403)
    centre_1.refresh_from_db()
    assert centre_1.phone == ""


def test_an_unknown_centre_is_a_404(client_for, city_admin):
    assert client_for(city_admin).get("/api/v1/staff/centres/999").status_code == 404


def test_the_public_centre_reading_shows_its_facts(client, centre_1):
    HealthCentre.objects.filter(number=1).update(
        postcode="10200", phone="+6621234567", opening_hours=HOURS
    )

    one = client.get("/api/v1/centres/1").json()
    listed = {centre["number"]: centre for centre in client.get("/api/v1/centres").json()}

    for body in (one, listed[1]):
        assert (body["postcode"], body["phone"]) == ("10200", "+6621234567")
        assert body["opening_hours"] == HOURS
    assert "phone" in listed[2]
