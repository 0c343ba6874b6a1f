"""A person's request to have their data erased (Thailand's PDPA, section 33), and the
erasure itself.

Asking cancels the person's coming appointments at once and stops new bookings for them.
The erasure waits DELETION_GRACE_DAYS, so that a request made by mistake can be withdrawn;
for someone who has been seen (a visit completed, a vaccine given) it waits until the
medical record's retention ends, MEDICAL_RECORD_YEARS after the last visit, because the law
that keeps medical records outweighs the request until then. An account holder's request
covers everyone they book for. Erasing keeps the appointments (without a person behind them)
for the city's counts, and the audit trail, which holds ids only."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from booking.models import (
    Appointment,
    CalendarFeed,
    DeletionRequest,
    IssuedRecord,
    Patient,
    PatientConsent,
    SignInCode,
    WaitlistEntry,
    WalkIn,
)
from booking.services.appointments import cancel_appointment
from booking.services.places import lock_patient
from clinics import audit
from notifications.models import Message

Status = DeletionRequest.Status


def _people_covered(patient: Patient) -> list[Patient]:
    """The account holder's request covers the whole household; a dependant's only them."""
    if patient.relationship == Patient.Relationship.SELF:
        return list(Patient.objects.filter(account_id=patient.account_id).order_by("pk"))
    return [patient]


def erase_on_for(patient: Patient, today: date | None = None) -> date:
    today = today or timezone.localdate()
    earliest = today + timedelta(days=settings.DELETION_GRACE_DAYS)
    last_visit = Appointment.objects.filter(
        patient=patient, status=Appointment.Status.COMPLETED
    ).aggregate(last=Max("slot__start"))["last"]
    # Seen without an appointment (a walk-in) is a visit on the record too.
    last_walk_in = WalkIn.objects.filter(patient=patient, status=WalkIn.Status.COMPLETED).aggregate(
        last=Max("day")
    )["last"]
    seen_on = [day for day in (last_visit and timezone.localdate(last_visit), last_walk_in) if day]
    if not seen_on:
        return earliest
    kept_until = max(seen_on)
    kept_until = kept_until.replace(year=kept_until.year + settings.MEDICAL_RECORD_YEARS)
    return max(earliest, kept_until)


def pending_requests(account: User) -> dict[int, DeletionRequest]:
    """The household's requests still waiting, by patient."""
    return {
        request.patient_id: request
        for request in DeletionRequest.objects.filter(
            patient__account=account, status=Status.PENDING
        )
    }


@dataclass(frozen=True)
class DeletionAsked:
    requests: list[DeletionRequest]
    cancelled: int


@transaction.atomic
def request_deletion(*, patient: Patient, by: User) -> DeletionAsked:
    """Record the request for the person (and, for an account holder, their household), cancel
    their coming appointments and take them off waitlists. Asking twice changes nothing."""
    requests = []
    cancelled = 0
    reason = _("The person asked for their data to be erased.")
    for person in _people_covered(patient):
        lock_patient(person.pk)
        request = DeletionRequest.objects.filter(patient=person, status=Status.PENDING).first()
        if request is None:
            request = DeletionRequest.objects.create(
                patient=person, requested_by=by, erase_on=erase_on_for(person)
            )
            audit.record(
                "patient.deletion_requested",
                person,
                centre_id=None,
                patients=[person.pk],
                details={"erase_on": request.erase_on.isoformat()},
            )
        requests.append(request)
        for appointment in Appointment.objects.filter(
            patient=person,
            status__in=(Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN),
            slot__end__gt=timezone.now(),
        ).select_related("slot"):
            cancel_appointment(appointment=appointment, reason=reason, enforce_cutoff=False)
            cancelled += 1
        WaitlistEntry.objects.filter(
            patient=person,
            status__in=(WaitlistEntry.Status.WAITING, WaitlistEntry.Status.OFFERED),
        ).update(status=WaitlistEntry.Status.LEFT)
    return DeletionAsked(requests=requests, cancelled=cancelled)


@transaction.atomic
def withdraw_deletion(*, patient: Patient) -> int:
    """Take the request back (the account holder's for the household). Cancelled appointments
    stay cancelled."""
    withdrawn = 0
    for person in _people_covered(patient):
        if DeletionRequest.objects.filter(patient=person, status=Status.PENDING).update(
            status=Status.WITHDRAWN, finished_at=timezone.now()
        ):
            withdrawn += 1
            audit.record("patient.deletion_withdrawn", person, centre_id=None, patients=[person.pk])
    return withdrawn


def erase_due(today: date | None = None) -> int:
    """Nightly: erase everyone whose request has come due. Each person in a transaction of
    their own; safe to run twice (an erased request is not due again)."""
    today = today or timezone.localdate()
    due = list(
        DeletionRequest.objects.filter(status=Status.PENDING, erase_on__lte=today).values_list(
            "pk", flat=True
        )
    )
    return sum(1 for request_id in due if erase(request_id))


@transaction.atomic
def erase(request_id: int) -> bool:
    request = (
        DeletionRequest.objects.select_for_update()
        .filter(pk=request_id, status=Status.PENDING)
        .select_related("patient__account")
        .first()
    )
    if request is None:
        return False
    patient = request.patient
    lock_patient(patient.pk)
    phone = patient.phone
    patient.first_name = _("(erased)")
    patient.last_name = ""
    patient.phone = ""
    patient.phone_verified_at = None
    patient.national_id = ""
    patient.passport_number = f"ERASED-{patient.pk}"
    patient.district = None
    patient.risk_groups = []
    patient.date_of_birth = patient.date_of_birth.replace(month=1, day=1)  # the year, for counts
    patient.save()
    Message.objects.filter(Q(patient=patient) | Q(appointment__patient=patient)).exclude(
        status__in=(Message.Status.SENT, Message.Status.DELIVERED, Message.Status.FAILED)
    ).update(status=Message.Status.CANCELLED)
    Message.objects.filter(Q(patient=patient) | Q(appointment__patient=patient)).update(
        recipient="", body=""
    )
    PatientConsent.objects.filter(patient=patient).update(address=None)
    IssuedRecord.objects.filter(patient=patient).delete()  # their QR codes no longer verify
    if phone:
        SignInCode.objects.filter(phone=phone).delete()
    if patient.relationship == Patient.Relationship.SELF:
        _close_account(patient.account)
    request.status = Status.ERASED
    request.finished_at = timezone.now()
    request.save(update_fields=["status", "finished_at"])
    audit.record("patient.erased", patient, centre_id=None, patients=[patient.pk])
    return True


def _close_account(account: User) -> None:
    SignInCode.objects.filter(phone=account.username).delete()
    CalendarFeed.objects.filter(owner=account).delete()
    account.username = f"erased-{account.pk}"
    account.first_name = account.last_name = account.email = ""
    account.set_unusable_password()
    account.is_active = False
    account.save()
