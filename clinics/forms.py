"""Form widgets for the browser's own date and time pickers, and the centre facts form.

An `<input type="date">` holds ISO dates (2026-12-05) whatever the page's language, and shows
nothing for any other value. Django's DateInput writes its value in the active language's
format (05/12/2026 in Thai), so a Thai page showed an empty date and could not be saved.
These widgets always write ISO values; the fields read them in every language (Django takes
ISO input whatever the locale).
"""

from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinics.centre_facts import (
    OpeningPeriod,
    normalise_centre_phone,
    phone_as_written,
    validate_postcode,
)
from clinics.models import HealthCentre
from clinics.services import CentreFactsIn


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


WEEKDAY_NAMES = (
    gettext_lazy("Monday"),
    gettext_lazy("Tuesday"),
    gettext_lazy("Wednesday"),
    gettext_lazy("Thursday"),
    gettext_lazy("Friday"),
    gettext_lazy("Saturday"),
    gettext_lazy("Sunday"),
)


class CentreFactsForm(forms.Form):
    """A centre's address, phone and opening hours as its admins correct them: the phone as
    people write it, and for each weekday the time it opens and closes (both empty: closed)."""

    address_th = forms.CharField(
        label=gettext_lazy("Street address in Thai"),
        required=False,
        max_length=200,
        help_text=gettext_lazy(
            "House number, soi and road; the subdistrict and district are added."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    address_en = forms.CharField(
        label=gettext_lazy("Street address in English"), required=False, max_length=200
    )
    postcode = forms.CharField(
        label=gettext_lazy("Postcode"),
        required=False,
        max_length=5,
        validators=[validate_postcode],
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code"}),
    )
    phone = forms.CharField(
        label=gettext_lazy("Phone number"),
        required=False,
        max_length=30,
        help_text=gettext_lazy("As people dial it, e.g. 02 123 4567."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for day, name in enumerate(WEEKDAY_NAMES, start=1):
            self.fields[f"opens_{day}"] = forms.TimeField(
                label=format_lazy(gettext_lazy("{day}: opens"), day=name),
                required=False,
                widget=PickedTime(),
            )
            self.fields[f"closes_{day}"] = forms.TimeField(
                label=format_lazy(gettext_lazy("{day}: closes"), day=name),
                required=False,
                widget=PickedTime(),
            )

    @classmethod
    def initial_for(cls, centre: HealthCentre) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "address_th": centre.address_th,
            "address_en": centre.address_en,
            "postcode": centre.postcode,
            "phone": phone_as_written(centre.phone) if centre.phone else "",
        }
        for period in centre.opening_periods:
            initial[f"opens_{period.day}"] = period.opens
            initial[f"closes_{period.day}"] = period.closes
        return initial

    def weekdays(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        """Each weekday's name with its two fields, for the page's table of hours."""
        return [
            (str(name), self[f"opens_{day}"], self[f"closes_{day}"])
            for day, name in enumerate(WEEKDAY_NAMES, start=1)
        ]

    def clean_phone(self) -> str:
        """Checked here too, so that every mistake shows at once (the service checks again)."""
        phone: str = self.cleaned_data["phone"]
        normalise_centre_phone(phone)
        return phone

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for day in range(1, 8):
            opens, closes = cleaned.get(f"opens_{day}"), cleaned.get(f"closes_{day}")
            if (opens is None) != (closes is None):
                missing = f"closes_{day}" if closes is None else f"opens_{day}"
                if missing not in self.errors:
                    self.add_error(
                        missing, _("Give both times, or neither for a day the centre is closed.")
                    )
            elif opens is not None and closes is not None and closes <= opens:
                self.add_error(f"closes_{day}", _("Closing time must be after opening time."))
        return cleaned

    def facts(self) -> CentreFactsIn:
        data = self.cleaned_data
        return CentreFactsIn(
            address_th=data["address_th"],
            address_en=data["address_en"],
            postcode=data["postcode"],
            phone=data["phone"],
            opening_hours=tuple(
                OpeningPeriod(day, data[f"opens_{day}"], data[f"closes_{day}"])
                for day in range(1, 8)
                if data.get(f"opens_{day}") is not None and data.get(f"closes_{day}") is not None
            ),
        )
