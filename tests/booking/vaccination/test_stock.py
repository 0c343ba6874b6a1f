"""Stock positions: every vaccine of a centre in a fixed number of queries, each position as
the one-vaccine reading gives it; withdrawing a lot tells the patients it leaves uncovered."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from booking import notices
from booking.models import Appointment, Patient
from booking.vaccination.stock import (
    appointments_beyond_stock,
    positions_of_vaccines,
    stock_positions,
    stock_rows,
    withdraw_lot,
)
from clinics.models import AuditEvent, HealthCentre, Service
from notifications.messages import count_segments
from notifications.models import Message
from tests.factories import PatientFactory, SlotFactory, bangkok, booked, stock_up, vaccine

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


# --- Withdrawing a lot: who is told -------------------------------------------------------------


def three_booked_flu_visits() -> list[Appointment]:
    """Flu visits booked on three days from tomorrow at centre 1, by three people, soonest
    first; the slots hold one place each, so no free place is left to close."""
    flu = vaccine("vaccine-influenza")
    visits = []
    for days in (1, 2, 3):
        start = bangkok(timezone.localdate() + timedelta(days=days), time(10))
        visits.append(booked(PatientFactory(), SlotFactory(service=flu, start=start, capacity=1)))
    return visits


def told_about(kind: Message.Kind = Message.Kind.DRIVE_CHANGE) -> dict[int, Message]:
    return {message.appointment_id: message for message in Message.objects.filter(kind=kind)}


@pytest.mark.parametrize("language", ["th", "en"])
def test_withdrawing_a_lot_texts_the_latest_patients_the_stock_left_no_longer_covers(
    reference_data: None, clock, language: str
) -> None:
    flu = vaccine("vaccine-influenza")
    recalled = stock_up(1, flu, 3, lot="RECALLED")
    stock_up(1, flu, 1, lot="SPARE")
    _first, second, third = three_booked_flu_visits()
    Patient.objects.update(preferred_language=language)

    withdrawn = withdraw_lot(lot=recalled, reason="Recall notice 12/2569")

    assert [appointment.pk for appointment in withdrawn.affected] == [second.pk, third.pk]
    assert withdrawn.patients_told == 2
    told = told_about()
    assert set(told) == {second.pk, third.pk}
    for visit in (second, third):
        message = told[visit.pk]
        visit.refresh_from_db()
        assert message.body == notices.dose_not_covered(visit, language)
        assert message.language == language
        assert message.recipient == visit.patient.phone
        assert "/a/" in message.body
        assert count_segments(message.body).segments <= 3, message.body
    [event] = AuditEvent.objects.filter(action="stock.withdrawn")
    assert (event.details["appointments_beyond_stock"], event.details["patients_told"]) == (2, 2)


def test_the_text_waits_for_the_end_of_quiet_hours_as_other_texts_do(
    reference_data: None, clock
) -> None:
    clock.move_to(bangkok(timezone.localdate(), time(23)))
    recalled = stock_up(1, vaccine("vaccine-influenza"), 3)
    *_, latest = three_booked_flu_visits()

    withdraw_lot(lot=recalled, reason="Cold chain broken")

    message = told_about()[latest.pk]
    assert message.status == Message.Status.PENDING
    assert message.due_at == bangkok(timezone.localdate() + timedelta(days=1), time(8))


def test_nobody_is_texted_while_the_stock_left_covers_every_booked_dose(
    reference_data: None, clock
) -> None:
    flu = vaccine("vaccine-influenza")
    recalled = stock_up(1, flu, 5, lot="RECALLED")
    stock_up(1, flu, 3, lot="SPARE")
    three_booked_flu_visits()

    withdrawn = withdraw_lot(lot=recalled, reason="Recall")

    assert (withdrawn.affected, withdrawn.patients_told, withdrawn.shortfall) == ([], 0, 0)
    assert not told_about()
    assert appointments_beyond_stock(1) == []


def test_withdrawing_a_lot_again_tells_nobody_twice(reference_data: None, clock) -> None:
    recalled = stock_up(1, vaccine("vaccine-influenza"), 3)
    three_booked_flu_visits()
    withdraw_lot(lot=recalled, reason="Recall")

    again = withdraw_lot(lot=recalled, reason="Recall")

    assert (len(again.affected), again.patients_told) == (3, 0)
    assert Message.objects.filter(kind=Message.Kind.DRIVE_CHANGE).count() == 3


def test_those_beyond_the_stock_are_listed_until_a_delivery_covers_them(
    reference_data: None, clock
) -> None:
    flu = vaccine("vaccine-influenza")
    recalled = stock_up(1, flu, 3, lot="RECALLED")
    stock_up(1, flu, 1, lot="SPARE")
    _first, second, third = three_booked_flu_visits()
    withdraw_lot(lot=recalled, reason="Recall")

    assert [a.pk for a in appointments_beyond_stock(1)] == [second.pk, third.pk]
    assert appointments_beyond_stock(2) == []
    stock_up(1, flu, 1, lot="NEW")
    assert [a.pk for a in appointments_beyond_stock(1)] == [third.pk]
