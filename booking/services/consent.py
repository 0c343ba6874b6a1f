"""Recording a patient's consent before their first video visit. The texts are
booking/templates/booking/consent/; their versions are here: change a text, raise its
version, and everyone is asked again at their next video visit."""

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from booking.models import Patient, PatientConsent

Kind = PatientConsent.Kind
CURRENT_VERSIONS = {Kind.PRIVACY: "2026-11-22", Kind.TELEMEDICINE: "2026-11"}


def needs_video_consent(patient: Patient) -> bool:
    """Whether the patient has yet to accept the current privacy notice and telemedicine
    consent."""
    accepted = set(PatientConsent.objects.filter(patient=patient).values_list("kind", "version"))
    return any((kind, version) not in accepted for kind, version in CURRENT_VERSIONS.items())


@transaction.atomic
def record_video_consent(*, patient: Patient, by: User | None, address: str | None) -> None:
    """Record that the patient (or their guardian) accepts both current texts."""
    for kind, version in CURRENT_VERSIONS.items():
        try:
            with transaction.atomic():
                PatientConsent.objects.get_or_create(
                    patient=patient,
                    kind=kind,
                    version=version,
                    defaults={"accepted_by": by, "address": address},
                )
        except IntegrityError:
            pass  # accepted at the same moment from another tab
