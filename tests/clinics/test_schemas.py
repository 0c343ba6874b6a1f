"""The API's shared field types (clinics/schemas.py)."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone
from pydantic import TypeAdapter

from clinics.schemas import BangkokDateTime

SHOWN = TypeAdapter(BangkokDateTime)


def test_a_datetime_is_shown_in_bangkok_time_whatever_zone_is_active():
    at = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)

    assert SHOWN.dump_python(at) == "2026-12-07T09:30:00+07:00"
    with timezone.override("Europe/London"):
        assert SHOWN.dump_python(at) == "2026-12-07T09:30:00+07:00"


def test_a_datetime_without_a_zone_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="naive"):
        SHOWN.dump_python(datetime(2026, 12, 7, 9, 30))  # noqa: DTZ001 - naive on purpose
