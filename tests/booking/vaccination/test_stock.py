"""Stock positions: every vaccine of a centre in a fixed number of queries, each position as
the one-vaccine reading gives it."""

from datetime import timedelta

import pytest

from booking.vaccination.stock import positions_of_vaccines, stock_positions, stock_rows
from clinics.models import HealthCentre, Service
from tests.factories import PatientFactory, SlotFactory, booked, stock_up, vaccine

pytestmark = pytest.mark.django_db


def vaccines_in_stock(count: int) -> list[Service]:
    """`count` vaccines delivered to centre 1, each with a slot booked once."""
    chosen = list(Service.objects.filter(kind=Service.Kind.VACCINATION).order_by("code")[:count])
    for number, service in enumerate(chosen):
        stock_up(1, service, 10 + number)
        slot = SlotFactory(service=service, capacity=3 + number)
        booked(PatientFactory(), slot)
    return chosen


def test_the_stock_page_reads_every_vaccine_in_seven_queries_however_many(
    reference_data: None, django_assert_num_queries
) -> None:
    vaccines_in_stock(3)
    centre = HealthCentre.objects.get(number=1)

    with django_assert_num_queries(7):
        rows = stock_rows(centre)

    assert [row["service"].code for row in rows] == sorted(row["service"].code for row in rows)
    assert len(rows) >= 3


def test_each_vaccine_s_position_is_the_one_vaccine_reading_s(reference_data: None) -> None:
    chosen = vaccines_in_stock(2)
    stock_up(2, chosen[0], 7, lot="LOT-2")

    together = positions_of_vaccines(centre_ids=[1, 2], services=chosen)

    for service in chosen:
        alone = stock_positions(centre_ids=[1, 2], service=service)
        for number in (1, 2):
            assert together[(number, service.pk)] == alone[number]
    first = together[(1, chosen[0].pk)]
    assert (first.on_hand, first.booked, first.open_places) == (10, 1, 2)
    assert together[(2, chosen[0].pk)].on_hand == 7


def test_an_expired_lot_is_not_on_hand(reference_data: None, clock) -> None:
    flu = vaccine("vaccine-influenza")
    stock_up(1, flu, 5)
    clock.shift(timedelta(days=400))

    assert positions_of_vaccines(centre_ids=[1], services=[flu])[(1, flu.pk)].on_hand == 0
