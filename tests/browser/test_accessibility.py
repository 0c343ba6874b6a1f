"""axe-core on the pages patients reach without signing in, in Thai and in English, at phone
size: no serious or critical violation. (The signed-in patient and staff pages are checked in
their journeys.)"""

from datetime import date, time

import pytest

from booking.links import appointment_link_token, video_join_token
from clinics.models import Service
from tests.factories import SlotFactory, bangkok, booked

TUESDAY = date(2026, 12, 1)


@pytest.mark.parametrize("language", ["th", "en"])
def test_the_pages_a_patient_opens_without_signing_in_have_no_serious_violation(
    in_browser, patient, language
):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    visit = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(11))))
    video = booked(
        patient,
        SlotFactory(
            service=Service.objects.get(code="video-general"), start=bangkok(TUESDAY, time(14))
        ),
    )
    pages = [
        "/",
        "/?service=general-checkup",
        "/?service=general-checkup&from=nonsense",
        "/sign-in",
        f"/book/slots/{slot.pk}",
        f"/a/{appointment_link_token(visit.pk)}",
        f"/v/{video_join_token(video.pk)}",
        "/staff/sign-in",
    ]

    def journey(browser):
        seen = []
        for path in pages:
            separator = "&" if "?" in path else "?"
            browser.open(f"{path}{separator}lang={language}")
            assert browser.page.get_attribute("html", "lang") == language
            browser.check_accessibility()
            seen.append(path)
        return seen

    assert in_browser(journey) == pages
