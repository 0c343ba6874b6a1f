"""Signing a patient in on a page, in steps kept in the session: the phone number, the code
texted to it, and (for a number no account uses yet) who they are. The booking page and the
sign-in page both walk these steps."""

import math
from datetime import date, datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from booking.exceptions import NotRegistered
from booking.models import Patient
from booking.services.passcodes import register_with_code, send_sign_in_code, sign_in_with_code
from booking.services.patients import PersonDetails
from booking.views.form_errors import first_form_error
from clinics.centre_facts import phone_as_written
from clinics.exceptions import DomainError, InvalidInput
from clinics.forms import PickedDate

# The phone a passcode was sent to, whether it has no account yet, and the code that will open
# one, kept in the session between the steps.
PHONE_KEY = "book-page-phone"
NEW_KEY = "book-page-new-account"
CODE_KEY = "book-page-code"
TYPED_KEY = "book-page-registration"
RESEND_KEY = "book-page-resend-after"
STEPS = ("send_code", "change_phone", "sign_in", "register")


class RegistrationForm(forms.Form):
    first_name = forms.CharField(
        label=gettext_lazy("First name"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label=gettext_lazy("Last name"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    date_of_birth = forms.DateField(
        label=gettext_lazy("Date of birth"),
        help_text=gettext_lazy(
            "A year of the Buddhist Era (such as 2528) is read as its Christian-era year (1985)."
        ),
        widget=PickedDate(attrs={"autocomplete": "bday"}),
    )
    # Nothing chosen for them: a preset answer is too easily left as it is.
    sex = forms.ChoiceField(
        label=gettext_lazy("Sex"), choices=[("", gettext_lazy("Choose")), *Patient.Sex.choices]
    )
    national_id = forms.CharField(
        label=gettext_lazy("Thai national ID (13 digits)"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    passport_number = forms.CharField(
        label=gettext_lazy("Passport number, if you are not Thai"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    # The Buddhist Era's years run 543 ahead; no one alive was born in 2400 of ours.
    BUDDHIST_ERA_FROM = 2400

    def clean_date_of_birth(self) -> date:
        """The date of birth, with a Buddhist-Era year read as its Christian-era one; the
        year written is kept in `buddhist_year` for the page to say so."""
        born: date = self.cleaned_data["date_of_birth"]
        self.buddhist_year: int | None = None
        if born.year >= self.BUDDHIST_ERA_FROM:
            self.buddhist_year = born.year
            year = born.year - 543
            born = born.replace(year=year, day=min(born.day, 28 if born.month == 2 else 31))
        return born

    def conversion_note(self) -> str:
        """What the page says when a Buddhist-Era year was read as its Christian-era one."""
        if not getattr(self, "buddhist_year", None):
            return ""
        return _("We read the year of birth %(written)s as %(read)s (Christian era).") % {
            "written": self.buddhist_year,
            "read": self.cleaned_data["date_of_birth"].year,
        }


class DependantForm(RegistrationForm):
    relationship = forms.ChoiceField(
        label=gettext_lazy("Who they are to you"),
        choices=[
            choice
            for choice in Patient.Relationship.choices
            if choice[0] != Patient.Relationship.SELF
        ],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Someone else's details: the browser should not offer the account holder's own.
        for name in ("first_name", "last_name", "date_of_birth"):
            self.fields[name].widget.attrs["autocomplete"] = "off"

    phone = forms.CharField(
        label=gettext_lazy("Their own mobile phone, if texts about them should go there"),
        help_text=gettext_lazy(
            "We text a passcode to it. Until it is entered, their texts come to your phone."
        ),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )

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
            preferred_language=Patient.Language(translation.get_language() or "th"),
        )


def sign_in_state(request: HttpRequest) -> dict[str, object]:
    """What the page shows of the steps so far: after a refused registration, the form as the
    person filled it in, with what was wrong next to its field."""
    phone = request.session.get(PHONE_KEY, "")
    return {
        "phone": phone,
        "phone_written": phone_as_written(phone) if phone else "",
        "resend_in": _seconds_until(request.session.get(RESEND_KEY)),
        "new_account": request.session.get(NEW_KEY, False),
        "registration": _registration_as_left(request),
    }


def _seconds_until(moment: object) -> int:
    """Whole seconds from now until an ISO moment kept in the session (0 once it has come)."""
    if not isinstance(moment, str):
        return 0
    try:
        wait = datetime.fromisoformat(moment) - timezone.now()
    except ValueError:
        return 0
    return max(0, math.ceil(wait.total_seconds()))


def _registration_as_left(request: HttpRequest) -> RegistrationForm:
    kept = request.session.pop(TYPED_KEY, None)
    if not isinstance(kept, dict):
        return RegistrationForm()
    form = RegistrationForm(kept.get("data", {}))
    if form.is_valid() and kept.get("message"):  # the form was fine; the service refused
        field = kept.get("field")
        form.add_error(field if field in form.fields else None, str(kept["message"]))
    return form


def _keep_typed(request: HttpRequest, refused: DomainError) -> None:
    """What the person typed into the registration form, for the page that says why it was
    refused (the page is shown after a redirect). In the session, as the phone and code are."""
    fields = RegistrationForm.base_fields
    request.session[TYPED_KEY] = {
        "data": {name: request.POST.get(name, "") for name in fields},
        "field": refused.detail.get("field"),
        "message": str(refused.message),
    }


def take_sign_in_step(request: HttpRequest, action: str, language: str) -> None:
    """Take one step (an action in STEPS); a DomainError says what went wrong."""
    if action == "send_code":
        sent = send_sign_in_code(
            phone=request.POST.get("phone", ""),
            address=request.META.get("REMOTE_ADDR"),
            language=language,
        )
        request.session[PHONE_KEY] = sent.phone
        request.session[NEW_KEY] = False
        request.session[RESEND_KEY] = sent.resend_after.isoformat()
        messages.success(
            request,
            _("We have texted a passcode to %(phone)s.") % {"phone": phone_as_written(sent.phone)},
        )
    elif action == "change_phone":
        forget_sign_in_steps(request)
    elif action == "sign_in":
        _sign_in(request)
    elif action == "register":
        form = RegistrationForm(request.POST)
        try:
            if not form.is_valid():
                raise InvalidInput(first_form_error(form), field=next(iter(form.errors)))
            _register(request, form.cleaned_data)
            if form.conversion_note():
                messages.info(request, form.conversion_note())
        except DomainError as refused:
            _keep_typed(request, refused)
            raise


def forget_sign_in_steps(request: HttpRequest) -> None:
    for key in (PHONE_KEY, NEW_KEY, CODE_KEY, TYPED_KEY, RESEND_KEY):
        request.session.pop(key, None)


def _sign_in(request: HttpRequest) -> None:
    phone = request.session.get(PHONE_KEY, "")
    if not phone:
        raise InvalidInput(_("Enter your phone number first."), field="phone")
    try:
        user = sign_in_with_code(phone=phone, code=request.POST.get("code", ""))
    except NotRegistered:
        # The code was right and is kept: the same code opens the account.
        request.session[NEW_KEY] = True
        request.session[CODE_KEY] = request.POST.get("code", "")
        messages.info(
            request, _("No account uses this number yet. Tell us who you are to open one.")
        )
        return
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    forget_sign_in_steps(request)


def _register(request: HttpRequest, details: dict[str, object]) -> None:
    phone = request.session.get(PHONE_KEY, "")
    code = request.session.get(CODE_KEY, "")
    if not (phone and code):
        raise InvalidInput(_("Enter your phone number first."), field="phone")
    birthday = details["date_of_birth"]
    assert isinstance(birthday, date)
    patient = register_with_code(
        code=code,
        person=PersonDetails(
            first_name=str(details["first_name"]),
            last_name=str(details["last_name"]),
            date_of_birth=birthday,
            sex=Patient.Sex(str(details["sex"])),
            phone=phone,
            national_id=str(details["national_id"]),
            passport_number=str(details["passport_number"]),
            preferred_language=Patient.Language(translation.get_language() or "th"),
        ),
    )
    login(request, patient.account, backend="django.contrib.auth.backends.ModelBackend")
    forget_sign_in_steps(request)
