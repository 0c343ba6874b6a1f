"""A patient's journeys in a real browser, at phone size, Thai first: find the best time near
home, sign in with the texted passcode, book it, see the confirmation and the appointment in
their list, and cancel it. Each page is checked with axe-core in Thai and in English and kept
as phone and desktop screenshots."""

from concurrent.futures import ThreadPoolExecutor
from datetime import date, time

from booking.models import Appointment, DeletionRequest
from clinics.models import HealthCentre, Service
from tests.factories import SlotFactory, bangkok, passcode_texted_to

TUESDAY = date(2026, 12, 1)


def in_a_thread(work, *args):
    """The ORM refuses to run in Playwright's thread (it has an event loop): ask another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work, *args).result()


def test_a_patient_finds_books_sees_and_cancels_an_appointment(in_browser, patient):
    flu = Service.objects.get(code="vaccine-influenza")
    home = HealthCentre.objects.get(number=3)
    SlotFactory(
        service=flu, centre=HealthCentre.objects.get(number=40), start=bangkok(TUESDAY, time(9))
    )
    near = SlotFactory(service=flu, centre=home, start=bangkok(TUESDAY, time(10)))
    phone = patient.phone

    def journey(browser):
        page = browser.page
        browser.open("/")
        assert page.get_attribute("html", "lang") == "th"
        browser.check_accessibility()
        browser.screenshot("find")
        page.select_option("#service", "vaccine-influenza")
        page.select_option("#district", str(home.district_id))
        page.locator("#find-form button.primary").click()
        page.wait_for_selector(".best")
        assert "2569" in page.locator(".best").inner_text()
        browser.check_accessibility()
        browser.screenshot("results")
        page.locator(".best a").click()
        page.wait_for_url(f"**/book/slots/{near.pk}")
        browser.check_accessibility()
        page.fill("#phone", phone)
        page.locator("button[value=send_code]").click()
        code = in_a_thread(passcode_texted_to, phone)
        page.fill("#code", code)
        page.locator("button[value=sign_in]").click()
        page.wait_for_selector("button[value=book]")
        browser.check_accessibility()
        browser.screenshot("choose-who")
        page.locator("button[value=book]").click()
        page.wait_for_url("**/me/appointments/*?booked=1")
        confirmation = page.locator("main").inner_text()
        browser.check_accessibility()
        browser.screenshot("booked")
        page.get_by_role("link", name="English").click()
        page.wait_for_selector("html[lang=en]")
        english = page.locator("main").inner_text()
        browser.check_accessibility()
        page.locator("nav.tabs a[href='/me/']").click()
        page.wait_for_url("**/me/")
        listed = page.locator(".appointment").count()
        browser.check_accessibility()
        browser.screenshot("my-appointments")
        page.locator(".appointment a").first.click()
        page.locator("button[name=cancel]").click()  # asks again first
        page.wait_for_selector("button[value=cancel]")
        asked = page.locator("#cancel").inner_text()
        browser.check_accessibility()
        browser.screenshot("cancel-asks-again")
        page.locator("button[value=cancel]").click()
        page.wait_for_selector(".notice.success")
        badge = page.locator(".badge").inner_text()
        page.locator("nav.tabs a[href='/me/']").click()
        page.wait_for_url("**/me/")
        page.locator("a[href='/me/delete']").click()
        page.wait_for_url("**/me/delete")
        browser.check_accessibility()
        browser.screenshot("erase-my-data")
        page.check("#confirm")
        page.locator("form button.danger").click()
        page.wait_for_selector(".notice.success")
        browser.check_accessibility()
        return confirmation, english, listed, asked, badge

    confirmation, english, listed, asked, badge = in_browser(journey)

    appointment = Appointment.objects.get(slot=near)
    assert "2569" in confirmation
    assert "What happens next" in english
    # Booked at 07:00, inside the night's quiet hours: the page says when the text will come.
    assert "We will text you a confirmation at" in english
    assert "Cancel this appointment?" in asked
    assert listed == 1
    assert appointment.status == Appointment.Status.CANCELLED
    assert badge == "Cancelled"
    assert DeletionRequest.objects.filter(patient=patient, status="pending").exists()


def test_near_me_uses_the_browsers_location(in_browser, reference_data):
    flu = Service.objects.get(code="vaccine-influenza")
    far = SlotFactory(
        service=flu, centre=HealthCentre.objects.get(number=40), start=bangkok(TUESDAY, time(9))
    )
    centre_1 = HealthCentre.objects.get(number=1)
    SlotFactory(service=flu, centre=centre_1, start=bangkok(TUESDAY, time(11)))

    def journey(browser):
        page = browser.page
        browser.open("/?lang=en")
        page.select_option("#service", "vaccine-influenza")
        page.get_by_role("button", name="Use my location").click()
        page.wait_for_selector(".best")
        browser.check_accessibility()
        return page.url, page.locator("article h3").first.inner_text()

    url, first_centre = in_browser(
        journey,
        geolocation={"latitude": float(centre_1.latitude), "longitude": float(centre_1.longitude)},
        permissions=["geolocation"],
    )

    assert "lat=" in url
    assert first_centre == centre_1.name_en
    assert far.centre.name_en != first_centre
