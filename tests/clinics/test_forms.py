"""The browser's date and time pickers get ISO values whatever the page's language."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django import forms
from django.utils import translation

from clinics.forms import PickedDate, PickedDateTime, PickedTime

BANGKOK = ZoneInfo("Asia/Bangkok")


class _When(forms.Form):
    day = forms.DateField(widget=PickedDate())
    at = forms.TimeField(widget=PickedTime())
    opens = forms.DateTimeField(
        widget=PickedDateTime(), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
    )


@pytest.mark.parametrize("language", ["th", "en"])
def test_the_pickers_show_and_read_iso_values_in_every_language(language: str) -> None:
    with translation.override(language):
        shown = _When(
            initial={
                "day": date(2026, 12, 5),
                "at": time(8, 30),
                "opens": datetime(2026, 12, 5, 8, tzinfo=BANGKOK),
            }
        )
        posted = _When(data={"day": "2026-12-05", "at": "08:30", "opens": "2026-12-05T08:00"})

        assert 'type="date" name="day" value="2026-12-05"' in str(shown["day"])
        assert 'type="time" name="at" value="08:30"' in str(shown["at"])
        assert 'type="datetime-local" name="opens" value="2026-12-05T08:00"' in str(shown["opens"])
        assert posted.is_valid(), posted.errors
        assert posted.cleaned_data["day"] == date(2026, 12, 5)
        assert posted.cleaned_data["at"] == time(8, 30)
