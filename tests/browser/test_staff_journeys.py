"""Staff journeys in a real browser: a nurse signs in with her password and authenticator
code and opens today's queue; a receptionist at another desk checks a patient in, and the
nurse's queue shows it without a reload (the queue socket); she starts and completes the
visit. The desk pages pass axe-core in Thai and in English and are kept as screenshots."""

from datetime import date, time, timedelta

import pyotp
from django.utils import timezone

from booking.models import Appointment, Patient
from clinics.models import StaffAuthenticator
from tests.factories import PatientFactory, SlotFactory, bangkok, booked

MONDAY = date(2026, 11, 30)  # the clock fixture's day
PASSWORD = "correct horse battery"


def enrol(user) -> str:
    key = pyotp.random_base32()
    StaffAuthenticator.objects.create(user=user, key=key, confirmed_at=timezone.now())
    return key


def sign_in(page, base: str, username: str, key: str, next_url: str) -> None:
    page.goto(f"{base}/staff/sign-in?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form button.primary").click()
    page.wait_for_url("**/staff/sign-in/code")
    page.fill("#code", pyotp.TOTP(key).now())
    page.locator("form button.primary").click()
    page.wait_for_url(f"**{next_url}")


def test_a_check_in_at_one_desk_shows_at_once_in_the_nurses_queue(
    in_browser, nurse_at_centre_1, scheduler_at_centre_1, clock
):
    visit = booked(PatientFactory(first_name="Somsri"), SlotFactory(start=bangkok(MONDAY, time(9))))
    booked(PatientFactory(first_name="Malee"), SlotFactory(start=bangkok(MONDAY, time(10))))
    nurse_key, desk_key = enrol(nurse_at_centre_1), enrol(scheduler_at_centre_1)
    queue = "/staff/centres/1/today"

    def journey(browser):
        page = browser.page
        sign_in(page, browser.base, "nurse1", nurse_key, queue)
        assert page.get_attribute("html", "lang") == "th"
        page.wait_for_selector("#queue-status.notice:not(.warning)")
        browser.check_accessibility()
        browser.screenshot("queue")
        row = page.locator(f'tr[data-appointment-id="{visit.pk}"]')
        before = row.locator(".badge").first.inner_text()

        reception = page.context.browser.new_context(viewport={"width": 1280, "height": 860})
        desk = reception.new_page()
        sign_in(desk, browser.base, "scheduler1", desk_key, queue)
        desk.locator(f'tr[data-appointment-id="{visit.pk}"] button.step-check-in').click()
        desk.wait_for_selector(".notice.success")
        reception.close()

        page.wait_for_function(
            """(id) => {
                const row = document.querySelector(`tr[data-appointment-id="${id}"]`);
                return row && row.querySelector(".badge.checked_in");
            }""",
            arg=visit.pk,
        )
        after = row.locator(".badge").first.inner_text()
        live = page.locator("#queue-status").inner_text()
        browser.screenshot("queue-updated")
        page.get_by_role("link", name="English").click()
        browser.check_accessibility()
        page.locator(f'tr[data-appointment-id="{visit.pk}"] button.step-start').click()
        page.locator(f'tr[data-appointment-id="{visit.pk}"] button.step-complete').click()
        page.wait_for_selector(f'tr[data-appointment-id="{visit.pk}"] .badge.completed')
        for path in ("week", "schedules", "closures"):
            page.goto(f"{browser.base}/staff/centres/1/{path}")
            browser.check_accessibility()
            browser.screenshot(path)
        return before, after, live

    before, after, live = in_browser(journey)

    visit.refresh_from_db()
    assert before == "จองแล้ว" or before == "Booked"
    assert after != before
    assert live
    assert visit.status == Appointment.Status.COMPLETED


def test_a_city_admin_plans_a_drive_and_reads_the_dashboards(in_browser, city_admin, clock):
    from booking.models import CentreDayFigures
    from clinics.models import HealthCentre, Service

    yesterday = timezone.localdate() - timedelta(days=1)
    for number, attended in ((1, 24), (2, 5)):
        CentreDayFigures.objects.create(
            centre=HealthCentre.objects.get(number=number),
            service=Service.objects.get(code="general-checkup"),
            day=yesterday,
            places_offered=40,
            booked=30,
            attended=attended,
            no_shows=30 - attended,
            computed_at=timezone.now(),
        )
    city_admin.set_password(PASSWORD)
    city_admin.save()
    key = enrol(city_admin)
    # One phone holding places for five people at centre 1: a row on the shared-phones page.
    holder = PatientFactory(first_name="Somsak")
    family = [holder] + [
        PatientFactory(account=holder.account, relationship=Patient.Relationship.OTHER)
        for _ in range(4)
    ]
    shared = SlotFactory(start=bangkok(MONDAY + timedelta(days=2), time(9)), capacity=10)
    for person in family:
        booked(person, shared)

    def journey(browser):
        page = browser.page
        sign_in(page, browser.base, "city", key, "/staff/drives/new")
        browser.check_accessibility()
        page.fill("#id_name_th", "ฉีดวัคซีนไข้หวัดใหญ่")
        page.select_option("#id_service", "vaccine-influenza")
        page.select_option("#id_centres", ["1"])
        page.fill("#id_first_day", "2026-12-01")
        page.fill("#id_last_day", "2026-12-02")
        for day in ("0", "1", "2", "3", "4"):
            page.check(f"#id_weekdays_{day}")
        page.fill("#id_session_start", "09:00")
        page.fill("#id_session_end", "10:00")
        page.fill("#id_capacity_per_slot", "2")
        page.fill("#id_release_at", "2026-11-30T10:00")
        page.locator("form button.primary").click()
        page.wait_for_url("**/staff/drives/*")
        short = page.locator(".notice.warning").count()
        browser.check_accessibility()
        browser.screenshot("drive-preview")
        for path in (
            "/staff/centres/1/stock",
            "/staff/centres/1/dashboard",
            "/staff/dashboard",
            "/staff/centres/1/shared-phones",
            "/staff/centres/1/audit",
            "/staff/audit",
        ):
            for language in ("th", "en"):
                page.goto(f"{browser.base}{path}?lang={language}")
                browser.check_accessibility()
            browser.screenshot(path.strip("/").replace("/", "-"))
            if path == "/staff/dashboard":
                bars = page.locator("svg.chart rect").count()
            if path.endswith("shared-phones"):
                phones = page.locator("main section.card").count()
        audited = page.locator("table.audit tbody tr").count()
        return short, bars, audited, phones

    short, bars, audited, phones = in_browser(journey)

    assert short == 1  # no doses at centre 1 yet: the release waits
    assert bars == 28 * (2 + 3)  # offered and booked; attended, did not come and walk-ins
    assert audited >= 1  # the drive's creation, at least
    assert phones == 1
