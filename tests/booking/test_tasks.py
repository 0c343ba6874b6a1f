from datetime import time, timedelta

import pytest

from booking.models import Slot
from booking.tasks import extend_slot_horizon
from tests.conftest import NOW
from tests.factories import ScheduleTemplateFactory, bangkok

pytestmark = pytest.mark.django_db


def test_the_nightly_task_extends_the_horizon_and_is_safe_to_run_twice(reference_data, clock):
    ScheduleTemplateFactory(weekdays="1234567", start_time=time(9), end_time=time(10))

    first = extend_slot_horizon.apply().get()
    again = extend_slot_horizon.apply().get()
    clock.move_to(bangkok(NOW.date() + timedelta(days=1), time(1, 5)))
    next_night = extend_slot_horizon.apply().get()

    assert first["created"] > 0
    assert again == {"created": 0, "changed": 0}
    assert next_night["created"] == 4  # one more day of four 15-minute slots
    assert Slot.objects.count() == first["created"] + 4


def test_the_task_is_scheduled_nightly_by_beat():
    from config.celery import app

    entry = app.conf.beat_schedule["extend-slot-horizon"]
    assert entry["task"] == extend_slot_horizon.name
    assert entry["schedule"].hour == {1}
