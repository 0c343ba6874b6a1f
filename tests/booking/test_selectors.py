from datetime import date, time

import pytest
from django.db import connection

from booking.models import Slot
from booking.selectors import SlotOrder, SlotSearch, best_open_slots, search_open_slots
from clinics.models import HealthCentre, Service
from clinics.selectors import active_centres, rank_centres
from tests.factories import SlotFactory, bangkok

pytestmark = pytest.mark.django_db


def flu_search(**changes: object) -> SlotSearch:
    values: dict[str, object] = {
        "service": Service.objects.get(code="vaccine-influenza"),
        "date_from": date(2026, 11, 30),
        "date_to": date(2026, 12, 14),
    }
    values.update(changes)
    return SlotSearch(**values)  # type: ignore[arg-type]


def flu_slot(centre: int, day: date, at: time, **fields: object) -> Slot:
    return SlotFactory(
        centre=HealthCentre.objects.get(number=centre),
        service=Service.objects.get(code="vaccine-influenza"),
        start=bangkok(day, at),
        **fields,
    )


def spread_slots() -> None:
    """Open times at many centres, some full or closed, the last ranked centres the earliest."""
    for number in (1, 9, 12, 25, 40, 60):
        flu_slot(number, date(2026, 12, 3), time(9, 0))
        flu_slot(number, date(2026, 12, 1), time(14, 0))
    flu_slot(1, date(2026, 12, 1), time(8, 0), capacity=2, booked=2)
    flu_slot(9, date(2026, 12, 1), time(8, 0), closed=True)


def test_best_open_slots_are_the_first_of_the_slot_search(reference_data, patient):
    spread_slots()
    search = flu_search(district=patient.district)

    best = best_open_slots(search, limit=5)

    expected = search_open_slots(search, page=1, page_size=5).items
    assert [option.slot.pk for option in best] == [option.slot.pk for option in expected]
    assert [option.place.centre.number for option in best] == [9, 9, 1, 1, 12]


def test_best_open_slots_ask_one_query_however_many_centres(
    reference_data, patient, django_assert_max_num_queries
):
    spread_slots()
    search = flu_search(district=patient.district)
    best_open_slots(search, limit=3)  # ranks the centres of the district once

    with django_assert_max_num_queries(1):
        best = best_open_slots(search, limit=25)

    assert len(best) == 12


def test_best_open_slots_skip_a_centre_closed_since_the_order_was_kept(reference_data, patient):
    spread_slots()
    search = flu_search(district=patient.district)
    best_open_slots(search, limit=3)
    # Another process closes the centre: this process's order still names it.
    HealthCentre.objects.filter(number=1).update(is_active=False)

    best = best_open_slots(search, limit=3)

    assert [option.place.centre.number for option in best] == [9, 9, 12]


def test_best_open_slots_forget_the_order_when_a_centre_changes_here(reference_data, patient):
    spread_slots()
    search = flu_search(district=patient.district)
    best_open_slots(search, limit=3)
    centre = HealthCentre.objects.get(number=9)
    centre.is_active = False
    centre.save()

    with_home_centre_gone = best_open_slots(search, limit=3)

    assert [option.place.centre.number for option in with_home_centre_gone] == [1, 1, 12]


@pytest.mark.parametrize("order", list(SlotOrder))
def test_the_slot_search_pages_through_every_open_slot_in_one_order(reference_data, patient, order):
    spread_slots()
    flu_slot(25, date(2026, 12, 2), time(9, 0), opens_at=bangkok(date(2026, 12, 1), time(8, 0)))
    search = flu_search(district=patient.district, order=order)
    ranked = rank_centres(
        active_centres().filter(services=search.service),
        district=patient.district,
        latitude=None,
        longitude=None,
    )
    rank = {place.centre.number: n for n, place in enumerate(ranked)}

    pages = [search_open_slots(search, page=n, page_size=5) for n in (1, 2, 3, 4)]

    assert [page.count for page in pages] == [12, 12, 12, 12]  # not full, closed or unreleased
    assert [len(page.items) for page in pages] == [5, 5, 2, 0]
    slots = [option.slot for page in pages for option in page.items]
    if order == SlotOrder.NEAREST:
        expected = sorted(slots, key=lambda slot: (rank[slot.centre_id], slot.start, slot.pk))
    else:
        expected = sorted(slots, key=lambda slot: (slot.start, rank[slot.centre_id], slot.pk))
    assert slots == expected
    assert len(set(slots)) == 12


def test_the_slot_search_leaves_out_a_centre_closed_since_the_order_was_kept(
    reference_data, patient
):
    spread_slots()
    search = flu_search(district=patient.district)
    search_open_slots(search, page=1, page_size=5)
    HealthCentre.objects.filter(number=9).update(is_active=False)  # as another process would

    found = search_open_slots(search, page=1, page_size=5)

    assert found.count == 10
    assert 9 not in {option.place.centre.number for option in found.items}


def test_the_slot_search_is_one_query_on_postgresql(
    reference_data, patient, django_assert_max_num_queries
):
    spread_slots()
    search = flu_search(district=patient.district)
    search_open_slots(search, page=1, page_size=5)  # ranks the district's centres once

    with django_assert_max_num_queries(1 if connection.vendor == "postgresql" else 3):
        found = search_open_slots(search, page=2, page_size=5)

    assert found.count == 12
    assert len(found.items) == 5
