"""Booking models: people, slots and appointments; vaccination drives, stock, dose series and
the waitlist; partners' keys and what is published for others to read."""

from booking.interop.models.partners import Partner, PartnerKey, PartnerKeyUse
from booking.interop.models.publishing import (
    CalendarFeed,
    CentreDayFigures,
    PublishedFile,
    SchedulingLinksChange,
)
from booking.models.appointments import Appointment, Patient, SignInCode, Slot
from booking.models.consent import PatientConsent
from booking.models.safeguards import BookingBlock, DeletionRequest
from booking.models.walk_ins import WalkIn, WalkInCounter
from booking.vaccination.models import (
    DriveSession,
    IssuedRecord,
    RiskGroup,
    VaccinationDrive,
    VaccinationSeries,
    VaccineLot,
)
from booking.waitlist.models import WaitlistEntry, WaitlistOffer

__all__ = [
    "Appointment",
    "BookingBlock",
    "CalendarFeed",
    "CentreDayFigures",
    "DeletionRequest",
    "DriveSession",
    "IssuedRecord",
    "Partner",
    "PartnerKey",
    "PartnerKeyUse",
    "Patient",
    "PatientConsent",
    "PublishedFile",
    "RiskGroup",
    "SchedulingLinksChange",
    "SignInCode",
    "Slot",
    "VaccinationDrive",
    "VaccinationSeries",
    "VaccineLot",
    "WaitlistEntry",
    "WaitlistOffer",
    "WalkIn",
    "WalkInCounter",
]
