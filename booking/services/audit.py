"""Audit-trail events for booking's records (see clinics.audit): one line for each kind of
record, so that every service names the same centre and patients."""

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.http import HttpRequest

from booking.models import Appointment, Slot, VaccinationDrive, VaccineLot, WalkIn
from clinics import audit
from clinics.models import Closure, ScheduleTemplate


def appointment_changed(appointment: Appointment, action: str, **details: Any) -> None:
    audit.record(
        f"appointment.{action}",
        appointment,
        centre_id=appointment.slot.centre_id,
        patients=[appointment.patient_id],
        details={"status": appointment.status, "slot": appointment.slot_id, **details},
    )


def queue_shown(
    request: HttpRequest,
    *,
    centre_id: int,
    day: date,
    appointments: list[Appointment],
    walk_ins: Sequence[WalkIn] = (),
) -> None:
    """Staff were shown a day's appointments and walk-ins at a centre (the queue page, or
    the API)."""
    audit.record_read(
        request,
        "queue.viewed",
        centre_id=centre_id,
        patients=[
            *(appointment.patient_id for appointment in appointments),
            *(walk_in.patient_id for walk_in in walk_ins),
        ],
        details={"day": day.isoformat()},
    )


def slot_changed(slot: Slot, action: str, **details: Any) -> None:
    audit.record(f"slot.{action}", slot, centre_id=slot.centre_id, details=details)


def schedule_changed(
    record: ScheduleTemplate | Closure, action: str, *, centre_id: int | None, **details: Any
) -> None:
    kind = "schedule" if isinstance(record, ScheduleTemplate) else "closure"
    audit.record(f"{kind}.{action}", record, centre_id=centre_id, details=details)


def schedule_summary(template: ScheduleTemplate) -> dict[str, Any]:
    return {
        "service": template.service_id,
        "weekdays": template.weekdays,
        "hours": f"{template.start_time:%H:%M}-{template.end_time:%H:%M}",
        "slot_minutes": template.slot_minutes,
        "capacity": template.capacity,
        "valid_from": template.valid_from.isoformat(),
        "valid_until": template.valid_until.isoformat() if template.valid_until else None,
        "clinician": template.clinician_id,
    }


def drive_changed(drive: VaccinationDrive, action: str, **details: Any) -> None:
    """A drive spans centres: one event at each of its centres (so each centre's admins see
    it), or one city-wide event for a drive with none yet."""
    centre_ids: list[int | None] = [*drive.centres.values_list("pk", flat=True)] or [None]
    for centre_id in centre_ids:
        audit.record(f"drive.{action}", drive, centre_id=centre_id, details=details)


def stock_changed(lot: VaccineLot, action: str, **details: Any) -> None:
    audit.record(
        f"stock.{action}",
        lot,
        centre_id=lot.centre_id,
        details={"lot": lot.lot_number, **details},
    )
