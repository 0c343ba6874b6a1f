"""Staff read the text messages sent about their patients and whether they arrived."""

from django.http import HttpRequest
from ninja import Router

from booking.selectors import appointment_for_staff
from clinics.permissions import StaffAction, signed_in_user
from clinics.schemas import ErrorOut, RowId
from notifications.models import Message
from notifications.schemas import MessageOut
from notifications.selectors import messages_about_appointment, messages_about_patient

router = Router(tags=["Text messages"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}
MAX_MESSAGES = 200


@router.get(
    "/staff/appointments/{int:appointment_id}/messages", response={200: list[MessageOut], **ERRORS}
)
def appointment_messages(request: HttpRequest, appointment_id: RowId) -> list[Message]:
    """Every text message about the appointment, newest first, with its delivery status."""
    appointment = appointment_for_staff(
        signed_in_user(request), appointment_id, StaffAction.VIEW_APPOINTMENTS
    )
    return list(messages_about_appointment(appointment)[:MAX_MESSAGES])


@router.get("/staff/patients/{int:patient_id}/messages", response={200: list[MessageOut], **ERRORS})
def patient_messages(request: HttpRequest, patient_id: RowId) -> list[Message]:
    """A patient's text messages about your centres' appointments, newest first."""
    return list(messages_about_patient(signed_in_user(request), patient_id)[:MAX_MESSAGES])
