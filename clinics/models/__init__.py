"""The clinics app's models, one module per concern; import them from here."""

from clinics.models.audit import AuditEvent
from clinics.models.limits import SignInCount
from clinics.models.reference import (
    MAX_REMINDER_MINUTES,
    District,
    HealthCentre,
    Language,
    Service,
    ServiceDose,
    VisitMode,
    for_language,
    in_language,
    validate_reminder_minutes,
)
from clinics.models.schedules import (
    Closure,
    PublicHoliday,
    ScheduleTemplate,
    weekdays_validator,
)
from clinics.models.staff import StaffAuthenticator, StaffMembership

__all__ = [
    "MAX_REMINDER_MINUTES",
    "AuditEvent",
    "Closure",
    "District",
    "HealthCentre",
    "Language",
    "PublicHoliday",
    "ScheduleTemplate",
    "Service",
    "ServiceDose",
    "SignInCount",
    "StaffAuthenticator",
    "StaffMembership",
    "VisitMode",
    "for_language",
    "in_language",
    "validate_reminder_minutes",
    "weekdays_validator",
]
