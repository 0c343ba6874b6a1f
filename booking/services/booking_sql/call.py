"""The call of booking_book_slot_v2: its parameters made in Python (`prepare`), its answer
read back (`outcome`, `booked_appointment`), and what its commit sets off (`after_commit`)."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.db.models.base import ModelState
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from booking.exceptions import (
    AlreadyBooked,
    BookingBlocked,
    BookingClosed,
    CourseAlreadyBooked,
    DeletionPending,
    IdempotencyKeyReused,
    NotEligible,
    OverlappingAppointment,
    SlotClosed,
    SlotFull,
    TooManyActiveBookings,
)
from booking.models import Appointment, Partner, Patient, Slot
from booking.notices import booked_fields
from booking.services.booking_sql.reads import SlotFacts
from booking.services.queue_events import send_queue_change
from booking.vaccination import waiting_room  # a module: the waiting room imports booking_sql
from clinics import audit
from clinics.exceptions import DomainError, NotFound
from clinics.models import HealthCentre, Service
from notifications.services.outbox import OPTED_OUT_ERROR, Recipient, wake_worker

M = TypeVar("M", bound=models.Model)

FUNCTION = "booking_book_slot_v2"
CALL_SQL = (
    f"SELECT {FUNCTION}(%s::bigint, %s::bigint, %s::bigint, %s::integer, %s::text, %s::text, "
    "%s::bigint, %s::bigint, %s::boolean, %s::timestamptz, %s::text, %s::integer, %s::text, "
    "%s::jsonb, %s::jsonb)"
)


# --- The call ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingCall:
    """One call of the function: its SQL and parameters, and what `outcome` and `after_commit`
    need to read its answer."""

    sql: str
    params: tuple[Any, ...]
    appointment_id: int
    slot_id: int
    facts: SlotFacts | None
    service: Service | None
    centre: HealthCentre | None
    channel: str
    idempotency_key: str
    now: datetime
    # The appointment the texts were made from, in memory: booked_appointment completes it
    # from the function's answer rather than making another.
    unsaved: Appointment | None = None


def prepare(
    *,
    appointment_id: int,
    patient_id: int,
    slot_id: int,
    facts: SlotFacts | None,
    service: Service | None,
    centre: HealthCentre | None,
    booked_by_id: int,
    channel: str,
    idempotency_key: str,
    partner_id: int | None = None,
    enforce_cutoff: bool = True,
    replay_service_id: int | None = None,
    audit_event: dict[str, Any] | None = None,
    actor: User | AnonymousUser | None = None,
    now: datetime | None = None,
    texts_language: str | None = None,
    texts: bool = True,
) -> BookingCall:
    """The call that books `slot_id` for the patient; pure Python, no database.

    `facts`, `service` and `centre` are None when no such slot exists (the function answers
    slot_not_found after the key and safeguards, as the ORM path does). `replay_service_id`
    is allocate's: an earlier booking with the key must be of that service rather than that
    slot. `audit_event` is the event's fields as clinics.audit.event_fields makes them; by
    default they are made from the request being served (AuditContext).

    The texts are made in Thai and English, and the function writes those in the recipient's
    language. A caller that knows that language already (`texts_language`, read with the
    patient) has them made once, in it: the same rows stand for both, so that should the
    recipient's language change meanwhile, they still get their texts, as they were asked
    for. Without `texts` (a caller that read the slot full) neither they nor the rest of
    what only a booking writes (the appointment in memory, the audit event) are made: the
    function answers "texts" before writing anything rather than book without them."""
    now = now or timezone.now()
    made: dict[str, Any] | None = {"opted_out_error": OPTED_OUT_ERROR} if texts else None
    visit_mode = ""
    appointment = None
    if facts is not None and service is not None and centre is not None:
        visit_mode = service.visit_mode
        if made is not None:
            appointment = _unsaved_appointment(appointment_id, patient_id, facts, service, centre)
            for language in (texts_language,) if texts_language else ("th", "en"):
                rows = booked_fields(appointment, Recipient("", language), opted_out=False)
                made[language] = [_text_row(row) for row in rows]
            if texts_language:
                made["en" if texts_language == "th" else "th"] = made[texts_language]
    if audit_event is None and texts:
        audit_event = audit.event_fields(
            "appointment.booked",
            target_type="appointment",
            target_id=appointment_id,
            centre_id=facts.centre_id if facts is not None else None,
            patients=[patient_id],
            details={"status": Appointment.Status.BOOKED, "slot": slot_id, "channel": channel},
            actor=actor,
            ask_if_staff=False,
        )
    params = (
        appointment_id,
        patient_id,
        slot_id,
        booked_by_id,
        str(channel),
        idempotency_key,
        replay_service_id,
        partner_id,
        enforce_cutoff,
        now,
        settings.TIME_ZONE,
        settings.MAX_ACTIVE_BOOKINGS_PER_PATIENT,
        visit_mode,
        "{}" if audit_event is None else json.dumps(_audit_fields(audit_event)),
        None if made is None else json.dumps(made),
    )
    return BookingCall(
        sql=CALL_SQL,
        params=params,
        appointment_id=appointment_id,
        slot_id=slot_id,
        facts=facts,
        service=service,
        centre=centre,
        channel=str(channel),
        idempotency_key=idempotency_key,
        now=now,
        unsaved=appointment,
    )


def _unsaved_appointment(
    appointment_id: int, patient_id: int, facts: SlotFacts, service: Service, centre: HealthCentre
) -> Appointment:
    """The appointment as the texts see it (booking.notices), in memory only; the rest of it
    is filled in from the function's answer once it has booked (booked_appointment)."""
    slot = _in_memory(
        Slot,
        id=facts.slot_id,
        start=facts.start,
        end=facts.end,
        centre_id=facts.centre_id,
        service_id=facts.service_id,
        drive_id=facts.drive_id,
    )
    slot.centre, slot.service = centre, service
    appointment = _in_memory(
        Appointment,
        id=appointment_id,
        patient_id=patient_id,
        slot_id=slot.pk,
        status=Appointment.Status.BOOKED,
        visit_mode=service.visit_mode,
        checked_in_at=None,
        completed_at=None,
        confirmed_at=None,
        cancelled_at=None,
        lot_id=None,
    )
    appointment.slot = slot
    return appointment


def _in_memory(model: type[M], **values: Any) -> M:
    """A `model` holding `values`, its other fields deferred, as from_db makes a row it read
    (not being added, of no database): no field is given its default first, which made the
    slot and appointment above cost twice as much, and Model.__init__'s pass over every field
    is skipped too, which from_db makes (a tenth of prepare's CPU). That pass also sends
    pre_init and post_init, to which nothing listens for these models (asserted in
    tests/booking/test_booking_engines.py). booked_appointment sets the fields left out."""
    names = {f.attname for f in model._meta.concrete_fields}
    if not names.issuperset(values):
        raise ValueError(f"Not fields of {model.__name__}: {set(values) - names}")
    made = model.__new__(model)
    made._state = ModelState()
    made._state.adding = False
    made.__dict__.update(values)
    return made


def _text_row(row: dict[str, Any]) -> dict[str, Any]:
    expires_at = row["expires_at"]
    return {
        "kind": str(row["kind"]),
        "body": row["body"],
        "encoding": row["encoding"],
        "segments": row["segments"],
        "due_at": row["due_at"].isoformat(),
        "expires_at": expires_at.isoformat() if expires_at is not None else None,
        "status": str(row["status"]),
        "last_error": row["last_error"],
        "reminder_minutes": row["reminder_minutes"],
    }


def _audit_fields(event: dict[str, Any]) -> dict[str, Any]:
    actor = event["actor"]
    return {
        "at": event["at"].isoformat(),
        "actor_kind": str(event["actor_kind"] or ""),
        "actor_name": event["actor_name"],
        "actor_id": actor.pk if actor is not None else None,
        "action": event["action"],
        "target_type": event["target_type"],
        "patients": list(event["patients"]),
        # As the JSONField would store it (str() of lazy or enum values included).
        "details": json.loads(json.dumps(event["details"], default=str)),
        "address": event["address"],
        "via": event["via"],
        "link_patient_id": event["link_patient_id"],
    }


# --- The answer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str  # booked, replay, orm, or texts (called without them, and there is a place)
    appointment_id: int | None = None
    answer: dict[str, Any] = field(default_factory=dict)


def outcome(
    answer: Any,
    call: BookingCall,
    *,
    explain_ineligible: Callable[[list[str]], None] | None = None,
) -> Outcome:
    """What the function answered: an Outcome, or the DomainError the ORM path raises for
    the same refusal (same code, message and detail). For not_eligible, `explain_ineligible`
    may raise the NotEligible with every reason worded (booking.vaccination.eligibility); without
    it, or if it raises nothing, the reasons carry only their codes."""
    answer = parse(answer)
    kind = answer["outcome"]
    if kind == "booked":
        return Outcome("booked", int(answer["appointment_id"]), answer)
    if kind == "replay":
        return Outcome("replay", int(answer["appointment_id"]), answer)
    if kind in ("orm", "texts"):
        return Outcome(kind, None, answer)
    code = answer["code"]
    if code == "not_eligible":
        reasons = list(answer["reasons"])
        if explain_ineligible is not None:
            explain_ineligible(reasons)
        raise NotEligible(reasons=[{"code": reason, "message": reason} for reason in reasons])
    raise _refusal(code, answer)


def parse(answer: Any) -> dict[str, Any]:
    """The function's answer as a dict (the Django connection hands jsonb over as text)."""
    if isinstance(answer, (str, bytes)):
        parsed: dict[str, Any] = json.loads(answer)
        return parsed
    return dict(answer)


def _refusal(code: str, answer: dict[str, Any]) -> DomainError:
    if code == "idempotency_key_reused":
        return IdempotencyKeyReused()
    if code == "booking_blocked":
        return BookingBlocked()
    if code == "deletion_pending":
        return DeletionPending()
    if code == "slot_not_found":
        return NotFound(_("That time slot does not exist."), field="slot_id")
    if code == "slot_closed":
        return SlotClosed(slot_id=answer["slot_id"])
    if code == "slot_full":
        return SlotFull(slot_id=answer["slot_id"])
    if code == "booking_closed":
        minutes = int(answer["cutoff_minutes"])
        return BookingClosed(
            _("Online booking for this time closed %(minutes)d minutes before it starts.")
            % {"minutes": minutes},
            cutoff_minutes=minutes,
        )
    if code == "course_already_booked":
        return CourseAlreadyBooked()
    if code == "already_booked":
        return AlreadyBooked(appointment_id=answer["appointment_id"])
    if code == "overlapping_appointment":
        return OverlappingAppointment(appointment_id=answer["appointment_id"])
    if code == "too_many_active_bookings":
        return TooManyActiveBookings(limit=answer["limit"])
    raise ValueError(f"{FUNCTION} answered an unknown refusal: {code}")


def booked_appointment(
    call: BookingCall,
    done: Outcome,
    *,
    patient: Patient,
    booked_by: User,
    partner: Partner | None,
) -> Appointment:
    """The appointment the function wrote, in memory, with its slot, centre (and district)
    and service: what the ORM path's Appointment holds, for the answer to be made without
    reading it again. The call's own unsaved appointment, completed (one booking, one
    answer: a call is not answered twice)."""
    appointment = call.unsaved
    if done.kind != "booked" or call.facts is None or appointment is None:
        raise ValueError("A booked outcome comes from a call made with the slot's facts.")
    row = done.answer["slot"]
    slot = appointment.slot
    slot.template_id = row["template_id"]
    slot.clinician_id = row["clinician_id"]
    slot.capacity = row["capacity"]
    slot.booked = row["booked"]
    slot.closed = row["closed"]
    slot.capacity_set_by_staff = row["capacity_set_by_staff"]
    slot.drive_id = row["drive_id"]
    slot.opens_at = parse_datetime(row["opens_at"]) if row["opens_at"] else None
    slot.created_at = parse_datetime(row["created_at"]) or call.now
    slot._state.adding, slot._state.db = False, "default"
    appointment.patient = patient
    appointment.status = Appointment.Status.BOOKED
    appointment.visit_mode = done.answer["visit_mode"]
    appointment.channel = call.channel
    appointment.booked_by = booked_by
    appointment.idempotency_key = call.idempotency_key
    appointment.sequence = 0
    appointment.cancellation_reason = ""
    appointment.created_at = call.now
    appointment.updated_at = call.now
    appointment.series_id = done.answer["series_id"]
    appointment.dose_number = done.answer["dose_number"]
    appointment.partner = partner
    appointment._state.adding, appointment._state.db = False, "default"
    return appointment


# --- Once it has committed -----------------------------------------------------------------------


def after_commit(call: BookingCall, done: Outcome) -> None:
    """What a booking's commit sets off, as the ORM path's on_commit callbacks do: the
    centre's desks are told, the drive's places-left counter and line move (the Appointment
    post_save signal's work: the function sends no signal), and a worker wakes for a text
    due now. Only for a "booked" outcome; never raises for a service that is down."""
    if done.kind != "booked" or call.facts is None:
        return
    if call.facts.drive_id is not None:
        waiting_room.note_booking_committed(drive_id=call.facts.drive_id)
    if done.answer.get("wake"):
        wake_worker()
    send_queue_change(
        centre_id=call.facts.centre_id, appointment_id=call.appointment_id, change="booked"
    )


async def aafter_commit(call: BookingCall, done: Outcome) -> None:
    """after_commit from async code (the cache and channel layer clients it uses are sync)."""
    await sync_to_async(after_commit, thread_sensitive=False)(call, done)
