"""Issue 19's journeys in a real browser, on a 390 px phone, in Thai and in English: a
newcomer opens an account while booking (the forms forgive), a parent adds a child from the
"who is it for" step and comes back to the same time, a patient moves a visit to a nearby
centre, a patient sees a drive's rules first and fixes the details a rule reads, a search that
finds nothing offers the waitlist, a scheduler plans, closes a day and moves its patients, the
desk takes back a "did not come", a video visit opened early counts down to its room, the desk
registers, books and queues a walk-in, a centre admin gives the centre's phone and hours that
patients then see, and withdrawing a vaccine lot texts the patient it no longer covers.
Every page passes axe-core, none is wider than the phone, and each is kept as a screenshot."""

from concurrent.futures import ThreadPoolExecutor
from datetime import date, time

import pytest
from django.utils import translation
from django.utils.translation import gettext

from booking.links import video_join_token
from booking.models import Appointment, Patient, RiskGroup, Slot, WaitlistEntry
from booking.services.consent import record_video_consent
from booking.services.slots import sync_slots
from clinics.models import Closure, HealthCentre, ScheduleTemplate, Service
from notifications.models import Message
from tests.browser.test_staff_journeys import enrol, sign_in
from tests.factories import (
    PatientFactory,
    ScheduleTemplateFactory,
    SlotFactory,
    bangkok,
    booked,
    national_id,
    passcode_texted_to,
    released_drive,
    stock_up,
)

MONDAY = date(2026, 11, 30)  # the clock fixture's day
TUESDAY = date(2026, 12, 1)
WIDER_THAN_THE_PHONE = "() => document.documentElement.scrollWidth > window.innerWidth"


def in_a_thread(work, *args):
    """The ORM refuses to run in Playwright's thread (it has an event loop): ask another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work, *args).result()


def said(language: str, text: str) -> str:
    with translation.override(language):
        return gettext(text)


def looked_at(browser, name: str) -> None:
    """What every page of these journeys must pass: axe-core, and no sideways scrolling."""
    browser.check_accessibility()
    assert not browser.page.evaluate(WIDER_THAN_THE_PHONE), f"{name} scrolls sideways"
    browser.screenshot(name)


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_newcomer_opens_an_account_while_booking_and_the_form_keeps_what_they_typed(
    in_browser, reference_data, clock, language
):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    phone = "+66891112233"
    typed = {
        "#id_first_name": "Anong",
        "#id_last_name": "Suksai",
        "#id_date_of_birth": "2535-03-04",
    }

    def journey(browser):
        page = browser.page
        browser.open(f"/book/slots/{slot.pk}?lang={language}")
        cut_off = page.locator("dl.card").inner_text()
        looked_at(browser, "book")
        page.fill("#phone", "089 111 2233")
        page.locator("button[value=send_code]").click()
        page.wait_for_selector("#code")
        code_label = page.locator("label[for=code]").inner_text()
        resend = page.locator("#resend-wait").inner_text()
        code_input = page.locator("#code")
        code_attributes = (
            code_input.get_attribute("inputmode"),
            code_input.get_attribute("autocomplete"),
        )
        looked_at(browser, "passcode")
        page.fill("#code", in_a_thread(passcode_texted_to, phone))
        page.locator("button[value=sign_in]").click()
        page.wait_for_selector("#id_first_name")
        preset_sex = page.locator("#id_sex").input_value()
        for field, value in typed.items():
            page.fill(field, value)
        page.select_option("#id_sex", "female")
        page.fill("#id_national_id", "1234567890123")  # a wrong check digit
        page.locator("button[value=register]").click()
        page.wait_for_selector(".error-summary")
        kept = {field: page.locator(field).input_value() for field in typed}
        kept["#id_national_id"] = page.locator("#id_national_id").input_value()
        invalid = page.locator("#id_national_id").get_attribute("aria-invalid")
        looked_at(browser, "registration-refused")
        page.locator(".error-summary a[href='#id_national_id']").click()
        focused = page.evaluate("() => document.activeElement.id")
        page.fill("#id_national_id", in_a_thread(national_id))
        page.locator("button[value=register]").click()
        page.wait_for_selector("button[value=book]")
        opened = page.locator("main").inner_text()
        looked_at(browser, "who-is-it-for")
        page.locator("button[value=book]").click()
        page.wait_for_url("**/me/appointments/*?booked=1*")
        looked_at(browser, "booked")
        return (
            cut_off,
            code_label,
            resend,
            code_attributes,
            preset_sex,
            kept,
            invalid,
            focused,
            opened,
        )

    cut_off, code_label, resend, code_attributes, preset_sex, kept, invalid, focused, opened = (
        in_browser(journey)
    )

    assert said(language, "Move or cancel online until") in cut_off
    assert "089 111 2233" in code_label
    assert "60" in resend
    assert code_attributes == ("numeric", "one-time-code")
    assert preset_sex == ""
    assert kept == {**typed, "#id_national_id": "1234567890123"}
    assert invalid == "true"
    assert focused == "id_national_id"
    assert "1992" in opened
    assert "2535" in opened
    newcomer = Patient.objects.get(phone=phone)
    assert newcomer.date_of_birth == date(1992, 3, 4)
    assert Appointment.objects.get(slot=slot).patient == newcomer


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_parent_adds_a_child_while_booking_and_comes_back_to_the_same_time(
    in_browser, patient, clock, language
):
    slot = SlotFactory(start=bangkok(TUESDAY, time(10)))

    def journey(browser):
        page = browser.page
        browser.open(f"/book/slots/{slot.pk}?lang={language}")
        page.fill("#phone", patient.phone)
        page.locator("button[value=send_code]").click()
        page.fill("#code", in_a_thread(passcode_texted_to, patient.phone))
        page.locator("button[value=sign_in]").click()
        page.wait_for_selector("button[value=book]")
        page.locator(f"a[href^='/me/?back={slot.pk}']").click()
        page.wait_for_selector("#dependant-form")
        looked_at(browser, "add-child")
        page.fill("#dependant-form #id_first_name", "Ploy")
        page.fill("#dependant-form #id_last_name", patient.last_name)
        page.fill("#dependant-form #id_date_of_birth", "2022-05-06")
        page.select_option("#dependant-form #id_sex", "female")
        page.select_option("#dependant-form #id_relationship", "child")
        page.fill("#dependant-form #id_national_id", in_a_thread(national_id))
        page.locator("#dependant-form button.primary").click()
        page.wait_for_url(f"**/book/slots/{slot.pk}?lang={language}&for=*")
        looked_at(browser, "back-to-the-time")
        chosen = page.get_by_label("Ploy", exact=False).is_checked()
        page.locator("button[value=book]").click()
        page.wait_for_url("**/me/appointments/*?booked=1*")
        return chosen, page.locator("main").inner_text()

    chosen, confirmation = in_browser(journey)

    child = Patient.objects.get(account=patient.account, first_name="Ploy")
    assert chosen  # the person just added is the one chosen
    assert Appointment.objects.get(slot=slot).patient == child
    assert "Ploy" in confirmation


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_patient_moves_a_visit_to_a_nearby_centre_after_seeing_other_days_too(
    in_browser, patient, clock, language
):
    checkup = Service.objects.get(code="general-checkup")
    home = HealthCentre.objects.get(number=1)
    visit = booked(
        patient, SlotFactory(service=checkup, centre=home, start=bangkok(TUESDAY, time(9)))
    )
    SlotFactory(service=checkup, centre=home, start=bangkok(date(2026, 12, 2), time(9)))
    nearest = HealthCentre.objects.get(number=2)
    elsewhere = SlotFactory(service=checkup, centre=nearest, start=bangkok(TUESDAY, time(11)))

    def journey(browser):
        page = browser.page
        browser.open(f"/sign-in?lang={language}")
        page.fill("#phone", patient.phone)
        page.locator("button[value=send_code]").click()
        page.fill("#code", in_a_thread(passcode_texted_to, patient.phone))
        page.locator("button[value=sign_in]").click()
        page.wait_for_url("**/me/")
        browser.open(f"/me/appointments/{visit.pk}?lang={language}")
        choices = page.locator("main").inner_text()
        looked_at(browser, "move-choices")
        page.locator(f"input[name=slot_id][value='{elsewhere.pk}']").check()
        page.locator("button[value=reschedule]").click()
        page.wait_for_selector(".notice.success")
        looked_at(browser, "moved")
        return choices

    choices = in_browser(journey)

    visit.refresh_from_db()
    assert visit.slot == elsewhere
    assert nearest.name_in(language) in choices


@pytest.mark.parametrize("language", ["th", "en"])
def test_the_desk_asks_before_did_not_come_and_can_take_it_back_then_check_in(
    in_browser, nurse_at_centre_1, clock, language
):
    late = booked(PatientFactory(first_name="Somsri"), SlotFactory(start=bangkok(MONDAY, time(9))))
    clock.move_to(bangkok(MONDAY, time(11)))  # two hours after the time: not come
    key = enrol(nurse_at_centre_1)
    queue = "/staff/centres/1/today"
    row = f'[data-appointment-id="{late.pk}"]'

    def journey(browser):
        page = browser.page
        sign_in(page, browser.base, "nurse1", key, queue)
        browser.open(f"{queue}?lang={language}")
        page.locator(f"{row} button.step-no-show").click()
        page.wait_for_selector(f"{row} form[method=post] button.step-no-show")
        asked = page.locator(row).inner_text()
        looked_at(browser, "did-not-come-asks")
        page.locator(f"{row} button.step-no-show").click()
        page.wait_for_selector(f"{row} .badge.no_show")
        page.locator(f"{row} button.step-undo-no-show").click()
        page.wait_for_selector(f"{row} .badge.booked")
        page.locator(f"{row} button.step-check-in").click()
        page.wait_for_selector(f"{row} .badge.checked_in")
        looked_at(browser, "checked-in-after-all")
        return asked

    asked = in_browser(journey)

    late.refresh_from_db()
    assert late.status == Appointment.Status.CHECKED_IN
    assert "Somsri" in asked


def sign_in_as(browser, patient, language: str) -> None:
    page = browser.page
    browser.open(f"/sign-in?lang={language}")
    page.fill("#phone", patient.phone)
    page.locator("button[value=send_code]").click()
    page.fill("#code", in_a_thread(passcode_texted_to, patient.phone))
    page.locator("button[value=sign_in]").click()
    page.wait_for_url("**/me/")


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_patient_sees_a_drives_rules_first_declares_a_group_and_then_books_it(
    in_browser, patient, city_admin, clock, language
):
    drive = released_drive(city_admin, name_en="Flu for mothers", risk_groups=[RiskGroup.PREGNANT])
    clock.move_to(drive.release_at)
    in_drive = Slot.objects.filter(drive=drive, centre_id=1).earliest("start")
    search = f"/?service=vaccine-influenza&lang={language}&from={in_drive.start.date()}"

    def journey(browser):
        page = browser.page
        sign_in_as(browser, patient, language)
        browser.open(search)
        rules = page.locator("main").inner_text()
        looked_at(browser, "drive-rules")
        browser.open(search + "&mine=1")
        mine_before = page.locator(f"a[href^='/book/slots/{in_drive.pk}']").count()
        browser.open(f"/book/slots/{in_drive.pk}?lang={language}")
        page.locator("button[value=book]").click()
        page.wait_for_selector(f"a[href$='#person-{patient.pk}']")
        refused = page.locator("main").inner_text()
        looked_at(browser, "drive-refused")
        page.locator(f"a[href$='#person-{patient.pk}']").click()
        page.wait_for_url("**/me/*")
        details = page.locator(f"#person-{patient.pk}")
        if not details.evaluate("element => element.open"):
            details.locator("summary").click()
        details.locator("input[value=pregnant]").check()
        details.locator("input[name=confirm]").check()
        looked_at(browser, "risk-groups")
        details.locator("button[value=health_details]").click()
        page.wait_for_selector(".notice.success")
        browser.open(search + "&mine=1")
        mine_after = page.locator(f"a[href^='/book/slots/{in_drive.pk}']").count()
        browser.open(f"/book/slots/{in_drive.pk}?lang={language}")
        page.locator("button[value=book]").click()
        page.wait_for_url("**/me/appointments/*?booked=1*")
        looked_at(browser, "drive-booked")
        return rules, mine_before, refused, mine_after

    rules, mine_before, refused, mine_after = in_browser(journey)

    assert said(language, "Times in vaccination drives, and who they are for") in rules
    assert mine_before == 0
    assert mine_after >= 1
    assert patient.first_name in refused
    assert Appointment.objects.get(slot=in_drive).patient == patient


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_search_that_finds_nothing_lets_a_patient_wait_for_a_place_and_stop_waiting(
    in_browser, patient, clock, language
):
    def journey(browser):
        page = browser.page
        sign_in_as(browser, patient, language)
        browser.open(f"/?service=vaccine-hpv&from=2026-12-01&to=2026-12-20&lang={language}")
        looked_at(browser, "nothing-found")
        page.locator("button[value=join_waitlist]").click()
        page.wait_for_selector("button[value=leave_waitlist]")
        looked_at(browser, "waiting")
        page.locator("button[value=leave_waitlist]").click()
        page.wait_for_selector(".notice.success")
        looked_at(browser, "stopped-waiting")
        return page.locator("button[value=leave_waitlist]").count()

    left_over = in_browser(journey)

    entry = WaitlistEntry.objects.get(patient=patient)
    assert left_over == 0
    assert entry.status not in (WaitlistEntry.Status.WAITING, WaitlistEntry.Status.OFFERED)


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_scheduler_plans_in_their_language_closes_a_day_tells_and_moves_the_patients(
    in_browser, scheduler_at_centre_1, patient, clock, language
):
    """A weekly schedule saved from the page in Thai (its dates are ISO whatever the
    language), a closure over a booked day (the patient is texted), the booked visit cancelled
    in bulk after a second step, and the closure lifted after a second step."""
    template = ScheduleTemplateFactory(weekdays="3")  # Wednesdays
    sync_slots(centre_ids=[1])
    wednesday = Slot.objects.filter(
        template=template, start__gte=bangkok(date(2026, 12, 2), time(0))
    )
    visit = booked(patient, wednesday.order_by("start").first())
    key = enrol(scheduler_at_centre_1)
    base = "/staff/centres/1"

    def journey(browser):
        page = browser.page
        sign_in(page, browser.base, "scheduler1", key, f"{base}/schedules")
        browser.open(f"{base}/schedules?lang={language}")
        page.select_option(
            "#id_service", label=page.locator("#id_service option").nth(1).inner_text()
        )
        page.locator("input[name=weekdays][value='6']").check()
        page.fill("#id_start_time", "08:00")
        page.fill("#id_end_time", "10:00")
        page.fill("#id_slot_minutes", "30")
        page.fill("#id_capacity", "2")
        looked_at(browser, "schedule-form")
        page.locator("#schedule-form button.primary").click()
        page.wait_for_selector(".notice.success")
        browser.open(f"{base}/closures?lang={language}")
        page.fill("#id_start_date", "2026-12-02")
        page.fill("#id_end_date", "2026-12-02")
        page.fill("#id_reason_th", "น้ำท่วม")
        page.locator("button[value=add]").click()
        page.wait_for_selector("button[name=lift]")
        closed = page.locator("main").inner_text()
        looked_at(browser, "closed")
        page.locator("a[href$='/move-or-cancel']").click()
        page.locator(f"input[name=appointment_ids][value='{visit.pk}']").check()
        page.locator("input[name=action][value=cancel]").check()
        page.fill("#id_reason", "น้ำท่วม")
        page.locator("form.card button.primary").click()
        page.wait_for_selector("button[name=confirm]")
        looked_at(browser, "bulk-asks")
        page.locator("button[name=confirm]").click()
        page.wait_for_selector("#done-heading")
        looked_at(browser, "bulk-done")
        browser.open(f"{base}/closures?lang={language}")
        page.locator("button[name=lift]").click()
        page.wait_for_selector("button[value=lift]")
        looked_at(browser, "lift-asks")
        page.locator("button[value=lift]").click()
        page.wait_for_selector(".notice.success")
        return closed, page.locator("button[name=lift]").count()

    closed, still_closed = in_browser(journey)

    assert ScheduleTemplate.objects.filter(centre_id=1, weekdays="6").exists()
    assert "1" in closed
    visit.refresh_from_db()
    assert visit.status == Appointment.Status.CANCELLED
    assert Message.objects.filter(appointment=visit, kind=Message.Kind.DRIVE_CHANGE).exists()
    assert Message.objects.filter(appointment=visit, kind=Message.Kind.CANCELLED).exists()
    assert still_closed == 0
    assert not Closure.objects.filter(centre_id=1).exists()


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_patient_who_opens_the_video_link_early_waits_in_the_lobby_with_a_countdown(
    in_browser, patient, clock, language
):
    video = Service.objects.get(code="video-general")
    record_video_consent(patient=patient, by=None, address=None)
    visit = booked(patient, SlotFactory(service=video, start=bangkok(MONDAY, time(10))))
    token = video_join_token(visit.pk)  # 07:00 now: the room opens at 09:45

    def journey(browser):
        page = browser.page
        browser.open(f"/v/{token}?lang={language}")
        page.wait_for_selector("#opens-in:not([hidden])")
        first = page.locator("#opens-in").inner_text()
        page.wait_for_function(
            "(first) => document.getElementById('opens-in').innerText !== first", arg=first
        )
        later = page.locator("#opens-in").inner_text()
        looked_at(browser, "video-lobby-early")
        return first, later, page.locator("#join-button").is_disabled()

    first, later, join_disabled = in_browser(journey)

    assert "2:45:00" in first or "2:44:5" in first
    assert later != first  # it counts down
    assert join_disabled


@pytest.mark.parametrize("language", ["th", "en"])
def test_the_desk_registers_someone_without_a_phone_books_them_prints_a_slip_and_queues_a_walk_in(
    in_browser, nurse_at_centre_1, clock, language
):
    """An elderly man with no phone: the nurse registers him from his ID card, books him a
    time today, prints his slip (with the appointment's QR code), and, as he is here now for
    something else too, adds him to today's queue as a walk-in with a number."""
    checkup = Service.objects.get(code="general-checkup")
    slot = SlotFactory(service=checkup, start=bangkok(MONDAY, time(10)))
    key = enrol(nurse_at_centre_1)
    base = "/staff/centres/1"
    card = in_a_thread(national_id)

    def journey(browser):
        page = browser.page
        sign_in(page, browser.base, "nurse1", key, f"{base}/desk")
        browser.open(f"{base}/desk?lang={language}")
        looked_at(browser, "desk")
        page.locator(f"a[href='{base}/desk/register']").click()
        page.fill("#id_first_name", "Boonmee")
        page.fill("#id_last_name", "Sukjai")
        page.fill("#id_date_of_birth", "1948-03-09")
        page.select_option("#id_sex", "male")
        page.fill("#id_national_id", card)
        page.check("#id_id_card_seen")
        looked_at(browser, "desk-register")
        page.locator("form.card button.primary").click()
        page.wait_for_url(f"**{base}/desk/people/*")
        looked_at(browser, "desk-person")
        page.locator(f"button[name=slot_id][value='{slot.pk}']").click()
        page.wait_for_url(f"**{base}/desk/appointments/*/slip*")
        slip = page.locator("main").inner_text()
        has_qr = page.locator(".qr svg").count() == 1
        looked_at(browser, "desk-slip")
        page.go_back()
        page.wait_for_url(f"**{base}/desk/people/*")
        page.locator(f"a[href^='{base}/walk-ins?patient=']").click()
        page.select_option("select[name=service]", "general-checkup")
        looked_at(browser, "walk-in-add")
        page.locator("form[action$='/walk-ins/add'] button.primary").click()
        page.wait_for_selector(".queue-label")
        label = page.locator(".queue-label").inner_text()
        looked_at(browser, "walk-in-slip")
        browser.open(f"{base}/today?lang={language}")
        queue = page.locator("#queue").inner_text()
        looked_at(browser, "queue-with-walk-in")
        return slip, has_qr, label, queue

    slip, has_qr, label, queue = in_browser(journey)

    boonmee = Patient.objects.get(national_id=card)
    appointment = Appointment.objects.get(slot=slot)
    assert appointment.patient == boonmee
    assert appointment.channel == Appointment.Channel.STAFF
    assert boonmee.phone == ""
    assert "Boonmee" in slip
    assert has_qr
    assert label == "A-001"
    assert label in queue
    assert "Boonmee" in queue


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_centre_admin_gives_the_centres_phone_and_hours_and_patients_see_them(
    in_browser, admin_at_centre_1, clock, language
):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    key = enrol(admin_at_centre_1)
    about = "/staff/centres/1/about"

    def journey(browser):
        page = browser.page
        sign_in(page, browser.base, "admin1", key, about)
        browser.open(f"{about}?lang={language}")
        page.fill("#id_phone", "02 123 4567")
        page.fill("#id_opens_1", "08:00")
        page.fill("#id_closes_1", "16:00")
        page.fill("#id_phone", "12")  # a mistake first: said, and kept to correct
        page.locator("form.card button.primary").click()
        page.wait_for_selector(".error-summary")
        kept = page.locator("#id_phone").input_value()
        looked_at(browser, "about-refused")
        page.fill("#id_phone", "02 123 4567")
        page.locator("form.card button.primary").click()
        page.wait_for_selector("#shown-heading")
        looked_at(browser, "about-saved")
        page.context.clear_cookies()  # now as a patient, not signed in
        browser.open(f"/?service=general-checkup&lang={language}&from={TUESDAY}")
        found = page.locator("main").inner_text()
        looked_at(browser, "find-with-phone")
        browser.open(f"/book/slots/{slot.pk}?lang={language}")
        call = page.locator("a[href^='tel:']").first.get_attribute("href")
        looked_at(browser, "book-with-phone")
        return kept, found, call

    kept, found, call = in_browser(journey)

    assert kept == "12"
    assert "02 123 4567" in found
    assert call == "tel:+66-2-123-4567"
    assert HealthCentre.objects.get(number=1).phone == "+6621234567"


@pytest.mark.parametrize("language", ["th", "en"])
def test_withdrawing_a_lot_asks_first_then_texts_the_patient_it_no_longer_covers(
    in_browser, nurse_at_centre_1, patient, clock, language
):
    flu = Service.objects.get(code="vaccine-influenza")
    lot = stock_up(1, flu, 1, lot="FLU-1")
    visit = booked(patient, SlotFactory(service=flu, start=bangkok(TUESDAY, time(9))))
    key = enrol(nurse_at_centre_1)
    stock = "/staff/centres/1/stock"

    def journey(browser):
        page = browser.page
        sign_in(page, browser.base, "nurse1", key, stock)
        browser.open(f"{stock}?lang={language}")
        page.locator(f"a[href$='/stock/lots/{lot.pk}/withdraw']").click()
        page.fill("#id_reason", "Cold chain broken")
        looked_at(browser, "withdraw-asks")
        page.locator("form.card button.danger").click()
        page.wait_for_selector("#done-heading")
        done = page.locator("main").inner_text()
        looked_at(browser, "withdrawn")
        page.locator("a.button.primary[href$='/move-or-cancel']").click()
        listed = page.locator(f"input[name=appointment_ids][value='{visit.pk}']").count()
        looked_at(browser, "move-or-cancel-after-withdrawal")
        return done, listed

    done, listed = in_browser(journey)

    assert "1" in done
    assert listed == 1
    assert Message.objects.filter(appointment=visit, kind=Message.Kind.DRIVE_CHANGE).exists()
