"""Phones booking for many people at my centre: who they book for, and stopping a phone from
booking online or cancelling the places it holds here. Staff who may cancel appointments at
the centre see it; every step, the look included, is in the audit trail."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from booking.models import Appointment
from booking.services.appointments import cancel_appointment
from booking.services.safeguards import (
    block_booking,
    has_bookings_at,
    lift_booking_block,
    shared_phones,
)
from clinics.audit import record_read
from clinics.dates import format_moment
from clinics.models import HealthCentre
from clinics.permissions import StaffAction, signed_in_user
from clinics.refusals import refusal_flashed
from clinics.views import centre_menu, refuse, staff_page


@require_GET
@staff_page(StaffAction.CANCEL_APPOINTMENTS)
def shared_phones_page(request: HttpRequest, centre: HealthCentre) -> HttpResponse:
    language = request.LANGUAGE_CODE
    phones = shared_phones(centre.pk)
    record_read(
        request,
        "shared_phones.viewed",
        centre_id=centre.pk,
        patients=[appointment.patient_id for phone in phones for appointment in phone.here],
    )
    rows = [
        {
            "phone": phone,
            "blocked_at": format_moment(phone.block.blocked_at, language) if phone.block else "",
            "appointments": [
                {
                    "appointment": appointment,
                    "when": format_moment(appointment.slot.start, language),
                    "service": appointment.slot.service.name_in(language),
                }
                for appointment in phone.here
            ],
        }
        for phone in phones
    ]
    return render(
        request,
        "booking/staff/shared_phones.html",
        {
            "nav": "phones",
            "staff_centre": centre_menu(centre, language),
            "rows": rows,
            "min_people": settings.SHARED_PHONE_MIN_PEOPLE,
        },
    )


def _account(centre: HealthCentre, account_id: int) -> User | None:
    if not has_bookings_at(account_id, centre.pk):
        return None
    return User.objects.filter(pk=account_id).first()


def _back(centre: HealthCentre) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("staff-shared-phones", args=[centre.number]))


@require_POST
@staff_page(StaffAction.CANCEL_APPOINTMENTS)
def shared_phone_action(
    request: HttpRequest, centre: HealthCentre, account_id: int, action: str
) -> HttpResponse:
    """block: stop the phone booking online; allow: let it book again; cancel: cancel the
    ticked appointments it holds at this centre (the people are texted as for any
    cancellation)."""
    account = _account(centre, account_id)
    if account is None or action not in ("block", "allow", "cancel"):
        return refuse(request, _("This phone has no coming appointments at this centre."), 404)
    user = signed_in_user(request)
    with refusal_flashed(request):
        if action == "block":
            block_booking(
                account=account, reason=request.POST.get("reason", ""), by=user, centre_id=centre.pk
            )
            messages.success(request, _("This phone can no longer book online."))
        elif action == "allow":
            lift_booking_block(account=account, by=user, centre_id=centre.pk)
            messages.success(request, _("This phone can book online again."))
        else:
            cancelled = _cancel_ticked(request, centre, account)
            if cancelled:
                messages.success(
                    request,
                    ngettext(
                        "%(count)d appointment cancelled.",
                        "%(count)d appointments cancelled.",
                        cancelled,
                    )
                    % {"count": cancelled},
                )
            else:
                messages.error(request, _("Tick the appointments to cancel."))
    return _back(centre)


def _cancel_ticked(request: HttpRequest, centre: HealthCentre, account: User) -> int:
    ticked = [raw for raw in request.POST.getlist("appointment") if raw.isdigit()]
    appointments = Appointment.objects.filter(
        pk__in=ticked,
        patient__account=account,
        slot__centre=centre,
        status__in=(Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN),
    ).select_related("slot")
    reason = _("Cancelled by the health centre: one phone booked for too many people.")
    for appointment in appointments:
        cancel_appointment(appointment=appointment, reason=reason, enforce_cutoff=False)
    return len(appointments)
