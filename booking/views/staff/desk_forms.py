"""The desk's forms: finding a person, registering one after seeing their ID card, and
choosing the best time's service and district."""

from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from booking.models import Patient
from booking.selectors.desk import PersonQuery, person_query
from booking.services.patients import PersonDetails
from booking.views.passcode_flow import RegistrationForm
from clinics.exceptions import DomainError
from clinics.forms import PickedDate
from clinics.models import District, Service
from clinics.refusals import Refusal

NOT_ADDED = ""


def _from_buddhist_era(born: date | None) -> date | None:
    """A year of the Buddhist Era (2528) read as its Christian-era year (1985), as the
    registration form reads it."""
    if born is None or born.year < RegistrationForm.BUDDHIST_ERA_FROM:
        return born
    return born.replace(year=born.year - 543, day=min(born.day, 28 if born.month == 2 else 31))


class PersonSearchForm(forms.Form):
    national_id = forms.CharField(
        label=gettext_lazy("Thai national ID (13 digits)"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    phone = forms.CharField(
        label=gettext_lazy("Or their mobile phone"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    name = forms.CharField(
        label=gettext_lazy("Or their name"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    date_of_birth = forms.DateField(
        label=gettext_lazy("and their date of birth"),
        required=False,
        widget=PickedDate(attrs={"autocomplete": "off"}),
    )

    def clean_date_of_birth(self) -> date | None:
        return _from_buddhist_era(self.cleaned_data.get("date_of_birth"))

    def query(self) -> PersonQuery | None:
        """The search, or None with the reason on the form's field."""
        data = self.cleaned_data
        try:
            return person_query(
                national_id=data["national_id"],
                phone=data["phone"],
                name=data["name"],
                date_of_birth=data["date_of_birth"],
            )
        except DomainError as error:
            Refusal(error).add_to(self)
            return None


class DeskRegistrationForm(RegistrationForm):
    phone = forms.CharField(
        label=gettext_lazy("Mobile phone, if they have one"),
        help_text=gettext_lazy("Texts about their appointments go here. Leave it empty if none."),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    household = forms.ChoiceField(
        label=gettext_lazy("If that phone already has an account"),
        help_text=gettext_lazy(
            "Add them to its household only if they and the account holder agree."
        ),
        required=False,
        choices=[
            (NOT_ADDED, gettext_lazy("Do not add them to it")),
            *[
                (value, label)
                for value, label in Patient.Relationship.choices
                if value != Patient.Relationship.SELF
            ],
        ],
    )
    preferred_language = forms.ChoiceField(
        label=gettext_lazy("Language of their texts"), choices=Patient.Language.choices
    )
    id_card_seen = forms.BooleanField(
        label=gettext_lazy("I have seen their ID card or passport and the details match it"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Someone else's details: the browser should not offer the member of staff's own.
        for name in ("first_name", "last_name", "date_of_birth"):
            self.fields[name].widget.attrs["autocomplete"] = "off"
        self.fields["national_id"].label = gettext_lazy("Thai national ID (13 digits)")
        self.fields["passport_number"].label = gettext_lazy("Passport number, if not Thai")

    def person(self) -> PersonDetails:
        data = self.cleaned_data
        return PersonDetails(
            first_name=data["first_name"],
            last_name=data["last_name"],
            date_of_birth=data["date_of_birth"],
            sex=Patient.Sex(data["sex"]),
            phone=data["phone"],
            national_id=data["national_id"],
            passport_number=data["passport_number"],
            preferred_language=Patient.Language(data["preferred_language"]),
        )

    def household_relationship(self) -> Patient.Relationship | None:
        chosen = self.cleaned_data.get("household") or NOT_ADDED
        return None if chosen == NOT_ADDED else Patient.Relationship(chosen)


class NamedChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    """Services and districts by their name in the page's language."""

    language = "th"

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name_in(self.language))


class BestTimeForm(forms.Form):
    service = NamedChoiceField(
        label=gettext_lazy("Service"),
        queryset=Service.objects.none(),
        to_field_name="code",
        empty_label=gettext_lazy("Choose"),
    )
    district = NamedChoiceField(
        label=gettext_lazy("Near district (optional)"),
        help_text=gettext_lazy("Without one: near their home district, or else this centre."),
        queryset=District.objects.none(),
        required=False,
        empty_label=gettext_lazy("Their home district"),
    )

    def __init__(self, *args: Any, language: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        service = self.fields["service"]
        district = self.fields["district"]
        assert isinstance(service, NamedChoiceField)
        assert isinstance(district, NamedChoiceField)
        service.queryset = Service.objects.filter(is_active=True).order_by("code")
        district.queryset = District.objects.order_by("code")
        service.language = district.language = language
