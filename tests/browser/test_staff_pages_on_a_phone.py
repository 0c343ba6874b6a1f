"""The staff pages on a 390 px phone, in Thai and in English: no page scrolls sideways, the
queue is read as one card per visit with its next step in view, every button and link in a
list or table is a tap target of at least 44 by 44 px, scrollable regions take keyboard
focus, and axe-core finds no serious violation. Screenshots are kept."""

from datetime import date, time

import pytest

from booking.services.schedules import add_closure
from booking.vaccination.drives import create_drive
from booking.vaccination.stock import receive_lot
from clinics.models import HealthCentre, Service
from tests.browser.test_staff_journeys import enrol, sign_in
from tests.factories import (
    PatientFactory,
    ScheduleTemplateFactory,
    SlotFactory,
    bangkok,
    booked,
    drive_fields,
)

MONDAY = date(2026, 11, 30)  # the clock fixture's day

# What a page may not do on a phone, measured in the browser.
MEASURE = """() => {
    const wide = document.documentElement.scrollWidth;
    const small = [];
    const targets = document.querySelectorAll(
        "main button, main .button, main td a, main li > a, main .row-actions a, main summary"
    );
    for (const target of targets) {
        const box = target.getBoundingClientRect();
        if (box.width === 0 && box.height === 0) continue;  // not shown
        if (box.width < 44 || box.height < 44) {
            small.push(`${target.tagName} "${target.innerText.trim().slice(0, 30)}" `
                + `${Math.round(box.width)}x${Math.round(box.height)}`);
        }
    }
    const beyond = [];  // what sticks out of the page, outside a region that scrolls
    for (const element of document.querySelectorAll("body *")) {
        if (element.getBoundingClientRect().right <= window.innerWidth + 1) continue;
        let inside = element.parentElement;
        while (inside && !["auto", "scroll"].includes(getComputedStyle(inside).overflowX)) {
            inside = inside.parentElement;
        }
        if (!inside) beyond.push(`${element.tagName}.${element.className}`);
    }
    return {wide, viewport: window.innerWidth, small, beyond: beyond.slice(0, 5)};
}"""


@pytest.mark.parametrize("language", ["th", "en"])
def test_the_staff_pages_fit_a_phone(in_browser, admin_at_centre_1, clock, language):
    centre = HealthCentre.objects.get(number=1)
    checkup = Service.objects.get(code="general-checkup")
    for hour, name in ((9, "Somsri"), (10, "Malee")):
        booked(PatientFactory(first_name=name), SlotFactory(start=bangkok(MONDAY, time(hour))))
    ScheduleTemplateFactory(centre=centre, service=checkup)
    add_closure(
        centre=centre, start_date=date(2026, 12, 21), end_date=date(2026, 12, 22), reason_th="ซ่อม"
    )
    flu = Service.objects.get(code="vaccine-influenza")
    receive_lot(
        centre=centre, service=flu, lot_number="FLU-2026-A", expires_on=date(2027, 6, 30),
        doses=200, received_by=admin_at_centre_1,
    )  # fmt: skip
    drive = create_drive(fields=drive_fields(centres=[centre]), created_by=admin_at_centre_1)
    key = enrol(admin_at_centre_1)
    pages = [
        "/staff/centres/1/today",
        "/staff/centres/1/desk",
        "/staff/centres/1/desk/register",
        "/staff/centres/1/walk-ins",
        "/staff/centres/1/about",
        "/staff/centres/1/week",
        "/staff/centres/1/schedules",
        "/staff/centres/1/closures",
        "/staff/centres/1/move-or-cancel",
        "/staff/centres/1/stock",
        "/staff/centres/1/dashboard",
        "/staff/drives",
        f"/staff/drives/{drive.pk}",
        "/staff/centres/1/audit",
    ]

    def journey(browser):
        page = browser.page
        sign_in(page, browser.base, "admin1", key, pages[0])
        found = {}
        for path in pages:
            browser.open(f"{path}?lang={language}")
            browser.check_accessibility()
            found[path] = page.evaluate(MEASURE)
            browser.screenshot(path.strip("/").replace("/", "-"))
        browser.open(f"{pages[0]}?lang={language}")
        first = page.locator("tr[data-appointment-id]").first
        found["first visit in view"] = first.bounding_box()["y"] + 40 < 844
        found["its next step in view"] = first.locator("button").first.is_visible()
        return found

    found = in_browser(journey)

    for path in pages:
        measured = found[path]
        assert measured["wide"] <= measured["viewport"], f"{path} scrolls sideways: {measured}"
        assert not measured["beyond"], f"{path} sticks out: {measured}"
        assert not measured["small"], f"{path} has small tap targets: {measured['small']}"
    assert found["first visit in view"]
    assert found["its next step in view"]
