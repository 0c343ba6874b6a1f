"""Video rooms in the JSON API: where a patient joins, and the clinician's view of who is
waiting across the centre's rooms today."""

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema

from booking.links import video_join_link
from booking.models import Appointment
from booking.schemas import AppointmentStatus
from booking.selectors import appointment_of
from clinics.audit import record_read
from clinics.permissions import StaffAction, centre_for_staff, signed_in_user
from clinics.schemas import BangkokDateTime, CentreNumber, ErrorOut, RowId
from video.models import ConsultationRoom
from video.selectors import video_appointments_on
from video.services import entry_window, open_rooms_for, room_for

router = Router(tags=["Video calls"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


class JoinOut(Schema):
    join_url: str = Field(
        description="The page to join the call from; it works without signing in."
    )
    opens_at: BangkokDateTime
    closes_at: BangkokDateTime
    is_open: bool


class RoomRowOut(Schema):
    appointment_id: int
    start: BangkokDateTime
    end: BangkokDateTime
    patient_first_name: str
    status: AppointmentStatus
    room_code: str
    room_url: str = Field(description="The clinician's page for this room.")
    waiting_since: BangkokDateTime | None = Field(description="Set while the patient waits.")
    admitted_at: BangkokDateTime | None
    ended_at: BangkokDateTime | None


@router.get("/me/appointments/{int:appointment_id}/video", response={200: JoinOut, **ERRORS})
def join_my_video_call(request: HttpRequest, appointment_id: RowId) -> JoinOut:
    """Where and when to join one of your video appointments."""
    appointment = appointment_of(signed_in_user(request), appointment_id)
    room_for(appointment)  # NotFound for an appointment in person
    opens, closes = entry_window(appointment)
    return JoinOut(
        join_url=video_join_link(appointment.pk),
        opens_at=opens,
        closes_at=closes,
        is_open=opens <= timezone.now() < closes,
    )


@router.get("/staff/centres/{int:number}/video/rooms", response={200: list[RoomRowOut], **ERRORS})
def todays_video_rooms(request: HttpRequest, number: CentreNumber) -> list[RoomRowOut]:
    """Today's video appointments at the centre with who is waiting, for clinicians."""
    centre = centre_for_staff(request, number, StaffAction.CONSULT)
    appointments = list(video_appointments_on(centre.number, timezone.localdate()))
    record_read(
        request,
        "video_lobby.viewed",
        centre_id=centre.pk,
        patients=[appointment.patient_id for appointment in appointments],
    )
    rooms = open_rooms_for(appointments)
    return [_row(appointment, rooms[appointment.pk]) for appointment in appointments]


def _row(appointment: Appointment, room: ConsultationRoom) -> RoomRowOut:
    return RoomRowOut(
        appointment_id=appointment.pk,
        start=appointment.slot.start,
        end=appointment.slot.end,
        patient_first_name=appointment.patient.first_name,
        status=Appointment.Status(appointment.status),
        room_code=room.code,
        room_url=f"/video/rooms/{room.code}",
        waiting_since=room.patient_waiting_since,
        admitted_at=room.admitted_at,
        ended_at=room.ended_at,
    )
