"""The page that books one slot: where the scheduling-links files and other sites send people
(`/book/slots/<id>`). No JavaScript: sign in with a passcode texted to the phone (or open an
account with it), choose who the place is for, book, and land on the appointment's page."""

import re
import uuid
from datetime import date

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from booking.exceptions import NotRegistered
from booking.links import appointment_link_token
from booking.models import Appointment, Patient, Slot
from booking.selectors import next_best_slots, patient_of, patients_of
from booking.services.appointments import book_slot
from booking.services.passcodes import register_with_code, send_sign_in_code, sign_in_with_code
from booking.services.patients import PersonDetails
from booking.services.waiting_room import wait_turn_for_slot
from booking.views.links import reader_language, slot_words, time_choices
from clinics.exceptions import DomainError, InvalidInput
from clinics.permissions import signed_in_user

# The phone a passcode was sent to, and whether it has no account yet, kept in the session
# between the steps.
PHONE_KEY = "book-page-phone"
NEW_KEY = "book-page-new-account"


class RegistrationForm(forms.Form):
    first_name = forms.CharField(label=gettext_lazy("First name"), max_length=100)
    last_name = forms.CharField(label=gettext_lazy("Last name"), max_length=100)
    date_of_birth = forms.DateField(
        label=gettext_lazy("Date of birth (YYYY-MM-DD, Christian era)"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    sex = forms.ChoiceField(label=gettext_lazy("Sex"), choices=Patient.Sex.choices)
    national_id = forms.CharField(
        label=gettext_lazy("Thai national ID (13 digits)"), max_length=20, required=False
    )
    passport_number = forms.CharField(
        label=gettext_lazy("Passport number, if you are not Thai"), max_length=20, required=False
    )


def _slot(slot_id: int) -> Slot | None:
    slot = (
        Slot.objects.select_related("service", "centre__district")
        .filter(pk=slot_id)
        .order_by("pk")
        .first()
    )
    if slot is None or (slot.opens_at is not None and slot.opens_at > timezone.now()):
        return None  # a drive's slot is not shown before its release, as in the API
    return slot


def _unavailable_reason(slot: Slot) -> str:
    if slot.start <= timezone.now():
        return _("This time has passed.")
    if slot.closed:
        return _("The health centre is closed at this time.")
    if slot.booked >= slot.capacity:
        return _("This time is fully booked.")
    return ""


@require_http_methods(["GET", "POST"])
def book_slot_page(request: HttpRequest, slot_id: int) -> HttpResponse:
    """One open time: sign in if need be, choose who it is for, book."""
    slot = _slot(slot_id)
    language = reader_language(request, None)
    with translation.override(language):
        if slot is None:
            return render(
                request,
                "booking/book_slot.html",
                {"language": language, "error": _("That time slot does not exist.")},
                status=404,
            )
        if request.method == "POST":
            return _act(request, slot, language)
        return render(request, "booking/book_slot.html", _context(request, slot, language))


def _context(request: HttpRequest, slot: Slot, language: str) -> dict[str, object]:
    signed_in = request.user.is_authenticated
    unavailable = _unavailable_reason(slot)
    return {
        **slot_words(slot, language),
        "slot": slot,
        "places_left": slot.capacity - slot.booked,
        "unavailable": unavailable,
        "other_times": time_choices(
            [option.slot for option in next_best_slots(slot.pk, count=5)] if unavailable else [],
            language,
        ),
        "signed_in": signed_in,
        "patients": list(patients_of(request.user)) if signed_in else [],
        "phone": request.session.get(PHONE_KEY, ""),
        "new_account": request.session.get(NEW_KEY, False),
        "registration": RegistrationForm(),
        "idempotency_key": uuid.uuid4().hex,
    }


def _act(request: HttpRequest, slot: Slot, language: str) -> HttpResponse:
    here = f"{request.path}?lang={language}"
    action = request.POST.get("action", "")
    try:
        if action == "send_code":
            sent = send_sign_in_code(
                phone=request.POST.get("phone", ""),
                address=request.META.get("REMOTE_ADDR"),
                language=language,
            )
            request.session[PHONE_KEY] = sent.phone
            request.session[NEW_KEY] = False
            messages.success(
                request, _("We have texted a passcode to %(phone)s.") % {"phone": sent.phone}
            )
        elif action == "change_phone":
            request.session.pop(PHONE_KEY, None)
            request.session.pop(NEW_KEY, None)
        elif action == "sign_in":
            _sign_in(request)
        elif action == "register":
            form = RegistrationForm(request.POST)
            if not form.is_valid():
                field, errors = next(iter(form.errors.items()))
                raise InvalidInput(f"{form.fields[field].label}: {errors[0]}", field=field)
            _register(request, form.cleaned_data)
        elif action == "book" and request.user.is_authenticated:
            return _book(request, slot, language)
    except DomainError as error:
        messages.error(request, str(error.message))
    return HttpResponseRedirect(here)


def _sign_in(request: HttpRequest) -> None:
    phone = request.session.get(PHONE_KEY, "")
    if not phone:
        raise InvalidInput(_("Enter your phone number first."), field="phone")
    try:
        user = sign_in_with_code(phone=phone, code=request.POST.get("code", ""))
    except NotRegistered:
        # The code was right and is kept: the same code opens the account.
        request.session[NEW_KEY] = True
        request.session["book-page-code"] = request.POST.get("code", "")
        messages.info(
            request, _("No account uses this number yet. Tell us who you are to open one.")
        )
        return
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")


def _register(request: HttpRequest, details: dict[str, object]) -> None:
    phone = request.session.get(PHONE_KEY, "")
    code = request.session.get("book-page-code", "")
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


def _book(request: HttpRequest, slot: Slot, language: str) -> HttpResponse:
    raw = request.POST.get("patient_id", "")
    if re.fullmatch(r"[0-9]{1,18}", raw) is None:
        raise InvalidInput(_("Choose who the appointment is for."), field="patient_id")
    user = signed_in_user(request)
    patient = patient_of(user, int(raw))
    wait_turn_for_slot(slot_id=slot.pk, account_id=user.pk)
    booking = book_slot(
        patient=patient,
        slot_id=slot.pk,
        booked_by=user,
        channel=Appointment.Channel.WEB,
        idempotency_key=request.POST.get("idempotency_key", "")[:100],
    )
    for key in (PHONE_KEY, NEW_KEY, "book-page-code"):
        request.session.pop(key, None)
    messages.success(request, _("Booked. We have texted you the details."))
    return HttpResponseRedirect(
        f"/a/{appointment_link_token(booking.appointment.pk)}?lang={language}"
    )
