"""Taking a place in a slot (booking.services.places, and the booking function's last step)."""

import pytest
from django.db import connection

from booking.models import Slot
from tests.factories import PatientFactory, SlotFactory, book


def _slot_updates() -> tuple[int, int]:
    """Slot rows this transaction has updated so far, and how many of those updates were HOT:
    written beside the old row on its page, with no new entry in any of the slot's indexes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated(%s::regclass), "
            "pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
            [Slot._meta.db_table] * 2,
        )
        updated, hot = cursor.fetchone()
    return int(updated), int(hot)


@pytest.mark.django_db
def test_is_full_follows_the_places_taken_and_given_back(engine: str):
    slot = SlotFactory(capacity=2)
    assert not slot.is_full

    book(PatientFactory(), slot)
    slot.refresh_from_db()
    assert (slot.booked, slot.is_full) == (1, False)
    book(PatientFactory(), slot)
    slot.refresh_from_db()
    assert (slot.booked, slot.is_full) == (2, True)

    Slot.objects.filter(pk=slot.pk).update(capacity=3)
    slot.refresh_from_db()
    assert not slot.is_full


@pytest.mark.django_db
@pytest.mark.postgresql
def test_taking_a_place_writes_no_index_of_the_slot_but_for_the_last_place(engine: str):
    slot = SlotFactory(capacity=3)
    updated_before, hot_before = _slot_updates()

    for _ in range(3):
        book(PatientFactory(), slot)

    updated, hot = _slot_updates()
    assert updated - updated_before == 3
    # The last place takes the slot out of the open-slot index (is_full changes): only that
    # update writes the slot's indexes.
    assert hot - hot_before == 2


@pytest.mark.django_db
@pytest.mark.postgresql
def test_the_slots_pages_keep_room_for_the_places_taken():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [Slot._meta.db_table]
        )
        (options,) = cursor.fetchone()

    assert "fillfactor=80" in options
