"""A patient's own data, as one JSON file to keep (Thailand's PDPA, section 30): the account,
everyone on it, their appointments, walk-ins, vaccine doses, the vaccination records issued,
consents and the text messages sent about
them. A text belongs to the household by its appointment or its person, never by the number
it went to: a number written on someone says nothing of whose it is. Passcodes belong to
nobody and are never shown."""

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from booking.models import DeletionRequest, IssuedRecord, PatientConsent, WalkIn
from booking.selectors import appointments_of, patients_of
from clinics.permissions import signed_in_user
from notifications.models import Message


def _when(moment: Any) -> str | None:
    return timezone.localtime(moment).isoformat() if moment else None


@require_GET
def my_data_download(request: HttpRequest) -> HttpResponse:
    """Everything the service holds about the signed-in account's household."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url="/sign-in")
    user = signed_in_user(request)
    patients = list(patients_of(user))
    data = {
        "exported_at": _when(timezone.now()),
        "account": {"username": user.get_username(), "joined": _when(user.date_joined)},
        "people": [
            {
                "id": patient.pk,
                "relationship": patient.relationship,
                "first_name": patient.first_name,
                "last_name": patient.last_name,
                "date_of_birth": patient.date_of_birth.isoformat(),
                "sex": patient.sex,
                "phone": patient.phone,
                "national_id": patient.national_id,
                "passport_number": patient.passport_number,
                "district": patient.district.name_en if patient.district else None,
                "preferred_language": patient.preferred_language,
            }
            for patient in patients
        ],
        "appointments": [
            {
                "id": appointment.pk,
                "person_id": appointment.patient_id,
                "service": appointment.slot.service.name_en,
                "centre": appointment.slot.centre.name_en,
                "start": _when(appointment.slot.start),
                "status": appointment.status,
                "visit_mode": appointment.visit_mode,
                "dose_number": appointment.dose_number,
                "booked_at": _when(appointment.created_at),
                "checked_in_at": _when(appointment.checked_in_at),
                "completed_at": _when(appointment.completed_at),
                "cancelled_at": _when(appointment.cancelled_at),
            }
            for appointment in appointments_of(user)
        ],
        "walk_ins": [
            {
                "person_id": walk_in.patient_id,
                "centre": walk_in.centre.name_en,
                "service": walk_in.service.name_en,
                "day": walk_in.day.isoformat(),
                "queue_number": walk_in.label,
                "status": walk_in.status,
                "arrived_at": _when(walk_in.arrived_at),
                "finished_at": _when(walk_in.finished_at),
            }
            for walk_in in WalkIn.objects.filter(patient__in=patients)
            .select_related("centre", "service")
            .order_by("pk")
        ],
        "vaccination_records_issued": [
            {
                "person_id": issued.patient_id,
                "issued_at": _when(issued.issued_at),
                "withdrawn_at": _when(issued.withdrawn_at),
            }
            for issued in IssuedRecord.objects.filter(patient__in=patients).order_by("pk")
        ],
        "consents": [
            {
                "person_id": consent.patient_id,
                "kind": consent.kind,
                "version": consent.version,
                "accepted_at": _when(consent.accepted_at),
            }
            for consent in PatientConsent.objects.filter(patient__in=patients).order_by("pk")
        ],
        "deletion_requests": [
            {
                "person_id": request.patient_id,
                "status": request.status,
                "asked_at": _when(request.requested_at),
                "erase_on": request.erase_on.isoformat(),
            }
            for request in DeletionRequest.objects.filter(patient__in=patients).order_by("pk")
        ],
        "text_messages": [
            {
                "to": message.recipient,
                "kind": message.kind,
                "text": message.body,
                "status": message.status,
                "sent_at": _when(message.sent_at),
            }
            for message in Message.objects.filter(
                Q(appointment__patient__in=patients) | Q(patient__in=patients)
            )
            .exclude(kind=Message.Kind.PASSCODE)
            .order_by("pk")
        ],
    }
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 1})
    response["Content-Disposition"] = 'attachment; filename="my-health-centre-data.json"'
    response["Cache-Control"] = "no-store"
    return response
