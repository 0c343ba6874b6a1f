"""Staff read the text messages sent about their patients and whether they arrived."""

from django.http import HttpRequest
from ninja import Router

from booking.selectors import (
    appointment_for_staff,
    centres_seeing,
    messages_about_appointment,
    messages_about_patient,
)
from clinics.audit import record_read
from clinics.permissions import StaffAction, signed_in_user
from clinics.schemas import ErrorOut, RowId
from notifications.models import Message
from notifications.schemas import MessageOut

router = Router(tags=["Text messages"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}
MAX_MESSAGES = 200


# The operation ids are the ones these had in notifications.api, where they were first
# published: clients generated from the schema keep their names.
@router.get(
    "/staff/appointments/{int:appointment_id}/messages",
    response={200: list[MessageOut], **ERRORS},
    operation_id="notifications_api_appointment_messages",
)
def appointment_messages(request: HttpRequest, appointment_id: RowId) -> list[Message]:
    """Every text message about the appointment, newest first, with its delivery status."""
    appointment = appointment_for_staff(
        signed_in_user(request), appointment_id, StaffAction.VIEW_APPOINTMENTS
    )
    record_read(
        request,
        "appointment_messages.viewed",
        target=appointment,
        centre_id=appointment.slot.centre_id,
        patients=[appointment.patient_id],
    )
    return list(messages_about_appointment(appointment)[:MAX_MESSAGES])


@router.get(
    "/staff/patients/{int:patient_id}/messages",
    response={200: list[MessageOut], **ERRORS},
    operation_id="notifications_api_patient_messages",
)
def patient_messages(request: HttpRequest, patient_id: RowId) -> list[Message]:
    """A patient's text messages about your centres' appointments, newest first."""
    user = signed_in_user(request)
    messages = list(messages_about_patient(user, patient_id)[:MAX_MESSAGES])
    for centre_id in centres_seeing(user, patient_id):
        record_read(request, "patient_messages.viewed", centre_id=centre_id, patients=[patient_id])
    return messages
