"""axe-core on the pages patients reach without signing in, in Thai and in English, at phone
size: no serious or critical violation. (The signed-in patient and staff pages are checked in
their journeys.)"""

from datetime import date, time

import pytest

from booking.links import appointment_link_token, video_join_token
from booking.services.consent import record_video_consent
from clinics.models import Service
from tests.factories import PatientFactory, SlotFactory, bangkok, booked

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
    # Someone who has given their video consent: the room itself, a day early.
    consented = PatientFactory()
    record_video_consent(patient=consented, by=None, address=None)
    room = booked(
        consented,
        SlotFactory(
            service=Service.objects.get(code="video-general"), start=bangkok(TUESDAY, time(15))
        ),
    )
    early_room = f"/v/{video_join_token(room.pk)}"
    pages = [
        "/",
        "/?service=general-checkup",
        "/?service=general-checkup&from=nonsense",
        "/sign-in",
        f"/book/slots/{slot.pk}",
        f"/a/{appointment_link_token(visit.pk)}",
        f"/v/{video_join_token(video.pk)}",
        "/staff/sign-in",
        early_room,
    ]

    def journey(browser):
        seen = []
        for path in pages:
            separator = "&" if "?" in path else "?"
            browser.open(f"{path}{separator}lang={language}")
            assert browser.page.get_attribute("html", "lang") == language
            browser.check_accessibility()
            seen.append(path)
            if path == early_room:  # a day early: the room counts down, Join waits
                countdown = browser.page.locator("#opens-in")
                countdown.wait_for(state="visible")
                waits = (countdown.inner_text(), browser.page.is_disabled("#join-button"))
        return seen, waits

    seen, (countdown, join_disabled) = in_browser(journey)
    assert seen == pages
    assert ":" in countdown  # hours:minutes:seconds to the opening
    assert join_disabled
