"""Form widgets for the browser's own date and time pickers.

An `<input type="date">` holds ISO dates (2026-12-05) whatever the page's language, and shows
nothing for any other value. Django's DateInput writes its value in the active language's
format (05/12/2026 in Thai), so a Thai page showed an empty date and could not be saved.
These widgets always write ISO values; the fields read them in every language (Django takes
ISO input whatever the locale).
"""

from django import forms


class PickedDate(forms.DateInput):
    """A date from the browser's date picker: `2026-12-05`."""

    input_type = "date"

    def __init__(self, attrs: dict[str, str] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class PickedTime(forms.TimeInput):
    """A time of day from the browser's time picker, to the minute: `08:30`."""

    input_type = "time"

    def __init__(self, attrs: dict[str, str] | None = None) -> None:
        super().__init__(attrs=attrs, format="%H:%M")


class PickedDateTime(forms.DateTimeInput):
    """A date and time from the browser's picker (`datetime-local`): `2026-12-05T08:00`."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, str] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")
