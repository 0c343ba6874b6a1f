"""Staff read the outbox in the admin: their centres' messages only, and read-only."""

from datetime import date

import pytest

from notifications.models import Message

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)


def test_the_admin_lists_messages_read_only_for_the_centres_staff(
    texted_visit, nurse_at_centre_1, staff_at_centre_2, client_for
):
    message = Message.objects.filter(appointment=texted_visit).first()
    assert message is not None

    own = client_for(nurse_at_centre_1).get("/admin/notifications/message/")
    detail = client_for(nurse_at_centre_1).get(f"/admin/notifications/message/{message.pk}/change/")
    other = client_for(staff_at_centre_2).get(f"/admin/notifications/message/{message.pk}/change/")

    assert own.status_code == 200
    assert texted_visit.patient.phone in own.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()  # read-only: no save button
    assert other.status_code in (302, 403)
