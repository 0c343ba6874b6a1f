"""Consultation rooms: who may enter and when, the lobby, letting in, ending the visit, and the
ICE servers (with short-lived TURN credentials) a browser is given."""

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import ConsentNeeded, LinkInvalid
from booking.links import appointment_id_from_join_token
from booking.models import Appointment
from booking.services.appointments import check_in, complete_appointment, start_consultation
from booking.services.consent import needs_video_consent
from booking.services.queue_events import announce_queue_change
from clinics.exceptions import DomainError, Forbidden, NotFound
from clinics.models import VisitMode
from clinics.permissions import StaffAction, can_act_at
from video.models import ConsultationRoom

Status = Appointment.Status


class Role(StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"


class RoomClosed(DomainError):
    code = "room_closed"
    status = 409
    default_message = _("This video room is not open now.")


@dataclass(frozen=True)
class Participant:
    """Someone let into a room's connection: who they are to the visit, and where."""

    role: Role
    name: str
    room_id: int
    room_code: str
    appointment_id: int
    centre_id: int
    user_id: int | None


def room_for(appointment: Appointment) -> ConsultationRoom:
    """The appointment's room, made on first use; only video appointments have one."""
    if appointment.visit_mode != VisitMode.VIDEO:
        raise NotFound(_("This appointment is not a video call."))
    room, _created = ConsultationRoom.objects.get_or_create(appointment=appointment)
    return room


def entry_window(appointment: Appointment) -> tuple[datetime, datetime]:
    """From when until when people may enter the appointment's room."""
    slot = appointment.slot
    return (
        slot.start - timedelta(minutes=settings.VIDEO_ROOM_OPENS_MINUTES),
        slot.end + timedelta(minutes=settings.VIDEO_ROOM_GRACE_MINUTES),
    )


def _check_open(room: ConsultationRoom, now: datetime) -> None:
    appointment = room.appointment
    opens, closes = entry_window(appointment)
    if room.ended_at is not None or appointment.status in (
        Status.COMPLETED,
        Status.CANCELLED,
        Status.NO_SHOW,
    ):
        raise RoomClosed(_("This video visit has ended."))
    if now < opens:
        raise RoomClosed(
            _("The room opens at %(time)s, %(minutes)d minutes before the start.")
            % {
                "time": f"{timezone.localtime(opens):%H:%M}",
                "minutes": settings.VIDEO_ROOM_OPENS_MINUTES,
            }
        )
    if now >= closes:
        raise RoomClosed(_("The time for this video visit is over."))


def enter_room(
    *, room_code: str, user: User | AnonymousUser, join_token: str | None
) -> Participant:
    """Who is entering the room, or a DomainError saying why they may not.

    The patient enters by signing in to the account the patient belongs to (a guardian books
    for a child from their own account) or with the join link sent to them; clinicians of the
    centre by signing in."""
    room = (
        ConsultationRoom.objects.select_related("appointment__patient", "appointment__slot__centre")
        .filter(code=room_code)
        .first()
        if 0 < len(room_code) <= 32
        else None
    )
    if room is None:
        raise NotFound(_("There is no such video room."))
    appointment = room.appointment
    role = _role(appointment, user, join_token)
    _check_open(room, timezone.now())
    patient = appointment.patient
    if role == Role.PATIENT and needs_video_consent(patient):
        raise ConsentNeeded()
    name = patient.first_name if role == Role.PATIENT else _staff_name(user)
    return Participant(
        role=role,
        name=name,
        room_id=room.pk,
        room_code=room.code,
        appointment_id=appointment.pk,
        centre_id=appointment.slot.centre_id,
        user_id=user.pk if user.is_authenticated else None,
    )


def _role(appointment: Appointment, user: User | AnonymousUser, join_token: str | None) -> Role:
    if join_token:
        try:
            if appointment_id_from_join_token(join_token) == appointment.pk:
                return Role.PATIENT
        except LinkInvalid:
            pass
        raise Forbidden(_("This join link is for another visit, or was not copied in full."))
    if not user.is_authenticated:
        raise Forbidden(_("Sign in, or open the join link from your text message."))
    if appointment.patient.account_id == user.pk:
        return Role.PATIENT
    if can_act_at(user, StaffAction.CONSULT, appointment.slot.centre_id):
        return Role.CLINICIAN
    raise Forbidden(_("Only the patient and the health centre's clinicians may enter."))


def _staff_name(user: User | AnonymousUser) -> str:
    full = getattr(user, "get_full_name", lambda: "")()
    return full or str(_("Clinician"))


def _locked_room(room_id: int) -> ConsultationRoom:
    return (
        ConsultationRoom.objects.select_for_update(of=("self",))
        .select_related("appointment__slot")
        .get(pk=room_id)
    )


@transaction.atomic
def wait_in_lobby(*, room_id: int) -> bool:
    """The patient has connected: they wait, unless already let in (a reconnect after a
    network drop rejoins the call). Returns whether they are let in. Checks them in."""
    room = _locked_room(room_id)
    if room.admitted_at is not None:
        return True
    if room.patient_waiting_since is None:
        room.patient_waiting_since = timezone.now()
        room.save(update_fields=["patient_waiting_since"])
    if room.appointment.status == Status.BOOKED:
        check_in(appointment=room.appointment)
    announce_queue_change(
        centre_id=room.appointment.slot.centre_id,
        appointment_id=room.appointment_id,
        change="waiting",
    )
    return False


@transaction.atomic
def leave_lobby(*, room_id: int) -> None:
    """The patient's connection closed: they no longer wait (a call in progress stays)."""
    left = ConsultationRoom.objects.filter(pk=room_id, admitted_at__isnull=True).update(
        patient_waiting_since=None
    )
    if left:
        room = ConsultationRoom.objects.select_related("appointment__slot").get(pk=room_id)
        announce_queue_change(
            centre_id=room.appointment.slot.centre_id,
            appointment_id=room.appointment_id,
            change="left",
        )


@transaction.atomic
def admit_patient(*, room_id: int) -> None:
    """Let the waiting patient in; the consultation begins. Locks the room and appointment."""
    room = _locked_room(room_id)
    if room.ended_at is not None:
        raise RoomClosed(_("This video visit has ended."))
    if room.admitted_at is None:
        room.admitted_at = timezone.now()
        room.patient_waiting_since = None
        room.save(update_fields=["admitted_at", "patient_waiting_since"])
        announce_queue_change(
            centre_id=room.appointment.slot.centre_id,
            appointment_id=room.appointment_id,
            change="admitted",
        )
    if room.appointment.status in (Status.BOOKED, Status.CHECKED_IN):
        start_consultation(appointment=room.appointment)


@transaction.atomic
def send_back_to_lobby(*, room_id: int) -> None:
    """Put the patient back in the lobby (e.g. to admit them again later)."""
    room = _locked_room(room_id)
    room.admitted_at = None
    room.patient_waiting_since = timezone.now()
    room.save(update_fields=["admitted_at", "patient_waiting_since"])
    announce_queue_change(
        centre_id=room.appointment.slot.centre_id,
        appointment_id=room.appointment_id,
        change="waiting",
    )


@transaction.atomic
def end_visit(*, room_id: int) -> None:
    """End the call and record the visit as completed."""
    room = _locked_room(room_id)
    if room.ended_at is not None:
        return
    room.ended_at = timezone.now()
    room.patient_waiting_since = None
    room.save(update_fields=["ended_at", "patient_waiting_since"])
    appointment = room.appointment
    if appointment.status == Status.BOOKED:
        check_in(appointment=appointment)
    if appointment.status in (Status.CHECKED_IN, Status.IN_CONSULTATION):
        complete_appointment(appointment=appointment)


def ice_servers(*, who: str, now: float | None = None) -> list[dict[str, object]]:
    """The STUN and TURN servers for one join. TURN credentials follow the TURN REST scheme
    (coturn's use-auth-secret): the username is "<expiry>:<who>" and the password the base64
    HMAC-SHA1 of it with the shared secret, good until the expiry."""
    servers: list[dict[str, object]] = []
    if settings.VIDEO_STUN_URLS:
        servers.append({"urls": list(settings.VIDEO_STUN_URLS)})
    if settings.VIDEO_TURN_URLS and settings.VIDEO_TURN_SECRET:
        expiry = int(now if now is not None else time.time()) + settings.VIDEO_TURN_TTL_SECONDS
        username = f"{expiry}:{who}"
        digest = hmac.new(
            settings.VIDEO_TURN_SECRET.encode(), username.encode(), hashlib.sha1
        ).digest()
        servers.append(
            {
                "urls": list(settings.VIDEO_TURN_URLS),
                "username": username,
                "credential": base64.b64encode(digest).decode(),
            }
        )
    return servers


def open_rooms_for(appointments: list[Appointment]) -> dict[int, ConsultationRoom]:
    """The rooms of these video appointments by appointment id, made for any that have none
    yet (two staff screens asking at once make each room once)."""
    ids = [appointment.pk for appointment in appointments]
    ConsultationRoom.objects.bulk_create(
        [ConsultationRoom(appointment_id=pk) for pk in ids], ignore_conflicts=True
    )
    return {
        room.appointment_id: room
        for room in ConsultationRoom.objects.filter(appointment_id__in=ids)
    }
