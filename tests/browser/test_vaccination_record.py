"""A vaccination record people can show (issue 20), in a real browser on a phone, in Thai and
English: the record page with its QR code, printed as the record alone, and the public check
the code leads to. axe-core on each page."""

from datetime import date

import pytest

from tests.booking.vaccination.test_records import give_dose
from tests.browser.test_whole_journeys import looked_at, sign_in_as
from tests.factories import stock_up, vaccine


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_patient_shows_their_record_and_anyone_can_check_it(in_browser, patient, clock, language):
    stock_up(1, vaccine(), 10)
    give_dose(patient, clock, date(2026, 12, 1))

    def journey(browser):
        page = browser.page
        sign_in_as(browser, patient, language)
        page.locator(f"a[href='/me/people/{patient.pk}/vaccinations']").click()
        page.wait_for_selector(".qr svg")
        record = page.locator("main").inner_text()
        looked_at(browser, "record")
        page.emulate_media(media="print")
        printed = {
            "nav": page.locator("nav.tabs").is_visible(),
            "withdraw": page.locator("button[value=withdraw]").is_visible(),
            "qr": page.locator(".qr svg").is_visible(),
        }
        page.emulate_media(media="screen")
        check = page.locator(".link-text").inner_text()
        browser.page.goto(check)
        checked = page.locator("main").inner_text()
        looked_at(browser, "check")
        return record, printed, checked

    record, printed, checked = in_browser(journey)

    assert ("1 ธ.ค. 2569" if language == "th" else "1 Dec 2026") in record
    assert "LOT-1" in record
    assert printed == {"nav": False, "withdraw": False, "qr": True}
    assert patient.first_name in checked
    assert "LOT-1" in checked
