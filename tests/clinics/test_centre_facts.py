"""A centre's address, postcode, phone and opening hours: checked, loaded, shown, corrected by
its admins (audited)."""

from datetime import time

import pytest
from django.core.exceptions import ValidationError

from clinics.centre_facts import (
    OpeningPeriod,
    facts_in,
    normalise_centre_phone,
    opening_hours_lines,
    phone_as_written,
    phone_uri,
)
from clinics.exceptions import Forbidden, InvalidInput
from clinics.models import AuditEvent, HealthCentre
from clinics.services import CentreFactsIn, _load_health_centres, update_centre_facts

pytestmark = pytest.mark.django_db

WEEKDAYS_8_TO_4 = [{"day": day, "opens": "08:00", "closes": "16:00"} for day in range(1, 6)]


# --- Checks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["02 123 4567", "02-123-4567", "+66 2 123 4567", "021234567"])
def test_a_phone_number_is_taken_as_people_write_it_and_kept_as_e164(written):
    assert normalise_centre_phone(written) == "+6621234567"
    assert phone_as_written("+6621234567") == "02 123 4567"
    assert phone_uri("+6621234567") == "tel:+66-2-123-4567"


@pytest.mark.parametrize("written", ["12345", "02 123", "call us", "+66 2 123 4567 999"])
def test_a_number_that_is_no_phone_number_is_refused(written):
    with pytest.raises(ValidationError):
        normalise_centre_phone(written)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("postcode", "1020"),
        ("postcode", "10200a"),
        ("postcode", "๑๐๒๐๐"),
        ("phone", "021234567"),  # stored numbers are E.164
        ("address_th", "12 ถนนจักรเพชร\nแขวง"),
        ("opening_hours", [{"day": 8, "opens": "08:00", "closes": "16:00"}]),
        ("opening_hours", [{"day": 1, "opens": "16:00", "closes": "08:00"}]),
        ("opening_hours", [{"day": 1, "opens": "8am", "closes": "16:00"}]),
        ("opening_hours", [*WEEKDAYS_8_TO_4, {"day": 1, "opens": "17:00", "closes": "20:00"}]),
        ("opening_hours", {"1": ["08:00", "16:00"]}),
    ],
)
def test_the_model_refuses_facts_that_break_its_rules(centre_1, field, value):
    setattr(centre_1, field, value)

    with pytest.raises(ValidationError) as refused:
        centre_1.full_clean()

    assert set(refused.value.message_dict) == {field}


def test_opening_hours_read_as_runs_of_days_in_both_languages():
    periods = [OpeningPeriod(day, time(8), time(16)) for day in range(1, 6)]
    periods.append(OpeningPeriod(6, time(8), time(12)))

    assert opening_hours_lines(periods, "en") == [
        "Mon\u2013Fri 08:00\u201316:00",
        "Sat 08:00\u201312:00",
    ]
    assert opening_hours_lines(periods, "th") == [
        "จันทร์\u2013ศุกร์ 08.00\u201316.00 น.",
        "เสาร์ 08.00\u201312.00 น.",
    ]


def test_facts_a_centre_has_not_given_are_left_out(centre_1):
    centre_1.postcode = ""
    facts = facts_in(centre_1, "en")

    assert not facts
    assert (facts.address, facts.phone, facts.phone_uri, facts.opening_hours) == ("", "", "", [])


def test_the_address_reads_from_street_to_postcode(centre_1):
    centre_1.address_th = "10 ถนนจักรเพชร"
    centre_1.address_en = "10 Chakkraphet Road"
    centre_1.phone = "+6621234567"

    assert facts_in(centre_1, "th").address == (
        "10 ถนนจักรเพชร แขวงวังบูรพาภิรมย์ เขตพระนคร กรุงเทพมหานคร 10200"
    )
    assert facts_in(centre_1, "en").address == (
        "10 Chakkraphet Road, Phra Nakhon District, Bangkok 10200"
    )
    assert facts_in(centre_1, "en").phone == "02 123 4567"


# --- Loading -------------------------------------------------------------------------------------


def test_every_centre_gets_its_districts_postcode_from_the_data(reference_data):
    postcodes = dict(HealthCentre.objects.values_list("number", "postcode"))

    assert len(postcodes) == 69
    assert postcodes[1] == "10200"  # Phra Nakhon
    assert postcodes[3] == "10800"  # Bang Sue
    assert all(len(code) == 5 and code.startswith("10") for code in postcodes.values())


def test_loading_again_fills_only_the_facts_a_centre_lacks(reference_data, tmp_path):
    HealthCentre.objects.filter(number=1).update(postcode="10201", phone="")
    HealthCentre.objects.filter(number=2).update(postcode="")
    data = tmp_path / "centres.csv"
    data.write_text(
        "number,district_code,postcode,address_th,address_en,phone\n"
        "1,1001,10200,,,02 123 4567\n"
        "2,1037,10400,,,\n",
        encoding="utf-8",
    )

    assert _load_health_centres(path=data) == 0

    first, second = HealthCentre.objects.get(number=1), HealthCentre.objects.get(number=2)
    assert (first.postcode, first.phone) == ("10201", "+6621234567")  # staff's postcode kept
    assert second.postcode == "10400"


# --- Correcting them -----------------------------------------------------------------------------


def test_a_centre_admin_corrects_the_facts_and_the_trail_says_what_changed(
    centre_1, admin_at_centre_1
):
    update_centre_facts(
        centre=centre_1,
        by=admin_at_centre_1,
        facts=CentreFactsIn(
            address_th="10 ถนนจักรเพชร",
            postcode="10200",
            phone="02-123-4567",
            opening_hours=(OpeningPeriod(1, time(8), time(16)),),
        ),
    )

    centre_1.refresh_from_db()
    assert centre_1.phone == "+6621234567"
    assert centre_1.opening_hours == [{"day": 1, "opens": "08:00", "closes": "16:00"}]
    event = AuditEvent.objects.get(action="centre.facts_changed")
    assert (event.centre_id, event.actor_id) == (1, admin_at_centre_1.pk)
    assert event.details["changed"] == {
        "address_th": {"from": "", "to": "10 ถนนจักรเพชร"},
        "phone": {"from": "", "to": "+6621234567"},
        "opening_hours": {"from": [], "to": [{"day": 1, "opens": "08:00", "closes": "16:00"}]},
    }


def test_saving_the_same_facts_again_records_nothing(centre_1, admin_at_centre_1):
    update_centre_facts(
        centre=centre_1, by=admin_at_centre_1, facts=CentreFactsIn(postcode="10200")
    )

    assert not AuditEvent.objects.filter(action="centre.facts_changed").exists()


@pytest.mark.parametrize(
    ("facts", "field"),
    [
        (CentreFactsIn(postcode="10200", phone="12"), "phone"),
        (CentreFactsIn(postcode="102", phone="02 123 4567"), "postcode"),
        (CentreFactsIn(postcode="10200", address_en="a\tb"), "address_en"),
        (CentreFactsIn(postcode="", phone="02 123 4567"), "postcode"),  # SMART needs one
    ],
)
def test_a_fact_that_breaks_a_rule_is_refused_naming_it_and_nothing_is_written(
    centre_1, admin_at_centre_1, facts, field
):
    with pytest.raises(InvalidInput) as refused:
        update_centre_facts(centre=centre_1, by=admin_at_centre_1, facts=facts)

    assert refused.value.detail["field"] == field
    centre_1.refresh_from_db()
    assert (centre_1.phone, centre_1.postcode, centre_1.address_en) == ("", "10200", "")
    assert not AuditEvent.objects.filter(action="centre.facts_changed").exists()


def test_only_the_centres_own_admins_may_correct_its_facts(
    centre_1, scheduler_at_centre_1, staff_at_centre_2
):
    for someone in (scheduler_at_centre_1, staff_at_centre_2):
        with pytest.raises(Forbidden):
            update_centre_facts(centre=centre_1, by=someone, facts=CentreFactsIn(phone="021234567"))


# --- The staff page ------------------------------------------------------------------------------


def test_the_about_page_saves_what_an_admin_types(client_for, admin_at_centre_1):
    client = client_for(admin_at_centre_1)
    page = client.get("/staff/centres/1/about")
    assert page.status_code == 200
    assert 'value="10200"' in page.content.decode()

    saved = client.post(
        "/staff/centres/1/about",
        {"address_en": "10 Chakkraphet Road", "postcode": "10200", "phone": "02 123 4567"}
        | {f"opens_{day}": "08:00" for day in range(1, 6)}
        | {f"closes_{day}": "16:00" for day in range(1, 6)},
        follow=True,
    )

    text = saved.content.decode()  # staff pages are in Thai unless the staff member asks
    assert saved.redirect_chain == [("/staff/centres/1/about", 303)]
    assert 'href="tel:+66-2-123-4567"' in text
    assert "จันทร์\u2013ศุกร์ 08.00\u201316.00 น." in text
    assert HealthCentre.objects.get(number=1).phone == "+6621234567"
    assert AuditEvent.objects.filter(action="centre.facts_changed", centre_id=1).exists()


def test_a_form_with_mistakes_comes_back_with_every_problem_and_what_was_typed(
    client_for, admin_at_centre_1
):
    answer = client_for(admin_at_centre_1).post(
        "/staff/centres/1/about",
        {"address_th": "ซอย 1", "postcode": "12", "phone": "hello", "opens_1": "08:00"},
    )

    text = answer.content.decode()
    assert answer.status_code == 400
    assert "error-summary" in text
    for link in ('href="#id_phone"', 'href="#id_postcode"', 'href="#id_closes_1"'):
        assert link in text
    for typed in ('value="hello"', 'value="ซอย 1"', 'value="12"'):
        assert typed in text
    assert HealthCentre.objects.get(number=1).address_th == ""


def test_staff_who_are_not_the_centres_admins_cannot_open_the_about_page(
    client_for, scheduler_at_centre_1, staff_at_centre_2
):
    for someone in (scheduler_at_centre_1, staff_at_centre_2):
        assert client_for(someone).get("/staff/centres/1/about").status_code == 403


def test_a_persons_number_is_shown_as_people_write_it() -> None:
    assert phone_as_written("+66891112233") == "089 111 2233"
    assert phone_as_written("+33612345678") == "+33 6 12 34 56 78"
    assert phone_as_written("not a number") == "not a number"
    assert phone_as_written("+6612") == "+6612"
