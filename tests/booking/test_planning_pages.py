"""The staff planning pages through the test client: vaccination drives (a draft from the
form, its preview against stock, release, calling off), the stock page and its deliveries,
and the dashboards of a centre and of the city."""

from datetime import date, time, timedelta

import pytest
from django.utils import timezone

from booking.models import CentreDayFigures, Slot, VaccinationDrive, VaccineLot
from clinics.models import HealthCentre, Service
from notifications.models import Message
from tests.factories import SlotFactory, bangkok, booked, stock_up, vaccine

pytestmark = pytest.mark.django_db

FORM = {
    "name_th": "ฉีดวัคซีนไข้หวัดใหญ่",
    "name_en": "Flu shots",
    "service": "vaccine-influenza",
    "centres": ["1"],
    "first_day": "2026-12-01",
    "last_day": "2026-12-02",
    "weekdays": ["1", "2", "3", "4", "5"],
    "session_start": "09:00",
    "session_end": "10:00",
    "slot_minutes": "15",
    "capacity_per_slot": "2",
    "release_at": "2026-11-30T10:00",
}


def test_a_scheduler_makes_a_draft_drive_from_the_form(client_for, scheduler_at_centre_1, clock):
    response = client_for(scheduler_at_centre_1).post("/staff/drives/new?lang=en", FORM)

    drive = VaccinationDrive.objects.get()
    assert response.headers["Location"] == f"/staff/drives/{drive.pk}"
    assert drive.status == VaccinationDrive.Status.DRAFT
    assert list(drive.centres.values_list("number", flat=True)) == [1]


def test_a_drive_form_that_breaks_a_rule_writes_nothing(client_for, scheduler_at_centre_1, clock):
    response = client_for(scheduler_at_centre_1).post(
        "/staff/drives/new?lang=en", {**FORM, "last_day": "2026-11-01"}
    )

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not VaccinationDrive.objects.exists()


def test_the_preview_names_the_centre_short_of_doses_and_release_waits(
    client_for, scheduler_at_centre_1, clock
):
    client = client_for(scheduler_at_centre_1)
    client.post("/staff/drives/new", FORM)
    drive = VaccinationDrive.objects.get()

    page = client.get(f"/staff/drives/{drive.pk}?lang=en").content.decode()
    refused = client.post(f"/staff/drives/{drive.pk}/release", follow=True)

    assert "Short by" in page
    assert "cannot be released yet" in page
    assert 'role="alert"' in refused.content.decode()
    assert not Slot.objects.filter(drive=drive).exists()


def test_with_stock_the_drive_releases_and_can_be_called_off(
    client_for, scheduler_at_centre_1, clock
):
    stock_up(1, vaccine("vaccine-influenza"), 100)
    client = client_for(scheduler_at_centre_1)
    client.post("/staff/drives/new", FORM)
    drive = VaccinationDrive.objects.get()

    released = client.post(f"/staff/drives/{drive.pk}/release?lang=en", follow=True)
    drive.refresh_from_db()
    slots = Slot.objects.filter(drive=drive).count()
    client.post(f"/staff/drives/{drive.pk}/cancel")

    assert "Released" in released.content.decode()
    assert slots == 8  # two days, four 15-minute slots in the hour
    drive.refresh_from_db()
    assert drive.status == VaccinationDrive.Status.CANCELLED


def test_releasing_and_calling_off_ask_again_first_and_the_first_step_changes_nothing(
    client_for, scheduler_at_centre_1, clock
):
    stock_up(1, vaccine("vaccine-influenza"), 100)
    client = client_for(scheduler_at_centre_1)
    client.post("/staff/drives/new", FORM)
    drive = VaccinationDrive.objects.get()
    path = f"/staff/drives/{drive.pk}?lang=en"

    page = client.get(path).content.decode()
    asked = {
        action: client.get(f"{path}&confirm={action}").content.decode()
        for action in ("release", "release-now", "cancel")
    }
    drive.refresh_from_db()

    for action in ("release", "release-now", "cancel"):
        assert f'action="/staff/drives/{drive.pk}/{action}"' not in page  # no one-tap step
        assert f'name="confirm" value="{action}"' in page
        assert f'action="/staff/drives/{drive.pk}/{action}"' in asked[action]
    assert "Release the drive?" in asked["release"]
    assert "Call the drive off?" in asked["cancel"]
    assert drive.status == VaccinationDrive.Status.DRAFT
    assert not Slot.objects.filter(drive=drive).exists()


def test_staff_of_another_centre_cannot_open_the_drive(
    client_for, scheduler_at_centre_1, staff_at_centre_2, clock
):
    client_for(scheduler_at_centre_1).post("/staff/drives/new", FORM)
    drive = VaccinationDrive.objects.get()

    assert client_for(staff_at_centre_2).get(f"/staff/drives/{drive.pk}").status_code == 403


def test_the_drive_list_reads_a_bounded_number_of_queries(
    client_for, scheduler_at_centre_1, clock, django_assert_max_num_queries
):
    client = client_for(scheduler_at_centre_1)
    for n in range(3):
        client.post("/staff/drives/new", {**FORM, "name_th": f"drive {n}"})

    with django_assert_max_num_queries(10):
        client.get("/staff/drives")


def test_the_stock_page_shows_positions_and_records_a_delivery(
    client_for, nurse_at_centre_1, clock
):
    flu = vaccine("vaccine-influenza")
    stock_up(1, flu, 40, lot="FLU-A")
    client = client_for(nurse_at_centre_1)

    page = client.get("/staff/centres/1/stock?lang=en").content.decode()
    delivered = client.post(
        "/staff/centres/1/stock",
        {"service": flu.pk, "lot_number": "FLU-B", "expires_on": "2027-06-30", "doses": "25"},
    )

    assert "FLU-A" in page
    assert "doses on hand" in page
    assert delivered.status_code == 303
    assert VaccineLot.objects.get(lot_number="FLU-B").doses_received == 25


def test_a_delivery_with_a_bad_number_of_doses_is_refused(client_for, nurse_at_centre_1, clock):
    flu = vaccine("vaccine-influenza")

    response = client_for(nurse_at_centre_1).post(
        "/staff/centres/1/stock?lang=en",
        {"service": flu.pk, "lot_number": "FLU-B", "expires_on": "2027-06-30", "doses": "0"},
    )

    assert response.status_code == 400
    assert not VaccineLot.objects.exists()


def test_withdrawing_a_lot_from_the_stock_page_says_how_many_were_told_and_lists_them(
    client_for, nurse_at_centre_1, clinician_at_centre_1, patient, other_patient, clock
):
    flu = vaccine("vaccine-influenza")
    recalled = stock_up(1, flu, 2, lot="FLU-RECALLED")
    stock_up(1, flu, 1, lot="FLU-SPARE")
    tomorrow = timezone.localdate() + timedelta(days=1)
    covered = booked(patient, SlotFactory(service=flu, start=bangkok(tomorrow, time(9))))
    beyond = booked(other_patient, SlotFactory(service=flu, start=bangkok(tomorrow, time(11))))
    client = client_for(nurse_at_centre_1)
    path = f"/staff/centres/1/stock/lots/{recalled.pk}/withdraw?lang=en"

    stock = client.get("/staff/centres/1/stock?lang=en").content.decode()
    asked = client.get(path).content.decode()
    recalled.refresh_from_db()
    assert recalled.withdrawn_at is None  # not before the second step
    done = client.post(path, {"reason": "Recall notice 12/2569"}).content.decode()
    listed = client.get("/staff/centres/1/move-or-cancel?lang=en").content.decode()

    assert f"/staff/centres/1/stock/lots/{recalled.pk}/withdraw" in stock
    assert "Withdraw the lot" in asked
    assert "1 patient was told by text." in done
    assert "/staff/centres/1/move-or-cancel" in done
    recalled.refresh_from_db()
    assert recalled.withdrawal_reason == "Recall notice 12/2569"
    assert f'value="{beyond.pk}"' in listed
    assert f'value="{covered.pk}"' not in listed
    told = Message.objects.filter(kind=Message.Kind.DRIVE_CHANGE)
    assert [message.appointment_id for message in told] == [beyond.pk]
    assert client_for(clinician_at_centre_1).get(path).status_code == 403


def test_a_withdrawal_without_a_reason_is_refused_and_withdraws_nothing(
    client_for, nurse_at_centre_1, clock
):
    lot = stock_up(1, vaccine("vaccine-influenza"), 5)

    response = client_for(nurse_at_centre_1).post(
        f"/staff/centres/1/stock/lots/{lot.pk}/withdraw?lang=en", {"reason": " "}
    )

    assert response.status_code == 400
    assert "There is a problem" in response.content.decode()
    lot.refresh_from_db()
    assert lot.withdrawn_at is None


def test_nobody_is_texted_when_the_stock_left_covers_every_booking(
    client_for, nurse_at_centre_1, patient, clock
):
    flu = vaccine("vaccine-influenza")
    lot = stock_up(1, flu, 5, lot="FLU-RECALLED")
    stock_up(1, flu, 5, lot="FLU-SPARE")
    booked(patient, SlotFactory(service=flu))

    done = client_for(nurse_at_centre_1).post(
        f"/staff/centres/1/stock/lots/{lot.pk}/withdraw?lang=en", {"reason": "Recall"}
    )

    assert "still covers every booked appointment: nobody was texted" in done.content.decode()
    assert not Message.objects.filter(kind=Message.Kind.DRIVE_CHANGE).exists()


def test_a_lot_of_another_centre_is_not_found_here(client_for, nurse_at_centre_1, clock):
    lot = stock_up(2, vaccine("vaccine-influenza"), 5)

    response = client_for(nurse_at_centre_1).get(f"/staff/centres/1/stock/lots/{lot.pk}/withdraw")

    assert response.status_code == 404


def figures(centre: int, day: date, **counts: int) -> None:
    service = Service.objects.get(code="general-checkup")
    CentreDayFigures.objects.create(
        centre=HealthCentre.objects.get(number=centre),
        service=service,
        day=day,
        computed_at=timezone.now(),
        **counts,
    )


def test_the_centre_dashboard_shows_rates_charts_and_the_numbers(
    client_for, nurse_at_centre_1, clock, django_assert_max_num_queries
):
    yesterday = timezone.localdate() - timedelta(days=1)
    figures(
        1,
        yesterday,
        places_offered=40,
        booked=30,
        attended=24,
        no_shows=6,
        waitlist_refills=3,
        walk_ins=11,
    )
    figures(2, yesterday, places_offered=10, booked=10, attended=0, no_shows=10, walk_ins=4)
    client = client_for(nurse_at_centre_1)

    with django_assert_max_num_queries(8):
        response = client.get("/staff/centres/1/dashboard?lang=en&days=7")

    page = response.content.decode()
    assert "75%" in page  # 30 of 40 places booked
    assert "80%" in page  # 24 of 30 attended
    assert "20%" in page  # 6 of 30 did not come: walk-ins are in none of the rates
    assert "<strong>11</strong> walk-ins" in page  # their own figure
    assert ": walk-ins 11" in page  # their own bar
    assert '<td class="number">11</td></tr>' in page  # and their own column
    assert page.count("<rect") == 7 * 5  # offered and booked; attended, not come and walk-ins
    assert '<svg class="chart"' in page


def test_the_dashboard_is_thai_by_default(client_for, nurse_at_centre_1, clock):
    page = client_for(nurse_at_centre_1).get("/staff/centres/1/dashboard").content.decode()

    assert '<html lang="th">' in page
    assert "พ.ย." in page


def test_a_dashboard_with_nothing_counted_yet_says_so_rather_than_draw_empty_charts(
    client_for, nurse_at_centre_1, clock
):
    page = client_for(nurse_at_centre_1).get("/staff/centres/1/dashboard?lang=en").content.decode()

    assert '<svg class="chart"' not in page
    assert page.count("no data yet. The figures are counted each night for the day before.") == 2


def test_the_city_dashboard_is_for_city_admins(client_for, city_admin, nurse_at_centre_1, clock):
    yesterday = timezone.localdate() - timedelta(days=1)
    figures(1, yesterday, places_offered=40, booked=30, attended=24, no_shows=6, walk_ins=3)
    figures(2, yesterday, places_offered=10, booked=10, attended=0, no_shows=10, walk_ins=4)

    refused = client_for(nurse_at_centre_1).get("/staff/dashboard")
    page = client_for(city_admin).get("/staff/dashboard?lang=en").content.decode()

    assert refused.status_code == 403
    assert "80%" in page  # 40 of 50 places booked in the city
    assert "<strong>7</strong> walk-ins" in page
    assert page.index("/staff/centres/2/dashboard") < page.index("/staff/centres/1/dashboard")
