"""A person's vaccination record to show: the doses given, and a QR code that carries a signed,
minimal payload (which issued record, and a digest of its doses; no national ID, no name) for
the public check at /verify/<token>.

Genuine means the signature holds with one of RECORD_SIGNING_KEYS and the issued record is
not withdrawn (the person withdrew it, or their data was erased: the row is gone); current
means the person's doses given are still the ones it was issued with."""

import hashlib
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from booking.models import Appointment, IssuedRecord, Patient
from clinics import audit

SALT = "booking.vaccination.records"


@dataclass(frozen=True)
class GivenDose:
    appointment: Appointment
    vaccine_th: str
    vaccine_en: str
    number: int | None
    of: int | None  # doses in the course
    given_on: date
    centre_number: int
    lot: str

    def vaccine_in(self, language: str) -> str:
        return self.vaccine_th if language == "th" else self.vaccine_en


def doses_given(patient: Patient) -> list[GivenDose]:
    """The vaccine doses given to the person through this service, oldest first."""
    given: QuerySet[Appointment] = (
        Appointment.objects.filter(
            patient=patient,
            status=Appointment.Status.COMPLETED,
            slot__service__kind="vaccination",
        )
        .select_related("slot__service", "slot__centre", "series", "lot")
        .order_by("slot__start", "pk")
    )
    return [
        GivenDose(
            appointment=dose,
            vaccine_th=dose.slot.service.name_th,
            vaccine_en=dose.slot.service.name_en,
            number=dose.dose_number,
            of=dose.series.doses_in_series if dose.series else None,
            given_on=timezone.localdate(dose.completed_at or dose.slot.start),
            centre_number=dose.slot.centre_id,
            lot=dose.lot.lot_number if dose.lot else "",
        )
        for dose in given
    ]


def digest_of(doses: list[GivenDose]) -> str:
    """What the record says, in 64 hex digits: which doses, given when, where, from which lot."""
    summary = "|".join(
        f"{dose.appointment.pk}:{dose.number}:{dose.given_on}:{dose.centre_number}:{dose.lot}"
        for dose in doses
    )
    return hashlib.sha256(summary.encode()).hexdigest()


@transaction.atomic
def issue_record(*, patient: Patient) -> IssuedRecord:
    """The record to show for the person's doses as they are now: the one already issued for
    them, or a new one (audited). Locks nothing: two issued at once both verify."""
    digest = digest_of(doses_given(patient))
    issued = (
        IssuedRecord.objects.filter(patient=patient, digest=digest, withdrawn_at__isnull=True)
        .order_by("-issued_at")
        .first()
    )
    if issued is None:
        issued = IssuedRecord.objects.create(patient=patient, digest=digest)
        audit.record("vaccination_record.issued", issued, centre_id=None, patients=[patient.pk])
    return issued


@transaction.atomic
def withdraw_records(*, patient: Patient) -> int:
    """Stop every record issued for the person from verifying (audited); how many."""
    withdrawn = IssuedRecord.objects.filter(patient=patient, withdrawn_at__isnull=True).update(
        withdrawn_at=timezone.now()
    )
    if withdrawn:
        audit.record(
            "vaccination_record.withdrawn",
            patient,
            centre_id=None,
            patients=[patient.pk],
            details={"records": withdrawn},
        )
    return withdrawn


def token_for(issued: IssuedRecord) -> str:
    """The QR code's payload, signed with the newest key."""
    return signing.dumps(
        {"r": issued.pk, "d": issued.digest[:16]}, key=settings.RECORD_SIGNING_KEYS[0], salt=SALT
    )


class Verdict(StrEnum):
    CURRENT = "current"  # genuine, and the person's doses are still these
    SUPERSEDED = "superseded"  # genuine, but doses were given or corrected since
    WITHDRAWN = "withdrawn"  # was genuine; withdrawn, or the person's data erased
    NOT_GENUINE = "not_genuine"  # no key of ours signed it


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    issued: IssuedRecord | None = None
    doses: tuple[GivenDose, ...] = ()


def check_token(token: str) -> Check:
    """What the public check says of a QR code's payload."""
    keys: list[str | bytes] = list(settings.RECORD_SIGNING_KEYS)
    try:
        payload = signing.loads(token, key=keys[0], fallback_keys=keys[1:], salt=SALT)
        record_id, digest = int(payload["r"]), str(payload["d"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return Check(Verdict.NOT_GENUINE)
    issued = (
        IssuedRecord.objects.filter(pk=record_id, withdrawn_at__isnull=True)
        .select_related("patient")
        .first()
    )
    if issued is None or not issued.digest.startswith(digest):
        return Check(Verdict.WITHDRAWN)
    doses = doses_given(issued.patient)
    if digest_of(doses) != issued.digest:
        return Check(Verdict.SUPERSEDED, issued)
    return Check(Verdict.CURRENT, issued, tuple(doses))
